//! The stateful group's data policy: where a group's EBS data volume is, and what a launch or a termination must do so that the data follows
//! the instance across Availability Zones. Pure: it reads what `group::aws::observe` read and
//! returns a plan; no AWS call, no clock.
//!
//! Tags (all `ec2-failover:`, named in [`crate::tags`]): `group` on the data volume, its snapshots and the volumes restored
//! from them; on a snapshot also `volume` (its source), `device`, `instance` (the terminating
//! instance it was taken for), `time`, `volume-type`, `iops`, `throughput`; on a restored volume
//! also `snapshot` and `for` (the instance it was created for); on any data volume `attached`
//! (the last instance the function attached it to).

use serde::Serialize;

use super::world::{AttachmentState, DataSnapshot, DataVolume, SnapshotState, VolumeSpec, VolumeState};

/// What a launch needs done about the group's data before the instance may serve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum LaunchPlan {
    /// The data is attached to the instance, or the group keeps no data: go on.
    Ready,
    /// Attach this volume at this device, then go on.
    Attach {
        /// The volume, `available` in the instance's zone.
        volume_id: String,
        /// Where.
        device: String,
    },
    /// Create a volume from this snapshot in the instance's zone, then wait for it.
    Restore {
        /// The newest usable snapshot.
        snapshot_id: String,
        /// The instance's zone.
        availability_zone: String,
        /// The device the data belongs at, as recorded on the snapshot.
        device: String,
        /// The type, IOPS and throughput recorded on the snapshot.
        spec: VolumeSpec,
    },
    /// Snapshot a volume that holds the newest data in another zone, then wait for the snapshot.
    Carry {
        /// The volume.
        volume_id: String,
        /// The device it belongs at.
        device: String,
        /// Its type, IOPS and throughput, recorded on the snapshot.
        spec: VolumeSpec,
    },
    /// Nothing can be done until AWS finishes something; keep the hook alive.
    Wait,
    /// The launch cannot get its data in time, or the data is in an impossible state.
    Abandon,
}

/// A plan and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned<P> {
    /// What to do.
    pub plan: P,
    /// Why, in words that name the volumes and snapshots it rests on.
    pub why: String,
}

fn planned<P>(plan: P, why: String) -> Planned<P> {
    Planned { plan, why }
}

/// The launch plan and why.
pub fn plan_launch(
    instance_id: &str,
    availability_zone: &str,
    waited_seconds: i64,
    max_wait_seconds: i64,
    volumes: &[DataVolume],
    snapshots: &[DataSnapshot],
) -> Planned<LaunchPlan> {
    let live = |v: &&DataVolume| v.state.is_live();
    let mine = |v: &&DataVolume| v.attachments.iter().find(|a| a.instance_id == instance_id).map(|a| a.state);
    if let Some((v, state)) = volumes.iter().filter(live).find_map(|v| Some((v, mine(&v)?))) {
        // The volume is `in-use` as soon as the attach is accepted, but the instance sees the device
        // only once the attachment is `attached` (EC2 User Guide, "Attach an EBS volume to an
        // instance"): the launch goes on only then, so the service never starts without its data.
        return match state {
            AttachmentState::Attached => {
                planned(LaunchPlan::Ready, format!("{} is attached to {instance_id}", v.volume_id))
            }
            state => planned(
                LaunchPlan::Wait,
                format!("{} is {} to {instance_id}; waiting for it to be attached", v.volume_id, state.name()),
            ),
        };
    }
    if waited_seconds > max_wait_seconds {
        return planned(
            LaunchPlan::Abandon,
            format!("{instance_id} has waited {waited_seconds}s for its data, more than {max_wait_seconds}s; abandoning rather than serving without it"),
        );
    }
    // Never a second copy: while the data volume is attached elsewhere, the old instance may still write.
    if let Some((v, other)) = volumes
        .iter()
        .filter(live)
        .filter(|v| v.for_instance.as_deref() != Some(instance_id))
        .find_map(|v| v.attachments.first().map(|a| (v, &a.instance_id)))
    {
        return planned(
            LaunchPlan::Wait,
            format!("{} is still attached to {other}; waiting for it to be released", v.volume_id),
        );
    }
    // A volume attaches only to an instance in its own zone (AWS: InvalidVolume.ZoneMismatch).
    let here = |v: &&DataVolume| v.availability_zone == availability_zone;
    if let Some(v) = volumes.iter().filter(live).filter(here).find(|v| v.for_instance.as_deref() == Some(instance_id)) {
        return match (v.state, &v.device) {
            (VolumeState::Available, Some(device)) => planned(
                LaunchPlan::Attach { volume_id: v.volume_id.clone(), device: device.clone() },
                format!("{} was restored for {instance_id}; attaching it at {device}", v.volume_id),
            ),
            (VolumeState::Available, None) => planned(
                LaunchPlan::Abandon,
                format!("{} has no ec2-failover:device tag; cannot tell where it goes", v.volume_id),
            ),
            (state, _) => planned(
                LaunchPlan::Wait,
                format!("{} is {}; waiting for it to become available", v.volume_id, state.name()),
            ),
        };
    }
    let ordered = newest_first(snapshots, volumes);
    match freshest(availability_zone, volumes, &ordered) {
        Some(Freshest::Here(volume_id, device, why)) => return planned(LaunchPlan::Attach { volume_id, device }, why),
        Some(Freshest::Elsewhere(volume, why)) => return carry(volume, why),
        None => {}
    }
    if let Some(newest) = ordered.first() {
        if newest.state == SnapshotState::Pending {
            return planned(LaunchPlan::Wait, format!("the newest snapshot {} is still pending", newest.snapshot_id));
        }
        return match ordered.iter().find(|s| s.state == SnapshotState::Completed) {
            Some(s) => {
                let Some(device) = s.device.clone() else {
                    return planned(
                        LaunchPlan::Abandon,
                        format!("{} has no ec2-failover:device tag; cannot tell where its data goes", s.snapshot_id),
                    );
                };
                let skipped = if s.snapshot_id == newest.snapshot_id {
                    String::new()
                } else {
                    format!(" (the newer {} is {})", newest.snapshot_id, newest.state.name())
                };
                planned(
                    LaunchPlan::Restore {
                        snapshot_id: s.snapshot_id.clone(),
                        availability_zone: availability_zone.into(),
                        device,
                        spec: s.spec.clone(),
                    },
                    format!("restoring {} in {availability_zone} for {instance_id}{skipped}", s.snapshot_id),
                )
            }
            None => planned(
                LaunchPlan::Abandon,
                format!(
                    "no snapshot of the group's data completed (the newest, {}, is {})",
                    newest.snapshot_id,
                    newest.state.name()
                ),
            ),
        };
    }
    // A seed volume the stack (or its owner) is still creating is the data, not its absence: a
    // launch that went on without it would serve an empty disk.
    if let Some(v) = volumes.iter().find(|v| v.state.is_live() && v.state != VolumeState::Available) {
        return planned(
            LaunchPlan::Wait,
            format!("the seed volume {} is {}; waiting for it to become available", v.volume_id, v.state.name()),
        );
    }
    match volumes.iter().find(|v| v.state == VolumeState::Available) {
        Some(v) if v.availability_zone == availability_zone => match &v.device {
            Some(device) => planned(
                LaunchPlan::Attach { volume_id: v.volume_id.clone(), device: device.clone() },
                format!("first launch: attaching the seed volume {} at {device}", v.volume_id),
            ),
            None => {
                planned(LaunchPlan::Abandon, format!("the seed volume {} has no ec2-failover:device tag", v.volume_id))
            }
        },
        Some(v) => carry(
            v,
            format!(
                "first launch: the seed volume {} is in {}, not {availability_zone}; snapshotting it to carry it over",
                v.volume_id, v.availability_zone
            ),
        ),
        None => planned(LaunchPlan::Ready, "the group keeps no data volume: the Elastic IP only".into()),
    }
}

/// Carries a volume into another zone by a snapshot, which needs to know where its data belongs.
fn carry(volume: &DataVolume, why: String) -> Planned<LaunchPlan> {
    match &volume.device {
        Some(device) => planned(
            LaunchPlan::Carry {
                volume_id: volume.volume_id.clone(),
                device: device.clone(),
                spec: volume.spec.clone(),
            },
            why,
        ),
        None => planned(
            LaunchPlan::Abandon,
            format!("{} has no ec2-failover:device tag; cannot tell where its data goes", volume.volume_id),
        ),
    }
}

/// The snapshots, newest first: by start time, and between equal times (EC2 reports seconds) by
/// lineage: a snapshot of a volume restored from another snapshot is the newer of the two.
fn newest_first<'a>(snapshots: &'a [DataSnapshot], volumes: &[DataVolume]) -> Vec<&'a DataSnapshot> {
    let generation = |s: &DataSnapshot| {
        let (mut depth, mut current) = (0usize, s);
        while depth < snapshots.len() {
            let parent = volumes
                .iter()
                .find(|v| current.volume.as_deref() == Some(v.volume_id.as_str()))
                .and_then(|v| v.restored_from.as_deref())
                .and_then(|id| snapshots.iter().find(|p| p.snapshot_id == id));
            match parent {
                Some(p) => (depth, current) = (depth + 1, p),
                None => break,
            }
        }
        depth
    };
    let mut ordered: Vec<(&DataSnapshot, usize)> = snapshots.iter().map(|s| (s, generation(s))).collect();
    ordered.sort_by_key(|(s, generation)| std::cmp::Reverse((s.start_time, *generation)));
    ordered.into_iter().map(|(s, _)| s).collect()
}

/// Where the newest data is, when it is on a detached volume rather than only in a snapshot.
enum Freshest<'a> {
    /// In this zone: attach it (volume, device, why).
    Here(String, String, String),
    /// In another zone, on a volume no snapshot has caught up with: snapshot it to carry it over.
    Elsewhere(&'a DataVolume, String),
}

/// A detached volume that holds the newest data, so that the launch attaches it (same zone) or
/// carries it by a new snapshot (another zone) instead of restoring an older snapshot:
/// 1. a copy restored from the newest snapshot that was attached since (it served after that
///    snapshot, and no snapshot of it exists: its terminate hook never snapshotted it);
/// 2. in this zone, the source of the newest snapshot (at least as new; a pending snapshot does
///    not need its volume);
/// 3. in this zone, a copy of the newest completed snapshot that was never attached (restored for
///    a launch that was abandoned).
fn freshest<'a>(zone: &str, volumes: &'a [DataVolume], newest_first: &[&DataSnapshot]) -> Option<Freshest<'a>> {
    let free = |v: &&DataVolume| v.state == VolumeState::Available && v.attachments.is_empty();
    let is_source = |v: &DataVolume| newest_first.iter().any(|s| s.volume.as_deref() == Some(v.volume_id.as_str()));
    let newest = newest_first.iter().find(|s| s.state != SnapshotState::Error)?;
    let served = volumes.iter().filter(free).find(|v| {
        v.restored_from.as_deref() == Some(newest.snapshot_id.as_str()) && v.attached.is_some() && !is_source(v)
    });
    if let Some(v) = served {
        let by = v.attached.as_deref().unwrap_or("an instance");
        if v.availability_zone != zone {
            let why = format!(
                "{} (restored from {}, then attached to {by}) holds newer data than any snapshot and is in {}, not {zone}; snapshotting it to carry it over",
                v.volume_id, newest.snapshot_id, v.availability_zone
            );
            return Some(Freshest::Elsewhere(v, why));
        }
        let device = v.device.clone()?;
        let why = format!(
            "{} (restored from {}, then attached to {by}) holds newer data than any snapshot; attaching it at {device}",
            v.volume_id, newest.snapshot_id
        );
        return Some(Freshest::Here(v.volume_id.clone(), device, why));
    }
    let here = |v: &&DataVolume| v.availability_zone == zone;
    if let Some(v) =
        volumes.iter().filter(free).filter(here).find(|v| newest.volume.as_deref() == Some(v.volume_id.as_str()))
    {
        let device = v.device.clone().or_else(|| newest.device.clone())?;
        let why = format!(
            "{} (the source of the newest snapshot {}) is available in {zone}; attaching it at {device}",
            v.volume_id, newest.snapshot_id
        );
        return Some(Freshest::Here(v.volume_id.clone(), device, why));
    }
    let completed = newest_first.iter().find(|s| s.state == SnapshotState::Completed)?;
    if completed.snapshot_id != newest.snapshot_id {
        return None;
    }
    let v = volumes
        .iter()
        .filter(free)
        .filter(here)
        .filter(|v| v.attached.is_none() && !is_source(v))
        .find(|v| v.restored_from.as_deref() == Some(completed.snapshot_id.as_str()))?;
    let device = v.device.clone()?;
    let why = format!(
        "{} (restored from the newest snapshot {} for an earlier launch, never attached) is available in {zone}; attaching it at {device}",
        v.volume_id, completed.snapshot_id
    );
    Some(Freshest::Here(v.volume_id.clone(), device, why))
}

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
/// is never deleted, and neither is one that is pending.
pub fn retention(snapshots: &[DataSnapshot], keep: usize) -> Vec<String> {
    let mut completed: Vec<&DataSnapshot> = snapshots.iter().filter(|s| s.state == SnapshotState::Completed).collect();
    completed.sort_by_key(|s| std::cmp::Reverse(s.start_time));
    completed.iter().skip(keep.max(1)).map(|s| s.snapshot_id.clone()).collect()
}
