//! The deployed function's handler: one enum over the modes' handlers, built once at init from the
//! settings. A new mode is one arm here and one in [`crate::config::Mode`]; the compiler lists
//! every match to extend.

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Mode, Settings};
use crate::error::Error;
use crate::record::RequestCounter;
use crate::{fleet, group, pair};

/// The handler of the configured mode.
// Built once at init and lent to every invocation: the size of its larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Handler {
    /// A standby pair behind an Elastic IP.
    Pair(pair::Handler),
    /// Single-instance Auto Scaling groups whose Elastic IP and data follow the instance.
    Group(group::Handler),
    /// Every pair the tags declare.
    Fleet(fleet::Handler),
}

/// An invocation's result, in the mode's own shape.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// Pair mode's outcome.
    Pair(Box<pair::PairOutcome>),
    /// Group mode's outcome.
    Group(Box<group::GroupOutcome>),
    /// Fleet mode's outcome.
    Fleet(Box<fleet::FleetOutcome>),
}

impl Handler {
    /// Builds the mode's handler and its AWS clients from the settings and the SDK configuration.
    pub fn new(settings: Settings, sdk: &SdkConfig) -> Self {
        // Each client counts its requests for the decision line's metrics, built so once.
        let requests = RequestCounter::default();
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(sdk).interceptor(requests.clone()).build(),
        );
        let pair_clients = |ec2| {
            let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(sdk).interceptor(requests.clone()).build(),
            );
            let arc = aws_sdk_arczonalshift::Client::from_conf(
                aws_sdk_arczonalshift::config::Builder::from(sdk).interceptor(requests.clone()).build(),
            );
            pair::Clients { ec2, cloudwatch, arc }
        };
        let autoscaling = || {
            aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(sdk).interceptor(requests.clone()).build(),
            )
        };
        // Built only when decisions are published: one client more at init otherwise.
        // One attempt within 2 s: a decision event is best effort, and each one waits on the
        // failover path (a reconcile's slot, the one execution's queue of events).
        let publisher = settings.event_bus.clone().map(|bus| {
            let conf = aws_sdk_eventbridge::config::Builder::from(sdk)
                .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::standard().with_max_attempts(1))
                .timeout_config(
                    aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                        .operation_timeout(std::time::Duration::from_secs(2))
                        .build(),
                )
                .interceptor(requests.clone())
                .build();
            crate::publish::Publisher::new(aws_sdk_eventbridge::Client::from_conf(conf), bus)
        });
        match settings.mode {
            Mode::Pair(config) => {
                let clients = pair_clients(ec2);
                let handler = pair::Handler::counting(config, clients, requests, settings.dry_run);
                Handler::Pair(handler.publishing(publisher))
            }
            Mode::Fleet(mut config) => {
                // The groups' handler shares the EC2 client; the Auto Scaling client only when the
                // fleet serves groups.
                let groups = config.groups.take().map(|groups| {
                    let clients = group::Clients { ec2: ec2.clone(), autoscaling: autoscaling() };
                    group::Handler::counting(groups, clients, requests.clone(), settings.dry_run)
                });
                let clients = pair_clients(ec2);
                let handler = fleet::Handler::counting(config, clients, requests, settings.dry_run);
                Handler::Fleet(handler.serving_groups(groups).publishing(publisher))
            }
            Mode::Group(config) => {
                let clients = group::Clients { ec2, autoscaling: autoscaling() };
                let handler = group::Handler::counting(config, clients, requests, settings.dry_run);
                Handler::Group(handler.publishing(publisher))
            }
        }
    }

    /// Handles one payload in the configured mode, for the function `function_arn` (the invocation
    /// context's, which pair mode's reconcile uses to find the alarms that invoke it).
    pub async fn handle(&self, payload: &Value, function_arn: Option<&str>) -> Result<Response, Error> {
        match self {
            Handler::Pair(handler) => {
                handler.handle_for(payload, function_arn).await.map(|o| Response::Pair(Box::new(o)))
            }
            Handler::Group(handler) => handler.handle(payload).await.map(|o| Response::Group(Box::new(o))),
            Handler::Fleet(handler) => {
                handler.handle_for(payload, function_arn).await.map(|o| Response::Fleet(Box::new(o)))
            }
        }
    }
}
