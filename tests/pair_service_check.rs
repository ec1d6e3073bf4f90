//! The service check end to end: the real handler probes real services. Each member's service is a
//! listener on its own loopback address (127.0.0.2 for the primary, 127.0.0.3 for the standby, on
//! one port), which the strict local EC2 shows as the instance's private address, as the VPC would
//! route it. The services are started, stopped, made to answer 503 or to hang by the tests.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use aws_sdk_ec2::Client;
use ec2_failover::decision::Verdict;
use ec2_failover::pair::config::HealthCheck;
use ec2_failover::pair::Config;
use ec2_failover::tags::{self, HEALTH};
use support::Pair;
use support::{http, local, look, Proxy};

const PRIMARY_IP: &str = "127.0.0.2";
const STANDBY_IP: &str = "127.0.0.3";

/// What a service does with a request.
const ANSWERS: u8 = 0;
const FAILS: u8 = 1;
const HANGS: u8 = 2;

/// One member's service: an HTTP listener on its loopback address that answers 200, answers 503 or
/// reads the request and never answers, as the test says; dropped, it stops listening.
struct Service {
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicU8>,
    address: String,
    /// The `Host` header of each request it got.
    hosts: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Service {
    fn start(ip: &str, port: u16) -> Service {
        let listener = TcpListener::bind((ip, port)).unwrap_or_else(|e| panic!("bind {ip}:{port}: {e}"));
        let (mode, stop) = (Arc::new(AtomicU8::new(ANSWERS)), Arc::new(AtomicU8::new(0)));
        let hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (m, s, h) = (mode.clone(), stop.clone(), hosts.clone());
        std::thread::spawn(move || {
            let mut hung = Vec::new();
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) == 1 {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).unwrap_or(0);
                let text = String::from_utf8_lossy(&request[..read]).to_string();
                if let Some(host) = text.lines().find_map(|l| l.strip_prefix("Host: ")) {
                    h.lock().unwrap().push(host.to_owned());
                }
                match m.load(Ordering::SeqCst) {
                    ANSWERS => {
                        let _ =
                            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                    }
                    FAILS => {
                        let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
                    }
                    _ => hung.push(stream),
                }
            }
        });
        Service { mode, stop, address: format!("{ip}:{port}"), hosts }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Wake the accept loop so that it ends and the listener closes.
        self.stop.store(1, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.address);
    }
}

/// A port free on both loopback addresses.
fn port() -> u16 {
    loop {
        let port = support::free_port();
        if TcpListener::bind((PRIMARY_IP, port)).is_ok() && TcpListener::bind((STANDBY_IP, port)).is_ok() {
            return port;
        }
    }
}

/// The members' services answer at their loopback addresses, as the VPC would route them.
fn route(proxy: &Proxy, p: &Pair) {
    for (instance, ip) in [(&p.primary, PRIMARY_IP), (&p.standby, STANDBY_IP)] {
        let body = serde_json::json!({"instance": instance, "private_ip": ip}).to_string();
        let (status, answer) = http(&proxy.endpoint, "POST", "/_proxy/network", &body);
        assert_eq!(status, 200, "{answer}");
    }
}

fn checked(p: &Pair, spec: &str, threshold: usize) -> Config {
    Config { health: Some(HealthCheck::parse(spec, None, threshold, threshold, 500).unwrap()), ..p.config() }
}

/// The results kept on the Elastic IP, as the tag says them.
async fn kept(ec2: &Client, p: &Pair) -> Option<String> {
    let out = ec2.describe_addresses().allocation_ids(&p.allocation_id).send().await.unwrap();
    out.addresses()[0].tags().iter().find(|t| t.key() == Some(HEALTH)).and_then(|t| t.value()).map(str::to_owned)
}

/// A minute passes for the check: its last counted probes are dated a minute earlier (probes
/// closer together than 50 s count once; AWS's clock is not the test's to move).
async fn a_minute_passes(ec2: &Client, p: &Pair) {
    let Some(tag) = kept(ec2, p).await else { return };
    let (at, rest) = tag.split_once(' ').unwrap_or((tag.as_str(), ""));
    let earlier = format!("{} {rest}", at.parse::<i64>().unwrap() - 60);
    let tag = aws_sdk_ec2::types::Tag::builder().key(HEALTH).value(earlier.trim_end()).build();
    ec2.create_tags().resources(&p.allocation_id).tags(tag).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_service_on_a_healthy_instance_fails_the_pair_over_and_one_failed_probe_does_not() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let port = port();
    route(&proxy, &p);
    let (primary, _standby) = (Service::start(PRIMARY_IP, port), Service::start(STANDBY_IP, port));
    let handler = p.handler(&proxy, checked(&p, &format!("http:{port}/healthz"), 2));

    let calm = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(calm.verdict, Verdict::NoChange, "{}", calm.reason);
    let first = kept(&ec2, &p).await.expect("the results are kept on the address");
    assert!(first.ends_with(&format!("{}:0 {}:0", p.primary, p.standby)), "{first}");

    // The service answers 503: one failed probe is counted, and nothing moves.
    primary.set(FAILS);
    a_minute_passes(&ec2, &p).await;
    let once = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(once.verdict, Verdict::NoChange, "{}", once.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));
    // A second delivery of the same schedule within the minute counts nothing.
    let again = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(again.verdict, Verdict::NoChange, "{}", again.reason);
    assert!(kept(&ec2, &p).await.unwrap().contains(&format!("{}:01", p.primary)));

    // A minute later it fails again: the threshold is reached and the IP goes to the standby,
    // whose own service answers; the old primary, running but serving nothing, is fenced.
    a_minute_passes(&ec2, &p).await;
    let before = proxy.log().len();
    let over = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("HTTP 503"), "{}", over.reason);
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.standby.as_str()));
    assert_eq!(proxy.shown(&p.primary).as_deref(), Some("stopping"));
    // The health results and the failover record are both tags on the address: one CreateTags
    // carries them (EC2 refuses a second, simultaneous one with ConcurrentTagAccess), and the
    // record of the failover the service check started is there.
    let tagging: Vec<_> = proxy.log()[before..].iter().filter(|r| r.action == "CreateTags").cloned().collect();
    assert_eq!(tagging.len(), 1, "{tagging:?}");
    assert!(tagging[0].status == Some(200), "{tagging:?}");
    let keys: Vec<&String> = tagging[0].params.iter().filter(|(k, _)| k.ends_with(".Key")).map(|(_, v)| v).collect();
    for key in [HEALTH, tags::FROM, tags::TO, tags::AT, tags::PHASE] {
        assert!(keys.iter().any(|k| k.as_str() == key), "{key} in {keys:?}");
    }
    assert!(
        seen.tags.iter().any(|(k, v)| k == tags::TO && v == &p.standby),
        "the failover is recorded: {:?}",
        seen.tags
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_standby_takes_the_ip_only_once_its_own_service_answers() {
    let (moto, proxy, p) = local(false).await;
    let ec2 = moto.client();
    let port = port();
    route(&proxy, &p);
    let primary = Service::start(PRIMARY_IP, port);
    let handler = p.handler(&proxy, checked(&p, &format!("tcp:{port}"), 2));
    assert_eq!(handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap().verdict, Verdict::NoChange);

    // The service dies (nothing listens: connection refused), twice a minute apart.
    drop(primary);
    for _ in 0..2 {
        a_minute_passes(&ec2, &p).await;
        handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    }
    // Make before break: the standby is started, the IP stays where it is.
    let seen = look(&ec2, &p).await;
    assert_eq!(seen.holder.as_deref(), Some(p.primary.as_str()));
    assert_eq!(proxy.shown(&p.standby).as_deref(), Some("pending"));

    // It runs and passes its status checks, but its service is not up yet: the IP waits.
    proxy.settle(&[]);
    let waiting = handler.handle(&p.event("ec2-state-change-standby-running.json")).await.unwrap();
    assert_eq!(waiting.verdict, Verdict::Wait, "{}", waiting.reason);
    assert!(waiting.reason.contains("its service check fails"), "{}", waiting.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.primary.as_str()));

    // Its service comes up: the IP moves.
    let _standby = Service::start(STANDBY_IP, port);
    let done = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(done.verdict, Verdict::Finish, "{}", done.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_service_is_a_failed_probe_after_the_timeout() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let port = port();
    route(&proxy, &p);
    let (primary, _standby) = (Service::start(PRIMARY_IP, port), Service::start(STANDBY_IP, port));
    primary.set(HANGS);
    let handler = p.handler(&proxy, checked(&p, &format!("http:{port}/"), 1));
    let started = std::time::Instant::now();
    let outcome = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::FailOver, "{}", outcome.reason);
    assert!(outcome.reason.contains("127.0.0.2") && outcome.reason.contains("did not answer"), "{}", outcome.reason);
    // Bounded by the check's timeout, not by the hang.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
}

/// A Python helper process that prints `ready` once it serves, killed when dropped.
struct Helper(std::process::Child);

impl Helper {
    fn start(args: &[&str], ready: &str) -> Helper {
        use std::io::BufRead;
        let mut child = std::process::Command::new(support::venv_python())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start a Python helper");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line).expect("its first line");
        assert_eq!(line.trim(), ready, "{args:?} did not start");
        Helper(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTPS service with a self-signed certificate (`tests/support/tls_service.py`), until dropped.
struct TlsService;

impl TlsService {
    fn start(ip: &str, port: u16) -> Helper {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tls_service.py");
        Helper::start(&[script, ip, &port.to_string()], "listening")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_check_passes_a_self_signed_service_and_fails_one_that_speaks_no_tls() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let port = port();
    route(&proxy, &p);
    // The primary speaks HTTPS under a certificate that names no address; the standby plain HTTP.
    let (_primary, _standby) = (TlsService::start(PRIMARY_IP, port), Service::start(STANDBY_IP, port));
    let handler = p.handler(&proxy, checked(&p, &format!("https:{port}/healthz"), 3));
    let outcome = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::NoChange, "{}", outcome.reason);
    let tag = kept(&ec2, &p).await.unwrap();
    assert!(tag.ends_with(&format!("{}:0 {}:1", p.primary, p.standby)), "{tag}");
    // The log line's world says why the standby's probe failed.
    let world = outcome.observed.unwrap();
    let standby = world.probes.iter().find(|probe| probe.instance_id == p.standby).unwrap();
    assert!(standby.result.as_ref().is_err_and(|why| why.contains("TLS")), "{:?}", standby.result);
}

/// The alarm template.yaml puts on a Route 53 health check (AWS/Route53 HealthCheckStatus below 1,
/// no InstanceId), with `action`.
async fn route53_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, action: &str) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    cloudwatch
        .put_metric_alarm()
        .alarm_name("ec2-failover-service")
        .namespace("AWS/Route53")
        .metric_name("HealthCheckStatus")
        .dimensions(Dimension::builder().name("HealthCheckId").value("abcdef12-3456-7890-abcd-ef1234567890").build())
        .statistic(Statistic::Minimum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .alarm_actions(action)
        .send()
        .await
        .unwrap();
}

/// The Route 53 way: its health check's alarm (AWS/Route53 HealthCheckStatus, no InstanceId) in
/// ALARM, delivered as the alarm's Lambda action: the service behind the Elastic IP is down, so
/// the active instance fails over, once CloudWatch confirms the alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route53_health_check_alarm_fails_over_the_instance_holding_the_ip() {
    use aws_sdk_cloudwatch::types::StateValue;
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let cloudwatch = proxy.cloudwatch_client("setup");
    route53_alarm(&cloudwatch, "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover").await;
    let handler = p.handler(&proxy, p.config());
    let event = p.event("alarm-action-route53-health-check.json");

    // The payload says ALARM, CloudWatch does not (yet): nothing moves.
    let doubted = handler.handle(&event).await.unwrap();
    assert_eq!(doubted.verdict, Verdict::NoChange, "{}", doubted.reason);

    cloudwatch
        .set_alarm_state()
        .alarm_name("ec2-failover-service")
        .state_value(StateValue::Alarm)
        .state_reason("Route 53: unhealthy")
        .send()
        .await
        .unwrap();
    let over = handler.handle(&event).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("ec2-failover-service"), "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));

    // The alarm stays in ALARM (the check now tests the standby, which serves): it went to ALARM
    // before the failover, so it does not send the pair back.
    let after = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_ne!(after.verdict, Verdict::FailOver, "{}", after.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
}

/// Outside us-east-1 the Route 53 alarm lives in us-east-1 and reaches the function through SNS;
/// ALARM_NAMES names it by its ARN, and the function reads it there. Here the pair is in us-east-1
/// and the alarm in us-west-2: the same rule, the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_of_another_region_named_by_its_arn_is_confirmed_there() {
    use aws_sdk_cloudwatch::types::StateValue;
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let base = proxy.cloudwatch_client("setup");
    let there = aws_sdk_cloudwatch::Client::from_conf(
        base.config().to_builder().region(aws_sdk_cloudwatch::config::Region::new("us-west-2")).build(),
    );
    route53_alarm(&there, "arn:aws:sns:us-west-2:123456789012:ec2-failover-service-alarm").await;
    there
        .set_alarm_state()
        .alarm_name("ec2-failover-service")
        .state_value(StateValue::Alarm)
        .state_reason("t")
        .send()
        .await
        .unwrap();
    let event = p.event("sns-alarm-route53-health-check.json");

    // Named by name only, it is looked for in the function's region, where there is none.
    let plain = p.handler(&proxy, Config { alarm_names: vec!["ec2-failover-service".into()], ..p.config() });
    let unknown = plain.handle(&event).await.unwrap();
    assert_eq!(unknown.verdict, Verdict::NoChange, "{}", unknown.reason);
    assert!(unknown.reason.contains("does not know alarm"), "{}", unknown.reason);

    let arn = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:ec2-failover-service";
    let handler = p.handler(&proxy, Config { alarm_names: vec![arn.into()], ..p.config() });
    let over = handler.handle(&event).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    // The reconcile reads it there too.
    let status = handler.handle(&serde_json::json!({"command": "status"})).await.unwrap();
    assert!(status.reason.contains("in ALARM: ec2-failover-service"), "{}", status.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_probe_asks_for_the_virtual_host_the_check_names() {
    let (_moto, proxy, p) = local(true).await;
    let port = port();
    route(&proxy, &p);
    let (primary, _standby) = (Service::start(PRIMARY_IP, port), Service::start(STANDBY_IP, port));
    let mut config = checked(&p, &format!("http:{port}/healthz"), 3);
    if let Some(check) = config.health.as_mut() {
        check.host = Some("app.internal".into());
    }
    let handler = p.handler(&proxy, config);
    let outcome = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::NoChange, "{}", outcome.reason);
    assert_eq!(primary.hosts.lock().unwrap().as_slice(), [format!("app.internal:{port}")]);
}

/// One region's alarm reads failing does not blind the reconcile to the others: CloudWatch in
/// us-west-2 (where ALARM_NAMES names an alarm by ARN, as the Route 53 alarm lives in us-east-1
/// for a pair elsewhere) is throttled, and a home alarm in ALARM whose invocation was lost still
/// fails the pair over; status names the region it could not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_region_does_not_hide_the_home_region_s_alarms() {
    use aws_sdk_cloudwatch::types::StateValue;
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    support::alarm(&proxy.cloudwatch_client("setup"), "ec2-failover-primary-cpu", &p.primary, StateValue::Alarm).await;
    let arn = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:ec2-failover-service";
    let handler = p.handler(&proxy, Config { alarm_names: vec![arn.into()], ..p.config() });
    proxy.outage(&serde_json::json!({"service": "monitoring", "region": "us-west-2", "fault": "throttle"}));
    let function = "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover";

    let status = handler.handle_for(&serde_json::json!({"command": "status"}), Some(function)).await.unwrap();
    assert!(status.reason.contains("in ALARM: ec2-failover-primary-cpu"), "{}", status.reason);
    assert!(status.reason.contains("not read: us-west-2"), "{}", status.reason);

    let over = handler.handle_for(&p.event("scheduled-reconcile.json"), Some(function)).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("alarm ec2-failover-primary-cpu is in ALARM"), "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
    let throttled = proxy.log().iter().filter(|r| r.action == "DescribeAlarms" && r.fault.is_some()).count();
    assert!(throttled > 0, "us-west-2's reads were throttled");
}

/// An address whose packets go nowhere, as a security group or network ACL that drops the probes
/// (or a zone gone dark) makes it: a listener whose accept queue is full, so that the kernel drops
/// every further SYN and a connection times out instead of being refused. Until dropped.
struct Silent;

impl Silent {
    fn start(ip: &str, port: u16) -> Helper {
        let script = "import socket, sys, time\n\
                      s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                      s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(0)\n\
                      fill = []\n\
                      for _ in range(3):\n    c = socket.socket(); c.setblocking(False)\n    \
                      c.connect_ex((sys.argv[1], int(sys.argv[2]))); fill.append(c)\n\
                      time.sleep(0.3); print('ready', flush=True)\n\
                      time.sleep(600)\n";
        Helper::start(&["-c", script, ip, &port.to_string()], "ready")
    }
}

/// Probes that time out on every member tell of the network, not the service: the decision is a
/// refusal that names the path to check, and nothing moves or starts (a cold standby started on
/// such a check would wait forever for its own probe). The same timeouts on the active alone, with
/// the standby answering, are the active's failure: its zone has gone dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_that_time_out_everywhere_are_refused_and_on_the_active_alone_fail_it_over() {
    let (moto, proxy, p) = local(true).await;
    let ec2 = moto.client();
    let port = port();
    route(&proxy, &p);
    let (_primary, standby) = (Silent::start(PRIMARY_IP, port), Silent::start(STANDBY_IP, port));
    let handler = p.handler(&proxy, checked(&p, &format!("tcp:{port}"), 1));
    let refused = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap_err();
    let why = refused.to_string();
    assert!(why.contains("the network drops the function's probes") && why.contains("security group"), "{why}");
    let acted = proxy
        .log()
        .iter()
        .filter(|r| matches!(r.action.as_str(), "AssociateAddress" | "StartInstances" | "StopInstances"))
        .count();
    assert_eq!(acted, 0);

    // The standby answers again; the primary's probes still time out: its zone is dark.
    drop(standby);
    let _standby = Service::start(STANDBY_IP, port);
    let over = handler.handle(&p.event("scheduled-reconcile.json")).await.unwrap();
    assert_eq!(over.verdict, Verdict::FailOver, "{}", over.reason);
    assert!(over.reason.contains("no TCP connection to 127.0.0.2"), "{}", over.reason);
    assert_eq!(look(&ec2, &p).await.holder.as_deref(), Some(p.standby.as_str()));
}
