//! An operator's commands: status (where the pair stands, in one line), pause, resume, and the
//! switchover (a planned move, make before break).

use super::evidence::{due_event, shifted, within_cooldown};
use super::moves::{checks_of, move_to, ready};
use super::since;
use crate::decision::Verdict;
use crate::pair::config::Config;
use crate::pair::endpoint;
use crate::pair::health;
use crate::pair::plan::{decision, Action, Decision};
use crate::pair::world::{Holder, World, ZoneShift};
use crate::trigger::{AlarmState, Command};

/// An operator's command.
pub(super) fn decide(config: &Config, command: &Command, world: &World) -> Decision {
    match command {
        Command::Status => decision(Verdict::Status, status(config, world), Vec::new()),
        Command::Pause { reason } => match &world.anchor.pause {
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
            match &world.anchor.pause {
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
    let Holder::Member { instance_id: active } = &world.anchor.holder else {
        return refuse(format!(
            "{} is not on a member of the pair (the reconcile heals that)",
            endpoint::called(config)
        ));
    };
    let Some(other) = config.other(active) else { return refuse(format!("{active} is not one of the pair")) };
    if let (Some(pause), false) = (&world.anchor.pause, force) {
        return refuse(format!("the pair is paused ({}); resume, or force", pause.reason));
    }
    // Forced while paused, a switchover must end in this one invocation: every later one is paused
    // and would leave it half done (the other started, the IP not moved) until resume.
    if world.anchor.pause.is_some() && !ready(config, world, other) {
        return refuse(format!(
            "the pair is paused and {other} cannot take the IP now ({}); resume first",
            world.state_of(other).name()
        ));
    }
    let state = world.state_of(other);
    if state.is_lost() {
        return refuse(format!("{other} is {}: it cannot serve", state.name()));
    }
    if let (Some(s), false) = (shifted(config, world, other), force) {
        return refuse(format!(
            "{other} is in a zone traffic is shifted away from ({}); force to move anyway",
            s.describe()
        ));
    }
    if let (Some(e), false) = (due_event(config, world, other), force) {
        return refuse(format!("EC2 has scheduled {} for {other}; force to move anyway", e.code));
    }
    if let Some(r) = world.anchor.record.as_ref().filter(|r| within_cooldown(config, world, r) && !force) {
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
    let ip = endpoint::called(config);
    let holder = match &world.anchor.holder {
        Holder::Member { instance_id } => format!("{instance_id} is active"),
        Holder::Nobody => format!("{ip} is on nothing"),
        outsider @ Holder::Outsider { .. } => format!("{ip} is outside the pair ({})", outsider.name()),
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
            // A stopped member must find capacity to start, which a zone event can take away.
            let capacity = match world.member(id) {
                Some(m) if m.capacity_reservation.is_some() => {
                    format!("; capacity reservation {}", m.capacity_reservation.as_deref().unwrap_or_default())
                }
                Some(m) if m.state == crate::pair::world::InstanceState::Stopped => {
                    "; no capacity reservation: a zone event may leave it no capacity to start (reserve, or keep it \
                     running)"
                        .to_owned()
                }
                _ => String::new(),
            };
            format!("{role} {id} {} (checks {checks}{service}; {ready}{events}{capacity})", world.state_of(id).name())
        })
        .collect();
    let record = match &world.anchor.record {
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
    let paused = match &world.anchor.pause {
        Some(p) => format!("paused{}: {}", since(p), p.reason),
        None => "not paused".into(),
    };
    // Every endpoint and where it points, when there is more than one.
    let endpoints = if world.endpoints.len() > 1 {
        let each: Vec<String> =
            world.endpoints.iter().map(|e| format!("{} on {}", e.endpoint, e.holder.name())).collect();
        format!("; endpoints: {}", each.join(", "))
    } else {
        String::new()
    };
    let shifts = match (&world.unread_shifts, world.shifts.as_slice()) {
        (Some(why), _) => format!("; zonal shifts not read ({why})"),
        (None, []) => String::new(),
        (None, shifts) => {
            format!("; zonal shifts: {}", shifts.iter().map(ZoneShift::describe).collect::<Vec<_>>().join(", "))
        }
    };
    format!("{holder}{endpoints}; {}; {record}; {alarms}; {paused}{shifts}", members.join("; "))
}
