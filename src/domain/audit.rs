//! The origin audit (pure): is each CloudFront origin reachable only through CloudFront, and only through
//! *this* distribution? What the sync keeps current is half of origin protection; this checks the other half.
//!
//! Per origin of every distribution:
//! - **custom origins**: the origin protocol policy (`https-only` passes, `match-viewer` warns, `http-only`
//!   fails) and the origin's SSL protocols (SSLv3, TLSv1 or TLSv1.1 allowed fails);
//! - **proof of the distribution** (the IP ranges are every customer's CloudFront): a VPC origin, origin mutual
//!   TLS, origin access control or a custom header that looks like a shared secret passes; none warns;
//! - **S3 origins**: origin access control passes, a legacy origin access identity warns, neither (or a
//!   website endpoint, always public) fails;
//! - **load balancer origins** (the origin's domain is an ALB/NLB DNS name of a scanned region): its security
//!   groups hold one complete synced set for the origin port, or reference AWS's managed CloudFront prefix
//!   list; a set attached only in part fails, naming the missing groups; a rule open to `0.0.0.0/0` or `::/0`
//!   on the port fails.
//!
//! The wiring ([`crate::sync::audit`]) reads the facts; [`audit`] judges them; [`AuditReport`] prints them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::domain::aggregate::aggregate;
use crate::domain::cidr::Cidr;
use crate::domain::ip_ranges::Selection;
use crate::domain::organization::{AccountEntry, Members, SkipReason};
use crate::domain::origin_side::{Listener, Secret, Stance, WebAcl, mutual_tls_unverified, origin_stance};
use crate::domain::security_groups::{Group, Rule, RuleSource, SetKey};

/// The names of AWS's managed prefix lists of CloudFront's origin-facing addresses (IPv4, IPv6).
pub const CLOUDFRONT_PREFIX_LISTS: [&str; 2] = [
    "com.amazonaws.global.cloudfront.origin-facing",
    "com.amazonaws.global.ipv6.cloudfront.origin-facing",
];

/// The SSL/TLS versions an origin must not allow.
const WEAK_PROTOCOLS: [&str; 3] = ["SSLv3", "TLSv1", "TLSv1.1"];

/// A check's verdict, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Pass,
    /// Works, but weaker than it should be.
    Warn,
    /// The origin can be reached around CloudFront (or in clear text).
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        ["pass", "warn", "fail"][self as usize]
    }
}

/// What was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// How CloudFront connects to a custom origin: HTTPS only?
    OriginProtocol,
    /// Which SSL/TLS versions CloudFront may use to the origin.
    OriginTls,
    /// What proves a request came through this distribution: VPC origin, mTLS, OAC or a secret header.
    OriginProof,
    /// How an S3 origin is kept private: OAC, OAI, or not at all.
    S3Access,
    /// A load balancer origin's security groups: a complete synced set, or the managed prefix list.
    SyncedSet,
    /// A load balancer origin's security groups: no rule open to the world on the origin port.
    OpenToWorld,
}

impl Check {
    /// As the table and the JSON name it.
    pub fn as_str(self) -> &'static str {
        [
            "origin-protocol",
            "origin-tls",
            "origin-proof",
            "s3-access",
            "synced-set",
            "open-to-world",
        ][self as usize]
    }
}

/// A distribution, as the audit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// `E…`.
    pub id: String,
    /// `d….cloudfront.net`.
    pub domain_name: String,
    /// Its origins.
    pub origins: Vec<Origin>,
}

/// One origin of a distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The origin's id within its distribution.
    pub id: String,
    /// Where CloudFront connects.
    pub domain_name: String,
    /// What kind of origin, with its settings.
    pub kind: OriginKind,
    /// Its origin access control, if any (S3, Lambda function URLs, MediaStore...).
    pub access_control: Option<String>,
    /// The custom headers CloudFront adds to each request to it (names only: values never leave the adapter).
    pub headers: Vec<CustomHeader>,
}

/// A custom origin header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHeader {
    /// The header's name.
    pub name: String,
    /// Whether its value looks like a shared secret ([`secret_like`]).
    pub secret_like: bool,
    /// Its value, compared with what the origin requires and never shown.
    pub value: Secret,
}

/// The kinds of origin CloudFront has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginKind {
    /// Any HTTP(S) server: a load balancer, an instance, an S3 website endpoint, another host.
    Custom(CustomOrigin),
    /// An S3 bucket's REST endpoint; the legacy origin access identity, if any.
    S3 {
        /// `origin-access-identity/cloudfront/…`, when set.
        access_identity: Option<String>,
    },
    /// A VPC origin: a private ALB, NLB or instance that only CloudFront reaches.
    Vpc {
        /// `vo_…`.
        id: String,
    },
}

/// A custom origin's connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOrigin {
    /// `http-only`, `match-viewer` or `https-only`.
    pub protocol_policy: String,
    /// The port CloudFront uses for HTTP.
    pub http_port: u16,
    /// The port CloudFront uses for HTTPS.
    pub https_port: u16,
    /// The SSL/TLS versions CloudFront may use to it.
    pub ssl_protocols: Vec<String>,
    /// Whether CloudFront presents a client certificate to it (origin mutual TLS).
    pub mutual_tls: bool,
    /// How CloudFront may connect to it: `ipv4`, `ipv6` or `dualstack` (`None`: not said, IPv4).
    pub ip_address_type: Option<String>,
}

impl CustomOrigin {
    /// The ports CloudFront connects to: the HTTPS port, the HTTP port, or both for `match-viewer`.
    pub fn ports(&self) -> Vec<u16> {
        match self.protocol_policy.as_str() {
            "https-only" => vec![self.https_port],
            "http-only" => vec![self.http_port],
            _ => vec![self.http_port, self.https_port],
        }
    }
}

/// An Application or Network Load Balancer of a scanned region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Its name.
    pub name: String,
    /// Its DNS name, which an origin's domain matches.
    pub dns_name: String,
    /// `application` or `network`.
    pub kind: String,
    /// Its VPC.
    pub vpc: String,
    /// Its security groups (an NLB may have none).
    pub security_groups: Vec<String>,
    /// `ipv4`, `dualstack` or `dualstack-without-public-ipv4`.
    pub ip_address_type: String,
    /// Its ARN.
    pub arn: String,
    /// Its listeners with their rules (read for the load balancers that are origins).
    pub listeners: Vec<Listener>,
    /// The web ACL associated with it, if any (read for the load balancers that are origins).
    pub web_acl: Option<WebAcl>,
}

/// A synced set: every group tagged for the same account, region, VPC, `Name` and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedSet {
    /// Its identity.
    pub key: SetKey,
    /// Its groups.
    pub groups: BTreeSet<String>,
}

/// What the audit read in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionFacts {
    /// Its load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// Its synced sets.
    pub sets: Vec<SyncedSet>,
    /// The security groups of the load balancers that are origins, with every ingress rule.
    pub groups: BTreeMap<String, Group>,
    /// The ids of AWS's managed CloudFront prefix lists here ([`CLOUDFRONT_PREFIX_LISTS`]).
    pub cloudfront_lists: BTreeSet<String>,
}

/// Everything the audit judges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Every distribution of the account.
    pub distributions: Vec<Distribution>,
    /// The scanned regions.
    pub regions: BTreeMap<String, RegionFacts>,
    /// The ranges of the file published now, as the sync selects them: a set carried whole that lacks some is
    /// stale. `None`: not read, not checked.
    pub file: Option<Selection>,
}

impl Facts {
    /// The load balancer whose DNS name is `domain` (matched without case, a trailing dot or the `dualstack.`
    /// prefix), with its region and what was read there.
    pub fn load_balancer(&self, domain: &str) -> Option<(&str, &RegionFacts, &LoadBalancer)> {
        let name = normalize(domain);
        self.regions.iter().find_map(|(region, facts)| {
            let lb = facts.load_balancers.iter().find(|lb| normalize(&lb.dns_name) == name)?;
            Some((region.as_str(), facts, lb))
        })
    }
}

/// The load balancers of `load_balancers` that are origins of `distributions`.
pub fn origin_load_balancers<'a>(
    distributions: &'a [Distribution],
    load_balancers: &'a [LoadBalancer],
) -> impl Iterator<Item = &'a LoadBalancer> + 'a {
    let domains: BTreeSet<String> = distributions
        .iter()
        .flat_map(|d| &d.origins)
        .map(|o| normalize(&o.domain_name))
        .collect();
    load_balancers
        .iter()
        .filter(move |lb| domains.contains(&normalize(&lb.dns_name)))
}

/// Whether an origin's `domain` is the load balancer DNS name `dns` (without case, a trailing dot or the
/// `dualstack.` prefix).
pub fn same_domain(domain: &str, dns: &str) -> bool {
    normalize(domain) == normalize(dns)
}

fn normalize(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain.strip_prefix("dualstack.").map(str::to_owned).unwrap_or(domain)
}

/// Headers whose values are never a shared secret (standard request headers and CloudFront's own).
const PLAIN_HEADERS: [&str; 8] = [
    "accept",
    "cache-control",
    "host",
    "origin",
    "referer",
    "user-agent",
    "x-forwarded-",
    "cloudfront-",
];

/// Whether a custom origin header looks like a shared secret: not a standard header, and a value of at least
/// 16 characters, without spaces, of at least 8 different characters (a token, not a word or a flag).
pub fn secret_like(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let plain = PLAIN_HEADERS.iter().any(|p| {
        if p.ends_with('-') {
            name.starts_with(p)
        } else {
            name == *p
        }
    });
    let distinct: BTreeSet<char> = value.chars().collect();
    !plain && value.chars().count() >= 16 && !value.contains(char::is_whitespace) && distinct.len() >= 8
}

/// One check of one origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The distribution's id.
    pub distribution: String,
    /// The origin's id.
    pub origin: String,
    /// What was checked.
    pub check: Check,
    /// The verdict.
    pub status: Status,
    /// Why, naming what was found.
    pub why: String,
    /// How to fix it (empty when it passes).
    pub fix: String,
}

/// A verdict before it is tied to its distribution and origin.
struct Verdict {
    check: Check,
    status: Status,
    why: String,
    fix: String,
}

fn pass(check: Check, why: String) -> Verdict {
    Verdict {
        check,
        status: Status::Pass,
        why,
        fix: String::new(),
    }
}

fn warn(check: Check, why: String, fix: &str) -> Verdict {
    Verdict {
        check,
        status: Status::Warn,
        why,
        fix: fix.to_owned(),
    }
}

fn fail(check: Check, why: String, fix: String) -> Verdict {
    Verdict {
        check,
        status: Status::Fail,
        why,
        fix,
    }
}

/// Judge every origin of every distribution.
pub fn audit(facts: &Facts) -> AuditReport {
    let distributions = facts
        .distributions
        .iter()
        .map(|d| {
            let findings: Vec<Finding> = d
                .origins
                .iter()
                .flat_map(|origin| {
                    judge(facts, origin).into_iter().map(|v| Finding {
                        distribution: d.id.clone(),
                        origin: origin.id.clone(),
                        check: v.check,
                        status: v.status,
                        why: v.why,
                        fix: v.fix,
                    })
                })
                .collect();
            DistributionReport {
                id: d.id.clone(),
                domain_name: d.domain_name.clone(),
                status: worst(&findings),
                findings,
            }
        })
        .collect();
    AuditReport {
        regions: facts.regions.keys().cloned().collect(),
        distributions,
    }
}

fn worst(findings: &[Finding]) -> Status {
    findings.iter().map(|f| f.status).max().unwrap_or(Status::Pass)
}

/// The checks of one origin.
fn judge(facts: &Facts, origin: &Origin) -> Vec<Verdict> {
    match &origin.kind {
        OriginKind::Vpc { id } => vec![pass(
            Check::OriginProof,
            format!("VPC origin {id}: only CloudFront reaches it, inside the VPC"),
        )],
        OriginKind::S3 { access_identity } => {
            vec![s3_access(origin.access_control.as_deref(), access_identity.as_deref())]
        }
        OriginKind::Custom(_) if is_s3_website(&origin.domain_name) => vec![fail(
            Check::S3Access,
            format!("{} is an S3 website endpoint: its bucket is public", origin.domain_name),
            "use the bucket's REST endpoint as an S3 origin with origin access control".to_owned(),
        )],
        OriginKind::Custom(custom) => {
            let mut verdicts = vec![protocol(custom)];
            verdicts.extend(tls(custom));
            verdicts.push(proof(facts, origin, custom));
            verdicts.extend(network(facts, origin, custom));
            verdicts
        }
    }
}

fn is_s3_website(domain: &str) -> bool {
    let domain = normalize(domain);
    domain.contains(".s3-website") && (domain.ends_with(".amazonaws.com") || domain.ends_with(".amazonaws.com.cn"))
}

fn s3_access(access_control: Option<&str>, access_identity: Option<&str>) -> Verdict {
    match (access_control, access_identity) {
        (Some(oac), _) => pass(Check::S3Access, format!("origin access control {oac}")),
        (None, Some(oai)) => warn(
            Check::S3Access,
            format!("legacy origin access identity {oai}"),
            "move to origin access control (OAC): it signs every request and supports SSE-KMS",
        ),
        (None, None) => fail(
            Check::S3Access,
            "neither origin access control nor an origin access identity: the bucket must be public".to_owned(),
            "add origin access control and let only this distribution read the bucket (its policy)".to_owned(),
        ),
    }
}

const HTTPS_ONLY_FIX: &str = "set the origin protocol policy to HTTPS only";

fn protocol(custom: &CustomOrigin) -> Verdict {
    match custom.protocol_policy.as_str() {
        "https-only" => pass(Check::OriginProtocol, "CloudFront connects over HTTPS only".to_owned()),
        "match-viewer" => warn(
            Check::OriginProtocol,
            "match-viewer: CloudFront connects over plain HTTP when the viewer does".to_owned(),
            HTTPS_ONLY_FIX,
        ),
        "http-only" => fail(
            Check::OriginProtocol,
            "http-only: requests, and any secret header, travel in clear text".to_owned(),
            HTTPS_ONLY_FIX.to_owned(),
        ),
        policy => warn(
            Check::OriginProtocol,
            format!("CloudFront reported no known origin protocol policy ({policy})"),
            HTTPS_ONLY_FIX,
        ),
    }
}

/// The SSL/TLS versions, when CloudFront may use TLS to the origin (not `http-only`, nor an unknown policy).
fn tls(custom: &CustomOrigin) -> Option<Verdict> {
    if !matches!(custom.protocol_policy.as_str(), "https-only" | "match-viewer") {
        return None;
    }
    let weak: Vec<&str> = custom
        .ssl_protocols
        .iter()
        .map(String::as_str)
        .filter(|p| WEAK_PROTOCOLS.contains(p))
        .collect();
    Some(if weak.is_empty() {
        pass(Check::OriginTls, format!("allows {}", custom.ssl_protocols.join(", ")))
    } else {
        fail(
            Check::OriginTls,
            format!("allows {}", weak.join(", ")),
            "allow only TLSv1.2 in the origin SSL protocols".to_owned(),
        )
    })
}

const PROOF_FIX: &str = "add a secret custom origin header and require it at the origin (ALB listener rule or AWS \
                         WAF), or use a VPC origin or origin mutual TLS";

/// What proves a request came through this distribution: origin access control, or origin mutual TLS and secret
/// headers judged where the origin is a load balancer of the scanned regions (else as sent, "cannot verify at the
/// origin").
fn proof(facts: &Facts, origin: &Origin, custom: &CustomOrigin) -> Verdict {
    let secrets: Vec<&CustomHeader> = origin.headers.iter().filter(|h| h.secret_like).collect();
    if let (false, Some(oac)) = (custom.mutual_tls, &origin.access_control) {
        return pass(
            Check::OriginProof,
            format!("origin access control {oac} signs each request"),
        );
    }
    if !custom.mutual_tls && secrets.is_empty() {
        return warn(
            Check::OriginProof,
            "nothing proves a request came through this distribution: anyone's distribution uses the same addresses"
                .to_owned(),
            PROOF_FIX,
        );
    }
    match facts.load_balancer(&origin.domain_name) {
        Some((_, _, lb)) if lb.kind == "application" => at_the_origin(lb, custom, &secrets),
        Some(_) => as_sent(
            custom,
            &secrets,
            "a network load balancer does not read headers: its targets must",
        ),
        None => as_sent(custom, &secrets, "it is no load balancer of the scanned regions"),
    }
}

/// The proof as CloudFront sends it, where the origin cannot be read (`why`).
fn as_sent(custom: &CustomOrigin, secrets: &[&CustomHeader], why: &str) -> Verdict {
    let names: Vec<&str> = secrets.iter().map(|h| h.name.as_str()).collect();
    let sent = match custom.mutual_tls {
        true => "origin mutual TLS: CloudFront presents a client certificate".to_owned(),
        false => format!("custom header {} looks like a shared secret", names.join(", ")),
    };
    pass(
        Check::OriginProof,
        format!("{sent} (cannot verify at the origin: {why}; the origin must require it)"),
    )
}

/// Origin mutual TLS and each secret header judged at load balancer `lb`, on the listeners of the ports
/// CloudFront uses: a fail (CloudFront refused) first, else a pass, else the first warning.
fn at_the_origin(lb: &LoadBalancer, custom: &CustomOrigin, secrets: &[&CustomHeader]) -> Verdict {
    let ports = custom.ports();
    let listeners: Vec<&Listener> = lb.listeners.iter().filter(|l| ports.contains(&l.port)).collect();
    let mut verdicts = Vec::new();
    if custom.mutual_tls {
        verdicts.push(mutual_tls(lb, &listeners));
    }
    for header in secrets {
        let stance = origin_stance(&listeners, lb.web_acl.as_ref(), &header.name, &header.value);
        verdicts.push(header_verdict(
            lb,
            (&ports, !listeners.is_empty()),
            &header.name,
            stance,
        ));
    }
    let rank = |v: &Verdict| match v.status {
        Status::Fail => 0,
        Status::Pass => 1,
        Status::Warn => 2,
    };
    verdicts.sort_by_key(rank);
    verdicts.swap_remove(0)
}

/// Origin mutual TLS at `lb`: proof only where each listener verifies the client certificate.
fn mutual_tls(lb: &LoadBalancer, listeners: &[&Listener]) -> Verdict {
    let unverified = mutual_tls_unverified(listeners);
    let named: Vec<String> = unverified
        .iter()
        .map(|l| {
            let mode = l.mutual_authentication.as_deref().unwrap_or("off");
            format!("{}:{} ({mode})", l.protocol, l.port)
        })
        .collect();
    match (listeners.is_empty(), named.is_empty()) {
        (false, true) => pass(
            Check::OriginProof,
            format!(
                "origin mutual TLS, verified by load balancer {} with a trust store",
                lb.name
            ),
        ),
        _ => warn(
            Check::OriginProof,
            format!(
                "CloudFront presents a client certificate, but load balancer {} does not verify it: listener {}",
                lb.name,
                if named.is_empty() {
                    "none on the origin port".to_owned()
                } else {
                    named.join(", ")
                }
            ),
            "set the listener's mutual authentication to verify, with a trust store holding the CA of CloudFront's client certificate",
        ),
    }
}

const REQUIRE_FIX: &str = "require the header on every listener rule that forwards, with the value the distribution \
                           sends, and make the default action a fixed 403; or block requests without it in a web \
                           ACL associated with the load balancer";

/// The verdict on a secret header `name` from where load balancer `lb` stands on it, on `ports` (`listened`: with
/// a listener on one of them at least).
fn header_verdict(lb: &LoadBalancer, (ports, listened): (&[u16], bool), name: &str, stance: Stance) -> Verdict {
    let lb_name = &lb.name;
    match stance {
        Stance::Required(place) => pass(
            Check::OriginProof,
            format!("custom header {name} is required at load balancer {lb_name}: {place}"),
        ),
        Stance::Refused(why) => fail(
            Check::OriginProof,
            format!("load balancer {lb_name}: {why}: CloudFront's own requests are refused"),
            "make the origin accept the value the distribution sends (finish or undo the rotation), then require only it"
                .to_owned(),
        ),
        Stance::Open(ways) => warn(
            Check::OriginProof,
            format!(
                "custom header {name} is sent but not required at load balancer {lb_name}: requests without it get through {}",
                ways.join(", ")
            ),
            REQUIRE_FIX,
        ),
        Stance::Unjudged(what) => warn(
            Check::OriginProof,
            format!("custom header {name} is sent; whether load balancer {lb_name} requires it was not judged: {what}"),
            "check that rule by hand, or require the header in a listener rule or a byte match the audit reads",
        ),
        Stance::Silent => {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let found = match listened {
                true => "no rule that forwards",
                false => "no listener",
            };
            warn(
                Check::OriginProof,
                format!(
                    "custom header {name} is sent but nothing at load balancer {lb_name} requires it ({found} on port {})",
                    ports.join(", ")
                ),
                REQUIRE_FIX,
            )
        }
    }
}

/// A load balancer origin's security groups, per port CloudFront connects to; a warning when the origin is no
/// load balancer of the scanned regions.
fn network(facts: &Facts, origin: &Origin, custom: &CustomOrigin) -> Vec<Verdict> {
    let Some((region, here, lb)) = facts.load_balancer(&origin.domain_name) else {
        let regions: Vec<&str> = facts.regions.keys().map(String::as_str).collect();
        return vec![warn(
            Check::SyncedSet,
            format!(
                "not a load balancer of the scanned regions ({}): what filters its traffic was not checked",
                regions.join(", ")
            ),
            "add the load balancer's region to --regions, or check the origin's own firewall",
        )];
    };
    let mut verdicts = Vec::new();
    for port in custom.ports() {
        verdicts.extend(synced_set(here, (region, lb), port, facts.file.as_ref()));
        verdicts.extend(over_ipv6(here, region, lb, custom, port));
        verdicts.push(open_to_world(here, lb, port));
    }
    verdicts
}

/// When CloudFront may connect over IPv6 (the origin's IP address type `ipv6` or `dualstack`): the load balancer
/// must have an IPv6 address and its groups hold CloudFront's IPv6 ranges on `port`, else CloudFront's IPv6
/// connections fail. Nothing to judge for an IPv4 origin.
fn over_ipv6(here: &RegionFacts, region: &str, lb: &LoadBalancer, custom: &CustomOrigin, port: u16) -> Option<Verdict> {
    let origin = custom
        .ip_address_type
        .as_deref()
        .filter(|t| matches!(*t, "ipv6" | "dualstack"))?;
    let name = format!("{} load balancer {} ({region})", lb.kind, lb.name);
    let why = format!("CloudFront may connect to this origin over IPv6 (its IP address type is {origin})");
    if !lb.ip_address_type.starts_with("dualstack") {
        // A dualstack origin on an IPv4-only load balancer is reached over IPv4 (no AAAA record): fine.
        return (origin == "ipv6").then(|| {
            fail(
                Check::SyncedSet,
                format!(
                    "{why}, only over IPv6, and {name} has no IPv6 address ({})",
                    lb.ip_address_type
                ),
                "make the load balancer dualstack, or set the origin's IP address type to ipv4 or dualstack".to_owned(),
            )
        });
    }
    let carried = lb
        .security_groups
        .iter()
        .filter_map(|g| here.groups.get(g))
        .flat_map(|g| &g.rules);
    let ipv6_held = carried
        .filter_map(Rule::ours)
        .any(|(cidr, p)| p == port && cidr.version() == crate::domain::cidr::IpVersion::Ipv6);
    Some(match ipv6_held {
        true => pass(
            Check::SyncedSet,
            format!("{why}: {name} is dualstack and its groups hold CloudFront's IPv6 ranges for port {port}"),
        ),
        false => fail(
            Check::SyncedSet,
            format!(
                "{why} and {name} is dualstack, but its groups hold none of CloudFront's IPv6 ranges for port \
                 {port}: those connections are dropped"
            ),
            "sync IPv6 too (IP_VERSIONS=ipv4,ipv6), or set the origin's IP address type to ipv4".to_owned(),
        ),
    })
}

/// One complete set for `port`, or the managed list; every set carried only in part fails.
fn synced_set(
    here: &RegionFacts,
    (region, lb): (&str, &LoadBalancer),
    port: u16,
    file: Option<&Selection>,
) -> Vec<Verdict> {
    let name = format!("{} load balancer {} ({region})", lb.kind, lb.name);
    if lb.security_groups.is_empty() {
        return vec![fail(
            Check::SyncedSet,
            format!("{name} has no security groups: nothing filters who connects"),
            "use a load balancer with security groups holding a synced set (an NLB gets them only when created), \
             or a VPC origin"
                .to_owned(),
        )];
    }
    let carried: BTreeSet<&str> = lb.security_groups.iter().map(String::as_str).collect();
    let (mut complete, mut verdicts) = (Vec::new(), Vec::new());
    for set in here.sets.iter().filter(|s| s.key.port == port && s.key.vpc == lb.vpc) {
        let missing: Vec<&str> = set
            .groups
            .iter()
            .map(String::as_str)
            .filter(|g| !carried.contains(g))
            .collect();
        if missing.is_empty() {
            match carried_whole(here, set, port, file, &name) {
                Some(verdict) => verdicts.push(verdict),
                None => complete.push(format!("the complete {} set", set.key.scope.tag_value())),
            }
        } else if missing.len() < set.groups.len() {
            verdicts.push(fail(
                Check::SyncedSet,
                format!(
                    "{name} carries {} of the {} groups of the {} set for port {port}; missing: {}",
                    set.groups.len() - missing.len(),
                    set.groups.len(),
                    set.key.scope.tag_value(),
                    missing.join(", ")
                ),
                attach_advice(carried.len(), &missing, &world_only(here, lb, port)),
            ));
        }
    }
    if references_cloudfront_list(here, &carried, port) {
        complete.push("AWS's managed CloudFront prefix list".to_owned());
    }
    verdicts.extend(what_lets_cloudfront_in(&name, port, &complete, verdicts.is_empty()));
    verdicts
}

/// The pass naming what lets CloudFront in on `port` (`complete`), or, when nothing does and nothing else was
/// found wrong (`nothing_else`), the fail saying so.
fn what_lets_cloudfront_in(name: &str, port: u16, complete: &[String], nothing_else: bool) -> Option<Verdict> {
    if !complete.is_empty() {
        return Some(pass(
            Check::SyncedSet,
            format!("{name} holds {} for port {port}", complete.join(" and ")),
        ));
    }
    nothing_else.then(|| {
        fail(
            Check::SyncedSet,
            format!("{name}'s security groups hold no synced set for port {port} and no managed CloudFront list"),
            format!(
                "attach every group of a cloudfront_g and a cloudfront_r set tagged for port {port}, or allow the \
                 prefix list {}",
                CLOUDFRONT_PREFIX_LISTS[0]
            ),
        )
    })
}

/// A set carried whole that does not let CloudFront in as the file says: emptied, or stale; `None` when it holds
/// the file's ranges (or no file was read).
fn carried_whole(
    here: &RegionFacts,
    set: &SyncedSet,
    port: u16,
    file: Option<&Selection>,
    name: &str,
) -> Option<Verdict> {
    if holds_none(here, set, port) {
        return Some(emptied(name, set, port));
    }
    stale(here, set, port, file?, name)
}

/// The ranges of `file` the groups of `set` do not cover with rules of ours on `port`, as a fail naming a few;
/// `None` when they cover every one (however aggregated), or when a group references a prefix list on the port
/// (its entries are not read).
fn stale(here: &RegionFacts, set: &SyncedSet, port: u16, file: &Selection, name: &str) -> Option<Verdict> {
    let rules: Vec<&Rule> = (set.groups.iter().filter_map(|g| here.groups.get(g)))
        .flat_map(|g| &g.rules)
        .collect();
    if rules
        .iter()
        .any(|r| matches!(r.source, RuleSource::PrefixList(_)) && r.covers(port))
    {
        return None;
    }
    let held: BTreeSet<Cidr> = (rules.iter().filter_map(|r| r.ours()))
        .filter_map(|(cidr, p)| (p == port).then_some(cidr))
        .collect();
    let held = aggregate(&held);
    let wanted = file.ranges(set.key.scope);
    let covered = |w: &Cidr| held.iter().any(|h| h.net().contains(&w.net()));
    let missing: Vec<String> = wanted.iter().filter(|w| !covered(w)).map(ToString::to_string).collect();
    if missing.is_empty() {
        return None;
    }
    Some(fail(
        Check::SyncedSet,
        format!(
            "{name} carries the complete {} set for port {port}, but its groups lack {} of the {} ranges of the file \
             published now (syncToken {}), e.g. {}: CloudFront's connections from them are dropped",
            set.key.scope.tag_value(),
            missing.len(),
            wanted.len(),
            file.sync_token,
            missing.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
        "sync the set (`cloudfront-sg-sync apply`, or see why the function's last runs failed: its alarms and \
         summary)"
            .to_owned(),
    ))
}

/// Whether the groups of `set` hold none of our rules on `port` (as read: a group not read counts as holding
/// none): the set was emptied (`remove --apply`) or never synced, and lets no CloudFront range in.
fn holds_none(here: &RegionFacts, set: &SyncedSet, port: u16) -> bool {
    let rules = set
        .groups
        .iter()
        .filter_map(|g| here.groups.get(g))
        .flat_map(|g| &g.rules);
    !rules.filter_map(Rule::ours).any(|(_, p)| p == port)
}

/// The verdict on a set carried whole whose groups hold none of CloudFront's ranges.
fn emptied(name: &str, set: &SyncedSet, port: u16) -> Verdict {
    fail(
        Check::SyncedSet,
        format!(
            "{name} carries the complete {} set for port {port}, but its groups hold none of CloudFront's ranges \
             (emptied by `remove --apply`, or never synced): CloudFront cannot reach the origin",
            set.key.scope.tag_value()
        ),
        "sync the set (`cloudfront-sg-sync apply`, or wait for the function's next run)".to_owned(),
    )
}

/// Security groups a load balancer (a network interface) takes by default.
pub const GROUPS_PER_LOAD_BALANCER: usize = 5;

/// How to complete a set a load balancer carrying `carried` groups holds only in part: attach the `missing`
/// groups when they fit beside the others (5 by default), else another way to let CloudFront in.
fn attach_advice(carried: usize, missing: &[&str], detach: &[&str]) -> String {
    if carried + missing.len() <= GROUPS_PER_LOAD_BALANCER {
        return format!("attach {} to the load balancer too", missing.join(", "));
    }
    // The groups the audit tells you to detach (open to the world, nothing else) free their slots.
    if carried - detach.len().min(carried) + missing.len() <= GROUPS_PER_LOAD_BALANCER && !detach.is_empty() {
        return format!(
            "detach {} (open to the world, nothing else) and attach {} to the load balancer",
            detach.join(", "),
            missing.join(", ")
        );
    }
    format!(
        "the load balancer carries {carried} security groups and takes {GROUPS_PER_LOAD_BALANCER} by default, so the \
         {} missing do not fit: sync a prefix list tagged for the sync instead (one rule in one group), allow AWS's \
         managed list {}, or raise the quota of security groups per network interface",
        missing.len(),
        CLOUDFRONT_PREFIX_LISTS[0]
    )
}

fn references_cloudfront_list(here: &RegionFacts, carried: &BTreeSet<&str>, port: u16) -> bool {
    carried
        .iter()
        .filter_map(|id| here.groups.get(*id))
        .flat_map(|g| &g.rules)
        .any(|r| r.from_any_list(&here.cloudfront_lists) && r.covers(port))
}

/// Whether `rule` lets the whole internet (`0.0.0.0/0` or `::/0`) in on `port`.
fn world_open(rule: &Rule, port: u16) -> bool {
    matches!(rule.source, RuleSource::Cidr(Cidr::V4(_, 0) | Cidr::V6(_, 0))) && rule.covers(port)
}

/// The load balancer's groups that hold rules and nothing but rules open to the world on `port`: the audit
/// tells you to detach them, and each frees a slot for a set's group.
fn world_only<'a>(here: &RegionFacts, lb: &'a LoadBalancer, port: u16) -> Vec<&'a str> {
    let only_world = |id: &&String| {
        here.groups
            .get(*id)
            .is_some_and(|g| !g.rules.is_empty() && g.rules.iter().all(|r| world_open(r, port)))
    };
    lb.security_groups
        .iter()
        .filter(only_world)
        .map(String::as_str)
        .collect()
}

/// No rule of the load balancer's groups lets `0.0.0.0/0` or `::/0` in on `port`.
fn open_to_world(here: &RegionFacts, lb: &LoadBalancer, port: u16) -> Verdict {
    let open: Vec<String> = lb
        .security_groups
        .iter()
        .filter_map(|id| here.groups.get(id))
        .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
        .filter(|(_, r)| world_open(r, port))
        .filter_map(|(g, r)| match r.source {
            RuleSource::Cidr(c) => Some(format!("{} {c}", g.id)),
            _ => None,
        })
        .collect();
    if open.is_empty() {
        pass(
            Check::OpenToWorld,
            format!("no rule open to 0.0.0.0/0 or ::/0 on port {port}"),
        )
    } else {
        fail(
            Check::OpenToWorld,
            format!("open to the world on port {port}: {}", open.join(", ")),
            match world_only(here, lb, port).as_slice() {
                [] => "remove those rules: they let anyone reach the origin around CloudFront".to_owned(),
                groups => format!(
                    "remove those rules: they let anyone reach the origin around CloudFront; {} hold nothing else: \
                     detach them from the load balancer",
                    groups.join(", ")
                ),
            },
        )
    }
}

/// The audit of one distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistributionReport {
    /// `E…`.
    pub id: String,
    /// `d….cloudfront.net`.
    pub domain_name: String,
    /// Its worst finding (`pass` when it has none).
    pub status: Status,
    /// Every check of every origin, in origin order.
    pub findings: Vec<Finding>,
}

/// What an audit answers: one document, every distribution named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The regions whose load balancers and security groups were read.
    pub regions: Vec<String>,
    /// Every distribution, in the order CloudFront listed them.
    pub distributions: Vec<DistributionReport>,
}

impl AuditReport {
    /// The worst finding of all (`pass` when there is none).
    pub fn status(&self) -> Status {
        self.distributions
            .iter()
            .map(|d| d.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// How many findings have each status.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for f in self.distributions.iter().flat_map(|d| &d.findings) {
            *counts.entry(f.status).or_insert(0) += 1;
        }
        counts
    }
}

/// The widest a line of the audit's table gets (`--json` has everything, unwrapped).
pub const TABLE_WIDTH: usize = 120;

impl fmt::Display for AuditReport {
    /// A table: distribution, origin, check, status, then why and how to fix, wrapped within [`TABLE_WIDTH`]
    /// (a row's next lines begin with spaces); then one line of totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self
            .distributions
            .iter()
            .flat_map(|d| &d.findings)
            .map(|x| (Vec::new(), x));
        write_table(f, &[], rows.collect())?;
        write!(
            f,
            "{} distribution(s), regions {}: {}",
            self.distributions.len(),
            self.regions.join(", "),
            totals(&self.counts())
        )
    }
}

/// `n fail, n warn, n pass`.
fn totals(counts: &BTreeMap<Status, usize>) -> String {
    let count = |s: Status| counts.get(&s).copied().unwrap_or(0);
    format!(
        "{} fail, {} warn, {} pass",
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Pass)
    )
}

/// The table of `rows` (each: the cells of the columns `first` names, then its finding): the columns, then
/// distribution, origin, check, status, then why and how to fix, wrapped within [`TABLE_WIDTH`].
fn write_table(f: &mut fmt::Formatter<'_>, first: &[&str], rows: Vec<(Vec<String>, &Finding)>) -> fmt::Result {
    let header: Vec<String> = first
        .iter()
        .chain(&["DISTRIBUTION", "ORIGIN", "CHECK", "STATUS"])
        .map(|h| (*h).to_owned())
        .collect();
    let cells = |(lead, x): &(Vec<String>, &Finding)| -> Vec<String> {
        let own = [&x.distribution, &x.origin, x.check.as_str(), x.status.as_str()];
        lead.iter().cloned().chain(own.map(str::to_owned)).collect()
    };
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows.iter().map(cells) {
        for (width, cell) in widths.iter_mut().zip(&row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let left = widths.iter().sum::<usize>() + 2 * widths.len();
    let room = TABLE_WIDTH.saturating_sub(left).max(40);
    let line = |row: &[String]| -> String { row.iter().zip(&widths).map(|(c, w)| format!("{c:w$}  ")).collect() };
    writeln!(f, "{}WHY / FIX", line(&header))?;
    for row in &rows {
        let x = row.1;
        let mut text = wrap(&x.why, room);
        if !x.fix.is_empty() {
            text.extend(wrap(&format!("fix: {}", x.fix), room));
        }
        let pad = " ".repeat(left);
        for (i, part) in text.iter().enumerate() {
            let start = if i == 0 { line(&cells(row)) } else { pad.clone() };
            writeln!(f, "{}", format!("{start}{part}").trim_end())?;
        }
    }
    Ok(())
}

/// The audit of every account of `ACCOUNTS` (the CLI's `audit --accounts`): each account's report, or why it
/// could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountsAudit {
    /// Every account audited or not readable, by id.
    pub accounts: Vec<AccountAudit>,
    /// The accounts not audited (suspended, closing, excluded), each with its entry and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedAccount>,
}

/// One account's part of an [`AccountsAudit`].
#[derive(Debug, Clone, Serialize)]
pub struct AccountAudit {
    /// Its id.
    pub account: String,
    /// The entry of `ACCOUNTS` that brought it in.
    pub entry: AccountEntry,
    /// Its audit, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AuditReport>,
    /// Why it could not be audited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An account of `ACCOUNTS` not audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedAccount {
    /// Its id.
    pub account: String,
    /// The entry of `ACCOUNTS` that brought it in.
    pub entry: AccountEntry,
    /// Why.
    pub reason: SkipReason,
}

impl AccountsAudit {
    /// The audit of the accounts of `members`, from each synced account's report or error (by id).
    pub fn new(members: &Members, mut audited: BTreeMap<String, Result<AuditReport, String>>) -> AccountsAudit {
        let accounts = members.synced.iter().map(|(account, entry)| {
            let (report, error) = match audited.remove(account) {
                Some(Ok(report)) => (Some(report), None),
                Some(Err(error)) => (None, Some(error)),
                None => (None, Some("not audited".to_owned())),
            };
            AccountAudit {
                account: account.clone(),
                entry: entry.clone(),
                report,
                error,
            }
        });
        let skipped = members.skipped.iter().map(|(account, (entry, reason))| SkippedAccount {
            account: account.clone(),
            entry: entry.clone(),
            reason: reason.clone(),
        });
        AccountsAudit {
            accounts: accounts.collect(),
            skipped: skipped.collect(),
        }
    }

    /// The exit code over every account: 2 when an account could not be audited (the others are still
    /// judged, and said), else 1 when a check fails, else 0.
    pub fn exit_code(&self) -> u8 {
        let reports = self.accounts.iter().filter_map(|a| a.report.as_ref());
        match (
            self.accounts.iter().any(|a| a.error.is_some()),
            reports.map(AuditReport::status).max(),
        ) {
            (true, _) => 2,
            (false, Some(Status::Fail)) => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for AccountsAudit {
    /// One table over every account (an ACCOUNT column first), then each account that could not be read or was
    /// skipped, then one line of totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows = Vec::new();
        let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
        let mut distributions = 0;
        for a in &self.accounts {
            let Some(report) = &a.report else { continue };
            distributions += report.distributions.len();
            for (status, n) in report.counts() {
                *counts.entry(status).or_insert(0) += n;
            }
            rows.extend(
                report
                    .distributions
                    .iter()
                    .flat_map(|d| &d.findings)
                    .map(|x| (vec![a.account.clone()], x)),
            );
        }
        write_table(f, &["ACCOUNT"], rows)?;
        for a in &self.accounts {
            if let Some(error) = &a.error {
                writeln!(
                    f,
                    "account {} (from {}) could not be audited: {error}",
                    a.account, a.entry
                )?;
            }
        }
        for s in &self.skipped {
            writeln!(f, "account {} (from {}) skipped: {}", s.account, s.entry, s.reason)?;
        }
        let unreadable = self.accounts.iter().filter(|a| a.error.is_some()).count();
        write!(
            f,
            "{} account(s), {distributions} distribution(s): {}; {unreadable} account(s) not audited, {} skipped",
            self.accounts.len(),
            totals(&counts),
            self.skipped.len()
        )
    }
}

/// `text` in lines of at most `width` characters, broken between words (a word longer than `width` stands
/// alone on its line).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
