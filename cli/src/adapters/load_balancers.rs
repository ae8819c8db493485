//! [`LoadBalancers`] over `aws-sdk-elasticloadbalancingv2` (DescribeLoadBalancers, DescribeListeners and
//! DescribeRules, every page) and `aws-sdk-wafv2` (GetWebACLForResource), one client of each per scanned
//! region. A rule's header values are kept as [`Secret`]s: compared by the audit, never shown.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, HttpHeaderConditionConfig, Listener as SdkListener, LoadBalancer as SdkLoadBalancer, Rule, RuleCondition,
};
use cloudfront_sg_sync::adapters::aws::service_error;
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::domain::audit::LoadBalancer;
use cloudfront_sg_sync::domain::origin_side::{Condition, Listener, ListenerRule, Secret, Statement, WebAcl};
use cloudfront_sg_sync::ports::{HeaderRule, LoadBalancers, SecretChecks};
use cloudfront_sg_sync::{Error, Result};

use super::web_acls;

/// The load balancers of the configured regions, their listeners and their web ACLs.
#[derive(Debug, Clone)]
pub struct ElbLoadBalancers {
    clients: BTreeMap<String, Client>,
    waf: BTreeMap<String, aws_sdk_wafv2::Client>,
}

impl ElbLoadBalancers {
    /// One client per region of `config`, from `shared` (credentials, endpoint, retry and timeout settings).
    pub fn from_shared(config: &Config, shared: &SdkConfig) -> ElbLoadBalancers {
        let region = |r: &String| aws_config::Region::new(r.clone());
        let clients = (config.regions.iter())
            .map(|r| {
                let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(shared).region(region(r));
                (r.clone(), Client::from_conf(conf.build()))
            })
            .collect();
        let waf = (config.regions.iter())
            .map(|r| {
                let conf = aws_sdk_wafv2::config::Builder::from(shared).region(region(r));
                (r.clone(), aws_sdk_wafv2::Client::from_conf(conf.build()))
            })
            .collect();
        ElbLoadBalancers { clients, waf }
    }

    fn client(&self, region: &str) -> Result<&Client> {
        self.clients.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })
    }
}

/// An ELBv2 call's failure, as the audit reports it.
fn elb_error<E>(operation: &'static str, region: &str) -> impl FnOnce(SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| {
        service_error(&e, |code, message| Error::Audit {
            service: "ELBv2",
            operation,
            region: region.to_owned(),
            code,
            message,
        })
    }
}

impl LoadBalancers for ElbLoadBalancers {
    async fn load_balancers(&self, region: &str) -> Result<Vec<LoadBalancer>> {
        let pages = (self.client(region)?.describe_load_balancers().into_paginator().send())
            .try_collect()
            .await
            .map_err(elb_error("DescribeLoadBalancers", region))?;
        let found = pages.iter().flat_map(|page| page.load_balancers());
        Ok(found.filter_map(load_balancer_of).collect())
    }

    async fn listeners(&self, region: &str, arn: &str) -> Result<Vec<Listener>> {
        let client = self.client(region)?;
        let mut listeners = Vec::new();
        for listener in sdk_listeners(client, region, arn).await? {
            let rules = match listener.listener_arn() {
                Some(listener_arn) => self.rules(client, region, listener_arn).await?,
                None => Vec::new(),
            };
            listeners.push(listener_of(&listener, rules));
        }
        Ok(listeners)
    }

    async fn web_acl(&self, region: &str, arn: &str) -> Result<Option<WebAcl>> {
        let client = self.waf.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })?;
        web_acls::for_resource(client, region, arn).await
    }
}

impl ElbLoadBalancers {
    /// The rules of a listener other than its default.
    async fn rules(&self, client: &Client, region: &str, listener_arn: &str) -> Result<Vec<ListenerRule>> {
        Ok(sdk_rules(client, region, listener_arn)
            .await?
            .iter()
            .map(rule_of)
            .collect())
    }
}

/// The listeners of load balancer `arn`, as ELBv2 answers them (DescribeListeners, every page).
async fn sdk_listeners(client: &Client, region: &str, arn: &str) -> Result<Vec<SdkListener>> {
    let pages = (client
        .describe_listeners()
        .load_balancer_arn(arn)
        .into_paginator()
        .send())
    .try_collect()
    .await
    .map_err(elb_error("DescribeListeners", region))?;
    Ok(pages.iter().flat_map(|page| page.listeners()).cloned().collect())
}

/// The rules of a listener other than its default, as ELBv2 answers them (DescribeRules, every page: ELBv2 pages
/// it by marker).
async fn sdk_rules(client: &Client, region: &str, listener_arn: &str) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    let mut marker = None;
    loop {
        let page = (client.describe_rules().listener_arn(listener_arn).set_marker(marker))
            .send()
            .await
            .map_err(elb_error("DescribeRules", region))?;
        rules.extend(page.rules().iter().filter(|r| r.is_default() != Some(true)).cloned());
        marker = page.next_marker().filter(|m| !m.is_empty()).map(str::to_owned);
        if marker.is_none() {
            return Ok(rules);
        }
    }
}

/// The values of `rule`'s `http-header` condition on `header`, if it has one.
fn header_values(rule: &Rule, header: &str) -> Option<Vec<Secret>> {
    let config = (rule.conditions().iter())
        .filter_map(RuleCondition::http_header_config)
        .find(|c| c.http_header_name().is_some_and(|n| n.eq_ignore_ascii_case(header)))?;
    Some(config.values().iter().map(Secret::new).collect())
}

/// `rule`'s conditions with its condition on `header` comparing `values` (the others as read, each given by its
/// configuration alone: ModifyRule refuses a condition given both ways).
fn conditions_with(rule: &Rule, header: &str, values: &[Secret]) -> Vec<RuleCondition> {
    let on_header = |c: &RuleCondition| {
        (c.http_header_config()).is_some_and(|h| h.http_header_name().is_some_and(|n| n.eq_ignore_ascii_case(header)))
    };
    (rule.conditions().iter())
        .map(|c| {
            let mut c = c.clone();
            if on_header(&c) {
                let name = c
                    .http_header_config()
                    .and_then(|h| h.http_header_name())
                    .unwrap_or(header)
                    .to_owned();
                let values = values.iter().map(|v| v.reveal().to_owned()).collect();
                c.http_header_config = Some(
                    HttpHeaderConditionConfig::builder()
                        .http_header_name(name)
                        .set_values(Some(values))
                        .build(),
                );
            }
            let configured = c.http_header_config.is_some()
                || c.path_pattern_config.is_some()
                || c.host_header_config.is_some()
                || c.query_string_config.is_some()
                || c.http_request_method_config.is_some()
                || c.source_ip_config.is_some();
            if configured {
                c.values = None;
            }
            c
        })
        .collect()
}

impl SecretChecks for ElbLoadBalancers {
    async fn named_load_balancers(&self, region: &str) -> Result<Vec<(String, String)>> {
        let found = LoadBalancers::load_balancers(self, region).await?;
        Ok(found.into_iter().map(|lb| (lb.dns_name, lb.arn)).collect())
    }

    async fn header_rules(&self, region: &str, arn: &str, header: &str) -> Result<Vec<HeaderRule>> {
        let client = self.client(region)?;
        let mut found = Vec::new();
        let listeners = sdk_listeners(client, region, arn).await?;
        for listener in listeners.iter().filter_map(|l| l.listener_arn()) {
            for rule in sdk_rules(client, region, listener).await? {
                if let (Some(values), Some(rule_arn)) = (header_values(&rule, header), rule.rule_arn()) {
                    found.push(HeaderRule {
                        arn: rule_arn.to_owned(),
                        values,
                    });
                }
            }
        }
        Ok(found)
    }

    async fn set_rule_values(&self, region: &str, rule: &str, header: &str, values: &[Secret]) -> Result<()> {
        let client = self.client(region)?;
        let read =
            (client.describe_rules().rule_arns(rule).send().await).map_err(elb_error("DescribeRules", region))?;
        let Some(current) = read.rules().first() else {
            return Ok(());
        };
        let conditions = conditions_with(current, header, values);
        (client
            .modify_rule()
            .rule_arn(rule)
            .set_conditions(Some(conditions))
            .send()
            .await)
            .map_err(elb_error("ModifyRule", region))?;
        Ok(())
    }

    async fn acl_checking(&self, region: &str, arn: &str, header: &str, value: &Secret) -> Result<Option<String>> {
        let Some(acl) = LoadBalancers::web_acl(self, region, arn).await? else {
            return Ok(None);
        };
        let checks = |s: &Statement| match s {
            Statement::HeaderEquals { header: h, value: v } | Statement::NotHeaderEquals { header: h, value: v } => {
                h.eq_ignore_ascii_case(header) && v.equals(value)
            }
            Statement::Other(_) => false,
        };
        Ok(acl.rules.iter().any(|r| checks(&r.statement)).then_some(acl.name))
    }

    async fn accept_in_acl(
        &self,
        region: &str,
        arn: &str,
        header: &str,
        values: (&Secret, &Secret),
        keep_from: bool,
    ) -> Result<bool> {
        let client = self.waf.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })?;
        web_acls::rotate_for_resource(client, arn, header, values, keep_from).await
    }
}

/// Whether `actions` forward to a target (`forward`, after an `authenticate-…` or not).
fn forwards(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| a.r#type().is_some_and(|t| t.as_str() == "forward"))
}

/// A listener as the audit judges it.
fn listener_of(listener: &SdkListener, rules: Vec<ListenerRule>) -> Listener {
    let mutual = listener.mutual_authentication();
    Listener {
        arn: listener.listener_arn().unwrap_or_default().to_owned(),
        port: listener.port().and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
        protocol: listener.protocol().map_or("", |p| p.as_str()).to_owned(),
        default_forwards: forwards(listener.default_actions()),
        rules,
        mutual_authentication: mutual.and_then(|m| m.mode()).map(str::to_owned),
        trust_store: mutual.and_then(|m| m.trust_store_arn()).is_some_and(|a| !a.is_empty()),
    }
}

/// A rule as the audit judges it: its priority, whether it forwards, its conditions.
fn rule_of(rule: &Rule) -> ListenerRule {
    ListenerRule {
        priority: rule.priority().unwrap_or_default().to_owned(),
        forwards: forwards(rule.actions()),
        conditions: rule.conditions().iter().map(condition_of).collect(),
    }
}

/// A condition: an `http-header` one with its values as secrets; any other named by its field and values.
fn condition_of(condition: &RuleCondition) -> Condition {
    let field = condition.field().unwrap_or_default();
    if let Some(header) = condition.http_header_config() {
        return Condition::Header {
            name: header.http_header_name().unwrap_or_default().to_owned(),
            values: header.values().iter().map(Secret::new).collect(),
            regex: !header.regex_values().is_empty(),
        };
    }
    let values: Vec<&str> = match condition.path_pattern_config() {
        Some(path) => path
            .values()
            .iter()
            .chain(path.regex_values())
            .map(String::as_str)
            .collect(),
        None => condition.values().iter().map(String::as_str).collect(),
    };
    let field = match field {
        "path-pattern" => "path",
        "host-header" => "host",
        other => other,
    };
    Condition::Other(match values.is_empty() {
        true => field.to_owned(),
        false => format!("{field} {}", values.join(",")),
    })
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
        arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
        listeners: Vec::new(),
        web_acl: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{
        ActionTypeEnum, HttpHeaderConditionConfig, IpAddressType, LoadBalancerTypeEnum,
    };

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

    #[test]
    fn a_listener_keeps_its_mutual_tls_and_what_its_default_and_rules_forward_with_header_values_unshown() {
        use aws_sdk_elasticloadbalancingv2::types::{MutualAuthenticationAttributes, ProtocolEnum};
        let forward = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("tg")
            .build();
        let refuse = Action::builder().r#type(ActionTypeEnum::FixedResponse).build();
        let mutual = |mode: &str, store: Option<&str>| {
            MutualAuthenticationAttributes::builder()
                .mode(mode)
                .set_trust_store_arn(store.map(str::to_owned))
                .build()
        };
        let listener = |default: &Action, mutual| {
            SdkListener::builder()
                .listener_arn("arn:listener")
                .port(443)
                .protocol(ProtocolEnum::Https)
                .default_actions(default.clone())
                .set_mutual_authentication(mutual)
                .build()
        };
        let header = HttpHeaderConditionConfig::builder()
            .http_header_name("X-Origin-Verify")
            .values("s3cr3t")
            .build();
        let rule = Rule::builder()
            .priority("5")
            .conditions(
                RuleCondition::builder()
                    .field("http-header")
                    .http_header_config(header)
                    .build(),
            )
            .conditions(RuleCondition::builder().field("path-pattern").values("/api/*").build())
            .actions(forward.clone())
            .build();
        let verified = listener_of(
            &listener(&refuse, Some(mutual("verify", Some("arn:ts")))),
            vec![rule_of(&rule)],
        );
        assert_eq!(
            (
                verified.port,
                verified.protocol.as_str(),
                verified.default_forwards,
                verified.trust_store
            ),
            (443, "HTTPS", false, true)
        );
        assert_eq!(verified.mutual_authentication.as_deref(), Some("verify"));
        assert_eq!(
            verified.rules,
            [ListenerRule {
                priority: "5".to_owned(),
                forwards: true,
                conditions: vec![
                    Condition::Header {
                        name: "X-Origin-Verify".to_owned(),
                        values: vec![Secret::new("s3cr3t")],
                        regex: false
                    },
                    Condition::Other("path /api/*".to_owned()),
                ],
            }]
        );
        assert!(!format!("{verified:?}").contains("s3cr3t"));
        let passthrough = listener_of(&listener(&forward, Some(mutual("passthrough", None))), Vec::new());
        assert_eq!(
            (
                passthrough.default_forwards,
                passthrough.mutual_authentication.as_deref(),
                passthrough.trust_store
            ),
            (true, Some("passthrough"), false)
        );
        assert_eq!(
            listener_of(&listener(&forward, None), Vec::new()).mutual_authentication,
            None
        );
    }
}
