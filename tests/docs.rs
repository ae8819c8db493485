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

/// Whether `word` reads as a test's name: snake_case of four words or more.
fn is_test_name(word: &str) -> bool {
    word.matches('_').count() >= 3
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every test a RELIABILITY.md table row cites is named with its file, and is in it.
#[test]
fn every_test_a_reliability_row_names_with_its_file_is_in_that_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let reliability = std::fs::read_to_string(root.join("RELIABILITY.md")).unwrap();
    let mut misplaced = Vec::new();
    let mut checked = 0;
    // A table whose header names its file (`| test (`tests/faults.rs`) |`) holds that file's tests; a cited
    // `path.rs: name` holds for the names after it in the same row.
    let mut table_file: Option<String> = None;
    for line in reliability.lines() {
        if !line.starts_with('|') {
            table_file = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("| test (`") {
            table_file = rest.split('`').next().map(str::to_owned);
            continue;
        }
        let mut file = table_file.clone();
        for quoted in line.split('`').skip(1).step_by(2) {
            let name = match quoted.split_once(".rs: ") {
                Some((path, name)) => {
                    file = Some(format!("{path}.rs"));
                    name
                }
                None => quoted,
            };
            if !is_test_name(name) {
                continue;
            }
            let Some(path) = &file else {
                misplaced.push(format!("no file named for {name}"));
                continue;
            };
            let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|_| panic!("{path} cited"));
            checked += 1;
            if !text.contains(&format!("fn {name}(")) {
                misplaced.push(format!("{path}: {name}"));
            }
        }
    }
    assert!(checked > 100, "{checked} tests checked in their files");
    assert!(
        misplaced.is_empty(),
        "not in the file RELIABILITY.md names: {misplaced:#?}"
    );
}

/// The body of `fn name(` in `text`, up to the first line that closes it (`}` at the start of a line).
fn body_of<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("fn {name}("))?;
    let rest = &text[start..];
    Some(&rest[..rest.find("\n}").unwrap_or(rest.len())])
}

#[test]
fn every_test_a_row_says_runs_on_moto_starts_moto() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let reliability = std::fs::read_to_string(root.join("RELIABILITY.md")).unwrap();
    // A test that starts a fresh moto_server: itself, or through the harness's worlds.
    let starters = ["Moto::start()", "world(", "global_groups("];
    let mut checked = Vec::new();
    for cited in reliability
        .split('`')
        .skip(1)
        .step_by(2)
        .zip(reliability.split('`').skip(2).step_by(2))
    {
        let (quoted, after) = cited;
        if !after.starts_with(" (moto") {
            continue;
        }
        let (path, name) = quoted.split_once(".rs: ").map_or((None, quoted), |(p, n)| (Some(p), n));
        if !is_test_name(name) {
            continue;
        }
        let files: Vec<PathBuf> = match path {
            Some(path) => vec![root.join(format!("{path}.rs"))],
            None => ["tests", "cli/tests"]
                .iter()
                .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap())
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect(),
        };
        let body = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .find_map(|text| body_of(&text, name).map(str::to_owned))
            .unwrap_or_else(|| panic!("{name}: said to run on moto, not found in the tests"));
        assert!(
            starters.iter().any(|s| body.contains(s)),
            "{name}: said to run on moto, it starts none"
        );
        checked.push(name);
    }
    assert!(checked.len() >= 5, "{checked:?}");
}

/// A file of the repository (`docs/targets.md`).
fn doc(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The section of `path` under `heading`, up to the next `## ` heading, its lines joined by spaces.
fn doc_section(path: &str, heading: &str) -> String {
    let text = doc(path);
    let start = text.find(heading).unwrap_or_else(|| panic!("no {heading} in {path}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_docs_never_offer_an_ip_set_of_cloudfronts_ranges_as_an_allow_list_on_the_distribution() {
    let waf = doc_section("docs/targets.md", "## WAF IP sets");
    assert!(!waf.contains("distribution itself"), "{waf}");
    assert!(
        waf.contains("sees the **viewer's** address, not CloudFront's")
            && waf.contains("a distribution whose viewers are themselves CloudFront edges"),
        "the section says what the CLOUDFRONT scope sees and is for: {waf}"
    );
    let choosing = doc_section("docs/targets.md", "## Choosing a target");
    let row = choosing.split("| WAF IP set (this tool) |").nth(1).unwrap_or_default();
    let applies = row.split(" | ").next().unwrap_or_default();
    assert!(
        applies.contains("on the origin") && applies.contains("not on the distribution"),
        "{applies}"
    );
}

#[test]
fn the_docs_scp_denies_every_way_to_tag_a_target_but_to_the_named_administrators() {
    let text = doc("docs/targets.md");
    let section = text.split("### Who may tag").nth(1).unwrap();
    let json = section.split("```json\n").nth(1).unwrap().split("```").next().unwrap();
    let scp: serde_json::Value = serde_json::from_str(json).unwrap();
    let statements = scp["Statement"].as_array().unwrap();
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            v => v
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect(),
        }
    };
    let denies = |action: &str, resource: &str| -> Vec<&serde_json::Value> {
        let matching = statements.iter().filter(|s| {
            s["Effect"] == "Deny"
                && list(&s["Action"]).iter().any(|a| a == action)
                && list(&s["Resource"]).iter().any(|r| r.contains(resource))
        });
        matching.collect()
    };
    for (action, resource, keys) in [
        (
            "ec2:CreateTags",
            "security-group/",
            &["Name", "AutoUpdate", "Protocol", "cloudfront-sg-sync:synctoken"][..],
        ),
        (
            "ec2:DeleteTags",
            "security-group/",
            &["Name", "AutoUpdate", "Protocol", "cloudfront-sg-sync:synctoken"],
        ),
        (
            "ec2:CreateTags",
            "prefix-list/",
            &["Name", "AutoUpdate", "cloudfront-sg-sync:synctoken"],
        ),
        (
            "ec2:DeleteTags",
            "prefix-list/",
            &["Name", "AutoUpdate", "cloudfront-sg-sync:synctoken"],
        ),
        (
            "wafv2:TagResource",
            "/ipset/",
            &["Name", "AutoUpdate", "cloudfront-sg-sync:synctoken"],
        ),
        (
            "wafv2:UntagResource",
            "/ipset/",
            &["Name", "AutoUpdate", "cloudfront-sg-sync:synctoken"],
        ),
        (
            "wafv2:CreateIPSet",
            "/ipset/",
            &["Name", "AutoUpdate", "cloudfront-sg-sync:synctoken"],
        ),
    ] {
        let by_key = denies(action, resource).into_iter().find(|s| {
            let tag_keys = &s["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"];
            !tag_keys.is_null() && keys.iter().all(|k| list(tag_keys).contains(&(*k).to_owned()))
        });
        assert!(by_key.is_some(), "{action} on {resource} for {keys:?}");
    }
    // A DeleteTags that names no key (it deletes every tag) carries no aws:TagKeys.
    for resource in ["security-group/", "prefix-list/"] {
        let no_key =
            (denies("ec2:DeleteTags", resource).into_iter()).find(|s| s["Condition"]["Null"]["aws:TagKeys"] == "true");
        assert!(no_key.is_some(), "DeleteTags naming no key on {resource}");
    }
    for s in statements {
        let exempt = list(&s["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
        assert!(exempt.iter().any(|a| a.ends_with("role/network-operators")), "{s}");
    }
    assert!(section.contains("SCPs never bind the management account"));
}

/// GitHub's anchor of a heading: lower case, spaces to hyphens, only letters, digits, `-` and `_` kept.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `](target)` of a Markdown text outside fenced code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut targets = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for piece in line.split("](").skip(1) {
            if let Some(end) = piece.find(')') {
                targets.push(piece[..end].to_owned());
            }
        }
    }
    targets
}

#[test]
fn every_relative_link_of_the_docs_leads_to_a_file_and_heading_that_exist() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<PathBuf> = ["README.md", "CHANGELOG.md", "RELIABILITY.md", "BENCHMARKS.md"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    pages.extend(std::fs::read_dir(root.join("docs")).unwrap().map(|e| e.unwrap().path()));
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(page).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            checked += 1;
            let name = page.strip_prefix(&root).unwrap().display().to_string();
            if !file.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            if anchor.is_empty() || file.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let headings = std::fs::read_to_string(&file).unwrap();
            let found = headings
                .lines()
                .filter(|l| l.starts_with('#'))
                .any(|l| anchor_of(l.trim_start_matches('#')) == anchor);
            if !found {
                broken.push(format!("{name}: {target} (no such heading)"));
            }
        }
    }
    assert!(checked > 50, "{checked} relative links checked");
    assert!(broken.is_empty(), "links that do not resolve: {broken:#?}");
}

#[test]
fn the_readme_is_a_landing_page_and_links_every_chapter() {
    let readme = doc("README.md");
    assert!(readme.len() < 10 * 1024, "README.md is {} bytes", readme.len());
    for needed in [
        "make demo",
        "make test",
        "sam deploy --template-file template.yaml",
        "SHA256SUMS",
    ] {
        assert!(readme.contains(needed), "README.md lacks {needed}");
    }
    let chapters = std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")).unwrap();
    for chapter in chapters.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()) {
        assert!(
            readme.contains(&format!("](docs/{chapter})")),
            "README.md does not link docs/{chapter}"
        );
    }
}

#[test]
fn the_operations_chapter_says_what_to_do_for_every_alarm_of_the_template() {
    let template = doc("template.yaml");
    let lines: Vec<&str> = template.lines().collect();
    let alarms: Vec<&str> = lines
        .windows(2)
        .filter(|w| w[1].trim() == "Type: AWS::CloudWatch::Alarm")
        .map(|w| w[0].trim().trim_end_matches(':'))
        .collect();
    assert!(alarms.len() >= 7, "{alarms:?}");
    let operations = doc("docs/operations.md");
    for alarm in alarms {
        assert!(
            operations.contains(&format!("| `{alarm}` |")),
            "{alarm} is not in docs/operations.md's alarms"
        );
    }
}
