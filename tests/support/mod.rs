//! The end-to-end harness: a real moto server on loopback, started and stopped by the test
//! itself, and `scripts/ec2_proxy.py` in front of it; the pair's scene (`pair.rs`: build a standby
//! pair, read the world back) and the group's (`group.rs`).
//!
//! Who signs what: the tests' own set-up signs with the access key `testing`; the function's
//! clients sign with the key of the deployment they stand for (`PAIR_FUNCTION`, `GROUP_FUNCTION`,
//! `GROUP_DATA_FUNCTION`), which each scene registers with the proxy along with the template and
//! its parameter values ([`Proxy::deploy`]). Under `make test` the proxy records every request, and
//! `scripts/iamcheck` proves each one the function signed allowed by that deployment's policy.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::Client;
use serde_json::Value;

pub mod fleet;
pub mod group;
mod pair;
// Every test binary includes this module; not all of them build a pair.
#[allow(unused_imports)]
pub use self::pair::*;

/// The tests' own set-up signs with this access key: its requests are recorded, never checked.
pub const SETUP: &str = "testing";
/// The pair-mode function (template.yaml) signs with this access key.
pub const PAIR_FUNCTION: &str = "AKIDFUNCTIONPAIR";
/// The group-mode function deployed without data (template-group.yaml, KeepData=false).
pub const GROUP_FUNCTION: &str = "AKIDFUNCTIONGROUP";
/// The group-mode function deployed with data (template-group.yaml, KeepData=true).
pub const GROUP_DATA_FUNCTION: &str = "AKIDFUNCTIONGROUPDATA";
/// The fleet-mode function (template-fleet.yaml).
pub const FLEET_FUNCTION: &str = "AKIDFUNCTIONFLEET";

/// Credentials that sign as `access_key` (moto accepts any).
pub fn credentials(access_key: &str) -> Credentials {
    Credentials::new(access_key, "testing", None, None, "e2e")
}

/// A moto server that lives as long as this value.
pub struct Moto {
    child: Child,
    /// Its base URL.
    pub endpoint: String,
}

/// The Python of the environment moto runs in (with its packages), or the system's.
pub fn venv_python() -> PathBuf {
    let python = moto_server_path().with_file_name("python3");
    if python.exists() {
        python
    } else {
        PathBuf::from("python3")
    }
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(local.exists(), "moto_server not found at {}: run `make venv` (or set MOTO_SERVER)", local.display());
    local
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let (child, port) = start_listening("moto_server", |port| {
            let mut command = Command::new(moto_server_path());
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        Moto { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// An EC2 client for this server, with the same retry settings as the function.
    pub fn client(&self) -> Client {
        Self::client_at(&self.endpoint)
    }

    /// The same client for another endpoint (the proxy in front of this server, say).
    pub fn client_at(endpoint: &str) -> Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(SETUP))
            .build();
        Client::from_conf(config)
    }
}

impl Moto {
    /// Clears every resource, as a fresh server would have it.
    pub fn reset(&self) {
        let (status, body) = http(&self.endpoint, "POST", "/moto-api/reset", "");
        assert_eq!(status, 200, "moto reset: {body}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a server (`command` for a port) on a free loopback port and waits until it listens. A
/// port free when chosen can be taken before the server binds it (as the local port of one of the
/// many connections the tests and the proxy open); a server that exits before it listens is
/// started again on another port.
fn start_listening(what: &str, command: impl Fn(u16) -> Command) -> (Child, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // A connection to a free port in the ephemeral range can connect to itself (TCP
            // simultaneous open: its local port is the port), which then holds the port the
            // server could not bind: only a connection from another port is the server's.
            let listening = std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok_and(|stream| stream.local_addr().is_ok_and(|local| local.port() != port));
            if listening && child.try_wait().ok().flatten().is_none() {
                return (child, port);
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "{what} did not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("{what} exited before it listened, on five ports in turn")
}

/// A minimal blocking HTTP/1.1 call for the emulators' control APIs: (status, body).
pub fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let authority = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `scripts/ec2_proxy.py` in front of a moto server: latency, seeded faults and a request log.
pub struct Proxy {
    child: Child,
    /// Its base URL; point the function's client here.
    pub endpoint: String,
}

/// One request the proxy saw.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    /// The EC2 action, e.g. `AssociateAddress`.
    pub action: String,
    /// Its form parameters but `Action` and `Version`.
    pub params: std::collections::BTreeMap<String, String>,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// The HTTP status returned, or none when the connection was dropped.
    pub status: Option<u16>,
    pub start: f64,
    pub end: f64,
}

impl Proxy {
    /// Starts the proxy on a free port in front of `moto`, with no latency and no faults.
    pub fn start(moto: &Moto) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ec2_proxy.py");
        let python = venv_python();
        let (child, port) = start_listening("scripts/ec2_proxy.py", |port| {
            let mut command = Command::new(&python);
            command.arg(&script).args(["--upstream", &moto.endpoint, "--port", &port.to_string()]);
            command
        });
        let proxy = Proxy { child, endpoint: format!("http://127.0.0.1:{port}") };
        proxy.configure(&serde_json::json!({}));
        proxy
    }

    /// Sets latency and faults (see the script) and clears the log. EC2 is strict, as AWS is
    /// (`pending`, `stopping`, `initializing` status checks, and its refusals), and a transition
    /// lasts until the test ends it with [`Proxy::settle`], where AWS would simply take time:
    /// no test depends on timing. Settings given here override that.
    pub fn configure(&self, settings: &Value) {
        let mut merged = serde_json::json!({"pending_seconds": 3600, "stopping_seconds": 3600, "initializing_seconds": 3600, "attaching_seconds": 3600});
        if let (Some(merged), Some(given)) = (merged.as_object_mut(), settings.as_object()) {
            merged.extend(given.clone());
        }
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/config", &merged.to_string());
        assert_eq!(status, 200, "proxy config: {body}");
    }

    /// Makes `instance` a Spot instance of a `kind` request (one-time, persistent; None: not Spot).
    pub fn spot(&self, instance: &str, kind: Option<&str>) {
        let body = serde_json::json!({"instance": instance, "type": kind});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/spot", &body.to_string());
        assert_eq!(status, 200, "proxy spot: {body}");
    }

    /// Every request `outage` covers ({"service", "region", "action", "fault"}, any left out
    /// covering all) fails with its fault until the next [`Proxy::configure`]: one region's
    /// CloudWatch throttled, a service unavailable.
    pub fn outage(&self, outage: &Value) {
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/outage", &outage.to_string());
        assert_eq!(status, 200, "proxy outage: {body}");
    }

    /// Makes `zone` go dark (or come back): EC2 goes on saying its instances run, has no data for
    /// their status checks, and starts nothing there.
    pub fn dark_zone(&self, zone: &str, dark: bool) {
        let body = serde_json::json!({"zone": zone, "dark": dark});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/dark-zone", &body.to_string());
        assert_eq!(status, 200, "proxy dark-zone: {body}");
    }

    /// Route 53 ARC: a zonal shift of `kind` (`ZONAL_SHIFT`, `PRACTICE_RUN`...) away from the zone
    /// with ID `away_from`, active until the next [`Proxy::configure`].
    pub fn zonal_shift(&self, away_from: &str, kind: &str) {
        let body = serde_json::json!({"away_from": away_from, "type": kind});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/zonal-shift", &body.to_string());
        assert_eq!(status, 200, "proxy zonal-shift: {body}");
    }

    /// Route 53 ARC: an autoshift away from the zone with ID `away_from`.
    pub fn autoshift(&self, away_from: &str) {
        let body = serde_json::json!({"away_from": away_from});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/autoshift", &body.to_string());
        assert_eq!(status, 200, "proxy autoshift: {body}");
    }

    /// Ends the transitions of these instances (all, if none is named): pending ones run, stopping
    /// ones stop, initializing status checks pass, as AWS would after a while.
    pub fn settle(&self, instances: &[&str]) {
        let body =
            if instances.is_empty() { serde_json::json!({}) } else { serde_json::json!({"instances": instances}) };
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/settle", &body.to_string());
        assert_eq!(status, 200, "proxy settle: {body}");
    }

    /// Makes StartInstances of `instance` fail the way AWS does: `insufficient` (no capacity in its
    /// zone) or `kms` (it goes pending, then back to stopped); None: starts work again.
    pub fn start_failure(&self, instance: &str, failure: Option<&str>) {
        let body = serde_json::json!({"instance": instance, "failure": failure});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/capacity", &body.to_string());
        assert_eq!(status, 200, "proxy capacity: {body}");
    }

    /// Makes StartInstances of `instance` fail for want of capacity while it is of one of `types`.
    pub fn no_capacity_for(&self, instance: &str, types: &[&str]) {
        let body = serde_json::json!({"instance": instance, "failure": "insufficient", "types": types});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/capacity", &body.to_string());
        assert_eq!(status, 200, "proxy capacity: {body}");
    }

    /// The state the strict emulator shows for `instance` while it is in a transition (`pending`,
    /// `stopping`), or None when moto's own state stands.
    pub fn shown(&self, instance: &str) -> Option<String> {
        let (status, body) = http(&self.endpoint, "GET", "/_proxy/instances", "");
        assert_eq!(status, 200, "proxy instances: {body}");
        let all: Value = serde_json::from_str(&body).expect("proxy instances are JSON");
        all.get(instance).and_then(|i| i.get("state")).and_then(Value::as_str).map(str::to_owned)
    }

    /// Says that a lifecycle hook holds `instance` (`transition`: launching | terminating), as Auto
    /// Scaling would: until the action is completed, the group shows it in Pending:Wait or
    /// Terminating:Wait.
    pub fn hold(&self, group: &str, hook: &str, instance: &str, transition: &str) {
        let hold = serde_json::json!({"group": group, "hook": hook, "instance": instance, "transition": transition});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/hold", &hold.to_string());
        assert_eq!(status, 200, "proxy hold: {body}");
    }

    /// Makes DescribeSnapshots report `state` for a snapshot (None: moto's own state again).
    pub fn snapshot_state(&self, snapshot: &str, state: Option<&str>) {
        let change = serde_json::json!({"snapshot": snapshot, "state": state});
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/snapshot", &change.to_string());
        assert_eq!(status, 200, "proxy snapshot state: {body}");
    }

    /// Says which deployed function `access_key` signs for: the template, its parameter values (as
    /// named in the template) and the stack name (its `AWS::StackName`), for the IAM checker. The
    /// record line names the test that registered it.
    pub fn deploy(&self, access_key: &str, template: &str, parameters: Value, stack_name: Option<&str>) {
        let source = format!(
            "tests/{}.rs {}",
            env!("CARGO_CRATE_NAME"),
            std::thread::current().name().unwrap_or("(unnamed thread)")
        );
        let deployment = serde_json::json!({
            "access_key": access_key, "template": template, "parameters": parameters,
            "stack_name": stack_name, "source": source,
        });
        let (status, body) = http(&self.endpoint, "POST", "/_proxy/deployment", &deployment.to_string());
        assert_eq!(status, 200, "proxy deployment: {body}");
    }

    /// Every request since the last `configure`.
    pub fn log(&self) -> Vec<Request> {
        let (status, body) = http(&self.endpoint, "GET", "/_proxy/log", "");
        assert_eq!(status, 200, "proxy log: {body}");
        serde_json::from_str(&body).expect("proxy log is JSON")
    }

    /// CloudWatch through this proxy (which bridges the SDK's CBOR protocol to moto) for the test's
    /// own set-up (it signs as [`SETUP`]), with the same policy as [`Proxy::function_client`].
    pub fn cloudwatch_client(&self, partition: &str) -> aws_sdk_cloudwatch::Client {
        self.cloudwatch_client_as(partition, SETUP)
    }

    /// The same, signed with `access_key`.
    pub fn cloudwatch_client_as(&self, partition: &str, access_key: &str) -> aws_sdk_cloudwatch::Client {
        use aws_sdk_cloudwatch::config::retry::RetryPartition;
        use aws_sdk_cloudwatch::config::{BehaviorVersion, Region};
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(ec2_failover::aws::retry_config().with_initial_backoff(Duration::from_millis(2)))
            .retry_partition(RetryPartition::new(format!("{partition}-cloudwatch")))
            .timeout_config(ec2_failover::aws::timeout_config())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    /// Pair mode's clients (EC2, CloudWatch, Route 53 ARC) through this proxy, signed as
    /// [`PAIR_FUNCTION`].
    pub fn pair_clients(&self, partition: &str) -> ec2_failover::pair::Clients {
        ec2_failover::pair::Clients {
            ec2: self.function_client(partition),
            cloudwatch: self.cloudwatch_client_as(partition, PAIR_FUNCTION),
            arc: self.arc_client_as(partition, PAIR_FUNCTION),
        }
    }

    /// Route 53 ARC's zonal shifts through this proxy (which answers them from the shifts a test
    /// sets: `Proxy::zonal_shift`), signed with `access_key`.
    pub fn arc_client_as(&self, partition: &str, access_key: &str) -> aws_sdk_arczonalshift::Client {
        use aws_sdk_arczonalshift::config::retry::RetryPartition;
        use aws_sdk_arczonalshift::config::{BehaviorVersion, Region};
        let config = aws_sdk_arczonalshift::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(ec2_failover::aws::retry_config().with_initial_backoff(Duration::from_millis(2)))
            .retry_partition(RetryPartition::new(format!("{partition}-arc")))
            .timeout_config(ec2_failover::aws::timeout_config())
            .build();
        aws_sdk_arczonalshift::Client::from_conf(config)
    }

    /// EventBridge through this proxy (which answers PutEvents), signed with `access_key`.
    pub fn events_client_as(&self, partition: &str, access_key: &str) -> aws_sdk_eventbridge::Client {
        use aws_sdk_eventbridge::config::retry::RetryPartition;
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(ec2_failover::aws::retry_config().with_initial_backoff(Duration::from_millis(2)))
            .retry_partition(RetryPartition::new(format!("{partition}-events")))
            .timeout_config(ec2_failover::aws::timeout_config())
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }

    /// The events EventBridge accepted (the proxy's PutEvents), in order.
    pub fn events(&self) -> Vec<Value> {
        let (status, body) = http(&self.endpoint, "GET", "/_proxy/events", "");
        assert_eq!(status, 200, "proxy events: {body}");
        serde_json::from_str(&body).expect("proxy events are JSON")
    }

    /// Fleet mode's clients through this proxy, signed as [`FLEET_FUNCTION`].
    pub fn fleet_clients(&self, partition: &str) -> ec2_failover::pair::Clients {
        ec2_failover::pair::Clients {
            ec2: self.function_client_as(partition, FLEET_FUNCTION),
            cloudwatch: self.cloudwatch_client_as(partition, FLEET_FUNCTION),
            arc: self.arc_client_as(partition, FLEET_FUNCTION),
        }
    }

    /// The pair-mode function's client through this proxy (signed as [`PAIR_FUNCTION`]): the
    /// production retry and timeout policy, with backoff shortened so that a hundred faulty trials
    /// take seconds, and its own retry quota (`partition`) so that each trial starts like a fresh
    /// execution environment.
    pub fn function_client(&self, partition: &str) -> Client {
        self.function_client_as(partition, PAIR_FUNCTION)
    }

    /// The same, signed with `access_key` (the deployment the client stands for).
    pub fn function_client_as(&self, partition: &str, access_key: &str) -> Client {
        use aws_sdk_ec2::config::retry::RetryPartition;
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(ec2_failover::aws::retry_config().with_initial_backoff(Duration::from_millis(2)))
            .retry_partition(RetryPartition::new(partition.to_owned()))
            .timeout_config(ec2_failover::aws::timeout_config())
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A VPC Elastic IP with `tags`, associated with `instance_id`: its allocation id.
pub async fn elastic_ip_on(ec2: &Client, instance_id: &str, tags: &[(&str, &str)]) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let mut request = ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::ElasticIp);
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        request = request.tag_specifications(spec.build());
    }
    let allocation_id = request.send().await.unwrap().allocation_id().unwrap().to_owned();
    ec2.associate_address().allocation_id(&allocation_id).instance_id(instance_id).send().await.unwrap();
    allocation_id
}

/// A launch template named `name` of the tests' image and a small instance type: its id.
pub async fn launch_template(ec2: &Client, name: &str) -> String {
    let template = ec2
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .unwrap();
    template.launch_template().unwrap().launch_template_id().unwrap().to_owned()
}
