//! The code under test against an oracle it does not compute: `tests/fixtures/expected.json`, made by
//! `scripts/oracle.py` with Python's `ipaddress` from every bundled real snapshot. The end-to-end tests take their
//! expected ranges from it too (`common::selection`, `common::aggregated`).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::{self, Filter, Scope};
use common::*;

#[test]
fn the_committed_oracle_is_what_its_script_makes_from_the_bundled_files() {
    let out = Command::new(venv_python())
        .args([repo_file("scripts/oracle.py").to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_bundled_file_parses_and_aggregates_to_the_oracle_for_every_service_scope_and_version() {
    let oracle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file("tests/fixtures/expected.json")).unwrap()).unwrap();
    let files = oracle.as_object().unwrap();
    assert_eq!(files.len(), 8, "every bundled snapshot");
    let mut compared = 0;
    for (file, expected) in files {
        let bytes = fixture(file);
        assert_eq!(ip_ranges::md5_hex(&bytes), expected["md5"].as_str().unwrap(), "{file}");
        for service in ["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"] {
            for (form, filter) in [
                ("published", Filter::new(&[service], &IpVersion::ALL)),
                ("aggregated", Filter::new(&[service], &IpVersion::ALL).aggregated()),
            ] {
                let selection = ip_ranges::parse(&bytes, &filter).unwrap();
                assert_eq!(selection.sync_token, expected["sync_token"].as_u64().unwrap(), "{file}");
                for (scope, key) in [(Scope::Global, "GLOBAL"), (Scope::Regional, "regional")] {
                    for (version, name) in [(IpVersion::Ipv4, "ipv4"), (IpVersion::Ipv6, "ipv6")] {
                        let wanted: BTreeSet<Cidr> = expected[service][key][name][form]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| c.as_str().unwrap().parse().unwrap())
                            .collect();
                        let got: BTreeSet<Cidr> = (selection.ranges(scope).iter())
                            .filter(|c| c.version() == version)
                            .copied()
                            .collect();
                        assert_eq!(got, wanted, "{file} {service} {key} {name} {form}");
                        compared += wanted.len();
                    }
                }
            }
        }
    }
    assert!(
        compared > 3000,
        "{compared} ranges compared: every file, service, scope and version"
    );
}
