//! A fuzzer over the event parser (proptest): arbitrary JSON, and mutations of every file in
//! `events/`. For each payload: no panic; a rejected payload gets `BadEvent` naming what is
//! accepted and reaches no AWS call at all, in either mode; an accepted one goes through both
//! modes' `screen` and `decide` (pair: against a healthy pair; group: a lifecycle action against a
//! stateful group holding its instance, a sweep through `held_actions`) without a panic.
//!
//! `make test` runs `FUZZ_CASES` (default 2,000) cases per property; `make fuzz` runs many more.

use std::path::Path;
use std::sync::OnceLock;

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_lifecycle_hooks::DescribeLifecycleHooksOutput;
use aws_sdk_ec2::operation::associate_address::AssociateAddressOutput;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
use aws_sdk_ec2::operation::start_instances::StartInstancesOutput;
use aws_sdk_ec2::operation::stop_instances::StopInstancesOutput;
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use ec2_failover::error::Error;
use ec2_failover::group;
use ec2_failover::group::decide::Screened;
use ec2_failover::group::world::{
    Attachment, DataSnapshot, DataVolume, Group, GroupAddress, GroupWorld, HeldGroup, LifecycleState, SnapshotState,
    VolumeSpec, VolumeState,
};
use ec2_failover::pair::config::ZonalShift;
use ec2_failover::pair::decide::{decide, screen};
use ec2_failover::pair::world::{Anchor, Holder, Instance, InstanceState, World};
use ec2_failover::pair::Handler;
use ec2_failover::pair::{Clients, Config};
use ec2_failover::trigger::{parse, ACCEPTED};
use ec2_failover::trigger::{LifecycleAction, Transition};
use proptest::prelude::*;
use proptest::test_runner::Config as RunnerConfig;
use serde_json::{Map, Value};

const P: &str = "i-0123456789abcdef0";
const S: &str = "i-0fedcba9876543210";
const ALLOC: &str = "eipalloc-0123456789abcdef0";

fn config() -> Config {
    Config { allocation_id: Some(ALLOC.into()), zonal_shift: ZonalShift::Off, ..Config::with_defaults(P, S) }
}

fn runner() -> RunnerConfig {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    RunnerConfig { cases, ..RunnerConfig::default() }
}

/// Every file in `events/`, parsed.
fn event_files() -> &'static [Value] {
    static FILES: OnceLock<Vec<Value>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    })
}

/// Strings the parser looks for, so that random payloads get past its first checks.
const WORDS: &[&str] = &[
    "",
    "aws.ec2",
    "aws.cloudwatch",
    "aws.events",
    "aws.autoscaling",
    "EC2 Instance State-change Notification",
    "CloudWatch Alarm State Change",
    "Scheduled Event",
    "Notification",
    "ALARM",
    "OK",
    "INSUFFICIENT_DATA",
    "stopped",
    "stopping",
    "running",
    "terminated",
    "shutting-down",
    "InstanceId",
    P,
    S,
    "{\"AlarmName\":\"x\",\"NewStateValue\":\"ALARM\"}",
    "\u{0}\u{ffff}é",
];

const KEYS: &[&str] = &[
    "source",
    "detail-type",
    "detail",
    "version",
    "instance-id",
    "state",
    "alarmData",
    "alarmName",
    "value",
    "configuration",
    "metrics",
    "metricStat",
    "metric",
    "dimensions",
    "InstanceId",
    "Records",
    "Sns",
    "Type",
    "Message",
    "Trigger",
    "Dimensions",
    "Metrics",
    "NewStateValue",
    "AlarmName",
    "name",
    "resources",
    "time",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS).prop_map(str::to_owned), inner.clone()), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            prop::collection::vec((".{0,6}", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One mutation at a path chosen by `pick`: drop a key, replace a value, or wrap it.
#[derive(Clone, Debug)]
enum Mutation {
    Remove,
    Replace(Value),
    WrapInArray,
    Stringify,
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        arb_json().prop_map(Mutation::Replace),
        Just(Mutation::WrapInArray),
        Just(Mutation::Stringify),
    ]
}

/// Applies `mutation` at the `pick`-th node of `value` in depth-first order (wrapping around).
fn mutate(value: &mut Value, pick: usize, mutation: &Mutation) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, target: &mut usize, mutation: &Mutation) -> bool {
        if *target == 0 {
            match mutation {
                Mutation::Remove | Mutation::Replace(_) => {
                    *v = if let Mutation::Replace(r) = mutation { r.clone() } else { Value::Null }
                }
                Mutation::WrapInArray => *v = Value::Array(vec![v.take()]),
                Mutation::Stringify => *v = Value::String(v.to_string()),
            }
            return true;
        }
        *target -= 1;
        let children: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            Value::Object(o) => {
                // Removing a key is the one mutation that needs the parent.
                if let Mutation::Remove = mutation {
                    let keys: Vec<String> = o.keys().cloned().collect();
                    for key in keys {
                        let size = count(&o[&key]);
                        if *target == 0 {
                            o.remove(&key);
                            return true;
                        }
                        if *target < size {
                            return walk(o.get_mut(&key).unwrap(), target, mutation);
                        }
                        *target -= size;
                    }
                    return false;
                }
                o.values_mut().collect()
            }
            _ => Vec::new(),
        };
        for child in children {
            if walk(child, target, mutation) {
                return true;
            }
        }
        false
    }
    let mut target = pick % count(value);
    walk(value, &mut target, mutation);
}

/// A client whose every call is counted; the payloads checked with it must reach none.
fn counting_client() -> (Client, Vec<Rule>) {
    let mut rules = vec![
        mock!(Client::describe_instances).then_output(|| DescribeInstancesOutput::builder().build()),
        mock!(Client::describe_addresses).then_output(|| DescribeAddressesOutput::builder().build()),
        mock!(Client::associate_address).then_output(|| AssociateAddressOutput::builder().build()),
        mock!(Client::start_instances).then_output(|| StartInstancesOutput::builder().build()),
        mock!(Client::stop_instances).then_output(|| StopInstancesOutput::builder().build()),
        mock!(Client::create_tags).then_output(|| CreateTagsOutput::builder().build()),
    ];
    rules.push(mock!(Client::describe_volumes).then_output(|| DescribeVolumesOutput::builder().build()));
    rules.push(mock!(Client::describe_snapshots).then_output(|| DescribeSnapshotsOutput::builder().build()));
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    (client, rules)
}

/// Group mode's clients, every call counted.
fn counting_clients() -> (group::Clients, Vec<Rule>) {
    use aws_sdk_autoscaling::Client as Asg;
    let (ec2, mut rules) = counting_client();
    let asg_rules = vec![
        mock!(Asg::describe_auto_scaling_groups).then_output(|| DescribeAutoScalingGroupsOutput::builder().build()),
        mock!(Asg::describe_lifecycle_hooks).then_output(|| DescribeLifecycleHooksOutput::builder().build()),
    ];
    let autoscaling = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, &asg_rules);
    rules.extend(asg_rules);
    (group::Clients { ec2, autoscaling }, rules)
}

/// A stateful group that holds the action's instance, with its address, data volume and snapshot.
fn group_world(action: &LifecycleAction) -> GroupWorld {
    let spec = VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) };
    GroupWorld {
        group: Some(Group {
            name: action.group.clone(),
            key: Some("web".into()),
            instances: vec![(action.instance_id.clone(), LifecycleState::PendingWait)],
            stack: None,
        }),
        instance: Some(Instance {
            availability_zone: Some("us-east-1b".into()),
            network_interface_id: Some("eni-new".into()),
            launch_time: Some(1_799_999_000),
            ..Instance::new(&action.instance_id, InstanceState::Running)
        }),
        addresses: vec![GroupAddress {
            allocation_id: ALLOC.into(),
            public_ip: None,
            key: "web".into(),
            instance_id: Some(P.into()),
            network_interface_id: Some("eni-old".into()),
        }],
        volumes: vec![DataVolume {
            volume_id: "vol-0123456789abcdef0".into(),
            key: "web".into(),
            state: VolumeState::InUse,
            availability_zone: "us-east-1a".into(),
            attachments: vec![Attachment::attached(&action.instance_id, "/dev/xvdf")],
            for_instance: None,
            device: Some("/dev/xvdf".into()),
            restored_from: None,
            attached: None,
            origin: None,
            spec: spec.clone(),
        }],
        snapshots: vec![DataSnapshot {
            snapshot_id: "snap-0123456789abcdef0".into(),
            key: "web".into(),
            state: SnapshotState::Completed,
            start_time: 1_799_000_000,
            instance: Some(P.into()),
            periodic: None,
            volume: Some("vol-0123456789abcdef0".into()),
            device: Some("/dev/xvdf".into()),
            spec,
        }],
        routes: vec![],
        now: 1_800_000_000,
    }
}

fn healthy_world() -> World {
    let member = |id: &str| Instance {
        availability_zone: Some("us-east-1a".into()),
        network_interface_id: Some(format!("eni-{}", &id[2..])),
        launch_time: Some(1_700_000_000),
        ..Instance::new(id, InstanceState::Running)
    };
    World {
        now: 1_800_000_000,
        anchor: Anchor {
            resource: ALLOC.into(),
            public_ip: Some("203.0.113.10".into()),
            holder: Holder::Member { instance_id: P.into() },
            record: None,
            pause: None,
            health: None,
        },
        members: vec![member(P), member(S)],
        alarms: None,
        unread_alarms: Vec::new(),
        probes: Vec::new(),
        endpoints: Vec::new(),
        shifts: Vec::new(),
        unread_shifts: None,
    }
}

/// The property every payload must satisfy.
fn check(payload: &Value) -> Result<(), TestCaseError> {
    match parse(payload) {
        Ok(trigger) => {
            let config = config();
            if screen(&config, &trigger).is_none() {
                decide(&config, &trigger, &healthy_world());
            }
            match group::decide::screen(&trigger) {
                Screened::Action(action) => {
                    group::decide::decide(action, &group_world(action), &group::Config::default());
                }
                Screened::Sweep => {
                    let both = vec![(S.to_owned(), Transition::Launching), (P.to_owned(), Transition::Terminating)];
                    let hooks = vec![("ec2-failover-launch".to_owned(), Transition::Launching)];
                    let group = HeldGroup {
                        name: "web-asg".into(),
                        key: Some("web".into()),
                        instances: Vec::new(),
                        held: both,
                        hooks,
                        stack: None,
                    };
                    group::decide::held_actions(&[group], false);
                }
                Screened::Status => {
                    let group = HeldGroup {
                        name: "web-asg".into(),
                        key: Some("web".into()),
                        instances: Vec::new(),
                        held: Vec::new(),
                        hooks: Vec::new(),
                        stack: None,
                    };
                    let statuses = group::status::statuses(&[group], &[], &[], &[], 0);
                    prop_assert!(!statuses[0].settled);
                }
                Screened::Ignore(ignored) => prop_assert_eq!(ignored.actions.len(), 0),
            }
        }
        Err(parse_error) => {
            prop_assert!(parse_error.to_string().contains(ACCEPTED));
            let (client, rules) = counting_client();
            let cloudwatch_rules = vec![mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
                aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput::builder().build()
            })];
            let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &cloudwatch_rules);
            let handler = Handler::new(config(), Clients { ec2: client, cloudwatch, arc: arc_unused() }, false);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let result = runtime.block_on(handler.handle(payload));
            prop_assert!(matches!(result, Err(Error::BadEvent(_))), "rejected payload was not BadEvent: {result:?}");
            let calls: usize = rules.iter().chain(&cloudwatch_rules).map(Rule::num_calls).sum();
            prop_assert_eq!(calls, 0, "a rejected payload reached AWS");
            let (clients, rules) = counting_clients();
            let handler = group::Handler::new(group::Config::default(), clients, false);
            let result = runtime.block_on(handler.handle(payload));
            prop_assert!(matches!(result, Err(Error::BadEvent(_))), "group mode: not BadEvent: {result:?}");
            let calls: usize = rules.iter().map(Rule::num_calls).sum();
            prop_assert_eq!(calls, 0, "a rejected payload reached AWS in group mode");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(runner())]

    #[test]
    fn arbitrary_json_never_panics_and_is_rejected_without_ec2_calls(payload in arb_json()) {
        check(&payload)?;
    }

    #[test]
    fn mutated_event_files_never_panic_and_are_rejected_without_ec2_calls(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec((any::<usize>(), arb_mutation()), 1..4),
    ) {
        let files = event_files();
        let mut payload = files[file.index(files.len())].clone();
        for (pick, mutation) in &mutations {
            mutate(&mut payload, *pick, mutation);
        }
        check(&payload)?;
    }
}

#[test]
fn the_mutator_reaches_every_node() {
    // Nodes are numbered depth first: the root is 0, `a` is 1, `b` is 2, `c` is 3.
    let mut event: Value = serde_json::json!({"a": "aws.ec2", "b": {"c": "stopped"}});
    mutate(&mut event, 1, &Mutation::Remove);
    assert_eq!(event, serde_json::json!({"b": {"c": "stopped"}}));
    mutate(&mut event, 2, &Mutation::Replace(Value::from(7)));
    assert_eq!(event, serde_json::json!({"b": {"c": 7}}));
    mutate(&mut event, 1, &Mutation::Stringify);
    assert_eq!(event, serde_json::json!({"b": "{\"c\":7}"}));
    mutate(&mut event, 3, &Mutation::WrapInArray); // two nodes left: 3 wraps around to 1
    assert_eq!(event, serde_json::json!({"b": ["{\"c\":7}"]}));
}

/// Route 53 ARC, never asked here (`ZONAL_SHIFT=off` in these tests' settings).
fn arc_unused() -> aws_sdk_arczonalshift::Client {
    let config = aws_sdk_arczonalshift::Config::builder()
        .behavior_version(aws_sdk_arczonalshift::config::BehaviorVersion::latest())
        .region(aws_sdk_arczonalshift::config::Region::new("us-east-1"))
        .build();
    aws_sdk_arczonalshift::Client::from_conf(config)
}
