//! Which network interfaces carry a set's groups: [`NetworkInterfaces`] over `aws-sdk-ec2`, on the clients of
//! [`Ec2`]. One paged DescribeNetworkInterfaces per 200 group ids (EC2's cap on a filter's values).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::NetworkInterface;

use super::ec2::{Ec2, FILTER_VALUES, filter};
use crate::domain::attachment::{Interface, attachment_of};
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

impl NetworkInterfaces for Ec2 {
    async fn interfaces_with_groups(&self, region: &str, groups: &BTreeSet<String>) -> Result<Vec<Interface>> {
        let ids: Vec<&str> = groups.iter().map(String::as_str).collect();
        // An interface carrying groups of two chunks is answered twice: keep it once.
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(FILTER_VALUES) {
            let interfaces = self
                .pages(
                    "DescribeNetworkInterfaces",
                    region,
                    |c, o, token| {
                        let request = c
                            .describe_network_interfaces()
                            .filters(filter("group-id", chunk.iter().copied()))
                            .max_results(1000);
                        request.set_next_token(token).customize().config_override(o).send()
                    },
                    |page| page.next_token(),
                    |page| page.network_interfaces,
                )
                .await?;
            found.extend(interfaces.iter().filter_map(interface_of).map(|i| (i.id.clone(), i)));
        }
        Ok(found.into_values().collect())
    }
}
