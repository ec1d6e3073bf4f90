//! Fault injection and races: the real handler against moto through `scripts/ec2_proxy.py`, which
//! throttles, answers 503 and drops connections on a seeded share of EC2 requests, and counts
//! every request so that the tests can assert what was called, not only where the world ended.
//!
//! `FAULT_TRIALS` (default 120) sets the number of seeded trials.

mod support;

use std::collections::BTreeMap;

use ec2_failover::decision::Verdict;
use ec2_failover::pair::Config;
use ec2_failover::pair::Handler;
use serde_json::json;
use support::{alarm, look, pair, Moto, Pair, Proxy, Request, Seen};

const FAULTS: [&str; 4] = ["throttle", "unavailable", "drop-before", "drop-after"];
const FAULT_RATE: f64 = 0.3;
/// Lambda runs an asynchronous invocation that fails up to two more times.
const LAMBDA_ATTEMPTS: usize = 3;

/// The failures a trial starts from, in turn.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// The primary stopped; the standby is cold. Handled by its state-change event.
    PrimaryStopped,
    /// The same, and the standby's zone has no capacity for the first round: its start fails.
    PrimaryStoppedNoCapacity,
    /// The primary was terminated; the standby is cold.
    PrimaryTerminated,
    /// A CPU alarm on a running primary, standby hot: move, then fence.
    CpuAlarmHotStandby,
    /// A CPU alarm on a running primary, standby cold: start it; its `running` event finishes.
    CpuAlarmColdStandby,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::PrimaryStopped,
    Scenario::PrimaryStoppedNoCapacity,
    Scenario::PrimaryTerminated,
    Scenario::CpuAlarmHotStandby,
    Scenario::CpuAlarmColdStandby,
];

impl Scenario {
    fn standby_running(self) -> bool {
        matches!(self, Scenario::CpuAlarmHotStandby)
    }

    fn primary_was_running(self) -> bool {
        matches!(self, Scenario::CpuAlarmHotStandby | Scenario::CpuAlarmColdStandby)
    }

    /// Where the old primary must end when fencing is on.
    fn primary_end(self) -> &'static str {
        match self {
            Scenario::PrimaryTerminated => "terminated",
            _ => "stopped",
        }
    }

    fn events(self) -> &'static [&'static str] {
        match self {
            Scenario::PrimaryStopped | Scenario::PrimaryStoppedNoCapacity => &["ec2-state-change-primary-stopped.json"],
            Scenario::PrimaryTerminated => &["ec2-state-change-primary-terminated.json"],
            Scenario::CpuAlarmHotStandby => &["alarm-action-cpu-alarm.json"],
            Scenario::CpuAlarmColdStandby => &["alarm-action-cpu-alarm.json", "ec2-state-change-standby-running.json"],
        }
    }

    async fn break_primary(self, ec2: &aws_sdk_ec2::Client, p: &Pair) {
        match self {
            Scenario::PrimaryStopped | Scenario::PrimaryStoppedNoCapacity => {
                drop(ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap())
            }
            Scenario::PrimaryTerminated => {
                drop(ec2.terminate_instances().instance_ids(&p.primary).send().await.unwrap())
            }
            Scenario::CpuAlarmHotStandby | Scenario::CpuAlarmColdStandby => {}
        }
    }
}

fn tag<'a>(seen: &'a Seen, key: &str) -> Option<&'a str> {
    seen.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The failover finished: the IP on the running standby, the old primary fenced, the record done.
fn is_correct(scenario: Scenario, p: &Pair, seen: &Seen) -> bool {
    seen.holder.as_deref() == Some(p.standby.as_str())
        && seen.standby == "running"
        && seen.primary == scenario.primary_end()
        && tag(seen, "ec2-failover:to") == Some(p.standby.as_str())
        && tag(seen, "ec2-failover:phase") == Some("done")
}

/// What no invocation may ever leave behind, whether it reported success or not.
fn damage(scenario: Scenario, p: &Pair, seen: &Seen) -> Option<&'static str> {
    let state_of = |id: &str| if id == p.primary { seen.primary.as_str() } else { seen.standby.as_str() };
    let Some(holder) = seen.holder.as_deref() else { return Some("the IP is attached to nothing") };
    if matches!(state_of(holder), "terminated" | "shutting-down" | "gone") {
        return Some("the IP is on a terminated instance");
    }
    if holder == p.standby && !matches!(seen.standby.as_str(), "running" | "pending") {
        return Some("the IP was moved to a standby that is not running");
    }
    if scenario.primary_was_running()
        && matches!(seen.primary.as_str(), "stopped" | "stopping")
        && !matches!(seen.standby.as_str(), "running" | "pending")
    {
        return Some("the function stopped the primary with no standby running: both down");
    }
    if tag(seen, "ec2-failover:phase") == Some("done") && tag(seen, "ec2-failover:to") != Some(holder) {
        return Some("the record says done, but the IP is elsewhere");
    }
    None
}

/// Requests that reached EC2 and were applied (answered 200, or dropped after being applied).
fn applied<'a>(log: &'a [Request], action: &'a str, instance: &'a str) -> impl Iterator<Item = &'a Request> + 'a {
    log.iter().filter(move |r| {
        r.action == action
            && r.params.values().any(|v| v == instance)
            && (r.status == Some(200) || r.fault.as_deref() == Some("drop-after"))
    })
}

/// One trial's function and what it has seen of EC2 so far.
struct Trial<'a> {
    handler: Handler,
    proxy: &'a Proxy,
    p: &'a Pair,
    /// Whether the standby's status checks can have passed: the strict emulator keeps a started
    /// instance `pending` and its checks `initializing` until the trial settles it.
    standby_ready: bool,
    seen_requests: usize,
    /// A fence of the primary was applied while the standby could not have passed its checks.
    early_fence: bool,
    lambda_retries: usize,
}

impl Trial<'_> {
    /// Delivers an event as Lambda does, retried while it fails; true if it failed every time.
    async fn deliver(&mut self, event: serde_json::Value) -> bool {
        let mut result = self.handler.handle(&event).await;
        for _ in 1..LAMBDA_ATTEMPTS {
            if result.is_ok() {
                break;
            }
            self.lambda_retries += 1;
            result = self.handler.handle(&event).await;
        }
        let log = self.proxy.log();
        let new = &log[self.seen_requests.min(log.len())..];
        if applied(new, "StartInstances", &self.p.standby).next().is_some() {
            self.standby_ready = false;
        }
        self.early_fence |= !self.standby_ready && applied(new, "StopInstances", &self.p.primary).next().is_some();
        self.seen_requests = log.len();
        result.is_err()
    }
}

#[derive(Debug, Default)]
struct Tally {
    trials: usize,
    correct: usize,
    reported_failure: usize,
    lambda_retries: usize,
    requests: usize,
    faults: BTreeMap<String, usize>,
    wrong: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_throttling_503s_and_dropped_connections_the_world_ends_correct_or_the_failure_is_reported() {
    let trials: usize = std::env::var("FAULT_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(120);
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let ec2 = moto.client();
    let mut tally = Tally::default();

    for trial in 0..trials {
        let scenario = SCENARIOS[trial % SCENARIOS.len()];
        moto.reset();
        let p = pair(&ec2, scenario.standby_running()).await;
        scenario.break_primary(&ec2, &p).await;
        if scenario.primary_was_running() {
            // The alarm the payload names is in ALARM in CloudWatch: the function reads it again.
            proxy.configure(&json!({}));
            let cloudwatch = proxy.cloudwatch_client(&format!("setup-{trial}"));
            alarm(&cloudwatch, "ec2-failover-primary-cpu", &p.primary, aws_sdk_cloudwatch::types::StateValue::Alarm)
                .await;
        }
        // The strict emulator keeps a started instance `pending` until settled; a cold standby for a
        // degraded primary boots at once instead, and only its status checks wait to be settled.
        let pending_seconds = if matches!(scenario, Scenario::CpuAlarmColdStandby) { 0 } else { 3600 };
        // A trial's reconciles come milliseconds apart, where an account's come a minute apart (and
        // the SDK's backoff here is 2 ms): EC2's buckets refill 60 times as fast, or StartInstances'
        // (5 tokens, 2 a second) throttles every start of a cold standby in the no-capacity trials
        // (35 to 47 of their requests each), which a real account spreads over minutes. The
        // injected throttles stand for EC2's.
        proxy.configure(&json!({ "latency_ms": 0, "fault_rate": FAULT_RATE, "seed": trial, "faults": FAULTS,
                                 "pending_seconds": pending_seconds, "ec2_throttle_scale": 60 }));

        let config = Config { cooldown_seconds: 300, ..p.config() };
        p.deploy(&proxy, &config);
        let handler = Handler::new(config, proxy.pair_clients(&format!("trial-{trial}")), false);
        if matches!(scenario, Scenario::PrimaryStoppedNoCapacity) {
            proxy.start_failure(&p.standby, Some("insufficient"));
        }
        let mut t = Trial {
            handler,
            proxy: &proxy,
            p: &p,
            standby_ready: scenario.standby_running(),
            seen_requests: 0,
            early_fence: false,
            lambda_retries: 0,
        };
        let mut reported_failure = false;
        for file in scenario.events() {
            reported_failure |= t.deliver(p.event(file)).await;
        }
        // AWS takes its time, the schedule reconciles: a few rounds of both, as a real account
        // would see within minutes.
        let mut last_reconcile_failed = false;
        for round in 0..4 {
            if round == 1 {
                proxy.start_failure(&p.standby, None);
            }
            proxy.settle(&[]);
            t.standby_ready = true;
            last_reconcile_failed = t.deliver(p.event("scheduled-reconcile.json")).await;
        }
        reported_failure |= last_reconcile_failed;
        tally.lambda_retries += t.lambda_retries;
        let early_fence = t.early_fence;
        proxy.settle(&[]);

        let log = proxy.log();
        tally.trials += 1;
        tally.requests += log.len();
        for fault in log.iter().filter_map(|r| r.fault.as_deref()) {
            *tally.faults.entry(fault.to_owned()).or_default() += 1;
        }
        let seen = look(&ec2, &p).await;
        let correct = is_correct(scenario, &p, &seen);
        let stranded = seen.holder.as_deref().is_some_and(|h| {
            let state = if h == p.primary { seen.primary.as_str() } else { seen.standby.as_str() };
            state == "stopped" && !last_reconcile_failed
        });
        let wrong = damage(scenario, &p, &seen)
            .or(early_fence.then_some("a degraded primary fenced before the standby passed its checks"))
            .or(stranded.then_some("the IP on a stopped instance that nothing will start"))
            .or((!correct && !reported_failure)
                .then_some("the function reported success, but the failover is not done"));
        match (wrong, correct) {
            (Some(why), _) => tally.wrong.push(format!("trial {trial} ({scenario:?}): {why}: {seen:?}")),
            (None, true) => tally.correct += 1,
            (None, false) => tally.reported_failure += 1,
        }
    }

    let injected: usize = tally.faults.values().sum();
    eprintln!(
        "fault injection: {} trials, {} EC2 requests, {} faults injected {:?}, {} Lambda retries; \
         {} correct, {} reported failure, {} wrong",
        tally.trials,
        tally.requests,
        injected,
        tally.faults,
        tally.lambda_retries,
        tally.correct,
        tally.reported_failure,
        tally.wrong.len()
    );
    assert!(tally.wrong.is_empty(), "wrong worlds:\n{}", tally.wrong.join("\n"));
    // The trials must really have been hostile, or they prove nothing.
    for fault in FAULTS {
        assert!(tally.faults.get(fault).copied().unwrap_or(0) > 0, "no {fault} was injected: {:?}", tally.faults);
    }
    assert!(injected * 5 >= tally.requests, "only {injected} faults in {} requests", tally.requests);
    assert!(tally.correct * 10 >= tally.trials * 9, "too few trials finished: {tally:?}");
}

fn count<'a>(log: &'a [Request], action: &str) -> Vec<&'a Request> {
    log.iter().filter(|r| r.action == action).collect()
}

/// A broken primary, a cold standby, and the proxy counting requests without faults; the pair is
/// deployed with its default configuration.
async fn stopped_primary() -> (Moto, Proxy, Pair) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.configure(&json!({}));
    p.deploy(&proxy, &p.config());
    (moto, proxy, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_three_times_moves_the_ip_once() {
    let (moto, proxy, p) = stopped_primary().await;
    let handler = Handler::new(p.config(), proxy.pair_clients("same-event"), false);
    let event = p.event("ec2-state-change-primary-stopped.json");

    let mut verdicts = Vec::new();
    for _ in 0..3 {
        verdicts.push(handler.handle(&event).await.unwrap().verdict);
    }
    assert_eq!(verdicts, [Verdict::FailOver, Verdict::NoChange, Verdict::NoChange]);
    let after_first = look(&moto.client(), &p).await;
    assert_eq!(after_first.holder.as_deref(), Some(p.standby.as_str()));

    // An alarm about the same failure, late, changes nothing either.
    let late = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(late.verdict, Verdict::NoChange, "{}", late.reason);
    assert_eq!(look(&moto.client(), &p).await, after_first);
    let log = proxy.log();
    assert_eq!(count(&log, "AssociateAddress").len(), 1, "{log:#?}");
    assert_eq!(count(&log, "StartInstances").len(), 1, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_and_a_state_change_for_one_failure_at_once_fail_over_once() {
    let (moto, proxy, p) = stopped_primary().await;
    let handler = Handler::new(p.config(), proxy.pair_clients("alarm-and-event"), false);
    let (alarm, change) = (p.event("sns-alarm-status-check.json"), p.event("ec2-state-change-primary-stopped.json"));

    let (a, b) = tokio::join!(handler.handle(&alarm), handler.handle(&change));
    let mut verdicts = [a.unwrap().verdict, b.unwrap().verdict];
    verdicts.sort_by_key(|v| v.name());
    assert_eq!(verdicts, [Verdict::FailOver, Verdict::NoChange]);
    let seen = look(&moto.client(), &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(count(&proxy.log(), "AssociateAddress").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_invocations_fail_over_once_and_respect_the_cooldown() {
    let (moto, proxy, p) = stopped_primary().await;
    let ec2 = moto.client();
    let handler = Handler::new(p.config(), proxy.pair_clients("eight"), false);
    let events = [p.event("ec2-state-change-primary-stopped.json"), p.event("alarm-action-cpu-alarm.json")];

    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (handler, event) = (handler.clone(), events[i % 2].clone());
        set.spawn(async move { handler.handle(&event).await });
    }
    let mut verdicts = BTreeMap::<&str, usize>::new();
    while let Some(result) = set.join_next().await {
        *verdicts.entry(result.unwrap().unwrap().verdict.name()).or_default() += 1;
    }
    assert_eq!(verdicts, BTreeMap::from([("fail_over", 1), ("no_change", 7)]));
    let log = proxy.log();
    let moves = count(&log, "AssociateAddress");
    assert_eq!(moves.len(), 1, "{moves:#?}");
    assert_eq!(count(&log, "StartInstances").len(), 1);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(tag(&seen, "ec2-failover:from"), Some(p.primary.as_str()));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("moved"));
    proxy.settle(&[]);
    let done = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Finish, "{}", done.reason);
    assert_eq!(tag(&look(&ec2, &p).await, "ec2-failover:phase"), Some("done"));

    // The new active one stops inside the cooldown: no failback, but it is not left stopped with
    // the IP either: it is started again.
    ec2.stop_instances().instance_ids(&p.standby).send().await.unwrap();
    let again = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(again.verdict, Verdict::Finish, "{}", again.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    let log = proxy.log();
    assert_eq!(count(&log, "AssociateAddress").len(), 1);
    assert_eq!(count(&log, "StartInstances").len(), 2);
}
