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
