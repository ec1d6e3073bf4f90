//! Pair mode: a primary and a standby instance share an address (an Elastic IP, route-table
//! entries, secondary private IPs: its endpoints); when the active one fails, the function moves
//! the endpoints to the other, starting it first if needed, and fences the old one.
//!
//! The rooms, in the direction an invocation walks them: [`config`] (the settings), [`alarms`]
//! (which alarms to read, and what they prove), [`aws`] (observe, act) with [`endpoint`] (each kind
//! of endpoint's reader and mover) and [`probe`] (the service check's probes) into a
//! [`world::World`], the pure [`decide`] (with [`health`], the service check's evaluation) into a
//! [`plan`], carried out by [`aws::execute`].

pub mod alarms;
pub mod aws;
pub mod config;
pub mod decide;
pub mod endpoint;
pub mod health;
pub mod plan;
pub mod probe;
pub mod world;

use std::sync::Arc;

use aws_sdk_ec2::Client;
use serde_json::Value;

use self::alarms::alarm_reads;
use self::aws::ActionReport;
pub use self::config::{Config, FenceMode, Readiness, Rebalance, Route, RouteDestination};
use self::decide::{decide, monitoring_mismatches, screen};
use self::plan::Action;
use self::world::World;
use crate::decision::{Outcome, Status};
use crate::error::Error;
use crate::invocation::{now, Decided, Frame, Mode, Unread};
use crate::record::{Facts, HasFacts, RequestCounter};
use crate::trigger::Trigger;

/// The result of a pair-mode invocation.
pub type PairOutcome = Outcome<World, Action>;

/// The AWS clients pair mode needs.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2: the instances, their status checks, the endpoints.
    pub ec2: Client,
    /// CloudWatch: the alarms, read again rather than believed from a payload.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Route 53 ARC: the zonal shifts and autoshifts active now (`ZONAL_SHIFT`).
    pub arc: aws_sdk_arczonalshift::Client,
}

impl Clients {
    /// The same clients, each counting its requests on `counter`.
    pub fn counted(self, counter: &RequestCounter) -> Self {
        let ec2 = aws_sdk_ec2::Client::from_conf(self.ec2.config().to_builder().interceptor(counter.clone()).build());
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            self.cloudwatch.config().to_builder().interceptor(counter.clone()).build(),
        );
        let arc = aws_sdk_arczonalshift::Client::from_conf(
            self.arc.config().to_builder().interceptor(counter.clone()).build(),
        );
        Self { ec2, cloudwatch, arc }
    }
}

impl HasFacts for PairOutcome {
    fn facts(&self) -> Facts {
        facts(self.observed.as_ref(), &self.actions.iter().map(|r| (&r.action, r.status)).collect::<Vec<_>>())
    }
}

/// A pair decision's facts: `active`, the member (or outsider) the deciding endpoint pointed at
/// when read; `target`, the instance the endpoints move to, or else the one started for it;
/// `fenced`, the instance stopped; the record's `cause`. Shared with a fleet's pairs.
pub fn facts(observed: Option<&World>, actions: &[(&Action, Status)]) -> Facts {
    let active = observed.and_then(|world| world.anchor.holder.id()).map(str::to_owned);
    let planned = actions.iter().map(|(action, _)| *action);
    let moved = planned.clone().find_map(|a| match a {
        Action::MoveEndpoints { instance_id, .. } => Some(instance_id.clone()),
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
    let moved_now = actions
        .iter()
        .any(|(action, status)| matches!(action, Action::MoveEndpoints { .. }) && *status == Status::Done);
    let cause = planned.clone().find_map(|a| match a {
        Action::RecordFailover(record) => record.cause.clone(),
        _ => None,
    });
    Facts { active, target: moved.or(started), fenced, cause, moved: moved_now, ..Facts::default() }
}

/// Pair mode's handler: everything an invocation needs, built once at init.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The pair and its settings.
    pub config: Config,
    /// The AWS clients, built once.
    pub clients: Clients,
    frame: Frame,
    regional: Arc<aws::Regional>,
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
        let cloudwatch = alarms::regions(&config)
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
        let regional = Arc::new(aws::Regional { cloudwatch, zones: Default::default() });
        Self { config, clients, frame, regional }
    }

    /// The same handler, publishing each failover, refusal and hold on an EventBridge bus.
    pub fn publishing(mut self, publisher: Option<crate::publish::Publisher>) -> Self {
        self.frame = self.frame.publishing(publisher);
        self
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

    /// Handles one payload for the function `function_arn` (from the invocation context): the
    /// frame runs it ([`Frame::run`]), the pair observes, decides and acts ([`Mode`]).
    pub async fn handle_for(&self, payload: &Value, function_arn: Option<&str>) -> Result<PairOutcome, Error> {
        self.frame.run(self, payload, function_arn).await
    }
}

/// One pair's decision about a trigger: screened (nothing is read for a trigger it ignores),
/// observed (and its service probed), decided. The clock is read once, here, so that `decide`
/// stays pure. Shared with a fleet's pairs.
pub async fn decide_one(
    clients: &Clients,
    regional: &aws::Regional,
    config: &Config,
    trigger: &Trigger,
    function_arn: Option<&str>,
) -> Result<(plan::Decision, Option<World>), Error> {
    if let Some(ignored) = screen(config, trigger) {
        return Ok((ignored, None));
    }
    let alarms = alarm_reads(config, trigger, function_arn);
    let world = aws::observe_with(clients, regional, config, &alarms, now()).await?;
    let world = checked(config, world).await;
    if *trigger == Trigger::Schedule {
        for warning in monitoring_mismatches(config, &world) {
            tracing::warn!(warning = %warning, "the alarms' monitoring does not match an instance's");
        }
    }
    Ok((decide(config, trigger, &world), Some(world)))
}

/// The world with the service check's results, on every member that runs: the active one's
/// failures count, and no instance takes the address while its service does not answer.
pub async fn checked(config: &Config, mut world: World) -> World {
    if let Some(check) = &config.health {
        world.probes = probe::probe_all(check, &world.members).await;
    }
    world
}

impl Mode for Handler {
    type World = World;
    type Action = Action;

    /// Screens the trigger, observes the pair (and probes its service), decides. The clock is read
    /// once, here, so that `decide` stays pure.
    async fn decide(&self, trigger: &Trigger, function_arn: Option<&str>) -> Result<Decided<World, Action>, Unread> {
        let (decision, observed) = decide_one(&self.clients, &self.regional, &self.config, trigger, function_arn)
            .await
            .map_err(|error| Unread { error, what: "the pair" })?;
        Ok(Decided::One { decision, observed })
    }

    async fn execute(&self, actions: &[Action]) -> (Vec<ActionReport>, Option<Error>) {
        aws::execute(&self.clients.ec2, &self.config, actions).await
    }
}
