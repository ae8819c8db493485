//! `cloudfront-sg-sync`: plan or apply a sync from a laptop or a CI job, with ordinary AWS credentials, and
//! audit the CloudFront origins the synced groups protect.
//!
//! The same core and settings as the Lambda function: every setting is read from its environment variable,
//! and a flag overrides it. Only wiring here: the logic is the library's, the audit's adapters are this crate's
//! library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cloudfront_sg_sync::adapters::accounts::{AwsAccount, member_config, with_loader_shared};
use cloudfront_sg_sync::adapters::aws::{check_credentials, loader, shared_config};
use cloudfront_sg_sync::adapters::ec2::Ec2Groups;
use cloudfront_sg_sync::adapters::organization::OrgAccounts;
use cloudfront_sg_sync::adapters::source::{FileSource, HttpSource};
use cloudfront_sg_sync::config::{self, Config};
use cloudfront_sg_sync::domain::audit::{AccountsAudit, AuditReport, Status};
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::organization::Members;
use cloudfront_sg_sync::report::{MarkReport, RemovalReport, Summary, UnmanagedSet};
use cloudfront_sg_sync::sync;
use cloudfront_sg_sync::{Error, Result};
use cloudfront_sg_sync_cli::adapters::cloudfront::CloudFrontDistributions;
use cloudfront_sg_sync_cli::adapters::load_balancers::ElbLoadBalancers;

#[derive(Parser)]
#[command(
    version,
    about = "Keep EC2 security groups open only to Amazon CloudFront's address ranges"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    // The help of these comes from the settings list (`config::SETTINGS`), in `command()`.
    #[arg(long, global = true)]
    regions: Option<String>,
    #[arg(long, global = true)]
    accounts: Option<String>,
    #[arg(long, global = true)]
    exclude_accounts: Option<String>,
    #[arg(long, global = true)]
    organization_role_arn: Option<String>,
    #[arg(long, global = true)]
    assume_role_name: Option<String>,
    #[arg(long, global = true)]
    assume_role_external_id: Option<String>,
    #[arg(long, global = true)]
    service: Option<String>,
    #[arg(long, global = true)]
    ip_versions: Option<String>,
    #[arg(long, global = true)]
    aggregate: Option<String>,
    #[arg(long, global = true)]
    max_rules_per_group: Option<String>,
    #[arg(long, global = true)]
    prefix_list_grow: Option<String>,
    #[arg(long, global = true)]
    waf_cloudfront_scope: Option<String>,
    #[arg(long, global = true, conflicts_with = "ip_ranges_file")]
    ip_ranges_url: Option<String>,
    /// Read ip-ranges.json from a local file instead of downloading it.
    #[arg(long, global = true)]
    ip_ranges_file: Option<PathBuf>,
    /// Print the result (the summary, the unmanaged rules, the audit) as one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// With plan or apply: every CIDR added and removed, under its target's line (by default, one line per
    /// set, prefix list and IP set with its counts, and a line per warning and error; --json has every CIDR).
    #[arg(long, global = true)]
    verbose: bool,
    /// The default output (one line per target, its warnings and errors); kept for scripts that pass it.
    #[arg(long, global = true, hide = true)]
    summary: bool,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Print what would change; write nothing.
    Plan,
    /// Make the changes.
    Apply,
    /// List rules on the sets' ports that this tool did not create (e.g. from AWS's Python sample); with
    /// --apply, adopt those whose CIDR is a CloudFront range by giving them our description. Needs
    /// ec2:UpdateSecurityGroupRuleDescriptionsIngress.
    Adopt {
        /// Adopt the rules instead of only listing them.
        #[arg(long)]
        apply: bool,
    },
    /// List every set, prefix list and WAF IP set that records a file applied (tag
    /// cloudfront-sg-sync:synctoken), with its syncToken; with --apply, remove the record, so the next run syncs
    /// the target whatever file it recorded. For targets kept as older_file run after run (a file from the
    /// future applied by hand). Needs ec2:DeleteTags and wafv2:UntagResource with --apply.
    Unmark {
        /// Remove the records instead of only listing them.
        #[arg(long)]
        apply: bool,
    },
    /// Take back everything the function added, for an uninstall: every rule of ours from the tagged sets, every
    /// entry of ours from the tagged prefix lists, every address from the tagged WAF IP sets, and the record of
    /// the file applied on each; hand-made rules and entries stay. Lists what it would remove; --apply removes
    /// it. Whatever relies on these targets then loses CloudFront's ranges.
    Remove {
        /// Remove instead of only listing.
        #[arg(long)]
        apply: bool,
    },
    /// Check that each CloudFront origin is reachable only through CloudFront (read-only).
    ///
    /// Per origin: the origin protocol and TLS versions, what proves the distribution (secret header, VPC
    /// origin, mTLS, OAC), S3 access, and the security groups of load balancer origins of the scanned regions
    /// (REGIONS). With --accounts (ids, OUs, roots, organization), every account through its role, in one
    /// table with an account column. Exit 0: nothing fails; 1: something fails; 2: the audit (or one
    /// account's part of it) could not finish. Needs cloudfront:ListDistributions,
    /// elasticloadbalancing:DescribeLoadBalancers, ec2:DescribeSecurityGroups and
    /// ec2:DescribeManagedPrefixLists (in each account: the member role's AllowAudit).
    Audit,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: not in a CI log, a pipe or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // No log unless RUST_LOG asks: every warning and error of a run is in its summary, once.
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()))
        .init();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.command == Command::Audit {
        return audit_command(&cli).await;
    }
    if let Command::Adopt { apply } = cli.command {
        return match adopt(&cli, apply).await {
            Ok(sets) => listed(&cli, &sets, sets.iter().find_map(|s| s.error.as_ref())),
            Err(e) => fail(&e),
        };
    }
    if let Command::Remove { apply } = cli.command {
        return match remove(&cli, apply).await {
            Ok(targets) => listed(&cli, &targets, targets.iter().find_map(|t| t.error.as_ref())),
            Err(e) => fail(&e),
        };
    }
    if let Command::Unmark { apply } = cli.command {
        return match unmark(&cli, apply).await {
            Ok(marks) => listed(&cli, &marks, marks.iter().find_map(|m| m.error.as_ref())),
            Err(e) => fail(&e),
        };
    }
    match run(&cli).await {
        Ok(summary) => {
            print(&cli, &summary, || match cli.verbose {
                true => summary.to_string(),
                false => summary.brief(),
            });
            match summary.into_result() {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    // Each failure is a line of the summary above: say what failed, counted.
                    eprintln!("error: {} ({})", e.headline(), e.kind());
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => fail(&e),
    }
}

/// The audit, printed, as an exit code: of the credentials' own account, or (with ACCOUNTS) of every account.
async fn audit_command(cli: &Cli) -> ExitCode {
    let config = match config(cli) {
        Ok(config) => config,
        Err(e) => {
            fail(&e);
            return ExitCode::from(2);
        }
    };
    if !config.accounts.is_empty() {
        return match audit_accounts(&config).await {
            Ok(audit) => {
                print(cli, &audit, || format!("{audit}\n"));
                ExitCode::from(audit.exit_code())
            }
            Err(e) => {
                fail(&e);
                ExitCode::from(2)
            }
        };
    }
    match audit(&config).await {
        Ok(report) => {
            print(cli, &report, || format!("{report}\n"));
            match report.status() {
                Status::Fail => ExitCode::FAILURE,
                Status::Pass | Status::Warn => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            fail(&e);
            ExitCode::from(2)
        }
    }
}

/// The accounts of `config`: its own, or every account of ACCOUNTS (OUs, roots and the organization listed
/// now), each with its adapters; and who they are.
async fn targets(config: &Config) -> Result<(Members, Vec<AwsAccount>)> {
    let (known, organization, base) = with_loader_shared(config, loader()).await;
    check_credentials(&base).await?;
    let accounts = sync::run_accounts(config, &organization, &known).await?;
    let of_run = accounts.of(&known).into_iter().cloned().collect();
    Ok((accounts.members, of_run))
}

async fn run(cli: &Cli) -> Result<Summary> {
    let config = config(cli)?;
    let (members, targets) = targets(&config).await?;
    let mut summary = match &cli.ip_ranges_file {
        Some(path) => sync::run(&config, &Trigger::Scheduled, &FileSource::new(path), &targets, None).await,
        None => sync::run(&config, &Trigger::Scheduled, &HttpSource::new(&config)?, &targets, None).await,
    }?;
    summary.set_accounts(&members);
    Ok(summary)
}

async fn adopt(cli: &Cli, apply: bool) -> Result<Vec<UnmanagedSet>> {
    let config = config(cli)?;
    let (_, targets) = targets(&config).await?;
    match &cli.ip_ranges_file {
        Some(path) => sync::adopt(&config, &FileSource::new(path), &targets, apply).await,
        None => sync::adopt(&config, &HttpSource::new(&config)?, &targets, apply).await,
    }
}

async fn remove(cli: &Cli, apply: bool) -> Result<Vec<RemovalReport>> {
    let config = config(cli)?;
    sync::remove(&config, &targets(&config).await?.1, apply).await
}

async fn unmark(cli: &Cli, apply: bool) -> Result<Vec<MarkReport>> {
    let config = config(cli)?;
    sync::unmark(&config, &targets(&config).await?.1, apply).await
}

/// Print what a listing command found; failure when one of them has `error`.
fn listed<T: serde::Serialize + std::fmt::Display>(cli: &Cli, items: &[T], error: Option<&String>) -> ExitCode {
    print(cli, &items, || items.iter().map(ToString::to_string).collect());
    match error {
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// The audit of the credentials' own account, over the load balancers and groups of `REGIONS`.
async fn audit(config: &Config) -> Result<AuditReport> {
    let shared = shared_config(config, loader()).await;
    check_credentials(&shared).await?;
    audit_with(config, &shared).await
}

/// The audit of every account of ACCOUNTS, each through its role (its part failing alone).
async fn audit_accounts(config: &Config) -> Result<AccountsAudit> {
    let base = shared_config(config, loader()).await;
    check_credentials(&base).await?;
    let members = sync::members(config, &OrgAccounts::from_shared(config, &base).await).await?;
    let audit_one = |id: String| {
        let base = &base;
        async move { audit_with(config, &member_config(config, base, &id)).await }
    };
    Ok(sync::audit_accounts(config, &members, audit_one).await)
}

/// The audit of the account whose credentials `shared` has.
async fn audit_with(config: &Config, shared: &aws_config::SdkConfig) -> Result<AuditReport> {
    let ec2 = Ec2Groups::from_shared(config, shared, |_, builder| builder);
    let cloudfront = CloudFrontDistributions::from_shared(shared);
    let load_balancers = ElbLoadBalancers::from_shared(config, shared);
    sync::audit(config, &cloudfront, &load_balancers, &ec2).await
}

/// The flags that set a setting: (clap id, environment variable).
const SETTING_FLAGS: [(&str, &str); 13] = [
    ("regions", "REGIONS"),
    ("accounts", "ACCOUNTS"),
    ("exclude_accounts", "EXCLUDE_ACCOUNTS"),
    ("organization_role_arn", "ORGANIZATION_ROLE_ARN"),
    ("assume_role_name", "ASSUME_ROLE_NAME"),
    ("assume_role_external_id", "ASSUME_ROLE_EXTERNAL_ID"),
    ("service", "SERVICE"),
    ("ip_versions", "IP_VERSIONS"),
    ("aggregate", "AGGREGATE"),
    ("max_rules_per_group", "MAX_RULES_PER_GROUP"),
    ("prefix_list_grow", "PREFIX_LIST_GROW"),
    ("waf_cloudfront_scope", "WAF_CLOUDFRONT_SCOPE"),
    ("ip_ranges_url", "IP_RANGES_URL"),
];

/// The command line, with each setting flag's help taken from the settings list.
fn command() -> clap::Command {
    SETTING_FLAGS.iter().fold(Cli::command(), |command, (id, variable)| {
        let Some(setting) = config::setting_of(variable) else {
            return command;
        };
        let help = format!(
            "{} [env: {variable}, default: {}]",
            setting.meaning.replace('`', ""),
            setting.default
        );
        command.mut_arg(*id, |arg| arg.help(help))
    })
}

/// The settings: each flag over its environment variable.
fn config(cli: &Cli) -> Result<Config> {
    let values = [
        &cli.regions,
        &cli.accounts,
        &cli.exclude_accounts,
        &cli.organization_role_arn,
        &cli.assume_role_name,
        &cli.assume_role_external_id,
        &cli.service,
        &cli.ip_versions,
        &cli.aggregate,
        &cli.max_rules_per_group,
        &cli.prefix_list_grow,
        &cli.waf_cloudfront_scope,
        &cli.ip_ranges_url,
    ];
    let flags: BTreeMap<&str, Option<String>> = SETTING_FLAGS
        .iter()
        .zip(values)
        .map(|((_, variable), value)| (*variable, value.clone()))
        .collect();
    let mut config = Config::from_lookup(|name| match flags.get(name) {
        Some(Some(value)) => Some(value.clone()),
        _ => std::env::var(name).ok(),
    })?;
    match cli.command {
        // `apply` writes: a DRY_RUN=true left in the environment contradicts it, and must not be overridden.
        Command::Apply if config.dry_run => Err(Error::Config {
            variable: "DRY_RUN",
            value: std::env::var("DRY_RUN").unwrap_or_default(),
            reason: "`apply` writes, and DRY_RUN=true asks for no write: unset DRY_RUN (or set it to false) to apply, or run `plan` to see the changes without making them".into(),
        }),
        Command::Apply => Ok(config),
        _ => {
            config.dry_run = true;
            Ok(config)
        }
    }
}

/// `value` as one JSON document with --json, else as `text`.
fn print(cli: &Cli, value: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if cli.json {
        match serde_json::to_string_pretty(value) {
            Ok(json) => write_out(&format!("{json}\n")),
            Err(e) => eprintln!("cannot print as JSON: {e}"),
        }
    } else {
        write_out(&text());
    }
}

/// Write `text` to stdout. A reader that went away (`… | head -3`) is not an error of the command: the rest is
/// dropped and the exit code stays the command's own; any other failure to write is said on stderr.
fn write_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => eprintln!("cannot write the output: {e}"),
        _ => {}
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {} ({})", e, e.kind());
    ExitCode::FAILURE
}
