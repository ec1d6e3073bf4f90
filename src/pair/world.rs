//! The observed world: what AWS said about the pair, its endpoints and its anchor at the start of
//! an invocation, and this invocation's probes. Plain data, built by the AWS layer and read by
//! `decide`.

use serde::Serialize;

pub use super::endpoint::{Endpoint, EndpointSeen};
pub use crate::aws::{Instance, InstanceState, ScheduledEvent};
pub use crate::holder::Holder;
use crate::trigger::AlarmState;

/// Everything one invocation knows about the pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct World {
    /// When the world was observed, in seconds since the Unix epoch.
    pub now: i64,
    /// The anchor: who the deciding endpoint points at, and what the resource of the record carries.
    pub anchor: Anchor,
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
    /// Every endpoint the pair moves, in the configuration's order, and where each points; the
    /// first one decides who is active.
    pub endpoints: Vec<EndpointSeen>,
    /// The zonal shifts and autoshifts active now (Route 53 ARC), when read (`ZONAL_SHIFT` not
    /// off); empty when none, or when they could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shifts: Vec<ZoneShift>,
    /// Why the shifts could not be read, if they could not: nothing is held back for them then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_shifts: Option<String>,
}

/// A zonal shift or autoshift that is active now: traffic moved away from one Availability Zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneShift {
    /// The zone's ID, as ARC names it (`use1-az1`).
    pub zone_id: String,
    /// The zone's name in this account (`us-east-1a`), mapped from its ID; None if EC2 did not say.
    pub zone: Option<String>,
    /// Who started it.
    pub kind: ShiftKind,
    /// The zonal shift's id, or the autoshift's start time.
    pub id: String,
    /// The resource it shifts (none for an autoshift, which is about the zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// Who started a shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftKind {
    /// A customer's zonal shift (`ZONAL_SHIFT`).
    Customer,
    /// A zonal autoshift practice run (weekly, 30 minutes).
    PracticeRun,
    /// An AWS Fault Injection Service experiment.
    Experiment,
    /// A zonal autoshift: AWS's own telemetry says the zone is impaired.
    Autoshift,
}

impl ZoneShift {
    /// The shift for a reason: "autoshift away from use1-az1 (us-east-1a)".
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ShiftKind::Customer => "zonal shift",
            ShiftKind::PracticeRun => "practice run",
            ShiftKind::Experiment => "FIS experiment shift",
            ShiftKind::Autoshift => "autoshift",
        };
        let zone = self.zone.as_deref().map(|z| format!(" ({z})")).unwrap_or_default();
        let resource = self.resource.as_deref().map(|r| format!(" of {r}")).unwrap_or_default();
        format!("{kind} {}{resource} away from {}{zone}", self.id, self.zone_id)
    }
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

/// The anchor: the resource the pair's record lives on (the first endpoint's: an Elastic IP's
/// allocation, else the first route table), what its tags carry, and who the deciding endpoint
/// (the first) points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The resource the record lives on (`Config::anchor`).
    pub resource: String,
    /// The pair's public address, when its first endpoint has one, for the log.
    pub public_ip: Option<String>,
    /// Who the deciding endpoint points at now: the active instance.
    pub holder: Holder,
    /// The last failover decision, kept as tags on the anchor.
    pub record: Option<FailoverRecord>,
    /// An operator's pause, kept as tags on the anchor, if the pair is paused.
    pub pause: Option<PauseNote>,
    /// The service check's recent results, kept as a tag on the anchor.
    pub health: Option<History>,
}

/// An operator's pause of the pair: nothing changes until it is resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PauseNote {
    /// Why, as the operator said.
    pub reason: String,
    /// Since when, in seconds since the Unix epoch, if the tag is readable.
    pub since: Option<i64>,
}

/// The last failover decided for the pair, kept as tags on the anchor so that every invocation,
/// wherever it runs, sees it.
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

/// One probe of one member, in this invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probed {
    /// The member.
    pub instance_id: String,
    /// Whether it passed, and otherwise why not.
    pub result: Result<(), String>,
    /// It failed for want of a TCP connection within the timeout: the packets went nowhere (a
    /// security group or network ACL that drops them, or a zone gone dark), as opposed to a
    /// service that refused or answered wrong.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// The service check's results kept on the anchor (tag `ec2-failover:health`):
/// `<when> <instance>:<results> <instance>:<results>`, each result `1` (failed) or `0` (passed),
/// oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// When the last counted probe ran, in seconds since the Unix epoch.
    pub at: i64,
    /// Each member's last results, oldest first: `true` failed.
    pub members: Vec<(String, Vec<bool>)>,
}

impl History {
    /// Reads the tag; an unreadable one is no history (the next probes start a new one).
    pub fn parse(tag: &str) -> Option<Self> {
        let mut words = tag.split_whitespace();
        let at = words.next()?.parse().ok()?;
        let members = words
            .map(|w| {
                let (id, bits) = w.split_once(':')?;
                let bits: Option<Vec<bool>> = bits
                    .chars()
                    .map(|c| match c {
                        '1' => Some(true),
                        '0' => Some(false),
                        _ => None,
                    })
                    .collect();
                Some((id.to_owned(), bits?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { at, members })
    }

    /// The tag's value.
    pub fn to_tag(&self) -> String {
        let mut tag = self.at.to_string();
        for (id, bits) in &self.members {
            tag.push(' ');
            tag.push_str(id);
            tag.push(':');
            tag.extend(bits.iter().map(|failed| if *failed { '1' } else { '0' }));
        }
        tag
    }

    /// A member's results, oldest first.
    pub fn of(&self, instance_id: &str) -> &[bool] {
        self.members.iter().find(|(id, _)| id == instance_id).map_or(&[], |(_, bits)| bits.as_slice())
    }

    /// How many of a member's last `window` results failed.
    pub fn failures(&self, instance_id: &str, window: usize) -> usize {
        let bits = self.of(instance_id);
        bits[bits.len().saturating_sub(window)..].iter().filter(|failed| **failed).count()
    }
}
