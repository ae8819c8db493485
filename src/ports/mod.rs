//! The ports: what the sync needs from the world outside, as traits over the core's types. No SDK type and no
//! I/O here; the [adapters](crate::adapters) implement them, and tests implement them in memory.

mod network_interfaces;
mod prefix_lists;
mod ranges;
mod security_groups;

pub use network_interfaces::NetworkInterfaces;
pub use prefix_lists::{ListAt, PrefixLists, TaggedList};
pub use ranges::RangesSource;
pub use security_groups::{PortRules, SecurityGroups, TaggedGroup};

/// One account's view of EC2: which account it is and the ports that act in it, with its credentials. A run
/// syncs every account it is given, each through its own ports.
#[derive(Debug, Clone)]
pub struct Account<G> {
    /// The account id when the run syncs listed accounts (`ACCOUNTS`); `None`: the function's own account,
    /// with its own credentials.
    pub id: Option<String>,
    /// Where its security groups, network interfaces and prefix lists live.
    pub ec2: G,
}

impl<G> Account<G> {
    /// The function's own account.
    pub fn own(ec2: G) -> Account<G> {
        Account { id: None, ec2 }
    }
}
