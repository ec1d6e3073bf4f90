//! The service check (`HEALTH_CHECK`): the function probes the service on each running member of
//! the pair through its private address, the way keepalived's `vrrp_script` or Pacemaker's monitor
//! does, so that a service that died or hangs on a healthy instance fails the pair over.
//!
//! Pure, like `decide`: the probes' I/O is in `probe`. One failed probe never fails the pair over:
//! a member fails its check when `threshold` of its last `window` counted probes failed. The
//! results live on AWS, not in memory, as one tag on the Elastic IP beside the failover record
//! (`ec2-failover:health`): `<when> <instance>:<results> <instance>:<results>`, each result `1`
//! (failed) or `0` (passed), oldest first, at most `window` of them.

use std::fmt;

use serde::Serialize;

use super::decide::Action;
use super::world::World;
use super::Config;

/// How the service is probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A TCP connection is accepted.
    Tcp,
    /// An HTTP GET of the path answers with a status in the expected range.
    Http,
    /// The same over TLS. The certificate is not verified: the probe dials the private address,
    /// which no certificate names; the handshake and the answer are what is checked.
    Https,
}

/// The service check of the pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// How.
    pub protocol: Protocol,
    /// The service's port on each member.
    pub port: u16,
    /// The path an HTTP(S) probe gets.
    pub path: String,
    /// The HTTP statuses that pass, inclusive.
    pub expect: (u16, u16),
    /// How many failed probes among the last `window` fail the check.
    pub threshold: usize,
    /// How many of the last probes count.
    pub window: usize,
    /// How long one probe may take, in milliseconds, before it counts as failed.
    pub timeout_ms: u64,
    /// The name an HTTP(S) probe asks for (`Host`, and the TLS server name), for a server that
    /// answers by virtual host (`HEALTH_HOST`); none: the instance's address.
    pub host: Option<String>,
}

/// Probes closer than this to the last counted one are not counted: the reconcile runs once a
/// minute, and neither a duplicated or retried delivery nor an alarm or state change between two
/// reconciles may count a failure twice (EventBridge's schedule may run a few seconds early).
pub const MIN_GAP_SECONDS: i64 = 50;

/// The most results kept per member (the tag holds 256 characters).
pub const MAX_WINDOW: usize = 10;

impl HealthCheck {
    /// Reads `HEALTH_CHECK` (`tcp:PORT`, `http:PORT/PATH`, `https:PORT/PATH`) and `HEALTH_EXPECT`
    /// (`200-399`, or one status); the error says what is expected.
    pub fn parse(
        spec: &str,
        expect: Option<&str>,
        threshold: usize,
        window: usize,
        timeout_ms: u64,
    ) -> Result<Self, String> {
        let usage = "tcp:PORT, http:PORT/PATH or https:PORT/PATH (e.g. http:8080/healthz)";
        let (scheme, rest) = spec.trim().split_once(':').ok_or_else(|| usage.to_owned())?;
        let protocol = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            _ => return Err(usage.to_owned()),
        };
        let (port, path) = match rest.split_once('/') {
            Some((port, path)) => (port, format!("/{path}")),
            None => (rest, "/".to_owned()),
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| usage.to_owned())?;
        if protocol == Protocol::Tcp && path != "/" {
            return Err(format!("a tcp check has no path; {usage}"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("the path has spaces or control characters; {usage}"));
        }
        let expect = match expect.map(str::trim).filter(|e| !e.is_empty()) {
            None => (200, 399),
            Some(e) => {
                let status = |s: &str| s.trim().parse::<u16>().ok().filter(|s| (100..=599).contains(s));
                let range = match e.split_once('-') {
                    Some((low, high)) => status(low).zip(status(high)),
                    None => status(e).map(|s| (s, s)),
                };
                range.filter(|(low, high)| low <= high).ok_or("HTTP statuses from 100 to 599: 200-399, or 204")?
            }
        };
        if !(1..=MAX_WINDOW).contains(&window) || !(1..=window).contains(&threshold) {
            return Err(format!("a threshold from 1 to the window, a window from 1 to {MAX_WINDOW}"));
        }
        Ok(Self { protocol, port, path, expect, threshold, window, timeout_ms, host: None })
    }
}

impl fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Protocol::Tcp => write!(f, "tcp:{}", self.port),
            Protocol::Http => write!(f, "http:{}{}", self.port, self.path),
            Protocol::Https => write!(f, "https:{}{}", self.port, self.path),
        }
    }
}

/// One probe of one member, in this invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probed {
    /// The member.
    pub instance_id: String,
    /// Whether it passed, and otherwise why not.
    pub result: Result<(), String>,
    /// It failed for want of a TCP connection within the timeout: the packets went nowhere (a
    /// security group or network ACL that drops them, or a zone gone dark), as opposed to a
    /// service that refused or answered wrong.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

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

/// The results kept on the Elastic IP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// When the last counted probe ran, in seconds since the Unix epoch.
    pub at: i64,
    /// Each member's last results, oldest first: `true` failed.
    pub members: Vec<(String, Vec<bool>)>,
}

impl History {
    /// Reads the tag; an unreadable one is no history (the next probes start a new one).
    pub fn parse(tag: &str) -> Option<Self> {
        let mut words = tag.split_whitespace();
        let at = words.next()?.parse().ok()?;
        let members = words
            .map(|w| {
                let (id, bits) = w.split_once(':')?;
                let bits: Option<Vec<bool>> = bits
                    .chars()
                    .map(|c| match c {
                        '1' => Some(true),
                        '0' => Some(false),
                        _ => None,
                    })
                    .collect();
                Some((id.to_owned(), bits?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { at, members })
    }

    /// The tag's value.
    pub fn to_tag(&self) -> String {
        let mut tag = self.at.to_string();
        for (id, bits) in &self.members {
            tag.push(' ');
            tag.push_str(id);
            tag.push(':');
            tag.extend(bits.iter().map(|failed| if *failed { '1' } else { '0' }));
        }
        tag
    }

    /// A member's results, oldest first.
    pub fn of(&self, instance_id: &str) -> &[bool] {
        self.members.iter().find(|(id, _)| id == instance_id).map_or(&[], |(_, bits)| bits.as_slice())
    }

    /// How many of a member's last `window` results failed.
    pub fn failures(&self, instance_id: &str, window: usize) -> usize {
        let bits = self.of(instance_id);
        bits[bits.len().saturating_sub(window)..].iter().filter(|failed| **failed).count()
    }
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
    Some(next(world.address.health.as_ref(), &world.probes, members, world.now, check.window))
}

/// The action that keeps the results, when they changed. Only the results are compared: a
/// healthy pair's steady `0`s are not written again every minute.
pub fn record(config: &Config, world: &World) -> Option<Action> {
    let updated = updated(config, world)?;
    let kept = world.address.health.as_ref().map(|h| h.members.as_slice()).unwrap_or_default();
    (updated.members != kept).then_some(Action::RecordHealth(updated))
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
