//! The stateful group's data policy as tables: launch, terminate, retention. Pure.

use ec2_failover::data::{plan_launch, plan_terminate, retention, DataSnapshot, DataVolume, LaunchPlan, TerminatePlan};

const NEW: &str = "i-new";
const OLD: &str = "i-old";

fn volume(id: &str, state: &str, az: &str, attached: Option<&str>, for_instance: Option<&str>) -> DataVolume {
    DataVolume {
        volume_id: id.into(),
        state: state.into(),
        availability_zone: az.into(),
        attachments: attached.map(|i| vec![(i.to_owned(), "/dev/xvdf".to_owned())]).unwrap_or_default(),
        for_instance: for_instance.map(Into::into),
        device: Some("/dev/xvdf".into()),
    }
}

fn snapshot(id: &str, state: &str, start_time: i64, instance: Option<&str>) -> DataSnapshot {
    DataSnapshot {
        snapshot_id: id.into(),
        state: state.into(),
        start_time,
        instance: instance.map(Into::into),
        device: Some("/dev/xvdf".into()),
        volume_type: Some("gp3".into()),
        iops: Some(3000),
        throughput: Some(125),
    }
}

#[test]
fn launch_table() {
    let b = "us-east-1b";
    let restore = |id: &str| LaunchPlan::Restore { snapshot_id: id.into(), availability_zone: b.into() };
    let attach = |id: &str| LaunchPlan::Attach { volume_id: id.into(), device: "/dev/xvdf".into() };
    type Case = (&'static str, i64, Vec<DataVolume>, Vec<DataSnapshot>, LaunchPlan);
    let cases: Vec<Case> = vec![
        (
            "data already attached here",
            0,
            vec![volume("vol-r", "in-use", b, Some(NEW), Some(NEW))],
            vec![],
            LaunchPlan::Ready,
        ),
        (
            "the old instance still holds the volume: never a second copy",
            0,
            vec![volume("vol-a", "in-use", "us-east-1a", Some(OLD), None)],
            vec![snapshot("snap-1", "completed", 10, Some(OLD))],
            LaunchPlan::Wait,
        ),
        (
            "newest snapshot completed: restore it in the new zone",
            0,
            vec![volume("vol-a", "available", "us-east-1a", None, None)],
            vec![snapshot("snap-old", "completed", 5, None), snapshot("snap-1", "completed", 10, Some(OLD))],
            restore("snap-1"),
        ),
        (
            "newest snapshot pending: wait",
            0,
            vec![],
            vec![snapshot("snap-1", "pending", 10, Some(OLD))],
            LaunchPlan::Wait,
        ),
        (
            "newest snapshot failed: the newest completed one",
            0,
            vec![],
            vec![snapshot("snap-0", "completed", 5, None), snapshot("snap-1", "error", 10, Some(OLD))],
            restore("snap-0"),
        ),
        ("no snapshot ever completed", 0, vec![], vec![snapshot("snap-1", "error", 10, None)], LaunchPlan::Abandon),
        (
            "the restored volume is still creating",
            0,
            vec![volume("vol-r", "creating", b, None, Some(NEW))],
            vec![snapshot("snap-1", "completed", 10, None)],
            LaunchPlan::Wait,
        ),
        (
            "the restored volume is available: attach it",
            0,
            vec![volume("vol-r", "available", b, None, Some(NEW))],
            vec![snapshot("snap-1", "completed", 10, None)],
            attach("vol-r"),
        ),
        (
            "first launch, seed volume in this zone",
            0,
            vec![volume("vol-s", "available", b, None, None)],
            vec![],
            attach("vol-s"),
        ),
        (
            "first launch, seed volume in the other zone: carry it by snapshot",
            0,
            vec![volume("vol-s", "available", "us-east-1a", None, None)],
            vec![],
            LaunchPlan::Carry { volume_id: "vol-s".into() },
        ),
        ("a group with no data at all: the IP only", 0, vec![], vec![], LaunchPlan::Ready),
        (
            "waited too long: abandon rather than serve without data",
            3_600,
            vec![],
            vec![snapshot("snap-1", "pending", 10, Some(OLD))],
            LaunchPlan::Abandon,
        ),
    ];
    for (name, waited, volumes, snapshots, expected) in cases {
        let (plan, why) = plan_launch(NEW, b, waited, 1_800, &volumes, &snapshots);
        assert_eq!(plan, expected, "{name}: {why}");
        assert!(!why.is_empty());
    }
}

#[test]
fn terminate_table() {
    let a = "us-east-1a";
    let two = vec![volume("vol-1", "in-use", a, Some(OLD), None), volume("vol-2", "in-use", a, Some(OLD), None)];
    let cases: Vec<(&str, Vec<DataVolume>, Vec<DataSnapshot>, TerminatePlan)> = vec![
        (
            "the data volume on the terminating instance is snapshotted",
            vec![volume("vol-1", "in-use", a, Some(OLD), None), volume("vol-x", "in-use", a, Some("i-other"), None)],
            vec![],
            TerminatePlan::Snapshot { volume_id: "vol-1".into(), device: "/dev/xvdf".into() },
        ),
        (
            "no data volume here",
            vec![volume("vol-x", "in-use", a, Some("i-other"), None)],
            vec![],
            TerminatePlan::Nothing,
        ),
        (
            "a repeated event: the snapshot is already taken",
            vec![volume("vol-1", "in-use", a, Some(OLD), None)],
            vec![snapshot("snap-1", "pending", 10, Some(OLD))],
            TerminatePlan::Nothing,
        ),
        ("two data volumes: ambiguous, none", two, vec![], TerminatePlan::Refuse),
    ];
    for (name, volumes, snapshots, expected) in cases {
        let (plan, why) = plan_terminate(OLD, &volumes, &snapshots);
        assert_eq!(plan, expected, "{name}: {why}");
    }
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
    let mut deleted = retention(&snapshots, 2);
    deleted.sort();
    assert_eq!(deleted, ["s1"]);
    assert_eq!(retention(&snapshots, 0), ["s2", "s1"], "keep 0 still keeps the newest completed");
    assert!(retention(&snapshots, 5).is_empty());
}
