//! CloudWatch: the alarms an invocation reads (which ones, `pair::alarms` says), in the
//! function's region and in each other region `ALARM_NAMES` names by ARN, each region on its own.

use aws_sdk_cloudwatch::Client;
use futures_util::future::join_all;

use crate::aws::aws_error;
use crate::error::Error;
use crate::pair::alarms::AlarmReads;
use crate::pair::world::AlarmSeen;
use crate::trigger::AlarmState;

/// Reads the alarms of the function's region and of every other region named, all at once, each
/// region on its own: one whose read fails (DescribeAlarms allows 9 requests a second per account
/// and region, shared with every monitoring tool) is named in the second list with its error, and
/// the others' alarms are kept, so that a throttled us-east-1 does not hide a home alarm in ALARM
/// from the reconcile. An alarm that cannot be read is not believed: a payload's ALARM then changes
/// nothing, and the next reconcile reads again; a dead primary does not need it. None: nothing was
/// read. An alarm of a region without a client (not named by ARN in `ALARM_NAMES`) is not read.
pub(super) async fn read_all(
    cloudwatch: &Client,
    regional: &[(String, Client)],
    reads: &AlarmReads,
) -> (Option<Vec<AlarmSeen>>, Vec<String>) {
    let here = AlarmReads { elsewhere: Vec::new(), ..reads.clone() };
    let there = reads.elsewhere.iter().filter_map(|(region, names)| {
        let client = regional.iter().find(|(r, _)| r == region).map(|(_, c)| c)?;
        let read = read_alarms(client, AlarmReads { names: names.clone(), ..AlarmReads::default() });
        Some(async move { (Some(region.as_str()), read.await) })
    });
    let here = async { (None, read_alarms(cloudwatch, here).await) };
    let (here, there) = tokio::join!(here, join_all(there));
    let (mut seen, mut unread): (Option<Vec<AlarmSeen>>, Vec<String>) = (None, Vec::new());
    for (region, found) in std::iter::once(here).chain(there) {
        match found {
            Ok(Some(found)) => seen.get_or_insert_with(Vec::new).extend(found),
            Ok(None) => {}
            Err(e) => {
                let region = region.map_or_else(|| "the function's region".to_owned(), str::to_owned);
                tracing::warn!(region = %region, error = %e, "could not read the alarms of one region; the others count");
                unread.push(format!("{region}: {e}"));
            }
        }
    }
    (seen, unread)
}

/// Reads the alarms: by name and by action, both at once, every page. None: nothing to read.
async fn read_alarms(cloudwatch: &Client, reads: AlarmReads) -> Result<Option<Vec<AlarmSeen>>, Error> {
    let reads = &reads;
    use aws_sdk_cloudwatch::types::AlarmType;
    if reads.is_empty() {
        return Ok(None);
    }
    // Composite alarms are listed only when AlarmTypes asks for them.
    let query =
        || cloudwatch.describe_alarms().alarm_types(AlarmType::MetricAlarm).alarm_types(AlarmType::CompositeAlarm);
    let by_name = async {
        match reads.names.is_empty() {
            true => Ok(Vec::new()),
            false => {
                query()
                    .set_alarm_names(Some(reads.names.clone()))
                    .into_paginator()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
            }
        }
    };
    let by_action = async {
        match &reads.action_prefix {
            None => Ok(Vec::new()),
            Some(prefix) => query().action_prefix(prefix).into_paginator().send().collect::<Result<Vec<_>, _>>().await,
        }
    };
    let (by_name, by_action) = tokio::join!(by_name, by_action);
    let by_name = by_name.map_err(|e| aws_error("DescribeAlarms", e))?;
    let by_action = by_action.map_err(|e| aws_error("DescribeAlarms", e))?;
    // ActionPrefix is a prefix: `function:ec2-failover` also finds `function:ec2-failover-db`'s
    // alarms. Only an action that is this function's ARN, or it with a qualifier, counts.
    let invokes_us = |actions: &[String]| {
        reads.action_prefix.as_deref().is_some_and(|arn| {
            actions.iter().any(|a| a == arn || a.strip_prefix(arn).is_some_and(|rest| rest.starts_with(':')))
        })
    };
    let mut seen: Vec<AlarmSeen> = Vec::new();
    for (page, by_action) in by_name.iter().map(|p| (p, false)).chain(by_action.iter().map(|p| (p, true))) {
        for alarm in page.metric_alarms().iter().filter(|a| !by_action || invokes_us(a.alarm_actions())) {
            let mut instance_ids: Vec<String> = Vec::new();
            let dimensions = alarm.dimensions().iter().chain(
                alarm
                    .metrics()
                    .iter()
                    .filter_map(|m| m.metric_stat())
                    .filter_map(|s| s.metric())
                    .flat_map(|m| m.dimensions()),
            );
            for id in dimensions.filter(|d| d.name() == Some("InstanceId")).filter_map(|d| d.value()) {
                if !instance_ids.iter().any(|known| known == id) {
                    instance_ids.push(id.to_owned());
                }
            }
            let since = alarm.state_transitioned_timestamp().or(alarm.state_updated_timestamp()).map(|t| t.secs());
            let state = alarm.state_value().map(|s| s.as_str());
            push_alarm(&mut seen, alarm.alarm_name(), state, instance_ids, since, alarm.actions_enabled());
        }
        for alarm in page.composite_alarms().iter().filter(|a| !by_action || invokes_us(a.alarm_actions())) {
            let since = alarm.state_transitioned_timestamp().or(alarm.state_updated_timestamp()).map(|t| t.secs());
            let state = alarm.state_value().map(|s| s.as_str());
            push_alarm(&mut seen, alarm.alarm_name(), state, Vec::new(), since, alarm.actions_enabled());
        }
    }
    Ok(Some(seen))
}

/// Adds an alarm once; one CloudWatch reports in a state this function does not know is dropped.
fn push_alarm(
    seen: &mut Vec<AlarmSeen>,
    name: Option<&str>,
    state: Option<&str>,
    instance_ids: Vec<String>,
    since: Option<i64>,
    actions_enabled: Option<bool>,
) {
    let state = match state {
        Some("ALARM") => AlarmState::Alarm,
        Some("OK") => AlarmState::Ok,
        Some("INSUFFICIENT_DATA") => AlarmState::InsufficientData,
        _ => return,
    };
    if let Some(name) = name.filter(|n| !seen.iter().any(|a| &a.name == n)) {
        let actions_enabled = actions_enabled.unwrap_or(true);
        seen.push(AlarmSeen { name: name.to_owned(), state, instance_ids, since, actions_enabled });
    }
}
