//! Group mode when a zone goes dark, end to end against the local AWS: the sweep snapshots the
//! serving instance's data on schedule (`SNAPSHOT_EVERY_SECONDS`), and a replacement whose newer
//! data is stuck in the dark zone restores the newest completed snapshot past `DATA_WAIT_SECONDS`,
//! saying how old its data is.

mod support;

use ec2_failover::decision::Verdict;
use ec2_failover::group::Config;
use ec2_failover::record::HasFacts;
use serde_json::json;
use support::group::{event_file, start, tag, Scene, GROUP, LAUNCH_HOOK, TERMINATE_HOOK};

fn sweep() -> serde_json::Value {
    event_file("scheduled-reconcile.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_snapshots_the_serving_instance_s_data_on_schedule_once_per_interval() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    let every = Config { snapshot_every_seconds: Some(3_600), ..Config::default() };
    let handler = scene.handler_with(&proxy, every);

    let taken = handler.handle(&sweep()).await.unwrap();
    assert_eq!(taken.verdict, Verdict::Preserve, "{}", taken.reason);
    assert!(taken.reason.contains("on schedule"), "{}", taken.reason);
    let snapshots = scene.snapshots().await;
    assert_eq!(snapshots.len(), 1);
    let s = &snapshots[0];
    assert_eq!(s.volume_id(), Some(data.as_str()));
    assert_eq!(tag(s.tags(), "ec2-failover:periodic"), Some(scene.first.clone()));
    assert_eq!(tag(s.tags(), "ec2-failover:volume"), Some(data.clone()));
    assert_eq!(tag(s.tags(), "ec2-failover:instance"), None, "a periodic snapshot is no terminate snapshot");

    // Within the hour the next sweeps take none (EBS would also refuse one within 15 s).
    let again = handler.handle(&sweep()).await.unwrap();
    assert_eq!(again.verdict, Verdict::NoChange, "{}", again.reason);
    assert_eq!(scene.snapshots().await.len(), 1);

    // Off (the default): never.
    let (moto2, proxy2) = start();
    let (scene2, _) = Scene::stateful(&moto2, &proxy2).await;
    let off = scene2.handler(&proxy2).handle(&sweep()).await.unwrap();
    assert_eq!(off.verdict, Verdict::NoChange, "{}", off.reason);
    assert!(scene2.snapshots().await.is_empty());
    drop((moto, moto2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_dark_zone_the_replacement_restores_the_newest_periodic_snapshot_and_says_how_old() {
    let (moto, proxy) = start();
    // A periodic snapshot, then the terminate hook's a moment later: EBS asks 15 s between two
    // snapshots of a volume (SnapshotCreationPerVolumeRateExceeded), which the test compresses.
    proxy.configure(&json!({"snapshot_rate_seconds": 0}));
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    // A DATA_WAIT_SECONDS of 0: the test does not wait ten minutes (the function itself takes 60 s and more).
    let config = Config { snapshot_every_seconds: Some(3_600), data_wait_seconds: 0, ..Config::default() };
    let handler = scene.handler_with(&proxy, config);
    let first = scene.first.clone();
    assert_eq!(handler.handle(&sweep()).await.unwrap().verdict, Verdict::Preserve);
    let periodic = scene.snapshots().await[0].snapshot_id().unwrap().to_owned();

    // us-east-1a goes dark. Auto Scaling replaces the instance in us-east-1b; EC2 keeps the old one
    // and its volume attached (moto releases it at once: attached again by hand, as in group_e2e).
    proxy.dark_zone("us-east-1a", true);
    proxy.hold(GROUP, TERMINATE_HOOK, &first, "terminating");
    let new = scene.replace_into_the_other_az().await;
    proxy.hold(GROUP, LAUNCH_HOOK, &new, "launching");
    scene.ec2.attach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();

    // While its terminate hook holds the old instance, the launch waits for it, however long.
    let held = handler.handle(&scene.launch(&new)).await.unwrap();
    assert_eq!(held.verdict, Verdict::Wait, "{}", held.reason);
    assert!(held.reason.contains("which the group still holds"), "{}", held.reason);

    // The terminate hook's snapshot is accepted but never completes in the dark zone.
    let preserved = handler.handle(&scene.terminate(&first)).await.unwrap();
    assert_eq!(preserved.verdict, Verdict::Preserve, "{}", preserved.reason);
    let stuck: Vec<String> = scene
        .snapshots()
        .await
        .iter()
        .filter(|s| tag(s.tags(), "ec2-failover:instance").as_deref() == Some(first.as_str()))
        .map(|s| s.snapshot_id().unwrap().to_owned())
        .collect();
    assert_eq!(stuck.len(), 1);
    let shown = support::Moto::client_at(&proxy.endpoint);
    let state =
        shown.describe_snapshots().snapshot_ids(&stuck[0]).send().await.unwrap().snapshots()[0].state().cloned();
    assert_eq!(state.as_ref().map(|s| s.as_str()), Some("pending"));

    // The launch: the old volume is out of reach; past DATA_WAIT_SECONDS the newest completed
    // snapshot (the periodic one) is restored in us-east-1b, and the decision says how old it is.
    let fallen = handler.handle(&scene.launch(&new)).await.unwrap();
    assert_eq!(fallen.verdict, Verdict::Wait, "{}", fallen.reason);
    assert!(
        fallen.reason.contains(&format!("restoring the newest completed snapshot {periodic}")),
        "{}",
        fallen.reason
    );
    assert!(fallen.reason.contains("s old"), "{}", fallen.reason);
    let age = fallen.facts().data_age_seconds.expect("the decision line carries the data's age");
    assert!((0..300).contains(&age), "{age}");
    let line = serde_json::to_value(fallen.facts()).unwrap();
    assert_eq!(line["data_age_seconds"], json!(age));

    // The copy is attached next (not a second copy while the old volume stays out of reach), then
    // the IP moves and the launch goes on. The old volume is left as it is.
    let attaching = handler.handle(&sweep()).await.unwrap();
    assert_eq!(attaching.verdict, Verdict::Wait, "{}", attaching.reason);
    assert!(attaching.reason.contains("attaching it"), "{}", attaching.reason);
    let copies = scene.volumes_on(&new).await;
    assert_eq!(copies.len(), 1);
    // The copy keeps where its data came from, for when the snapshot is pruned.
    let copy = scene.volume(&copies[0]).await;
    assert_eq!(tag(copy.tags(), "ec2-failover:from-volume"), Some(data.clone()));
    assert!(tag(copy.tags(), "ec2-failover:from-time").is_some());
    proxy.settle(&[&copies[0]]);
    let done = handler.handle(&sweep()).await.unwrap();
    assert_eq!(done.verdict, Verdict::Follow, "{}", done.reason);
    assert_eq!(scene.holder().await, Some((new.clone(), "us-east-1b".to_owned())));
    let creates = proxy.log().iter().filter(|r| r.action == "CreateVolume" && r.status == Some(200)).count();
    assert_eq!(creates, 1);
    assert_eq!(scene.volume(&data).await.attachments()[0].instance_id(), Some(first.as_str()));
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_snapshot_ebs_asks_to_wait_for_fails_nothing_and_is_taken_by_a_later_sweep() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    let handler = scene.handler_with(&proxy, Config { snapshot_every_seconds: Some(3_600), ..Config::default() });
    // Someone else snapshots the volume a moment before (a backup tool): EBS asks 15 s between two.
    let shown = support::Moto::client_at(&proxy.endpoint);
    shown.create_snapshot().volume_id(&data).send().await.unwrap();

    let swept = handler.handle(&sweep()).await.expect("a snapshot EBS asks to wait for fails no invocation");
    assert_eq!(swept.verdict, Verdict::Preserve, "{}", swept.reason);
    let refused = swept.actions.iter().find(|r| r.status == ec2_failover::decision::Status::Failed);
    let refused = refused.and_then(|r| r.error.clone()).expect("the refusal is on the line");
    assert!(refused.contains("SnapshotCreationPerVolumeRateExceeded"), "{refused}");
    assert!(scene.snapshots().await.is_empty(), "none of the function's");

    proxy.configure(&json!({"snapshot_rate_seconds": 0, "keep_lifecycle": true}));
    let later = handler.handle(&sweep()).await.unwrap();
    assert_eq!(later.verdict, Verdict::Preserve, "{}", later.reason);
    assert_eq!(scene.snapshots().await.len(), 1);
    drop(moto);
}
