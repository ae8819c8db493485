//! The properties the fuzz targets check, shared with `tests/fuzz_regressions.rs`, which replays the seeds and
//! every crashing input ever found through them.

use std::collections::BTreeSet;

use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::{self, Filter, Scope};
use cloudfront_sg_sync::domain::security_groups::{self, Group, SetKey};

/// The Lambda event parser never panics, and what it accepts is well-formed.
pub fn notification(data: &[u8]) {
    if let Ok(Trigger::Notification(n)) = Trigger::from_slice(data) {
        assert_eq!(n.md5.len(), 32);
        assert!(n.md5.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
}

/// The ip-ranges.json parser, selector and planner never panic; selected CIDRs are canonical and never a range
/// CloudFront could not publish; a plan places every wanted CIDR exactly once.
pub fn ip_ranges(data: &[u8]) {
    let filter = Filter::new(&["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"], &IpVersion::ALL);
    let _ = ip_ranges::md5_hex(data);
    let Ok(selection) = ip_ranges::parse(data, &filter) else {
        return;
    };
    for scope in Scope::ALL {
        let wanted = selection.ranges(scope);
        for cidr in wanted {
            assert_eq!(cidr.to_string().parse::<Cidr>().ok(), Some(*cidr));
            assert_eq!(cidr.never_published(), None, "{cidr}");
        }
        let key = SetKey {
            account: None,
            region: "us-east-1".into(),
            vpc: "vpc-1".into(),
            scope,
            port: 443,
        };
        let groups = [
            Group {
                id: "sg-1".into(),
                rules: vec![],
            },
            Group {
                id: "sg-2".into(),
                rules: vec![],
            },
        ];
        if let Ok(p) = security_groups::plan_set(&key, wanted, &groups, security_groups::Quota::new(60)) {
            let placed: BTreeSet<Cidr> = p
                .changes
                .values()
                .flat_map(|g| g.authorize.iter().chain(&g.authorize_after_revoke))
                .copied()
                .collect();
            assert_eq!(&placed, wanted);
        }
    }
}
