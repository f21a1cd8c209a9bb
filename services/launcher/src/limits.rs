//! What a launch may take: caps on the resources it asks for, per role and per group; the
//! defaults for what it leaves unset; and which service accounts it may name. Pure functions of
//! the caller, the request and the settings; the Kubernetes backend looks up an account's labels
//! when the allow-list is a label.
//!
//! The caps that apply to a caller are their role's (`limits.publisher` or
//! `limits.administrator`) and those of each of their groups in `limits.groups`; for each
//! quantity the most generous applies: a role cap left unset is no cap at all, and a group entry
//! counts only for the quantities it sets. A request over the cap is refused (PERMISSION_DENIED)
//! with the cap and the setting named. What the request leaves unset comes from the defaults of
//! its kind (`kubernetes.build_resources`, `kubernetes.run_resources`), and a limit still unset
//! then is the cap, so that a capped caller never runs unbounded. The defaults are the
//! administrator's and are not checked against the caps.

use execenv_core::{Caller, Error, ErrorKind, Role};
use execenv_kit::settings::Setting;
use serde::{Deserialize, Serialize};

use crate::job_spec::{LaunchKind, Resources};

/// The `limits` section (`EXECENV_LIMITS__…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The caps of publishers.
    pub publisher: Resources,
    /// The caps of administrators (and of services calling as themselves).
    pub administrator: Resources,
    /// The caps of members of groups (YAML only).
    pub groups: Vec<GroupLimits>,
}

/// The caps of one group's members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLimits {
    /// The group's guid, as the caller's groups carry it.
    pub group: String,
    /// The caps; an unset one leaves that quantity to the role and the other groups.
    #[serde(flatten)]
    pub caps: Resources,
}

/// The settings of the `limits` section, for `own_settings`.
pub fn settings() -> Vec<Setting> {
    let mut out = Vec::new();
    out.extend(resource_settings!(
        "limits.publisher",
        "the most a publisher's launch may ask for (unset: no cap; a group in limits.groups may allow more): "
    ));
    out.extend(resource_settings!(
        "limits.administrator",
        "the most an administrator's (or a service's own) launch may ask for (unset: no cap): "
    ));
    out.push(Setting {
        key: "limits.groups",
        meaning: "caps for the members of groups, in the YAML file only: a list of {group: GUID, cpu_request, cpu_limit, memory_request, memory_limit, gpu, ephemeral_storage_request, ephemeral_storage_limit}; for each quantity the most generous cap among the caller's role and groups applies",
    });
    out
}

/// The launcher's rules for what launches may take, from its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The caps.
    pub limits: LimitsConfig,
    /// The defaults of BUILD launches.
    pub build: Resources,
    /// The defaults of RUN and INTERACTIVE launches.
    pub run: Resources,
    /// Which service accounts a launch may name.
    pub accounts: AccountRules,
}

impl Policy {
    /// The resources a launch of `kind` by `caller` gets for `requested`: refused when a
    /// requested quantity is over the caller's cap; else completed by the defaults of `kind`,
    /// then by the caps for the limits still unset.
    pub fn resolve(
        &self,
        caller: &Caller,
        kind: LaunchKind,
        requested: &Resources,
    ) -> Result<Resources, Error> {
        let caps = self.caps(caller);
        for (field, value) in requested.fields() {
            let Some(value) = value.as_deref() else {
                continue;
            };
            if let Some(cap) = caps.iter().find(|c| c.field == field)
                && let Some((allowed, setting)) = &cap.most
                && exceeds(value, allowed)
            {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "resources.{field} {value:?} is over the cap of {allowed:?} for {} ({}) (setting {setting}); ask for at most {allowed:?}, or ask an administrator to raise the cap",
                        caller.actor_name(),
                        caller.role.as_str()
                    ),
                ));
            }
        }
        let defaults = match kind {
            LaunchKind::Build => &self.build,
            LaunchKind::Run | LaunchKind::Interactive => &self.run,
        };
        let mut resolved = requested.clone().or(defaults);
        for (field, value) in resolved.fields_mut() {
            if value.is_none()
                && field.ends_with("_limit")
                && let Some(cap) = caps.iter().find(|c| c.field == field)
                && let Some((allowed, _)) = &cap.most
            {
                *value = Some(allowed.clone());
            }
        }
        Ok(resolved)
    }

    /// For each quantity, the most generous cap that applies to `caller` and its setting (None:
    /// no cap).
    fn caps(&self, caller: &Caller) -> Vec<Cap> {
        let (role_key, role_caps) = match caller.role {
            Role::Administrator => ("limits.administrator", &self.limits.administrator),
            _ => ("limits.publisher", &self.limits.publisher),
        };
        let groups: Vec<&GroupLimits> = self
            .limits
            .groups
            .iter()
            .filter(|g| caller.groups.contains(&g.group))
            .collect();
        role_caps
            .fields()
            .into_iter()
            .map(|(field, role_cap)| {
                let most = role_cap.as_ref().map(|role_cap| {
                    let mut best = (role_cap.clone(), format!("{role_key}.{field}"));
                    for g in &groups {
                        let group_cap = g
                            .caps
                            .fields()
                            .into_iter()
                            .find(|(f, _)| *f == field)
                            .and_then(|(_, v)| v.clone());
                        if let Some(group_cap) = group_cap
                            && exceeds(&group_cap, &best.0)
                        {
                            best = (group_cap, format!("limits.groups (group {})", g.group));
                        }
                    }
                    best
                });
                Cap { field, most }
            })
            .collect()
    }
}

/// The cap on one quantity.
struct Cap {
    field: &'static str,
    /// The most allowed and the setting that allows it; None: no cap.
    most: Option<(String, String)>,
}

/// Whether quantity `value` is more than `cap`. A quantity that cannot be read is treated as over
/// (the request's quantities are checked before; a malformed cap refuses rather than allows).
fn exceeds(value: &str, cap: &str) -> bool {
    match (quantity(value), quantity(cap)) {
        (Some(v), Some(c)) => v > c * (1.0 + 1e-9),
        _ => true,
    }
}

/// A Kubernetes quantity as a number of base units (cores, bytes, devices).
pub fn quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let e: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(e)
        }
    };
    Some(number * factor)
}

/// Which service accounts a launch may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRules {
    /// The default account (`kubernetes.default_service_account`): always allowed.
    pub default: Option<String>,
    /// The allow-list (`kubernetes.service_accounts`).
    pub allowed: Vec<String>,
    /// A label that allows an account carrying it (`kubernetes.service_account_label`).
    pub label: Option<String>,
}

/// What the account rules say of a named account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountVerdict {
    /// It may be named.
    Allowed,
    /// It may be named if it carries this label: key, and the value when one is required.
    IfLabelled(String, Option<String>),
}

impl AccountRules {
    /// The verdict on `account` by the list alone.
    pub fn verdict(&self, account: &str) -> AccountVerdict {
        if self.default.as_deref() == Some(account) || self.allowed.iter().any(|a| a == account) {
            return AccountVerdict::Allowed;
        }
        match &self.label {
            Some(label) => match label.split_once('=') {
                Some((k, v)) => {
                    AccountVerdict::IfLabelled(k.trim().to_owned(), Some(v.trim().to_owned()))
                }
                None => AccountVerdict::IfLabelled(label.trim().to_owned(), None),
            },
            None => AccountVerdict::IfLabelled(String::new(), None),
        }
    }

    /// Whether an account with `labels` (None: no such account) carries the label of
    /// `verdict`.
    pub fn labelled(
        verdict: &AccountVerdict,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        match verdict {
            AccountVerdict::Allowed => true,
            AccountVerdict::IfLabelled(key, value) => {
                !key.is_empty()
                    && labels
                        .and_then(|l| l.get(key))
                        .is_some_and(|found| value.as_ref().is_none_or(|wanted| wanted == found))
            }
        }
    }

    /// The refusal of `account`, naming what is allowed.
    pub fn refusal(&self, account: &str) -> Error {
        let mut allowed: Vec<String> = self.default.iter().cloned().collect();
        allowed.extend(self.allowed.iter().cloned());
        let list = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(", ")
        };
        let label = match &self.label {
            Some(l) => format!(" or an account labelled {l}"),
            None => String::new(),
        };
        Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "service account {account:?} is not one a launch may name; allowed: {list}{label} (settings kubernetes.default_service_account, kubernetes.service_accounts, kubernetes.service_account_label); leave service_account out to use the default"
            ),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "limits_tests.rs"]
mod tests;
