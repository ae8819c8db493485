//! Parse, select and plan on the newest real ip-ranges.json (2.6 MB), against a naive `serde_json::Value`
//! parse of the same file. Run with `make bench-core`; numbers in BENCHMARKS.md.

use std::collections::BTreeSet;
use std::hint::black_box;

use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::{self, Filter, Scope};
use cloudfront_sg_sync::domain::security_groups::{self, Group, Rule, RuleProtocol, RuleSource, SetKey};
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../tests/common/fixtures.rs"]
mod fixtures;
use fixtures::fixture;

fn filter() -> Filter {
    Filter::new(&["CLOUDFRONT"], &IpVersion::ALL)
}

/// What a straightforward implementation does: the whole document into a `Value`, then filter.
fn naive(bytes: &[u8]) -> (BTreeSet<Cidr>, BTreeSet<Cidr>) {
    let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let mut global = BTreeSet::new();
    let mut regional = BTreeSet::new();
    for (list, field) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
        for p in doc[list].as_array().unwrap() {
            if p["service"] == "CLOUDFRONT" {
                let cidr: Cidr = p[field].as_str().unwrap().parse().unwrap();
                if p["region"] == "GLOBAL" {
                    &mut global
                } else {
                    &mut regional
                }
                .insert(cidr);
            }
        }
    }
    (global, regional)
}

/// Groups that hold `wanted` as our rules, 60 per group and IP version, as after a previous sync.
fn groups_holding(wanted: &BTreeSet<Cidr>, n: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = (0..n)
        .map(|i| Group {
            id: format!("sg-{i}"),
            rules: vec![],
        })
        .collect();
    for (i, cidr) in wanted.iter().enumerate() {
        groups[i % n].rules.push(Rule {
            protocol: RuleProtocol::Tcp,
            from_port: Some(443),
            to_port: Some(443),
            source: RuleSource::Cidr(*cidr),
            description: Some("cloudfront-sg-sync: CLOUDFRONT GLOBAL".into()),
        });
    }
    groups
}

fn key(scope: Scope) -> SetKey {
    SetKey {
        account: None,
        region: "us-east-1".into(),
        vpc: "vpc-1".into(),
        scope,
        port: 443,
    }
}

fn bench(c: &mut Criterion) {
    let newest = fixture("ip-ranges-2026-08-22-15-17-05.json");
    // The groups hold the 2025-11-17 file: the plan has real adds and removes to compute.
    let previous = ip_ranges::parse(&fixture("ip-ranges-2025-11-17-21-58-25.json"), &filter()).unwrap();
    let held_g = groups_holding(previous.ranges(Scope::Global), 4);
    let held_r = groups_holding(previous.ranges(Scope::Regional), 4);
    let filter = filter();

    let ours = ip_ranges::parse(&newest, &filter).unwrap();
    assert_eq!(
        naive(&newest),
        (ours.ranges(Scope::Global).clone(), ours.ranges(Scope::Regional).clone())
    );

    let mut g = c.benchmark_group("newest ip-ranges.json (2.6 MB)");
    g.bench_function("md5", |b| b.iter(|| ip_ranges::md5_hex(black_box(&newest))));
    g.bench_function("parse+select", |b| {
        b.iter(|| ip_ranges::parse(black_box(&newest), &filter).unwrap())
    });
    g.bench_function("naive Value parse+select", |b| b.iter(|| naive(black_box(&newest))));
    // Plan the GLOBAL and the regional set against a selection.
    let plan_both = |selection: &ip_ranges::Selection| {
        for (scope, held) in [(Scope::Global, &held_g), (Scope::Regional, &held_r)] {
            security_groups::plan_set(
                &key(scope),
                selection.ranges(scope),
                held,
                security_groups::Quota::new(60),
            )
            .unwrap();
        }
    };
    g.bench_function("plan both sets", |b| b.iter(|| plan_both(&ours)));
    g.bench_function("md5+parse+select+plan", |b| {
        b.iter(|| {
            let _ = ip_ranges::md5_hex(black_box(&newest));
            plan_both(&ip_ranges::parse(black_box(&newest), &filter).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
