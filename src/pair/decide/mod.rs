//! The decision: a pure function from (configuration, trigger, observed world) to a plan.
//!
//! Nothing here does I/O, reads a clock or can fail: every fact comes in through the arguments,
//! so the same inputs always give the same plan, and every rule is tested as a table.
//!
//! [`decide`] screens the trigger once, then hands a command to [`command`] and any other trigger to
//! the named rules of [`rules`], tried in order; what follows applies to every decision: a pause
//! holds it ([`paused`]), every endpoint follows the active instance ([`endpoints`]), the service
//! check's results are kept, a fresh move is trusted over stale reads, and a configuration AWS
//! cannot carry out is refused.

mod command;
mod endpoints;
mod evidence;
mod moves;
mod rules;

use super::config::{Config, Monitoring};
use super::health;
use super::plan::{decision, Action, Decision};
use super::world::{FailoverRecord, Holder, PauseNote, Phase, World};
use crate::decision::Verdict;
use crate::trigger::Trigger;

/// Decides, before anything is read from AWS, whether the trigger concerns the pair at all.
/// Returns the `Ignore` decision for a trigger that does not, and `None` for one that does.
pub fn screen(config: &Config, trigger: &Trigger) -> Option<Decision> {
    let reason = match trigger {
        Trigger::Unrelated { what } => format!("{what} events are not about the pair"),
        Trigger::PairCommand { pair, .. } => format!(
            "a command for the pair {pair}: this deployment keeps one pair, set by its environment (MODE=fleet serves pairs by name)"
        ),
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
    if let Some(ignored) = screen(config, trigger) {
        return ignored;
    }
    let trusted = trust_a_fresh_move(world);
    let seen = trusted.as_ref().unwrap_or(world);
    let mut decision = match trigger {
        Trigger::Command(command) => endpoints::routes_checked(config, seen, command::decide(config, command, seen)),
        _ => on_trigger(config, trigger, seen),
    };
    if let (Some(_), Some(record)) = (&trusted, world.anchor.record.as_ref()) {
        decision = nothing_back_while_split(record, decision);
    }
    // A configuration AWS cannot carry out is refused on every invocation (the first reconcile
    // after the deploy pages), not found out half-way through the first failover; `status` shows it.
    match (private_ips_cannot_follow(config, seen), decision.verdict) {
        (Some(why), Verdict::Status) => decision.reason.push_str(&format!("; WARNING: {why}")),
        (Some(why), _) => decision = self::decision(Verdict::Refuse, why, Vec::new()),
        (None, _) => {}
    }
    decision
}

/// A trigger other than a command: the rules decide; a pause keeps it from acting; every endpoint
/// follows the active instance; the service check's results are kept (first, so that a move that
/// fails does not lose them).
fn on_trigger(config: &Config, trigger: &Trigger, world: &World) -> Decision {
    let decision = rules::decide(config, trigger, world);
    if let Some(pause) = &world.anchor.pause {
        return paused(pause, decision);
    }
    let decision = endpoints::routes_checked(config, world, endpoints::converge(world, decision));
    if decision.verdict == Verdict::Refuse {
        return decision;
    }
    let mut decision = decision;
    if let Some(history) = health::to_record(config, world) {
        decision.actions.insert(0, Action::RecordHealth(history));
    }
    decision
}

/// While paused, nothing is done: the decision says what would have been.
fn paused(pause: &PauseNote, decision: Decision) -> Decision {
    let would = if decision.actions.is_empty() {
        format!("{} ({})", decision.verdict.name(), decision.reason)
    } else {
        format!("{}: {}", decision.verdict.name(), decision.reason)
    };
    let reason = format!("paused{}: {}; nothing is done; would have been {would}", since(pause), pause.reason);
    self::decision(Verdict::Paused, reason, Vec::new())
}

/// ` since <time>`, when the pause's time is known.
fn since(pause: &PauseNote) -> String {
    pause.since.map(|t| format!(" since {t}")).unwrap_or_default()
}

/// How long after a move its own reads may still show the old holder: EC2's reads are eventually
/// consistent (EC2 API Reference, "Eventual consistency in the EC2 API": a change "might not be
/// immediately visible to all subsequent API commands"), typically for seconds.
pub const STALE_READ_SECONDS: i64 = 30;

/// The world with a fresh move believed over reads that disagree: within [`STALE_READ_SECONDS`]
/// of a move the record says reached `to` (`moved` or `done`), when the reads are split (some
/// endpoints on `to`, some still on `from`), those on `from` are taken to be on `to`, so that a
/// repair never points the moved ones back (an endpoint read stale on the old instance would
/// otherwise make the ones that moved be "repaired" onto it). Reads that all say `from` are
/// believed: the move failed, or moving again is harmless. None: nothing to correct. After the
/// window the reads are believed again, and a move left partial is repaired then.
fn trust_a_fresh_move(world: &World) -> Option<World> {
    let r = world.anchor.record.as_ref()?;
    let fresh = matches!(r.phase, Phase::Moved | Phase::Done) && (0..STALE_READ_SECONDS).contains(&(world.now - r.at));
    let split = world.endpoints.iter().any(|e| e.holder.is(&r.to))
        && (world.anchor.holder.is(&r.from) || world.endpoints.iter().any(|e| e.holder.is(&r.from)));
    if !fresh || !split {
        return None;
    }
    let mut trusted = world.clone();
    let to = Holder::Member { instance_id: r.to.clone() };
    if trusted.anchor.holder.is(&r.from) {
        trusted.anchor.holder = to.clone();
    }
    for seen in trusted.endpoints.iter_mut().filter(|e| e.holder.is(&r.from)) {
        seen.holder = to.clone();
    }
    Some(trusted)
}

/// While the reads disagree, the record is believed for what it protects (no endpoint pointed
/// back), not for what it cannot prove: the move may have failed, so nothing is stopped and
/// nothing moves back towards the old holder until the reads agree.
fn nothing_back_while_split(r: &FailoverRecord, mut decision: Decision) -> Decision {
    let back = decision.actions.iter().any(|a| match a {
        Action::MoveEndpoints { instance_id, .. } | Action::Converge { instance_id, .. } => *instance_id == r.from,
        _ => false,
    });
    decision.actions.retain(|a| !matches!(a, Action::StopInstance { .. }));
    let emptied = decision.actions.is_empty()
        && matches!(decision.verdict, Verdict::Fence | Verdict::FailOver | Verdict::Finish | Verdict::Heal);
    if !back && !emptied {
        return decision;
    }
    self::decision(
        Verdict::NoChange,
        format!(
            "the reads disagree right after the move from {} to {} at {} (EC2's reads are eventually consistent): \
             nothing is stopped or moved back until they agree (would have been {}: {})",
            r.from,
            r.to,
            r.at,
            decision.verdict.name(),
            decision.reason
        ),
        Vec::new(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::endpoint;

    #[test]
    fn the_pairs_address_is_called_by_its_deciding_endpoint() {
        let eip = Config { allocation_id: Some("eipalloc-1".into()), ..Config::with_defaults("i-a", "i-b") };
        assert_eq!(endpoint::called(&eip), "the Elastic IP");
        let route = crate::pair::config::Route { table: "rtb-1".into(), destination: "10.1.0.10/32".into() };
        let routed = Config { routes: vec![route], ..Config::with_defaults("i-a", "i-b") };
        assert_eq!(endpoint::called(&routed), "the route to 10.1.0.10/32");
        assert_eq!(endpoint::unheld(&routed), "the route to 10.1.0.10/32 points at nothing");
    }
}
