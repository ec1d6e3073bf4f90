//! Pair mode's settings: the two instances, the endpoints that follow the active one, how a
//! failover is paced and fenced, and the service check. Read from the environment by
//! [`crate::config`]; plain data here.

use std::fmt;

use serde::Serialize;

/// What happens to the old active instance once the address has left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceMode {
    /// Stop the old active instance, so it can no longer serve or write (the default).
    Stop,
    /// Stop it with `Force` and without its OS shutdown: for an instance that hangs and would not
    /// stop gracefully (it may lose what it had not written to disk).
    Force,
    /// Leave the old active instance alone.
    None,
}

/// The standby pair this function keeps available, and how it may act on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    /// The instance that holds the address when the pair is first set up.
    pub primary: String,
    /// The instance that takes over; may live in another Availability Zone.
    pub standby: String,
    /// The allocation id (`eipalloc-...`) of the Elastic IP the pair shares, if it has one.
    pub allocation_id: Option<String>,
    /// Route-table entries that point at the active instance (`ROUTE_TABLE_IDS` x
    /// `ROUTE_DESTINATIONS`): a private "overlay" address, or a NAT instance's default route.
    pub routes: Vec<Route>,
    /// Secondary private IPv4 addresses that follow the active instance (`PRIVATE_IPS`), for a
    /// pair in one subnet.
    pub private_ips: Vec<String>,
    /// What to do with the old active instance after a failover.
    pub fence_mode: FenceMode,
    /// A new failover is held while the last one is younger than this.
    pub cooldown_seconds: u64,
    /// When the standby may take the IP from a degraded primary that still serves.
    pub standby_ready: Readiness,
    /// The CloudWatch monitoring the template's alarms assume, if said (`MONITORING`): the
    /// reconcile warns about an instance whose monitoring differs.
    pub monitoring: Option<Monitoring>,
    /// Alarms the reconcile reads besides those whose actions invoke the function: the ones
    /// delivered through SNS or EventBridge (`ALARM_NAMES`).
    pub alarm_names: Vec<String>,
    /// What a Spot rebalance recommendation about the active instance does (`REBALANCE`).
    pub rebalance: Rebalance,
    /// How long before an EC2 scheduled event's window the pair fails over away from the active
    /// instance (`SCHEDULED_LEAD_SECONDS`).
    pub scheduled_lead_seconds: i64,
    /// How long a fenced instance may stay `stopping` before it is stopped with `Force`
    /// (`FENCE_ESCALATE_SECONDS`).
    pub fence_escalate_seconds: i64,
    /// The service check the function runs on each member (`HEALTH_CHECK`), if any.
    pub health: Option<HealthCheck>,
    /// How long an alarm about the running active instance must have had no data, while EC2's
    /// own status checks of it do not pass either, for the instance to count as gone silent (a
    /// zone gone dark): `SILENT_SECONDS`; 0 turns the rule off.
    pub silent_seconds: i64,
    /// What Route 53 ARC's zonal shifts and autoshifts do to the pair (`ZONAL_SHIFT`).
    pub zonal_shift: ZonalShift,
    /// Whether a practice run away from the active instance's zone fails the pair over too, with
    /// `ZONAL_SHIFT=follow` (`FOLLOW_PRACTICE_RUNS`).
    pub follow_practice_runs: bool,
    /// Instance types to start a stopped member as, in order, when EC2 has no capacity for its own
    /// type in its zone (`STANDBY_INSTANCE_TYPES`); empty: the start fails, and is tried again.
    pub standby_instance_types: Vec<String>,
}

/// What Route 53 ARC's zonal shifts and autoshifts do to the pair (`ZONAL_SHIFT`). Zonal shift
/// moves load balancers, Auto Scaling groups and EKS, not single instances, Elastic IPs or route
/// tables: nothing in AWS moves a pair out of a shifted zone or keeps it out of one but this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZonalShift {
    /// They are not read.
    Off,
    /// The address never moves into a zone under an active shift or autoshift (practice runs
    /// included), unless the active instance is dead and the other is the only place left (the
    /// default).
    #[default]
    Avoid,
    /// As `Avoid`, and a customer shift or an autoshift away from the active instance's zone fails
    /// the pair over, make before break, not held by the cooldown.
    Follow,
}

/// One route-table entry the pair moves: `destination` in `table`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The route table (`rtb-...`).
    pub table: String,
    /// An IPv4 CIDR, an IPv6 CIDR or a managed prefix list (`pl-...`).
    pub destination: String,
}

impl Route {
    /// The kind of destination, as EC2's route parameters name it.
    pub fn kind(&self) -> RouteDestination {
        RouteDestination::of(&self.destination)
    }
}

pub use crate::route::RouteDestination;

impl Config {
    /// The settings a pair of these two instances gets when nothing else is set (the defaults
    /// `config.rs` applies), with no endpoint yet: the one constructor the tests build on, so that
    /// a new setting is written once.
    pub fn with_defaults(primary: &str, standby: &str) -> Self {
        Config {
            primary: primary.to_owned(),
            standby: standby.to_owned(),
            allocation_id: None,
            routes: Vec::new(),
            private_ips: Vec::new(),
            fence_mode: FenceMode::Stop,
            cooldown_seconds: 300,
            standby_ready: Readiness::Checks,
            monitoring: None,
            alarm_names: Vec::new(),
            rebalance: Rebalance::default(),
            scheduled_lead_seconds: DEFAULT_SCHEDULED_LEAD_SECONDS,
            fence_escalate_seconds: DEFAULT_FENCE_ESCALATE_SECONDS,
            health: None,
            silent_seconds: DEFAULT_SILENT_SECONDS,
            zonal_shift: ZonalShift::default(),
            follow_practice_runs: false,
            standby_instance_types: Vec::new(),
        }
    }

    /// The resource the failover record, the pause and the service check's results are tagged
    /// on: the Elastic IP, else the first route table.
    pub fn anchor(&self) -> &str {
        self.allocation_id.as_deref().or_else(|| self.routes.first().map(|r| r.table.as_str())).unwrap_or_default()
    }
}

/// The default `SILENT_SECONDS`: a minute of silence past the alarm's own evaluation periods.
pub const DEFAULT_SILENT_SECONDS: i64 = 60;

/// The default `FENCE_ESCALATE_SECONDS`: a graceful stop that takes ten minutes is a hung one.
pub const DEFAULT_FENCE_ESCALATE_SECONDS: i64 = 600;

/// What a Spot rebalance recommendation about the active instance does (`REBALANCE`). It says the
/// instance is at elevated risk of interruption, not that it will be interrupted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rebalance {
    /// It is logged, and nothing changes (the default).
    #[default]
    Log,
    /// A make-before-break failover, as for an interruption warning.
    Failover,
}

/// The default `SCHEDULED_LEAD_SECONDS`: an hour before the window of an EC2 scheduled event.
pub const DEFAULT_SCHEDULED_LEAD_SECONDS: i64 = 3_600;

/// When a standby is ready to take the IP from a degraded primary that still serves (`STANDBY_READY`).
/// A dead primary is never waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Both EC2 status checks pass (the default): the OS is up, not only the hypervisor.
    Checks,
    /// EC2 says `running`.
    Running,
}

/// The instances' CloudWatch monitoring, as the alarms assume it (`MONITORING`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Monitoring {
    /// Five-minute metrics.
    Basic,
    /// One-minute metrics.
    Detailed,
}

impl fmt::Display for FenceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FenceMode::Stop => "stop",
            FenceMode::Force => "force",
            FenceMode::None => "none",
        })
    }
}

/// The default cooldown between two failovers of the pair, in seconds.
pub const DEFAULT_COOLDOWN_SECONDS: u64 = 300;

impl Config {
    /// Whether `instance_id` is one of the pair.
    pub fn is_member(&self, instance_id: &str) -> bool {
        instance_id == self.primary || instance_id == self.standby
    }

    /// The other member of the pair, if `instance_id` is a member.
    pub fn other(&self, instance_id: &str) -> Option<&str> {
        if instance_id == self.primary {
            Some(&self.standby)
        } else if instance_id == self.standby {
            Some(&self.primary)
        } else {
            None
        }
    }
}

/// How the service is probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A TCP connection is accepted.
    Tcp,
    /// An HTTP GET of the path answers with a status in the expected range.
    Http,
    /// The same over TLS. The certificate is not verified: the probe dials the private address,
    /// which no certificate names; the handshake and the answer are what is checked.
    Https,
}

/// The service check of the pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// How.
    pub protocol: Protocol,
    /// The service's port on each member.
    pub port: u16,
    /// The path an HTTP(S) probe gets.
    pub path: String,
    /// The HTTP statuses that pass, inclusive.
    pub expect: (u16, u16),
    /// How many failed probes among the last `window` fail the check.
    pub threshold: usize,
    /// How many of the last probes count.
    pub window: usize,
    /// How long one probe may take, in milliseconds, before it counts as failed.
    pub timeout_ms: u64,
    /// The name an HTTP(S) probe asks for (`Host`, and the TLS server name), for a server that
    /// answers by virtual host (`HEALTH_HOST`); none: the instance's address.
    pub host: Option<String>,
}

/// The most results kept per member (the tag holds 256 characters).
pub const MAX_WINDOW: usize = 10;

impl HealthCheck {
    /// Reads `HEALTH_CHECK` (`tcp:PORT`, `http:PORT/PATH`, `https:PORT/PATH`) and `HEALTH_EXPECT`
    /// (`200-399`, or one status); the error says what is expected.
    pub fn parse(
        spec: &str,
        expect: Option<&str>,
        threshold: usize,
        window: usize,
        timeout_ms: u64,
    ) -> Result<Self, String> {
        let usage = "tcp:PORT, http:PORT/PATH or https:PORT/PATH (e.g. http:8080/healthz)";
        let (scheme, rest) = spec.trim().split_once(':').ok_or_else(|| usage.to_owned())?;
        let protocol = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            _ => return Err(usage.to_owned()),
        };
        let (port, path) = match rest.split_once('/') {
            Some((port, path)) => (port, format!("/{path}")),
            None => (rest, "/".to_owned()),
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| usage.to_owned())?;
        if protocol == Protocol::Tcp && path != "/" {
            return Err(format!("a tcp check has no path; {usage}"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("the path has spaces or control characters; {usage}"));
        }
        let expect = match expect.map(str::trim).filter(|e| !e.is_empty()) {
            None => (200, 399),
            Some(e) => {
                let status = |s: &str| s.trim().parse::<u16>().ok().filter(|s| (100..=599).contains(s));
                let range = match e.split_once('-') {
                    Some((low, high)) => status(low).zip(status(high)),
                    None => status(e).map(|s| (s, s)),
                };
                range.filter(|(low, high)| low <= high).ok_or("HTTP statuses from 100 to 599: 200-399, or 204")?
            }
        };
        if !(1..=MAX_WINDOW).contains(&window) || !(1..=window).contains(&threshold) {
            return Err(format!("a threshold from 1 to the window, a window from 1 to {MAX_WINDOW}"));
        }
        Ok(Self { protocol, port, path, expect, threshold, window, timeout_ms, host: None })
    }
}

impl fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Protocol::Tcp => write!(f, "tcp:{}", self.port),
            Protocol::Http => write!(f, "http:{}{}", self.port, self.path),
            Protocol::Https => write!(f, "https:{}{}", self.port, self.path),
        }
    }
}
