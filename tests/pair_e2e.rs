//! End to end: the real function (its handler, its EC2 layer, real HTTP) against the strict local
//! EC2 (moto behind `scripts/ec2_proxy.py`, which shows `pending`, `stopping` and initializing
//! status checks and refuses what AWS refuses), started by the test itself. Each test gets its own
//! servers. Where AWS would take time (an instance booting), the test says so with `settle`.

mod support;

use aws_sdk_cloudwatch::types::StateValue;
use ec2_failover::decision::{Status, Verdict};
use ec2_failover::error::Error;
use ec2_failover::pair::{Config, FenceMode, Handler};
use serde_json::json;
use support::{alarm, local, look, Seen};

fn tag<'a>(seen: &'a Seen, key: &str) -> Option<&'a str> {
    seen.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_primary_hands_the_ip_to_the_cold_standby_then_starts_it() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let handler = p.handler(&proxy, p.config());

    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert!(outcome.actions.iter().all(|a| a.status == Status::Done), "{:?}", outcome.actions);
    // The IP went to the stopped standby's interface first (AWS refuses a pending one), then the
    // start: the standby boots with the IP. The record says `moved` until it is seen running.
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(proxy.shown(&p.standby).as_deref(), Some("pending"));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("moved"));

    let booting = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(booting.verdict, Verdict::NoChange, "{}", booting.reason);

    proxy.settle(&[]);
    let done = handler.handle(&p.event("ec2-state-change-standby-running.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Finish, "{}", done.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(tag(&seen, "ec2-failover:to"), Some(p.standby.as_str()));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("done"));
    let starts = proxy.log().iter().filter(|r| r.action == "StartInstances").count();
    assert_eq!(starts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_primary_fails_over_and_the_roles_swap() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.terminate_instances().instance_ids(&p.primary).send().await.unwrap();

    let handler = p.handler(&proxy, Config { cooldown_seconds: 0, ..p.config() });
    let outcome = handler.handle(&p.event("ec2-state-change-primary-terminated.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver);
    proxy.settle(&[]);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(seen.standby, "running");

    // The standby is now the active one; with the primary gone for good, its failure has nowhere
    // to go, and the function says so instead of moving the IP to nowhere.
    ec2.stop_instances().instance_ids(&p.standby).send().await.unwrap();
    let error = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap_err();
    assert!(matches!(&error, Error::Refused(why) if why.contains("terminated")), "{error}");
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_alarm_moves_the_ip_only_once_the_standby_passes_its_status_checks() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    // Booting is quick here; the status checks are what takes time.
    proxy.configure(&json!({"pending_seconds": 0}));
    alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-cpu", &p.primary, StateValue::Alarm).await;
    let handler = p.handler(&proxy, p.config());

    let first = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(first.verdict, Verdict::FailOver, "{}", first.reason);
    let seen = look(&ec2, &p).await;
    // Make before break: the degraded primary still serves while the standby boots.
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("started"));

    // The standby runs, but its OS is not up yet: EC2's `running` is not enough.
    let second = handler.handle(&p.event("ec2-state-change-standby-running.json")).await.unwrap();
    assert_eq!(second.verdict, Verdict::Wait, "{}", second.reason);
    assert!(second.reason.contains("status checks"), "{}", second.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));

    // Both checks pass: the reconcile moves the IP, then fences the old primary.
    proxy.settle(&[]);
    let third = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(third.verdict, Verdict::Finish, "{}", third.reason);
    assert_eq!(proxy.shown(&p.primary).as_deref(), Some("stopping"));
    proxy.settle(&[]);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_call_for_nothing_change_nothing() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    let handler = p.handler(&proxy, p.config());
    let before = look(&ec2, &p).await;

    for (file, verdict) in [
        ("alarm-action-cpu-ok.json", Verdict::NoChange),
        ("alarm-action-cpu-alarm-standby.json", Verdict::NoChange),
        ("ec2-state-change-unrelated-instance.json", Verdict::Ignore),
        ("asg-launch-lifecycle-action.json", Verdict::Ignore),
        ("scheduled-reconcile.json", Verdict::NoChange),
    ] {
        let outcome = handler.handle(&p.event(file)).await.unwrap();
        assert_eq!(outcome.verdict, verdict, "{file}: {}", outcome.reason);
        assert!(outcome.actions.is_empty(), "{file}");
    }
    let error = handler.handle(&serde_json::json!({"hello": "world"})).await.unwrap_err();
    assert_eq!(error.error_type(), "BadEvent");
    assert_eq!(look(&ec2, &p).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_the_plan_and_changes_nothing() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let before = look(&ec2, &p).await;

    let handler = Handler::new(p.config(), proxy.pair_clients("dry"), true);
    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver);
    assert!(outcome.dry_run);
    let statuses: Vec<_> = outcome.actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Status::Planned; 3]);
    assert_eq!(look(&ec2, &p).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fencing_off_the_old_primary_keeps_running() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-status", &p.primary, StateValue::Alarm).await;
    let handler = p.handler(&proxy, Config { fence_mode: FenceMode::None, ..p.config() });

    let outcome = handler.handle(&p.event("sns-alarm-status-check.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("running", "running"));

    // With fencing on, the same failover stops the old primary.
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-status", &p.primary, StateValue::Alarm).await;
    p.handler(&proxy, p.config()).handle(&p.event("sns-alarm-status-check.json")).await.unwrap();
    proxy.settle(&[]);
    let seen = look(&ec2, &p).await;
    assert_eq!((seen.holder.as_deref(), seen.primary.as_str()), (Some(p.standby.as_str()), "stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_standby_is_refused_loudly_and_the_ip_stays() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.terminate_instances().instance_ids(&p.standby).send().await.unwrap();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();

    let error =
        p.handler(&proxy, p.config()).handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap_err();
    assert_eq!(error.error_type(), "FailoverRefused");
    assert!(error.to_string().contains("cannot take the Elastic IP"), "{error}");
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert!(seen.tags.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_detached_by_hand_is_given_back() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    let address = ec2.describe_addresses().allocation_ids(&p.allocation_id).send().await.unwrap();
    let association = address.addresses()[0].association_id().unwrap().to_owned();
    ec2.disassociate_address().association_id(association).send().await.unwrap();

    let outcome = p.handler(&proxy, p.config()).handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Heal, "{}", outcome.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_elastic_ip_surfaces_the_ec2_error_code() {
    let (_moto, proxy, p) = local(false).await;
    let config = Config { allocation_id: Some("eipalloc-0000000000000000f".into()), ..p.config() };
    let error = p.handler(&proxy, config).handle(&p.event("scheduled-reconcile.json")).await.unwrap_err();
    assert_eq!(error.error_type(), "AwsError");
    assert!(error.to_string().contains("InvalidAllocationID.NotFound"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_without_capacity_keeps_being_started_and_the_ip_is_never_stranded() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.start_failure(&p.standby, Some("insufficient"));
    let handler = p.handler(&proxy, p.config());

    // The IP moves, the start fails: the invocation says so, and the record says `moved`, not done.
    let error = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap_err();
    assert!(error.to_string().contains("InsufficientInstanceCapacity"), "{error}");
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("moved"));

    // Inside the cooldown, every reconcile starts it again; none holds it there.
    let again = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap_err();
    assert!(again.to_string().contains("InsufficientInstanceCapacity"), "{again}");
    proxy.start_failure(&p.standby, None);
    let started = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(started.verdict, Verdict::Finish, "{}", started.reason);
    assert!(started.reason.contains("starting it again"), "{}", started.reason);
    proxy.settle(&[]);
    let done = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Finish, "{}", done.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!((seen.holder.as_deref(), seen.standby.as_str()), (Some(p.standby.as_str()), "running"));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_that_falls_back_to_stopped_gives_the_ip_back_to_a_primary_that_serves() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    // Its EBS volumes use a KMS key the role may not use: the start "succeeds", then it stops.
    proxy.start_failure(&p.standby, Some("kms"));
    let handler = p.handler(&proxy, p.config());
    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    proxy.settle(&[]);

    // An operator starts the old primary again; the standby never ran: the IP goes back at once,
    // inside the cooldown.
    ec2.start_instances().instance_ids(&p.primary).send().await.unwrap();
    let back = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(back.verdict, Verdict::FailOver, "{}", back.reason);
    assert!(back.reason.contains("Client error on launch"), "{}", back.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert_eq!(
        (tag(&seen, "ec2-failover:to"), tag(&seen, "ec2-failover:phase")),
        (Some(p.primary.as_str()), Some("done"))
    );
}

/// The function's ARN as Lambda gives it in the invocation context (here with an alias).
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover:live";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_payload_is_checked_against_cloudwatch_and_a_lost_one_is_caught_by_the_reconcile() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let cloudwatch = proxy.cloudwatch_client("setup");
    let handler = p.handler(&proxy, p.config());

    // The alarm is OK again: a late or replayed ALARM payload changes nothing.
    alarm(&cloudwatch, "ec2-failover-primary-cpu", &p.primary, StateValue::Ok).await;
    let replayed = handler.handle_for(&p.event("alarm-action-cpu-alarm.json"), Some(FUNCTION_ARN)).await.unwrap();
    assert_eq!(replayed.verdict, Verdict::NoChange, "{}", replayed.reason);
    assert!(replayed.reason.contains("is OK now"), "{}", replayed.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));

    // The alarm goes to ALARM, and its invocation is lost: the reconcile reads the alarms that
    // invoke the function (by its unqualified ARN) and fails over.
    cloudwatch
        .set_alarm_state()
        .alarm_name("ec2-failover-primary-cpu")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let reconcile = handler.handle_for(&p.event("scheduled-reconcile.json"), Some(FUNCTION_ARN)).await.unwrap();
    assert_eq!(reconcile.verdict, Verdict::FailOver, "{}", reconcile.reason);
    assert!(reconcile.reason.contains("alarm ec2-failover-primary-cpu is in ALARM"), "{}", reconcile.reason);
    proxy.settle(&[]);
    let seen = look(&ec2, &p).await;
    assert_eq!((seen.holder.as_deref(), seen.primary.as_str()), (Some(p.standby.as_str()), "stopped"));
    let reads = proxy.log().iter().filter(|r| r.action == "DescribeAlarms").count();
    assert!(reads >= 2, "the alarm was read from CloudWatch each time: {reads}");
}

/// A Spot interruption warning (two minutes ahead) about the primary, with a hot standby: the IP
/// moves first, then the primary is stopped, before EC2 takes it. A rebalance recommendation is
/// only logged (REBALANCE=log, the default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_interruption_moves_the_ip_to_the_hot_standby_before_the_primary_goes() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let handler = p.handler(&proxy, p.config());

    let logged = handler.handle(&p.event("ec2-rebalance-recommendation-primary.json")).await.unwrap();
    assert_eq!(logged.verdict, Verdict::NoChange, "{}", logged.reason);
    assert!(logged.reason.contains("logged only"), "{}", logged.reason);

    let outcome = handler.handle(&p.event("ec2-spot-interruption-warning-primary.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(proxy.shown(&p.primary).as_deref(), Some("stopping"), "the old primary is fenced");
    let log = proxy.log();
    let order: Vec<&str> =
        log.iter().map(|r| r.action.as_str()).filter(|a| matches!(*a, "AssociateAddress" | "StopInstances")).collect();
    assert_eq!(order, ["AssociateAddress", "StopInstances"], "make before break");
}

/// EC2 has scheduled the primary's retirement: the reconcile fails over ahead of the window (within
/// SCHEDULED_LEAD_SECONDS), even though nothing has failed yet, and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_fails_over_ahead_of_a_scheduled_retirement() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let handler = p.handler(&proxy, p.config());
    let schedule = |seconds_ahead: u64| {
        let when =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + seconds_ahead;
        let event = json!({"instance": p.primary, "code": "instance-retirement", "not_before": when});
        let (status, body) = support::http(&proxy.endpoint, "POST", "/_proxy/scheduled-event", &event.to_string());
        assert_eq!(status, 200, "{body}");
    };

    // Two hours ahead: beyond the one-hour lead time, nothing yet.
    schedule(7200);
    let early = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(early.verdict, Verdict::NoChange, "{}", early.reason);

    schedule(1800);
    let ahead = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(ahead.verdict, Verdict::FailOver, "{}", ahead.reason);
    assert!(ahead.reason.contains("instance-retirement"), "{}", ahead.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));

    let after = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(after.verdict, Verdict::NoChange, "{}", after.reason);
    assert!(after.reason.contains("scheduled instance-retirement for"), "{}", after.reason);
    let moves = proxy.log().iter().filter(|r| r.action == "AssociateAddress").count();
    assert_eq!(moves, 1);
}

/// The old primary hangs in `stopping` after a failover (an OS that will not shut down): once
/// FENCE_ESCALATE_SECONDS have passed since the move, the reconcile stops it with Force (its OS
/// shutdown still tried); FENCE_MODE=force stops without the OS shutdown from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_that_hangs_in_stopping_is_forced_by_the_reconcile() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-cpu", &p.primary, StateValue::Alarm).await;
    let handler = p.handler(&proxy, Config { fence_escalate_seconds: 0, ..p.config() });
    let outcome = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert_eq!(proxy.shown(&p.primary).as_deref(), Some("stopping"));
    let stops = || proxy.log().into_iter().filter(|r| r.action == "StopInstances").collect::<Vec<_>>();
    assert_eq!(stops().len(), 1);
    assert!(!stops()[0].params.contains_key("Force"), "a first fence is graceful: {:?}", stops()[0].params);

    // The stop hangs (the emulator keeps it stopping): the reconcile forces it.
    let forced = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(forced.verdict, Verdict::Fence, "{}", forced.reason);
    let last = stops().pop().unwrap();
    // Force ends a shutdown that hangs; the OS shutdown is not skipped (that may lose data) unless
    // FENCE_MODE=force says so.
    assert_eq!(
        (last.params.get("Force").map(String::as_str), last.params.get("SkipOsShutdown").map(String::as_str)),
        (Some("true"), None)
    );
    assert_eq!(look(&ec2, &p).await.primary, "stopped");
    assert_eq!(proxy.shown(&p.primary), None);
    let idle = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(idle.verdict, Verdict::NoChange, "{}", idle.reason);
}

/// The operator's commands against the strict local AWS: a pause lives on the Elastic IP, so a
/// failure while paused is decided and logged but changes nothing; after resume the reconcile
/// fails over; a switchover inside the cooldown is refused unless forced; status changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_pause_resume_switch_over_and_ask_for_status() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let handler = p.handler(&proxy, p.config());
    let run = |payload: serde_json::Value| {
        let handler = handler.clone();
        async move { handler.handle(&payload).await }
    };
    let writes =
        || proxy.log().iter().filter(|r| !r.action.starts_with("Describe") && !r.action.starts_with("List")).count();

    let status = run(json!({"command": "status"})).await.unwrap();
    assert_eq!(status.verdict, Verdict::Status, "{}", status.reason);
    assert!(status.reason.contains(&format!("{} is active", p.primary)), "{}", status.reason);
    assert!(
        status.reason.contains("not paused") && status.reason.contains("no failover recorded"),
        "{}",
        status.reason
    );
    assert_eq!(writes(), 0, "status wrote something");

    let paused = run(json!({"command": "pause", "reason": "resizing the primary"})).await.unwrap();
    assert_eq!(paused.verdict, Verdict::Pause, "{}", paused.reason);
    // Planned maintenance: the primary is stopped by hand; the state change is decided, not acted on.
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let before = writes();
    let held = run(p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(held.verdict, Verdict::Paused, "{}", held.reason);
    assert!(held.reason.contains("would have been fail_over"), "{}", held.reason);
    assert_eq!(writes(), before, "a paused pair changed something");
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
    let status = run(json!({"command": "status"})).await.unwrap();
    assert!(
        status.reason.contains("paused since") && status.reason.contains("resizing the primary"),
        "{}",
        status.reason
    );
    let refused = run(json!({"command": "switchover"})).await.unwrap_err();
    assert!(refused.to_string().contains("paused"), "{refused}");

    let resumed = run(json!({"command": "resume", "reason": "resized"})).await.unwrap();
    assert_eq!(resumed.verdict, Verdict::Resume, "{}", resumed.reason);
    let failover = run(p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(failover.verdict, Verdict::FailOver, "{}", failover.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));

    // Failback by switchover: refused inside the cooldown, done when forced (the primary is
    // started first; the IP moves once it can serve).
    let early = run(json!({"command": "switchover"})).await.unwrap_err();
    assert!(early.to_string().contains("cooldown left"), "{early}");
    let forced = run(json!({"command": "switchover", "force": true})).await.unwrap();
    assert_eq!(forced.verdict, Verdict::Switchover, "{}", forced.reason);
    assert_eq!(proxy.shown(&p.primary).as_deref(), Some("pending"));
    proxy.settle(&[]);
    let done = run(p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Finish, "{}", done.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));

    let unknown = run(json!({"command": "failback"})).await.unwrap_err();
    assert!(unknown.to_string().contains("status, switchover"), "{unknown}");
}

/// A primary launched from a one-time Spot request cannot be stopped (EC2 answers
/// UnsupportedOperation): the IP still moves, the fence is not tried, not now nor on the reconciles
/// after (which would fail and page every minute), and the decision says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_spot_primary_is_not_fenced_but_said() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    proxy.spot(&p.primary, Some("one-time"));
    alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-cpu", &p.primary, StateValue::Alarm).await;
    let handler = p.handler(&proxy, p.config());
    let over = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("one-time Spot request"), "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    for _ in 0..2 {
        let after = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
        assert_eq!(after.verdict, Verdict::NoChange, "{}", after.reason);
        assert!(after.reason.contains("WARNING") && after.reason.contains("cannot stop"), "{}", after.reason);
    }
    let stops = proxy.log().iter().filter(|r| r.action == "StopInstances").count();
    assert_eq!(stops, 0, "no stop was tried");
    assert_eq!(look(&ec2, &p).await.primary, "running");
}

/// A member gone for good (EC2 no longer knows its id) makes DescribeInstanceStatus fail for both
/// (InvalidInstanceID.NotFound): asked again for the member EC2 lists, the primary's status checks
/// are still read, and the standby shows as gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gone_for_good_does_not_hide_the_other_s_status_checks() {
    let (_moto, proxy, p) = local(true).await;
    proxy.settle(&[]);
    let gone = "i-00000000000000000";
    let handler = p.handler(&proxy, Config { standby: gone.into(), ..p.config() });
    let status = handler.handle(&json!({"command": "status"})).await.unwrap();
    assert!(
        status.reason.contains(&format!("primary {} running (checks instance ok, system ok", p.primary)),
        "{}",
        status.reason
    );
    assert!(status.reason.contains(&format!("standby {gone} gone")), "{}", status.reason);
    let reads = proxy.log().iter().filter(|r| r.action == "DescribeInstanceStatus").count();
    assert_eq!(reads, 2, "the second read names the member EC2 knows");
}
