//! The docs agree with the code: every test RELIABILITY.md cites exists.

use std::path::{Path, PathBuf};

/// Every `.rs` file of the repository (not `target/`), read.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            sources(&path, out);
        } else if name.ends_with(".rs") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_test_reliability_md_names_is_a_function_in_the_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let reliability = std::fs::read_to_string(root.join("RELIABILITY.md")).unwrap();
    let mut code = Vec::new();
    sources(&root, &mut code);
    let code = code.join("\n");
    // A test name: a backticked snake_case word of four words or more (file paths and settings are not).
    let cited: Vec<&str> = reliability
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|quoted| quoted.split([',', ' ', ':']))
        .map(|word| word.trim_end_matches('…'))
        .filter(|word| {
            word.matches('_').count() >= 3
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(cited.len() > 50, "{} test names found", cited.len());
    let missing: Vec<&&str> = cited
        .iter()
        .filter(|name| !code.contains(&format!("fn {name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "RELIABILITY.md cites tests that do not exist: {missing:?}"
    );
}

/// The README's section under `heading`, up to the next `## ` heading, its lines joined by spaces.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_readme_never_offers_an_ip_set_of_cloudfronts_ranges_as_an_allow_list_on_the_distribution() {
    let waf = readme_section("## WAF IP sets");
    assert!(!waf.contains("distribution itself"), "{waf}");
    assert!(
        waf.contains("sees the **viewer's** address, not CloudFront's")
            && waf.contains("a distribution whose viewers are themselves CloudFront edges"),
        "the section says what the CLOUDFRONT scope sees and is for: {waf}"
    );
    let choosing = readme_section("## Choosing a target");
    let row = choosing.split("| WAF IP set (this tool) |").nth(1).unwrap_or_default();
    let applies = row.split(" | ").next().unwrap_or_default();
    assert!(
        applies.contains("on the origin") && applies.contains("not on the distribution"),
        "{applies}"
    );
}
