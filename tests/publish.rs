//! Each failover, refusal and hold also goes out as an EventBridge event (src/publish.rs): source
//! ec2-failover, detail-type the verdict, detail the decision line. Against the local AWS, which
//! answers PutEvents as EventBridge does.

mod support;

use ec2_failover::decision::Verdict;
use ec2_failover::publish::Publisher;
use serde_json::{json, Value};
use support::{local, PAIR_FUNCTION};

fn publisher(proxy: &support::Proxy, partition: &str) -> Option<Publisher> {
    Some(Publisher::new(proxy.events_client_as(partition, PAIR_FUNCTION), "default".into()))
}

fn detail(event: &Value) -> Value {
    serde_json::from_str(event["Detail"].as_str().expect("a Detail")).expect("the Detail is the decision line, JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_goes_out_as_an_event_with_its_decision_line_and_a_quiet_reconcile_does_not() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let handler = p.handler(&proxy, p.config()).publishing(publisher(&proxy, "publish-1"));
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let moved = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(moved.verdict, Verdict::FailOver, "{}", moved.reason);
    let events = proxy.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["Source"].as_str(), events[0]["DetailType"].as_str()),
        (Some("ec2-failover"), Some("fail_over"))
    );
    assert_eq!(events[0]["EventBusName"], json!("default"));
    let line = detail(&events[0]);
    assert_eq!(line["verdict"], json!("fail_over"));
    assert_eq!(line["target"], json!(p.standby));
    assert_eq!(line["reason"], json!(moved.reason));

    let quiet = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert!(!matches!(quiet.verdict, Verdict::FailOver | Verdict::Refuse | Verdict::Hold), "{}", quiet.reason);
    let kinds: Vec<String> =
        proxy.events().iter().skip(1).filter_map(|e| e["DetailType"].as_str().map(str::to_owned)).collect();
    assert!(kinds.iter().all(|k| k == "finish" || k == "heal"), "only a finish or heal may follow: {kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_publishes_nothing_and_eventbridge_down_changes_no_decision() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let dry = ec2_failover::pair::Handler::new(p.config(), proxy.pair_clients("publish-dry"), true)
        .publishing(publisher(&proxy, "publish-dry"));
    let planned = dry.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(planned.verdict, Verdict::FailOver, "{}", planned.reason);
    assert!(proxy.events().is_empty(), "a dry run changed nothing and says so only in its log");

    // EventBridge unavailable: the failover is made, the invocation succeeds, the event is lost
    // (a warning line; the reconcile does not send it again).
    proxy.outage(&json!({"service": "events", "fault": "unavailable"}));
    let handler = p.handler(&proxy, p.config()).publishing(publisher(&proxy, "publish-down"));
    let moved = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await.unwrap();
    assert_eq!(moved.verdict, Verdict::FailOver, "{}", moved.reason);
    assert!(proxy.events().is_empty());
    let tried = proxy.log().iter().filter(|r| r.action == "PutEvents").count();
    assert!(tried >= 1, "it tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_goes_out_too() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    // The standby is terminated: nothing can take the address from a stopped primary.
    ec2.terminate_instances().instance_ids(&p.standby).send().await.unwrap();
    ec2.stop_instances().instance_ids(&p.primary).send().await.unwrap();
    let handler = p.handler(&proxy, p.config()).publishing(publisher(&proxy, "publish-refuse"));
    let refused = handler.handle(&p.event("ec2-state-change-primary-stopped.json")).await;
    let events = proxy.events();
    match refused {
        Err(e) => {
            assert_eq!(events.len(), 1, "{e}: {events:?}");
            assert_eq!(events[0]["DetailType"], json!("refuse"));
            assert_eq!(detail(&events[0])["verdict"], json!("refuse"));
        }
        Ok(o) => panic!("expected a refusal: {:?} {}", o.verdict, o.reason),
    }
}
