//! Group mode's decision as a table: (lifecycle action, observed group/instance/addresses) to a
//! verdict and a plan. Pure: no AWS, no clock.

use ec2_failover::decide::Verdict;
use ec2_failover::group::{
    decide, screen, Group, GroupAction, GroupAddress, GroupWorld, Instance, LifecycleResult, GROUP_TAG,
};
use ec2_failover::trigger::{LifecycleAction, Transition, Trigger};
use ec2_failover::world::InstanceState;

const NEW: &str = "i-0000000000000000b";
const OLD: &str = "i-0000000000000000a";

fn launch() -> LifecycleAction {
    LifecycleAction {
        transition: Transition::Launching,
        group: "web-asg".into(),
        hook: "launch".into(),
        instance_id: NEW.into(),
        token: None,
    }
}

fn group(key: Option<&str>) -> Option<Group> {
    Some(Group {
        name: "web-asg".into(),
        key: key.map(Into::into),
        instances: vec![(NEW.into(), "Pending:Wait".into())],
    })
}

fn instance(state: InstanceState) -> Option<Instance> {
    Some(Instance {
        instance_id: NEW.into(),
        state,
        availability_zone: Some("us-east-1b".into()),
        network_interface_id: Some("eni-new".into()),
        launch_time: Some(1_800_000_000),
    })
}

fn address(key: &str, on: Option<(&str, &str)>) -> GroupAddress {
    GroupAddress {
        allocation_id: format!("eipalloc-{key}"),
        public_ip: Some("198.51.100.7".into()),
        key: key.into(),
        instance_id: on.map(|(i, _)| i.into()),
        network_interface_id: on.map(|(_, e)| e.into()),
    }
}

fn world(group: Option<Group>, instance: Option<Instance>, addresses: Vec<GroupAddress>) -> GroupWorld {
    GroupWorld { group, instance, addresses, volumes: vec![], snapshots: vec![], now: 1_800_000_000 }
}

fn completion(result: LifecycleResult) -> GroupAction {
    GroupAction::CompleteLifecycle { group: "web-asg".into(), hook: "launch".into(), instance_id: NEW.into(), result }
}

#[test]
fn the_decision_table() {
    use InstanceState::*;
    let on_old = Some((OLD, "eni-old"));
    let cases: Vec<(&str, GroupWorld, Verdict, Vec<GroupAction>)> = vec![
        (
            "a new instance takes the group's IP, then the launch goes on",
            world(group(Some("web")), instance(Pending), vec![address("web", on_old)]),
            Verdict::Follow,
            vec![
                GroupAction::MoveAddress {
                    allocation_id: "eipalloc-web".into(),
                    instance_id: NEW.into(),
                    network_interface_id: Some("eni-new".into()),
                },
                completion(LifecycleResult::Continue),
            ],
        ),
        (
            "an IP attached to nothing is given to the new instance",
            world(group(Some("web")), instance(Running), vec![address("web", None), address("db", on_old)]),
            Verdict::Follow,
            vec![
                GroupAction::MoveAddress {
                    allocation_id: "eipalloc-web".into(),
                    instance_id: NEW.into(),
                    network_interface_id: Some("eni-new".into()),
                },
                completion(LifecycleResult::Continue),
            ],
        ),
        (
            "the instance already holds the IP: only complete",
            world(group(Some("web")), instance(Running), vec![address("web", Some((NEW, "eni-new")))]),
            Verdict::NoChange,
            vec![completion(LifecycleResult::Continue)],
        ),
        (
            "held through its interface only (EC2 leaves the instance id out)",
            world(group(Some("web")), instance(Running), vec![address("web", Some(("", "eni-new")))]),
            Verdict::NoChange,
            vec![completion(LifecycleResult::Continue)],
        ),
        (
            "a group without the tag is not ours: its hook is left alone",
            world(group(None), instance(Pending), vec![address("web", on_old)]),
            Verdict::Ignore,
            vec![],
        ),
        ("a group that does not exist", world(None, instance(Pending), vec![]), Verdict::Ignore, vec![]),
        (
            "no address carries the group's key",
            world(group(Some("web")), instance(Pending), vec![address("db", on_old)]),
            Verdict::Abandon,
            vec![completion(LifecycleResult::Abandon)],
        ),
        (
            "two addresses carry it: ambiguous",
            world(group(Some("web")), instance(Pending), vec![address("web", on_old), address("web", None)]),
            Verdict::Abandon,
            vec![completion(LifecycleResult::Abandon)],
        ),
        (
            "the instance is already terminated",
            world(group(Some("web")), instance(Terminated), vec![address("web", on_old)]),
            Verdict::Abandon,
            vec![completion(LifecycleResult::Abandon)],
        ),
        (
            "EC2 does not know the instance",
            world(group(Some("web")), None, vec![address("web", on_old)]),
            Verdict::Abandon,
            vec![completion(LifecycleResult::Abandon)],
        ),
    ];
    for (name, world, verdict, actions) in cases {
        let decision = decide(&launch(), &world);
        assert_eq!((decision.verdict, &decision.actions), (verdict, &actions), "{name}: {}", decision.reason);
        assert!(!decision.reason.is_empty(), "{name}: no reason");
    }
}

#[test]
fn only_launch_actions_reach_the_group() {
    let terminate = Trigger::Lifecycle(LifecycleAction { transition: Transition::Terminating, ..launch() });
    for trigger in
        [terminate, Trigger::Schedule, Trigger::StateChange { instance_id: NEW.into(), state: "stopped".into() }]
    {
        let ignored = screen(&trigger).expect_err("screened out");
        assert_eq!(ignored.verdict, Verdict::Ignore, "{trigger:?}");
        assert!(ignored.actions.is_empty());
    }
    assert!(screen(&Trigger::Lifecycle(launch())).is_ok());
    assert_eq!(GROUP_TAG, "ec2-failover:group");
}
