//! The fake of [`NetworkInterfaces`]: the interfaces that carry groups, as a test adds them.

use std::collections::BTreeSet;

use super::{FakeEc2, Op};
use crate::domain::attachment::Interface;
use crate::error::Result;
use crate::ports::NetworkInterfaces;

impl FakeEc2 {
    /// Add a network interface in us-east-1 carrying `groups`, attached to `attachment`.
    pub fn add_interface(&self, id: &str, attachment: &str, groups: &[&str]) {
        let interface = Interface {
            id: id.to_owned(),
            attachment: attachment.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        self.state().interfaces.push(("us-east-1".to_owned(), interface));
    }
}

impl NetworkInterfaces for FakeEc2 {
    async fn interfaces_with_groups(&self, region: &str, groups: &BTreeSet<String>) -> Result<Vec<Interface>> {
        self.enter(Op::Interfaces, region, None).await?;
        let state = self.state();
        let carrying = state
            .interfaces
            .iter()
            .filter(|(r, i)| r == region && !i.groups.is_disjoint(groups))
            .map(|(_, i)| i.clone());
        Ok(carrying.collect())
    }
}
