//! What the origin audit reads of EC2: [`OriginGroups`] over `aws-sdk-ec2`, on the clients of [`Ec2Groups`].
//! Read-only: DescribeSecurityGroups by `group-id` filter (200 ids per call, every page) and
//! DescribeManagedPrefixLists by name.

use std::collections::{BTreeMap, BTreeSet};

use super::ec2::{Ec2Groups, FILTER_VALUES, filter, rules_of};
use crate::audit::CLOUDFRONT_PREFIX_LISTS;
use crate::error::Result;
use crate::plan::Group;
use crate::ports::OriginGroups;

impl OriginGroups for Ec2Groups {
    async fn groups_with_rules(&self, region: &str, ids: &BTreeSet<String>) -> Result<Vec<Group>> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(FILTER_VALUES) {
            let pages = self
                .call("DescribeSecurityGroups", region, None, |c| {
                    let request = c
                        .describe_security_groups()
                        .filters(filter("group-id", chunk.iter().copied()))
                        .max_results(1000);
                    request.into_paginator().send().try_collect()
                })
                .await?;
            for sg in pages.iter().flat_map(|page| page.security_groups()) {
                if let Some(id) = sg.group_id() {
                    let group = Group {
                        id: id.to_owned(),
                        rules: rules_of(sg.ip_permissions()),
                    };
                    found.insert(id.to_owned(), group);
                }
            }
        }
        Ok(found.into_values().collect())
    }

    async fn cloudfront_prefix_lists(&self, region: &str) -> Result<BTreeSet<String>> {
        let pages = self
            .call("DescribeManagedPrefixLists", region, None, |c| {
                let request = c
                    .describe_managed_prefix_lists()
                    .filters(filter("prefix-list-name", CLOUDFRONT_PREFIX_LISTS));
                request.into_paginator().send().try_collect()
            })
            .await?;
        let lists = pages.iter().flat_map(|page| page.prefix_lists());
        Ok(lists
            .filter(|l| {
                l.prefix_list_name()
                    .is_some_and(|n| CLOUDFRONT_PREFIX_LISTS.contains(&n))
            })
            .filter_map(|l| l.prefix_list_id().map(str::to_owned))
            .collect())
    }
}
