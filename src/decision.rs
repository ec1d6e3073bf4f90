//! The decision vocabulary both modes speak: the verdict, a decision (verdict, reason, actions),
//! what became of each action, and an invocation's outcome. Plain data: the frame
//! ([`crate::invocation`]) runs a mode with it, and the decision line ([`crate::record`]) writes it.

use serde::Serialize;

use crate::error::Error;
use crate::trigger::Trigger;

/// The kind of decision, in both modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The trigger is not about what this deployment keeps: nothing changes.
    Ignore,
    /// The world is as it should be.
    NoChange,
    /// The active instance has failed: a new failover begins.
    FailOver,
    /// A failover begun earlier is carried on.
    Finish,
    /// Something is under way and waits for AWS (an instance to change state, a snapshot, a volume);
    /// the next event or the schedule resumes it.
    Wait,
    /// The active instance has failed, but the last failover is too recent (cooldown).
    Hold,
    /// Group mode: the group's Elastic IP follows its newly launched instance.
    Follow,
    /// Group mode: the launch cannot be served (no Elastic IP, no instance); the hook is abandoned.
    Abandon,
    /// Group mode: the terminating instance's data volume is snapshotted before it goes.
    Preserve,
    /// The Elastic IP was attached to nothing; it is given to the best member.
    Heal,
    /// The old active instance still runs after a failover; it is stopped.
    Fence,
    /// AWS could not be read, so nothing was decided; the next event or the schedule tries again.
    ObserveFailed,
    /// The function will not act, and says so as an error: a person is needed (the IP could only
    /// move to nowhere, something outside the deployment holds it, the data is ambiguous).
    Refuse,
    /// An operator asked where things stand; nothing changes.
    Status,
    /// An operator's planned move of the IP to the other instance, make before break.
    Switchover,
    /// An operator paused the deployment: from now on nothing changes until it resumes.
    Pause,
    /// An operator ended a pause.
    Resume,
    /// Paused: the trigger was decided and logged, and nothing changed.
    Paused,
}

impl Verdict {
    /// The verdict's name, as it appears in the result and the log.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ignore => "ignore",
            Verdict::NoChange => "no_change",
            Verdict::FailOver => "fail_over",
            Verdict::Finish => "finish",
            Verdict::Wait => "wait",
            Verdict::Hold => "hold",
            Verdict::Follow => "follow",
            Verdict::Abandon => "abandon",
            Verdict::Preserve => "preserve",
            Verdict::Heal => "heal",
            Verdict::Fence => "fence",
            Verdict::ObserveFailed => "observe_failed",
            Verdict::Refuse => "refuse",
            Verdict::Status => "status",
            Verdict::Switchover => "switchover",
            Verdict::Pause => "pause",
            Verdict::Resume => "resume",
            Verdict::Paused => "paused",
        }
    }
}

/// What was decided, why, and the changes to make (`A` is the mode's action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision<A> {
    /// The kind of decision.
    pub verdict: Verdict,
    /// Why, in one sentence that names the instances and states it rests on.
    pub reason: String,
    /// The changes to make, in the order and grouping the mode's AWS layer documents.
    pub actions: Vec<A>,
}

impl<A> Decision<A> {
    /// A decision.
    pub fn new(verdict: Verdict, reason: String, actions: Vec<A>) -> Self {
        Self { verdict, reason, actions }
    }
}

/// What became of one planned action: its status, in the result and the log as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done now.
    Done,
    /// AWS says it was done before (a lifecycle action already completed, a volume already gone).
    AlreadyDone,
    /// AWS refused it, or it failed.
    Failed,
    /// Not run, because an earlier step failed.
    Skipped,
    /// Only planned (dry run).
    Planned,
}

/// What became of one planned action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report<A> {
    /// The action.
    #[serde(flatten)]
    pub action: A,
    /// What became of it.
    pub status: Status,
    /// What went wrong, for a failed action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<A: Clone> Report<A> {
    /// An action that ended with `status`, or failed with `Err`; the first error is kept.
    pub fn of(action: &A, result: Result<Status, Error>, first_error: &mut Option<Error>) -> Self {
        match result {
            Ok(status) => Self { action: action.clone(), status, error: None },
            Err(e) => {
                let text = e.to_string();
                first_error.get_or_insert(e);
                Self { action: action.clone(), status: Status::Failed, error: Some(text) }
            }
        }
    }

    /// An action only planned (dry run).
    pub fn planned(action: &A) -> Self {
        Self { action: action.clone(), status: Status::Planned, error: None }
    }

    /// An action that was not run because an earlier one failed.
    pub fn skipped(action: &A) -> Self {
        Self { action: action.clone(), status: Status::Skipped, error: None }
    }
}

/// The invocation result: what was seen, what was decided and why, and what was done.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome<W, A> {
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
    pub actions: Vec<Report<A>>,
}

/// Which verdict names a sweep: the most serious of its decisions. Every verdict is listed, so
/// that a new one must be ranked here.
pub fn sweep_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Refuse => 12,
        Verdict::ObserveFailed => 11,
        Verdict::Abandon => 10,
        Verdict::Preserve => 9,
        Verdict::Follow => 8,
        Verdict::Wait => 7,
        Verdict::Switchover | Verdict::Pause | Verdict::Resume | Verdict::Paused | Verdict::Status => 6,
        Verdict::FailOver => 6,
        Verdict::Finish => 5,
        Verdict::Fence => 4,
        Verdict::Heal => 3,
        Verdict::Hold => 2,
        Verdict::NoChange => 1,
        Verdict::Ignore => 0,
    }
}
