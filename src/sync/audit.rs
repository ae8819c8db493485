//! The origin audit, read-only: every distribution (one paged read), then per scanned region at once its load
//! balancers, tagged sets and AWS's CloudFront prefix lists, then, for the load balancers that are origins,
//! their security groups and (ALBs) their listeners, rules and web ACL. The pure [`crate::domain::audit`]
//! judges what was read.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::future::try_join_all;
use futures::stream::{self, StreamExt};

use crate::config::Config;
use crate::domain::audit::{
    self, AccountsAudit, AuditReport, Distribution, Facts, LoadBalancer, RegionFacts, SyncedSet,
};
use crate::domain::ip_ranges::Selection;
use crate::domain::organization::Members;
use crate::error::Result;
use crate::ports::{Distributions, LoadBalancers, OriginGroups, SecurityGroups};

use super::discover::form_sets;

/// Audit every distribution of the account against the load balancers and security groups of
/// `config.regions`, and the sets they carry against `file` (the ranges published now; `None`: not checked). Any
/// failed read stops the audit: a partial verdict would read as a clean one.
pub async fn audit<C, L, G>(
    config: &Config,
    file: Option<&Selection>,
    cloudfront: &C,
    load_balancers: &L,
    ec2: &G,
) -> Result<AuditReport>
where
    C: Distributions,
    L: LoadBalancers,
    G: SecurityGroups + OriginGroups,
{
    let distributions = cloudfront.distributions().await?;
    tracing::info!(distributions = distributions.len(), "read the distributions");
    let reads = config
        .regions
        .iter()
        .map(|region| region_facts(region, &distributions, load_balancers, ec2));
    let regions = try_join_all(reads).await?;
    let facts = Facts {
        distributions,
        regions: config.regions.iter().cloned().zip(regions).collect(),
        file: file.cloned(),
    };
    Ok(audit::audit(&facts))
}

/// Audit every account of `members` with `audit_one` (its ports built and [`audit()`] called, through its role),
/// at most `MAX_CONCURRENCY` accounts at a time. An account that cannot be read is named in the result; the
/// others are still judged.
pub async fn audit_accounts<F, A>(config: &Config, members: &Members, audit_one: F) -> AccountsAudit
where
    F: Fn(String) -> A,
    A: Future<Output = Result<AuditReport>>,
{
    let audited: BTreeMap<String, std::result::Result<AuditReport, String>> = stream::iter(members.synced.keys())
        .map(|id| {
            let audit = audit_one(id.clone());
            async move {
                let result = audit.await.map_err(|e| e.to_string());
                if let Err(error) = &result {
                    tracing::error!(account = %id, error = %error, "cannot audit an account");
                }
                (id.clone(), result)
            }
        })
        .buffer_unordered(config.max_concurrency)
        .collect()
        .await;
    AccountsAudit::new(members, audited)
}

/// What the audit needs of `region`: the security groups are read only for load balancers that are origins.
async fn region_facts<L, G>(region: &str, distributions: &[Distribution], reader: &L, ec2: &G) -> Result<RegionFacts>
where
    L: LoadBalancers,
    G: SecurityGroups + OriginGroups,
{
    let (load_balancers, tagged, cloudfront_lists) = futures::try_join!(
        reader.load_balancers(region),
        ec2.tagged_groups(region),
        ec2.cloudfront_prefix_lists(region),
    )?;
    let origins: BTreeSet<String> = audit::origin_load_balancers(distributions, &load_balancers)
        .map(|lb| lb.arn.clone())
        .collect();
    let ids: BTreeSet<String> = (load_balancers.iter())
        .filter(|lb| origins.contains(&lb.arn))
        .flat_map(|lb| lb.security_groups.iter().cloned())
        .collect();
    let groups = async {
        match ids.is_empty() {
            true => Ok(Vec::new()),
            false => ec2.groups_with_rules(region, &ids).await,
        }
    };
    let (groups, load_balancers) = futures::try_join!(groups, origin_side(region, load_balancers, &origins, reader))?;
    let sets = form_sets(None, tagged.tagged).0.into_iter().map(|set| SyncedSet {
        groups: set.groups.into_iter().map(|g| g.id).collect(),
        key: set.key,
    });
    Ok(RegionFacts {
        load_balancers,
        sets: sets.collect(),
        groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
        cloudfront_lists,
    })
}

/// `load_balancers`, those that are `origins` (by ARN) with their listeners and rules and their web ACL: what they
/// require of a request (the others as listed). Each origin's reads go at once.
async fn origin_side<L: LoadBalancers>(
    region: &str,
    load_balancers: Vec<LoadBalancer>,
    origins: &BTreeSet<String>,
    reader: &L,
) -> Result<Vec<LoadBalancer>> {
    let read = load_balancers.into_iter().map(|mut lb| async move {
        if origins.contains(&lb.arn) && lb.kind == "application" {
            let (listeners, web_acl) =
                futures::try_join!(reader.listeners(region, &lb.arn), reader.web_acl(region, &lb.arn))?;
            (lb.listeners, lb.web_acl) = (listeners, web_acl);
        }
        Ok(lb)
    });
    try_join_all(read).await
}
