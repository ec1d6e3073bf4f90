//! The endpoints' rules: every endpoint follows the active instance, and no route is moved into
//! a black hole.

use crate::decision::Verdict;
use crate::pair::config::Config;
use crate::pair::plan::{decision, Action, Decision};
use crate::pair::world::{Endpoint, Holder, World};

/// Every endpoint follows the active instance (the one the first endpoint points at): one that
/// points elsewhere (a move left partial, a hand) is pointed at it, and the decision says so. A
/// decision that moves the endpoints, refuses, or has no active member leaves them to that.
pub(super) fn converge(world: &World, mut decision: Decision) -> Decision {
    if decision.verdict == Verdict::Refuse || decision.actions.iter().any(|a| matches!(a, Action::MoveEndpoints { .. }))
    {
        return decision;
    }
    let Holder::Member { instance_id: active } = &world.anchor.holder else { return decision };
    // An endpoint something outside the pair holds (a NAT gateway's route, another instance's
    // address) is not taken: it is reported.
    let outside: Vec<String> = world
        .endpoints
        .iter()
        .filter(|e| matches!(e.holder, Holder::Outsider { .. }))
        .map(|e| format!("{} points at {}, outside the pair: left alone", e.endpoint, e.holder.name()))
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
        return decision;
    }
    let told: Vec<String> = drifted.iter().map(|e| format!("{} points at {}", e.endpoint, e.holder.name())).collect();
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
    decision
}

/// A route pointed at an instance whose source/destination check is on carries nothing: EC2 drops
/// the traffic not addressed to the instance itself (VPC User Guide, "Route tables": route to an
/// instance or network interface; EC2 User Guide, "Source/destination checks"). Such a move is
/// refused loudly, rather than move the routes into a black hole; but away from a dead instance the
/// routes carry nothing either way, and the other endpoints would: that move goes on, and the
/// decision says loudly what the routes need.
pub(super) fn routes_checked(config: &Config, world: &World, mut decision: Decision) -> Decision {
    if config.routes.is_empty() {
        return decision;
    }
    let target = decision.actions.iter().find_map(|a| match a {
        Action::MoveEndpoints { instance_id, .. } => Some(instance_id.clone()),
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
    let away_from_dead = match &world.anchor.holder {
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
