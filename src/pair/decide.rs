//! The decision: a pure function from (configuration, trigger, observed world) to a plan.
//!
//! Nothing here does I/O, reads a clock or can fail: every fact comes in through the arguments,
//! so the same inputs always give the same plan, and every rule is tested as a table.

use serde::Serialize;

use super::world::{FailoverRecord, Holder, InstanceState, Phase, World};
use super::{Config, FenceMode};
use crate::invocation::Verdict;
use crate::trigger::Trigger;

/// A decision about the pair. Its stops run only once the address is on its new holder.
pub type Decision = crate::invocation::Decision<Action>;

/// One change to the world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Associate the Elastic IP with an instance, through its primary network interface when known
    /// (an interface can take the address whatever state its instance is in).
    MoveAddress {
        /// The new holder.
        instance_id: String,
        /// Its primary network interface.
        network_interface_id: Option<String>,
    },
    /// Start a stopped instance.
    StartInstance {
        /// The instance to start.
        instance_id: String,
    },
    /// Stop the old active instance so that it cannot serve or write any more (fencing).
    StopInstance {
        /// The instance to stop.
        instance_id: String,
    },
    /// Write the failover record onto the Elastic IP's tags.
    RecordFailover(FailoverRecord),
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
pub fn decide(config: &Config, trigger: &Trigger, world: &World) -> Decision {
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
                    world.address.allocation_id
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

    // A failover decided earlier whose address has not moved yet is carried on, whatever this
    // invocation's trigger was: the standby's `running` event is what most often brings us here.
    if let Some(r) = record.filter(|r| r.phase == Phase::Started && r.from == active && r.to == other) {
        let why = format!("carrying on the failover from {active} to {other} begun at {}", r.at);
        return move_to(config, world, active, other, Verdict::Finish, why);
    }

    // After a failover, the old active instance is stopped. If it still runs since before the
    // failover (the stop failed or never came), it is stopped now; one started again after the
    // failover was started on purpose and is left alone.
    let completed = record.filter(|r| r.phase == Phase::Done && r.to == active && r.from == other);
    let fence: Vec<Action> = match (completed, world.member(other)) {
        (Some(r), Some(old))
            if config.fence_mode == FenceMode::Stop
                && old.state.is_alive()
                && old.launch_time.is_some_and(|launched| launched <= r.at) =>
        {
            vec![Action::StopInstance { instance_id: other.to_owned() }]
        }
        _ => Vec::new(),
    };

    let warning = match trigger {
        Trigger::Warning(warning) if warning.stands() => Some(warning),
        _ => None,
    };
    let failure = if active_state.is_down() {
        Some(format!("the active instance {active} is {}", active_state.name()))
    } else {
        warning
            .filter(|w| w.instance_ids.is_empty() || w.names(active))
            .map(|w| format!("{} for the active instance {active}", w.says()))
    };

    let Some(failure) = failure else {
        if !fence.is_empty() {
            let reason = format!(
                "{other} still runs since before the failover to {active}; stopping it so that only {active} serves"
            );
            return decision(Verdict::Fence, reason, fence);
        }
        let mut reason = format!("the Elastic IP is on {active}, which is {}", active_state.name());
        if let Some(warning) = warning.filter(|w| w.names(other)) {
            reason.push_str(&format!("; {} is about {other}, which does not hold the IP", warning.raised_by()));
        }
        return decision(Verdict::NoChange, reason, Vec::new());
    };

    if let Some(r) = completed {
        let age = world.now.saturating_sub(r.at);
        if age < i64::try_from(config.cooldown_seconds).unwrap_or(i64::MAX) {
            let reason = format!(
                "{failure}, but the last failover ({other} to {active}) was {age}s ago, inside the {}s cooldown; \
                 not failing over",
                config.cooldown_seconds
            );
            return decision(Verdict::Hold, reason, fence);
        }
    }
    move_to(config, world, active, other, Verdict::FailOver, failure)
}

/// Plans the move of the Elastic IP from `from` to `to`, as far as the states of both allow now.
fn move_to(config: &Config, world: &World, from: &str, to: &str, verdict: Verdict, why: String) -> Decision {
    let from_state = world.state_of(from);
    let to_state = world.state_of(to);
    let target = world.member(to);
    let move_address = Action::MoveAddress {
        instance_id: to.to_owned(),
        network_interface_id: target.and_then(|m| m.network_interface_id.clone()),
    };
    let record =
        |phase| Action::RecordFailover(FailoverRecord { from: from.into(), to: to.into(), at: world.now, phase });
    let fence = config.fence_mode == FenceMode::Stop && from_state.is_alive();
    // A new decision is written down before anything waits on it; a carried-on one already was.
    let record_started = || {
        if verdict == Verdict::FailOver {
            vec![record(Phase::Started)]
        } else {
            Vec::new()
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
        InstanceState::Running => {
            let mut actions = vec![move_address, record(Phase::Done)];
            if fence {
                actions.push(Action::StopInstance { instance_id: from.to_owned() });
                (actions, format!("moving the Elastic IP to {to}, which is running, then stopping {from}"))
            } else {
                (actions, format!("moving the Elastic IP to {to}, which is running"))
            }
        }
        // The old holder serves nothing any more, so the address moves at once, even onto an
        // instance that is still booting: clients reach the new one as soon as it is up.
        InstanceState::Stopped if from_state.is_down() => (
            vec![move_address, Action::StartInstance { instance_id: to.to_owned() }, record(Phase::Done)],
            format!("moving the Elastic IP to {to} and starting it"),
        ),
        InstanceState::Pending if from_state.is_down() => {
            (vec![move_address, record(Phase::Done)], format!("moving the Elastic IP to {to}, which is starting"))
        }
        // Make before break: the degraded instance keeps serving until the standby runs.
        InstanceState::Stopped => {
            let mut actions = vec![Action::StartInstance { instance_id: to.to_owned() }];
            actions.extend(record_started());
            (actions, format!("starting {to}; the Elastic IP moves from {from} once {to} is running"))
        }
        InstanceState::Pending => {
            (record_started(), format!("{to} is starting; the Elastic IP moves from {from} once it is running"))
        }
        _ => (record_started(), format!("{to} is stopping; it is started once stopped, then takes the Elastic IP")),
    };
    let verdict = if actions.is_empty() { Verdict::Wait } else { verdict };
    decision(verdict, format!("{why}: {plan}"), actions)
}

/// Plans what to do with an Elastic IP that is attached to nothing: it goes to the member best
/// able to serve (running, then starting, then stopped; the primary first among equals).
fn heal(config: &Config, world: &World) -> Decision {
    let rank = |state: InstanceState| match state {
        InstanceState::Running => Some(0),
        InstanceState::Pending => Some(1),
        InstanceState::Stopped => Some(2),
        _ => None,
    };
    let best = [config.primary.as_str(), config.standby.as_str()]
        .into_iter()
        .filter_map(|id| rank(world.state_of(id)).map(|r| (r, id)))
        .min_by_key(|(r, _)| *r);
    let Some((_, id)) = best else {
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
