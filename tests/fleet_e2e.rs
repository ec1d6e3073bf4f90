//! Fleet mode end to end: the fleet handler against moto through the strict local AWS, with the
//! pairs declared by tags.

mod support;

use ec2_failover::decision::Verdict;
use ec2_failover::fleet::FleetObserved;
use ec2_failover::record::HasFacts;
use serde_json::json;
use support::fleet::{handler, holder, reconcile, start, state_change, Fleet};

/// The requests in the log, by action, but the zone names (read once per environment).
fn actions(log: &[support::Request]) -> Vec<String> {
    log.iter().map(|r| r.action.clone()).filter(|a| a != "DescribeAvailabilityZones").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_reads_the_fleet_in_one_round_whatever_its_size_and_reports_broken_tags() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let mut fleet = Fleet::new(&ec2, &["a", "b", "c"], true).await;
    // A pair with one member: reported, left alone; the others are served.
    let lonely = support::fleet::instance(
        &ec2,
        &fleet.subnets[0],
        &[("ec2-failover:pair", "d"), ("ec2-failover:role", "primary")],
    )
    .await;
    let h = handler(&proxy, "fleet-size", 10);

    proxy.configure(&json!({}));
    let quiet = h.handle(&reconcile()).await.unwrap();
    assert_eq!(quiet.verdict, Verdict::NoChange, "{}", quiet.reason);
    assert!(quiet.reason.contains("reconciled 3 pair(s), 3 with nothing to do"), "{}", quiet.reason);
    assert!(quiet.reason.contains("left alone: d: 1 instances carry it"), "{}", quiet.reason);
    let Some(FleetObserved::Fleet(seen)) = &quiet.observed else { panic!("{:?}", quiet.observed) };
    assert_eq!(seen.pairs.len(), 3);
    let three = actions(&proxy.log());

    // Twice the fleet: the same requests.
    for name in ["e", "f", "g"] {
        let pair = fleet.add(&ec2, name, true).await;
        fleet.pairs.push(pair);
    }
    proxy.configure(&json!({}));
    let quiet = h.handle(&reconcile()).await.unwrap();
    assert!(quiet.reason.contains("reconciled 6 pair(s)"), "{}", quiet.reason);
    let mut six = actions(&proxy.log());
    let mut three = three;
    six.sort();
    three.sort();
    assert_eq!(six, three, "the reconcile's requests grow with the fleet");
    assert!(six.len() <= 9, "{six:?}");
    drop(lonely);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_about_one_pair_reads_and_moves_that_pair_only() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &["a", "b", "c"], true).await;
    let h = handler(&proxy, "fleet-one", 10);
    let b = fleet.pair("b");
    ec2.stop_instances().instance_ids(&b.primary).send().await.unwrap();

    proxy.configure(&json!({}));
    let moved = h.handle(&state_change(&b.primary, "stopped")).await.unwrap();
    assert_eq!(moved.verdict, Verdict::FailOver, "{}", moved.reason);
    assert_eq!(moved.facts().pair.as_deref(), Some("b"));
    // Its decision line names the pair, a field and the dimension of Failovers by pair.
    let scope = ec2_failover::record::Scope::Whole(ec2_failover::record::Totals::default());
    let (_, line) = ec2_failover::invocation::said(&moved, None).line(moved.facts(), scope, "fleet", 1_800_000_000_000);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["pair"], json!("b"));
    assert!(line["_aws"]["CloudWatchMetrics"].to_string().contains(r#"[["function","pair"]]"#), "{line}");
    assert_eq!(holder(&ec2, &b.allocation_id).await.as_deref(), Some(b.standby.as_str()));
    for other in ["a", "c"] {
        let p = fleet.pair(other);
        assert_eq!(holder(&ec2, &p.allocation_id).await.as_deref(), Some(p.primary.as_str()));
    }
    // Nothing read names another pair: no fleet-wide read, no other pair's instance or address.
    for r in proxy.log() {
        let params: String = r.params.values().cloned().collect::<Vec<_>>().join(" ");
        assert!(!params.contains("tag-key"), "{} read the whole fleet: {params}", r.action);
        for other in ["a", "c"] {
            let p = fleet.pair(other);
            for id in [&p.primary, &p.standby, &p.allocation_id] {
                assert!(!params.contains(id.as_str()), "{} named {id} of pair {other}: {params}", r.action);
            }
        }
    }
    // An instance in no pair is nothing to do.
    let stranger = support::fleet::instance(&ec2, &fleet.subnets[0], &[("Name", "other")]).await;
    let ignored = h.handle(&state_change(&stranger, "stopped")).await.unwrap();
    assert_eq!(ignored.verdict, Verdict::Ignore, "{}", ignored.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_dies_and_the_reconcile_moves_every_pair_never_more_than_the_cap_at_once() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let names = ["p1", "p2", "p3", "p4", "p5", "p6"];
    let fleet = Fleet::new(&ec2, &names, true).await;
    let h = handler(&proxy, "fleet-zone", 2);
    let primaries: Vec<String> = fleet.pairs.iter().map(|p| p.primary.clone()).collect();
    ec2.stop_instances().set_instance_ids(Some(primaries)).send().await.unwrap();
    // Each write takes a moment, as on AWS, so that overlapping ones show.
    proxy.configure(&json!({"latency_ms": 20}));

    let swept = h.handle(&reconcile()).await.unwrap();
    assert_eq!(swept.verdict, Verdict::FailOver, "{}", swept.reason);
    for p in &fleet.pairs {
        assert_eq!(holder(&ec2, &p.allocation_id).await.as_deref(), Some(p.standby.as_str()), "{}", p.name);
    }
    let moves: Vec<(f64, f64)> =
        proxy.log().iter().filter(|r| r.action == "AssociateAddress").map(|r| (r.start, r.end)).collect();
    assert_eq!(moves.len(), names.len());
    let most = moves.iter().map(|(s, _)| moves.iter().filter(|(s2, e2)| s2 <= s && s < e2).count()).max().unwrap();
    assert!(most <= 2, "{most} moves at once, over MAX_PARALLEL_FAILOVERS=2");
    // The next reconcile finds them done.
    let again = h.handle(&reconcile()).await.unwrap();
    assert!(matches!(again.verdict, Verdict::NoChange | Verdict::Fence), "{}", again.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_name_their_pair_and_status_lists_the_fleet() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &["a", "b"], true).await;
    let h = handler(&proxy, "fleet-commands", 10);
    let status = h.handle(&json!({"command": "status"})).await.unwrap();
    assert_eq!(status.verdict, Verdict::Status, "{}", status.reason);
    assert!(status.reason.starts_with("2 pair(s); a status: "), "{}", status.reason);
    assert!(status.reason.contains("; b status: "), "{}", status.reason);

    let error = h.handle(&json!({"command": "switchover"})).await.unwrap_err();
    assert!(error.to_string().contains("names its pair"), "{error}");
    let a = fleet.pair("a");
    let switched = h.handle(&json!({"command": "switchover", "pair": "a", "force": true})).await.unwrap();
    assert_eq!(switched.verdict, Verdict::Switchover, "{}", switched.reason);
    assert_eq!(holder(&ec2, &a.allocation_id).await.as_deref(), Some(a.standby.as_str()));
    let b = fleet.pair("b");
    assert_eq!(holder(&ec2, &b.allocation_id).await.as_deref(), Some(b.primary.as_str()));
    let unknown = h.handle(&json!({"command": "status", "pair": "nope"})).await.unwrap();
    assert_eq!(unknown.verdict, Verdict::Ignore, "{}", unknown.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_for_two_pairs_take_turns_and_both_converge() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &["a", "b"], true).await;
    let h = handler(&proxy, "fleet-turns", 10);
    let (a, b) = (fleet.pair("a").clone(), fleet.pair("b").clone());
    ec2.stop_instances().instance_ids(&a.primary).instance_ids(&b.primary).send().await.unwrap();
    let (ea, eb) = (state_change(&a.primary, "stopped"), state_change(&b.primary, "stopped"));
    // Each pair's event twice, all at once (EventBridge delivers at least once).
    let (ra, rb, ra2, rb2) = tokio::join!(h.handle(&ea), h.handle(&eb), h.handle(&ea), h.handle(&eb));
    let verdicts: Vec<Verdict> = [ra, rb, ra2, rb2].into_iter().map(|r| r.unwrap().verdict).collect();
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::FailOver).count(), 2, "{verdicts:?}");
    assert_eq!(holder(&ec2, &a.allocation_id).await.as_deref(), Some(a.standby.as_str()));
    assert_eq!(holder(&ec2, &b.allocation_id).await.as_deref(), Some(b.standby.as_str()));
    let moves = proxy.log().iter().filter(|r| r.action == "AssociateAddress").count();
    assert_eq!(moves, 2, "each pair moved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_reached_by_a_tagged_route_table_fails_over_and_is_paused_by_name() {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &[], true).await;
    let tags = |role: &'static str| {
        [("ec2-failover:pair", "nat"), ("ec2-failover:role", role), ("ec2-failover:route-destinations", "10.1.0.10/32")]
    };
    let primary = support::fleet::instance(&ec2, &fleet.subnets[0], &tags("primary")).await;
    let standby = support::fleet::instance(&ec2, &fleet.subnets[1], &tags("standby")).await;
    let eni = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2.describe_instances().instance_ids(&id).send().await.unwrap();
            out.reservations()[0].instances()[0].network_interfaces()[0].network_interface_id().unwrap().to_owned()
        }
    };
    let (primary_eni, standby_eni) = (eni(primary.clone()).await, eni(standby.clone()).await);
    let subnet = ec2.describe_subnets().subnet_ids(&fleet.subnets[0]).send().await.unwrap();
    let vpc = subnet.subnets()[0].vpc_id().unwrap().to_owned();
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::RouteTable)
        .tags(Tag::builder().key("ec2-failover:pair").value("nat").build())
        .build();
    let table = ec2.create_route_table().vpc_id(&vpc).tag_specifications(spec).send().await.unwrap();
    let table = table.route_table().unwrap().route_table_id().unwrap().to_owned();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("10.1.0.10/32")
        .network_interface_id(&primary_eni)
        .send()
        .await
        .unwrap();
    let h = handler(&proxy, "fleet-routes", 10);
    let target = || {
        let ec2 = ec2.clone();
        let table = table.clone();
        async move {
            let out = ec2.describe_route_tables().route_table_ids(&table).send().await.unwrap();
            let route = out.route_tables()[0]
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("10.1.0.10/32"))
                .cloned();
            route.and_then(|r| r.network_interface_id().map(str::to_owned))
        }
    };

    ec2.stop_instances().instance_ids(&primary).send().await.unwrap();
    let moved = h
        .handle_for(&state_change(&primary, "stopped"), Some("arn:aws:lambda:us-east-1:123456789012:function:fleet"))
        .await
        .unwrap();
    assert_eq!(moved.verdict, Verdict::FailOver, "{}", moved.reason);
    assert_eq!(target().await.as_deref(), Some(standby_eni.as_str()));

    let paused = h.handle(&json!({"command": "pause", "pair": "nat", "reason": "maintenance"})).await.unwrap();
    assert_eq!(paused.verdict, Verdict::Pause, "{}", paused.reason);
    let resumed = h.handle(&json!({"command": "resume", "pair": "nat"})).await.unwrap();
    assert_eq!(resumed.verdict, Verdict::Resume, "{}", resumed.reason);
    // The reconcile, as deployed (it reads the alarms that invoke the function).
    let swept = h.handle_for(&reconcile(), Some("arn:aws:lambda:us-east-1:123456789012:function:fleet")).await.unwrap();
    assert!(swept.reason.contains("reconciled 1 pair(s)"), "{}", swept.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_primary_is_still_its_pair_s_and_the_pair_fails_over() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let fleet = Fleet::new(&ec2, &["a"], true).await;
    let h = handler(&proxy, "fleet-terminated", 10);
    let a = fleet.pair("a");
    ec2.terminate_instances().instance_ids(&a.primary).send().await.unwrap();
    let moved = h.handle(&state_change(&a.primary, "terminated")).await.unwrap();
    assert!(matches!(moved.verdict, Verdict::FailOver | Verdict::Heal), "{:?}: {}", moved.verdict, moved.reason);
    assert_eq!(holder(&ec2, &a.allocation_id).await.as_deref(), Some(a.standby.as_str()));
    let swept = h.handle(&reconcile()).await.unwrap();
    assert!(!swept.reason.contains("left alone"), "{}", swept.reason);
}

/// A zone's loss handled by one reconcile, EC2 throttling the moves (its buckets at a fifth here:
/// AssociateAddress holds 10 tokens and refills 1 a second): the pairs EC2 throttled past the SDK's
/// retries are tried again after a pause, one at a time, within the budget: every pair moves in
/// the one pass, which succeeds, and no pair's line is a throttled failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_loss_under_ec2_throttling_moves_every_pair_in_one_reconcile() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let names: Vec<String> = (0..24).map(|i| format!("t{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let fleet = Fleet::new(&ec2, &names, true).await;
    let h = handler(&proxy, "fleet-throttled", 10);
    let primaries: Vec<String> = fleet.pairs.iter().map(|p| p.primary.clone()).collect();
    ec2.stop_instances().set_instance_ids(Some(primaries)).send().await.unwrap();
    proxy.configure(&json!({"ec2_throttle_scale": 0.2}));

    let swept = h.handle(&reconcile()).await.unwrap();
    assert_eq!(swept.verdict, Verdict::FailOver, "{}", swept.reason);
    for p in &fleet.pairs {
        assert_eq!(holder(&ec2, &p.allocation_id).await.as_deref(), Some(p.standby.as_str()), "{}", p.name);
    }
    let log = proxy.log();
    let throttled = log.iter().filter(|r| r.action == "AssociateAddress" && r.status == Some(503)).count();
    assert!(throttled > 0, "EC2 throttled nothing: the test proves nothing");
    let Some(FleetObserved::Fleet(seen)) = &swept.observed else { panic!("{:?}", swept.observed) };
    assert!(seen.pairs.iter().all(|p| p.verdict == Verdict::FailOver), "{:?}", seen.pairs);
}
