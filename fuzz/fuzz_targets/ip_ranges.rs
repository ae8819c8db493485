//! The ip-ranges.json parser, the selector and the planner never panic, whatever the document.
#![no_main]

use std::collections::BTreeSet;

use cloudfront_sg_sync::cidr::IpVersion;
use cloudfront_sg_sync::ip_ranges::{self, Filter, Scope};
use cloudfront_sg_sync::plan::{self, Group, SetKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let filter = Filter {
        services: BTreeSet::from(["CLOUDFRONT".to_string(), "CLOUDFRONT_ORIGIN_FACING".to_string()]),
        versions: BTreeSet::from(IpVersion::ALL),
    };
    let _ = ip_ranges::md5_hex(data);
    let Ok(selection) = ip_ranges::parse(data, &filter) else { return };
    for scope in Scope::ALL {
        let wanted = selection.ranges(scope);
        // Every selected CIDR is canonical: it prints back to itself.
        for cidr in wanted {
            assert_eq!(cidr.to_string().parse::<cloudfront_sg_sync::cidr::Cidr>().ok(), Some(*cidr));
        }
        let key = SetKey { region: "us-east-1".into(), vpc: "vpc-1".into(), scope, port: 443 };
        let groups = [Group { id: "sg-1".into(), rules: vec![] }, Group { id: "sg-2".into(), rules: vec![] }];
        if let Ok(p) = plan::plan_set(&key, wanted, &groups, 60) {
            let placed: usize = p.changes.values().map(|g| g.authorize.len() + g.authorize_after_revoke.len()).sum();
            assert_eq!(placed, wanted.len());
        }
    }
});
