//! The scenes the IAM checker (`scripts/iamcheck`, run by `make test` over the proxy's records)
//! needs beyond the other end-to-end tests: EBS volumes under a customer-managed KMS key. EC2 then
//! uses the key with the caller's permissions (kms:CreateGrant, Decrypt, ...), so these requests
//! exercise the templates' KMS statements: a pair's StartInstances of a standby whose volume uses
//! the key (EbsKmsKeyArns), and a stateful group's restore from an encrypted snapshot and attach of
//! the encrypted copy (DataKmsKeyId). The function behaves here as with unencrypted volumes.

mod support;

use ec2_failover::decision::{Status, Verdict};
use support::group::{event_file, start, Scene, GROUP, LAUNCH_HOOK, TERMINATE_HOOK};
use support::{look, pair_with, Moto, Proxy};

/// A customer-managed key, by ARN as the templates take it (moto keeps any key id on a volume).
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_whose_volumes_use_a_customer_managed_key_starts_its_standby() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let ec2 = moto.client();
    let p = pair_with(&ec2, false, Some(KEY)).await;
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let handler = p.handler(&proxy, p.config());

    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert!(outcome.actions.iter().all(|a| a.status == Status::Done), "{:?}", outcome.actions);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(proxy.shown(&p.standby).as_deref(), Some("pending"));
    let starts = proxy.log().iter().filter(|r| r.action == "StartInstances" && r.status == Some(200)).count();
    assert_eq!(starts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_groups_data_under_a_customer_managed_key_follows_its_instance() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful_with_key(&moto, &proxy, Some(KEY)).await;
    let handler = scene.handler(&proxy);
    let first = scene.first.clone();

    // The group replaces its instance in us-east-1b; the terminate hook snapshots the data.
    proxy.hold(GROUP, TERMINATE_HOOK, &first, "terminating");
    let new = scene.replace_into_the_other_az().await;
    proxy.hold(GROUP, LAUNCH_HOOK, &new, "launching");
    // moto released the volume at once; AWS keeps it attached until the terminate hook completes.
    scene.ec2.attach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();
    let preserved = handler.handle(&scene.terminate(&first)).await.unwrap();
    assert_eq!(preserved.verdict, Verdict::Preserve, "{}", preserved.reason);
    scene.ec2.detach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();

    // The snapshot is restored in the new zone (EC2 decrypts it with the key), then attached.
    let restoring = handler.handle(&event_file("ebs-snapshot-notification.json")).await.unwrap();
    assert_eq!(restoring.verdict, Verdict::Wait, "{}", restoring.reason);
    let attaching = handler.handle(&event_file("ebs-volume-notification.json")).await.unwrap();
    assert_eq!(attaching.verdict, Verdict::Wait, "{}", attaching.reason);
    let restored = scene.volumes_on(&new).await;
    assert_eq!(restored.len(), 1, "the copy is attached to the new instance");
    assert_eq!(scene.volume(&restored[0]).await.encrypted(), Some(true));

    proxy.settle(&[&restored[0]]);
    let done = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Follow, "{}", done.reason);
    assert_eq!(scene.holder().await, Some((new, "us-east-1b".to_owned())));
}
