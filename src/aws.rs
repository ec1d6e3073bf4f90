//! What both modes say to AWS: one retry and timeout policy (shared with the tests that run the
//! handlers against a local AWS), the mapping of SDK errors to the function's error, how an
//! instance is read, and the Elastic IP move.

use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::Client;

use aws_sdk_ec2::primitives::DateTime;
use serde::Serialize;

use crate::error::Error;

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

/// One instance as EC2 described it: what both modes read of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Its instance id.
    pub instance_id: String,
    /// Its lifecycle state.
    pub state: InstanceState,
    /// Its Availability Zone.
    pub availability_zone: Option<String>,
    /// Its primary network interface, which an Elastic IP is associated with.
    pub network_interface_id: Option<String>,
    /// Its subnet: a secondary private IP can move only between interfaces of one subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Its primary private IPv4 address, which the service check probes.
    pub private_ip: Option<String>,
    /// Whether EC2 drops traffic not addressed to it (on by default); a route pointed at an
    /// instance needs it off.
    pub source_dest_check: Option<bool>,
    /// When it was last started, in seconds since the Unix epoch.
    pub launch_time: Option<i64>,
    /// Why EC2 last changed its state, when it says (`Client.InternalError: Client error on
    /// launch` for a start that fell back to `stopped`).
    pub state_reason: Option<String>,
    /// Whether detailed (one-minute) CloudWatch monitoring is on.
    pub detailed_monitoring: bool,
    /// Its EC2 status checks, when they were read (pair mode reads them; group mode does not).
    pub checks: Option<Checks>,
    /// The events EC2 has scheduled for it and not completed or canceled (DescribeInstanceStatus
    /// `Events`; pair mode reads them with the checks).
    pub scheduled_events: Vec<ScheduledEvent>,
    /// Whether its instance metadata serves its tags (`MetadataOptions.InstanceMetadataTags`,
    /// disabled unless the launch template enables it); None when EC2 does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_tags: Option<bool>,
    /// For a Spot instance, its request (`InstanceLifecycle` spot); None for an On-Demand one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spot: Option<SpotRequest>,
    /// The On-Demand Capacity Reservation it runs in, if any: a stopped instance with one can
    /// start even when its zone has no capacity for others (a zone event, a region's launches
    /// failing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_reservation: Option<String>,
}

/// The Spot request behind a Spot instance. EC2 stops only an instance of a `persistent` request;
/// stopping one of a `one-time` request is refused with UnsupportedOperation (EC2 User Guide,
/// "Stop a Spot Instance": "You can only stop a Spot Instance if it was launched from a
/// persistent Spot Instance request").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpotRequest {
    /// Its id (`sir-...`), when EC2 says.
    pub id: Option<String>,
    /// `one-time` or `persistent` (DescribeSpotInstanceRequests `Type`); None until read.
    pub kind: Option<String>,
}

impl SpotRequest {
    /// Whether EC2 refuses to stop its instance.
    pub fn cannot_stop(&self) -> bool {
        self.kind.as_deref() == Some("one-time")
    }
}

/// An event EC2 has scheduled for an instance (EC2 User Guide, "Scheduled events for Amazon EC2
/// instances"): `instance-retirement`, `instance-stop`, `instance-reboot`, `system-reboot` or
/// `system-maintenance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduledEvent {
    /// Its code.
    pub code: String,
    /// The earliest start of its window, in seconds since the Unix epoch, if EC2 says.
    pub not_before: Option<i64>,
}

impl ScheduledEvent {
    /// Reads one from DescribeInstanceStatus; a completed or canceled one (its description starts
    /// with `[Completed]` or `[Canceled]`, as the EC2 User Guide shows them) is none.
    pub fn read(event: &aws_sdk_ec2::types::InstanceStatusEvent) -> Option<Self> {
        let description = event.description().unwrap_or_default();
        if description.starts_with("[Completed]") || description.starts_with("[Canceled]") {
            return None;
        }
        Some(Self { code: event.code()?.as_str().to_owned(), not_before: event.not_before().map(DateTime::secs) })
    }

    /// Whether it takes the instance away (retires or stops it), rather than rebooting or
    /// maintaining it: a failover ahead of it is not held back by the cooldown.
    pub fn takes_the_instance(&self) -> bool {
        matches!(self.code.as_str(), "instance-retirement" | "instance-stop")
    }
}

/// An instance's two EC2 status checks, as DescribeInstanceStatus reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// The instance status check (the OS is reachable).
    pub instance: CheckStatus,
    /// The system status check (the host and its network).
    pub system: CheckStatus,
}

impl Checks {
    /// Both checks pass.
    pub fn pass(self) -> bool {
        self.instance == CheckStatus::Ok && self.system == CheckStatus::Ok
    }
}

/// One status check's summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Passed.
    Ok,
    /// Failed.
    Impaired,
    /// Not run yet: for a minute or more after the instance reaches `running`.
    Initializing,
    /// Too little data to tell.
    InsufficientData,
    /// The instance is not running.
    NotApplicable,
    /// A value this function does not know; read as not passing.
    Unknown,
}

impl CheckStatus {
    /// Reads EC2's summary status.
    pub fn from_name(name: &str) -> Self {
        match name {
            "ok" => Self::Ok,
            "impaired" => Self::Impaired,
            "initializing" => Self::Initializing,
            "insufficient-data" => Self::InsufficientData,
            "not-applicable" => Self::NotApplicable,
            _ => Self::Unknown,
        }
    }

    /// EC2's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Impaired => "impaired",
            Self::Initializing => "initializing",
            Self::InsufficientData => "insufficient-data",
            Self::NotApplicable => "not-applicable",
            Self::Unknown => "unknown",
        }
    }
}

impl Instance {
    /// An instance in `state` that EC2 said nothing else about (the tests build on it).
    pub fn new(instance_id: &str, state: InstanceState) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            state,
            availability_zone: None,
            network_interface_id: None,
            subnet_id: None,
            private_ip: None,
            source_dest_check: None,
            launch_time: None,
            state_reason: None,
            detailed_monitoring: false,
            checks: None,
            scheduled_events: Vec::new(),
            metadata_tags: None,
            spot: None,
            capacity_reservation: None,
        }
    }

    /// Reads an instance from a DescribeInstances answer; one without an id is skipped.
    pub fn read(instance: &aws_sdk_ec2::types::Instance) -> Option<Self> {
        Some(Self {
            instance_id: instance.instance_id()?.to_owned(),
            state: instance
                .state()
                .and_then(|s| s.name())
                .map_or(InstanceState::Gone, |n| InstanceState::from_name(n.as_str())),
            availability_zone: instance.placement().and_then(|p| p.availability_zone()).map(str::to_owned),
            network_interface_id: primary_interface(instance),
            subnet_id: instance.subnet_id().map(str::to_owned),
            private_ip: instance.private_ip_address().map(str::to_owned),
            source_dest_check: instance.source_dest_check(),
            launch_time: instance.launch_time().map(DateTime::secs),
            state_reason: instance.state_reason().and_then(|r| r.message()).map(str::to_owned),
            detailed_monitoring: instance
                .monitoring()
                .and_then(|m| m.state())
                .is_some_and(|s| matches!(s.as_str(), "enabled" | "pending")),
            checks: None,
            scheduled_events: Vec::new(),
            metadata_tags: instance
                .metadata_options()
                .and_then(|m| m.instance_metadata_tags())
                .map(|t| t.as_str() == "enabled"),
            spot: instance
                .instance_lifecycle()
                .filter(|l| l.as_str() == "spot")
                .map(|_| SpotRequest { id: instance.spot_instance_request_id().map(str::to_owned), kind: None }),
            capacity_reservation: instance.capacity_reservation_id().map(str::to_owned),
        })
    }
}

/// An EC2 instance state, plus `Gone` for an instance EC2 no longer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Booting.
    Pending,
    /// Up.
    Running,
    /// Going down; will be `Stopped`.
    Stopping,
    /// Down, can be started.
    Stopped,
    /// Going away; will be `Terminated`.
    ShuttingDown,
    /// Gone for good.
    Terminated,
    /// Not returned by EC2 at all.
    Gone,
}

impl InstanceState {
    /// Reads EC2's state name; anything unknown is treated as gone, the safe reading for a target.
    pub fn from_name(name: &str) -> Self {
        match name {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => Self::Gone,
        }
    }

    /// Whether the instance cannot serve traffic now and is not on its way up.
    pub fn is_down(self) -> bool {
        matches!(self, Self::Stopping | Self::Stopped | Self::ShuttingDown | Self::Terminated | Self::Gone)
    }

    /// Whether the instance can never serve again.
    pub fn is_lost(self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated | Self::Gone)
    }

    /// Whether the instance is up or coming up, and so could still be serving or writing.
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }

    /// EC2's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Gone => "gone",
        }
    }
}

/// An instance's primary network interface (device index 0), which an Elastic IP is associated
/// through; the first interface if EC2 reports no attachment details.
fn primary_interface(instance: &aws_sdk_ec2::types::Instance) -> Option<String> {
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

/// The value of the tag `key` among `tags`, if set.
pub(crate) fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// An EC2 tag.
pub(crate) fn ec2_tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(key).value(value).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_state_names_read_as_gone() {
        assert_eq!(InstanceState::from_name("running"), InstanceState::Running);
        assert_eq!(InstanceState::from_name("shutting-down"), InstanceState::ShuttingDown);
        assert_eq!(InstanceState::from_name("exploded"), InstanceState::Gone);
        assert!(InstanceState::Stopping.is_down() && !InstanceState::Pending.is_down());
    }
}

/// Forbids the SDK's own retries of a start refused for capacity (`InsufficientInstanceCapacity`,
/// HTTP 500, which the SDK would retry as a transient server error, twice, at once). EC2 has no
/// capacity for the type in the zone, and will not have it a second later: the next invocation
/// (the reconcile, a minute on) starts it again, or another type (`STANDBY_INSTANCE_TYPES`). In a
/// zone event every caller's retries spend StartInstances' own token bucket (5 requests, refilled
/// 2 a second: EC2 Developer Guide, "Request throttling for the Amazon EC2 API"), and a throttled
/// start is then refused even where there is capacity.
#[derive(Debug, Default)]
pub struct NoRetryForCapacity;

impl aws_sdk_ec2::config::retry::ClassifyRetry for NoRetryForCapacity {
    fn classify_retry(
        &self,
        ctx: &aws_sdk_ec2::config::interceptors::InterceptorContext,
    ) -> aws_sdk_ec2::config::retry::RetryAction {
        use aws_sdk_ec2::config::retry::RetryAction;
        use aws_sdk_ec2::operation::start_instances::StartInstancesError;
        let Some(Err(error)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        let code =
            error.as_operation_error().and_then(|e| e.downcast_ref::<StartInstancesError>()).and_then(|e| e.code());
        match code {
            Some("InsufficientInstanceCapacity") => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "no retry of a start refused for capacity"
    }
}
