//! The moves: the address from one member to the other as far as both states allow now, and the
//! address on nothing given to the member best able to serve; and what makes a member ready to
//! take it.

use super::evidence::shifted;
use crate::decision::Verdict;
use crate::pair::config::{Config, FenceMode, Readiness};
use crate::pair::endpoint;
use crate::pair::health;
use crate::pair::plan::{decision, Action, Decision};
use crate::pair::world::{FailoverRecord, InstanceState, Phase, World};

/// Whether `instance_id` can take the IP from an instance that still serves: running, and (unless
/// the configuration says `running` is enough) both status checks pass. EC2 says `running` as soon
/// as the hypervisor starts it; the OS and the service come later.
pub(super) fn ready(config: &Config, world: &World, instance_id: &str) -> bool {
    world.member(instance_id).is_some_and(|m| {
        m.state == InstanceState::Running
            && (config.standby_ready == Readiness::Running || m.checks.is_some_and(|c| c.pass()))
            && health::probe_failure(world, instance_id).is_none()
    })
}

/// Why a running instance is not ready yet, for a reason.
pub(super) fn not_ready_why(world: &World, instance_id: &str) -> String {
    match health::probe_failure(world, instance_id) {
        Some(why) => format!("its service check fails ({why})"),
        None => format!("its status checks are not both ok yet ({})", checks_of(world, instance_id)),
    }
}

/// What a member's status checks say, for a reason.
pub(super) fn checks_of(world: &World, instance_id: &str) -> String {
    match world.member(instance_id).and_then(|m| m.checks) {
        Some(c) => format!("instance {}, system {}", c.instance.name(), c.system.name()),
        None => "unknown".into(),
    }
}

/// Why `id` cannot be fenced, if it cannot: an instance of a one-time Spot request, which EC2
/// refuses to stop (UnsupportedOperation); its Spot request type was read with the pair.
pub(super) fn unstoppable(world: &World, id: &str) -> Option<String> {
    world.member(id).and_then(|m| m.spot.as_ref()).filter(|s| s.cannot_stop()).map(|s| {
        format!(
            "{id} is an instance of the one-time Spot request {}, which EC2 cannot stop: it is not fenced and may \
             still serve or write; terminate it, or launch the pair from persistent Spot requests (README, Limits)",
            s.id.as_deref().unwrap_or("(unknown)")
        )
    })
}

/// Plans the move of the address from `from` to `to`, as far as the states of both allow now.
///
/// AWS's rules it follows: an association aimed at a `pending` instance (or its interface) is
/// refused (`InvalidInstanceID` / `IncorrectInstanceState`, EC2 API error codes), so the address never
/// moves to a booting instance; a stopped instance's interface accepts it, so the IP moves first
/// and the start follows (the executor runs a start only after the move); only a `running`
/// instance can be stopped.
pub(super) fn move_to(
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
    let ip = endpoint::called(config);
    let move_endpoints = Action::MoveEndpoints {
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

    // A zone under a zonal shift or autoshift is not moved into while the active instance lives
    // and its own zone is not shifted too; a forced switchover decided that already.
    let shift = shifted(config, world, to).filter(|_| verdict != Verdict::Switchover);
    if let Some(s) = shift.filter(|_| !from_state.is_down() && shifted(config, world, from).is_none()) {
        let reason = format!(
            "{why}, but {to} is in a zone traffic is shifted away from ({}): not moving into it (ZONAL_SHIFT); {ip} \
             moves once the shift ends, or at once if {from} dies",
            s.describe()
        );
        return decision(Verdict::Hold, reason, Vec::new());
    }
    let last_place =
        shift.map(|s| format!("; WARNING: {to}'s zone is under {}, but it is the only place left", s.describe()));

    let (actions, plan) = match to_state {
        s if s.is_lost() => {
            let reason = format!(
                "{why}, but the other instance {to} is {}: it cannot take {ip}, which stays on {from}",
                s.name()
            );
            return decision(Verdict::Refuse, reason, Vec::new());
        }
        // The old holder serves nothing any more: the IP moves at once to a running instance.
        InstanceState::Running if from_state.is_down() => {
            (vec![move_endpoints, record(Phase::Done)], format!("moving {ip} to {to}, which is running"))
        }
        // Make before break: the degraded instance keeps the IP until the other one can serve.
        InstanceState::Running if !ready(config, world, to) => (
            record_started(),
            format!("{to} is running but {}; {ip} moves from {from} once {to} is ready", not_ready_why(world, to)),
        ),
        InstanceState::Running => {
            let mut actions = vec![move_endpoints, record(Phase::Done)];
            if let Some(why) = unstoppable(world, from).filter(|_| fence) {
                (actions, format!("moving {ip} to {to}, which can serve; WARNING: {why}"))
            } else if fence {
                actions.push(Action::StopInstance { instance_id: from.to_owned(), force, skip_os_shutdown: force });
                (actions, format!("moving {ip} to {to}, which can serve, then stopping {from}"))
            } else {
                (actions, format!("moving {ip} to {to}, which can serve"))
            }
        }
        InstanceState::Stopped if from_state.is_down() => (
            vec![move_endpoints, record(Phase::Moved), Action::StartInstance { instance_id: to.to_owned() }],
            format!("moving {ip} to {to}, then starting it"),
        ),
        InstanceState::Stopped => {
            let mut actions = vec![Action::StartInstance { instance_id: to.to_owned() }];
            actions.extend(record_started());
            (actions, format!("starting {to}; {ip} moves from {from} once {to} can serve"))
        }
        InstanceState::Pending => {
            (record_started(), format!("{to} is starting; {ip} moves to it from {from} once it runs"))
        }
        _ => (record_started(), format!("{to} is stopping; it is started once stopped, then takes {ip}")),
    };
    let verdict = if actions.is_empty() { Verdict::Wait } else { verdict };
    decision(verdict, format!("{why}: {plan}{}", last_place.unwrap_or_default()), actions)
}

/// Plans what to do with an address that is on nothing: it goes to the member best
/// able to serve: a running one (the primary first among equals); else, while one is booting, it
/// waits for it (AWS refuses an association aimed at a pending instance); else a stopped one, which
/// is started once it holds the IP.
pub(super) fn heal(config: &Config, world: &World) -> Decision {
    let members = [config.primary.as_str(), config.standby.as_str()];
    let unheld = endpoint::unheld(config);
    let first = |state: InstanceState| members.into_iter().find(|id| world.state_of(id) == state);
    // A running member whose service answers before one whose probe fails, and one outside a
    // shifted zone first.
    let answers =
        |id: &&str| world.state_of(id) == InstanceState::Running && health::probe_failure(world, id).is_none();
    let serving = members
        .into_iter()
        .filter(answers)
        .find(|id| shifted(config, world, id).is_none())
        .or_else(|| members.into_iter().find(answers));
    if first(InstanceState::Running).is_none() {
        if let Some(id) = first(InstanceState::Pending) {
            let reason = format!("{unheld}; {id} is starting and takes it once it runs");
            return decision(Verdict::Wait, reason, Vec::new());
        }
    }
    let Some(id) = serving.or_else(|| first(InstanceState::Running)).or_else(|| first(InstanceState::Stopped)) else {
        let reason = format!(
            "{unheld}, and neither {} ({}) nor {} ({}) can take it",
            config.primary,
            world.state_of(&config.primary).name(),
            config.standby,
            world.state_of(&config.standby).name()
        );
        return decision(Verdict::Refuse, reason, Vec::new());
    };
    let state = world.state_of(id);
    let mut actions = vec![Action::MoveEndpoints {
        instance_id: id.to_owned(),
        network_interface_id: world.member(id).and_then(|m| m.network_interface_id.clone()),
    }];
    if state == InstanceState::Stopped {
        actions.push(Action::StartInstance { instance_id: id.to_owned() });
    }
    let reason = format!("{unheld}: giving it to {id}, which is {}", state.name());
    decision(Verdict::Heal, reason, actions)
}
