//! The ports: what the sync needs from the world outside, as traits over the core's types. No SDK type and no
//! I/O here; the [adapters](crate::adapters) implement them, and tests implement them in memory.

mod ip_sets;
mod network_interfaces;
mod notification;
mod organization;
mod origins;
mod prefix_lists;
mod ranges;
mod rotation;
mod security_groups;

pub use ip_sets::{IpSets, NoIpSets, TaggedIpSet, WafScope};
pub use network_interfaces::NetworkInterfaces;
pub use notification::{NoNotifications, Notifications};
pub use organization::{Connect, NoOrganization, Organization};
pub use origins::{Distributions, LoadBalancers, OriginGroups};
pub use prefix_lists::{ListAt, ListState, PrefixLists, TaggedList};
pub use ranges::RangesSource;
pub use rotation::{
    CURRENT, HeaderRule, PENDING, SecretChecks, SecretDistribution, SecretSenders, SecretStore, SecretVersions,
    SendingOrigin,
};
pub use security_groups::{PortRules, SecurityGroups, TaggedGroup};

/// What a read of one kind of target in a region found: the targets tagged for the sync, and those tagged with
/// a `Name` of ours that are not (their `AutoUpdate` not exactly `true`), so that a near miss is named.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// Tagged for the sync.
    pub tagged: Vec<T>,
    /// Tagged with a `Name` of ours, not synced.
    pub not_synced: Vec<crate::domain::NotSynced>,
}

impl<T> Default for Found<T> {
    fn default() -> Self {
        Found {
            tagged: Vec::new(),
            not_synced: Vec::new(),
        }
    }
}

/// One account's view of AWS: which account it is and the ports that act in it, with its credentials. A run
/// syncs every account it is given, each through its own ports.
#[derive(Debug, Clone)]
pub struct Account<G, W = NoIpSets> {
    /// The account id when the run syncs listed accounts (`ACCOUNTS`); `None`: the function's own account,
    /// with its own credentials.
    pub id: Option<String>,
    /// Where its security groups, network interfaces and prefix lists live (EC2).
    pub ec2: G,
    /// Where its WAF IP sets live.
    pub waf: W,
}

impl<G> Account<G> {
    /// The function's own account, with no WAF IP sets looked for (see [`Account::with_ip_sets`]).
    pub fn own(ec2: G) -> Account<G> {
        Account {
            id: None,
            ec2,
            waf: NoIpSets,
        }
    }
}

impl<G, W> Account<G, W> {
    /// The same account, its WAF IP sets at `waf`.
    pub fn with_ip_sets<V>(self, waf: V) -> Account<G, V> {
        Account {
            id: self.id,
            ec2: self.ec2,
            waf,
        }
    }
}
