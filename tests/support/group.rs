//! Group mode's end-to-end scene: a single-instance Auto Scaling group in moto over two AZs, its
//! tagged Elastic IP, hooks and data volume, the function's clients through the proxy, and the
//! lifecycle events AWS would send.

use aws_sdk_autoscaling::types::Tag as AsgTag;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use ec2_failover::group::{Clients, Config, Handler};
use ec2_failover::tags::GROUP as GROUP_TAG;
use serde_json::{json, Value};

use super::{Moto, Proxy};

/// The function's Auto Scaling client through the proxy, signed with `access_key` (the deployment
/// it stands for): the production retry policy with short backoff, as for EC2 (see
/// `Proxy::function_client`).
pub fn function_autoscaling(endpoint: &str, partition: &str, access_key: &str) -> aws_sdk_autoscaling::Client {
    use aws_sdk_autoscaling::config::retry::RetryPartition;
    use aws_sdk_autoscaling::config::{BehaviorVersion, Region};
    let config = aws_sdk_autoscaling::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(super::credentials(access_key))
        .retry_config(ec2_failover::aws::retry_config().with_initial_backoff(std::time::Duration::from_millis(2)))
        .retry_partition(RetryPartition::new(format!("{partition}-autoscaling")))
        .timeout_config(ec2_failover::aws::timeout_config())
        .build();
    aws_sdk_autoscaling::Client::from_conf(config)
}

pub fn autoscaling(endpoint: &str) -> aws_sdk_autoscaling::Client {
    use aws_sdk_autoscaling::config::{BehaviorVersion, Region};
    let config = aws_sdk_autoscaling::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(super::credentials(super::SETUP))
        .build();
    aws_sdk_autoscaling::Client::from_conf(config)
}

/// A single-instance group in moto, over two subnets in two AZs, and its tagged Elastic IP on the
/// instance it launched.
pub struct Scene {
    pub proxy: String,
    pub ec2: aws_sdk_ec2::Client,
    pub asg: aws_sdk_autoscaling::Client,
    pub subnets: Vec<String>,
    /// The group's VPC (the template's `VpcId`).
    pub vpc: String,
    pub allocation_id: String,
    pub first: String,
    /// The group's launch template (the template's `LaunchTemplateId`).
    pub launch_template: String,
    /// The customer-managed KMS key of the group's data (`DataKmsKeyId`); none here.
    pub data_key: Option<String>,
}

pub fn start() -> (Moto, Proxy) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    (moto, proxy)
}

pub const GROUP: &str = "web-asg";
pub const KEY: &str = "web";

impl Scene {
    pub async fn new(moto: &Moto, proxy: &Proxy, tag_group: bool) -> Scene {
        let ec2 = moto.client();
        let asg = autoscaling(&moto.endpoint);
        let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
        let mut subnets = Vec::new();
        for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
            let s = ec2.create_subnet().vpc_id(&vpc_id).cidr_block(cidr).availability_zone(az).send().await.unwrap();
            subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_owned());
        }
        let template_id = super::launch_template(&ec2, "web").await;
        let launch_template = template_id.clone();
        let mut create = asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(GROUP)
            .min_size(1)
            .max_size(1)
            .desired_capacity(1)
            .vpc_zone_identifier(&subnets[0])
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(template_id)
                    .build(),
            );
        if tag_group {
            create = create.tags(AsgTag::builder().key(GROUP_TAG).value(KEY).build());
        }
        create.send().await.unwrap();
        let first = Self::instances(&asg).await.remove(0);
        let allocation_id = super::elastic_ip_on(&ec2, &first, &[(GROUP_TAG, KEY)]).await;
        Scene {
            proxy: proxy.endpoint.clone(),
            ec2,
            asg,
            subnets,
            vpc: vpc_id,
            allocation_id,
            first,
            launch_template,
            data_key: None,
        }
    }

    pub async fn instances(asg: &aws_sdk_autoscaling::Client) -> Vec<String> {
        let out = asg.describe_auto_scaling_groups().auto_scaling_group_names(GROUP).send().await.unwrap();
        out.auto_scaling_groups()[0].instances().iter().filter_map(|i| i.instance_id()).map(str::to_owned).collect()
    }

    /// The group replaces its instance in the other AZ; returns the new instance.
    pub async fn replace_into_the_other_az(&self) -> String {
        self.replace(&self.first, 1).await
    }

    /// The group replaces `old` with an instance in subnet `subnet` (0: us-east-1a, 1: us-east-1b).
    pub async fn replace(&self, old: &str, subnet: usize) -> String {
        self.asg
            .update_auto_scaling_group()
            .auto_scaling_group_name(GROUP)
            .vpc_zone_identifier(&self.subnets[subnet])
            .send()
            .await
            .unwrap();
        self.asg
            .terminate_instance_in_auto_scaling_group()
            .instance_id(old)
            .should_decrement_desired_capacity(false)
            .send()
            .await
            .unwrap();
        let now = Self::instances(&self.asg).await;
        let new: Vec<String> = now.into_iter().filter(|i| i != old).collect();
        assert_eq!(new.len(), 1, "moto launched no replacement");
        new[0].clone()
    }

    /// The function through the proxy, with retry quotas of its own (a fresh environment).
    pub fn handler(&self, proxy: &Proxy) -> Handler {
        self.handler_with(proxy, Config::default())
    }

    /// The same, with other settings. Its clients sign as the deployment `config` stands for
    /// (with or without data), which this registers for the IAM checker.
    pub fn handler_with(&self, proxy: &Proxy, config: Config) -> Handler {
        let partition = format!("group-{}", self.first);
        let access_key = self.deploy(proxy, &config);
        let clients = Clients {
            ec2: proxy.function_client_as(&partition, access_key),
            autoscaling: function_autoscaling(&self.proxy, &partition, access_key),
        };
        Handler::new(config, clients, false)
    }

    /// Registers template-group.yaml deployed for this group with `config` (its stack named after
    /// the group, as the template names the group) and returns the access key it signs with:
    /// [`super::GROUP_DATA_FUNCTION`] with `keep_data`, else [`super::GROUP_FUNCTION`].
    pub fn deploy(&self, proxy: &Proxy, config: &Config) -> &'static str {
        let access_key = if config.keep_data { super::GROUP_DATA_FUNCTION } else { super::GROUP_FUNCTION };
        let parameters = json!({
            "LaunchTemplateId": self.launch_template,
            "SubnetIds": self.subnets.join(","),
            "VpcId": self.vpc,
            "GroupKey": config.key.as_deref().unwrap_or(KEY),
            "KeepData": config.keep_data.to_string(),
            "KeepSnapshots": config.keep_snapshots,
            "MaxWaitSeconds": config.max_wait_seconds,
            "DataKmsKeyId": self.data_key.as_deref().unwrap_or_default(),
        });
        proxy.deploy(access_key, "template-group.yaml", parameters, Some(GROUP));
        access_key
    }

    pub fn launch_event(&self, instance_id: &str) -> Value {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/asg-launch-lifecycle-action.json"))
                .unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        event["detail"]["AutoScalingGroupName"] = json!(GROUP);
        event["detail"]["EC2InstanceId"] = json!(instance_id);
        self.held_for(&event, "launching");
        event
    }

    /// Auto Scaling sends a lifecycle event while its hook holds the instance: the proxy shows it
    /// in Pending:Wait or Terminating:Wait until the action is completed.
    fn held_for(&self, event: &Value, transition: &str) {
        let hold = json!({
            "group": GROUP,
            "hook": event["detail"]["LifecycleHookName"],
            "instance": event["detail"]["EC2InstanceId"],
            "transition": transition,
        });
        let (status, body) = super::http(&self.proxy, "POST", "/_proxy/hold", &hold.to_string());
        assert_eq!(status, 200, "proxy hold: {body}");
    }

    /// The instance holding the Elastic IP (through its network interface), and its AZ.
    pub async fn holder(&self) -> Option<(String, String)> {
        let address = self.ec2.describe_addresses().allocation_ids(&self.allocation_id).send().await.unwrap();
        let eni = address.addresses()[0].network_interface_id()?.to_owned();
        // moto has no network-interface filter; the scene holds a handful of instances.
        let out = self.ec2.describe_instances().send().await.unwrap();
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.network_interfaces().iter().any(|n| n.network_interface_id() == Some(eni.as_str())))?;
        Some((instance.instance_id()?.to_owned(), instance.placement()?.availability_zone()?.to_owned()))
    }

    pub fn completions(&self) -> Vec<Value> {
        let (status, body) = super::http(&self.proxy, "GET", "/_proxy/lifecycle", "");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

pub const LAUNCH_HOOK: &str = "ec2-failover-launch";
pub const TERMINATE_HOOK: &str = "ec2-failover-terminate";

/// An `events/` file as EventBridge would deliver it now: its `time` is the present, as on AWS
/// (an EBS notification older than the last sweep is one the sweep has seen already).
pub fn event_file(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if event.get("time").is_some() {
        let now = aws_sdk_ec2::primitives::DateTime::from(std::time::SystemTime::now());
        event["time"] = json!(now.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime).unwrap());
    }
    event
}

impl Scene {
    /// The group's two hooks, as the template creates them (moto keeps them; it never runs them).
    pub async fn hooks(&self) {
        for (name, transition) in [
            (LAUNCH_HOOK, "autoscaling:EC2_INSTANCE_LAUNCHING"),
            (TERMINATE_HOOK, "autoscaling:EC2_INSTANCE_TERMINATING"),
        ] {
            self.asg
                .put_lifecycle_hook()
                .auto_scaling_group_name(GROUP)
                .lifecycle_hook_name(name)
                .lifecycle_transition(transition)
                .heartbeat_timeout(300)
                .send()
                .await
                .unwrap();
        }
    }

    /// The group's data volume in us-east-1a, tagged for the group, attached to the first instance.
    pub async fn data_volume(&self) -> String {
        use aws_sdk_ec2::types::VolumeType;
        let data = self
            .ec2
            .create_volume()
            .availability_zone("us-east-1a")
            .size(8)
            .volume_type(VolumeType::Gp3)
            .iops(4000)
            .throughput(250)
            .set_encrypted(self.data_key.as_ref().map(|_| true))
            .set_kms_key_id(self.data_key.clone())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .tags(Tag::builder().key(GROUP_TAG).value(KEY).build())
                    .tags(Tag::builder().key("ec2-failover:device").value("/dev/xvdf").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let data = data.volume_id().unwrap().to_owned();
        self.ec2.attach_volume().volume_id(&data).instance_id(&self.first).device("/dev/xvdf").send().await.unwrap();
        data
    }

    /// The group's volumes attached to an instance (not its root volume).
    pub async fn volumes_on(&self, instance: &str) -> Vec<String> {
        use aws_sdk_ec2::types::Filter;
        let on = Filter::builder().name("attachment.instance-id").values(instance).build();
        let ours = Filter::builder().name("tag-key").values(GROUP_TAG).build();
        let out = self.ec2.describe_volumes().filters(on).filters(ours).send().await.unwrap();
        out.volumes().iter().filter_map(|v| v.volume_id()).map(str::to_owned).collect()
    }

    pub async fn snapshots(&self) -> Vec<aws_sdk_ec2::types::Snapshot> {
        let ours = aws_sdk_ec2::types::Filter::builder().name("tag-key").values(GROUP_TAG).build();
        self.ec2.describe_snapshots().owner_ids("self").filters(ours).send().await.unwrap().snapshots().to_vec()
    }

    pub async fn volume(&self, id: &str) -> aws_sdk_ec2::types::Volume {
        self.ec2.describe_volumes().volume_ids(id).send().await.unwrap().volumes()[0].clone()
    }

    /// A volume as the strict emulator shows it (an attachment is `attaching` until settled),
    /// where `volume` shows moto's (attached at once).
    pub async fn volume_shown(&self, id: &str) -> aws_sdk_ec2::types::Volume {
        let shown = super::Moto::client_at(&self.proxy);
        shown.describe_volumes().volume_ids(id).send().await.unwrap().volumes()[0].clone()
    }

    /// An instance's tags.
    pub async fn instance_tags(&self, id: &str) -> Vec<Tag> {
        let out = self.ec2.describe_instances().instance_ids(id).send().await.unwrap();
        out.reservations()[0].instances()[0].tags().to_vec()
    }

    /// A tagged group with its two hooks and its data volume on the first instance.
    pub async fn stateful(moto: &Moto, proxy: &Proxy) -> (Scene, String) {
        Self::stateful_with_key(moto, proxy, None).await
    }

    /// The same, its data volume encrypted with the customer-managed KMS key `data_key` (deployed
    /// as `DataKmsKeyId`), if any.
    pub async fn stateful_with_key(moto: &Moto, proxy: &Proxy, data_key: Option<&str>) -> (Scene, String) {
        let scene = Scene { data_key: data_key.map(str::to_owned), ..Scene::new(moto, proxy, true).await };
        scene.hooks().await;
        let data = scene.data_volume().await;
        (scene, data)
    }

    /// The launch hook's event for `instance`.
    pub fn launch(&self, instance: &str) -> Value {
        self.hook_event("asg-launch-lifecycle-action.json", LAUNCH_HOOK, instance)
    }

    /// The terminate hook's event for `instance`.
    pub fn terminate(&self, instance: &str) -> Value {
        self.hook_event("asg-terminate-lifecycle-action.json", TERMINATE_HOOK, instance)
    }

    pub fn hook_event(&self, file: &str, hook: &str, instance_id: &str) -> Value {
        let mut event = event_file(file);
        event["detail"]["AutoScalingGroupName"] = json!(GROUP);
        event["detail"]["LifecycleHookName"] = json!(hook);
        event["detail"]["EC2InstanceId"] = json!(instance_id);
        self.held_for(&event, if file.contains("launch") { "launching" } else { "terminating" });
        event
    }
}

pub fn tag(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
}
