//! `livesurgery-bench`: the benchmark suites of the LiveSurgery server. Every figure is printed
//! beside a baseline measured in the same run on the same machine (machines are noisy; ratios
//! travel).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod database;
mod report;
mod rest;
mod server;
mod sfu;
mod soak;
mod store;
mod upload;
mod ws;

/// Measures the LiveSurgery server; prints figures beside baselines of the same run.
#[derive(Debug, Parser)]
#[command(name = "livesurgery-bench", version, about)]
struct Cli {
    #[command(flatten)]
    databases: database::DatabaseArgs,
    #[command(subcommand)]
    suite: Suite,
}

/// The suites, named as the former `livesurgery bench --suite …` named them.
#[derive(Debug, Subcommand)]
enum Suite {
    /// The event log (appends, subscriber latency) and the projections (rebuild).
    Store(store::StoreArgs),
    /// The REST API's hottest read and write against GET /healthz (server in this process).
    Api(api::ApiArgs),
    /// The realtime gateway under load (a server process of its own).
    Ws(ws::WsArgs),
    /// A mentor's strokes, pen up to the other screen, against the WebSocket's own push
    /// latency (a server process of its own).
    Teaching(ws::teaching::TeachingArgs),
    /// Media forwarding against a plain UDP relay (a server process of its own).
    Sfu(sfu::SfuArgs),
    /// Segment uploads through the spool to S3 (an s3s-fs of its own) against a plain
    /// `put_object` loop; needs no database.
    Upload(upload::UploadArgs),
    /// Media forwarding while 0, 1, 4, 8 sessions are recorded (server in this process).
    SfuRecording(sfu::RecordingArgs),
    /// A steady mixed load for minutes (a server process of its own): the slopes of its
    /// resident memory and open file descriptors per minute; fails on a leak.
    Soak(soak::SoakArgs),
}

/// mimalloc: glibc's malloc and free were about a third of a projection rebuild's CPU time
/// (perf), and the SFU and the log allocate small blocks at a high rate too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // The API suite runs the server in this process: its log lines go where `serve`'s would.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the suite once per backend asked for, each on a scratch database (the upload suite,
/// which uses none, once).
async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Suite::Upload(args) = &cli.suite {
        return upload::run(args).await;
    }
    for backend in cli.databases.backends()? {
        let db = cli.databases.scratch(backend).await?;
        println!("== {backend} ==");
        let result = match &cli.suite {
            Suite::Store(args) => store::run(&db, args).await,
            Suite::Api(args) => {
                let quiet = cli.databases.scratch(backend).await?;
                let result = api::run(&db.url, &quiet, args).await;
                quiet.drop_database().await?;
                result
            }
            Suite::Ws(args) => ws::run(&db.url, args).await,
            Suite::Teaching(args) => ws::teaching::run(&db.url, args).await,
            Suite::Sfu(args) => sfu::run(&db.url, args).await,
            Suite::Upload(_) => unreachable!("run above, without a database"),
            Suite::SfuRecording(args) => sfu::run_recording(&db.url, args).await,
            Suite::Soak(args) => soak::run(&db.url, args).await,
        };
        db.drop_database().await?;
        result?;
    }
    Ok(())
}
