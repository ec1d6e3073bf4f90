//! The failure this tool exists for: the active instance's Availability Zone goes dark, end to end
//! against the strict local AWS. EC2 goes on saying the primary runs; its status checks have no
//! data (the proxy's dark zone) and its status-check alarm, which treats missing data as missing,
//! goes to INSUFFICIENT_DATA (CloudWatch's evaluation, played by the test: moto evaluates no alarm).
//! The default deployment (no service check) notices and moves the address to the other zone.

mod support;

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use ec2_failover::decision::Verdict;
use ec2_failover::pair::config::ZonalShift;
use ec2_failover::pair::Config;
use support::{local, look};

const STATUS_ALARM: &str = "ec2-failover-primary-status";

/// The template's status-check alarm of `instance` (missing data is missing), put in `state`.
async fn status_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, instance: &str, state: StateValue) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(STATUS_ALARM)
        .namespace("AWS/EC2")
        .metric_name("StatusCheckFailed")
        .dimensions(Dimension::builder().name("InstanceId").value(instance).build())
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(2)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("missing")
        .alarm_actions("arn:aws:lambda:us-east-1:123456789012:function:ec2-failover")
        .insufficient_data_actions("arn:aws:lambda:us-east-1:123456789012:function:ec2-failover")
        .send()
        .await
        .unwrap();
    cloudwatch.set_alarm_state().alarm_name(STATUS_ALARM).state_value(state).state_reason("test").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_in_a_dark_zone_fails_over_by_default_to_a_hot_or_a_cold_standby() {
    for hot in [true, false] {
        let (moto, proxy, p) = local(hot).await;
        let ec2 = moto.client();
        let cloudwatch = proxy.cloudwatch_client("setup");
        // The primary has run a while; then its zone (us-east-1a) goes dark.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        proxy.dark_zone("us-east-1a", true);
        status_alarm(&cloudwatch, &p.primary, StateValue::InsufficientData).await;
        let config = Config { silent_seconds: 1, alarm_names: vec![STATUS_ALARM.into()], ..p.config() };
        let handler = p.handler(&proxy, config);

        // Silent for less than SILENT_SECONDS: nothing yet.
        let first = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
        assert_eq!(first.verdict, Verdict::NoChange, "{}", first.reason);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let over = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
        assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
        assert!(
            over.reason.contains("has gone silent") && over.reason.contains("insufficient-data"),
            "{}",
            over.reason
        );
        if !hot {
            // The cold standby, in the zone that still works, starts; then takes the address.
            assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
            proxy.settle(&[]);
            let finish = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
            assert_eq!(finish.verdict, Verdict::Finish, "{}", finish.reason);
        }
        let seen = look(&ec2, &p).await;
        assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()), "hot: {hot}");
        // The old primary is fenced: EC2 takes the stop (it may hang there: the reconcile forces it).
        assert!(proxy.log().iter().any(|r| r.action == "StopInstances"), "hot: {hot}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_metrics_on_a_primary_that_ec2_sees_healthy_move_nothing() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // CloudWatch lost the primary's metrics; its zone is fine (EC2's checks pass).
    status_alarm(&proxy.cloudwatch_client("setup"), &p.primary, StateValue::InsufficientData).await;
    let config = Config { silent_seconds: 1, alarm_names: vec![STATUS_ALARM.into()], ..p.config() };
    let handler = p.handler(&proxy, config);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::NoChange, "{}", outcome.reason);
    assert!(outcome.reason.contains("not failing over on missing metrics alone"), "{}", outcome.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
}

/// Static stability: the hot path needs nothing a zone or region event takes away. A dead primary
/// with a running standby fails over with CloudWatch unavailable everywhere (every DescribeAlarms
/// failing, the Route 53 alarm's region too): a dead primary needs no alarm to be believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_primary_fails_over_with_cloudwatch_down_in_every_region() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    proxy.outage(&serde_json::json!({"service": "monitoring", "fault": "unavailable"}));
    let elsewhere = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:ec2-failover-service";
    let config = Config { alarm_names: vec![STATUS_ALARM.into(), elsewhere.into()], ..p.config() };
    let handler = p.handler(&proxy, config);
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.settle(&[]);
    for event in ["ec2-state-change-primary-stopped.json", "scheduled-reconcile.json"] {
        let outcome = handler.handle(&p.event(event)).await.unwrap();
        assert!(matches!(outcome.verdict, Verdict::FailOver | Verdict::NoChange), "{event}: {}", outcome.reason);
        assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()), "{event}");
    }
    let monitoring = proxy.log().iter().filter(|r| r.action == "DescribeAlarms").count();
    assert!(monitoring > 0, "CloudWatch was not even asked");
}

/// A burst of EC2 throttling (`RequestLimitExceeded` on most requests, as a zone event causes when
/// everyone calls at once): each call is retried by the SDK, an invocation that still fails leaves
/// the world as it was or half moved, and the next ones converge. Never the old primary fenced
/// before the address left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_primary_fails_over_through_a_burst_of_ec2_throttling() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.settle(&[]);
    proxy.configure(&serde_json::json!({"fault_rate": 0.6, "seed": "zone-burst", "faults": ["throttle"],
                                        "pending_seconds": 0, "stopping_seconds": 0, "initializing_seconds": 0}));
    let handler = p.handler(&proxy, p.config());
    let mut tries = 0;
    while look(&ec2, &p).await.holder.as_deref() != Some(p.standby.as_str()) {
        tries += 1;
        assert!(tries <= 10, "still not moved after {tries} invocations");
        let _ = handler.handle(&p.event("scheduled-reconcile.json")).await;
    }
    let throttled = proxy.log().iter().filter(|r| r.fault.is_some()).count();
    assert!(throttled > 0, "nothing was throttled");
    assert!(!proxy.log().iter().any(|r| r.action == "StopInstances" && r.fault.is_none()), "a dead primary was fenced");
}

/// The zone IDs moto gives this account's zones (a real account has its own mapping; the function
/// reads it with DescribeAvailabilityZones).
const ZONE_A: &str = "use1-az6";
const ZONE_B: &str = "use1-az1";

/// Route 53 ARC's shifts, read through the local AWS by zone ID: an autoshift away from the
/// standby's zone keeps a degraded primary's address where it is (`avoid`, the default); with
/// `follow`, an autoshift away from the primary's zone moves it out, make before break.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zonal_shifts_keep_the_address_out_of_a_shifted_zone_and_follow_one_when_asked() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    support::alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-cpu", &p.primary, StateValue::Alarm).await;
    proxy.autoshift(ZONE_B);
    let handler = p.handler(&proxy, p.config());
    let held = handler.handle(&p.event("alarm-action-cpu-alarm.json")).await.unwrap();
    assert_eq!(held.verdict, Verdict::Hold, "{}", held.reason);
    assert!(
        held.reason.contains("use1-az1 (us-east-1b)") && held.reason.contains("not moving into it"),
        "{}",
        held.reason
    );
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
    let status = handler.handle(&serde_json::json!({"command": "status"})).await.unwrap();
    assert!(status.reason.contains("zonal shifts: autoshift"), "{}", status.reason);

    // follow: an autoshift away from the primary's zone (no alarm needed).
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    proxy.autoshift(ZONE_A);
    let follow = Config { zonal_shift: ZonalShift::Follow, ..p.config() };
    let over = p.handler(&proxy, follow).handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    // The zone names were read once; the shifts on every invocation.
    let zones = proxy.log().iter().filter(|r| r.action == "DescribeAvailabilityZones").count();
    assert_eq!(zones, 1);
}

/// ARC unavailable holds nothing back: a dead primary still fails over, and the decision says the
/// shifts were not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zonal_shifts_that_cannot_be_read_hold_nothing_back() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    proxy.outage(&serde_json::json!({"service": "arc-zonal-shift", "fault": "unavailable"}));
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.settle(&[]);
    let handler = p.handler(&proxy, p.config());
    let over = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    let after = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert!(after.reason.contains("the zonal shifts could not be read"), "{}", after.reason);
}

/// A zone event takes capacity from everyone in the zone: a cold standby whose own type cannot
/// start there is started as the next of `STANDBY_INSTANCE_TYPES` (its type changed while it is
/// stopped, as EC2 requires); without the setting the start fails and is tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_standby_without_capacity_for_its_type_starts_as_another_type() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    proxy.no_capacity_for(&p.standby, &["t3.micro"]);
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    proxy.settle(&[]);

    let plain = p.handler(&proxy, p.config());
    let failed = plain.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap_err();
    assert!(failed.to_string().contains("InsufficientInstanceCapacity"), "{failed}");

    let config = Config { standby_instance_types: vec!["t3.large".into(), "t3.small".into()], ..p.config() };
    p.deploy(&proxy, &config);
    proxy.no_capacity_for(&p.standby, &["t3.micro", "t3.large"]);
    let over = p.handler(&proxy, config).handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert!(matches!(over.verdict, Verdict::Finish | Verdict::FailOver), "{}", over.reason);
    let standby = ec2.describe_instances().instance_ids(&p.standby).send().await.unwrap();
    let standby = &standby.reservations()[0].instances()[0];
    assert_eq!(standby.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    let tried: Vec<_> = proxy.log().into_iter().filter(|r| r.action == "ModifyInstanceAttribute").collect();
    assert_eq!(tried.len(), 2, "t3.large, then t3.small");
}
