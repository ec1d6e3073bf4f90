//! The decision as a table: each case is (configuration, trigger, world) and the verdict and
//! actions it must give. `decide` is pure, so these run in microseconds and cover every rule.
//!
//! One case a line: `check(name, config, trigger, world, verdict, actions, reason fragment)`.
//! `w(holder, primary, standby)` is the world: who holds the IP (`NOBODY`: attached to nothing) and
//! the members' states (`Gone`: absent); `.rec(from, to, ago, phase)` adds the failover record
//! written `ago` seconds before now. The tables are laid out by hand, hence `#[rustfmt::skip]`.

use ec2_failover::aws::{CheckStatus, Checks, SpotRequest};
use ec2_failover::decision::Verdict::{self, *};
use ec2_failover::pair::config::HealthCheck;
use ec2_failover::pair::config::ZonalShift;
use ec2_failover::pair::decide::decide;
use ec2_failover::pair::plan::Action;
use ec2_failover::pair::world::PauseNote;
use ec2_failover::pair::world::ScheduledEvent;
use ec2_failover::pair::world::{
    AlarmSeen, Anchor, Endpoint, EndpointSeen, FailoverRecord, Holder, Instance, InstanceState, Phase, World,
};
use ec2_failover::pair::world::{History, Probed, ShiftKind, ZoneShift};
use ec2_failover::pair::{Config, FenceMode, Readiness, Rebalance};
use ec2_failover::trigger::Trigger::{self, Schedule};
use ec2_failover::trigger::{Alarm, AlarmState, AlarmVia, Command, Health, Source, Warning};

const P: &str = "i-0123456789abcdef0";
const S: &str = "i-0fedcba9876543210";
const NOW: i64 = 1_800_000_000;
const NOBODY: Option<&str> = None;

use InstanceState::*;
use Phase::*;

fn config() -> Config {
    Config { allocation_id: Some("eipalloc-0123456789abcdef0".into()), ..Config::with_defaults(P, S) }
}

fn eni(id: &str) -> String {
    format!("eni-{}", &id[2..])
}

/// A world where `holder` holds the IP and the members are in the given states (Gone: absent).
fn w<'a>(holder: impl Into<Option<&'a str>>, p: InstanceState, s: InstanceState) -> World {
    let member = |id: &str, state| Instance {
        network_interface_id: Some(eni(id)),
        launch_time: Some(NOW - 3600),
        // A running member passes both status checks unless a case says otherwise (`.init`).
        checks: (state == Running).then_some(Checks { instance: CheckStatus::Ok, system: CheckStatus::Ok }),
        ..Instance::new(id, state)
    };
    World {
        now: NOW,
        anchor: Anchor {
            resource: "eipalloc-0123456789abcdef0".into(),
            public_ip: Some("198.51.100.7".into()),
            holder: holder.into().map_or(Holder::Nobody, |id| Holder::Member { instance_id: id.into() }),
            record: None,
            pause: None,
            health: None,
        },
        members: [(P, p), (S, s)].into_iter().filter(|(_, st)| *st != Gone).map(|(id, st)| member(id, st)).collect(),
        alarms: None,
        unread_alarms: Vec::new(),
        probes: Vec::new(),
        endpoints: Vec::new(),
        shifts: Vec::new(),
        unread_shifts: None,
    }
}

/// The failover record on the address, `w(..).rec(from, to, ago, phase)`; a member whose status
/// checks are still initializing, `.init(id)`; EC2's reason for a member's last state change,
/// `.why(id, reason)`.
trait Recorded {
    fn rec(self, from: &str, to: &str, ago: i64, phase: Phase) -> World;
    fn init(self, id: &str) -> World;
    fn why(self, id: &str, reason: &str) -> World;
    fn cw(self, alarms: &[(&str, AlarmState, &[&str])]) -> World;
    fn sched(self, id: &str, code: &str, in_seconds: i64) -> World;
    fn paused(self, reason: &str) -> World;
    fn spot(self, id: &str, kind: &str) -> World;
}

impl Recorded for World {
    fn rec(mut self, from: &str, to: &str, ago: i64, phase: Phase) -> World {
        self.anchor.record =
            Some(FailoverRecord { from: from.into(), to: to.into(), at: NOW - ago, phase, cause: None });
        self
    }

    fn init(mut self, id: &str) -> World {
        for m in self.members.iter_mut().filter(|m| m.instance_id == id) {
            m.checks = Some(Checks { instance: CheckStatus::Initializing, system: CheckStatus::Initializing });
        }
        self
    }

    fn cw(mut self, alarms: &[(&str, AlarmState, &[&str])]) -> World {
        self.alarms = Some(
            alarms
                .iter()
                .map(|(name, state, ids)| AlarmSeen {
                    name: (*name).into(),
                    state: *state,
                    instance_ids: ids.iter().map(|i| (*i).to_owned()).collect(),
                    since: Some(NOW),
                    actions_enabled: true,
                })
                .collect(),
        );
        self
    }

    /// An operator paused the pair a minute ago.
    fn paused(mut self, reason: &str) -> World {
        self.anchor.pause = Some(PauseNote { reason: reason.into(), since: Some(NOW - 60) });
        self
    }

    /// EC2 has scheduled `code` for `id`, its window beginning `in_seconds` from now.
    fn sched(mut self, id: &str, code: &str, in_seconds: i64) -> World {
        for m in self.members.iter_mut().filter(|m| m.instance_id == id) {
            m.scheduled_events.push(ScheduledEvent { code: code.into(), not_before: Some(NOW + in_seconds) });
        }
        self
    }

    /// `id` is a Spot instance of a `kind` (one-time, persistent) request.
    fn spot(mut self, id: &str, kind: &str) -> World {
        for m in self.members.iter_mut().filter(|m| m.instance_id == id) {
            m.spot = Some(SpotRequest { id: Some("sir-0123abcd".into()), kind: Some(kind.into()) });
        }
        self
    }

    fn why(mut self, id: &str, reason: &str) -> World {
        for m in self.members.iter_mut().filter(|m| m.instance_id == id) {
            m.state_reason = Some(reason.into());
        }
        self
    }
}

fn stopped(id: &str) -> Trigger {
    Trigger::StateChange { instance_id: id.into(), state: "stopped".into() }
}

fn running(id: &str) -> Trigger {
    Trigger::StateChange { instance_id: id.into(), state: "running".into() }
}

fn unrelated(what: &str) -> Trigger {
    Trigger::Unrelated { what: what.into() }
}

fn alarm_in(state: AlarmState, ids: &[&str]) -> Trigger {
    Trigger::Warning(Warning {
        source: Source::Alarm(Alarm { name: "cpu".into(), state, via: AlarmVia::AlarmAction }),
        instance_ids: ids.iter().map(|s| s.to_string()).collect(),
        at: None,
    })
}

/// The alarm `cpu` went to ALARM about `ids`.
fn alarm(ids: &[&str]) -> Trigger {
    alarm_in(AlarmState::Alarm, ids)
}

fn alarm_ok(ids: &[&str]) -> Trigger {
    alarm_in(AlarmState::Ok, ids)
}

fn insufficient_data(ids: &[&str]) -> Trigger {
    alarm_in(AlarmState::InsufficientData, ids)
}

fn warn(source: Source, ids: &[&str]) -> Trigger {
    Trigger::Warning(Warning { source, instance_ids: ids.iter().map(|s| s.to_string()).collect(), at: None })
}

/// EC2 will interrupt the Spot instance `id` in two minutes.
fn spot(id: &str) -> Trigger {
    warn(Source::SpotInterruption { action: "terminate".into() }, &[id])
}

/// EC2 recommends rebalancing the Spot instance `id`.
fn rebalance(id: &str) -> Trigger {
    warn(Source::RebalanceRecommendation, &[id])
}

/// A warning as EventBridge sent it `ago` seconds before NOW.
fn sent(trigger: Trigger, ago: i64) -> Trigger {
    match trigger {
        Trigger::Warning(w) => Trigger::Warning(Warning { at: Some(NOW - ago), ..w }),
        other => other,
    }
}

/// AWS Health announces `code` (category `category`) for `id`, beginning `in_` seconds from NOW.
fn health_from(code: &str, category: &str, id: &str, in_: i64) -> Trigger {
    let health = Health {
        type_code: code.into(),
        category: category.into(),
        status: Some("upcoming".into()),
        start: Some(NOW + in_),
    };
    warn(Source::Health(health), &[id])
}

/// AWS Health announces `code` (category `category`) for `id`.
fn health(code: &str, category: &str, id: &str) -> Trigger {
    let health =
        Health { type_code: code.into(), category: category.into(), status: Some("upcoming".into()), start: None };
    warn(Source::Health(health), &[id])
}

fn mv(id: &str) -> Action {
    Action::MoveEndpoints { instance_id: id.into(), network_interface_id: Some(eni(id)) }
}
fn start(id: &str) -> Action {
    Action::StartInstance { instance_id: id.into() }
}
fn stop(id: &str) -> Action {
    Action::StopInstance { instance_id: id.into(), force: false, skip_os_shutdown: false }
}
fn record(from: &str, to: &str, phase: Phase) -> Action {
    record_at(from, to, phase, 0)
}
/// A record that keeps the time of a move made `ago` seconds before now.
fn record_at(from: &str, to: &str, phase: Phase, ago: i64) -> Action {
    Action::RecordFailover(FailoverRecord { from: from.into(), to: to.into(), at: NOW - ago, phase, cause: None })
}

/// Unless a case says what CloudWatch reports (`.cw(..)`), it agrees with an alarm payload.
fn cloudwatch_agrees(trigger: &Trigger, mut world: World) -> World {
    if let (None, Trigger::Warning(Warning { source: Source::Alarm(alarm), instance_ids, .. })) =
        (&world.alarms, trigger)
    {
        world.alarms = Some(vec![AlarmSeen {
            name: alarm.name.clone(),
            state: alarm.state,
            instance_ids: instance_ids.clone(),
            since: Some(NOW),
            actions_enabled: true,
        }]);
    }
    world
}

/// Runs `decide` and compares verdict, actions and a fragment of the reason.
#[track_caller]
fn check(
    name: &str,
    config: &Config,
    trigger: Trigger,
    world: World,
    verdict: Verdict,
    actions: &[Action],
    says: &str,
) {
    let world = cloudwatch_agrees(&trigger, world);
    let d = decide(config, &trigger, &world);
    assert_eq!(d.verdict, verdict, "{name}: {}", d.reason);
    assert_eq!(without_causes(&d.actions), actions, "{name}: {}", d.reason);
    assert!(d.reason.contains(says), "{name}: reason {:?} should contain {says:?}", d.reason);
}

/// The actions with the records' causes left out: the tables say what is done, and
/// `a_failover_record_says_what_caused_it` says why.
fn without_causes(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .map(|a| match a {
            Action::RecordFailover(r) => Action::RecordFailover(FailoverRecord { cause: None, ..r.clone() }),
            other => other.clone(),
        })
        .collect()
}

/// The cause the decision's record carries, if it writes one.
fn cause_of(d: &ec2_failover::decision::Decision<Action>) -> Option<String> {
    d.actions.iter().find_map(|a| match a {
        Action::RecordFailover(r) => r.cause.clone(),
        _ => None,
    })
}

#[test]
fn a_failover_record_says_what_caused_it() {
    let c = &config();
    let three = &checked(3, 3);
    let cases: Vec<(&str, &Config, Trigger, World, &str)> = vec![
        ("a stopped primary", c, stopped(P), w(P, Stopped, Stopped), "state:stopped"),
        ("an alarm", c, alarm(&[P]), w(P, Running, Running), "alarm:cpu"),
        ("a Spot warning", c, spot(P), w(P, Running, Running), "spot"),
        (
            "an AWS Health notice",
            c,
            health("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "scheduledChange", P),
            w(P, Running, Running),
            "health:AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        ),
        (
            "an EC2 scheduled event",
            c,
            Schedule,
            w(P, Running, Running).sched(P, "instance-stop", 60),
            "scheduled:instance-stop",
        ),
        (
            "the service check",
            three,
            Schedule,
            probed(kept(w(P, Running, Running), 60, "011", "000"), Some(false), Some(true)),
            "probe",
        ),
        ("a switchover", c, command(Command::Switchover { force: false }), w(P, Running, Running), "switchover"),
    ];
    for (name, config, trigger, world, cause) in cases {
        let d = decide(config, &trigger, &cloudwatch_agrees(&trigger, world));
        assert_eq!(cause_of(&d).as_deref(), Some(cause), "{name}: {:?} {}", d.verdict, d.reason);
    }
    // Carried on, the record keeps its cause.
    let mut started = w(P, Running, Running).init(S).rec(P, S, 60, Started);
    if let Some(r) = started.anchor.record.as_mut() {
        r.cause = Some("switchover".into());
    }
    let ready = {
        let mut w = started.clone();
        w.members[1].checks = Some(Checks { instance: CheckStatus::Ok, system: CheckStatus::Ok });
        w
    };
    let d = decide(c, &Schedule, &ready);
    assert_eq!((d.verdict, cause_of(&d).as_deref()), (Finish, Some("switchover")), "{}", d.reason);
}

#[test]
fn an_alarm_that_passed_stops_the_failover_it_started_and_not_a_switchover() {
    let c = &config();
    // A make-before-break failover begun 120 s ago; the standby still initializes; the alarm about
    // the primary has gone back to OK since.
    let begun = |cause: &str| {
        let mut w = w(P, Running, Running).init(S).rec(P, S, 120, Started).cw(&[("cpu", AlarmState::Ok, &[P])]);
        if let Some(r) = w.anchor.record.as_mut() {
            r.cause = Some(cause.into());
        }
        w
    };
    let dropped = decide(c, &Schedule, &begun("alarm:cpu"));
    assert_eq!(dropped.verdict, NoChange, "{}", dropped.reason);
    assert!(dropped.reason.contains("is not carried on"), "{}", dropped.reason);
    for cause in ["switchover", "probe", "health:AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"] {
        let carried = decide(c, &Schedule, &begun(cause));
        assert_ne!(carried.verdict, NoChange, "{cause}: {}", carried.reason);
        assert!(carried.reason.contains("carrying on"), "{cause}: {}", carried.reason);
    }
}

#[test]
#[rustfmt::skip]
fn a_dead_primary_hands_the_ip_over_at_once() {
    let c = &config();
    //    name                                             config trigger     world                                             verdict   actions                                 reason
    check("stopped primary, cold standby: move, then start",c,     stopped(P), w(P, Stopped, Stopped),                           FailOver, &[mv(S), record(P, S, Moved), start(S)], "then starting it");
    check("terminated primary, hot standby",               c,     stopped(P), w(P, Terminated, Running),                        FailOver, &[mv(S), record(P, S, Done)],           "is terminated");
    check("vanished primary",                              c,     Schedule,   w(P, Gone, Running),                              FailOver, &[mv(S), record(P, S, Done)],           "is gone");
    check("stopping primary, standby booting: never aim at pending", c, stopped(P), w(P, Stopping, Pending),                   FailOver, &[record(P, S, Started)],               "once it runs");
    check("the booting standby runs: the IP moves",        c,     running(S), w(P, Stopped, Running).rec(P, S, 40, Started),    Finish,   &[mv(S), record(P, S, Done)],           "carrying on");
    check("a dead primary does not wait for the checks",   c,     stopped(P), w(P, Stopped, Running).init(S),                   FailOver, &[mv(S), record(P, S, Done)],           "which is running");
    check("shutting-down primary, standby still stopping", c,     stopped(P), w(P, ShuttingDown, Stopping),                     FailOver, &[record(P, S, Started)],               "started once stopped");
    check("the stopping standby has stopped: carry on",    c,     stopped(S), w(P, Terminated, Stopped).rec(P, S, 30, Started), Finish,   &[mv(S), record(P, S, Moved), start(S)], "carrying on");
    check("the record was written, the move failed",       c,     Schedule,   w(P, Stopped, Stopped).rec(P, S, 10, Moved),      Finish,   &[mv(S), record(P, S, Moved), start(S)], "carrying on");
}

#[test]
#[rustfmt::skip]
fn a_degraded_primary_keeps_serving_until_the_standby_runs() {
    let c = &config();
    let no_fence = &Config { fence_mode: FenceMode::None, ..config() };
    let running_ok = &Config { standby_ready: Readiness::Running, ..config() };
    //    name                                                     config    trigger      world                                           verdict   actions                                reason
    check("cpu alarm, cold standby: start it, move nothing yet",   c,        alarm(&[P]), w(P, Running, Stopped),                         FailOver, &[start(S), record(P, S, Started)],    "once");
    check("cpu alarm, hot standby: move, then fence",              c,        alarm(&[P]), w(P, Running, Running),                         FailOver, &[mv(S), record(P, S, Done), stop(P)], "then stopping");
    check("standby running event finishes the failover",           c,        running(S),  w(P, Running, Running).rec(P, S, 60, Started),  Finish,   &[mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("a reconcile finishes it too",                           c,        Schedule,    w(P, Running, Running).rec(P, S, 60, Started),  Finish,   &[mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("standby still booting: wait, write nothing again",      c,        alarm(&[P]), w(P, Running, Pending).rec(P, S, 20, Started),  Wait,     &[],                                   "is starting");
    check("standby was stopped meanwhile: start it again",         c,        Schedule,    w(P, Running, Stopped).rec(P, S, 200, Started), Finish,   &[start(S)],                           "starting");
    check("the degraded primary died while the standby booted",    c,        stopped(P),  w(P, Stopped, Pending).rec(P, S, 20, Started),  Wait,     &[],                                   "once it runs");
    check("running is not ready: the checks still initialize",     c,        alarm(&[P]), w(P, Running, Running).init(S),                  FailOver, &[record(P, S, Started)],              "status checks");
    check("the reconcile waits for the checks, writes nothing",    c,        Schedule,    w(P, Running, Running).init(S).rec(P, S, 60, Started), Wait, &[],                              "status checks are not both ok");
    check("STANDBY_READY=running: running is enough",              running_ok, alarm(&[P]), w(P, Running, Running).init(S),                FailOver, &[mv(S), record(P, S, Done), stop(P)], "then stopping");
    check("a pending primary cannot be fenced yet",                c,        alarm(&[P]), w(P, Pending, Running),                         FailOver, &[mv(S), record(P, S, Done)],          "which can serve");
    check("composite alarm (no instance) is about the active one", c,        alarm(&[]),  w(P, Running, Stopped),                         FailOver, &[start(S), record(P, S, Started)],    "for the active instance");
    check("fencing off leaves the old primary running",            no_fence, alarm(&[P]), w(P, Running, Running).rec(P, S, 60, Started),  Finish,   &[mv(S), record(P, S, Done)],          "which can serve");
}

#[test]
#[rustfmt::skip]
fn roles_swap_after_a_failover() {
    let c = &config();
    // The standby now holds the IP; its own failure sends the IP back once the cooldown is over.
    //    name                                           config trigger      world                                         verdict   actions                                 reason
    check("the new active fails after the cooldown",     c,     stopped(S),  w(S, Stopped, Stopped).rec(P, S, 3600, Done), FailOver, &[mv(P), record(S, P, Moved), start(P)], "is stopped");
    check("an alarm about the old primary does nothing", c,     alarm(&[P]), w(S, Stopped, Running).rec(P, S, 3600, Done), NoChange, &[],                                    "which is running");
}

#[test]
#[rustfmt::skip]
fn nothing_happens_when_nothing_is_wrong() {
    let c = &config();
    //    name                                                     config trigger                 world                                         verdict   actions reason
    check("alarm OK: no automatic failback",                       c,     alarm_ok(&[P]),         w(P, Running, Stopped),                       NoChange, &[],    "which is running");
    check("insufficient data",                                     c,     insufficient_data(&[]), w(P, Running, Stopped),                       NoChange, &[],    "which is running");
    check("alarm about the standby",                               c,     alarm(&[S]),            w(P, Running, Stopped),                       NoChange, &[],    "does not hold the IP");
    check("reconcile on a healthy pair",                           c,     Schedule,               w(P, Running, Stopped),                       NoChange, &[],    "which is running");
    check("the same stopped event again after the failover",       c,     stopped(P),             w(S, Stopped, Running).rec(P, S, 5, Done),    NoChange, &[],    "is on i-0fedcba9876543210");
    check("the IP moved back by hand is left there",               c,     Schedule,               w(P, Running, Stopped).rec(P, S, 4000, Done), NoChange, &[],    "which is running");
    check("a stale event says stopped but the world says running", c,     stopped(P),             w(P, Running, Stopped),                       NoChange, &[],    "which is running");
    check("the primary is booting",                                c,     Schedule,               w(P, Pending, Stopped),                       NoChange, &[],    "which is pending");
}

#[test]
#[rustfmt::skip]
fn an_alarm_is_what_cloudwatch_says_now_not_what_a_payload_said() {
    let c = &config();
    use AlarmState::{Alarm as A, Ok as O};
    //    name                                                       config trigger      world                                                    verdict   actions                               reason
    check("a replayed ALARM payload for an alarm that is OK now",    c,     alarm(&[P]), w(P, Running, Running).cw(&[("cpu", O, &[P])]),          NoChange, &[],                                  "is OK now");
    check("a forged payload for an alarm CloudWatch does not know",  c,     alarm(&[P]), w(P, Running, Running).cw(&[]),                          NoChange, &[],                                  "does not know alarm cpu");
    check("CloudWatch's instances, not the payload's",               c,     alarm(&[P]), w(P, Running, Running).cw(&[("cpu", A, &[S])]),          NoChange, &[],                                  "which is running");
    check("a lost alarm invocation: the reconcile reads it",         c,     Schedule,    w(P, Running, Running).cw(&[("cpu", A, &[P])]),          FailOver, &[mv(S), record(P, S, Done), stop(P)], "alarm cpu is in ALARM for the active instance");
    check("the reconcile: a composite alarm is about the active one",c,     Schedule,    w(P, Running, Stopped).cw(&[("app", A, &[])]),           FailOver, &[start(S), record(P, S, Started)],    "alarm app is in ALARM");
    check("the reconcile: an alarm about the standby changes nothing",c,    Schedule,    w(P, Running, Stopped).cw(&[("cpu-b", A, &[S])]),        NoChange, &[],                                  "which is running");
    check("the reconcile: alarms OK",                                c,     Schedule,    w(P, Running, Stopped).cw(&[("cpu", O, &[P])]),          NoChange, &[],                                  "which is running");
}

#[test]
#[rustfmt::skip]
fn an_alarm_that_stays_in_alarm_fails_the_pair_over_once() {
    let c = &config();
    let none = &Config { cooldown_seconds: 0, ..config() };
    let since = |mut world: World, ago: i64| { for a in world.alarms.iter_mut().flatten() { a.since = Some(NOW - ago); } world };
    let muted = |mut world: World| { for a in world.alarms.iter_mut().flatten() { a.actions_enabled = false; } world };
    use AlarmState::Alarm as A;
    //    name                                                          config trigger   world                                                                       verdict   actions                           reason
    check("a composite alarm in ALARM since before the failover",       none,  Schedule, since(w(S, Stopped, Running).rec(P, S, 600, Done).cw(&[("app", A, &[])]), 900), NoChange, &[],                     "which is running");
    check("the same alarm, gone to ALARM after it: a new failure",      none,  Schedule, since(w(S, Stopped, Running).rec(P, S, 600, Done).cw(&[("app", A, &[])]), 60),  FailOver, &[start(P), record(S, P, Started)], "alarm app is in ALARM");
    check("a payload for an alarm in ALARM since before the failover",  none,  alarm(&[]), since(w(S, Stopped, Running).rec(P, S, 600, Done).cw(&[("cpu", A, &[])]), 900), NoChange, &[],                   "since before the failover");
    check("an alarm whose actions are disabled is muted",               c,     Schedule, muted(w(P, Running, Running).cw(&[("cpu", A, &[P])])),                   NoChange, &[],                           "which is running");
    check("a make-before-break failover whose alarm passed stops here", c,     running(S), w(P, Running, Running).rec(P, S, 60, Started).cw(&[("cpu", AlarmState::Ok, &[P])]), NoChange, &[],             "not carried on");
    check("... but not for an alarm OK since before it began",          c,     running(S), since(w(P, Running, Running).rec(P, S, 60, Started).cw(&[("other", AlarmState::Ok, &[P])]), 600), Finish, &[mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("... and goes on while it stands",                            c,     running(S), w(P, Running, Running).rec(P, S, 60, Started).cw(&[("cpu", A, &[P])]), Finish, &[mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("... and goes on when CloudWatch was not read",               c,     running(S), w(P, Running, Running).rec(P, S, 60, Started),                  Finish,   &[mv(S), record(P, S, Done), stop(P)], "carrying on");
}

#[test]
#[rustfmt::skip]
fn records_tell_what_happened_and_keep_the_time_of_the_move() {
    let c = &config();
    let mut restarted = w(S, Running, Running).rec(P, S, 60, Moved);
    restarted.members[0].launch_time = Some(NOW - 30);
    //    name                                                          config trigger     world                                               verdict  actions                          reason
    check("done keeps the move's time: a primary restarted since stays", c,    Schedule,   restarted,                                          Finish,  &[record_at(P, S, Done, 60)],    "is done");
    check("held inside the cooldown, a moved failover is still done",   c,     alarm(&[S]), w(S, Stopped, Running).rec(P, S, 60, Moved),       Hold,    &[record_at(P, S, Done, 60)],    "cooldown");
    check("no fence while the active instance itself goes down",        c,     Schedule,   w(S, Running, Stopping).rec(P, S, 60, Done),        Hold,    &[],                             "cooldown");
}

#[test]
#[rustfmt::skip]
fn warnings_act_in_their_time_not_weeks_early_nor_replayed() {
    let c = &config(); // SCHEDULED_LEAD_SECONDS 3600
    const RETIRE: &str = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED";
    const DAYS: i64 = 14 * 86400;
    //    name                                                          config trigger                                                    world                                           verdict   actions                                  reason
    check("a retirement two weeks ahead is logged, not acted on",       c,     health_from(RETIRE, "scheduledChange", P, DAYS),          w(P, Running, Running),                         NoChange, &[],                                     "beyond the 3600s lead time");
    check("a retirement inside the lead time fails over",               c,     health_from(RETIRE, "scheduledChange", P, 600),           w(P, Running, Running),                         FailOver, &[mv(S), record(P, S, Done), stop(P)], RETIRE);
    check("a retirement under way fails over",                          c,     health_from(RETIRE, "scheduledChange", P, -60),           w(P, Running, Running),                         FailOver, &[mv(S), record(P, S, Done), stop(P)], RETIRE);
    check("an issue is about now, whatever its start",                  c,     health_from("AWS_EC2_OPERATIONAL_ISSUE", "issue", P, DAYS), w(P, Running, Stopped),                     FailOver, &[start(S), record(P, S, Started)],    "issue");
    // P was fenced (stopped) after the failover to S 300 s ago.
    check("a Spot warning sent before the failover to S: replayed",     c,     sent(spot(S), 600),                                        w(S, Stopped, Running).rec(P, S, 300, Done),    NoChange, &[],                                     "before the failover to");
    check("a Spot warning sent after the failover to S: acted on",      c,     sent(spot(S), 60),                                         w(S, Stopped, Running).rec(P, S, 300, Done),    FailOver, &[start(P), record(S, P, Started)],    "the Spot instance");
    check("a Health notice sent before the failover to S: replayed",    c,     sent(health(RETIRE, "scheduledChange", S), 900),           w(S, Stopped, Running).rec(P, S, 300, Done),    NoChange, &[],                                     "replayed or late");
    check("a Spot interruption sent just before the failover onto S still stands", c, sent(spot(S), 60), w(S, Stopped, Running).rec(P, S, 30, Done), FailOver, &[start(P), record(S, P, Started)], "the Spot instance");
    check("one sent before, about the other instance: as before",       c,     sent(spot(P), 900),                                        w(S, Stopped, Running).rec(P, S, 300, Done),    NoChange, &[],                                     "does not hold the IP");
}

#[test]
#[rustfmt::skip]
fn warnings_before_failure_fail_over_ahead_make_before_break() {
    let c = &config();
    let rebalancing = &Config { rebalance: Rebalance::Failover, ..config() };
    const RETIRE: &str = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED";
    const REBOOT: &str = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED";
    //    name                                                        config       trigger                                   world                                                       verdict   actions                                 reason
    check("spot interruption, hot standby: the IP moves first",       c,           spot(P),                                  w(P, Running, Running),                                     FailOver, &[mv(S), record(P, S, Done), stop(P)], "two minutes");
    check("spot interruption, cold standby: start it, IP stays",      c,           spot(P),                                  w(P, Running, Stopped),                                     FailOver, &[start(S), record(P, S, Started)],    "once");
    check("spot interruption inside the cooldown: not held back",     c,           spot(S),                                  w(S, Running, Running).rec(P, S, 60, Done),                 FailOver, &[mv(P), record(S, P, Done), stop(S)], "two minutes");
    check("an alarm inside the cooldown is held back",                c,           alarm(&[S]),                              w(S, Stopped, Running).rec(P, S, 60, Done),                 Hold,     &[],                                    "cooldown");
    check("spot interruption of the standby: logged only",            c,           spot(S),                                  w(P, Running, Running),                                     NoChange, &[],                                    "not be a safe place");
    check("rebalance recommendation: logged by default",              c,           rebalance(P),                             w(P, Running, Running),                                     NoChange, &[],                                    "logged only (REBALANCE=log)");
    check("rebalance recommendation with REBALANCE=failover",         rebalancing, rebalance(P),                             w(P, Running, Running),                                     FailOver, &[mv(S), record(P, S, Done), stop(P)], "elevated risk");
    check("rebalance with failover is held by the cooldown",          rebalancing, rebalance(S),                             w(S, Stopped, Running).rec(P, S, 60, Done),                 Hold,     &[],                                    "cooldown");
    check("AWS Health retirement of the active: fail over",           c,           health(RETIRE, "scheduledChange", P),     w(P, Running, Running),                                     FailOver, &[mv(S), record(P, S, Done), stop(P)], RETIRE);
    check("AWS Health retirement inside the cooldown: not held",      c,           health(RETIRE, "scheduledChange", S),     w(S, Running, Running).rec(P, S, 60, Done),                 FailOver, &[mv(P), record(S, P, Done), stop(S)], RETIRE);
    check("AWS Health reboot maintenance inside the cooldown: held",  c,           health(REBOOT, "scheduledChange", S),     w(S, Stopped, Running).rec(P, S, 60, Done),                 Hold,     &[],                                    "cooldown");
    check("AWS Health issue about the active: fail over",             c,           health("AWS_EC2_OPERATIONAL_ISSUE", "issue", P), w(P, Running, Stopped),                              FailOver, &[start(S), record(P, S, Started)],    "issue");
    check("AWS Health account notification: nothing",                 c,           health(RETIRE, "accountNotification", P), w(P, Running, Running),                                     NoChange, &[],                                    "which is running");
    check("AWS Health about the standby: logged",                     c,           health(RETIRE, "scheduledChange", S),     w(P, Running, Running),                                     NoChange, &[],                                    "does not hold the IP");
    check("scheduled retirement within the lead time: fail over",     c,           Schedule,                                 w(P, Running, Running).sched(P, "instance-retirement", 1800), FailOver, &[mv(S), record(P, S, Done), stop(P)], "within the 3600s lead time");
    check("scheduled event past its start, not completed: fail over", c,           Schedule,                                 w(P, Running, Stopped).sched(P, "system-reboot", -60),      FailOver, &[start(S), record(P, S, Started)],    "system-reboot");
    check("scheduled retirement beyond the lead time: wait",          c,           Schedule,                                 w(P, Running, Running).sched(P, "instance-retirement", 7200), NoChange, &[],                                   "which is running");
    check("scheduled stop inside the cooldown: not held",             c,           Schedule,                                 w(S, Running, Running).rec(P, S, 60, Done).sched(S, "instance-stop", 600), FailOver, &[mv(P), record(S, P, Done), stop(S)], "instance-stop");
    check("scheduled reboot inside the cooldown: held",               c,           Schedule,                                 w(S, Stopped, Running).rec(P, S, 60, Done).sched(S, "instance-reboot", 600), Hold, &[],                            "cooldown");
    check("both have events due: no ping-pong",                       c,           Schedule,                                 w(P, Running, Running).sched(P, "system-maintenance", 60).sched(S, "instance-retirement", 60), Hold, &[],          "as well: not moving");
    let both = warn(Source::Health(Health { type_code: RETIRE.into(), category: "scheduledChange".into(), status: None, start: None }), &[P, S]);
    check("a warning naming both instances: no ping-pong",            c,           both,                                     w(P, Running, Running),                                     Hold,     &[],                                    "names i-0fedcba9876543210 too");
    check("retirement here, a reboot there: fail over",               c,           Schedule,                                 w(P, Running, Running).sched(P, "instance-retirement", 60).sched(S, "system-reboot", 60), FailOver, &[mv(S), record(P, S, Done), stop(P)], "instance-retirement");
    check("a reboot listed before a retirement: the retirement counts", c,         Schedule,                                 w(S, Stopped, Running).rec(P, S, 60, Done).sched(S, "system-reboot", 60).sched(S, "instance-retirement", 60), FailOver, &[start(P), record(S, P, Started)], "instance-retirement");
    check("spot here, retirement due there: the cooldown holds",      c,           spot(S),                                  w(S, Running, Running).rec(P, S, 60, Done).sched(P, "instance-retirement", 60), Hold, &[stop(P)],                   "cooldown");
    check("a started failover whose alarm passed goes on if an event is due", c,   running(S),                               w(P, Running, Running).rec(P, S, 60, Started).cw(&[("cpu", AlarmState::Ok, &[P])]).sched(P, "instance-stop", 60), Finish, &[mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("a scheduled event of the standby: logged",                 c,           Schedule,                                 w(P, Running, Running).sched(S, "instance-retirement", 60), NoChange, &[],                                    "scheduled instance-retirement for i-0fedcba9876543210");
}

fn command(command: Command) -> Trigger {
    Trigger::Command(command)
}

fn switchover(force: bool) -> Trigger {
    command(Command::Switchover { force })
}

#[test]
#[rustfmt::skip]
fn operators_steer() {
    let c = &config();
    let pause = |reason: &str| command(Command::Pause { reason: reason.into() });
    let resume = command(Command::Resume { reason: Some("resized".into()) });
    let pausing = Action::Pause { reason: "resize the primary".into(), at: NOW };
    //    name                                                        config trigger                      world                                              verdict     actions                                 reason
    check("status changes nothing and says who is active",            c,     command(Command::Status),    w(P, Running, Stopped).sched(S, "system-reboot", 99), Status, &[],                                  "i-0123456789abcdef0 is active");
    check("status says the cooldown left and the pause",              c,     command(Command::Status),    w(S, Stopped, Running).rec(P, S, 100, Done).paused("maintenance"), Status, &[],                     "200s of cooldown left");
    check("switchover to a hot standby: move, then fence",            c,     switchover(false),           w(P, Running, Running),                            Switchover, &[mv(S), record(P, S, Done), stop(P)], "switchover from");
    check("switchover to a cold standby: start it first",             c,     switchover(false),           w(P, Running, Stopped),                            Switchover, &[start(S), record(P, S, Started)],    "once");
    check("switchover back (failback) the same way",                  c,     switchover(false),           w(S, Stopped, Running).rec(P, S, 3600, Done),      Switchover, &[start(P), record(S, P, Started)],    "from i-0fedcba9876543210 to i-0123456789abcdef0");
    check("switchover inside the cooldown is refused",                c,     switchover(false),           w(S, Stopped, Running).rec(P, S, 60, Done),        Refuse,     &[],                                    "240s of cooldown left");
    check("... unless forced",                                        c,     switchover(true),            w(S, Stopped, Running).rec(P, S, 60, Done),        Switchover, &[start(P), record(S, P, Started)],    "(forced)");
    check("switchover to an instance with a retirement due: refused", c,     switchover(false),           w(P, Running, Running).sched(S, "instance-retirement", 60), Refuse, &[],                             "force to move anyway");
    check("... unless forced",                                        c,     switchover(true),            w(P, Running, Running).sched(S, "instance-retirement", 60), Switchover, &[mv(S), record(P, S, Done), stop(P)], "(forced)");
    check("switchover to a terminated standby is refused",            c,     switchover(true),            w(P, Running, Terminated),                         Refuse,     &[],                                    "cannot serve");
    check("forced while paused, to a ready standby: done at once",    c,     switchover(true),            w(P, Running, Running).paused("maintenance"),      Switchover, &[mv(S), record(P, S, Done), stop(P)], "(forced)");
    check("forced while paused, to a cold standby: refused (it would stall)", c, switchover(true),     w(P, Running, Stopped).paused("maintenance"),      Refuse,     &[],                                    "resume first");
    check("switchover while paused is refused",                       c,     switchover(false),           w(P, Running, Running).paused("maintenance"),      Refuse,     &[],                                    "paused");
    check("pause writes the pause",                                   c,     pause("resize the primary"), w(P, Running, Stopped),                            Pause,      &[pausing],                             "pausing");
    check("the same pause again changes nothing",                     c,     pause("maintenance"),        w(P, Running, Stopped).paused("maintenance"),      NoChange,   &[],                                    "already paused");
    check("while paused, a dead primary is decided but not acted on", c,     stopped(P),                  w(P, Stopped, Stopped).paused("maintenance"),      Paused,     &[],                                    "would have been fail_over");
    check("while paused, an unrelated event is still ignored",        c,     unrelated("x"),              w(P, Stopped, Stopped).paused("maintenance"),      Ignore,     &[],                                    "not about the pair");
    check("resume ends the pause",                                    c,     resume.clone(),              w(P, Stopped, Stopped).paused("maintenance"),      Resume,     &[Action::Resume],                      "the pause since");
    check("resume when not paused changes nothing",                   c,     resume,                      w(P, Running, Stopped),                            NoChange,   &[],                                    "not paused");
}

/// FENCE_MODE=force: Force and no OS shutdown.
fn force_stop(id: &str) -> Action {
    Action::StopInstance { instance_id: id.into(), force: true, skip_os_shutdown: true }
}
/// A graceful stop that hangs, escalated: Force, the OS shutdown still tried.
fn escalated(id: &str) -> Action {
    Action::StopInstance { instance_id: id.into(), force: true, skip_os_shutdown: false }
}

#[test]
fn private_ips_across_two_subnets_are_refused_on_every_invocation_and_shown_in_status() {
    let c = Config { private_ips: vec!["10.0.1.200".into()], ..config() };
    let mut across = w(P, Stopped, Running);
    for (m, subnet) in across.members.iter_mut().zip(["subnet-a", "subnet-b"]) {
        m.subnet_id = Some(subnet.into());
    }
    for trigger in [stopped(P), Schedule] {
        let d = decide(&c, &trigger, &across);
        assert_eq!((d.verdict, d.actions.len()), (Refuse, 0), "{}", d.reason);
        assert!(
            d.reason.contains("must lie in its interface's subnet") && d.reason.contains("subnet-b"),
            "{}",
            d.reason
        );
    }
    let status = decide(&c, &command(Command::Status), &across);
    assert_eq!(status.verdict, Status);
    assert!(status.reason.contains("WARNING: the private IPs 10.0.1.200 cannot follow"), "{}", status.reason);
    // One subnet: as before.
    let mut one = across.clone();
    for m in one.members.iter_mut() {
        m.subnet_id = Some("subnet-a".into());
    }
    assert_eq!(decide(&c, &stopped(P), &one).verdict, FailOver);
}

#[test]
#[rustfmt::skip]
fn an_instance_of_a_one_time_spot_request_is_not_fenced_but_said() {
    let c = &config();
    //    name                                                          config trigger      world                                                        verdict   actions                          reason
    check("one-time Spot primary: the IP moves, no stop, a warning",    c,     alarm(&[P]), w(P, Running, Running).cw(&[("cpu", AlarmState::Alarm, &[P])]).spot(P, "one-time"), FailOver, &[mv(S), record(P, S, Done)], "one-time Spot request");
    check("... and the reconcile after: no stop either, still said",    c,     Schedule,    w(S, Running, Running).rec(P, S, 600, Done).spot(P, "one-time"), NoChange, &[],                          "WARNING");
    check("a persistent Spot request's instance is stopped as usual",   c,     Schedule,    w(S, Running, Running).rec(P, S, 600, Done).spot(P, "persistent"), Fence, &[stop(P)],                  "stopping it");
}

#[test]
#[rustfmt::skip]
fn a_fence_that_hangs_is_forced() {
    let c = &config();
    let force = &Config { fence_mode: FenceMode::Force, ..config() };
    let none = &Config { fence_mode: FenceMode::None, ..config() };
    let quick = &Config { fence_escalate_seconds: 60, ..config() };
    //    name                                                          config trigger     world                                           verdict   actions                                      reason
    check("FENCE_MODE=force: the old primary is stopped with Force",    force, alarm(&[P]), w(P, Running, Running),                         FailOver, &[mv(S), record(P, S, Done), force_stop(P)], "then stopping");
    check("FENCE_MODE=force: a late fence is forced too",               force, Schedule,    w(S, Running, Running).rec(P, S, 60, Done),     Fence,    &[force_stop(P)],                             "with Force");
    check("stopping for less than FENCE_ESCALATE_SECONDS: wait",        c,     Schedule,    w(S, Stopping, Running).rec(P, S, 599, Done),   NoChange, &[],                                          "which is running");
    check("stopping past FENCE_ESCALATE_SECONDS: forced, the OS shutdown kept", c, Schedule, w(S, Stopping, Running).rec(P, S, 600, Done), Fence, &[escalated(P)],                          "has been stopping for 600s");
    check("... with FENCE_MODE=force: without the OS shutdown",         force, Schedule,    w(S, Stopping, Running).rec(P, S, 600, Done),   Fence,    &[force_stop(P)],                             "has been stopping for 600s");
    check("... inside the cooldown, with a failure: held, still forced", quick, alarm(&[S]), w(S, Stopping, Running).rec(P, S, 120, Done).cw(&[("cpu", AlarmState::Alarm, &[S])]), Hold, &[escalated(P)], "cooldown");
    let mut restarted = w(S, Stopping, Running).rec(P, S, 3600, Done);
    restarted.members[0].launch_time = Some(NOW - 60);
    check("an old primary restarted since, stopping now: left alone",   c,     Schedule,    restarted,                                      NoChange, &[],                                          "which is running");
    check("FENCE_MODE=none never forces",                               none,  Schedule,    w(S, Stopping, Running).rec(P, S, 3600, Done),  NoChange, &[],                                          "which is running");
}

#[test]
fn the_reconcile_reads_the_alarms_that_invoke_this_function_by_its_unqualified_arn() {
    use ec2_failover::pair::alarms::alarm_reads;
    let c = Config { alarm_names: vec!["app-down".into()], ..config() };
    for (arn, prefix) in [
        (
            "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover",
            "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover:live",
            "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover",
        ),
        (
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:$LATEST",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
        ),
    ] {
        let reads = alarm_reads(&c, &Schedule, Some(arn));
        assert_eq!(reads.action_prefix.as_deref(), Some(prefix), "{arn}");
        assert_eq!(reads.names, ["app-down"]);
    }
    // An alarm payload reads its own alarm only; without the function's ARN, the names only.
    assert_eq!(alarm_reads(&c, &alarm(&[P]), Some("arn:aws:lambda:r:1:function:f")).names, ["cpu"]);
    assert_eq!(alarm_reads(&c, &Schedule, None).action_prefix, None);
}

#[test]
fn an_alarm_named_by_its_arn_is_read_in_its_own_region() {
    use ec2_failover::pair::alarms::{alarm_reads, elsewhere, regions};
    let route53 = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ec2-failover-service";
    let c = Config { alarm_names: vec!["app-down".into(), route53.into()], ..config() };
    assert_eq!(elsewhere(route53), Some(("us-east-1", "ec2-failover-service")));
    assert_eq!(elsewhere("app-down"), None);
    assert_eq!(elsewhere("arn:aws:sns:us-east-1:123456789012:topic"), None);
    assert_eq!(regions(&c), ["us-east-1"]);
    let reads = alarm_reads(&c, &Schedule, None);
    assert_eq!(reads.names, ["app-down"]);
    assert_eq!(reads.elsewhere, [("us-east-1".to_owned(), vec!["ec2-failover-service".to_owned()])]);
    // Its payload (through SNS, say) is checked where it lives; another alarm's in the function's region.
    let payload = |name: &str| {
        Trigger::Warning(Warning {
            source: Source::Alarm(Alarm { name: name.into(), state: AlarmState::Alarm, via: AlarmVia::Sns }),
            instance_ids: vec![],
            at: None,
        })
    };
    let reads = alarm_reads(&c, &payload("ec2-failover-service"), None);
    assert!(reads.names.is_empty());
    assert_eq!(reads.elsewhere, [("us-east-1".to_owned(), vec!["ec2-failover-service".to_owned()])]);
    assert_eq!(alarm_reads(&c, &payload("cpu"), None).names, ["cpu"]);
}

#[test]
fn an_alarm_cloudwatch_could_not_confirm_is_not_acted_on() {
    // `check` lets CloudWatch agree with the payload; here it could not be read at all.
    let d = decide(&config(), &alarm(&[P]), &w(P, Running, Running));
    assert_eq!((d.verdict, d.actions.len()), (NoChange, 0), "{}", d.reason);
    assert!(d.reason.contains("could not be read to confirm alarm cpu"), "{}", d.reason);
}

#[test]
#[rustfmt::skip]
fn triggers_outside_the_pair_are_ignored_before_anything_is_read() {
    let c = &config();
    //    name                                config trigger                             world                   verdict actions reason
    check("state change of another instance", c,     stopped("i-0a1b2c3d4e5f67890"),     w(P, Stopped, Stopped), Ignore, &[],    "not one of the pair");
    check("alarm about another instance",     c,     alarm(&["i-0a1b2c3d4e5f67890"]),    w(P, Stopped, Stopped), Ignore, &[],    "outside the pair");
    check("another kind of event",            c,     unrelated("aws.s3 Object Created"), w(P, Stopped, Stopped), Ignore, &[],    "not about the pair");
}

#[test]
#[rustfmt::skip]
fn the_cooldown_holds_a_new_failover() {
    let c = &config();
    let none = &Config { cooldown_seconds: 0, ..config() };
    //    name                                           config trigger      world                                        verdict   actions                             reason
    check("new active terminated 100 s after the failover", c,  stopped(S),  w(S, Stopped, Terminated).rec(P, S, 100, Done), Hold,  &[],                                "cooldown");
    check("alarm on the new active inside the cooldown", c,     alarm(&[S]), w(S, Stopped, Running).rec(P, S, 299, Done), Hold,     &[],                                "299s ago");
    check("cooldown 0",                                  none,  alarm(&[S]), w(S, Stopped, Running).rec(P, S, 1, Done),   FailOver, &[start(P), record(S, P, Started)], "starting");
}

#[test]
#[rustfmt::skip]
fn it_refuses_rather_than_move_the_ip_to_nowhere() {
    let c = &config();
    let mut outsider = w(P, Stopped, Stopped);
    outsider.anchor.holder =
        Holder::Outsider { instance_id: Some("i-0a1b2c3d4e5f67890".into()), network_interface_id: None };
    //    name                                 config trigger      world                        verdict actions reason
    check("standby terminated",                c,     stopped(P),  w(P, Stopped, Terminated),   Refuse, &[],    "cannot take");
    check("standby gone",                      c,     alarm(&[P]), w(P, Running, Gone),         Refuse, &[],    "is gone");
    check("standby shutting down",             c,     stopped(P),  w(P, Stopped, ShuttingDown), Refuse, &[],    "shutting-down");
    check("IP held outside the pair",          c,     stopped(P),  outsider,                    Refuse, &[],    "outside the pair");
    check("IP nowhere and nobody can take it", c,     Schedule,    w(NOBODY, Terminated, Gone), Refuse, &[],    "neither");
}

#[test]
#[rustfmt::skip]
fn an_ip_attached_to_nothing_goes_to_the_best_member() {
    let c = &config();
    //    name                                     config trigger   world                        verdict actions             reason
    check("running standby beats stopped primary", c,     Schedule, w(NOBODY, Stopped, Running), Heal,   &[mv(S)],           "which is running");
    check("both running: the primary",             c,     Schedule, w(NOBODY, Running, Running), Heal,   &[mv(P)],           P);
    check("both stopped: the primary, started",    c,     Schedule, w(NOBODY, Stopped, Stopped), Heal,   &[mv(P), start(P)], "stopped");
    check("a booting member is waited for",        c,     Schedule, w(NOBODY, Pending, Stopped), Wait,   &[],                "is starting");
    check("a running member beats a booting one",  c,     Schedule, w(NOBODY, Pending, Running), Heal,   &[mv(S)],           "which is running");
}

#[test]
#[rustfmt::skip]
fn the_ip_never_stays_on_an_instance_that_will_not_start() {
    let c = &config();
    let kms = "Client.InternalError: Client error on launch";
    //    name                                                        config trigger     world                                                        verdict   actions                           reason
    check("inside the cooldown the stopped active is started again",  c,     stopped(S), w(S, Stopped, Stopped).rec(P, S, 100, Done),                     Finish,   &[start(S)],                      "starting it again");
    check("its start failed (capacity): start it again",              c,     Schedule,   w(S, Stopped, Stopped).rec(P, S, 30, Moved),                     Finish,   &[start(S)],                      "starting it again");
    check("it fell back to stopped (KMS), the other serves: back",    c,     Schedule,   w(S, Running, Stopped).rec(P, S, 30, Moved).why(S, kms),         FailOver, &[mv(P), record(S, P, Done)],     "failing back");
    check("the failback names EC2's reason",                          c,     Schedule,   w(S, Running, Stopped).rec(P, S, 30, Moved).why(S, kms),         FailOver, &[mv(P), record(S, P, Done)],     "Client error on launch");
    check("the other is not ready: no failback, start again",         c,     Schedule,   w(S, Running, Stopped).init(P).rec(P, S, 30, Moved),             Finish,   &[start(S)],                      "starting it again");
    check("it served since (done): no failback inside the cooldown",  c,     Schedule,   w(S, Running, Stopped).rec(P, S, 30, Done),                      Finish,   &[start(S)],                      "starting it again");
    check("it runs now: the failover is done",                        c,     running(S), w(S, Stopped, Running).rec(P, S, 60, Moved),                     Finish,   &[record_at(P, S, Done, 60)],     "is done");
    check("it runs and the old primary too: done, then fence",        c,     Schedule,   w(S, Running, Running).rec(P, S, 60, Moved),                     Fence,    &[record_at(P, S, Done, 60), stop(P)], "is done");
    check("still booting: nothing to do",                             c,     Schedule,   w(S, Stopped, Pending).rec(P, S, 20, Moved),                     NoChange, &[],                              "which is pending");
}

#[test]
#[rustfmt::skip]
fn an_old_primary_still_running_since_before_the_failover_is_fenced() {
    let c = &config();
    let none = &Config { fence_mode: FenceMode::None, ..config() };
    let mut restarted = w(S, Running, Running).rec(P, S, 50, Done);
    restarted.members[0].launch_time = Some(NOW - 10);
    //    name                                       config trigger   world                                       verdict   actions     reason
    check("stop failed last time",                   c,     Schedule, w(S, Running, Running).rec(P, S, 50, Done), Fence,    &[stop(P)], "still runs");
    check("restarted on purpose after the failover", c,     Schedule, restarted,                                  NoChange, &[],        "which is running");
    check("fencing off",                             none,  Schedule, w(S, Running, Running).rec(P, S, 50, Done), NoChange, &[],        "which is running");
    check("a pending old primary waits to be fenced", c,    Schedule, w(S, Pending, Running).rec(P, S, 50, Done), NoChange, &[],        "which is running");
}

#[test]
fn the_ip_is_never_associated_again_with_the_instance_that_holds_it() {
    // AWS may charge for every remap, even onto the same instance (AssociateAddress: "you may be
    // charged for each time the Elastic IP address is remapped to the same instance"), and it is
    // a needless write: over every world the table can build, no plan moves the IP onto its holder.
    let states = [Pending, Running, Stopping, Stopped, ShuttingDown, Terminated, Gone];
    let triggers = [Schedule, stopped(P), running(S), alarm(&[P]), alarm(&[S]), alarm(&[])];
    let mut plans = 0;
    for holder in [Some(P), Some(S), None] {
        for p in states {
            for s in states {
                let records = [None, Some((P, S)), Some((S, P))];
                for record in records {
                    for phase in [Started, Moved, Done] {
                        for ago in [10, 100_000] {
                            let mut world = w(holder, p, s);
                            if let Some((from, to)) = record {
                                world = world.rec(from, to, ago, phase);
                            }
                            for trigger in &triggers {
                                let world = cloudwatch_agrees(trigger, world.clone());
                                let d = decide(&config(), trigger, &world);
                                for action in &d.actions {
                                    if let Action::MoveEndpoints { instance_id, .. } = action {
                                        plans += 1;
                                        assert_ne!(Some(instance_id.as_str()), holder, "{}", d.reason);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(plans > 100, "the worlds must include failovers: {plans}");
}

/// A pair with a service check: `threshold` failures among the last `window` probes fail it.
fn checked(threshold: usize, window: usize) -> Config {
    Config { health: Some(HealthCheck::parse("http:8080/healthz", None, threshold, window, 2000).unwrap()), ..config() }
}

/// Results as the tag keeps them: `"011"` is passed, failed, failed (oldest first).
fn bits(results: &str) -> Vec<bool> {
    results.chars().map(|c| c == '1').collect()
}

/// The results kept on the address, counted `ago` seconds before now (`""`: none for that member).
fn kept(mut world: World, ago: i64, primary: &str, standby: &str) -> World {
    let members = [(P, primary), (S, standby)]
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(id, b)| ((*id).to_owned(), bits(b)))
        .collect();
    world.anchor.health = Some(History { at: NOW - ago, members });
    world
}

/// This invocation's probes: `Some(true)` passed, `Some(false)` failed, `None` not probed.
fn probed(mut world: World, primary: Option<bool>, standby: Option<bool>) -> World {
    world.probes = [(P, primary), (S, standby)]
        .iter()
        .filter_map(|(id, ok)| {
            let result = if (*ok)? { Ok(()) } else { Err("10.0.0.9:8080: Connection refused".to_owned()) };
            Some(Probed { instance_id: (*id).to_owned(), result, timed_out: false })
        })
        .collect();
    world
}

/// This invocation's probes of these members timed out before a TCP connection (packets dropped).
fn silent(mut world: World, ids: &[&str]) -> World {
    for id in ids {
        world.probes.retain(|p| p.instance_id != *id);
        world.probes.push(Probed {
            instance_id: (*id).to_owned(),
            result: Err("no TCP connection to 10.0.0.9:8080 within 2000 ms".into()),
            timed_out: true,
        });
    }
    world
}

/// The results the decision keeps, counted now.
fn kept_now(primary: &str, standby: &str) -> Action {
    let members = [(P, primary), (S, standby)]
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(id, b)| ((*id).to_owned(), bits(b)))
        .collect();
    Action::RecordHealth(History { at: NOW, members })
}

#[test]
#[rustfmt::skip]
fn a_service_that_stops_answering_fails_the_pair_over_after_its_threshold() {
    let three = &checked(3, 3);
    let three_of_five = &checked(3, 5);
    let up = w(P, Running, Running);
    //    name                                                            config         trigger   world                                                                 verdict   actions                                                              reason
    check("one failed probe is counted, and changes nothing else",         three,         Schedule, probed(kept(up.clone(), 60, "00", "00"), Some(false), Some(true)),   NoChange, &[kept_now("001", "000")],                                             "the Elastic IP is on");
    check("the third in a row fails the pair over, make before break",     three,         Schedule, probed(kept(up.clone(), 60, "011", "000"), Some(false), Some(true)), FailOver, &[kept_now("111", "000"), mv(S), record(P, S, Done), stop(P)],      "failed 3 of the last 3 probes of i-0123456789abcdef0 (last: 10.0.0.9:8080: Connection refused)");
    check("a probe that passes breaks the run",                             three,         Schedule, probed(kept(up.clone(), 60, "011", "000"), Some(true), Some(true)),  NoChange, &[kept_now("110", "000")],                                             "the Elastic IP is on");
    check("3 of 5: failures need not be in a row",                          three_of_five, Schedule, probed(kept(up.clone(), 60, "1010", "0000"), Some(false), Some(true)), FailOver, &[kept_now("10101", "00000"), mv(S), record(P, S, Done), stop(P)], "failed 3 of the last 5");
    check("... while 3 in a row is not reached by the same probes",         three,         Schedule, probed(kept(up.clone(), 60, "010", "000"), Some(false), Some(true)), NoChange, &[kept_now("101", "000")],                                             "the Elastic IP is on");
    check("a second delivery within 50 s counts nothing again",             three,         Schedule, probed(kept(up.clone(), 10, "011", "000"), Some(false), Some(true)), NoChange, &[],                                                                 "the Elastic IP is on");
    check("a healthy pair's steady results are not written again",         three,         Schedule, probed(kept(up.clone(), 60, "000", "000"), Some(true), Some(true)),  NoChange, &[],                                                                 "the Elastic IP is on");
    check("a failing standby changes nothing, and says so",                 three,         Schedule, probed(kept(up.clone(), 60, "000", "011"), Some(true), Some(false)), NoChange, &[kept_now("000", "111")],                                             "not ready to take over");
    check("the standby's own probe must pass before the IP moves",         three,         Schedule, probed(kept(up.clone(), 60, "011", "000"), Some(false), Some(false)), FailOver, &[kept_now("111", "001"), record(P, S, Started)],                     "its service check fails (10.0.0.9:8080: Connection refused)");
    check("... and once it passes the failover carries on",                 three,         Schedule, probed(kept(up.clone(), 60, "111", "001"), Some(false), Some(true)).rec(P, S, 60, Started), Finish, &[kept_now("111", "010"), mv(S), record(P, S, Done), stop(P)], "carrying on");
    check("a cold standby is started; the IP waits for its service",        three,         Schedule, probed(kept(w(P, Running, Stopped), 60, "011", ""), Some(false), None), FailOver, &[kept_now("111", ""), start(S), record(P, S, Started)],          "once i-0fedcba9876543210 can serve");
    check("a dead primary is left at once, whatever its service",          three,         stopped(P), probed(kept(w(P, Stopped, Running), 60, "000", "000"), None, Some(false)), FailOver, &[kept_now("", "001"), mv(S), record(P, S, Done)],     "is stopped");
    check("while paused, nothing is recorded",                              three,         Schedule, probed(kept(up.clone(), 60, "011", "000"), Some(false), Some(true)).paused("maintenance"), Paused, &[],                                        "would have been fail_over");
    check("after a failover the new active's own results count",           three,         Schedule, probed(kept(w(S, Stopped, Running).rec(P, S, 100, Done), 60, "", "011"), None, Some(false)), Hold, &[kept_now("", "111")],                     "failed 3 of the last 3 probes of i-0fedcba9876543210");
    check("status shows each member's service check",                      three,         command(Command::Status), probed(kept(up.clone(), 60, "011", "000"), Some(false), Some(true)), Status, &[],                                               "service http:8080/healthz fails now: 10.0.0.9:8080: Connection refused, 3 of the last 3 failed, failing");
    check("without a check nothing is probed or written",                  &config(),     Schedule, up.clone(),                                                            NoChange, &[],                                                                 "the Elastic IP is on");
    // A failover begun for an alarm that has gone back to OK is dropped, unless the service now
    // fails: the primary still serves nothing, and the failover is carried on.
    let alarm_passed = w(P, Running, Running).init(S).rec(P, S, 120, Started).cw(&[("cpu", AlarmState::Ok, &[P])]);
    check("an alarm's failover whose alarm passed, service fine: dropped",   three,         Schedule, probed(kept(alarm_passed.clone(), 60, "000", "000"), Some(true), Some(true)), NoChange, &[],                                                          "is not carried on");
    check("... the service failing now: carried on",                         three,         Schedule, probed(kept(alarm_passed, 60, "011", "000"), Some(false), Some(true)), Wait, &[kept_now("111", "000")],                                              "carrying on the failover");
    // Probes that time out before a TCP connection: on the active alone (the standby answers) it is
    // the active's failure, a zone gone dark; on every member probed, the network drops the probes.
    check("the active's probes time out, the standby answers: fail over",   three,         Schedule, silent(probed(kept(up.clone(), 60, "011", "000"), None, Some(true)), &[P]), FailOver, &[kept_now("111", "000"), mv(S), record(P, S, Done), stop(P)], "no TCP connection");
    check("every probe times out, hot standby: refused, nothing moves",     three,         Schedule, silent(kept(up.clone(), 60, "011", "011"), &[P, S]), Refuse, &[],                                                                 "the network drops the function's probes");
    check("... cold standby, the active alone probed: its failure, the standby starts", three, Schedule, silent(kept(w(P, Running, Stopped), 60, "011", ""), &[P]), FailOver, &[kept_now("111", ""), start(S), record(P, S, Started)], "no TCP connection");
    // The IP on nothing goes to the running member whose service answers.
    check("an IP on nothing goes where the service answers",                 three,         Schedule, probed(kept(w(NOBODY, Running, Running), 60, "000", "000"), Some(false), Some(true)), Heal, &[kept_now("001", "000"), mv(S)],                      "giving it to i-0fedcba9876543210");
}

#[test]
fn the_service_check_is_read_and_written_back_as_its_tag() {
    let parse = |spec: &str, expect: Option<&str>| HealthCheck::parse(spec, expect, 3, 5, 2000);
    let http = parse("http:8080/healthz", Some("200-299")).unwrap();
    assert_eq!(
        (http.port, http.path.as_str(), http.expect, http.to_string()),
        (8080, "/healthz", (200, 299), "http:8080/healthz".into())
    );
    assert_eq!(parse("tcp:5432", None).unwrap().expect, (200, 399));
    assert_eq!(parse("HTTPS:443", Some("204")).unwrap().path, "/");
    for bad in ["", "tcp", "tcp:0", "tcp:70000", "udp:53", "tcp:22/x", "http:80/a b", "http:x/"] {
        assert!(parse(bad, None).is_err(), "{bad:?}");
    }
    for bad in ["abc", "399-200", "99", "200-600"] {
        assert!(parse("http:80/", Some(bad)).unwrap_err().starts_with("HTTP statuses"), "{bad:?}");
    }
    assert!(HealthCheck::parse("tcp:80", None, 4, 3, 2000).is_err(), "a threshold above its window");
    assert!(HealthCheck::parse("tcp:80", None, 3, 11, 2000).is_err(), "a window longer than the tag keeps");

    let history = History { at: NOW, members: vec![(P.into(), bits("0110")), (S.into(), bits(""))] };
    let tag = history.to_tag();
    assert_eq!(tag, format!("{NOW} {P}:0110 {S}:"));
    assert!(tag.len() <= 256);
    assert_eq!(History::parse(&tag), Some(history));
    assert_eq!(History::parse("soon i-1:01"), None);
    assert_eq!(History::parse("1800000000 i-1:0x"), None);
    // The longest tag: two members, ten results each.
    let full = History { at: NOW, members: vec![(P.into(), vec![true; 10]), (S.into(), vec![false; 10])] };
    assert!(full.to_tag().len() <= 256);
}

/// Endpoints besides the Elastic IP: a route and a private IP, each pointing at `route` / `ip`.
fn endpoints(mut world: World, route: Option<&str>, ip: Option<&str>) -> World {
    let holder = |id: Option<&str>| id.map_or(Holder::Nobody, |i| Holder::Member { instance_id: i.into() });
    let eip = world.anchor.holder.clone();
    world.endpoints = vec![
        EndpointSeen {
            endpoint: Endpoint::ElasticIp { allocation_id: "eipalloc-0123456789abcdef0".into() },
            holder: eip,
        },
        EndpointSeen {
            endpoint: Endpoint::Route { table: "rtb-0123456789abcdef0".into(), destination: "10.1.0.10/32".into() },
            holder: holder(route),
        },
        EndpointSeen { endpoint: Endpoint::PrivateIp { address: "10.0.1.200".into() }, holder: holder(ip) },
    ];
    world
}

fn routed() -> Config {
    Config {
        routes: vec![ec2_failover::pair::Route {
            table: "rtb-0123456789abcdef0".into(),
            destination: "10.1.0.10/32".into(),
        }],
        private_ips: vec!["10.0.1.200".into()],
        ..config()
    }
}

fn converge(id: &str, which: &[Endpoint]) -> Action {
    Action::Converge { instance_id: id.into(), network_interface_id: Some(eni(id)), endpoints: which.to_vec() }
}

fn source_dest(mut world: World, id: &str, on: bool) -> World {
    for m in world.members.iter_mut() {
        m.source_dest_check = Some(if m.instance_id == id { on } else { false });
    }
    world
}

#[test]
#[rustfmt::skip]
fn every_endpoint_follows_the_active_instance() {
    let c = &routed();
    let route = Endpoint::Route { table: "rtb-0123456789abcdef0".into(), destination: "10.1.0.10/32".into() };
    let ip = Endpoint::PrivateIp { address: "10.0.1.200".into() };
    let checks_off = |w| source_dest(w, S, false);
    //    name                                                     config trigger     world                                                                         verdict   actions                                      reason
    check("all in place: nothing to do",                            c,     Schedule,   checks_off(endpoints(w(P, Running, Running), Some(P), Some(P))),             NoChange, &[],                                         "the Elastic IP is on");
    check("a route left on the old holder: pointed at the active",  c,     Schedule,   checks_off(endpoints(w(S, Stopped, Running).rec(P, S, 600, Done), Some(P), Some(S))), Heal, &[converge(S, std::slice::from_ref(&route))], "points at i-0123456789abcdef0: pointing it at the active instance i-0fedcba9876543210");
    check("a missing route and a private IP nowhere: both",         c,     Schedule,   checks_off(endpoints(w(P, Running, Running), None, None)),                   Heal,     &[converge(P, &[route.clone(), ip.clone()])], "points at nothing");
    check("a failover moves them all with the IP (one action)",     c,     stopped(P), checks_off(endpoints(w(P, Stopped, Running), Some(P), Some(P))),             FailOver, &[mv(S), record(P, S, Done)],              "is stopped");
    check("while a failover waits, they stay with the active",      c,     Schedule,   checks_off(endpoints(w(P, Running, Pending).rec(P, S, 30, Started), Some(S), Some(P))), Wait, &[converge(P, std::slice::from_ref(&route))], "pointing it at the active instance i-0123456789abcdef0");
    check("a route never goes to an instance that drops routed traffic", c, switchover(false), source_dest(endpoints(w(P, Running, Running), Some(P), Some(P)), S, true), Refuse, &[],           "source/destination check is on");
    check("... but away from a dead one everything moves, and says so", c, stopped(P), source_dest(endpoints(w(P, Stopped, Running), Some(P), Some(P)), S, true), FailOver, &[mv(S), record(P, S, Done)], "WARNING: the route tables now point at i-0fedcba9876543210");
    check("... nor is one repaired onto it",                         c,     Schedule,   source_dest(endpoints(w(S, Stopped, Running).rec(P, S, 600, Done), Some(P), Some(S)), S, true), Refuse, &[],      "i-0fedcba9876543210, whose source/destination check is on");
    check("status lists every endpoint and where it points",         c,     command(Command::Status), checks_off(endpoints(w(P, Running, Running), Some(S), None)), Status, &[],             "endpoints: the Elastic IP eipalloc-0123456789abcdef0 on i-0123456789abcdef0, the route to 10.1.0.10/32 in rtb-0123456789abcdef0 on i-0fedcba9876543210, the private IP 10.0.1.200 on nothing");
    let mut nat = checks_off(endpoints(w(P, Running, Running), Some(P), Some(P)));
    nat.endpoints[1].holder = Holder::Outsider { instance_id: None, network_interface_id: Some("nat-0123456789abcdef0".into()) };
    check("a route something outside the pair holds is reported, not taken", c, Schedule, nat,                                                         NoChange, &[],                                         "points at nat-0123456789abcdef0, outside the pair: left alone");
    check("paused: nothing is repaired",                             c,     Schedule,   checks_off(endpoints(w(P, Running, Running), None, None)).paused("maintenance"), Paused, &[],                         "paused");
    // Right after a move, EC2's reads may still show the old holder (eventual consistency): the
    // Elastic IP read on P, the route and the private IP already on S. Within the window the
    // record is believed and nothing is pointed back at P; past it the reads are.
    // (FENCE_MODE=none: both keep running, as after a switchover without a fence.)
    let unfenced = &Config { fence_mode: FenceMode::None, ..routed() };
    let stale = |ago| checks_off(endpoints(w(P, Running, Running).rec(P, S, ago, Done), Some(S), Some(S)));
    check("a stale read right after a move points nothing back",     unfenced, Schedule, stale(5),                                                                      NoChange, &[],                                         "the Elastic IP is on i-0fedcba9876543210");
    // ... but not for what it cannot prove (the move may have failed): nothing is fenced meanwhile.
    check("... nor is the old holder fenced while the reads disagree", c, Schedule, checks_off(endpoints(w(P, Running, Running).rec(P, S, 5, Done), Some(S), Some(S))), NoChange, &[], "nothing is stopped or moved back");
    check("... past the window the reads are believed",              unfenced, Schedule, stale(120),                                                                    Heal,     &[converge(P, &[route.clone(), ip.clone()])], "pointing it at the active instance i-0123456789abcdef0");
}

/// `id`'s status-check alarm has had no data for `quiet` seconds, and EC2's own status checks of it
/// say `checks` (None: not read).
fn gone_quiet(mut world: World, id: &str, quiet: i64, checks: Option<CheckStatus>) -> World {
    world.alarms = Some(vec![AlarmSeen {
        name: format!("status-{id}"),
        state: AlarmState::InsufficientData,
        instance_ids: vec![id.into()],
        since: Some(NOW - quiet),
        actions_enabled: true,
    }]);
    for m in world.members.iter_mut().filter(|m| m.instance_id == id) {
        m.checks = checks.map(|c| Checks { instance: c, system: c });
    }
    world
}

/// A zone gone dark: EC2 goes on saying `running`, the metrics stop (the status-check alarm, which
/// treats missing data as missing, goes to INSUFFICIENT_DATA) and EC2's own status checks have no
/// data either. Missing metrics alone are CloudWatch's to lose (its user guide says EC2 alarms may
/// go to INSUFFICIENT_DATA on a healthy instance): not enough without EC2's word.
#[test]
#[rustfmt::skip]
fn a_primary_gone_silent_in_a_dark_zone_fails_over_and_missing_metrics_alone_do_not() {
    let c = &config();
    let off = &Config { silent_seconds: 0, ..config() };
    let quiet = |w, secs, checks| gone_quiet(w, P, secs, checks);
    let dark = Some(CheckStatus::InsufficientData);
    //    name                                                      config trigger          world                                                          verdict   actions                                reason
    check("silent a minute, EC2 has no data either: hot standby",   c,     Schedule,        quiet(w(P, Running, Running), 60, dark),                       FailOver, &[mv(S), record(P, S, Done), stop(P)], "has gone silent");
    check("... cold standby: started, make before break",           c,     Schedule,        quiet(w(P, Running, Stopped), 60, dark),                       FailOver, &[start(S), record(P, S, Started)],    "has had no data for 60s");
    check("... the alarm's own INSUFFICIENT_DATA action too",       c,     insufficient_data(&[P]), quiet(w(P, Running, Running), 90, dark),               FailOver, &[mv(S), record(P, S, Done), stop(P)], "insufficient-data");
    check("EC2's checks impaired, no metrics: silent as well",      c,     Schedule,        quiet(w(P, Running, Running), 60, Some(CheckStatus::Impaired)), FailOver, &[mv(S), record(P, S, Done), stop(P)], "impaired");
    check("missing metrics, EC2's checks pass: not on that alone",  c,     Schedule,        quiet(w(P, Running, Running), 600, Some(CheckStatus::Ok)),      NoChange, &[],                                   "not failing over on missing metrics alone");
    check("missing metrics, EC2's checks unread: not either",       c,     Schedule,        quiet(w(P, Running, Running), 600, None),                      NoChange, &[],                                   "say unknown");
    check("silent for less than SILENT_SECONDS: wait",              c,     Schedule,        quiet(w(P, Running, Running), 30, dark),                       NoChange, &[],                                   "which is running");
    check("SILENT_SECONDS=0: the rule is off",                      off,   Schedule,        quiet(w(P, Running, Running), 600, dark),                      NoChange, &[],                                   "which is running");
    // Silent since before the instance last started (a stopped instance reports nothing) or
    // before it took the address: not news about it now.
    check("silent since before it last started: its metrics resume", c,    Schedule,        quiet(w(P, Running, Running), 7200, dark),                     NoChange, &[],                                   "which is running");
    check("silent since before the failover to it",                 c,     Schedule,        gone_quiet(w(S, Stopped, Running).rec(P, S, 600, Done), S, 3000, dark), NoChange, &[],                           "is on i-0fedcba9876543210");
    check("a silent standby is not the active one",                 c,     Schedule,        gone_quiet(w(P, Running, Running), S, 600, dark),                  NoChange, &[],                                   "which is running");
}

/// The primary in us-east-1a, the standby in us-east-1b, and a `kind` shift away from `zone`.
fn shifted(mut world: World, zone: &str, kind: ShiftKind) -> World {
    for m in world.members.iter_mut() {
        m.availability_zone = Some(if m.instance_id == P { "us-east-1a" } else { "us-east-1b" }.into());
    }
    world.shifts.push(ZoneShift {
        zone_id: if zone == "us-east-1a" { "use1-az6" } else { "use1-az1" }.into(),
        zone: Some(zone.into()),
        kind,
        id: "zs-1".into(),
        resource: None,
    });
    world
}

/// Route 53 ARC's zonal shifts move no single instance: the function honours them itself. With
/// `avoid` (the default) the address never moves into a shifted zone while the active instance
/// lives; with `follow` it also leaves one, make before break and not held by the cooldown.
#[test]
#[rustfmt::skip]
fn zonal_shifts_are_avoided_by_default_and_followed_when_asked() {
    let c = &config();
    let follow = &Config { zonal_shift: ZonalShift::Follow, ..config() };
    let practice = &Config { follow_practice_runs: true, ..follow.clone() };
    let off = &Config { zonal_shift: ZonalShift::Off, ..config() };
    let away_b = |w, kind| shifted(w, "us-east-1b", kind);
    let away_a = |w, kind| shifted(w, "us-east-1a", kind);
    //    name                                                          config   trigger      world                                                           verdict   actions                                reason
    check("avoid: a degraded primary keeps the address off a shifted zone", c,   alarm(&[P]), away_b(w(P, Running, Running), ShiftKind::Autoshift),         Hold,     &[],                                   "not moving into it");
    check("... a practice run too: AWS shifts traffic in it",            c,       alarm(&[P]), away_b(w(P, Running, Running), ShiftKind::PracticeRun),       Hold,     &[],                                   "practice run zs-1");
    check("... but a dead primary's address goes: the only place left", c,       stopped(P),  away_b(w(P, Stopped, Running), ShiftKind::Autoshift),         FailOver, &[mv(S), record(P, S, Done)],          "the only place left");
    check("... and a primary whose own zone is shifted too",             c,       alarm(&[P]), shifted(away_b(w(P, Running, Running), ShiftKind::Customer), "us-east-1a", ShiftKind::Customer), FailOver, &[mv(S), record(P, S, Done), stop(P)], "the only place left");
    check("off: the shift is not looked at",                             off,     alarm(&[P]), away_b(w(P, Running, Running), ShiftKind::Autoshift),         FailOver, &[mv(S), record(P, S, Done), stop(P)], "which can serve");
    check("avoid: a shift away from the active zone is said, not acted on", c,   Schedule,    away_a(w(P, Running, Running), ShiftKind::Autoshift),         NoChange, &[],                                   "the address stays");
    check("follow: an autoshift away from the active zone fails over",  follow,  Schedule,    away_a(w(P, Running, Running), ShiftKind::Autoshift),         FailOver, &[mv(S), record(P, S, Done), stop(P)], "moves traffic away from the zone of the active instance");
    check("... a customer's shift, a cold standby: make before break",   follow,  Schedule,    away_a(w(P, Running, Stopped), ShiftKind::Customer),          FailOver, &[start(S), record(P, S, Started)],    "zonal shift zs-1");
    check("... inside the cooldown as well",                             follow,  Schedule,    away_b(w(S, Stopped, Running).rec(P, S, 30, Done), ShiftKind::Autoshift), FailOver, &[start(P), record(S, P, Started)], "(ZONAL_SHIFT=follow)");
    check("... but not into another shifted zone: no flapping",         follow,  Schedule,    shifted(away_a(w(P, Running, Running), ShiftKind::Autoshift), "us-east-1b", ShiftKind::Customer), NoChange, &[], "the address stays");
    check("... a practice run only with FOLLOW_PRACTICE_RUNS",           follow,  Schedule,    away_a(w(P, Running, Running), ShiftKind::PracticeRun),       NoChange, &[],                                   "only with FOLLOW_PRACTICE_RUNS");
    check("... which follows it",                                        practice, Schedule,   away_a(w(P, Running, Running), ShiftKind::PracticeRun),       FailOver, &[mv(S), record(P, S, Done), stop(P)], "practice run");
    check("a switchover into a shifted zone is refused",                 c,       command(Command::Switchover { force: false }), away_b(w(P, Running, Running), ShiftKind::Customer), Refuse, &[], "force to move anyway");
    check("... unless forced",                                           c,       command(Command::Switchover { force: true }),  away_b(w(P, Running, Running), ShiftKind::Customer), Switchover, &[mv(S), record(P, S, Done), stop(P)], "switchover");
    let mut unread = w(P, Running, Running);
    unread.unread_shifts = Some("ListZonalShifts: ThrottlingException".into());
    check("shifts unread: nothing held back, and said",                  c,       Schedule,    unread,                                                       NoChange, &[],                                   "nothing is held back for them");
}

/// A zone event can leave a cold standby no capacity to start: status says whether it has a
/// Capacity Reservation to count on.
#[test]
fn status_says_whether_a_stopped_standby_can_count_on_capacity() {
    let c = &config();
    let d = decide(c, &command(Command::Status), &w(P, Running, Stopped));
    assert!(
        d.reason.contains("no capacity reservation: a zone event may leave it no capacity to start"),
        "{}",
        d.reason
    );
    let mut reserved = w(P, Running, Stopped);
    reserved.members[1].capacity_reservation = Some("cr-0123456789abcdef0".into());
    let d = decide(c, &command(Command::Status), &reserved);
    assert!(d.reason.contains("capacity reservation cr-0123456789abcdef0"), "{}", d.reason);
    assert!(!d.reason.contains("no capacity reservation"), "{}", d.reason);
}
