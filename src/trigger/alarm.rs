//! CloudWatch alarm payloads, read with lenient types of their own (real payloads do not fit
//! aws_lambda_events' alarm structs): a direct alarm action's `alarmData`, an EventBridge alarm
//! state change's `detail`, and an SNS notification's JSON message.

use aws_lambda_events::event::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;

use super::*;

pub(super) fn parse_sns(payload: &Value) -> Result<Trigger, ParseError> {
    let event: SnsEvent =
        SnsEvent::deserialize(payload).map_err(|e| problem(format!("Records is not an SNS notification: {e}")))?;
    let mut alarms = event.records.iter().map(|record| sns_alarm(&record.sns.message));
    let first = alarms.next().ok_or_else(|| problem("the SNS notification has no records"))??;
    // Lambda delivers one SNS message per invocation, but test payloads repeat it; several
    // records are accepted as long as they tell the same alarm.
    for other in alarms {
        if other? != first {
            return Err(problem("the SNS notification carries different alarms; one alarm per invocation is accepted"));
        }
    }
    Ok(Trigger::Warning(first))
}

fn sns_alarm(message: &str) -> Result<Warning, ParseError> {
    let message: SnsAlarm = serde_json::from_str(message).map_err(|e| {
        problem(format!("the SNS message is not a CloudWatch alarm notification (AlarmName, NewStateValue): {e}"))
    })?;
    let mut instance_ids = Vec::new();
    if let Some(trigger) = &message.trigger {
        collect_dimension_list(&trigger.dimensions, &mut instance_ids);
        for metric in &trigger.metrics {
            if let Some(stat) = &metric.metric_stat {
                collect_dimension_list(&stat.metric.dimensions, &mut instance_ids);
            }
        }
    }
    let alarm = Alarm { name: message.alarm_name, state: alarm_state(&message.new_state_value)?, via: AlarmVia::Sns };
    Ok(Warning { source: Source::Alarm(alarm), instance_ids, at: None })
}

pub(super) fn alarm_from_data(data: &Value, via: AlarmVia) -> Result<Warning, ParseError> {
    let data: AlarmData = AlarmData::deserialize(data)
        .map_err(|e| problem(format!("the alarm data is not a CloudWatch alarm (alarmName, state.value): {e}")))?;
    let mut instance_ids = Vec::new();
    if let Some(configuration) = &data.configuration {
        for metric in &configuration.metrics {
            if let Some(id) = metric
                .metric_stat
                .as_ref()
                .and_then(|stat| stat.metric.dimensions.get("InstanceId"))
                .and_then(Value::as_str)
            {
                push_unique(&mut instance_ids, id);
            }
        }
    }
    let alarm = Alarm { name: data.alarm_name, state: alarm_state(&data.state.value)?, via };
    Ok(Warning { source: Source::Alarm(alarm), instance_ids, at: None })
}

fn alarm_state(value: &str) -> Result<AlarmState, ParseError> {
    match value {
        "ALARM" => Ok(AlarmState::Alarm),
        "OK" => Ok(AlarmState::Ok),
        "INSUFFICIENT_DATA" => Ok(AlarmState::InsufficientData),
        other => Err(problem(format!("alarm state {other:?} is none of ALARM, OK, INSUFFICIENT_DATA"))),
    }
}

fn collect_dimension_list(dimensions: &[SnsDimension], into: &mut Vec<String>) {
    for dimension in dimensions.iter().filter(|d| d.name == "InstanceId") {
        push_unique(into, &dimension.value);
    }
}

fn push_unique(into: &mut Vec<String>, id: &str) {
    if !into.iter().any(|known| known == id) {
        into.push(id.to_owned());
    }
}

/// The alarm data of a direct alarm action or of an EventBridge alarm event. Only what the
/// decision needs is read; everything else (reasons, periods, thresholds) may take any shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmData {
    alarm_name: String,
    state: AlarmDataState,
    #[serde(default)]
    configuration: Option<AlarmConfiguration>,
}

#[derive(Deserialize)]
struct AlarmDataState {
    value: String,
}

#[derive(Deserialize)]
struct AlarmConfiguration {
    // A composite alarm has `alarmRule` and no metrics.
    #[serde(default)]
    metrics: Vec<AlarmMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmMetric {
    // A metric-math entry carries `expression` and no `metricStat`.
    #[serde(default)]
    metric_stat: Option<AlarmMetricStat>,
}

#[derive(Deserialize)]
struct AlarmMetricStat {
    metric: AlarmMetricName,
}

#[derive(Deserialize)]
struct AlarmMetricName {
    #[serde(default)]
    dimensions: serde_json::Map<String, Value>,
}

/// The alarm notification CloudWatch publishes to SNS.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarm {
    alarm_name: String,
    new_state_value: String,
    #[serde(default)]
    trigger: Option<SnsTrigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsTrigger {
    #[serde(default)]
    dimensions: Vec<SnsDimension>,
    #[serde(default)]
    metrics: Vec<SnsMetric>,
}

#[derive(Deserialize)]
struct SnsDimension {
    // CloudWatch writes these keys in lower case inside an SNS alarm notification.
    #[serde(alias = "Name")]
    name: String,
    #[serde(alias = "Value")]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetric {
    #[serde(default)]
    metric_stat: Option<SnsMetricStat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetricStat {
    metric: SnsMetricName,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetricName {
    #[serde(default)]
    dimensions: Vec<SnsDimension>,
}
