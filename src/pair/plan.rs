//! Pair mode's plan: the changes a decision may make to the world. `decide` writes them, the AWS
//! layer carries them out (in the order and grouping `aws::execute` documents).

use serde::Serialize;

use super::endpoint::Endpoint;
use super::world::{FailoverRecord, History};
use crate::decision::Verdict;

/// A decision about the pair. Its stops run only once the address is on its new holder.
pub type Decision = crate::decision::Decision<Action>;

/// One change to the world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Point every endpoint at an instance (its address: the Elastic IP, the route-table entries,
    /// the private IPs), through its primary network interface when known (an interface can take
    /// them whatever state its instance is in).
    MoveEndpoints {
        /// The new holder.
        instance_id: String,
        /// Its primary network interface.
        network_interface_id: Option<String>,
    },
    /// Point the endpoints that point elsewhere at the active instance (the reconcile's repair
    /// of a move that was left partial, or of a hand that moved an endpoint).
    Converge {
        /// The active instance.
        instance_id: String,
        /// Its primary network interface.
        network_interface_id: Option<String>,
        /// The endpoints to point at it.
        endpoints: Vec<Endpoint>,
    },
    /// Start a stopped instance.
    StartInstance {
        /// The instance to start.
        instance_id: String,
    },
    /// Stop the old active instance so that it cannot serve or write any more (fencing).
    StopInstance {
        /// With `Force`: `FENCE_MODE=force`, or a graceful stop that hangs.
        force: bool,
        /// Without the OS shutdown (`SkipOsShutdown`, which may lose data the OS has not written):
        /// `FENCE_MODE=force` only, never a mere escalation.
        skip_os_shutdown: bool,
        /// The instance to stop.
        instance_id: String,
    },
    /// Write the failover record onto the anchor's tags.
    RecordFailover(FailoverRecord),
    /// Pause the pair: the reason and its time as tags on the anchor.
    Pause {
        /// Why.
        reason: String,
        /// When, in seconds since the Unix epoch.
        at: i64,
    },
    /// End a pause: its tags go.
    Resume,
    /// Keep the service check's results on the anchor's tags.
    RecordHealth(History),
}

/// A decision (shorthand for the rules).
pub(super) fn decision(verdict: Verdict, reason: String, actions: Vec<Action>) -> Decision {
    Decision::new(verdict, reason, actions)
}
