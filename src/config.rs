//! The function's settings: read once from the environment at init, by one reader, validated, then
//! lent to every invocation. Every error names its variable.

use crate::group;
use crate::pair;
use crate::pair::config::{
    self as pair_config, FenceMode, HealthCheck, Monitoring, Readiness, Rebalance, ZonalShift,
    DEFAULT_COOLDOWN_SECONDS, DEFAULT_FENCE_ESCALATE_SECONDS, DEFAULT_SCHEDULED_LEAD_SECONDS, DEFAULT_SILENT_SECONDS,
};

/// Everything the function is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Decide and report, but change nothing (`DRY_RUN`).
    pub dry_run: bool,
    /// Which way the deployment keeps a server available, with that mode's settings (`MODE`).
    pub mode: Mode,
    /// The EventBridge bus each failover, refusal and hold is published on (`EVENT_BUS`: `default`,
    /// a bus name or ARN); none: only the log.
    pub event_bus: Option<String>,
}

/// Which way the deployed function keeps a server available (`MODE`).
// One value for the process's life, read at init and never moved again: the size of its larger
// variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `MODE=pair` (the default): a primary and a standby instance share an Elastic IP.
    Pair(pair::Config),
    /// `MODE=group`: single-instance Auto Scaling groups tagged `ec2-failover:group`, whose Elastic
    /// IP (and data volume) follows each new instance.
    Group(group::Config),
    /// `MODE=fleet`: every pair the tags declare (`ec2-failover:pair`, `ec2-failover:role`), the
    /// pair variables being each pair's defaults.
    Fleet(FleetConfig),
}

/// Fleet mode's settings (`fleet::Config`): defined here, with the reader of each pair's settings
/// that the fleet calls for every pair its tags declare, so that the fleet wing imports this file
/// and not the other way round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConfig {
    /// The function's own pair variables (the environment's), each pair's defaults.
    pub settings: Vec<(String, String)>,
    /// How many pairs a reconcile acts on at once (`MAX_PARALLEL_FAILOVERS`).
    pub max_parallel_failovers: usize,
    /// The groups' settings, as group mode reads them, when the fleet serves the region's tagged
    /// single-instance groups too (`SERVE_GROUPS`, default true); none: pairs only.
    pub groups: Option<group::Config>,
}

impl FleetConfig {
    /// The function's own value of a pair variable.
    pub fn default_of(&self, variable: &str) -> Option<String> {
        self.settings.iter().find(|(v, _)| v == variable).map(|(_, value)| value.clone())
    }
}

/// A configuration problem, named by its variable, reported at init.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}={value:?}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What it held (empty when unset).
    pub value: String,
    /// What was wrong and what would be accepted.
    pub problem: String,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment. Only
    /// the variables of the chosen mode are read.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mode = match get("MODE").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("pair") => Mode::Pair(pair_config(&get)?),
            Some("group") => Mode::Group(group_config(&get)?),
            Some("fleet") => Mode::Fleet(fleet_config(&get)?),
            Some(other) => return Err(bad("MODE", other, "accepted values: pair (default), group, fleet")),
        };
        let dry_run = match get("DRY_RUN").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") | Some("0") | Some("no") => false,
            Some("true") | Some("1") | Some("yes") => true,
            Some(other) => return Err(bad("DRY_RUN", other, "accepted values: true, false (default)")),
        };
        // EventBridge API reference, PutEventsRequestEntry EventBusName: a name or an ARN, 1 to
        // 1600 characters of [/\.\-_A-Za-z0-9:]+.
        let event_bus = get("EVENT_BUS");
        if let Some(bus) = event_bus
            .as_ref()
            .filter(|b| b.len() > 1600 || !b.chars().all(|c| c.is_ascii_alphanumeric() || "/.-_:".contains(c)))
        {
            return Err(bad("EVENT_BUS", bus, "an EventBridge bus: default, a bus name or its ARN"));
        }
        Ok(Settings { dry_run, mode, event_bus })
    }
}

/// A whole-number variable from `min` to `max`, `default` when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match get(variable) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| bad(variable, &v, format!("a whole number from {min} to {max} (default {default})"))),
    }
}

fn bad(variable: &'static str, value: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, value: value.to_owned(), problem: problem.into() }
}

/// Pair mode: `PRIMARY_INSTANCE_ID`, `STANDBY_INSTANCE_ID` and `EIP_ALLOCATION_ID` (required),
/// `FENCE_MODE`, `FENCE_ESCALATE_SECONDS`, `COOLDOWN_SECONDS`, `STANDBY_READY`, `MONITORING`,
/// `ALARM_NAMES`, `REBALANCE`, `SCHEDULED_LEAD_SECONDS`, `SILENT_SECONDS`, `ZONAL_SHIFT`,
/// `FOLLOW_PRACTICE_RUNS`, `STANDBY_INSTANCE_TYPES`, and the service check's `HEALTH_*`.
fn pair_config(get: &impl Fn(&str) -> Option<String>) -> Result<pair::Config, ConfigError> {
    pair_config_from(get)
}

/// The pair variables a fleet's pairs take from the function's environment as their defaults.
pub const FLEET_DEFAULTS: [&str; 12] = [
    "FENCE_MODE",
    "COOLDOWN_SECONDS",
    "STANDBY_READY",
    "MONITORING",
    "REBALANCE",
    "SCHEDULED_LEAD_SECONDS",
    "FENCE_ESCALATE_SECONDS",
    "SILENT_SECONDS",
    "ZONAL_SHIFT",
    "FOLLOW_PRACTICE_RUNS",
    "STANDBY_INSTANCE_TYPES",
    "ROUTE_DESTINATIONS",
];

/// Fleet mode: `MAX_PARALLEL_FAILOVERS` (how many pairs a reconcile acts on at once, 1 to 100,
/// default 10) and the pair variables of [`FLEET_DEFAULTS`], each pair's defaults, checked here
/// as one pair's would be (with placeholder instances and Elastic IP); `SERVE_GROUPS` (whether
/// the fleet serves the tagged groups too, default true) and then group mode's variables.
fn fleet_config(get: &impl Fn(&str) -> Option<String>) -> Result<FleetConfig, ConfigError> {
    let max = number(get, "MAX_PARALLEL_FAILOVERS", 10, 1, 100)?;
    let groups = match get("SERVE_GROUPS").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("true") => Some(group::Config { fleet: true, ..group_config(get)? }),
        Some("false") => None,
        Some(other) => return Err(bad("SERVE_GROUPS", other, "accepted values: true (default), false")),
    };
    let settings: Vec<(String, String)> =
        FLEET_DEFAULTS.iter().filter_map(|v| Some(((*v).to_owned(), get(v)?))).collect();
    let placeholder = |name: &str| match name {
        "PRIMARY_INSTANCE_ID" => Some("i-00000000000000000".to_owned()),
        "STANDBY_INSTANCE_ID" => Some("i-11111111111111111".to_owned()),
        "EIP_ALLOCATION_ID" => Some("eipalloc-00000000000000000".to_owned()),
        other if FLEET_DEFAULTS.contains(&other) && other != "ROUTE_DESTINATIONS" => get(other),
        _ => None,
    };
    pair_config_from(&placeholder)?;
    Ok(FleetConfig { settings, max_parallel_failovers: usize::try_from(max).unwrap_or(10), groups })
}

/// Reads one pair's settings through `get`: the environment's for `MODE=pair`, a pair's tags over
/// the environment's for `MODE=fleet`.
pub fn pair_config_from(get: &impl Fn(&str) -> Option<String>) -> Result<pair::Config, ConfigError> {
    let primary = instance_id("PRIMARY_INSTANCE_ID", get("PRIMARY_INSTANCE_ID"))?;
    let standby = instance_id("STANDBY_INSTANCE_ID", get("STANDBY_INSTANCE_ID"))?;
    if primary == standby {
        return Err(bad("STANDBY_INSTANCE_ID", &standby, "must differ from PRIMARY_INSTANCE_ID"));
    }
    let allocation_id = match get("EIP_ALLOCATION_ID") {
        None => None,
        Some(v) if is_aws_id(&v, "eipalloc-") => Some(v),
        Some(v) => {
            return Err(bad(
                "EIP_ALLOCATION_ID",
                &v,
                "the Elastic IP's allocation id, eipalloc- followed by hex digits",
            ))
        }
    };
    let (routes, private_ips) = private_endpoints(get)?;
    if allocation_id.is_none() && routes.is_empty() {
        let problem = if private_ips.is_empty() {
            "required: the pair needs an endpoint to move, an Elastic IP (EIP_ALLOCATION_ID) or route-table entries \
             (ROUTE_TABLE_IDS and ROUTE_DESTINATIONS), with or without PRIVATE_IPS"
        } else {
            "required with PRIVATE_IPS: the failover record lives on the Elastic IP, or else on the first route \
             table (ROUTE_TABLE_IDS and ROUTE_DESTINATIONS)"
        };
        return Err(bad("EIP_ALLOCATION_ID", "", problem));
    }
    let fence_mode = match get("FENCE_MODE").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("stop") => FenceMode::Stop,
        Some("force") => FenceMode::Force,
        Some("none") => FenceMode::None,
        Some(other) => return Err(bad("FENCE_MODE", other, "accepted values: stop (default), force, none")),
    };
    let cooldown_seconds = match get("COOLDOWN_SECONDS") {
        None => DEFAULT_COOLDOWN_SECONDS,
        Some(v) => v.parse::<u64>().map_err(|_| {
            bad(
                "COOLDOWN_SECONDS",
                &v,
                format!("a whole number of seconds, 0 or more (default {DEFAULT_COOLDOWN_SECONDS})"),
            )
        })?,
    };
    let standby_ready = match get("STANDBY_READY").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("checks") => Readiness::Checks,
        Some("running") => Readiness::Running,
        Some(other) => return Err(bad("STANDBY_READY", other, "accepted values: checks (default), running")),
    };
    let monitoring = match get("MONITORING").map(|v| v.to_ascii_lowercase()).as_deref() {
        None => None,
        Some("basic") => Some(Monitoring::Basic),
        Some("detailed") => Some(Monitoring::Detailed),
        Some(other) => return Err(bad("MONITORING", other, "accepted values: basic, detailed")),
    };
    // Alarm names: 1 to 255 characters each (CloudWatch); commas separate them here.
    let alarm_names: Vec<String> = get("ALARM_NAMES")
        .map(|v| v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    // DescribeAlarms takes at most 100 names (CloudWatch API reference, AlarmNames).
    if alarm_names.len() > 100 {
        return Err(bad("ALARM_NAMES", &alarm_names.join(","), "at most 100 alarm names"));
    }
    // An entry may be an alarm's ARN, for an alarm in another region (pair::alarms::elsewhere).
    let name_of = |entry: &str| pair::alarms::elsewhere(entry).map_or(entry.len(), |(_, name)| name.len());
    if let Some(long) = alarm_names.iter().find(|n| name_of(n) > 255) {
        return Err(bad(
            "ALARM_NAMES",
            long,
            "comma-separated CloudWatch alarm names (or ARNs, for alarms in other regions), each name at most 255 characters",
        ));
    }
    let rebalance = match get("REBALANCE").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("log") => Rebalance::Log,
        Some("failover") => Rebalance::Failover,
        Some(other) => return Err(bad("REBALANCE", other, "accepted values: log (default), failover")),
    };
    // Scheduled events are announced days ahead; a week is the most lead that makes sense.
    let scheduled_lead_seconds = number(get, "SCHEDULED_LEAD_SECONDS", DEFAULT_SCHEDULED_LEAD_SECONDS, 0, 604_800)?;
    let fence_escalate_seconds = number(get, "FENCE_ESCALATE_SECONDS", DEFAULT_FENCE_ESCALATE_SECONDS, 0, 86_400)?;
    let silent_seconds = number(get, "SILENT_SECONDS", DEFAULT_SILENT_SECONDS, 0, 3_600)?;
    let zonal_shift = match get("ZONAL_SHIFT").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("avoid") => ZonalShift::Avoid,
        Some("follow") => ZonalShift::Follow,
        Some("off") => ZonalShift::Off,
        Some(other) => return Err(bad("ZONAL_SHIFT", other, "accepted values: avoid (default), follow, off")),
    };
    let standby_instance_types: Vec<String> = get("STANDBY_INSTANCE_TYPES")
        .map(|v| v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let type_like = |t: &str| {
        t.split_once('.').is_some_and(|(family, size)| {
            !family.is_empty()
                && !size.is_empty()
                && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        })
    };
    if let Some(bad_type) = standby_instance_types.iter().find(|t| !type_like(t)) {
        return Err(bad("STANDBY_INSTANCE_TYPES", bad_type, "comma-separated EC2 instance types, such as m7i.large"));
    }
    if standby_instance_types.len() > 10 {
        return Err(bad("STANDBY_INSTANCE_TYPES", &standby_instance_types.join(","), "at most 10 instance types"));
    }
    let follow_practice_runs = match get("FOLLOW_PRACTICE_RUNS").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(bad("FOLLOW_PRACTICE_RUNS", other, "accepted values: true, false (default)")),
    };
    let health = health_check(get)?;
    Ok(pair::Config {
        primary,
        standby,
        allocation_id,
        routes,
        private_ips,
        fence_mode,
        cooldown_seconds,
        standby_ready,
        monitoring,
        alarm_names,
        rebalance,
        scheduled_lead_seconds,
        fence_escalate_seconds,
        silent_seconds,
        zonal_shift,
        follow_practice_runs,
        standby_instance_types,
        health,
    })
}

/// Pair mode's private endpoints: every `ROUTE_DESTINATIONS` entry in every `ROUTE_TABLE_IDS`
/// table, and `PRIVATE_IPS`, each a comma-separated list.
fn private_endpoints(get: &impl Fn(&str) -> Option<String>) -> Result<(Vec<pair::Route>, Vec<String>), ConfigError> {
    let list = |name: &str| -> Vec<String> {
        get(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (tables, destinations, private_ips) =
        (list("ROUTE_TABLE_IDS"), list("ROUTE_DESTINATIONS"), list("PRIVATE_IPS"));
    if let Some(t) = tables.iter().find(|t| !is_aws_id(t, "rtb-")) {
        return Err(bad("ROUTE_TABLE_IDS", t, "comma-separated route table ids, rtb- followed by hex digits"));
    }
    // Each destination in the form EC2 lists it (DescribeRouteTables compares as text): an IPv6
    // CIDR compressed and lowercase; a CIDR with host bits set is no network at all.
    let canonical = |d: &str| -> Option<String> {
        if is_aws_id(d, "pl-") {
            return Some(d.to_owned());
        }
        let (address, length) = d.split_once('/')?;
        let length = length.parse::<u32>().ok()?;
        match address.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) if length <= 32 => {
                let host = u32::from(a) & u32::MAX.checked_shr(length).unwrap_or(0);
                (host == 0).then(|| format!("{a}/{length}"))
            }
            std::net::IpAddr::V6(a) if length <= 128 => {
                let host = u128::from(a) & u128::MAX.checked_shr(length).unwrap_or(0);
                (host == 0).then(|| format!("{a}/{length}"))
            }
            _ => None,
        }
    };
    let mut canonical_destinations = Vec::new();
    for d in &destinations {
        match canonical(d) {
            Some(c) => canonical_destinations.push(c),
            None => {
                return Err(bad(
                    "ROUTE_DESTINATIONS",
                    d,
                    "comma-separated networks: IPv4 CIDRs (10.1.0.10/32), IPv6 CIDRs (2001:db8::/64), no host bits \
                     set, or managed prefix lists (pl-...)",
                ))
            }
        }
    }
    let destinations = canonical_destinations;
    if tables.is_empty() != destinations.is_empty() {
        let (variable, value) =
            if tables.is_empty() { ("ROUTE_TABLE_IDS", String::new()) } else { ("ROUTE_DESTINATIONS", String::new()) };
        return Err(bad(
            variable,
            &value,
            "route tables and destinations go together: every destination in every table",
        ));
    }
    if let Some(ip) = private_ips.iter().find(|ip| ip.parse::<std::net::Ipv4Addr>().is_err()) {
        return Err(bad("PRIVATE_IPS", ip, "comma-separated secondary private IPv4 addresses"));
    }
    let routes = tables
        .iter()
        .flat_map(|table| destinations.iter().map(|d| pair::Route { table: table.clone(), destination: d.clone() }))
        .collect();
    Ok((routes, private_ips))
}

/// Pair mode's service check: `HEALTH_CHECK` (unset: none), `HEALTH_EXPECT`, `HEALTH_THRESHOLD`,
/// `HEALTH_WINDOW` (default, and at least: the threshold, i.e. that many failures in a row),
/// `HEALTH_TIMEOUT_MS` and `HEALTH_HOST`.
fn health_check(get: &impl Fn(&str) -> Option<String>) -> Result<Option<HealthCheck>, ConfigError> {
    let Some(spec) = get("HEALTH_CHECK") else { return Ok(None) };
    let max = i64::try_from(pair_config::MAX_WINDOW).unwrap_or(10);
    let threshold = number(get, "HEALTH_THRESHOLD", 3, 1, max)?;
    // A window below the threshold could never fail: it is the threshold (the template's 0 says
    // so too). Failing init instead would stop every failover over a setting of the check.
    let window = number(get, "HEALTH_WINDOW", threshold, 0, max)?.max(threshold);
    let timeout_ms = number(get, "HEALTH_TIMEOUT_MS", 2_000, 100, 10_000)?;
    let as_usize = |n: i64| usize::try_from(n).unwrap_or(1);
    let expect = get("HEALTH_EXPECT");
    let mut check =
        HealthCheck::parse(&spec, expect.as_deref(), as_usize(threshold), as_usize(window), timeout_ms.unsigned_abs())
            .map_err(|problem| match problem.starts_with("HTTP statuses") {
                true => bad("HEALTH_EXPECT", &expect.unwrap_or_default(), problem),
                false => bad("HEALTH_CHECK", &spec, problem),
            })?;
    // A DNS name: labels of letters, digits and hyphens, 253 characters at most.
    if let Some(host) = get("HEALTH_HOST") {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(bad(
                "HEALTH_HOST",
                &host,
                "a DNS name (the virtual host the service answers for), such as app.internal",
            ));
        }
        check.host = Some(host.to_ascii_lowercase());
    }
    Ok(Some(check))
}

/// Group mode: `GROUP_KEY` (the one group this deployment serves; unset: every tagged group),
/// `KEEP_DATA` (whether groups keep a data volume, default true), `KEEP_SNAPSHOTS`
/// (completed snapshots kept per group, 1 to 1000, default 3) and `MAX_WAIT_SECONDS` (how long a
/// launch may wait for its data before it is abandoned, 60 to 172800, default 3600),
/// `SNAPSHOT_EVERY_SECONDS` (periodic snapshots of each settled group's data volume, 0 = off
/// (default), or 60 to 2592000) and `DATA_WAIT_SECONDS` (with them: how long a launch waits for
/// newer data before it restores the newest completed snapshot, 60 to 172800, default 600, less
/// than `MAX_WAIT_SECONDS`).
fn group_config(get: &impl Fn(&str) -> Option<String>) -> Result<group::Config, ConfigError> {
    let defaults = group::Config::default();
    let keep_data = match get("KEEP_DATA").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(bad("KEEP_DATA", other, "accepted values: true (default), false")),
    };
    let default_keep = i64::try_from(defaults.keep_snapshots).unwrap_or(3);
    let keep = number(get, "KEEP_SNAPSHOTS", default_keep, 1, 1000)?;
    let wait = number(get, "MAX_WAIT_SECONDS", defaults.max_wait_seconds, 60, 172_800)?;
    let key = get("GROUP_KEY");
    if let Some(bad_key) = key.as_ref().filter(|k| k.len() > 128) {
        return Err(bad("GROUP_KEY", bad_key, "the ec2-failover:group tag value, at most 128 characters"));
    }
    // EC2 API reference, CreateVolume, VolumeInitializationRate: "Valid range: 100 - 300 MiB/s";
    // 0 or unset: EBS's default rate.
    let rate = number(get, "DATA_INIT_RATE_MIBPS", 0, 0, 300)?;
    if (1..100).contains(&rate) {
        return Err(bad("DATA_INIT_RATE_MIBPS", &rate.to_string(), "0 (EBS's default rate) or 100 to 300 MiB/s"));
    }
    let every = number(get, "SNAPSHOT_EVERY_SECONDS", 0, 0, 2_592_000)?;
    if (1..60).contains(&every) {
        return Err(bad("SNAPSHOT_EVERY_SECONDS", &every.to_string(), "0 (off) or 60 to 2592000 seconds"));
    }
    let data_wait = number(get, "DATA_WAIT_SECONDS", defaults.data_wait_seconds, 60, 172_800)?;
    if keep_data && every > 0 && data_wait >= wait {
        return Err(bad(
            "DATA_WAIT_SECONDS",
            &data_wait.to_string(),
            "less than MAX_WAIT_SECONDS, or the launch is abandoned before it falls back to the newest snapshot",
        ));
    }
    Ok(group::Config {
        snapshot_every_seconds: Some(every).filter(|e| *e > 0),
        data_wait_seconds: data_wait,
        keep_data,
        keep_snapshots: usize::try_from(keep).unwrap_or(defaults.keep_snapshots),
        max_wait_seconds: wait,
        key,
        init_rate_mibps: i32::try_from(rate).ok().filter(|r| *r > 0),
        fleet: false,
    })
}

fn instance_id(variable: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    match value {
        Some(v) if is_aws_id(&v, "i-") => Ok(v),
        v => Err(bad(
            variable,
            &v.unwrap_or_default(),
            "required: an EC2 instance id, i- followed by 8 or 17 hex digits",
        )),
    }
}

/// Whether `value` is `prefix` followed by 8 or 17 lowercase hex digits, as EC2 ids are.
pub fn is_aws_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| owned.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const BASE: [(&str, &str); 3] = [
        ("PRIMARY_INSTANCE_ID", "i-0123456789abcdef0"),
        ("STANDBY_INSTANCE_ID", "i-0fedcba9876543210"),
        ("EIP_ALLOCATION_ID", "eipalloc-0123456789abcdef0"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Settings, ConfigError> {
        let mut pairs: Vec<(&str, &str)> = BASE.to_vec();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        Settings::from_lookup(env(&pairs))
    }

    fn pair(settings: Settings) -> pair::Config {
        match settings.mode {
            Mode::Pair(config) => config,
            other => panic!("not pair mode: {other:?}"),
        }
    }

    fn group(extra: &[(&'static str, &'static str)]) -> Result<group::Config, ConfigError> {
        let mut pairs = vec![("MODE", "group")];
        pairs.extend_from_slice(extra);
        Settings::from_lookup(env(&pairs)).map(|s| match s.mode {
            Mode::Group(config) => config,
            other => panic!("not group mode: {other:?}"),
        })
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let settings = with(&[]).unwrap();
        assert!(!settings.dry_run);
        let c = pair(settings);
        assert_eq!(c.fence_mode, FenceMode::Stop);
        assert_eq!(c.cooldown_seconds, 300);
        assert_eq!((c.standby_ready, c.monitoring), (Readiness::Checks, None));
        assert_eq!((c.rebalance, c.scheduled_lead_seconds), (Rebalance::Log, 3_600));
        assert_eq!(c.fence_escalate_seconds, 600);
        assert_eq!((c.silent_seconds, c.zonal_shift, c.follow_practice_runs), (60, ZonalShift::Avoid, false));
        let c = pair(
            with(&[("ZONAL_SHIFT", "Follow"), ("FOLLOW_PRACTICE_RUNS", "true"), ("SILENT_SECONDS", "0")]).unwrap(),
        );
        assert_eq!((c.silent_seconds, c.zonal_shift, c.follow_practice_runs), (0, ZonalShift::Follow, true));
        let c = pair(with(&[("STANDBY_INSTANCE_TYPES", " m7i.large, m6i.large ,")]).unwrap());
        assert_eq!(c.standby_instance_types, ["m7i.large", "m6i.large"]);
        let c = pair(with(&[("FENCE_MODE", "Force"), ("FENCE_ESCALATE_SECONDS", "120")]).unwrap());
        assert_eq!((c.fence_mode, c.fence_escalate_seconds), (FenceMode::Force, 120));
        assert_eq!(c.other("i-0123456789abcdef0"), Some("i-0fedcba9876543210"));
        assert_eq!(c.other("i-99999999"), None);
    }

    #[test]
    fn every_bad_variable_is_named_with_what_it_accepts() {
        let cases: &[(&str, &str, &str)] = &[
            ("PRIMARY_INSTANCE_ID", "", "EC2 instance id"),
            ("ZONAL_SHIFT", "away", "avoid (default), follow, off"),
            ("FOLLOW_PRACTICE_RUNS", "often", "true, false"),
            ("STANDBY_INSTANCE_TYPES", "m7i.large,large", "comma-separated EC2 instance types"),
            ("SILENT_SECONDS", "-1", "0 to 3600"),
            ("PRIMARY_INSTANCE_ID", "web-1", "EC2 instance id"),
            ("STANDBY_INSTANCE_ID", "i-0123456789abcdef0", "must differ"),
            ("EIP_ALLOCATION_ID", "54.1.2.3", "eipalloc-"),
            ("FENCE_MODE", "terminate", "stop (default), force, none"),
            ("FENCE_ESCALATE_SECONDS", "soon", "0 to 86400"),
            ("COOLDOWN_SECONDS", "-5", "whole number"),
            ("COOLDOWN_SECONDS", "5m", "whole number"),
            ("DRY_RUN", "maybe", "true, false"),
            ("MODE", "cluster", "pair (default), group"),
            ("STANDBY_READY", "booted", "checks (default), running"),
            ("MONITORING", "hourly", "basic, detailed"),
            ("REBALANCE", "migrate", "log (default), failover"),
            ("SCHEDULED_LEAD_SECONDS", "1h", "0 to 604800"),
            ("SCHEDULED_LEAD_SECONDS", "999999", "0 to 604800"),
        ];
        for (var, value, hint) in cases {
            let err = with(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, *var, "{var}={value}");
            let message = err.to_string();
            assert!(message.contains(var) && message.contains(hint), "{message}");
        }
    }

    #[test]
    fn private_endpoints_are_read_and_an_elastic_ip_is_optional_with_them() {
        let without_eip = |extra: &[(&'static str, &'static str)]| {
            let mut pairs: Vec<(&str, &str)> =
                BASE.iter().copied().filter(|(k, _)| *k != "EIP_ALLOCATION_ID").collect();
            pairs.extend_from_slice(extra);
            Settings::from_lookup(env(&pairs))
        };
        let routes = [
            ("ROUTE_TABLE_IDS", "rtb-0123456789abcdef0, rtb-12345678"),
            ("ROUTE_DESTINATIONS", "10.1.0.10/32,2001:DB8:0:0::/64,pl-63a5400a"),
        ];
        let c = pair(without_eip(&routes).unwrap());
        assert_eq!(c.allocation_id, None);
        assert_eq!(c.routes.len(), 6, "every destination in every table");
        assert_eq!(c.anchor(), "rtb-0123456789abcdef0", "the record lives on the first table");
        let kinds: Vec<_> = c.routes[..3].iter().map(|r| r.kind()).collect();
        assert_eq!(
            kinds,
            [pair::RouteDestination::Ipv4, pair::RouteDestination::Ipv6, pair::RouteDestination::PrefixList]
        );
        assert_eq!(c.routes[1].destination, "2001:db8::/64", "as EC2 lists it");
        let c = pair(with(&[("PRIVATE_IPS", "10.0.1.200")]).unwrap());
        assert_eq!((c.private_ips.len(), c.anchor()), (1, "eipalloc-0123456789abcdef0"));
        type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
        let cases: &[Case] = &[
            (&[], "EIP_ALLOCATION_ID", "an endpoint to move"),
            (&[("PRIVATE_IPS", "10.0.1.200")], "EIP_ALLOCATION_ID", "the failover record lives"),
            (&[("ROUTE_TABLE_IDS", "rtb-0123456789abcdef0")], "ROUTE_DESTINATIONS", "go together"),
            (&[("ROUTE_TABLE_IDS", "table"), ("ROUTE_DESTINATIONS", "10.0.0.0/8")], "ROUTE_TABLE_IDS", "rtb-"),
            (
                &[("ROUTE_TABLE_IDS", "rtb-12345678"), ("ROUTE_DESTINATIONS", "10.0.0.0/33")],
                "ROUTE_DESTINATIONS",
                "CIDR",
            ),
            (
                &[("ROUTE_TABLE_IDS", "rtb-12345678"), ("ROUTE_DESTINATIONS", "10.1.0.10/24")],
                "ROUTE_DESTINATIONS",
                "no host bits",
            ),
            (
                &[
                    ("ROUTE_TABLE_IDS", "rtb-12345678"),
                    ("ROUTE_DESTINATIONS", "10.0.0.0/8"),
                    ("PRIVATE_IPS", "10.0.0.x"),
                ],
                "PRIVATE_IPS",
                "IPv4",
            ),
        ];
        for (vars, variable, hint) in cases {
            let err = without_eip(vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            assert!(err.to_string().contains(hint), "{err}");
        }
    }

    #[test]
    fn the_service_check_is_off_unless_asked_for_and_named_when_wrong() {
        assert_eq!(pair(with(&[]).unwrap()).health, None);
        let c = pair(with(&[("HEALTH_CHECK", "http:8080/healthz"), ("HEALTH_EXPECT", "200-299")]).unwrap());
        let check = c.health.unwrap();
        assert_eq!((check.threshold, check.window, check.timeout_ms, check.expect), (3, 3, 2000, (200, 299)));
        let c = pair(with(&[("HEALTH_CHECK", "tcp:5432"), ("HEALTH_THRESHOLD", "2"), ("HEALTH_WINDOW", "4")]).unwrap());
        assert_eq!(c.health.map(|h| (h.threshold, h.window)), Some((2, 4)));
        let c = pair(with(&[("HEALTH_CHECK", "https:443/"), ("HEALTH_HOST", "App.Internal")]).unwrap());
        assert_eq!(c.health.and_then(|h| h.host).as_deref(), Some("app.internal"));
        let c = pair(with(&[("HEALTH_CHECK", "tcp:80"), ("HEALTH_THRESHOLD", "3"), ("HEALTH_WINDOW", "2")]).unwrap());
        assert_eq!(c.health.map(|h| h.window), Some(3), "a window below the threshold is the threshold");
        type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
        let cases: &[Case] = &[
            (&[("HEALTH_CHECK", "ping")], "HEALTH_CHECK", "tcp:PORT"),
            (&[("HEALTH_CHECK", "http:80/"), ("HEALTH_EXPECT", "ok")], "HEALTH_EXPECT", "HTTP statuses"),
            (&[("HEALTH_CHECK", "tcp:80"), ("HEALTH_THRESHOLD", "0")], "HEALTH_THRESHOLD", "from 1 to 10"),
            (&[("HEALTH_CHECK", "tcp:80"), ("HEALTH_WINDOW", "11")], "HEALTH_WINDOW", "from 0 to 10"),
            (&[("HEALTH_CHECK", "tcp:80"), ("HEALTH_TIMEOUT_MS", "60000")], "HEALTH_TIMEOUT_MS", "from 100 to 10000"),
            (&[("HEALTH_CHECK", "http:80/"), ("HEALTH_HOST", "app internal")], "HEALTH_HOST", "a DNS name"),
        ];
        for (vars, variable, hint) in cases {
            let err = with(vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            assert!(err.to_string().contains(hint), "{err}");
        }
    }

    #[test]
    fn the_warning_settings_are_read() {
        let c = pair(with(&[("REBALANCE", "FailOver"), ("SCHEDULED_LEAD_SECONDS", "600")]).unwrap());
        assert_eq!((c.rebalance, c.scheduled_lead_seconds), (Rebalance::Failover, 600));
        let c = pair(with(&[("REBALANCE", "log"), ("SCHEDULED_LEAD_SECONDS", "0")]).unwrap());
        assert_eq!((c.rebalance, c.scheduled_lead_seconds), (Rebalance::Log, 0));
    }

    #[test]
    fn group_settings_have_defaults_and_name_a_bad_value() {
        assert_eq!(group(&[]), Ok(group::Config::default()));
        assert_eq!(
            group::Config::default(),
            group::Config {
                keep_data: true,
                keep_snapshots: 3,
                max_wait_seconds: 3600,
                key: None,
                init_rate_mibps: None,
                snapshot_every_seconds: None,
                data_wait_seconds: 300,
                fleet: false,
            }
        );
        let set = [("KEEP_DATA", "False"), ("KEEP_SNAPSHOTS", "7"), ("MAX_WAIT_SECONDS", " 900 ")];
        let read = group::Config {
            keep_data: false,
            keep_snapshots: 7,
            max_wait_seconds: 900,
            key: None,
            init_rate_mibps: None,
            snapshot_every_seconds: None,
            data_wait_seconds: 300,
            fleet: false,
        };
        assert_eq!(group(&set), Ok(read));
        let rated = group(&[("DATA_INIT_RATE_MIBPS", "300")]).map(|c| c.init_rate_mibps);
        assert_eq!(rated, Ok(Some(300)));
        assert_eq!(group(&[("DATA_INIT_RATE_MIBPS", "0")]).map(|c| c.init_rate_mibps), Ok(None));
        let periodic = group(&[("SNAPSHOT_EVERY_SECONDS", "3600"), ("DATA_WAIT_SECONDS", "900")])
            .map(|c| (c.snapshot_every_seconds, c.data_wait_seconds));
        assert_eq!(periodic, Ok((Some(3600), 900)));
        assert_eq!(group(&[("SNAPSHOT_EVERY_SECONDS", "0")]).map(|c| c.snapshot_every_seconds), Ok(None));
        // Without periodic snapshots the fallback never applies, so its wait is not checked.
        assert!(group(&[("DATA_WAIT_SECONDS", "3600")]).is_ok());
        for (var, value, hint) in [
            ("KEEP_DATA", "maybe", "true (default), false"),
            ("KEEP_SNAPSHOTS", "0", "a whole number from"),
            ("KEEP_SNAPSHOTS", "many", "a whole number from"),
            ("MAX_WAIT_SECONDS", "200000", "a whole number from"),
            ("DRY_RUN", "perhaps", "true, false"),
            ("DATA_INIT_RATE_MIBPS", "50", "0 (EBS's default rate) or 100 to 300 MiB/s"),
            ("DATA_INIT_RATE_MIBPS", "301", "a whole number from 0 to 300"),
            ("SNAPSHOT_EVERY_SECONDS", "30", "0 (off) or 60 to 2592000 seconds"),
            ("SNAPSHOT_EVERY_SECONDS", "hourly", "a whole number from"),
            ("DATA_WAIT_SECONDS", "10", "a whole number from"),
        ] {
            let err = group(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(hint), "{err}");
        }
    }

    #[test]
    fn the_data_wait_must_end_before_the_launch_is_abandoned() {
        let err = group(&[("SNAPSHOT_EVERY_SECONDS", "3600"), ("DATA_WAIT_SECONDS", "3600")]).unwrap_err();
        assert_eq!(err.variable, "DATA_WAIT_SECONDS");
        assert!(err.to_string().contains("less than MAX_WAIT_SECONDS"), "{err}");
        let ok = [("SNAPSHOT_EVERY_SECONDS", "3600"), ("DATA_WAIT_SECONDS", "3600"), ("MAX_WAIT_SECONDS", "7200")];
        assert!(group(&ok).is_ok());
    }

    #[test]
    fn group_mode_needs_none_of_the_pair_variables() {
        let settings = Settings::from_lookup(env(&[("MODE", "Group"), ("DRY_RUN", "yes")])).unwrap();
        assert_eq!(settings, Settings { dry_run: true, mode: Mode::Group(group::Config::default()), event_bus: None });
    }

    #[test]
    fn the_event_bus_is_a_name_or_an_arn() {
        let bus = |value: &str| Settings::from_lookup(env(&[("MODE", "group"), ("EVENT_BUS", value)]));
        assert_eq!(bus("default").unwrap().event_bus.as_deref(), Some("default"));
        let arn = "arn:aws:events:us-east-1:123456789012:event-bus/central";
        assert_eq!(bus(arn).unwrap().event_bus.as_deref(), Some(arn));
        assert_eq!(bus("").unwrap().event_bus, None);
        assert_eq!(bus("my bus!").unwrap_err().variable, "EVENT_BUS");
    }

    #[test]
    fn optional_variables_are_read_case_insensitively() {
        let settings = with(&[("FENCE_MODE", "None"), ("COOLDOWN_SECONDS", "0"), ("DRY_RUN", "TRUE")]).unwrap();
        assert!(settings.dry_run);
        let c = pair(settings);
        assert_eq!((c.fence_mode, c.cooldown_seconds), (FenceMode::None, 0));
    }

    #[test]
    fn short_and_long_ids_are_accepted() {
        assert!(is_aws_id("i-12345678", "i-"));
        assert!(is_aws_id("i-0123456789abcdef0", "i-"));
        assert!(!is_aws_id("i-0123456789ABCDEF0", "i-"));
        assert!(!is_aws_id("i-123", "i-"));
    }

    #[test]
    fn a_fleet_serves_the_groups_with_group_mode_s_settings_unless_told_not_to() {
        let fleet = |pairs: &[(&str, &str)]| {
            let mut all = vec![("MODE", "fleet")];
            all.extend_from_slice(pairs);
            Settings::from_lookup(env(&all)).map(|s| match s.mode {
                Mode::Fleet(config) => config.groups,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(fleet(&[]), Ok(Some(group::Config { fleet: true, ..group::Config::default() })));
        let kept = fleet(&[("KEEP_DATA", "false"), ("KEEP_SNAPSHOTS", "7")]).unwrap().unwrap();
        assert_eq!((kept.keep_data, kept.keep_snapshots), (false, 7));
        assert_eq!(fleet(&[("SERVE_GROUPS", "FALSE"), ("KEEP_DATA", "maybe")]), Ok(None));
        assert_eq!(fleet(&[("SERVE_GROUPS", "maybe")]).unwrap_err().variable, "SERVE_GROUPS");
        assert_eq!(fleet(&[("KEEP_DATA", "maybe")]).unwrap_err().variable, "KEEP_DATA");
    }
}
