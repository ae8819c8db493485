//! Security groups as a target: [`SecurityGroups`] over `aws-sdk-ec2`, on the clients of [`Ec2`]. It turns
//! EC2's groups and rules into the core's [`Group`]/[`Rule`], writes one batch per group and port, and answers
//! a batch EC2 refuses as a duplicate (or a rule not found) by reading the group again.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::Ordering;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, ManagedPrefixList, SecurityGroup};

use super::ec2::{Ec2, code_of, filter, mark_of, name_tag_filter, tag_value};
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::security_groups::{
    self, AppliedMark, Group, PrefixListWeight, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG,
};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::Result;
use crate::ports::{Found, PortRules, SecurityGroups, TaggedGroup};

const DUPLICATE: &str = "InvalidPermission.Duplicate";

const NOT_FOUND: &str = "InvalidPermission.NotFound";

/// A group EC2 returned for the tag filters, as the core sees it. The filters already checked the tags; checking
/// again costs nothing and guards a loose emulator.
fn tagged_group(region: &str, sg: &SecurityGroup) -> Option<TaggedGroup> {
    let scope = tag(sg, "Name").and_then(Scope::from_tag_value)?;
    let id = sg.group_id()?;
    auto_update_on(tag(sg, "AutoUpdate")).then(|| TaggedGroup {
        region: region.to_owned(),
        vpc: sg.vpc_id().unwrap_or("no-vpc").to_owned(),
        scope,
        protocol: tag(sg, "Protocol").map(str::to_owned),
        mark: mark_of(tag(sg, SYNC_TOKEN_TAG)),
        group: Group {
            id: id.to_owned(),
            rules: rules_of(sg.ip_permissions()),
        },
    })
}

/// A group with a `Name` of ours whose `AutoUpdate` is not `true`, as the run names it.
fn not_synced(region: &str, sg: &SecurityGroup) -> Option<NotSynced> {
    let id = sg.group_id().unwrap_or_default();
    let kind = TargetKind::SecurityGroupSet;
    NotSynced::of(kind, region, id, tag(sg, "Name"), tag(sg, "AutoUpdate"))
}

/// A prefix list's id and weight; `None` (logged) when neither its name nor `MaxEntries` tells the weight.
fn weight_of(region: &str, list: &ManagedPrefixList) -> Option<(String, PrefixListWeight)> {
    let id = list.prefix_list_id()?;
    let version = match list.address_family() {
        Some(family) if family.eq_ignore_ascii_case("IPv6") => IpVersion::Ipv6,
        _ => IpVersion::Ipv4,
    };
    let max_entries = list.max_entries().and_then(|n| usize::try_from(n).ok());
    let Some(weight) = security_groups::prefix_list_weight(list.prefix_list_name().unwrap_or(""), max_entries) else {
        tracing::warn!(region, prefix_list = id, "prefix list has no known weight");
        return None;
    };
    Some((id.to_owned(), PrefixListWeight { version, weight }))
}

fn tag<'a>(group: &'a SecurityGroup, key: &str) -> Option<&'a str> {
    tag_value(group.tags(), key)
}

/// EC2's rules, one [`Rule`] per source, as EC2 counts them.
pub(super) fn rules_of(permissions: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in permissions {
        let rule = |source: RuleSource, description: Option<&str>| Rule {
            protocol: RuleProtocol::from_ec2(p.ip_protocol().unwrap_or("-1")),
            from_port: p.from_port(),
            to_port: p.to_port(),
            source,
            description: description.map(str::to_owned),
        };
        let cidr = |text: Option<&str>| match text.map(str::parse::<Cidr>) {
            Some(Ok(c)) => RuleSource::Cidr(c),
            // Unreadable: keep it as a rule that counts and is never ours.
            _ => RuleSource::Reference(text.unwrap_or("").to_owned()),
        };
        rules.extend(p.ip_ranges().iter().map(|r| rule(cidr(r.cidr_ip()), r.description())));
        rules.extend(
            p.ipv6_ranges()
                .iter()
                .map(|r| rule(cidr(r.cidr_ipv6()), r.description())),
        );
        rules.extend(p.prefix_list_ids().iter().map(|r| {
            rule(
                RuleSource::PrefixList(r.prefix_list_id().unwrap_or("").to_owned()),
                r.description(),
            )
        }));
        rules.extend(p.user_id_group_pairs().iter().map(|r| {
            rule(
                RuleSource::Reference(r.group_id().unwrap_or("").to_owned()),
                r.description(),
            )
        }));
    }
    rules
}

/// One tcp permission for `port` holding `cidrs`, IPv4 and IPv6 together.
fn permission(port: u16, cidrs: &BTreeSet<Cidr>, description: Option<&str>) -> IpPermission {
    let mut builder = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port));
    for cidr in cidrs {
        let text = cidr.to_string();
        builder = match cidr.version() {
            IpVersion::Ipv4 => builder.ip_ranges(
                IpRange::builder()
                    .cidr_ip(text)
                    .set_description(description.map(str::to_owned))
                    .build(),
            ),
            IpVersion::Ipv6 => builder.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(text)
                    .set_description(description.map(str::to_owned))
                    .build(),
            ),
        };
    }
    builder.build()
}

/// Rules per port, as the write calls take them.
type Rules = BTreeMap<u16, BTreeSet<Cidr>>;

/// What a batch refused with a tolerated answer still needs, once the group is read again.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Authorize: the rules the group does not hold.
    Missing,
    /// Revoke: the rules the group still holds.
    Held,
}

impl Ec2 {
    /// The (port, CIDR) of every single-port tcp rule `group` holds now, whoever made it: what EC2 answers a
    /// duplicate (or a rule not found) about.
    async fn single_port_rules(&self, region: &str, group: &str) -> Result<BTreeSet<(u16, Cidr)>> {
        let groups = self.describe_groups(region, &[group.to_owned()]).await?;
        let rules = groups.iter().flat_map(|sg| rules_of(sg.ip_permissions()));
        Ok(rules.filter_map(|r| r.single_port()).collect())
    }

    /// Send `rules` as one batch. EC2 answers a batch all or nothing: when it refuses it with `tolerated` (a
    /// duplicate, a rule already gone: another writer got there first), read the group again and send one
    /// batch of what is still `needed`. Only when that read shows no progress (it lags) or the second batch is
    /// refused too, send the rules one at a time, skipping those refused with `tolerated`. Returns how many
    /// rules were changed.
    async fn batch_or_reread<F, Fut>(
        &self,
        rules: &Rules,
        (tolerated, needed): (&'static str, Needs),
        (region, group): (&str, &str),
        call: F,
    ) -> Result<usize>
    where
        F: Fn(Rules) -> Fut,
        Fut: Future<Output = Result<usize>>,
    {
        let count = |rules: &Rules| rules.values().map(BTreeSet::len).sum::<usize>();
        match call(rules.clone()).await {
            Err(e) if code_of(&e) == Some(tolerated) && count(rules) > 1 => {}
            Err(e) if code_of(&e) == Some(tolerated) => return Ok(0),
            other => return other,
        }
        let held = self.single_port_rules(region, group).await?;
        let mut left = rules.clone();
        for (port, cidrs) in &mut left {
            cidrs.retain(|c| held.contains(&(*port, *c)) == matches!(needed, Needs::Held));
        }
        left.retain(|_, cidrs| !cidrs.is_empty());
        tracing::info!(
            region,
            group,
            code = tolerated,
            batch = count(rules),
            still_needed = count(&left),
            "batch refused; read the group again"
        );
        if left.is_empty() {
            return Ok(0);
        }
        if count(&left) < count(rules) {
            match call(left.clone()).await {
                Err(e) if code_of(&e) == Some(tolerated) => {}
                other => return other,
            }
        }
        one_at_a_time(&left, tolerated, call).await
    }
}

/// Send each rule of `rules` alone, skipping those refused with `tolerated`. Returns how many were changed.
async fn one_at_a_time<F, Fut>(rules: &Rules, tolerated: &'static str, call: F) -> Result<usize>
where
    F: Fn(Rules) -> Fut,
    Fut: Future<Output = Result<usize>>,
{
    let singles: Vec<(u16, Cidr)> = rules
        .iter()
        .flat_map(|(port, cidrs)| cidrs.iter().map(|cidr| (*port, *cidr)))
        .collect();
    let mut changed = 0;
    for (port, cidr) in singles {
        match call(Rules::from([(port, BTreeSet::from([cidr]))])).await {
            Err(e) if code_of(&e) == Some(tolerated) => {}
            other => changed += other?,
        }
    }
    Ok(changed)
}

/// The tcp permissions for `rules`, one per port, IPv4 and IPv6 together.
fn permissions(rules: &Rules, description: Option<&str>) -> Vec<IpPermission> {
    rules
        .iter()
        .map(|(port, cidrs)| permission(*port, cidrs, description))
        .collect()
}

impl SecurityGroups for Ec2 {
    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn tagged_groups(&self, region: &str) -> Result<Found<TaggedGroup>> {
        // By `Name` only: a group whose `AutoUpdate` is not `true` is named as not synced.
        let groups = self.security_groups_where(region, vec![name_tag_filter()]).await?;
        let mut found = Found::default();
        for sg in &groups {
            match (tagged_group(region, sg), not_synced(region, sg)) {
                (Some(tagged), _) => found.tagged.push(tagged),
                (None, Some(not_synced)) => found.not_synced.push(not_synced),
                (None, None) => {}
            }
        }
        Ok(found)
    }

    async fn groups_by_id(&self, region: &str, ids: &[String]) -> Result<Vec<TaggedGroup>> {
        let groups = self.describe_groups(region, ids).await?;
        Ok(groups.iter().filter_map(|sg| tagged_group(region, sg)).collect())
    }

    async fn authorize(&self, rules: &PortRules<'_>) -> Result<usize> {
        let PortRules {
            region,
            group,
            description,
            ..
        } = *rules;
        let batch = Rules::from([(rules.port, rules.cidrs.clone())]);
        let tolerated = (DUPLICATE, Needs::Missing);
        self.batch_or_reread(&batch, tolerated, (region, group), |batch| async move {
            let count = batch.values().map(BTreeSet::len).sum();
            self.call("AuthorizeSecurityGroupIngress", region, Some(group), |c, o| {
                c.authorize_security_group_ingress()
                    .group_id(group)
                    .set_ip_permissions(Some(permissions(&batch, Some(description))))
                    .customize()
                    .config_override(o)
                    .send()
            })
            .await
            .map(|_| count)
        })
        .await
    }

    async fn set_descriptions(&self, rules: &PortRules<'_>) -> Result<()> {
        let permission = permission(rules.port, rules.cidrs, Some(rules.description));
        self.call(
            "UpdateSecurityGroupRuleDescriptionsIngress",
            rules.region,
            Some(rules.group),
            |c, o| {
                c.update_security_group_rule_descriptions_ingress()
                    .group_id(rules.group)
                    .ip_permissions(permission)
                    .customize()
                    .config_override(o)
                    .send()
            },
        )
        .await
        .map(|_| ())
    }

    async fn revoke(&self, region: &str, group: &str, rules: &Rules) -> Result<usize> {
        let tolerated = (NOT_FOUND, Needs::Held);
        self.batch_or_reread(rules, tolerated, (region, group), |rules| async move {
            let output = self
                .call("RevokeSecurityGroupIngress", region, Some(group), |c, o| {
                    c.revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(permissions(&rules, None)))
                        .customize()
                        .config_override(o)
                        .send()
                })
                .await?;
            let requested: usize = rules.values().map(BTreeSet::len).sum();
            let unknown: usize = output
                .unknown_ip_permissions()
                .iter()
                .map(|p| p.ip_ranges().len() + p.ipv6_ranges().len())
                .sum();
            if unknown > 0 {
                // Already gone, by another writer or a person: the state we want, but not our doing.
                tracing::info!(region, group, unknown, "rules to revoke were already gone");
            }
            Ok(requested.saturating_sub(unknown))
        })
        .await
    }

    async fn prefix_list_weights(&self, region: &str, ids: &BTreeSet<String>) -> Result<PrefixListWeights> {
        let ids = filter("prefix-list-id", ids.iter().map(String::as_str));
        let lists = self.prefix_lists_where(region, vec![ids], Some(100)).await?;
        Ok(lists.iter().filter_map(|list| weight_of(region, list)).collect())
    }

    async fn clear_mark(&self, region: &str, groups: &[String]) -> Result<()> {
        self.delete_mark_tags(region, groups).await
    }

    async fn mark_applied(&self, region: &str, groups: &[String], mark: &AppliedMark) -> Result<()> {
        self.create_mark_tags(region, groups, mark).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{PrefixListId, UserIdGroupPair};

    #[test]
    fn every_source_of_a_permission_is_one_rule() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("13.32.0.0/15")
                    .description(format!("{}: x", security_groups::DESCRIPTION_PREFIX))
                    .build(),
            )
            .ip_ranges(IpRange::builder().cidr_ip("not a cidr").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2600:9000::/28").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-1").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let rules = rules_of(&[p, all]);
        assert_eq!(rules.len(), 6);
        assert_eq!(rules[0].ours(), Some(("13.32.0.0/15".parse().unwrap(), 443)));
        assert_eq!(rules[1].source, RuleSource::Reference("not a cidr".into()));
        assert_eq!(rules[3].source, RuleSource::PrefixList("pl-1".into()));
        assert_eq!(rules[4].source, RuleSource::Reference("sg-1".into()));
        assert_eq!(
            (rules[5].protocol.clone(), rules[5].from_port),
            (RuleProtocol::All, None)
        );
    }

    #[test]
    fn one_permission_carries_both_ip_versions() {
        let cidrs: BTreeSet<Cidr> = ["13.32.0.0/15", "2600:9000::/28"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let description = format!("{}: t", security_groups::DESCRIPTION_PREFIX);
        let p = permission(443, &cidrs, Some(&description));
        assert_eq!(
            (p.ip_protocol(), p.from_port(), p.to_port()),
            (Some("tcp"), Some(443), Some(443))
        );
        assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("13.32.0.0/15"));
        assert_eq!(p.ipv6_ranges()[0].cidr_ipv6(), Some("2600:9000::/28"));
        assert_eq!(p.ipv6_ranges()[0].description(), Some(description.as_str()));
    }
}
