//! How the function talks to EC2: one retry and timeout policy, used by the bootstrap and by the
//! tests that run the handler against a local EC2 API.

use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;

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
