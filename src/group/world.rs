//! What group mode observed: the group, the held instance, the group's Elastic IPs, and the
//! group-tagged volumes and snapshots. Plain data, built by `group::aws` and read by the decision.

use serde::Serialize;

use crate::pair::world::InstanceState;
use crate::trigger::Transition;

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
    pub(crate) fn data_of(&self, key: &str) -> (Vec<DataVolume>, Vec<DataSnapshot>) {
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

/// An EBS volume tagged for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataVolume {
    /// Its id.
    pub volume_id: String,
    /// Its `ec2-failover:group` value.
    pub key: String,
    /// `creating`, `available`, `in-use`, `deleting`, `deleted` or `error`.
    pub state: String,
    /// Its Availability Zone: it can be attached only to an instance there.
    pub availability_zone: String,
    /// The instances it is attached to, with the device name.
    pub attachments: Vec<(String, String)>,
    /// The instance it was restored for (`ec2-failover:for`), if the function created it.
    pub for_instance: Option<String>,
    /// The device it belongs at (`ec2-failover:device`).
    pub device: Option<String>,
    /// The snapshot it was restored from (`ec2-failover:snapshot`), if the function created it.
    pub restored_from: Option<String>,
    /// The last instance the function attached it to (`ec2-failover:attached`, written before the
    /// attach): a volume that was ever attached may hold data no snapshot has.
    pub attached: Option<String>,
    /// Its type (gp3, io2...), provisioned IOPS and throughput: what a snapshot of it records.
    pub volume_type: Option<String>,
    /// Provisioned IOPS.
    pub iops: Option<i32>,
    /// Provisioned throughput (MiB/s).
    pub throughput: Option<i32>,
}

/// A snapshot of a group's data volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataSnapshot {
    /// Its id.
    pub snapshot_id: String,
    /// Its `ec2-failover:group` value.
    pub key: String,
    /// `pending`, `completed`, `error` (or `recoverable`, `recovering`).
    pub state: String,
    /// When it was started, in seconds since the Unix epoch: its point in time.
    pub start_time: i64,
    /// The terminating instance it was taken for (`ec2-failover:instance`).
    pub instance: Option<String>,
    /// Its source volume (`ec2-failover:volume`).
    pub volume: Option<String>,
    /// The device of its source volume (`ec2-failover:device`).
    pub device: Option<String>,
    /// The volume type, IOPS and throughput of its source volume, recorded when it was taken.
    pub volume_type: Option<String>,
    /// Provisioned IOPS, for the types that have them.
    pub iops: Option<i32>,
    /// Provisioned throughput (MiB/s), for gp3.
    pub throughput: Option<i32>,
}
