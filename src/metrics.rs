//! CloudWatch Embedded Metric Format: one JSON line per run on stdout, which CloudWatch Logs turns into
//! metrics with no API call and no extra permission.

use serde_json::{Value, json};

use crate::report::{EntryChanges, ListReport, Summary, TargetStatus};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "CloudfrontSgSync";

/// The EMF document of a run: ranges added and removed (rules and prefix-list entries), sets failed, near full
/// and attached only in part, the fullest set or prefix list (percent of its quota or `MaxEntries`), prefix lists
/// and WAF IP sets failed, targets kept because they hold a newer file, marks not trusted (forged), change
/// notifications not published, sync duration.
pub fn emf(summary: &Summary, timestamp_ms: u64) -> Value {
    let failed = summary.sets.iter().filter(|s| s.status == TargetStatus::Failed).count()
        + summary.skipped_groups.len()
        + summary.failed_regions.len();
    let near_full = summary.sets.iter().filter(|s| s.near_full).count();
    let fullest = (summary.sets.iter().map(|s| s.percent_full))
        .chain(summary.prefix_lists.iter().map(ListReport::percent_full))
        .max()
        .unwrap_or(0);
    let partly_attached = summary.sets.iter().filter(|s| !s.partly_attached.is_empty()).count();
    let entries_failed =
        |changes: &mut dyn Iterator<Item = &EntryChanges>| changes.filter(|c| c.status == TargetStatus::Failed).count();
    let lists_failed = entries_failed(&mut summary.prefix_lists.iter().map(|l| &l.changes));
    let ip_sets_failed = entries_failed(&mut summary.ip_sets.iter().map(|s| &s.changes));
    let statuses = summary.sets.iter().map(|s| s.status);
    let kept_older = statuses
        .chain(summary.entry_changes().map(|c| c.status))
        .filter(|s| *s == TargetStatus::OlderFile)
        .count();
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": METRICS.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
        "Service": summary.service,
        "DryRun": summary.dry_run,
        "SyncToken": summary.sync_token.to_string(),
        "RangesAdded": summary.added(),
        "RangesRemoved": summary.removed(),
        "SetsFailed": failed,
        "SetsNearFull": near_full,
        "FullestSetPercent": fullest,
        "SetsPartlyAttached": partly_attached,
        "PrefixListsFailed": lists_failed,
        "IpSetsFailed": ip_sets_failed,
        "TargetsKeptOlder": kept_older,
        "ForgedMarks": summary.forged_marks().count(),
        "NotificationsFailed": summary.notifications_failed,
        "SyncDuration": summary.duration_ms,
    })
}

/// Every metric of the line, with its unit, in order.
pub const METRICS: [(&str, &str); 12] = [
    ("RangesAdded", "Count"),
    ("RangesRemoved", "Count"),
    ("SetsFailed", "Count"),
    ("SetsNearFull", "Count"),
    ("FullestSetPercent", "Percent"),
    ("SetsPartlyAttached", "Count"),
    ("PrefixListsFailed", "Count"),
    ("IpSetsFailed", "Count"),
    ("TargetsKeptOlder", "Count"),
    ("ForgedMarks", "Count"),
    ("NotificationsFailed", "Count"),
    ("SyncDuration", "Milliseconds"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attachment::PartlyAttached;
    use crate::domain::cidr::IpVersion;
    use crate::domain::ip_ranges::Scope;
    use crate::domain::ip_sets::IpSet;
    use crate::domain::security_groups::{ForgedMark, SetKey};
    use crate::ports::{TaggedIpSet, WafScope};
    use crate::report::{IpSetReport, ListReport, SetReport, SkippedGroup};
    use std::collections::BTreeMap;

    fn set(status: TargetStatus, added: usize, removed: usize, near_full: bool) -> SetReport {
        set_attached(status, added, removed, near_full, Vec::new())
    }

    fn set_attached(
        status: TargetStatus,
        added: usize,
        removed: usize,
        near_full: bool,
        partly_attached: Vec<PartlyAttached>,
    ) -> SetReport {
        let key = SetKey {
            account: None,
            region: "us-east-1".into(),
            vpc: "vpc-1".into(),
            scope: Scope::Global,
            port: 443,
        };
        SetReport {
            added,
            removed,
            room_left: BTreeMap::from([(IpVersion::Ipv4, 1), (IpVersion::Ipv6, 60)]),
            near_full,
            percent_full: if near_full { 98 } else { 40 },
            status,
            partly_attached,
            forged_marks: match status {
                TargetStatus::Synced => vec![forged("sg-1")],
                _ => Vec::new(),
            },
            ..SetReport::new(key, vec!["sg-1".into()], None)
        }
    }

    fn forged(target: &str) -> ForgedMark {
        ForgedMark {
            target: target.into(),
            value: "9999999999 ipv4".into(),
            reason: "ahead of the clock".into(),
        }
    }

    fn ip_set(name: &str) -> TaggedIpSet {
        TaggedIpSet {
            region: "us-east-1".into(),
            waf_scope: WafScope::Regional,
            scope: Scope::Global,
            lock_token: "t".into(),
            arn: format!("arn:aws:wafv2:us-east-1:000000000000:regional/ipset/{name}"),
            mark: None,
            set: IpSet {
                name: name.into(),
                id: format!("id-{name}"),
                family: IpVersion::Ipv4,
                description: None,
                addresses: Default::default(),
            },
        }
    }

    /// One synced IP set (+2 -2) and two failed.
    fn ip_sets() -> Vec<IpSetReport> {
        let synced = EntryChanges {
            added: 2,
            removed: 2,
            status: TargetStatus::Synced,
            ..EntryChanges::default()
        };
        let mut sets: Vec<IpSetReport> = ["a", "b", "c"].map(|n| IpSetReport::new(None, &ip_set(n))).into();
        sets[0].changes = synced;
        sets[1].changes.forged_marks = vec![forged("id-b")];
        sets
    }

    fn summary() -> Summary {
        Summary {
            accounts: Vec::new(),
            not_synced: Vec::new(),
            sync_token: 1_787_411_825,
            create_date: None,
            service: "CLOUDFRONT".into(),
            ip_versions: "ipv4,ipv6".into(),
            regions: vec!["us-east-1".into()],
            trigger: "notification",
            late_notification: false,
            dry_run: false,
            sets: vec![
                set(TargetStatus::Synced, 6, 3, true),
                set(TargetStatus::Failed, 0, 0, false),
                set(TargetStatus::OlderFile, 0, 0, false),
                set_attached(
                    TargetStatus::InSync,
                    0,
                    0,
                    false,
                    vec![PartlyAttached {
                        interface: "eni-1".into(),
                        attachment: "instance i-1".into(),
                        missing: vec!["sg-2".into()],
                    }],
                ),
            ],
            prefix_lists: vec![
                ListReport {
                    changes: EntryChanges {
                        added: 4,
                        removed: 1,
                        status: TargetStatus::Synced,
                        ..EntryChanges::default()
                    },
                    max_entries: 10,
                    room_left: 5,
                    ..ListReport::new(None, "us-east-1", "pl-1", Scope::Global, IpVersion::Ipv4)
                },
                ListReport::new(None, "us-east-1", "pl-2", Scope::Global, IpVersion::Ipv6),
            ],
            ip_sets: ip_sets(),
            skipped_groups: vec![SkippedGroup {
                account: None,
                region: "us-east-1".into(),
                group: "sg-9".into(),
                reason: "x".into(),
            }],
            failed_regions: vec![],
            attachment_unchecked: vec![],
            api_retries: 0,
            replans: 0,
            duration_ms: 420,
            notifications_failed: 1,
        }
    }

    #[test]
    fn the_operations_chapter_names_every_metric_of_the_line() {
        let readme = include_str!("../docs/operations.md");
        let paragraph = readme.split("**Metrics.**").nth(1).unwrap_or_default();
        let paragraph = paragraph.split("\n\n").next().unwrap_or_default();
        for (name, _) in METRICS {
            assert!(
                paragraph.contains(&format!("`{name}`")),
                "{name} is not in docs/operations.md's metrics paragraph"
            );
        }
    }

    #[test]
    fn the_metrics_line_is_embedded_metric_format_with_every_declared_metric() {
        let doc = emf(&summary(), 1_787_411_900_000);
        assert_eq!(doc["_aws"]["Timestamp"], 1_787_411_900_000u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        // Every dimension and metric the directive declares is a member of the document.
        for dims in directive["Dimensions"].as_array().unwrap() {
            for d in dims.as_array().unwrap() {
                assert!(doc[d.as_str().unwrap()].is_string(), "dimension {d}");
            }
        }
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RangesAdded",
                "RangesRemoved",
                "SetsFailed",
                "SetsNearFull",
                "FullestSetPercent",
                "SetsPartlyAttached",
                "PrefixListsFailed",
                "IpSetsFailed",
                "TargetsKeptOlder",
                "ForgedMarks",
                "NotificationsFailed",
                "SyncDuration"
            ]
        );
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_u64(), "{m}");
            assert!(["Count", "Percent", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()));
        }
        assert_eq!(
            (
                &doc["RangesAdded"],
                &doc["RangesRemoved"],
                &doc["SetsFailed"],
                &doc["SetsNearFull"],
                &doc["FullestSetPercent"],
                &doc["SetsPartlyAttached"],
                &doc["PrefixListsFailed"],
                &doc["IpSetsFailed"],
                &doc["TargetsKeptOlder"],
                &doc["ForgedMarks"],
                &doc["NotificationsFailed"],
                &doc["SyncDuration"]
            ),
            (
                &json!(6 + 4 + 2),
                &json!(3 + 1 + 2),
                &json!(2),
                &json!(1),
                &json!(98),
                &json!(1),
                &json!(1),
                &json!(2),
                &json!(1),
                &json!(2),
                &json!(1),
                &json!(420)
            )
        );
        // One line.
        assert!(!doc.to_string().contains('\n'));
    }
}

#[cfg(test)]
mod template_tests {
    use super::METRICS;

    /// The lines of the template's resource that `start` opens (those indented under it).
    fn resource(template: &str, start: &str) -> String {
        let from = template.split(start).nth(1).unwrap_or_default();
        let body = from.lines().take_while(|l| l.starts_with("    ") || l.is_empty());
        body.collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_dashboard_shows_every_metric_but_the_notifications_and_the_near_full_alarm_uses_the_fullest_set() {
        let template = include_str!("../template.yaml");
        let dashboard = resource(template, "\n  Dashboard:\n");
        for (name, _) in METRICS {
            if name != "SetsNearFull" && name != "NotificationsFailed" {
                assert!(
                    dashboard.contains(&format!("\"{name}\"")),
                    "{name} is not on the dashboard"
                );
            }
        }
        assert!(dashboard.contains("\"AWS/Lambda\", \"Errors\""));
        let alarm = resource(template, "\n  NearFullAlarm:\n");
        assert!(alarm.contains("MetricName: FullestSetPercent"), "{alarm}");
        assert!(alarm.contains("Threshold: !Ref NearFullPercent"), "{alarm}");
    }
}
