//! WAF IP sets in moto, for the tests that sync them: a client, a tagged IP set, what it holds, and the function
//! with its WAF adapter. (Its own file: the CLI's tests include `common` and do not build the WAF SDK.)

use std::collections::BTreeSet;

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::{IpAddressVersion, Scope as ApiScope, Tag};
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::adapters::ip_sets::WafIpSets;
use cloudfront_sg_sync::adapters::source::HttpSource;
use cloudfront_sg_sync::domain::cidr::Cidr;
use cloudfront_sg_sync::handler::App;

use super::common::{Counting, World};

/// A WAF client of moto in us-east-1.
pub async fn waf(endpoint: &str) -> Client {
    Client::new(&super::common::sdk_config_at(endpoint, "us-east-1").await)
}

/// Create an IP set; its id.
pub async fn create(
    client: &Client,
    name: &str,
    scope: ApiScope,
    v6: bool,
    tags: &[(&str, &str)],
    addresses: &[&str],
) -> String {
    let version = if v6 {
        IpAddressVersion::Ipv6
    } else {
        IpAddressVersion::Ipv4
    };
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap());
    let out = client
        .create_ip_set()
        .name(name)
        .scope(scope)
        .ip_address_version(version)
        .description(format!("{name}, kept"))
        .set_addresses(Some(addresses.iter().map(|a| (*a).to_owned()).collect()))
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .unwrap();
    out.summary().unwrap().id().unwrap().to_owned()
}

/// The addresses and lock token of an IP set as moto holds it.
pub async fn held(client: &Client, name: &str, scope: ApiScope, id: &str) -> (BTreeSet<Cidr>, String) {
    let out = client.get_ip_set().name(name).scope(scope).id(id).send().await.unwrap();
    let set = out.ip_set().unwrap();
    assert_eq!(
        set.description(),
        Some(format!("{name}, kept").as_str()),
        "the description is kept"
    );
    let addresses = set.addresses().iter().map(|a| a.parse().unwrap()).collect();
    (addresses, out.lock_token().unwrap().to_owned())
}

/// The function, configured as in production with its WAF adapter, against the world's moto.
pub async fn app(w: &World, extra: &[(&str, &str)]) -> App<HttpSource, Counting<Ec2>, WafIpSets> {
    let base = w.app(extra).await;
    let loader = cloudfront_sg_sync::adapters::aws::loader()
        .endpoint_url(&w.endpoint)
        .test_credentials();
    let waf = WafIpSets::with_loader(&base.config, loader).await;
    App {
        notifications: cloudfront_sg_sync::ports::NoNotifications,
        organization: cloudfront_sg_sync::ports::NoOrganization,
        accounts: base.accounts.into_iter().map(|a| a.with_ip_sets(waf.clone())).collect(),
        config: base.config,
        source: base.source,
    }
}
