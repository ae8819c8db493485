//! The web ACL associated with a load balancer, over `aws-sdk-wafv2`: GetWebACLForResource (it answers the whole
//! web ACL, its rules with it). A byte match's search string is kept as a [`Secret`]: compared by the audit,
//! never shown. For the rotation of the origin secret, the byte matches on its header are widened to the current
//! and the pending value (an OR of both), then narrowed to the new one (UpdateWebACL at the lock token read).

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::error::ProvideErrorMetadata;
use aws_sdk_wafv2::types::{
    ByteMatchStatement, OrStatement, PositionalConstraint, Rule, Scope, Statement as SdkStatement,
    TextTransformationType, WebAcl as SdkWebAcl,
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

/// Whether `statement` is an exact untransformed byte match of `value` on `header`.
fn matches_exactly(statement: &SdkStatement, header: &str, value: &Secret) -> bool {
    let found = statement.byte_match_statement().and_then(header_equals);
    found.is_some_and(|(h, v)| h.eq_ignore_ascii_case(header) && v.equals(value))
}

/// `statement` with its byte match searching `value` instead.
fn searching(statement: &SdkStatement, value: &Secret) -> SdkStatement {
    let mut statement = statement.clone();
    if let Some(byte_match) = statement.byte_match_statement.as_mut() {
        byte_match.search_string = aws_sdk_wafv2::primitives::Blob::new(value.reveal());
    }
    statement
}

/// `statement` (and the statements it nests) accepting `to` beside `from` wherever it matches exactly `from` on
/// `header` (`widen`), or accepting only `to` where it accepts `from` or `to` (narrow). Whether it changed.
pub fn rotate_statement(
    statement: &mut SdkStatement,
    header: &str,
    (from, to): (&Secret, &Secret),
    widen: bool,
) -> bool {
    if widen && matches_exactly(statement, header, from) {
        let or = OrStatement::builder()
            .statements(statement.clone())
            .statements(searching(statement, to))
            .build();
        *statement = SdkStatement::builder().set_or_statement(or.ok()).build();
        return true;
    }
    if let Some(or) = statement.or_statement.as_mut() {
        let holds = |value| or.statements.iter().any(|s| matches_exactly(s, header, value));
        if holds(from) && holds(to) {
            // Both values accepted: widened already; narrowed to `to` when the OR is only those two.
            if widen || or.statements.len() != 2 {
                return false;
            }
            let kept = or.statements.iter().find(|s| matches_exactly(s, header, to)).cloned();
            *statement = kept.unwrap_or_else(|| statement.clone());
            return true;
        }
        let mut changed = false;
        for nested in &mut or.statements {
            changed |= rotate_statement(nested, header, (from, to), widen);
        }
        return changed;
    }
    match statement.not_statement.as_mut().and_then(|n| n.statement.as_mut()) {
        Some(nested) => rotate_statement(nested, header, (from, to), widen),
        None => false,
    }
}

/// The web ACL associated with `arn` accepting `to` beside `from` (`widen`) or only `to`, written back at its lock
/// token with every mutable field as read (read again, up to twice, if another writer moved it). Whether it
/// changed.
pub async fn rotate_for_resource(
    client: &Client,
    arn: &str,
    header: &str,
    values: (&Secret, &Secret),
    widen: bool,
) -> Result<bool> {
    // A lock conflict (another writer) is read again twice; a third is the error.
    let mut attempt = 0;
    loop {
        let Some(summary) = (client.get_web_acl_for_resource().resource_arn(arn).send().await)
            .map_err(|e| rotation_error("GetWebACLForResource", &e))?
            .web_acl
        else {
            return Ok(false);
        };
        let read = (client
            .get_web_acl()
            .name(summary.name())
            .id(summary.id())
            .scope(Scope::Regional)
            .send()
            .await)
            .map_err(|e| rotation_error("GetWebACL", &e))?;
        let (Some(mut acl), Some(lock)) = (read.web_acl, read.lock_token) else {
            return Ok(false);
        };
        let mut changed = false;
        for rule in acl.rules.iter_mut().flatten() {
            if let Some(statement) = rule.statement.as_mut() {
                changed |= rotate_statement(statement, header, values, widen);
            }
        }
        if !changed {
            return Ok(false);
        }
        match update(client, &acl, &lock).await {
            Err(e) if e.code() == Some("WAFOptimisticLockException") && attempt < 2 => attempt += 1,
            Err(e) => return Err(rotation_error("UpdateWebACL", &e)),
            Ok(_) => return Ok(true),
        }
    }
}

/// UpdateWebACL of `acl` as it is now, every mutable field passed (those left out would be reset).
async fn update(
    client: &Client,
    acl: &SdkWebAcl,
    lock: &str,
) -> std::result::Result<
    aws_sdk_wafv2::operation::update_web_acl::UpdateWebAclOutput,
    aws_sdk_wafv2::error::SdkError<aws_sdk_wafv2::operation::update_web_acl::UpdateWebACLError>,
> {
    (client.update_web_acl())
        .name(acl.name())
        .id(acl.id())
        .scope(Scope::Regional)
        .lock_token(lock)
        .set_default_action(acl.default_action.clone())
        .set_description(acl.description.clone())
        .set_rules(acl.rules.clone())
        .set_visibility_config(acl.visibility_config.clone())
        .set_data_protection_config(acl.data_protection_config.clone())
        .set_custom_response_bodies(acl.custom_response_bodies.clone())
        .set_captcha_config(acl.captcha_config.clone())
        .set_challenge_config(acl.challenge_config.clone())
        .set_token_domains(acl.token_domains.clone())
        .set_association_config(acl.association_config.clone())
        .send()
        .await
}

/// A WAFv2 call of the rotation that failed.
fn rotation_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    e: &aws_sdk_wafv2::error::SdkError<E>,
) -> Error {
    service_error(e, |code, message| Error::RotationCall {
        service: "WAFv2",
        operation,
        code,
        message,
    })
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

    #[test]
    fn a_byte_match_of_the_old_value_accepts_both_then_only_the_new_one_inside_a_not_too_and_never_twice() {
        let (old, new) = (Secret::new("old-value"), Secret::new("new-value"));
        let exact = byte_match("old-value", TextTransformationType::None, PositionalConstraint::Exactly);
        let values = |s: &SdkStatement| -> Vec<String> {
            let or = s
                .or_statement()
                .map(|o| o.statements().to_vec())
                .unwrap_or_else(|| vec![s.clone()]);
            or.iter()
                .map(|m| {
                    String::from_utf8(m.byte_match_statement().unwrap().search_string().as_ref().to_vec()).unwrap()
                })
                .collect()
        };
        for negated in [false, true] {
            let mut statement = match negated {
                true => SdkStatement::builder()
                    .not_statement(NotStatement::builder().statement(exact.clone()).build())
                    .build(),
                false => exact.clone(),
            };
            let inner = |s: &SdkStatement| match negated {
                true => s.not_statement().unwrap().statement().unwrap().clone(),
                false => s.clone(),
            };
            assert!(rotate_statement(&mut statement, "X-Origin-Verify", (&old, &new), true));
            assert_eq!(values(&inner(&statement)), ["old-value", "new-value"]);
            assert!(
                !rotate_statement(&mut statement, "X-Origin-Verify", (&old, &new), true),
                "widened once"
            );
            assert!(rotate_statement(&mut statement, "x-origin-verify", (&old, &new), false));
            assert_eq!(values(&inner(&statement)), ["new-value"]);
            assert!(
                !rotate_statement(&mut statement, "X-Origin-Verify", (&old, &new), false),
                "narrowed once"
            );
        }
        let mut other = byte_match("other", TextTransformationType::None, PositionalConstraint::Exactly);
        assert!(
            !rotate_statement(&mut other, "X-Origin-Verify", (&old, &new), true),
            "not this secret's check"
        );
    }
}
