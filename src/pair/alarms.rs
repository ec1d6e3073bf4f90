//! The alarms as evidence: which ones an invocation reads from CloudWatch, and what they prove.
//! Pure, like `decide`: an alarm payload counts only if CloudWatch says ALARM now, and an alarm
//! that stays in ALARM counts against the instance that took over only if it went to ALARM after.

use super::config::Config;
use super::world::{AlarmSeen, World};
use crate::trigger::{AlarmState, Command, Source, Trigger, Warning};

/// Which alarms an invocation reads from CloudWatch, in parallel with EC2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmReads {
    /// Alarms by name, in the function's region: the one an alarm payload names, and on a
    /// reconcile the names in `ALARM_NAMES`.
    pub names: Vec<String>,
    /// On a reconcile, the alarms whose actions invoke this function (its unqualified ARN).
    pub action_prefix: Option<String>,
    /// Alarms of other regions by region, named in `ALARM_NAMES` by their ARNs: a Route 53 health
    /// check's alarm lives in us-east-1, whatever the pair's region.
    pub elsewhere: Vec<(String, Vec<String>)>,
}

impl AlarmReads {
    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.action_prefix.is_none() && self.elsewhere.is_empty()
    }

    fn add(&mut self, entry: &str) {
        match elsewhere(entry) {
            Some((region, name)) => match self.elsewhere.iter_mut().find(|(r, _)| r == region) {
                Some((_, names)) => names.push(name.to_owned()),
                None => self.elsewhere.push((region.to_owned(), vec![name.to_owned()])),
            },
            None => self.names.push(entry.to_owned()),
        }
    }
}

/// The region and name of an `ALARM_NAMES` entry that is an alarm's ARN
/// (`arn:aws:cloudwatch:us-east-1:123456789012:alarm:name`); none for a plain name.
pub fn elsewhere(entry: &str) -> Option<(&str, &str)> {
    let mut parts = entry.splitn(7, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("cloudwatch"), Some(region), Some(_), Some("alarm"), Some(name))
            if !region.is_empty() && !name.is_empty() =>
        {
            Some((region, name))
        }
        _ => None,
    }
}

/// The regions of the alarms `ALARM_NAMES` names by ARN, each once.
pub fn regions(config: &Config) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    for (region, _) in config.alarm_names.iter().filter_map(|e| elsewhere(e)) {
        if !regions.iter().any(|r| r == region) {
            regions.push(region.to_owned());
        }
    }
    regions
}

/// The alarms to read for this trigger: an alarm payload's own alarm (it counts only if CloudWatch
/// says ALARM now); on a reconcile, every alarm that can invoke the function, so that an alarm
/// whose invocation was lost still fails the pair over. `function_arn` may carry a version or
/// alias qualifier; the alarms' actions are matched by the unqualified ARN as a prefix.
pub fn alarm_reads(config: &Config, trigger: &Trigger, function_arn: Option<&str>) -> AlarmReads {
    match trigger {
        // A payload's alarm is read where `ALARM_NAMES` says it lives, else in the function's region.
        Trigger::Warning(Warning { source: Source::Alarm(alarm), .. }) => {
            let mut reads = AlarmReads::default();
            let named = config.alarm_names.iter().find(|e| elsewhere(e).is_some_and(|(_, name)| name == alarm.name));
            reads.add(named.map_or(alarm.name.as_str(), String::as_str));
            reads
        }
        // The reconcile, and an instance's state change (which may carry a make-before-break
        // failover on: only while its failure stands).
        Trigger::Schedule | Trigger::StateChange { .. } | Trigger::Command(Command::Status) => {
            let mut reads = AlarmReads {
                action_prefix: function_arn.map(|arn| arn.split(':').take(7).collect::<Vec<_>>().join(":")),
                ..AlarmReads::default()
            };
            for entry in &config.alarm_names {
                reads.add(entry);
            }
            reads
        }
        _ => AlarmReads::default(),
    }
}

/// An alarm CloudWatch reports in ALARM now, with its actions enabled (disabling them is how an
/// alarm is muted for maintenance), about `active` or no instance at all, and gone to ALARM after
/// `since` (the time the active instance got the IP): an alarm that stays in ALARM fails the pair
/// over once, not back and forth every cooldown.
pub(super) fn standing_alarm<'a>(world: &'a World, active: &str, since: Option<i64>) -> Option<&'a AlarmSeen> {
    world.alarms.iter().flatten().find(|a| {
        a.state == AlarmState::Alarm
            && a.actions_enabled
            && (a.instance_ids.is_empty() || a.instance_ids.iter().any(|i| i == active))
            && is_news(a, since)
    })
}

/// An alarm about the running `active` instance (named by its `InstanceId` dimension) that has had
/// no data (INSUFFICIENT_DATA, with actions enabled) for at least `silent_seconds`, silent since
/// after the instance last started and after it took the address (`since`): the instance has gone
/// silent while EC2 still says it runs, with how long. Alone it proves nothing: "alarms set on
/// Amazon EC2 metrics can temporarily enter the INSUFFICIENT_DATA state if there are missing
/// metric data points ... even when the Amazon EC2 instance is healthy" (CloudWatch User Guide,
/// "Configuring how CloudWatch alarms treat missing data"), so `decide` asks EC2's own status
/// checks too. `silent_seconds` 0: never.
pub(super) fn silence<'a>(
    world: &'a World,
    active: &str,
    since: Option<i64>,
    silent_seconds: i64,
) -> Option<(&'a AlarmSeen, i64)> {
    if silent_seconds <= 0 {
        return None;
    }
    let started = world.member(active).and_then(|m| m.launch_time);
    world.alarms.iter().flatten().find_map(|a| {
        let quiet_since = a.since?;
        let quiet = world.now.saturating_sub(quiet_since);
        (a.state == AlarmState::InsufficientData
            && a.actions_enabled
            && a.instance_ids.iter().any(|i| i == active)
            && started.is_none_or(|t| quiet_since > t)
            && since.is_none_or(|t| quiet_since > t)
            && quiet >= silent_seconds)
            .then_some((a, quiet))
    })
}

/// Whether the alarm went to its state after `since` (or either time is unknown).
fn is_news(alarm: &AlarmSeen, since: Option<i64>) -> bool {
    match (alarm.since, since) {
        (Some(changed), Some(since)) => changed > since,
        _ => true,
    }
}

/// The trigger's warning if it stands now, and otherwise why it changes nothing. An alarm payload is
/// evidence, not the truth: a retried or replayed ALARM payload for an alarm that is OK again, or a
/// forged one, must not fail the pair over, so it counts only if CloudWatch says the alarm is in
/// ALARM now; the instances it is about are CloudWatch's too.
pub(super) fn confirm(trigger: &Trigger, world: &World, since: Option<i64>) -> (Option<Warning>, Option<String>) {
    let Trigger::Warning(warning) = trigger else { return (None, None) };
    if !warning.stands() {
        return (None, None);
    }
    // Spot notices and Health events are EC2's and AWS Health's own word about the instance, with
    // nothing to read back (the instance runs until the interruption or the scheduled window).
    let Source::Alarm(alarm) = &warning.source else { return (Some(warning.clone()), None) };
    let Some(alarms) = &world.alarms else {
        return (
            None,
            Some(format!("CloudWatch could not be read to confirm alarm {}; the next reconcile will", alarm.name)),
        );
    };
    match alarms.iter().find(|a| a.name == alarm.name) {
        Some(seen) if seen.state == AlarmState::Alarm && !is_news(seen, since) => (
            None,
            Some(format!(
                "alarm {} has been in ALARM since before the failover that brought the IP here: it changes nothing",
                alarm.name
            )),
        ),
        Some(seen) if seen.state == AlarmState::Alarm => {
            (Some(Warning { instance_ids: seen.instance_ids.clone(), ..warning.clone() }), None)
        }
        Some(seen) => (
            None,
            Some(format!(
                "alarm {} is {} now, whatever the payload said: it changes nothing",
                alarm.name,
                seen.state.name()
            )),
        ),
        None => (None, Some(format!("CloudWatch does not know alarm {}: the payload changes nothing", alarm.name))),
    }
}

/// Whether an alarm about `active` (or about no instance) has left ALARM since `since`: the
/// failure that started a make-before-break failover at that time is over.
pub(super) fn recovered_since(world: &World, active: &str, since: i64) -> bool {
    world.alarms.iter().flatten().any(|a| {
        a.state != AlarmState::Alarm
            && (a.instance_ids.is_empty() || a.instance_ids.iter().any(|i| i == active))
            && a.since.is_some_and(|changed| changed > since)
    })
}
