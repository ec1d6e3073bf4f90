//! What group mode observed: the group, the held instance, the group's Elastic IPs, and the
//! group-tagged volumes and snapshots. Plain data, built by `group::aws` and read by the decision.

use serde::Serialize;

pub use crate::aws::Instance;
use crate::trigger::Transition;

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
    /// The route-table entries that follow each tagged group's instance.
    pub routes: Vec<GroupRoute>,
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
    pub instances: Vec<(String, LifecycleState)>,
    /// The group stack that serves it (`ec2-failover:stack`, which template-group.yaml puts on its
    /// group): a fleet leaves such a group to that stack's function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// A route-table entry that follows a group's instance, as a NAT instance's default route does: in
/// a table tagged with the group's key, for each destination its `ec2-failover:route-destinations`
/// tag names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupRoute {
    /// The route table.
    pub table: String,
    /// The destination (a CIDR or a prefix list).
    pub destination: String,
    /// The group key the table carries.
    pub key: String,
    /// The instance the route points at, if it names one.
    pub instance_id: Option<String>,
    /// The network interface the route points at, if any.
    pub network_interface_id: Option<String>,
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

/// A managed group as a sweep sees it: its instances, the ones its hooks hold, and its hooks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldGroup {
    /// The group.
    pub name: String,
    /// Its `ec2-failover:group` value.
    pub key: Option<String>,
    /// Every instance and its lifecycle state.
    pub instances: Vec<(String, LifecycleState)>,
    /// Each instance in `Pending:Wait` or `Terminating:Wait`, and which way it is held.
    pub held: Vec<(String, Transition)>,
    /// The group's lifecycle hooks: name and transition (read only when it holds an instance).
    pub hooks: Vec<(String, Transition)>,
    /// The group stack that serves it (`ec2-failover:stack`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl HeldGroup {
    /// The group as a lifecycle decision sees it.
    pub fn group(&self) -> Group {
        Group {
            name: self.name.clone(),
            key: self.key.clone(),
            instances: self.instances.clone(),
            stack: self.stack.clone(),
        }
    }

    /// A settled group's world from reads of every group at once (a sweep's upkeep, a status):
    /// its serving `instance`, and of the rest only what carries its key (each group's world, not
    /// every group's again).
    pub fn world(
        &self,
        instance: Option<&Instance>,
        addresses: &[GroupAddress],
        volumes: &[DataVolume],
        snapshots: &[DataSnapshot],
        routes: &[GroupRoute],
        now: i64,
    ) -> GroupWorld {
        let mine = |key: &String| Some(key) == self.key.as_ref();
        GroupWorld {
            group: Some(self.group()),
            instance: instance.cloned(),
            addresses: addresses.iter().filter(|a| mine(&a.key)).cloned().collect(),
            volumes: volumes.iter().filter(|v| mine(&v.key)).cloned().collect(),
            snapshots: snapshots.iter().filter(|s| mine(&s.key)).cloned().collect(),
            routes: routes.iter().filter(|r| mine(&r.key)).cloned().collect(),
            now,
        }
    }
}

/// An EBS volume tagged for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataVolume {
    /// Its id.
    pub volume_id: String,
    /// Its `ec2-failover:group` value.
    pub key: String,
    /// Its state.
    pub state: VolumeState,
    /// Its Availability Zone: it can be attached only to an instance there.
    pub availability_zone: String,
    /// Its attachments (EC2 lists one, or several for Multi-Attach).
    pub attachments: Vec<Attachment>,
    /// The instance it was restored for (`ec2-failover:for`), if the function created it.
    pub for_instance: Option<String>,
    /// The device it belongs at (`ec2-failover:device`).
    pub device: Option<String>,
    /// The snapshot it was restored from (`ec2-failover:snapshot`), if the function created it.
    pub restored_from: Option<String>,
    /// The last instance the function attached it to (`ec2-failover:attached`, written before the
    /// attach): a volume that was ever attached may hold data no snapshot has.
    pub attached: Option<String>,
    /// Where a restored volume's data came from (`ec2-failover:from-volume`, `ec2-failover:from-time`),
    /// kept on it when its snapshot is pruned.
    pub origin: Option<Origin>,
    /// Its type, IOPS and throughput: what a snapshot of it records.
    #[serde(flatten)]
    pub spec: VolumeSpec,
}

/// The volume a restored volume's data was snapshotted from, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The volume the snapshot was taken of.
    pub volume: String,
    /// When it was taken, in seconds since the Unix epoch.
    pub time: i64,
}

/// A snapshot of a group's data volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataSnapshot {
    /// Its id.
    pub snapshot_id: String,
    /// Its `ec2-failover:group` value.
    pub key: String,
    /// Its state.
    pub state: SnapshotState,
    /// When it was started, in seconds since the Unix epoch: its point in time.
    pub start_time: i64,
    /// The terminating instance it was taken for (`ec2-failover:instance`).
    pub instance: Option<String>,
    /// The instance its volume served when the sweep took it on schedule (`ec2-failover:periodic`):
    /// that instance went on writing after it.
    pub periodic: Option<String>,
    /// Its source volume (`ec2-failover:volume`).
    pub volume: Option<String>,
    /// The device of its source volume (`ec2-failover:device`).
    pub device: Option<String>,
    /// The volume type, IOPS and throughput of its source volume, recorded when it was taken.
    #[serde(flatten)]
    pub spec: VolumeSpec,
}

/// A volume's type, provisioned IOPS and provisioned throughput (MiB/s): recorded on a snapshot
/// when it is taken, and given to the volume restored from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VolumeSpec {
    /// gp3, gp2, io2...
    pub volume_type: Option<String>,
    /// Provisioned IOPS.
    pub iops: Option<i32>,
    /// Provisioned throughput (MiB/s).
    pub throughput: Option<i32>,
}

impl VolumeSpec {
    /// What CreateVolume accepts of this spec. DescribeVolumes reports IOPS for every type (a gp2
    /// volume's baseline too), but CreateVolume takes `Iops` for io1, io2 and gp3 only and
    /// `Throughput` for gp3 only, and refuses the rest with InvalidParameterCombination ("The
    /// parameter iops is not supported for gp2 volumes.") — EC2 API reference, CreateVolume.
    pub fn creatable(&self) -> VolumeSpec {
        let kind = self.volume_type.as_deref();
        VolumeSpec {
            volume_type: self.volume_type.clone(),
            iops: self.iops.filter(|_| matches!(kind, Some("io1" | "io2" | "gp3"))),
            throughput: self.throughput.filter(|_| kind == Some("gp3")),
        }
    }
}

/// A volume's attachment to an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The instance.
    pub instance_id: String,
    /// The device name it was attached at.
    pub device: String,
    /// How far the attachment is.
    pub state: AttachmentState,
}

impl Attachment {
    /// An attachment that is complete: the instance sees the device.
    pub fn attached(instance_id: &str, device: &str) -> Self {
        Self { instance_id: instance_id.to_owned(), device: device.to_owned(), state: AttachmentState::Attached }
    }
}

/// An attachment's state (EC2's `VolumeAttachment.State`). An attach takes seconds: the volume is
/// `in-use` at once, but the instance sees the device only once the attachment is `attached`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachmentState {
    /// Being attached: the instance may not see the device yet.
    Attaching,
    /// Attached: the instance sees the device.
    Attached,
    /// Being detached.
    Detaching,
    /// Detached.
    Detached,
    /// `busy`, or a state this function does not know: not attached as far as a launch goes.
    Busy,
}

impl AttachmentState {
    /// Reads EC2's state name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "attaching" => Self::Attaching,
            "attached" => Self::Attached,
            "detaching" => Self::Detaching,
            "detached" => Self::Detached,
            _ => Self::Busy,
        }
    }

    /// EC2's name for the state (`busy` for the unknown ones too).
    pub fn name(self) -> &'static str {
        match self {
            Self::Attaching => "attaching",
            Self::Attached => "attached",
            Self::Detaching => "detaching",
            Self::Detached => "detached",
            Self::Busy => "busy",
        }
    }
}

/// An EBS volume's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    /// Being created (from a snapshot, say): wait for it.
    Creating,
    /// Free to attach.
    Available,
    /// Attached to an instance.
    InUse,
    /// Going away.
    Deleting,
    /// Gone.
    Deleted,
    /// Failed; it holds no usable data.
    Error,
    /// A state this function does not know. Read as busy: never attached, deleted or replaced,
    /// so a launch waits for it rather than risk a second copy of the data.
    Unknown,
}

impl VolumeState {
    /// Reads EC2's state name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "creating" => Self::Creating,
            "available" => Self::Available,
            "in-use" => Self::InUse,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "error" => Self::Error,
            _ => Self::Unknown,
        }
    }

    /// EC2's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::InUse => "in-use",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Error => "error",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the volume exists and may hold the data (not going, gone or failed).
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Deleting | Self::Deleted | Self::Error)
    }
}

/// An EBS snapshot's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotState {
    /// Still being taken, or a state this function does not know (read as still being taken, so
    /// that no older snapshot is restored in its place): wait for it.
    Pending,
    /// Complete: a volume can be restored from it.
    Completed,
    /// Failed; it holds no usable data.
    Error,
    /// Recoverable from the Recycle Bin; not usable until recovered.
    Recoverable,
    /// Being recovered from the Recycle Bin.
    Recovering,
}

impl SnapshotState {
    /// Reads EC2's state name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "completed" => Self::Completed,
            "error" => Self::Error,
            "recoverable" => Self::Recoverable,
            "recovering" => Self::Recovering,
            _ => Self::Pending,
        }
    }

    /// EC2's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Recoverable => "recoverable",
            Self::Recovering => "recovering",
        }
    }
}

/// Where Auto Scaling has an instance in the group's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LifecycleState {
    /// Launching, before or after a launch hook.
    #[serde(rename = "Pending")]
    Pending,
    /// Held by a launch hook until the hook is completed.
    #[serde(rename = "Pending:Wait")]
    PendingWait,
    /// In service.
    #[serde(rename = "InService")]
    InService,
    /// Held by a terminate hook until the hook is completed.
    #[serde(rename = "Terminating:Wait")]
    TerminatingWait,
    /// Terminating, before or after a terminate hook, or terminated.
    #[serde(rename = "Terminating")]
    Terminating,
    /// Anything else (standby, detaching, warm pool...): neither serving nor held.
    #[serde(rename = "Other")]
    Other,
}

impl LifecycleState {
    /// The transition a hook holds an instance for in this state, if it is a hook's wait state.
    pub fn held_for(self) -> Option<Transition> {
        match self {
            Self::PendingWait => Some(Transition::Launching),
            Self::TerminatingWait => Some(Transition::Terminating),
            _ => None,
        }
    }

    /// Auto Scaling's name for it (the first of several it stands for).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::PendingWait => "Pending:Wait",
            Self::InService => "InService",
            Self::TerminatingWait => "Terminating:Wait",
            Self::Terminating => "Terminating",
            Self::Other => "in another lifecycle state",
        }
    }

    /// Reads Auto Scaling's lifecycle state name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "Pending" | "Pending:Proceed" => Self::Pending,
            "Pending:Wait" => Self::PendingWait,
            "InService" => Self::InService,
            "Terminating:Wait" => Self::TerminatingWait,
            "Terminating" | "Terminating:Proceed" | "Terminated" => Self::Terminating,
            _ => Self::Other,
        }
    }
}
