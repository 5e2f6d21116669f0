use std::process::ExitCode;

use livesurgery::telemetry::logs::{JsonLines, LOG_FORMAT_VAR, LogFormat};
use livesurgery::telemetry::trace::{TraceConfig, Traces};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// mimalloc: glibc's malloc and free were about a third of a projection rebuild's CPU time
/// (perf), and the SFU and the log allocate small blocks at a high rate too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let traces = match init_telemetry() {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let code = run().await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    code
}

async fn run() -> ExitCode {
    let cli = match livesurgery::cli::Cli::parse_layered() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match livesurgery::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on standard error in the format `LIVESURGERY_LOG_FORMAT` names, filtered by
/// `RUST_LOG`; and OpenTelemetry traces when an OTLP endpoint is set (`OTEL_…`).
fn init_telemetry() -> Result<Option<Traces>, String> {
    let format = LogFormat::from_var(std::env::var(LOG_FORMAT_VAR).ok().as_deref())?;
    let trace_config = TraceConfig::from_env(|name| std::env::var(name).ok())?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let log: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(JsonLines)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let mut layers = vec![log];
    let traces = match &trace_config {
        Some(config) => {
            let (traces, layer) = Traces::start(config)?;
            layers.push(layer.boxed());
            Some(traces)
        }
        None => None,
    };
    tracing_subscriber::registry().with(layers).init();
    match &trace_config {
        Some(config) => tracing::info!(
            endpoint = %config.endpoint,
            protocol = ?config.protocol,
            "exporting traces over OTLP"
        ),
        None => tracing::debug!("traces off: no OTLP endpoint set"),
    }
    Ok(traces)
}
