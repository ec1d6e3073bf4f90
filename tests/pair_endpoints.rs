//! Private endpoints end to end: route-table entries and secondary private IPs follow the active
//! instance, with or without an Elastic IP, against the strict local EC2 (which honours
//! AssignPrivateIpAddresses' AllowReassignment and filters interfaces by any of their addresses, as
//! EC2 does and moto does not).

mod support;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use aws_sdk_ec2::Client;
use ec2_failover::decision::Verdict;
use ec2_failover::pair::{Config, Handler, Route};
use serde_json::json;
use support::{Moto, Proxy, PAIR_FUNCTION};

/// A pair in one subnet (a secondary private IP stays in its subnet), both running, their
/// source/destination checks off (a route to an instance needs it), and two route tables: the
/// first routes `DESTINATION` to the primary's interface, the second has no such route yet.
struct Scene {
    primary: String,
    standby: String,
    eni: [String; 2],
    vpc: String,
    subnet: String,
    tables: [String; 2],
}

const DESTINATION: &str = "10.1.0.10/32";
const PRIVATE_IP: &str = "10.0.1.200";

async fn scene(ec2: &Client) -> Scene {
    let vpc =
        ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc().unwrap().vpc_id().unwrap().to_owned();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .send()
            .await
            .unwrap();
        let id = r.instances()[0].instance_id().unwrap().to_owned();
        let off = AttributeBooleanValue::builder().value(false).build();
        ec2.modify_instance_attribute().instance_id(&id).source_dest_check(off).send().await.unwrap();
        ids.push(id);
    }
    let described = ec2.describe_instances().instance_ids(&ids[0]).instance_ids(&ids[1]).send().await.unwrap();
    let eni_of = |id: &str| {
        described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id))
            .and_then(|i| i.network_interfaces().first())
            .and_then(|n| n.network_interface_id())
            .unwrap()
            .to_owned()
    };
    let eni = [eni_of(&ids[0]), eni_of(&ids[1])];
    let mut tables = Vec::new();
    for _ in 0..2 {
        let t = ec2.create_route_table().vpc_id(&vpc).send().await.unwrap();
        tables.push(t.route_table().unwrap().route_table_id().unwrap().to_owned());
    }
    ec2.create_route()
        .route_table_id(&tables[0])
        .destination_cidr_block(DESTINATION)
        .network_interface_id(&eni[0])
        .send()
        .await
        .unwrap();
    ec2.assign_private_ip_addresses()
        .network_interface_id(&eni[0])
        .private_ip_addresses(PRIVATE_IP)
        .send()
        .await
        .unwrap();
    let [primary, standby] = [ids[0].clone(), ids[1].clone()];
    Scene { primary, standby, eni, vpc, subnet, tables: [tables[0].clone(), tables[1].clone()] }
}

impl Scene {
    fn config(&self, allocation_id: Option<String>) -> Config {
        let mut config = support::pair_config(&self.primary, &self.standby);
        config.allocation_id = allocation_id;
        config.routes =
            self.tables.iter().map(|t| Route { table: t.clone(), destination: DESTINATION.into() }).collect();
        config.private_ips = vec![PRIVATE_IP.into()];
        config
    }

    /// The function through the proxy, registered for the IAM checker as template.yaml deployed
    /// with these endpoints.
    fn handler(&self, proxy: &Proxy, config: Config) -> Handler {
        let parameters = json!({
            "PrimaryInstanceId": self.primary,
            "StandbyInstanceId": self.standby,
            "ElasticIpAllocationId": config.allocation_id.clone().unwrap_or_default(),
            "RouteTableIds": self.tables.join(","),
            "RouteDestinations": DESTINATION,
            "PrivateIps": PRIVATE_IP,
            "VpcId": self.vpc,
        });
        proxy.deploy(PAIR_FUNCTION, "template.yaml", parameters, None);
        Handler::new(config, proxy.pair_clients("private"), false)
    }

    /// Where each route points (its interface), table by table; None: no such route.
    async fn routes(&self, ec2: &Client) -> Vec<Option<String>> {
        let out = ec2
            .describe_route_tables()
            .route_table_ids(&self.tables[0])
            .route_table_ids(&self.tables[1])
            .send()
            .await
            .unwrap();
        self.tables
            .iter()
            .map(|t| {
                let table = out.route_tables().iter().find(|r| r.route_table_id() == Some(t.as_str())).unwrap();
                let route = table.routes().iter().find(|r| r.destination_cidr_block() == Some(DESTINATION))?;
                route.network_interface_id().map(str::to_owned)
            })
            .collect()
    }

    /// The interfaces that hold the private IP (through the strict EC2, which filters as EC2 does).
    async fn holders(&self, proxy_ec2: &Client) -> Vec<String> {
        let filter = Filter::builder().name("addresses.private-ip-address").values(PRIVATE_IP).build();
        let out = proxy_ec2.describe_network_interfaces().filters(filter).send().await.unwrap();
        out.network_interfaces().iter().filter_map(|n| n.network_interface_id()).map(str::to_owned).collect()
    }

    /// The second table's route too, to the primary's interface.
    async fn second_route_on_the_primary(&self, ec2: &Client) {
        ec2.create_route()
            .route_table_id(&self.tables[1])
            .destination_cidr_block(DESTINATION)
            .network_interface_id(&self.eni[0])
            .send()
            .await
            .unwrap();
    }

    /// An Elastic IP on the primary, and both routes: every endpoint in place before a failure.
    /// Returns the Elastic IP's allocation id.
    async fn every_endpoint_on_the_primary(&self, ec2: &Client) -> String {
        let alloc = ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap();
        let alloc = alloc.allocation_id().unwrap().to_owned();
        ec2.associate_address().allocation_id(&alloc).instance_id(&self.primary).send().await.unwrap();
        self.second_route_on_the_primary(ec2).await;
        alloc
    }

    async fn tags_of_first_table(&self, ec2: &Client) -> Vec<(String, String)> {
        let out = ec2.describe_route_tables().route_table_ids(&self.tables[0]).send().await.unwrap();
        let mut tags: Vec<(String, String)> = out.route_tables()[0]
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect();
        tags.sort();
        tags
    }
}

fn start() -> (Moto, Proxy) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    (moto, proxy)
}

fn event(file: &str, primary: &str, standby: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text.replace("i-0123456789abcdef0", primary).replace("i-0fedcba9876543210", standby);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_elastic_ip_the_routes_and_the_private_ip_follow_the_active_instance() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let through = Moto::client_at(&proxy.endpoint);
    let s = scene(&ec2).await;
    let handler = s.handler(&proxy, s.config(None));

    // At rest the first route decides who is active; the second table's missing route and the
    // private IP already on the primary: the reconcile creates the missing route, and says so.
    let calm = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(calm.verdict, Verdict::Heal, "{}", calm.reason);
    assert!(
        calm.reason.contains(&format!("the route to {DESTINATION} in {} points at nothing", s.tables[1])),
        "{}",
        calm.reason
    );
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[0].clone()), Some(s.eni[0].clone())]);

    // The primary stops: every endpoint moves to the standby at once; the record is on the first table.
    ec2.stop_instances().instance_ids(&s.primary).send().await.unwrap();
    let over = handler.handle(&event("ec2-state-change-primary-stopped.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())]);
    assert_eq!(s.holders(&through).await, [s.eni[1].clone()], "the private IP left the primary's interface");
    let tags = s.tags_of_first_table(&ec2).await;
    assert!(tags.contains(&("ec2-failover:to".into(), s.standby.clone())), "{tags:?}");

    // A minute later (past the window in which a fresh record is believed over reads that
    // disagree: EC2's reads are eventually consistent) a hand points the second route back at the
    // old primary: the reconcile repairs that drift.
    let a_minute_ago = aws_sdk_ec2::primitives::DateTime::from_secs(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 60,
    )
    .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
    .unwrap();
    ec2.create_tags()
        .resources(&s.tables[0])
        .tags(aws_sdk_ec2::types::Tag::builder().key("ec2-failover:at").value(a_minute_ago).build())
        .send()
        .await
        .unwrap();
    ec2.replace_route()
        .route_table_id(&s.tables[1])
        .destination_cidr_block(DESTINATION)
        .network_interface_id(&s.eni[0])
        .send()
        .await
        .unwrap();
    let repaired = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(repaired.verdict, Verdict::Heal, "{}", repaired.reason);
    assert!(repaired.reason.contains(&format!("points at {}", s.primary)), "{}", repaired.reason);
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())]);
    // Converged: the next reconcile changes nothing.
    let still = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(still.verdict, Verdict::NoChange, "{}", still.reason);

    // Without an Elastic IP an operator's pause lives on the first route table too.
    let pause = handler.handle(&json!({"command": "pause", "reason": "resize"})).await.unwrap();
    assert_eq!(pause.verdict, Verdict::Pause, "{}", pause.reason);
    assert!(s.tags_of_first_table(&ec2).await.contains(&("ec2-failover:paused".into(), "resize".into())));
    let resume = handler.handle(&json!({"command": "resume"})).await.unwrap();
    assert_eq!(resume.verdict, Verdict::Resume, "{}", resume.reason);
    assert!(!s.tags_of_first_table(&ec2).await.iter().any(|(k, _)| k == "ec2-failover:paused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_is_never_pointed_at_an_instance_whose_source_destination_check_is_on() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let s = scene(&ec2).await;
    s.second_route_on_the_primary(&ec2).await;
    let on = AttributeBooleanValue::builder().value(true).build();
    ec2.modify_instance_attribute().instance_id(&s.standby).source_dest_check(on).send().await.unwrap();
    let handler = s.handler(&proxy, s.config(None));
    // A planned move from a primary that serves is refused, the instance named; nothing moves.
    let error = handler.handle(&json!({"command": "switchover"})).await.unwrap_err();
    assert!(error.to_string().contains("source/destination check is on"), "{error}");
    assert!(error.to_string().contains(&s.standby), "the instance is named: {error}");
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[0].clone()), Some(s.eni[0].clone())]);
    // Away from a dead primary the routes carry nothing either way: everything moves, loudly.
    ec2.stop_instances().instance_ids(&s.primary).send().await.unwrap();
    let over = handler.handle(&event("ec2-state-change-primary-stopped.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("WARNING"), "{}", over.reason);
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_elastic_ip_every_endpoint_moves_in_the_same_round_trip() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let through = Moto::client_at(&proxy.endpoint);
    let s = scene(&ec2).await;
    let alloc = s.every_endpoint_on_the_primary(&ec2).await;
    let handler = s.handler(&proxy, s.config(Some(alloc.clone())));
    ec2.stop_instances().instance_ids(&s.primary).send().await.unwrap();
    // Each request a second long, as if EC2 were far away: requests made at once overlap whatever
    // the machine's load, and requests made one after the other do not.
    proxy.configure(&json!({"latency_ms": 1000}));
    let over = handler.handle(&event("ec2-state-change-primary-stopped.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    let log = proxy.log();
    proxy.configure(&json!({}));
    let address = ec2.describe_addresses().allocation_ids(&alloc).send().await.unwrap();
    assert_eq!(address.addresses()[0].network_interface_id(), Some(s.eni[1].as_str()));
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())]);
    assert_eq!(s.holders(&through).await, [s.eni[1].clone()]);
    // One read round, then every move at once: 2 sequential round trips, as with the IP alone.
    let read = |r: &&support::Request| r.action.starts_with("Describe") || r.action.starts_with("List");
    let reads: Vec<_> = log.iter().filter(read).collect();
    let writes: Vec<_> = log.iter().filter(|r| !read(r)).collect();
    let last_read = reads.iter().map(|r| r.end).fold(f64::MIN, f64::max);
    assert!(writes.iter().all(|w| w.start >= last_read), "every move after the read");
    let first_write_end = writes.iter().map(|w| w.end).fold(f64::MAX, f64::min);
    assert!(writes.iter().all(|w| w.start < first_write_end), "the moves at once: {writes:?}");
    let _ = s.subnet;
}

/// Faults on a share of the requests (throttling, unavailability, answers lost after the change
/// was made): a failover may move some endpoints and not others. The reconciles that follow, on a
/// healthy EC2, converge every endpoint onto the instance the Elastic IP is on, each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_left_partial_by_faults_converges_on_the_next_reconciles() {
    let mut partial = 0;
    for trial in 0..8 {
        let (moto, proxy) = start();
        let ec2 = moto.client();
        let through = Moto::client_at(&proxy.endpoint);
        let s = scene(&ec2).await;
        let alloc = s.every_endpoint_on_the_primary(&ec2).await;
        let handler = s.handler(&proxy, s.config(Some(alloc.clone())));
        ec2.stop_instances().instance_ids(&s.primary).send().await.unwrap();
        proxy
            .configure(&json!({"fault_rate": 0.5, "seed": trial, "faults": ["throttle", "unavailable", "drop-after"]}));
        let first = handler.handle(&event("ec2-state-change-primary-stopped.json", &s.primary, &s.standby)).await;
        proxy.configure(&json!({}));
        let routes = s.routes(&ec2).await;
        if first.is_err() || routes.iter().any(|r| r.as_deref() != Some(s.eni[1].as_str())) {
            partial += 1;
        }
        // The reconcile converges; twice at most (one to finish the failover, one to repair).
        let mut last = None;
        for _ in 0..3 {
            let outcome = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
            last = Some(outcome.verdict);
            if outcome.verdict == Verdict::NoChange {
                break;
            }
        }
        assert_eq!(last, Some(Verdict::NoChange), "trial {trial}: not converged");
        let address = ec2.describe_addresses().allocation_ids(&alloc).send().await.unwrap();
        assert_eq!(address.addresses()[0].network_interface_id(), Some(s.eni[1].as_str()), "trial {trial}");
        assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())], "trial {trial}");
        assert_eq!(s.holders(&through).await, [s.eni[1].clone()], "trial {trial}");
    }
    // The faults did leave some failovers partial: the convergence above was tested, not assumed.
    assert!(partial > 0, "no trial was left partial");
}

/// EC2's reads are eventually consistent: right after a switchover (both instances still running,
/// FENCE_MODE=none), the Elastic IP may still read as associated with the old instance while the
/// routes read as moved. The record, fresh, says where the endpoints went: no reconcile within the
/// window points the routes back at the old instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_right_after_a_move_points_nothing_back() {
    use ec2_failover::pair::FenceMode;
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let s = scene(&ec2).await;
    let alloc = s.every_endpoint_on_the_primary(&ec2).await;
    ec2.start_instances().instance_ids(&s.standby).send().await.ok();
    proxy.settle(&[]);
    let handler = s.handler(&proxy, Config { fence_mode: FenceMode::None, ..s.config(Some(alloc.clone())) });
    proxy.configure(&json!({"stale_read_seconds": 20}));
    let moved = handler.handle(&json!({"command": "switchover"})).await.unwrap();
    assert_eq!(moved.verdict, Verdict::Switchover, "{}", moved.reason);
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())]);
    // Through the proxy the address still reads as on the primary.
    let through = Moto::client_at(&proxy.endpoint);
    let read = through.describe_addresses().allocation_ids(&alloc).send().await.unwrap();
    assert_eq!(read.addresses()[0].network_interface_id(), Some(s.eni[0].as_str()), "the read is stale");
    let reconcile = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
    assert_ne!(reconcile.verdict, Verdict::Heal, "{}", reconcile.reason);
    assert_eq!(s.routes(&ec2).await, [Some(s.eni[1].clone()), Some(s.eni[1].clone())], "{}", reconcile.reason);
    let pointed = proxy.log().iter().filter(|r| matches!(r.action.as_str(), "ReplaceRoute" | "CreateRoute")).count();
    assert_eq!(pointed, 2, "only the switchover's two routes were written");
}

/// An IPv6 destination moves like an IPv4 one: ReplaceRoute by DestinationIpv6CidrBlock, read
/// back from the route table as EC2 lists it. (A managed prefix list's route moves the same way,
/// but moto 5.2.5 lists it without its DestinationPrefixListId, so it is tested by the unit tests
/// of the request only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_route_follows_the_active_instance() {
    let (moto, proxy) = start();
    let ec2 = moto.client();
    let s = scene(&ec2).await;
    let (v6, table) = ("2001:db8:1::/64", s.tables[0].clone());
    ec2.create_route()
        .route_table_id(&table)
        .destination_ipv6_cidr_block(v6)
        .network_interface_id(&s.eni[0])
        .send()
        .await
        .unwrap();
    let mut config = s.config(None);
    config.routes = vec![Route { table: table.clone(), destination: v6.into() }];
    config.private_ips = Vec::new();
    let parameters = json!({"PrimaryInstanceId": s.primary, "StandbyInstanceId": s.standby, "RouteTableIds": table,
                            "RouteDestinations": v6, "VpcId": s.vpc});
    proxy.deploy(PAIR_FUNCTION, "template.yaml", parameters, None);
    let handler = Handler::new(config, proxy.pair_clients("e2e"), false);
    ec2.stop_instances().instance_ids(&s.primary).send().await.unwrap();
    let over = handler.handle(&event("ec2-state-change-primary-stopped.json", &s.primary, &s.standby)).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    let routes = ec2.describe_route_tables().route_table_ids(&table).send().await.unwrap();
    let target = routes.route_tables()[0]
        .routes()
        .iter()
        .find(|r| r.destination_ipv6_cidr_block() == Some(v6))
        .and_then(|r| r.network_interface_id().map(str::to_owned));
    assert_eq!(target.as_deref(), Some(s.eni[1].as_str()));
    // Converged: the next reconcile reads it where it is and changes nothing.
    let still = handler.handle(&event("scheduled-reconcile.json", &s.primary, &s.standby)).await.unwrap();
    assert_ne!(still.verdict, Verdict::Heal, "{}", still.reason);
    let writes = proxy.log().iter().filter(|r| matches!(r.action.as_str(), "ReplaceRoute" | "CreateRoute")).count();
    assert_eq!(writes, 1);
}
