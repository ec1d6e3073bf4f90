//! The frame every invocation shares, whatever the mode: reading the trigger, the outcome and its
//! one log line, and the result.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::pair::aws::ActionReport;
use crate::pair::decide::Verdict;
use crate::pair::world::World;
use crate::trigger::{self, Trigger};

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

/// Reads the trigger; a payload it cannot read is logged and rejected before any AWS call.
pub(crate) fn read(payload: &Value) -> Result<Trigger, Error> {
    trigger::parse(payload).map_err(|e| {
        tracing::error!(verdict = "bad_event", error = %e, "rejected an event it cannot read");
        e.into()
    })
}

/// Logs the decision, then turns it into the invocation's result: an error if an action failed
/// or the decision is a refusal.
pub(crate) fn finish<W: Serialize, R: Serialize>(
    outcome: Outcome<W, R>,
    error: Option<Error>,
) -> Result<Outcome<W, R>, Error> {
    log(&outcome, error.as_ref());
    match failure(outcome.verdict, &outcome.reason, error) {
        Some(error) => Err(error),
        None => Ok(outcome),
    }
}

/// The error a decision ends in: its failed action's, or a refusal's.
pub(crate) fn failure(verdict: Verdict, reason: &str, error: Option<Error>) -> Option<Error> {
    match (error, verdict) {
        (Some(error), _) => Some(error),
        (None, Verdict::Refuse) => Some(Error::Refused(reason.to_owned())),
        (None, _) => None,
    }
}

/// Writes the one log line of a decision, with every fact as a field.
pub(crate) fn log<W: Serialize, R: Serialize>(outcome: &Outcome<W, R>, error: Option<&Error>) {
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

pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserialisable: {e}\""))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
