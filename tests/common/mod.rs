//! Test harness: a fresh `moto_server` per test, a loopback HTTP server for ip-ranges.json, the real snapshots,
//! and helpers to create and read security groups with the plain SDK.
#![allow(dead_code)]

#[path = "fixtures.rs"]
mod fixtures;
pub mod proxy;

pub use fixtures::fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AddPrefixListEntry, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::adapters::source::HttpSource;
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::domain::attachment::Interface;
use cloudfront_sg_sync::domain::cidr::Cidr;
use cloudfront_sg_sync::domain::ip_ranges::{self, Scope};
use cloudfront_sg_sync::domain::prefix_lists::Modification;
use cloudfront_sg_sync::domain::security_groups::{AppliedMark, DESCRIPTION_PREFIX, PrefixListWeights};
use cloudfront_sg_sync::ports::{
    Account, Found, ListAt, ListState, NetworkInterfaces, PortRules, PrefixLists, SecurityGroups, TaggedGroup,
    TaggedList,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub const NEWEST: &str = "ip-ranges-2026-08-22-15-17-05.json";
pub const PAIR_A_OLD: &str = "ip-ranges-2025-11-17-20-08-21.json";
pub const PAIR_A_NEW: &str = "ip-ranges-2025-11-17-21-58-25.json";
pub const OLDEST: &str = "ip-ranges-2021-10-12-17-13-16.json";

/// What every bundled snapshot holds, per service, scope and IP version, as published and aggregated:
/// `tests/fixtures/expected.json`, made by `scripts/oracle.py` with Python's `ipaddress` (`make oracle`), an oracle
/// apart from the code under test.
fn oracle() -> &'static serde_json::Value {
    static ORACLE: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    ORACLE.get_or_init(|| serde_json::from_str(include_str!("../fixtures/expected.json")).unwrap())
}

/// The oracle's `form` (`published` or `aggregated`) of the CLOUDFRONT ranges of the bundled snapshot whose exact
/// bytes are `bytes`, both IP versions.
fn expected_selection(bytes: &[u8], form: &str) -> ip_ranges::Selection {
    let md5 = ip_ranges::md5_hex(bytes);
    let (_, expected) = (oracle().as_object().unwrap().iter())
        .find(|(_, e)| e["md5"] == md5.as_str())
        .unwrap_or_else(|| panic!("no bundled snapshot has md5 {md5}: the oracle knows only those"));
    let mut ranges = BTreeMap::new();
    for (scope, key) in [(Scope::Global, "GLOBAL"), (Scope::Regional, "regional")] {
        let of_scope = &expected["CLOUDFRONT"][key];
        let cidrs = ["ipv4", "ipv6"]
            .iter()
            .flat_map(|version| of_scope[version][form].as_array().unwrap())
            .map(|c| c.as_str().unwrap().parse::<Cidr>().unwrap());
        let cidrs: BTreeSet<Cidr> = cidrs.collect();
        if !cidrs.is_empty() {
            ranges.insert(scope, cidrs);
        }
    }
    ip_ranges::Selection {
        sync_token: expected["sync_token"].as_u64().unwrap(),
        create_date: expected["create_date"].as_str().map(str::to_owned),
        ranges,
    }
}

/// The CLOUDFRONT ranges of a bundled snapshot, both IP versions, as published: from the oracle, not from the
/// code under test.
pub fn selection(bytes: &[u8]) -> ip_ranges::Selection {
    expected_selection(bytes, "published")
}

/// The CLOUDFRONT ranges of a bundled snapshot, both IP versions, aggregated (`AGGREGATE=true`): from the
/// oracle.
pub fn aggregated(bytes: &[u8]) -> ip_ranges::Selection {
    expected_selection(bytes, "aggregated")
}

/// The CloudFront ranges of `scope` and `version` in snapshot `file`.
pub fn wanted(
    file: &str,
    scope: cloudfront_sg_sync::domain::ip_ranges::Scope,
    version: cloudfront_sg_sync::domain::cidr::IpVersion,
) -> std::collections::BTreeSet<cloudfront_sg_sync::domain::cidr::Cidr> {
    let selection = selection(&fixture(file));
    let ranges = selection.ranges(scope).iter();
    ranges.filter(|c| c.version() == version).copied().collect()
}

/// An EventBridge scheduled event, as the function receives it (`events/scheduled.json`).
pub fn schedule() -> serde_json::Value {
    serde_json::from_str(include_str!("../../events/scheduled.json")).unwrap()
}

/// An SNS event, as AWS sends it (`events/sns-notification.json`), whose one record carries `message` as its
/// `Sns.Message`.
pub fn sns_event(message: serde_json::Value) -> serde_json::Value {
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../../events/sns-notification.json")).unwrap();
    event["Records"][0]["Sns"]["Message"] = message;
    event
}

/// An SNS event for a snapshot, as AWS sends it.
pub fn notification_for(bytes: &[u8]) -> serde_json::Value {
    let sel = selection(bytes);
    notification(&sel.sync_token.to_string(), &ip_ranges::md5_hex(bytes))
}

pub fn notification(sync_token: &str, md5: &str) -> serde_json::Value {
    let message = serde_json::json!({
        "create-time": "2026-08-22-15-17-05", "synctoken": sync_token, "md5": md5,
        "url": "https://ip-ranges.amazonaws.com/ip-ranges.json"
    });
    sns_event(serde_json::Value::String(message.to_string()))
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `moto_server` on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// The SDK configuration of a test client of `endpoint` (moto, or a proxy in front of it) in `region`, with
/// test credentials.
pub async fn sdk_config_at(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .test_credentials()
        .load()
        .await
}

impl Moto {
    /// Start a fresh emulator. Panics (fails the test) if it cannot: it never skips.
    pub fn start() -> Moto {
        let program = std::env::var("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"));
        assert!(
            program.exists(),
            "moto_server not found at {} (run `make venv`, or set MOTO_SERVER)",
            program.display()
        );
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            // Another listener may hold the port it was given (a parallel test's server took it after `free_port`
            // let it go): a connect would then reach that one. The server is ours once it says it runs there.
            let bound = announce(child.stderr.take(), format!("Running on {endpoint}"));
            match bound.recv_timeout(Duration::from_secs(60)) {
                Ok(()) => return Moto { child, endpoint },
                Err(_) => eprintln!("moto_server did not bind 127.0.0.1:{port}; retrying on another port"),
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start on 127.0.0.1");
    }

    /// The SDK configuration of a test client in `region`: the emulator's endpoint, test credentials.
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config_at(&self.endpoint, region).await
    }

    /// A plain SDK client acting in `account` (moto: credentials from an assumed role act in its account).
    pub async fn client_in(&self, account: &str, region: &str) -> Client {
        let base = self.sdk_config(region).await;
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/test-setup"))
            .session_name("test-setup")
            .configure(&base)
            .build()
            .await;
        let conf = aws_sdk_ec2::config::Builder::from(&base)
            .credentials_provider(role)
            .build();
        Client::from_conf(conf)
    }

    /// A plain SDK client for setting up and checking state.
    pub async fn client(&self, region: &str) -> Client {
        Client::new(&self.sdk_config(region).await)
    }
}

/// A child process of a test, killed and reaped when dropped: a test that fails (or panics) leaves none running.
pub struct Running(Option<Child>);

impl Running {
    /// Start `command`.
    pub fn spawn(command: &mut Command) -> Running {
        Running(Some(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}")),
        ))
    }

    /// Kill it now and collect what it wrote (its piped stdout and stderr).
    pub fn stop(mut self) -> std::process::Output {
        let mut child = self.0.take().unwrap();
        let _ = child.kill();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A channel that receives once `stream` (a child's stderr) prints a line containing `line`, and is closed if the
/// stream ends first. The stream is read to its end, so the child never blocks on a full pipe.
fn announce(stream: Option<std::process::ChildStderr>, line: String) -> std::sync::mpsc::Receiver<()> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Some(stream) = stream else { return };
        for read in std::io::BufRead::lines(std::io::BufReader::new(stream)) {
            match read {
                Ok(text) if text.contains(&line) => {
                    let _ = sender.send(());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    receiver
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the loopback file server answers.
#[derive(Clone, Debug)]
pub enum Reply {
    Body(Vec<u8>),
    Status(u16),
    Redirect(String),
    /// Declares `declared` bytes of Content-Length, sends `body`, then closes.
    Truncated {
        body: Vec<u8>,
        declared: usize,
    },
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request with the current [`Reply`].
pub struct FileServer {
    pub url: String,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn start(reply: Reply) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ip-ranges.json", listener.local_addr().unwrap());
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(AtomicUsize::new(0));
        let (r, n) = (reply.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, n) = (r.clone(), n.clone());
                tokio::spawn(async move {
                    if proxy::read_message(&mut stream).await.is_none() {
                        return;
                    }
                    // The reply is chosen before the request is counted: once `requests` says n, the first n
                    // replies are fixed, whatever is `set` next.
                    let reply = r.lock().unwrap().clone();
                    n.fetch_add(1, Ordering::SeqCst);
                    let (head, body) = match reply {
                        Reply::Body(b) => (format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", b.len()), b),
                        Reply::Status(s) => (
                            format!("HTTP/1.1 {s} Status\r\nContent-Length: 4\r\n"),
                            b"oops".to_vec(),
                        ),
                        Reply::Redirect(to) => (
                            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n"),
                            Vec::new(),
                        ),
                        Reply::Truncated { body, declared } => {
                            (format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n"), body)
                        }
                    };
                    let head = format!("{head}Content-Type: application/json\r\nConnection: close\r\n\r\n");
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FileServer {
            url,
            reply,
            requests,
            task,
        }
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Settings as the function reads them, from pairs.
/// Settings from `vars`, every range as the file gives it (`AGGREGATE=false`: these tests count the real files'
/// ranges one for one; `tests/aggregate.rs` runs with the default) unless `vars` says otherwise.
pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut all = vec![("AGGREGATE", "false")];
    all.extend_from_slice(vars);
    Config::from_pairs(&all).unwrap()
}

/// A prefix list of at most `max_entries` with these tags and entries (cidr, description).
pub async fn sized_list(
    client: &Client,
    family: &str,
    tags: &[(&str, &str)],
    max_entries: i32,
    entries: &[(&str, &str)],
) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::PrefixList);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let entries = entries
        .iter()
        .map(|(cidr, d)| AddPrefixListEntry::builder().cidr(*cidr).description(*d).build())
        .collect();
    let out = client
        .create_managed_prefix_list()
        .prefix_list_name(format!("test-{family}-{}", tags.len()))
        .address_family(family)
        .max_entries(max_entries)
        .set_entries(Some(entries))
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    out.prefix_list().unwrap().prefix_list_id().unwrap().to_owned()
}

pub async fn create_vpc(client: &Client, cidr: &str) -> String {
    let out = client.create_vpc().cidr_block(cidr).send().await.unwrap();
    out.vpc().unwrap().vpc_id().unwrap().to_owned()
}

/// Create a group with these tags.
pub async fn create_group(client: &Client, vpc: &str, name: &str, tags: &[(&str, &str)]) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let out = client
        .create_security_group()
        .group_name(name)
        .description("test group")
        .vpc_id(vpc)
        .set_tag_specifications((!tags.is_empty()).then(|| vec![spec.build()]))
        .send()
        .await
        .unwrap();
    out.group_id().unwrap().to_owned()
}

/// A group tagged for the sync.
pub async fn tagged_group(client: &Client, vpc: &str, name: &str, scope: Scope, protocol: &str) -> String {
    create_group(
        client,
        vpc,
        name,
        &[
            ("Name", scope.tag_value()),
            ("AutoUpdate", "true"),
            ("Protocol", protocol),
        ],
    )
    .await
}

/// One ingress rule as the test reads it back with the plain SDK.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeenRule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// A CIDR, a security group id or a prefix list id.
    pub source: String,
    pub description: Option<String>,
}

impl SeenRule {
    /// Created by the function: its description starts with ours.
    pub fn is_ours(&self) -> bool {
        self.description
            .as_deref()
            .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
    }
}

/// Every ingress rule of a group, flattened, read with the plain SDK.
pub async fn rules(client: &Client, group: &str) -> BTreeSet<SeenRule> {
    let out = client.describe_security_groups().group_ids(group).send().await.unwrap();
    let sg = &out.security_groups()[0];
    let mut seen = BTreeSet::new();
    for p in sg.ip_permissions() {
        let rule = |source: &str, description: Option<&str>| SeenRule {
            protocol: p.ip_protocol().unwrap_or("").to_owned(),
            from_port: p.from_port(),
            to_port: p.to_port(),
            source: source.to_owned(),
            description: description.map(str::to_owned),
        };
        seen.extend(
            p.ip_ranges()
                .iter()
                .map(|r| rule(r.cidr_ip().unwrap(), r.description())),
        );
        seen.extend(
            p.ipv6_ranges()
                .iter()
                .map(|r| rule(r.cidr_ipv6().unwrap(), r.description())),
        );
        seen.extend(
            p.user_id_group_pairs()
                .iter()
                .map(|r| rule(r.group_id().unwrap(), r.description())),
        );
        seen.extend(
            p.prefix_list_ids()
                .iter()
                .map(|r| rule(r.prefix_list_id().unwrap(), r.description())),
        );
    }
    seen
}

/// The CIDRs a group lets in on tcp `port` through rules this tool owns.
pub async fn managed(client: &Client, group: &str, port: i32) -> Vec<Cidr> {
    rules(client, group)
        .await
        .into_iter()
        .filter(|r| r.protocol == "tcp" && r.from_port == Some(port) && r.to_port == Some(port) && r.is_ours())
        .map(|r| r.source.parse().unwrap())
        .collect()
}

/// Every CIDR held by our rules across `groups`, checking that none is held twice and no group holds more
/// than `max` per IP version.
pub async fn set_state(client: &Client, groups: &[String], port: i32, max: usize) -> BTreeSet<Cidr> {
    let mut all = BTreeSet::new();
    for g in groups {
        let cidrs = managed(client, g, port).await;
        for v in cloudfront_sg_sync::domain::cidr::IpVersion::ALL {
            let n = cidrs.iter().filter(|c| c.version() == v).count();
            assert!(n <= max, "{g} holds {n} {v} rules, over {max}");
        }
        for c in cidrs {
            assert!(all.insert(c), "{c} is held twice in the set");
        }
    }
    all
}

/// Hand-made rules of every kind the sync must never touch: another port, a CIDR on the port with another
/// description, IPv6, all traffic, a port range, a security-group reference and a prefix-list reference.
pub async fn add_hand_made_rules(client: &Client, group: &str, other_group: &str) {
    let perms = [
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("203.0.113.0/24")
                    .description("office ssh")
                    .build(),
            )
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("198.51.100.7/32")
                    .description("office https")
                    .build(),
            )
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2001:db8::/64").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("192.0.2.0/24")
                    .description("all traffic")
                    .build(),
            )
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8000)
            .to_port(9000)
            .ip_ranges(IpRange::builder().cidr_ip("198.51.100.0/24").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(other_group).build())
            .build(),
    ];
    let prefix_list = client
        .create_managed_prefix_list()
        .prefix_list_name(format!("office-{group}"))
        .address_family("IPv4")
        .max_entries(5)
        .send()
        .await
        .unwrap();
    let prefix_list = prefix_list.prefix_list().unwrap().prefix_list_id().unwrap().to_owned();
    let mut perms = perms.to_vec();
    perms.push(
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .prefix_list_ids(
                aws_sdk_ec2::types::PrefixListId::builder()
                    .prefix_list_id(prefix_list)
                    .build(),
            )
            .build(),
    );
    client
        .authorize_security_group_ingress()
        .group_id(group)
        .set_ip_permissions(Some(perms))
        .send()
        .await
        .unwrap();
}

/// Counts the writes made through the real adapter.
pub struct Counting<G> {
    pub inner: G,
    pub authorizes: AtomicUsize,
    pub revokes: AtomicUsize,
    pub describes: AtomicUsize,
    pub prefix_list_describes: AtomicUsize,
    pub interface_describes: AtomicUsize,
    /// DescribeManagedPrefixLists of the tagged lists of a region, and of one list (its state, or read again).
    pub list_describes: AtomicUsize,
    /// ModifyManagedPrefixList calls (entries and MaxEntries).
    pub list_modifies: AtomicUsize,
    /// CreateTags calls recording the file applied.
    pub tag_writes: AtomicUsize,
    /// Rule description updates (adopt) and DeleteTags calls clearing a record (unmark, remove).
    pub other_writes: AtomicUsize,
    /// Groups whose rules were written to.
    pub touched: Mutex<BTreeSet<String>>,
    /// Deleted (through this emulator client) just before the first authorization: a group that goes away
    /// between discovery and the first write.
    pub delete_before_first_write: Mutex<Option<(Client, String)>>,
}

impl<G> Counting<G> {
    pub fn new(inner: G) -> Self {
        Counting {
            inner,
            authorizes: AtomicUsize::new(0),
            revokes: AtomicUsize::new(0),
            describes: AtomicUsize::new(0),
            prefix_list_describes: AtomicUsize::new(0),
            interface_describes: AtomicUsize::new(0),
            list_describes: AtomicUsize::new(0),
            list_modifies: AtomicUsize::new(0),
            tag_writes: AtomicUsize::new(0),
            other_writes: AtomicUsize::new(0),
            touched: Mutex::new(BTreeSet::new()),
            delete_before_first_write: Mutex::new(None),
        }
    }

    /// Every call that changes something: rules, descriptions, lists, tags.
    pub fn writes(&self) -> usize {
        let counters = [
            &self.authorizes,
            &self.revokes,
            &self.list_modifies,
            &self.tag_writes,
            &self.other_writes,
        ];
        counters.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Authorizations and revocations.
    pub fn rule_writes(&self) -> usize {
        self.authorizes.load(Ordering::SeqCst) + self.revokes.load(Ordering::SeqCst)
    }

    pub fn touched(&self) -> BTreeSet<String> {
        self.touched.lock().unwrap().clone()
    }
}

impl<G: SecurityGroups> SecurityGroups for Counting<G> {
    fn retries(&self) -> u64 {
        self.inner.retries()
    }

    async fn tagged_groups(&self, region: &str) -> cloudfront_sg_sync::Result<Found<TaggedGroup>> {
        self.describes.fetch_add(1, Ordering::SeqCst);
        self.inner.tagged_groups(region).await
    }

    async fn groups_by_id(&self, region: &str, ids: &[String]) -> cloudfront_sg_sync::Result<Vec<TaggedGroup>> {
        self.describes.fetch_add(1, Ordering::SeqCst);
        self.inner.groups_by_id(region, ids).await
    }

    async fn authorize(&self, rules: &PortRules<'_>) -> cloudfront_sg_sync::Result<usize> {
        let doomed = self.delete_before_first_write.lock().unwrap().take();
        if let Some((client, group)) = doomed {
            client.delete_security_group().group_id(group).send().await.unwrap();
        }
        self.authorizes.fetch_add(1, Ordering::SeqCst);
        self.touched.lock().unwrap().insert(rules.group.to_owned());
        self.inner.authorize(rules).await
    }

    async fn set_descriptions(&self, rules: &PortRules<'_>) -> cloudfront_sg_sync::Result<()> {
        self.other_writes.fetch_add(1, Ordering::SeqCst);
        self.touched.lock().unwrap().insert(rules.group.to_owned());
        self.inner.set_descriptions(rules).await
    }

    async fn revoke(
        &self,
        region: &str,
        group: &str,
        rules: &BTreeMap<u16, BTreeSet<Cidr>>,
    ) -> cloudfront_sg_sync::Result<usize> {
        self.revokes.fetch_add(1, Ordering::SeqCst);
        self.touched.lock().unwrap().insert(group.to_owned());
        self.inner.revoke(region, group, rules).await
    }

    async fn prefix_list_weights(
        &self,
        region: &str,
        ids: &BTreeSet<String>,
    ) -> cloudfront_sg_sync::Result<PrefixListWeights> {
        self.prefix_list_describes.fetch_add(1, Ordering::SeqCst);
        self.inner.prefix_list_weights(region, ids).await
    }

    async fn clear_mark(&self, region: &str, groups: &[String]) -> cloudfront_sg_sync::Result<()> {
        self.other_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.clear_mark(region, groups).await
    }

    async fn mark_applied(
        &self,
        region: &str,
        groups: &[String],
        mark: &AppliedMark,
    ) -> cloudfront_sg_sync::Result<()> {
        self.tag_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.mark_applied(region, groups, mark).await
    }
}

impl<G: NetworkInterfaces> NetworkInterfaces for Counting<G> {
    async fn interfaces_with_groups(
        &self,
        region: &str,
        groups: &BTreeSet<String>,
    ) -> cloudfront_sg_sync::Result<Vec<Interface>> {
        self.interface_describes.fetch_add(1, Ordering::SeqCst);
        self.inner.interfaces_with_groups(region, groups).await
    }
}

impl<G: PrefixLists> PrefixLists for Counting<G> {
    async fn tagged_lists(&self, region: &str) -> cloudfront_sg_sync::Result<Found<TaggedList>> {
        self.list_describes.fetch_add(1, Ordering::SeqCst);
        self.inner.tagged_lists(region).await
    }

    async fn modify(
        &self,
        list: ListAt<'_>,
        change: &Modification,
        description: &str,
    ) -> cloudfront_sg_sync::Result<i64> {
        self.list_modifies.fetch_add(1, Ordering::SeqCst);
        self.inner.modify(list, change, description).await
    }

    async fn set_max_entries(&self, list: ListAt<'_>, max_entries: usize) -> cloudfront_sg_sync::Result<i64> {
        self.list_modifies.fetch_add(1, Ordering::SeqCst);
        self.inner.set_max_entries(list, max_entries).await
    }

    async fn state(&self, region: &str, id: &str) -> cloudfront_sg_sync::Result<ListState> {
        self.list_describes.fetch_add(1, Ordering::SeqCst);
        self.inner.state(region, id).await
    }

    async fn clear_mark(&self, region: &str, id: &str) -> cloudfront_sg_sync::Result<()> {
        self.other_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.clear_mark(region, id).await
    }

    async fn mark_applied(&self, region: &str, id: &str, mark: &AppliedMark) -> cloudfront_sg_sync::Result<()> {
        self.tag_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.mark_applied(region, id, mark).await
    }

    async fn list(&self, region: &str, id: &str) -> cloudfront_sg_sync::Result<Option<TaggedList>> {
        self.list_describes.fetch_add(1, Ordering::SeqCst);
        self.inner.list(region, id).await
    }

    async fn groups_referencing(
        &self,
        region: &str,
        lists: &std::collections::BTreeSet<String>,
    ) -> cloudfront_sg_sync::Result<Vec<cloudfront_sg_sync::domain::security_groups::Group>> {
        self.inner.groups_referencing(region, lists).await
    }
}

/// Every entry of list `id` as moto holds it: CIDR → description.
pub async fn list_entries(client: &Client, id: &str) -> BTreeMap<Cidr, String> {
    let out = client
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .send()
        .await
        .unwrap();
    out.entries()
        .iter()
        .map(|e| {
            (
                e.cidr().unwrap().parse::<Cidr>().unwrap(),
                e.description().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Groups of a VPC whose tag Name is `scope`'s, sorted.
pub async fn groups_of(client: &Client, vpc: &str, scope: Scope) -> Vec<String> {
    let out = client
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(Filter::builder().name("tag:Name").values(scope.tag_value()).build())
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// A minimal Lambda Runtime API on 127.0.0.1: hands out queued events on `next` and records what the
/// function answers. Each answer is (request id, "response" or "error", body).
pub struct RuntimeApi {
    pub address: String,
    events: Arc<Mutex<std::collections::VecDeque<Vec<u8>>>>,
    answers: Arc<Mutex<Vec<(String, String, serde_json::Value)>>>,
    pub first_poll: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(events: Vec<Vec<u8>>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let events = Arc::new(Mutex::new(
            events.into_iter().collect::<std::collections::VecDeque<_>>(),
        ));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let first_poll = Arc::new(Mutex::new(None));
        let (ev, an, fp) = (events.clone(), answers.clone(), first_poll.clone());
        let task = tokio::spawn(async move {
            let mut next_id = 0usize;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some((head, body)) = proxy::read_message(&mut stream).await else {
                    continue;
                };
                let line = head.lines().next().unwrap_or("").to_owned();
                if line.starts_with("GET") && line.contains("/runtime/invocation/next") {
                    fp.lock().unwrap().get_or_insert_with(Instant::now);
                    let event = ev.lock().unwrap().pop_front();
                    let Some(event) = event else {
                        // No more events: hold the poll open, as Lambda does between invocations.
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(stream);
                        });
                        continue;
                    };
                    next_id += 1;
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + 300_000;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Lambda-Runtime-Aws-Request-Id: req-{next_id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:cloudfront-sg-sync\r\n\
                         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nConnection: close\r\n\r\n",
                        event.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&event).await;
                } else {
                    // POST /2018-06-01/runtime/invocation/{id}/response | /error
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let parts: Vec<&str> = path.split('/').collect();
                    let id = parts.get(4).copied().unwrap_or("").to_owned();
                    let kind = parts.last().copied().unwrap_or("").to_owned();
                    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    an.lock().unwrap().push((id, kind, body));
                    let _ = stream
                        .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                        .await;
                }
                let _ = stream.shutdown().await;
            }
        });
        RuntimeApi {
            address,
            events,
            answers,
            first_poll,
            task,
        }
    }

    pub fn answers(&self) -> Vec<(String, String, serde_json::Value)> {
        self.answers.lock().unwrap().clone()
    }

    /// Wait until `n` answers arrived (or panic after `timeout`).
    pub async fn wait_answers(&self, n: usize, timeout: Duration) -> Vec<(String, String, serde_json::Value)> {
        let started = Instant::now();
        while self.answers.lock().unwrap().len() < n {
            assert!(
                started.elapsed() < timeout,
                "only {:?} answers after {timeout:?}",
                self.answers()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.answers()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Path of a file in the repository.
pub fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The venv's Python, beside its `moto_server` (its scripts: the oracle, the templates' checks).
pub fn venv_python() -> PathBuf {
    let moto = std::env::var("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_file(".venv/bin/moto_server"));
    let python = moto.with_file_name("python");
    assert!(python.exists(), "{} not found (run `make venv`)", python.display());
    python
}

/// The function's adapter, configured as in production but pointed at `endpoint` (moto, or a proxy).
pub async fn groups_at(endpoint: &str, config: &Config) -> Ec2 {
    Ec2::with_loader(
        config,
        cloudfront_sg_sync::adapters::aws::loader()
            .endpoint_url(endpoint)
            .test_credentials(),
    )
    .await
}

/// moto counts IPv4 and IPv6 rules together against 60, so the emulator tests use 30 per version.
pub const MAX: &str = "30";

/// moto, and `n` cloudfront_g groups on https in a new VPC of its us-east-1 (ids sorted).
pub async fn global_groups(n: usize) -> (Moto, Client, Vec<String>) {
    let moto = Moto::start();
    let client = moto.client("us-east-1").await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    let mut groups = Vec::new();
    for i in 0..n {
        groups.push(tagged_group(&client, &vpc, &format!("g{i}"), Scope::Global, "https").await);
    }
    groups.sort();
    (moto, client, groups)
}

/// A binary under test with `endpoint` (moto, or a proxy) as its only AWS: region us-east-1, moto's test
/// credentials, no instance metadata.
pub fn aws_at<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// What a binary under test needs to reach `moto` as its only AWS, with 30 rules per group and every other
/// setting at its default.
pub fn emulator_env(cmd: &mut Command, moto: &Moto) {
    aws_at(cmd, &moto.endpoint)
        .env("MAX_RULES_PER_GROUP", "30")
        // Every range one for one, as `config` (a test of the default removes it).
        .env("AGGREGATE", "false")
        .env_remove("REGIONS")
        .env_remove("DRY_RUN");
}

/// An emulator with one VPC in us-east-1, tagged sets, and a file server: what most tests start from.
pub struct World {
    pub moto: Moto,
    pub server: FileServer,
    pub client: Client,
    pub vpc: String,
    pub global: Vec<String>,
    pub regional: Vec<String>,
    /// Where the function's EC2 calls go: moto, or a fault proxy in front of it.
    pub endpoint: String,
}

/// A VPC in us-east-1 with `n_global` cloudfront_g and `n_regional` cloudfront_r groups on https, and `file`
/// served over loopback.
pub async fn world(file: &str, n_global: usize, n_regional: usize) -> World {
    let moto = Moto::start();
    let server = FileServer::start(Reply::Body(fixture(file))).await;
    let client = moto.client("us-east-1").await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    let mut global = Vec::new();
    for i in 0..n_global {
        global.push(tagged_group(&client, &vpc, &format!("cf-g-{i}"), Scope::Global, "https").await);
    }
    let mut regional = Vec::new();
    for i in 0..n_regional {
        regional.push(tagged_group(&client, &vpc, &format!("cf-r-{i}"), Scope::Regional, "https").await);
    }
    global.sort();
    regional.sort();
    let endpoint = moto.endpoint.clone();
    World {
        moto,
        server,
        client,
        vpc,
        global,
        regional,
        endpoint,
    }
}

impl World {
    /// The settings of the function in this world, with `extra` over them.
    pub fn vars<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut v = vec![
            ("AWS_REGION", "us-east-1"),
            ("MAX_RULES_PER_GROUP", MAX),
            ("IP_RANGES_URL", self.server.url.as_str()),
            ("DOWNLOAD_ATTEMPTS", "2"),
            // A file older than its notification fails at once here; the wait is tested on its own.
            ("LAGGING_FILE_WAIT_SECONDS", "0"),
        ];
        v.extend_from_slice(extra);
        v
    }

    /// The function, configured as in production, with its EC2 calls counted.
    pub async fn app(&self, extra: &[(&str, &str)]) -> cloudfront_sg_sync::handler::App<HttpSource, Counting<Ec2>> {
        let config = config(&self.vars(extra));
        let source = HttpSource::new(&config).unwrap();
        let groups = groups_at(&self.endpoint, &config).await;
        cloudfront_sg_sync::handler::App {
            notifications: cloudfront_sg_sync::ports::NoNotifications,
            organization: cloudfront_sg_sync::ports::NoOrganization,
            config,
            source,
            accounts: vec![Account::own(Counting::new(groups))],
        }
    }

    /// Serve `file` and run the function, with its default settings here, on its notification.
    pub async fn notify(&self, file: &str) -> cloudfront_sg_sync::Result<cloudfront_sg_sync::report::Summary> {
        self.server.set(Reply::Body(fixture(file)));
        self.app(&[])
            .await
            .handle(&notification_for(&fixture(file)), None)
            .await
    }

    /// Our CIDRs across `groups` on 443 (checked: none twice, none over the quota).
    pub async fn state(&self, groups: &[String]) -> BTreeSet<Cidr> {
        set_state(&self.client, groups, 443, 30).await
    }
}

/// Hand-made rules of every kind on the first global group, and what the group looked like with them.
pub async fn add_untouchables(w: &World) -> BTreeSet<SeenRule> {
    let other = create_group(&w.client, &w.vpc, "referenced", &[]).await;
    add_hand_made_rules(&w.client, &w.global[0], &other).await;
    rules(&w.client, &w.global[0])
        .await
        .into_iter()
        .filter(|r| !r.is_ours())
        .collect()
}

/// The hand-made rules of `add_untouchables` are as they were.
pub async fn assert_untouched(w: &World, before: &BTreeSet<SeenRule>) {
    let now: BTreeSet<SeenRule> = rules(&w.client, &w.global[0])
        .await
        .into_iter()
        .filter(|r| !r.is_ours())
        .collect();
    assert_eq!(&now, before, "rules the function must never touch changed");
}
