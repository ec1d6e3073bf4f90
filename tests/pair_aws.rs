//! The AWS layer against aws-smithy-mocks: request shapes, AWS's own refusals and faults that
//! moto does not reproduce (it is permissive where AWS is strict).

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm, StateValue};
use aws_sdk_ec2::operation::associate_address::AssociateAddressOutput;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::operation::describe_instance_status::DescribeInstanceStatusOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::start_instances::StartInstancesOutput;
use aws_sdk_ec2::operation::stop_instances::StopInstancesOutput;
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_ec2::types::{
    Address, Instance, InstanceNetworkInterface, InstanceNetworkInterfaceAttachment, InstanceState, InstanceStateName,
    InstanceStatus, InstanceStatusSummary, Placement, Reservation, SummaryStatus, Tag,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use ec2_failover::decision::{Status, Verdict};
use ec2_failover::pair::config::ZonalShift;
use ec2_failover::pair::world::{Holder, Phase};
use ec2_failover::pair::Handler;
use ec2_failover::pair::{Clients, Config, FenceMode};
use serde_json::json;

const P: &str = "i-0123456789abcdef0";
const S: &str = "i-0fedcba9876543210";
const ALLOC: &str = "eipalloc-0123456789abcdef0";

fn config() -> Config {
    Config { allocation_id: Some(ALLOC.into()), zonal_shift: ZonalShift::Off, ..Config::with_defaults(P, S) }
}

/// Route 53 ARC, never asked here (`ZONAL_SHIFT=off` in these tests' settings).
fn arc_unused() -> aws_sdk_arczonalshift::Client {
    let config = aws_sdk_arczonalshift::Config::builder()
        .behavior_version(aws_sdk_arczonalshift::config::BehaviorVersion::latest())
        .region(aws_sdk_arczonalshift::config::Region::new("us-east-1"))
        .build();
    aws_sdk_arczonalshift::Client::from_conf(config)
}

fn eni(id: &str) -> String {
    format!("eni-{}", &id[2..])
}

fn instance(id: &str, state: InstanceStateName) -> Instance {
    Instance::builder()
        .instance_id(id)
        .state(InstanceState::builder().name(state).build())
        .placement(Placement::builder().availability_zone("us-east-1a").build())
        .launch_time(DateTime::from_secs(1_700_000_000))
        .network_interfaces(
            InstanceNetworkInterface::builder()
                .network_interface_id(eni(id))
                .attachment(InstanceNetworkInterfaceAttachment::builder().device_index(0).build())
                .build(),
        )
        .build()
}

fn describe_instances(p: InstanceStateName, s: InstanceStateName) -> Rule {
    mock!(Client::describe_instances)
        .match_requests(|r| {
            // The pair is read through a filter, so a vanished instance cannot fail the call.
            r.instance_ids().is_empty()
                && r.filters().iter().any(|f| f.name() == Some("instance-id") && f.values() == [P, S])
        })
        .then_output(move || {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder().instances(instance(P, p.clone())).instances(instance(S, s.clone())).build(),
                )
                .build()
        })
}

/// The status checks of both members, `ok` (EC2 lists every instance: IncludeAllInstances).
fn checks_ok() -> Rule {
    mock!(Client::describe_instance_status)
        .match_requests(|r| r.instance_ids() == [P, S] && r.include_all_instances() == Some(true))
        .then_output(|| {
            let ok = || InstanceStatusSummary::builder().status(SummaryStatus::Ok).build();
            let status =
                |id: &str| InstanceStatus::builder().instance_id(id).instance_status(ok()).system_status(ok()).build();
            DescribeInstanceStatusOutput::builder().instance_statuses(status(P)).instance_statuses(status(S)).build()
        })
}

/// The address as AWS returns it; `holder` is the interface it is associated with, if any.
fn describe_address(holder: Option<&'static str>, tags: &'static [(&'static str, &'static str)]) -> Rule {
    mock!(Client::describe_addresses).match_requests(|r| r.allocation_ids() == [ALLOC]).then_output(move || {
        let mut address = Address::builder().allocation_id(ALLOC).public_ip("198.51.100.7");
        if let Some(id) = holder {
            address = address.network_interface_id(eni(id)).instance_id(id).association_id("eipassoc-1");
        }
        for (k, v) in tags {
            address = address.tags(Tag::builder().key(*k).value(*v).build());
        }
        DescribeAddressesOutput::builder().addresses(address.build()).build()
    })
}

fn associate_to(id: &'static str) -> Rule {
    mock!(Client::associate_address)
        .match_requests(move |r| {
            r.allocation_id() == Some(ALLOC)
                && r.network_interface_id() == Some(eni(id).as_str())
                && r.instance_id().is_none()
                && r.allow_reassociation() == Some(true)
        })
        .then_output(|| AssociateAddressOutput::builder().association_id("eipassoc-2").build())
}

fn start(id: &'static str) -> Rule {
    mock!(Client::start_instances)
        .match_requests(move |r| r.instance_ids() == [id])
        .then_output(|| StartInstancesOutput::builder().build())
}

fn stop(id: &'static str) -> Rule {
    mock!(Client::stop_instances)
        .match_requests(move |r| r.instance_ids() == [id])
        .then_output(|| StopInstancesOutput::builder().build())
}

fn record(from: &'static str, to: &'static str, phase: &'static str) -> Rule {
    mock!(Client::create_tags)
        .match_requests(move |r| {
            let get = |k: &str| r.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value());
            r.resources() == [ALLOC]
                && get("ec2-failover:from") == Some(from)
                && get("ec2-failover:to") == Some(to)
                && get("ec2-failover:phase") == Some(phase)
                && get("ec2-failover:at").is_some_and(|at| at.ends_with('Z') && at.len() == 20)
        })
        .then_output(|| CreateTagsOutput::builder().build())
}

/// CloudWatch, saying that the alarm `cpu` (about the primary) is in `state` now; every
/// DescribeAlarms must name the alarms it reads and ask for composite alarms too.
fn cloudwatch_says(state: StateValue) -> (aws_sdk_cloudwatch::Client, Rule) {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| r.alarm_names() == ["cpu"] && r.alarm_types().len() == 2)
        .then_output(move || {
            let dimension = Dimension::builder().name("InstanceId").value(P).build();
            let alarm = MetricAlarm::builder().alarm_name("cpu").state_value(state.clone()).dimensions(dimension);
            DescribeAlarmsOutput::builder().metric_alarms(alarm.build()).build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, std::slice::from_ref(&rule));
    (client, rule)
}

fn handler(client: Client, config: Config) -> Handler {
    let (cloudwatch, _) = cloudwatch_says(StateValue::Alarm);
    Handler::new(config, Clients { ec2: client, cloudwatch, arc: arc_unused() }, false)
}

fn state_change(id: &str, state: &str) -> serde_json::Value {
    json!({"version": "0", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
           "detail": {"instance-id": id, "state": state}})
}

#[tokio::test]
async fn a_failover_sends_the_requests_aws_expects() {
    use InstanceStateName::*;
    let rules = [
        describe_instances(Stopped, Stopped),
        describe_address(Some(P), &[]),
        checks_ok(),
        associate_to(S),
        start(S),
        record(P, S, "moved"),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let outcome = handler(client, config()).handle(&state_change(P, "stopped")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    for rule in &rules {
        assert_eq!(rule.num_calls(), 1, "every request is made once, with the expected shape");
    }
}

#[tokio::test]
async fn an_association_made_through_an_interface_is_read_back_with_its_record() {
    use InstanceStateName::*;
    let tags: &[(&str, &str)] = &[
        ("ec2-failover:from", P),
        ("ec2-failover:to", S),
        ("ec2-failover:at", "2023-11-14T22:13:20Z"),
        ("ec2-failover:phase", "done"),
        ("Name", "web"),
    ];
    let rules = [describe_instances(Stopped, Running), describe_address(Some(S), tags), checks_ok()];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let outcome = handler(client, config())
        .handle(&json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))
        .await
        .unwrap();
    let world = outcome.observed.unwrap();
    assert_eq!(world.anchor.holder, Holder::Member { instance_id: S.into() });
    let record = world.anchor.record.unwrap();
    assert_eq!((record.from.as_str(), record.to.as_str(), record.at, record.phase), (P, S, 1_700_000_000, Phase::Done));
    assert_eq!(outcome.verdict, Verdict::NoChange);
}

#[tokio::test]
async fn when_aws_refuses_the_move_the_old_primary_is_not_fenced() {
    use InstanceStateName::*;
    // A hot standby and a degraded primary: the plan is move, record, then stop. AWS refuses the
    // move; the stop must not run, or nothing would serve.
    let refuse = mock!(Client::associate_address)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>IncorrectInstanceState</Code><Message>The instance is not in a valid \
                  state.</Message></Error></Errors><RequestID>r</RequestID></Response>"
                    .into(),
            ),
        )
        .build();
    let never_stop = stop(P);
    let rules = [
        describe_instances(Running, Running),
        describe_address(Some(P), &[]),
        refuse,
        record(P, S, "done"),
        never_stop,
        checks_ok(),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let alarm = json!({"alarmData": {"alarmName": "cpu", "state": {"value": "ALARM"}}});
    let error = handler(client, config()).handle(&alarm).await.unwrap_err();
    assert_eq!(error.error_type(), "AwsError");
    assert!(error.to_string().contains("AssociateAddress failed with IncorrectInstanceState"), "{error}");
    assert_eq!(rules[4].num_calls(), 0, "StopInstances must not be called after a failed move");
}

#[tokio::test]
async fn throttling_and_unavailable_are_retried_by_the_sdk() {
    use InstanceStateName::*;
    let body = |code: &str| {
        format!("<Response><Errors><Error><Code>{code}</Code><Message>try again</Message></Error></Errors><RequestID>r</RequestID></Response>")
    };
    let (throttled, unavailable) = (body("RequestLimitExceeded"), body("Unavailable"));
    let flaky_associate = mock!(Client::associate_address)
        .sequence()
        .http_status(400, Some(throttled))
        .http_status(503, Some(unavailable))
        .output(|| AssociateAddressOutput::builder().association_id("eipassoc-2").build())
        .build();
    let rules = [
        describe_instances(Stopped, Running),
        describe_address(Some(P), &[]),
        flaky_associate,
        record(P, S, "done"),
        checks_ok(),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules, |c| c
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::standard().with_max_attempts(4)));
    let outcome = handler(client, config()).handle(&state_change(P, "stopped")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver);
    assert_eq!(rules[2].num_calls(), 3, "two faults, then success");
}

#[tokio::test]
async fn a_start_refused_for_capacity_is_not_retried_by_the_sdk_but_throttling_is() {
    // EC2 answers InsufficientInstanceCapacity with HTTP 500, which the SDK would retry at once: a
    // second later there is no more capacity, and the retries only spend StartInstances' bucket.
    let (error, starts) = failover_whose_start_fails_once(500, "InsufficientInstanceCapacity").await;
    let error = error.unwrap_err();
    assert!(error.to_string().contains("InsufficientInstanceCapacity"), "{error}");
    assert_eq!(starts, 1, "a start refused for capacity is left to the next invocation");

    // A throttled start is still retried.
    let (outcome, starts) = failover_whose_start_fails_once(503, "RequestLimitExceeded").await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert_eq!(starts, 2);
}

/// A stopped primary's failover to a cold standby whose first StartInstances EC2 answers with
/// HTTP `status` and `code`, and the next one accepts, with the SDK allowed four attempts: the
/// result, and how many starts were sent.
async fn failover_whose_start_fails_once(
    status: u16,
    code: &str,
) -> (Result<ec2_failover::pair::PairOutcome, ec2_failover::error::Error>, usize) {
    use InstanceStateName::*;
    let body = format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>"
    );
    let start = mock!(Client::start_instances)
        .sequence()
        .http_status(status, Some(body))
        .output(|| StartInstancesOutput::builder().build())
        .build();
    let rules = [
        describe_instances(Stopped, Stopped),
        describe_address(Some(P), &[]),
        associate_to(S),
        start,
        record(P, S, "moved"),
        checks_ok(),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules, |c| c
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::standard().with_max_attempts(4)));
    let result = handler(client, config()).handle(&state_change(P, "stopped")).await;
    (result, rules[3].num_calls())
}

#[tokio::test]
async fn aws_drops_the_association_of_a_terminated_instance_and_the_ip_is_healed() {
    use InstanceStateName::*;
    // Unlike moto, AWS releases the association when an instance terminates: the IP is nowhere.
    let rules =
        [describe_instances(Terminated, Stopped), describe_address(None, &[]), associate_to(S), start(S), checks_ok()];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let outcome = handler(client, config()).handle(&state_change(P, "terminated")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Heal, "{}", outcome.reason);
    assert_eq!((rules[2].num_calls(), rules[3].num_calls()), (1, 1));
}

#[tokio::test]
async fn an_unreadable_event_makes_no_aws_call() {
    let any_describe = mock!(Client::describe_instances).then_output(|| DescribeInstancesOutput::builder().build());
    let rules = [any_describe];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let h = handler(client, config());
    for payload in [json!([1, 2]), json!({"Records": "x"}), json!({"detail-type": 5})] {
        assert_eq!(h.handle(&payload).await.unwrap_err().error_type(), "BadEvent");
    }
    // An event about another instance is screened out before any read.
    let ignored = h.handle(&state_change("i-0a1b2c3d4e5f67890", "stopped")).await.unwrap();
    assert_eq!(ignored.verdict, Verdict::Ignore);
    assert_eq!(rules[0].num_calls(), 0);
}

/// The order of the writes a test's mocks saw.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

#[tokio::test]
async fn the_ip_reaches_a_stopped_standby_before_aws_starts_it() {
    use InstanceStateName::*;
    // AWS refuses an association aimed at a pending instance: a start that landed first would
    // make the move fail. The move (and the record) go first; the start follows.
    let seen: Seen = Default::default();
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let rules = [
        describe_instances(Stopped, Stopped),
        describe_address(Some(P), &[]),
        checks_ok(),
        mock!(Client::associate_address).then_output(move || {
            a.lock().unwrap().push("move");
            AssociateAddressOutput::builder().build()
        }),
        mock!(Client::start_instances).then_output(move || {
            b.lock().unwrap().push("start");
            StartInstancesOutput::builder().build()
        }),
        mock!(Client::create_tags).then_output(move || {
            c.lock().unwrap().push("record");
            CreateTagsOutput::builder().build()
        }),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let outcome = handler(client, config()).handle(&state_change(P, "stopped")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&"start"), "{seen:?}");
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[tokio::test]
async fn a_refused_move_starts_nothing() {
    use InstanceStateName::*;
    let refuse = mock!(Client::associate_address)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>InvalidInstanceID</Code><Message>The pending instance 'i-0fedcba9876543210' \
                 is not in a valid state for this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>"
                    .into(),
            ),
        )
        .build();
    let rules = [
        describe_instances(Stopped, Stopped),
        describe_address(Some(P), &[]),
        checks_ok(),
        refuse,
        start(S),
        record(P, S, "moved"),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let error = handler(client, config()).handle(&state_change(P, "stopped")).await.unwrap_err();
    assert!(error.to_string().contains("InvalidInstanceID"), "{error}");
    assert_eq!(rules[4].num_calls(), 0, "StartInstances must wait for the move");
}

#[tokio::test]
async fn unreadable_status_checks_do_not_hold_up_a_dead_primary() {
    use InstanceStateName::*;
    // DescribeInstanceStatus names the instances, and fails whole if EC2 no longer knows one.
    let not_found = mock!(Client::describe_instance_status)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID \
                 'i-0123456789abcdef0' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"
                    .into(),
            ),
        )
        .build();
    let rules = [
        describe_instances(Terminated, Running),
        describe_address(Some(P), &[]),
        not_found,
        associate_to(S),
        record(P, S, "done"),
    ];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let outcome = handler(client, config()).handle(&state_change(P, "terminated")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert_eq!((rules[3].num_calls(), rules[4].num_calls()), (1, 1));
    let world = outcome.observed.unwrap();
    assert!(world.members.iter().all(|m| m.checks.is_none()), "{world:?}");
}

#[tokio::test]
async fn an_alarm_payload_counts_only_if_cloudwatch_says_alarm_now() {
    use InstanceStateName::*;
    // A retried or replayed ALARM payload for an alarm that is OK again, or a forged one, changes
    // nothing: CloudWatch is read again, in parallel with EC2.
    let alarm = json!({"alarmData": {"alarmName": "cpu", "state": {"value": "ALARM"}}});
    for (state, verdict) in [(StateValue::Ok, Verdict::NoChange), (StateValue::Alarm, Verdict::FailOver)] {
        let rules =
            [describe_instances(Running, Running), describe_address(Some(P), &[]), checks_ok(), associate_to(S)];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (cloudwatch, read) = cloudwatch_says(state.clone());
        let h = Handler::new(
            Config { fence_mode: FenceMode::None, ..config() },
            Clients { ec2, cloudwatch, arc: arc_unused() },
            true,
        );
        let outcome = h.handle(&alarm).await.unwrap();
        assert_eq!(outcome.verdict, verdict, "{state:?}: {}", outcome.reason);
        assert_eq!(read.num_calls(), 1, "the alarm is read once");
        if verdict == Verdict::NoChange {
            assert!(outcome.reason.contains("is OK now"), "{}", outcome.reason);
        }
    }
}

#[tokio::test]
async fn a_fence_waits_for_every_endpoint_to_leave_the_instance_it_stops() {
    use ec2_failover::pair::aws::execute;
    use ec2_failover::pair::plan::Action;
    use ec2_failover::pair::world::Endpoint;
    // A repair that points a route at the active instance, and the fence of the old one: AWS
    // refuses the route (throttled for good, say); the stop must not run while the route may
    // still point at the instance it would stop.
    let refuse = mock!(Client::replace_route)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>InvalidNetworkInterfaceID.NotFound</Code><Message>The networkInterface \
                  ID 'eni-x' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"
                    .into(),
            ),
        )
        .build();
    let never_stop = stop(P);
    let rules = [refuse, never_stop];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let route = Endpoint::Route { table: "rtb-0123456789abcdef0".into(), destination: "10.1.0.10/32".into() };
    let actions = [
        Action::Converge { instance_id: S.into(), network_interface_id: Some(eni(S)), endpoints: vec![route] },
        Action::StopInstance { instance_id: P.into(), force: false, skip_os_shutdown: false },
    ];
    let (reports, error) = execute(&client, &config(), &actions).await;
    assert!(
        error.is_some_and(|e| e.to_string().contains("ReplaceRoute failed with InvalidNetworkInterfaceID.NotFound"))
    );
    assert_eq!(reports[1].status, Status::Skipped, "{reports:?}");
    assert_eq!(rules[1].num_calls(), 0, "StopInstances must not be called while a route may point at the instance");
}

#[tokio::test]
async fn a_private_ip_left_behind_does_not_keep_the_old_instance_unfenced() {
    use ec2_failover::pair::aws::execute;
    use ec2_failover::pair::plan::Action;
    // The Elastic IP moves; the private IP does not (EC2 refuses it, for an address outside the new
    // interface's subnet, say). The old instance holds no endpoint that carries its traffic any
    // more: it is fenced all the same, and the next reconcile moves the private IP.
    let associate = mock!(Client::associate_address)
        .then_output(|| aws_sdk_ec2::operation::associate_address::AssociateAddressOutput::builder().build());
    let refuse = mock!(Client::assign_private_ip_addresses)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>Address 10.0.2.200 does not \
                  fall within the subnet's address range</Message></Error></Errors><RequestID>r</RequestID></Response>"
                    .into(),
            ),
        )
        .build();
    let fence = stop(P);
    let rules = [associate, refuse, fence];
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
    let config = Config { private_ips: vec!["10.0.2.200".into()], ..config() };
    let actions = [
        Action::MoveEndpoints { instance_id: S.into(), network_interface_id: Some(eni(S)) },
        Action::StopInstance { instance_id: P.into(), force: false, skip_os_shutdown: false },
    ];
    let (reports, error) = execute(&client, &config, &actions).await;
    assert!(error.is_some_and(|e| e.to_string().contains("AssignPrivateIpAddresses failed")), "{reports:?}");
    assert_eq!(reports[1].status, Status::Done, "{reports:?}");
    assert_eq!(rules[2].num_calls(), 1, "the old instance is fenced");
}
