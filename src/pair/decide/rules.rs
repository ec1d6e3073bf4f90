//! The decision about a trigger other than a command, as named rules tried in order. Each reads
//! the pair as this invocation sees it ([`Case`]) and either decides or passes:
//!
//! 1. [`carry_on`] a failover begun earlier that has not moved the address yet;
//! 2. [`Due`]: what is due whatever else happens (the old active instance fenced, a move whose new
//!    instance runs marked done), carried by the decisions below;
//! 3. [`stopped_active`]: the address is on a stopped instance a failover chose;
//! 4. [`failure`] of the active instance (down, a warning, an alarm, the service check, a scheduled
//!    event); with none, the pair is [`steady`];
//! 5. [`hazard_elsewhere`]: the other instance faces as bad or worse;
//! 6. [`cooldown`]: the last failover is too recent;
//! 7. the move (`moves::move_to`).

use super::evidence::{due_event, is_logged_only, out_of_time, shifted, shifted_away, within_cooldown};
use super::moves::{checks_of, heal, move_to, ready, unstoppable};
use crate::decision::Verdict;
use crate::pair::alarms::{confirm, recovered_since, silence, standing_alarm};
use crate::pair::config::{Config, FenceMode, ZonalShift};
use crate::pair::endpoint;
use crate::pair::health;
use crate::pair::plan::{decision, Action, Decision};
use crate::pair::world::{AlarmSeen, FailoverRecord, Holder, InstanceState, Phase, ScheduledEvent, World};
use crate::trigger::{Trigger, Warning};

/// Decides about a trigger that is not a command (and has been screened).
pub(super) fn decide(config: &Config, trigger: &Trigger, world: &World) -> Decision {
    let case = match Case::read(config, trigger, world) {
        Ok(case) => case,
        Err(decided) => return decided,
    };
    if let Some(decided) = carry_on(&case) {
        return decided;
    }
    let due = Due::of(&case);
    if let Some(decided) = stopped_active(&case) {
        return decided;
    }
    let failure = match failure(&case) {
        Ok(Some(failure)) => failure,
        Ok(None) => return steady(&case, due),
        Err(refused) => return refused,
    };
    if let Some(decided) = hazard_elsewhere(&case, &failure, &due) {
        return decided;
    }
    if let Some(decided) = cooldown(&case, &failure, &due) {
        return decided;
    }
    move_to(config, world, case.active, case.other, Verdict::FailOver, failure.why, Some(failure.cause))
}

/// The pair as this invocation sees it, with the evidence every rule reads.
pub(super) struct Case<'a> {
    config: &'a Config,
    world: &'a World,
    /// The member the deciding endpoint points at.
    active: &'a str,
    /// The other member.
    other: &'a str,
    active_state: InstanceState,
    /// The last failover recorded.
    record: Option<&'a FailoverRecord>,
    /// When the active instance took the address, if a failover brought it there.
    since: Option<i64>,
    /// The failover that brought the address here, if any: `moved` (the address left, the start was
    /// asked for) or `done` (this instance ran with it). Alarms that went to ALARM before it are
    /// about what happened before: they do not count against the instance that took over.
    completed: Option<&'a FailoverRecord>,
    /// The trigger's warning, if it stands now.
    warning: Option<Warning>,
    /// Why the trigger's warning changes nothing, if it does not.
    doubt: Option<String>,
    /// An alarm about the active instance in ALARM since it took the address.
    standing: Option<&'a AlarmSeen>,
    /// What the reasons call the pair's address.
    ip: String,
}

impl<'a> Case<'a> {
    /// The case, or the decision when there is no active member to decide about: the address on
    /// something outside the pair (refused), on nothing (healed), on an instance that is not one
    /// of the pair (refused).
    fn read(config: &'a Config, trigger: &'a Trigger, world: &'a World) -> Result<Self, Decision> {
        let ip = endpoint::called(config);
        let active = match &world.anchor.holder {
            outsider @ Holder::Outsider { .. } => {
                let reason =
                    format!("{}, outside the pair; refusing to take it", endpoint::on(config, &outsider.name()));
                return Err(decision(Verdict::Refuse, reason, Vec::new()));
            }
            Holder::Nobody => return Err(heal(config, world)),
            Holder::Member { instance_id } => instance_id.as_str(),
        };
        let Some(other) = config.other(active) else {
            return Err(decision(
                Verdict::Refuse,
                format!("{active} holds {ip} but is not one of the pair"),
                Vec::new(),
            ));
        };
        let record = world.anchor.record.as_ref();
        let completed = record.filter(|r| r.to == active && r.from == other && r.phase != Phase::Started);
        let since = completed.map(|r| r.at);
        let (warning, doubt) = match confirm(trigger, world, since) {
            (Some(w), doubt) => match out_of_time(config, world, &w) {
                Some(why) => (None, Some(why)),
                None => (Some(w), doubt),
            },
            unconfirmed => unconfirmed,
        };
        let standing = standing_alarm(world, active, since);
        let active_state = world.state_of(active);
        Ok(Case { config, world, active, other, active_state, record, since, completed, warning, doubt, standing, ip })
    }

    /// The trigger's warning, when it is about the active instance (or about no instance).
    fn about_active(&self) -> Option<&Warning> {
        self.warning.as_ref().filter(|w| w.instance_ids.is_empty() || w.names(self.active))
    }

    /// A warning about the active instance that fails the pair over: a rebalance recommendation
    /// only if the settings say so (it is a risk, not a notice).
    fn acting(&self) -> Option<&Warning> {
        self.about_active().filter(|w| !is_logged_only(self.config, w))
    }

    /// The event EC2 has scheduled for the active instance within the lead time, if any.
    fn due(&self) -> Option<&'a ScheduledEvent> {
        due_event(self.config, self.world, self.active)
    }

    /// An alarm about the active instance that has had no data for `SILENT_SECONDS` since it last
    /// started and took the address, and for how long.
    fn silence(&self) -> Option<(&'a AlarmSeen, i64)> {
        silence(self.world, self.active, self.since, self.config.silent_seconds)
    }

    /// The same for the other instance.
    fn other_due(&self) -> Option<&'a ScheduledEvent> {
        due_event(self.config, self.world, self.other)
    }
}

/// Rule 1. A failover decided earlier whose address has not moved yet is carried on, whatever this
/// invocation's trigger was: the standby's `running` event is what most often brings us here.
/// (`moved` with the address still on `from`: the record was written, the move failed.) One away
/// from a primary that still runs stops when CloudWatch shows its alarm back to OK since it began:
/// a passing alarm must not end in a healthy primary stopped.
fn carry_on(case: &Case<'_>) -> Option<Decision> {
    let (config, world, active, other) = (case.config, case.world, case.active, case.other);
    let r = case.record.filter(|r| r.from == active && r.to == other && r.phase != Phase::Done)?;
    // Positive evidence only: an alarm about it has gone back to OK since the failover began (an
    // alarm delivered through SNS and not read here cannot stall the failover). Only for a
    // failover an alarm started (or one recorded before causes were): a switchover or a probe's
    // failover is not undone because some alarm went back to OK.
    let alarm_passed = r.cause.as_deref().is_none_or(|c| c.starts_with("alarm:"))
        // Every region's alarms read: one unread may hold the alarm that started it.
        && world.unread_alarms.is_empty()
        && !case.active_state.is_down()
        && case.standing.is_none()
        && case.about_active().is_none()
        && case.due().is_none()
        && health::failure(config, world, active).is_none()
        && recovered_since(world, active, r.at);
    if alarm_passed {
        let reason = format!(
            "the failover from {active} to {other} begun at {} is not carried on: no alarm about {active} is in \
             ALARM any more, and {active} is {}",
            r.at,
            case.active_state.name()
        );
        return Some(decision(Verdict::NoChange, reason, Vec::new()));
    }
    let why = format!("carrying on the failover from {active} to {other} begun at {}", r.at);
    Some(move_to(config, world, active, other, Verdict::Finish, why, r.cause.clone()))
}

/// Rule 2: what is due after the failover that brought the address here, whatever else is
/// decided. The old active instance is stopped: if it still runs since before the failover (the
/// stop failed or never came), it is stopped now; one started again after the failover was
/// started on purpose and is left alone. Only a running instance can be stopped: AWS refuses to
/// stop one that is still `pending`, so that one waits for the next invocation. Never while the
/// active instance is itself going down: the old one may be all that serves. A fence still
/// `stopping` FENCE_ESCALATE_SECONDS after the move hangs (an OS that will not shut down): it is
/// stopped again with `Force` (EC2 API reference, StopInstances: "If your instance appears stuck
/// in the stopping state ... use the Force parameter"). And a failover whose new instance now runs
/// with the address is done: it has served (the record keeps the time of the move, which the
/// cooldown and the fence measure from).
#[derive(Clone, Debug, Default)]
struct Due {
    /// The stop of the old active instance, if due.
    fence: Vec<Action>,
    /// Why it is due, or why it cannot be done.
    fence_why: String,
    /// The record marked done, if due.
    done: Vec<Action>,
}

impl Due {
    fn of(case: &Case<'_>) -> Self {
        let (config, world, active, other) = (case.config, case.world, case.active, case.other);
        let fencing = config.fence_mode != FenceMode::None;
        let force = config.fence_mode == FenceMode::Force;
        let (fence, fence_why) = match (case.completed, world.member(other)) {
            // EC2 refuses to stop an instance of a one-time Spot request: retrying every reconcile
            // would fail and page every minute. Said, not tried.
            (Some(_), Some(old))
                if fencing
                    && matches!(old.state, InstanceState::Running | InstanceState::Stopping)
                    && old.spot.as_ref().is_some_and(|s| s.cannot_stop()) =>
            {
                (Vec::new(), unstoppable(world, other).unwrap_or_default())
            }
            (Some(r), Some(old))
                if fencing
                    && !case.active_state.is_down()
                    && old.state == InstanceState::Running
                    && old.launch_time.is_some_and(|launched| launched <= r.at) =>
            {
                let why = format!(
                    "{other} still runs since before the failover to {active}; stopping it{} so that only {active} \
                     serves",
                    if force { " with Force" } else { "" }
                );
                (vec![Action::StopInstance { instance_id: other.to_owned(), force, skip_os_shutdown: force }], why)
            }
            (Some(r), Some(old))
                if fencing
                    && old.state == InstanceState::Stopping
                    && old.launch_time.is_some_and(|launched| launched <= r.at)
                    && world.now.saturating_sub(r.at) >= config.fence_escalate_seconds =>
            {
                // Force lets EC2 end a shutdown that hangs; skipping the OS shutdown as well may
                // lose data, and is FENCE_MODE=force's choice alone.
                let why = format!(
                    "{other} has been stopping for {}s since the failover to {active} (FENCE_ESCALATE_SECONDS {}): \
                     stopping it with Force",
                    world.now.saturating_sub(r.at),
                    config.fence_escalate_seconds
                );
                let stop = Action::StopInstance { instance_id: other.to_owned(), force: true, skip_os_shutdown: force };
                (vec![stop], why)
            }
            _ => (Vec::new(), String::new()),
        };
        let done = case
            .completed
            .filter(|r| r.phase == Phase::Moved && case.active_state == InstanceState::Running)
            .map(|r| Action::RecordFailover(FailoverRecord { phase: Phase::Done, ..r.clone() }))
            .into_iter()
            .collect();
        Due { fence, fence_why, done }
    }

    /// Both, to go with a decision that holds.
    fn all(&self) -> Vec<Action> {
        [self.done.clone(), self.fence.clone()].concat()
    }
}

/// Rule 3. The address sits on a stopped instance that a failover chose. A cooldown never keeps it
/// there: if that instance never ran since (its start failed, for want of capacity or a KMS grant)
/// and the other one serves, the address goes back at once; otherwise it is started again. Past the
/// cooldown a stopped active instance is an ordinary failure (rule 4).
fn stopped_active(case: &Case<'_>) -> Option<Decision> {
    let (config, world, active, other, ip) = (case.config, case.world, case.active, case.other, &case.ip);
    let r = case.completed.filter(|_| case.active_state == InstanceState::Stopped)?;
    let why = world
        .member(active)
        .and_then(|m| m.state_reason.as_deref())
        .map_or_else(String::new, |reason| format!(" ({reason})"));
    if r.phase == Phase::Moved && ready(config, world, other) {
        let reason = format!(
            "{ip} is on {active}, which has not run since the failover to it at {} and is stopped{why}; {other} can \
             serve: failing back, whatever the cooldown",
            r.at
        );
        return Some(move_to(config, world, active, other, Verdict::FailOver, reason, Some("start-failed".into())));
    }
    within_cooldown(config, world, r).then(|| {
        let reason = format!(
            "{ip} is on {active}, which the failover at {} chose and which is stopped{why}; starting it again rather \
             than leave {ip} on a stopped instance",
            r.at
        );
        decision(Verdict::Finish, reason, vec![Action::StartInstance { instance_id: active.to_owned() }])
    })
}

/// A failure of the active instance: why, and its cause as the record keeps it.
struct Failure {
    why: String,
    cause: String,
}

/// Rule 4: the active instance has failed, if it is down, a warning about it stands, an alarm
/// about it is in ALARM, it has gone silent (an alarm about it without data for `SILENT_SECONDS`
/// while EC2's own status checks of it do not pass either: a zone gone dark, where EC2 may go on
/// saying `running`), its service check fails, or EC2 has an event scheduled for it within the
/// lead time. A service check that times out everywhere tells of the path, not the service:
/// refused loudly (the `Err`), and nothing is started for it.
fn failure(case: &Case<'_>) -> Result<Option<Failure>, Decision> {
    let (config, world, active) = (case.config, case.world, case.active);
    let failed = |why: String, cause: String| Ok(Some(Failure { why, cause }));
    if case.active_state.is_down() {
        let state = case.active_state.name();
        return failed(format!("the active instance {active} is {state}"), format!("state:{state}"));
    }
    if let Some(w) = case.acting() {
        return failed(format!("{} for the active instance {active}", w.says()), w.cause());
    }
    if let Some(a) = case.standing {
        let why = format!("alarm {} is in ALARM for the active instance {active}", a.name);
        return failed(why, format!("alarm:{}", a.name));
    }
    if let Some((a, quiet)) =
        case.silence().filter(|_| world.member(active).and_then(|m| m.checks).is_some_and(|c| !c.pass()))
    {
        let why = format!(
            "the active instance {active} has gone silent: alarm {} has had no data for {quiet}s and EC2's status \
             checks say {} (a zone gone dark looks so: EC2 may go on saying running)",
            a.name,
            checks_of(world, active)
        );
        return failed(why, "silent".to_owned());
    }
    // Out of a shifted zone only into one that is not: with both shifted, following would move the
    // address back and forth, each move past the cooldown.
    if let Some(s) = shifted_away(config, world, active).filter(|_| shifted(config, world, case.other).is_none()) {
        let why = format!(
            "{} moves traffic away from the zone of the active instance {active} (ZONAL_SHIFT=follow)",
            s.describe()
        );
        return failed(why, "zonal-shift".to_owned());
    }
    if let Some(service) = health::failure(config, world, active) {
        if let Some(blocked) = health::blocked(config, world) {
            return Err(decision(Verdict::Refuse, format!("{service}; but {blocked}"), Vec::new()));
        }
        return failed(service, "probe".to_owned());
    }
    Ok(case.due().map(|e| Failure {
        why: format!(
            "EC2 has scheduled {} for the active instance {active}{}, within the {}s lead time",
            e.code,
            e.not_before.map(|t| format!(" from {t}")).unwrap_or_default(),
            config.scheduled_lead_seconds
        ),
        cause: format!("scheduled:{}", e.code),
    }))
}

/// No failure: what is due is done (a fence, a failover marked done), or nothing changes, and the
/// reason says what was noticed about the other instance.
fn steady(case: &Case<'_>, due: Due) -> Decision {
    let (config, world, active, other, ip) = (case.config, case.world, case.active, case.other, &case.ip);
    let done_why = format!("{active} runs with {ip}: the failover from {other} is done");
    if !due.fence.is_empty() {
        let reason = if due.done.is_empty() { due.fence_why.clone() } else { format!("{done_why}; {}", due.fence_why) };
        return decision(Verdict::Fence, reason, due.all());
    }
    if !due.done.is_empty() {
        return decision(Verdict::Finish, done_why, due.done);
    }
    let mut reason = format!("{ip} is on {active}, which is {}", case.active_state.name());
    if !due.fence_why.is_empty() {
        reason.push_str(&format!("; WARNING: {}", due.fence_why));
    }
    if let Some(w) = case.about_active().filter(|w| is_logged_only(config, w)) {
        reason.push_str(&format!("; {} for the active instance {active}: logged only (REBALANCE=log)", w.says()));
    }
    if let Some(warning) = case.warning.as_ref().filter(|w| w.names(other)) {
        reason.push_str(&format!(
            "; {} is about {other}, which does not hold the IP: it would not be a safe place to fail over to",
            warning.raised_by()
        ));
    }
    if let Some(e) = case.other_due() {
        reason.push_str(&format!("; EC2 has scheduled {} for {other}, which does not hold the IP", e.code));
    }
    if let Some(service) = health::failure(config, world, other) {
        reason.push_str(&format!("; {service}, which does not hold the IP: it is not ready to take over"));
    }
    if let Some((a, quiet)) = case.silence() {
        reason.push_str(&format!(
            "; alarm {} has had no data for {quiet}s, but EC2's status checks of {active} say {}: not failing over \
             on missing metrics alone",
            a.name,
            checks_of(world, active)
        ));
    }
    if let Some(s) = shifted(config, world, active) {
        reason.push_str(&format!(
            "; {} covers the zone of {active}: the address stays ({})",
            s.describe(),
            match config.zonal_shift {
                ZonalShift::Follow =>
                    "ZONAL_SHIFT=follow leaves a zone for a practice run or an experiment only with \
                                       FOLLOW_PRACTICE_RUNS",
                _ => "ZONAL_SHIFT=avoid keeps it; follow would move it",
            }
        ));
    }
    if let Some(why) = &world.unread_shifts {
        reason.push_str(&format!("; the zonal shifts could not be read ({why}): nothing is held back for them"));
    }
    if let Some(doubt) = &case.doubt {
        reason.push_str(&format!("; {doubt}"));
    }
    decision(Verdict::NoChange, reason, Vec::new())
}

/// Rule 5. Ahead of a loss, but the other instance faces one as bad or worse (the same warning
/// names it too, or it has an event due that is no milder): moving would trade one for the other,
/// and back again on the next warning. A dead active instance, or one an alarm stands against, is
/// always left.
fn hazard_elsewhere(case: &Case<'_>, failure: &Failure, due: &Due) -> Option<Decision> {
    if case.active_state.is_down() || case.standing.is_some() {
        return None;
    }
    let (other, acting) = (case.other, case.acting());
    if let Some(w) = acting.filter(|w| w.names(other)) {
        let reason = format!("{}; but {} names {other} too: not moving", failure.why, w.raised_by());
        return Some(decision(Verdict::Hold, reason, due.all()));
    }
    let here = case.due();
    let worse_there = case
        .other_due()
        .filter(|o| acting.is_none() && (o.takes_the_instance() || !here.is_some_and(|e| e.takes_the_instance())));
    worse_there.map(|e| {
        let reason = format!("{}; but EC2 has scheduled {} for {other} as well: not moving", failure.why, e.code);
        decision(Verdict::Hold, reason, due.all())
    })
}

/// Rule 6. Inside the cooldown after the failover that brought the address here, a failure is held,
/// unless the instance goes whatever is done (a Spot interruption, a retirement or stop, announced
/// or scheduled) and the other instance faces no such loss.
fn cooldown(case: &Case<'_>, failure: &Failure, due: &Due) -> Option<Decision> {
    let (config, world) = (case.config, case.world);
    // A zone traffic is shifted away from is left like a Spot instance: AWS has said so.
    let certain = case.acting().is_some_and(Warning::is_certain_loss)
        || case.due().is_some_and(ScheduledEvent::takes_the_instance)
        || failure.cause == "zonal-shift";
    let certain = certain && case.other_due().is_none_or(|e| !e.takes_the_instance());
    let r = case.completed.filter(|r| within_cooldown(config, world, r) && !certain)?;
    let reason = format!(
        "{}, but the last failover ({} to {}) was {}s ago, inside the {}s cooldown; not failing over",
        failure.why,
        case.other,
        case.active,
        world.now.saturating_sub(r.at),
        config.cooldown_seconds
    );
    Some(decision(Verdict::Hold, reason, due.all()))
}
