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
        /// When newer data could not be reached in time ([`Clock::fallback_after`]): how old the
        /// snapshot's data is, in seconds (at most the data lost to this instance).
        data_age_seconds: Option<i64>,
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

pub(super) fn planned<P>(plan: P, why: String) -> Planned<P> {
    Planned { plan, why }
}

/// The times a launch is planned by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now, in seconds since the Unix epoch: the age of the data a fallback restores.
    pub now: i64,
    /// How long the instance has waited for its data (since it launched).
    pub waited: i64,
    /// After how long it is abandoned (`MAX_WAIT_SECONDS`).
    pub max_wait: i64,
    /// After how long it restores the newest completed snapshot rather than wait on for the old
    /// volume, still attached to an instance the group no longer holds (its zone dark: EC2 neither
    /// detaches nor snapshots it): `DATA_WAIT_SECONDS`, only with periodic snapshots, which bound
    /// how old that snapshot can be. None: it waits up to `max_wait`.
    pub fallback_after: Option<i64>,
    /// The oldest data a fallback restores, in seconds (twice `SNAPSHOT_EVERY_SECONDS`): past it
    /// the periodic snapshots have been failing, and the launch waits on instead.
    pub max_age: Option<i64>,
}

/// The launch plan and why.
/// `holding` are the instances the group still holds on their way out (`Terminating:Wait`) or in
/// another state (standby...): a volume attached to one may still be written, and is waited for.
pub fn plan_launch(
    instance_id: &str,
    availability_zone: &str,
    clock: Clock,
    holding: &[&str],
    volumes: &[DataVolume],
    snapshots: &[DataSnapshot],
) -> Planned<LaunchPlan> {
    let (waited_seconds, max_wait_seconds) = (clock.waited, clock.max_wait);
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
    let ordered = newest_first(snapshots, volumes);
    // A volume attaches only to an instance in its own zone (AWS: InvalidVolume.ZoneMismatch).
    let here = |v: &&DataVolume| v.availability_zone == availability_zone;
    // Never a second copy: while the data volume is attached elsewhere, the old instance may still
    // write. Only past `fallback_after`, and only once the group no longer holds that instance
    // (its terminate hook done or timed out: a zone gone dark, where EC2 neither detaches nor
    // snapshots the volume), does the launch give it up for the newest completed snapshot; the
    // copy restored so is attached below, and the old volume is left as it is.
    if let Some((v, other)) = volumes
        .iter()
        .filter(live)
        .filter(|v| v.for_instance.as_deref() != Some(instance_id))
        .filter(|v| !left_behind(v, volumes, snapshots))
        .find_map(|v| v.attachments.first().map(|a| (v, &a.instance_id)))
    {
        let restored_here =
            volumes.iter().filter(live).filter(here).any(|v| v.for_instance.as_deref() == Some(instance_id));
        if !restored_here {
            let held = format!("{} is still attached to {other}", v.volume_id);
            if holding.contains(&other.as_str()) {
                return planned(LaunchPlan::Wait, format!("{held}, which the group still holds; waiting for it"));
            }
            return fall_back(instance_id, availability_zone, clock, &ordered, &held)
                .unwrap_or_else(|| planned(LaunchPlan::Wait, format!("{held}; waiting for it to be released")));
        }
    }
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
    match freshest(availability_zone, volumes, snapshots, &ordered) {
        Some(Freshest::Here(volume_id, device, why)) => return planned(LaunchPlan::Attach { volume_id, device }, why),
        Some(Freshest::Elsewhere(volume, why)) => return carry(volume, why),
        None => {}
    }
    if let Some(newest) = ordered.first() {
        // A pending snapshot whose volume is free was reached by EBS: it completes (incremental
        // snapshots of a busy volume take minutes; a newer one of the same volume queues behind
        // an older one). Waited for, never given up for an older one.
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
                        data_age_seconds: None,
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

/// The newest completed snapshot, restored for a launch that has waited `fallback_after` for newer
/// data (`held` says what holds it): the data is then as old as that snapshot, and the decision says
/// so. None: no fallback is set, it is not time yet, or there is no completed snapshot with a device
/// (the launch waits on, and is abandoned at `max_wait`).
fn fall_back(
    instance_id: &str,
    zone: &str,
    clock: Clock,
    newest_first: &[&DataSnapshot],
    held: &str,
) -> Option<Planned<LaunchPlan>> {
    let after = clock.fallback_after.filter(|after| clock.waited >= *after)?;
    let s = newest_first.iter().find(|s| s.state == SnapshotState::Completed)?;
    let device = s.device.clone()?;
    let age = (clock.now - s.start_time).max(0);
    if let Some(max_age) = clock.max_age.filter(|max| age > *max) {
        let why = format!(
            "{held} after {}s; the newest completed snapshot {} is {age}s old, more than {max_age}s (twice \
             SNAPSHOT_EVERY_SECONDS: the periodic snapshots have been failing): not restoring it on its own; waiting",
            clock.waited, s.snapshot_id
        );
        return Some(planned(LaunchPlan::Wait, why));
    }
    let why = format!(
        "{held} after {}s (DATA_WAIT_SECONDS {after}): restoring the newest completed snapshot {} in {zone} for \
         {instance_id}; its data is {age}s old, and what was written after it is not on the new volume \
         (the old volume and snapshots are left as they are)",
        clock.waited, s.snapshot_id
    );
    let plan = LaunchPlan::Restore {
        snapshot_id: s.snapshot_id.clone(),
        availability_zone: zone.into(),
        device,
        spec: s.spec.clone(),
        data_age_seconds: Some(age),
    };
    Some(planned(plan, why))
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
/// Snapshots of a branch the group left ([`forked`]) are not among them.
pub(super) fn newest_first<'a>(snapshots: &'a [DataSnapshot], volumes: &[DataVolume]) -> Vec<&'a DataSnapshot> {
    let kept: Vec<&DataSnapshot> = snapshots.iter().filter(|s| !forked(s, volumes, snapshots)).collect();
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
    let mut ordered: Vec<(&DataSnapshot, usize)> = kept.into_iter().map(|s| (s, generation(s))).collect();
    ordered.sort_by_key(|(s, generation)| std::cmp::Reverse((s.start_time, *generation)));
    ordered.into_iter().map(|(s, _)| s).collect()
}

/// Whether `s` is of a branch the group left: a snapshot of a volume taken after the snapshot of the
/// same volume that a copy which has served was restored from. That copy's data went on from the
/// older point (a launch fell back to it while the volume was out of reach, in a dark zone): a
/// snapshot of the old volume completing later (its terminate snapshot, once the zone is back)
/// holds writes the group no longer has, and restoring it would undo everything written since.
/// Such snapshots are never restored, and never deleted (the old writes may be wanted by hand).
pub fn forked(s: &DataSnapshot, volumes: &[DataVolume], snapshots: &[DataSnapshot]) -> bool {
    let Some(source) = s.volume.as_deref() else { return false };
    volumes
        .iter()
        .filter(|w| w.attached.is_some())
        .filter_map(|w| origin(w, snapshots))
        .any(|(volume, time)| volume == source && time < s.start_time)
}

/// Where a restored volume's data came from: the volume its snapshot was taken of, and when. Read
/// from its own tags (written at the restore, so that the lineage outlives the snapshot, which
/// retention may prune), else from the snapshot itself.
fn origin<'a>(w: &'a DataVolume, snapshots: &'a [DataSnapshot]) -> Option<(&'a str, i64)> {
    if let Some(o) = &w.origin {
        return Some((o.volume.as_str(), o.time));
    }
    let p = snapshots.iter().find(|p| Some(p.snapshot_id.as_str()) == w.restored_from.as_deref())?;
    Some((p.volume.as_deref()?, p.start_time))
}

/// Whether the group has moved on from `v`: a copy restored from a snapshot of it has served since.
/// Whatever `v` holds beyond that snapshot is a branch the group left ([`forked`]): it neither
/// holds a launch back while attached to its old instance nor counts as newer data.
fn left_behind(v: &DataVolume, volumes: &[DataVolume], snapshots: &[DataSnapshot]) -> bool {
    volumes
        .iter()
        .filter(|w| w.attached.is_some())
        .any(|w| origin(w, snapshots).is_some_and(|(volume, _)| volume == v.volume_id))
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
/// 1. a volume that served after the newest snapshot: a copy restored from it that was attached
///    since (no snapshot of it exists: its terminate hook never snapshotted it), or the volume
///    the newest snapshot was taken of on schedule, whose instance went on writing after it;
/// 2. in this zone, the source of the newest snapshot (at least as new; a pending snapshot does
///    not need its volume);
/// 3. in this zone, a copy of the newest completed snapshot that was never attached (restored for
///    a launch that was abandoned).
fn freshest<'a>(
    zone: &str,
    volumes: &'a [DataVolume],
    snapshots: &[DataSnapshot],
    newest_first: &[&DataSnapshot],
) -> Option<Freshest<'a>> {
    let free = |v: &&DataVolume| v.state == VolumeState::Available && v.attachments.is_empty();
    let is_source = |v: &DataVolume| newest_first.iter().any(|s| s.volume.as_deref() == Some(v.volume_id.as_str()));
    let newest = newest_first.iter().find(|s| s.state != SnapshotState::Error)?;
    let copy_of_newest = |v: &DataVolume| {
        v.restored_from.as_deref() == Some(newest.snapshot_id.as_str()) && v.attached.is_some() && !is_source(v)
    };
    // Attached after its periodic snapshot (to that instance, which wrote on, or to another since):
    // newer than it, unless the group has moved on from it.
    let wrote_on = |v: &DataVolume| {
        newest.volume.as_deref() == Some(v.volume_id.as_str())
            && newest.periodic.is_some()
            && v.attached.is_some()
            && !left_behind(v, volumes, snapshots)
    };
    if let Some(v) = volumes.iter().filter(free).find(|v| copy_of_newest(v) || wrote_on(v)) {
        let by = v.attached.as_deref().unwrap_or("an instance");
        let history = if wrote_on(v) {
            format!("attached to {by} after the periodic snapshot {} of it", newest.snapshot_id)
        } else {
            format!("restored from {}, then attached to {by}", newest.snapshot_id)
        };
        if v.availability_zone != zone {
            let why = format!(
                "{} ({history}) holds newer data than any snapshot and is in {}, not {zone}; snapshotting it to carry it over",
                v.volume_id, v.availability_zone
            );
            return Some(Freshest::Elsewhere(v, why));
        }
        let device = v.device.clone()?;
        let why = format!("{} ({history}) holds newer data than any snapshot; attaching it at {device}", v.volume_id);
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
