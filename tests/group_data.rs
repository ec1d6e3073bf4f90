//! The stateful group's data policy as tables: launch, terminate, retention. Pure.
//!
//! The launch and terminate tables read one case a line: name, (waited,) the plan it must give, then
//! the volumes and snapshots observed, built with `vol(..)` and `snap(..)`. The plan comes before the
//! observed data so that it stays in view; the rows are laid out by hand, hence `#[rustfmt::skip]`.

use ec2_failover::group::data::{plan_launch, Clock, LaunchPlan, Planned};
use ec2_failover::group::keep::{
    leftovers, plan_periodic, plan_terminate, retention, retired, PeriodicPlan, TerminatePlan,
};
use ec2_failover::group::world::{
    Attachment, AttachmentState, DataSnapshot, DataVolume, SnapshotState, VolumeSpec, VolumeState,
};

const NEW: &str = "i-new";
const OLD: &str = "i-old";

fn volume(id: &str, state: &str, az: &str, attached: Option<&str>, for_instance: Option<&str>) -> DataVolume {
    DataVolume {
        volume_id: id.into(),
        key: "web".into(),
        state: VolumeState::from_name(state),
        availability_zone: az.into(),
        attachments: attached.map(|i| vec![Attachment::attached(i, "/dev/xvdf")]).unwrap_or_default(),
        for_instance: for_instance.map(Into::into),
        device: Some("/dev/xvdf".into()),
        restored_from: None,
        attached: None,
        origin: None,
        spec: gp3(),
    }
}

fn snapshot(id: &str, state: &str, start_time: i64, instance: Option<&str>) -> DataSnapshot {
    DataSnapshot {
        snapshot_id: id.into(),
        key: "web".into(),
        state: SnapshotState::from_name(state),
        start_time,
        instance: instance.map(Into::into),
        periodic: None,
        device: Some("/dev/xvdf".into()),
        volume: None,
        spec: gp3(),
    }
}

fn gp3() -> VolumeSpec {
    VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) }
}

/// The zones: the old instance ran in A, the new one launches in B.
const A: &str = "us-east-1a";
const B: &str = "us-east-1b";

/// A data volume of the group, attached to nothing: `vol(id, state, zone)`, then `.on(i)` attached
/// to i, `.made_for(i)` restored for i's launch, `.copy_of(s)` restored from snapshot s, `.served(i)`
/// has been attached to i.
fn vol(id: &str, state: &str, az: &str) -> DataVolume {
    volume(id, state, az, None, None)
}

/// A snapshot of the group: `snap(id, state, start_time)`, then `.by(i)` taken of instance i's data,
/// `.of(v)` taken of volume v.
fn snap(id: &str, state: &str, start_time: i64) -> DataSnapshot {
    snapshot(id, state, start_time, None)
}

trait VolumeBuilder {
    fn on(self, instance: &str) -> Self;
    fn made_for(self, instance: &str) -> Self;
    fn copy_of(self, snapshot: &str) -> Self;
    fn served(self, instance: &str) -> Self;
}

impl VolumeBuilder for DataVolume {
    fn on(self, instance: &str) -> Self {
        DataVolume { attachments: vec![Attachment::attached(instance, "/dev/xvdf")], ..self }
    }
    fn made_for(self, instance: &str) -> Self {
        DataVolume { for_instance: Some(instance.into()), ..self }
    }
    fn copy_of(self, snapshot: &str) -> Self {
        copy(snapshot, self)
    }
    fn served(self, instance: &str) -> Self {
        served(instance, self)
    }
}

trait SnapshotBuilder {
    fn by(self, instance: &str) -> Self;
    fn of(self, volume: &str) -> Self;
}

impl SnapshotBuilder for DataSnapshot {
    fn by(self, instance: &str) -> Self {
        DataSnapshot { instance: Some(instance.into()), ..self }
    }
    fn of(self, volume: &str) -> Self {
        from(volume, self)
    }
}

/// Plans the launch of NEW in zone B after `waited` seconds (of at most 1800) and compares the plan.
#[track_caller]
fn check_launch(name: &str, waited: i64, expected: LaunchPlan, volumes: &[DataVolume], snapshots: &[DataSnapshot]) {
    let clock = Clock { now: 1_000, waited, max_wait: 1_800, fallback_after: None, max_age: None };
    let Planned { plan, why } = plan_launch(NEW, B, clock, &[], volumes, snapshots);
    assert_eq!(plan, expected, "{name}: {why}");
    assert!(!why.is_empty());
}

#[test]
#[rustfmt::skip]
fn launch_table() {
    use LaunchPlan::{Abandon, Ready, Wait};
    let restore = |id: &str| LaunchPlan::Restore {
        snapshot_id: id.into(),
        availability_zone: B.into(),
        device: "/dev/xvdf".into(),
        spec: gp3(),
        data_age_seconds: None,
    };
    let carry = |id: &str| LaunchPlan::Carry { volume_id: id.into(), device: "/dev/xvdf".into(), spec: gp3() };
    let attach = |id: &str| LaunchPlan::Attach { volume_id: id.into(), device: "/dev/xvdf".into() };
    //           name                                                                                                     waited plan               volumes                                                                                                            snapshots
    check_launch("data already attached here",                                                                            0,     Ready,             &[vol("vol-r", "in-use", B).on(NEW).made_for(NEW)],                                                                &[]);
    check_launch("the old instance still holds the volume: never a second copy",                                          0,     Wait,              &[vol("vol-a", "in-use", A).on(OLD)],                                                                              &[snap("snap-1", "completed", 10).by(OLD)]);
    check_launch("newest snapshot completed: restore it in the new zone",                                                 0,     restore("snap-1"), &[vol("vol-a", "available", A)],                                                                                   &[snap("snap-old", "completed", 5), snap("snap-1", "completed", 10).by(OLD)]);
    check_launch("newest snapshot pending: wait",                                                                         0,     Wait,              &[],                                                                                                               &[snap("snap-1", "pending", 10).by(OLD)]);
    check_launch("newest snapshot failed: the newest completed one",                                                      0,     restore("snap-0"), &[],                                                                                                               &[snap("snap-0", "completed", 5), snap("snap-1", "error", 10).by(OLD)]);
    check_launch("no snapshot ever completed",                                                                            0,     Abandon,           &[],                                                                                                               &[snap("snap-1", "error", 10)]);
    check_launch("the restored volume is still creating",                                                                 0,     Wait,              &[vol("vol-r", "creating", B).made_for(NEW)],                                                                      &[snap("snap-1", "completed", 10)]);
    check_launch("the restored volume is available: attach it",                                                           0,     attach("vol-r"),   &[vol("vol-r", "available", B).made_for(NEW)],                                                                     &[snap("snap-1", "completed", 10)]);
    check_launch("a volume made for this instance in another zone cannot be attached: restore here",                      0,     restore("snap-1"), &[vol("vol-r", "available", A).made_for(NEW)],                                                                     &[snap("snap-1", "completed", 10)]);
    check_launch("first launch, seed volume in this zone",                                                                0,     attach("vol-s"),   &[vol("vol-s", "available", B)],                                                                                   &[]);
    check_launch("first launch, the seed volume is still being created: wait, never serve without it",             0,     LaunchPlan::Wait, &[vol("vol-s", "creating", B) ],                                                                                   &[]);
    check_launch("first launch, seed volume in the other zone: carry it by snapshot",                                     0,     carry("vol-s"),    &[vol("vol-s", "available", A)],                                                                                   &[]);
    check_launch("a group with no data at all: the IP only",                                                              0,     Ready,             &[],                                                                                                               &[]);
    check_launch("the source of the newest snapshot is free in this zone: attach it, even while the snapshot is pending", 0,     attach("vol-a"),   &[vol("vol-a", "available", B)],                                                                                   &[snap("snap-1", "pending", 10).by(OLD).of("vol-a")]);
    check_launch("the source of the newest snapshot is in the other zone: restore",                                       0,     restore("snap-1"), &[vol("vol-a", "available", A)],                                                                                   &[snap("snap-1", "completed", 10).by(OLD).of("vol-a")]);
    check_launch("a copy of the newest snapshot restored for an abandoned launch, in this zone: reused",                  0,     attach("vol-c"),   &[vol("vol-c", "available", B).made_for("i-gone").copy_of("snap-1")],                                              &[snap("snap-1", "completed", 10).by(OLD)]);
    check_launch("a copy that served after the newest snapshot (no terminate snapshot of it), here: attach it",           0,     attach("vol-c"),   &[vol("vol-c", "available", B).made_for("i-mid").copy_of("snap-1").served("i-mid")],                               &[snap("snap-1", "completed", 10).by(OLD).of("vol-a")]);
    check_launch("a copy that served after the newest snapshot, in the other zone: carry it, never roll back",            0,     carry("vol-c"),    &[vol("vol-c", "available", A).made_for("i-mid").copy_of("snap-1").served("i-mid")],                               &[snap("snap-1", "completed", 10).by(OLD).of("vol-a")]);
    check_launch("two snapshots in the same second: the one of the copy restored from the other is newer",                0,     restore("snap-2"), &[vol("vol-a", "available", B), vol("vol-c", "available", A).made_for("i-mid").copy_of("snap-1").served("i-mid")], &[snap("snap-1", "completed", 10).by(OLD).of("vol-a"), snap("snap-2", "completed", 10).of("vol-c")]);
    check_launch("a copy of an older snapshot is not reused",                                                             0,     restore("snap-1"), &[vol("vol-c", "available", B).made_for("i-gone").copy_of("snap-0")],                                              &[snap("snap-0", "completed", 5), snap("snap-1", "completed", 10).by(OLD)]);
    check_launch("a copy in the other zone is not reused",                                                                0,     restore("snap-1"), &[vol("vol-c", "available", A).made_for("i-gone").copy_of("snap-1")],                                              &[snap("snap-1", "completed", 10).by(OLD)]);
    check_launch("a copy that served (a snapshot was taken of it) is not a fresh copy",                                   0,     attach("vol-c"),   &[vol("vol-c", "available", B).made_for("i-mid").copy_of("snap-0")],                                               &[snap("snap-0", "completed", 5), snap("snap-1", "pending", 10).by("i-mid").of("vol-c")]);
    check_launch("waited too long: abandon rather than serve without data",                                               3_600, Abandon,           &[],                                                                                                               &[snap("snap-1", "pending", 10).by(OLD)]);
}

fn from(volume: &str, snapshot: DataSnapshot) -> DataSnapshot {
    DataSnapshot { volume: Some(volume.into()), ..snapshot }
}

fn copy(snapshot: &str, volume: DataVolume) -> DataVolume {
    DataVolume { restored_from: Some(snapshot.into()), ..volume }
}

fn served(instance: &str, volume: DataVolume) -> DataVolume {
    DataVolume { attached: Some(instance.into()), ..volume }
}

#[test]
fn copies_restored_for_launches_that_never_used_them_are_leftovers() {
    let b = "us-east-1b";
    let snapshots = vec![
        snapshot("snap-1", "completed", 10, Some(OLD)),
        from("vol-served", snapshot("snap-2", "completed", 20, None)),
    ];
    let volumes = vec![
        copy("snap-1", volume("vol-unused", "available", b, None, Some("i-gone"))),
        copy("snap-1", volume("vol-member", "available", b, None, Some("i-still-held"))),
        copy("snap-1", volume("vol-mine", "in-use", b, Some(NEW), Some(NEW))),
        copy("snap-1", volume("vol-second-copy-for-me", "available", b, None, Some(NEW))),
        copy("snap-1", volume("vol-attached", "in-use", b, Some("i-x"), Some("i-gone"))),
        copy("snap-1", volume("vol-served", "available", b, None, Some("i-gone"))),
        copy("snap-1", volume("vol-kept", "available", b, None, Some("i-gone"))),
        served("i-gone", copy("snap-1", volume("vol-served-no-snapshot", "available", b, None, Some("i-gone")))),
        volume("vol-original", "available", "us-east-1a", None, None),
    ];
    let members = [NEW, "i-still-held"];
    // NEW has vol-mine attached: a second copy made for it goes too.
    assert_eq!(leftovers(NEW, &members, &volumes, &snapshots), ["vol-unused", "vol-second-copy-for-me", "vol-kept"]);
    // Another instance's launch keeps NEW's copies (NEW is still a member).
    assert_eq!(leftovers("i-other", &members, &volumes, &snapshots), ["vol-unused", "vol-kept"]);
}

#[test]
fn a_served_copy_goes_with_its_last_snapshot_and_the_original_never() {
    let b = "us-east-1b";
    let taken =
        |id: &str, volume: &str, instance: &str, t: i64| from(volume, snapshot(id, "completed", t, Some(instance)));
    let snapshots = vec![
        taken("s1", "vol-original", "i-1", 1),
        taken("s2", "vol-c1", "i-2", 2),
        taken("s3", "vol-c2", "i-3", 3),
        taken("s4", "vol-c3", "i-4", 4),
    ];
    let volumes = vec![
        volume("vol-original", "available", "us-east-1a", None, None),
        served("i-2", copy("s1", volume("vol-c1", "available", b, None, Some("i-2")))),
        served("i-3", copy("s2", volume("vol-c2", "available", b, None, Some("i-3")))),
        // Attached again after its snapshot, and that service never snapshotted: it stays.
        served("i-9", copy("s2", volume("vol-reused", "available", b, None, Some("i-9")))),
        served("i-4", copy("s3", volume("vol-c3", "in-use", b, Some("i-4"), Some("i-4")))),
    ];
    let deleting: Vec<String> = vec!["s1".into(), "s2".into()];
    assert_eq!(retired(&volumes, &snapshots, &deleting), ["vol-c1"]);
    assert!(retired(&volumes, &snapshots, &[]).is_empty());
}

/// Plans the termination of OLD and compares the plan.
#[track_caller]
fn check_terminate(name: &str, expected: TerminatePlan, volumes: &[DataVolume], snapshots: &[DataSnapshot]) {
    let Planned { plan, why } = plan_terminate(OLD, volumes, snapshots);
    assert_eq!(plan, expected, "{name}: {why}");
}

#[test]
#[rustfmt::skip]
fn terminate_table() {
    use TerminatePlan::{Nothing, Refuse};
    let snapshot_of =
        |id: &str| TerminatePlan::Snapshot { volume_id: id.into(), device: "/dev/xvdf".into(), spec: gp3() };
    //              name                                                          plan                  volumes                                                                        snapshots
    check_terminate("the data volume on the terminating instance is snapshotted", snapshot_of("vol-1"), &[vol("vol-1", "in-use", A).on(OLD), vol("vol-x", "in-use", A).on("i-other")], &[]);
    check_terminate("no data volume here",                                        Nothing,              &[vol("vol-x", "in-use", A).on("i-other")],                                    &[]);
    check_terminate("a repeated event: the snapshot is already taken",            Nothing,              &[vol("vol-1", "in-use", A).on(OLD)],                                          &[snap("snap-1", "pending", 10).by(OLD)]);
    check_terminate("two data volumes: ambiguous, none",                          Refuse,               &[vol("vol-1", "in-use", A).on(OLD), vol("vol-2", "in-use", A).on(OLD)],       &[]);
}

#[test]
fn retention_keeps_the_newest_completed_and_every_pending_one() {
    let snapshots = vec![
        snapshot("s1", "completed", 1, None),
        snapshot("s2", "completed", 2, None),
        snapshot("s3", "completed", 3, None),
        snapshot("s4", "pending", 4, None),
        snapshot("s0", "error", 0, None),
    ];
    let mut deleted = retention(&[], &snapshots, 2);
    deleted.sort();
    assert_eq!(deleted, ["s1"]);
    assert_eq!(retention(&[], &snapshots, 0), ["s2", "s1"], "keep 0 still keeps the newest completed");
    assert!(retention(&[], &snapshots, 5).is_empty());
}

/// Plans the launch of NEW in zone B at time 1000 after `waited` seconds, with periodic snapshots
/// on: past 600 s it falls back to the newest completed snapshot no older than 1000 s, unless the
/// group still holds the old volume's instance (`holding`); abandoned past 1800 s.
#[track_caller]
fn check_fallback(
    name: &str,
    waited: i64,
    holding: &[&str],
    expected: LaunchPlan,
    volumes: &[DataVolume],
    snapshots: &[DataSnapshot],
) {
    let clock = Clock { now: 1_000, waited, max_wait: 1_800, fallback_after: Some(600), max_age: Some(1_000) };
    let Planned { plan, why } = plan_launch(NEW, B, clock, holding, volumes, snapshots);
    assert_eq!(plan, expected, "{name}: {why}");
}

trait Periodic {
    fn periodic(self, instance: &str) -> Self;
}

impl Periodic for DataSnapshot {
    /// Taken on schedule while the volume served `instance`.
    fn periodic(self, instance: &str) -> Self {
        DataSnapshot { periodic: Some(instance.into()), ..self }
    }
}

#[test]
#[rustfmt::skip]
fn when_the_old_volume_stays_out_of_reach_the_launch_falls_back_to_the_newest_completed_snapshot() {
    use LaunchPlan::{Abandon, Wait};
    let fallback = |id: &str, age: i64| LaunchPlan::Restore {
        snapshot_id: id.into(),
        availability_zone: B.into(),
        device: "/dev/xvdf".into(),
        spec: gp3(),
        data_age_seconds: Some(age),
    };
    let attach = |id: &str| LaunchPlan::Attach { volume_id: id.into(), device: "/dev/xvdf".into() };
    // The zone of OLD went dark: its volume stays attached (EC2 can neither detach nor read it), its terminate snapshot stays pending.
    let dark = [vol("vol-a", "in-use", A).on(OLD).served(OLD)];
    let periodic = snap("snap-p", "completed", 700).of("vol-a").periodic(OLD);
    let stuck = snap("snap-t", "pending", 900).of("vol-a").by(OLD);
    //              name                                                                              waited holding plan                     volumes   snapshots
    check_fallback("the old volume is still attached: wait for it while DATA_WAIT_SECONDS lasts",   599,   &[],     Wait,                    &dark,    std::slice::from_ref(&periodic));
    check_fallback("then restore the newest completed snapshot, and say how old its data is",       600,   &[],     fallback("snap-p", 300), &dark,    &[snap("snap-0", "completed", 100).by("i-0"), periodic.clone(), stuck.clone()]);
    check_fallback("the group still holds the old instance (its terminate hook): wait for it",      700,   &[OLD],  Wait,                    &dark,    std::slice::from_ref(&periodic));
    check_fallback("the newest completed snapshot is too old (periodic snapshots failing): wait",   700,   &[],     Wait,                    &dark,    &[snap("snap-old", "completed", -100).of("vol-a").periodic(OLD)]);
    check_fallback("no completed snapshot to fall back to: wait",                                  700,   &[],     Wait,                    &dark,    &[snap("snap-e", "error", 700)]);
    check_fallback("past MAX_WAIT_SECONDS: abandoned as before",                                    1_801, &[],     Abandon,                 &dark,    std::slice::from_ref(&periodic));
    // A healthy zone: the old volume was released, its terminate snapshot is merely slow. Never given up for an older one.
    check_fallback("the terminate snapshot pending, its volume free: wait for it, whatever the time", 1_700, &[],   Wait,                    &[vol("vol-a", "available", A).served(OLD)], &[periodic.clone(), stuck.clone()]);
    // The copy the fallback made for NEW is attached, not made again, while the old volume is still out of reach.
    let mine = vol("vol-b", "available", B).made_for(NEW).copy_of("snap-p");
    check_fallback("the fallback's copy is available: attach it",                                  900,   &[],     attach("vol-b"),         &[dark[0].clone(), mine.clone()], &[periodic.clone(), stuck.clone()]);
    check_fallback("the fallback's copy is still creating: wait for it",                           900,   &[],     Wait,                    &[dark[0].clone(), vol("vol-b", "creating", B).made_for(NEW).copy_of("snap-p")], &[periodic.clone(), stuck.clone()]);
    // Without periodic snapshots (check_launch: no fallback) the launch waits as it always did.
    check_launch("without SNAPSHOT_EVERY_SECONDS the launch waits for the old volume",              1_700, Wait,                             &dark,    std::slice::from_ref(&periodic));
}

#[test]
#[rustfmt::skip]
fn a_volume_that_served_after_its_periodic_snapshot_is_newer_than_it() {
    let restore = |id: &str| LaunchPlan::Restore {
        snapshot_id: id.into(),
        availability_zone: B.into(),
        device: "/dev/xvdf".into(),
        spec: gp3(),
        data_age_seconds: None,
    };
    let carry = |id: &str| LaunchPlan::Carry { volume_id: id.into(), device: "/dev/xvdf".into(), spec: gp3() };
    let attach = |id: &str| LaunchPlan::Attach { volume_id: id.into(), device: "/dev/xvdf".into() };
    let periodic = snap("snap-p", "completed", 700).of("vol-a").periodic(OLD);
    //           name                                                                                      waited plan             volumes                                        snapshots
    check_launch("released without a terminate snapshot, in this zone: attach it",                          0,     attach("vol-a"), &[vol("vol-a", "available", B).served(OLD)],   std::slice::from_ref(&periodic));
    check_launch("released without a terminate snapshot, in the other zone: carry it, never roll back",    0,     carry("vol-a"),  &[vol("vol-a", "available", A).served(OLD)],   std::slice::from_ref(&periodic));
    check_launch("a carry snapshot of it came after: restore that (no second carry)",                      0,     restore("snap-c"), &[vol("vol-a", "available", A).served(OLD)], &[periodic.clone(), snap("snap-c", "completed", 800).of("vol-a")]);
    check_launch("its terminate snapshot came after: restore that",                                        0,     restore("snap-t"), &[vol("vol-a", "available", A).served(OLD)], &[periodic.clone(), snap("snap-t", "completed", 800).of("vol-a").by(OLD)]);
    check_launch("attached to another instance since its periodic snapshot: newer still, carried",        0,     carry("vol-a"),  &[vol("vol-a", "available", A).served("i-x")], std::slice::from_ref(&periodic));
}

#[test]
#[rustfmt::skip]
fn the_old_volumes_late_snapshot_after_a_fallback_is_a_branch_never_restored_nor_deleted() {
    let restore = |id: &str| LaunchPlan::Restore {
        snapshot_id: id.into(),
        availability_zone: B.into(),
        device: "/dev/xvdf".into(),
        spec: gp3(),
        data_age_seconds: None,
    };
    // NEW fell back to snap-p and served from vol-b; the dark zone came back and OLD's terminate
    // snapshot of vol-a completed at 900, after snap-p. The next launch (NEXT) must restore vol-b's
    // lineage, not vol-a's late writes.
    let volumes = [
        vol("vol-a", "available", A).served(OLD),
        vol("vol-b", "available", B).made_for("i-mid").copy_of("snap-p").served("i-mid"),
    ];
    let snapshots = [
        snap("snap-p", "completed", 700).of("vol-a").periodic(OLD),
        snap("snap-t", "completed", 900).of("vol-a").by(OLD),
        snap("snap-b", "completed", 950).of("vol-b").by("i-mid"),
    ];
    check_launch("the lineage's newest snapshot is of vol-b, here: attach vol-b", 0,
                 LaunchPlan::Attach { volume_id: "vol-b".into(), device: "/dev/xvdf".into() }, &volumes, &snapshots);
    let elsewhere = [volumes[0].clone(), DataVolume { availability_zone: A.into(), ..volumes[1].clone() }];
    check_launch("vol-b in the other zone: restore the lineage's newest, snap-b", 0, restore("snap-b"), &elsewhere, &snapshots);
    let without_b = &snapshots[..2];
    check_launch("vol-b served after snap-p and no snapshot of it exists: it is the data, not snap-t", 0,
                 LaunchPlan::Attach { volume_id: "vol-b".into(), device: "/dev/xvdf".into() }, &volumes, without_b);
    let still_dark = [vol("vol-a", "in-use", A).on(OLD).served(OLD), volumes[1].clone()];
    check_launch("vol-a still attached to OLD in the dark zone no longer holds a launch back", 0,
                 LaunchPlan::Attach { volume_id: "vol-b".into(), device: "/dev/xvdf".into() }, &still_dark, &snapshots[..1]);
    // Retention keeps KEEP_SNAPSHOTS of the lineage, and never the branch's.
    let more = [
        snapshots[0].clone(), snapshots[1].clone(), snapshots[2].clone(),
        snap("snap-b2", "completed", 960).of("vol-b").periodic("i-mid"),
    ];
    let mut deleted = retention(&volumes, &more, 1);
    deleted.sort();
    assert_eq!(deleted, ["snap-b", "snap-p"], "snap-t is of the branch the group left: kept");
    assert_eq!(retention(&[], &more, 1).len(), 3, "without the volumes there is no branch to see");
}

#[test]
#[rustfmt::skip]
fn the_branch_stays_a_branch_once_the_snapshot_it_forked_at_is_pruned() {
    use ec2_failover::group::world::Origin;
    // As above, two prunes later: snap-p, which vol-b was restored from, is gone; vol-b keeps its
    // origin in its own tags (ec2-failover:from-volume, ec2-failover:from-time).
    let with_origin = |v: DataVolume| DataVolume { origin: Some(Origin { volume: "vol-a".into(), time: 700 }), ..v };
    let volumes = [
        vol("vol-a", "in-use", A).on(OLD).served(OLD),
        with_origin(vol("vol-b", "available", A).made_for("i-mid").copy_of("snap-p").served("i-mid")),
    ];
    let snapshots = [
        snap("snap-t", "completed", 900).of("vol-a").by(OLD),
        snap("snap-b2", "completed", 800).of("vol-b").periodic("i-mid"),
        snap("snap-b3", "completed", 850).of("vol-b").periodic("i-mid"),
    ];
    // snap-t (900) is the newest by time, but of the branch: never restored, and vol-a, still
    // attached to OLD in the dark zone, holds no launch back.
    let carry = LaunchPlan::Carry { volume_id: "vol-b".into(), device: "/dev/xvdf".into(), spec: gp3() };
    check_launch("the lineage's vol-b served after its newest snapshot: carried, not snap-t restored", 0, carry, &volumes, &snapshots);
    let mut deleted = retention(&volumes, &snapshots, 1);
    deleted.sort();
    assert_eq!(deleted, ["snap-b2"], "snap-t is of the branch: kept; the lineage keeps its newest");
    // Without the origin tag (a copy restored before it was written) the branch is not seen.
    let untagged = [volumes[0].clone(), DataVolume { origin: None, ..volumes[1].clone() }];
    assert_eq!(retention(&untagged, &snapshots, 1).len(), 2);
}

/// Plans a periodic snapshot of NEW's data at time 10000, every 3600 s.
#[track_caller]
fn check_periodic(name: &str, expected: &PeriodicPlan, volumes: &[DataVolume], snapshots: &[DataSnapshot]) {
    let Planned { plan, why } = plan_periodic(NEW, 10_000, 3_600, volumes, snapshots);
    assert_eq!(&plan, expected, "{name}: {why}");
}

#[test]
#[rustfmt::skip]
fn periodic_snapshots_are_taken_when_due_one_at_a_time() {
    use PeriodicPlan::Nothing;
    let due = PeriodicPlan::Snapshot { volume_id: "vol-b".into(), device: "/dev/xvdf".into(), spec: gp3() };
    let mine = [vol("vol-b", "in-use", B).on(NEW)];
    //             name                                                                         plan     volumes  snapshots
    check_periodic("no snapshot yet: take one",                                                  &due,    &mine,   &[]);
    check_periodic("the newest is an hour old: take one",                                        &due,    &mine,   &[snap("s1", "completed", 6_400).of("vol-b")]);
    check_periodic("the newest is younger: not due",                                             &Nothing, &mine,  &[snap("s1", "completed", 6_401).of("vol-b")]);
    check_periodic("the terminate snapshot the data was restored from counts",                   &Nothing, &mine,  &[snap("s0", "completed", 9_000).of("vol-a").by(OLD)]);
    check_periodic("a failed one does not count",                                                &due,    &mine,   &[snap("s1", "completed", 1_000).of("vol-b"), snap("s2", "error", 9_999).of("vol-b")]);
    check_periodic("one of this volume still pending: wait for it",                              &Nothing, &mine,  &[snap("s1", "pending", 1_000).of("vol-b")]);
    check_periodic("another volume's stuck snapshot does not block it",                         &due,    &mine,   &[snap("s1", "completed", 1_000).of("vol-b"), snap("s2", "pending", 2_000).of("vol-a")]);
    check_periodic("nothing attached to the serving instance",                                  &Nothing, &[vol("vol-b", "in-use", B).on("i-x")], &[]);
    check_periodic("still attaching: not yet",                                                   &Nothing, &[DataVolume { attachments: vec![Attachment { instance_id: NEW.into(), device: "/dev/xvdf".into(), state: AttachmentState::Attaching }], ..vol("vol-b", "in-use", B) }], &[]);
    check_periodic("two data volumes: which is the data is not clear",                           &Nothing, &[vol("vol-b", "in-use", B).on(NEW), vol("vol-c", "in-use", B).on(NEW)], &[]);
}

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_reads_the_tagged_volumes_and_snapshots_from_ec2() {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let moto = support::Moto::start();
    let ec2 = moto.client();
    let tagged = |resource: ResourceType, extra: &[(&str, &str)]| {
        let mut spec = TagSpecification::builder()
            .resource_type(resource)
            .tags(Tag::builder().key("ec2-failover:group").value("web").build());
        for (k, v) in extra {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        spec.build()
    };
    let volume = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(8)
        .tag_specifications(tagged(
            ResourceType::Volume,
            &[
                ("ec2-failover:device", "/dev/xvdf"),
                ("ec2-failover:snapshot", "snap-0"),
                ("ec2-failover:attached", "i-mid"),
            ],
        ))
        .send()
        .await
        .unwrap();
    let volume_id = volume.volume_id().unwrap().to_owned();
    ec2.create_volume().availability_zone("us-east-1a").size(8).send().await.unwrap(); // untagged: not the group's
    let snapshot = ec2
        .create_snapshot()
        .volume_id(&volume_id)
        .tag_specifications(tagged(
            ResourceType::Snapshot,
            &[
                ("ec2-failover:instance", "i-old"),
                ("ec2-failover:iops", "3000"),
                ("ec2-failover:volume", &volume_id),
                ("ec2-failover:time", "2026-11-26T07:00:00Z"),
            ],
        ))
        .send()
        .await
        .unwrap();
    // A backup (DLM, AWS Backup) copies the volume's tags, the group's included: not the
    // function's snapshot, so never restored from and never pruned.
    ec2.create_snapshot()
        .volume_id(&volume_id)
        .tag_specifications(tagged(ResourceType::Snapshot, &[("ec2-failover:device", "/dev/xvdf")]))
        .send()
        .await
        .unwrap();

    let (volumes, snapshots) = ec2_failover::group::aws::observe_data(&ec2).await.unwrap();
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!((volumes[0].volume_id.as_str(), volumes[0].key.as_str()), (volume_id.as_str(), "web"));
    assert_eq!(volumes[0].device.as_deref(), Some("/dev/xvdf"));
    assert_eq!(volumes[0].availability_zone, "us-east-1a");
    assert_eq!((volumes[0].restored_from.as_deref(), volumes[0].attached.as_deref()), (Some("snap-0"), Some("i-mid")));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0].snapshot_id, snapshot.snapshot_id().unwrap());
    assert_eq!(snapshots[0].instance.as_deref(), Some("i-old"));
    assert_eq!(snapshots[0].spec.iops, Some(3000));
    assert_eq!(snapshots[0].volume.as_deref(), Some(volume_id.as_str()));
    assert!(snapshots[0].start_time > 0);
}
