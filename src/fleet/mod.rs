//! Fleet mode (`MODE=fleet`): one function for every pair the tags declare ([`declare`]). Each pair
//! is decided as pair mode decides one (the same rules, its own settings), with its name on its
//! decision line. An event about one instance reads only its pair; the reconcile (the schedule, a
//! zonal shift) reads the whole fleet in one round of requests whose number does not grow with
//! the fleet but by one DescribeInstances per 200 instances (`pair::aws::many`), and acts on the
//! pairs at most `MAX_PARALLEL_FAILOVERS` at a time, within its time budget: the rest converge on
//! the next pass. One writer per pair: the template's reserved concurrency of 1 runs one invocation
//! at a time, and the frame's gate keeps invocations that share a handler in turn.

pub mod aws;
pub mod declare;
mod groups;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use self::declare::{declare, Declared};
use crate::decision::{sweep_rank, Decision, Outcome, Report, Verdict};
use crate::error::Error;
use crate::group::{self, plan::GroupAction, GroupObserved};
use crate::invocation::{failure, now, Decided, Frame, Mode, Unread};
use crate::pair::{self, plan::Action, world::World};
use crate::record::{Facts, HasFacts, RequestCounter, Scope};
use crate::tags::PAIR;
use crate::trigger::{Command, Trigger};

/// Fleet mode's settings: the pairs' defaults and the cap (read by [`crate::config`]).
pub use crate::config::FleetConfig as Config;

/// How long a reconcile starts new pairs' actions before it leaves the rest to the next one: well
/// inside the template's 60-second timeout, even when every AWS call is retried.
pub const SWEEP_BUDGET: Duration = Duration::from_secs(40);

/// The result of a fleet-mode invocation.
pub type FleetOutcome = Outcome<FleetObserved, FleetAction>;

/// One action of a fleet decision: a pair's, or a group's.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum FleetAction {
    /// A pair's action, named by its pair.
    Pair(PairAction),
    /// A group's action, as group mode has it (it names its group).
    Group(GroupAction),
}

/// One pair's action, named by its pair.
#[derive(Clone, Debug, Serialize)]
pub struct PairAction {
    /// The pair.
    pub pair: String,
    /// The action, as pair mode has it.
    #[serde(flatten)]
    pub action: Action,
    #[serde(skip)]
    config: Arc<pair::Config>,
}

/// What a fleet-mode invocation observed: one pair's world, the fleet's, or what group mode
/// observed (a lifecycle action's group, an EBS notification's sweep).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum FleetObserved {
    /// One pair.
    Pair(Box<PairSeen>),
    /// Every pair and group (the reconcile, the status of all).
    Fleet(FleetSeen),
    /// The groups, as group mode observes them.
    Group(GroupObserved),
}

/// One pair's world, named.
#[derive(Clone, Debug, Serialize)]
pub struct PairSeen {
    /// The pair.
    pub pair: String,
    /// Its world.
    #[serde(flatten)]
    pub world: World,
}

/// What a reconcile (or the status of all) found and decided.
#[derive(Clone, Debug, Serialize)]
pub struct FleetSeen {
    /// Each pair's decision (its world is on its own line).
    pub pairs: Vec<PairPart>,
    /// The tags that declare no pair, and why.
    pub broken: Vec<Declared>,
    /// The pairs left to the next pass, and why.
    pub skipped: Vec<String>,
    /// The groups' sweep or status, when the fleet serves groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupObserved>,
}

/// One pair's decision in a reconcile.
#[derive(Clone, Debug, Serialize)]
pub struct PairPart {
    /// The pair.
    pub pair: String,
    /// The kind of decision.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

impl HasFacts for FleetOutcome {
    /// One pair's facts, with its name, or one group decision's; a reconcile's summary names no
    /// pair or group.
    fn facts(&self) -> Facts {
        let (mut pairs, mut groups, mut name) = (Vec::new(), Vec::new(), None);
        for r in &self.actions {
            match &r.action {
                FleetAction::Pair(a) => {
                    name.get_or_insert_with(|| a.pair.clone());
                    pairs.push((&a.action, r.status));
                }
                FleetAction::Group(a) => groups.push((a, r.status)),
            }
        }
        match &self.observed {
            Some(FleetObserved::Pair(seen)) => {
                Facts { pair: Some(seen.pair.clone()), ..pair::facts(Some(&seen.world), &pairs) }
            }
            Some(FleetObserved::Fleet(_)) => Facts::default(),
            Some(FleetObserved::Group(observed)) => group::observed_facts(&self.trigger, Some(observed), &groups),
            None if !groups.is_empty() || matches!(self.trigger, Trigger::Lifecycle(_)) => {
                group::facts(&self.trigger, None, &groups)
            }
            None => Facts { pair: name, ..pair::facts(None, &pairs) },
        }
    }
}

/// Which pairs a trigger is about.
enum Target<'a> {
    /// Every pair: the reconcile, a zonal shift, the status of all, an alarm about no one instance.
    All,
    /// The pair an instance belongs to.
    Instance(&'a str),
    /// A pair by name.
    Named(&'a str),
    /// The groups: a lifecycle action, an EBS notification.
    Groups,
    /// Not for fleet mode, or refused before anything is read.
    Decided(Verdict, String),
}

fn target(trigger: &Trigger) -> Target<'_> {
    match trigger {
        Trigger::Schedule | Trigger::ZonalShift { .. } | Trigger::Command(Command::Status) => Target::All,
        Trigger::Command(command) => Target::Decided(
            Verdict::Refuse,
            format!(
                "fleet mode: a {} names its pair, as {{\"command\": \"{}\", \"pair\": \"NAME\"}}",
                name_of(command),
                name_of(command)
            ),
        ),
        Trigger::PairCommand { pair, .. } => Target::Named(pair),
        Trigger::StateChange { instance_id, .. } => Target::Instance(instance_id),
        // A warning about several instances (a Health event's entities, an alarm over several) may
        // be about several pairs: every pair decides on it (a pair it does not name ignores it).
        Trigger::Warning(warning) => match warning.instance_ids.as_slice() {
            [one] => Target::Instance(one),
            _ => Target::All,
        },
        Trigger::Lifecycle(_) | Trigger::Ebs { .. } => Target::Groups,
        Trigger::Unrelated { what } => Target::Decided(Verdict::Ignore, format!("{what} events are not about a pair")),
    }
}

fn name_of(command: &Command) -> &'static str {
    match command {
        Command::Status => "status",
        Command::Switchover { .. } => "switchover",
        Command::Pause { .. } => "pause",
        Command::Resume { .. } => "resume",
    }
}

/// Fleet mode's handler.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The fleet's settings.
    pub config: Config,
    /// The AWS clients, built once.
    pub clients: pair::Clients,
    frame: Frame,
    regional: Arc<pair::aws::Regional>,
    budget: Duration,
    /// The tagged single-instance groups' handler, when the fleet serves them (`SERVE_GROUPS`):
    /// group mode's, run inside this handler's turn.
    groups: Option<group::Handler>,
}

impl Handler {
    /// A handler for every tagged pair; with `dry_run` it only plans.
    pub fn new(config: Config, clients: pair::Clients, dry_run: bool) -> Self {
        let requests = RequestCounter::default();
        let clients = clients.counted(&requests);
        Self::counting(config, clients, requests, dry_run)
    }

    /// A handler whose clients already count their requests on `requests`.
    pub fn counting(config: Config, clients: pair::Clients, requests: RequestCounter, dry_run: bool) -> Self {
        let frame = Frame::counting(dry_run, requests);
        Self { config, clients, frame, regional: Arc::default(), budget: SWEEP_BUDGET, groups: None }
    }

    /// The same handler, serving the tagged groups too with `groups` (group mode's handler, whose
    /// clients count on the same counter), as a fleet's groups ([`group::Config::fleet`]).
    pub fn serving_groups(self, groups: Option<group::Handler>) -> Self {
        Self { groups: groups.map(group::Handler::in_fleet), ..self }
    }

    /// The same handler with another reconcile budget (see [`SWEEP_BUDGET`]).
    pub fn with_budget(self, budget: Duration) -> Self {
        Self { budget, ..self }
    }

    /// The same handler, publishing each failover, refusal and hold on an EventBridge bus.
    pub fn publishing(mut self, publisher: Option<crate::publish::Publisher>) -> Self {
        self.groups = self.groups.map(|g| g.publishing(publisher.clone()));
        self.frame = self.frame.publishing(publisher);
        self
    }

    /// The HTTP requests this handler's AWS clients have made so far, retries included.
    pub fn aws_requests(&self) -> u64 {
        self.frame.requests.count()
    }

    /// Handles one payload for the function `function_arn` (its alarms are the ones whose
    /// actions invoke it).
    pub async fn handle_for(&self, payload: &Value, function_arn: Option<&str>) -> Result<FleetOutcome, Error> {
        self.frame.run(self, payload, function_arn).await
    }

    /// Handles one payload without the function's ARN.
    pub async fn handle(&self, payload: &Value) -> Result<FleetOutcome, Error> {
        self.handle_for(payload, None).await
    }

    fn defaults(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |variable| self.config.default_of(variable)
    }

    /// One pair's decision, as pair mode makes it, with the alarms about its own members only
    /// (a fleet's function is the action of every pair's alarms).
    async fn decide_pair(
        &self,
        config: &pair::Config,
        trigger: &Trigger,
        function_arn: Option<&str>,
    ) -> Result<(pair::plan::Decision, Option<World>), Error> {
        if let Some(ignored) = pair::decide::screen(config, trigger) {
            return Ok((ignored, None));
        }
        let alarms = pair::alarms::alarm_reads(config, trigger, function_arn);
        let world = pair::aws::observe_with(&self.clients, &self.regional, config, &alarms, now()).await?;
        let world = pair::checked(config, own_alarms(config, world)).await;
        Ok((pair::decide::decide(config, trigger, &world), Some(world)))
    }

    /// A trigger about one pair: its tags, then its world (the pair's own reads), then its decision.
    async fn one(
        &self,
        trigger: &Trigger,
        function_arn: Option<&str>,
        name: &str,
    ) -> Result<Decided<FleetObserved, FleetAction>, Unread> {
        let (instances, addresses, tables) = aws::declarations(&self.clients.ec2, Some(name))
            .await
            .map_err(|error| Unread { error, what: "the pair's tags" })?;
        let declared = declare(&instances, &addresses, &tables, &self.defaults());
        let config = match declared.into_iter().find(|d| d.name() == name) {
            None => {
                let why = format!("no instance, Elastic IP or route table carries {PAIR}={name}");
                return Ok(Decided::One { decision: Decision::new(Verdict::Ignore, why, Vec::new()), observed: None });
            }
            Some(Declared::Broken { why, .. }) => {
                let why = format!("the tags of pair {name} declare no pair: {why}; left alone");
                return Ok(Decided::One { decision: Decision::new(Verdict::Refuse, why, Vec::new()), observed: None });
            }
            Some(Declared::Pair { config, .. }) => Arc::new(*config),
        };
        let trigger = match trigger {
            Trigger::PairCommand { command, .. } => Trigger::Command(command.clone()),
            other => other.clone(),
        };
        let (decision, world) = self
            .decide_pair(&config, &trigger, function_arn)
            .await
            .map_err(|error| Unread { error, what: "the pair" })?;
        let observed = world.map(|world| FleetObserved::Pair(Box::new(PairSeen { pair: name.to_owned(), world })));
        Ok(Decided::One { decision: wrap(name, &config, decision), observed })
    }

    /// The reconcile (or the status of every pair): the fleet's tags, every pair's world in one
    /// round, each pair decided; those with something to do act, `MAX_PARALLEL_FAILOVERS` at a
    /// time, each with its own line, until the budget is spent.
    async fn sweep(
        &self,
        trigger: &Trigger,
        function_arn: Option<&str>,
    ) -> Result<Decided<FleetObserved, FleetAction>, Unread> {
        let started = Instant::now();
        let (instances, addresses, tables) = aws::declarations(&self.clients.ec2, None)
            .await
            .map_err(|error| Unread { error, what: "the fleet's tags" })?;
        let declared = declare(&instances, &addresses, &tables, &self.defaults());
        let (mut pairs, mut broken) = (Vec::new(), Vec::new());
        for d in declared {
            match d {
                Declared::Pair { name, config } => pairs.push((name, Arc::new(*config))),
                other => broken.push(other),
            }
        }
        for b in &broken {
            if let Declared::Broken { name, why } = b {
                tracing::warn!(pair = %name, why = %why, "tags that declare no pair: left alone");
            }
        }
        let configs: Vec<&pair::Config> = pairs.iter().map(|(_, c)| c.as_ref()).collect();
        let alarms = configs.first().map(|c| pair::alarms::alarm_reads(c, trigger, function_arn)).unwrap_or_default();
        let read = pair::aws::many::observe_many(&self.clients, &self.regional, &configs, &alarms)
            .await
            .map_err(|error| Unread { error, what: "the fleet" })?;
        let now = now();
        let decided = join_all(pairs.iter().map(|(name, config)| {
            let read = &read;
            async move {
                let world = match pair::aws::assemble(config, read, now) {
                    Ok(world) => world,
                    Err(error) => return (name.clone(), config.clone(), Err(error)),
                };
                let world = pair::checked(config, own_alarms(config, world)).await;
                let decision = pair::decide::decide(config, trigger, &world);
                (name.clone(), config.clone(), Ok((decision, world)))
            }
        }))
        .await;
        let status = *trigger == Trigger::Command(Command::Status);
        let (mut parts, mut skipped, mut first_error, mut actions) = (Vec::new(), Vec::new(), None, Vec::new());
        let mut acting = Vec::new();
        for (name, config, result) in decided {
            match result {
                Err(error) => {
                    self.frame.observe_failed(Scope::Part, &error, trigger, &format!("pair {name}"));
                    parts.push(PairPart { pair: name, verdict: Verdict::ObserveFailed, reason: error.to_string() });
                    first_error.get_or_insert(error);
                }
                Ok((decision, world)) => acting.push((name, config, decision, world)),
            }
        }
        // Each pair with something to say gets its own line; a quiet one is counted in the summary.
        // A pair whose actions EC2 throttled past the SDK's retries is tried again after a pause,
        // one pair at a time, while the budget lasts (EC2's buckets refill every second: a zone's
        // worth of moves is paced to them instead of left to the next pass).
        let (mut pending, mut round) = (acting, 0);
        while !pending.is_empty() {
            let cap = if round == 0 { self.config.max_parallel_failovers.max(1) } else { 1 };
            let last = round == MAX_THROTTLE_ROUNDS;
            let acted =
                stream::iter(pending.into_iter().map(|pair| self.act_pair(trigger, pair, started, status, last)))
                    .buffer_unordered(cap)
                    .collect::<Vec<_>>()
                    .await;
            pending = Vec::new();
            for a in acted {
                match a {
                    Acted::Done(part, reports, error, note) => {
                        parts.push(part);
                        actions.extend(reports);
                        if let Some(error) = error {
                            first_error.get_or_insert(error);
                        }
                        skipped.extend(note);
                    }
                    Acted::Throttled(pair) => pending.push(*pair),
                }
            }
            if !pending.is_empty() {
                tokio::time::sleep(THROTTLE_PAUSE).await;
            }
            round += 1;
        }
        parts.sort_by(|a, b| a.pair.cmp(&b.pair));
        let verdict = if status {
            Verdict::Status
        } else {
            parts.iter().map(|p| p.verdict).max_by_key(|v| sweep_rank(*v)).unwrap_or(Verdict::NoChange)
        };
        let reason = summary(&parts, &broken, &skipped, status);
        let observed = Some(FleetObserved::Fleet(FleetSeen { pairs: parts, broken, skipped, groups: None }));
        let outcome =
            Outcome { verdict, reason, dry_run: self.frame.dry_run, trigger: trigger.clone(), observed, actions };
        Ok(Decided::Sweep { outcome, error: first_error })
    }
}

/// One pair of a reconcile, decided: its name, settings, decision and world.
type Acting = (String, Arc<pair::Config>, pair::plan::Decision, World);

/// What became of one pair's actions in a reconcile: done (or failed, or left to the next pass),
/// with its part of the summary, its reports, its error and its note; or throttled by EC2, to be
/// tried again after a pause.
enum Acted {
    Done(PairPart, Vec<Report<FleetAction>>, Option<Error>, Option<String>),
    Throttled(Box<Acting>),
}

/// The pause before a reconcile tries again the pairs EC2 throttled: EC2 refills its buckets every
/// second (`AssociateAddress`: 5 tokens a second; EC2 API reference, "Request throttling").
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

/// How many times a reconcile tries again a pair EC2 throttled, within its budget.
const MAX_THROTTLE_ROUNDS: usize = 20;

/// Whether EC2 refused a request for its rate (after the SDK's own retries).
fn throttled(error: &Error) -> bool {
    matches!(error, Error::Aws { code, .. }
        if matches!(code.as_str(), "RequestLimitExceeded" | "Throttling" | "ThrottlingException"))
}

impl Handler {
    /// Carries out one pair's decision in a reconcile and logs its line (a quiet one only in a
    /// status); past the budget, leaves it to the next pass. Throttled by EC2 while the budget
    /// lasts (and not on the `last` round), it is handed back unlogged, to be tried again: the
    /// actions are idempotent (the same move, start, stop and record), and the line it gets is its
    /// last attempt's.
    async fn act_pair(&self, trigger: &Trigger, pair: Acting, started: Instant, status: bool, last: bool) -> Acted {
        let (name, config, decision, world) = pair;
        let quiet = matches!(decision.verdict, Verdict::NoChange | Verdict::Ignore) && decision.actions.is_empty();
        if !decision.actions.is_empty() && started.elapsed() >= self.budget {
            let note = format!(
                "{name}: {} left for the next pass (the {}s budget is spent)",
                decision.verdict.name(),
                self.budget.as_secs()
            );
            let part = PairPart { pair: name, verdict: decision.verdict, reason: decision.reason };
            return Acted::Done(part, Vec::new(), None, Some(note));
        }
        let wrapped = wrap(&name, &config, decision.clone());
        let (reports, error) = self.frame.act(&wrapped, |a| self.execute(a)).await;
        if !last && error.as_ref().is_some_and(throttled) && started.elapsed() + THROTTLE_PAUSE < self.budget {
            return Acted::Throttled(Box::new((name, config, decision, world)));
        }
        let observed = FleetObserved::Pair(Box::new(PairSeen { pair: name.clone(), world }));
        let outcome = self.frame.outcome(trigger.clone(), wrapped, Some(observed), reports);
        if !quiet || status {
            self.frame.log_part(&outcome, error.as_ref()).await;
        }
        let error = failure(outcome.verdict, &outcome.reason, error);
        let part = PairPart { pair: name, verdict: outcome.verdict, reason: outcome.reason };
        Acted::Done(part, outcome.actions, error, None)
    }
}

/// The reconcile's summary: how many pairs, each pair that did or said something, what was left.
fn summary(parts: &[PairPart], broken: &[Declared], skipped: &[String], status: bool) -> String {
    let quiet = parts.iter().filter(|p| p.verdict == Verdict::NoChange).count();
    let mut reason = if status {
        format!("{} pair(s)", parts.len())
    } else {
        format!("reconciled {} pair(s), {quiet} with nothing to do", parts.len())
    };
    for p in parts.iter().filter(|p| status || p.verdict != Verdict::NoChange) {
        reason.push_str(&format!("; {} {}: {}", p.pair, p.verdict.name(), p.reason));
    }
    for b in broken {
        if let Declared::Broken { name, why } = b {
            reason.push_str(&format!("; left alone: {name}: {why}"));
        }
    }
    for s in skipped {
        reason.push_str(&format!("; {s}"));
    }
    reason
}

/// The pair's own alarms: those whose metrics name one of its members. A fleet's function is the
/// action of every pair's alarms; one that names no instance (a composite alarm, metric math)
/// cannot be told to be this pair's, and is not read as its evidence.
fn own_alarms(config: &pair::Config, mut world: World) -> World {
    world.alarms = world
        .alarms
        .map(|alarms| alarms.into_iter().filter(|a| a.instance_ids.iter().any(|i| config.is_member(i))).collect());
    world
}

/// A pair decision's actions, named by its pair.
fn wrap(name: &str, config: &Arc<pair::Config>, decision: pair::plan::Decision) -> Decision<FleetAction> {
    let actions = decision
        .actions
        .into_iter()
        .map(|action| FleetAction::Pair(PairAction { pair: name.to_owned(), action, config: config.clone() }))
        .collect();
    Decision::new(decision.verdict, decision.reason, actions)
}

impl Mode for Handler {
    type World = FleetObserved;
    type Action = FleetAction;

    async fn decide(
        &self,
        trigger: &Trigger,
        function_arn: Option<&str>,
    ) -> Result<Decided<FleetObserved, FleetAction>, Unread> {
        match target(trigger) {
            Target::Decided(verdict, why) => {
                Ok(Decided::One { decision: Decision::new(verdict, why, Vec::new()), observed: None })
            }
            Target::All => self.everything(trigger, function_arn).await,
            Target::Groups => match &self.groups {
                Some(groups) => Ok(groups::lift(Box::pin(groups.decide(trigger, None)).await?)),
                None => {
                    let why = "this fleet serves no groups (SERVE_GROUPS=false): group mode's deployment does";
                    Ok(Decided::One {
                        decision: Decision::new(Verdict::Ignore, why.into(), Vec::new()),
                        observed: None,
                    })
                }
            },
            Target::Named(name) => self.one(trigger, function_arn, name).await,
            Target::Instance(id) => {
                let name = aws::pair_of(&self.clients.ec2, id)
                    .await
                    .map_err(|error| Unread { error, what: "the instance's pair" })?;
                match name {
                    Some(name) => self.one(trigger, function_arn, &name).await,
                    None => {
                        let why = format!("{id} carries no {PAIR} tag: it is in no pair of the fleet");
                        Ok(Decided::One { decision: Decision::new(Verdict::Ignore, why, Vec::new()), observed: None })
                    }
                }
            }
        }
    }

    /// Carries out one pair's actions as pair mode does, or one group's as group mode does (a
    /// decision's actions are all one pair's or one group's).
    async fn execute(&self, actions: &[FleetAction]) -> (Vec<Report<FleetAction>>, Option<Error>) {
        match actions.first() {
            None => (Vec::new(), None),
            Some(FleetAction::Group(_)) => groups::execute(self.groups.as_ref(), actions).await,
            Some(FleetAction::Pair(first)) => {
                let inner: Vec<Action> = actions
                    .iter()
                    .filter_map(|a| match a {
                        FleetAction::Pair(a) => Some(a.action.clone()),
                        FleetAction::Group(_) => None,
                    })
                    .collect();
                let (reports, error) = pair::aws::execute(&self.clients.ec2, &first.config, &inner).await;
                let reports = reports
                    .into_iter()
                    .map(|r| Report {
                        action: FleetAction::Pair(PairAction {
                            pair: first.pair.clone(),
                            action: r.action,
                            config: first.config.clone(),
                        }),
                        status: r.status,
                        error: r.error,
                    })
                    .collect();
                (reports, error)
            }
        }
    }
}
