//! Test support: in-memory fakes of the ports, one per port in a file of the port's name, for fast tests of
//! [`crate::sync`] with no emulator. They share one in-memory account, [`FakeEc2`] (as the sync's
//! [`crate::ports::Account`] takes one EC2 adapter for groups, interfaces and lists, like
//! [`crate::adapters::ec2::Ec2`]): its call log, injected failures and latency (on tokio's clock, so tests
//! pause time), lagging reads and deletions are here; each port's state and behaviour in its file.
//!
//! - [`security_groups`]: groups and their rules, another writer's interference.
//! - [`prefix_lists`]: customer-managed prefix lists, their versions and states.
//! - [`ip_sets`]: WAF IP sets and their lock tokens.
//! - [`network_interfaces`]: the interfaces that carry groups.
//! - [`origin_groups`]: what the origin audit reads.
//! - [`notification`]: a topic keeping every message published.
//! - [`organization`]: an organization's OUs and accounts, each account with its own [`FakeEc2`].
//! - [`ranges`]: `ip-ranges.json` bodies ([`FakeSource`]).

mod ip_sets;
mod network_interfaces;
mod notification;
mod organization;
mod origin_groups;
mod prefix_lists;
mod ranges;
mod security_groups;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::attachment::Interface;
use crate::domain::cidr::Cidr;
use crate::domain::prefix_lists::Entry;
use crate::domain::security_groups::{PrefixListWeights, Rule};
use crate::error::{Error, Result};

pub use ip_sets::FakeIpSet;
pub use notification::FakeTopic;
pub use organization::FakeOrganization;
pub use prefix_lists::FakeList;
pub use ranges::FakeSource;
pub use security_groups::{FakeGroup, our_rule};

use security_groups::Interference;

/// What the fake was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Describe,
    Authorize,
    Revoke,
    Tag,
    /// DeleteTags / UntagResource of the file applied.
    Untag,
    PrefixLists,
    Interfaces,
    /// DescribeManagedPrefixLists of the tagged lists of a region (and their entries).
    Lists,
    /// DescribeManagedPrefixLists of one list, for its state.
    ListState,
    /// DescribeManagedPrefixLists and entries of one list, read again.
    ListRead,
    /// ModifyManagedPrefixList of entries.
    Modify,
    /// ModifyManagedPrefixList of MaxEntries.
    Grow,
    /// DescribeSecurityGroups of every group, for the rules that reference tagged lists.
    ListReferences,
    /// ListIPSets (with tags and addresses) of a region and WAF scope.
    IpSets,
    /// GetIPSet of one IP set, read again.
    IpSetRead,
    /// UpdateIPSet.
    IpSetUpdate,
    /// DescribeSecurityGroups of a load balancer's groups, every rule (the audit).
    OriginGroups,
    /// DescribeManagedPrefixLists of AWS's CloudFront lists (the audit).
    CloudFrontLists,
}

/// One call, when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub region: String,
    pub group: Option<String>,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, FakeGroup>,
    calls: Vec<Call>,
    fail: Vec<(Op, Option<String>, String)>,
    interference: Vec<Interference>,
    latency: BTreeMap<Op, Duration>,
    weights: PrefixListWeights,
    interfaces: Vec<(String, Interface)>,
    lists: BTreeMap<String, FakeList>,
    /// Looks at a list's state that answer `modify-in-progress` after each write.
    busy_after_write: usize,
    /// Resizes answered but not applied (MaxEntries stays), as moto does and a lagging EC2 read shows.
    ignore_resizes: bool,
    /// Before the next modification of a list: another writer's entries, which move its version on.
    list_interference: Vec<(String, Vec<Entry>)>,
    /// WAF IP sets by name.
    ip_sets: BTreeMap<String, FakeIpSet>,
    /// Before the next update of an IP set: another writer's addresses, which move its lock token on.
    ip_set_interference: Vec<(String, BTreeSet<Cidr>)>,
    /// Reads of a group (or list) just written that still show it as before the write (EC2's eventual
    /// consistency).
    lag_reads: usize,
    /// Per group written: its rules before the write, and the reads left that show them.
    stale_groups: Lagging<Vec<Rule>>,
    /// Per list written: the list before the write, and the reads left that show it.
    stale_lists: Lagging<FakeList>,
    /// When a call of this kind starts: the group, list or IP set deleted first (once each).
    doomed: Vec<(Op, String)>,
    /// The next write to this list ends in `modify-failed` with this `StateMessage`.
    list_failure: Option<(String, String)>,
}

/// What the reads of resources just written show while they lag the writes (EC2's eventual consistency): per
/// id, the resource as it was before the first write of the lag, and the reads left that show it.
struct Lagging<T>(BTreeMap<String, (T, usize)>);

impl<T> Default for Lagging<T> {
    fn default() -> Self {
        Lagging(BTreeMap::new())
    }
}

impl<T: Clone> Lagging<T> {
    /// A write changed `id`, which was `before`: the next `reads` reads show `before` (a read already lagging
    /// keeps showing the older state).
    fn written(&mut self, id: &str, before: T, reads: usize) {
        if reads > 0 {
            self.0.entry(id.to_owned()).or_insert((before, 0)).1 = reads;
        }
    }

    /// What a read of `id` shows instead of its state now, while it lags; `None` once it no longer does.
    fn read(&mut self, id: &str) -> Option<T> {
        match self.0.get_mut(id) {
            Some((stale, left)) if *left > 0 => {
                *left -= 1;
                Some(stale.clone())
            }
            _ => {
                self.0.remove(id);
                None
            }
        }
    }
}

/// An in-memory [`SecurityGroups`]: EC2's behaviour at the port (idempotent writes that count what they
/// changed), with recorded calls, injected failures and latency. Clones share the state, so a test keeps one
/// to look at while the run holds another.
#[derive(Default, Clone)]
pub struct FakeEc2 {
    state: Arc<Mutex<State>>,
}

impl FakeEc2 {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answer `op` (on `group`, or any) with the EC2 error `code`.
    pub fn fail(&self, op: Op, group: Option<&str>, code: &str) {
        self.state().fail.push((op, group.map(str::to_owned), code.to_owned()));
    }

    /// Delay every `op` by `latency`.
    pub fn delay(&self, op: Op, latency: Duration) {
        self.state().latency.insert(op, latency);
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `op`.
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }

    /// After every write, the next `reads` reads of the group or list written still show it as it was before
    /// the write: EC2's reads may lag its writes.
    pub fn lag_reads(&self, reads: usize) {
        self.state().lag_reads = reads;
    }

    /// When the next call of `op` starts, the group, list or IP set `id` (an IP set by name) is deleted first.
    pub fn delete_before(&self, op: Op, id: &str) {
        self.state().doomed.push((op, id.to_owned()));
    }

    /// Record the call, wait its latency, then answer the injected failure if any.
    async fn enter(&self, op: Op, region: &str, group: Option<&str>) -> Result<()> {
        let (latency, code) = {
            let mut state = self.state();
            state.calls.push(Call {
                op,
                region: region.to_owned(),
                group: group.map(str::to_owned),
                at: Instant::now(),
            });
            if let Some(i) = state.doomed.iter().position(|(o, _)| *o == op) {
                let (_, id) = state.doomed.remove(i);
                state.groups.remove(&id);
                state.lists.remove(&id);
                state.ip_sets.remove(&id);
            }
            let interfering = state
                .interference
                .iter()
                .position(|i| i.op == op && Some(i.group.as_str()) == group);
            let interference = interfering.map(|i| state.interference.remove(i));
            let code = state
                .fail
                .iter()
                .find(|(o, g, _)| *o == op && (g.is_none() || g.as_deref() == group))
                .map(|(_, _, code)| code.clone());
            let code = match interference {
                Some(i) => {
                    if let Some(g) = state.groups.get_mut(&i.into) {
                        g.rules.extend(i.rules);
                    }
                    i.code
                }
                None => code,
            };
            (state.latency.get(&op).copied(), code)
        };
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        match code {
            None => Ok(()),
            Some(code) => Err(Error::Ec2 {
                operation: "fake",
                region: region.to_owned(),
                group: group.map(str::to_owned),
                message: format!("{code} injected by the fake"),
                code,
            }),
        }
    }
}
