//! The decision: a pure function from (configuration, trigger, observed world) to a plan.
//!
//! Nothing here does I/O, reads a clock or can fail: every fact comes in through the arguments,
//! so the same inputs always give the same plan, and every rule is tested as a table.

use serde::Serialize;

use super::alarms::{confirm, recovered_since, standing_alarm};
use super::health::{self, History};
use super::world::{Endpoint, FailoverRecord, Holder, InstanceState, PauseNote, Phase, ScheduledEvent, World};
use super::{Config, FenceMode, Monitoring, Readiness, Rebalance};
use crate::invocation::Verdict;
use crate::trigger::{AlarmState, Command, Source, Trigger, Warning};

/// A decision about the pair. Its stops run only once the address is on its new holder.
pub type Decision = crate::invocation::Decision<Action>;

/// One change to the world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Point every endpoint at an instance (the Elastic IP, the route-table entries, the private
    /// IPs), through its primary network interface when known (an interface can take them whatever
    /// state its instance is in).
    MoveAddress {
        /// The new holder.
        instance_id: String,
        /// Its primary network interface.
        network_interface_id: Option<String>,
    },
    /// Point the endpoints that point elsewhere at the active instance (the reconcile's repair
    /// of a move that was left partial, or of a hand that moved an endpoint).
    Converge {
        /// The active instance.
        instance_id: String,
        /// Its primary network interface.
        network_interface_id: Option<String>,
        /// The endpoints to point at it.
        endpoints: Vec<Endpoint>,
    },
    /// Start a stopped instance.
    StartInstance {
        /// The instance to start.
        instance_id: String,
    },
    /// Stop the old active instance so that it cannot serve or write any more (fencing).
    StopInstance {
        /// With `Force`: `FENCE_MODE=force`, or a graceful stop that hangs.
        force: bool,
        /// Without the OS shutdown (`SkipOsShutdown`, which may lose data the OS has not written):
        /// `FENCE_MODE=force` only, never a mere escalation.
        skip_os_shutdown: bool,
        /// The instance to stop.
        instance_id: String,
    },
    /// Write the failover record onto the Elastic IP's tags.
    RecordFailover(FailoverRecord),
    /// Pause the pair: the reason and its time as tags on the Elastic IP.
    Pause {
        /// Why.
        reason: String,
        /// When, in seconds since the Unix epoch.
        at: i64,
    },
    /// End a pause: its tags go.
    Resume,
    /// Keep the service check's results on the Elastic IP's tags.
    RecordHealth(History),
}

fn decision(verdict: Verdict, reason: String, actions: Vec<Action>) -> Decision {
    Decision::new(verdict, reason, actions)
}

/// Decides, before anything is read from AWS, whether the trigger concerns the pair at all.
/// Returns the `Ignore` decision for a trigger that does not, and `None` for one that does.
pub fn screen(config: &Config, trigger: &Trigger) -> Option<Decision> {
    let reason = match trigger {
        Trigger::Unrelated { what } => format!("{what} events are not about the pair"),
        Trigger::Ebs { resource_id, .. } => format!("EBS notifications ({resource_id}) are for group mode"),
        Trigger::Lifecycle(action) => format!(
            "a lifecycle action of Auto Scaling group {} is for group mode (MODE=group); this deployment keeps a pair",
            action.group
        ),
        Trigger::StateChange { instance_id, .. } if !config.is_member(instance_id) => {
            format!("{instance_id} is not one of the pair ({}, {})", config.primary, config.standby)
        }
        Trigger::Warning(warning)
            if !warning.instance_ids.is_empty() && !warning.instance_ids.iter().any(|id| config.is_member(id)) =>
        {
            format!("{} is about {}, outside the pair", warning.raised_by(), warning.instance_ids.join(", "))
        }
        _ => return None,
    };
    Some(decision(Verdict::Ignore, reason, Vec::new()))
}

/// Decides what to do about the pair, given what triggered the invocation and what was observed.
/// While the pair is paused every trigger but a command is decided as usual and nothing is done:
/// the decision says what would have been done, as `paused`.
pub fn decide(config: &Config, trigger: &Trigger, world: &World) -> Decision {
    let trusted = trust_a_fresh_move(world);
    let mut decision = decide_endpoints(config, trigger, trusted.as_ref().unwrap_or(world));
    // While the reads disagree, the record is believed for what it protects (no endpoint pointed
    // back), not for what it cannot prove: the move may have failed, so nothing is stopped and
    // nothing moves back towards the old holder until the reads agree.
    if let (Some(_), Some(r)) = (&trusted, world.address.record.as_ref()) {
        let back = decision.actions.iter().any(|a| match a {
            Action::MoveAddress { instance_id, .. } | Action::Converge { instance_id, .. } => *instance_id == r.from,
            _ => false,
        });
        decision.actions.retain(|a| !matches!(a, Action::StopInstance { .. }));
        if back
            || (decision.actions.is_empty()
                && matches!(decision.verdict, Verdict::Fence | Verdict::FailOver | Verdict::Finish | Verdict::Heal))
        {
            decision = self::decision(
                Verdict::NoChange,
                format!(
                    "the reads disagree right after the move from {} to {} at {} (EC2's reads are eventually \
                     consistent): nothing is stopped or moved back until they agree (would have been {}: {})",
                    r.from,
                    r.to,
                    r.at,
                    decision.verdict.name(),
                    decision.reason
                ),
                Vec::new(),
            );
        }
    }
    let world = trusted.as_ref().unwrap_or(world);
    // A configuration AWS cannot carry out is refused on every invocation (the first reconcile
    // after the deploy pages), not found out half-way through the first failover; `status` shows it.
    if let Some(why) = private_ips_cannot_follow(config, world) {
        if !matches!(decision.verdict, Verdict::Ignore | Verdict::Status) {
            decision = self::decision(Verdict::Refuse, why, Vec::new());
        } else if decision.verdict == Verdict::Status {
            decision.reason.push_str(&format!("; WARNING: {why}"));
        }
    }
    // A pair without an Elastic IP moves its private endpoints: the reasons say "the address".
    if config.allocation_id.is_none() {
        decision.reason = decision.reason.replace("the Elastic IP", "the address").replace("Elastic IP", "address");
    }
    decision
}

fn decide_endpoints(config: &Config, trigger: &Trigger, world: &World) -> Decision {
    if let Trigger::Command(command) = trigger {
        let decision = command_decision(config, command, world);
        return routes_checked(config, world, decision);
    }
    let mut decision = decide_trigger(config, trigger, world);
    match &world.address.pause {
        Some(pause) if decision.verdict != Verdict::Ignore => {
            let would = if decision.actions.is_empty() {
                format!("{} ({})", decision.verdict.name(), decision.reason)
            } else {
                format!("{}: {}", decision.verdict.name(), decision.reason)
            };
            let reason = format!("paused{}: {}; nothing is done; would have been {would}", since(pause), pause.reason);
            self::decision(Verdict::Paused, reason, Vec::new())
        }
        // The service check's results are kept with whatever else is done (first, so that a move
        // that fails does not lose them); every endpoint follows the active instance.
        _ if decision.verdict != Verdict::Ignore => {
            converge(world, &mut decision);
            decision = routes_checked(config, world, decision);
            if decision.verdict == Verdict::Refuse {
                return decision;
            }
            if let Some(record) = health::record(config, world) {
                decision.actions.insert(0, record);
            }
            decision
        }
        _ => decision,
    }
}

/// Every endpoint follows the active instance (the one the first endpoint points at): one that
/// points elsewhere (a move left partial, a hand) is pointed at it, and the decision says so. A
/// decision that moves the endpoints, refuses, or has no active member leaves them to that.
fn converge(world: &World, decision: &mut Decision) {
    if decision.verdict == Verdict::Refuse || decision.actions.iter().any(|a| matches!(a, Action::MoveAddress { .. })) {
        return;
    }
    let Holder::Member { instance_id: active } = &world.address.holder else { return };
    // An endpoint something outside the pair holds (a NAT gateway's route, another instance's
    // address) is not taken: it is reported.
    let outside: Vec<String> = world
        .endpoints
        .iter()
        .filter(|e| matches!(e.holder, Holder::Outsider { .. }))
        .map(|e| format!("{} points at {}, outside the pair: left alone", e.endpoint, holder_name(&e.holder)))
        .collect();
    if !outside.is_empty() {
        decision.reason = format!("{}; {}", decision.reason, outside.join("; "));
    }
    let drifted: Vec<_> = world
        .endpoints
        .iter()
        .filter(|e| match &e.holder {
            Holder::Member { instance_id } => instance_id != active,
            Holder::Nobody => true,
            Holder::Outsider { .. } => false,
        })
        .collect();
    if drifted.is_empty() {
        return;
    }
    let told: Vec<String> =
        drifted.iter().map(|e| format!("{} points at {}", e.endpoint, holder_name(&e.holder))).collect();
    let repair = format!("{}: pointing it at the active instance {active}", told.join(", "));
    decision.actions.push(Action::Converge {
        instance_id: active.clone(),
        network_interface_id: world.member(active).and_then(|m| m.network_interface_id.clone()),
        endpoints: drifted.iter().map(|e| e.endpoint.clone()).collect(),
    });
    decision.reason = format!("{}; {repair}", decision.reason);
    if decision.verdict == Verdict::NoChange {
        decision.verdict = Verdict::Heal;
    }
}

fn holder_name(holder: &Holder) -> String {
    match holder {
        Holder::Nobody => "nothing".into(),
        Holder::Member { instance_id } => instance_id.clone(),
        Holder::Outsider { instance_id, network_interface_id } => instance_id
            .clone()
            .or_else(|| network_interface_id.clone())
            .unwrap_or_else(|| "something outside the pair".into()),
    }
}

/// A route pointed at an instance whose source/destination check is on carries nothing: EC2 drops
/// the traffic not addressed to the instance itself (VPC User Guide, "Route tables": route to an
/// instance or network interface; EC2 User Guide, "Source/destination checks"). Such a move is
/// refused loudly, rather than move the routes into a black hole; but away from a dead instance the
/// routes carry nothing either way, and the Elastic IP and the private IPs would: that move goes
/// on, and the decision says loudly what the routes need.
fn routes_checked(config: &crate::pair::Config, world: &World, mut decision: Decision) -> Decision {
    if config.routes.is_empty() {
        return decision;
    }
    let target = decision.actions.iter().find_map(|a| match a {
        Action::MoveAddress { instance_id, .. } => Some(instance_id.clone()),
        Action::Converge { instance_id, endpoints, .. }
            if endpoints.iter().any(|e| matches!(e, Endpoint::Route { .. })) =>
        {
            Some(instance_id.clone())
        }
        _ => None,
    });
    let Some(target) = target.filter(|t| world.member(t).and_then(|m| m.source_dest_check) == Some(true)) else {
        return decision;
    };
    let away_from_dead = match &world.address.holder {
        Holder::Member { instance_id } => *instance_id != target && world.state_of(instance_id).is_down(),
        _ => false,
    };
    if away_from_dead {
        decision.reason = format!(
            "{}; WARNING: the route tables now point at {target}, whose source/destination check is on: EC2 drops \
             the traffic routed to it until the check is turned off (ModifyInstanceAttribute --no-source-dest-check)",
            decision.reason
        );
        return decision;
    }
    let reason = format!(
        "{}; but the route tables would point at {target}, whose source/destination check is on: EC2 would drop \
         the traffic routed to it; turn the check off on both members (ModifyInstanceAttribute \
         --no-source-dest-check)",
        decision.reason
    );
    self::decision(Verdict::Refuse, reason, Vec::new())
}

fn since(pause: &PauseNote) -> String {
    pause.since.map(|t| format!(" since {t}")).unwrap_or_default()
}

/// An operator's command.
fn command_decision(config: &Config, command: &Command, world: &World) -> Decision {
    match command {
        Command::Status => decision(Verdict::Status, status(config, world), Vec::new()),
        Command::Pause { reason } => match &world.address.pause {
            Some(pause) if pause.reason == *reason => {
                decision(Verdict::NoChange, format!("already paused{}: {}", since(pause), pause.reason), Vec::new())
            }
            _ => decision(
                Verdict::Pause,
                format!("pausing: {reason}; every trigger is decided and logged, nothing changes until resume"),
                vec![Action::Pause { reason: reason.clone(), at: world.now }],
            ),
        },
        Command::Resume { reason } => {
            let why = reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            match &world.address.pause {
                Some(pause) => decision(
                    Verdict::Resume,
                    format!("resuming{why}: the pause{} ({}) ends", since(pause), pause.reason),
                    vec![Action::Resume],
                ),
                None => decision(Verdict::NoChange, format!("not paused{why}: nothing to resume"), Vec::new()),
            }
        }
        Command::Switchover { force } => switchover(config, world, *force),
    }
}

/// A planned move of the IP to the other instance, make before break: refused if the IP is on
/// nothing or outside the pair, if the other instance cannot serve, inside the cooldown or while
/// paused (unless forced).
fn switchover(config: &Config, world: &World, force: bool) -> Decision {
    let refuse = |why: String| decision(Verdict::Refuse, format!("switchover refused: {why}"), Vec::new());
    let Holder::Member { instance_id: active } = &world.address.holder else {
        return refuse("the Elastic IP is not on a member of the pair (the reconcile heals that)".into());
    };
    let Some(other) = config.other(active) else { return refuse(format!("{active} is not one of the pair")) };
    if let (Some(pause), false) = (&world.address.pause, force) {
        return refuse(format!("the pair is paused ({}); resume, or force", pause.reason));
    }
    // Forced while paused, a switchover must end in this one invocation: every later one is paused
    // and would leave it half done (the other started, the IP not moved) until resume.
    if world.address.pause.is_some() && !ready(config, world, other) {
        return refuse(format!(
            "the pair is paused and {other} cannot take the IP now ({}); resume first",
            world.state_of(other).name()
        ));
    }
    let state = world.state_of(other);
    if state.is_lost() {
        return refuse(format!("{other} is {}: it cannot serve", state.name()));
    }
    if let (Some(e), false) = (due_event(config, world, other), force) {
        return refuse(format!("EC2 has scheduled {} for {other}; force to move anyway", e.code));
    }
    if let Some(r) = world.address.record.as_ref().filter(|r| within_cooldown(config, world, r) && !force) {
        let left = i64::try_from(config.cooldown_seconds).unwrap_or(i64::MAX) - world.now.saturating_sub(r.at);
        return refuse(format!(
            "the last failover was {}s ago; {left}s of cooldown left (force to override)",
            world.now.saturating_sub(r.at)
        ));
    }
    let why = format!("switchover from {active} to {other} requested{}", if force { " (forced)" } else { "" });
    move_to(config, world, active, other, Verdict::Switchover, why, Some("switchover".into()))
}

/// Where the pair stands, in one line: who is active, each member's state and checks, the record,
/// the cooldown left, the alarms in ALARM, scheduled events, and any pause.
fn status(config: &Config, world: &World) -> String {
    let holder = match &world.address.holder {
        Holder::Member { instance_id } => format!("{instance_id} is active"),
        Holder::Nobody => "the Elastic IP is on nothing".into(),
        Holder::Outsider { instance_id, network_interface_id } => format!(
            "the Elastic IP is outside the pair ({})",
            instance_id.as_deref().or(network_interface_id.as_deref()).unwrap_or("unknown")
        ),
    };
    let members: Vec<String> = [config.primary.as_str(), config.standby.as_str()]
        .iter()
        .map(|id| {
            let role = if *id == config.primary { "primary" } else { "standby" };
            let checks = checks_of(world, id);
            let ready = if ready(config, world, id) { "ready" } else { "not ready" };
            let events: Vec<String> = world
                .member(id)
                .map(|m| {
                    m.scheduled_events
                        .iter()
                        .map(|e| {
                            format!("{}{}", e.code, e.not_before.map(|t| format!(" from {t}")).unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let events = if events.is_empty() { String::new() } else { format!(", scheduled: {}", events.join(", ")) };
            let service = health::describe(config, world, id).map(|s| format!("; {s}")).unwrap_or_default();
            format!("{role} {id} {} (checks {checks}{service}; {ready}{events})", world.state_of(id).name())
        })
        .collect();
    let record = match &world.address.record {
        Some(r) => {
            let left = i64::try_from(config.cooldown_seconds).unwrap_or(i64::MAX) - world.now.saturating_sub(r.at);
            let cooldown = if left > 0 { format!(", {left}s of cooldown left") } else { ", no cooldown".into() };
            format!("last failover {} to {} at {} ({}){cooldown}", r.from, r.to, r.at, r.phase.name())
        }
        None => "no failover recorded".into(),
    };
    let alarms = match &world.alarms {
        Some(alarms) => {
            let firing: Vec<&str> =
                alarms.iter().filter(|a| a.state == AlarmState::Alarm).map(|a| a.name.as_str()).collect();
            if firing.is_empty() {
                "no alarm in ALARM".into()
            } else {
                format!("in ALARM: {}", firing.join(", "))
            }
        }
        None => "alarms not read".into(),
    };
    let alarms = match world.unread_alarms.is_empty() {
        true => alarms,
        false => format!("{alarms} (not read: {})", world.unread_alarms.join("; ")),
    };
    let paused = match &world.address.pause {
        Some(p) => format!("paused{}: {}", since(p), p.reason),
        None => "not paused".into(),
    };
    // Every endpoint and where it points, when there is more than the Elastic IP.
    let endpoints = if world.endpoints.len() > 1 {
        let each: Vec<String> =
            world.endpoints.iter().map(|e| format!("{} on {}", e.endpoint, holder_name(&e.holder))).collect();
        format!("; endpoints: {}", each.join(", "))
    } else {
        String::new()
    };
    format!("{holder}{endpoints}; {}; {record}; {alarms}; {paused}", members.join("; "))
}

/// Decides about a trigger other than a command.
fn decide_trigger(config: &Config, trigger: &Trigger, world: &World) -> Decision {
    if let Some(ignored) = screen(config, trigger) {
        return ignored;
    }
    let active = match &world.address.holder {
        Holder::Outsider { instance_id, network_interface_id } => {
            let who = instance_id.as_deref().or(network_interface_id.as_deref()).unwrap_or("an unknown resource");
            return decision(
                Verdict::Refuse,
                format!(
                    "the Elastic IP {} is associated with {who}, outside the pair; refusing to take it",
                    world.address.resource
                ),
                Vec::new(),
            );
        }
        Holder::Nobody => return heal(config, world),
        Holder::Member { instance_id } => instance_id.as_str(),
    };
    let Some(other) = config.other(active) else {
        return decision(Verdict::Refuse, format!("{active} holds the IP but is not one of the pair"), Vec::new());
    };
    let active_state = world.state_of(active);
    let record = world.address.record.as_ref();

    // The failover that brought the IP here, if any: `moved` (the IP left, the start was asked
    // for) or `done` (this instance ran with the IP). Alarms that went to ALARM before it are about
    // what happened before: they do not count against the instance that took over.
    let completed = record.filter(|r| r.to == active && r.from == other && r.phase != Phase::Started);
    let holder_since = completed.map(|r| r.at);
    let (warning, doubt) = match confirm(trigger, world, holder_since) {
        (Some(w), doubt) => match out_of_time(config, world, &w) {
            Some(why) => (None, Some(why)),
            None => (Some(w), doubt),
        },
        unconfirmed => unconfirmed,
    };
    let standing = standing_alarm(world, active, holder_since);

    // A failover decided earlier whose address has not moved yet is carried on, whatever this
    // invocation's trigger was: the standby's `running` event is what most often brings us here.
    // (`moved` with the IP still on `from`: the record was written, the move failed.) One away from
    // a primary that still runs stops when CloudWatch shows its alarm back to OK since it began: a
    // passing alarm must not end in a healthy primary stopped.
    if let Some(r) = record.filter(|r| r.from == active && r.to == other && r.phase != Phase::Done) {
        let about_active = warning.as_ref().filter(|w| w.instance_ids.is_empty() || w.names(active));
        // Positive evidence only: an alarm about it has gone back to OK since the failover began
        // (an alarm delivered through SNS and not read here cannot stall the failover).
        // Only for a failover an alarm started (or one recorded before causes were): a switchover
        // or a probe's failover is not undone because some alarm went back to OK.
        let alarm_passed = r.cause.as_deref().is_none_or(|c| c.starts_with("alarm:"))
            // Every region's alarms read: one unread may hold the alarm that started it.
            && world.unread_alarms.is_empty()
            && !active_state.is_down()
            && standing.is_none()
            && about_active.is_none()
            && due_event(config, world, active).is_none()
            && health::failure(config, world, active).is_none()
            && recovered_since(world, active, r.at);
        if alarm_passed {
            let reason = format!(
                "the failover from {active} to {other} begun at {} is not carried on: no alarm about {active} is in \
                 ALARM any more, and {active} is {}",
                r.at,
                active_state.name()
            );
            return decision(Verdict::NoChange, reason, Vec::new());
        }
        let why = format!("carrying on the failover from {active} to {other} begun at {}", r.at);
        return move_to(config, world, active, other, Verdict::Finish, why, r.cause.clone());
    }

    // After a failover, the old active instance is stopped. If it still runs since before the
    // failover (the stop failed or never came), it is stopped now; one started again after the
    // failover was started on purpose and is left alone. Only a running instance can be stopped:
    // AWS refuses to stop one that is still `pending`, so that one waits for the next invocation.
    // Never while the active instance is itself going down: the old one may be all that serves.
    // A fence still `stopping` FENCE_ESCALATE_SECONDS after the move hangs (an OS that will not
    // shut down): it is stopped again with `Force` (EC2 API reference, StopInstances: "If your
    // instance appears stuck in the stopping state ... use the Force parameter").
    let (fence, fence_why): (Vec<Action>, String) = match (completed, world.member(other)) {
        // EC2 refuses to stop an instance of a one-time Spot request: retrying every reconcile
        // would fail and page every minute. Said, not tried.
        (Some(_), Some(old))
            if config.fence_mode != FenceMode::None
                && matches!(old.state, InstanceState::Running | InstanceState::Stopping)
                && old.spot.as_ref().is_some_and(|s| s.cannot_stop()) =>
        {
            (Vec::new(), unstoppable(world, other).unwrap_or_default())
        }
        (Some(r), Some(old))
            if config.fence_mode != FenceMode::None
                && !active_state.is_down()
                && old.state == InstanceState::Running
                && old.launch_time.is_some_and(|launched| launched <= r.at) =>
        {
            let force = config.fence_mode == FenceMode::Force;
            let why = format!(
                "{other} still runs since before the failover to {active}; stopping it{} so that only {active} serves",
                if force { " with Force" } else { "" }
            );
            (vec![Action::StopInstance { instance_id: other.to_owned(), force, skip_os_shutdown: force }], why)
        }
        (Some(r), Some(old))
            if config.fence_mode != FenceMode::None
                && old.state == InstanceState::Stopping
                && old.launch_time.is_some_and(|launched| launched <= r.at)
                && world.now.saturating_sub(r.at) >= config.fence_escalate_seconds =>
        {
            // Force lets EC2 end a shutdown that hangs; skipping the OS shutdown as well may lose
            // data, and is FENCE_MODE=force's choice alone.
            let skip_os_shutdown = config.fence_mode == FenceMode::Force;
            let why = format!(
                "{other} has been stopping for {}s since the failover to {active} (FENCE_ESCALATE_SECONDS {}): \
                 stopping it with Force",
                world.now.saturating_sub(r.at),
                config.fence_escalate_seconds
            );
            (vec![Action::StopInstance { instance_id: other.to_owned(), force: true, skip_os_shutdown }], why)
        }
        _ => (Vec::new(), String::new()),
    };
    // A failover whose new instance now runs with the IP is done: it has served. The record keeps
    // the time of the move, which the cooldown and the fence measure from.
    let done: Vec<Action> = completed
        .filter(|r| r.phase == Phase::Moved && active_state == InstanceState::Running)
        .map(|r| Action::RecordFailover(FailoverRecord { phase: Phase::Done, ..r.clone() }))
        .into_iter()
        .collect();

    // The IP sits on a stopped instance that a failover chose. A cooldown never keeps it there:
    // if that instance never ran since (its start failed, for want of capacity or a KMS grant)
    // and the other one serves, the IP goes back at once; otherwise it is started again.
    if let Some(r) = completed.filter(|_| active_state == InstanceState::Stopped) {
        let why = world
            .member(active)
            .and_then(|m| m.state_reason.as_deref())
            .map_or_else(String::new, |reason| format!(" ({reason})"));
        if r.phase == Phase::Moved && ready(config, world, other) {
            let reason = format!(
                "the Elastic IP is on {active}, which has not run since the failover to it at {} and is stopped{why}; \
                 {other} can serve: failing back, whatever the cooldown",
                r.at
            );
            return move_to(config, world, active, other, Verdict::FailOver, reason, Some("start-failed".into()));
        }
        // Past the cooldown a stopped active instance is an ordinary failure (below).
        if within_cooldown(config, world, r) {
            let reason = format!(
                "the Elastic IP is on {active}, which the failover at {} chose and which is stopped{why}; \
                 starting it again rather than leave the IP on a stopped instance",
                r.at
            );
            return decision(Verdict::Finish, reason, vec![Action::StartInstance { instance_id: active.to_owned() }]);
        }
    }

    // A warning about the active instance fails the pair over, but a rebalance recommendation only
    // if the settings say so (it is a risk, not a notice); otherwise it is logged.
    let about_active = warning.as_ref().filter(|w| w.instance_ids.is_empty() || w.names(active));
    let acting = about_active.filter(|w| !is_logged_only(config, w));
    let logged = about_active
        .filter(|w| is_logged_only(config, w))
        .map(|w| format!("{} for the active instance {active}: logged only (REBALANCE=log)", w.says()));
    let due = due_event(config, world, active);
    // The failure, and its cause as the record keeps it.
    let failure = if active_state.is_down() {
        Some((
            format!("the active instance {active} is {}", active_state.name()),
            format!("state:{}", active_state.name()),
        ))
    } else if let Some(w) = acting {
        Some((format!("{} for the active instance {active}", w.says()), w.cause()))
    } else if let Some(a) = standing {
        Some((format!("alarm {} is in ALARM for the active instance {active}", a.name), format!("alarm:{}", a.name)))
    } else if let Some(service) = health::failure(config, world, active) {
        // A service check that times out everywhere tells of the path, not the service: refused
        // loudly, and nothing is started for it.
        if let Some(blocked) = health::blocked(config, world) {
            return decision(Verdict::Refuse, format!("{service}; but {blocked}"), Vec::new());
        }
        Some((service, "probe".to_owned()))
    } else {
        due.map(|e| {
            let why = format!(
                "EC2 has scheduled {} for the active instance {active}{}, within the {}s lead time",
                e.code,
                e.not_before.map(|t| format!(" from {t}")).unwrap_or_default(),
                config.scheduled_lead_seconds
            );
            (why, format!("scheduled:{}", e.code))
        })
    };
    // The instance goes whatever is done (a Spot interruption, a retirement or stop, announced or
    // scheduled): no cooldown holds the failover back.
    let certain = acting.is_some_and(|w| w.is_certain_loss()) || due.is_some_and(|e| e.takes_the_instance());

    let Some((failure, cause)) = failure else {
        let done_why = format!("{active} runs with the Elastic IP: the failover from {other} is done");
        let mut actions = done.clone();
        if !fence.is_empty() {
            let mut reason = fence_why;
            if !done.is_empty() {
                reason = format!("{done_why}; {reason}");
            }
            actions.extend(fence);
            return decision(Verdict::Fence, reason, actions);
        }
        if !actions.is_empty() {
            return decision(Verdict::Finish, done_why, actions);
        }
        let mut reason = format!("the Elastic IP is on {active}, which is {}", active_state.name());
        if !fence_why.is_empty() {
            reason.push_str(&format!("; WARNING: {fence_why}"));
        }
        if let Some(logged) = logged {
            reason.push_str(&format!("; {logged}"));
        }
        if let Some(warning) = warning.as_ref().filter(|w| w.names(other)) {
            reason.push_str(&format!(
                "; {} is about {other}, which does not hold the IP: it would not be a safe place to fail over to",
                warning.raised_by()
            ));
        }
        if let Some(e) = due_event(config, world, other) {
            reason.push_str(&format!("; EC2 has scheduled {} for {other}, which does not hold the IP", e.code));
        }
        if let Some(service) = health::failure(config, world, other) {
            reason.push_str(&format!("; {service}, which does not hold the IP: it is not ready to take over"));
        }
        if let Some(doubt) = doubt {
            reason.push_str(&format!("; {doubt}"));
        }
        return decision(Verdict::NoChange, reason, Vec::new());
    };

    // Ahead of a scheduled event, but the other instance has one due as well: moving would only
    // trade one for the other, and back again.
    // Ahead of a loss, but the other instance faces one as bad or worse (the same warning names it
    // too, or it has an event due that is no milder): moving would trade one for the other, and
    // back again on the next warning. A dead active instance is always left.
    let other_due = due_event(config, world, other);
    if !active_state.is_down() && standing.is_none() {
        let named_too = acting.filter(|w| w.names(other));
        let worse_there = other_due
            .filter(|o| acting.is_none() && (o.takes_the_instance() || !due.is_some_and(|e| e.takes_the_instance())));
        if let Some(w) = named_too {
            let reason = format!("{failure}; but {} names {other} too: not moving", w.raised_by());
            return decision(Verdict::Hold, reason, [done, fence].concat());
        }
        if let Some(e) = worse_there {
            let reason = format!("{failure}; but EC2 has scheduled {} for {other} as well: not moving", e.code);
            return decision(Verdict::Hold, reason, [done, fence].concat());
        }
    }
    // The cooldown is waived for a certain loss only when the other instance faces none.
    let certain = certain && other_due.is_none_or(|e| !e.takes_the_instance());
    if let Some(r) = completed.filter(|r| within_cooldown(config, world, r) && !certain) {
        let age = world.now.saturating_sub(r.at);
        let reason = format!(
            "{failure}, but the last failover ({other} to {active}) was {age}s ago, inside the {}s cooldown; \
             not failing over",
            config.cooldown_seconds
        );
        let mut actions = done;
        actions.extend(fence);
        return decision(Verdict::Hold, reason, actions);
    }
    move_to(config, world, active, other, Verdict::FailOver, failure, Some(cause))
}

/// How long a certain loss (a Spot interruption two minutes ahead, with some delivery delay)
/// stands whatever failover came after it was sent.
const CERTAIN_LOSS_SECONDS: i64 = 150;

/// Why a warning that stands is not acted on now, if it is not. An AWS Health scheduled change
/// (a retirement, a stop, maintenance) is posted weeks before its `startTime`: beyond
/// `SCHEDULED_LEAD_SECONDS` it is logged, and EC2's scheduled event for the same change, which the
/// reconcile reads, fails the pair over when the lead time comes (an `issue` is about now). A
/// warning AWS sent before the failover that made the instance it names active (Lambda retries an
/// asynchronous event for up to six hours, and a failback may have come since) is about the past.
fn out_of_time(config: &Config, world: &World, warning: &Warning) -> Option<String> {
    if let Source::Health(health) = &warning.source {
        let lead = config.scheduled_lead_seconds;
        if let Some(start) =
            health.start.filter(|s| health.category == "scheduledChange" && *s > world.now.saturating_add(lead))
        {
            return Some(format!(
                "{} begins at {start}, in {}s, beyond the {lead}s lead time (SCHEDULED_LEAD_SECONDS): logged; EC2's \
                 scheduled event for it fails the pair over when the lead time comes",
                warning.says(),
                start - world.now
            ));
        }
    }
    let (Some(sent), Some(record)) = (warning.at, world.address.record.as_ref()) else { return None };
    // A certain loss announced moments ago (a Spot interruption comes two minutes ahead) may have
    // raced the failover onto its instance and been delivered after it: it still stands.
    if warning.is_certain_loss() && world.now.saturating_sub(sent) < CERTAIN_LOSS_SECONDS {
        return None;
    }
    (warning.names(&record.to) && sent < record.at && record.phase != Phase::Started).then(|| {
        format!(
            "{} was sent at {sent}, before the failover to {} at {}: replayed or late, it changes nothing",
            warning.raised_by(),
            record.to,
            record.at
        )
    })
}

/// Whether a warning is only logged: a rebalance recommendation while `REBALANCE=log`.
fn is_logged_only(config: &Config, warning: &Warning) -> bool {
    matches!(warning.source, Source::RebalanceRecommendation) && config.rebalance == Rebalance::Log
}

/// The first event EC2 has scheduled for `instance_id` whose window begins within the lead time
/// (or has begun: it is not completed), so that the pair fails over ahead of it, not in it.
fn due_event<'a>(config: &Config, world: &'a World, instance_id: &str) -> Option<&'a ScheduledEvent> {
    let due =
        |e: &&ScheduledEvent| e.not_before.is_none_or(|t| t.saturating_sub(world.now) <= config.scheduled_lead_seconds);
    // The most severe one: a retirement or stop before a reboot or maintenance listed first.
    let events = &world.member(instance_id)?.scheduled_events;
    events.iter().filter(due).find(|e| e.takes_the_instance()).or_else(|| events.iter().find(due))
}

/// Whether the failover `record` is younger than the cooldown.
fn within_cooldown(config: &Config, world: &World, record: &FailoverRecord) -> bool {
    world.now.saturating_sub(record.at) < i64::try_from(config.cooldown_seconds).unwrap_or(i64::MAX)
}

/// Whether `instance_id` can take the IP from an instance that still serves: running, and (unless
/// the configuration says `running` is enough) both status checks pass. EC2 says `running` as soon
/// as the hypervisor starts it; the OS and the service come later.
fn ready(config: &Config, world: &World, instance_id: &str) -> bool {
    world.member(instance_id).is_some_and(|m| {
        m.state == InstanceState::Running
            && (config.standby_ready == Readiness::Running || m.checks.is_some_and(|c| c.pass()))
            && health::probe_failure(world, instance_id).is_none()
    })
}

/// Why a running instance is not ready yet, for a reason.
fn not_ready_why(world: &World, instance_id: &str) -> String {
    match health::probe_failure(world, instance_id) {
        Some(why) => format!("its service check fails ({why})"),
        None => format!("its status checks are not both ok yet ({})", checks_of(world, instance_id)),
    }
}

/// What a member's status checks say, for a reason.
fn checks_of(world: &World, instance_id: &str) -> String {
    match world.member(instance_id).and_then(|m| m.checks) {
        Some(c) => format!("instance {}, system {}", c.instance.name(), c.system.name()),
        None => "unknown".into(),
    }
}

/// Plans the move of the Elastic IP from `from` to `to`, as far as the states of both allow now.
///
/// AWS's rules it follows: an association aimed at a `pending` instance (or its interface) is
/// refused (`InvalidInstanceID` / `IncorrectInstanceState`, EC2 API error codes), so the IP never
/// moves to a booting instance; a stopped instance's interface accepts it, so the IP moves first
/// and the start follows (the executor runs a start only after the move); only a `running`
/// instance can be stopped.
/// How long after a move its own reads may still show the old holder: EC2's reads are eventually
/// consistent (EC2 API Reference, "Eventual consistency in the EC2 API": a change "might not be
/// immediately visible to all subsequent API commands"), typically for seconds.
pub const STALE_READ_SECONDS: i64 = 30;

/// The world with a fresh move believed over reads that disagree: within [`STALE_READ_SECONDS`]
/// of a move the record says reached `to` (`moved` or `done`), when the reads are split (some
/// endpoints on `to`, some still on `from`), those on `from` are taken to be on `to`, so that a
/// repair never points the moved ones back (an Elastic IP read stale on the old instance would
/// otherwise make the routes that moved be "repaired" onto it). Reads that all say `from` are
/// believed: the move failed, or moving again is harmless. None: nothing to correct. After the
/// window the reads are believed again, and a move left partial is repaired then.
fn trust_a_fresh_move(world: &World) -> Option<World> {
    let r = world.address.record.as_ref()?;
    let fresh = matches!(r.phase, Phase::Moved | Phase::Done) && (0..STALE_READ_SECONDS).contains(&(world.now - r.at));
    let on = |h: &Holder, id: &str| matches!(h, Holder::Member { instance_id } if instance_id == id);
    let split = world.endpoints.iter().any(|e| on(&e.holder, &r.to))
        && (on(&world.address.holder, &r.from) || world.endpoints.iter().any(|e| on(&e.holder, &r.from)));
    if !fresh || !split {
        return None;
    }
    let on_from = |h: &Holder| on(h, &r.from);
    let mut trusted = world.clone();
    let to = Holder::Member { instance_id: r.to.clone() };
    if on_from(&trusted.address.holder) {
        trusted.address.holder = to.clone();
    }
    for seen in trusted.endpoints.iter_mut().filter(|e| on_from(&e.holder)) {
        seen.holder = to.clone();
    }
    Some(trusted)
}

/// Why the private IPs cannot follow the active instance, if they cannot: a secondary private IP
/// must lie in its interface's subnet (EC2 User Guide, "Secondary IP addresses": "the IP address
/// must be from the IPv4 CIDR block of the subnet"), so `PRIVATE_IPS` needs both members in one
/// subnet; a cross-AZ pair would fail every move half-way.
fn private_ips_cannot_follow(config: &Config, world: &World) -> Option<String> {
    if config.private_ips.is_empty() {
        return None;
    }
    let subnet = |id: &str| world.member(id).and_then(|m| m.subnet_id.as_deref());
    match (subnet(&config.primary), subnet(&config.standby)) {
        (Some(a), Some(b)) if a != b => Some(format!(
            "the private IPs {} cannot follow the active instance: a secondary private IP must lie in its \
             interface's subnet, and {} is in {a}, {} in {b}; put both in one subnet, or reach the pair by its \
             Elastic IP or routes only (no PrivateIps)",
            config.private_ips.join(", "),
            config.primary,
            config.standby
        )),
        _ => None,
    }
}

/// Why `id` cannot be fenced, if it cannot: an instance of a one-time Spot request, which EC2
/// refuses to stop (UnsupportedOperation); its Spot request type was read with the pair.
fn unstoppable(world: &World, id: &str) -> Option<String> {
    world.member(id).and_then(|m| m.spot.as_ref()).filter(|s| s.cannot_stop()).map(|s| {
        format!(
            "{id} is an instance of the one-time Spot request {}, which EC2 cannot stop: it is not fenced and may \
             still serve or write; terminate it, or launch the pair from persistent Spot requests (README, Limits)",
            s.id.as_deref().unwrap_or("(unknown)")
        )
    })
}

fn move_to(
    config: &Config,
    world: &World,
    from: &str,
    to: &str,
    verdict: Verdict,
    why: String,
    cause: Option<String>,
) -> Decision {
    let from_state = world.state_of(from);
    let to_state = world.state_of(to);
    let target = world.member(to);
    let move_address = Action::MoveAddress {
        instance_id: to.to_owned(),
        network_interface_id: target.and_then(|m| m.network_interface_id.clone()),
    };
    let record = |phase| {
        Action::RecordFailover(FailoverRecord {
            from: from.into(),
            to: to.into(),
            at: world.now,
            phase,
            cause: cause.clone(),
        })
    };
    let fence = config.fence_mode != FenceMode::None && from_state == InstanceState::Running;
    let force = config.fence_mode == FenceMode::Force;
    // A new decision is written down before anything waits on it; a carried-on one already was.
    let record_started = || {
        if verdict == Verdict::Finish {
            Vec::new()
        } else {
            vec![record(Phase::Started)]
        }
    };

    let (actions, plan) = match to_state {
        s if s.is_lost() => {
            let reason = format!(
                "{why}, but the other instance {to} is {}: it cannot take the Elastic IP, which stays on {from}",
                s.name()
            );
            return decision(Verdict::Refuse, reason, Vec::new());
        }
        // The old holder serves nothing any more: the IP moves at once to a running instance.
        InstanceState::Running if from_state.is_down() => {
            (vec![move_address, record(Phase::Done)], format!("moving the Elastic IP to {to}, which is running"))
        }
        // Make before break: the degraded instance keeps the IP until the other one can serve.
        InstanceState::Running if !ready(config, world, to) => (
            record_started(),
            format!(
                "{to} is running but {}; the Elastic IP moves from {from} once {to} is ready",
                not_ready_why(world, to)
            ),
        ),
        InstanceState::Running => {
            let mut actions = vec![move_address, record(Phase::Done)];
            if let Some(why) = unstoppable(world, from).filter(|_| fence) {
                (actions, format!("moving the Elastic IP to {to}, which can serve; WARNING: {why}"))
            } else if fence {
                actions.push(Action::StopInstance { instance_id: from.to_owned(), force, skip_os_shutdown: force });
                (actions, format!("moving the Elastic IP to {to}, which can serve, then stopping {from}"))
            } else {
                (actions, format!("moving the Elastic IP to {to}, which can serve"))
            }
        }
        InstanceState::Stopped if from_state.is_down() => (
            vec![move_address, record(Phase::Moved), Action::StartInstance { instance_id: to.to_owned() }],
            format!("moving the Elastic IP to {to}, then starting it"),
        ),
        InstanceState::Stopped => {
            let mut actions = vec![Action::StartInstance { instance_id: to.to_owned() }];
            actions.extend(record_started());
            (actions, format!("starting {to}; the Elastic IP moves from {from} once {to} can serve"))
        }
        InstanceState::Pending => {
            (record_started(), format!("{to} is starting; the Elastic IP moves to it from {from} once it runs"))
        }
        _ => (record_started(), format!("{to} is stopping; it is started once stopped, then takes the Elastic IP")),
    };
    let verdict = if actions.is_empty() { Verdict::Wait } else { verdict };
    decision(verdict, format!("{why}: {plan}"), actions)
}

/// Plans what to do with an Elastic IP that is attached to nothing: it goes to the member best
/// able to serve: a running one (the primary first among equals); else, while one is booting, it
/// waits for it (AWS refuses an association aimed at a pending instance); else a stopped one, which
/// is started once it holds the IP.
fn heal(config: &Config, world: &World) -> Decision {
    let members = [config.primary.as_str(), config.standby.as_str()];
    let first = |state: InstanceState| members.into_iter().find(|id| world.state_of(id) == state);
    // A running member whose service answers before one whose probe fails.
    let serving = members
        .into_iter()
        .find(|id| world.state_of(id) == InstanceState::Running && health::probe_failure(world, id).is_none());
    if first(InstanceState::Running).is_none() {
        if let Some(id) = first(InstanceState::Pending) {
            let reason =
                format!("the Elastic IP is associated with nothing; {id} is starting and takes it once it runs");
            return decision(Verdict::Wait, reason, Vec::new());
        }
    }
    let Some(id) = serving.or_else(|| first(InstanceState::Running)).or_else(|| first(InstanceState::Stopped)) else {
        let reason = format!(
            "the Elastic IP is associated with nothing, and neither {} ({}) nor {} ({}) can take it",
            config.primary,
            world.state_of(&config.primary).name(),
            config.standby,
            world.state_of(&config.standby).name()
        );
        return decision(Verdict::Refuse, reason, Vec::new());
    };
    let state = world.state_of(id);
    let mut actions = vec![Action::MoveAddress {
        instance_id: id.to_owned(),
        network_interface_id: world.member(id).and_then(|m| m.network_interface_id.clone()),
    }];
    if state == InstanceState::Stopped {
        actions.push(Action::StartInstance { instance_id: id.to_owned() });
    }
    let reason = format!("the Elastic IP is associated with nothing: giving it to {id}, which is {}", state.name());
    decision(Verdict::Heal, reason, actions)
}

/// The members whose CloudWatch monitoring differs from what the alarms assume (`MONITORING`), each
/// with what follows from it. An alarm with one-minute periods never reaches ALARM on an instance
/// with basic (five-minute) monitoring: four periods in five have no data.
pub fn monitoring_mismatches(config: &Config, world: &World) -> Vec<String> {
    let Some(assumed) = config.monitoring else { return Vec::new() };
    world
        .members
        .iter()
        .filter(|m| m.detailed_monitoring != (assumed == Monitoring::Detailed))
        .map(|m| match assumed {
            Monitoring::Detailed => format!(
                "{} has basic (five-minute) monitoring, but the alarms assume detailed: they see no data four \
                 minutes in five; enable detailed monitoring or deploy with InstanceMonitoring=basic",
                m.instance_id
            ),
            Monitoring::Basic => format!(
                "{} has detailed monitoring, but the alarms assume basic (five-minute periods): they react \
                 later than they could; deploy with InstanceMonitoring=detailed",
                m.instance_id
            ),
        })
        .collect()
}
