//! The `livesurgery` command line.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use livesurgery_projections::ReadModels;
use uuid::Uuid;

use crate::audit::checkpoint::CheckpointPaths;
use crate::projector::LogSource;
use crate::settings::{
    ApiSettings, DEFAULT_DATA_DIR, DEFAULT_DATABASE_URL, DEFAULT_HTTP_ADDR, DatabaseUrl, Settings,
};
use crate::store::{self, EventStore};
use livesurgery_domain::roles::OrgRole;

pub mod config_file;

/// LiveSurgery: event-sourced server for live surgery sessions.
#[derive(Debug, Parser)]
#[command(name = "livesurgery", version, about)]
pub struct Cli {
    /// TOML file of settings: keys are the flags' names with `_` for `-` (see
    /// ops/livesurgery.example.toml). Environment variables and flags override it.
    #[arg(long, global = true, env = "LIVESURGERY_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,

    /// Event log and read-model database: sqlite://PATH (embedded, created on first start) or
    /// postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "LIVESURGERY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: DatabaseUrl,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's command line with its config file (defaults < file < environment <
    /// flags). On a usage error, `--help` or `--version`, prints and exits as clap does.
    pub fn parse_layered() -> Result<Cli, config_file::ConfigError> {
        match config_file::parse_from(std::env::args_os()) {
            Ok(cli) => Ok(cli),
            Err(config_file::ParseError::CommandLine(e)) => e.exit(),
            Err(config_file::ParseError::Config(e)) => Err(e),
        }
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: migrations, projections, HTTP. SIGTERM drains and exits.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LIVESURGERY_HTTP_ADDR", default_value = DEFAULT_HTTP_ADDR)]
        addr: String,
        // Boxed: far larger than the other commands' options (clippy::large_enum_variant).
        #[command(flatten)]
        api: Box<ApiSettings>,
    },
    /// Manage users from the command line (works while the server runs).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Print the OpenAPI 3.1 document of the REST API (the one committed at schemas/openapi.json).
    Openapi,
    /// Create or upgrade the database tables, then exit.
    Migrate,
    /// Inspect or rebuild the read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Check the tamper-evidence of the log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Ask a running server on this machine whether it is up (`GET /healthz`), for a
    /// container's HEALTHCHECK (the image has no curl): exit code 0 when it answers 200, 1
    /// otherwise. Plain HTTP only.
    Healthcheck {
        /// Default: http://127.0.0.1:PORT/healthz, PORT from the listen address.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The server's listen address, whose port the default URL takes.
        #[arg(long, env = "LIVESURGERY_HTTP_ADDR", default_value = DEFAULT_HTTP_ADDR)]
        addr: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Print a session's state as it was at a moment, folded from the log alone (JSON).
    Replay {
        /// The session id.
        #[arg(long)]
        session: Uuid,
        /// The moment (RFC 3339); default: now.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
}

/// `livesurgery projections …`
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's position, generation and lag behind the log head.
    Status,
    /// Rebuild from position 0 into fresh tables, then swap them in (reads keep working).
    Rebuild {
        /// One projection; all when omitted.
        name: Option<String>,
    },
}

/// `livesurgery users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Register a user. The password is read from standard input when it is not a terminal;
    /// otherwise one is generated and printed once.
    Create {
        #[arg(long)]
        username: String,
        /// admin, surgeon, observer or reviewer.
        #[arg(long, value_parser = parse_role)]
        role: OrgRole,
        /// Default: the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<OrgRole, String> {
    OrgRole::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| "expected admin, surgeon, observer or reviewer".to_owned())
}

/// `livesurgery audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chains and, for the whole log, check it against every signed
    /// checkpoint; exit code 1 and the first break found when one fails.
    Verify {
        /// Only this session's stream (its chain only: checkpoints cover the whole log).
        #[arg(long)]
        session: Option<Uuid>,
        /// The checkpoint public key (hex) to check signatures with, as printed at start;
        /// default: the one of the checkpoint key file.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        #[command(flatten)]
        paths: CheckpointArgs,
    },
    /// Print the public key (hex, Ed25519) that checks the server's checkpoints; creates the
    /// key when absent, as the server's first start would.
    PublicKey {
        #[command(flatten)]
        paths: CheckpointArgs,
    },
}

/// Where the server keeps its checkpoint key and checkpoints (the same settings as `serve`'s).
#[derive(Debug, Clone, clap::Args)]
pub struct CheckpointArgs {
    /// The server's data folder (the key's default home).
    #[arg(long, env = "LIVESURGERY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: std::path::PathBuf,
    /// The checkpoint key (default: DATA_DIR/checkpoint.key).
    #[arg(long, env = "LIVESURGERY_CHECKPOINT_KEY")]
    pub checkpoint_key: Option<std::path::PathBuf>,
    /// The checkpoint file (default: checkpoints.jsonl beside the key).
    #[arg(long, env = "LIVESURGERY_CHECKPOINT_FILE")]
    pub checkpoint_file: Option<std::path::PathBuf>,
}

impl CheckpointArgs {
    fn resolve(&self) -> CheckpointPaths {
        CheckpointPaths::resolve(
            &self.data_dir,
            self.checkpoint_key.as_deref(),
            self.checkpoint_file.as_deref(),
        )
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let url = cli.database_url.clone();
    match cli.command {
        Command::Serve { addr, api } => {
            let settings = Settings {
                database_url: url,
                http_addr: addr,
                api: *api,
            };
            let mut app = crate::startup::Application::build(&settings).await?;
            // Standard output, not the log: it may hold the demo personas' passwords.
            if let Some(banner) = app.take_demo_banner() {
                println!("{banner}");
            }
            // Not a secret: auditors keep it to check the checkpoints with (`audit verify`).
            println!(
                "audit checkpoint public key (Ed25519): {}",
                app.checkpoint_public_key()
            );
            // After anything that creates an admin at start-up: then there is no setup link.
            app.offer_setup().await?;
            tracing::info!(
                database = %settings.database_url,
                addr = %settings.http_addr,
                port = app.port(),
                "LiveSurgery serving"
            );
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let store = store::open(url.expose()).await?;
            let read_models = ReadModels::connect(url.expose()).await?;
            read_models.migrate().await?;
            store.close().await;
            println!("migrated {url}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Projections { command } => projections(url, command).await,
        Command::Audit {
            command:
                AuditCommand::Verify {
                    session,
                    public_key,
                    paths,
                },
        } => audit_verify(url, session, public_key, paths.resolve()).await,
        Command::Audit {
            command: AuditCommand::PublicKey { paths },
        } => {
            println!(
                "{}",
                crate::audit::checkpoint::public_key(&paths.resolve().key)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { session, at } => {
            let store = store::open(url.expose()).await?;
            let stream = livesurgery_domain::events::session_stream(session);
            let events = store::read_whole_stream(&*store, &stream).await?;
            store.close().await;
            if events.is_empty() {
                eprintln!("no session {session} in the log");
                return Ok(ExitCode::from(2));
            }
            let view = livesurgery_domain::replay::replay_session(&events, at)
                .context("folding the session's events")?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck {
            url,
            addr,
            timeout_secs,
        } => {
            let url = match url {
                Some(url) => url,
                None => {
                    let port = addr
                        .rsplit_once(':')
                        .and_then(|(_, port)| port.parse::<u16>().ok())
                        .with_context(|| format!("no port in the listen address {addr:?}"))?;
                    format!("http://127.0.0.1:{port}/healthz")
                }
            };
            let answer =
                tokio::time::timeout(Duration::from_secs(timeout_secs.max(1)), healthcheck(&url))
                    .await;
            match answer {
                Ok(Ok(200)) => {
                    println!("healthy: {url} answered 200");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(Ok(status)) => {
                    eprintln!("unhealthy: {url} answered {status}");
                    Ok(ExitCode::FAILURE)
                }
                Ok(Err(error)) => {
                    eprintln!("unhealthy: {url}: {error:#}");
                    Ok(ExitCode::FAILURE)
                }
                Err(_) => {
                    eprintln!("unhealthy: {url} did not answer within {timeout_secs} s");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Openapi => {
            println!("{}", crate::api::openapi().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Users {
            command:
                UsersCommand::Create {
                    username,
                    role,
                    display_name,
                },
        } => create_user(url, username, role, display_name).await,
    }
}

/// `GET` of a plain-HTTP URL; the answer's status code.
async fn healthcheck(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").with_context(|| {
        format!("{url}: only http:// URLs (probe the server's plain-HTTP address)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The status line is all that is needed; the body is not read to its end.
    let mut head = vec![0u8; 1024];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        let n = stream.read(&mut head[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| {
            format!(
                "not an HTTP answer: {:?}",
                line.lines().next().unwrap_or("")
            )
        })?;
    Ok(status)
}

/// `livesurgery users create`: the same registration as `POST /v1/users`, as the operator.
async fn create_user(
    url: DatabaseUrl,
    username: String,
    role: OrgRole,
    display_name: Option<String>,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let (password, generated) = if std::io::stdin().is_terminal() {
        (crate::app::users::random_password(), true)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    };
    let store = store::open(url.expose()).await?;
    let read_models = ReadModels::connect(url.expose()).await?;
    read_models.migrate().await?;
    let credentials = crate::auth::Credentials::new(read_models.pool().clone());
    // The operator at the command line acts as an admin with no user id of their own.
    let ctx = livesurgery_domain::CommandContext::new(Uuid::nil(), OrgRole::Admin, Utc::now());
    let request = crate::app::users::NewUser {
        display_name: display_name.unwrap_or_else(|| username.clone()),
        username,
        password,
        role,
    };
    let result =
        crate::app::users::register_user(&*store, &credentials, &ctx, Uuid::now_v7(), &request)
            .await;
    store.close().await;
    match result {
        Ok((user_id, _)) => {
            println!(
                "created user {} ({user_id}) with role {role}",
                request.username
            );
            if generated {
                println!("password (shown once): {}", request.password);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("cannot create the user: {}", e.message);
            Ok(ExitCode::from(2))
        }
    }
}

async fn projections(url: DatabaseUrl, command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    let store = store::open(url.expose()).await?;
    let read_models = ReadModels::connect(url.expose()).await?;
    read_models.migrate().await?;
    let result = match command {
        ProjectionsCommand::Status => {
            let head = store.head_position().await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<12} {:>12} {:>10} {:>12}",
                "projection", "position", "generation", "lag"
            )?;
            for s in read_models.status().await? {
                writeln!(
                    out,
                    "{:<12} {:>12} {:>10} {:>12}",
                    s.name,
                    s.position,
                    s.generation,
                    head.saturating_sub(s.position)
                )?;
            }
            writeln!(out, "log head: {head}")?;
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsCommand::Rebuild { name } => {
            if let Some(n) = &name
                && !ReadModels::names().contains(&n.as_str())
            {
                eprintln!(
                    "unknown projection {n:?}; known: {}",
                    ReadModels::names().join(", ")
                );
                return Ok(ExitCode::from(2));
            }
            rebuild(&read_models, store.clone(), name.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
    };
    store.close().await;
    result
}

/// Rebuilds the named projections (all of them in one pass over the log when `names` is
/// `None`), printing a progress line about once a second; returns the events/s achieved.
pub async fn rebuild(
    read_models: &ReadModels,
    store: Arc<dyn EventStore>,
    name: Option<&str>,
) -> anyhow::Result<f64> {
    let source = Arc::new(LogSource(store));
    let label = name.unwrap_or("all projections").to_owned();
    let mut last_print = Instant::now();
    let progress = |p: livesurgery_projections::RebuildProgress| {
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let pct = if p.head == 0 {
                100.0
            } else {
                p.position as f64 * 100.0 / p.head as f64
            };
            eprintln!(
                "rebuilding {label}: position {}/{} ({pct:.0}%), {} events applied",
                p.position, p.head, p.events_applied
            );
        }
    };
    let report = match name {
        Some(name) => read_models.rebuild(name, source, progress).await,
        None => read_models.rebuild_all(source, progress).await,
    }
    .with_context(|| format!("rebuilding {}", name.unwrap_or("the projections")))?;
    eprintln!(
        "rebuilt {}: {} events in {:.1} s ({:.0} events/s), generation {} swapped in at position {}",
        report.projections.join(", "),
        report.events_applied,
        report.elapsed.as_secs_f64(),
        report.events_per_second(),
        report.generation,
        report.position
    );
    Ok(report.events_per_second())
}

async fn audit_verify(
    url: DatabaseUrl,
    session: Option<Uuid>,
    public_key: Option<String>,
    paths: CheckpointPaths,
) -> anyhow::Result<ExitCode> {
    // Checkpoints attest the whole log; they are checked when it is verified whole and the
    // server has written some.
    // A server that signed (its key exists, or the auditor names the key) left checkpoints:
    // their file gone is the trace of a rewrite, not a log that never had any.
    if session.is_none() && !paths.file.exists() && (public_key.is_some() || paths.key.exists()) {
        eprintln!(
            "BROKEN: the checkpoint file {} is missing, yet checkpoints were signed with the key",
            paths.file.display()
        );
        return Ok(ExitCode::from(1));
    }
    let check_checkpoints = session.is_none() && paths.file.exists();
    let public_key = match public_key {
        Some(key) => Some(key),
        None if check_checkpoints => {
            if !paths.key.exists() {
                eprintln!(
                    "cannot check the checkpoints in {}: no key at {}; give --public-key",
                    paths.file.display(),
                    paths.key.display()
                );
                return Ok(ExitCode::from(2));
            }
            Some(crate::audit::checkpoint::public_key(&paths.key)?)
        }
        None => None,
    };
    let store = store::open(url.expose()).await?;
    let stream = session.map(livesurgery_domain::events::session_stream);
    let mut report = crate::audit::verify(&*store, stream.as_deref()).await?;
    if let Some(key) = public_key.filter(|_| check_checkpoints) {
        report.checkpoints =
            Some(crate::audit::checkpoint::verify(&*store, &paths.file, &key).await?);
    }
    store.close().await;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(link) = &report.broken {
        eprintln!(
            "BROKEN: stream {} version {} (position {}, event {}): {}",
            link.stream, link.version, link.position, link.event_id, link.reason
        );
        return Ok(ExitCode::from(1));
    }
    match &report.checkpoints {
        Some(checkpoints) => {
            if let Some(reason) = &checkpoints.broken {
                eprintln!(
                    "BROKEN: checkpoint {}: {reason}",
                    checkpoints.file.display()
                );
                return Ok(ExitCode::from(1));
            }
            eprintln!(
                "ok: {} streams, {} events, every hash chain holds; the log matches {} signed \
                 checkpoints (latest at position {})",
                report.streams_checked,
                report.events_checked,
                checkpoints.checked,
                checkpoints.latest_position.unwrap_or(0)
            );
        }
        None => eprintln!(
            "ok: {} streams, {} events, every hash chain holds (no signed checkpoint checked: \
             a consistent rewrite of the database would not show)",
            report.streams_checked, report.events_checked
        ),
    }
    Ok(ExitCode::SUCCESS)
}
