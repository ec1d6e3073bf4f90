//! The EventBridge envelope: EC2 state changes, Spot warnings and rebalance recommendations, AWS
//! Health events, EBS notifications, Auto Scaling lifecycle actions, alarm state changes and the
//! schedule, each read into a [`Trigger`].

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use serde::Deserialize;
use serde_json::Value;

use super::alarm::alarm_from_data;
use super::*;

pub(super) fn parse_eventbridge(payload: &Value) -> Result<Trigger, ParseError> {
    // `time` is read on its own, leniently: documented examples carry placeholders there
    // ("yyyy-mm-ddThh:mm:ssZ"), and no decision may fail on a field it does not need.
    let at = payload
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::from_str(t, DateTimeFormat::DateTime).ok())
        .map(|t| t.secs());
    let mut untimed = payload.clone();
    if let Some(object) = untimed.as_object_mut() {
        object.remove("time");
    }
    let event: EventBridgeEvent<Value> = EventBridgeEvent::<Value>::deserialize(&untimed)
        .map_err(|e| problem(format!("not a valid EventBridge event: {e}")))?;
    match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            alarm_from_data(&event.detail, AlarmVia::EventBridge).map(Trigger::Warning)
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let detail: StateChangeDetail = serde_json::from_value(event.detail)
                .map_err(|e| problem(format!("EC2 Instance State-change Notification: {e}")))?;
            Ok(Trigger::StateChange { instance_id: detail.instance_id, state: detail.state })
        }
        ("aws.events", "Scheduled Event") => Ok(Trigger::Schedule),
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => {
            let detail: SpotDetail = serde_json::from_value(event.detail)
                .map_err(|e| problem(format!("EC2 Spot Instance Interruption Warning (instance-id): {e}")))?;
            let action = detail.instance_action.unwrap_or_else(|| "interrupt".into());
            Ok(warning(Source::SpotInterruption { action }, vec![detail.instance_id], at))
        }
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => {
            let detail: SpotDetail = serde_json::from_value(event.detail)
                .map_err(|e| problem(format!("EC2 Instance Rebalance Recommendation (instance-id): {e}")))?;
            Ok(warning(Source::RebalanceRecommendation, vec![detail.instance_id], at))
        }
        ("aws.health", "AWS Health Event") => health(event.detail, event.resources.unwrap_or_default(), at),
        ("aws.ec2", "EBS Snapshot Notification" | "EBS Volume Notification") => {
            let detail: EbsDetail =
                serde_json::from_value(event.detail).map_err(|e| problem(format!("{}: {e}", event.detail_type)))?;
            let resource_id = event
                .resources
                .iter()
                .flatten()
                .chain(detail.snapshot_id.iter())
                .filter_map(|arn| arn.rsplit('/').next())
                .find(|id| id.starts_with("snap-") || id.starts_with("vol-"))
                .map(str::to_owned)
                .ok_or_else(|| problem(format!("{} names no snapshot or volume", event.detail_type)))?;
            Ok(Trigger::Ebs { event: detail.event, result: detail.result, resource_id, at })
        }
        ("aws.autoscaling", "EC2 Instance-launch Lifecycle Action") => lifecycle(event.detail, Transition::Launching),
        ("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action") => {
            lifecycle(event.detail, Transition::Terminating)
        }
        ("aws.arc-zonal-shift", detail_type) => Ok(Trigger::ZonalShift { what: detail_type.to_owned() }),
        (source, detail_type) => Ok(Trigger::Unrelated { what: format!("{source} {detail_type}") }),
    }
}

fn warning(source: Source, instance_ids: Vec<String>, at: Option<i64>) -> Trigger {
    Trigger::Warning(Warning { source, instance_ids, at })
}

/// An AWS Health event: a warning about the EC2 instances among its affected entities (and its
/// `resources`). One of another service, or naming no instance, is not about a pair or group.
fn health(detail: Value, resources: Vec<String>, at: Option<i64>) -> Result<Trigger, ParseError> {
    let detail: HealthDetail = serde_json::from_value(detail)
        .map_err(|e| problem(format!("AWS Health Event (service, eventTypeCode, eventTypeCategory): {e}")))?;
    if !detail.service.eq_ignore_ascii_case("EC2") {
        return Ok(Trigger::Unrelated { what: format!("aws.health AWS Health Event of {}", detail.service) });
    }
    // The affected entities, but those AWS Health says are fixed (RESOLVED, UNIMPAIRED); `resources`
    // only when the event lists no entity.
    let mut instance_ids: Vec<String> = Vec::new();
    let live = detail
        .affected_entities
        .iter()
        .filter(|e| !matches!(e.status.as_deref(), Some("RESOLVED" | "UNIMPAIRED")))
        .map(|e| e.entity_value.as_str());
    let fallback = detail.affected_entities.is_empty().then_some(resources.iter().map(String::as_str));
    let named = live.chain(fallback.into_iter().flatten());
    for id in named.filter_map(|v| v.rsplit('/').next()).filter(|id| id.starts_with("i-")) {
        if !instance_ids.iter().any(|known| known == id) {
            instance_ids.push(id.to_owned());
        }
    }
    if instance_ids.is_empty() {
        return Ok(Trigger::Unrelated {
            what: format!("aws.health AWS Health Event {} naming no instance", detail.event_type_code),
        });
    }
    // AWS Health writes times as HTTP dates ("Wed, 09 Dec 2026 15:10:09 GMT"); read leniently, as
    // a documented example may hold a placeholder: unreadable is unknown.
    let start = detail.start_time.as_deref().and_then(|t| {
        DateTime::from_str(t, DateTimeFormat::HttpDate)
            .or_else(|_| DateTime::from_str(t, DateTimeFormat::DateTime))
            .ok()
    });
    let source = Source::Health(Health {
        type_code: detail.event_type_code,
        category: detail.event_type_category,
        status: detail.status_code,
        start: start.map(|t| t.secs()),
    });
    Ok(warning(source, instance_ids, at))
}

fn lifecycle(detail: Value, transition: Transition) -> Result<Trigger, ParseError> {
    let detail: LifecycleDetail = serde_json::from_value(detail).map_err(|e| {
        problem(format!("Auto Scaling lifecycle action (AutoScalingGroupName, LifecycleHookName, EC2InstanceId): {e}"))
    })?;
    Ok(Trigger::Lifecycle(LifecycleAction {
        transition,
        group: detail.auto_scaling_group_name,
        hook: detail.lifecycle_hook_name,
        instance_id: detail.ec2_instance_id,
        token: detail.lifecycle_action_token,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SpotDetail {
    instance_id: String,
    instance_action: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail {
    service: String,
    event_type_code: String,
    event_type_category: String,
    status_code: Option<String>,
    start_time: Option<String>,
    #[serde(default)]
    affected_entities: Vec<HealthEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthEntity {
    #[serde(default)]
    entity_value: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct EbsDetail {
    event: String,
    result: String,
    snapshot_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LifecycleDetail {
    auto_scaling_group_name: String,
    lifecycle_hook_name: String,
    #[serde(rename = "EC2InstanceId")]
    ec2_instance_id: String,
    lifecycle_action_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct StateChangeDetail {
    instance_id: String,
    state: String,
}
