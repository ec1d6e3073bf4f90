//! Group mode: a single-instance Auto Scaling group (min = max = desired = 1 over subnets in two
//! Availability Zones) whose Elastic IP follows the instance. The group's launch lifecycle hook
//! holds each new instance in `Pending:Wait`; the function gives it the group's Elastic IP, then
//! completes the hook. The instance needs no EC2 permission of its own.
//!
//! Which Elastic IP belongs to which group is said by tags: the group and its address both carry
//! `ec2-failover:group` with the same value, so one deployed function serves many groups.
//!
//! Same shape as the pair: `aws::observe` (five parallel reads) into a [`world::GroupWorld`], a pure
//! [`decide::decide`] (with the data policy in [`data`]), `aws::execute`.
//!
//! Stateful groups: a group-tagged EBS volume holds the data; the terminate hook snapshots it and
//! the launch hook restores it in the new instance's zone (see [`data`]). A launch that must
//! wait for AWS (a snapshot, a volume) is decided again by the next EBS notification or schedule,
//! which sweeps every lifecycle action the managed groups hold open.

pub mod aws;
pub mod data;
pub mod decide;
pub mod keep;
pub mod plan;
pub mod status;
pub mod world;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

pub use self::aws::Clients;
use self::decide::Screened;
use self::plan::GroupAction;
use self::world::{GroupWorld, HeldGroup};
use crate::decision::{Outcome, Report, Status, Verdict};
use crate::error::Error;
use crate::invocation::{failure, now, Decided, Frame, Mode, Unread};
use crate::record::{Facts, HasFacts, Scope};
use crate::trigger::{LifecycleAction, Trigger};

/// The result of a group-mode invocation.
pub type GroupOutcome = Outcome<GroupObserved, GroupAction>;

/// Group mode's settings: what the groups' data needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Whether groups keep data volumes (`KEEP_DATA`); when not, no volume or snapshot is read.
    pub keep_data: bool,
    /// How long a launch may wait for its data before it is abandoned (`MAX_WAIT_SECONDS`).
    pub max_wait_seconds: i64,
    /// How many completed snapshots of a group to keep (`KEEP_SNAPSHOTS`).
    pub keep_snapshots: usize,
    /// The one group key this deployment serves (`GROUP_KEY`); none: every tagged group. Two
    /// stacks in one region each act only on their own group, so each group has one writer.
    pub key: Option<String>,
    /// The rate, in MiB/s, at which a volume restored from a snapshot is initialized
    /// (`DATA_INIT_RATE_MIBPS`, EBS's Provisioned Rate for Volume Initialization, 100 to 300): the
    /// restored volume is fully readable after its size over this rate. None: EBS's default rate,
    /// which fluctuates.
    pub init_rate_mibps: Option<i32>,
    /// How often a sweep snapshots each settled group's data volume (`SNAPSHOT_EVERY_SECONDS`):
    /// the data a zone loss can take is then bounded by it. None: only the terminate hook does.
    pub snapshot_every_seconds: Option<i64>,
    /// With periodic snapshots: how long a launch waits for data newer than the newest completed
    /// snapshot (the old volume's release, its terminate snapshot) before it restores that one
    /// and says how old its data is (`DATA_WAIT_SECONDS`).
    pub data_wait_seconds: i64,
    /// Serving a fleet's groups (`MODE=fleet`), which are their owners' and may carry other tools'
    /// hooks: only hooks whose name starts with `ec2-failover` are answered, and a group that a
    /// group stack serves (`ec2-failover:stack`) is left to that stack's function.
    pub fleet: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keep_data: true,
            max_wait_seconds: 3_600,
            keep_snapshots: 3,
            key: None,
            init_rate_mibps: None,
            snapshot_every_seconds: None,
            data_wait_seconds: 300,
            fleet: false,
        }
    }
}

/// How long a sweep decides held lifecycle actions before it leaves the rest to the next one: well
/// inside the templates' 60-second function timeout, even when every AWS call is retried.
pub const SWEEP_BUDGET: Duration = Duration::from_secs(40);

/// Group mode's handler: the Elastic IP (and data volume) of each single-instance Auto Scaling
/// group tagged `ec2-failover:group` follows its instance.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The EC2 and Auto Scaling clients, built once.
    pub clients: Clients,
    /// How long a launch waits for its data, and how many snapshots are kept.
    pub config: Config,
    sweep_budget: Duration,
    frame: Frame,
    /// When the last complete sweep of this execution environment began, in seconds since the
    /// Unix epoch (see [`decide::seen_by_last_sweep`]); shared by the handler's clones.
    last_sweep: Arc<Mutex<Option<f64>>>,
}

impl Handler {
    /// A handler for the groups tagged `ec2-failover:group`; with `dry_run` it only plans.
    pub fn new(config: Config, clients: Clients, dry_run: bool) -> Self {
        let requests = crate::record::RequestCounter::default();
        let clients = clients.counted(&requests);
        Self::counting(config, clients, requests, dry_run)
    }

    /// A handler whose clients already count their requests on `requests` (built so at init).
    pub fn counting(config: Config, clients: Clients, requests: crate::record::RequestCounter, dry_run: bool) -> Self {
        let frame = Frame::counting(dry_run, requests);
        Self { clients, config, sweep_budget: SWEEP_BUDGET, frame, last_sweep: Arc::default() }
    }

    /// The same handler, serving a fleet's groups ([`Config::fleet`]).
    pub fn in_fleet(mut self) -> Self {
        self.config.fleet = true;
        self
    }

    /// The same handler with another sweep budget (see [`SWEEP_BUDGET`]).
    pub fn with_sweep_budget(self, sweep_budget: Duration) -> Self {
        Self { sweep_budget, ..self }
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

    /// Handles one payload: a lifecycle action is decided on its own; an EBS notification or a
    /// schedule sweeps every lifecycle action the managed groups hold open. The frame runs it
    /// ([`Frame::run`]), the groups are observed, decided and acted on here ([`Mode`]).
    pub async fn handle(&self, payload: &Value) -> Result<GroupOutcome, Error> {
        self.frame.run(self, payload, None).await
    }

    /// Observes one lifecycle action's world, decides, and acts (or plans, in a dry run). A failed
    /// read is returned for the caller to log (as the invocation's, or as a part of a sweep).
    async fn act(
        &self,
        trigger: Trigger,
        action: &LifecycleAction,
    ) -> Result<(Outcome<GroupWorld, GroupAction>, Option<Error>), Error> {
        let world = aws::observe(&self.clients, action, now(), self.config.keep_data).await?;
        let decision = decide::decide(action, &world, &self.config);
        let (actions, error) = self.frame.act(&decision, |actions| aws::execute(&self.clients, actions)).await;
        Ok((self.frame.outcome(trigger, decision, Some(world), actions), error))
    }

    /// Decides every held lifecycle action again, each with its own log line; the summary sums
    /// them up. One that fails does not stop the others; the sweep then fails with the first error.
    async fn sweep(&self, trigger: &Trigger) -> Result<Decided<GroupObserved, GroupAction>, Unread> {
        let trigger = trigger.clone();
        let groups = aws::held(&self.clients, self.config.key.as_deref())
            .await
            .map_err(|error| Unread { error, what: "the groups" })?;
        let (groups, mut skipped) = decide::served(groups, &self.config);
        let (held, notes) = decide::held_actions(&groups, self.config.fleet);
        skipped.extend(notes);
        let (began, mut cut_short) = (wall_clock(), false);
        let (mut decisions, mut actions, mut first_error) = (Vec::new(), Vec::new(), None);
        let started = Instant::now();
        for action in &held {
            // Under throttling each action may take many retried calls: past the budget the rest
            // are left to the next sweep (a minute later), not to a function timeout.
            if started.elapsed() >= self.sweep_budget {
                cut_short = true;
                skipped.push(format!(
                    "{} in {}: left for the next sweep (the {}s budget is spent)",
                    action.instance_id,
                    action.group,
                    self.sweep_budget.as_secs()
                ));
                continue;
            }
            let part = Trigger::Lifecycle(action.clone());
            let (verdict, reason) = match self.act(part.clone(), action).await {
                Ok((outcome, error)) => {
                    self.frame.log_part(&outcome, error.as_ref()).await;
                    actions.extend(outcome.actions);
                    if let Some(error) = failure(outcome.verdict, &outcome.reason, error) {
                        first_error.get_or_insert(error);
                    }
                    (outcome.verdict, outcome.reason)
                }
                // An AWS error, not a refusal: the next sweep reads again.
                Err(error) => {
                    self.frame.observe_failed(Scope::Part, &error, &part, "the group");
                    let reason = format!("could not read the group: {error}");
                    first_error.get_or_insert(error);
                    (Verdict::ObserveFailed, reason)
                }
            };
            decisions.push(SweptDecision { action: action.clone(), verdict, reason });
        }
        let upkeep = if started.elapsed() < self.sweep_budget {
            self.upkeep(&trigger, &groups, &mut actions, &mut skipped, &mut first_error).await
        } else {
            cut_short = true;
            skipped.push("healing the addresses: left for the next sweep (the budget is spent)".into());
            Vec::new()
        };
        let verdict = decisions
            .iter()
            .map(|d| d.verdict)
            .chain(upkeep.iter().map(|h| h.verdict))
            .max_by_key(|v| crate::decision::sweep_rank(*v))
            .unwrap_or(Verdict::NoChange);
        let mut reason = if decisions.is_empty() {
            "no managed group holds a lifecycle action open".to_owned()
        } else {
            let each: Vec<String> = decisions
                .iter()
                .map(|d| format!("{} {}: {}", d.action.instance_id, d.verdict.name(), d.reason))
                .collect();
            format!("swept {} held lifecycle action(s): {}", decisions.len(), each.join("; "))
        };
        for h in &upkeep {
            reason.push_str(&format!("; {} {}: {}", h.group, h.verdict.name(), h.reason));
        }
        if !skipped.is_empty() {
            reason.push_str(&format!("; left alone: {}", skipped.join("; ")));
        }
        let observed = Some(GroupObserved::Sweep(Sweep { groups, decisions, upkeep, skipped }));
        let outcome = Outcome { verdict, reason, dry_run: self.frame.dry_run, trigger, observed, actions };
        // Only a sweep that read and decided everything has seen what happened before it began.
        if first_error.is_none() && !cut_short {
            *self.last_sweep.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(began);
        }
        Ok(Decided::Sweep { outcome, error: first_error })
    }
}

impl Mode for Handler {
    type World = GroupObserved;
    type Action = GroupAction;

    /// A lifecycle action is observed and decided on its own; an EBS notification or the schedule
    /// sweeps (unless the last sweep has seen what it is about).
    async fn decide(&self, trigger: &Trigger, _: Option<&str>) -> Result<Decided<GroupObserved, GroupAction>, Unread> {
        match decide::screen(trigger) {
            Screened::Ignore(ignored) => Ok(Decided::One { decision: ignored, observed: None }),
            Screened::Action(action) => {
                let world = aws::observe(&self.clients, action, now(), self.config.keep_data)
                    .await
                    .map_err(|error| Unread { error, what: "the group" })?;
                let decision = decide::decide(action, &world, &self.config);
                Ok(Decided::One { decision, observed: Some(GroupObserved::Action(Box::new(world))) })
            }
            Screened::Status => self.status().await,
            Screened::Sweep => {
                let last = *self.last_sweep.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match decide::seen_by_last_sweep(trigger, last) {
                    Some(seen) => Ok(Decided::One { decision: seen, observed: None }),
                    None => self.sweep(trigger).await,
                }
            }
        }
    }

    async fn execute(&self, actions: &[GroupAction]) -> (Vec<Report<GroupAction>>, Option<Error>) {
        aws::execute(&self.clients, actions).await
    }
}

impl Handler {
    /// Every managed group's status ([`status`]): the sweep's reads, the heal decision made but
    /// not carried out.
    pub(crate) async fn status(&self) -> Result<Decided<GroupObserved, GroupAction>, Unread> {
        let groups = aws::held(&self.clients, self.config.key.as_deref())
            .await
            .map_err(|error| Unread { error, what: "the groups" })?;
        let (groups, left) = decide::served(groups, &self.config);
        let ids: Vec<String> = groups.iter().filter_map(decide::serving).map(str::to_owned).collect();
        let (addresses, instances, routes) = aws::observe_serving(&self.clients, &ids)
            .await
            .map_err(|error| Unread { error, what: "the groups' addresses" })?;
        let statuses = status::statuses(&groups, &addresses, &instances, &routes, now());
        let mut summary = status::summary(&statuses);
        for note in left {
            summary.push_str(&format!("; left alone: {note}"));
        }
        let decision = plan::decision(Verdict::Status, summary, Vec::new());
        Ok(Decided::One { decision, observed: Some(GroupObserved::Status(statuses)) })
    }

    /// The sweep's second part, for each settled group: its Elastic IP goes to its serving instance
    /// ([`decide::heal`]), and with `SNAPSHOT_EVERY_SECONDS` its data volume is snapshotted when due
    /// ([`decide::snapshot_on_schedule`]), each change with its own log line. One read of the
    /// addresses and the serving instances (and then the volumes and snapshots) for all groups;
    /// nothing when no group is settled or the budget is spent.
    async fn upkeep(
        &self,
        trigger: &Trigger,
        groups: &[HeldGroup],
        actions: &mut Vec<Report<GroupAction>>,
        skipped: &mut Vec<String>,
        first_error: &mut Option<Error>,
    ) -> Vec<Upkeep> {
        // Two groups that carry one key would take its address from each other on every sweep:
        // neither is healed nor snapshotted on schedule until one of them is tagged anew.
        let shared = |key: &Option<String>| key.is_some() && groups.iter().filter(|g| &g.key == key).count() > 1;
        for g in groups.iter().filter(|g| shared(&g.key)) {
            skipped.push(format!(
                "{}: another group carries {}={} too; not healed until one is tagged anew",
                g.name,
                crate::tags::GROUP,
                g.key.as_deref().unwrap_or_default()
            ));
        }
        let serving: Vec<(&HeldGroup, &str)> =
            groups.iter().filter(|g| !shared(&g.key)).filter_map(|g| Some((g, decide::serving(g)?))).collect();
        if serving.is_empty() {
            return Vec::new();
        }
        let ids: Vec<String> = serving.iter().map(|(_, id)| (*id).to_owned()).collect();
        let periodic = self.config.keep_data && self.config.snapshot_every_seconds.is_some();
        let data = async {
            match periodic {
                true => Some(aws::observe_data(&self.clients.ec2).await),
                false => None,
            }
        };
        let (read, data) = tokio::join!(aws::observe_serving(&self.clients, &ids), data);
        // The volumes and snapshots serve the periodic snapshots only: a failed read of them skips
        // those, never the addresses' healing.
        let (volumes, snapshots, data_read) = match data {
            Some(Ok((volumes, snapshots))) => (volumes, snapshots, true),
            Some(Err(error)) => {
                self.frame.observe_failed(Scope::Part, &error, trigger, "the groups' data volumes");
                skipped.push(format!("periodic snapshots: could not read the data volumes: {error}"));
                first_error.get_or_insert(error);
                (Vec::new(), Vec::new(), false)
            }
            None => (Vec::new(), Vec::new(), false),
        };
        let (addresses, instances, routes) = match read {
            Ok(read) => read,
            Err(error) => {
                self.frame.observe_failed(Scope::Part, &error, trigger, "the groups' addresses");
                skipped.push(format!("healing the addresses: could not read them: {error}"));
                first_error.get_or_insert(error);
                return Vec::new();
            }
        };
        let mut done = Vec::new();
        for (group, id) in serving {
            let instance = instances.iter().find(|i| i.instance_id == id);
            let world = group.world(instance, &addresses, &volumes, &snapshots, &routes, now());
            let heal = decide::heal(&world);
            let snapshot = data_read.then(|| decide::snapshot_on_schedule(&world, &self.config));
            for decision in std::iter::once(heal).chain(snapshot) {
                if !matches!(decision.verdict, Verdict::Heal | Verdict::Preserve) {
                    continue;
                }
                let (reports, error) = self.frame.act(&decision, |a| aws::execute(&self.clients, a)).await;
                let outcome = self.frame.outcome(trigger.clone(), decision, Some(world.clone()), reports);
                self.frame.log_part(&outcome, error.as_ref()).await;
                // EBS asks a volume's snapshots to wait for each other (a pending one, 15 s between
                // two): such a refusal of a periodic snapshot is logged on its line and tried by the
                // next sweep, and fails nothing (the function's error alarm is for what needs a person).
                let waits = |e: &Error| {
                    matches!(e, Error::Aws { code, .. }
                        if code == "SnapshotCreationPerVolumeRateExceeded" || code == "ConcurrentSnapshotLimitExceeded")
                };
                let error = error.filter(|e| !(outcome.verdict == Verdict::Preserve && waits(e)));
                if let Some(error) = failure(outcome.verdict, &outcome.reason, error) {
                    first_error.get_or_insert(error);
                }
                done.push(Upkeep { group: group.name.clone(), verdict: outcome.verdict, reason: outcome.reason });
                actions.extend(outcome.actions);
            }
        }
        done
    }
}

/// What a group-mode invocation observed: one lifecycle action's world, or a sweep's.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum GroupObserved {
    /// The group, instance, addresses, volumes and snapshots of one lifecycle action.
    Action(Box<GroupWorld>),
    /// The held lifecycle actions a sweep found, and what was decided for each.
    Sweep(Sweep),
    /// Every managed group's status.
    Status(Vec<status::GroupStatus>),
}

/// What a sweep found and decided (each decision's world is in its own log line).
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// The managed groups that hold instances, with their hooks.
    pub groups: Vec<HeldGroup>,
    /// Each held lifecycle action, decided again.
    pub decisions: Vec<SweptDecision>,
    /// Each settled group whose Elastic IP was moved to its serving instance, or whose data was
    /// snapshotted on schedule.
    pub upkeep: Vec<Upkeep>,
    /// Held instances left alone, and why.
    pub skipped: Vec<String>,
}

/// One held lifecycle action's decision in a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweptDecision {
    /// The lifecycle action.
    pub action: LifecycleAction,
    /// The kind of decision.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// A change a sweep made to a settled group: its Elastic IP moved to its serving instance, or its
/// data snapshotted on schedule.
#[derive(Clone, Debug, Serialize)]
pub struct Upkeep {
    /// The group.
    pub group: String,
    /// `heal` or `preserve`, or what the change came to.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// The facts of one group decision: its group and held instance (from the lifecycle action, or the
/// world a heal read), the instance holding the group's address, and the one the IP moves to.
pub fn facts(trigger: &Trigger, world: Option<&GroupWorld>, actions: &[(&GroupAction, Status)]) -> Facts {
    let held = match trigger {
        Trigger::Lifecycle(action) => Some(action),
        _ => None,
    };
    let group = held.map(|a| a.group.clone()).or_else(|| world?.group.as_ref().map(|g| g.name.clone()));
    let instance =
        held.map(|a| a.instance_id.clone()).or_else(|| world?.instance.as_ref().map(|i| i.instance_id.clone()));
    let active = world.and_then(|w| w.addresses.iter().find_map(|a| a.instance_id.clone()));
    let target = actions.iter().find_map(|(action, _)| match action {
        GroupAction::MoveAddress { instance_id, .. } => Some(instance_id.clone()),
        _ => None,
    });
    let moved = actions
        .iter()
        .any(|(action, status)| matches!(action, GroupAction::MoveAddress { .. }) && *status == Status::Done);
    let data_age_seconds = actions.iter().find_map(|(action, _)| match action {
        GroupAction::CreateVolume { data_age_seconds, .. } => *data_age_seconds,
        _ => None,
    });
    Facts { active, target, group, instance, moved, data_age_seconds, ..Facts::default() }
}

/// The facts of a group-mode outcome: one decision's; a sweep's or a status's summary names no one
/// group (its decisions' lines do).
pub fn observed_facts(
    trigger: &Trigger,
    observed: Option<&GroupObserved>,
    actions: &[(&GroupAction, Status)],
) -> Facts {
    match observed {
        Some(GroupObserved::Action(world)) => facts(trigger, Some(world), actions),
        Some(GroupObserved::Sweep(_) | GroupObserved::Status(_)) => Facts::default(),
        None => facts(trigger, None, actions),
    }
}

fn reported(actions: &[Report<GroupAction>]) -> Vec<(&GroupAction, Status)> {
    actions.iter().map(|r| (&r.action, r.status)).collect()
}

impl HasFacts for Outcome<GroupWorld, GroupAction> {
    fn facts(&self) -> Facts {
        facts(&self.trigger, self.observed.as_ref(), &reported(&self.actions))
    }
}

impl HasFacts for GroupOutcome {
    fn facts(&self) -> Facts {
        observed_facts(&self.trigger, self.observed.as_ref(), &reported(&self.actions))
    }
}

/// Now, in seconds since the Unix epoch, to the millisecond.
fn wall_clock() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
