//! What both modes say to AWS: one retry and timeout policy (shared with the tests that run the
//! handlers against a local AWS), the mapping of SDK errors to the function's error, how an
//! instance is read, and the Elastic IP move.

use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::Client;

use crate::error::Error;
use crate::pair::world::InstanceState;

/// Throttling (`RequestLimitExceeded`), 5xx (`Unavailable`, `InternalError`) and dropped
/// connections are retried with jittered exponential backoff, up to four attempts per call. What
/// still fails is reported, and Lambda's own retries of the asynchronous invocation start the
/// whole observe-decide-act over.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(4)
}

/// Short timeouts: a failover must not hang on one stuck connection, and the whole invocation
/// stays well inside the function's 60 s timeout even when every attempt times out.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

/// Turns an SDK error into the function's error, keeping AWS's error code.
pub fn aws_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or("none").to_owned();
    let message = error.message().map_or_else(|| DisplayErrorContext(&error).to_string(), str::to_owned);
    Error::Aws { operation, code, message }
}

/// An instance's state as EC2 reports it; one with no state is read as gone.
pub(crate) fn instance_state(instance: &aws_sdk_ec2::types::Instance) -> InstanceState {
    instance.state().and_then(|s| s.name()).map_or(InstanceState::Gone, |n| InstanceState::from_name(n.as_str()))
}

/// An instance's primary network interface (device index 0), which an Elastic IP is associated
/// through; the first interface if EC2 reports no attachment details.
pub(crate) fn primary_interface(instance: &aws_sdk_ec2::types::Instance) -> Option<String> {
    instance
        .network_interfaces()
        .iter()
        .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
        .or_else(|| instance.network_interfaces().first())
        .and_then(|n| n.network_interface_id())
        .map(str::to_owned)
}

/// Associates an Elastic IP with an instance, through its network interface when known (which
/// works whatever the instance's state), taking it from wherever it is.
pub(crate) async fn associate(
    client: &Client,
    allocation_id: &str,
    instance_id: &str,
    network_interface_id: Option<&str>,
) -> Result<(), Error> {
    let request = client.associate_address().allocation_id(allocation_id).allow_reassociation(true);
    let request = match network_interface_id {
        Some(eni) => request.network_interface_id(eni),
        None => request.instance_id(instance_id),
    };
    request.send().await.map(drop).map_err(|e| aws_error("AssociateAddress", e))
}
