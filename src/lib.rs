//! ec2-failover keeps one EC2 server available: a primary and a standby instance share an
//! Elastic IP, and when the active one fails this function moves the IP to the other, starting it
//! first if needed and fencing (stopping) the old one.
//!
//! Every invocation observes, decides, acts:
//! - [`client`]: the retry and timeout policy for EC2 calls.
//! - [`config`]: the pair and its settings, read once from the environment.
//! - [`trigger`]: reads alarm, state-change and schedule payloads into a [`trigger::Trigger`].
//! - [`world`]: the observed state of the pair and its Elastic IP.
//! - [`data`]: the stateful group's data policy (not wired in yet): snapshot on terminate,
//!   restore in the new zone on launch, retention.
//! - [`decide`]: the pure decision, from (config, trigger, world) to a plan of actions.
//! - [`ec2`]: the thin AWS layer that observes the world and carries out a plan.
//! - [`group`]: group mode, where a single-instance Auto Scaling group's Elastic IP follows its
//!   instance through the launch lifecycle hook.
//! - [`handler`]: one invocation end to end, with its log line and result.
//! - [`error`]: the function's errors and their Lambda error types.

pub mod client;
pub mod config;
pub mod data;
pub mod decide;
pub mod ec2;
pub mod error;
pub mod group;
pub mod handler;
pub mod trigger;
pub mod world;
