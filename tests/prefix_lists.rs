//! The prefix-list adapter against moto: tagged lists are found with their entries, untagged ones are not, and a
//! modification adds and removes entries at the list's version. (Not yet wired into a run: issue 9.)

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AddPrefixListEntry, ResourceType, Tag, TagSpecification};
use cloudfront_sg_sync::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::ip_ranges::Scope;
use cloudfront_sg_sync::plan::DESCRIPTION_PREFIX;
use cloudfront_sg_sync::ports::{ListAt, PrefixLists};
use cloudfront_sg_sync::prefix_list::{Entry, Modification};
use common::*;

fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// A prefix list with these tags and entries (cidr, description).
async fn prefix_list(client: &Client, family: &str, tags: &[(&str, &str)], entries: &[(&str, &str)]) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::PrefixList);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let entries = entries
        .iter()
        .map(|(cidr, d)| AddPrefixListEntry::builder().cidr(*cidr).description(*d).build())
        .collect();
    let out = client
        .create_managed_prefix_list()
        .prefix_list_name(format!("test-{family}-{}", tags.len()))
        .address_family(family)
        .max_entries(10)
        .set_entries(Some(entries))
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    out.prefix_list().unwrap().prefix_list_id().unwrap().to_owned()
}

#[tokio::test]
async fn tagged_lists_are_read_with_their_entries_and_modified_at_their_version() {
    let moto = Moto::start();
    let client = moto.client("us-east-1").await;
    let ours = format!("{DESCRIPTION_PREFIX}: CLOUDFRONT GLOBAL");
    let tagged = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
    let v4 = prefix_list(
        &client,
        "IPv4",
        &tagged,
        &[("10.0.0.0/24", &ours), ("192.0.2.0/24", "office")],
    )
    .await;
    let v6 = prefix_list(&client, "IPv6", &tagged, &[]).await;
    prefix_list(&client, "IPv4", &[("Name", "cloudfront_g")], &[]).await;
    let config = config(&[("AWS_REGION", "us-east-1")]);
    let ec2 = groups_at(&moto.endpoint, &config).await;

    let mut lists = ec2.tagged_lists("us-east-1").await.unwrap();
    lists.sort_by_key(|l| l.list.family);
    let ids: Vec<&str> = lists.iter().map(|l| l.list.id.as_str()).collect();
    assert_eq!(
        ids,
        [v4.as_str(), v6.as_str()],
        "the list without AutoUpdate is not read"
    );
    let list = &lists[0];
    assert_eq!(
        (list.scope, list.list.family, list.list.max_entries),
        (Scope::Global, IpVersion::Ipv4, 10)
    );
    let entries: BTreeSet<(Cidr, bool)> = list.list.entries.iter().map(|e| (e.cidr, e.ours())).collect();
    assert_eq!(entries, [(c("10.0.0.0/24"), true), (c("192.0.2.0/24"), false)].into());

    let change = Modification {
        add: [c("10.0.1.0/24")].into(),
        remove: [c("10.0.0.0/24")].into(),
    };
    let at = ListAt {
        region: "us-east-1",
        id: &v4,
        version: list.version,
    };
    let version = ec2.modify(at, &change, &ours).await.unwrap();
    assert_eq!(version, list.version + 1);
    let after = ec2.tagged_lists("us-east-1").await.unwrap();
    let after = after.iter().find(|l| l.list.id == v4).unwrap();
    let mut entries = after.list.entries.clone();
    entries.sort_by_key(|e| e.cidr);
    assert_eq!(
        entries,
        [
            Entry {
                cidr: c("10.0.1.0/24"),
                description: Some(ours.clone())
            },
            Entry {
                cidr: c("192.0.2.0/24"),
                description: Some("office".into())
            },
        ]
    );
    let (_, now) = ec2.state("us-east-1", &v4).await.unwrap();
    assert_eq!(now, version);
}
