//! The release (`make release`, scripts/release.py): the versions agree, the Serverless Application Repository's
//! metadata is within its documented limits, the release template runs the zips and builds nothing, and the
//! archives are the same bytes from the same binaries. The release build itself is proven by `make check-release`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_file, venv_python};

/// The `key = "value"` of a TOML table's first lines (`[package]`).
fn package_field(manifest: &str, key: &str) -> String {
    let package = manifest.split("[package]").nth(1).unwrap();
    let package = package.split("\n[").next().unwrap();
    let line = package
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in [package]"));
    line.split('"').nth(1).unwrap().to_owned()
}

fn manifest(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap()
}

/// A template read by cfn-lint's loader (CloudFormation's tags kept), as JSON.
fn template_json(path: &Path) -> serde_json::Value {
    let out = Command::new(venv_python())
        .args([
            "-c",
            "import json, sys; from cfnlint.decode import cfn_yaml; print(json.dumps(cfn_yaml.load(sys.argv[1])))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn application(template: &serde_json::Value) -> &serde_json::Value {
    &template["Metadata"]["AWS::ServerlessRepo::Application"]
}

#[test]
fn cargo_toml_the_template_and_the_newest_changelog_heading_name_one_version() {
    let version = package_field(&manifest("Cargo.toml"), "version");
    assert_eq!(
        package_field(&manifest("cli/Cargo.toml"), "version"),
        version,
        "cli/Cargo.toml"
    );
    let template = template_json(&repo_file("template.yaml"));
    assert_eq!(
        application(&template)["SemanticVersion"],
        version.as_str(),
        "template.yaml"
    );
    let changelog = manifest("CHANGELOG.md");
    let newest = changelog.lines().find(|l| l.starts_with("## ")).unwrap();
    assert_eq!(
        newest.split_whitespace().nth(1),
        Some(version.as_str()),
        "CHANGELOG.md: {newest}"
    );
    let repository = package_field(&manifest("Cargo.toml"), "repository");
    for field in ["HomePageUrl", "SourceCodeUrl"] {
        assert_eq!(application(&template)[field], repository.as_str(), "{field}");
    }
}

/// Whether `text` matches `^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$`, the Author pattern of the AWS SAM
/// developer guide ("AWS SAM template Metadata section properties").
fn author_pattern(text: &str) -> bool {
    let lower_or_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    text.starts_with(lower_or_digit)
        && text.ends_with(lower_or_digit)
        && text.chars().all(|c| lower_or_digit(c) || c == '-')
        && !text.contains("--")
}

#[test]
fn the_serverless_repository_metadata_is_within_its_documented_limits_and_names_files_that_exist() {
    let template = template_json(&repo_file("template.yaml"));
    let app = application(&template);
    let text = |field: &str| app[field].as_str().unwrap_or_else(|| panic!("{field}")).to_owned();
    // The limits of the AWS SAM developer guide's table of AWS::ServerlessRepo::Application properties.
    let name = text("Name");
    assert!((1..=140).contains(&name.len()), "Name");
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "Name {name}"
    );
    assert!((1..=256).contains(&text("Description").chars().count()), "Description");
    let author = text("Author");
    assert!(
        (1..=127).contains(&author.len()) && author_pattern(&author),
        "Author {author}"
    );
    let labels = app["Labels"].as_array().unwrap();
    assert!((1..=10).contains(&labels.len()), "{labels:?}");
    for label in labels.iter().map(|l| l.as_str().unwrap()) {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "+-_:/@".contains(c);
        assert!(
            (1..=127).contains(&label.len()) && label.chars().all(allowed),
            "label {label}"
        );
    }
    assert_eq!(text("SpdxLicenseId"), "Apache-2.0");
    assert!(manifest(&text("LicenseUrl")).contains("Apache License\n"), "LicenseUrl");
    assert!(
        manifest(&text("ReadmeUrl")).starts_with("# cloudfront-sg-sync"),
        "ReadmeUrl"
    );
    let version: Vec<&str> = app["SemanticVersion"].as_str().unwrap().split('.').collect();
    assert!(
        version.len() == 3 && version.iter().all(|n| n.parse::<u32>().is_ok()),
        "{version:?}"
    );
}

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("release-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn release_py(args: &[&str], target_dir: Option<&Path>) -> String {
    let mut command = Command::new(venv_python());
    command.arg(repo_file("scripts/release.py")).args(args);
    if let Some(dir) = target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "release.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The template without what a release changes: each function's build metadata and `CodeUri`, and
/// `Architecture`'s allowed values, default and description.
fn without_build(mut template: serde_json::Value) -> serde_json::Value {
    for resource in template["Resources"].as_object_mut().unwrap().values_mut() {
        if resource["Type"] == "AWS::Serverless::Function" {
            resource.as_object_mut().unwrap().remove("Metadata");
            resource["Properties"].as_object_mut().unwrap().remove("CodeUri");
        }
    }
    let architecture = template["Parameters"]["Architecture"].as_object_mut().unwrap();
    for field in ["AllowedValues", "Default", "Description"] {
        architecture.remove(field);
    }
    template
}

#[test]
fn the_release_template_runs_each_functions_zip_for_its_architecture_and_builds_nothing() {
    let version = package_field(&manifest("Cargo.toml"), "version");
    let dir = scratch("template");
    let source = template_json(&repo_file("template.yaml"));
    for arch in ["x86_64", "arm64"] {
        let out = dir.join(format!("template-{arch}.yaml"));
        release_py(
            &[
                "template",
                repo_file("template.yaml").to_str().unwrap(),
                out.to_str().unwrap(),
                arch,
            ],
            None,
        );
        let release = template_json(&out);
        for (function, word) in [("SyncFunction", "sync"), ("RotationFunction", "rotation")] {
            let resource = &release["Resources"][function];
            let zip = format!("cloudfront-sg-sync-{version}-{word}-{arch}.zip");
            assert_eq!(resource["Properties"]["CodeUri"], zip.as_str(), "{function} ({arch})");
            assert!(
                resource.get("Metadata").is_none(),
                "{function} is still built: {resource}"
            );
        }
        let architecture = &release["Parameters"]["Architecture"];
        assert_eq!(architecture["AllowedValues"], serde_json::json!([arch]));
        assert_eq!(architecture["Default"], arch);
        assert_eq!(
            application(&release),
            application(&source),
            "the metadata is kept whole"
        );
        assert!(
            without_build(release) == without_build(source.clone()),
            "only the build changes"
        );
        let lint = Command::new(venv_python().with_file_name("cfn-lint"))
            .arg(&out)
            .output()
            .unwrap();
        assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stdout));
    }
}

/// Stand-ins for the three binaries `make release` builds, where scripts/release.py reads them.
fn fake_build(target: &Path) {
    for binary in [
        "cloudfront-sg-sync-lambda",
        "cloudfront-sg-sync-rotate",
        "cloudfront-sg-sync",
    ] {
        let dir = target.join("lambda/x86_64").join(binary);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bootstrap"), format!("#!/bin/sh\necho {binary}\n")).unwrap();
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn a_release_is_the_same_bytes_from_the_same_binaries_and_its_checksums_verify() {
    let version = package_field(&manifest("Cargo.toml"), "version");
    let root = scratch("assemble");
    fake_build(&root.join("target"));
    let (first, second) = (root.join("first"), root.join("second"));
    release_py(
        &["assemble", first.to_str().unwrap(), "x86_64"],
        Some(&root.join("target")),
    );
    // A second later: any clock or file time that reached an archive would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    release_py(
        &["assemble", second.to_str().unwrap(), "x86_64"],
        Some(&root.join("target")),
    );
    assert!(
        files_of(&first) == files_of(&second),
        "two releases of the same binaries differ"
    );

    let checked = run_in(&first, "sha256sum", &["--check", "--strict", "SHA256SUMS"]);
    let names: Vec<String> = files_of(&first).into_iter().map(|(n, _)| n).collect();
    for name in names.iter().filter(|n| *n != "SHA256SUMS") {
        assert!(
            checked.contains(&format!("{name}: OK")),
            "{name} not in SHA256SUMS: {checked}"
        );
    }
    for expected in [
        format!("cloudfront-sg-sync-{version}-sync-x86_64.zip"),
        format!("cloudfront-sg-sync-{version}-rotation-x86_64.zip"),
        format!("cloudfront-sg-sync-{version}-cli-x86_64-linux.tar.gz"),
        format!("CHANGELOG-{version}.md"),
        "template.yaml".to_owned(),
        "member-role.yaml".to_owned(),
        "organization-role.yaml".to_owned(),
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let listing = run_in(
        &first,
        "tar",
        &[
            "-tzvf",
            &format!("cloudfront-sg-sync-{version}-cli-x86_64-linux.tar.gz"),
        ],
    );
    let cli_line = listing
        .lines()
        .find(|l| l.ends_with(&format!("cloudfront-sg-sync-{version}/cloudfront-sg-sync")));
    assert!(cli_line.is_some_and(|l| l.starts_with("-rwxr-xr-x 0/0")), "{listing}");
    let zip = format!("cloudfront-sg-sync-{version}-sync-x86_64.zip");
    let entries = run_in(
        &first,
        venv_python().to_str().unwrap(),
        &[
            "-c",
            "import sys, zipfile\nfor e in zipfile.ZipFile(sys.argv[1]).infolist(): print(e.filename, oct(e.external_attr >> 16), zipfile.ZipFile(sys.argv[1]).read(e).decode())",
            &zip,
        ],
    );
    assert_eq!(
        entries,
        "bootstrap 0o100755 #!/bin/sh\necho cloudfront-sg-sync-lambda\n\n"
    );
    let notes = std::fs::read_to_string(first.join(format!("CHANGELOG-{version}.md"))).unwrap();
    let changelog = manifest("CHANGELOG.md");
    let section = changelog.split("\n## ").nth(1).unwrap();
    assert_eq!(notes.trim_end(), format!("## {}", section.trim_end()));
}
