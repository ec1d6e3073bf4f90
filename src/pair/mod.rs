//! Pair mode: a primary and a standby instance share an Elastic IP; when the active one fails,
//! the function moves the IP to the other, starting it first if needed, and fences the old one.

pub mod alarms;
pub mod aws;
pub mod decide;
pub mod health;
pub mod probe;
pub mod world;

use std::fmt;

use aws_sdk_ec2::Client;
use serde_json::Value;

use self::alarms::alarm_reads;
use self::decide::{decide, monitoring_mismatches, screen, Action};
use self::world::World;
use crate::error::Error;
use crate::invocation::{finish, now, Frame, Outcome};
use crate::record::{Facts, HasFacts, RequestCounter, Scope};
use crate::trigger::Trigger;

/// What happens to the old active instance once the Elastic IP has left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    /// The instance that holds the Elastic IP when the pair is first set up.
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
    pub health: Option<health::HealthCheck>,
}

/// One route-table entry the pair moves: `destination` in `table`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

impl RouteDestination {
    /// The kind of a destination (a CIDR or a prefix list id, as `ROUTE_DESTINATIONS` holds them).
    pub fn of(destination: &str) -> Self {
        if destination.starts_with("pl-") {
            RouteDestination::PrefixList
        } else if destination.contains(':') {
            RouteDestination::Ipv6
        } else {
            RouteDestination::Ipv4
        }
    }
}

/// Which of EC2's destination parameters a route's destination goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteDestination {
    /// `DestinationCidrBlock`.
    Ipv4,
    /// `DestinationIpv6CidrBlock`.
    Ipv6,
    /// `DestinationPrefixListId`.
    PrefixList,
}

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
        }
    }

    /// The resource the failover record, the pause and the service check's results are tagged
    /// on: the Elastic IP, else the first route table.
    pub fn anchor(&self) -> &str {
        self.allocation_id.as_deref().or_else(|| self.routes.first().map(|r| r.table.as_str())).unwrap_or_default()
    }
}

/// The default `FENCE_ESCALATE_SECONDS`: a graceful stop that takes ten minutes is a hung one.
pub const DEFAULT_FENCE_ESCALATE_SECONDS: i64 = 600;

/// What a Spot rebalance recommendation about the active instance does (`REBALANCE`). It says the
/// instance is at elevated risk of interruption, not that it will be interrupted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Both EC2 status checks pass (the default): the OS is up, not only the hypervisor.
    Checks,
    /// EC2 says `running`.
    Running,
}

/// The instances' CloudWatch monitoring, as the alarms assume it (`MONITORING`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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

/// The result of a pair-mode invocation.
pub type PairOutcome = Outcome<World, Action>;

/// The AWS clients pair mode needs.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2: the instances, their status checks, the Elastic IP.
    pub ec2: Client,
    /// CloudWatch: the alarms, read again rather than believed from a payload.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    /// The same clients, each counting its requests on `counter`.
    pub fn counted(self, counter: &RequestCounter) -> Self {
        let ec2 = aws_sdk_ec2::Client::from_conf(self.ec2.config().to_builder().interceptor(counter.clone()).build());
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            self.cloudwatch.config().to_builder().interceptor(counter.clone()).build(),
        );
        Self { ec2, cloudwatch }
    }
}

impl HasFacts for PairOutcome {
    /// `active`: the member (or outsider) holding the IP when read; `target`: the instance the IP
    /// moves to, or else the one started for it; `fenced`: the instance stopped.
    fn facts(&self) -> Facts {
        let active = self.observed.as_ref().and_then(|world| match &world.address.holder {
            world::Holder::Nobody => None,
            world::Holder::Member { instance_id } => Some(instance_id.clone()),
            world::Holder::Outsider { instance_id, network_interface_id } => {
                instance_id.clone().or_else(|| network_interface_id.clone())
            }
        });
        let planned = self.actions.iter().map(|report| &report.action);
        let moved = planned.clone().find_map(|a| match a {
            Action::MoveAddress { instance_id, .. } => Some(instance_id.clone()),
            _ => None,
        });
        let started = planned.clone().find_map(|a| match a {
            Action::StartInstance { instance_id } => Some(instance_id.clone()),
            _ => None,
        });
        let fenced = planned.clone().find_map(|a| match a {
            Action::StopInstance { instance_id, .. } => Some(instance_id.clone()),
            _ => None,
        });
        let moved_now = self
            .actions
            .iter()
            .any(|report| matches!(report.action, Action::MoveAddress { .. }) && report.status == "done");
        let cause = planned.clone().find_map(|a| match a {
            Action::RecordFailover(record) => record.cause.clone(),
            _ => None,
        });
        Facts { active, target: moved.or(started), fenced, cause, moved: moved_now, ..Facts::default() }
    }
}

/// Pair mode's handler: everything an invocation needs, built once at init.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The pair and its settings.
    pub config: Config,
    /// The AWS clients, built once.
    pub clients: Clients,
    frame: Frame,
    regional: Vec<(String, aws_sdk_cloudwatch::Client)>,
}

impl Handler {
    /// A handler for one pair; with `dry_run` it only plans.
    pub fn new(config: Config, clients: Clients, dry_run: bool) -> Self {
        let requests = RequestCounter::default();
        let clients = clients.counted(&requests);
        Self::counting(config, clients, requests, dry_run)
    }

    /// A handler whose clients already count their requests on `requests` (built so at init,
    /// rather than built twice).
    pub fn counting(config: Config, clients: Clients, requests: RequestCounter, dry_run: bool) -> Self {
        let frame = Frame::counting(dry_run, requests);
        // CloudWatch in each other region whose alarms ALARM_NAMES names by ARN (a Route 53 health
        // check's alarm lives in us-east-1): the same client, another region.
        let regional = alarms::regions(&config)
            .into_iter()
            .map(|region| {
                let conf = clients
                    .cloudwatch
                    .config()
                    .to_builder()
                    .region(aws_sdk_cloudwatch::config::Region::new(region.clone()));
                (region, aws_sdk_cloudwatch::Client::from_conf(conf.build()))
            })
            .collect();
        Self { config, clients, frame, regional }
    }

    /// The HTTP requests this handler's AWS clients have made so far, retries included.
    pub fn aws_requests(&self) -> u64 {
        self.frame.requests.count()
    }

    /// Handles one payload, as [`Handler::handle_for`] without knowing the function's ARN (so the
    /// reconcile reads only the alarms `ALARM_NAMES` names).
    pub async fn handle(&self, payload: &Value) -> Result<PairOutcome, Error> {
        self.handle_for(payload, None).await
    }

    /// Handles one payload for the function `function_arn` (from the invocation context): screen
    /// the trigger, observe the pair, decide, act. The clock is read once, here, so that `decide`
    /// stays pure.
    pub async fn handle_for(&self, payload: &Value, function_arn: Option<&str>) -> Result<PairOutcome, Error> {
        let (trigger, turn) = self.frame.start(payload).await?;
        let (decision, observed) = match screen(&self.config, &trigger) {
            Some(ignored) => (ignored, None),
            None => {
                let alarms = alarm_reads(&self.config, &trigger, function_arn);
                let mut world = aws::observe_with(&self.clients, &self.regional, &self.config, &alarms, now())
                    .await
                    .inspect_err(|e| self.frame.observe_failed(Scope::Whole(turn.totals()), e, &trigger, "the pair"))?;
                // The service check, on every member that runs: the active one's failures count,
                // and no instance takes the IP while its service does not answer.
                if let Some(check) = &self.config.health {
                    world.probes = probe::probe_all(check, &world.members).await;
                }
                if trigger == Trigger::Schedule {
                    for warning in monitoring_mismatches(&self.config, &world) {
                        tracing::warn!(warning = %warning, "the alarms' monitoring does not match an instance's");
                    }
                }
                (decide(&self.config, &trigger, &world), Some(world))
            }
        };
        let (actions, error) =
            self.frame.act(&decision, |actions| aws::execute(&self.clients.ec2, &self.config, actions)).await;
        finish(&turn, self.frame.outcome(trigger, decision, observed, actions), error)
    }
}
