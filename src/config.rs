//! The function's configuration: read once from the environment at init, validated, then lent to
//! every invocation.

use crate::group::DataSettings;
use crate::pair::{Config, FenceMode, DEFAULT_COOLDOWN_SECONDS};

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

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let primary = instance_id("PRIMARY_INSTANCE_ID", get("PRIMARY_INSTANCE_ID"))?;
        let standby = instance_id("STANDBY_INSTANCE_ID", get("STANDBY_INSTANCE_ID"))?;
        if primary == standby {
            return Err(ConfigError {
                variable: "STANDBY_INSTANCE_ID",
                value: standby,
                problem: "must differ from PRIMARY_INSTANCE_ID".into(),
            });
        }
        let allocation_id = match get("EIP_ALLOCATION_ID") {
            Some(v) if is_aws_id(&v, "eipalloc-") => v,
            v => {
                return Err(ConfigError {
                    variable: "EIP_ALLOCATION_ID",
                    value: v.unwrap_or_default(),
                    problem: "required: the Elastic IP's allocation id, eipalloc- followed by hex digits".into(),
                })
            }
        };
        let fence_mode = match get("FENCE_MODE").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("stop") => FenceMode::Stop,
            Some("none") => FenceMode::None,
            Some(other) => {
                return Err(ConfigError {
                    variable: "FENCE_MODE",
                    value: other.into(),
                    problem: "accepted values: stop (default), none".into(),
                })
            }
        };
        let cooldown_seconds = match get("COOLDOWN_SECONDS") {
            None => DEFAULT_COOLDOWN_SECONDS,
            Some(v) => v.parse::<u64>().map_err(|_| ConfigError {
                variable: "COOLDOWN_SECONDS",
                value: v.clone(),
                problem: format!("a whole number of seconds, 0 or more (default {DEFAULT_COOLDOWN_SECONDS})"),
            })?,
        };
        let dry_run = dry_run(get("DRY_RUN"))?;
        Ok(Config { primary, standby, allocation_id, fence_mode, cooldown_seconds, dry_run })
    }
}

/// Which way the deployed function keeps a server available (`MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A primary and a standby instance share an Elastic IP (the default); see [`Config`].
    Pair,
    /// Single-instance Auto Scaling groups tagged `ec2-failover:group`: the Elastic IP follows
    /// each new instance. Needs no other setting.
    Group,
}

impl Mode {
    /// Reads `MODE` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `MODE` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match lookup("MODE").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("pair") => Ok(Mode::Pair),
            Some("group") => Ok(Mode::Group),
            Some(other) => Err(ConfigError {
                variable: "MODE",
                value: other.into(),
                problem: "accepted values: pair (default), group".into(),
            }),
        }
    }
}

/// Reads `DRY_RUN` through `lookup`, for the modes that need nothing else.
pub fn dry_run_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    dry_run(lookup("DRY_RUN").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// Group mode's data settings: `KEEP_DATA` (whether groups keep a data volume, default true),
/// `KEEP_SNAPSHOTS` (completed snapshots kept per group, 1 to 1000, default 3) and
/// `MAX_WAIT_SECONDS` (how long a launch may wait for its data before it is abandoned, 60 to
/// 172800, default 3600).
pub fn data_settings_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<DataSettings, ConfigError> {
    let keep_data = match lookup("KEEP_DATA").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ConfigError {
                variable: "KEEP_DATA",
                value: other.into(),
                problem: "accepted values: true (default), false".into(),
            })
        }
    };
    let number = |variable: &'static str, default: i64, min: i64, max: i64| match lookup(variable)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| (min..=max).contains(n)).ok_or(ConfigError {
            variable,
            value: v,
            problem: format!("a whole number from {min} to {max} (default {default})"),
        }),
    };
    let keep = number("KEEP_SNAPSHOTS", 3, 1, 1000)?;
    let wait = number("MAX_WAIT_SECONDS", 3600, 60, 172_800)?;
    Ok(DataSettings { keep_data, keep_snapshots: usize::try_from(keep).unwrap_or(3), max_wait_seconds: wait })
}

fn dry_run(value: Option<String>) -> Result<bool, ConfigError> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(ConfigError {
            variable: "DRY_RUN",
            value: other.into(),
            problem: "accepted values: true, false (default)".into(),
        }),
    }
}

fn instance_id(variable: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    match value {
        Some(v) if is_aws_id(&v, "i-") => Ok(v),
        v => Err(ConfigError {
            variable,
            value: v.unwrap_or_default(),
            problem: "required: an EC2 instance id, i- followed by 8 or 17 hex digits".into(),
        }),
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

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs: Vec<(&str, &str)> = BASE.to_vec();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        Config::from_lookup(env(&pairs))
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let c = with(&[]).unwrap();
        assert_eq!(c.fence_mode, FenceMode::Stop);
        assert_eq!(c.cooldown_seconds, 300);
        assert!(!c.dry_run);
        assert_eq!(c.other("i-0123456789abcdef0"), Some("i-0fedcba9876543210"));
        assert_eq!(c.other("i-99999999"), None);
    }

    #[test]
    fn every_bad_variable_is_named_with_what_it_accepts() {
        let cases: &[(&str, &str, &str)] = &[
            ("PRIMARY_INSTANCE_ID", "", "EC2 instance id"),
            ("PRIMARY_INSTANCE_ID", "web-1", "EC2 instance id"),
            ("STANDBY_INSTANCE_ID", "i-0123456789abcdef0", "must differ"),
            ("EIP_ALLOCATION_ID", "54.1.2.3", "eipalloc-"),
            ("FENCE_MODE", "terminate", "stop (default), none"),
            ("COOLDOWN_SECONDS", "-5", "whole number"),
            ("COOLDOWN_SECONDS", "5m", "whole number"),
            ("DRY_RUN", "maybe", "true, false"),
        ];
        for (var, value, hint) in cases {
            let err = with(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, *var, "{var}={value}");
            let message = err.to_string();
            assert!(message.contains(var) && message.contains(hint), "{message}");
        }
    }

    #[test]
    fn data_settings_have_defaults_and_name_a_bad_value() {
        assert_eq!(data_settings_from_lookup(env(&[])), Ok(DataSettings::default()));
        assert_eq!(
            DataSettings::default(),
            DataSettings { keep_data: true, keep_snapshots: 3, max_wait_seconds: 3600 }
        );
        let set = [("KEEP_DATA", "False"), ("KEEP_SNAPSHOTS", "7"), ("MAX_WAIT_SECONDS", " 900 ")];
        let read = DataSettings { keep_data: false, keep_snapshots: 7, max_wait_seconds: 900 };
        assert_eq!(data_settings_from_lookup(env(&set)), Ok(read));
        for (var, value, hint) in [
            ("KEEP_DATA", "maybe", "true (default), false"),
            ("KEEP_SNAPSHOTS", "0", "a whole number from"),
            ("KEEP_SNAPSHOTS", "many", "a whole number from"),
            ("MAX_WAIT_SECONDS", "200000", "a whole number from"),
        ] {
            let err = data_settings_from_lookup(env(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(hint), "{err}");
        }
    }

    #[test]
    fn optional_variables_are_read_case_insensitively() {
        let c = with(&[("FENCE_MODE", "None"), ("COOLDOWN_SECONDS", "0"), ("DRY_RUN", "TRUE")]).unwrap();
        assert_eq!((c.fence_mode, c.cooldown_seconds, c.dry_run), (FenceMode::None, 0, true));
    }

    #[test]
    fn short_and_long_ids_are_accepted() {
        assert!(is_aws_id("i-12345678", "i-"));
        assert!(is_aws_id("i-0123456789abcdef0", "i-"));
        assert!(!is_aws_id("i-0123456789ABCDEF0", "i-"));
        assert!(!is_aws_id("i-123", "i-"));
    }
}
