//! Group mode's decision as a table: (lifecycle action, observed group/instance/addresses) to a
//! verdict and a plan. Pure: no AWS, no clock.
//!
//! The decision table reads one case a line: `check(name, group, instance, addresses, verdict, actions)`
//! for the launch of NEW; the rows are laid out by hand, hence `#[rustfmt::skip]`.

use ec2_failover::decision::Verdict;
use ec2_failover::group::decide::{decide, heal, held_actions, screen, serving, Screened};
use ec2_failover::group::plan::{GroupAction, LifecycleResult};
use ec2_failover::group::world::{
    Attachment, AttachmentState, DataSnapshot, DataVolume, Group, GroupAddress, GroupRoute, GroupWorld, HeldGroup,
    Instance, LifecycleState, SnapshotState, VolumeSpec, VolumeState,
};
use ec2_failover::group::Config;
use ec2_failover::pair::world::InstanceState;
use ec2_failover::tags::GROUP as GROUP_TAG;
use ec2_failover::trigger::{LifecycleAction, Transition, Trigger};

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

/// The group, holding NEW in `new` (its launch hook's Pending:Wait, unless a case says otherwise)
/// and OLD in its terminate hook's Terminating:Wait.
fn group_holding(key: Option<&str>, new: LifecycleState) -> Option<Group> {
    Some(Group {
        name: "web-asg".into(),
        key: key.map(Into::into),
        instances: vec![(NEW.into(), new), (OLD.into(), LifecycleState::TerminatingWait)],
        stack: None,
    })
}

fn group(key: Option<&str>) -> Option<Group> {
    group_holding(key, LifecycleState::PendingWait)
}

fn instance(state: InstanceState) -> Option<Instance> {
    Some(Instance {
        availability_zone: Some("us-east-1b".into()),
        network_interface_id: Some("eni-new".into()),
        launch_time: Some(1_800_000_000),
        ..Instance::new(NEW, state)
    })
}

/// The address of the group with tag `key`, attached where `on` says.
fn ip(key: &str, on: Option<(&str, &str)>) -> GroupAddress {
    GroupAddress {
        allocation_id: format!("eipalloc-{key}"),
        public_ip: Some("198.51.100.7".into()),
        key: key.into(),
        instance_id: on.map(|(i, _)| i.into()),
        network_interface_id: on.map(|(_, e)| e.into()),
    }
}

fn world(group: Option<Group>, instance: Option<Instance>, addresses: Vec<GroupAddress>) -> GroupWorld {
    GroupWorld { group, instance, addresses, volumes: vec![], snapshots: vec![], routes: vec![], now: 1_800_000_000 }
}

fn completion(result: LifecycleResult) -> GroupAction {
    GroupAction::CompleteLifecycle { group: "web-asg".into(), hook: "launch".into(), instance_id: NEW.into(), result }
}

/// A group tagged with `key`: its IP is the address with the same key.
fn tagged(key: &str) -> Option<Group> {
    group(Some(key))
}

/// A group without the tag: not ours.
fn untagged() -> Option<Group> {
    group(None)
}

/// Where an address is attached: (instance, interface).
type On = Option<(&'static str, &'static str)>;
const NOWHERE: On = None;
const ON_OLD: On = Some((OLD, "eni-old"));
const ON_NEW: On = Some((NEW, "eni-new"));
/// Held through the new instance's interface only (EC2 leaves the instance id out).
const ON_NEW_ENI: On = Some(("", "eni-new"));

/// The group's address `eipalloc-{key}` moves to the new instance.
fn mv(key: &str) -> GroupAction {
    GroupAction::MoveAddress {
        allocation_id: format!("eipalloc-{key}"),
        instance_id: NEW.into(),
        network_interface_id: Some("eni-new".into()),
    }
}

/// The launch goes on.
fn go_on() -> GroupAction {
    completion(LifecycleResult::Continue)
}

/// The held launch is kept alive.
fn beat() -> GroupAction {
    GroupAction::Heartbeat { group: "web-asg".into(), hook: "launch".into(), instance_id: NEW.into() }
}

/// The launch is abandoned.
fn abandon() -> GroupAction {
    completion(LifecycleResult::Abandon)
}

/// Decides the launch of NEW in the world (group, instance, addresses) and compares verdict and plan.
#[track_caller]
fn check(
    name: &str,
    group: Option<Group>,
    instance: Option<Instance>,
    addresses: &[GroupAddress],
    verdict: Verdict,
    actions: &[GroupAction],
) {
    let world = world(group, instance, addresses.to_vec());
    let decision = decide(&launch(), &world, &Config::default());
    assert_eq!((decision.verdict, decision.actions.as_slice()), (verdict, actions), "{name}: {}", decision.reason);
    assert!(!decision.reason.is_empty(), "{name}: no reason");
}

#[test]
#[rustfmt::skip]
fn the_decision_table() {
    use InstanceState::*;
    use Verdict::*;
    let in_service = group_holding(Some("web"), LifecycleState::InService);
    let gone = Some(Group { instances: vec![], ..group(Some("web")).unwrap() });
    //    name                                                                group          instance              addresses                                 verdict   actions
    check("a new instance takes the group's IP, then the launch goes on",     tagged("web"), instance(Running),    &[ip("web", ON_OLD)],                     Follow,   &[mv("web"), go_on()]);
    check("a pending instance is waited for: AWS refuses it the IP",          tagged("web"), instance(Pending),    &[ip("web", ON_OLD)],                     Wait,     &[beat()]);
    check("a late launch event for an instance in service changes nothing",   in_service,    instance(Running),    &[ip("web", ON_OLD)],                     NoChange, &[]);
    check("an instance no longer in the group: abandon its launch",           gone,          instance(Running),    &[ip("web", ON_OLD)],                     Abandon,  &[abandon()]);
    check("an IP attached to nothing is given to the new instance",           tagged("web"), instance(Running),    &[ip("web", NOWHERE), ip("db", ON_OLD)],  Follow,   &[mv("web"), go_on()]);
    check("the instance already holds the IP: only complete",                 tagged("web"), instance(Running),    &[ip("web", ON_NEW)],                     NoChange, &[go_on()]);
    check("held through its interface only (EC2 leaves the instance id out)", tagged("web"), instance(Running),    &[ip("web", ON_NEW_ENI)],                 NoChange, &[go_on()]);
    check("a group without the tag is not ours: its hook is left alone",      untagged(),    instance(Pending),    &[ip("web", ON_OLD)],                     Ignore,   &[]);
    check("a group that does not exist",                                      None,          instance(Pending),    &[],                                      Ignore,   &[]);
    check("no address carries the group's key",                               tagged("web"), instance(Pending),    &[ip("db", ON_OLD)],                      Abandon,  &[abandon()]);
    check("two addresses carry it: ambiguous",                                tagged("web"), instance(Pending),    &[ip("web", ON_OLD), ip("web", NOWHERE)], Abandon,  &[abandon()]);
    check("the instance is already terminated",                               tagged("web"), instance(Terminated), &[ip("web", ON_OLD)],                     Abandon,  &[abandon()]);
    check("the group holds it, EC2 does not list it yet: wait",               tagged("web"), None,                 &[ip("web", ON_OLD)],                     Wait,     &[beat()]);
}

/// The group as a sweep reads it: NEW and OLD in these lifecycle states.
fn swept(new: LifecycleState, old: Option<LifecycleState>) -> HeldGroup {
    let mut instances = vec![(NEW.to_owned(), new)];
    instances.extend(old.map(|s| (OLD.to_owned(), s)));
    HeldGroup { name: "web-asg".into(), key: Some("web".into()), instances, held: vec![], hooks: vec![], stack: None }
}

/// Heals the group's address towards its serving instance (NEW, in `state` as EC2 has it) and
/// compares verdict and plan.
#[track_caller]
fn check_heal(
    name: &str,
    group: HeldGroup,
    state: InstanceState,
    addresses: &[GroupAddress],
    verdict: Verdict,
    actions: &[GroupAction],
) {
    let serving_id = serving(&group);
    let instance = serving_id.and_then(|id| instance(state).filter(|i| i.instance_id == id));
    let world = world(Some(group.group()), instance, addresses.to_vec());
    let decision = heal(&world);
    assert_eq!((decision.verdict, decision.actions.as_slice()), (verdict, actions), "{name}: {}", decision.reason);
}

#[test]
#[rustfmt::skip]
fn a_sweep_heals_the_ip_onto_the_serving_instance_only_when_the_group_is_settled() {
    use InstanceState::{Running, Stopped};
    use LifecycleState::*;
    use Verdict::*;
    //         name                                                              group                                 EC2      addresses                                verdict   actions
    check_heal("the IP on nothing goes to the InService instance",             swept(InService, None),                 Running, &[ip("web", NOWHERE)],                   Heal,     &[mv("web")]);
    check_heal("the IP on another instance goes to the InService one",         swept(InService, Some(TerminatingWait)), Running, &[ip("web", ON_OLD)],                   Heal,     &[mv("web")]);
    check_heal("the IP on the serving instance stays",                         swept(InService, None),                 Running, &[ip("web", ON_NEW)],                    NoChange, &[]);
    check_heal("held through its interface only: stays",                       swept(InService, None),                 Running, &[ip("web", ON_NEW_ENI)],                NoChange, &[]);
    check_heal("a launch in progress owns the IP (Pending:Wait)",              swept(PendingWait, Some(InService)),    Running, &[ip("web", ON_NEW)],                    NoChange, &[]);
    check_heal("completed but not yet InService: no move back to the old one", swept(Pending, Some(InService)),        Running, &[ip("web", ON_NEW)],                    NoChange, &[]);
    check_heal("two InService instances: which one serves is not clear",       swept(InService, Some(InService)),      Running, &[ip("web", NOWHERE)],                   NoChange, &[]);
    check_heal("the InService instance does not run: the IP stays",            swept(InService, None),                 Stopped, &[ip("web", ON_OLD)],                    NoChange, &[]);
    check_heal("no address carries the key",                                   swept(InService, None),                 Running, &[ip("db", ON_OLD)],                     NoChange, &[]);
    check_heal("another group's address is not touched",                       swept(InService, None),                 Running, &[ip("web", ON_NEW), ip("db", NOWHERE)], NoChange, &[]);
}

fn data_world(volumes: Vec<DataVolume>, snapshots: Vec<DataSnapshot>) -> GroupWorld {
    GroupWorld {
        volumes,
        snapshots,
        ..world(group(Some("web")), instance(InstanceState::Running), vec![ip("web", Some((OLD, "eni-old")))])
    }
}

fn snap(id: &str, state: &str, key: &str) -> DataSnapshot {
    DataSnapshot {
        snapshot_id: id.into(),
        key: key.into(),
        state: SnapshotState::from_name(state),
        start_time: 1_700_000_000,
        instance: Some(OLD.into()),
        periodic: None,
        device: Some("/dev/xvdf".into()),
        volume: None,
        spec: VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) },
    }
}

fn restored(state: &str) -> DataVolume {
    DataVolume {
        volume_id: "vol-r".into(),
        key: "web".into(),
        state: VolumeState::from_name(state),
        availability_zone: "us-east-1b".into(),
        attachments: vec![],
        for_instance: Some(NEW.into()),
        device: Some("/dev/xvdf".into()),
        restored_from: None,
        attached: None,
        origin: None,
        spec: VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) },
    }
}

#[test]
fn the_data_follows_the_instance() {
    let heartbeat = GroupAction::Heartbeat { group: "web-asg".into(), hook: "launch".into(), instance_id: NEW.into() };
    let settings = Config::default();

    // A completed snapshot of this group (another group's is ignored): restore it in the new zone, wait.
    let world = data_world(vec![], vec![snap("snap-web", "completed", "web"), snap("snap-db", "completed", "db")]);
    let d = decide(&launch(), &world, &settings);
    assert_eq!(d.verdict, Verdict::Wait, "{}", d.reason);
    assert_eq!(
        d.actions,
        [
            GroupAction::CreateVolume {
                snapshot_id: "snap-web".into(),
                availability_zone: "us-east-1b".into(),
                key: "web".into(),
                for_instance: NEW.into(),
                device: "/dev/xvdf".into(),
                spec: VolumeSpec { volume_type: Some("gp3".into()), iops: Some(3000), throughput: Some(125) },
                initialization_rate: None,
                origin: None,
                data_age_seconds: None,
            },
            heartbeat.clone(),
        ]
    );
    // With DATA_INIT_RATE_MIBPS the restore asks EBS for that initialization rate.
    let rated = Config { init_rate_mibps: Some(300), ..Config::default() };
    let d = decide(&launch(), &world, &rated);
    assert!(
        matches!(&d.actions[0], GroupAction::CreateVolume { initialization_rate: Some(300), .. }),
        "{:?}",
        d.actions
    );

    // The volume is still being created: only the heartbeat.
    let world = data_world(vec![restored("creating")], vec![snap("snap-web", "completed", "web")]);
    let d = decide(&launch(), &world, &settings);
    assert_eq!((d.verdict, d.actions), (Verdict::Wait, vec![heartbeat.clone()]));

    // Available: attach it and wait; neither the IP nor the launch moves while it is attaching.
    let world = data_world(vec![restored("available")], vec![snap("snap-web", "completed", "web")]);
    let d = decide(&launch(), &world, &settings);
    assert_eq!(d.verdict, Verdict::Wait, "{}", d.reason);
    let attach =
        GroupAction::AttachVolume { volume_id: "vol-r".into(), instance_id: NEW.into(), device: "/dev/xvdf".into() };
    assert_eq!(d.actions, [attach.clone(), heartbeat.clone()]);
    // An instance that cannot read its tags in its metadata gets them turned on first, or its boot
    // would never learn which volume is its data.
    let mut world = data_world(vec![restored("available")], vec![snap("snap-web", "completed", "web")]);
    if let Some(instance) = world.instance.as_mut() {
        instance.metadata_tags = Some(false);
    }
    let d = decide(&launch(), &world, &settings);
    assert_eq!(d.verdict, Verdict::Wait, "{}", d.reason);
    assert_eq!(d.actions, [GroupAction::EnableInstanceTags { instance_id: NEW.into() }, attach, heartbeat.clone()]);
    assert!(d.reason.contains("could not read its tags"), "{}", d.reason);

    // EC2 says `attaching` (the instance may not see the device yet): still waiting.
    let attaching = |state: AttachmentState| DataVolume {
        attachments: vec![Attachment { state, ..Attachment::attached(NEW, "/dev/xvdf") }],
        ..restored("in-use")
    };
    for state in [AttachmentState::Attaching, AttachmentState::Busy] {
        let world = data_world(vec![attaching(state)], vec![snap("snap-web", "completed", "web")]);
        let d = decide(&launch(), &world, &settings);
        assert_eq!((d.verdict, &d.actions), (Verdict::Wait, &vec![heartbeat.clone()]), "{state:?}: {}", d.reason);
        assert!(d.reason.contains(state.name()), "{}", d.reason);
    }

    // `attached`: then the IP, then the launch goes on, in that order.
    let world = data_world(vec![attaching(AttachmentState::Attached)], vec![snap("snap-web", "completed", "web")]);
    let d = decide(&launch(), &world, &settings);
    assert_eq!(d.verdict, Verdict::Follow, "{}", d.reason);
    assert!(matches!(d.actions[0], GroupAction::MoveAddress { .. }), "{:?}", d.actions);
    assert_eq!(d.actions[1..], [completion(LifecycleResult::Continue)]);

    // Waited past the limit for a pending snapshot: abandon rather than serve without data.
    let mut world = data_world(vec![], vec![snap("snap-web", "pending", "web")]);
    world.now += 2 * settings.max_wait_seconds;
    let d = decide(&launch(), &world, &settings);
    assert_eq!((d.verdict, d.actions), (Verdict::Abandon, vec![completion(LifecycleResult::Abandon)]));
}

#[test]
fn lifecycle_actions_are_decided_and_ebs_notifications_and_schedules_sweep() {
    let terminate = Trigger::Lifecycle(LifecycleAction { transition: Transition::Terminating, ..launch() });
    for trigger in [
        Trigger::StateChange { instance_id: NEW.into(), state: "stopped".into() },
        Trigger::Unrelated { what: "aws.ec2 AWS API Call via CloudTrail".into() },
    ] {
        let Screened::Ignore(ignored) = screen(&trigger) else { panic!("{trigger:?} was not screened out") };
        assert_eq!(ignored.verdict, Verdict::Ignore, "{trigger:?}");
        assert!(ignored.actions.is_empty());
    }
    let ebs = Trigger::Ebs {
        event: "createVolume".into(),
        result: "available".into(),
        resource_id: "vol-1".into(),
        at: None,
    };
    assert_eq!(screen(&Trigger::Schedule), Screened::Sweep);
    assert_eq!(screen(&ebs), Screened::Sweep);
    assert!(matches!(screen(&Trigger::Lifecycle(launch())), Screened::Action(a) if a.instance_id == NEW));
    assert!(matches!(screen(&terminate), Screened::Action(a) if a.transition == Transition::Terminating));
    assert_eq!(GROUP_TAG, "ec2-failover:group");
}

#[test]
fn a_sweep_decides_each_held_instance_with_the_group_s_own_hook() {
    let group = |name: &str, held: Vec<(&str, Transition)>, hooks: Vec<(&str, Transition)>| HeldGroup {
        name: name.into(),
        key: Some("web".into()),
        instances: Vec::new(),
        held: held.into_iter().map(|(i, t)| (i.to_owned(), t)).collect(),
        hooks: hooks.into_iter().map(|(h, t)| (h.to_owned(), t)).collect(),
        stack: None,
    };
    let (l, t) = (Transition::Launching, Transition::Terminating);
    let groups = vec![
        group("one-hook", vec![("i-1", l)], vec![("launch", l), ("terminate", t)]),
        group("two-launch-hooks", vec![("i-2", l)], vec![("other-tool", l), ("ec2-failover-launch", l)]),
        group("terminating", vec![("i-3", t)], vec![("launch", l), ("ec2-failover-terminate", t)]),
        group("ambiguous", vec![("i-4", l)], vec![("a", l), ("b", l)]),
        group("hook-removed", vec![("i-5", t)], vec![("launch", l)]),
    ];
    let (actions, notes) = held_actions(&groups, false);
    let got: Vec<(&str, &str, &str, Transition)> =
        actions.iter().map(|a| (a.group.as_str(), a.hook.as_str(), a.instance_id.as_str(), a.transition)).collect();
    assert_eq!(
        got,
        [
            ("one-hook", "launch", "i-1", l),
            ("two-launch-hooks", "ec2-failover-launch", "i-2", l),
            ("terminating", "ec2-failover-terminate", "i-3", t),
        ]
    );
    assert!(actions.iter().all(|a| a.token.is_none()));
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("i-4") && notes[0].contains("a, b"), "{}", notes[0]);
    assert!(notes[1].contains("i-5") && notes[1].contains("no such hook"), "{}", notes[1]);
}

/// A fleet's groups are their owners', who may run other tools' hooks: only a hook named
/// `ec2-failover*` is answered, even when it is the group's only one for the transition.
#[test]
fn a_fleet_s_sweep_answers_only_ec2_failover_s_hooks() {
    let group = |name: &str, held: (&str, Transition), hooks: Vec<(&str, Transition)>| HeldGroup {
        name: name.into(),
        key: Some("web".into()),
        instances: Vec::new(),
        held: vec![(held.0.to_owned(), held.1)],
        hooks: hooks.into_iter().map(|(h, t)| (h.to_owned(), t)).collect(),
        stack: None,
    };
    let (l, t) = (Transition::Launching, Transition::Terminating);
    let groups = vec![
        group("foreign-terminate", ("i-1", t), vec![("ec2-failover-launch", l), ("drain", t)]),
        group("own-launch", ("i-2", l), vec![("ec2-failover-launch", l)]),
        group("foreign-launch", ("i-3", l), vec![("bootstrap", l)]),
    ];
    let (actions, notes) = held_actions(&groups, true);
    let got: Vec<&str> = actions.iter().map(|a| a.group.as_str()).collect();
    assert_eq!(got, ["own-launch"]);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| n.contains("another tool's")), "{notes:?}");
    // Group mode alone (its stack made the group): the group's only hook is its own, whatever its name.
    assert_eq!(held_actions(&groups, false).0.len(), 3);
}

#[test]
fn a_terminating_instance_is_snapshotted_once_and_old_snapshots_go() {
    let terminate = LifecycleAction { transition: Transition::Terminating, instance_id: OLD.into(), ..launch() };
    let attached = DataVolume {
        volume_id: "vol-a".into(),
        attachments: vec![Attachment::attached(OLD, "/dev/xvdf")],
        for_instance: None,
        state: VolumeState::InUse,
        ..restored("in-use")
    };
    let older = |id: &str, t: i64| DataSnapshot {
        start_time: t,
        instance: Some(format!("i-{id}")),
        periodic: None,
        ..snap(id, "completed", "web")
    };
    let settings = Config { keep_snapshots: 2, ..Config::default() };
    let world = GroupWorld {
        volumes: vec![attached.clone()],
        snapshots: vec![older("s1", 1), older("s2", 2), older("s3", 3)],
        ..data_world(vec![], vec![])
    };
    let d = decide(&terminate, &world, &settings);
    assert_eq!(d.verdict, Verdict::Preserve, "{}", d.reason);
    assert!(matches!(&d.actions[0], GroupAction::CreateSnapshot { volume_id, instance_id: Some(i), device, .. }
        if volume_id == "vol-a" && i == OLD && device == "/dev/xvdf"));
    assert!(matches!(&d.actions[1], GroupAction::CompleteLifecycle { result: LifecycleResult::Continue, .. }));
    // Two kept in all: the new one and s3.
    let deleted: Vec<&GroupAction> = d.actions[2..].iter().collect();
    assert_eq!(
        deleted,
        [
            &GroupAction::DeleteSnapshot { snapshot_id: "s2".into() },
            &GroupAction::DeleteSnapshot { snapshot_id: "s1".into() }
        ]
    );

    // The same event again: the snapshot for this instance exists; only let it go.
    let world = GroupWorld { snapshots: vec![DataSnapshot { instance: Some(OLD.into()), ..older("s4", 4) }], ..world };
    let d = decide(&terminate, &world, &settings);
    assert_eq!(d.verdict, Verdict::NoChange, "{}", d.reason);
    assert!(matches!(d.actions.as_slice(), [GroupAction::CompleteLifecycle { result: LifecycleResult::Continue, .. }]));
}

#[test]
fn a_launch_before_a_terminate_is_abandoned_at_once() {
    // The old instance still holds the data volume. Held by its terminate hook, it will let go:
    // the launch waits. In service (AZ rebalancing, instance refresh, capacity rebalancing launch
    // first), it will not: waiting would only end in the hook's timeout, so the launch goes now.
    let on_old = DataVolume {
        volume_id: "vol-data".into(),
        state: VolumeState::InUse,
        availability_zone: "us-east-1a".into(),
        attachments: vec![Attachment::attached(OLD, "/dev/xvdf")],
        for_instance: None,
        ..restored("in-use")
    };
    let world = |old: LifecycleState| GroupWorld {
        group: Some(Group {
            name: "web-asg".into(),
            key: Some("web".into()),
            instances: vec![(NEW.into(), LifecycleState::PendingWait), (OLD.into(), old)],
            stack: None,
        }),
        volumes: vec![on_old.clone()],
        ..data_world(vec![], vec![])
    };
    let terminating = decide(&launch(), &world(LifecycleState::TerminatingWait), &Config::default());
    assert_eq!(terminating.verdict, Verdict::Wait, "{}", terminating.reason);
    let serving = decide(&launch(), &world(LifecycleState::InService), &Config::default());
    assert_eq!(serving.verdict, Verdict::Abandon, "{}", serving.reason);
    assert_eq!(serving.actions, [completion(LifecycleResult::Abandon)]);
    assert!(serving.reason.contains("in service"), "{}", serving.reason);
}

#[test]
fn a_deployment_with_a_group_key_acts_only_on_its_own_group() {
    // Two stacks in one region: each function serves the group with its own key, so each group
    // has one writer. The other stack's group is left to its own function.
    let world = world(tagged("web"), instance(InstanceState::Running), vec![ip("web", ON_OLD)]);
    let other = Config { key: Some("db".into()), ..Config::default() };
    let mine = Config { key: Some("web".into()), ..Config::default() };
    let d = decide(&launch(), &world, &other);
    assert_eq!((d.verdict, d.actions.len()), (Verdict::Ignore, 0), "{}", d.reason);
    assert!(d.reason.contains("serves db only"), "{}", d.reason);
    assert_eq!(decide(&launch(), &world, &mine).verdict, Verdict::Follow);
}

/// A route of group `key`'s table to 0.0.0.0/0, pointing at `eni` (none: no such route yet).
fn nat_route(key: &str, eni: Option<&str>) -> GroupRoute {
    GroupRoute {
        table: "rtb-private".into(),
        destination: "0.0.0.0/0".into(),
        key: key.into(),
        instance_id: None,
        network_interface_id: eni.map(Into::into),
    }
}

fn point_route() -> GroupAction {
    GroupAction::PointRoute {
        table: "rtb-private".into(),
        destination: "0.0.0.0/0".into(),
        instance_id: NEW.into(),
        network_interface_id: Some("eni-new".into()),
    }
}

#[test]
fn a_nat_instance_s_route_follows_the_replacement_with_its_ip_as_the_launch_goes_on() {
    let mv = GroupAction::MoveAddress {
        allocation_id: "eipalloc-web".into(),
        instance_id: NEW.into(),
        network_interface_id: Some("eni-new".into()),
    };
    let routed = |routes: Vec<GroupRoute>, on: Option<(&str, &str)>| GroupWorld {
        routes,
        ..world(group(Some("web")), instance(InstanceState::Running), vec![ip("web", on)])
    };
    let config = Config { keep_data: false, ..Config::default() };
    // The old instance's route and address: both move, then the launch goes on.
    let d = decide(
        &launch(),
        &routed(vec![nat_route("web", Some("eni-old")), nat_route("db", Some("eni-db"))], Some((OLD, "eni-old"))),
        &config,
    );
    assert_eq!(d.verdict, Verdict::Follow, "{}", d.reason);
    assert_eq!(d.actions, [mv.clone(), go_on(), point_route()]);
    assert!(d.reason.contains("the route to 0.0.0.0/0 in rtb-private"), "{}", d.reason);
    // The IP already moved (a retry after a failed route move): the route alone, then go on.
    let d = decide(&launch(), &routed(vec![nat_route("web", None)], Some((NEW, "eni-new"))), &config);
    assert_eq!((d.verdict, d.actions.as_slice()), (Verdict::Follow, &[go_on(), point_route()][..]), "{}", d.reason);
    // Everything in place: no change.
    let d = decide(&launch(), &routed(vec![nat_route("web", Some("eni-new"))], Some((NEW, "eni-new"))), &config);
    assert_eq!((d.verdict, d.actions.as_slice()), (Verdict::NoChange, &[go_on()][..]), "{}", d.reason);
    // A source/destination check left on is said loudly.
    let mut checked = routed(vec![nat_route("web", Some("eni-old"))], Some((OLD, "eni-old")));
    checked.instance.as_mut().unwrap().source_dest_check = Some(true);
    let d = decide(&launch(), &checked, &config);
    assert!(d.reason.contains("source/destination check is on"), "{}", d.reason);

    // The sweep heals a route moved by hand, as it heals the address.
    let serving_group = swept(LifecycleState::InService, None);
    let healed = GroupWorld {
        routes: vec![nat_route("web", Some("eni-other"))],
        ..world(Some(serving_group.group()), instance(InstanceState::Running), vec![ip("web", Some((NEW, "eni-new")))])
    };
    let d = heal(&healed);
    assert_eq!((d.verdict, d.actions.as_slice()), (Verdict::Heal, &[point_route()][..]), "{}", d.reason);
}

/// In a fleet, an event's hook must be ec2-failover's and the group not a group stack's: anything
/// else is left alone, read and nothing more. Group mode alone answers both.
#[test]
fn a_fleet_leaves_another_tool_s_hook_and_a_group_stack_s_group_alone() {
    let fleet = Config { keep_data: false, fleet: true, ..Config::default() };
    let alone = Config { keep_data: false, ..Config::default() };
    let here = world(tagged("web"), instance(InstanceState::Running), vec![ip("web", Some((OLD, "eni-old")))]);

    // The launch fixture's hook is named "launch": another tool's, in a fleet.
    let foreign = decide(&launch(), &here, &fleet);
    assert_eq!(foreign.verdict, Verdict::Ignore, "{}", foreign.reason);
    assert!(foreign.reason.contains("another tool's"), "{}", foreign.reason);
    assert_eq!(decide(&launch(), &here, &alone).verdict, Verdict::Follow);

    let own = LifecycleAction { hook: "ec2-failover-launch".into(), ..launch() };
    let followed = decide(&own, &here, &fleet);
    assert_eq!(followed.verdict, Verdict::Follow, "{}", followed.reason);

    let stacked = Group { stack: Some("web-stack".into()), ..tagged("web").unwrap() };
    let theirs = world(Some(stacked), instance(InstanceState::Running), vec![ip("web", Some((OLD, "eni-old")))]);
    let left = decide(&own, &theirs, &fleet);
    assert_eq!(left.verdict, Verdict::Ignore, "{}", left.reason);
    assert!(left.reason.contains("served by its stack web-stack"), "{}", left.reason);
    assert!(left.actions.is_empty());
    assert_eq!(decide(&own, &theirs, &alone).verdict, Verdict::Follow, "the group stack's own function serves it");
}

/// A group's status is settled only when its one address is on its serving instance and that
/// instance runs; an instance EC2 did not return, or one stopped, is not settled whatever the
/// heal would do.
#[test]
fn a_status_is_settled_only_with_the_address_on_a_running_serving_instance() {
    use ec2_failover::group::status::statuses;
    let serving = HeldGroup {
        name: "web-asg".into(),
        key: Some("web".into()),
        instances: vec![(NEW.into(), LifecycleState::InService)],
        held: vec![],
        hooks: vec![],
        stack: None,
    };
    let running = instance(InstanceState::Running).unwrap();
    let stopped = instance(InstanceState::Stopped).unwrap();
    let on_new = ip("web", Some((NEW, "eni-new")));
    let on_old = ip("web", Some((OLD, "eni-old")));
    let status = |addresses: &[GroupAddress], instances: &[Instance]| {
        statuses(std::slice::from_ref(&serving), addresses, instances, &[], 0).remove(0)
    };
    let settled = status(std::slice::from_ref(&on_new), std::slice::from_ref(&running));
    assert!(settled.settled, "{settled:?}");
    assert_eq!(settled.holder.as_deref(), Some(NEW));
    let elsewhere = status(std::slice::from_ref(&on_old), std::slice::from_ref(&running));
    assert!(!elsewhere.settled && elsewhere.next.contains("moving it there"), "{elsewhere:?}");
    let down = status(std::slice::from_ref(&on_old), std::slice::from_ref(&stopped));
    assert!(!down.settled, "the heal waits for a stopped instance, and the group is not settled: {down:?}");
    let unread = status(std::slice::from_ref(&on_new), &[]);
    assert!(!unread.settled, "EC2 did not return the serving instance: {unread:?}");
    let none = status(&[], std::slice::from_ref(&running));
    assert!(!none.settled && none.address.is_none(), "{none:?}");
}
