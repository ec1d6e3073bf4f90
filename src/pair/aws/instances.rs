//! The members: DescribeInstances and DescribeInstanceStatus at once (their states, interfaces,
//! status checks and scheduled events), then the Spot requests of Spot members.

use aws_sdk_ec2::types::{AttributeValue, Filter};
use aws_sdk_ec2::Client;

use crate::aws::{aws_error, CheckStatus, Checks, Instance, ScheduledEvent};
use crate::decision::Status;
use crate::error::Error;
use crate::pair::config::Config;

/// Reads the members EC2 still lists (a member gone for good is missing), with their status checks
/// and scheduled events: one round trip, and one more for a Spot member's request.
pub(super) async fn read(client: &Client, config: &Config) -> Result<Vec<Instance>, Error> {
    // A filter rather than InstanceIds: a vanished instance is then simply missing from the answer,
    // where InstanceIds would fail the whole call with InvalidInstanceID.NotFound.
    let instances = client
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(&config.primary).values(&config.standby).build())
        .send();
    // Without IncludeAllInstances, EC2 lists running instances only. DescribeInstanceStatus has no
    // instance-id filter, so the ids are named, and an instance EC2 no longer knows fails the call
    // (InvalidInstanceID.NotFound): the checks then stay unknown, which only delays a make-before-
    // break move; a dead primary is not waited for.
    let statuses = client
        .describe_instance_status()
        .instance_ids(&config.primary)
        .instance_ids(&config.standby)
        .include_all_instances(true)
        .send();
    let (instances, statuses) = tokio::join!(instances, statuses);
    let instances = instances.map_err(|e| aws_error("DescribeInstances", e))?;
    let listed: Vec<String> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id())
        .filter(|id| config.is_member(id))
        .map(str::to_owned)
        .collect();
    let statuses = match statuses.map_err(|e| aws_error("DescribeInstanceStatus", e)) {
        Ok(statuses) => Ok(statuses.instance_statuses().to_vec()),
        // A member gone for good (terminated long ago) makes the call fail for both: asked again
        // for the one EC2 still lists (one more round trip, only then), its checks and scheduled
        // events are not lost.
        Err(Error::Aws { code, .. }) if code == "InvalidInstanceID.NotFound" && listed.len() == 1 => client
            .describe_instance_status()
            .set_instance_ids(Some(listed))
            .include_all_instances(true)
            .send()
            .await
            .map(|s| s.instance_statuses().to_vec())
            .map_err(|e| aws_error("DescribeInstanceStatus", e)),
        Err(e) => Err(e),
    };
    let statuses = statuses.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the status checks; they count as not passing");
        Vec::new()
    });
    let members: Vec<Instance> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(Instance::read)
        .filter(|i| config.is_member(&i.instance_id))
        .map(|mut i| {
            if let Some(status) = statuses.iter().find(|s| s.instance_id() == Some(i.instance_id.as_str())) {
                apply_status(&mut i, status);
            }
            i
        })
        .collect();
    Ok(spot_kinds(client, members).await)
}

/// Reads the type of the Spot requests behind Spot members (`one-time` ones cannot be stopped):
/// one more round trip, for a pair with a Spot member only. A failed read leaves the type unknown,
/// and the fence is then tried as for any instance.
pub(super) async fn spot_kinds(client: &Client, mut members: Vec<Instance>) -> Vec<Instance> {
    let ids: Vec<String> = members.iter().filter_map(|m| m.spot.as_ref()?.id.clone()).collect();
    if ids.is_empty() {
        return members;
    }
    match client.describe_spot_instance_requests().set_spot_instance_request_ids(Some(ids)).send().await {
        Ok(out) => {
            for request in out.spot_instance_requests() {
                let spot = members
                    .iter_mut()
                    .filter_map(|m| m.spot.as_mut())
                    .find(|s| s.id.as_deref().is_some_and(|id| Some(id) == request.spot_instance_request_id()));
                if let Some(spot) = spot {
                    spot.kind = request.r#type().map(|t| t.as_str().to_owned());
                }
            }
        }
        Err(e) => {
            let e = aws_error("DescribeSpotInstanceRequests", e);
            tracing::warn!(error = %e, "could not read the Spot requests; a fence of a Spot member is tried anyway");
        }
    }
    members
}

/// Gives a member its status checks and scheduled events, as DescribeInstanceStatus has them.
pub(super) fn apply_status(member: &mut Instance, status: &aws_sdk_ec2::types::InstanceStatus) {
    member.checks = Some(checks(status));
    member.scheduled_events = status.events().iter().filter_map(ScheduledEvent::read).collect();
}

/// Reads one instance's status checks.
fn checks(status: &aws_sdk_ec2::types::InstanceStatus) -> Checks {
    let summary = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
        s.and_then(|s| s.status()).map_or(CheckStatus::Unknown, |s| CheckStatus::from_name(s.as_str()))
    };
    Checks { instance: summary(status.instance_status()), system: summary(status.system_status()) }
}

/// Starts a stopped member. When EC2 has no capacity for its instance type in its zone
/// (InsufficientInstanceCapacity, which EC2's troubleshooting guide answers with "try a different
/// instance type": a zone event takes capacity from everyone in the zone at once), each of `types`
/// is tried in turn: the stopped instance's type is changed (ModifyInstanceAttribute `InstanceType`,
/// allowed only while it is stopped) and it is started again. A type EC2 will not give this
/// instance (another architecture, another virtualization) is skipped. The first error stands when
/// none starts; the move that came before is not undone (the address may wait on a stopped
/// instance: the next invocation starts it again, or fails back).
pub(super) async fn start(client: &Client, instance_id: &str, types: &[String]) -> Result<Status, Error> {
    let start = || async {
        let once = aws_sdk_ec2::config::Builder::default().retry_classifier(crate::aws::NoRetryForCapacity);
        let start = client.start_instances().instance_ids(instance_id).customize().config_override(once);
        start.send().await.map_err(|e| aws_error("StartInstances", e))
    };
    let no_capacity = |e: &Error| matches!(e, Error::Aws { code, .. } if code == "InsufficientInstanceCapacity");
    let first = match start().await {
        Ok(_) => return Ok(Status::Done),
        Err(e) if no_capacity(&e) && !types.is_empty() => e,
        Err(e) => return Err(e),
    };
    for instance_type in types {
        let changed = client
            .modify_instance_attribute()
            .instance_id(instance_id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .map_err(|e| aws_error("ModifyInstanceAttribute", e));
        if let Err(e) = changed {
            tracing::warn!(instance = %instance_id, instance_type = %instance_type, error = %e, "could not change the type");
            continue;
        }
        match start().await {
            Ok(_) => {
                tracing::warn!(instance = %instance_id, instance_type = %instance_type,
                    "started as another instance type: its own had no capacity in its zone");
                return Ok(Status::Done);
            }
            Err(e) if no_capacity(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(first)
}
