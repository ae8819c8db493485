//! What the origin audit reads of EC2: [`OriginGroups`] over `aws-sdk-ec2`, on the clients of [`Ec2`].
//! Read-only: one DescribeSecurityGroups of the load balancers' groups (every page) and one
//! DescribeManagedPrefixLists by name.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::SecurityGroup;

use super::ec2::{Ec2, filter};
use super::security_groups::rules_of;
use crate::domain::audit::CLOUDFRONT_PREFIX_LISTS;
use crate::domain::security_groups::Group;
use crate::error::Result;
use crate::ports::OriginGroups;

impl OriginGroups for Ec2 {
    async fn groups_with_rules(&self, region: &str, ids: &BTreeSet<String>) -> Result<Vec<Group>> {
        let ids: Vec<String> = ids.iter().cloned().collect();
        let groups = self.describe_groups(region, &ids).await?;
        Ok(groups.iter().filter_map(group_with_rules).collect())
    }

    async fn cloudfront_prefix_lists(&self, region: &str) -> Result<BTreeSet<String>> {
        let names = filter("prefix-list-name", CLOUDFRONT_PREFIX_LISTS);
        let lists = self.prefix_lists_where(region, vec![names], None).await?;
        Ok(lists
            .iter()
            .filter(|l| {
                l.prefix_list_name()
                    .is_some_and(|n| CLOUDFRONT_PREFIX_LISTS.contains(&n))
            })
            .filter_map(|l| l.prefix_list_id().map(str::to_owned))
            .collect())
    }
}

/// A group with every rule, as the core sees it; `None` without an id.
fn group_with_rules(sg: &SecurityGroup) -> Option<Group> {
    Some(Group {
        id: sg.group_id()?.to_owned(),
        rules: rules_of(sg.ip_permissions()),
    })
}
