//! Which network interfaces carry a set's groups: [`NetworkInterfaces`] over `aws-sdk-ec2`, on the clients of
//! [`Ec2Groups`]. One paged DescribeNetworkInterfaces per 200 group ids (EC2's cap on a filter's values).

use std::collections::BTreeSet;

use aws_sdk_ec2::types::NetworkInterface;

use super::ec2::{Ec2Groups, by_chunks_of_ids, filter};
use crate::attachment::{Interface, attachment_of};
use crate::error::Result;
use crate::ports::NetworkInterfaces;

/// An interface as the core sees it; `None` without an id.
fn interface_of(eni: &NetworkInterface) -> Option<Interface> {
    Some(Interface {
        id: eni.network_interface_id()?.to_owned(),
        attachment: attachment_of(
            eni.attachment().and_then(|a| a.instance_id()),
            eni.description(),
            eni.interface_type().map(|t| t.as_str()),
        ),
        groups: eni
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
    })
}

impl NetworkInterfaces for Ec2Groups {
    async fn interfaces_with_groups(&self, region: &str, groups: &BTreeSet<String>) -> Result<Vec<Interface>> {
        by_chunks_of_ids(groups, |chunk| async move {
            let pages = self
                .call("DescribeNetworkInterfaces", region, None, |c| {
                    let request = c
                        .describe_network_interfaces()
                        .filters(filter("group-id", chunk.iter().map(String::as_str)))
                        .max_results(1000);
                    request.into_paginator().send().try_collect()
                })
                .await?;
            let interfaces = pages.iter().flat_map(|page| page.network_interfaces());
            Ok(interfaces.filter_map(interface_of).map(|i| (i.id.clone(), i)).collect())
        })
        .await
    }
}
