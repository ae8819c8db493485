//! What moto cannot show, with `aws-smithy-mocks` under the real SDK client and our retry settings:
//! pagination, throttling followed by success, per-IP-version quotas (moto counts both together), EC2's
//! all-or-nothing answers to a batch with a duplicate or a missing rule, a prefix list's version conflict, and
//! a WAF IP set's stale lock token.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::SharedInterceptor;
use aws_sdk_ec2::operation::authorize_security_group_ingress::{
    AuthorizeSecurityGroupIngressInput, AuthorizeSecurityGroupIngressOutput,
};
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput;
use aws_sdk_ec2::operation::modify_managed_prefix_list::ModifyManagedPrefixListOutput;
use aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressOutput;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, ManagedPrefixList, PrefixListEntry, PrefixListId, PrefixListState, SecurityGroup,
    Tag,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::domain::security_groups::{self, DESCRIPTION_PREFIX};
use cloudfront_sg_sync::ports::{Account, PortRules, RangesSource, SecurityGroups};
use cloudfront_sg_sync::report::Summary;
use cloudfront_sg_sync::sync;
use common::*;

/// The bytes of a snapshot, as a source.
struct Bytes(Vec<u8>);

impl RangesSource for Bytes {
    async fn fetch(&self) -> cloudfront_sg_sync::Result<Vec<u8>> {
        Ok(self.0.clone())
    }
    fn location(&self) -> &str {
        "memory"
    }
}

fn ec2_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
         <Message>{code} from the mock</Message></Error></Errors><RequestID>r</RequestID></Response>"
    )
}

/// DescribeSecurityGroups answering `groups`, each holding the rules authorized to it so far (`calls`): the
/// read-back after a run's writes sees them, as on EC2.
fn describing(groups: Vec<SecurityGroup>, calls: &Calls) -> Rule {
    mock!(Client::describe_security_groups).then_output(holding(groups, calls))
}

/// The answer of [`describing`], to use in a sequence.
fn holding(
    groups: Vec<SecurityGroup>,
    calls: &Calls,
) -> impl Fn() -> DescribeSecurityGroupsOutput + Send + Sync + 'static {
    let calls = calls.clone();
    move || {
        let calls = calls.lock().unwrap();
        let now = groups.iter().cloned().map(|mut g| {
            let id = g.group_id.clone();
            let authorized = calls
                .iter()
                .filter(|c| c.group_id() == id.as_deref())
                .flat_map(|c| c.ip_permissions());
            let held = g.ip_permissions.get_or_insert_default();
            for p in authorized {
                // A retried call is recorded once per attempt.
                if !held.contains(p) {
                    held.push(p.clone());
                }
            }
            g
        });
        DescribeSecurityGroupsOutput::builder()
            .set_security_groups(Some(now.collect()))
            .build()
    }
}

/// Whether a DescribeSecurityGroups reads exactly `ids` by the `group-id` filter (a deleted group is then
/// absent, where `GroupIds` would fail the call).
fn by_group_id(
    req: &aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsInput,
    ids: &[&str],
) -> bool {
    let filter = req.filters().iter().find(|f| f.name() == Some("group-id"));
    req.group_ids().is_empty() && filter.is_some_and(|f| f.values() == ids)
}

fn group(id: &str, vpc: &str) -> SecurityGroup {
    tagged(id, vpc).build()
}

/// A group tagged as a `cloudfront_g` https set of `vpc`, to finish building.
fn tagged(id: &str, vpc: &str) -> aws_sdk_ec2::types::builders::SecurityGroupBuilder {
    SecurityGroup::builder()
        .group_id(id)
        .vpc_id(vpc)
        .tags(Tag::builder().key("Name").value("cloudfront_g").build())
        .tags(Tag::builder().key("AutoUpdate").value("true").build())
        .tags(Tag::builder().key("Protocol").value("https").build())
}

/// The production adapter (its retry settings, timeouts and retry log) over mocked HTTP answers.
async fn client(config: &Config, rules: &[&Rule]) -> Ec2 {
    // Recording the file applied (CreateTags) always succeeds here, no network interface carries a set and no
    // prefix list is tagged for the sync, unless a test's own rule (matched first) says otherwise.
    let tags = mock!(Client::create_tags).then_output(|| CreateTagsOutput::builder().build());
    let interfaces =
        mock!(Client::describe_network_interfaces).then_output(|| DescribeNetworkInterfacesOutput::builder().build());
    let no_tagged_lists = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|req| req.filters().first().and_then(|f| f.name()) == Some("tag:Name"))
        .then_output(|| DescribeManagedPrefixListsOutput::builder().build());
    let mut answers = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules.iter().copied().chain([&tags, &interfaces, &no_tagged_lists]) {
        answers = answers.with_rule(rule);
    }
    let answers = SharedInterceptor::new(answers);
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .test_credentials()
        .http_client(create_mock_http_client());
    Ec2::with_customizer(config, loader, move |_, builder| {
        let mut builder = builder;
        builder.push_interceptor(answers.clone());
        builder
    })
    .await
}

/// A scheduled sync of the newest snapshot in the function's own account, through `groups`.
async fn sync_newest(config: &Config, groups: &Ec2) -> cloudfront_sg_sync::Result<Summary> {
    let own = [Account::own(groups.clone())];
    sync::run(config, &Trigger::Scheduled, &Bytes(fixture(NEWEST)), &own, None).await
}

fn test_config() -> Config {
    config(&[("AWS_REGION", "us-east-1")])
}

/// Authorize `cidrs` on tcp 443 of sg-1 in us-east-1, as ours.
async fn authorize_sg1(groups: &Ec2, cidrs: &BTreeSet<Cidr>) -> cloudfront_sg_sync::Result<usize> {
    let rules = PortRules {
        region: "us-east-1",
        group: "sg-1",
        port: 443,
        cidrs,
        description: &format!("{DESCRIPTION_PREFIX}: t"),
    };
    groups.authorize(&rules).await
}

type Calls = Arc<Mutex<Vec<AuthorizeSecurityGroupIngressInput>>>;

/// Records every authorize request and answers success.
fn recording_authorize(calls: &Calls) -> Rule {
    let calls = calls.clone();
    mock!(Client::authorize_security_group_ingress)
        .match_requests(move |req| {
            calls.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| AuthorizeSecurityGroupIngressOutput::builder().r#return(true).build())
}

#[tokio::test]
async fn every_page_of_describe_security_groups_is_read() {
    let page1 = mock!(Client::describe_security_groups)
        .match_requests(|req| req.next_token().is_none())
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(group("sg-1", "vpc-1"))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::describe_security_groups)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(group("sg-2", "vpc-1"))
                .next_token("page-3")
                .build()
        });
    let page3 = mock!(Client::describe_security_groups)
        .match_requests(|req| req.next_token() == Some("page-3"))
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(group("sg-3", "vpc-2"))
                .build()
        });
    let groups = client(&test_config(), &[&page1, &page2, &page3]).await;
    let found = groups.tagged_groups("us-east-1").await.unwrap().tagged;
    let ids: Vec<&str> = found.iter().map(|g| g.group.id.as_str()).collect();
    assert_eq!(ids, ["sg-1", "sg-2", "sg-3"]);
    assert_eq!((page1.num_calls(), page2.num_calls(), page3.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn throttled_calls_are_retried_until_they_succeed() {
    let calls = Calls::default();
    let describe = mock!(Client::describe_security_groups)
        .sequence()
        .http_status(503, Some(ec2_error("RequestLimitExceeded")))
        .times(4)
        .output(holding(vec![group("sg-1", "vpc-1")], &calls))
        .repeatedly()
        .build();
    let recorded = calls.clone();
    let authorize = mock!(Client::authorize_security_group_ingress)
        .match_requests(move |req| {
            recorded.lock().unwrap().push(req.clone());
            true
        })
        .sequence()
        .http_status(503, Some(ec2_error("RequestLimitExceeded")))
        .times(5)
        .output(|| AuthorizeSecurityGroupIngressOutput::builder().r#return(true).build())
        .build();
    let config = config(&[("AWS_REGION", "us-east-1"), ("IP_VERSIONS", "ipv6")]);
    let groups = client(&config, &[&describe, &authorize]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert_eq!(summary.sets[0].added, 32);
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // Five reads to discover the set, one to read it back; six attempts of the one authorization.
    assert_eq!((describe.num_calls(), authorize.num_calls()), (6, 6));
}

#[tokio::test]
async fn throttling_beyond_the_attempt_budget_fails_with_what_ec2_said() {
    let describe = mock!(Client::describe_security_groups)
        .sequence()
        .http_status(503, Some(ec2_error("RequestLimitExceeded")))
        .repeatedly()
        .build();
    let config = config(&[("AWS_REGION", "us-east-1"), ("EC2_MAX_ATTEMPTS", "3")]);
    let groups = client(&config, &[&describe]).await;
    let err = groups.tagged_groups("us-east-1").await.unwrap_err();
    assert_eq!(describe.num_calls(), 3);
    let text = err.to_string();
    assert!(
        text.contains("RequestLimitExceeded: RequestLimitExceeded from the mock"),
        "{text}"
    );
    assert!(text.contains("DescribeSecurityGroups in us-east-1"), "{text}");
}

#[tokio::test]
async fn ipv4_and_ipv6_quotas_are_counted_separately_as_aws_does() {
    // The newest file: 118 IPv4 + 32 IPv6 GLOBAL. At 60 per version, two groups hold it, one of them with
    // 60 IPv4 and 32 IPv6 rules (92 in all, which moto would refuse).
    let calls = Calls::default();
    let describe = describing(vec![group("sg-1", "vpc-1"), group("sg-2", "vpc-1")], &calls);
    let authorize = recording_authorize(&calls);
    let config = test_config();
    let groups = client(&config, &[&describe, &authorize]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());

    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one authorize per group");
    let mut per_group = BTreeMap::new();
    let mut all = BTreeSet::new();
    for call in calls.iter() {
        let p = &call.ip_permissions()[0];
        per_group.insert(
            call.group_id().unwrap().to_owned(),
            (p.ip_ranges().len(), p.ipv6_ranges().len()),
        );
        all.extend(
            p.ip_ranges()
                .iter()
                .map(|r| r.cidr_ip().unwrap().parse::<Cidr>().unwrap()),
        );
        all.extend(
            p.ipv6_ranges()
                .iter()
                .map(|r| r.cidr_ipv6().unwrap().parse::<Cidr>().unwrap()),
        );
    }
    assert_eq!(per_group["sg-1"], (60, 32));
    assert_eq!(per_group["sg-2"], (58, 0));
    assert_eq!(all, *selection(&fixture(NEWEST)).ranges(Scope::Global));
    assert_eq!(summary.sets[0].room_left[&IpVersion::Ipv4], 2);
}

/// sg-1 holding tcp/443 from each of `cidrs` (any description: EC2's duplicate is about the rule, not its text).
fn sg1_holding(cidrs: &'static [&'static str]) -> Rule {
    mock!(Client::describe_security_groups)
        .match_requests(|req| by_group_id(req, &["sg-1"]))
        .then_output(move || {
            let mut p = IpPermission::builder().ip_protocol("tcp").from_port(443).to_port(443);
            for cidr in cidrs {
                p = p.ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(*cidr).build());
            }
            DescribeSecurityGroupsOutput::builder()
                .security_groups(tagged("sg-1", "vpc-1").ip_permissions(p.build()).build())
                .build()
        })
}

/// AuthorizeSecurityGroupIngress answering `duplicates` times a duplicate then a success each, recording every
/// request.
fn authorizing(duplicates: usize) -> (Calls, Rule) {
    let calls = Calls::default();
    let recorded = calls.clone();
    let mut answers = mock!(Client::authorize_security_group_ingress)
        .match_requests(move |req| {
            recorded.lock().unwrap().push(req.clone());
            true
        })
        .sequence();
    for _ in 0..duplicates {
        answers = answers
            .http_status(400, Some(ec2_error("InvalidPermission.Duplicate")))
            .output(|| AuthorizeSecurityGroupIngressOutput::builder().r#return(true).build());
    }
    (calls, answers.build())
}

/// How many CIDRs each recorded AuthorizeSecurityGroupIngress carried.
fn batch_sizes(calls: &Calls) -> Vec<usize> {
    let calls = calls.lock().unwrap();
    calls
        .iter()
        .map(|c| c.ip_permissions()[0].ip_ranges().len() + c.ip_permissions()[0].ipv6_ranges().len())
        .collect()
}

#[tokio::test]
async fn a_batch_refused_as_duplicate_re_reads_the_group_and_authorizes_only_what_is_missing() {
    // A concurrent run added one of the CIDRs: EC2 refuses the whole batch; the group read again shows it.
    let (calls, authorize) = authorizing(1);
    let held = sg1_holding(&["10.0.1.0/24"]);
    let groups = client(&test_config(), &[&authorize, &held]).await;
    let cidrs: BTreeSet<Cidr> = ["10.0.0.0/24", "10.0.1.0/24", "2600::/32"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(authorize_sg1(&groups, &cidrs).await.unwrap(), 2);
    assert_eq!(
        batch_sizes(&calls),
        [3, 2],
        "one batch of the two missing, not one call per CIDR"
    );
    let second = &calls.lock().unwrap()[1];
    assert!(
        second.ip_permissions()[0]
            .ip_ranges()
            .iter()
            .all(|r| r.cidr_ip() != Some("10.0.1.0/24"))
    );
    assert_eq!(held.num_calls(), 1);
}

#[tokio::test]
async fn a_duplicate_batch_whose_re_read_shows_none_of_it_yet_goes_one_by_one() {
    // The read lags (it shows none of the batch, though EC2 called one a duplicate): one CIDR at a time.
    let (calls, authorize) = authorizing(2);
    let held = sg1_holding(&[]);
    let groups = client(&test_config(), &[&authorize, &held]).await;
    let cidrs: BTreeSet<Cidr> = ["10.0.0.0/24", "10.0.1.0/24", "2600::/32"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(authorize_sg1(&groups, &cidrs).await.unwrap(), 2);
    assert_eq!(batch_sizes(&calls), [3, 1, 1, 1]);
}

#[tokio::test]
async fn a_revoke_refused_as_not_found_re_reads_the_group_and_revokes_only_what_it_still_holds() {
    let revoke = mock!(Client::revoke_security_group_ingress)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .output(|| RevokeSecurityGroupIngressOutput::builder().r#return(true).build())
        .build();
    let held = sg1_holding(&["10.0.0.0/24"]);
    let groups = client(&test_config(), &[&revoke, &held]).await;
    let rules = BTreeMap::from([(
        443,
        ["10.0.0.0/24", "10.0.1.0/24"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
    )]);
    let revoked = groups.revoke("us-east-1", "sg-1", &rules).await.unwrap();
    assert_eq!(revoke.num_calls(), 2);
    assert_eq!(revoked, 1, "the rule already gone is not counted");
}

#[tokio::test]
async fn rules_ec2_reports_as_unknown_are_not_counted_as_revoked() {
    // EC2 answers a revoke of rules that are already gone with success and lists them as unknown.
    let revoke = mock!(Client::revoke_security_group_ingress).then_output(|| {
        RevokeSecurityGroupIngressOutput::builder()
            .r#return(true)
            .unknown_ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("10.0.1.0/24").build())
                    .build(),
            )
            .build()
    });
    let groups = client(&test_config(), &[&revoke]).await;
    let rules = BTreeMap::from([(
        443,
        ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
    )]);
    assert_eq!(groups.revoke("us-east-1", "sg-1", &rules).await.unwrap(), 2);
}

/// A tagged group that holds one rule referencing prefix list `list`.
fn group_referencing(id: &str, list: &str) -> SecurityGroup {
    tagged(id, "vpc-1")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .prefix_list_ids(PrefixListId::builder().prefix_list_id(list).build())
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_prefix_list_reference_weighs_its_max_entries_so_a_full_set_fails_clearly_with_no_write() {
    // The newest file's 118 GLOBAL IPv4 ranges over two groups at 60: counted as 1 rule, a reference to a list
    // of MaxEntries 10 would leave room for 119 and EC2 would refuse the writes on every run. Counted as
    // EC2 counts it, the set lacks 8 rules: it fails with SetTooSmall and nothing is written.
    let calls = Calls::default();
    let describe = describing(
        vec![group_referencing("sg-1", "pl-office"), group("sg-2", "vpc-1")],
        &calls,
    );
    let lists = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|req| {
            let filter = &req.filters()[0];
            filter.name() == Some("prefix-list-id") && filter.values() == ["pl-office"]
        })
        .then_output(|| {
            DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(
                    ManagedPrefixList::builder()
                        .prefix_list_id("pl-office")
                        .prefix_list_name("office")
                        .address_family("IPv4")
                        .max_entries(10)
                        .build(),
                )
                .build()
        });
    let authorize = recording_authorize(&calls);
    let config = config(&[("AWS_REGION", "us-east-1"), ("IP_VERSIONS", "ipv4")]);
    let groups = client(&config, &[&describe, &lists, &authorize]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert_eq!(lists.num_calls(), 1, "one DescribeManagedPrefixLists for the region");
    assert_eq!(authorize.num_calls(), 0);
    let error = summary.sets[0].error.as_deref().unwrap();
    assert!(error.contains("needs 8 more ipv4 rule(s)"), "{error}");
}

#[tokio::test]
async fn aws_managed_cloudfront_list_weighs_55_and_sets_without_references_make_no_lookup() {
    // AWS-managed lists carry no MaxEntries: the documented weight is used. 55 + 60 IPv4 slots = 65 of 120.
    let calls = Calls::default();
    let describe = describing(
        vec![group_referencing("sg-1", "pl-3b927c52"), group("sg-2", "vpc-1")],
        &calls,
    );
    let lists = mock!(Client::describe_managed_prefix_lists).then_output(|| {
        DescribeManagedPrefixListsOutput::builder()
            .prefix_lists(
                ManagedPrefixList::builder()
                    .prefix_list_id("pl-3b927c52")
                    .prefix_list_name("com.amazonaws.global.cloudfront.origin-facing")
                    .address_family("IPv4")
                    .owner_id("AWS")
                    .build(),
            )
            .build()
    });
    let authorize = recording_authorize(&calls);
    let config = config(&[
        ("AWS_REGION", "us-east-1"),
        ("IP_VERSIONS", "ipv4"),
        ("SERVICE", "CLOUDFRONT_ORIGIN_FACING"),
    ]);
    let groups = client(&config, &[&describe, &lists, &authorize]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // 44 origin-facing GLOBAL IPv4 ranges: 120 slots - 55 - 44 = 21.
    assert_eq!(summary.sets[0].room_left[&IpVersion::Ipv4], 21);

    let calls = Calls::default();
    let plain = describing(vec![group("sg-1", "vpc-1")], &calls);
    let lists = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|req| req.filters().first().and_then(|f| f.name()) == Some("prefix-list-id"))
        .then_output(|| DescribeManagedPrefixListsOutput::builder().build());
    let authorize = recording_authorize(&calls);
    let groups = client(&config, &[&plain, &lists, &authorize]).await;
    sync_newest(&config, &groups).await.unwrap();
    assert_eq!(lists.num_calls(), 0);
}

#[tokio::test]
async fn other_errors_are_not_swallowed() {
    let authorize = mock!(Client::authorize_security_group_ingress)
        .sequence()
        .http_status(400, Some(ec2_error("UnauthorizedOperation")))
        .build();
    let groups = client(&test_config(), &[&authorize]).await;
    let cidrs = BTreeSet::from(["10.0.0.0/24".parse().unwrap()]);
    let err = authorize_sg1(&groups, &cidrs).await.unwrap_err();
    assert_eq!(err.kind(), "Ec2Error");
    assert!(
        err.to_string().contains("on sg-1 failed: UnauthorizedOperation"),
        "{err}"
    );
}

#[tokio::test]
async fn a_write_refused_because_another_writer_got_there_first_is_re_planned_from_a_fresh_read() {
    // EC2's answer when a concurrent run filled the group between our read and our write: the limit error.
    // The re-read (DescribeSecurityGroups by id) shows the ranges there; the re-plan has nothing left to do.
    let wanted: Vec<Cidr> = selection(&fixture(NEWEST))
        .ranges(Scope::Global)
        .iter()
        .copied()
        .collect();
    let description = security_groups::rule_description(Scope::Global, "CLOUDFRONT");
    let first_read = mock!(Client::describe_security_groups)
        .match_requests(|req| !by_group_id(req, &["sg-1"]))
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(group("sg-1", "vpc-1"))
                .build()
        });
    let held = wanted.clone();
    let re_read = mock!(Client::describe_security_groups)
        .match_requests(|req| by_group_id(req, &["sg-1"]))
        .then_output(move || {
            let mut p = IpPermission::builder().ip_protocol("tcp").from_port(443).to_port(443);
            for cidr in held.iter().filter(|c| c.version() == IpVersion::Ipv6) {
                p = p.ipv6_ranges(
                    Ipv6Range::builder()
                        .cidr_ipv6(cidr.to_string())
                        .description(&description)
                        .build(),
                );
            }
            DescribeSecurityGroupsOutput::builder()
                .security_groups(tagged("sg-1", "vpc-1").ip_permissions(p.build()).build())
                .build()
        });
    let authorize = mock!(Client::authorize_security_group_ingress)
        .sequence()
        .http_status(400, Some(ec2_error("RulesPerSecurityGroupLimitExceeded")))
        .build();
    let config = config(&[("AWS_REGION", "us-east-1"), ("IP_VERSIONS", "ipv6")]);
    let groups = client(&config, &[&first_read, &re_read, &authorize]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // Two reads by id: one tells another writer's rules from the account's quota (the group holds more than
    // it was planned from), one re-plans.
    assert_eq!((re_read.num_calls(), authorize.num_calls()), (2, 1));
    assert_eq!((summary.sets[0].replans, summary.sets[0].unchanged), (1, 32));
}

#[tokio::test]
async fn network_interfaces_are_read_200_group_ids_a_call_every_page_and_each_interface_once() {
    use aws_sdk_ec2::types::{GroupIdentifier, NetworkInterface, NetworkInterfaceAttachment};
    use cloudfront_sg_sync::ports::NetworkInterfaces;

    fn eni(id: &str, groups: &[&str]) -> aws_sdk_ec2::types::builders::NetworkInterfaceBuilder {
        let groups = groups.iter().map(|g| GroupIdentifier::builder().group_id(*g).build());
        NetworkInterface::builder()
            .network_interface_id(id)
            .set_groups(Some(groups.collect()))
    }
    /// (filter values, page token) of every request.
    type Requests = Arc<Mutex<Vec<(usize, Option<String>)>>>;
    let requests: Requests = Arc::default();
    let record = |requests: &Requests, page: Option<&'static str>| {
        let requests = requests.clone();
        move |req: &aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesInput| {
            let matches = req.next_token() == page;
            if matches {
                let filter = &req.filters()[0];
                assert_eq!(filter.name(), Some("group-id"));
                let token = req.next_token().map(str::to_owned);
                requests.lock().unwrap().push((filter.values().len(), token));
            }
            matches
        }
    };
    // Every chunk answers two pages: a load balancer's interface that also carries a group of its own (EC2
    // matches any of the filter's values), then an instance's.
    let page1 = mock!(Client::describe_network_interfaces)
        .match_requests(record(&requests, None))
        .then_output(|| {
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(eni("eni-1", &["sg-000", "sg-web"]).description("ELB app/web/1").build())
                .next_token("p2")
                .build()
        });
    let page2 = mock!(Client::describe_network_interfaces)
        .match_requests(record(&requests, Some("p2")))
        .then_output(|| {
            let attachment = NetworkInterfaceAttachment::builder().instance_id("i-1").build();
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(eni("eni-2", &["sg-001"]).attachment(attachment).build())
                .build()
        });
    let ec2 = client(&test_config(), &[&page1, &page2]).await;
    let ids: BTreeSet<String> = (0..250).map(|i| format!("sg-{i:03}")).collect();
    let found = ec2.interfaces_with_groups("us-east-1", &ids).await.unwrap();

    assert_eq!(
        *requests.lock().unwrap(),
        [
            (200, None),
            (200, Some("p2".to_owned())),
            (50, None),
            (50, Some("p2".to_owned()))
        ]
    );
    let seen: Vec<(&str, &str, Vec<&str>)> = found
        .iter()
        .map(|i| {
            let groups = i.groups.iter().map(String::as_str).collect();
            (i.id.as_str(), i.attachment.as_str(), groups)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("eni-1", "load balancer app/web/1", vec!["sg-000", "sg-web"]),
            ("eni-2", "instance i-1", vec!["sg-001"]),
        ]
    );
}

/// A customer-managed IPv4 list tagged `cloudfront_g`, at `version`, in `state`.
fn tagged_list(version: i64, state: PrefixListState) -> ManagedPrefixList {
    ManagedPrefixList::builder()
        .prefix_list_id("pl-cf")
        .address_family("IPv4")
        .max_entries(200)
        .version(version)
        .state(state)
        .tags(Tag::builder().key("Name").value("cloudfront_g").build())
        .tags(Tag::builder().key("AutoUpdate").value("true").build())
        .build()
}

#[tokio::test]
async fn a_prefix_list_modified_by_another_writer_is_re_read_and_written_at_its_new_version() {
    // EC2 refuses our first modification (version 1 is stale: another writer made version 2); the list is read
    // again (describe by id, entries) and the next modification names version 2. Moto ignores CurrentVersion
    // and is never `modify-in-progress`.
    let wanted = selection(&fixture(NEWEST))
        .ranges(Scope::Global)
        .iter()
        .filter(|c| c.version() == IpVersion::Ipv4)
        .count();
    let listed = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|req| req.filters().first().and_then(|f| f.name()) == Some("tag:Name"))
        .then_output(|| {
            DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(tagged_list(1, PrefixListState::CreateComplete))
                .build()
        });
    // Read again after the conflict (version 2); after our first call still being modified for one look, then
    // settled at 3; after the second, settled at 4.
    let at = |version, state: PrefixListState| {
        move || {
            DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(tagged_list(version, state.clone()))
                .build()
        }
    };
    let by_id = mock!(Client::describe_managed_prefix_lists)
        // By the `prefix-list-id` filter: a list deleted since is absent, not an error.
        .match_requests(|req| {
            let filter = req.filters().iter().find(|f| f.name() == Some("prefix-list-id"));
            req.prefix_list_ids().is_empty() && filter.is_some_and(|f| f.values() == ["pl-cf"])
        })
        .sequence()
        .output(at(2, PrefixListState::ModifyComplete))
        .output(at(2, PrefixListState::ModifyInProgress))
        .output(at(3, PrefixListState::ModifyComplete))
        .output(at(4, PrefixListState::ModifyComplete))
        .build();
    let entries = mock!(Client::get_managed_prefix_list_entries)
        .then_output(|| GetManagedPrefixListEntriesOutput::builder().build());
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    let modify = mock!(Client::modify_managed_prefix_list)
        .match_requests(move |req| {
            seen.lock()
                .unwrap()
                .push((req.current_version(), req.add_entries().len()));
            true
        })
        .sequence()
        .http_status(400, Some(ec2_error("PrefixListVersionMismatch")))
        .output(|| ModifyManagedPrefixListOutput::builder().build())
        .times(2)
        .build();
    let config = config(&[("AWS_REGION", "us-east-1"), ("IP_VERSIONS", "ipv4")]);
    let no_groups = describing(Vec::new(), &Calls::default());
    let groups = client(&config, &[&no_groups, &listed, &by_id, &entries, &modify]).await;
    let summary = sync_newest(&config, &groups).await.unwrap();
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    let list = &summary.prefix_lists[0];
    assert_eq!((list.changes.replans, list.changes.added), (1, wanted));
    assert_eq!(
        by_id.num_calls(),
        4,
        "the re-read, two looks after the first call, one after the second"
    );
    // The refused call at version 1; then 100 and the rest at version 2 and 3, the second only once the list
    // had left modify-in-progress. At most 100 entries a call.
    assert_eq!(
        *versions.lock().unwrap(),
        [(Some(1), 100), (Some(2), 100), (Some(3), wanted - 100)]
    );
}

/// A WAF error answer, as the awsJson protocol sends it.
fn waf_error(code: &str) -> String {
    format!("{{\"__type\":\"{code}\",\"Message\":\"{code} from the mock\"}}")
}

#[tokio::test]
async fn a_waf_ip_set_refused_for_a_stale_lock_token_is_read_again_and_updated_at_the_new_one() {
    use aws_sdk_wafv2::Client as Waf;
    use aws_sdk_wafv2::operation::get_ip_set::GetIpSetOutput;
    use aws_sdk_wafv2::operation::list_ip_sets::ListIpSetsOutput;
    use aws_sdk_wafv2::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_wafv2::operation::update_ip_set::{UpdateIpSetInput, UpdateIpSetOutput};
    use aws_sdk_wafv2::types::{IpAddressVersion, IpSet, IpSetSummary, Tag as WafTag, TagInfoForResource};
    use cloudfront_sg_sync::adapters::ip_sets::WafIpSets;

    let config = config(&[("AWS_REGION", "us-east-1"), ("WAF_CLOUDFRONT_SCOPE", "false")]);
    let no_groups =
        mock!(Client::describe_security_groups).then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let groups = client(&config, &[&no_groups]).await;

    let listed = mock!(Waf::list_ip_sets).then_output(|| {
        let summary = IpSetSummary::builder()
            .name("g4")
            .id("id-1")
            .arn("arn:aws:wafv2:us-east-1:1:regional/ipset/g4/id-1");
        ListIpSetsOutput::builder().ip_sets(summary.build()).build()
    });
    let tags = mock!(Waf::list_tags_for_resource).then_output(|| {
        let tag = |k: &str, v: &str| WafTag::builder().key(k).value(v).build().unwrap();
        let info = TagInfoForResource::builder()
            .tag_list(tag("Name", "cloudfront_g"))
            .tag_list(tag("AutoUpdate", "true"));
        ListTagsForResourceOutput::builder()
            .tag_info_for_resource(info.build())
            .build()
    });
    let set = |addresses: &[&str], token: &str| {
        let set = IpSet::builder()
            .name("g4")
            .id("id-1")
            .arn("arn")
            .ip_address_version(IpAddressVersion::Ipv4)
            .set_addresses(Some(addresses.iter().map(|a| (*a).to_owned()).collect()))
            .build()
            .unwrap();
        GetIpSetOutput::builder().ip_set(set).lock_token(token).build()
    };
    let read = mock!(Waf::get_ip_set)
        .sequence()
        .output(move || set(&[], "t1"))
        .output(move || set(&["203.0.113.0/24"], "t2"))
        .build();
    let updates: Arc<Mutex<Vec<UpdateIpSetInput>>> = Arc::default();
    let recorded = updates.clone();
    let update = mock!(Waf::update_ip_set)
        .match_requests(move |req| {
            recorded.lock().unwrap().push(req.clone());
            true
        })
        .sequence()
        .http_status(400, Some(waf_error("WAFOptimisticLockException")))
        .output(|| UpdateIpSetOutput::builder().next_lock_token("t3").build())
        .build();
    let marked = mock!(Waf::tag_resource)
        .match_requests(|req| {
            let tag = &req.tags()[0];
            req.resource_arn() == Some("arn:aws:wafv2:us-east-1:1:regional/ipset/g4/id-1")
                && tag.key() == "cloudfront-sg-sync:synctoken"
                && tag.value().starts_with("1787411825")
        })
        .then_output(|| aws_sdk_wafv2::operation::tag_resource::TagResourceOutput::builder().build());
    let mut answers = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in [&listed, &tags, &read, &update, &marked] {
        answers = answers.with_rule(rule);
    }
    let answers = SharedInterceptor::new(answers);
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .test_credentials()
        .region("us-east-1")
        .http_client(create_mock_http_client())
        .load()
        .await;
    let waf = WafIpSets::from_shared(&config, &shared, Arc::default(), move |_, mut builder| {
        builder.push_interceptor(answers.clone());
        builder
    });

    let accounts = [Account::own(groups).with_ip_sets(waf)];
    let summary = sync::run(&config, &Trigger::Scheduled, &Bytes(fixture(NEWEST)), &accounts, None)
        .await
        .unwrap();
    let g4 = &summary.ip_sets[0];
    assert_eq!(
        (g4.changes.replans, g4.changes.error.as_deref()),
        (1, None),
        "{summary}"
    );
    let updates = updates.lock().unwrap();
    let tokens: Vec<&str> = updates.iter().map(|u| u.lock_token().unwrap()).collect();
    assert_eq!(tokens, ["t1", "t2"], "the second update at the token read again");
    let wanted: BTreeSet<String> = (wanted(NEWEST, Scope::Global, IpVersion::Ipv4).iter())
        .map(ToString::to_string)
        .collect();
    let sent: BTreeSet<String> = updates[1].addresses().iter().cloned().collect();
    assert_eq!(sent, wanted, "every address wanted, the other writer's gone");
    assert_eq!(g4.changes.remove.len(), 1);
    assert_eq!(marked.num_calls(), 1, "the file applied is recorded on the IP set");
}

/// An untagged group with a tcp rule on `from`..=`to` from prefix list `list`.
fn referencing(id: &str, list: &str, from: i32, to: i32) -> SecurityGroup {
    let permission = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(from)
        .to_port(to)
        .prefix_list_ids(PrefixListId::builder().prefix_list_id(list).build())
        .build();
    SecurityGroup::builder()
        .group_id(id)
        .vpc_id("vpc-1")
        .ip_permissions(permission)
        .build()
}

#[tokio::test]
async fn the_rules_referencing_tagged_lists_are_read_from_every_page_of_every_group_unfiltered() {
    // Moto does not paginate: two pages, the unsafe rule on the second; a group referencing another list, and
    // one referencing none, are left out.
    let page1 = mock!(Client::describe_security_groups)
        .match_requests(|req| req.filters().is_empty() && req.next_token().is_none())
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(referencing("sg-web", "pl-1", 443, 443))
                .security_groups(referencing("sg-other", "pl-9", 22, 22))
                .security_groups(group("sg-none", "vpc-1"))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::describe_security_groups)
        .match_requests(|req| req.filters().is_empty() && req.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(referencing("sg-ssh", "pl-1", 20, 23))
                .build()
        });
    let groups = client(&test_config(), &[&page1, &page2]).await;
    let lists = BTreeSet::from(["pl-1".to_owned()]);
    let found = cloudfront_sg_sync::ports::PrefixLists::groups_referencing(&groups, "us-east-1", &lists).await;
    let found = found.unwrap();
    let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["sg-web", "sg-ssh"]);
    assert_eq!(
        cloudfront_sg_sync::domain::prefix_lists::unsafe_references("pl-1", &found),
        ["sg-ssh tcp 20-23"]
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

/// A prefix list as EC2 holds it in a mocked run: what each call changes, as AWS documents it.
struct ListModel {
    version: i64,
    max_entries: i32,
    entries: Vec<String>,
    /// Looks left that show it `modify-in-progress` (one after each call).
    busy: usize,
    /// Whether a resize makes a new version (AWS documents new versions for entries only; either is handled).
    resize_makes_a_version: bool,
    /// Resizes asked for, and looks at the list by id.
    resizes: usize,
    looks: usize,
}

impl ListModel {
    fn list(&self) -> ManagedPrefixList {
        let state = match self.busy {
            0 => PrefixListState::ModifyComplete,
            _ => PrefixListState::ModifyInProgress,
        };
        ManagedPrefixList::builder()
            .max_entries(self.max_entries)
            .version(self.version)
            .state(state)
            .prefix_list_id("pl-cf")
            .address_family("IPv4")
            .tags(Tag::builder().key("Name").value("cloudfront_g").build())
            .tags(Tag::builder().key("AutoUpdate").value("true").build())
            .build()
    }
}

#[tokio::test]
async fn a_grown_prefix_list_is_settled_by_its_size_whether_or_not_the_resize_made_a_version() {
    let wanted: BTreeSet<String> = (wanted(NEWEST, Scope::Global, IpVersion::Ipv4).iter())
        .map(ToString::to_string)
        .collect();
    for resize_makes_a_version in [false, true] {
        let model = Arc::new(Mutex::new(ListModel {
            version: 1,
            max_entries: 10,
            entries: Vec::new(),
            busy: 0,
            resize_makes_a_version,
            resizes: 0,
            looks: 0,
        }));
        let m = model.clone();
        let listed = mock!(Client::describe_managed_prefix_lists)
            .match_requests(|req| req.filters().first().and_then(|f| f.name()) == Some("tag:Name"))
            .then_output(move || {
                let list = m.lock().unwrap().list();
                DescribeManagedPrefixListsOutput::builder().prefix_lists(list).build()
            });
        let m = model.clone();
        let by_id = mock!(Client::describe_managed_prefix_lists)
            .match_requests(|req| req.filters().iter().any(|f| f.name() == Some("prefix-list-id")))
            .then_output(move || {
                let mut model = m.lock().unwrap();
                let list = model.list();
                model.busy = model.busy.saturating_sub(1);
                model.looks += 1;
                DescribeManagedPrefixListsOutput::builder().prefix_lists(list).build()
            });
        let m = model.clone();
        let entries = mock!(Client::get_managed_prefix_list_entries).then_output(move || {
            let cidrs = m.lock().unwrap().entries.clone();
            let entries = cidrs.into_iter().map(|c| PrefixListEntry::builder().cidr(c).build());
            GetManagedPrefixListEntriesOutput::builder()
                .set_entries(Some(entries.collect()))
                .build()
        });
        let (m, answer) = (model.clone(), model.clone());
        let modify = mock!(Client::modify_managed_prefix_list)
            .match_requests(move |req| {
                let mut model = m.lock().unwrap();
                assert_eq!(
                    req.current_version(),
                    Some(model.version),
                    "each call at the version read"
                );
                match req.max_entries() {
                    Some(size) => {
                        assert!(req.add_entries().is_empty(), "a resize is a call of its own");
                        (model.max_entries, model.resizes) = (size, model.resizes + 1);
                        model.version += i64::from(model.resize_makes_a_version);
                    }
                    None => {
                        let added = req.add_entries().iter().filter_map(|e| e.cidr().map(str::to_owned));
                        model.entries.extend(added);
                        model.version += 1;
                    }
                }
                model.busy = 1;
                true
            })
            .then_output(move || {
                let list = answer.lock().unwrap().list();
                ModifyManagedPrefixListOutput::builder().prefix_list(list).build()
            });
        let config = config(&[
            ("AWS_REGION", "us-east-1"),
            ("IP_VERSIONS", "ipv4"),
            ("PREFIX_LIST_GROW", "true"),
        ]);
        let no_groups = describing(Vec::new(), &Calls::default());
        let groups = client(&config, &[&no_groups, &listed, &by_id, &entries, &modify]).await;
        let summary = sync_newest(&config, &groups).await.unwrap();
        assert!(summary.failures().is_empty(), "{:?}", summary.failures());

        let model = model.lock().unwrap();
        let held: BTreeSet<String> = model.entries.iter().cloned().collect();
        assert_eq!(held, wanted, "resize makes a version: {resize_makes_a_version}");
        let list = &summary.prefix_lists[0];
        let grown = usize::try_from(model.max_entries).unwrap();
        assert!(grown >= wanted.len());
        assert_eq!(
            (list.grew_to, list.changes.added, model.resizes),
            (Some(grown), wanted.len(), 1)
        );
        // The same looks either way, each call's two (applying, then applied) and the re-reads after each: no
        // wait for a version a resize does not make (that was 300 s, then a failure).
        assert_eq!(model.looks, 7, "resize makes a version: {resize_makes_a_version}");
    }
}
