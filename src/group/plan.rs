//! Group mode's plan: the changes a decision may make (Elastic IP moves, snapshots, volumes,
//! lifecycle completions). `decide` writes them, `aws::execute` carries them out.

use serde::Serialize;

use super::world::VolumeSpec;
use crate::decision::Verdict;
use crate::trigger::LifecycleAction;

/// A decision about a group.
pub type Decision = crate::decision::Decision<GroupAction>;

/// How a lifecycle action is completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LifecycleResult {
    /// Let the instance go on (into service, or on to termination).
    Continue,
    /// Launch: terminate the instance and launch another; terminate: go on without waiting.
    Abandon,
}

/// A change to make for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GroupAction {
    /// Associate the group's Elastic IP with the instance (through its network interface).
    MoveAddress {
        /// The address.
        allocation_id: String,
        /// The new holder.
        instance_id: String,
        /// Its primary network interface, if known.
        network_interface_id: Option<String>,
    },
    /// Point a route of the group's table at the instance's network interface.
    PointRoute {
        /// The route table.
        table: String,
        /// The destination.
        destination: String,
        /// The new target.
        instance_id: String,
        /// Its primary network interface, if known.
        network_interface_id: Option<String>,
    },
    /// Complete the lifecycle action.
    CompleteLifecycle {
        /// The group.
        group: String,
        /// The hook.
        hook: String,
        /// The instance held.
        instance_id: String,
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
    },
    /// Keep the lifecycle action alive while AWS finishes a snapshot or a volume.
    Heartbeat {
        /// The group.
        group: String,
        /// The hook.
        hook: String,
        /// The instance held.
        instance_id: String,
    },
    /// Snapshot the group's data volume, tagged so that the next launch finds it.
    CreateSnapshot {
        /// The data volume.
        volume_id: String,
        /// The group key.
        key: String,
        /// The device it is attached at.
        device: String,
        /// The terminating instance it is taken for (none when carrying a volume, or on schedule).
        instance_id: Option<String>,
        /// On schedule (`SNAPSHOT_EVERY_SECONDS`): the instance the volume serves, which goes on
        /// writing after it (the `ec2-failover:periodic` tag).
        #[serde(skip_serializing_if = "Option::is_none")]
        periodic: Option<String>,
        /// The volume's type, IOPS and throughput, for the volume restored from it.
        #[serde(flatten)]
        spec: VolumeSpec,
        /// When it was decided, in seconds since the Unix epoch (the `ec2-failover:time` tag).
        at: i64,
    },
    /// Create the group's data volume from a snapshot in the new instance's zone (same type, IOPS
    /// and throughput; encryption and KMS key come with the snapshot).
    CreateVolume {
        /// The snapshot.
        snapshot_id: String,
        /// The new instance's zone.
        availability_zone: String,
        /// The group key.
        key: String,
        /// The instance it is for.
        for_instance: String,
        /// The device it belongs at.
        device: String,
        /// As recorded on the snapshot.
        #[serde(flatten)]
        spec: VolumeSpec,
        /// The volume initialization rate, in MiB/s (`DATA_INIT_RATE_MIBPS`), if set.
        #[serde(skip_serializing_if = "Option::is_none")]
        initialization_rate: Option<i32>,
        /// The volume the snapshot was taken of and when, kept on the new volume (its lineage
        /// outlives the snapshot, which retention may prune).
        #[serde(skip_serializing_if = "Option::is_none")]
        origin: Option<super::world::Origin>,
        /// When newer data could not be reached in time (`DATA_WAIT_SECONDS`): how old the
        /// snapshot's data is, in seconds; the writes after it are not on the new volume.
        #[serde(skip_serializing_if = "Option::is_none")]
        data_age_seconds: Option<i64>,
    },
    /// Let the instance read its own tags in its metadata (ModifyInstanceMetadataOptions
    /// `InstanceMetadataTags=enabled`, which works on a running instance): its boot learns which
    /// volume is its data from them (`instance/wait-for-data-volume`).
    EnableInstanceTags {
        /// The instance.
        instance_id: String,
    },
    /// Attach the data volume to the new instance.
    AttachVolume {
        /// The volume.
        volume_id: String,
        /// The instance.
        instance_id: String,
        /// The device.
        device: String,
    },
    /// Delete a volume the function restored for a launch that never used it.
    DeleteVolume {
        /// The volume.
        volume_id: String,
    },
    /// Delete a snapshot beyond the group's retention.
    DeleteSnapshot {
        /// The snapshot.
        snapshot_id: String,
    },
}

/// A decision (shorthand for the rules).
pub(super) fn decision(verdict: Verdict, reason: String, actions: Vec<GroupAction>) -> Decision {
    Decision::new(verdict, reason, actions)
}

/// The completion of a lifecycle action.
pub(super) fn complete(action: &LifecycleAction, result: LifecycleResult) -> GroupAction {
    GroupAction::CompleteLifecycle {
        group: action.group.clone(),
        hook: action.hook.clone(),
        instance_id: action.instance_id.clone(),
        result,
    }
}
