//! The frame every invocation shares, whatever the mode, and that knows no mode: it owns the
//! sequence. [`Frame::run`] reads the trigger, waits for the invocation's turn at the gate, asks
//! the mode ([`Mode`]) to observe and decide, carries the decision out through the mode (or only
//! plans it, in a dry run), writes the one decision line, and turns it into the result. A sweep
//! (group mode) decides and acts on its parts itself, logging each as a part, and the frame logs
//! its summary.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use crate::decision::{Decision, Outcome, Report, Verdict};
use crate::error::Error;
use crate::record::{self, HasFacts, RequestCounter, Said, Scope, Totals};
use crate::trigger::{self, Trigger};

/// What a mode decided about one trigger, for the frame to carry out, log and return.
#[derive(Debug)]
pub enum Decided<W, A> {
    /// One decision: the frame acts on it, logs it as the whole invocation and returns it.
    One {
        /// The decision.
        decision: Decision<A>,
        /// The world it was made on; none when nothing was read (an ignored trigger).
        observed: Option<W>,
    },
    /// A sweep's summary of the decisions it carried out and logged as parts (its first error, if
    /// any): the frame logs it with the invocation's totals and returns it.
    Sweep {
        /// The summary.
        outcome: Outcome<W, A>,
        /// The first error of its parts.
        error: Option<Error>,
    },
}

/// A read of the world that failed, so that nothing was decided: the frame logs it as
/// `observe_failed` about `what`, and the invocation ends with the error.
#[derive(Debug)]
pub struct Unread {
    /// What AWS answered.
    pub error: Error,
    /// What could not be read ("the pair", "the groups").
    pub what: &'static str,
}

/// One mode as the frame runs it: it observes and decides, and it carries out its own actions.
// The function runs on Lambda's one thread: the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Mode {
    /// What the mode observes.
    type World: Serialize;
    /// What its decisions do.
    type Action: Serialize + Clone;

    /// Observes (nothing for a trigger the mode ignores) and decides, for the function
    /// `function_arn` (the invocation context's, when known).
    async fn decide(
        &self,
        trigger: &Trigger,
        function_arn: Option<&str>,
    ) -> Result<Decided<Self::World, Self::Action>, Unread>;

    /// Carries out a decision's actions: a report per action, and the first error.
    async fn execute(&self, actions: &[Self::Action]) -> (Vec<Report<Self::Action>>, Option<Error>);
}

/// What every handler holds besides its mode's clients and settings: whether it only plans, and
/// the gate that makes invocations sharing it take turns.
///
/// Invocations that share a handler take turns from observing to acting, so that the second of
/// two concurrent deliveries observes the world the first one left (and does nothing) instead of
/// repeating its changes. The classic Lambda runtime never overlaps invocations in one execution
/// environment and the templates' reserved concurrency of 1 keeps it to one environment; the gate
/// keeps that true under a concurrent runtime (Lambda Managed Instances) and for anyone embedding
/// a handler.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// Decide and report, but change nothing (`DRY_RUN`).
    pub dry_run: bool,
    gate: Arc<Mutex<()>>,
    /// Counts the requests of the mode's AWS clients (each mode adds it to them).
    pub requests: RequestCounter,
    /// Where the decisions worth acting on go as events (`EVENT_BUS`), if anywhere.
    pub publisher: Option<crate::publish::Publisher>,
}

/// An invocation's turn, from its payload's arrival to its last line: while it is held no other
/// invocation sharing the frame observes or acts, and it measures what the invocation cost.
#[derive(Debug)]
pub struct Turn<'a> {
    _gate: MutexGuard<'a, ()>,
    started: Instant,
    requests_before: u64,
    requests: &'a RequestCounter,
}

impl Turn<'_> {
    /// The AWS requests made and the time spent since the invocation began.
    pub fn totals(&self) -> Totals {
        Totals {
            aws_requests: self.requests.count().saturating_sub(self.requests_before),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl Frame {
    /// A frame that acts, or only plans when `dry_run`.
    pub fn new(dry_run: bool) -> Self {
        Self { dry_run, ..Self::default() }
    }

    /// The same, measuring the requests `requests` counts (the mode's clients').
    pub fn counting(dry_run: bool, requests: RequestCounter) -> Self {
        Self { dry_run, requests, ..Self::default() }
    }

    /// Reads the payload, then waits for this invocation's turn. A payload that cannot be read is
    /// logged and rejected before any AWS call, without waiting.
    pub async fn start(&self, payload: &Value) -> Result<(Trigger, Turn<'_>), Error> {
        let started = Instant::now();
        let trigger = trigger::parse(payload).map_err(|e| {
            tracing::error!(verdict = "bad_event", error = %e, "rejected an event it cannot read");
            Error::from(e)
        })?;
        let gate = self.gate.lock().await;
        let turn = Turn { _gate: gate, started, requests_before: self.requests.count(), requests: &self.requests };
        Ok((trigger, turn))
    }

    /// Runs one invocation of `mode`: the trigger, the turn, the mode's decision, its actions (or
    /// the plan, in a dry run), the decision line, the result.
    pub async fn run<M: Mode>(
        &self,
        mode: &M,
        payload: &Value,
        function_arn: Option<&str>,
    ) -> Result<Outcome<M::World, M::Action>, Error>
    where
        Outcome<M::World, M::Action>: HasFacts,
    {
        let (trigger, turn) = self.start(payload).await?;
        match mode.decide(&trigger, function_arn).await {
            Err(Unread { error, what }) => {
                self.observe_failed(Scope::Whole(turn.totals()), &error, &trigger, what);
                Err(error)
            }
            Ok(Decided::One { decision, observed }) => {
                let (actions, error) = self.act(&decision, |actions| mode.execute(actions)).await;
                let outcome = self.outcome(trigger, decision, observed, actions);
                let line = log(&outcome, error.as_ref(), Scope::Whole(turn.totals()));
                self.publish(&outcome, &line).await;
                match failure(outcome.verdict, &outcome.reason, error) {
                    Some(error) => Err(error),
                    None => Ok(outcome),
                }
            }
            Ok(Decided::Sweep { outcome, error }) => {
                // The parts were logged on their own lines; the summary is an error line too.
                log(&outcome, error.as_ref(), Scope::Summary(turn.totals()));
                match error {
                    Some(error) => Err(error),
                    None => Ok(outcome),
                }
            }
        }
    }

    /// Logs one decision of a sweep on its own line, and publishes it when it is worth acting on.
    pub async fn log_part<W: Serialize, A: Serialize>(&self, outcome: &Outcome<W, A>, error: Option<&Error>)
    where
        Outcome<W, A>: HasFacts,
    {
        let line = log(outcome, error, Scope::Part);
        self.publish(outcome, &line).await;
    }

    /// Sends a decision line out as an event ([`crate::publish`]), unless this is a dry run or
    /// nowhere is set.
    async fn publish<W, A>(&self, outcome: &Outcome<W, A>, line: &str) {
        if let (Some(publisher), false) = (&self.publisher, self.dry_run) {
            // Boxed: the SDK's request future is large, and every invocation's future would
            // carry it, on the one thread's stack, whether it publishes or not.
            Box::pin(publisher.publish(outcome.verdict, line)).await;
        }
    }

    /// The same frame, publishing to `publisher`.
    pub fn publishing(self, publisher: Option<crate::publish::Publisher>) -> Self {
        Self { publisher, ..self }
    }

    /// Logs a failed read of the world as a decision line (`observe_failed`); the invocation, or
    /// the part of a sweep, ends with that error, deciding nothing.
    pub fn observe_failed(&self, scope: Scope, error: &Error, trigger: &Trigger, what: &str) {
        let reason = format!("could not read {what}");
        let said: Said<'_, (), ()> = Said {
            verdict: Verdict::ObserveFailed,
            reason: &reason,
            dry_run: self.dry_run,
            trigger,
            observed: None,
            actions: &[],
            error: Some(error.to_string()),
        };
        let (level, line) = said.line(record::Facts::default(), scope, record::function_name(), now_ms());
        record::write(level, &line);
    }

    /// Carries out the decision's actions with `execute`, or, in a dry run, reports them planned.
    pub async fn act<'a, A, F>(
        &self,
        decision: &'a Decision<A>,
        execute: impl FnOnce(&'a [A]) -> F,
    ) -> (Vec<Report<A>>, Option<Error>)
    where
        A: Clone,
        F: Future<Output = (Vec<Report<A>>, Option<Error>)>,
    {
        if self.dry_run {
            let planned = decision.actions.iter().map(Report::planned).collect();
            (planned, None)
        } else {
            execute(&decision.actions).await
        }
    }

    /// The outcome of a decision, its actions' reports and what was observed.
    pub fn outcome<W, A>(
        &self,
        trigger: Trigger,
        decision: Decision<A>,
        observed: Option<W>,
        actions: Vec<Report<A>>,
    ) -> Outcome<W, A> {
        let Decision { verdict, reason, .. } = decision;
        Outcome { verdict, reason, dry_run: self.dry_run, trigger, observed, actions }
    }
}

/// The error a decision ends in: its failed action's, or a refusal's.
pub fn failure(verdict: Verdict, reason: &str, error: Option<Error>) -> Option<Error> {
    match (error, verdict) {
        (Some(error), _) => Some(error),
        (None, Verdict::Refuse) => Some(Error::Refused(reason.to_owned())),
        (None, _) => None,
    }
}

/// Writes the one log line of a decision (see [`record`]): its facts as flat fields, its outcome,
/// and its metrics for `scope`.
pub fn log<W: Serialize, A: Serialize>(outcome: &Outcome<W, A>, error: Option<&Error>, scope: Scope) -> String
where
    Outcome<W, A>: HasFacts,
{
    let (level, line) = said(outcome, error).line(outcome.facts(), scope, record::function_name(), now_ms());
    record::write(level, &line);
    line
}

/// What an outcome's decision line says, with the error the decision ends in.
pub fn said<'a, W, A>(outcome: &'a Outcome<W, A>, error: Option<&Error>) -> Said<'a, W, A> {
    Said {
        verdict: outcome.verdict,
        reason: &outcome.reason,
        dry_run: outcome.dry_run,
        trigger: &outcome.trigger,
        observed: outcome.observed.as_ref(),
        actions: &outcome.actions,
        error: error.map(ToString::to_string),
    }
}

/// Milliseconds since the Unix epoch, for the metrics' timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The clock, read once per invocation by the handlers so that the decisions stay pure.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
