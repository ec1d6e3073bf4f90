//! A fleet that serves groups too (`SERVE_GROUPS`, template-fleet.yaml's default): one deployment
//! for the region's standby pairs and its single-instance Auto Scaling groups, against moto through
//! the strict local AWS, signed as the fleet's function (the IAM checker holds every request to
//! template-fleet.yaml's role).

mod support;

use ec2_failover::decision::Verdict;
use ec2_failover::fleet::{FleetObserved, FleetSeen};
use ec2_failover::group::GroupObserved;
use ec2_failover::record::HasFacts;
use serde_json::json;
use support::fleet::{handler, handler_with_groups, holder, reconcile, start, Fleet};
use support::group::{tag, Scene, GROUP, KEY, LAUNCH_HOOK, TERMINATE_HOOK};

fn groups_of(outcome: &ec2_failover::fleet::FleetOutcome) -> Option<&GroupObserved> {
    match &outcome.observed {
        Some(FleetObserved::Fleet(FleetSeen { groups, .. })) => groups.as_ref(),
        other => panic!("not the fleet's: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deployment_serves_the_pairs_and_the_groups_status_launch_and_reconcile() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &["web", "api"], true).await;
    let scene = Scene::new(&moto, &proxy, true).await;
    let h = handler_with_groups(&proxy, "fleet-groups", false);

    // The status of all: both pairs and the group, each with where its address is.
    let status = h.handle(&json!({"command": "status"})).await.unwrap();
    assert_eq!(status.verdict, Verdict::Status, "{}", status.reason);
    assert!(status.reason.starts_with("2 pair(s); api status: "), "{}", status.reason);
    assert!(status.reason.contains("; groups: 1 group(s); web-asg: serving from "), "{}", status.reason);
    let Some(GroupObserved::Status(groups)) = groups_of(&status) else { panic!("{:?}", status.observed) };
    let [group] = groups.as_slice() else { panic!("{groups:?}") };
    assert_eq!((group.group.as_str(), group.instance.as_deref()), (GROUP, Some(scene.first.as_str())));
    assert!(group.settled, "{group:?}");
    assert_eq!(group.holder.as_deref(), Some(scene.first.as_str()), "{group:?}");

    // The group replaces its instance: its launch action goes to group mode's decision, in the
    // fleet's deployment; the pairs are not read.
    let new = scene.replace_into_the_other_az().await;
    proxy.configure(&json!({}));
    let launch = h.handle(&scene.launch(&new)).await.unwrap();
    assert_eq!(launch.verdict, Verdict::Follow, "{}", launch.reason);
    assert_eq!(launch.facts().group.as_deref(), Some(GROUP), "the decision line names the group");
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new.clone()));
    assert_eq!(scene.completions().len(), 1);
    for r in proxy.log() {
        let params: String = r.params.values().cloned().collect::<Vec<_>>().join(" ");
        assert!(!params.contains("ec2-failover:pair"), "a group's launch read the pairs: {} {params}", r.action);
    }

    // A zone event stops web's primary; the reconcile fails the pair over and sweeps the groups
    // in the same pass, with one summary.
    let web = fleet.pair("web");
    ec2.stop_instances().instance_ids(&web.primary).send().await.unwrap();
    let swept = h.handle(&reconcile()).await.unwrap();
    assert_eq!(swept.verdict, Verdict::FailOver, "{}", swept.reason);
    assert!(swept.reason.contains("; groups: "), "{}", swept.reason);
    assert!(matches!(groups_of(&swept), Some(GroupObserved::Sweep(_))), "{:?}", swept.observed);
    assert_eq!(holder(&ec2, &web.allocation_id).await.as_deref(), Some(web.standby.as_str()));
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new.clone()), "the group stays where it is");

    // Someone moves the group's address by hand: the reconcile heals it, as group mode's sweep does.
    let address = scene.ec2.describe_addresses().allocation_ids(&scene.allocation_id).send().await.unwrap();
    let association = address.addresses()[0].association_id().unwrap().to_owned();
    scene.ec2.disassociate_address().association_id(association).send().await.unwrap();
    let healed = h.handle(&reconcile()).await.unwrap();
    assert!(healed.reason.contains("web-asg heal: "), "{}", healed.reason);
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_that_serves_no_groups_leaves_their_lifecycle_actions_alone() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let _fleet = Fleet::new(&ec2, &["web"], true).await;
    let scene = Scene::new(&moto, &proxy, true).await;
    let h = handler(&proxy, "fleet-no-groups", 10);
    let new = scene.replace_into_the_other_az().await;

    let launch = h.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(launch.verdict, Verdict::Ignore, "{}", launch.reason);
    assert!(launch.reason.contains("SERVE_GROUPS=false"), "{}", launch.reason);
    assert!(scene.completions().is_empty());
    let status = h.handle(&json!({"command": "status"})).await.unwrap();
    assert!(groups_of(&status).is_none(), "{:?}", status.observed);
    assert!(!status.reason.contains("groups:"), "{}", status.reason);
}

/// An Auto Scaling group without the group tag is someone else's: its lifecycle action reaches the
/// fleet (EventBridge cannot match tags) and is left unanswered for its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untagged_group_s_launch_is_someone_else_s() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, false).await;
    let h = handler_with_groups(&proxy, "fleet-stranger", false);
    let new = scene.replace_into_the_other_az().await;
    let launch = h.handle(&scene.launch(&new)).await.unwrap();
    assert!(matches!(launch.verdict, Verdict::Ignore | Verdict::NoChange), "{}", launch.reason);
    assert!(scene.completions().is_empty(), "another tool's hook was answered");
    assert!(!proxy.log().iter().any(|r| r.action == "AssociateAddress"));
}

/// One writer per group: a group a group stack serves (template-group.yaml tags it
/// `ec2-failover:stack`) is that stack's function's; a tagged group's hook not named
/// `ec2-failover*` is another tool's. The fleet answers neither, and its reconcile heals neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_stack_s_group_and_another_tool_s_hook_are_left_alone() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let h = handler_with_groups(&proxy, "fleet-one-writer", false);
    let new = scene.replace_into_the_other_az().await;

    // A tagged group, another tool's hook (the event file's own name): left to its owner.
    let foreign = h.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(foreign.verdict, Verdict::Ignore, "{}", foreign.reason);
    assert!(foreign.reason.contains("another tool's"), "{}", foreign.reason);

    let owned = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(GROUP)
        .resource_type("auto-scaling-group")
        .key(ec2_failover::tags::STACK)
        .value("web-stack")
        .propagate_at_launch(false)
        .build();
    scene.asg.create_or_update_tags().tags(owned).send().await.unwrap();
    let theirs = h.handle(&scene.launch(&new)).await.unwrap();
    assert_eq!(theirs.verdict, Verdict::Ignore, "{}", theirs.reason);
    assert!(theirs.reason.contains("served by its stack web-stack"), "{}", theirs.reason);
    let swept = h.handle(&reconcile()).await.unwrap();
    assert!(swept.reason.contains("web-asg: served by its stack web-stack"), "{}", swept.reason);
    let status = h.handle(&json!({"command": "status"})).await.unwrap();
    assert!(status.reason.contains("groups: 0 group(s); left alone: web-asg: served by"), "{}", status.reason);
    assert!(scene.completions().is_empty());
    assert!(!proxy.log().iter().any(|r| r.action == "AssociateAddress"), "the fleet moved a group stack's address");
    assert_eq!(scene.holder().await.map(|h| h.0), Some(scene.first.clone()));
}

/// A stateful group in the fleet (`KeepData`): its data follows the replacement as group mode's
/// does, every request held to template-fleet.yaml's role, which may tag and attach only to
/// instances that carry the group's tag (the group propagates it at launch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_group_s_data_follows_its_instance_in_the_fleet() {
    let (moto, proxy) = start();
    let (scene, data) = Scene::stateful(&moto, &proxy).await;
    let propagated = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(GROUP)
        .resource_type("auto-scaling-group")
        .key(ec2_failover::tags::GROUP)
        .value(KEY)
        .propagate_at_launch(true)
        .build();
    scene.asg.create_or_update_tags().tags(propagated).send().await.unwrap();
    let h = handler_with_groups(&proxy, "fleet-data", true);
    let first = scene.first.clone();

    proxy.hold(GROUP, TERMINATE_HOOK, &first, "terminating");
    let new = scene.replace_into_the_other_az().await;
    proxy.hold(GROUP, LAUNCH_HOOK, &new, "launching");
    assert_eq!(tag(&scene.instance_tags(&new).await, ec2_failover::tags::GROUP).as_deref(), Some(KEY));
    // AWS keeps the old instance, and its volume attached, until the terminate hook completes.
    scene.ec2.attach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();
    let preserved = h.handle(&scene.terminate(&first)).await.unwrap();
    assert_eq!(preserved.verdict, Verdict::Preserve, "{}", preserved.reason);
    assert_eq!(preserved.facts().group.as_deref(), Some(GROUP));
    scene.ec2.detach_volume().volume_id(&data).instance_id(&first).device("/dev/xvdf").send().await.unwrap();

    // The launch restores the snapshot in the new zone; the next passes attach it and move the IP.
    let mut verdicts = vec![h.handle(&scene.launch(&new)).await.unwrap().verdict];
    for _ in 0..3 {
        if scene.completions().iter().any(|c| c["hook"] == LAUNCH_HOOK) {
            break;
        }
        // EBS reports an attachment `attaching` for a few seconds.
        proxy.settle(&[]);
        verdicts.push(h.handle(&reconcile()).await.unwrap().verdict);
    }
    let launched: Vec<_> = scene.completions().into_iter().filter(|c| c["hook"] == LAUNCH_HOOK).collect();
    assert_eq!(
        launched,
        [json!({"group": GROUP, "hook": LAUNCH_HOOK, "instance": new, "result": "CONTINUE"})],
        "{verdicts:?}"
    );
    let on_new = scene.volumes_on(&new).await;
    assert_eq!(on_new.len(), 1, "{verdicts:?}");
    assert_ne!(on_new[0], data, "the copy in us-east-1b, not the volume of us-east-1a");
    let tags = scene.instance_tags(&new).await;
    assert_eq!(tag(&tags, "ec2-failover:data-volume"), Some(on_new[0].clone()));
    assert_eq!(scene.holder().await.map(|h| h.0), Some(new));
}
