//! Turns whatever invoked the function into a [`Trigger`]: the evidence an invocation starts from.
//!
//! AWS delivers the same facts in several envelopes. An alarm can arrive as a direct alarm action
//! (top-level `alarmData`), as an EventBridge `CloudWatch Alarm State Change` (alarm data under
//! `detail`), or inside an SNS notification (a JSON string in `Records[].Sns.Message`). Instance
//! state changes and scheduled reconciles arrive through EventBridge. The alarm payloads are read
//! with this module's own lenient types, because real payloads (metric math, composite alarms,
//! periods over 65535 s) do not fit aws_lambda_events' alarm structs; the envelopes use
//! aws_lambda_events' `EventBridgeEvent` and `SnsEvent`.

use serde_json::Value;

mod alarm;
mod eventbridge;

use self::alarm::{alarm_from_data, parse_sns};
use self::eventbridge::parse_eventbridge;

/// What the function accepts, quoted in every parse error.
pub const ACCEPTED: &str = "an operator's command (top-level command: status, switchover, pause, resume), a \
CloudWatch alarm action (top-level alarmData), an SNS notification carrying a \
CloudWatch alarm, or an EventBridge event (CloudWatch Alarm State Change, EC2 Instance State-change \
Notification, EC2 Spot Instance Interruption Warning, EC2 Instance Rebalance Recommendation, AWS \
Health Event, EC2 Instance-launch or -terminate Lifecycle Action, EBS Snapshot or Volume \
Notification, Scheduled Event, any event of aws.arc-zonal-shift, or any other detail-type, which is \
ignored)";

/// The evidence that started an invocation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// Evidence, from some source, that an instance is failing or is about to.
    Warning(Warning),
    /// An EC2 instance changed state.
    StateChange {
        /// The instance that changed.
        instance_id: String,
        /// Its new state as the event tells it (the world is re-read anyway).
        state: String,
    },
    /// A scheduled reconcile: no news, look at the world and converge.
    Schedule,
    /// An Auto Scaling lifecycle hook holds an instance that is launching or terminating.
    Lifecycle(LifecycleAction),
    /// EBS finished creating a snapshot or a volume: a launch waiting for its data may go on.
    Ebs {
        /// `createSnapshot`, `createVolume`, ...
        event: String,
        /// `succeeded`, `failed`, `available`...
        result: String,
        /// The snapshot or volume id, from the event's resource ARN.
        resource_id: String,
        /// When it happened (the event's `time`, seconds since the Unix epoch), if it says so
        /// readably: a sweep that began after it has already seen what it tells.
        at: Option<i64>,
    },
    /// An operator's command, by direct invocation (`{"command": ...}`).
    Command(Command),
    /// An operator's command for one pair of a fleet (`{"command": ..., "pair": "NAME"}`).
    PairCommand {
        /// The pair's name (its `ec2-failover:pair` tag).
        pair: String,
        /// The command.
        command: Command,
    },
    /// Route 53 ARC says a zonal shift, autoshift, practice run or experiment started, changed or
    /// ended (best effort: the reconcile reads the shifts too). The shifts are read again.
    ZonalShift {
        /// The event's detail-type (`Autoshift In Progress`, `Manual Shift Started`...).
        what: String,
    },
    /// A valid event this function has no business with.
    Unrelated {
        /// What it was, for the log.
        what: String,
    },
}

/// What an operator can ask of the pair by invoking the function directly with
/// `{"command": "status" | "switchover" | "pause" | "resume", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Report where the pair stands; change nothing.
    Status,
    /// A planned, make-before-break move of the IP to the other instance (`"force": true`
    /// ignores the cooldown and a pause).
    Switchover {
        /// Whether the cooldown and a pause are ignored.
        force: bool,
    },
    /// Hold still: every trigger is decided and logged as `paused`, and nothing changes.
    Pause {
        /// Why, kept with the pause on the Elastic IP.
        reason: String,
    },
    /// End a pause.
    Resume {
        /// Why, for the log.
        reason: Option<String>,
    },
}

/// The commands accepted, for the error that names an unknown one.
pub const COMMANDS: &str = "status, switchover (with \"force\": true to ignore the cooldown and a pause), \
pause (with a \"reason\"), resume";

/// An Auto Scaling lifecycle action: the group waits for it to be completed (or times out).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleAction {
    /// Launching or terminating.
    pub transition: Transition,
    /// The Auto Scaling group.
    pub group: String,
    /// The lifecycle hook that holds the instance.
    pub hook: String,
    /// The instance held.
    pub instance_id: String,
    /// The token that names this action (completing by instance id works as well).
    pub token: Option<String>,
}

/// Which way a lifecycle hook holds an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// `autoscaling:EC2_INSTANCE_LAUNCHING`: the instance waits in `Pending:Wait`.
    Launching,
    /// `autoscaling:EC2_INSTANCE_TERMINATING`: the instance waits in `Terminating:Wait`.
    Terminating,
}

/// Evidence that an instance is failing, or is about to, whoever says so. The decision reads what
/// it means (does it stand, which instance is it about), not where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Who says so.
    #[serde(flatten)]
    pub source: Source,
    /// The instances it names. Empty for a warning that names none (a composite alarm, say),
    /// which is then about the active instance.
    pub instance_ids: Vec<String>,
    /// When AWS sent it (the EventBridge event's `time`, seconds since the Unix epoch), if it says
    /// so readably: Lambda retries an asynchronous event for up to six hours, so a warning older
    /// than the failover that made its instance active again is about the past.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// Where a warning comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Source {
    /// A CloudWatch alarm changed state.
    Alarm(Alarm),
    /// `EC2 Spot Instance Interruption Warning`: EC2 takes the Spot instance in about two minutes
    /// (EC2 User Guide, "Spot Instance interruption notices").
    SpotInterruption {
        /// `terminate`, `stop` or `hibernate`.
        action: String,
    },
    /// `EC2 Instance Rebalance Recommendation`: the Spot instance is at elevated risk of
    /// interruption; whether that fails the pair over is a setting (`REBALANCE`).
    RebalanceRecommendation,
    /// `AWS Health Event` of service EC2 whose affected entities name the instances.
    Health(Health),
}

/// An AWS Health event about EC2 instances, as far as the decision reads it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// e.g. `AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`.
    pub type_code: String,
    /// `scheduledChange`, `issue` or `accountNotification` (or a category AWS adds).
    pub category: String,
    /// `open`, `upcoming` or `closed`, when the event says.
    pub status: Option<String>,
    /// When the change begins (`startTime`, seconds since the Unix epoch), if readable: AWS posts a
    /// scheduled retirement or stop weeks ahead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
}

impl Health {
    /// Whether the event announces that the instance will be taken away (retired or stopped), as
    /// opposed to rebooted or maintained: such a failover is not held back by the cooldown.
    pub fn takes_the_instance(&self) -> bool {
        let code = self.type_code.as_str();
        code.contains("RETIREMENT") || code.contains("STOP_SCHEDULED")
    }
}

impl Warning {
    /// Whether the warning stands now: an alarm does in ALARM, not in OK or INSUFFICIENT_DATA; a
    /// Spot notice always; a Health event while it is a scheduled change or an issue not closed.
    pub fn stands(&self) -> bool {
        match &self.source {
            Source::Alarm(alarm) => alarm.state == AlarmState::Alarm,
            Source::SpotInterruption { .. } | Source::RebalanceRecommendation => true,
            Source::Health(health) => {
                matches!(health.category.as_str(), "scheduledChange" | "issue")
                    && health.status.as_deref() != Some("closed")
            }
        }
    }

    /// Whether the warning says that the instance will be taken away whatever is done (a Spot
    /// interruption, a scheduled retirement or stop): the failover is not held back by the cooldown.
    pub fn is_certain_loss(&self) -> bool {
        match &self.source {
            Source::SpotInterruption { .. } => true,
            Source::Health(health) => health.takes_the_instance(),
            Source::Alarm(_) | Source::RebalanceRecommendation => false,
        }
    }

    /// Whether it is about `instance_id` by name.
    pub fn names(&self, instance_id: &str) -> bool {
        self.instance_ids.iter().any(|i| i == instance_id)
    }

    /// What it is, short, for the failover record: `alarm:NAME`, `spot`, `rebalance`, `health:CODE`.
    pub fn cause(&self) -> String {
        match &self.source {
            Source::Alarm(alarm) => format!("alarm:{}", alarm.name),
            Source::SpotInterruption { .. } => "spot".into(),
            Source::RebalanceRecommendation => "rebalance".into(),
            Source::Health(health) => format!("health:{}", health.type_code),
        }
    }

    /// Who raised it, for a reason: `alarm NAME`.
    pub fn raised_by(&self) -> String {
        match &self.source {
            Source::Alarm(alarm) => format!("alarm {}", alarm.name),
            Source::SpotInterruption { .. } => "a Spot interruption warning".into(),
            Source::RebalanceRecommendation => "a Spot rebalance recommendation".into(),
            Source::Health(health) => format!("AWS Health event {}", health.type_code),
        }
    }

    /// What it says, for a reason: `alarm NAME is in ALARM`.
    pub fn says(&self) -> String {
        match &self.source {
            Source::Alarm(alarm) => format!("alarm {} is in {}", alarm.name, alarm.state.name()),
            Source::SpotInterruption { action } => format!("EC2 will {action} the Spot instance in about two minutes"),
            Source::RebalanceRecommendation => "EC2 recommends rebalancing: the Spot instance is at elevated risk \
                                                of interruption"
                .into(),
            Source::Health(health) => format!(
                "AWS Health reports {} ({}{})",
                health.type_code,
                health.category,
                health.status.as_deref().map(|s| format!(", {s}")).unwrap_or_default()
            ),
        }
    }
}

/// A CloudWatch alarm's state change, from any of its envelopes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Alarm {
    /// The alarm's name.
    pub name: String,
    /// The state the alarm is now in.
    pub state: AlarmState,
    /// How the alarm reached the function.
    pub via: AlarmVia,
}

/// A CloudWatch alarm state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// The alarm fired.
    Alarm,
    /// The alarm recovered.
    Ok,
    /// The alarm has too little data to tell.
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// The envelope an alarm arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmVia {
    /// The alarm invoked the function as its action.
    AlarmAction,
    /// EventBridge forwarded a `CloudWatch Alarm State Change`.
    EventBridge,
    /// An SNS topic forwarded the alarm notification.
    Sns,
}

/// A payload the function cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unrecognised event: {problem}; accepted: {ACCEPTED}")]
pub struct ParseError {
    /// What was wrong with the payload.
    pub problem: String,
}

pub(crate) fn problem(text: impl Into<String>) -> ParseError {
    ParseError { problem: text.into() }
}

impl Trigger {
    /// The instance ids the trigger names, if it names any.
    pub fn instance_ids(&self) -> &[String] {
        match self {
            Trigger::Warning(warning) => &warning.instance_ids,
            Trigger::StateChange { instance_id, .. } => std::slice::from_ref(instance_id),
            Trigger::Lifecycle(action) => std::slice::from_ref(&action.instance_id),
            Trigger::Schedule
            | Trigger::Unrelated { .. }
            | Trigger::Ebs { .. }
            | Trigger::Command(_)
            | Trigger::PairCommand { .. }
            | Trigger::ZonalShift { .. } => &[],
        }
    }
}

/// Reads an invocation payload.
pub fn parse(payload: &Value) -> Result<Trigger, ParseError> {
    let object = payload.as_object().ok_or_else(|| problem("the payload is not a JSON object"))?;
    if let Some(command) = object.get("command") {
        let command = parse_command(command, object)?;
        return match object.get("pair") {
            None | Some(Value::Null) => Ok(Trigger::Command(command)),
            Some(Value::String(pair)) if !pair.trim().is_empty() && pair.len() <= 256 => {
                Ok(Trigger::PairCommand { pair: pair.trim().to_owned(), command })
            }
            Some(other) => Err(problem(format!("\"pair\" is {other}: the name of a pair (its ec2-failover:pair tag)"))),
        };
    }
    if let Some(data) = object.get("alarmData") {
        return alarm_from_data(data, AlarmVia::AlarmAction).map(Trigger::Warning);
    }
    if object.contains_key("Records") {
        return parse_sns(payload);
    }
    if object.contains_key("detail-type") {
        return parse_eventbridge(payload);
    }
    Err(problem("it has none of alarmData, Records or detail-type"))
}

/// An operator's command: its name, and the fields it takes (`force`, `reason`).
fn parse_command(command: &Value, object: &serde_json::Map<String, Value>) -> Result<Command, ParseError> {
    let bad = |what: String| problem(format!("{what}; the commands are: {COMMANDS}"));
    let name = command.as_str().ok_or_else(|| bad(format!("\"command\" is {command}, not a name")))?;
    let force = match object.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(other) => return Err(bad(format!("\"force\" is {other}, not true or false"))),
    };
    let reason = match object.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if !r.trim().is_empty() && r.len() <= 200 => Some(r.trim().to_owned()),
        Some(other) => return Err(bad(format!("\"reason\" is {other}: a text of 1 to 200 characters"))),
    };
    match name.to_ascii_lowercase().as_str() {
        "status" => Ok(Command::Status),
        "switchover" => Ok(Command::Switchover { force }),
        "pause" => reason.map(|reason| Command::Pause { reason }).ok_or_else(|| bad("pause needs a \"reason\"".into())),
        "resume" => Ok(Command::Resume { reason }),
        other => Err(bad(format!("unknown command {other:?}"))),
    }
}
