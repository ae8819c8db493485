//! The fake of [`IpSets`]: WAF IP sets with lock tokens (an update at a stale one answers
//! `WAFOptimisticLockException`), another writer's addresses, and a set that is gone.

use std::collections::{BTreeMap, BTreeSet};

use super::{FakeEc2, Op};
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::ip_sets::IpSet;
use crate::domain::security_groups::{AppliedMark, MarkTag, SYNC_TOKEN_TAG};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::{Error, Result};
use crate::ports::{Found, IpSets, TaggedIpSet, WafScope};

/// A WAF IP set held in memory.
#[derive(Debug, Clone)]
pub struct FakeIpSet {
    pub region: String,
    pub waf_scope: WafScope,
    pub tags: BTreeMap<String, String>,
    pub family: IpVersion,
    pub description: Option<String>,
    pub addresses: BTreeSet<Cidr>,
    /// Its lock token: every change moves it on.
    pub lock: u64,
}

impl FakeEc2 {
    /// Add a WAF IP set `name` (its id `id-<name>`) with these tags, version and addresses.
    pub fn add_ip_set(
        &self,
        name: &str,
        (region, waf_scope): (&str, WafScope),
        tags: &[(&str, &str)],
        family: IpVersion,
        addresses: BTreeSet<Cidr>,
    ) {
        let set = FakeIpSet {
            region: region.to_owned(),
            waf_scope,
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            family,
            description: Some(format!("{name} set")),
            addresses,
            lock: 1,
        };
        self.state().ip_sets.insert(name.to_owned(), set);
    }

    /// An IP set as it is now.
    pub fn ip_set(&self, name: &str) -> Option<FakeIpSet> {
        self.state().ip_sets.get(name).cloned()
    }

    /// Before the next update of IP set `name`: another writer replaces its addresses with `addresses`, moving
    /// its lock token on (so our update, made with the token we read, fails with `WAFOptimisticLockException`).
    /// Once per call of this.
    pub fn interfere_with_ip_set(&self, name: &str, addresses: BTreeSet<Cidr>) {
        self.state().ip_set_interference.push((name.to_owned(), addresses));
    }

    /// [`FakeEc2::enter`] for a WAF call: an injected failure is a WAF error.
    async fn enter_waf(&self, op: Op, region: &str, name: Option<&str>) -> Result<()> {
        self.enter(op, region, name).await.map_err(|e| match e {
            Error::Ec2 {
                region,
                group,
                code,
                message,
                ..
            } => Error::Waf {
                operation: "fake",
                region,
                ip_set: group,
                code,
                message,
            },
            other => other,
        })
    }
}

fn tagged_ip_set(name: &str, s: &FakeIpSet) -> Option<TaggedIpSet> {
    let scope = s.tags.get("Name").and_then(|v| Scope::from_tag_value(v))?;
    auto_update_on(s.tags.get("AutoUpdate").map(String::as_str)).then(|| TaggedIpSet {
        region: s.region.clone(),
        waf_scope: s.waf_scope,
        scope,
        lock_token: s.lock.to_string(),
        arn: format!("arn:aws:wafv2:{}:000000000000:ipset/{name}", s.region),
        mark: s.tags.get(SYNC_TOKEN_TAG).map(|v| MarkTag::read(v)),
        set: IpSet {
            name: name.to_owned(),
            id: format!("id-{name}"),
            family: s.family,
            description: s.description.clone(),
            addresses: s.addresses.clone(),
        },
    })
}

impl IpSets for FakeEc2 {
    async fn tagged_ip_sets(&self, region: &str, waf_scope: WafScope) -> Result<Found<TaggedIpSet>> {
        self.enter_waf(Op::IpSets, region, None).await?;
        let state = self.state();
        let of_scope = state
            .ip_sets
            .iter()
            .filter(|(_, s)| s.region == region && s.waf_scope == waf_scope);
        let not_synced = of_scope.clone().filter_map(|(name, s)| {
            let tag = |key: &str| s.tags.get(key).map(String::as_str);
            let id = format!("{}/{name}", waf_scope.as_str());
            NotSynced::of(TargetKind::WafIpSet, region, &id, tag("Name"), tag("AutoUpdate"))
        });
        Ok(Found {
            not_synced: not_synced.collect(),
            tagged: of_scope.filter_map(|(name, s)| tagged_ip_set(name, s)).collect(),
        })
    }

    async fn ip_set(&self, tagged: &TaggedIpSet) -> Result<Option<TaggedIpSet>> {
        self.enter_waf(Op::IpSetRead, &tagged.region, Some(&tagged.set.name))
            .await?;
        let state = self.state();
        let name = &tagged.set.name;
        Ok(state.ip_sets.get(name).and_then(|s| tagged_ip_set(name, s)))
    }

    async fn update(&self, tagged: &TaggedIpSet, addresses: &BTreeSet<Cidr>) -> Result<()> {
        let name = &tagged.set.name;
        self.enter_waf(Op::IpSetUpdate, &tagged.region, Some(name)).await?;
        let mut state = self.state();
        let interference = state.ip_set_interference.iter().position(|(n, _)| n == name);
        let interference = interference.map(|i| state.ip_set_interference.remove(i));
        let Some(set) = state.ip_sets.get_mut(name) else {
            return Err(waf_error(tagged, "WAFNonexistentItemException"));
        };
        if let Some((_, theirs)) = interference {
            set.addresses = theirs;
            set.lock += 1;
        }
        if set.lock.to_string() != tagged.lock_token {
            return Err(waf_error(tagged, "WAFOptimisticLockException"));
        }
        assert!(
            addresses.iter().all(|c| c.version() == set.family),
            "{name}: another family"
        );
        set.addresses = addresses.clone();
        set.lock += 1;
        Ok(())
    }

    async fn clear_mark(&self, tagged: &TaggedIpSet) -> Result<()> {
        self.enter_waf(Op::Untag, &tagged.region, Some(&tagged.set.name))
            .await?;
        if let Some(set) = self.state().ip_sets.get_mut(&tagged.set.name) {
            set.tags.remove(SYNC_TOKEN_TAG);
        }
        Ok(())
    }

    async fn mark_applied(&self, tagged: &TaggedIpSet, mark: &AppliedMark) -> Result<()> {
        let name = &tagged.set.name;
        self.enter_waf(Op::Tag, &tagged.region, Some(name)).await?;
        let mut state = self.state();
        let Some(set) = state.ip_sets.get_mut(name) else {
            return Err(waf_error(tagged, "WAFNonexistentItemException"));
        };
        set.tags.insert(SYNC_TOKEN_TAG.to_owned(), mark.to_string());
        Ok(())
    }
}

fn waf_error(tagged: &TaggedIpSet, code: &str) -> Error {
    Error::Waf {
        operation: "UpdateIPSet",
        region: tagged.region.clone(),
        ip_set: Some(tagged.set.name.clone()),
        code: code.to_owned(),
        message: format!("{code} from the fake"),
    }
}
