//! [`LoadBalancers`] over `aws-sdk-elasticloadbalancingv2`: DescribeLoadBalancers, every page, one client per
//! scanned region.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancer as SdkLoadBalancer;
use cloudfront_sg_sync::adapters::aws::service_error;
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::domain::audit::LoadBalancer;
use cloudfront_sg_sync::ports::LoadBalancers;
use cloudfront_sg_sync::{Error, Result};

/// The load balancers of the configured regions.
#[derive(Debug, Clone)]
pub struct ElbLoadBalancers {
    clients: BTreeMap<String, Client>,
}

impl ElbLoadBalancers {
    /// One client per region of `config`, from `shared` (credentials, endpoint, retry and timeout settings).
    pub fn from_shared(config: &Config, shared: &SdkConfig) -> ElbLoadBalancers {
        let clients = config
            .regions
            .iter()
            .map(|region| {
                let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(shared)
                    .region(aws_config::Region::new(region.clone()))
                    .build();
                (region.clone(), Client::from_conf(conf))
            })
            .collect();
        ElbLoadBalancers { clients }
    }
}

impl LoadBalancers for ElbLoadBalancers {
    async fn load_balancers(&self, region: &str) -> Result<Vec<LoadBalancer>> {
        let client = self.clients.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })?;
        let pages = client
            .describe_load_balancers()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                service_error(&e, |code, message| Error::Audit {
                    service: "ELBv2",
                    operation: "DescribeLoadBalancers",
                    region: region.to_owned(),
                    code,
                    message,
                })
            })?;
        let found = pages.iter().flat_map(|page| page.load_balancers());
        Ok(found.filter_map(load_balancer_of).collect())
    }
}

/// An ALB or NLB as the audit sees it; `None` for a gateway load balancer or one without a DNS name.
fn load_balancer_of(lb: &SdkLoadBalancer) -> Option<LoadBalancer> {
    let kind = lb.r#type()?.as_str();
    (kind == "application" || kind == "network").then_some(())?;
    Some(LoadBalancer {
        name: lb.load_balancer_name().unwrap_or_default().to_owned(),
        dns_name: lb.dns_name()?.to_owned(),
        kind: kind.to_owned(),
        vpc: lb.vpc_id().unwrap_or_default().to_owned(),
        security_groups: lb.security_groups().to_vec(),
        ip_address_type: lb.ip_address_type().map_or("ipv4", |t| t.as_str()).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{IpAddressType, LoadBalancerTypeEnum};

    #[test]
    fn a_load_balancer_keeps_its_kind_groups_and_ip_address_type() {
        let of = |kind: LoadBalancerTypeEnum, ip: Option<IpAddressType>| {
            SdkLoadBalancer::builder()
                .load_balancer_name("web")
                .dns_name("web-1.us-east-1.elb.amazonaws.com")
                .r#type(kind)
                .vpc_id("vpc-1")
                .security_groups("sg-1")
                .set_ip_address_type(ip)
                .build()
        };
        let lb = |ip| of(LoadBalancerTypeEnum::Application, ip);
        let dual = load_balancer_of(&lb(Some(IpAddressType::Dualstack))).unwrap();
        assert_eq!(
            (dual.kind.as_str(), dual.security_groups, dual.ip_address_type.as_str()),
            ("application", vec!["sg-1".to_owned()], "dualstack")
        );
        assert_eq!(
            load_balancer_of(&lb(None)).unwrap().ip_address_type,
            "ipv4",
            "not said: IPv4"
        );
        assert!(load_balancer_of(&of(LoadBalancerTypeEnum::Gateway, None)).is_none());
    }
}
