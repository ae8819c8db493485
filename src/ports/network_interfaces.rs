//! The port through which the sync learns which network interfaces carry a set's groups, to catch a set
//! attached only in part. Read-only. The adapter is [`crate::adapters::interfaces`].

use std::collections::BTreeSet;
use std::future::Future;

use crate::domain::attachment::Interface;
use crate::error::Result;

/// Where network interfaces live.
pub trait NetworkInterfaces: Send + Sync {
    /// Every network interface in `region` that carries at least one of `groups`, all pages, each once.
    fn interfaces_with_groups(
        &self,
        region: &str,
        groups: &BTreeSet<String>,
    ) -> impl Future<Output = Result<Vec<Interface>>> + Send;
}
