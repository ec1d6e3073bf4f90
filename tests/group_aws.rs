//! Group mode's AWS layer against aws-smithy-mocks: AWS's own refusals that moto does not make
//! (it attaches a volume across zones, and to two instances), in AWS's own error XML, and the
//! sweep's reading of Auto Scaling pages.

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_lifecycle_hooks::DescribeLifecycleHooksOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance as AsgInstance, LifecycleHook, LifecycleState};
use aws_sdk_ec2::operation::associate_address::AssociateAddressOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use ec2_failover::group::aws::{execute, held};
use ec2_failover::group::plan::{GroupAction, LifecycleResult};
use ec2_failover::group::world::VolumeSpec;
use std::time::Duration;

use ec2_failover::decision::{Status, Verdict};
use ec2_failover::group::{Clients, Config, Handler};
use ec2_failover::trigger::Transition;

const NEW: &str = "i-0000000000000000b";
const VOLUME: &str = "vol-0123456789abcdef0";

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>\
         <RequestID>r</RequestID></Response>"
    )
}

fn associate() -> Rule {
    mock!(aws_sdk_ec2::Client::associate_address)
        .then_output(|| AssociateAddressOutput::builder().association_id("eipassoc-1").build())
}

fn complete() -> Rule {
    mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .then_output(|| CompleteLifecycleActionOutput::builder().build())
}

fn heartbeat() -> Rule {
    mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .then_output(|| RecordLifecycleActionHeartbeatOutput::builder().build())
}

fn launch_plan() -> Vec<GroupAction> {
    vec![
        GroupAction::AttachVolume { volume_id: VOLUME.into(), instance_id: NEW.into(), device: "/dev/xvdf".into() },
        GroupAction::MoveAddress {
            allocation_id: "eipalloc-1".into(),
            instance_id: NEW.into(),
            network_interface_id: Some("eni-1".into()),
        },
        GroupAction::CompleteLifecycle {
            group: "web-asg".into(),
            hook: "ec2-failover-launch".into(),
            instance_id: NEW.into(),
            result: LifecycleResult::Continue,
        },
    ]
}

/// AWS refuses to attach a volume from another zone, or one attached elsewhere; the launch then
/// neither gets the IP nor goes on, and the invocation fails so that the next one re-reads.
#[tokio::test]
async fn a_refused_attach_stops_the_launch_before_the_ip_and_the_completion() {
    for (code, message) in [
        (
            "InvalidVolume.ZoneMismatch",
            "The volume 'vol-0123456789abcdef0' is not in the same availability zone as instance 'i-0000000000000000b'",
        ),
        ("VolumeInUse", "vol-0123456789abcdef0 is already attached to an instance"),
    ] {
        let refuse = mock!(aws_sdk_ec2::Client::attach_volume)
            .match_requests(|r| r.volume_id() == Some(VOLUME) && r.instance_id() == Some(NEW))
            .sequence()
            .http_status(400, Some(ec2_error(code, message)))
            .build();
        let (never_associate, never_complete) = (associate(), complete());
        let mark = mock!(aws_sdk_ec2::Client::create_tags)
            .match_requests(|r| r.resources() == [VOLUME] && r.tags()[0].key() == Some("ec2-failover:attached"))
            .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
        let tell = mock!(aws_sdk_ec2::Client::create_tags)
            .match_requests(|r| r.resources() == [NEW] && r.tags()[0].key() == Some("ec2-failover:data-volume"))
            .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
        let ec2_rules = [refuse, never_associate, mark, tell];
        let clients = Clients {
            ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules),
            autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&never_complete]),
        };
        let (reports, error) = execute(&clients, &launch_plan()).await;
        let statuses: Vec<Status> = reports.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Failed, Status::Skipped, Status::Skipped], "{code}");
        let error = error.expect("the invocation fails");
        assert!(error.to_string().contains(&format!("AttachVolume failed with {code}")), "{error}");
        assert_eq!(ec2_rules[0].num_calls(), 1, "{code}: a refusal is not retried");
        assert_eq!((ec2_rules[1].num_calls(), never_complete.num_calls()), (0, 0), "{code}");
        assert_eq!(ec2_rules[2].num_calls(), 1, "{code}: the volume is marked before the attach");
        assert_eq!(ec2_rules[3].num_calls(), 1, "{code}: the instance is told its data volume before the attach");
    }
}

/// The snapshot was deleted between the read and the restore: no heartbeat is claimed for a
/// volume that is not being made; the invocation fails and the next one re-reads.
#[tokio::test]
async fn a_refused_restore_is_reported_and_nothing_after_it_runs() {
    let refuse = mock!(aws_sdk_ec2::Client::create_volume)
        // One token per (launch, snapshot): a retry cannot make a second volume.
        .match_requests(|r| r.client_token() == Some("ec2-failover-i-0000000000000000b-snap-0123456789abcdef0"))
        .sequence()
        .http_status(
            400,
            Some(ec2_error("InvalidSnapshot.NotFound", "The snapshot 'snap-0123456789abcdef0' does not exist.")),
        )
        .build();
    let never_heartbeat = heartbeat();
    let clients = Clients {
        ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&refuse]),
        autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&never_heartbeat]),
    };
    let plan = [
        GroupAction::CreateVolume {
            snapshot_id: "snap-0123456789abcdef0".into(),
            availability_zone: "us-east-1b".into(),
            key: "web".into(),
            for_instance: NEW.into(),
            device: "/dev/xvdf".into(),
            spec: VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) },
            initialization_rate: None,
            origin: None,
            data_age_seconds: None,
        },
        GroupAction::Heartbeat { group: "web-asg".into(), hook: "ec2-failover-launch".into(), instance_id: NEW.into() },
    ];
    let (reports, error) = execute(&clients, &plan).await;
    assert_eq!(reports.iter().map(|r| r.status).collect::<Vec<_>>(), [Status::Failed, Status::Skipped]);
    assert!(error.unwrap().to_string().contains("InvalidSnapshot.NotFound"));
    assert_eq!(never_heartbeat.num_calls(), 0);
}

/// The sweep asks Auto Scaling for the tagged groups only, follows its pages, and reads hooks only
/// for groups that hold an instance (the others are listed too: a sweep heals their addresses).
#[tokio::test]
async fn the_sweep_reads_every_page_of_tagged_groups_and_the_hooks_of_those_that_hold_one() {
    let group = |name: &str, instance: &str, state: LifecycleState| {
        AutoScalingGroup::builder()
            .auto_scaling_group_name(name)
            .instances(AsgInstance::builder().instance_id(instance).lifecycle_state(state).build())
            .build()
    };
    let tagged = |r: &aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsInput| {
        r.filters().iter().any(|f| f.name() == Some("tag-key") && f.values() == ["ec2-failover:group"])
    };
    let first_page = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(move |r| tagged(r) && r.next_token().is_none())
        .then_output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group("serving", "i-1", LifecycleState::InService))
                .auto_scaling_groups(group("launching", "i-2", LifecycleState::PendingWait))
                .next_token("page-2")
                .build()
        });
    let second_page = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(move |r| tagged(r) && r.next_token() == Some("page-2"))
        .then_output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group("terminating", "i-3", LifecycleState::TerminatingWait))
                .build()
        });
    let hooks = mock!(aws_sdk_autoscaling::Client::describe_lifecycle_hooks)
        .match_requests(|r| matches!(r.auto_scaling_group_name(), Some("launching" | "terminating")))
        .then_output(|| {
            DescribeLifecycleHooksOutput::builder()
                .lifecycle_hooks(hook("ec2-failover-launch", "autoscaling:EC2_INSTANCE_LAUNCHING"))
                .lifecycle_hooks(hook("ec2-failover-terminate", "autoscaling:EC2_INSTANCE_TERMINATING"))
                .build()
        });
    let rules = [first_page, second_page, hooks];
    let clients = Clients {
        ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, []),
        autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, &rules),
    };
    let groups = held(&clients, None).await.unwrap();
    let seen: Vec<(&str, Vec<(String, Transition)>)> =
        groups.iter().map(|g| (g.name.as_str(), g.held.clone())).collect();
    assert_eq!(
        seen,
        [
            ("serving", vec![]),
            ("launching", vec![("i-2".to_owned(), Transition::Launching)]),
            ("terminating", vec![("i-3".to_owned(), Transition::Terminating)]),
        ]
    );
    assert_eq!(groups[0].instances, [("i-1".to_owned(), ec2_failover::group::world::LifecycleState::InService)]);
    assert!(groups[0].hooks.is_empty());
    assert_eq!(groups[1].hooks.len(), 2);
    assert_eq!((rules[0].num_calls(), rules[1].num_calls(), rules[2].num_calls()), (1, 1, 2));
    // A deployment with a group key sweeps its own group only (the mocks' groups carry no key),
    // and reads no hooks for the others.
    assert!(held(&clients, Some("web")).await.unwrap().is_empty());
    assert_eq!(rules[2].num_calls(), 2);
}

/// A restore sends CreateVolume only what it accepts for the volume's type: DescribeVolumes reports
/// a gp2 volume's baseline IOPS, and CreateVolume refuses `Iops` for gp2 (and st1, sc1, standard)
/// and `Throughput` for anything but gp3. Before this, every cross-zone restore of a gp2 volume
/// failed until the launch was abandoned.
#[tokio::test]
async fn a_restore_sends_iops_and_throughput_only_for_the_types_that_take_them_and_the_initialization_rate() {
    use aws_sdk_ec2::operation::create_volume::CreateVolumeOutput;
    type Case = (&'static str, Option<i32>, Option<i32>, Option<i32>, Option<i32>);
    let cases: [Case; 7] = [
        // type, iops recorded, throughput recorded, iops sent, throughput sent
        ("gp2", Some(300), None, None, None),
        ("gp3", Some(4000), Some(250), Some(4000), Some(250)),
        ("io1", Some(1000), None, Some(1000), None),
        ("io2", Some(1000), None, Some(1000), None),
        ("st1", Some(500), Some(40), None, None),
        ("sc1", Some(250), Some(12), None, None),
        ("standard", Some(100), None, None, None),
    ];
    for (kind, iops, throughput, sent_iops, sent_throughput) in cases {
        let create = mock!(aws_sdk_ec2::Client::create_volume)
            .match_requests(move |r| {
                r.volume_type().map(|t| t.as_str()) == Some(kind)
                    && r.iops() == sent_iops
                    && r.throughput() == sent_throughput
                    && r.volume_initialization_rate() == Some(300)
            })
            .then_output(|| CreateVolumeOutput::builder().volume_id("vol-0123456789abcdef0").build());
        let clients = Clients {
            ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&create]),
            autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&heartbeat()]),
        };
        let plan = [GroupAction::CreateVolume {
            snapshot_id: "snap-0123456789abcdef0".into(),
            availability_zone: "us-east-1b".into(),
            key: "web".into(),
            for_instance: NEW.into(),
            device: "/dev/xvdf".into(),
            spec: VolumeSpec { volume_type: Some(kind.into()), iops, throughput },
            initialization_rate: Some(300),
            origin: None,
            data_age_seconds: None,
        }];
        let (_, error) = execute(&clients, &plan).await;
        assert!(error.is_none(), "{kind}: {error:?}");
        assert_eq!(create.num_calls(), 1, "{kind}: the request had the accepted shape");
    }
}

/// A sweep that has spent its time budget leaves the remaining held actions to the next sweep,
/// saying so, rather than run into the function's timeout under throttling.
#[tokio::test]
async fn a_sweep_past_its_budget_leaves_the_rest_to_the_next_one() {
    let groups = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| {
        let held = |name: &str, instance: &str| {
            AutoScalingGroup::builder()
                .auto_scaling_group_name(name)
                .instances(
                    AsgInstance::builder().instance_id(instance).lifecycle_state(LifecycleState::PendingWait).build(),
                )
                .build()
        };
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(held("web-asg", "i-0000000000000000b"))
            .auto_scaling_groups(held("db-asg", "i-0000000000000000c"))
            .build()
    });
    let hooks = mock!(aws_sdk_autoscaling::Client::describe_lifecycle_hooks).then_output(|| {
        DescribeLifecycleHooksOutput::builder()
            .lifecycle_hooks(hook("ec2-failover-launch", "autoscaling:EC2_INSTANCE_LAUNCHING"))
            .build()
    });
    // Each decision reads EC2 (its instance, the addresses, the data): counted.
    use aws_sdk_ec2::operation::{
        describe_addresses::DescribeAddressesOutput, describe_instances::DescribeInstancesOutput,
        describe_snapshots::DescribeSnapshotsOutput, describe_volumes::DescribeVolumesOutput,
    };
    let reads =
        mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| DescribeInstancesOutput::builder().build());
    let ec2_rules = [
        mock!(aws_sdk_ec2::Client::describe_addresses).then_output(|| DescribeAddressesOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_volumes).then_output(|| DescribeVolumesOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_snapshots).then_output(|| DescribeSnapshotsOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| {
            aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput::builder().build()
        }),
    ];
    let clients = Clients {
        ec2: mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&reads, &ec2_rules[0], &ec2_rules[1], &ec2_rules[2], &ec2_rules[3]]
        ),
        autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&groups, &hooks]),
    };
    let schedule = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let spent = Handler::new(Config::default(), clients.clone(), false).with_sweep_budget(Duration::ZERO);
    let outcome = spent.handle(&schedule).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::NoChange, "{}", outcome.reason);
    assert!(outcome.reason.contains("left for the next sweep"), "{}", outcome.reason);
    assert!(outcome.reason.contains("i-0000000000000000b") && outcome.reason.contains("i-0000000000000000c"));
    assert_eq!(reads.num_calls(), 0, "no held action was decided");
    // With the default budget the same sweep decides both.
    let _ = Handler::new(Config::default(), clients, false).handle(&schedule).await;
    assert_eq!(reads.num_calls(), 2, "each held action was decided");
}

/// A lifecycle hook as DescribeLifecycleHooks lists it.
fn hook(name: &str, transition: &str) -> LifecycleHook {
    LifecycleHook::builder().lifecycle_hook_name(name).lifecycle_transition(transition).build()
}
