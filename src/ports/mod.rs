//! The ports: what the sync needs from the world outside, as traits over the core's types. No SDK type and no
//! I/O here; the [adapters](crate::adapters) implement them, and tests implement them in memory.

mod network_interfaces;
mod ranges;
mod security_groups;

pub use network_interfaces::NetworkInterfaces;
pub use ranges::RangesSource;
pub use security_groups::{PortRules, SecurityGroups, TaggedGroup};
