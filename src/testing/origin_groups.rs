//! The fake of [`OriginGroups`]: any group's rules (the audit reads them), and AWS's CloudFront prefix list.

use std::collections::BTreeSet;

use super::{FakeEc2, Op};
use crate::domain::security_groups::Group;
use crate::error::Result;
use crate::ports::OriginGroups;

impl OriginGroups for FakeEc2 {
    async fn groups_with_rules(&self, region: &str, ids: &BTreeSet<String>) -> Result<Vec<Group>> {
        self.enter(Op::OriginGroups, region, None).await?;
        let state = self.state();
        let groups = ids.iter().filter_map(|id| {
            let g = state.groups.get(id).filter(|g| g.region == region)?;
            Some(Group {
                id: id.clone(),
                rules: g.rules.clone(),
            })
        });
        Ok(groups.collect())
    }

    async fn cloudfront_prefix_lists(&self, region: &str) -> Result<BTreeSet<String>> {
        self.enter(Op::CloudFrontLists, region, None).await?;
        Ok(BTreeSet::from(["pl-cloudfront".to_owned()]))
    }
}
