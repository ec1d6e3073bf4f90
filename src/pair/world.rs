//! The observed world: what EC2 said about the pair and its Elastic IP at the start of an
//! invocation. Plain data, built by the AWS layer and read by `decide`.

use std::fmt;

use serde::Serialize;

use super::health::{History, Probed};
pub use crate::aws::{Instance, InstanceState, ScheduledEvent};
use crate::trigger::AlarmState;

/// Everything one invocation knows about the pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct World {
    /// When the world was observed, in seconds since the Unix epoch.
    pub now: i64,
    /// The pair's Elastic IP.
    pub address: Address,
    /// The members EC2 still knows about; a member missing here is gone.
    pub members: Vec<Instance>,
    /// The alarms CloudWatch reported now, when they were read: the one an alarm payload names,
    /// and on a reconcile those that invoke the function or that `ALARM_NAMES` names. None: not
    /// read (other triggers), or CloudWatch could not be read.
    pub alarms: Option<Vec<AlarmSeen>>,
    /// The regions whose alarms could not be read, each with its error (the others' are in
    /// `alarms`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unread_alarms: Vec<String>,
    /// This invocation's service-check probes (`HEALTH_CHECK`): one per running member with a
    /// private address; empty without a check.
    pub probes: Vec<Probed>,
    /// Every endpoint the pair moves, in order (the Elastic IP, the route-table entries, the
    /// private IPs) and where each points; the first one decides who is active.
    pub endpoints: Vec<EndpointSeen>,
}

/// An alarm as CloudWatch reports it now (not as a payload said it was).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmSeen {
    /// Its name.
    pub name: String,
    /// Its state now.
    pub state: AlarmState,
    /// The instances its metrics name through an `InstanceId` dimension; none for a composite
    /// alarm or metric math without one, which is then about the active instance.
    pub instance_ids: Vec<String>,
    /// When it last changed state, in seconds since the Unix epoch, if CloudWatch says.
    pub since: Option<i64>,
    /// Whether its actions are enabled; an alarm muted for maintenance changes nothing.
    pub actions_enabled: bool,
}

/// The pair's deciding endpoint (its Elastic IP, else its first route-table entry, else its first
/// private IP) and what the resource of the record carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The resource the record lives on: the Elastic IP's allocation id, or the first route table.
    pub resource: String,
    /// The Elastic IP's public address, for the log.
    pub public_ip: Option<String>,
    /// Who the deciding endpoint points at now: the active instance.
    pub holder: Holder,
    /// The last failover decision, kept as tags on the address.
    pub record: Option<FailoverRecord>,
    /// An operator's pause, kept as tags on the address, if the pair is paused.
    pub pause: Option<PauseNote>,
    /// The service check's recent results, kept as a tag on the address.
    pub health: Option<History>,
}

/// One endpoint clients reach the pair by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// The Elastic IP.
    ElasticIp {
        /// Its allocation id.
        allocation_id: String,
    },
    /// A route-table entry, pointed at the active instance's network interface.
    Route {
        /// The route table.
        table: String,
        /// The destination.
        destination: String,
    },
    /// A secondary private IPv4 address on the active instance's network interface.
    PrivateIp {
        /// The address.
        address: String,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::ElasticIp { allocation_id } => write!(f, "the Elastic IP {allocation_id}"),
            Endpoint::Route { table, destination } => write!(f, "the route to {destination} in {table}"),
            Endpoint::PrivateIp { address } => write!(f, "the private IP {address}"),
        }
    }
}

/// An endpoint and what it points at now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointSeen {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// What it points at: a member, nothing (no route, the address on no interface), or
    /// something outside the pair.
    pub holder: Holder,
}

/// An operator's pause of the pair: nothing changes until it is resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PauseNote {
    /// Why, as the operator said.
    pub reason: String,
    /// Since when, in seconds since the Unix epoch, if the tag is readable.
    pub since: Option<i64>,
}

/// Who an Elastic IP is associated with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// It is associated with nothing.
    Nobody,
    /// A member of the pair holds it.
    Member {
        /// The member's instance id.
        instance_id: String,
    },
    /// Something outside the pair holds it.
    Outsider {
        /// The instance, if EC2 named one.
        instance_id: Option<String>,
        /// The network interface, if EC2 named one.
        network_interface_id: Option<String>,
    },
}

/// The last failover decided for the pair, kept as tags on the Elastic IP so that every
/// invocation, wherever it runs, sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailoverRecord {
    /// The instance the failover moves away from.
    pub from: String,
    /// The instance the failover moves to.
    pub to: String,
    /// When the phase below was reached, in seconds since the Unix epoch.
    pub at: i64,
    /// How far it got.
    pub phase: Phase,
    /// What caused it, short: `state:stopped`, `alarm:NAME`, `spot`, `rebalance`, `health:CODE`,
    /// `probe`, `scheduled:CODE`, `switchover`, `start-failed` (tag `ec2-failover:cause`; none on a
    /// record an older version wrote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// How far a failover got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Decided, the standby started; the IP moves once it can serve (make before break).
    Started,
    /// The IP was moved to `to`, which was being started and has not been seen running since: if
    /// it does not start, the failover is not done (see `decide`).
    Moved,
    /// The IP is on `to`, which runs.
    Done,
}

impl Phase {
    /// The tag value for the phase.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Moved => "moved",
            Phase::Done => "done",
        }
    }

    /// Reads a tag value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "started" => Some(Phase::Started),
            "moved" => Some(Phase::Moved),
            "done" => Some(Phase::Done),
            _ => None,
        }
    }
}

impl World {
    /// The member with this id, if EC2 returned it.
    pub fn member(&self, instance_id: &str) -> Option<&Instance> {
        self.members.iter().find(|m| m.instance_id == instance_id)
    }

    /// The state of a member, `Gone` when EC2 did not return it.
    pub fn state_of(&self, instance_id: &str) -> InstanceState {
        self.member(instance_id).map_or(InstanceState::Gone, |m| m.state)
    }
}

/// Works out who holds an address from what DescribeAddresses said. EC2 names the network
/// interface for every VPC association and usually the instance too; the interface is matched
/// first, because an association made through an interface may come back without an instance id.
pub fn resolve_holder(instance_id: Option<&str>, network_interface_id: Option<&str>, members: &[Instance]) -> Holder {
    let instance_id = instance_id.filter(|s| !s.is_empty());
    let network_interface_id = network_interface_id.filter(|s| !s.is_empty());
    if let Some(eni) = network_interface_id {
        if let Some(m) = members.iter().find(|m| m.network_interface_id.as_deref() == Some(eni)) {
            return Holder::Member { instance_id: m.instance_id.clone() };
        }
    }
    if let Some(id) = instance_id {
        if let Some(m) = members.iter().find(|m| m.instance_id == id) {
            return Holder::Member { instance_id: m.instance_id.clone() };
        }
    }
    if instance_id.is_none() && network_interface_id.is_none() {
        Holder::Nobody
    } else {
        Holder::Outsider {
            instance_id: instance_id.map(str::to_owned),
            network_interface_id: network_interface_id.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, eni: &str) -> Instance {
        Instance {
            instance_id: id.into(),
            state: InstanceState::Running,
            availability_zone: None,
            network_interface_id: Some(eni.into()),
            subnet_id: None,
            private_ip: None,
            source_dest_check: None,
            launch_time: None,
            state_reason: None,
            detailed_monitoring: false,
            checks: None,
            scheduled_events: Vec::new(),
            metadata_tags: None,
            spot: None,
        }
    }

    #[test]
    fn the_holder_is_found_by_interface_even_without_an_instance_id() {
        let members = [member("i-aaaaaaaa", "eni-a"), member("i-bbbbbbbb", "eni-b")];
        let cases: &[(Option<&str>, Option<&str>, Holder)] = &[
            (None, Some("eni-b"), Holder::Member { instance_id: "i-bbbbbbbb".into() }),
            (Some(""), Some("eni-a"), Holder::Member { instance_id: "i-aaaaaaaa".into() }),
            (Some("i-aaaaaaaa"), None, Holder::Member { instance_id: "i-aaaaaaaa".into() }),
            (None, None, Holder::Nobody),
            (Some(""), Some(""), Holder::Nobody),
            (
                Some("i-cccccccc"),
                Some("eni-c"),
                Holder::Outsider { instance_id: Some("i-cccccccc".into()), network_interface_id: Some("eni-c".into()) },
            ),
        ];
        for (instance, eni, expected) in cases {
            assert_eq!(&resolve_holder(*instance, *eni, &members), expected, "{instance:?} {eni:?}");
        }
    }

    #[test]
    fn unknown_state_names_read_as_gone() {
        assert_eq!(InstanceState::from_name("running"), InstanceState::Running);
        assert_eq!(InstanceState::from_name("shutting-down"), InstanceState::ShuttingDown);
        assert_eq!(InstanceState::from_name("exploded"), InstanceState::Gone);
        assert!(InstanceState::Stopping.is_down() && !InstanceState::Pending.is_down());
    }
}
