//! Parser tests over every file in `events/` (the same files `sam local invoke -e` and
//! `cargo lambda invoke --data-file` use), the reference payloads AWS documents, and the
//! payloads the function must reject.

use std::path::Path;

use ec2_failover::trigger::{
    parse, Alarm, AlarmState, AlarmVia, Command, Health, LifecycleAction, Source, Transition, Trigger, Warning,
    ACCEPTED, COMMANDS,
};
use serde_json::{json, Value};

const PRIMARY: &str = "i-0123456789abcdef0";
const STANDBY: &str = "i-0fedcba9876543210";

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn alarm(name: &str, state: AlarmState, ids: &[&str], via: AlarmVia) -> Trigger {
    Trigger::Warning(Warning {
        source: Source::Alarm(Alarm { name: name.into(), state, via }),
        instance_ids: ids.iter().map(|s| s.to_string()).collect(),
        at: None,
    })
}

fn lifecycle(transition: Transition, group: &str, hook: &str, instance_id: &str, token: bool) -> Trigger {
    Trigger::Lifecycle(LifecycleAction {
        transition,
        group: group.into(),
        hook: hook.into(),
        instance_id: instance_id.into(),
        token: token.then(|| "87654321-4321-4321-4321-210987654321".into()),
    })
}

/// A warning about `ids` that EventBridge sent at `at` (its `time`, in seconds).
fn warning(source: Source, ids: &[&str], at: i64) -> Trigger {
    Trigger::Warning(Warning { source, instance_ids: ids.iter().map(|i| (*i).to_owned()).collect(), at: Some(at) })
}

fn state_change(id: &str, state: &str) -> Trigger {
    Trigger::StateChange { instance_id: id.into(), state: state.into() }
}

/// Checks every JSON file in `dir` against `expected`, and that no file lacks an expectation.
fn check_dir(dir: &str, expected: &[(&str, Trigger)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some((_, want)) = expected.iter().find(|(file, _)| *file == name) else {
            panic!("{name} has no expected trigger in this test: add one");
        };
        assert_eq!(&parse(&load(&path)).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        seen += 1;
    }
    assert_eq!(seen, expected.len(), "some expected files are missing from {}", dir.display());
}

#[test]
fn every_file_in_events_parses_to_its_trigger() {
    use AlarmState::*;
    use AlarmVia::*;
    use Transition::*;
    check_dir(
        "events",
        &[
            ("alarm-action-cpu-alarm.json", alarm("ec2-failover-primary-cpu", Alarm, &[PRIMARY], AlarmAction)),
            ("alarm-action-cpu-ok.json", alarm("ec2-failover-primary-cpu", Ok, &[PRIMARY], AlarmAction)),
            ("alarm-action-cpu-alarm-standby.json", alarm("ec2-failover-standby-cpu", Alarm, &[STANDBY], AlarmAction)),
            ("alarm-action-metric-math.json", alarm("ec2-failover-primary-cpu-math", Alarm, &[PRIMARY], AlarmAction)),
            (
                "alarm-action-anomaly-detection.json",
                alarm("ec2-failover-primary-cpu-anomaly", Alarm, &[PRIMARY], AlarmAction),
            ),
            ("alarm-action-composite.json", alarm("ec2-failover-service-down", Alarm, &[], AlarmAction)),
            // A Route 53 health check's alarm names no instance: it is about the active one.
            ("alarm-action-route53-health-check.json", alarm("ec2-failover-service", Alarm, &[], AlarmAction)),
            (
                "eventbridge-alarm-state-change-cpu.json",
                alarm("ec2-failover-primary-cpu", Alarm, &[PRIMARY], EventBridge),
            ),
            ("sns-alarm-status-check.json", alarm("ec2-failover-primary-status", Alarm, &[PRIMARY], Sns)),
            ("sns-alarm-metric-math.json", alarm("ec2-failover-primary-cpu-math", Alarm, &[PRIMARY], Sns)),
            // The same alarm from us-east-1 to a pair elsewhere, through SNS.
            ("sns-alarm-route53-health-check.json", alarm("ec2-failover-service", Alarm, &[], Sns)),
            (
                "ec2-spot-interruption-warning-primary.json",
                warning(Source::SpotInterruption { action: "terminate".into() }, &[PRIMARY], 1795612800),
            ),
            (
                "ec2-rebalance-recommendation-primary.json",
                warning(Source::RebalanceRecommendation, &[PRIMARY], 1795612680),
            ),
            (
                "health-ec2-retirement-scheduled-primary.json",
                warning(
                    Source::Health(Health {
                        type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                        category: "scheduledChange".into(),
                        status: Some("upcoming".into()),
                        start: Some(1796829009), // Wed, 09 Dec 2026 15:10:09 GMT
                    }),
                    &[PRIMARY],
                    1795588077, // 2026-11-25T06:27:57Z
                ),
            ),
            ("ec2-state-change-primary-stopping.json", state_change(PRIMARY, "stopping")),
            ("ec2-state-change-primary-stopped.json", state_change(PRIMARY, "stopped")),
            ("ec2-state-change-primary-shutting-down.json", state_change(PRIMARY, "shutting-down")),
            ("ec2-state-change-primary-terminated.json", state_change(PRIMARY, "terminated")),
            ("ec2-state-change-standby-running.json", state_change(STANDBY, "running")),
            ("ec2-state-change-unrelated-instance.json", state_change("i-0a1b2c3d4e5f67890", "stopped")),
            ("scheduled-reconcile.json", Trigger::Schedule),
            ("arc-autoshift-in-progress.json", Trigger::ZonalShift { what: "Autoshift In Progress".into() }),
            (
                "asg-launch-lifecycle-action.json",
                lifecycle(Launching, "my-asg", "my-lifecycle-hook", "i-0a1b2c3d4e5f67890", true),
            ),
            (
                "ebs-snapshot-notification.json",
                Trigger::Ebs {
                    event: "createSnapshot".into(),
                    result: "succeeded".into(),
                    resource_id: "snap-0123456789abcdef0".into(),
                    at: Some(1795612200), // 2026-11-25T13:10:00Z
                },
            ),
            (
                "ebs-volume-notification.json",
                Trigger::Ebs {
                    event: "createVolume".into(),
                    result: "available".into(),
                    resource_id: "vol-0fedcba9876543210".into(),
                    at: Some(1795612260), // 2026-11-25T13:11:00Z
                },
            ),
            (
                "ebs-volume-detach-notification.json",
                Trigger::Ebs {
                    event: "detachVolume".into(),
                    result: "available".into(),
                    resource_id: "vol-0123456789abcdef0".into(),
                    at: Some(1795612080), // 2026-11-25T13:08:00Z
                },
            ),
            (
                "asg-terminate-lifecycle-action.json",
                lifecycle(Terminating, "my-asg", "my-terminate-hook", "i-0a1b2c3d4e5f67890", true),
            ),
        ],
    );
}

#[test]
fn every_reference_payload_parses_to_its_trigger() {
    use AlarmState::*;
    use AlarmVia::*;
    use Transition::*;
    check_dir(
        "tests/fixtures/reference",
        &[
            ("alarm-action-metric.json", alarm("lambda-demo-metric-alarm", Alarm, &["i-12345678"], AlarmAction)),
            ("alarm-action-composite-with-spaces.json", alarm("CompositeDemo.Main", Alarm, &[], AlarmAction)),
            (
                "eventbridge-alarm-state-change-ec2-cpu.json",
                alarm("ServerCpuTooHigh", Alarm, &["i-12345678901234567"], EventBridge),
            ),
            ("sns-alarm-single-metric.json", alarm("EXAMPLE", Alarm, &["TestInstance"], Sns)),
            ("sns-alarm-multiple-metrics.json", alarm("EXAMPLE", Alarm, &["TestInstance"], Sns)),
            ("eventbridge-ec2-state-change.json", state_change("i-abcd1111", "pending")),
            ("eventbridge-schedule.json", Trigger::Schedule),
            (
                "eventbridge-asg-launch-lifecycle-action.json",
                lifecycle(Launching, "my-asg", "my-lifecycle-hook", "i-1234567890abcdef0", true),
            ),
            (
                "eventbridge-asg-terminate-lifecycle-action.json",
                lifecycle(Terminating, "my-asg", "my-lifecycle-hook", "i-1234567890abcdef0", true),
            ),
        ],
    );
}

#[test]
fn unknown_fields_anywhere_are_ignored() {
    let mut event = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("events/ec2-state-change-primary-stopped.json"));
    event["brand-new-field"] = json!({"nested": [1, 2]});
    event["detail"]["another"] = json!("x");
    assert_eq!(parse(&event).unwrap(), state_change(PRIMARY, "stopped"));

    let mut event = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("events/alarm-action-cpu-alarm.json"));
    event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["period"] = json!(604800);
    event["alarmData"]["state"]["actionsSuppressedBy"] = json!("WaitPeriod");
    assert!(matches!(parse(&event).unwrap(), Trigger::Warning(w) if w.instance_ids == [PRIMARY]));
}

/// Documented examples carry placeholders where AWS puts real values; no decision needs `time`
/// but the EBS coalescing, which reads it leniently (a placeholder: no time, so a sweep).
#[test]
fn placeholder_times_and_ids_do_not_make_an_event_unreadable() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    for (file, placeholder) in [
        ("ec2-state-change-primary-stopped.json", json!("yyyy-mm-ddThh:mm:ssZ")),
        ("scheduled-reconcile.json", json!("{{time}}")),
        ("asg-launch-lifecycle-action.json", json!(null)),
        ("ebs-snapshot-notification.json", json!("2019-11-25T13:10:00 (example)")),
    ] {
        let original = parse(&load(&dir.join(file))).unwrap();
        let mut event = load(&dir.join(file));
        event["time"] = placeholder.clone();
        event["id"] = json!("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
        event["account"] = json!("123456789012 (your account)");
        let parsed = parse(&event).unwrap_or_else(|e| panic!("{file} with time {placeholder}: {e}"));
        match (original, parsed) {
            (Trigger::Ebs { at: Some(_), .. }, Trigger::Ebs { at, .. }) => assert_eq!(at, None, "{file}"),
            (original, parsed) => assert_eq!(parsed, original, "{file}"),
        }
    }
}

#[test]
fn operator_commands_are_read_and_an_unknown_one_lists_the_accepted_ones() {
    let cases = [
        (json!({"command": "status"}), Command::Status),
        (json!({"command": "Switchover"}), Command::Switchover { force: false }),
        (json!({"command": "switchover", "force": true}), Command::Switchover { force: true }),
        (
            json!({"command": "pause", "reason": " resize the primary "}),
            Command::Pause { reason: "resize the primary".into() },
        ),
        (json!({"command": "resume"}), Command::Resume { reason: None }),
        (json!({"command": "resume", "reason": "done", "extra": 1}), Command::Resume { reason: Some("done".into()) }),
    ];
    for (payload, command) in cases {
        assert_eq!(parse(&payload).unwrap(), Trigger::Command(command), "{payload}");
    }
    for (payload, says) in [
        (json!({"command": "failback"}), "unknown command \"failback\""),
        (json!({"command": 7}), "not a name"),
        (json!({"command": "pause"}), "pause needs a \"reason\""),
        (json!({"command": "pause", "reason": ""}), "1 to 200 characters"),
        (json!({"command": "switchover", "force": "yes"}), "not true or false"),
    ] {
        let error = parse(&payload).unwrap_err().to_string();
        assert!(error.contains(says) && error.contains(COMMANDS), "{payload}: {error}");
    }
}

/// AWS Health events are EC2's only when their service is EC2, and a pair's only when they name an
/// instance; a closed one no longer stands; the documented example (placeholders and all) parses.
#[test]
fn health_events_are_warnings_about_the_instances_they_name() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/health-ec2-retirement-scheduled-primary.json");
    let base = load(&file);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut event = base.clone();
        edit(&mut event);
        parse(&event).unwrap()
    };
    let Trigger::Warning(w) = with(&|_| {}) else { panic!("not a warning") };
    assert!(w.stands() && w.is_certain_loss(), "{w:?}");

    let rds = with(&|e| e["detail"]["service"] = json!("RDS"));
    assert!(matches!(rds, Trigger::Unrelated { .. }), "{rds:?}");
    let nobody = with(&|e| {
        e["resources"] = json!([]);
        e["detail"]["affectedEntities"] = json!([{"entityValue": "vol-0123456789abcdef0"}]);
    });
    assert!(matches!(nobody, Trigger::Unrelated { .. }), "{nobody:?}");
    // The standby named only through `resources`, once even if named twice.
    let standby = with(&|e| {
        e["resources"] = json!([STANDBY, STANDBY]);
        e["detail"]["affectedEntities"] = json!([]);
    });
    assert!(matches!(&standby, Trigger::Warning(w) if w.instance_ids == [STANDBY]), "{standby:?}");
    // An entity AWS Health says is fixed no longer counts; `resources` is not read when entities are listed.
    let fixed = with(&|e| {
        e["detail"]["affectedEntities"] =
            json!([{"entityValue": PRIMARY, "status": "RESOLVED"}, {"entityValue": STANDBY}]);
    });
    assert!(matches!(&fixed, Trigger::Warning(w) if w.instance_ids == [STANDBY]), "{fixed:?}");
    let Trigger::Warning(closed) = with(&|e| e["detail"]["statusCode"] = json!("closed")) else { panic!() };
    assert!(!closed.stands());
    let Trigger::Warning(note) = with(&|e| e["detail"]["eventTypeCategory"] = json!("accountNotification")) else {
        panic!()
    };
    assert!(!note.stands());
    let Trigger::Warning(reboot) = with(&|e| {
        e["detail"]["eventTypeCode"] = json!("AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED");
        e["detail"].as_object_mut().unwrap().remove("statusCode");
    }) else {
        panic!()
    };
    assert!(reboot.stands() && !reboot.is_certain_loss(), "{reboot:?}");
    // As documented: placeholders in time, id and account; no statusCode, no resources.
    let documented = with(&|e| {
        e["time"] = json!("yyyy-mm-ddThh:mm:ssZ");
        e["id"] = json!("7bf73129-1428-4cd3-a780-95db273d1602");
        e["account"] = json!("<account>");
        e.as_object_mut().unwrap().remove("resources");
        e["detail"].as_object_mut().unwrap().remove("statusCode");
    });
    assert!(matches!(&documented, Trigger::Warning(w) if w.instance_ids == [PRIMARY] && w.stands()), "{documented:?}");
    // A Spot notice without its action (documented as "action") still warns.
    let mut spot =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("events/ec2-spot-interruption-warning-primary.json"));
    spot["detail"].as_object_mut().unwrap().remove("instance-action");
    let Trigger::Warning(spot) = parse(&spot).unwrap() else { panic!() };
    assert!(spot.stands() && spot.is_certain_loss() && spot.names(PRIMARY));
}

#[test]
fn unreadable_payloads_are_rejected_with_what_is_accepted() {
    let sns_with = |message: &str| {
        json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn", "Sns": {
            "Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": message,
            "Timestamp": "2026-11-25T13:03:00.123Z", "SignatureVersion": "1", "Signature": "s",
            "SigningCertUrl": "u", "UnsubscribeUrl": "u", "MessageAttributes": {}}}]})
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("a string", json!("hello"), "not a JSON object"),
        ("null", Value::Null, "not a JSON object"),
        ("an empty object", json!({}), "none of alarmData"),
        ("an S3 event", json!({"bucket": "b"}), "none of alarmData"),
        ("alarm data without a state", json!({"alarmData": {"alarmName": "a"}}), "alarm data"),
        (
            "an alarm in an unknown state",
            json!({"alarmData": {"alarmName": "a", "state": {"value": "ON_FIRE"}}}),
            "ON_FIRE",
        ),
        ("Records that are not SNS", json!({"Records": [{"eventSource": "aws:s3"}]}), "not an SNS notification"),
        ("an SNS message that is not an alarm", sns_with("hello"), "not a CloudWatch alarm"),
        ("an SNS notification with no record", json!({"Records": []}), "no records"),
        (
            "an EventBridge event without a source",
            json!({"detail-type": "Scheduled Event", "detail": {}}),
            "EventBridge",
        ),
        (
            "a state change without an instance id",
            json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {"state": "stopped"}}),
            "instance-id",
        ),
        (
            "an EventBridge alarm with a detail that is not an alarm",
            json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": []}),
            "alarm data",
        ),
    ];
    for (what, payload, hint) in cases {
        let error = parse(&payload).expect_err(what);
        let message = error.to_string();
        assert!(message.contains(hint), "{what}: {message}");
        assert!(message.contains(ACCEPTED), "{what}: the message must say what is accepted: {message}");
    }
}
