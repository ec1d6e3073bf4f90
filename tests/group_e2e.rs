//! Group mode end to end: the real group handler against moto's EC2 and Auto Scaling APIs,
//! through `scripts/ec2_proxy.py`, which stands in for the lifecycle calls moto lacks and records
//! every completion.

mod support;

use aws_sdk_ec2::types::Tag;
use ec2_failover::decision::Verdict;
use ec2_failover::group::Config;
use ec2_failover::tags::GROUP as GROUP_TAG;
use serde_json::{json, Value};
use support::group::{event_file, start, tag, Scene, GROUP, KEY, LAUNCH_HOOK, TERMINATE_HOOK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ip_follows_a_replacement_into_the_other_az_and_the_launch_continues() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let new = scene.replace_into_the_other_az().await;
    // Deployed without KeepData: the IP only, and no volume or snapshot is read.
    let handler = scene.handler_with(&proxy, Config { keep_data: false, ..Config::default() });

    let outcome = handler.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Follow, "{}", outcome.reason);
    let reads: Vec<String> = proxy.log().into_iter().map(|r| r.action).filter(|a| a.starts_with("Describe")).collect();
    // The group, its instance, the addresses and the route tables that follow groups, at once.
    assert_eq!(reads.len(), 4, "{reads:?}");
    assert!(!reads.iter().any(|a| a == "DescribeVolumes" || a == "DescribeSnapshots"), "{reads:?}");
    assert_eq!(scene.holder().await, Some((new.clone(), "us-east-1b".to_owned())));
    assert_eq!(
        scene.completions(),
        [json!({"group": GROUP, "hook": "my-lifecycle-hook", "instance": new, "result": "CONTINUE"})]
    );

    // The same event again (EventBridge delivers at least once), after the launch went on: the
    // instance is InService, not held, so nothing is done at all.
    let again = handler.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(again.verdict, Verdict::NoChange, "{}", again.reason);
    assert!(again.reason.contains("not held by its hook"), "{}", again.reason);
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert_eq!(scene.completions().len(), 1);
    let moves = proxy.log().iter().filter(|r| r.action == "AssociateAddress").count();
    assert_eq!(moves, 1);
}

/// A replacement the function never saw (its launch event lost and the hook gone past its timeout,
/// or a group without the hook), or a hand that moved the address: the schedule's sweep gives the
/// group's Elastic IP to its one InService instance, once; a settled group is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_heals_the_group_s_ip_onto_its_serving_instance() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let old = scene.first.clone();
    let new = scene.replace_into_the_other_az().await;
    let handler = scene.handler_with(&proxy, Config { keep_data: false, ..Config::default() });
    assert_eq!(scene.holder().await.map(|h| h.0), Some(old.clone()), "the scene starts with the IP on the old one");

    let healed = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(healed.verdict, Verdict::Heal, "{}", healed.reason);
    assert_eq!(scene.holder().await, Some((new.clone(), "us-east-1b".to_owned())));
    let moves = || proxy.log().iter().filter(|r| r.action == "AssociateAddress").count();
    assert_eq!(moves(), 1);

    // Settled: the next sweeps change nothing.
    for _ in 0..2 {
        let idle = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
        assert_eq!(idle.verdict, Verdict::NoChange, "{}", idle.reason);
    }
    assert_eq!(moves(), 1);

    // Someone takes the address off the instance: the next sweep puts it back.
    let address = scene.ec2.describe_addresses().allocation_ids(&scene.allocation_id).send().await.unwrap();
    let association = address.addresses()[0].association_id().unwrap().to_owned();
    scene.ec2.disassociate_address().association_id(association).send().await.unwrap();
    assert_eq!(scene.holder().await, None);
    let again = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(again.verdict, Verdict::Heal, "{}", again.reason);
    assert!(again.reason.contains("nothing"), "{}", again.reason);
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new));
}

/// EBS notifications are account-wide and carry no tags: a backup window sends hundreds, and with
/// one execution at a time a full sweep for each would queue the lifecycle events behind them past
/// the hook's timeout. A notification that happened before the last complete sweep began has been
/// seen by it and reads nothing; a newer one, or one whose time is unreadable, sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebs_notifications_a_sweep_has_seen_read_nothing() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let handler = scene.handler(&proxy);
    let at = |seconds_ago: u64| {
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds_ago);
        let then = aws_sdk_ec2::primitives::DateTime::from(then);
        json!(then.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime).unwrap())
    };
    let notification = |n: usize, time: Value| {
        let mut event = event_file("ebs-snapshot-notification.json");
        event["time"] = time;
        event["resources"] = json!([format!("arn:aws:ec2::123456789012:snapshot/snap-{n:017x}")]);
        event
    };
    // Before any sweep in this environment: the notification sweeps.
    let first = handler.handle(&notification(0, at(30))).await.unwrap();
    assert!(first.reason.contains("no managed group holds"), "{}", first.reason);
    let requests = proxy.log().len();
    assert!(requests > 0);

    // A burst of notifications from before that sweep began: not one request. Measured beside the
    // same burst with unreadable times (each one sweeps, as every notification did before), with
    // AWS 50 ms away: the figures are printed, only the request counts are asserted.
    proxy.configure(&json!({"latency_ms": 50, "keep_lifecycle": true}));
    let burst = 40;
    let started = std::time::Instant::now();
    for n in 1..=burst {
        handler.handle(&notification(n, json!("unreadable"))).await.unwrap();
    }
    let (unseen_ms, unseen_requests) = (started.elapsed().as_millis(), proxy.log().len());
    assert!(unseen_requests >= burst, "each unseen notification sweeps: {unseen_requests} requests");
    let started = std::time::Instant::now();
    for n in 1..=burst {
        let seen = handler.handle(&notification(n, at(10))).await.unwrap();
        assert_eq!(seen.verdict, Verdict::NoChange, "{}", seen.reason);
        assert!(seen.reason.contains("was seen by the sweep"), "{}", seen.reason);
    }
    let seen_ms = started.elapsed().as_millis();
    assert_eq!(proxy.log().len(), unseen_requests, "a notification the last sweep had seen was read again");
    eprintln!(
        "a burst of {burst} EBS notifications, AWS 50 ms away: each sweeping {unseen_ms} ms and \
         {unseen_requests} requests; seen by the last sweep {seen_ms} ms and 0 requests"
    );
    let requests = unseen_requests;

    // One that happened after it, and one whose time is a placeholder: each sweeps.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    handler.handle(&notification(201, at(0))).await.unwrap();
    let after_fresh = proxy.log().len();
    assert!(after_fresh > requests, "a newer notification was not swept");
    handler.handle(&notification(202, json!("yyyy-mm-ddThh:mm:ssZ"))).await.unwrap();
    assert!(proxy.log().len() > after_fresh, "a notification without a readable time was not swept");
}

/// Two stacks in one region, each function deployed for its own group (GROUP_KEY): a sweep by one
/// heals its own group's Elastic IP only and reads nothing of the other group's hooks; a launch
/// event of the other group is ignored; the other group's function serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_with_two_functions_each_serve_their_own() {
    use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
    use aws_sdk_ec2::types::{DomainType, ResourceType, TagSpecification};
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let (db_group, db_hook) = ("db-asg", "ec2-failover-launch");

    // The second stack's group, its hook and its tagged address on its first instance.
    let template = support::launch_template(&scene.ec2, "db").await;
    scene
        .asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(db_group)
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(&scene.subnets[0])
        .launch_template(LaunchTemplateSpecification::builder().launch_template_id(template).build())
        .tags(AsgTag::builder().key(GROUP_TAG).value("db").build())
        .send()
        .await
        .unwrap();
    scene
        .asg
        .put_lifecycle_hook()
        .auto_scaling_group_name(db_group)
        .lifecycle_hook_name(db_hook)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .heartbeat_timeout(300)
        .send()
        .await
        .unwrap();
    let db_instances = || async {
        let out = scene.asg.describe_auto_scaling_groups().auto_scaling_group_names(db_group).send().await.unwrap();
        out.auto_scaling_groups()[0]
            .instances()
            .iter()
            .filter_map(|i| i.instance_id())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let db_first = db_instances().await.remove(0);
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::ElasticIp)
        .tags(Tag::builder().key(GROUP_TAG).value("db").build())
        .build();
    let db_ip = scene.ec2.allocate_address().domain(DomainType::Vpc).tag_specifications(spec).send().await.unwrap();
    let db_ip = db_ip.allocation_id().unwrap().to_owned();
    scene.ec2.associate_address().allocation_id(&db_ip).instance_id(&db_first).send().await.unwrap();
    // The instance holding the db address, through its network interface (EC2 may leave the
    // instance id out of an association made through the interface).
    let db_holder = || async {
        let out = scene.ec2.describe_addresses().allocation_ids(&db_ip).send().await.unwrap();
        let eni = out.addresses()[0].network_interface_id()?.to_owned();
        let all = scene.ec2.describe_instances().send().await.unwrap();
        all.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.network_interfaces().iter().any(|n| n.network_interface_id() == Some(eni.as_str())))
            .and_then(|i| i.instance_id())
            .map(str::to_owned)
    };

    // Both groups replace their instance; the web one's launch event was lost.
    let web_new = scene.replace_into_the_other_az().await;
    scene
        .asg
        .terminate_instance_in_auto_scaling_group()
        .instance_id(&db_first)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    let db_new = db_instances().await.into_iter().find(|i| *i != db_first).expect("moto launched no replacement");
    proxy.hold(db_group, db_hook, &db_new, "launching");
    let web_fn = scene.handler_with(&proxy, Config { keep_data: false, key: Some(KEY.into()), ..Config::default() });
    let db_fn = scene.handler_with(&proxy, Config { keep_data: false, key: Some("db".into()), ..Config::default() });
    let db_launch = {
        let mut event = event_file("asg-launch-lifecycle-action.json");
        event["detail"]["AutoScalingGroupName"] = json!(db_group);
        event["detail"]["LifecycleHookName"] = json!(db_hook);
        event["detail"]["EC2InstanceId"] = json!(db_new);
        event
    };

    // The web function's sweep heals the web group only; the db group's held launch is not its own.
    let seen = proxy.log().len();
    let swept = web_fn.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(swept.verdict, Verdict::Heal, "{}", swept.reason);
    assert_eq!(scene.holder().await.map(|h| h.0), Some(web_new.clone()));
    assert_eq!(db_holder().await, Some(db_first.clone()), "the web function moved the db group's address");
    let named_db =
        |from: usize| proxy.log()[from..].iter().any(|r| r.params.values().any(|v| v == db_group)).then_some(());
    assert_eq!(named_db(seen), None, "the web function read or wrote the db group");
    let ignored = web_fn.handle(&db_launch).await.unwrap();
    assert_eq!(ignored.verdict, Verdict::Ignore, "{}", ignored.reason);
    assert!(ignored.reason.contains("serves web only"), "{}", ignored.reason);
    assert!(scene.completions().is_empty());

    // The db function serves its own launch, and leaves the web group alone.
    let served = db_fn.handle(&db_launch).await.unwrap();
    assert_eq!(served.verdict, Verdict::Follow, "{}", served.reason);
    assert_eq!(db_holder().await, Some(db_new.clone()));
    assert_eq!(
        scene.completions(),
        [json!({"group": db_group, "hook": db_hook, "instance": db_new, "result": "CONTINUE"})]
    );
    let idle = db_fn.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(idle.verdict, Verdict::NoChange, "{}", idle.reason);
    assert_eq!(scene.holder().await.map(|h| h.0), Some(web_new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_the_tag_is_not_managed_and_its_hook_is_left_alone() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, false).await;
    let new = scene.replace_into_the_other_az().await;

    let outcome = scene.handler(&proxy).handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Ignore, "{}", outcome.reason);
    assert!(outcome.reason.contains("not managed"), "{}", outcome.reason);
    assert_eq!(scene.holder().await.map(|h| h.0), Some(scene.first.clone()));
    assert!(scene.completions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_elastic_ip_the_launch_is_abandoned_with_the_reason() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    scene
        .ec2
        .delete_tags()
        .resources(&scene.allocation_id)
        .tags(Tag::builder().key(GROUP_TAG).build())
        .send()
        .await
        .unwrap();
    let new = scene.replace_into_the_other_az().await;

    let outcome = scene.handler(&proxy).handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Abandon, "{}", outcome.reason);
    assert!(outcome.reason.contains("no Elastic IP carries"), "{}", outcome.reason);
    assert_eq!(scene.completions()[0]["result"], "ABANDON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_for_an_instance_already_gone_is_abandoned_and_the_ip_stays() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let new = scene.replace_into_the_other_az().await;
    scene.ec2.terminate_instances().instance_ids(&new).send().await.unwrap();

    let outcome = scene.handler(&proxy).handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Abandon, "{}", outcome.reason);
    assert!(outcome.reason.contains("terminated"), "{}", outcome.reason);
    assert_ne!(scene.holder().await.map(|h| h.0), Some(new));
    assert_eq!(scene.completions()[0]["result"], "ABANDON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_events_are_ignored_in_group_mode() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/ec2-state-change-primary-stopped.json"))
            .unwrap(),
    )
    .unwrap();
    let outcome = scene.handler(&proxy).handle(&event).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Ignore);
    assert!(outcome.observed.is_none());
    assert!(proxy.log().is_empty(), "an ignored event read AWS");
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_a_launch_goes_on_only_once_its_instance_holds_the_ip() {
    let trials: u64 = std::env::var("GROUP_FAULT_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(40);
    let (moto, proxy) = start();
    let (mut faults, mut requests, mut retries, mut finished, mut reported) = (0, 0, 0, 0, 0);
    let mut wrong = Vec::new();
    for trial in 0..trials {
        moto.reset();
        let scene = Scene::new(&moto, &proxy, true).await;
        let new = scene.replace_into_the_other_az().await;
        let settings = json!({ "fault_rate": 0.3, "seed": format!("group-{trial}"),
                               "faults": ["throttle", "unavailable", "drop-before", "drop-after"] });
        proxy.configure(&settings);
        let handler = scene.handler(&proxy);
        let event = scene.launch_event(&new);
        let mut result = handler.handle(&event).await;
        for _ in 1..3 {
            if result.is_ok() {
                break;
            }
            retries += 1;
            result = handler.handle(&event).await;
        }
        let log = proxy.log();
        requests += log.len();
        faults += log.iter().filter(|r| r.fault.is_some()).count();
        let completions = scene.completions();
        let holder = scene.holder().await.map(|h| h.0);
        let continued = completions.iter().any(|c| c["result"] == "CONTINUE");
        let why = if completions.len() > 1 {
            Some("the launch was completed twice")
        } else if completions.iter().any(|c| c["result"] == "ABANDON") {
            Some("a launch that could be served was abandoned")
        } else if continued && holder.as_deref() != Some(new.as_str()) {
            Some("the launch went on without its IP")
        } else if result.is_ok() && !continued {
            Some("success reported, but the launch was not completed")
        } else if holder.as_deref() != Some(new.as_str()) && holder.as_deref() != Some(scene.first.as_str()) {
            Some("the IP is neither on the old nor on the new instance")
        } else {
            None
        };
        match why {
            Some(why) => wrong.push(format!("trial {trial}: {why}: {completions:?}, holder {holder:?}")),
            None if continued => finished += 1,
            None => reported += 1,
        }
    }
    eprintln!(
        "group fault injection: {trials} trials, {requests} requests, {faults} faults, {retries} Lambda retries; \
         {finished} launches went on with their IP, {reported} reported failure, {} wrong",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(faults * 5 >= requests, "only {faults} faults in {requests} requests");
    assert!(finished as u64 * 10 >= trials * 9, "too few launches went on: {finished} of {trials}");
}

/// The stateful group's whole path, with AWS's slowness and its events out of order: the launch
/// hook fires while the old instance still holds the data, the snapshot takes a while, and only
/// EBS notifications and the schedule move the held launch on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_volume_follows_the_instance_into_the_other_az() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    let handler = scene.handler(&proxy);
    let first = scene.first.clone();
    let (launch, terminate) = (|i: &str| scene.launch(i), |i: &str| scene.terminate(i));
    let launches = |instance: &str| {
        scene
            .completions()
            .into_iter()
            .filter(|c| c["instance"] == instance && c["hook"] == LAUNCH_HOOK)
            .collect::<Vec<_>>()
    };
    let count = |action: &str| proxy.log().iter().filter(|r| r.action == action && r.status == Some(200)).count();

    // The group replaces the instance in us-east-1b. Both hooks hold their instances; the launch
    // event comes first, while the old instance still has the data attached: it waits, copying nothing.
    proxy.hold(GROUP, TERMINATE_HOOK, &first, "terminating");
    let new = scene.replace_into_the_other_az().await;
    proxy.hold(GROUP, LAUNCH_HOOK, &new, "launching");
    // moto terminates at once and releases the volume; AWS keeps the instance, and the volume
    // attached, until the terminate hook is completed.
    scene.ec2.attach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();
    let early = handler.handle(&launch(&new)).await.unwrap();
    assert_eq!(early.verdict, Verdict::Wait, "{}", early.reason);
    assert!(early.reason.contains("still attached to"), "{}", early.reason);
    assert_eq!((count("CreateVolume"), count("CreateSnapshot")), (0, 0));

    // The terminate hook: the data volume is snapshotted, tagged with its lineage, then the old
    // instance may go. Its duplicate takes no second snapshot.
    let preserved = handler.handle(&terminate(&first)).await.unwrap();
    assert_eq!(preserved.verdict, Verdict::Preserve, "{}", preserved.reason);
    let again = handler.handle(&terminate(&first)).await.unwrap();
    assert_eq!(again.verdict, Verdict::NoChange, "a repeated terminate event snapshots again: {}", again.reason);
    let snapshots = scene.snapshots().await;
    assert_eq!(snapshots.len(), 1);
    let snapshot = snapshots[0].clone();
    let snapshot_id = snapshot.snapshot_id().unwrap().to_owned();
    assert_eq!(snapshot.volume_id(), Some(data.as_str()));
    assert_eq!(tag(snapshot.tags(), "ec2-failover:volume").as_deref(), Some(data.as_str()));
    assert_eq!(tag(snapshot.tags(), "ec2-failover:instance"), Some(first.clone()));
    assert_eq!(tag(snapshot.tags(), "ec2-failover:device").as_deref(), Some("/dev/xvdf"));
    let time = tag(snapshot.tags(), "ec2-failover:time").expect("the snapshot says when it was taken");
    let taken = aws_sdk_ec2::primitives::DateTime::from_str(&time, aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
        .expect("RFC 3339");
    let age =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - taken.secs();
    assert!((0..300).contains(&age), "taken {age} s ago: {time}");
    let terminations: Vec<Value> = scene.completions().into_iter().filter(|c| c["hook"] == TERMINATE_HOOK).collect();
    assert_eq!(
        terminations,
        [json!({"group": GROUP, "hook": TERMINATE_HOOK, "instance": first, "result": "CONTINUE"})]
    );

    // AWS copies the snapshot for a while; the old instance terminates and releases the volume.
    proxy.snapshot_state(&snapshot_id, Some("pending"));
    scene.ec2.detach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();

    // The schedule sweeps the held launch: the snapshot is pending and its volume is in the other
    // zone, so the launch waits (with a heartbeat) and nothing is copied yet.
    let swept = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(swept.verdict, Verdict::Wait, "{}", swept.reason);
    assert!(swept.reason.contains("pending"), "{}", swept.reason);
    assert_eq!(count("CreateVolume"), 0);

    // The snapshot completes; its notification restores it in the new instance's zone.
    proxy.snapshot_state(&snapshot_id, None);
    let restoring = handler.handle(&event_file("ebs-snapshot-notification.json")).await.unwrap();
    assert_eq!(restoring.verdict, Verdict::Wait, "{}", restoring.reason);
    let restored = scene
        .ec2
        .describe_volumes()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:ec2-failover:for").values(&new).build())
        .send()
        .await
        .unwrap()
        .volumes()
        .to_vec();
    assert_eq!(restored.len(), 1);
    let restored = &restored[0];
    let restored_id = restored.volume_id().unwrap().to_owned();
    assert_eq!(restored.availability_zone(), Some("us-east-1b"));
    assert_eq!(restored.snapshot_id(), Some(snapshot_id.as_str()), "restored from another snapshot");
    assert_eq!(tag(restored.tags(), "ec2-failover:snapshot"), Some(snapshot_id.clone()));
    assert_eq!(
        (restored.volume_type().map(|t| t.as_str()), restored.iops(), restored.throughput()),
        (Some("gp3"), Some(4000), Some(250)),
        "the copy lost the volume's performance"
    );
    assert!(launches(&new).is_empty(), "the launch went on before its data");

    // The volume's notification: attach it, telling the instance which volume is its data. EC2
    // reports the attachment `attaching` for a few seconds; the instance may not see the device
    // yet, so neither the IP nor the launch moves.
    let attaching = handler.handle(&event_file("ebs-volume-notification.json")).await.unwrap();
    assert_eq!(attaching.verdict, Verdict::Wait, "{}", attaching.reason);
    let attached = scene.volume_shown(&restored_id).await;
    let attachment = &attached.attachments()[0];
    assert_eq!((attachment.instance_id(), attachment.device()), (Some(new.as_str()), Some("/dev/xvdf")));
    assert_eq!(attachment.state().map(|s| s.as_str()), Some("attaching"));
    let told = scene.instance_tags(&new).await;
    assert_eq!(tag(&told, "ec2-failover:data-volume"), Some(restored_id.clone()));
    // The launch template leaves tags out of the instance's metadata (EC2's default): the function
    // turned them on before it tagged the instance and attached the volume, or the instance's boot
    // (instance/wait-for-data-volume) could never learn which volume is its data.
    let options = scene.ec2.describe_instances().instance_ids(&new).send().await.unwrap();
    let tags_on = options.reservations()[0].instances()[0].metadata_options().and_then(|m| m.instance_metadata_tags());
    assert_eq!(tags_on.map(|t| t.as_str()), Some("enabled"));
    let order: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|r| r.status == Some(200))
        .filter(|r| {
            r.action == "ModifyInstanceMetadataOptions"
                || r.action == "AttachVolume"
                || (r.action == "CreateTags" && r.params.iter().any(|(k, v)| k.starts_with("ResourceId") && v == &new))
        })
        .map(|r| r.action)
        .collect();
    assert_eq!(order, ["ModifyInstanceMetadataOptions", "CreateTags", "AttachVolume"]);
    assert_eq!(tag(&told, "ec2-failover:data-device").as_deref(), Some("/dev/xvdf"));
    let still = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(still.verdict, Verdict::Wait, "{}", still.reason);
    assert!(still.reason.contains("attaching"), "{}", still.reason);
    assert!(launches(&new).is_empty(), "the launch went on before its data was attached");
    assert_ne!(scene.holder().await.map(|h| h.0), Some(new.clone()));

    // Attached: the next sweep moves the IP and the launch goes on.
    proxy.settle(&[&restored_id]);
    let done = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Follow, "{}", done.reason);
    assert_eq!(scene.holder().await, Some((new.clone(), "us-east-1b".to_owned())));
    assert_eq!(launches(&new), [json!({"group": GROUP, "hook": LAUNCH_HOOK, "instance": new, "result": "CONTINUE"})]);
    // Heartbeats kept the hook alive at each wait: early, pending snapshot, restoring, attaching (twice).
    assert_eq!(count("RecordLifecycleActionHeartbeat"), 5);

    // Late and repeated deliveries change nothing: the launch event again, another sweep.
    let late = handler.handle(&launch(&new)).await.unwrap();
    assert_eq!(late.verdict, Verdict::NoChange, "{}", late.reason);
    let idle = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(idle.verdict, Verdict::NoChange, "{}", idle.reason);
    assert!(idle.reason.contains("no managed group holds"), "{}", idle.reason);
    assert_eq!((count("CreateVolume"), count("AttachVolume"), count("AssociateAddress")), (1, 1, 1));
    assert_eq!(launches(&new).len(), 1);
    drop(moto);
}

/// Each terminate hook takes one snapshot; beyond the retention setting the oldest go, and the
/// newest completed one always stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminations_keep_a_bounded_number_of_snapshots() {
    let (moto, proxy) = start();
    // Four terminations of one volume in a moment: EBS asks 15 s between two snapshots of a volume
    // (SnapshotCreationPerVolumeRateExceeded), which the test compresses.
    proxy.configure(&json!({"snapshot_rate_seconds": 0}));
    let scene = Scene::new(&moto, &proxy, true).await;
    let data = scene.data_volume().await;
    let handler = scene.handler_with(&proxy, Config { keep_snapshots: 2, ..Config::default() });
    let mut holder = scene.first.clone();
    let mut taken = Vec::new();
    for round in 0..4 {
        let preserved = handler.handle(&scene.terminate(&holder)).await.unwrap();
        assert_eq!(preserved.verdict, Verdict::Preserve, "round {round}: {}", preserved.reason);
        let newest = scene
            .snapshots()
            .await
            .into_iter()
            .find(|s| tag(s.tags(), "ec2-failover:instance").as_deref() == Some(holder.as_str()))
            .expect("a snapshot for the terminating instance");
        taken.push(newest.snapshot_id().unwrap().to_owned());
        // The next instance of the group gets the volume (here: by hand, in the same zone).
        scene.ec2.detach_volume().volume_id(&data).instance_id(&holder).device("/dev/xvdf").send().await.unwrap();
        let next = scene
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .subnet_id(&scene.subnets[0])
            .send()
            .await
            .unwrap();
        holder = next.instances()[0].instance_id().unwrap().to_owned();
        scene.ec2.attach_volume().volume_id(&data).instance_id(&holder).device("/dev/xvdf").send().await.unwrap();
        // moto gives snapshots taken in the same second the same start time; AWS's differ.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let mut left: Vec<String> = scene.snapshots().await.iter().map(|s| s.snapshot_id().unwrap().to_owned()).collect();
    left.sort();
    let mut expected = taken[2..].to_vec();
    expected.sort();
    assert_eq!(left, expected, "taken in order: {taken:?}");
    drop(moto);
}

/// The stateful path under seeded faults (30% of requests throttled, unavailable or dropped before
/// or after AWS applied them), each delivery retried like Lambda's async retries, and the schedule
/// sweeping until the launch goes on: the launch continues at most once, never without its data
/// and its IP, from the terminating instance's snapshot, and the data is attached to one instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_the_data_follows_once_and_only_with_its_lineage() {
    use aws_sdk_ec2::types::Filter;
    let trials: u64 = std::env::var("GROUP_FAULT_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(40) / 2;
    let (moto, proxy) = start();
    let (mut faults, mut requests, mut finished, mut extra_snapshots, mut leaked) = (0, 0, 0, 0, 0);
    let mut wrong = Vec::new();
    for trial in 0..trials {
        moto.reset();
        let (scene, data) = Scene::stateful(&moto, &proxy).await;
        let first = scene.first.clone();
        // A backup of the data volume (DLM, AWS Backup): it carries the volume's tags, the group's
        // too, and is neither the function's to restore from nor to delete.
        let backup = scene
            .ec2
            .create_snapshot()
            .volume_id(&data)
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Snapshot)
                    .tags(Tag::builder().key(GROUP_TAG).value(support::group::KEY).build())
                    .tags(Tag::builder().key("ec2-failover:device").value("/dev/xvdf").build())
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .snapshot_id()
            .unwrap()
            .to_owned();
        let new = scene.replace_into_the_other_az().await;
        scene.ec2.attach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();
        proxy.configure(&json!({ "fault_rate": 0.3, "seed": format!("data-{trial}"),
                                 "faults": ["throttle", "unavailable", "drop-before", "drop-after"] }));
        proxy.hold(GROUP, TERMINATE_HOOK, &first, "terminating");
        proxy.hold(GROUP, LAUNCH_HOOK, &new, "launching");
        let handler = scene.handler(&proxy);
        let deliver = |event: Value| {
            let handler = handler.clone();
            async move {
                for _ in 0..3 {
                    if handler.handle(&event).await.is_ok() {
                        return;
                    }
                }
            }
        };
        deliver(scene.terminate(&first)).await;
        deliver(scene.launch(&new)).await;
        // The old instance goes (if its hook was completed; else a sweep completes it first).
        let launched = || scene.completions().into_iter().filter(|c| c["hook"] == LAUNCH_HOOK).collect::<Vec<_>>();
        for _ in 0..8 {
            let terminated = scene.completions().iter().any(|c| c["hook"] == TERMINATE_HOOK);
            let attached_to_first =
                scene.volume(&data).await.attachments().iter().any(|a| a.instance_id() == Some(first.as_str()));
            if terminated && attached_to_first {
                scene
                    .ec2
                    .detach_volume()
                    .volume_id(&data)
                    .instance_id(&first)
                    .device("/dev/xvdf")
                    .send()
                    .await
                    .unwrap();
            }
            if !launched().is_empty() {
                break;
            }
            // A minute passes between two sweeps: AWS has finished any attachment by then.
            proxy.settle(&[]);
            deliver(event_file("scheduled-reconcile.json")).await;
        }
        let log = proxy.log();
        requests += log.len();
        faults += log.iter().filter(|r| r.fault.is_some()).count();

        let launches = launched();
        let snapshots = scene.snapshots().await;
        let taken: Vec<&str> = snapshots
            .iter()
            .filter(|s| s.volume_id() == Some(data.as_str()))
            .filter(|s| tag(s.tags(), "ec2-failover:instance").as_deref() == Some(first.as_str()))
            .filter_map(|s| s.snapshot_id())
            .collect();
        extra_snapshots += taken.len().saturating_sub(1);
        let ours = Filter::builder().name("tag-key").values(GROUP_TAG).build();
        let volumes = scene.ec2.describe_volumes().filters(ours).send().await.unwrap().volumes().to_vec();
        let on_new: Vec<&aws_sdk_ec2::types::Volume> =
            volumes.iter().filter(|v| v.attachments().iter().any(|a| a.instance_id() == Some(new.as_str()))).collect();
        leaked += volumes
            .iter()
            .filter(|v| {
                tag(v.tags(), "ec2-failover:for").as_deref() == Some(new.as_str()) && v.attachments().is_empty()
            })
            .count();
        let holder = scene.holder().await.map(|h| h.0);
        let backup_kept = snapshots.iter().any(|s| s.snapshot_id() == Some(backup.as_str()));
        let why = if !backup_kept {
            Some(format!("the backup snapshot {backup} was deleted"))
        } else if launches.len() > 1 {
            Some("the launch was completed twice".to_owned())
        } else if launches.iter().any(|c| c["result"] != "CONTINUE") {
            Some("a launch that could be served was abandoned".to_owned())
        } else if volumes.iter().any(|v| v.attachments().len() > 1) {
            Some("a volume is attached to two instances".to_owned())
        } else if !launches.is_empty() && holder.as_deref() != Some(new.as_str()) {
            Some(format!("the launch went on while the IP is on {holder:?}"))
        } else if !launches.is_empty() && on_new.len() != 1 {
            Some(format!("the launch went on with {} data volumes", on_new.len()))
        } else if !launches.is_empty() && !on_new[0].snapshot_id().is_some_and(|s| taken.contains(&s)) {
            Some(format!("the data came from {:?}, not from {taken:?}", on_new[0].snapshot_id()))
        } else {
            None
        };
        match why {
            Some(why) => wrong.push(format!("trial {trial}: {why}")),
            None if !launches.is_empty() => finished += 1,
            None => {}
        }
    }
    eprintln!(
        "stateful group fault injection: {trials} trials, {requests} requests, {faults} faults; {finished} launches \
         went on with their data and IP, {} wrong; {extra_snapshots} extra snapshots (CreateSnapshot has no token), \
         {leaked} unattached copies left",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(leaked, 0, "copies restored for the new instance were left unattached");
    assert!(faults * 5 >= requests, "only {faults} faults in {requests} requests");
    assert!(finished as u64 * 10 >= trials * 9, "too few launches went on: {finished} of {trials}");
    drop(moto);
}

/// The data never goes back in time: when an instance that got its data from a snapshot terminates
/// without its terminate hook's snapshot (the hook timed out, the function was down), the next
/// launch carries that instance's volume over by a new snapshot instead of restoring the older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_that_served_without_a_terminate_snapshot_is_carried_not_rolled_back() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    let handler = scene.handler(&proxy);
    let first = scene.first.clone();
    let (launch, terminate) = (|i: &str| scene.launch(i), |i: &str| scene.terminate(i));

    // The first handover, as usual: snapshot S1 of the original, copy C1 in us-east-1b for `second`.
    assert_eq!(handler.handle(&terminate(&first)).await.unwrap().verdict, Verdict::Preserve);
    scene.ec2.detach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();
    let second = scene.replace(&first, 1).await;
    assert_eq!(handler.handle(&launch(&second)).await.unwrap().verdict, Verdict::Wait);
    assert_eq!(handler.handle(&launch(&second)).await.unwrap().verdict, Verdict::Wait);
    proxy.settle(&[]);
    assert_eq!(handler.handle(&launch(&second)).await.unwrap().verdict, Verdict::Follow);
    let s1 = scene.snapshots().await[0].snapshot_id().unwrap().to_owned();
    let c1 = scene.volumes_on(&second).await.remove(0);
    assert_eq!(tag(scene.volume(&c1).await.tags(), "ec2-failover:attached"), Some(second.clone()));

    // `second` serves, writes, and goes with no terminate snapshot; the group launches `third` in
    // us-east-1a, where the original volume and S1 are: both older than C1.
    scene.ec2.detach_volume().volume_id(&c1).instance_id(&second).device("/dev/xvdf").send().await.unwrap();
    let third = scene.replace(&second, 0).await;
    let carry = handler.handle(&launch(&third)).await.unwrap();
    assert_eq!(carry.verdict, Verdict::Wait, "{}", carry.reason);
    assert!(carry.reason.contains(&c1) && carry.reason.contains("carry"), "{}", carry.reason);
    let s2 = scene
        .snapshots()
        .await
        .into_iter()
        .find(|s| s.volume_id() == Some(c1.as_str()))
        .expect("C1 was snapshotted")
        .snapshot_id()
        .unwrap()
        .to_owned();
    let restoring = handler.handle(&launch(&third)).await.unwrap();
    assert_eq!(restoring.verdict, Verdict::Wait, "{}", restoring.reason);
    assert!(restoring.reason.contains(&s2), "restored {} instead of {s2}", restoring.reason);
    let attaching = handler.handle(&launch(&third)).await.unwrap();
    assert_eq!(attaching.verdict, Verdict::Wait, "{}", attaching.reason);
    proxy.settle(&[]);
    let done = handler.handle(&launch(&third)).await.unwrap();
    assert_eq!(done.verdict, Verdict::Follow, "{}", done.reason);
    let attached = scene.volumes_on(&third).await;
    assert_eq!(attached.len(), 1);
    let restored = scene.volume(&attached[0]).await;
    assert_eq!(restored.availability_zone(), Some("us-east-1a"));
    assert_eq!(restored.snapshot_id(), Some(s2.as_str()), "rolled back to {s1}");
    assert_ne!(attached[0], data, "the original (older) volume was attached");
    // C1 served and holds the newest data up to now: never deleted as unused.
    assert_eq!(scene.volume(&c1).await.state().map(|s| s.as_str()), Some("available"));
    drop(moto);
}

/// A NAT instance in a single-instance group (as fck-nat runs it): the private subnets' default
/// route, in a table tagged with the group's key, follows the replacement with the Elastic IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_instance_s_default_route_follows_its_replacement() {
    use aws_sdk_ec2::types::{ResourceType, TagSpecification};
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let eni_of = |id: String| {
        let ec2 = scene.ec2.clone();
        async move {
            let out = ec2.describe_instances().instance_ids(&id).send().await.unwrap();
            out.reservations()[0].instances()[0].network_interfaces()[0].network_interface_id().unwrap().to_owned()
        }
    };
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::RouteTable)
        .tags(Tag::builder().key(GROUP_TAG).value(KEY).build())
        .tags(Tag::builder().key("ec2-failover:route-destinations").value("0.0.0.0/0").build())
        .build();
    let table = scene.ec2.create_route_table().vpc_id(&scene.vpc).tag_specifications(spec).send().await.unwrap();
    let table = table.route_table().unwrap().route_table_id().unwrap().to_owned();
    let old_eni = eni_of(scene.first.clone()).await;
    scene
        .ec2
        .create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .network_interface_id(&old_eni)
        .send()
        .await
        .unwrap();
    let new = scene.replace_into_the_other_az().await;
    let handler = scene.handler_with(&proxy, Config { keep_data: false, ..Config::default() });

    let outcome = handler.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Follow, "{}", outcome.reason);
    assert!(outcome.reason.contains("the route to 0.0.0.0/0 in"), "{}", outcome.reason);
    let out = scene.ec2.describe_route_tables().route_table_ids(&table).send().await.unwrap();
    let route =
        out.route_tables()[0].routes().iter().find(|r| r.destination_cidr_block() == Some("0.0.0.0/0")).cloned();
    assert_eq!(route.and_then(|r| r.network_interface_id().map(str::to_owned)), Some(eni_of(new.clone()).await));
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new));
}

/// `{"command": "status"}` in group mode: each managed group, what it serves from, where its
/// address is, and what the next sweep would do; nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_group_and_what_the_next_sweep_would_do_changing_nothing() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let handler = scene.handler_with(&proxy, Config { keep_data: false, ..Config::default() });
    let status = |outcome: &ec2_failover::group::GroupOutcome| match &outcome.observed {
        Some(ec2_failover::group::GroupObserved::Status(s)) => s.clone(),
        other => panic!("{other:?}"),
    };

    let settled = handler.handle(&json!({"command": "status"})).await.unwrap();
    assert_eq!(settled.verdict, Verdict::Status, "{}", settled.reason);
    let [group] = status(&settled).try_into().unwrap();
    assert_eq!((group.group.as_str(), group.key.as_deref()), (GROUP, Some(KEY)));
    assert_eq!(
        (group.instance.as_deref(), group.holder.as_deref()),
        (Some(scene.first.as_str()), Some(scene.first.as_str()))
    );
    assert_eq!((group.state, group.zone.as_deref()), (Some("running"), Some("us-east-1a")));
    assert!(group.settled, "{group:?}");
    assert!(settled.reason.contains("web-asg: serving from"), "{}", settled.reason);

    // Replaced behind the function's back: the status says the sweep would move the address, and
    // moves nothing itself.
    let new = scene.replace_into_the_other_az().await;
    proxy.configure(&json!({}));
    let unsettled = handler.handle(&json!({"command": "status"})).await.unwrap();
    let [group] = status(&unsettled).try_into().unwrap();
    assert_eq!(group.instance.as_deref(), Some(new.as_str()));
    assert!(!group.settled, "{group:?}");
    assert!(group.next.contains("moving it there"), "{group:?}");
    assert!(unsettled.actions.is_empty());
    assert!(!proxy.log().iter().any(|r| !r.action.starts_with("Describe")), "a status changed something");
    assert_eq!(scene.holder().await.map(|h| h.0), Some(scene.first.clone()));
}

/// Two groups that carry one key would take its address from each other on every sweep: the sweep
/// heals neither, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_with_one_key_are_not_healed_into_a_flap() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let handler = scene.handler_with(&proxy, Config { keep_data: false, ..Config::default() });
    scene
        .asg
        .create_auto_scaling_group()
        .auto_scaling_group_name("web-asg-copy")
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(&scene.subnets[1])
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&scene.launch_template)
                .build(),
        )
        .tags(aws_sdk_autoscaling::types::Tag::builder().key(GROUP_TAG).value(KEY).build())
        .send()
        .await
        .unwrap();
    proxy.configure(&json!({}));
    for _ in 0..2 {
        let swept = handler.handle(&event_file("scheduled-reconcile.json")).await.unwrap();
        assert_eq!(swept.verdict, Verdict::NoChange, "{}", swept.reason);
        assert!(
            swept.reason.contains("web-asg-copy: another group carries ec2-failover:group=web too"),
            "{}",
            swept.reason
        );
    }
    assert!(!proxy.log().iter().any(|r| r.action == "AssociateAddress"), "the address flapped between the groups");
    assert_eq!(scene.holder().await.map(|h| h.0), Some(scene.first.clone()));
}
