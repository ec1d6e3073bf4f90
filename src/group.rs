//! Group mode: a single-instance Auto Scaling group (min = max = desired = 1 over subnets in two
//! Availability Zones) whose Elastic IP follows the instance. The group's launch lifecycle hook
//! holds each new instance in `Pending:Wait`; the function gives it the group's Elastic IP, then
//! completes the hook. The instance needs no EC2 permission of its own.
//!
//! Which Elastic IP belongs to which group is said by tags: the group and its address both carry
//! `ec2-failover:group` with the same value, so one deployed function serves many groups.
//!
//! Same shape as the pair: `observe` (five parallel reads), a pure `decide`, `execute`.
//!
//! Stateful groups: a group-tagged EBS volume holds the data; the terminate hook snapshots it and
//! the launch hook restores it in the new instance's zone (see [`crate::data`]). A launch that must
//! wait for AWS (a snapshot, a volume) is decided again by the next EBS notification or schedule,
//! which sweeps every lifecycle action the managed groups hold open.

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::Serialize;

use crate::data::{
    leftovers, plan_launch, plan_terminate, retention, retired, DataSnapshot, DataVolume, LaunchPlan, TerminatePlan,
};
use crate::decide::Verdict;
use crate::ec2::{associate, aws_error, instance_state, primary_interface};
use crate::error::Error;
use crate::trigger::{LifecycleAction, Transition, Trigger};
use crate::world::InstanceState;

/// The tag that ties an Auto Scaling group to its Elastic IP (same value on both).
pub const GROUP_TAG: &str = "ec2-failover:group";

/// What the function saw of one lifecycle action's group, instance and address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupWorld {
    /// The group, if Auto Scaling knows it.
    pub group: Option<Group>,
    /// The held instance, if EC2 knows it.
    pub instance: Option<Instance>,
    /// Every Elastic IP tagged for the group's key (exactly one is expected).
    pub addresses: Vec<GroupAddress>,
    /// Every EBS volume that carries the group tag (any group's; `decide` picks by key).
    pub volumes: Vec<DataVolume>,
    /// Every snapshot of this account that carries the group tag.
    pub snapshots: Vec<DataSnapshot>,
    /// When the world was observed, in seconds since the Unix epoch.
    pub now: i64,
}

impl GroupWorld {
    /// The volumes and snapshots of one group (by its key).
    fn data_of(&self, key: &str) -> (Vec<DataVolume>, Vec<DataSnapshot>) {
        let volumes = self.volumes.iter().filter(|v| v.key == key).cloned().collect();
        let snapshots = self.snapshots.iter().filter(|s| s.key == key).cloned().collect();
        (volumes, snapshots)
    }
}

/// An Auto Scaling group as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// The value of its `ec2-failover:group` tag; none: the group is not managed.
    pub key: Option<String>,
    /// Its instances and their lifecycle states.
    pub instances: Vec<(String, String)>,
}

/// An instance as EC2 reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Its id.
    pub instance_id: String,
    /// Its state.
    pub state: InstanceState,
    /// Its Availability Zone.
    pub availability_zone: Option<String>,
    /// Its primary network interface.
    pub network_interface_id: Option<String>,
    /// When it was launched, in seconds since the Unix epoch.
    pub launch_time: Option<i64>,
}

/// An Elastic IP tagged for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupAddress {
    /// Its allocation id.
    pub allocation_id: String,
    /// Its public address, for the log.
    pub public_ip: Option<String>,
    /// The `ec2-failover:group` value it carries.
    pub key: String,
    /// The instance it is associated with, as EC2 says (moto leaves it empty for an ENI association).
    pub instance_id: Option<String>,
    /// The network interface it is associated with.
    pub network_interface_id: Option<String>,
}

/// How a lifecycle action is completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LifecycleResult {
    /// Let the instance go on (into service, or on to termination).
    Continue,
    /// Launch: terminate the instance and launch another; terminate: go on without waiting.
    Abandon,
}

/// A change to make for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GroupAction {
    /// Associate the group's Elastic IP with the instance (through its network interface).
    MoveAddress {
        /// The address.
        allocation_id: String,
        /// The new holder.
        instance_id: String,
        /// Its primary network interface, if known.
        network_interface_id: Option<String>,
    },
    /// Complete the lifecycle action.
    CompleteLifecycle {
        /// The group.
        group: String,
        /// The hook.
        hook: String,
        /// The instance held.
        instance_id: String,
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
    },
    /// Keep the lifecycle action alive while AWS finishes a snapshot or a volume.
    Heartbeat {
        /// The group.
        group: String,
        /// The hook.
        hook: String,
        /// The instance held.
        instance_id: String,
    },
    /// Snapshot the group's data volume, tagged so that the next launch finds it.
    CreateSnapshot {
        /// The data volume.
        volume_id: String,
        /// The group key.
        key: String,
        /// The device it is attached at.
        device: String,
        /// The terminating instance it is taken for (none when carrying a seed volume).
        instance_id: Option<String>,
        /// The volume's type, IOPS and throughput, for the volume restored from it.
        volume_type: Option<String>,
        /// Provisioned IOPS.
        iops: Option<i32>,
        /// Provisioned throughput.
        throughput: Option<i32>,
        /// When it was decided, in seconds since the Unix epoch (the `ec2-failover:time` tag).
        at: i64,
    },
    /// Create the group's data volume from a snapshot in the new instance's zone (same type, IOPS
    /// and throughput; encryption and KMS key come with the snapshot).
    CreateVolume {
        /// The snapshot.
        snapshot_id: String,
        /// The new instance's zone.
        availability_zone: String,
        /// The group key.
        key: String,
        /// The instance it is for.
        for_instance: String,
        /// The device it belongs at.
        device: String,
        /// As recorded on the snapshot.
        volume_type: Option<String>,
        /// As recorded on the snapshot.
        iops: Option<i32>,
        /// As recorded on the snapshot.
        throughput: Option<i32>,
    },
    /// Attach the data volume to the new instance.
    AttachVolume {
        /// The volume.
        volume_id: String,
        /// The instance.
        instance_id: String,
        /// The device.
        device: String,
    },
    /// Delete a volume the function restored for a launch that never used it.
    DeleteVolume {
        /// The volume.
        volume_id: String,
    },
    /// Delete a snapshot beyond the group's retention.
    DeleteSnapshot {
        /// The snapshot.
        snapshot_id: String,
    },
}

/// A decision about a group: the same shape as the pair's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupDecision {
    /// The kind of decision.
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub reason: String,
    /// What to do, in order: a completion runs only after the move before it succeeded.
    pub actions: Vec<GroupAction>,
}

fn decision(verdict: Verdict, reason: String, actions: Vec<GroupAction>) -> GroupDecision {
    GroupDecision { verdict, reason, actions }
}

fn complete(action: &LifecycleAction, result: LifecycleResult) -> GroupAction {
    GroupAction::CompleteLifecycle {
        group: action.group.clone(),
        hook: action.hook.clone(),
        instance_id: action.instance_id.clone(),
        result,
    }
}

/// What group mode does with a trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screened<'a> {
    /// A lifecycle action: observe its group, decide, act.
    Action(&'a LifecycleAction),
    /// Evidence that AWS may have finished something a held launch waits for (an EBS snapshot or
    /// volume notification), or the schedule: find every lifecycle action the managed groups hold
    /// open and decide each one again. This is how a launch that waits for its data goes on.
    Sweep,
    /// Not for group mode: nothing is read.
    Ignore(GroupDecision),
}

/// Decides, before anything is read, what group mode does with the trigger.
pub fn screen(trigger: &Trigger) -> Screened<'_> {
    match trigger {
        Trigger::Lifecycle(action) => Screened::Action(action),
        Trigger::Schedule | Trigger::Ebs { .. } => Screened::Sweep,
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

/// What `screen` ignores, for its reason (the other kinds never reach it).
fn kind(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Alarm(_) => "alarms",
        Trigger::StateChange { .. } => "EC2 state changes",
        _ => "other events",
    }
}

/// A managed group as a sweep sees it: the instances its hooks hold, and its hooks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldGroup {
    /// The group.
    pub name: String,
    /// Each instance in `Pending:Wait` or `Terminating:Wait`, and which way it is held.
    pub held: Vec<(String, Transition)>,
    /// The group's lifecycle hooks: name and transition.
    pub hooks: Vec<(String, Transition)>,
}

/// The lifecycle actions a sweep decides again, and a note for each held instance it leaves
/// alone. The hook is the group's only hook for the transition, or the only one of several whose
/// name starts with `ec2-failover`; anything else may belong to another tool and is left to it.
pub fn held_actions(groups: &[HeldGroup]) -> (Vec<LifecycleAction>, Vec<String>) {
    let (mut actions, mut notes) = (Vec::new(), Vec::new());
    for group in groups {
        for (instance_id, transition) in &group.held {
            let hooks: Vec<&str> =
                group.hooks.iter().filter(|(_, t)| t == transition).map(|(name, _)| name.as_str()).collect();
            let ours: Vec<&str> = hooks.iter().copied().filter(|h| h.starts_with("ec2-failover")).collect();
            let hook = match (hooks.as_slice(), ours.as_slice()) {
                ([one], _) | (_, [one]) => *one,
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

fn transition_of(name: &str) -> Option<Transition> {
    match name {
        "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(Transition::Launching),
        "autoscaling:EC2_INSTANCE_TERMINATING" => Some(Transition::Terminating),
        _ => None,
    }
}

/// Reads every group tagged `ec2-failover:group` that holds an instance in `Pending:Wait` or
/// `Terminating:Wait`, with its hooks (one DescribeAutoScalingGroups, then one
/// DescribeLifecycleHooks per such group).
pub async fn held(clients: &Clients) -> Result<Vec<HeldGroup>, Error> {
    let filter = aws_sdk_autoscaling::types::Filter::builder().name("tag-key").values(GROUP_TAG).build();
    let groups = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(filter)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
    let mut out = Vec::new();
    for group in groups {
        let Some(name) = group.auto_scaling_group_name() else { continue };
        let held: Vec<(String, Transition)> = group
            .instances()
            .iter()
            .filter_map(|i| {
                let transition = match i.lifecycle_state()? {
                    LifecycleState::PendingWait => Transition::Launching,
                    LifecycleState::TerminatingWait => Transition::Terminating,
                    _ => return None,
                };
                Some((i.instance_id()?.to_owned(), transition))
            })
            .collect();
        if held.is_empty() {
            continue;
        }
        let hooks = clients
            .autoscaling
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLifecycleHooks", e))?;
        let hooks = hooks
            .lifecycle_hooks()
            .iter()
            .filter_map(|h| Some((h.lifecycle_hook_name()?.to_owned(), transition_of(h.lifecycle_transition()?)?)))
            .collect();
        out.push(HeldGroup { name: name.to_owned(), held, hooks });
    }
    Ok(out)
}

/// Decides what to do about a lifecycle action, given what was observed.
pub fn decide(action: &LifecycleAction, world: &GroupWorld, settings: &DataSettings) -> GroupDecision {
    let group = &action.group;
    let Some(key) = world.group.as_ref().and_then(|g| g.key.as_deref()) else {
        // Not ours: leave the hook to whoever manages the group (or to its timeout).
        let why = if world.group.is_some() { format!("has no {GROUP_TAG} tag") } else { "does not exist".into() };
        return decision(Verdict::Ignore, format!("Auto Scaling group {group} {why}; not managed"), Vec::new());
    };
    match action.transition {
        Transition::Launching => decide_launch(action, key, world, settings),
        Transition::Terminating => decide_terminate(action, key, world, settings),
    }
}

/// A terminating instance: snapshot its data volume (once), then let it go.
fn decide_terminate(action: &LifecycleAction, key: &str, world: &GroupWorld, settings: &DataSettings) -> GroupDecision {
    let instance_id = &action.instance_id;
    let (volumes, snapshots) = world.data_of(key);
    let go_on = complete(action, LifecycleResult::Continue);
    match plan_terminate(instance_id, &volumes, &snapshots) {
        (TerminatePlan::Nothing, why) => decision(Verdict::NoChange, format!("{why}; letting it go"), vec![go_on]),
        (TerminatePlan::Refuse, why) => decision(Verdict::Refuse, why, Vec::new()),
        (TerminatePlan::Snapshot { volume_id, device }, why) => {
            let source = volumes.iter().find(|v| v.volume_id == volume_id);
            let mut actions = vec![
                GroupAction::CreateSnapshot {
                    volume_id,
                    key: key.to_owned(),
                    device,
                    instance_id: Some(instance_id.clone()),
                    at: world.now,
                    volume_type: source.and_then(|v| v.volume_type.clone()),
                    iops: source.and_then(|v| v.iops),
                    throughput: source.and_then(|v| v.throughput),
                },
                go_on,
            ];
            // The new snapshot will be the newest: keep one fewer of the old ones.
            let old = retention(&snapshots, settings.keep_snapshots.saturating_sub(1));
            let stale = retired(&volumes, &snapshots, &old);
            let deleting = if old.is_empty() && stale.is_empty() {
                String::new()
            } else {
                format!("; deleting {}", old.iter().chain(&stale).cloned().collect::<Vec<_>>().join(", "))
            };
            actions.extend(old.into_iter().map(|snapshot_id| GroupAction::DeleteSnapshot { snapshot_id }));
            actions.extend(stale.into_iter().map(|volume_id| GroupAction::DeleteVolume { volume_id }));
            decision(Verdict::Preserve, format!("{why}{deleting}"), actions)
        }
    }
}

/// A launching instance: its data first (when the group keeps any), then the IP, then go on.
fn decide_launch(action: &LifecycleAction, key: &str, world: &GroupWorld, settings: &DataSettings) -> GroupDecision {
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
    let Some(instance) = world.instance.as_ref().filter(|i| i.state.is_alive()) else {
        let state = world.instance.as_ref().map_or("gone", |i| i.state.name());
        return abandon(format!("{instance_id} is {state}: there is no instance to give {} to", address.allocation_id));
    };
    let heartbeat =
        GroupAction::Heartbeat { group: group.clone(), hook: action.hook.clone(), instance_id: instance_id.clone() };
    let (volumes, snapshots) = world.data_of(key);
    let zone = instance.availability_zone.clone().unwrap_or_default();
    let waited = instance.launch_time.map_or(0, |t| world.now - t);
    let (plan, data_why) = plan_launch(instance_id, &zone, waited, settings.max_wait_seconds, &volumes, &snapshots);
    let attach = match plan {
        LaunchPlan::Ready => None,
        LaunchPlan::Attach { volume_id, device } => {
            Some(GroupAction::AttachVolume { volume_id, instance_id: instance_id.clone(), device })
        }
        LaunchPlan::Wait => return decision(Verdict::Wait, data_why, vec![heartbeat]),
        LaunchPlan::Abandon => return abandon(data_why),
        LaunchPlan::Restore { snapshot_id, availability_zone } => {
            let Some(snapshot) = snapshots.iter().find(|s| s.snapshot_id == snapshot_id) else {
                return abandon(format!("{snapshot_id} vanished between two reads"));
            };
            let Some(device) = snapshot.device.clone() else {
                return abandon(format!(
                    "{snapshot_id} has no ec2-failover:device tag; cannot tell where its data goes"
                ));
            };
            let create = GroupAction::CreateVolume {
                snapshot_id,
                availability_zone,
                key: key.to_owned(),
                for_instance: instance_id.clone(),
                device,
                volume_type: snapshot.volume_type.clone(),
                iops: snapshot.iops,
                throughput: snapshot.throughput,
            };
            return decision(
                Verdict::Wait,
                format!("{data_why}; the launch waits for the volume"),
                vec![create, heartbeat],
            );
        }
        LaunchPlan::Carry { volume_id } => {
            let Some(volume) = volumes.iter().find(|v| v.volume_id == volume_id) else {
                return abandon(format!("{volume_id} vanished between two reads"));
            };
            let Some(device) = volume.device.clone() else {
                return abandon(format!("{volume_id} has no ec2-failover:device tag; cannot tell where its data goes"));
            };
            let snapshot = GroupAction::CreateSnapshot {
                volume_id,
                key: key.to_owned(),
                device,
                instance_id: None,
                at: world.now,
                volume_type: volume.volume_type.clone(),
                iops: volume.iops,
                throughput: volume.throughput,
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
    let keep = match &attach {
        Some(GroupAction::AttachVolume { volume_id, .. }) => volume_id.as_str(),
        _ => "",
    };
    let unused = leftovers(instance_id, keep, &members, &volumes, &snapshots);
    let data_why =
        if unused.is_empty() { data_why } else { format!("{data_why}; deleting unused {}", unused.join(", ")) };
    let cleanup: Vec<GroupAction> =
        unused.into_iter().map(|volume_id| GroupAction::DeleteVolume { volume_id }).collect();
    let holds = address.instance_id.as_deref() == Some(instance_id.as_str())
        || (address.network_interface_id.is_some() && address.network_interface_id == instance.network_interface_id);
    let go_on = complete(action, LifecycleResult::Continue);
    let mut actions: Vec<GroupAction> = attach.into_iter().collect();
    if holds {
        let verdict = if actions.is_empty() && cleanup.is_empty() { Verdict::NoChange } else { Verdict::Follow };
        actions.push(go_on);
        actions.extend(cleanup);
        return decision(
            verdict,
            format!("{instance_id} already holds {}; {data_why}; completing the launch", address.allocation_id),
            actions,
        );
    }
    let from = address.instance_id.as_deref().or(address.network_interface_id.as_deref()).unwrap_or("nothing");
    let az = instance.availability_zone.as_deref().unwrap_or("an unknown zone");
    actions.push(GroupAction::MoveAddress {
        allocation_id: address.allocation_id.clone(),
        instance_id: instance_id.clone(),
        network_interface_id: instance.network_interface_id.clone(),
    });
    actions.push(go_on);
    actions.extend(cleanup);
    decision(
        Verdict::Follow,
        format!(
            "{instance_id} launched in {az} for group {group}: {data_why}; moving {} from {from} to it",
            address.allocation_id
        ),
        actions,
    )
}

/// The stateful group's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DataSettings {
    /// Whether groups keep data volumes (`KEEP_DATA`); when not, no volume or snapshot is read.
    pub keep_data: bool,
    /// How long a launch may wait for its data before it is abandoned.
    pub max_wait_seconds: i64,
    /// How many completed snapshots of a group to keep.
    pub keep_snapshots: usize,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self { keep_data: true, max_wait_seconds: 3_600, keep_snapshots: 3 }
    }
}

/// The EC2 and Auto Scaling clients group mode needs.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
}

/// Reads the group, the instance, and the group-tagged addresses, volumes and snapshots (with
/// `keep_data`), all at once.
pub async fn observe(
    clients: &Clients,
    action: &LifecycleAction,
    now: i64,
    keep_data: bool,
) -> Result<GroupWorld, Error> {
    let group = clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&action.group).send();
    let instance = clients
        .ec2
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(&action.instance_id).build())
        .send();
    let addresses =
        clients.ec2.describe_addresses().filters(Filter::builder().name("tag-key").values(GROUP_TAG).build()).send();
    let data = async {
        match keep_data {
            true => crate::data::observe(&clients.ec2).await,
            false => Ok((Vec::new(), Vec::new())),
        }
    };
    let (group, instance, addresses, data) = tokio::join!(group, instance, addresses, data);
    let (volumes, snapshots) = data?;
    let group = group.map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
    let instance = instance.map_err(|e| aws_error("DescribeInstances", e))?;
    let addresses = addresses.map_err(|e| aws_error("DescribeAddresses", e))?;
    let group =
        group.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(action.group.as_str())).map(
            |g| Group {
                name: action.group.clone(),
                key: g.tags().iter().find(|t| t.key() == Some(GROUP_TAG)).and_then(|t| t.value()).map(str::to_owned),
                instances: g
                    .instances()
                    .iter()
                    .map(|i| {
                        let state = i.lifecycle_state().map_or("unknown", LifecycleState::as_str);
                        (i.instance_id().unwrap_or_default().to_owned(), state.to_owned())
                    })
                    .collect(),
            },
        );
    let instance = instance
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(action.instance_id.as_str()))
        .map(|i| Instance {
            instance_id: action.instance_id.clone(),
            state: instance_state(i),
            availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_owned),
            network_interface_id: primary_interface(i),
            launch_time: i.launch_time().map(|t| t.secs()),
        });
    let addresses = addresses
        .addresses()
        .iter()
        .filter_map(|a| {
            Some(GroupAddress {
                allocation_id: a.allocation_id()?.to_owned(),
                public_ip: a.public_ip().map(str::to_owned),
                key: a.tags().iter().find(|t| t.key() == Some(GROUP_TAG)).and_then(|t| t.value())?.to_owned(),
                instance_id: a.instance_id().filter(|i| !i.is_empty()).map(str::to_owned),
                network_interface_id: a.network_interface_id().filter(|e| !e.is_empty()).map(str::to_owned),
            })
        })
        .collect();
    Ok(GroupWorld { group, instance, addresses, volumes, snapshots, now })
}

/// What became of one planned group action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupActionReport {
    /// The action.
    #[serde(flatten)]
    pub action: GroupAction,
    /// `done`, `already_done` (the lifecycle action was completed before), `failed`, `skipped`
    /// (an earlier step failed) or `planned` (dry run).
    pub status: &'static str,
    /// What went wrong, for a failed action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Carries out a plan in order, stopping at the first failure: the hook is never completed with
/// CONTINUE unless the address reached the instance.
pub async fn execute(clients: &Clients, actions: &[GroupAction]) -> (Vec<GroupActionReport>, Option<Error>) {
    let mut reports = Vec::with_capacity(actions.len());
    let mut error = None;
    for action in actions {
        if error.is_some() {
            reports.push(GroupActionReport { action: action.clone(), status: "skipped", error: None });
            continue;
        }
        let (status, failure) = match run(clients, action).await {
            Ok(status) => (status, None),
            Err(e) => ("failed", Some(e)),
        };
        reports.push(GroupActionReport {
            action: action.clone(),
            status,
            error: failure.as_ref().map(ToString::to_string),
        });
        error = failure;
    }
    (reports, error)
}

async fn run(clients: &Clients, action: &GroupAction) -> Result<&'static str, Error> {
    match action {
        GroupAction::MoveAddress { allocation_id, instance_id, network_interface_id } => {
            associate(&clients.ec2, allocation_id, instance_id, network_interface_id.as_deref()).await.map(|()| "done")
        }
        GroupAction::Heartbeat { group, hook, instance_id } => {
            let sent = clients
                .autoscaling
                .record_lifecycle_action_heartbeat()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .send()
                .await;
            match sent {
                Ok(_) => Ok("done"),
                Err(e) if is_no_active_action(&e) => Ok("already_done"),
                Err(e) => Err(aws_error("RecordLifecycleActionHeartbeat", e)),
            }
        }
        GroupAction::CreateSnapshot { volume_id, key, device, instance_id, volume_type, iops, throughput, at } => {
            use crate::data::tags;
            let time = aws_sdk_ec2::primitives::DateTime::from_secs(*at)
                .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                .unwrap_or_else(|_| at.to_string());
            let mut spec = TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .tags(ec2_tag(tags::GROUP, key))
                .tags(ec2_tag(tags::VOLUME, volume_id))
                .tags(ec2_tag(tags::DEVICE, device))
                .tags(ec2_tag(tags::TIME, &time));
            if let Some(instance_id) = instance_id {
                spec = spec.tags(ec2_tag(tags::INSTANCE, instance_id));
            }
            for (k, v) in [
                (tags::VOLUME_TYPE, volume_type.clone()),
                (tags::IOPS, iops.map(|n| n.to_string())),
                (tags::THROUGHPUT, throughput.map(|n| n.to_string())),
            ] {
                if let Some(v) = v {
                    spec = spec.tags(ec2_tag(k, &v));
                }
            }
            clients
                .ec2
                .create_snapshot()
                .volume_id(volume_id)
                .description(format!("ec2-failover: data of group {key}"))
                .tag_specifications(spec.build())
                .send()
                .await
                .map(|_| "done")
                .map_err(|e| aws_error("CreateSnapshot", e))
        }
        GroupAction::CreateVolume {
            snapshot_id,
            availability_zone,
            key,
            for_instance,
            device,
            volume_type,
            iops,
            throughput,
        } => {
            use crate::data::tags;
            let spec = TagSpecification::builder()
                .resource_type(ResourceType::Volume)
                .tags(ec2_tag(tags::GROUP, key))
                .tags(ec2_tag(tags::FOR, for_instance))
                .tags(ec2_tag(tags::DEVICE, device))
                .tags(ec2_tag(tags::SNAPSHOT, snapshot_id))
                .build();
            // The same restore for the same launch carries the same token, so that AWS makes one
            // volume even when a retry comes before the first volume shows in DescribeVolumes.
            clients
                .ec2
                .create_volume()
                .client_token(format!("ec2-failover-{for_instance}-{snapshot_id}"))
                .snapshot_id(snapshot_id)
                .availability_zone(availability_zone)
                .set_volume_type(volume_type.as_deref().map(aws_sdk_ec2::types::VolumeType::from))
                .set_iops(*iops)
                .set_throughput(*throughput)
                .tag_specifications(spec)
                .send()
                .await
                .map(|_| "done")
                .map_err(|e| aws_error("CreateVolume", e))
        }
        GroupAction::AttachVolume { volume_id, instance_id, device } => {
            // Marked first: a volume that may ever have been attached is never deleted as unused,
            // and is known to hold data newer than the snapshot it came from.
            clients
                .ec2
                .create_tags()
                .resources(volume_id)
                .tags(ec2_tag(crate::data::tags::ATTACHED, instance_id))
                .send()
                .await
                .map_err(|e| aws_error("CreateTags", e))?;
            clients
                .ec2
                .attach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .device(device)
                .send()
                .await
                .map(|_| "done")
                .map_err(|e| aws_error("AttachVolume", e))
        }
        GroupAction::DeleteVolume { volume_id } => clients
            .ec2
            .delete_volume()
            .volume_id(volume_id)
            .send()
            .await
            .map(|_| "done")
            .map_err(|e| aws_error("DeleteVolume", e)),
        GroupAction::DeleteSnapshot { snapshot_id } => clients
            .ec2
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .map(|_| "done")
            .map_err(|e| aws_error("DeleteSnapshot", e)),
        GroupAction::CompleteLifecycle { group, hook, instance_id, result } => {
            let result = match result {
                LifecycleResult::Continue => "CONTINUE",
                LifecycleResult::Abandon => "ABANDON",
            };
            let sent = clients
                .autoscaling
                .complete_lifecycle_action()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .lifecycle_action_result(result)
                .send()
                .await;
            match sent {
                Ok(_) => Ok("done"),
                // A repeated event, or a retry after a lost response: the action is already
                // completed (or timed out), and Auto Scaling says so with a ValidationError.
                Err(e) if is_no_active_action(&e) => Ok("already_done"),
                Err(e) => Err(aws_error("CompleteLifecycleAction", e)),
            }
        }
    }
}

fn ec2_tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn is_no_active_action<E, R>(error: &aws_sdk_autoscaling::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_autoscaling::error::ProvideErrorMetadata,
{
    use aws_sdk_autoscaling::error::ProvideErrorMetadata as _;
    error.code() == Some("ValidationError") && error.message().is_some_and(|m| m.contains("No active Lifecycle Action"))
}
