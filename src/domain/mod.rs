//! The pure core: what the sync decides, with no I/O, no async and no SDK types; unit-tested without mocks.
//! Everything here builds without the `runtime` feature (the fuzz targets use it so).
//!
//! One file per target's planning ([`security_groups`], [`prefix_lists`], [`ip_sets`]), each with the same
//! name as its port (`ports/`), its adapter (`adapters/`) and its wiring (`sync/`); beside them what every
//! target shares ([`cidr`], [`event`], [`ip_ranges`]) and the read-only checks ([`attachment`], [`audit`]).

pub mod aggregate;
pub mod attachment;
pub mod audit;
pub mod cidr;
pub mod event;
pub mod ip_ranges;
pub mod ip_sets;
pub mod notification;
pub mod organization;
pub mod prefix_lists;
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
