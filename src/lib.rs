//! ec2-failover keeps one EC2 server available: a primary and a standby instance share an
//! Elastic IP, and when the active one fails this function moves the IP to the other, starting it
//! first if needed and fencing (stopping) the old one.

pub mod aws;
pub mod config;
pub mod error;
pub mod group;
pub mod invocation;
pub mod pair;
pub mod trigger;
