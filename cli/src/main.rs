//! `cloudfront-sg-sync`: plan or apply a sync from a laptop or a CI job, with ordinary AWS credentials, and
//! audit the CloudFront origins the synced groups protect.
//!
//! The same core and settings as the Lambda function: every setting is read from its environment variable,
//! and a flag overrides it. Only wiring here: the logic is the library's, the audit's adapters are this crate's
//! library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use cloudfront_sg_sync::adapters::accounts::{AwsAccount, member_config, with_loader_shared};
use cloudfront_sg_sync::adapters::aws::{check_credentials, loader, shared_config};
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::adapters::organization::OrgAccounts;
use cloudfront_sg_sync::adapters::source::{FileSource, HttpSource};
use cloudfront_sg_sync::config::{self, Config};
use cloudfront_sg_sync::deadline::Budget;
use cloudfront_sg_sync::domain::audit::{AccountsAudit, AuditReport, Status};
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::Selection;
use cloudfront_sg_sync::domain::organization::Members;
use cloudfront_sg_sync::handler::App;
use cloudfront_sg_sync::ports::{NoNotifications, RangesSource};
use cloudfront_sg_sync::report::{MarkReport, RemovalReport, Summary, UnmanagedSet};
use cloudfront_sg_sync::sync;
use cloudfront_sg_sync::{Error, Result};
use cloudfront_sg_sync_cli::adapters::cloudfront::CloudFrontDistributions;
use cloudfront_sg_sync_cli::adapters::load_balancers::ElbLoadBalancers;
use cloudfront_sg_sync_cli::rotation::{Rotated, RotationFunction};

#[derive(Parser)]
#[command(
    name = "cloudfront-sg-sync",
    version,
    about = "Keep EC2 security groups, prefix lists and WAF IP sets open only to Amazon CloudFront's address ranges",
    long_about = "Keep EC2 security groups, prefix lists and WAF IP sets open only to Amazon CloudFront's address \
                  ranges, with your own AWS credentials (AWS_PROFILE, or the environment's keys); and audit that \
                  each CloudFront origin is reachable only through its distribution. Each flag can also be set by \
                  the environment variable it names. Logs go to stderr only with RUST_LOG (e.g. RUST_LOG=info)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// The flags that set a setting name its environment variable (`env`): the settings a run reads from the CLI are
// exactly these, found by that name (see `settings`), so their fields are not read one by one.

/// Where to act: the regions and the accounts (every command).
#[derive(Args)]
#[allow(dead_code)]
struct Place {
    /// Regions to read, comma-separated (us-east-1,eu-west-1). Default: your profile's region (AWS_REGION).
    #[arg(long, env = "REGIONS", value_name = "LIST")]
    regions: Option<String>,
    /// Accounts to act in, comma-separated, each through the role --assume-role-name: account ids, OU ids
    /// (ou-…: every active account under it), root ids (r-…) or `organization`. Default: your credentials'
    /// account.
    #[arg(long, env = "ACCOUNTS", value_name = "LIST")]
    accounts: Option<String>,
    /// Account ids to leave out of --accounts, comma-separated.
    #[arg(long, env = "EXCLUDE_ACCOUNTS", value_name = "LIST")]
    exclude_accounts: Option<String>,
    /// A role to assume to read the organization's OUs and accounts, when your credentials are not in its
    /// management (or delegated administrator) account.
    #[arg(long, env = "ORGANIZATION_ROLE_ARN", value_name = "ARN")]
    organization_role_arn: Option<String>,
    /// The role assumed in each account of --accounts (the member stack's role).
    #[arg(long, env = "ASSUME_ROLE_NAME", value_name = "NAME")]
    assume_role_name: Option<String>,
    /// The external id that role's trust policy requires, if any.
    #[arg(long, env = "ASSUME_ROLE_EXTERNAL_ID", value_name = "ID", hide_env_values = true)]
    assume_role_external_id: Option<String>,
}

/// Whose ranges, and whose rules and entries are ours (every command but audit: see [`Services`]).
#[derive(Args)]
#[allow(dead_code)]
struct Service {
    #[command(flatten)]
    services: Services,
    /// Sync CloudFront's WAF IP sets too (scope CLOUDFRONT, in us-east-1): true or false. Default: true when
    /// us-east-1 is one of --regions.
    #[arg(long, env = "WAF_CLOUDFRONT_SCOPE", value_name = "BOOL")]
    waf_cloudfront_scope: Option<String>,
}

/// Whose ranges (every command).
#[derive(Args)]
#[allow(dead_code)]
struct Services {
    /// The services of ip-ranges.json to allow, comma-separated: CLOUDFRONT, or CLOUDFRONT_ORIGIN_FACING (the
    /// narrower ranges CloudFront connects to origins from). Our rules' descriptions name it.
    #[arg(long, env = "SERVICE", value_name = "LIST")]
    service: Option<String>,
}

/// Which ranges, from which file (plan, apply, adopt, audit).
#[derive(Args)]
#[allow(dead_code)]
struct Ranges {
    /// The IP versions to sync: ipv4, ipv6, or ipv4,ipv6.
    #[arg(long, env = "IP_VERSIONS", value_name = "LIST")]
    ip_versions: Option<String>,
    /// Merge adjacent ranges into fewer rules and entries: true or false.
    #[arg(long, env = "AGGREGATE", value_name = "BOOL")]
    aggregate: Option<String>,
    /// Where to download ip-ranges.json from (https; http only on 127.0.0.1).
    #[arg(long, env = "IP_RANGES_URL", value_name = "URL", conflicts_with = "ip_ranges_file")]
    ip_ranges_url: Option<String>,
    /// Read ip-ranges.json from this file instead of downloading it (exactly as AWS served it).
    #[arg(long, value_name = "PATH")]
    ip_ranges_file: Option<PathBuf>,
}

/// How targets are filled (plan, apply).
#[derive(Args)]
#[allow(dead_code)]
struct Filling {
    /// Rules one security group may hold: your account's quota of inbound rules per group (Service Quotas,
    /// code L-0EA8095F).
    #[arg(long, env = "MAX_RULES_PER_GROUP", value_name = "N")]
    max_rules_per_group: Option<String>,
    /// Raise a tagged prefix list's MaxEntries when its ranges do not fit: true or false.
    #[arg(long, env = "PREFIX_LIST_GROW", value_name = "BOOL")]
    prefix_list_grow: Option<String>,
}

/// The output (every command).
#[derive(Args)]
struct Output {
    /// Print the result as one JSON document (every CIDR included) instead of text.
    #[arg(long)]
    json: bool,
}

/// A plan or an apply.
#[derive(Args)]
struct Run {
    #[command(flatten)]
    place: Place,
    #[command(flatten)]
    service: Service,
    #[command(flatten)]
    ranges: Ranges,
    #[command(flatten)]
    filling: Filling,
    #[command(flatten)]
    output: Output,
    /// Print every CIDR added and removed under its target's line (by default: one line per target with its
    /// counts, then a line per warning and error).
    #[arg(long)]
    verbose: bool,
    /// The default output; accepted for scripts that pass it.
    #[arg(long, hide = true)]
    summary: bool,
}

/// An `unmark` or a `remove`: what it lists, and whether it acts.
#[derive(Args)]
struct Listing {
    /// Remove what is listed instead of only listing it.
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    place: Place,
    #[command(flatten)]
    service: Service,
    #[command(flatten)]
    output: Output,
}

/// A rotation of the origin secret from the command line.
#[derive(Args)]
struct Rotate {
    /// The secret (name or ARN) whose value is {"header": "X-Origin-Verify", "value": "…"}.
    #[arg(long, value_name = "NAME")]
    secret: String,
    /// Rotate it instead of only listing what would change.
    #[arg(long)]
    apply: bool,
    /// The regions whose load balancers' rules and web ACLs check the secret, comma-separated.
    #[arg(long, env = "REGIONS", value_name = "LIST")]
    regions: Option<String>,
    /// Seconds to wait between the origins accepting the new value and the distributions sending it, 0-600.
    #[arg(long, env = "ORIGIN_SECRET_PROPAGATION_SECONDS", value_name = "SECONDS")]
    origin_secret_propagation_seconds: Option<String>,
    #[command(flatten)]
    output: Output,
}

#[derive(Subcommand)]
enum Command {
    /// Print what a sync would change; write nothing.
    Plan(Run),
    /// Sync: authorize and revoke until every tagged target holds exactly CloudFront's ranges.
    Apply(Run),
    /// List rules on the sets' ports that this tool did not create (e.g. from AWS's Python sample); with
    /// --apply, adopt those whose CIDR is a CloudFront range by giving them our description. Needs
    /// ec2:UpdateSecurityGroupRuleDescriptionsIngress.
    Adopt {
        /// Adopt the rules instead of only listing them.
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        service: Service,
        #[command(flatten)]
        ranges: Ranges,
        #[command(flatten)]
        output: Output,
    },
    /// List every set, prefix list and WAF IP set that records a file applied (tag
    /// cloudfront-sg-sync:synctoken), with its syncToken; with --apply, remove the record, so the next run syncs
    /// the target whatever file it recorded. For targets kept as older_file run after run (a file from the
    /// future applied by hand). Needs ec2:DeleteTags and wafv2:UntagResource with --apply.
    Unmark(Listing),
    /// Take back everything this tool added, for an uninstall: every rule of ours from the tagged sets, every
    /// entry of ours from the tagged prefix lists, every address from the tagged WAF IP sets, and the record of
    /// the file applied on each; hand-made rules and entries stay. Lists what it would remove; --apply removes
    /// it. Whatever relies on these targets then loses CloudFront's ranges.
    Remove(Listing),
    /// Check that each CloudFront origin is reachable only through CloudFront, and only through its
    /// distribution (read-only).
    ///
    /// Per origin: the origin protocol and TLS versions, what proves the distribution (a secret header judged
    /// at the ALB: its listener rules and web ACL; VPC origin, mTLS, OAC), S3 access, and the security groups of
    /// load balancer origins of the scanned regions (--regions), against the ranges of the file published now.
    /// With --accounts (ids, OUs, roots, organization), every account through its role, in one table with an
    /// account column. Exit 0: nothing fails; 1: something fails; 2: the audit (or one account's part of it)
    /// could not finish. Needs cloudfront:ListDistributions, elasticloadbalancing:DescribeLoadBalancers,
    /// DescribeListeners and DescribeRules, wafv2:GetWebACLForResource, ec2:DescribeSecurityGroups and
    /// ec2:DescribeManagedPrefixLists (in each account: the member role's AllowAudit).
    /// Rotate the origin secret now: the four steps of the rotation function at once (a first rotation, a
    /// person in a hurry). Lists the tagged distributions and the rules and web ACLs that check the current value;
    /// with --apply, stores a new value, makes every check accept both, waits, makes every tagged distribution
    /// send the new one, waits until they are deployed, makes it current, then makes every check accept only it.
    /// Needs what the rotation function's role has.
    RotateOriginSecret(Rotate),
    Audit {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        services: Services,
        #[command(flatten)]
        ranges: Ranges,
        #[command(flatten)]
        output: Output,
    },
}

impl Command {
    /// --json.
    fn json(&self) -> bool {
        match self {
            Command::Plan(run) | Command::Apply(run) => run.output.json,
            Command::Unmark(listing) | Command::Remove(listing) => listing.output.json,
            Command::Adopt { output, .. } | Command::Audit { output, .. } => output.json,
            Command::RotateOriginSecret(rotate) => rotate.output.json,
        }
    }

    /// --ip-ranges-file, where the command reads the file.
    fn ip_ranges_file(&self) -> Option<&PathBuf> {
        match self {
            Command::Plan(run) | Command::Apply(run) => run.ranges.ip_ranges_file.as_ref(),
            Command::Adopt { ranges, .. } | Command::Audit { ranges, .. } => ranges.ip_ranges_file.as_ref(),
            _ => None,
        }
    }
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
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let config = config(&cli.command, &settings(&matches));
    let json = cli.command.json();
    let file = cli.command.ip_ranges_file();
    match &cli.command {
        Command::Audit { .. } => audit_command(json, config, file).await,
        Command::Adopt { apply, .. } => {
            let found = async { adopt(&config?, file, *apply).await }.await;
            let nothing = "nothing to adopt: no rule on the sets' ports that this tool did not create";
            listed(json, found, |sets| sets.iter().find_map(|s| s.error.as_ref()), nothing)
        }
        Command::Remove(Listing { apply, .. }) => {
            let found = async { remove(&config?, *apply).await }.await;
            let nothing = "nothing to remove: no tagged target holds a rule, entry or address of ours";
            // Listed, targets that hold nothing of ours are nothing to remove.
            let empty = |targets: &[RemovalReport]| !apply && targets.iter().all(|t| t.held == 0 && t.error.is_none());
            let found = found.map(|targets| if empty(&targets) { Vec::new() } else { targets });
            listed(
                json,
                found,
                |targets| targets.iter().find_map(|t| t.error.as_ref()),
                nothing,
            )
        }
        Command::Unmark(Listing { apply, .. }) => {
            let found = async { unmark(&config?, *apply).await }.await;
            let nothing = "nothing to clear: no tagged target records a file applied";
            listed(
                json,
                found,
                |marks| marks.iter().find_map(|m| m.error.as_ref()),
                nothing,
            )
        }
        Command::Plan(run) | Command::Apply(run) => synced(json, run.verbose, sync_command(config, file).await),
        Command::RotateOriginSecret(rotate) => rotate_command(json, config, rotate).await,
    }
}

/// The rotation of `rotate.secret`: planned, or (with `--apply`) run step by step, printed, as an exit code.
async fn rotate_command(json: bool, config: Result<Config>, rotate: &Rotate) -> ExitCode {
    let rotated = async {
        let config = config?;
        let shared = shared_config(&config, loader()).await;
        check_credentials(&shared).await?;
        let function = RotationFunction::with_shared(config, &shared);
        match rotate.apply {
            false => function.plan(&rotate.secret).await.map(Rotated::Plan),
            true => function.rotate_now(&rotate.secret).await.map(Rotated::Steps),
        }
    };
    match rotated.await {
        Ok(rotated) => {
            print(json, &rotated, || rotated.to_string());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// A plan's or an apply's summary printed (every CIDR with `verbose`), as an exit code.
fn synced(json: bool, verbose: bool, summary: Result<Summary>) -> ExitCode {
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => return fail(&e),
    };
    print(json, &summary, || match verbose {
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

/// The audit, printed, as an exit code: of the credentials' own account, or (with ACCOUNTS) of every account,
/// against the file published now (or `file`).
async fn audit_command(json: bool, config: Result<Config>, file: Option<&PathBuf>) -> ExitCode {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            fail(&e);
            return ExitCode::from(2);
        }
    };
    let config = &config;
    if !config.accounts.is_empty() {
        return match audit_accounts(config, file).await {
            Ok(audit) => {
                print(json, &audit, || format!("{audit}\n"));
                ExitCode::from(audit.exit_code())
            }
            Err(e) => {
                fail(&e);
                ExitCode::from(2)
            }
        };
    }
    match audit(config, file).await {
        Ok(report) => {
            print(json, &report, || format!("{report}\n"));
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

/// A plan or an apply (as `config` says, with its `dry_run`), of the file at `file` or downloaded: the Lambda
/// function's run, on a schedule, with no deadline and no notification.
async fn sync_command(config: Result<Config>, file: Option<&PathBuf>) -> Result<Summary> {
    let config = config?;
    match file {
        Some(path) => sync_with(config, FileSource::new(path)).await,
        None => {
            let source = HttpSource::new(&config)?;
            sync_with(config, source).await
        }
    }
}

/// The function's run over `source`, with the CLI's credentials (checked first).
async fn sync_with(config: Config, source: impl RangesSource) -> Result<Summary> {
    let (accounts, organization, base) = with_loader_shared(&config, loader()).await;
    check_credentials(&base).await?;
    let app = App {
        config,
        source,
        accounts,
        organization,
        notifications: NoNotifications,
    };
    app.run(&Trigger::Scheduled, None).await
}

async fn adopt(config: &Config, file: Option<&PathBuf>, apply: bool) -> Result<Vec<UnmanagedSet>> {
    let (_, targets) = targets(config).await?;
    match file {
        Some(path) => sync::adopt(config, &FileSource::new(path), &targets, apply).await,
        None => sync::adopt(config, &HttpSource::new(config)?, &targets, apply).await,
    }
}

async fn remove(config: &Config, apply: bool) -> Result<Vec<RemovalReport>> {
    sync::remove(config, &targets(config).await?.1, apply).await
}

async fn unmark(config: &Config, apply: bool) -> Result<Vec<MarkReport>> {
    sync::unmark(config, &targets(config).await?.1, apply).await
}

/// Print what a listing command found (`nothing` when it found nothing); failure when `error` finds one that
/// failed, or when the command did.
fn listed<T: serde::Serialize + std::fmt::Display>(
    json: bool,
    found: Result<Vec<T>>,
    error: impl Fn(&[T]) -> Option<&String>,
    nothing: &str,
) -> ExitCode {
    let items = match found {
        Ok(items) => items,
        Err(e) => return fail(&e),
    };
    print(json, &items, || match items.is_empty() {
        true => format!("{nothing}\n"),
        false => items.iter().map(ToString::to_string).collect(),
    });
    match error(&items) {
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// The ranges of the file published now (downloaded as a sync does, or read from `file`), as the sync selects
/// them: the sets the audit finds are held to them.
async fn published(config: &Config, file: Option<&PathBuf>) -> Result<Selection> {
    let (selection, _) = match file {
        Some(path) => {
            sync::fetch_verified(config, &Trigger::Scheduled, &FileSource::new(path), Budget::unbounded()).await?
        }
        None => {
            sync::fetch_verified(
                config,
                &Trigger::Scheduled,
                &HttpSource::new(config)?,
                Budget::unbounded(),
            )
            .await?
        }
    };
    Ok(selection)
}

/// The audit of the credentials' own account, over the load balancers and groups of `REGIONS`, against the file
/// published now (or `file`).
async fn audit(config: &Config, file: Option<&PathBuf>) -> Result<AuditReport> {
    let shared = shared_config(config, loader()).await;
    check_credentials(&shared).await?;
    let published = published(config, file).await?;
    audit_with(config, &published, &shared).await
}

/// The audit of every account of ACCOUNTS, each through its role (its part failing alone), against the file
/// published now (or `file`).
async fn audit_accounts(config: &Config, file: Option<&PathBuf>) -> Result<AccountsAudit> {
    let base = shared_config(config, loader()).await;
    check_credentials(&base).await?;
    let published = &published(config, file).await?;
    let members = sync::members(config, &OrgAccounts::from_shared(config, &base).await).await?;
    let audit_one = |id: String| {
        let base = &base;
        async move { audit_with(config, published, &member_config(config, base, &id)).await }
    };
    Ok(sync::audit_accounts(config, &members, audit_one).await)
}

/// The audit of the account whose credentials `shared` has.
async fn audit_with(config: &Config, published: &Selection, shared: &aws_config::SdkConfig) -> Result<AuditReport> {
    let ec2 = Ec2::from_shared(config, shared, |_, builder| builder);
    let cloudfront = CloudFrontDistributions::from_shared(shared);
    let load_balancers = ElbLoadBalancers::from_shared(config, shared);
    sync::audit(config, Some(published), &cloudfront, &load_balancers, &ec2).await
}

/// The command line, each setting flag's help ending with its default from the settings list.
fn command() -> clap::Command {
    let command = Cli::command();
    let defaults = |command: clap::Command| {
        let ids: Vec<(clap::Id, String)> = (command.get_arguments())
            .filter_map(|arg| {
                let variable = arg.get_env()?.to_str()?;
                // A default that is another variable ($AWS_REGION) is said in the flag's own words.
                let default = (config::setting_of(variable).map(|s| s.default))
                    .filter(|d| !d.is_empty() && !d.starts_with('$'))?;
                Some((arg.get_id().clone(), default.to_owned()))
            })
            .collect();
        ids.into_iter().fold(command, |command, (id, default)| {
            command.mut_arg(id, |arg| {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {default}]"))
            })
        })
    };
    let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    names
        .iter()
        .fold(command, |command, name| command.mut_subcommand(name, defaults))
}

/// The settings the command line sets, by environment variable: every flag that names one (`env`), with the value
/// given to it or, as clap reads it, its variable's.
fn settings(matches: &clap::ArgMatches) -> BTreeMap<String, String> {
    let Some((name, sub)) = matches.subcommand() else {
        return BTreeMap::new();
    };
    let command = command();
    let Some(subcommand) = command.find_subcommand(name) else {
        return BTreeMap::new();
    };
    (subcommand.get_arguments())
        .filter_map(|arg| {
            let variable = arg.get_env()?.to_str()?.to_owned();
            let value = sub.get_one::<String>(arg.get_id().as_str())?;
            Some((variable, value.clone()))
        })
        .collect()
}

/// The settings: each flag over its environment variable; `plan` and every listing command never write.
fn config(command: &Command, flags: &BTreeMap<String, String>) -> Result<Config> {
    let mut config = Config::from_lookup(|name| match flags.get(name) {
        Some(value) => Some(value.clone()),
        None => std::env::var(name).ok(),
    })?;
    match command {
        // `apply` writes: a DRY_RUN=true left in the environment contradicts it, and must not be overridden.
        Command::Apply(_) if config.dry_run => Err(Error::Config {
            variable: "DRY_RUN",
            value: std::env::var("DRY_RUN").unwrap_or_default(),
            reason: "`apply` writes, and DRY_RUN=true asks for no write: unset DRY_RUN (or set it to false) to apply, or run `plan` to see the changes without making them".into(),
        }),
        Command::Apply(_) => Ok(config),
        _ => {
            config.dry_run = true;
            Ok(config)
        }
    }
}

/// `value` as one JSON document with --json, else as `text`.
fn print(json: bool, value: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if json {
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
