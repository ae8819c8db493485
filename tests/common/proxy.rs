//! A loopback HTTP proxy between the function and `moto_server` that injects faults and records every call.
//!
//! It understands just enough of EC2's and STS's Query protocol (form-encoded POST bodies) to know the action,
//! the group (or the role assumed) and the CIDRs of each call. Faults: a share of calls answered with throttling (HTTP 503
//! `RequestLimitExceeded`), a share of connections dropped, added latency, and one action (optionally for one
//! group) answered with an error. Decisions come from a seeded generator, so a run is reproducible.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to inject.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of calls answered with 503 RequestLimitExceeded, in percent.
    pub throttle_percent: u64,
    /// Share of connections closed without an answer, in percent.
    pub drop_percent: u64,
    /// Added before each call of `latency_action` (or every call, if `None`).
    pub latency: Duration,
    pub latency_action: Option<String>,
    /// (action, group or any, error code): answered with HTTP 400 and that code.
    pub fail: Option<(String, Option<String>, String)>,
    /// Answer Authorize/RevokeSecurityGroupIngress and CreateTags with success without forwarding them
    /// (benchmarks: keeps the emulator's CPU out of the measurement). The rules so answered are remembered and
    /// shown in later DescribeSecurityGroups answers (moto's, or the canned one), so the sync's read-back sees
    /// its writes; rules revoked here still show in moto's answers.
    pub answer_writes: bool,
    /// Answer the reads too, without forwarding them: AssumeRole with credentials, DescribeSecurityGroups with one
    /// tagged GLOBAL https group, the other describes and WAF's ListIPSets with nothing (benchmarks of many
    /// accounts: the function's own concurrency, with no emulator CPU at all).
    pub answer_reads: bool,
    /// After each successful rule write to a group, the next `lag_reads` DescribeSecurityGroups answers show the
    /// group as it was before the write: EC2's reads may lag its writes (eventual consistency); moto's never do.
    pub lag_reads: usize,
    /// Actions answered from the proxy's record of what moto answered the same request (the same body) the
    /// first time (benchmarks: the organization's listings at the latency alone, moto's time in Python out of
    /// them).
    pub replay: Vec<String>,
    /// Hold every write until this many DescribeSecurityGroups have been answered (at most 30 s): concurrent
    /// runs each read before any of them writes, so they race for sure.
    pub hold_writes_until_reads: usize,
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Arrived, not answered yet.
    Pending,
    /// Forwarded to moto, which answered this HTTP status.
    Forwarded(u16),
    Throttled,
    Dropped,
    Failed(String),
}

/// One call as the proxy saw it, recorded on arrival (the calls are in arrival order), its outcome once answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub action: String,
    pub group: Option<String>,
    pub cidrs: Vec<String>,
    pub outcome: Outcome,
    /// When it arrived.
    pub at: Instant,
    /// When it went on (to moto, or to the proxy's own answer), past any hold.
    pub released: Option<Instant>,
    /// When it was answered (or dropped).
    pub done: Option<Instant>,
}

impl Call {
    /// Whether the call changes something, of any service: its action starts with a verb that does
    /// (`Authorize…`, `Revoke…`, `Update…`, `Modify…`, `Create…`, `Delete…`, `TagResource`, `UntagResource`,
    /// `Put…`, `Associate…`, `Disassociate…`, `Publish`), not `Describe…`, `Get…`, `List…`.
    pub fn is_write(&self) -> bool {
        changes(&self.action)
    }

    /// Forwarded and answered 2xx.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Forwarded(s) if (200..300).contains(&s))
    }
}

struct State {
    faults: Faults,
    rng: u64,
    calls: Vec<Call>,
    /// Connections accepted.
    connections: usize,
    /// The rules of writes answered without moto, by writer.
    written: BTreeMap<Writer, Rules>,
    /// The tags of the CreateTags calls it answered itself: per writer and resource, key → value.
    tagged: BTreeMap<Writer, BTreeMap<String, String>>,
    /// Upstream answers to replay: (action, request body) → the whole response.
    recorded: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    /// Each group's `<item>` in the last describe that showed it as it is.
    seen_groups: BTreeMap<String, String>,
    /// Per group written: its `<item>` before the write, and the describes left that show it.
    stale_groups: BTreeMap<String, (String, usize)>,
}

/// (SigV4 access key, region, group).
type Writer = (String, String, String);

/// (port, CIDR) → description.
type Rules = BTreeMap<(String, String), String>;

/// Who wrote (the SigV4 access key: one per account, see the canned AssumeRole), where, to which group.
fn writer_of(head: &str, group: &str) -> Writer {
    let scope = head.split("Credential=").nth(1).unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().unwrap_or_default().to_owned();
    let region = parts.nth(1).unwrap_or_default().to_owned();
    (key, region, group.to_owned())
}

/// The (port, CIDR) → description of each rule an Authorize/RevokeSecurityGroupIngress form names.
fn rules_of_form(form: &[(String, String)]) -> Rules {
    let value = |key: String| form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let mut rules = BTreeMap::new();
    for (key, cidr) in form {
        let Some(rest) = key.strip_prefix("IpPermissions.") else {
            continue;
        };
        let Some(range) = rest.strip_suffix(".CidrIp").or_else(|| rest.strip_suffix(".CidrIpv6")) else {
            continue;
        };
        let permission = rest.split('.').next().unwrap_or_default();
        let port = value(format!("IpPermissions.{permission}.FromPort")).unwrap_or_default();
        let description = value(format!("IpPermissions.{range}.Description")).unwrap_or_default();
        rules.insert((port, cidr.clone()), description);
    }
    rules
}

/// `rules` as EC2's `<ipPermissions>` items, one per port.
fn permissions_xml(rules: &Rules) -> String {
    let mut by_port: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for ((port, cidr), description) in rules {
        let (v4, v6) = by_port.entry(port).or_default();
        match cidr.contains(':') {
            false => v4.push_str(&format!(
                "<item><cidrIp>{cidr}</cidrIp><description>{description}</description></item>"
            )),
            true => v6.push_str(&format!(
                "<item><cidrIpv6>{cidr}</cidrIpv6><description>{description}</description></item>"
            )),
        }
    }
    by_port
        .iter()
        .map(|(port, (v4, v6))| {
            format!(
                "<item><ipProtocol>tcp</ipProtocol><fromPort>{port}</fromPort><toPort>{port}</toPort><groups/>\
                 <ipRanges>{v4}</ipRanges><ipv6Ranges>{v6}</ipv6Ranges><prefixListIds/></item>"
            )
        })
        .collect()
}

/// A DescribeSecurityGroups answer with the remembered rules of `writer`'s groups added to each group's
/// `<ipPermissions>`.
fn with_written(body: &str, state: &State, key: &str, region: &str) -> String {
    let mut parts = body.split("<item><groupId>");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let group = part.split("</groupId>").next().unwrap_or_default();
        let written = state
            .written
            .get(&(key.to_owned(), region.to_owned(), group.to_owned()));
        let rules = written.map(permissions_xml).unwrap_or_default();
        let writer = (key.to_owned(), region.to_owned(), group.to_owned());
        let tags: String = (state.tagged.get(&writer).into_iter().flatten())
            .map(|(k, v)| format!("<item><key>{k}</key><value>{v}</value></item>"))
            .collect();
        let part = part.replacen("<tagSet>", &format!("<tagSet>{tags}"), 1);
        let part = if part.contains("<ipPermissions/>") {
            part.replacen(
                "<ipPermissions/>",
                &format!("<ipPermissions>{rules}</ipPermissions>"),
                1,
            )
        } else {
            part.replacen("<ipPermissions>", &format!("<ipPermissions>{rules}"), 1)
        };
        out.push_str("<item><groupId>");
        out.push_str(&part);
    }
    out
}

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Start a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, faults: Faults) -> FaultProxy {
        FaultProxy::start_routed(&[("", upstream)], faults).await
    }

    /// Start a proxy that sends each call to the upstream of its region (read from the request's SigV4
    /// credential scope); the first route also takes any region not listed.
    pub async fn start_routed(routes: &[(&str, &str)], faults: Faults) -> FaultProxy {
        let routes: Vec<(String, String)> = routes
            .iter()
            .map(|(region, upstream)| (region.to_string(), upstream.trim_start_matches("http://").to_owned()))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let rng = faults.seed;
        let state = Arc::new(Mutex::new(State {
            faults,
            rng,
            calls: Vec::new(),
            connections: 0,
            written: BTreeMap::new(),
            tagged: BTreeMap::new(),
            recorded: BTreeMap::new(),
            seen_groups: BTreeMap::new(),
            stale_groups: BTreeMap::new(),
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                st.lock().unwrap().connections += 1;
                let (st, routes) = (st.clone(), routes.clone());
                tokio::spawn(async move { handle(stream, &routes, &st).await });
            }
        });
        FaultProxy { endpoint, state, task }
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut st = self.state.lock().unwrap();
        st.rng = faults.seed;
        st.faults = faults;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// Write calls that reached moto and succeeded.
    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is_write() && c.succeeded())
            .collect()
    }

    /// Rule writes that reached moto and succeeded: not the CreateTags that records the file applied.
    pub fn rule_writes(&self) -> Vec<Call> {
        let rules = |c: &Call| {
            matches!(
                c.action.as_str(),
                "AuthorizeSecurityGroupIngress"
                    | "RevokeSecurityGroupIngress"
                    | "UpdateSecurityGroupRuleDescriptionsIngress"
            )
        };
        self.writes().into_iter().filter(rules).collect()
    }

    /// Successful ModifyManagedPrefixList calls.
    pub fn list_writes(&self) -> usize {
        self.writes()
            .iter()
            .filter(|c| c.action == "ModifyManagedPrefixList")
            .count()
    }

    /// Successful CreateTags calls (the file applied, one per set whose file changed).
    pub fn tag_writes(&self) -> usize {
        self.writes().iter().filter(|c| c.action == "CreateTags").count()
    }

    /// Every write call attempted, whatever its outcome.
    pub fn write_attempts(&self) -> usize {
        self.calls().iter().filter(|c| c.is_write()).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn next_percent(state: &mut State) -> u64 {
    // splitmix64: well mixed from the first draw, whatever the seed.
    state.rng = state.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = state.rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

/// The region of a SigV4-signed request: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
fn region_of(head: &str) -> Option<&str> {
    let scope = head.split("Credential=").nth(1)?;
    scope.split('/').nth(2)
}

/// Answer the requests of one connection one after another, keeping it open between them as AWS's endpoints
/// do, until the client closes it or an answer closes it (a dropped call, or one forwarded to the upstream).
async fn handle(mut client: TcpStream, routes: &[(String, String)], state: &Mutex<State>) {
    while let Some((head, body)) = read_message(&mut client).await {
        if !answer(&mut client, &head, &body, routes, state).await {
            break;
        }
    }
    let _ = client.shutdown().await;
}

/// Answer one request; whether the connection stays open.
async fn answer(
    client: &mut TcpStream,
    head: &str,
    body: &[u8],
    routes: &[(String, String)],
    state: &Mutex<State>,
) -> bool {
    let region = region_of(head);
    let upstream = routes
        .iter()
        .find(|(r, _)| Some(r.as_str()) == region)
        .unwrap_or(&routes[0])
        .1
        .as_str();
    let form = parse_form(body);
    // Query protocols (EC2, STS) name the action in the form; JSON ones (WAF) in `X-Amz-Target: Service.Action`.
    let action = form
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .or_else(|| json_target(head))
        .unwrap_or_default();
    // The group written to, or (STS) the role assumed.
    let group = form
        .iter()
        .find(|(k, _)| k == "GroupId" || k == "RoleArn")
        .map(|(_, v)| v.clone());
    let cidrs: Vec<String> = form
        .iter()
        .filter(|(k, _)| k.ends_with(".CidrIp") || k.ends_with(".CidrIpv6"))
        .map(|(_, v)| v.clone())
        .collect();

    let index = arrived(state, &action, &group, &cidrs);
    let (decision, latency, canned) = {
        let mut st = state.lock().unwrap();
        let f = st.faults.clone();
        let latency = match &f.latency_action {
            Some(a) if *a != action => Duration::ZERO,
            _ => f.latency,
        };
        let failing = f
            .fail
            .as_ref()
            .filter(|(a, g, _)| *a == action && (g.is_none() || *g == group));
        let decision = if let Some((_, _, code)) = failing {
            Outcome::Failed(code.clone())
        } else if f.throttle_percent > 0 && next_percent(&mut st) < f.throttle_percent {
            Outcome::Throttled
        } else if f.drop_percent > 0 && next_percent(&mut st) < f.drop_percent {
            Outcome::Dropped
        } else {
            Outcome::Forwarded(0)
        };
        let canned = canned_answer(&action, group.as_deref(), &f);
        if canned.is_some() && matches!(decision, Outcome::Forwarded(_)) {
            remember(&mut st, head, &action, group.as_deref(), &form);
        }
        (decision, latency, canned)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    hold_until_read(state, &action).await;
    if let Some(call) = state.lock().unwrap().calls.get_mut(index) {
        call.released = Some(Instant::now());
    }
    let mut upstream_answered = false;
    let outcome = match decision {
        Outcome::Pending => unreachable!("a decision is never pending"),
        Outcome::Throttled => {
            let _ = client
                .write_all(&error_response(503, "RequestLimitExceeded", "Request limit exceeded."))
                .await;
            Outcome::Throttled
        }
        Outcome::Failed(code) => {
            let response = if action == "AssumeRole" {
                sts_error_response(&code, "injected by the fault proxy")
            } else {
                error_response(400, &code, "injected by the fault proxy")
            };
            let _ = client.write_all(&response).await;
            Outcome::Failed(code)
        }
        Outcome::Dropped => Outcome::Dropped,
        Outcome::Forwarded(_) if canned.is_some() => {
            let body = shown(state, head, &action, canned.unwrap_or_default());
            let _ = client.write_all(&xml_response("200 OK", &body)).await;
            Outcome::Forwarded(200)
        }
        Outcome::Forwarded(_) => match forward_or_replay(state, &action, upstream, head, body).await {
            Some(response) if action == "DescribeSecurityGroups" && rewrites_describes(state) => {
                let (head_part, body_part) = split_response(&response);
                let body = lagged(state, shown(state, head, &action, body_part));
                let _ = client.write_all(&xml_response(head_part, &body)).await;
                Outcome::Forwarded(status_of(&response))
            }
            Some(response) => {
                if action.ends_with("SecurityGroupIngress") && (200..300).contains(&status_of(&response)) {
                    lag_after_write(state, group.as_deref());
                }
                // The upstream's own answer, its headers as they are: the connection closes after it.
                upstream_answered = true;
                let _ = client.write_all(&response).await;
                Outcome::Forwarded(status_of(&response))
            }
            None => Outcome::Dropped,
        },
    };
    let keep = !upstream_answered && !matches!(outcome, Outcome::Dropped);
    answered(state, index, outcome);
    keep
}

/// Whether DescribeSecurityGroups answers are rewritten: with the writes the proxy answered, or lagging.
fn rewrites_describes(state: &Mutex<State>) -> bool {
    let st = state.lock().unwrap();
    st.faults.answer_writes || st.faults.lag_reads > 0
}

/// A rule write to `group` succeeded: the next describes show the group as the last one before it did.
fn lag_after_write(state: &Mutex<State>, group: Option<&str>) {
    let mut st = state.lock().unwrap();
    let lag = st.faults.lag_reads;
    let Some(before) = group.and_then(|g| st.seen_groups.get(g)).cloned() else {
        return;
    };
    if lag > 0 {
        let group = group.unwrap_or_default().to_owned();
        st.stale_groups.entry(group).or_insert((before, 0)).1 = lag;
    }
}

/// A DescribeSecurityGroups answer with each group written to lately shown as it was before the write (while
/// its lag lasts); each group shown as it is now is remembered.
fn lagged(state: &Mutex<State>, body: String) -> String {
    let mut st = state.lock().unwrap();
    if st.faults.lag_reads == 0 {
        return body;
    }
    let mut parts = body.split("<item><groupId>");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let end = part.find("</securityGroupInfo>").unwrap_or(part.len());
        let (item, rest) = part.split_at(end);
        let group = item.split("</groupId>").next().unwrap_or_default().to_owned();
        let shown = match st.stale_groups.get_mut(&group) {
            Some((stale, left)) if *left > 0 => {
                *left -= 1;
                stale.clone()
            }
            _ => {
                st.stale_groups.remove(&group);
                st.seen_groups.insert(group, item.to_owned());
                item.to_owned()
            }
        };
        out.push_str("<item><groupId>");
        out.push_str(&shown);
        out.push_str(rest);
    }
    out
}

/// The action of a JSON-protocol call: `X-Amz-Target: AWSWAF_20190729.ListIPSets` → `ListIPSets`.
fn json_target(head: &str) -> Option<String> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("x-amz-target:"))?;
    Some(line.rsplit('.').next()?.trim().to_owned())
}

/// Remember the rules of a rule write, or the tags of a CreateTags, the proxy answers itself.
fn remember(state: &mut State, head: &str, action: &str, group: Option<&str>, form: &[(String, String)]) {
    if action == "CreateTags" {
        return remember_tags(state, head, form);
    }
    let Some(group) = group else { return };
    let rules = state.written.entry(writer_of(head, group)).or_default();
    match action {
        "AuthorizeSecurityGroupIngress" => rules.extend(rules_of_form(form)),
        "RevokeSecurityGroupIngress" => rules.retain(|rule, _| !rules_of_form(form).contains_key(rule)),
        _ => {}
    }
}

/// The tags a CreateTags form puts on its resources.
fn remember_tags(state: &mut State, head: &str, form: &[(String, String)]) {
    let value = |key: String| form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let tags: Vec<(String, String)> = (1..)
        .map_while(|n| {
            Some((
                value(format!("Tag.{n}.Key"))?,
                value(format!("Tag.{n}.Value")).unwrap_or_default(),
            ))
        })
        .collect();
    let resources = form.iter().filter(|(k, _)| k.starts_with("ResourceId."));
    for (_, resource) in resources {
        let held = state.tagged.entry(writer_of(head, resource)).or_default();
        held.extend(tags.iter().cloned());
    }
}

/// A DescribeSecurityGroups answer as the writes the proxy answered have made it; any other answer as is.
fn shown(state: &Mutex<State>, head: &str, action: &str, body: String) -> String {
    if action != "DescribeSecurityGroups" {
        return body;
    }
    let (key, region, _) = writer_of(head, "");
    with_written(&body, &state.lock().unwrap(), &key, &region)
}

/// The status line's text (`200 OK`) and the body of an HTTP response.
fn split_response(response: &[u8]) -> (&str, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = std::str::from_utf8(response)
        .ok()
        .and_then(|r| r.split("\r\n").next())
        .and_then(|line| line.split_once(' '))
        .map_or("200 OK", |(_, status)| status);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// The body the proxy answers `action` with itself, if `faults` asks it to.
/// `group` is the role ARN for AssumeRole: the credentials answered carry its account, so each account's calls
/// are told apart.
fn canned_answer(action: &str, group: Option<&str>, faults: &Faults) -> Option<String> {
    let ec2 = |inner: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response \
             xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>fault-proxy</requestId>{inner}</{action}Response>"
        )
    };
    let write = action.ends_with("SecurityGroupIngress") || action == "CreateTags";
    match action {
        _ if write && faults.answer_writes => Some(ec2("<return>true</return>")),
        _ if !faults.answer_reads => None,
        "AssumeRole" => Some(format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
             <Credentials><AccessKeyId>ASIAPROXY{account}</AccessKeyId><SecretAccessKey>proxy</SecretAccessKey>\
             <SessionToken>proxy</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
             <AssumedRoleUser><Arn>arn:aws:sts::000000000000:assumed-role/proxy/proxy</Arn>\
             <AssumedRoleId>AROAPROXY:proxy</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>\
             <ResponseMetadata><RequestId>fault-proxy</RequestId></ResponseMetadata></AssumeRoleResponse>",
            account = group.and_then(|arn| arn.split(':').nth(4)).unwrap_or_default()
        )),
        "DescribeSecurityGroups" => Some(ec2(
            "<securityGroupInfo><item><groupId>sg-0proxy</groupId><ownerId>000000000000</ownerId>\
             <groupName>set</groupName><groupDescription>set</groupDescription><vpcId>vpc-0proxy</vpcId>\
             <ipPermissions/><ipPermissionsEgress/><tagSet><item><key>Name</key><value>cloudfront_g</value></item>\
             <item><key>AutoUpdate</key><value>true</value></item><item><key>Protocol</key><value>https</value>\
             </item></tagSet></item></securityGroupInfo>",
        )),
        "DescribeNetworkInterfaces" => Some(ec2("<networkInterfaceSet/>")),
        "DescribeManagedPrefixLists" => Some(ec2("<prefixListSet/>")),
        "ListIPSets" => Some("{\"IPSets\":[]}".to_owned()),
        _ => None,
    }
}

/// Whether `action` changes something (see [`Call::is_write`]).
fn changes(action: &str) -> bool {
    const CHANGES: [&str; 12] = [
        "Authorize",
        "Revoke",
        "Update",
        "Modify",
        "Create",
        "Delete",
        "Tag",
        "Untag",
        "Put",
        "Associate",
        "Disassociate",
        "Publish",
    ];
    CHANGES.iter().any(|verb| action.starts_with(verb))
}

/// A write waits until `hold_writes_until_reads` DescribeSecurityGroups have been answered, or 30 s.
async fn hold_until_read(state: &Mutex<State>, action: &str) {
    let started = Instant::now();
    if !changes(action) {
        return;
    }
    while started.elapsed() < Duration::from_secs(30) {
        let (wanted, read) = {
            let st = state.lock().unwrap();
            let read = |c: &&Call| c.action == "DescribeSecurityGroups" && c.succeeded();
            let reads = st.calls.iter().filter(read).count();
            (st.faults.hold_writes_until_reads, reads)
        };
        if read >= wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Record a call as it arrives; its index.
fn arrived(state: &Mutex<State>, action: &str, group: &Option<String>, cidrs: &[String]) -> usize {
    let mut st = state.lock().unwrap();
    st.calls.push(Call {
        action: action.to_owned(),
        group: group.clone(),
        cidrs: cidrs.to_vec(),
        outcome: Outcome::Pending,
        at: Instant::now(),
        released: None,
        done: None,
    });
    st.calls.len() - 1
}

/// Record how the call at `index` ended.
fn answered(state: &Mutex<State>, index: usize, outcome: Outcome) {
    let mut st = state.lock().unwrap();
    if let Some(call) = st.calls.get_mut(index) {
        (call.outcome, call.done) = (outcome, Some(Instant::now()));
    }
}

/// The upstream's answer, or (an action of `replay`) the one it gave the same request before, recorded.
async fn forward_or_replay(
    state: &Mutex<State>,
    action: &str,
    upstream: &str,
    head: &str,
    body: &[u8],
) -> Option<Vec<u8>> {
    let key = (action.to_owned(), body.to_vec());
    let (replays, replayed) = {
        let st = state.lock().unwrap();
        (
            st.faults.replay.iter().any(|a| a == action),
            st.recorded.get(&key).cloned(),
        )
    };
    if !replays {
        return forward(upstream, head, body).await;
    }
    if replayed.is_some() {
        return replayed;
    }
    let response = forward(upstream, head, body).await?;
    state.lock().unwrap().recorded.insert(key, response.clone());
    Some(response)
}

async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await.ok()?;
    // One request per connection, both sides.
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let head = format!("{}\r\n\r\n", lines.join("\r\n"));
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    Some(response)
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(&response[..response.len().min(32)])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn error_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    );
    xml_response(&format!("{status} Injected"), &body)
}

/// An STS error: STS's Query protocol wraps errors in `ErrorResponse`, not EC2's `Response`.
fn sts_error_response(code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    );
    xml_response("403 Injected", &body)
}

/// An HTTP/1.1 answer of `status` (code and reason) carrying the XML `body` (the connection stays open).
fn xml_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Read one HTTP/1.1 request: (head without the blank line, body).
pub async fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while got.len() < head_end + 4 + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    }
    Some((head, got[head_end + 4..head_end + 4 + length].to_vec()))
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
