//! `{"command": "status"}` for the groups: what each managed group serves from, where its Elastic IP
//! and route-table entries are, which of its instances its hooks hold, and what the next sweep
//! would do about it (the heal decision, made but not carried out). One read for every group: the
//! sweep's own (`aws::held`, then `aws::observe_serving`), so the status shows what a sweep sees.

use serde::Serialize;

use super::decide::{heal, serving};
use super::world::{GroupAddress, GroupRoute, HeldGroup};
use crate::aws::{Instance, InstanceState};
use crate::decision::Verdict;
use crate::holder::{resolve_holder, Holder};
use crate::tags::GROUP as GROUP_TAG;
use crate::trigger::Transition;

/// One group's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    /// The Auto Scaling group.
    pub group: String,
    /// Its `ec2-failover:group` value.
    pub key: Option<String>,
    /// The instance it serves from (its one `InService` instance while nothing launches).
    pub instance: Option<String>,
    /// That instance's state, as EC2 has it.
    pub state: Option<&'static str>,
    /// That instance's Availability Zone.
    pub zone: Option<String>,
    /// The group's Elastic IP (its public address, else its allocation id).
    pub address: Option<String>,
    /// The instance (or interface) that holds it.
    pub holder: Option<String>,
    /// Its route-table entries: `table destination -> target`.
    pub routes: Vec<String>,
    /// The instances its lifecycle hooks hold, and which way.
    pub held: Vec<(String, Transition)>,
    /// Whether everything is where it belongs: the address (and routes) on the serving instance.
    pub settled: bool,
    /// What the next sweep would do, and why.
    pub next: String,
}

/// Each group's status from the sweep's reads: the held groups, the group-tagged addresses and
/// route-table entries, and the serving instances as EC2 has them.
pub fn statuses(
    groups: &[HeldGroup],
    addresses: &[GroupAddress],
    instances: &[Instance],
    routes: &[GroupRoute],
    now: i64,
) -> Vec<GroupStatus> {
    groups
        .iter()
        .map(|group| {
            let id = serving(group);
            let instance = id.and_then(|id| instances.iter().find(|i| i.instance_id == id));
            let world = group.world(instance, addresses, &[], &[], routes, now);
            let address = match world.addresses.as_slice() {
                [one] => Some(one),
                _ => None,
            };
            let held_by = |a: &GroupAddress| {
                resolve_holder(
                    a.instance_id.as_deref(),
                    a.network_interface_id.as_deref(),
                    instance.map(std::slice::from_ref).unwrap_or_default(),
                )
            };
            // Settled: the one address on the serving instance, which runs, and nothing for the
            // heal to do (its routes pointed at it too).
            let (settled, next) = if !group.held.is_empty() {
                (false, "a lifecycle action is held open: its hook's decision owns the address".to_owned())
            } else if id.is_none() {
                (false, "no one InService instance to serve from".to_owned())
            } else {
                let decision = heal(&world);
                let on_it = matches!((address, instance), (Some(a), Some(i))
                    if i.state == InstanceState::Running && held_by(a).is(&i.instance_id));
                (decision.verdict == Verdict::NoChange && on_it, decision.reason)
            };
            GroupStatus {
                group: group.name.clone(),
                key: group.key.clone(),
                instance: id.map(str::to_owned),
                state: instance.map(|i| i.state.name()),
                zone: instance.and_then(|i| i.availability_zone.clone()),
                address: address.map(|a| a.public_ip.clone().unwrap_or_else(|| a.allocation_id.clone())),
                // Through the serving instance's interface when EC2 names only that (an ENI association).
                holder: address.map(held_by).filter(|h| !matches!(h, Holder::Nobody)).map(|h| h.name()),
                routes: world
                    .routes
                    .iter()
                    .map(|r| {
                        let target =
                            r.instance_id.as_deref().or(r.network_interface_id.as_deref()).unwrap_or("nothing");
                        format!("{} {} -> {target}", r.table, r.destination)
                    })
                    .collect(),
                held: group.held.clone(),
                settled,
                next,
            }
        })
        .collect()
}

/// The status line's reason: how many groups, and each one's state in a few words.
pub fn summary(statuses: &[GroupStatus]) -> String {
    let mut reason = format!("{} group(s)", statuses.len());
    for s in statuses {
        let on = match (&s.address, &s.holder) {
            (Some(address), Some(holder)) => format!("{address} on {holder}"),
            (Some(address), None) => format!("{address} on nothing"),
            (None, _) => format!("no single Elastic IP tagged {GROUP_TAG}"),
        };
        let serving = match (&s.instance, s.state, &s.zone) {
            (Some(id), Some(state), Some(zone)) => format!("serving from {id} ({state}, {zone})"),
            (Some(id), _, _) => format!("serving from {id}"),
            (None, _, _) => "serving from no instance".to_owned(),
        };
        let settled = if s.settled { "settled" } else { "unsettled" };
        reason.push_str(&format!("; {}: {serving}, {on}, {settled}: {}", s.group, s.next));
    }
    reason
}
