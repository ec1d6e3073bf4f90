//! Pair mode: a primary and a standby instance share an Elastic IP; when the active one fails,
//! the function moves the IP to the other, starting it first if needed, and fences the old one.

pub mod aws;
pub mod decide;
pub mod world;

use std::fmt;
use std::sync::Arc;

use aws_sdk_ec2::Client;
use serde_json::Value;
use tokio::sync::Mutex;

use self::aws::ActionReport;
use self::decide::{decide, screen, Decision};
use crate::error::Error;
use crate::invocation::{finish, json, now, read, Outcome};

/// What happens to the old active instance once the Elastic IP has left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceMode {
    /// Stop the old active instance, so it can no longer serve or write (the default).
    Stop,
    /// Leave the old active instance alone.
    None,
}

/// The standby pair this function keeps available, and how it may act on it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    /// The instance that holds the Elastic IP when the pair is first set up.
    pub primary: String,
    /// The instance that takes over; may live in another Availability Zone.
    pub standby: String,
    /// The allocation id (`eipalloc-...`) of the Elastic IP the pair shares.
    pub allocation_id: String,
    /// What to do with the old active instance after a failover.
    pub fence_mode: FenceMode,
    /// A new failover is held while the last one is younger than this.
    pub cooldown_seconds: u64,
    /// Decide and report, but change nothing.
    pub dry_run: bool,
}

impl fmt::Display for FenceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FenceMode::Stop => "stop",
            FenceMode::None => "none",
        })
    }
}

/// The default cooldown between two failovers of the pair, in seconds.
pub const DEFAULT_COOLDOWN_SECONDS: u64 = 300;

impl Config {
    /// Whether `instance_id` is one of the pair.
    pub fn is_member(&self, instance_id: &str) -> bool {
        instance_id == self.primary || instance_id == self.standby
    }

    /// The other member of the pair, if `instance_id` is a member.
    pub fn other(&self, instance_id: &str) -> Option<&str> {
        if instance_id == self.primary {
            Some(&self.standby)
        } else if instance_id == self.standby {
            Some(&self.primary)
        } else {
            None
        }
    }
}

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
                let world = aws::observe(&self.client, &self.config, now()).await.inspect_err(|e| {
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
            aws::execute(&self.client, &self.config, &decision.actions).await
        };
        let Decision { verdict, reason, .. } = decision;
        let outcome = Outcome { verdict, reason, dry_run: self.config.dry_run, trigger, observed, actions };
        finish(outcome, error)
    }
}
