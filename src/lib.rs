//! ec2-failover keeps one EC2 server available, in one of two modes: a standby pair behind an
//! Elastic IP (`MODE=pair`), or a single-instance Auto Scaling group whose Elastic IP and data
//! volume follow its instance (`MODE=group`).
//!
//! Every invocation observes, decides, acts. The modes live in their own folders, each with the
//! same files, and never import each other; what both use is on neutral ground:
//! - [`config`]: the settings, read once from the environment by one reader.
//! - [`handler`]: one enum over the modes' handlers, built at init.
//! - [`invocation`]: the frame both modes share: the gate, `Verdict`, `Decision`, `Report`, the
//!   dry-run plan, the outcome, the one log line and the result.
//! - [`record`]: the decision line: flat facts, the outcome, and CloudWatch metrics (EMF).
//! - [`trigger`]: reads alarm, state-change, lifecycle, EBS and schedule payloads into a
//!   [`trigger::Trigger`], the evidence an invocation starts from.
//! - [`aws`]: what both modes say to AWS: the retry and timeout policy, error mapping, the one
//!   `Instance` type and its state, the Elastic IP move.
//! - [`tags`]: every tag name the function reads or writes.
//! - [`error`]: the function's errors and their Lambda error types.
//! - [`pair`]: the standby pair: `world` (observed), `decide` and `alarms` (pure), `aws` (observe,
//!   execute).
//! - [`group`]: the single-instance group: `world`, `decide` (pure), `data` (the stateful
//!   group's data policy, pure), `aws` (observe, the sweep's read, execute).

pub mod aws;
pub mod config;
pub mod decision;
pub mod error;
pub mod fleet;
pub mod group;
pub mod handler;
pub mod holder;
pub mod invocation;
pub mod pair;
pub mod publish;
pub mod record;
pub mod route;
pub mod tags;
pub mod trigger;
