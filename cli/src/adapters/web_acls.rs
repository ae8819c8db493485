//! The web ACL associated with a load balancer, over `aws-sdk-wafv2`: GetWebACLForResource (it answers the whole
//! web ACL, its rules with it). A byte match's search string is kept as a [`Secret`]: compared by the audit,
//! never shown.

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::{
    ByteMatchStatement, PositionalConstraint, Rule, Statement as SdkStatement, TextTransformationType,
    WebAcl as SdkWebAcl,
};
use cloudfront_sg_sync::adapters::aws::service_error;
use cloudfront_sg_sync::domain::origin_side::{AclAction, AclRule, Secret, Statement, WebAcl};
use cloudfront_sg_sync::{Error, Result};

/// The web ACL associated with the resource `arn` of `region`, if any.
pub async fn for_resource(client: &Client, region: &str, arn: &str) -> Result<Option<WebAcl>> {
    let answer = client
        .get_web_acl_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| {
            service_error(&e, |code, message| Error::Audit {
                service: "WAFv2",
                operation: "GetWebACLForResource",
                region: region.to_owned(),
                code,
                message,
            })
        })?;
    Ok(answer.web_acl().map(web_acl_of))
}

/// A web ACL as the audit judges it: its default action, its rules in priority order (Firewall Manager's rule
/// groups, evaluated around them, as one rule group each).
pub fn web_acl_of(acl: &SdkWebAcl) -> WebAcl {
    let mut rules: Vec<&Rule> = acl.rules().iter().collect();
    rules.sort_by_key(|r| r.priority());
    let manager = |name: &str| AclRule {
        name: name.to_owned(),
        action: AclAction::RuleGroup,
        statement: Statement::Other("a Firewall Manager rule group".to_owned()),
    };
    let before = acl
        .pre_process_firewall_manager_rule_groups()
        .iter()
        .map(|g| manager(g.name()));
    let after = acl
        .post_process_firewall_manager_rule_groups()
        .iter()
        .map(|g| manager(g.name()));
    WebAcl {
        name: acl.name().to_owned(),
        default_allow: acl.default_action().is_some_and(|d| d.allow().is_some()),
        rules: before.chain(rules.into_iter().map(rule_of)).chain(after).collect(),
    }
}

/// A rule: what it does and, as far as the audit judges it, what it matches.
fn rule_of(rule: &Rule) -> AclRule {
    let action = match (rule.action(), rule.override_action()) {
        (Some(a), _) if a.allow().is_some() => AclAction::Allow,
        (Some(a), _) if a.count().is_some() => AclAction::Count,
        (Some(_), _) => AclAction::Block,
        (None, _) => AclAction::RuleGroup,
    };
    AclRule {
        name: rule.name().to_owned(),
        action,
        statement: rule
            .statement()
            .map_or(Statement::Other("no statement".to_owned()), statement_of),
    }
}

/// A statement the audit judges: a byte match on one header, exactly, untransformed, or its `NOT`.
fn statement_of(statement: &SdkStatement) -> Statement {
    if let Some((header, value)) = statement.byte_match_statement().and_then(header_equals) {
        return Statement::HeaderEquals { header, value };
    }
    let negated = statement.not_statement().and_then(|n| n.statement());
    if let Some((header, value)) = negated.and_then(|s| s.byte_match_statement()).and_then(header_equals) {
        return Statement::NotHeaderEquals { header, value };
    }
    Statement::Other("another statement".to_owned())
}

/// The header and value of a byte match `EXACTLY` on a single header with no text transformation.
fn header_equals(byte_match: &ByteMatchStatement) -> Option<(String, Secret)> {
    let header = byte_match.field_to_match()?.single_header()?.name().to_owned();
    let untransformed = (byte_match.text_transformations().iter()).all(|t| *t.r#type() == TextTransformationType::None);
    let exactly = *byte_match.positional_constraint() == PositionalConstraint::Exactly;
    let value = String::from_utf8(byte_match.search_string().as_ref().to_vec()).ok()?;
    (untransformed && exactly).then(|| (header, Secret::new(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_wafv2::primitives::Blob;
    use aws_sdk_wafv2::types::{
        AllowAction, BlockAction, DefaultAction, FieldToMatch, FirewallManagerRuleGroup, ManagedRuleGroupStatement,
        NotStatement, OverrideAction, RuleAction, SingleHeader, TextTransformation, VisibilityConfig,
    };

    fn visibility() -> VisibilityConfig {
        (VisibilityConfig::builder()
            .sampled_requests_enabled(false)
            .cloud_watch_metrics_enabled(false))
        .metric_name("m")
        .build()
        .unwrap()
    }

    fn byte_match(value: &str, transformation: TextTransformationType, position: PositionalConstraint) -> SdkStatement {
        let header = SingleHeader::builder().name("x-origin-verify").build().unwrap();
        let transformation = TextTransformation::builder()
            .priority(0)
            .r#type(transformation)
            .build()
            .unwrap();
        let matches = ByteMatchStatement::builder()
            .search_string(Blob::new(value))
            .field_to_match(FieldToMatch::builder().single_header(header).build())
            .text_transformations(transformation)
            .positional_constraint(position)
            .build()
            .unwrap();
        SdkStatement::builder().byte_match_statement(matches).build()
    }

    fn rule(name: &str, priority: i32, statement: SdkStatement, action: Option<RuleAction>) -> Rule {
        let override_action = action.is_none().then(|| OverrideAction::builder().build());
        (Rule::builder().name(name).priority(priority).statement(statement))
            .set_action(action)
            .set_override_action(override_action)
            .visibility_config(visibility())
            .build()
            .unwrap()
    }

    #[test]
    fn a_web_acl_keeps_its_rules_in_priority_order_judging_only_exact_untransformed_header_matches() {
        let none = TextTransformationType::None;
        let exact = byte_match("s3cr3t", none.clone(), PositionalConstraint::Exactly);
        let not = SdkStatement::builder()
            .not_statement(NotStatement::builder().statement(exact.clone()).build())
            .build();
        let lowered = byte_match(
            "s3cr3t",
            TextTransformationType::Lowercase,
            PositionalConstraint::Exactly,
        );
        let contains = byte_match("s3cr3t", none, PositionalConstraint::Contains);
        let managed = ManagedRuleGroupStatement::builder()
            .vendor_name("AWS")
            .name("AWSManagedRulesCommonRuleSet")
            .build()
            .unwrap();
        let managed = SdkStatement::builder().managed_rule_group_statement(managed).build();
        let allow = || Some(RuleAction::builder().allow(AllowAction::builder().build()).build());
        let block = || Some(RuleAction::builder().block(BlockAction::builder().build()).build());
        let fms = FirewallManagerRuleGroup::builder()
            .name("fms")
            .priority(0)
            .firewall_manager_statement(aws_sdk_wafv2::types::FirewallManagerStatement::builder().build())
            .override_action(OverrideAction::builder().build())
            .visibility_config(visibility())
            .build()
            .unwrap();
        let acl = SdkWebAcl::builder()
            .name("protect")
            .id("1")
            .arn("arn:acl")
            .default_action(DefaultAction::builder().block(BlockAction::builder().build()).build())
            .rules(rule("contains", 4, contains, allow()))
            .rules(rule("exact", 1, exact, allow()))
            .rules(rule("not", 2, not, block()))
            .rules(rule("lowered", 3, lowered, allow()))
            .rules(rule("managed", 5, managed, None))
            .pre_process_firewall_manager_rule_groups(fms)
            .visibility_config(visibility())
            .build()
            .unwrap();
        let read = web_acl_of(&acl);
        let other = || Statement::Other("another statement".to_owned());
        let secret = || Secret::new("s3cr3t");
        let header = || "x-origin-verify".to_owned();
        let expected = [
            (
                "fms",
                AclAction::RuleGroup,
                Statement::Other("a Firewall Manager rule group".to_owned()),
            ),
            (
                "exact",
                AclAction::Allow,
                Statement::HeaderEquals {
                    header: header(),
                    value: secret(),
                },
            ),
            (
                "not",
                AclAction::Block,
                Statement::NotHeaderEquals {
                    header: header(),
                    value: secret(),
                },
            ),
            ("lowered", AclAction::Allow, other()),
            ("contains", AclAction::Allow, other()),
            ("managed", AclAction::RuleGroup, other()),
        ];
        let expected: Vec<AclRule> = (expected.into_iter())
            .map(|(name, action, statement)| AclRule {
                name: name.to_owned(),
                action,
                statement,
            })
            .collect();
        assert_eq!((read.name.as_str(), read.default_allow), ("protect", false));
        assert_eq!(read.rules, expected);
        assert!(!format!("{read:?}").contains("s3cr3t"));
    }
}
