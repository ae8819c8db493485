//! What an origin requires of a request, judged for the secret header its distribution sends (pure): an
//! Application Load Balancer's listeners and rules on the ports CloudFront uses, the web ACL associated with
//! it, and its mutual TLS. A header proves a request came through *this* distribution only where the origin
//! refuses requests without it; a header nobody checks proves nothing.
//!
//! Values are [`Secret`]s: compared here, never shown. A finding names headers, listeners, rules (by priority
//! and their other conditions), web ACLs and rules (by name), and counts values.

use std::fmt;

/// A secret value: a custom header's, or one a rule compares a header with. It is compared, never shown:
/// `Debug` prints its length, and it has no `Display` and no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} characters)", self.0.chars().count())
    }
}

/// The fewest fixed (non-wildcard) characters a rule's value must hold to prove anything: a value with fewer is
/// guessed, or accepts anyone's (`*`). The same length [`super::audit::secret_like`] asks of a header.
pub const MIN_SECRET_CHARS: usize = 16;

impl Secret {
    /// Keep `value` as a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Whether an ALB `http-header` condition value matches this one: case-insensitive, `*` for any run of
    /// characters and `?` for exactly one (Elastic Load Balancing's rule conditions).
    pub fn matched_by(&self, pattern: &Secret) -> bool {
        let value: Vec<char> = self.0.to_lowercase().chars().collect();
        let pattern: Vec<char> = pattern.0.to_lowercase().chars().collect();
        wildcard_match(&pattern, &value)
    }

    /// Whether, as an ALB condition value, it has at least [`MIN_SECRET_CHARS`] fixed characters.
    pub fn proves(&self) -> bool {
        self.0.chars().filter(|c| *c != '*' && *c != '?').count() >= MIN_SECRET_CHARS
    }

    /// The value itself, for the calls that must carry it (a distribution's origin header, a rule's condition, the
    /// secret's own version): never for a log line, an answer or an error.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether it is exactly `other` (a WAF byte match `EXACTLY`, no text transformation).
    pub fn equals(&self, other: &Secret) -> bool {
        self.0 == other.0
    }
}

/// `*` any run, `?` one character; iterative, with the last star to backtrack to.
fn wildcard_match(pattern: &[char], value: &[char]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(c) if *c == '?' || *c == value[v] => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    p = sp + 1;
                    v = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// A listener of a load balancer, with what it does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Its ARN (the finding names it by port and protocol).
    pub arn: String,
    /// The port it listens on.
    pub port: u16,
    /// `HTTP`, `HTTPS`, `TCP`, `TLS`, …
    pub protocol: String,
    /// Whether its default action forwards to a target (`forward`, or `authenticate-…` then `forward`), as
    /// opposed to a fixed response or a redirect.
    pub default_forwards: bool,
    /// Its rules other than the default, each with its conditions.
    pub rules: Vec<ListenerRule>,
    /// Its mutual TLS: `off`, `passthrough` or `verify`; `None`: not configured.
    pub mutual_authentication: Option<String>,
    /// Whether a trust store verifies the client certificates (with `verify`).
    pub trust_store: bool,
}

/// One rule of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRule {
    /// Its priority, as the listener orders it.
    pub priority: String,
    /// Whether its actions forward to a target.
    pub forwards: bool,
    /// Its conditions (all must hold).
    pub conditions: Vec<Condition>,
}

/// A rule's condition, as far as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `http-header`: the header named (case-insensitive) must match one of `values`.
    Header {
        /// The header's name.
        name: String,
        /// The values compared (any one matching is enough).
        values: Vec<Secret>,
        /// Whether the values are regular expressions (not judged).
        regex: bool,
    },
    /// Any other condition, as a finding names it (`path /health`).
    Other(String),
}

/// The web ACL associated with a load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAcl {
    /// Its name.
    pub name: String,
    /// Whether a request no rule decides is allowed.
    pub default_allow: bool,
    /// Its rules, in priority order.
    pub rules: Vec<AclRule>,
}

/// One rule of a web ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// Its name.
    pub name: String,
    /// What it does to a request it matches.
    pub action: AclAction,
    /// What it matches.
    pub statement: Statement,
}

/// What a web ACL rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAction {
    /// Allow: the request goes on to the load balancer.
    Allow,
    /// Block (or CAPTCHA, challenge: a request from CloudFront does not pass them).
    Block,
    /// Count: evaluation goes on.
    Count,
    /// A rule group or managed rule group: its own rules decide (not judged).
    RuleGroup,
}

/// What a web ACL rule matches, as far as the audit judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// A byte match `EXACTLY` on a single header, no text transformation.
    HeaderEquals {
        /// The header's name.
        header: String,
        /// The value compared.
        value: Secret,
    },
    /// `NOT` of such a byte match.
    NotHeaderEquals {
        /// The header's name.
        header: String,
        /// The value compared.
        value: Secret,
    },
    /// Anything else, as a finding names it (`a rate-based statement`).
    Other(String),
}

/// Where the origin stands on a header CloudFront sends, one layer (a listener, a web ACL) or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stance {
    /// Every way to a target requires the value CloudFront sends: said where.
    Required(String),
    /// The header is required with values none of which CloudFront sends: CloudFront itself is refused.
    Refused(String),
    /// Requests without the value get through: each way named (`listener HTTPS:443 rule 5 (path /health)`).
    Open(Vec<String>),
    /// Not judged (a rule group, a regular expression, another statement): said what.
    Unjudged(String),
    /// This layer neither requires nor lets through anything of its own (no web ACL, a default-Allow one with
    /// no rule on the header, no listener on the port).
    Silent,
}

/// A route of a listener that forwards: its label and how it treats the header.
enum Route {
    Requires,
    RequiresOther(usize),
    Open,
    Unjudged,
}

/// The header `name` (case-insensitive) with value `sent`, on one route's conditions.
fn route_of(conditions: &[Condition], name: &str, sent: &Secret) -> Route {
    let mut route = Route::Open;
    for condition in conditions {
        let Condition::Header { name: n, values, regex } = condition else {
            continue;
        };
        if !n.eq_ignore_ascii_case(name) {
            continue;
        }
        let this = match (regex, values.iter().all(Secret::proves)) {
            (true, _) => Route::Unjudged,
            (false, false) => Route::Open,
            (false, true) if values.iter().any(|v| sent.matched_by(v)) => Route::Requires,
            (false, true) => Route::RequiresOther(values.len()),
        };
        // All conditions must hold: one that refuses CloudFront refuses it; one that requires the value is enough.
        route = match (route, this) {
            (Route::RequiresOther(n), _) | (_, Route::RequiresOther(n)) => Route::RequiresOther(n),
            (Route::Requires, _) | (_, Route::Requires) => Route::Requires,
            (Route::Unjudged, _) | (_, Route::Unjudged) => Route::Unjudged,
            _ => Route::Open,
        };
    }
    route
}

/// A rule as a finding names it: its priority and its other conditions.
fn rule_label(rule: &ListenerRule, header: &str) -> String {
    let others: Vec<String> = rule
        .conditions
        .iter()
        .filter_map(|c| match c {
            Condition::Other(what) => Some(what.clone()),
            Condition::Header { name, .. } if !name.eq_ignore_ascii_case(header) => Some(format!("header {name}")),
            Condition::Header { .. } => None,
        })
        .collect();
    match others.is_empty() {
        true => format!("rule {}", rule.priority),
        false => format!("rule {} ({})", rule.priority, others.join(", ")),
    }
}

/// Where `listener` stands on the header `name` with CloudFront's value `sent`.
pub fn listener_stance(listener: &Listener, name: &str, sent: &Secret) -> Stance {
    let place = format!("listener {}:{}", listener.protocol, listener.port);
    let mut routes: Vec<(String, Route)> = Vec::new();
    if listener.default_forwards {
        routes.push(("default action".to_owned(), Route::Open));
    }
    for rule in listener.rules.iter().filter(|r| r.forwards) {
        routes.push((rule_label(rule, name), route_of(&rule.conditions, name, sent)));
    }
    let label = |pick: fn(&Route) -> bool| -> Vec<String> {
        routes
            .iter()
            .filter(|(_, r)| pick(r))
            .map(|(l, _)| format!("{place} {l}"))
            .collect()
    };
    let open = label(|r| matches!(r, Route::Open));
    let unjudged = label(|r| matches!(r, Route::Unjudged));
    let requires = label(|r| matches!(r, Route::Requires));
    let refusing: Vec<(String, usize)> = routes
        .iter()
        .filter_map(|(l, r)| match r {
            Route::RequiresOther(n) => Some((format!("{place} {l}"), *n)),
            _ => None,
        })
        .collect();
    if !open.is_empty() {
        Stance::Open(open)
    } else if !unjudged.is_empty() {
        Stance::Unjudged(format!("{} compares {name} by regular expression", unjudged.join(", ")))
    } else if !requires.is_empty() {
        Stance::Required(requires.join(", "))
    } else if let Some((first, values)) = refusing.first() {
        Stance::Refused(format!(
            "{first} requires {name} to be one of {values} value(s), none of them the one CloudFront sends"
        ))
    } else {
        Stance::Silent
    }
}

/// Where `acl` stands on the header `name` with CloudFront's value `sent`: its rules in priority order, then its
/// default action.
pub fn acl_stance(acl: &WebAcl, name: &str, sent: &Secret) -> Stance {
    let place = |rule: &AclRule| format!("web ACL {} rule {}", acl.name, rule.name);
    let mut allowed_by: Option<String> = None;
    for rule in &acl.rules {
        let on_header = |h: &str| h.eq_ignore_ascii_case(name);
        match (&rule.action, &rule.statement) {
            (AclAction::Count, _) | (AclAction::Block, Statement::HeaderEquals { .. } | Statement::Other(_)) => {}
            (AclAction::RuleGroup, _) => {
                return Stance::Unjudged(format!(
                    "{} is a rule group, whose own rules are not judged",
                    place(rule)
                ));
            }
            (AclAction::Allow, Statement::HeaderEquals { header, value }) if on_header(header) => {
                if value.equals(sent) && allowed_by.is_none() {
                    allowed_by = Some(place(rule));
                }
            }
            (AclAction::Allow, _) => {
                return Stance::Open(vec![format!("{} (an Allow on another statement)", place(rule))]);
            }
            (AclAction::Block, Statement::NotHeaderEquals { header, value }) if on_header(header) => {
                return match (value.equals(sent), allowed_by) {
                    (_, Some(allow)) => Stance::Required(allow),
                    (true, None) => Stance::Required(place(rule)),
                    (false, None) => Stance::Refused(format!(
                        "{} blocks every request whose {name} is not the one value it compares, not the one CloudFront sends",
                        place(rule)
                    )),
                };
            }
            (AclAction::Block, Statement::NotHeaderEquals { .. }) => {}
        }
    }
    match (acl.default_allow, allowed_by) {
        (true, _) => Stance::Silent,
        (false, Some(allow)) => Stance::Required(format!("{allow} (default Block)")),
        (false, None) => Stance::Refused(format!(
            "web ACL {} blocks by default and no rule allows the value of {name} CloudFront sends",
            acl.name
        )),
    }
}

/// Where a load balancer stands on the header, over the listeners on the ports CloudFront uses and its web ACL:
/// a request must pass both layers, so either refusing CloudFront refuses it, and the web ACL requiring the
/// value, or the listeners of every port requiring it, requires it.
pub fn origin_stance(listeners: &[&Listener], acl: Option<&WebAcl>, name: &str, sent: &Secret) -> Stance {
    let by_listener: Vec<Stance> = listeners.iter().map(|l| listener_stance(l, name, sent)).collect();
    let by_acl = acl.map(|acl| acl_stance(acl, name, sent));
    let all = || by_listener.iter().chain(by_acl.iter());
    if let Some(refused) = all().find(|s| matches!(s, Stance::Refused(_))) {
        return refused.clone();
    }
    if let Some(required @ Stance::Required(_)) = &by_acl {
        return required.clone();
    }
    let required: Vec<&str> = (by_listener.iter())
        .filter_map(|s| match s {
            Stance::Required(place) => Some(place.as_str()),
            _ => None,
        })
        .collect();
    let judged = by_listener.iter().filter(|s| !matches!(s, Stance::Silent)).count();
    if !required.is_empty() && required.len() == judged {
        return Stance::Required(required.join("; "));
    }
    let open: Vec<String> = all()
        .flat_map(|s| match s {
            Stance::Open(ways) => ways.clone(),
            _ => Vec::new(),
        })
        .collect();
    let unjudged = all().find_map(|s| match s {
        Stance::Unjudged(what) => Some(what.clone()),
        _ => None,
    });
    match (open.is_empty(), unjudged) {
        (true, Some(what)) => Stance::Unjudged(what),
        (true, None) => Stance::Silent,
        (false, Some(what)) => Stance::Open(open.into_iter().chain([what]).collect()),
        (false, None) => Stance::Open(open),
    }
}

/// Whether every listener of `listeners` verifies client certificates (mutual TLS `verify` with a trust
/// store); else the listeners that do not.
pub fn mutual_tls_unverified<'a>(listeners: &[&'a Listener]) -> Vec<&'a Listener> {
    listeners
        .iter()
        .filter(|l| !(l.mutual_authentication.as_deref() == Some("verify") && l.trust_store))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        Secret::new(value).matched_by(&Secret::new(pattern))
    }

    #[test]
    fn alb_values_match_without_case_with_a_star_for_any_run_and_a_question_mark_for_one_character() {
        for (pattern, value, expected) in [
            ("abc", "abc", true),
            ("ABC", "abc", true),
            ("abc", "abcd", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("*b*", "aaabaaa", true),
            ("a*b*c", "a-b-b-c", true),
            ("a*b*c", "a-c-b", false),
            ("", "a", false),
        ] {
            assert_eq!(matches(pattern, value), expected, "{pattern:?} on {value:?}");
        }
    }

    #[test]
    fn a_value_proves_only_with_sixteen_fixed_characters_and_never_shows_itself() {
        assert!(!Secret::new("*").proves());
        assert!(!Secret::new("abcdefghijklmno*").proves(), "15 fixed");
        assert!(Secret::new("abcdefghijklmnop*").proves(), "16 fixed");
        let shown = format!("{:?}", Secret::new("abcdefghijklmnop"));
        assert_eq!(shown, "Secret(16 characters)");
    }
}
