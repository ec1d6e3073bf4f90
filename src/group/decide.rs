//! Group mode's decision: pure functions from (settings, lifecycle action, observed world) to a
//! plan. No I/O, no clock.

use super::data::{plan_launch, Clock, LaunchPlan, Planned};
use super::keep::{leftovers, plan_periodic, plan_terminate, retention, retired, PeriodicPlan, TerminatePlan};
use super::plan::{complete, decision, Decision, GroupAction, LifecycleResult};
use super::world::{GroupAddress, GroupWorld, HeldGroup, LifecycleState};
use super::Config;
use crate::aws::{Instance, InstanceState};
use crate::decision::Verdict;
use crate::holder::{resolve_holder, Holder};
use crate::tags::GROUP as GROUP_TAG;
use crate::trigger::{Command, LifecycleAction, Transition, Trigger};

/// What group mode does with a trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screened<'a> {
    /// A lifecycle action: observe its group, decide, act.
    Action(&'a LifecycleAction),
    /// Evidence that AWS may have finished something a held launch waits for (an EBS snapshot or
    /// volume notification), or the schedule: find every lifecycle action the managed groups hold
    /// open and decide each one again. This is how a launch that waits for its data goes on.
    Sweep,
    /// `{"command": "status"}`: every managed group's state, read as a sweep reads it; nothing done.
    Status,
    /// Not for group mode: nothing is read.
    Ignore(Decision),
}

/// Decides, before anything is read, what group mode does with the trigger.
pub fn screen(trigger: &Trigger) -> Screened<'_> {
    match trigger {
        Trigger::Lifecycle(action) => Screened::Action(action),
        Trigger::Schedule | Trigger::Ebs { .. } => Screened::Sweep,
        Trigger::Command(Command::Status) => Screened::Status,
        other => Screened::Ignore(decision(
            Verdict::Ignore,
            format!(
                "group mode acts on Auto Scaling lifecycle actions, EBS notifications and schedules, not on {}",
                kind(other)
            ),
            Vec::new(),
        )),
    }
}

/// Margin between an event's `time` (whole seconds, EventBridge's clock) and the start of a sweep
/// (this function's clock) for the sweep to count as having seen it.
pub const SEEN_MARGIN_SECONDS: f64 = 2.0;

/// An EBS notification that a complete sweep has already seen: the sweep began after the event
/// happened, so its reads showed what the event tells. EBS notifications are account-wide (they
/// carry no tags): a backup window sends hundreds, and with one execution at a time each full
/// sweep would queue the lifecycle events behind them past the hook's timeout. `last_sweep` is when
/// the last complete sweep of this execution environment began (seconds since the Unix epoch). A
/// notification without a readable time, and the schedule, always sweep.
pub fn seen_by_last_sweep(trigger: &Trigger, last_sweep: Option<f64>) -> Option<Decision> {
    let (Trigger::Ebs { at: Some(at), resource_id, event, .. }, Some(began)) = (trigger, last_sweep) else {
        return None;
    };
    (began >= *at as f64 + SEEN_MARGIN_SECONDS).then(|| {
        decision(
            Verdict::NoChange,
            format!(
                "{event} of {resource_id} at {at} was seen by the sweep that began at {began:.0}: nothing new to read"
            ),
            Vec::new(),
        )
    })
}

/// What `screen` ignores, for its reason (the other kinds never reach it).
fn kind(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Warning(_) => "alarms",
        Trigger::StateChange { .. } => "EC2 state changes",
        Trigger::Command(_) | Trigger::PairCommand { .. } => {
            "operator commands other than status (switchover, pause and resume are for pairs)"
        }
        // Auto Scaling moves a group out of a shifted zone itself (its AvailabilityZoneImpairmentPolicy),
        // and each launch's data follows the zone it chose.
        Trigger::ZonalShift { .. } => "zonal shifts (Auto Scaling shifts the group's launches itself)",
        _ => "other events",
    }
}

/// The lifecycle actions a sweep decides again, and a note for each held instance it leaves
/// alone. The hook is the group's only hook for the transition, or the only one of several whose
/// name starts with `ec2-failover`; anything else may belong to another tool and is left to it.
/// With `fleet` (a fleet's groups, which are their owners'), only a hook named `ec2-failover*`.
pub fn held_actions(groups: &[HeldGroup], fleet: bool) -> (Vec<LifecycleAction>, Vec<String>) {
    let (mut actions, mut notes) = (Vec::new(), Vec::new());
    for group in groups {
        for (instance_id, transition) in &group.held {
            let hooks: Vec<&str> =
                group.hooks.iter().filter(|(_, t)| t == transition).map(|(name, _)| name.as_str()).collect();
            let ours: Vec<&str> = hooks.iter().copied().filter(|h| h.starts_with(OWN_HOOKS)).collect();
            let hook = match (hooks.as_slice(), ours.as_slice()) {
                (_, [one]) => *one,
                ([one], _) if !fleet => *one,
                ([_], _) => {
                    notes.push(format!(
                        "{instance_id} in {}: held by a hook not named {OWN_HOOKS}*: another tool's, in a fleet",
                        group.name
                    ));
                    continue;
                }
                ([], _) => {
                    notes.push(format!("{instance_id} in {}: held, but the group has no such hook now", group.name));
                    continue;
                }
                (many, _) => {
                    notes.push(format!(
                        "{instance_id} in {}: held by one of {} ({}); none is clearly ec2-failover's",
                        group.name,
                        many.len(),
                        many.join(", ")
                    ));
                    continue;
                }
            };
            actions.push(LifecycleAction {
                transition: *transition,
                group: group.name.clone(),
                hook: hook.to_owned(),
                instance_id: instance_id.clone(),
                token: None,
            });
        }
    }
    (actions, notes)
}

/// The names of ec2-failover's lifecycle hooks start with this (template-group.yaml's, and those a
/// fleet's groups give it).
pub const OWN_HOOKS: &str = "ec2-failover";

/// The groups a sweep or a status serves, and a note for each it leaves alone: in a fleet
/// (`config.fleet`), a group that a group stack serves (`ec2-failover:stack`) is that stack's.
pub fn served(groups: Vec<HeldGroup>, config: &Config) -> (Vec<HeldGroup>, Vec<String>) {
    let (mut served, mut notes) = (Vec::new(), Vec::new());
    for group in groups {
        match group.stack.as_deref().filter(|_| config.fleet) {
            Some(stack) => notes.push(format!("{}: served by its stack {stack}'s function", group.name)),
            None => served.push(group),
        }
    }
    (served, notes)
}

/// Decides what to do about a lifecycle action, given what was observed.
pub fn decide(action: &LifecycleAction, world: &GroupWorld, config: &Config) -> Decision {
    let group = &action.group;
    let Some(key) = world.group.as_ref().and_then(|g| g.key.as_deref()) else {
        // Not ours: leave the hook to whoever manages the group (or to its timeout).
        let why = if world.group.is_some() { format!("has no {GROUP_TAG} tag") } else { "does not exist".into() };
        return decision(Verdict::Ignore, format!("Auto Scaling group {group} {why}; not managed"), Vec::new());
    };
    // A fleet's groups are their owners': another tool's hook, or a group a group stack serves,
    // is left alone (one writer per group).
    if config.fleet {
        if let Some(stack) = world.group.as_ref().and_then(|g| g.stack.as_deref()) {
            let why = format!("Auto Scaling group {group} is served by its stack {stack}'s function: left to it");
            return decision(Verdict::Ignore, why, Vec::new());
        }
        if !action.hook.starts_with(OWN_HOOKS) {
            let why = format!(
                "hook {} of group {group} is not named {OWN_HOOKS}*: another tool's, left to its owner",
                action.hook
            );
            return decision(Verdict::Ignore, why, Vec::new());
        }
    }
    if let Some(mine) = config.key.as_deref().filter(|mine| *mine != key) {
        let why = format!("Auto Scaling group {group} has key {key}; this deployment serves {mine} only");
        return decision(Verdict::Ignore, why, Vec::new());
    }
    // An event is evidence, not a command: act only on an instance the group holds for this very
    // transition. A late or repeated launch event for an instance that already serves must not take
    // the IP from the serving one.
    let instance_id = &action.instance_id;
    let listed = world.group.iter().flat_map(|g| &g.instances).find(|(i, _)| i == instance_id).map(|(_, s)| *s);
    match (action.transition, listed) {
        (transition, Some(state)) if state.held_for() == Some(transition) => {}
        (Transition::Launching, None) => {
            let why = format!("{instance_id} is no longer in group {group}: abandoning its launch");
            return decision(Verdict::Abandon, why, vec![complete(action, LifecycleResult::Abandon)]);
        }
        (_, state) => {
            let where_ =
                state.map_or(format!("is not in group {group}"), |s| format!("is {} in group {group}", s.name()));
            let why = format!("{instance_id} {where_}, not held by its hook: a late or repeated event changes nothing");
            return decision(Verdict::NoChange, why, Vec::new());
        }
    }
    match action.transition {
        Transition::Launching => decide_launch(action, key, world, config),
        Transition::Terminating => decide_terminate(action, key, world, config),
    }
}

/// A terminating instance: snapshot its data volume (once), then let it go.
fn decide_terminate(action: &LifecycleAction, key: &str, world: &GroupWorld, config: &Config) -> Decision {
    let instance_id = &action.instance_id;
    let (volumes, snapshots) = world.data_of(key);
    let go_on = complete(action, LifecycleResult::Continue);
    let Planned { plan, why } = plan_terminate(instance_id, &volumes, &snapshots);
    match plan {
        TerminatePlan::Nothing => decision(Verdict::NoChange, format!("{why}; letting it go"), vec![go_on]),
        TerminatePlan::Refuse => decision(Verdict::Refuse, why, Vec::new()),
        TerminatePlan::Snapshot { volume_id, device, spec } => {
            let mut actions = vec![
                GroupAction::CreateSnapshot {
                    volume_id,
                    key: key.to_owned(),
                    device,
                    instance_id: Some(instance_id.clone()),
                    periodic: None,
                    at: world.now,
                    spec,
                },
                go_on,
            ];
            let deleting = prune(&volumes, &snapshots, config, &mut actions);
            decision(Verdict::Preserve, format!("{why}{deleting}"), actions)
        }
    }
}

/// Deletes what a new snapshot makes surplus: the oldest completed snapshots beyond
/// `KEEP_SNAPSHOTS` (the new one will be the newest, so one fewer of the old ones is kept) and the
/// copies that go with them; returns the reason's words for it.
fn prune(
    volumes: &[super::world::DataVolume],
    snapshots: &[super::world::DataSnapshot],
    config: &Config,
    actions: &mut Vec<GroupAction>,
) -> String {
    let old = retention(volumes, snapshots, config.keep_snapshots.saturating_sub(1));
    let stale = retired(volumes, snapshots, &old);
    let deleting = if old.is_empty() && stale.is_empty() {
        String::new()
    } else {
        format!("; deleting {}", old.iter().chain(&stale).cloned().collect::<Vec<_>>().join(", "))
    };
    actions.extend(old.into_iter().map(|snapshot_id| GroupAction::DeleteSnapshot { snapshot_id }));
    actions.extend(stale.into_iter().map(|volume_id| GroupAction::DeleteVolume { volume_id }));
    deleting
}

/// A settled group's data on schedule (a sweep, for each group that [`serving`] names, when
/// `SNAPSHOT_EVERY_SECONDS` is set): a snapshot of the serving instance's data volume once the
/// newest one is that old, pruned like the terminate hook's. `world.instance` is the serving
/// instance; `world.volumes` and `world.snapshots` every group's (this group's are picked by key).
pub fn snapshot_on_schedule(world: &GroupWorld, config: &Config) -> Decision {
    let no_change = |why: String| decision(Verdict::NoChange, why, Vec::new());
    let Some(every) = config.snapshot_every_seconds.filter(|_| config.keep_data) else {
        return no_change("periodic snapshots are off (SNAPSHOT_EVERY_SECONDS)".into());
    };
    let (Some(group), Some(instance)) = (world.group.as_ref(), world.instance.as_ref()) else {
        return no_change("no serving instance to snapshot the data of".into());
    };
    let Some(key) = group.key.as_deref() else {
        return no_change(format!("group {} has no {GROUP_TAG} tag", group.name));
    };
    let (volumes, snapshots) = world.data_of(key);
    let Planned { plan, why } = plan_periodic(&instance.instance_id, world.now, every, &volumes, &snapshots);
    let PeriodicPlan::Snapshot { volume_id, device, spec } = plan else {
        return no_change(why);
    };
    let mut actions = vec![GroupAction::CreateSnapshot {
        volume_id,
        key: key.to_owned(),
        device,
        instance_id: None,
        periodic: Some(instance.instance_id.clone()),
        spec,
        at: world.now,
    }];
    let deleting = prune(&volumes, &snapshots, config, &mut actions);
    decision(Verdict::Preserve, format!("group {}: {why}{deleting}", group.name), actions)
}

/// A launching instance: its data first (when the group keeps any), then the IP, then go on.
fn decide_launch(action: &LifecycleAction, key: &str, world: &GroupWorld, config: &Config) -> Decision {
    let (group, instance_id) = (&action.group, &action.instance_id);
    let abandon = |why: String| decision(Verdict::Abandon, why, vec![complete(action, LifecycleResult::Abandon)]);
    let address = match world.addresses.iter().filter(|a| a.key == key).collect::<Vec<_>>().as_slice() {
        [one] => *one,
        [] => return abandon(format!("no Elastic IP carries {GROUP_TAG}={key}: {instance_id} would serve without it")),
        many => {
            let ids: Vec<&str> = many.iter().map(|a| a.allocation_id.as_str()).collect();
            return abandon(format!(
                "{} Elastic IPs carry {GROUP_TAG}={key} ({}); exactly one is accepted",
                ids.len(),
                ids.join(", ")
            ));
        }
    };
    let heartbeat =
        GroupAction::Heartbeat { group: group.clone(), hook: action.hook.clone(), instance_id: instance_id.clone() };
    // The group holds it (checked by `decide`). AWS refuses AssociateAddress and AttachVolume for an
    // instance that is not running yet, and DescribeInstances may not list a new instance for a
    // while after Auto Scaling does (eventual consistency): both are waited for, with a heartbeat.
    let instance = match world.instance.as_ref() {
        Some(i) if i.state == InstanceState::Running => i,
        Some(i) if i.state == InstanceState::Pending => {
            let why = format!("{instance_id} is pending; AWS attaches and associates only once it runs: waiting");
            return decision(Verdict::Wait, why, vec![heartbeat]);
        }
        None => {
            let why = format!("{instance_id} is held by group {group} but EC2 does not list it yet: waiting");
            return decision(Verdict::Wait, why, vec![heartbeat]);
        }
        Some(i) => {
            let state = i.state.name();
            return abandon(format!(
                "{instance_id} is {state}: there is no instance to give {} to",
                address.allocation_id
            ));
        }
    };
    let (volumes, snapshots) = world.data_of(key);
    // Launch before terminate (AZ rebalancing, instance refresh, capacity rebalancing): the data is
    // attached to another member that is in service, not terminating, so this launch would wait for
    // it until it times out, and the cycle would repeat. Abandoned at once, with the reason.
    let in_service = |id: &str| {
        world.group.iter().flat_map(|g| &g.instances).any(|(i, s)| i == id && *s == LifecycleState::InService)
    };
    if let Some((volume, attachment)) = volumes.iter().find_map(|v| {
        v.attachments.iter().find(|a| a.instance_id != *instance_id && in_service(&a.instance_id)).map(|a| (v, a))
    }) {
        return abandon(format!(
            "{} is attached to {}, which is in service: a launch before a terminate cannot get the data; \
             abandoning {instance_id} (the group's instance maintenance policy should terminate first)",
            volume.volume_id, attachment.instance_id
        ));
    }
    let zone = instance.availability_zone.clone().unwrap_or_default();
    let clock = Clock {
        now: world.now,
        waited: instance.launch_time.map_or(0, |t| world.now - t),
        max_wait: config.max_wait_seconds,
        fallback_after: config.snapshot_every_seconds.map(|_| config.data_wait_seconds),
        max_age: config.snapshot_every_seconds.map(|every| every.saturating_mul(2)),
    };
    // The members the group still holds on their way out, or in another state (standby...): their
    // volumes may still be written.
    let holding: Vec<&str> = world
        .group
        .iter()
        .flat_map(|g| &g.instances)
        .filter(|(i, s)| i != instance_id && matches!(s, LifecycleState::TerminatingWait | LifecycleState::Other))
        .map(|(i, _)| i.as_str())
        .collect();
    let Planned { plan, why: data_why } = plan_launch(instance_id, &zone, clock, &holding, &volumes, &snapshots);
    match plan {
        LaunchPlan::Ready => {}
        // The instance sees the device only once the attachment is `attached`, seconds later: the
        // next event or sweep finds it so, moves the IP and completes the launch.
        LaunchPlan::Attach { volume_id, device } => {
            let attach = GroupAction::AttachVolume { volume_id, instance_id: instance_id.clone(), device };
            let mut why = format!("{data_why}; the launch goes on once it is attached");
            let mut actions = vec![attach, heartbeat];
            // Without its tags in its metadata the instance never learns which volume is its data
            // and serves nothing while holding the IP (EC2 User Guide, "View tags for your EC2
            // instances using instance metadata": off unless the launch template turns it on).
            if instance.metadata_tags == Some(false) {
                actions.insert(0, GroupAction::EnableInstanceTags { instance_id: instance_id.clone() });
                why = format!("{why}; {instance_id} could not read its tags in its metadata: turning that on first");
            }
            return decision(Verdict::Wait, why, actions);
        }
        LaunchPlan::Wait => return decision(Verdict::Wait, data_why, vec![heartbeat]),
        LaunchPlan::Abandon => return abandon(data_why),
        LaunchPlan::Restore { snapshot_id, availability_zone, device, spec, data_age_seconds } => {
            let origin = snapshots
                .iter()
                .find(|s| s.snapshot_id == snapshot_id)
                .and_then(|s| Some(super::world::Origin { volume: s.volume.clone()?, time: s.start_time }));
            let create = GroupAction::CreateVolume {
                origin,
                snapshot_id,
                availability_zone,
                key: key.to_owned(),
                for_instance: instance_id.clone(),
                device,
                spec,
                initialization_rate: config.init_rate_mibps,
                data_age_seconds,
            };
            return decision(
                Verdict::Wait,
                format!("{data_why}; the launch waits for the volume"),
                vec![create, heartbeat],
            );
        }
        LaunchPlan::Carry { volume_id, device, spec } => {
            let snapshot = GroupAction::CreateSnapshot {
                volume_id,
                key: key.to_owned(),
                device,
                instance_id: None,
                periodic: None,
                at: world.now,
                spec,
            };
            return decision(
                Verdict::Wait,
                format!("{data_why}; the launch waits for the snapshot"),
                vec![snapshot, heartbeat],
            );
        }
    };
    // Copies restored for abandoned launches go once this launch has its data (after it goes on).
    let members: Vec<&str> = world.group.iter().flat_map(|g| g.instances.iter().map(|(i, _)| i.as_str())).collect();
    let unused = leftovers(instance_id, &members, &volumes, &snapshots);
    let data_why =
        if unused.is_empty() { data_why } else { format!("{data_why}; deleting unused {}", unused.join(", ")) };
    let cleanup: Vec<GroupAction> =
        unused.into_iter().map(|volume_id| GroupAction::DeleteVolume { volume_id }).collect();
    let holder = holder(address, instance);
    let holds = holder.is(instance_id);
    let go_on = complete(action, LifecycleResult::Continue);
    let (routes, routes_why) = follow_routes(key, world, instance);
    let mut actions = Vec::new();
    if holds {
        let verdict = if cleanup.is_empty() && routes.is_empty() { Verdict::NoChange } else { Verdict::Follow };
        actions.push(go_on);
        actions.extend(routes);
        actions.extend(cleanup);
        return decision(
            verdict,
            format!(
                "{instance_id} already holds {}{routes_why}; {data_why}; completing the launch",
                address.allocation_id
            ),
            actions,
        );
    }
    let from = holder.name();
    let az = instance.availability_zone.as_deref().unwrap_or("an unknown zone");
    actions.push(GroupAction::MoveAddress {
        allocation_id: address.allocation_id.clone(),
        instance_id: instance_id.clone(),
        network_interface_id: instance.network_interface_id.clone(),
    });
    // The routes after the completion: a route EC2 refuses (a destination mistyped in the table's
    // tag) must not keep the group from ever replacing its instance; the sweep points it again.
    actions.push(go_on);
    actions.extend(routes);
    actions.extend(cleanup);
    decision(
        Verdict::Follow,
        format!(
            "{instance_id} launched in {az} for group {group}: {data_why}; moving {} from {from} to it{routes_why}",
            address.allocation_id
        ),
        actions,
    )
}

/// The group's route-table entries that do not point at `instance` yet, pointed at its interface
/// (right after the launch goes on; a refused one is pointed again by the sweep's heal), and the
/// reason's words for them. A route to an instance carries traffic only when its
/// source/destination check is off (EC2 User Guide, "Source/destination checks"): said loudly,
/// since a NAT image turns it off itself at boot, and the function does not.
fn follow_routes(key: &str, world: &GroupWorld, instance: &Instance) -> (Vec<GroupAction>, String) {
    let id = &instance.instance_id;
    let eni = instance.network_interface_id.as_deref();
    let moving: Vec<&super::world::GroupRoute> = world
        .routes
        .iter()
        .filter(|r| r.key == key)
        .filter(|r| {
            r.instance_id.as_deref() != Some(id.as_str()) && (eni.is_none() || r.network_interface_id.as_deref() != eni)
        })
        .collect();
    if moving.is_empty() {
        return (Vec::new(), String::new());
    }
    let names: Vec<String> = moving.iter().map(|r| format!("{} in {}", r.destination, r.table)).collect();
    let mut why = format!(", and the route{} to {}", if names.len() == 1 { "" } else { "s" }, names.join(", "));
    if instance.source_dest_check == Some(true) {
        why.push_str(&format!(
            " (WARNING: {id}'s source/destination check is on: EC2 drops the traffic routed to it until it is off)"
        ));
    }
    let actions = moving
        .into_iter()
        .map(|r| GroupAction::PointRoute {
            table: r.table.clone(),
            destination: r.destination.clone(),
            instance_id: id.clone(),
            network_interface_id: instance.network_interface_id.clone(),
        })
        .collect();
    (actions, why)
}

/// The instance a settled group serves from: its one `InService` instance, when nothing is
/// launching (`Pending`, `Pending:Wait`, `Pending:Proceed`). While a launch is in progress its
/// hook's decision owns the address: the new instance gets it just before the hook completes, and
/// is not `InService` yet for a moment after.
pub fn serving(group: &HeldGroup) -> Option<&str> {
    let launching =
        group.instances.iter().any(|(_, s)| matches!(s, LifecycleState::Pending | LifecycleState::PendingWait));
    match group.instances.iter().filter(|(_, s)| *s == LifecycleState::InService).collect::<Vec<_>>().as_slice() {
        [(one, _)] if !launching => Some(one.as_str()),
        _ => None,
    }
}

/// Heals a settled group's Elastic IP (a sweep, for each group that [`serving`] names): on
/// nothing, or on an instance that is not the group's serving one (a hand move, a launch event
/// lost past the hook's timeout), it goes to the serving instance, once EC2 says that one runs.
/// `world.instance` is the serving instance as EC2 has it.
pub fn heal(world: &GroupWorld) -> Decision {
    let no_change = |why: String| decision(Verdict::NoChange, why, Vec::new());
    let (Some(group), Some(instance)) = (world.group.as_ref(), world.instance.as_ref()) else {
        return no_change("no serving instance to heal towards".into());
    };
    let Some(key) = group.key.as_deref() else {
        return no_change(format!("group {} has no {GROUP_TAG} tag", group.name));
    };
    let id = &instance.instance_id;
    let address = match world.addresses.iter().filter(|a| a.key == key).collect::<Vec<_>>().as_slice() {
        [one] => *one,
        other => return no_change(format!("{} Elastic IPs carry {GROUP_TAG}={key}; healing needs one", other.len())),
    };
    if instance.state != InstanceState::Running {
        return no_change(format!(
            "{id}, the group's InService instance, is {}: not moving the IP",
            instance.state.name()
        ));
    }
    let holder = holder(address, instance);
    let holds = holder.is(id);
    let (routes, routes_why) = follow_routes(key, world, instance);
    if holds && routes.is_empty() {
        return no_change(format!("{id} holds {}", address.allocation_id));
    }
    if holds {
        return decision(
            Verdict::Heal,
            format!(
                "{id} holds {} of group {}; pointing{} at it",
                address.allocation_id,
                group.name,
                routes_why.trim_start_matches(", and")
            ),
            routes,
        );
    }
    let from = holder.name();
    let mut actions = vec![GroupAction::MoveAddress {
        allocation_id: address.allocation_id.clone(),
        instance_id: id.clone(),
        network_interface_id: instance.network_interface_id.clone(),
    }];
    actions.extend(routes);
    decision(
        Verdict::Heal,
        format!(
            "{} of group {} is on {from}, not on {id}, the group's one InService instance: moving it there{routes_why}",
            address.allocation_id, group.name
        ),
        actions,
    )
}

/// Who holds the group's Elastic IP, as far as `instance` is concerned (shared ground: the pair
/// asks the same of its endpoints).
fn holder(address: &GroupAddress, instance: &Instance) -> Holder {
    resolve_holder(
        address.instance_id.as_deref(),
        address.network_interface_id.as_deref(),
        std::slice::from_ref(instance),
    )
}
