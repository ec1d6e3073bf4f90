//! What the group's data keeps and lets go: the snapshot a termination takes, the periodic ones
//! the sweep takes, and what retention deletes (snapshots beyond `KEEP_SNAPSHOTS`, the copies
//! that go with them, copies no launch will use). Pure, as the launch's plan in [`super::data`].

use serde::Serialize;

use super::data::{forked, newest_first, planned, Planned};
use super::world::{AttachmentState, DataSnapshot, DataVolume, SnapshotState, VolumeSpec, VolumeState};

/// Copies the function restored that no launch will use, once `instance` has its data attached:
/// `available`, never attached (so nothing ever wrote to them), restored
/// for an instance that is no longer a member of the group (`members`) or for `instance` itself (a
/// second copy), and not the source of any snapshot. Their data is still in the snapshot they came
/// from. A copy that was ever attached is never a leftover: it may hold the newest data.
pub fn leftovers(instance: &str, members: &[&str], volumes: &[DataVolume], snapshots: &[DataSnapshot]) -> Vec<String> {
    volumes
        .iter()
        .filter(|v| v.state == VolumeState::Available && v.attachments.is_empty() && v.restored_from.is_some())
        .filter(|v| v.attached.is_none())
        .filter(|v| v.for_instance.as_deref().is_some_and(|i| i == instance || !members.contains(&i)))
        .filter(|v| !snapshots.iter().any(|s| s.volume.as_deref() == Some(v.volume_id.as_str())))
        .map(|v| v.volume_id.clone())
        .collect()
}

/// Copies that served and whose data is now older than every snapshot kept: `available`, restored
/// by the function, their last attachment captured by a snapshot (one whose `instance` is the one
/// the volume was last attached to), and every snapshot taken of them among `deleting`. They go
/// with their last snapshot. The original data volume (not restored by the function) never goes.
pub fn retired(volumes: &[DataVolume], snapshots: &[DataSnapshot], deleting: &[String]) -> Vec<String> {
    volumes
        .iter()
        .filter(|v| v.state == VolumeState::Available && v.attachments.is_empty() && v.restored_from.is_some())
        .filter(|v| {
            let taken: Vec<&DataSnapshot> =
                snapshots.iter().filter(|s| s.volume.as_deref() == Some(v.volume_id.as_str())).collect();
            let last_captured = v.attached.is_some() && taken.iter().any(|s| s.instance == v.attached);
            last_captured && taken.iter().all(|s| deleting.contains(&s.snapshot_id))
        })
        .map(|v| v.volume_id.clone())
        .collect()
}

/// What a termination needs done about the group's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum TerminatePlan {
    /// Snapshot this volume (the one data volume attached to the terminating instance).
    Snapshot {
        /// The volume.
        volume_id: String,
        /// Its device on the instance.
        device: String,
        /// Its type, IOPS and throughput, recorded on the snapshot.
        spec: VolumeSpec,
    },
    /// Nothing to snapshot (no data volume here, or the snapshot is already taken).
    Nothing,
    /// Several data volumes on one instance: which one is the data is not clear; snapshot none.
    Refuse,
}

/// The termination plan and why.
pub fn plan_terminate(instance_id: &str, volumes: &[DataVolume], snapshots: &[DataSnapshot]) -> Planned<TerminatePlan> {
    if let Some(s) =
        snapshots.iter().find(|s| s.instance.as_deref() == Some(instance_id) && s.state != SnapshotState::Error)
    {
        return planned(TerminatePlan::Nothing, format!("{} was already taken for {instance_id}", s.snapshot_id));
    }
    let attached: Vec<(&DataVolume, &String)> = volumes
        .iter()
        .filter_map(|v| v.attachments.iter().find(|a| a.instance_id == instance_id).map(|a| (v, &a.device)))
        .collect();
    match attached.as_slice() {
        [] => planned(TerminatePlan::Nothing, format!("{instance_id} has no data volume of the group attached")),
        [(v, device)] => planned(
            TerminatePlan::Snapshot { volume_id: v.volume_id.clone(), device: (*device).clone(), spec: v.spec.clone() },
            format!("snapshotting {} ({device}) before {instance_id} terminates", v.volume_id),
        ),
        many => {
            let ids: Vec<&str> = many.iter().map(|(v, _)| v.volume_id.as_str()).collect();
            planned(
                TerminatePlan::Refuse,
                format!(
                    "{instance_id} has {} data volumes of the group ({}); snapshotting none",
                    ids.len(),
                    ids.join(", ")
                ),
            )
        }
    }
}

/// The snapshots to delete so that at most `keep` completed ones remain; the newest completed one
/// is never deleted, and neither is one that is pending, nor one of a branch the group left
/// ([`forked`]).
pub fn retention(volumes: &[DataVolume], snapshots: &[DataSnapshot], keep: usize) -> Vec<String> {
    let mut completed: Vec<&DataSnapshot> =
        snapshots.iter().filter(|s| s.state == SnapshotState::Completed && !forked(s, volumes, snapshots)).collect();
    completed.sort_by_key(|s| std::cmp::Reverse(s.start_time));
    completed.iter().skip(keep.max(1)).map(|s| s.snapshot_id.clone()).collect()
}

/// What a sweep does about a settled group's data on schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum PeriodicPlan {
    /// Snapshot the data volume the serving instance has attached.
    Snapshot {
        /// The volume.
        volume_id: String,
        /// Its device on the instance.
        device: String,
        /// Its type, IOPS and throughput, recorded on the snapshot.
        spec: VolumeSpec,
    },
    /// Not due, or nothing to snapshot.
    Nothing,
}

/// A snapshot on schedule (`SNAPSHOT_EVERY_SECONDS`) of the one data volume attached to `serving`,
/// the group's InService instance: due when the group's newest snapshot (of any kind, not failed)
/// began `every` seconds ago or more. EBS snapshots are incremental: each stores only the blocks
/// changed since the one before. None is started while a snapshot of the same volume is pending:
/// EBS allows a gp2, gp3, io1 or io2 volume five pending snapshots and an st1 or sc1 one a single
/// one (ConcurrentSnapshotLimitExceeded, AWS re:Post "EBS snapshot stuck"), and asks for 15 s
/// between two (SnapshotCreationPerVolumeRateExceeded, EC2 API error codes); one pending at a time
/// keeps the terminate hook's snapshot possible beside it on every type but st1 and sc1.
pub fn plan_periodic(
    serving: &str,
    now: i64,
    every: i64,
    volumes: &[DataVolume],
    snapshots: &[DataSnapshot],
) -> Planned<PeriodicPlan> {
    let attached: Vec<(&DataVolume, &String)> = volumes
        .iter()
        .filter_map(|v| {
            v.attachments
                .iter()
                .find(|a| a.instance_id == serving && a.state == AttachmentState::Attached)
                .map(|a| (v, &a.device))
        })
        .collect();
    let (volume, device) = match attached.as_slice() {
        [one] => *one,
        [] => return planned(PeriodicPlan::Nothing, format!("{serving} has no data volume of the group attached")),
        many => {
            let ids: Vec<&str> = many.iter().map(|(v, _)| v.volume_id.as_str()).collect();
            return planned(
                PeriodicPlan::Nothing,
                format!(
                    "{serving} has {} data volumes of the group ({}); snapshotting none",
                    ids.len(),
                    ids.join(", ")
                ),
            );
        }
    };
    let of_volume = |s: &&DataSnapshot| s.volume.as_deref() == Some(volume.volume_id.as_str());
    if let Some(pending) = snapshots.iter().filter(of_volume).find(|s| s.state == SnapshotState::Pending) {
        return planned(
            PeriodicPlan::Nothing,
            format!("{} of {} is still pending; the next one waits for it", pending.snapshot_id, volume.volume_id),
        );
    }
    let ordered = newest_first(snapshots, volumes);
    if let Some(newest) = ordered.iter().find(|s| s.state != SnapshotState::Error) {
        let age = now - newest.start_time;
        if age < every {
            return planned(
                PeriodicPlan::Nothing,
                format!("the newest snapshot {} is {age}s old, under {every}s", newest.snapshot_id),
            );
        }
    }
    let since = ordered.iter().find(|s| s.state != SnapshotState::Error).map_or("no snapshot yet".to_owned(), |s| {
        format!("the newest, {}, is {}s old", s.snapshot_id, now - s.start_time)
    });
    planned(
        PeriodicPlan::Snapshot {
            volume_id: volume.volume_id.clone(),
            device: device.clone(),
            spec: volume.spec.clone(),
        },
        format!("snapshotting {} ({device}) of {serving} on schedule, every {every}s ({since})", volume.volume_id),
    )
}
