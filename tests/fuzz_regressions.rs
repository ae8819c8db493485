//! Replays the fuzz seeds and every crashing input the fuzzers ever found (fuzz/regressions/) through the same
//! properties the fuzz targets check.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != ".keep"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn notification_seeds_and_regressions_hold_the_fuzzed_properties() {
    let seeds = inputs("seeds", "notification");
    assert!(seeds.len() >= 3);
    for (name, data) in seeds.iter().chain(&inputs("regressions", "notification")) {
        eprintln!("{name}");
        checks::notification(data);
    }
}

#[test]
fn ip_ranges_seeds_and_regressions_hold_the_fuzzed_properties() {
    let seeds = inputs("seeds", "ip_ranges");
    assert!(seeds.len() >= 2);
    for (name, data) in seeds.iter().chain(&inputs("regressions", "ip_ranges")) {
        eprintln!("{name}");
        checks::ip_ranges(data);
    }
}
