//! End to end: the real function (its handler, its EC2 layer, real HTTP) against a real local EC2
//! API (moto), started by the test itself. Each test gets its own server.

mod support;

use ec2_failover::error::Error;
use ec2_failover::invocation::Verdict;
use ec2_failover::pair::{Config, FenceMode, Handler};
use support::{look, pair, Moto};

fn tag<'a>(seen: &'a support::Seen, key: &str) -> Option<&'a str> {
    seen.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_primary_fails_over_to_the_cold_standby_in_one_invocation() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();

    let outcome = p.handler(&moto, p.config()).handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert!(outcome.actions.iter().all(|a| a.status == "done"), "{:?}", outcome.actions);

    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(tag(&seen, "ec2-failover:to"), Some(p.standby.as_str()));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_primary_fails_over_and_the_roles_swap() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    ec2.terminate_instances().instance_ids(&p.primary).send().await.unwrap();

    let handler = p.handler(&moto, Config { cooldown_seconds: 0, ..p.config() });
    let outcome = handler.handle(&p.event("ec2-state-change-primary-terminated.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver);
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
async fn a_cpu_alarm_makes_the_standby_run_before_the_ip_moves() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    let handler = p.handler(&moto, p.config());

    let first = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(first.verdict, Verdict::FailOver, "{}", first.reason);
    let seen = look(&ec2, &p).await;
    // Make before break: the degraded primary still serves while the standby boots.
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert_eq!(seen.primary, "running");
    assert_eq!(seen.standby, "running"); // moto skips `pending`
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("started"));

    // The standby's `running` event finishes the failover.
    let second = handler.handle(&p.event("ec2-state-change-standby-running.json")).await.unwrap();
    assert_eq!(second.verdict, Verdict::Finish, "{}", second.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("stopped", "running"));
    assert_eq!(tag(&seen, "ec2-failover:phase"), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_call_for_nothing_change_nothing() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    let handler = p.handler(&moto, p.config());
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
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let before = look(&ec2, &p).await;

    let handler = Handler::new(p.config(), moto.client(), true);
    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver);
    assert!(outcome.dry_run);
    let statuses: Vec<_> = outcome.actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses, ["planned", "planned", "planned"]);
    assert_eq!(look(&ec2, &p).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fencing_off_the_old_primary_keeps_running() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, true).await;
    let handler = p.handler(&moto, Config { fence_mode: FenceMode::None, ..p.config() });

    let outcome = handler.handle(&p.event("sns-alarm-status-check.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!((seen.primary.as_str(), seen.standby.as_str()), ("running", "running"));

    // With fencing on, the same failover stops the old primary.
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, true).await;
    p.handler(&moto, p.config()).handle(&p.event("sns-alarm-status-check.json")).await.unwrap();
    let seen = look(&ec2, &p).await;
    assert_eq!((seen.holder.as_deref(), seen.primary.as_str()), (Some(p.standby.as_str()), "stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_standby_is_refused_loudly_and_the_ip_stays() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    ec2.terminate_instances().instance_ids(&p.standby).send().await.unwrap();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();

    let error =
        p.handler(&moto, p.config()).handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap_err();
    assert_eq!(error.error_type(), "FailoverRefused");
    assert!(error.to_string().contains("cannot take the Elastic IP"), "{error}");
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert!(seen.tags.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_detached_by_hand_is_given_back() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    let address = ec2.describe_addresses().allocation_ids(&p.allocation_id).send().await.unwrap();
    let association = address.addresses()[0].association_id().unwrap().to_owned();
    ec2.disassociate_address().association_id(association).send().await.unwrap();

    let outcome = p.handler(&moto, p.config()).handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Heal, "{}", outcome.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_elastic_ip_surfaces_the_ec2_error_code() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let p = pair(&ec2, false).await;
    let config = Config { allocation_id: "eipalloc-0000000000000000f".into(), ..p.config() };
    let error = p.handler(&moto, config).handle(&p.event("scheduled-reconcile.json")).await.unwrap_err();
    assert_eq!(error.error_type(), "AwsError");
    assert!(error.to_string().contains("InvalidAllocationID.NotFound"), "{error}");
}
