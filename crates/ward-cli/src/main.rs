//! `ward`: one binary for the server, the demo, administration and benchmarks.
//!
//! Exit codes: 0 success; 1 failure; 2 bad usage; 3 the server refused the request (4xx);
//! 4 the server could not be reached or failed (5xx).

mod advisory;
mod bench;
mod bench_alert;
mod client;
mod commands;
mod demo;
mod detect;
mod escalation;
mod intake;
mod intel;
mod scan;
mod search;
mod search_bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ward",
    version,
    about = "National security monitoring and alerting for a federation of health and care organisations"
)]
pub struct Cli {
    /// Configuration file (default: ./ward.toml when it exists).
    #[arg(long, global = true, env = "WARD_CONFIG")]
    config: Option<PathBuf>,
    /// Server to talk to (default: derived from http.listen).
    #[arg(long, global = true, env = "WARD_URL")]
    url: Option<String>,
    /// Personal token or API key (default: <data_dir>/admin.token).
    #[arg(long, global = true, env = "WARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented ward.toml.
    Init {
        #[arg(default_value = "ward.toml")]
        path: PathBuf,
    },
    /// Run the server (API, web page, pipeline) until Ctrl-C.
    Serve,
    /// Start a server on a temporary directory, replay an outbreak across a synthetic
    /// federation, show the national incident and its notifications, keep serving.
    Demo(demo::DemoArgs),
    /// Member organisations.
    #[command(subcommand)]
    Org(commands::OrgCmd),
    /// Organisation API keys.
    #[command(subcommand)]
    Key(commands::KeyCmd),
    /// People and their roles.
    #[command(subcommand)]
    User(commands::UserCmd),
    /// Who is told about an organisation's incidents.
    #[command(subcommand)]
    Contact(commands::ContactCmd),
    /// Sigma meta filters: each organisation's tuning of its own false positives.
    #[command(subcommand)]
    Filter(commands::FilterCmd),
    /// Members' syslog sources: client certificates and source networks.
    #[command(subcommand)]
    Source(intake::SourceCmd),
    /// How long each organisation's events are kept.
    #[command(subcommand)]
    Retention(intake::RetentionCmd),
    /// Upload files of events (.evtx, .json, .jsonl, text; .gz too) for back-filling.
    Upload(intake::UploadArgs),
    /// Send NDJSON event files with an organisation's API key.
    Send(commands::SendArgs),
    /// Search stored events by observable (IP, CIDR, domain, hash…), organisation, host,
    /// class, time and free text.
    Search(search::SearchArgs),
    /// Incidents, national first.
    #[command(subcommand)]
    Incidents(commands::IncidentsCmd),
    /// Escalation policies, on-call rotas, silences, triage and acknowledgement.
    #[command(subcommand)]
    Escalation(escalation::EscalationCmd),
    /// Advisories (High Severity Alerts): publish, answer, see who complied.
    #[command(subcommand)]
    Advisory(advisory::AdvisoryCmd),
    /// Pipeline status.
    Status,
    /// Sigma rules.
    #[command(subcommand)]
    Rules(detect::RulesCmd),
    /// Run Sigma rules over EVTX, JSON or JSONL files offline, like Chainsaw or Hayabusa.
    Hunt(detect::HuntArgs),
    /// Send files of events to a running server.
    #[command(subcommand)]
    Import(detect::ImportCmd),
    /// Members' authorised scan scopes (consent records) and their audit.
    #[command(subcommand)]
    Scope(scan::ScopeCmd),
    /// Run, follow, cancel and list authorised scans.
    #[command(subcommand)]
    Scan(scan::ScanCmd),
    /// Scan findings and their lifecycle.
    #[command(subcommand)]
    Findings(scan::FindingsCmd),
    /// Members' estates, vulnerability feeds and exposures.
    #[command(subcommand)]
    Estate(scan::EstateCmd),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Threat intelligence: feeds, indicators, exports.
    #[command(subcommand)]
    Intel(intel::IntelCmd),
    /// Run a local stand-in for the GOV.UK Notify API (for tests and offline trials): prints
    /// its API keys and template ids, serves until Ctrl-C.
    NotifyStandin {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,evtx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(client::exit_code(&e))
        }
    }
}

pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<ward_config::Config> {
    let default = PathBuf::from("ward.toml");
    let file = match path {
        Some(p) => Some(p.to_path_buf()),
        None if default.exists() => Some(default),
        None => None,
    };
    Ok(ward_config::Config::load_from_process(file.as_deref())?)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Init { path } => {
            ward_config::Config::write_template(path)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Serve => {
            let cfg = load_config(cli.config.as_deref())?;
            let server = ward_server::start(cfg).await?;
            println!("ward is listening on {}", server.url());
            if let Some(token) = &server.admin_token {
                println!(
                    "first start: central analyst token written to {} (sign in: {}/login?token={token})",
                    server.data_dir.join(ward_server::ADMIN_TOKEN_FILE).display(),
                    server.url()
                );
            }
            server.run_until(shutdown_signal()).await;
            Ok(())
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(b) => bench::run(b, cli.json).await,
        Command::Rules(r) => tokio::task::block_in_place(|| detect::rules_check(r, cli.json)),
        Command::Hunt(h) => tokio::task::block_in_place(|| detect::hunt(h)),
        Command::Escalation(e) => {
            let api = client::Api::from_cli(&cli)?;
            escalation::run(e, &api, cli.json).await
        }
        Command::Advisory(a) => {
            let api = client::Api::from_cli(&cli)?;
            advisory::run(a, &api, cli.json).await
        }
        Command::Import(i) => {
            let api = client::Api::from_cli(&cli)?;
            detect::import(i, &api, cli.json).await
        }
        Command::Source(c) => intake::source(c, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Retention(c) => {
            intake::retention(c, &client::Api::from_cli(&cli)?, cli.json).await
        }
        Command::Upload(a) => intake::upload(a, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Scope(c) => scan::scope(c, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Scan(c) => scan::scan(c, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Findings(c) => scan::findings(c, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Estate(c) => scan::estate(c, &client::Api::from_cli(&cli)?, cli.json).await,
        Command::Intel(i) => {
            let api = client::Api::from_cli(&cli)?;
            intel::run(i, &api, cli.json).await
        }
        Command::Search(s) => {
            let api = client::Api::from_cli(&cli)?;
            search::run(s, &api, cli.json).await
        }
        Command::NotifyStandin { listen } => {
            let standin =
                ward_notify_standin::bind(listen, ward_notify_standin::StandinConfig::default())
                    .await?;
            print!("{}", standin.describe());
            println!("Serving until Ctrl-C.");
            shutdown_signal().await;
            standin.shutdown().await;
            Ok(())
        }
        _ => {
            let api = client::Api::from_cli(&cli)?;
            commands::run(&cli.command, &api, cli.json).await
        }
    }
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
