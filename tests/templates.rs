//! The templates' guards, deployed into moto's CloudFormation by `scripts/check_templates.py` (moto's own reading
//! of the intrinsic functions and conditions), and the builds pinned by Cargo.lock.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_role_templates_refuse_wildcard_operators_and_require_the_organization_and_the_listing_needs_an_ou() {
    let moto = Moto::start();
    let out = Command::new(venv_python())
        .arg(repo_file("scripts/check_templates.py"))
        .arg(&moto.endpoint)
        .current_dir(repo_file(""))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let checks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok: ")).collect();
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // 8 pattern checks per role template, 4 + 2 trust policies (each with its stack), 1 + 7 x 2 for template.yaml.
    assert_eq!(checks.len(), 2 * 8 + 2 * (4 + 2) + 1 + 2 * 7, "{stdout}");
    for needed in [
        "templates/member-role.yaml: OperatorPrincipals refuses '*'",
        "templates/organization-role.yaml: OperatorPrincipals refuses '*'",
        "templates/member-role.yaml with OrganizationId='o-abcdefghij', ExternalId='ext-1': the trust policy requires ['aws:PrincipalOrgID', 'sts:ExternalId']",
        "templates/organization-role.yaml with OrganizationId='o-abcdefghij', ExternalId='': the trust policy requires ['aws:PrincipalOrgID']",
        "template.yaml: Accounts='111111111111,222222222222' is not granted the listing",
        "template.yaml: Accounts='ou-ab12-cd34ef56' is granted the listing",
    ] {
        assert!(checks.contains(&format!("ok: {needed}").as_str()), "{needed}\n{stdout}");
    }
}

#[test]
fn every_cargo_build_of_the_makefile_the_scripts_and_the_lambda_build_is_locked() {
    let mut unlocked = Vec::new();
    for file in ["Makefile", "scripts/demo.sh", "scripts/release.sh", ".ci/run"] {
        let text = std::fs::read_to_string(repo_file(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let builds = [
                "cargo build",
                "cargo test",
                "cargo clippy",
                "cargo run",
                "cargo bench",
                "cargo lambda build",
            ];
            if builds.iter().any(|b| line.contains(b)) && !line.contains("--locked") {
                unlocked.push(format!("{file}: {line}"));
            }
        }
    }
    assert!(unlocked.is_empty(), "{unlocked:#?}");
    // `cargo lambda build` reads this too when SAM's rust-cargolambda build runs it.
    let manifest = std::fs::read_to_string(repo_file("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[package.metadata.lambda.build]\nlocked = true"),
        "Cargo.toml"
    );
}

#[test]
fn the_templates_hold_what_reliability_says_of_them() {
    let out = Command::new(venv_python())
        .arg(repo_file("scripts/template_facts.py"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for fact in [
        "ReservedConcurrency defaults to -1 (none reserved)",
        "Regions refuses empty items",
        "ChangeOnlyGroupsOptedIn needs AutoUpdate=true and Name cloudfront_g|cloudfront_r",
        "ChangeOnlyListsOptedIn needs AutoUpdate=true and Name cloudfront_g|cloudfront_r",
        "ChangeOnlyIpSetsOptedIn needs AutoUpdate=true and Name cloudfront_g|cloudfront_r",
        "CreateTags only for the key cloudfront-sg-sync:synctoken",
        "OrganizationId adds aws:ResourceOrgID to sts:AssumeRole",
        "AssumeRoleExternalId is NoEcho",
        "the member role's ExternalId is NoEcho",
        "PermissionsBoundary on both templates",
        "the stack's region must be one of the 17 default regions",
        "HeartbeatAlarm: successful invocations per hour <= 0 for 26 hours, missing data breaching",
        "FailedInvocationsAlarm: the queue's visible messages >= 1",
    ] {
        assert!(stdout.lines().any(|l| l == format!("ok: {fact}")), "{fact}: {stdout}");
    }
}
