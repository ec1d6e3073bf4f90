//! The service check (`HEALTH_CHECK`): the function probes the service on each running member of
//! the pair through its private address, the way keepalived's `vrrp_script` or Pacemaker's monitor
//! does, so that a service that died or hangs on a healthy instance fails the pair over.
//!
//! Pure, like `decide`: the check's settings are in `config` ([`HealthCheck`]), the probes' I/O in
//! `probe`, the probes and the kept results ([`History`]) in `world`. One failed probe never fails
//! the pair over: a member fails its check when `threshold` of its last `window` counted probes
//! failed. The results live on AWS, not in memory, as one tag on the anchor beside the failover
//! record, at most `window` of them per member.

use super::config::{Config, HealthCheck};
use super::world::{History, Probed, World};

/// Probes closer than this to the last counted one are not counted: the reconcile runs once a
/// minute, and neither a duplicated or retried delivery nor an alarm or state change between two
/// reconciles may count a failure twice (EventBridge's schedule may run a few seconds early).
pub const MIN_GAP_SECONDS: i64 = 50;

/// Why the service check cannot be believed now, if it cannot: both members were probed and both
/// timed out before a TCP connection. Then the network drops the function's probes (one member's
/// zone going dark while the other answers is a failure of that member; both silent at once is
/// the path), and a failover on the probe would only trade one silent member for the other. With
/// one member probed (a cold standby) a timeout is that member's failure: it cannot be told from
/// a dark zone, and the started standby's own probe tells the path apart next.
pub fn blocked(config: &Config, world: &World) -> Option<String> {
    let check = config.health.as_ref()?;
    if world.probes.len() < 2 || !world.probes.iter().all(|p| p.timed_out) {
        return None;
    }
    let who: Vec<&str> = world.probes.iter().map(|p| p.instance_id.as_str()).collect();
    Some(format!(
        "every probe of the service check {check} timed out before a TCP connection ({}): the network drops the \
         function's probes. Check the path to port {} on the instances' private addresses: the function's \
         security group (egress), the instances' security groups (ingress from the function's), the subnets' \
         network ACLs (both ways, ephemeral ports too), and routes between ServiceCheckSubnetIds and the \
         instances; nothing moves or starts on the service check until a probe connects",
        who.join(", "),
        check.port
    ))
}

/// The history once this invocation's probes count: each probed member's result is added (the
/// oldest dropped past `window`), unless the last counted probes are younger than
/// [`MIN_GAP_SECONDS`] or nothing was probed. Members not probed now (stopped, gone) keep no results: a member is judged
/// on its probes since it last ran. Members outside `members` (the pair was reconfigured) go.
pub fn next(kept: Option<&History>, probes: &[Probed], members: [&str; 2], now: i64, window: usize) -> History {
    match kept {
        Some(kept) if probes.is_empty() || (now.saturating_sub(kept.at) < MIN_GAP_SECONDS && now >= kept.at) => {
            let mut same = kept.clone();
            same.members.retain(|(id, _)| members.contains(&id.as_str()));
            same
        }
        _ => {
            let members = members
                .iter()
                .filter_map(|id| {
                    let probe = probes.iter().find(|p| p.instance_id == *id)?;
                    let mut bits = kept.map(|k| k.of(id).to_vec()).unwrap_or_default();
                    bits.push(probe.result.is_err());
                    let drop = bits.len().saturating_sub(window);
                    Some(((*id).to_owned(), bits.split_off(drop)))
                })
                .collect();
            History { at: now, members }
        }
    }
}

/// Whether `instance_id` fails the check: `threshold` of its last `window` results failed.
pub fn failing(check: &HealthCheck, history: &History, instance_id: &str) -> bool {
    history.failures(instance_id, check.window) >= check.threshold
}

/// The pair's history once this invocation's probes count, if it has a check.
pub fn updated(config: &Config, world: &World) -> Option<History> {
    let check = config.health.as_ref()?;
    let members = [config.primary.as_str(), config.standby.as_str()];
    Some(next(world.anchor.health.as_ref(), &world.probes, members, world.now, check.window))
}

/// The results to keep, when they changed. Only the results are compared: a healthy pair's
/// steady `0`s are not written again every minute.
pub fn to_record(config: &Config, world: &World) -> Option<History> {
    let updated = updated(config, world)?;
    let kept = world.anchor.health.as_ref().map(|h| h.members.as_slice()).unwrap_or_default();
    (updated.members != kept).then_some(updated)
}

/// Why `instance_id` fails the service check, if it does: `threshold` of its last `window` counted
/// probes failed.
pub fn failure(config: &Config, world: &World, instance_id: &str) -> Option<String> {
    let check = config.health.as_ref()?;
    let history = updated(config, world)?;
    if !failing(check, &history, instance_id) {
        return None;
    }
    let last = probe_failure(world, instance_id).map(|why| format!(" (last: {why})")).unwrap_or_default();
    Some(format!(
        "the service check {check} failed {} of the last {} probes of {instance_id}{last}",
        history.failures(instance_id, check.window),
        history.of(instance_id).len().min(check.window)
    ))
}

/// Why this invocation's probe of `instance_id` failed, if it was probed and failed: such an
/// instance cannot take the IP for its service, whatever its status checks say.
pub fn probe_failure<'a>(world: &'a World, instance_id: &str) -> Option<&'a str> {
    world.probes.iter().find(|p| p.instance_id == instance_id).and_then(|p| p.result.as_ref().err()).map(String::as_str)
}

/// A member's service check, for `status` and the log: `None` without a check.
pub fn describe(config: &Config, world: &World, instance_id: &str) -> Option<String> {
    let check = config.health.as_ref()?;
    let history = updated(config, world)?;
    let now = match world.probes.iter().find(|p| p.instance_id == instance_id) {
        Some(Probed { result: Ok(()), .. }) => "passes now".to_owned(),
        Some(Probed { result: Err(why), .. }) => format!("fails now: {why}"),
        None => "not probed".to_owned(),
    };
    let counted = history.of(instance_id).len().min(check.window);
    Some(format!(
        "service {check} {now}, {} of the last {counted} failed{}",
        history.failures(instance_id, check.window),
        if failing(check, &history, instance_id) { ", failing" } else { "" }
    ))
}
