//! What the evidence says about time: whether a warning is about now, whether EC2 has an event
//! due within the lead time, whether the last failover is inside the cooldown.

use crate::pair::config::{Config, Rebalance, ZonalShift};
use crate::pair::world::{FailoverRecord, Phase, ScheduledEvent, ShiftKind, World, ZoneShift};
use crate::trigger::{Source, Warning};

/// How long a certain loss (a Spot interruption two minutes ahead, with some delivery delay)
/// stands whatever failover came after it was sent.
const CERTAIN_LOSS_SECONDS: i64 = 150;

/// Why a warning that stands is not acted on now, if it is not. An AWS Health scheduled change
/// (a retirement, a stop, maintenance) is posted weeks before its `startTime`: beyond
/// `SCHEDULED_LEAD_SECONDS` it is logged, and EC2's scheduled event for the same change, which the
/// reconcile reads, fails the pair over when the lead time comes (an `issue` is about now). A
/// warning AWS sent before the failover that made the instance it names active (Lambda retries an
/// asynchronous event for up to six hours, and a failback may have come since) is about the past.
pub(super) fn out_of_time(config: &Config, world: &World, warning: &Warning) -> Option<String> {
    if let Source::Health(health) = &warning.source {
        let lead = config.scheduled_lead_seconds;
        if let Some(start) =
            health.start.filter(|s| health.category == "scheduledChange" && *s > world.now.saturating_add(lead))
        {
            return Some(format!(
                "{} begins at {start}, in {}s, beyond the {lead}s lead time (SCHEDULED_LEAD_SECONDS): logged; EC2's \
                 scheduled event for it fails the pair over when the lead time comes",
                warning.says(),
                start - world.now
            ));
        }
    }
    let (Some(sent), Some(record)) = (warning.at, world.anchor.record.as_ref()) else { return None };
    // A certain loss announced moments ago (a Spot interruption comes two minutes ahead) may have
    // raced the failover onto its instance and been delivered after it: it still stands.
    if warning.is_certain_loss() && world.now.saturating_sub(sent) < CERTAIN_LOSS_SECONDS {
        return None;
    }
    (warning.names(&record.to) && sent < record.at && record.phase != Phase::Started).then(|| {
        format!(
            "{} was sent at {sent}, before the failover to {} at {}: replayed or late, it changes nothing",
            warning.raised_by(),
            record.to,
            record.at
        )
    })
}

/// Whether a warning is only logged: a rebalance recommendation while `REBALANCE=log`.
pub(super) fn is_logged_only(config: &Config, warning: &Warning) -> bool {
    matches!(warning.source, Source::RebalanceRecommendation) && config.rebalance == Rebalance::Log
}

/// The first event EC2 has scheduled for `instance_id` whose window begins within the lead time
/// (or has begun: it is not completed), so that the pair fails over ahead of it, not in it.
pub(super) fn due_event<'a>(config: &Config, world: &'a World, instance_id: &str) -> Option<&'a ScheduledEvent> {
    let due =
        |e: &&ScheduledEvent| e.not_before.is_none_or(|t| t.saturating_sub(world.now) <= config.scheduled_lead_seconds);
    // The most severe one: a retirement or stop before a reboot or maintenance listed first.
    let events = &world.member(instance_id)?.scheduled_events;
    events.iter().filter(due).find(|e| e.takes_the_instance()).or_else(|| events.iter().find(due))
}

/// Whether the failover `record` is younger than the cooldown.
pub(super) fn within_cooldown(config: &Config, world: &World, record: &FailoverRecord) -> bool {
    world.now.saturating_sub(record.at) < i64::try_from(config.cooldown_seconds).unwrap_or(i64::MAX)
}

/// The active shift that keeps the address out of `instance_id`'s zone, if any: with
/// `ZONAL_SHIFT` avoid or follow, every kind counts, practice runs included, as AWS shifts traffic
/// in them too.
pub(super) fn shifted<'a>(config: &Config, world: &'a World, instance_id: &str) -> Option<&'a ZoneShift> {
    if config.zonal_shift == ZonalShift::Off {
        return None;
    }
    let zone = world.member(instance_id)?.availability_zone.as_deref()?;
    world.shifts.iter().find(|s| s.zone.as_deref() == Some(zone))
}

/// The shift away from the active instance's zone that fails the pair over, with
/// `ZONAL_SHIFT=follow`: a customer's shift or an autoshift; a practice run or an experiment only
/// with `FOLLOW_PRACTICE_RUNS`.
pub(super) fn shifted_away<'a>(config: &Config, world: &'a World, active: &str) -> Option<&'a ZoneShift> {
    if config.zonal_shift != ZonalShift::Follow {
        return None;
    }
    let zone = world.member(active)?.availability_zone.as_deref()?;
    world.shifts.iter().find(|s| {
        s.zone.as_deref() == Some(zone)
            && match s.kind {
                ShiftKind::Customer | ShiftKind::Autoshift => true,
                ShiftKind::PracticeRun | ShiftKind::Experiment => config.follow_practice_runs,
            }
    })
}
