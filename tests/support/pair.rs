//! The pair's scene: a standby pair built in moto, the function's configuration and handler for
//! it, its events, and the facts a test asserts on, read straight from EC2.

use std::path::Path;

use aws_sdk_ec2::types::{Filter, InstanceStateName};
use aws_sdk_ec2::Client;
use ec2_failover::pair::{Config, Handler};
use serde_json::{json, Value};

use super::{Moto, Proxy, PAIR_FUNCTION};

/// The ids the files in `events/` use; tests swap in the real ones.
pub const EVENT_PRIMARY: &str = "i-0123456789abcdef0";
pub const EVENT_STANDBY: &str = "i-0fedcba9876543210";

/// A standby pair built in moto: two instances in two AZs and an Elastic IP on the primary.
pub struct Pair {
    pub primary: String,
    pub standby: String,
    pub allocation_id: String,
    /// The VPC of both instances (the template's `VpcId`).
    pub vpc_id: String,
    /// The customer-managed KMS keys of the instances' volumes (`EbsKmsKeyArns`); none here.
    pub ebs_kms_keys: Vec<String>,
    /// The instances' subnets, one per zone (the probe's `ServiceCheckSubnetIds`).
    pub subnets: Vec<String>,
}

/// A pair in moto behind the strict local EC2 (`scripts/ec2_proxy.py`): the servers and the pair,
/// deployed with its default configuration.
pub async fn local(standby_running: bool) -> (Moto, Proxy, Pair) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let p = pair(&moto.client(), standby_running).await;
    p.deploy(&proxy, &p.config());
    (moto, proxy, p)
}

/// The function's default configuration for a pair of these instances, with no endpoint yet.
pub fn pair_config(primary: &str, standby: &str) -> Config {
    Config::with_defaults(primary, standby)
}

/// Builds a pair: the primary running with the IP, the standby stopped (cold) or running (hot).
pub async fn pair(client: &Client, standby_running: bool) -> Pair {
    pair_with(client, standby_running, None).await
}

/// The same, the instances' root volumes encrypted with the customer-managed KMS key `ebs_key`
/// (deployed as `EbsKmsKeyArns`), if any.
pub async fn pair_with(client: &Client, standby_running: bool, ebs_key: Option<&str>) -> Pair {
    use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice};
    let vpc = client.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
        let s = client.create_subnet().vpc_id(&vpc_id).cidr_block(cidr).availability_zone(az).send().await.unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    let mut ids = Vec::new();
    for subnet in &subnets {
        let r = client
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .set_block_device_mappings(ebs_key.map(|key| {
                let ebs = EbsBlockDevice::builder().volume_size(8).encrypted(true).kms_key_id(key).build();
                vec![BlockDeviceMapping::builder().device_name("/dev/xvda").ebs(ebs).build()]
            }))
            .send()
            .await
            .unwrap();
        ids.push(r.instances()[0].instance_id().unwrap().to_owned());
    }
    let (primary, standby) = (ids[0].clone(), ids[1].clone());
    if !standby_running {
        client.stop_instances().instance_ids(&standby).send().await.unwrap();
    }
    let allocation_id = super::elastic_ip_on(client, &primary, &[]).await;
    let ebs_kms_keys = ebs_key.into_iter().map(str::to_owned).collect();
    Pair { primary, standby, allocation_id, vpc_id, ebs_kms_keys, subnets }
}

impl Pair {
    /// The function's configuration for this pair.
    pub fn config(&self) -> Config {
        Config { allocation_id: Some(self.allocation_id.clone()), ..pair_config(&self.primary, &self.standby) }
    }

    /// The function, in process, against the strict local EC2 (the proxy in front of moto),
    /// deployed with `config`.
    pub fn handler(&self, proxy: &Proxy, config: Config) -> Handler {
        self.deploy(proxy, &config);
        Handler::new(config, proxy.pair_clients("e2e"), false)
    }

    /// Registers template.yaml deployed for this pair with `config` as [`PAIR_FUNCTION`], the key
    /// [`Proxy::pair_clients`] signs with, for the IAM checker.
    pub fn deploy(&self, proxy: &Proxy, config: &Config) {
        let mut parameters = json!({
            "PrimaryInstanceId": config.primary,
            "StandbyInstanceId": config.standby,
            "ElasticIpAllocationId": config.allocation_id,
            "VpcId": self.vpc_id,
            "EbsKmsKeyArns": self.ebs_kms_keys.join(","),
            "FenceMode": config.fence_mode.to_string(),
            "CooldownSeconds": config.cooldown_seconds,
            "StandbyReady": config.standby_ready,
            "ExtraAlarmNames": config.alarm_names.join(","),
            "ZonalShift": config.zonal_shift,
            "StandbyInstanceTypes": config.standby_instance_types.join(","),
        });
        if let Some(monitoring) = config.monitoring {
            parameters["InstanceMonitoring"] = json!(monitoring);
        }
        if let Some(check) = &config.health {
            use ec2_failover::pair::config::Protocol;
            parameters["ServiceCheck"] = json!("probe");
            parameters["ServiceCheckProtocol"] = json!(check.protocol);
            parameters["ServiceCheckPort"] = json!(check.port);
            if check.protocol != Protocol::Tcp {
                parameters["ServiceCheckPath"] = json!(check.path);
            }
            parameters["ServiceCheckExpect"] = json!(format!("{}-{}", check.expect.0, check.expect.1));
            parameters["ServiceCheckThreshold"] = json!(check.threshold);
            parameters["ServiceCheckWindow"] = json!(check.window);
            parameters["ServiceCheckSubnetIds"] = json!(self.subnets.join(","));
            if let Some(host) = &check.host {
                parameters["ServiceCheckHostName"] = json!(host);
            }
        }
        proxy.deploy(PAIR_FUNCTION, "template.yaml", parameters, None);
    }

    /// Loads a file from `events/` with the example ids replaced by this pair's.
    pub fn event(&self, file: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(EVENT_PRIMARY, &self.primary)
            .replace(EVENT_STANDBY, &self.standby);
        serde_json::from_str(&text).unwrap()
    }
}

/// The facts a test asserts on, read straight from EC2.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Seen {
    /// The instance holding the IP (resolved through its network interface), if any.
    pub holder: Option<String>,
    pub primary: String,
    pub standby: String,
    /// The failover record tags on the address, sorted.
    pub tags: Vec<(String, String)>,
}

pub async fn look(client: &Client, pair: &Pair) -> Seen {
    let out = client
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(&pair.primary).values(&pair.standby).build())
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = out.reservations().iter().flat_map(|r| r.instances()).cloned().collect();
    let state = |id: &str| {
        instances
            .iter()
            .find(|i| i.instance_id() == Some(id))
            .and_then(|i| i.state()?.name().map(InstanceStateName::as_str))
            .unwrap_or("gone")
            .to_owned()
    };
    let address = client.describe_addresses().allocation_ids(&pair.allocation_id).send().await.unwrap();
    let address = &address.addresses()[0];
    let holder = address.network_interface_id().filter(|e| !e.is_empty()).and_then(|eni| {
        instances
            .iter()
            .find(|i| i.network_interfaces().iter().any(|n| n.network_interface_id() == Some(eni)))
            .and_then(|i| i.instance_id())
            .map(str::to_owned)
    });
    let mut tags: Vec<(String, String)> = address
        .tags()
        .iter()
        .filter(|t| t.key().is_some_and(|k| k.starts_with("ec2-failover:")))
        .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect();
    tags.sort();
    Seen { holder, primary: state(&pair.primary), standby: state(&pair.standby), tags }
}

/// Creates an alarm about `instance` in the local CloudWatch (through the proxy's bridge), whose
/// action invokes the function, and puts it in `state`: CloudWatch is what the function believes.
pub async fn alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
    instance: &str,
    state: aws_sdk_cloudwatch::types::StateValue,
) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .dimensions(Dimension::builder().name("InstanceId").value(instance).build())
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions("arn:aws:lambda:us-east-1:123456789012:function:ec2-failover")
        .send()
        .await
        .unwrap();
    cloudwatch.set_alarm_state().alarm_name(name).state_value(state).state_reason("test").send().await.unwrap();
}
