//! A fleet's scene: standby pairs declared by tags in one VPC (the primaries in us-east-1a, the
//! standbys in us-east-1b), each with its tagged Elastic IP, and the fleet function deployed for
//! them (template-fleet.yaml, signed as [`super::FLEET_FUNCTION`]).

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use ec2_failover::fleet::{Config, Handler};
use serde_json::{json, Value};

use super::{Moto, Proxy, FLEET_FUNCTION};

/// One pair of the fleet.
#[derive(Clone, Debug)]
pub struct FleetPair {
    pub name: String,
    pub primary: String,
    pub standby: String,
    pub allocation_id: String,
}

/// The fleet's pairs and their subnets (us-east-1a, us-east-1b).
pub struct Fleet {
    pub pairs: Vec<FleetPair>,
    pub subnets: Vec<String>,
}

pub fn start() -> (Moto, Proxy) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    (moto, proxy)
}

impl Fleet {
    /// Pairs named `names`, standbys running (hot) or stopped (cold).
    pub async fn new(client: &Client, names: &[&str], standby_running: bool) -> Fleet {
        let vpc = client.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
        let mut subnets = Vec::new();
        for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
            let s = client.create_subnet().vpc_id(&vpc_id).cidr_block(cidr).availability_zone(az).send().await.unwrap();
            subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_owned());
        }
        let mut fleet = Fleet { pairs: Vec::new(), subnets };
        for name in names {
            let pair = fleet.add(client, name, standby_running).await;
            fleet.pairs.push(pair);
        }
        fleet
    }

    /// A pair named `name`, tagged.
    pub async fn add(&self, client: &Client, name: &str, standby_running: bool) -> FleetPair {
        let primary =
            instance(client, &self.subnets[0], &[("ec2-failover:pair", name), ("ec2-failover:role", "primary")]).await;
        let standby =
            instance(client, &self.subnets[1], &[("ec2-failover:pair", name), ("ec2-failover:role", "standby")]).await;
        if !standby_running {
            client.stop_instances().instance_ids(&standby).send().await.unwrap();
        }
        let allocation_id = super::elastic_ip_on(client, &primary, &[("ec2-failover:pair", name)]).await;
        FleetPair { name: (*name).to_owned(), primary, standby, allocation_id }
    }

    /// The pair named `name`.
    pub fn pair(&self, name: &str) -> &FleetPair {
        self.pairs.iter().find(|p| p.name == name).expect("a pair of the fleet")
    }
}

/// A running instance in `subnet` with `tags`.
pub async fn instance(client: &Client, subnet: &str, tags: &[(&str, &str)]) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (key, value) in tags {
        spec = spec.tags(Tag::builder().key(*key).value(*value).build());
    }
    let r = client
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    r.instances()[0].instance_id().unwrap().to_owned()
}

/// The fleet function in process, against the strict local EC2, deployed (for the IAM checker)
/// with template-fleet.yaml's defaults and `max_parallel` failovers at once.
pub fn handler(proxy: &Proxy, partition: &str, max_parallel: usize) -> Handler {
    proxy.deploy(FLEET_FUNCTION, "template-fleet.yaml", json!({"MaxParallelFailovers": max_parallel}), None);
    let config = Config { settings: Vec::new(), max_parallel_failovers: max_parallel, groups: None };
    Handler::new(config, proxy.fleet_clients(partition), false)
}

/// The fleet function serving groups too (template-fleet.yaml's `ServeGroups`, its default, with
/// `KeepData` as `keep_data`): group mode's handler inside the fleet's, its clients signed as the
/// fleet's.
pub fn handler_with_groups(proxy: &Proxy, partition: &str, keep_data: bool) -> Handler {
    proxy.deploy(FLEET_FUNCTION, "template-fleet.yaml", json!({"KeepData": keep_data.to_string()}), None);
    let groups = ec2_failover::group::Config { keep_data, ..Default::default() };
    let clients = ec2_failover::group::Clients {
        ec2: proxy.function_client_as(partition, FLEET_FUNCTION),
        autoscaling: super::group::function_autoscaling(&proxy.endpoint, partition, FLEET_FUNCTION),
    };
    let group_handler = ec2_failover::group::Handler::new(groups, clients, false);
    let config = Config { settings: Vec::new(), max_parallel_failovers: 10, groups: None };
    Handler::new(config, proxy.fleet_clients(partition), false).serving_groups(Some(group_handler))
}

/// Who holds an Elastic IP now, as EC2 says (through its network interface: moto names no
/// instance for an association made through one).
pub async fn holder(client: &Client, allocation_id: &str) -> Option<String> {
    let out = client.describe_addresses().allocation_ids(allocation_id).send().await.unwrap();
    let address = &out.addresses()[0];
    if let Some(id) = address.instance_id().filter(|i| !i.is_empty()) {
        return Some(id.to_owned());
    }
    let eni = address.network_interface_id().filter(|e| !e.is_empty())?;
    let out = client.describe_network_interfaces().network_interface_ids(eni).send().await.unwrap();
    out.network_interfaces()[0].attachment()?.instance_id().map(str::to_owned)
}

/// An EC2 state-change event for `instance`.
pub fn state_change(instance: &str, state: &str) -> Value {
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-12-07T12:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{instance}")],
        "detail": {"instance-id": instance, "state": state}
    })
}

/// The schedule's event.
pub fn reconcile() -> Value {
    json!({
        "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-07T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ec2-failover-reconcile"], "detail": {}
    })
}
