//! The decision line: each decision is one JSON object on stdout, whatever the log format, with
//! the facts worth filtering on as flat fields, the whole outcome as nested objects, and
//! CloudWatch metrics in the Embedded Metric Format (EMF), which costs no API call and no client.
//!
//! - Lambda passes a line that is already JSON through as it is ("Lambda does not double-encode
//!   logs that are already JSON-encoded", Lambda Developer Guide, "Configuring JSON and plain text
//!   log formats"); its `level` key is what Lambda's log-level filter reads ("Log-level filtering").
//!   A line dropped by that filter takes its metrics with it: the templates keep INFO.
//! - CloudWatch Logs extracts metrics from any log event with an `_aws` member that follows the
//!   specification (CloudWatch User Guide, "Specification: Embedded metric format",
//!   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//!   every dimension a directive names is a top-level string member, every metric a top-level
//!   number, at most 30 dimensions per set and 100 metrics per directive, the event at most 256 KB.
//! - Logs Insights discovers the fields of a JSON event in order and stops at 200, so the flat facts
//!   come first and the observed world (which can be large) last.
//!
//! A sweep (group mode) logs a line per decision and a summary: the decisions are counted on their
//! own lines, the invocation's AWS round trips and duration on the summary, so nothing is counted
//! twice ([`Scope`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use serde::Serialize;
use tracing::Level;

use crate::decision::{Report, Status, Verdict};
use crate::trigger::Trigger;

/// The CloudWatch namespace of the function's metrics.
pub const NAMESPACE: &str = "ec2-failover";

/// The dimension that names the function (its name, as `AWS_LAMBDA_FUNCTION_NAME` says).
pub const FUNCTION: &str = "function";

/// The largest line written whole; past it the observed world is left out (a CloudWatch Logs
/// event is at most 256 KB, and Lambda splits a longer line, which breaks its JSON and metrics).
pub const MAX_LINE_BYTES: usize = 200 * 1024;

/// The facts of a decision worth filtering on, as flat fields of its line (each mode fills them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// The instance that held the Elastic IP when the world was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// The instance the decision gives the IP to (or starts, to give it the IP later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The instance the decision stops (pair mode's fencing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
    /// What caused the failover the decision records (pair mode: `alarm:NAME`, `probe`,
    /// `switchover`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The pair a fleet's decision is about (fleet mode: its `ec2-failover:pair` name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    /// The Auto Scaling group (group mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The instance a lifecycle action holds (group mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Group mode: a launch that restores an older snapshot because newer data could not be
    /// reached in time: how old its data is, in seconds (the data lost, at most).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_seconds: Option<i64>,
    /// Whether the address moved in this decision (its move action is `done`): a failover counts
    /// only then, not when it only starts the standby, plans, or fails.
    #[serde(skip)]
    pub moved: bool,
}

/// The facts of an outcome; each mode says how to read them from its world and actions.
pub trait HasFacts {
    /// The outcome's facts.
    fn facts(&self) -> Facts;
}

/// What a line stands for, so that a sweep's lines are not counted twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A decision that is the whole invocation: counted, with the invocation's totals.
    Whole(Totals),
    /// One decision among several (a sweep's): counted; the totals come with the summary.
    Part,
    /// A sweep's summary of the decisions logged before it: the invocation's totals only.
    Summary(Totals),
}

/// What an invocation cost, measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// HTTP requests to AWS, each retry attempt counted.
    pub aws_requests: u64,
    /// Milliseconds from the payload's arrival to the line.
    pub duration_ms: u64,
}

/// Counts the HTTP requests of the AWS clients it is added to (each attempt, retries included).
#[derive(Clone, Debug, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    /// Requests counted so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The metrics one line carries: `None` is absent from the line and from its `_aws` directives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metrics {
    /// 1 for each decision, by verdict (dimensions `function`, `verdict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<u64>,
    /// 1 when the address moved because the instance serving it failed or went: pair mode's
    /// `fail_over` and `finish` (a failover carried on), group mode's `follow` (a new instance of
    /// the group took the IP), each only once its move is `done`. A dry run moves nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failovers: Option<u64>,
    /// 1 for a refusal: a person is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusals: Option<u64>,
    /// 1 for a failover held by the cooldown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<u64>,
    /// The actions AWS refused or that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_actions: Option<u64>,
    /// 1 for the instance holding the IP (dimensions `function`, `active`): graphed, it shows
    /// which instance served when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<u64>,
    /// The invocation's HTTP requests to AWS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_requests: Option<u64>,
    /// The invocation's duration, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// Every metric name, its unit and the dimension set it is published under, for the directives
/// and for the templates' tests (the alarm and the dashboard name these).
pub const METRICS: [(&str, &str, &[&str]); 8] = [
    ("Decisions", "Count", &[FUNCTION, "verdict"]),
    ("Failovers", "Count", &[FUNCTION]),
    ("Refusals", "Count", &[FUNCTION]),
    ("Holds", "Count", &[FUNCTION]),
    ("FailedActions", "Count", &[FUNCTION]),
    ("Serving", "Count", &[FUNCTION, "active"]),
    ("AwsRequests", "Count", &[FUNCTION]),
    ("Duration", "Milliseconds", &[FUNCTION]),
];

impl Metrics {
    /// The metrics of one line.
    pub fn of(verdict: Verdict, dry_run: bool, failed_actions: u64, facts: &Facts, scope: Scope) -> Self {
        let flag = |on: bool| Some(u64::from(on));
        let counted = match scope {
            Scope::Whole(_) | Scope::Part => Metrics {
                decisions: Some(1),
                failovers: flag(
                    facts.moved && matches!(verdict, Verdict::FailOver | Verdict::Finish | Verdict::Follow) && !dry_run,
                ),
                refusals: flag(verdict == Verdict::Refuse),
                holds: flag(verdict == Verdict::Hold),
                failed_actions: Some(failed_actions),
                serving: facts.active.as_ref().map(|_| 1),
                ..Metrics::default()
            },
            Scope::Summary(_) => Metrics::default(),
        };
        match scope {
            Scope::Whole(totals) | Scope::Summary(totals) => {
                Metrics { aws_requests: Some(totals.aws_requests), duration: Some(totals.duration_ms), ..counted }
            }
            Scope::Part => counted,
        }
    }

    fn present(&self) -> [bool; 8] {
        [
            self.decisions.is_some(),
            self.failovers.is_some(),
            self.refusals.is_some(),
            self.holds.is_some(),
            self.failed_actions.is_some(),
            self.serving.is_some(),
            self.aws_requests.is_some(),
            self.duration.is_some(),
        ]
    }
}

/// The `_aws` member: when, and which members are metrics under which dimensions.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Emf {
    timestamp: i64,
    cloud_watch_metrics: Vec<Directive>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive {
    namespace: &'static str,
    dimensions: [&'static [&'static str]; 1],
    metrics: Vec<MetricName>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricName {
    name: &'static str,
    unit: &'static str,
}

/// The dimension sets `Failovers` is also published under, per pair (fleet mode) or per group:
/// one metric per pair or group (CloudWatch bills each), so that a fleet's dashboard shows which.
pub const UNIT_DIMENSIONS: [&[&str]; 2] = [&[FUNCTION, "pair"], &[FUNCTION, "group"]];

/// The per-pair or per-group dimension set of a line, when its facts name one.
fn unit_dimension(facts: &Facts) -> Option<&'static [&'static str]> {
    match (&facts.pair, &facts.group) {
        (Some(_), _) => Some(UNIT_DIMENSIONS[0]),
        (None, Some(_)) => Some(UNIT_DIMENSIONS[1]),
        (None, None) => None,
    }
}

impl Emf {
    /// One directive per dimension set, naming the metrics present; `Failovers` also under the
    /// line's pair or group (`unit`).
    fn of(metrics: &Metrics, timestamp: i64, unit: Option<&'static [&'static str]>) -> Option<Self> {
        let mut directives: Vec<Directive> = Vec::new();
        for ((name, unit, dimensions), present) in METRICS.iter().zip(metrics.present()) {
            if !present {
                continue;
            }
            let metric = MetricName { name, unit };
            match directives.iter_mut().find(|d| d.dimensions[0] == *dimensions) {
                Some(directive) => directive.metrics.push(metric),
                None => {
                    directives.push(Directive { namespace: NAMESPACE, dimensions: [dimensions], metrics: vec![metric] })
                }
            }
        }
        if let (Some(unit), Some(_)) = (unit, metrics.failovers) {
            let metric = MetricName { name: "Failovers", unit: "Count" };
            directives.push(Directive { namespace: NAMESPACE, dimensions: [unit], metrics: vec![metric] });
        }
        (!directives.is_empty()).then_some(Emf { timestamp, cloud_watch_metrics: directives })
    }
}

/// One decision line, its members in the order Logs Insights should discover them.
#[derive(Debug, Serialize)]
pub struct Line<'a, W, A> {
    level: &'static str,
    message: &'static str,
    /// RFC 3339, which Lambda's log-level filtering reads ("Log-level filtering": a line without a
    /// valid timestamp is assigned one, and the level INFO).
    timestamp: String,
    verdict: &'static str,
    reason: &'a str,
    #[serde(flatten)]
    facts: Facts,
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    function: &'a str,
    #[serde(flatten)]
    metrics: Metrics,
    trigger: &'a Trigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: Option<&'a W>,
    actions: &'a [Report<A>],
    #[serde(skip_serializing_if = "Option::is_none")]
    _aws: Option<Emf>,
}

/// What one line says, before it is laid out.
#[derive(Debug)]
pub struct Said<'a, W, A> {
    /// The decision's verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: &'a str,
    /// Whether changes were only planned.
    pub dry_run: bool,
    /// The evidence.
    pub trigger: &'a Trigger,
    /// The world as observed, if read.
    pub observed: Option<&'a W>,
    /// The actions and what became of them.
    pub actions: &'a [Report<A>],
    /// The error the decision ends in, if any.
    pub error: Option<String>,
}

impl<W: Serialize, A: Serialize> Said<'_, W, A> {
    /// The line as JSON: `level` from the verdict and the error, the facts, the metrics for the
    /// line's scope, the outcome, and the EMF directives; `function` names the function and
    /// `timestamp_ms` is when (milliseconds since the Unix epoch).
    pub fn line(&self, facts: Facts, scope: Scope, function: &str, timestamp_ms: i64) -> (Level, String) {
        let (level, message) = match (self.error.is_some(), self.verdict) {
            (true, _) | (false, Verdict::Refuse | Verdict::ObserveFailed) => (Level::ERROR, "decision failed"),
            (false, Verdict::Hold | Verdict::Abandon | Verdict::Paused) => (Level::WARN, "decision"),
            (false, _) => (Level::INFO, "decision"),
        };
        let failed = self.actions.iter().filter(|r| r.status == Status::Failed).count();
        let failed = u64::try_from(failed).unwrap_or(u64::MAX);
        let metrics = Metrics::of(self.verdict, self.dry_run, failed, &facts, scope);
        let timestamp = aws_sdk_ec2::primitives::DateTime::from_millis(timestamp_ms)
            .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
            .unwrap_or_default();
        let emf = Emf::of(&metrics, timestamp_ms, unit_dimension(&facts));
        let mut line = Line {
            level: level.as_str(),
            message,
            timestamp,
            verdict: self.verdict.name(),
            reason: self.reason,
            facts,
            dry_run: self.dry_run,
            error: self.error.clone(),
            function,
            metrics,
            trigger: self.trigger,
            observed: self.observed,
            actions: self.actions,
            _aws: emf,
        };
        let text = to_json(&line);
        if text.len() <= MAX_LINE_BYTES {
            return (level, text);
        }
        line.observed = None;
        (level, to_json(&line))
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"level\":\"ERROR\",\"message\":\"the decision line is unserialisable: {e}\"}}"))
}

/// The function's name for the `function` dimension: `AWS_LAMBDA_FUNCTION_NAME`, read once
/// (`local` outside Lambda: a dimension value must not be empty).
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "local".into())
    })
}

/// Writes a line to stdout when the log level lets its level through.
pub fn write(level: Level, line: &str) {
    use std::io::Write;
    // A callsite's level is a constant, hence one `enabled!` per level.
    let enabled = match level {
        Level::ERROR => tracing::enabled!(Level::ERROR),
        Level::WARN => tracing::enabled!(Level::WARN),
        _ => tracing::enabled!(Level::INFO),
    };
    if enabled {
        // Nothing to do if stdout is gone; the invocation's result still says what happened.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}
