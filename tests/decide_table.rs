//! The decision as a table: each case is (configuration, trigger, world) and the verdict and
//! actions it must give. `decide` is pure, so these run in microseconds and cover every rule.

use ec2_failover::invocation::Verdict;
use ec2_failover::pair::decide::{decide, Action};
use ec2_failover::pair::world::{Address, FailoverRecord, Holder, Instance, InstanceState, Phase, World};
use ec2_failover::pair::{Config, FenceMode};
use ec2_failover::trigger::{Alarm, AlarmState, AlarmVia, Source, Trigger, Warning};

const P: &str = "i-0123456789abcdef0";
const S: &str = "i-0fedcba9876543210";
const NOW: i64 = 1_800_000_000;

use InstanceState::*;

fn config() -> Config {
    Config {
        primary: P.into(),
        standby: S.into(),
        allocation_id: "eipalloc-0123456789abcdef0".into(),
        fence_mode: FenceMode::Stop,
        cooldown_seconds: 300,
    }
}

fn eni(id: &str) -> String {
    format!("eni-{}", &id[2..])
}

/// A world where `holder` holds the IP and the members are in the given states (Gone: absent).
fn world(holder: Option<&str>, p: InstanceState, s: InstanceState) -> World {
    let member = |id: &str, state| Instance {
        instance_id: id.into(),
        state,
        availability_zone: None,
        network_interface_id: Some(eni(id)),
        launch_time: Some(NOW - 3600),
    };
    World {
        now: NOW,
        address: Address {
            allocation_id: "eipalloc-0123456789abcdef0".into(),
            public_ip: Some("198.51.100.7".into()),
            holder: holder.map_or(Holder::Nobody, |id| Holder::Member { instance_id: id.into() }),
            record: None,
        },
        members: [(P, p), (S, s)].into_iter().filter(|(_, st)| *st != Gone).map(|(id, st)| member(id, st)).collect(),
    }
}

fn with_record(mut w: World, from: &str, to: &str, ago: i64, phase: Phase) -> World {
    w.address.record = Some(FailoverRecord { from: from.into(), to: to.into(), at: NOW - ago, phase });
    w
}

fn stopped(id: &str) -> Trigger {
    Trigger::StateChange { instance_id: id.into(), state: "stopped".into() }
}

fn alarm(state: AlarmState, ids: &[&str]) -> Trigger {
    Trigger::Warning(Warning {
        source: Source::Alarm(Alarm { name: "cpu".into(), state, via: AlarmVia::AlarmAction }),
        instance_ids: ids.iter().map(|s| s.to_string()).collect(),
    })
}

fn mv(id: &str) -> Action {
    Action::MoveAddress { instance_id: id.into(), network_interface_id: Some(eni(id)) }
}
fn start(id: &str) -> Action {
    Action::StartInstance { instance_id: id.into() }
}
fn stop(id: &str) -> Action {
    Action::StopInstance { instance_id: id.into() }
}
fn record(from: &str, to: &str, phase: Phase) -> Action {
    Action::RecordFailover(FailoverRecord { from: from.into(), to: to.into(), at: NOW, phase })
}

/// Runs `decide` and compares verdict, actions and a fragment of the reason.
fn check(
    name: &str,
    config: &Config,
    trigger: Trigger,
    world: World,
    verdict: Verdict,
    actions: Vec<Action>,
    says: &str,
) {
    let d = decide(config, &trigger, &world);
    assert_eq!(d.verdict, verdict, "{name}: {}", d.reason);
    assert_eq!(d.actions, actions, "{name}: {}", d.reason);
    assert!(d.reason.contains(says), "{name}: reason {:?} should contain {says:?}", d.reason);
}

#[test]
fn a_dead_primary_hands_the_ip_over_at_once() {
    let c = config();
    use Phase::*;
    check(
        "stopped primary, cold standby",
        &c,
        stopped(P),
        world(Some(P), Stopped, Stopped),
        Verdict::FailOver,
        vec![mv(S), start(S), record(P, S, Done)],
        "is stopped",
    );
    check(
        "terminated primary, hot standby",
        &c,
        stopped(P),
        world(Some(P), Terminated, Running),
        Verdict::FailOver,
        vec![mv(S), record(P, S, Done)],
        "is terminated",
    );
    check(
        "vanished primary",
        &c,
        Trigger::Schedule,
        world(Some(P), Gone, Running),
        Verdict::FailOver,
        vec![mv(S), record(P, S, Done)],
        "is gone",
    );
    check(
        "stopping primary, standby already booting",
        &c,
        stopped(P),
        world(Some(P), Stopping, Pending),
        Verdict::FailOver,
        vec![mv(S), record(P, S, Done)],
        "which is starting",
    );
    check(
        "shutting-down primary, standby still stopping",
        &c,
        stopped(P),
        world(Some(P), ShuttingDown, Stopping),
        Verdict::FailOver,
        vec![record(P, S, Started)],
        "started once stopped",
    );
    check(
        "the stopping standby has stopped: carry on",
        &c,
        stopped(S),
        with_record(world(Some(P), Terminated, Stopped), P, S, 30, Started),
        Verdict::Finish,
        vec![mv(S), start(S), record(P, S, Done)],
        "carrying on",
    );
}

#[test]
fn a_degraded_primary_keeps_serving_until_the_standby_runs() {
    let c = config();
    use Phase::*;
    check(
        "cpu alarm, cold standby: start it, move nothing yet",
        &c,
        alarm(AlarmState::Alarm, &[P]),
        world(Some(P), Running, Stopped),
        Verdict::FailOver,
        vec![start(S), record(P, S, Started)],
        "once",
    );
    check(
        "cpu alarm, hot standby: move, then fence",
        &c,
        alarm(AlarmState::Alarm, &[P]),
        world(Some(P), Running, Running),
        Verdict::FailOver,
        vec![mv(S), record(P, S, Done), stop(P)],
        "then stopping",
    );
    check(
        "standby running event finishes the failover",
        &c,
        Trigger::StateChange { instance_id: S.into(), state: "running".into() },
        with_record(world(Some(P), Running, Running), P, S, 60, Started),
        Verdict::Finish,
        vec![mv(S), record(P, S, Done), stop(P)],
        "carrying on",
    );
    check(
        "a reconcile finishes it too",
        &c,
        Trigger::Schedule,
        with_record(world(Some(P), Running, Running), P, S, 60, Started),
        Verdict::Finish,
        vec![mv(S), record(P, S, Done), stop(P)],
        "carrying on",
    );
    check(
        "standby still booting: wait, write nothing again",
        &c,
        alarm(AlarmState::Alarm, &[P]),
        with_record(world(Some(P), Running, Pending), P, S, 20, Started),
        Verdict::Wait,
        vec![],
        "is starting",
    );
    check(
        "standby was stopped meanwhile: start it again",
        &c,
        Trigger::Schedule,
        with_record(world(Some(P), Running, Stopped), P, S, 200, Started),
        Verdict::Finish,
        vec![start(S)],
        "starting",
    );
    check(
        "the degraded primary died while the standby booted",
        &c,
        stopped(P),
        with_record(world(Some(P), Stopped, Pending), P, S, 20, Started),
        Verdict::Finish,
        vec![mv(S), record(P, S, Done)],
        "which is starting",
    );
    check(
        "composite alarm (no instance) is about the active one",
        &c,
        alarm(AlarmState::Alarm, &[]),
        world(Some(P), Running, Stopped),
        Verdict::FailOver,
        vec![start(S), record(P, S, Started)],
        "for the active instance",
    );
    let no_fence = Config { fence_mode: FenceMode::None, ..config() };
    check(
        "fencing off leaves the old primary running",
        &no_fence,
        alarm(AlarmState::Alarm, &[P]),
        with_record(world(Some(P), Running, Running), P, S, 60, Started),
        Verdict::Finish,
        vec![mv(S), record(P, S, Done)],
        "running",
    );
}

#[test]
fn roles_swap_after_a_failover() {
    let c = config();
    // The standby now holds the IP; its own failure sends the IP back once the cooldown is over.
    check(
        "the new active fails after the cooldown",
        &c,
        stopped(S),
        with_record(world(Some(S), Stopped, Stopped), P, S, 3600, Phase::Done),
        Verdict::FailOver,
        vec![mv(P), start(P), record(S, P, Phase::Done)],
        "is stopped",
    );
    check(
        "an alarm about the old primary does nothing",
        &c,
        alarm(AlarmState::Alarm, &[P]),
        with_record(world(Some(S), Stopped, Running), P, S, 3600, Phase::Done),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
}

#[test]
fn nothing_happens_when_nothing_is_wrong() {
    let c = config();
    check(
        "alarm OK: no automatic failback",
        &c,
        alarm(AlarmState::Ok, &[P]),
        world(Some(P), Running, Stopped),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    check(
        "insufficient data",
        &c,
        alarm(AlarmState::InsufficientData, &[]),
        world(Some(P), Running, Stopped),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    check(
        "alarm about the standby",
        &c,
        alarm(AlarmState::Alarm, &[S]),
        world(Some(P), Running, Stopped),
        Verdict::NoChange,
        vec![],
        "does not hold the IP",
    );
    check(
        "reconcile on a healthy pair",
        &c,
        Trigger::Schedule,
        world(Some(P), Running, Stopped),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    check(
        "the same stopped event again after the failover",
        &c,
        stopped(P),
        with_record(world(Some(S), Stopped, Running), P, S, 5, Phase::Done),
        Verdict::NoChange,
        vec![],
        "is on i-0fedcba9876543210",
    );
    check(
        "the IP moved back by hand is left there",
        &c,
        Trigger::Schedule,
        with_record(world(Some(P), Running, Stopped), P, S, 4000, Phase::Done),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    check(
        "a stale event says stopped but the world says running",
        &c,
        stopped(P),
        world(Some(P), Running, Stopped),
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    check(
        "the primary is booting",
        &c,
        Trigger::Schedule,
        world(Some(P), Pending, Stopped),
        Verdict::NoChange,
        vec![],
        "which is pending",
    );
}

#[test]
fn triggers_outside_the_pair_are_ignored_before_anything_is_read() {
    let c = config();
    let w = world(Some(P), Stopped, Stopped);
    check(
        "state change of another instance",
        &c,
        stopped("i-0a1b2c3d4e5f67890"),
        w.clone(),
        Verdict::Ignore,
        vec![],
        "not one of the pair",
    );
    check(
        "alarm about another instance",
        &c,
        alarm(AlarmState::Alarm, &["i-0a1b2c3d4e5f67890"]),
        w.clone(),
        Verdict::Ignore,
        vec![],
        "outside the pair",
    );
    check(
        "another kind of event",
        &c,
        Trigger::Unrelated { what: "aws.s3 Object Created".into() },
        w,
        Verdict::Ignore,
        vec![],
        "not about the pair",
    );
}

#[test]
fn the_cooldown_holds_a_new_failover() {
    let c = config();
    check(
        "new active died 100 s after the failover",
        &c,
        stopped(S),
        with_record(world(Some(S), Stopped, Stopped), P, S, 100, Phase::Done),
        Verdict::Hold,
        vec![],
        "cooldown",
    );
    check(
        "alarm on the new active inside the cooldown",
        &c,
        alarm(AlarmState::Alarm, &[S]),
        with_record(world(Some(S), Stopped, Running), P, S, 299, Phase::Done),
        Verdict::Hold,
        vec![],
        "299s ago",
    );
    let none = Config { cooldown_seconds: 0, ..config() };
    check(
        "cooldown 0",
        &none,
        alarm(AlarmState::Alarm, &[S]),
        with_record(world(Some(S), Stopped, Running), P, S, 1, Phase::Done),
        Verdict::FailOver,
        vec![start(P), record(S, P, Phase::Started)],
        "starting",
    );
}

#[test]
fn it_refuses_rather_than_move_the_ip_to_nowhere() {
    let c = config();
    check(
        "standby terminated",
        &c,
        stopped(P),
        world(Some(P), Stopped, Terminated),
        Verdict::Refuse,
        vec![],
        "cannot take",
    );
    check(
        "standby gone",
        &c,
        alarm(AlarmState::Alarm, &[P]),
        world(Some(P), Running, Gone),
        Verdict::Refuse,
        vec![],
        "is gone",
    );
    check(
        "standby shutting down",
        &c,
        stopped(P),
        world(Some(P), Stopped, ShuttingDown),
        Verdict::Refuse,
        vec![],
        "shutting-down",
    );
    let mut outsider = world(Some(P), Stopped, Stopped);
    outsider.address.holder =
        Holder::Outsider { instance_id: Some("i-0a1b2c3d4e5f67890".into()), network_interface_id: None };
    check("IP held outside the pair", &c, stopped(P), outsider, Verdict::Refuse, vec![], "outside the pair");
    check(
        "IP nowhere and nobody can take it",
        &c,
        Trigger::Schedule,
        world(None, Terminated, Gone),
        Verdict::Refuse,
        vec![],
        "neither",
    );
}

#[test]
fn an_ip_attached_to_nothing_goes_to_the_best_member() {
    let c = config();
    check(
        "running standby beats stopped primary",
        &c,
        Trigger::Schedule,
        world(None, Stopped, Running),
        Verdict::Heal,
        vec![mv(S)],
        "which is running",
    );
    check(
        "both running: the primary",
        &c,
        Trigger::Schedule,
        world(None, Running, Running),
        Verdict::Heal,
        vec![mv(P)],
        P,
    );
    check(
        "both stopped: the primary, started",
        &c,
        Trigger::Schedule,
        world(None, Stopped, Stopped),
        Verdict::Heal,
        vec![mv(P), start(P)],
        "stopped",
    );
}

#[test]
fn an_old_primary_still_running_since_before_the_failover_is_fenced() {
    let c = config();
    let w = with_record(world(Some(S), Running, Running), P, S, 50, Phase::Done);
    check("stop failed last time", &c, Trigger::Schedule, w.clone(), Verdict::Fence, vec![stop(P)], "still runs");
    let mut restarted = w.clone();
    restarted.members[0].launch_time = Some(NOW - 10);
    check(
        "restarted on purpose after the failover",
        &c,
        Trigger::Schedule,
        restarted,
        Verdict::NoChange,
        vec![],
        "which is running",
    );
    let none = Config { fence_mode: FenceMode::None, ..config() };
    check("fencing off", &none, Trigger::Schedule, w, Verdict::NoChange, vec![], "which is running");
}
