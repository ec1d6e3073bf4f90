//! Which pairs the tags declare: pure. A pair is two instances that carry the same
//! `ec2-failover:pair` value, one `ec2-failover:role` = `primary` and one `standby`, and its
//! endpoints: an Elastic IP and/or route tables carrying the same value. Its settings are the
//! function's (the environment's pair variables), overridden by setting tags on its instances
//! (`ec2-failover:cooldown-seconds` for `COOLDOWN_SECONDS`: [`SETTING_TAGS`]); both instances
//! must agree on a setting they both carry. Each pair is read by the same reader as an
//! environment-configured pair, so a bad value is named the same way; a pair whose tags are
//! inconsistent is reported with why and left alone.

use serde::Serialize;

use crate::config::{pair_config_from, ConfigError};
use crate::pair;
use crate::tags::{PAIR, PREFIX, ROLE};

/// A resource and its tags, as EC2 lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// Its id (instance, allocation, route table).
    pub id: String,
    /// Its tags, key and value.
    pub tags: Vec<(String, String)>,
    /// A terminated instance (EC2 lists it, with its tags, for about an hour).
    pub gone: bool,
}

impl Tagged {
    /// The value of one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The pair it belongs to, if any.
    pub fn pair(&self) -> Option<&str> {
        self.tag(PAIR).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// The settings a pair may set with a tag on its instances: `ec2-failover:` and the variable's name
/// in lower case with dashes (`COOLDOWN_SECONDS`: `ec2-failover:cooldown-seconds`). The instances
/// and endpoints come from the pair's tags, the rest only from the environment.
/// No service check: the fleet's function runs outside any VPC, where a probe of a member's private
/// address would time out, and a lone member's timeout counts as its failure.
pub const SETTING_TAGS: [&str; 9] = [
    "FENCE_MODE",
    "COOLDOWN_SECONDS",
    "STANDBY_READY",
    "REBALANCE",
    "SCHEDULED_LEAD_SECONDS",
    "SILENT_SECONDS",
    "ZONAL_SHIFT",
    "STANDBY_INSTANCE_TYPES",
    "ROUTE_DESTINATIONS",
];

/// The tag key that sets `variable` for a pair.
pub fn setting_tag(variable: &str) -> String {
    format!("{PREFIX}{}", variable.to_ascii_lowercase().replace('_', "-"))
}

/// What the tags declare under one pair name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "declared", rename_all = "snake_case")]
pub enum Declared {
    /// A pair, with its settings.
    Pair {
        /// Its name (the `ec2-failover:pair` value).
        name: String,
        /// Its settings, as a pair configured by the environment has them.
        #[serde(skip)]
        config: Box<pair::Config>,
    },
    /// Tags that do not make a pair, and why: left alone.
    Broken {
        /// The name.
        name: String,
        /// Why it is no pair.
        why: String,
    },
}

impl Declared {
    /// The pair's name.
    pub fn name(&self) -> &str {
        match self {
            Declared::Pair { name, .. } | Declared::Broken { name, .. } => name,
        }
    }
}

/// The pairs the tags of `instances`, `addresses` (Elastic IPs, by allocation id) and `tables`
/// (route tables) declare, by name; `defaults` are the function's own settings.
pub fn declare(
    instances: &[Tagged],
    addresses: &[Tagged],
    tables: &[Tagged],
    defaults: &impl Fn(&str) -> Option<String>,
) -> Vec<Declared> {
    let mut names: Vec<&str> =
        instances.iter().chain(addresses).chain(tables).filter_map(Tagged::pair).collect::<Vec<_>>();
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|name| declare_one(name, instances, addresses, tables, defaults)).collect()
}

fn declare_one(
    name: &str,
    instances: &[Tagged],
    addresses: &[Tagged],
    tables: &[Tagged],
    defaults: &impl Fn(&str) -> Option<String>,
) -> Declared {
    let broken = |why: String| Declared::Broken { name: name.to_owned(), why };
    let of = |list: &[Tagged]| list.iter().filter(|t| t.pair() == Some(name)).cloned().collect::<Vec<_>>();
    let (members, eips, mut rtbs) = (of(instances), of(addresses), of(tables));
    // The record lives on the first table when there is no Elastic IP: the same one whatever order
    // EC2 lists them in.
    rtbs.sort_by(|a, b| a.id.cmp(&b.id));
    // A terminated member counts until another instance takes its role (a replacement).
    let live_role = |t: &Tagged| !t.gone || !members.iter().any(|m| !m.gone && m.tag(ROLE) == t.tag(ROLE));
    let members: Vec<Tagged> = members.iter().filter(|m| live_role(m)).cloned().collect();
    let ids = |list: &[Tagged]| list.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ");
    if members.len() != 2 {
        let what = match members.len() {
            0 => "no instance carries it".to_owned(),
            n => format!("{n} instances carry it ({})", ids(&members)),
        };
        return broken(format!("{what}; a pair is two instances, one {ROLE}=primary and one {ROLE}=standby"));
    }
    let role = |wanted: &str| members.iter().filter(|m| m.tag(ROLE).map(str::trim) == Some(wanted)).collect::<Vec<_>>();
    let (primaries, standbys) = (role("primary"), role("standby"));
    let (primary, standby) = match (primaries.as_slice(), standbys.as_slice()) {
        ([p], [s]) => (*p, *s),
        _ => {
            let roles: Vec<String> =
                members.iter().map(|m| format!("{} {}", m.id, m.tag(ROLE).unwrap_or("has none"))).collect();
            return broken(format!(
                "its instances' {ROLE} tags are {}; a pair is one primary and one standby",
                roles.join(", ")
            ));
        }
    };
    if eips.len() > 1 {
        return broken(format!("{} Elastic IPs carry it ({}); a pair has one", eips.len(), ids(&eips)));
    }
    // Each setting tag: the instances must not disagree.
    let mut set: Vec<(&str, String)> = Vec::new();
    for variable in SETTING_TAGS {
        let key = setting_tag(variable);
        match (primary.tag(&key), standby.tag(&key)) {
            (Some(a), Some(b)) if a.trim() != b.trim() => {
                return broken(format!(
                    "its instances disagree on {key} ({a} on {}, {b} on {})",
                    primary.id, standby.id
                ))
            }
            (Some(v), _) | (_, Some(v)) => set.push((variable, v.to_owned())),
            (None, None) => {}
        }
    }
    let table_ids: Vec<&str> = rtbs.iter().map(|t| t.id.as_str()).collect();
    let get = |variable: &str| -> Option<String> {
        let tagged = match variable {
            "PRIMARY_INSTANCE_ID" => Some(primary.id.clone()),
            "STANDBY_INSTANCE_ID" => Some(standby.id.clone()),
            "EIP_ALLOCATION_ID" => eips.first().map(|e| e.id.clone()),
            "ROUTE_TABLE_IDS" => Some(table_ids.join(",")),
            // A fleet's pairs are reached by their Elastic IP or routes; private IPs and alarms by
            // name are a single pair's settings.
            "PRIVATE_IPS" | "ALARM_NAMES" => Some(String::new()),
            // No service check in a fleet (SETTING_TAGS).
            v if v.starts_with("HEALTH_") => Some(String::new()),
            _ => set.iter().find(|(v, _)| *v == variable).map(|(_, value)| value.clone()),
        };
        tagged.or_else(|| defaults(variable)).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    };
    match pair_config_from(&get) {
        Ok(config) => Declared::Pair { name: name.to_owned(), config: Box::new(config) },
        Err(e) => broken(explain(&e, &set)),
    }
}

/// A configuration error in the words of the tag that set the value, when a tag did.
fn explain(error: &ConfigError, set: &[(&str, String)]) -> String {
    let by_tag = set.iter().any(|(v, _)| *v == error.variable);
    match error.variable {
        "EIP_ALLOCATION_ID" if error.value.is_empty() => {
            format!("no Elastic IP or route table carries {PAIR} with its name: {}", error.problem)
        }
        variable if by_tag => format!("{}={:?}: {}", setting_tag(variable), error.value, error.problem),
        _ => error.to_string(),
    }
}
