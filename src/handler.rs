//! One invocation, start to end: read the trigger, screen it, observe the pair, decide, act,
//! then report the decision in one log line and in the invocation result.

use std::sync::Arc;

use aws_sdk_ec2::Client;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::decide::{decide, screen, Decision, Verdict};
use crate::ec2::{self, ActionReport};
use crate::error::Error;
use crate::group::{self, Clients, DataSettings, GroupActionReport, GroupWorld, HeldGroup, Screened};
use crate::trigger::{self, LifecycleAction, Trigger};
use crate::world::World;

/// The invocation result: what was seen, what was decided and why, and what was done. The pair's
/// by default; group mode's is [`GroupOutcome`], with the same fields.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome<W = World, R = ActionReport> {
    /// The kind of decision.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Whether changes were only planned.
    pub dry_run: bool,
    /// The evidence the invocation started from.
    pub trigger: Trigger,
    /// The world as observed; absent when the trigger was ignored before any read.
    pub observed: Option<W>,
    /// Each planned change and what became of it.
    pub actions: Vec<R>,
}

/// The result of a group-mode invocation.
pub type GroupOutcome = Outcome<GroupObserved, GroupActionReport>;

/// Everything an invocation needs, built once at init.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The pair and its settings.
    pub config: Config,
    /// The EC2 client, built once.
    pub client: Client,
    /// One invocation at a time per execution environment: see [`Handler::handle`].
    gate: Arc<Mutex<()>>,
}

impl Handler {
    /// A handler for one pair.
    pub fn new(config: Config, client: Client) -> Self {
        Self { config, client, gate: Arc::default() }
    }

    /// Handles one payload. The clock is read once, here, so that `decide` stays pure.
    ///
    /// Invocations that share this handler take turns from observing to acting, so that the second
    /// of two concurrent deliveries observes the world the first one left (and does nothing)
    /// instead of repeating its changes. The classic Lambda runtime never overlaps invocations in
    /// one execution environment and the template's reserved concurrency of 1 keeps it to one
    /// environment; the gate keeps that true under a concurrent runtime (Lambda Managed Instances)
    /// and for anyone embedding the handler.
    pub async fn handle(&self, payload: &Value) -> Result<Outcome, Error> {
        let trigger = read(payload)?;
        let _turn = self.gate.lock().await;
        let (decision, observed) = match screen(&self.config, &trigger) {
            Some(ignored) => (ignored, None),
            None => {
                let world = ec2::observe(&self.client, &self.config, now()).await.inspect_err(|e| {
                    tracing::error!(verdict = "observe_failed", error = %e, trigger = %json(&trigger), "could not read the pair");
                })?;
                (decide(&self.config, &trigger, &world), Some(world))
            }
        };
        let (actions, error) = if self.config.dry_run {
            let planned = decision
                .actions
                .iter()
                .map(|a| ActionReport { action: a.clone(), status: "planned", error: None })
                .collect();
            (planned, None)
        } else {
            ec2::execute(&self.client, &self.config, &decision.actions).await
        };
        let Decision { verdict, reason, .. } = decision;
        let outcome = Outcome { verdict, reason, dry_run: self.config.dry_run, trigger, observed, actions };
        finish(outcome, error)
    }
}

/// Group mode's handler: the Elastic IP of a single-instance Auto Scaling group follows its
/// instance (see [`crate::group`]).
#[derive(Clone, Debug)]
pub struct GroupHandler {
    /// The EC2 and Auto Scaling clients, built once.
    pub clients: Clients,
    /// Decide and report, but change nothing.
    pub dry_run: bool,
    /// How long a launch waits for its data, and how many snapshots are kept.
    pub settings: DataSettings,
    gate: Arc<Mutex<()>>,
}

impl GroupHandler {
    /// A handler for the groups tagged `ec2-failover:group`, with the default data settings.
    pub fn new(clients: Clients, dry_run: bool) -> Self {
        Self { clients, dry_run, settings: DataSettings::default(), gate: Arc::default() }
    }

    /// Handles one payload, like [`Handler::handle`]: a lifecycle action is decided on its own; an
    /// EBS notification or a schedule sweeps every lifecycle action the managed groups hold open.
    pub async fn handle(&self, payload: &Value) -> Result<GroupOutcome, Error> {
        let trigger = read(payload)?;
        let _turn = self.gate.lock().await;
        match group::screen(&trigger) {
            Screened::Ignore(ignored) => {
                let outcome = Outcome {
                    verdict: ignored.verdict,
                    reason: ignored.reason,
                    dry_run: self.dry_run,
                    trigger,
                    observed: None,
                    actions: Vec::new(),
                };
                finish(outcome, None)
            }
            Screened::Action(action) => {
                let action = action.clone();
                let (outcome, error) = self.act(trigger, &action).await?;
                let Outcome { verdict, reason, dry_run, trigger, observed, actions } = outcome;
                let observed = observed.map(|w| GroupObserved::Action(Box::new(w)));
                finish(Outcome { verdict, reason, dry_run, trigger, observed, actions }, error)
            }
            Screened::Sweep => self.sweep(trigger).await,
        }
    }

    /// Observes one lifecycle action's world, decides, and acts (or plans, in a dry run).
    async fn act(
        &self,
        trigger: Trigger,
        action: &LifecycleAction,
    ) -> Result<(Outcome<GroupWorld, GroupActionReport>, Option<Error>), Error> {
        let world = group::observe(&self.clients, action, now(), self.settings.keep_data).await.inspect_err(|e| {
            tracing::error!(verdict = "observe_failed", error = %e, trigger = %json(&trigger), "could not read the group");
        })?;
        let decision = group::decide(action, &world, &self.settings);
        let (actions, error) = if self.dry_run {
            let planned = decision
                .actions
                .iter()
                .map(|a| GroupActionReport { action: a.clone(), status: "planned", error: None })
                .collect();
            (planned, None)
        } else {
            group::execute(&self.clients, &decision.actions).await
        };
        let outcome = Outcome {
            verdict: decision.verdict,
            reason: decision.reason,
            dry_run: self.dry_run,
            trigger,
            observed: Some(world),
            actions,
        };
        Ok((outcome, error))
    }

    /// Decides every held lifecycle action again, each with its own log line; the result sums them
    /// up. One that fails does not stop the others; the sweep then fails with the first error.
    async fn sweep(&self, trigger: Trigger) -> Result<GroupOutcome, Error> {
        let groups = group::held(&self.clients).await.inspect_err(|e| {
            tracing::error!(verdict = "observe_failed", error = %e, trigger = %json(&trigger), "could not read the groups");
        })?;
        let (held, skipped) = group::held_actions(&groups);
        let (mut decisions, mut actions, mut first_error) = (Vec::new(), Vec::new(), None);
        for action in &held {
            let (verdict, reason) = match self.act(Trigger::Lifecycle(action.clone()), action).await {
                Ok((outcome, error)) => {
                    log(&outcome, error.as_ref());
                    actions.extend(outcome.actions);
                    if let Some(error) = failure(outcome.verdict, &outcome.reason, error) {
                        first_error.get_or_insert(error);
                    }
                    (outcome.verdict, outcome.reason)
                }
                Err(error) => {
                    let reason = format!("could not read the group: {error}");
                    first_error.get_or_insert(error);
                    (Verdict::Refuse, reason)
                }
            };
            decisions.push(SweptDecision { action: action.clone(), verdict, reason });
        }
        let verdict = decisions.iter().map(|d| d.verdict).max_by_key(|v| sweep_rank(*v)).unwrap_or(Verdict::NoChange);
        let mut reason = if decisions.is_empty() {
            "no managed group holds a lifecycle action open".to_owned()
        } else {
            let each: Vec<String> = decisions
                .iter()
                .map(|d| format!("{} {}: {}", d.action.instance_id, d.verdict.name(), d.reason))
                .collect();
            format!("swept {} held lifecycle action(s): {}", decisions.len(), each.join("; "))
        };
        if !skipped.is_empty() {
            reason.push_str(&format!("; left alone: {}", skipped.join("; ")));
        }
        let observed = Some(GroupObserved::Sweep(Sweep { groups, decisions, skipped }));
        let outcome = Outcome { verdict, reason, dry_run: self.dry_run, trigger, observed, actions };
        // The failures were logged on their own lines; the summary is an error line too.
        log(&outcome, first_error.as_ref());
        match first_error {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }
}

/// Which verdict names a sweep: the most serious of its decisions.
fn sweep_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Refuse => 9,
        Verdict::Abandon => 8,
        Verdict::Preserve => 7,
        Verdict::Follow => 6,
        Verdict::Wait => 5,
        Verdict::NoChange => 1,
        _ => 0,
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
}

/// What a sweep found and decided (each decision's world is in its own log line).
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// The managed groups that hold instances, with their hooks.
    pub groups: Vec<HeldGroup>,
    /// Each held lifecycle action, decided again.
    pub decisions: Vec<SweptDecision>,
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

/// Reads the trigger; a payload it cannot read is logged and rejected before any AWS call.
fn read(payload: &Value) -> Result<Trigger, Error> {
    trigger::parse(payload).map_err(|e| {
        tracing::error!(verdict = "bad_event", error = %e, "rejected an event it cannot read");
        e.into()
    })
}

/// Logs the decision, then turns it into the invocation's result: an error if an action failed
/// or the decision is a refusal.
fn finish<W: Serialize, R: Serialize>(outcome: Outcome<W, R>, error: Option<Error>) -> Result<Outcome<W, R>, Error> {
    log(&outcome, error.as_ref());
    match failure(outcome.verdict, &outcome.reason, error) {
        Some(error) => Err(error),
        None => Ok(outcome),
    }
}

/// The error a decision ends in: its failed action's, or a refusal's.
fn failure(verdict: Verdict, reason: &str, error: Option<Error>) -> Option<Error> {
    match (error, verdict) {
        (Some(error), _) => Some(error),
        (None, Verdict::Refuse) => Some(Error::Refused(reason.to_owned())),
        (None, _) => None,
    }
}

/// Writes the one log line of a decision, with every fact as a field.
fn log<W: Serialize, R: Serialize>(outcome: &Outcome<W, R>, error: Option<&Error>) {
    let verdict = outcome.verdict.name();
    let trigger = json(&outcome.trigger);
    let observed = json(&outcome.observed);
    let actions = json(&outcome.actions);
    let reason = outcome.reason.as_str();
    let dry_run = outcome.dry_run;
    macro_rules! line {
        ($level:ident, $message:literal) => {
            tracing::$level!(verdict, reason, dry_run, trigger = %trigger, observed = %observed, actions = %actions, error = error.map(tracing::field::display), $message)
        };
    }
    match (error, outcome.verdict) {
        (Some(_), _) | (None, Verdict::Refuse) => line!(error, "decision failed"),
        (None, Verdict::Hold | Verdict::Abandon) => line!(warn, "decision"),
        (None, _) => line!(info, "decision"),
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserialisable: {e}\""))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
