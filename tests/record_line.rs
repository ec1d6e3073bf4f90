//! The decision line (`src/record.rs`): its flat facts, its metrics in CloudWatch's Embedded Metric
//! Format, and the AWS requests it counts, from outcomes the real handlers return against the strict
//! local AWS. Each line is checked against the EMF specification's rules, the ones CloudWatch Logs
//! applies before it extracts anything (a line that breaks one publishes no metric at all).

mod support;

use ec2_failover::decision::{Report, Status, Verdict};
use ec2_failover::group::Config as GroupConfig;
use ec2_failover::record::{Facts, HasFacts, Metrics, Said, Scope, Totals, MAX_LINE_BYTES, METRICS, NAMESPACE};
use ec2_failover::trigger::Trigger;
use serde_json::{json, Value};
use support::group::{start, Scene};
use support::local;

/// The specification's rules (CloudWatch User Guide, "Specification: Embedded metric format"):
/// `_aws.Timestamp` is a number of milliseconds, each directive names a namespace, dimension sets
/// of at most 30 members that are top-level strings, and at most 100 metrics that are top-level
/// numbers. Returns the line's metrics by name.
fn emf_metrics(line: &Value) -> Vec<(String, f64)> {
    let aws = &line["_aws"];
    let timestamp = aws["Timestamp"].as_i64().expect("_aws.Timestamp is a whole number");
    assert!(timestamp > 1_600_000_000_000, "Timestamp is in milliseconds: {timestamp}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("_aws.CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    let mut metrics = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().expect("Dimensions is an array") {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(set.len() <= 30);
            for key in set {
                let key = key.as_str().expect("a dimension is named by a string");
                let value = line[key].as_str().unwrap_or_else(|| panic!("dimension {key} is not a top-level string"));
                assert!(value.is_ascii() && !value.trim().is_empty(), "dimension {key}={value:?}");
            }
        }
        let named = directive["Metrics"].as_array().expect("Metrics is an array");
        assert!(!named.is_empty() && named.len() <= 100);
        for metric in named {
            let name = metric["Name"].as_str().expect("a metric has a Name");
            let unit = metric["Unit"].as_str().expect("a metric has a Unit");
            assert!(METRICS.iter().any(|(n, u, _)| *n == name && *u == unit), "{name} {unit}");
            let value = line[name].as_f64().unwrap_or_else(|| panic!("metric {name} is not a top-level number"));
            metrics.push((name.to_owned(), value));
        }
    }
    // A member named like a metric is listed in a directive: no metric is half there.
    for (name, _, _) in METRICS {
        assert_eq!(line.get(name).is_some(), metrics.iter().any(|(n, _)| n == name), "{name}");
    }
    metrics
}

fn metric(metrics: &[(String, f64)], name: &str) -> Option<f64> {
    metrics.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("the line is one JSON object")
}

/// The line of an outcome, as `invocation::log` writes it.
fn line_of<W: serde::Serialize, A: serde::Serialize>(
    outcome: &ec2_failover::decision::Outcome<W, A>,
    scope: Scope,
) -> Value
where
    ec2_failover::decision::Outcome<W, A>: HasFacts,
{
    let (_, text) = ec2_failover::invocation::said(outcome, None).line(
        outcome.facts(),
        scope,
        "ec2-failover-test",
        1_790_000_000_000,
    );
    assert!(!text.contains('\n'), "one line");
    parse(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_line_names_who_served_and_who_serves_and_counts_every_request_it_made() {
    let (moto, proxy, p) = local(true).await;
    moto.client().stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let handler = p.handler(&proxy, p.config());
    // Throttling on a share of the requests: the SDK retries, and each attempt is a request.
    proxy.configure(&json!({"fault_rate": 0.3, "seed": 1, "faults": ["throttle"]}));
    let before = handler.aws_requests();

    let outcome = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    let seen = proxy.log();
    assert!(seen.iter().any(|r| r.fault.is_some()), "no request was throttled: {seen:?}");
    let counted = handler.aws_requests() - before;
    assert_eq!(counted, seen.len() as u64, "{seen:?}");

    let line = line_of(&outcome, Scope::Whole(Totals { aws_requests: counted, duration_ms: 42 }));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["timestamp"], "2026-09-21T14:13:20Z");
    assert_eq!(line["verdict"], "fail_over");
    assert_eq!(line["active"], p.primary.as_str());
    assert_eq!(line["target"], p.standby.as_str());
    assert_eq!(line["function"], "ec2-failover-test");
    // The outcome comes as objects, not as JSON inside strings.
    assert!(line["observed"]["anchor"].is_object(), "{line}");
    assert!(line["actions"].is_array() && line["trigger"].is_object(), "{line}");
    let metrics = emf_metrics(&line);
    assert_eq!(metric(&metrics, "Decisions"), Some(1.0));
    assert_eq!(metric(&metrics, "Failovers"), Some(1.0));
    assert_eq!(metric(&metrics, "Refusals"), Some(0.0));
    assert_eq!(metric(&metrics, "Serving"), Some(1.0));
    // One pair by its environment: no pair dimension (a fleet's lines carry it).
    assert!(!line["_aws"].to_string().contains("\"pair\""), "{line}");
    assert_eq!(metric(&metrics, "AwsRequests"), Some(counted as f64));
    assert_eq!(metric(&metrics, "Duration"), Some(42.0));
    // The facts come before the outcome, which Logs Insights may not reach past 200 fields.
    let text = line.to_string();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {text}"));
    assert!(at("target") < at("observed") && at("verdict") < at("trigger") && at("Failovers") < at("observed"));

    // The next reconcile: the standby serves, nothing changes, no failover is counted.
    let before = handler.aws_requests();
    let calm = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(calm.verdict, Verdict::NoChange, "{}", calm.reason);
    let line = line_of(&calm, Scope::Whole(Totals { aws_requests: handler.aws_requests() - before, duration_ms: 1 }));
    assert_eq!(line["active"], p.standby.as_str());
    assert!(line.get("target").is_none(), "{line}");
    let metrics = emf_metrics(&line);
    assert_eq!(metric(&metrics, "Failovers"), Some(0.0));
    assert_eq!(line["verdict"], "no_change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_line_names_its_group_and_instance_and_its_requests_are_counted() {
    let (moto, proxy) = start();
    let scene = Scene::new(&moto, &proxy, true).await;
    let new = scene.replace_into_the_other_az().await;
    let handler = scene.handler_with(&proxy, GroupConfig { keep_data: false, ..GroupConfig::default() });
    proxy.configure(&json!({}));
    let before = handler.aws_requests();

    let outcome = handler.handle(&scene.launch_event(&new)).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Follow, "{}", outcome.reason);
    assert_eq!(handler.aws_requests() - before, proxy.log().len() as u64);
    let line = line_of(&outcome, Scope::Whole(Totals::default()));
    assert_eq!(line["group"], support::group::GROUP);
    assert_eq!(line["instance"], new.as_str());
    assert_eq!(line["target"], new.as_str());
    let metrics = emf_metrics(&line);
    assert_eq!(metric(&metrics, "Failovers"), Some(1.0), "a new instance took the group's IP");
    // Failovers by group too: a fleet's dashboard shows which one moved.
    let sets: Vec<Value> = line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == "Failovers"))
        .map(|d| d["Dimensions"].clone())
        .collect();
    assert_eq!(sets, [json!([["function"]]), json!([["function", "group"]])]);
}

fn said<'a>(
    verdict: Verdict,
    dry_run: bool,
    trigger: &'a Trigger,
    actions: &'a [Report<Value>],
) -> Said<'a, (), Value> {
    Said { verdict, reason: "because", dry_run, trigger, observed: None, actions, error: None }
}

#[test]
fn each_verdict_counts_where_it_should_and_a_dry_run_moves_nothing() {
    let trigger = Trigger::Schedule;
    let none: [Report<Value>; 0] = [];
    let active = |moved| Facts { active: Some("i-0123".into()), moved, ..Facts::default() };
    let whole = Scope::Whole(Totals { aws_requests: 3, duration_ms: 9 });
    // (verdict, dry run, the address moved, level, Failovers, Refusals, Holds)
    let rows = [
        (Verdict::FailOver, false, true, "INFO", 1.0, 0.0, 0.0),
        (Verdict::FailOver, false, false, "INFO", 0.0, 0.0, 0.0), // only started the standby
        (Verdict::FailOver, true, false, "INFO", 0.0, 0.0, 0.0),
        (Verdict::Finish, false, true, "INFO", 1.0, 0.0, 0.0), // carried on: the move happens now
        (Verdict::Follow, false, true, "INFO", 1.0, 0.0, 0.0),
        (Verdict::Switchover, false, true, "INFO", 0.0, 0.0, 0.0),
        (Verdict::Heal, false, true, "INFO", 0.0, 0.0, 0.0),
        (Verdict::Refuse, false, false, "ERROR", 0.0, 1.0, 0.0),
        (Verdict::Hold, false, false, "WARN", 0.0, 0.0, 1.0),
        (Verdict::Paused, false, false, "WARN", 0.0, 0.0, 0.0),
    ];
    for (verdict, dry_run, moved, level, failovers, refusals, holds) in rows {
        let (_, text) = said(verdict, dry_run, &trigger, &none).line(active(moved), whole, "f", 1_790_000_000_000);
        let line = parse(&text);
        let metrics = emf_metrics(&line);
        let row = format!("{verdict:?} dry_run={dry_run}: {line}");
        assert_eq!(line["level"], level, "{row}");
        assert_eq!(line["verdict"], verdict.name(), "{row}");
        assert_eq!(metric(&metrics, "Failovers"), Some(failovers), "{row}");
        assert_eq!(metric(&metrics, "Refusals"), Some(refusals), "{row}");
        assert_eq!(metric(&metrics, "Holds"), Some(holds), "{row}");
        assert_eq!(metric(&metrics, "Decisions"), Some(1.0), "{row}");
    }

    // A failed action is counted, and its line is an error line.
    let failed =
        [Report { action: json!({"kind": "move_endpoints"}), status: Status::Failed, error: Some("boom".into()) }];
    let mut with_error = said(Verdict::FailOver, false, &trigger, &failed);
    with_error.error = Some("EC2 AssociateAddress failed".into());
    let line = parse(&with_error.line(Facts::default(), whole, "f", 1_790_000_000_000).1);
    assert_eq!(line["level"], "ERROR");
    assert_eq!(metric(&emf_metrics(&line), "FailedActions"), Some(1.0));
    // No instance holds the IP: no Serving datum (and no `active` dimension left empty).
    assert!(line.get("Serving").is_none() && line.get("active").is_none(), "{line}");
}

#[test]
fn a_sweep_counts_each_decision_on_its_own_line_and_its_cost_on_the_summary() {
    let trigger = Trigger::Schedule;
    let none: [Report<Value>; 0] = [];
    let totals = Totals { aws_requests: 12, duration_ms: 300 };
    let moved = Facts { moved: true, ..Facts::default() };
    let part = parse(&said(Verdict::Follow, false, &trigger, &none).line(moved, Scope::Part, "f", 1_790_000_000_000).1);
    let part = emf_metrics(&part);
    assert_eq!(metric(&part, "Decisions"), Some(1.0));
    assert_eq!(metric(&part, "Failovers"), Some(1.0));
    assert_eq!(metric(&part, "AwsRequests"), None);
    let summary = parse(
        &said(Verdict::Follow, false, &trigger, &none)
            .line(Facts::default(), Scope::Summary(totals), "f", 1_790_000_000_000)
            .1,
    );
    let summary = emf_metrics(&summary);
    assert_eq!(metric(&summary, "Decisions"), None, "the summary's decisions were counted on their lines");
    assert_eq!(metric(&summary, "Failovers"), None);
    assert_eq!(metric(&summary, "AwsRequests"), Some(12.0));
    assert_eq!(metric(&summary, "Duration"), Some(300.0));
    assert_eq!(Metrics::of(Verdict::Follow, false, 0, &Facts::default(), Scope::Part).aws_requests, None);
}

#[test]
fn a_line_too_long_for_one_log_event_leaves_the_world_out_and_keeps_its_metrics() {
    let trigger = Trigger::Schedule;
    let none: [Report<Value>; 0] = [];
    let world = "x".repeat(300 * 1024);
    let big = Said {
        verdict: Verdict::NoChange,
        reason: "r",
        dry_run: false,
        trigger: &trigger,
        observed: Some(&world),
        actions: &none,
        error: None,
    };
    let (_, text) = big.line(Facts::default(), Scope::Whole(Totals::default()), "f", 1_790_000_000_000);
    assert!(text.len() <= MAX_LINE_BYTES, "{}", text.len());
    let line = parse(&text);
    assert!(line.get("observed").is_none());
    assert_eq!(metric(&emf_metrics(&line), "Decisions"), Some(1.0));
    // A world that fits stays.
    let small = "small".to_owned();
    let fits = Said { observed: Some(&small), ..big };
    assert_eq!(parse(&fits.line(Facts::default(), Scope::Part, "f", 1_790_000_000_000).1)["observed"], "small");
}
