//! The pure core: what the sync decides, with no I/O, no async and no SDK types; unit-tested without mocks.
//! Everything here builds without the `runtime` feature (the fuzz targets use it so).
//!
//! One file per target's planning ([`security_groups`], [`prefix_lists`], [`ip_sets`]), each with the same
//! name as its port (`ports/`), its adapter (`adapters/`) and its wiring (`sync/`); beside them what every
//! target shares ([`cidr`], [`event`], [`ip_ranges`]) and the read-only checks ([`attachment`], [`audit`],
//! [`origin_side`]).

pub mod aggregate;
pub mod attachment;
pub mod audit;
pub mod cidr;
pub mod event;
pub mod ip_ranges;
pub mod ip_sets;
pub mod notification;
pub mod organization;
pub mod origin_side;
pub mod prefix_lists;
pub mod rotation;
pub mod security_groups;

/// Which kind of target a report, a removal or a mark is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A set of security groups (`security-group-set`).
    SecurityGroupSet,
    /// A customer-managed prefix list (`prefix-list`).
    PrefixList,
    /// A WAF IP set (`waf-ip-set`).
    WafIpSet,
}

impl TargetKind {
    /// `security-group-set`, `prefix-list` or `waf-ip-set`: as the JSON and the command reports say it.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::SecurityGroupSet => "security-group-set",
            TargetKind::PrefixList => "prefix-list",
            TargetKind::WafIpSet => "waf-ip-set",
        }
    }

    /// `security group set`, `prefix list` or `WAF IP set`: as a sentence says it.
    pub fn describe(self) -> &'static str {
        match self {
            TargetKind::SecurityGroupSet => "security group set",
            TargetKind::PrefixList => "prefix list",
            TargetKind::WafIpSet => "WAF IP set",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one value of the `AutoUpdate` tag that syncs a target, for every kind: exactly `true` (`True`, `yes`, `1`
/// do not).
pub const AUTO_UPDATE_ON: &str = "true";

/// Whether a target tagged with a `Name` of ours is synced, by its `AutoUpdate` tag as found (`None`: no such
/// tag).
pub fn auto_update_on(value: Option<&str>) -> bool {
    value == Some(AUTO_UPDATE_ON)
}

/// A target tagged `Name=cloudfront_g|cloudfront_r` whose `AutoUpdate` is not exactly `true`: left alone, and
/// said so (an `AutoUpdate=True` is a near miss; `false` is a choice, named all the same).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct NotSynced {
    /// A security group (kind `security-group-set`), a prefix list or a WAF IP set.
    pub kind: TargetKind,
    /// Its account, when the run syncs listed accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region.
    pub region: String,
    /// `sg-…`, `pl-…`, or the IP set's name.
    pub id: String,
    /// Its `Name` tag.
    pub scope: ip_ranges::Scope,
    /// Its `AutoUpdate` tag's value; `None`: it has none.
    pub auto_update: Option<String>,
}

impl NotSynced {
    /// The target `id` of `kind` in `region` as its `Name` and `AutoUpdate` tags (`None`: absent) leave it: not
    /// synced when its `Name` is ours and its `AutoUpdate` not `true`; else `None` (synced, or none of ours).
    pub fn of(
        kind: TargetKind,
        region: &str,
        id: &str,
        name: Option<&str>,
        auto_update: Option<&str>,
    ) -> Option<NotSynced> {
        let scope = name.and_then(ip_ranges::Scope::from_tag_value)?;
        (!auto_update_on(auto_update)).then(|| NotSynced {
            kind,
            account: None,
            region: region.to_owned(),
            id: id.to_owned(),
            scope,
            auto_update: auto_update.map(str::to_owned),
        })
    }

    /// The line that names it: what, where, the value found and the one that syncs.
    pub fn line(&self) -> String {
        let what = match self.kind {
            TargetKind::SecurityGroupSet => "security group",
            kind => kind.describe(),
        };
        let account = self
            .account
            .as_deref()
            .map(|a| format!(" of account {a}"))
            .unwrap_or_default();
        let found = match &self.auto_update {
            Some(value) => format!("AutoUpdate={value:?}"),
            None => "no AutoUpdate tag".to_owned(),
        };
        format!(
            "not synced: {what} {} in {}{account} (Name={}): {found}; only AutoUpdate=\"{AUTO_UPDATE_ON}\" syncs it",
            self.id, self.region, self.scope
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_lowercase_true_syncs_a_target() {
        assert!(auto_update_on(Some("true")));
        for other in [
            None,
            Some("True"),
            Some("TRUE"),
            Some("true "),
            Some("yes"),
            Some("1"),
            Some("false"),
        ] {
            assert!(!auto_update_on(other), "{other:?}");
        }
    }

    #[test]
    fn a_target_not_synced_is_named_with_the_value_found() {
        let near = NotSynced {
            kind: TargetKind::SecurityGroupSet,
            account: None,
            region: "us-east-1".into(),
            id: "sg-1".into(),
            scope: ip_ranges::Scope::Global,
            auto_update: Some("True".into()),
        };
        assert_eq!(
            near.line(),
            "not synced: security group sg-1 in us-east-1 (Name=cloudfront_g): AutoUpdate=\"True\"; only AutoUpdate=\"true\" syncs it"
        );
        let untagged = NotSynced {
            kind: TargetKind::PrefixList,
            account: Some("111111111111".into()),
            id: "pl-1".into(),
            scope: ip_ranges::Scope::Regional,
            auto_update: None,
            ..near
        };
        assert_eq!(
            untagged.line(),
            "not synced: prefix list pl-1 in us-east-1 of account 111111111111 (Name=cloudfront_r): no AutoUpdate tag; only AutoUpdate=\"true\" syncs it"
        );
    }
}
