//! OpenTelemetry traces, exported over OTLP; off unless an endpoint is configured
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
//!
//! # One trace per correlation id
//!
//! A write's events carry the correlation id of what caused them (an HTTP request, a WebSocket
//! message), and the spans of that write run in several tasks, some of them in another server
//! process that shares the log: the request's own task (`http.request`, `command`, `append`),
//! the projector (`projection.apply`) and every connection's task (`ws.push`). Nothing but the
//! event crosses from the first to the others, so the trace context is made from the event:
//!
//! - the trace id is the correlation id's 16 bytes (a UUID and a trace id are both 128 bits);
//! - the span that begins the correlation ([`begin_correlation`]: the request, the WebSocket
//!   message, or a command nothing else began) is the trace's root, and its span id is derived
//!   from the correlation id too ([`root_span_id_of`]);
//! - a span in another task ([`follow_correlation`]) takes as its parent the context
//!   (trace id, root span id) rebuilt from the event's correlation id.
//!
//! So `projection.apply` and every `ws.push` are children of the `http.request` (or
//! `ws.message`) span that caused them, in one trace, with no context stored in the log.
//! A correlation id is reused only when a client sends the same UUID as `X-Request-Id` twice;
//! its two requests then share one trace and one root span id.
//!
//! The SDK assigns ids through [`IdGenerator`]; a root span gets its derived ids from
//! [`CorrelationIds`], which hands them out to the one span being started on this thread in
//! [`begin_correlation`] and random ids to every other span.
//!
//! Spans carry ids and fixed names only (never a title, a token or a header's value), and only
//! spans are exported: log events stay in the log.

use std::cell::Cell;
use std::time::Duration;

use livesurgery_domain::envelope::RecordedEvent;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

/// The name of the tracer, and of the service when `OTEL_SERVICE_NAME` names none.
const SERVICE: &str = "livesurgery";
/// How long the last spans may take to leave at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How spans are exported, read from the standard `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    pub protocol: ExportProtocol,
    /// The endpoint that turned tracing on, for messages (any password in it replaced). The
    /// exporter reads the variables itself, with the standard precedence: the traces-specific
    /// one first.
    pub endpoint: String,
}

/// The OTLP transports the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportProtocol {
    /// `http/protobuf` (the default): `POST <endpoint>/v1/traces`.
    HttpProtobuf,
    /// `grpc`, plaintext (`http://` endpoints only).
    Grpc,
}

impl TraceConfig {
    /// The trace export the environment asks for: `None` when no OTLP endpoint is set (traces
    /// off, the default), or when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<TraceConfig>, String> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match set("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(format!(
                    "OTEL_TRACES_EXPORTER={other} is not supported: use otlp or none"
                ));
            }
        }
        let Some(endpoint) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        else {
            return Ok(None);
        };
        let endpoint = crate::store::redact_url(&endpoint);
        let (name, value) = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(value) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", value),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                set("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|| "http/protobuf".into()),
            ),
        };
        let protocol = match value.as_str() {
            "http/protobuf" => ExportProtocol::HttpProtobuf,
            "grpc" => ExportProtocol::Grpc,
            other => {
                return Err(format!(
                    "{name}={other} is not supported: use http/protobuf or grpc"
                ));
            }
        };
        if protocol == ExportProtocol::Grpc && endpoint.starts_with("https://") {
            return Err(format!(
                "OTLP over gRPC is plaintext here ({endpoint}): use an http:// endpoint, or \
                 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf for an https:// collector"
            ));
        }
        Ok(Some(TraceConfig { protocol, endpoint }))
    }
}

/// The running trace export; [`Traces::shutdown`] sends what is still queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts the exporter (a batch processor on the tokio runtime, so this must run inside
    /// one) and returns it with the tracing layer that feeds it.
    pub fn start<S>(
        config: &TraceConfig,
    ) -> Result<(Traces, impl Layer<S> + Send + Sync + 'static), String>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let exporter = match config.protocol {
            ExportProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build(),
            ExportProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_protocol(Protocol::Grpc)
                .build(),
        }
        .map_err(|e| format!("the OTLP trace exporter ({}): {e}", config.endpoint))?;
        // The SDK's resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(SERVICE);
        }
        let resource = resource
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
            .with_id_generator(CorrelationIds::default())
            // Every trace is kept: a trace's spans are made in several tasks and processes
            // that each see only the correlation id, and a sampler deciding in each would cut
            // traces apart. (OTEL_TRACES_SAMPLER is therefore not honoured.)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_resource(resource)
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE))
            .with_threads(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                // The server's own spans at info and above: no log events (their messages
                // belong to the log), no spans of the libraries (SQL statements).
                meta.is_span()
                    && meta.target().starts_with("livesurgery")
                    && *meta.level() <= tracing::Level::INFO
            }));
        Ok((Traces { provider }, layer))
    }

    /// Exports the spans still queued and stops the exporter, waiting at most a few seconds.
    pub async fn shutdown(self) {
        // The SDK's shutdown blocks its thread until the batch task (on this runtime) has
        // exported: run it where blocking is allowed.
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(FLUSH_TIMEOUT, done).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => eprintln!("warning: exporting the last traces failed: {error}"),
            Ok(Err(error)) => eprintln!("warning: exporting the last traces failed: {error}"),
            Err(_) => eprintln!(
                "warning: the last traces were not exported within {} s",
                FLUSH_TIMEOUT.as_secs()
            ),
        }
    }
}

/// The trace id of a correlation id: its 16 bytes (`None` for the nil UUID, which is no valid
/// trace id).
pub fn trace_id_of(correlation_id: Uuid) -> Option<TraceId> {
    (!correlation_id.is_nil()).then(|| TraceId::from_bytes(*correlation_id.as_bytes()))
}

/// The span id of the span that begins a correlation: the two halves of the correlation id
/// XORed (never zero, which is no valid span id). Any process derives the same.
pub fn root_span_id_of(correlation_id: Uuid) -> SpanId {
    let bits = correlation_id.as_u128();
    let folded = ((bits >> 64) as u64) ^ (bits as u64);
    SpanId::from_bytes(folded.max(1).to_be_bytes())
}

/// The context of a correlation's root span, as a parent for spans in other tasks.
fn correlation_context(correlation_id: Uuid) -> Option<opentelemetry::Context> {
    let trace_id = trace_id_of(correlation_id)?;
    let root = SpanContext::new(
        trace_id,
        root_span_id_of(correlation_id),
        TraceFlags::SAMPLED,
        // Remote: the root may well be in another process that shares the log.
        true,
        TraceState::default(),
    );
    Some(opentelemetry::Context::new().with_remote_span_context(root))
}

thread_local! {
    /// The ids [`begin_correlation`] wants for the span it is starting on this thread.
    static ROOT_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Random ids, except for a span started by [`begin_correlation`] on this thread.
#[derive(Debug, Default)]
struct CorrelationIds(RandomIdGenerator);

impl IdGenerator for CorrelationIds {
    fn new_trace_id(&self) -> TraceId {
        match ROOT_IDS.get() {
            Some((trace_id, _)) => trace_id,
            None => self.0.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match ROOT_IDS.get() {
            Some((_, span_id)) => span_id,
            None => self.0.new_span_id(),
        }
    }
}

/// Makes `span`, just created, the root of the trace of `correlation_id` (trace id and span id
/// derived from it); a parent it had in another trace becomes a link. Nothing happens when
/// traces are off.
pub fn begin_correlation(span: &Span, correlation_id: Uuid) {
    let Some(trace_id) = trace_id_of(correlation_id) else {
        return;
    };
    let before = opentelemetry::Context::current();
    // Fails only when the span is not traced (traces off, or filtered out): nothing to do.
    if span.set_parent(opentelemetry::Context::new()).is_err() {
        return;
    }
    let previous = before.span().span_context().clone();
    if previous.is_valid() && previous.trace_id() != trace_id {
        span.add_link(previous);
    }
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            ROOT_IDS.set(None);
        }
    }
    let _clear = Clear;
    ROOT_IDS.set(Some((trace_id, root_span_id_of(correlation_id))));
    // Starts the OTel span now, on this thread: the SDK asks CorrelationIds for its ids.
    let _ = span.context();
}

/// Puts `span`, just created, in the trace of `correlation_id`: as is when the current span
/// is in that trace already (a command inside its request), else as the trace's root.
pub fn join_correlation(span: &Span, correlation_id: Uuid) {
    let current = opentelemetry::Context::current();
    let current = current.span().span_context().trace_id();
    if Some(current) != trace_id_of(correlation_id) {
        begin_correlation(span, correlation_id);
    }
}

/// Makes `span`, just created in a task other than the one that began `correlation_id`, a
/// child of that correlation's root span.
pub fn follow_correlation(span: &Span, correlation_id: Uuid) {
    if let Some(parent) = correlation_context(correlation_id) {
        let _ = span.set_parent(parent);
    }
}

/// Events recorded longer ago than this are a catch-up of history, not a write being served:
/// their projection makes no span (a restart would otherwise add spans to old traces).
const LIVE_EVENT_AGE: Duration = Duration::from_secs(60);
/// At most this many `projection.apply` spans a batch (one per correlation).
const MAX_PROJECTION_SPANS: usize = 64;

/// The `projection.apply` spans of a batch the projector is about to apply in one
/// transaction: one for each correlation whose recent events the batch holds, each a child of
/// that correlation's root and timing the whole batch (a batch is one transaction, so its
/// duration is each of its writes' projection time). A batch of several writes thus appears
/// in each of their traces; the first span is the one to run the apply in, for its log lines.
pub fn projection_spans(batch: &[RecordedEvent]) -> Vec<Span> {
    let now = chrono::Utc::now();
    let mut correlations: Vec<(Uuid, usize)> = Vec::new();
    for event in batch {
        let age = (now - event.recorded_at).to_std().unwrap_or_default();
        if age > LIVE_EVENT_AGE {
            continue;
        }
        let room = correlations.len() < MAX_PROJECTION_SPANS;
        match correlations
            .iter_mut()
            .find(|(id, _)| *id == event.correlation_id)
        {
            Some((_, events)) => *events += 1,
            None if room => correlations.push((event.correlation_id, 1)),
            None => {}
        }
    }
    let last_position = batch.last().map_or(0, |e| e.position);
    correlations
        .into_iter()
        .map(|(correlation_id, events)| {
            let span = tracing::info_span!(
                parent: None,
                "projection.apply",
                correlation_id = %correlation_id,
                events,
                batch_events = batch.len(),
                last_position,
            );
            follow_correlation(&span, correlation_id);
            span
        })
        .collect()
}

/// The `ws.push` span of one event sent to one WebSocket connection: a child of the root of
/// the event's correlation.
pub fn push_span(
    correlation_id: Uuid,
    event_type: &str,
    position: u64,
    session_id: Uuid,
    participant_id: Uuid,
) -> Span {
    let span = tracing::info_span!(
        "ws.push",
        correlation_id = %correlation_id,
        event_type,
        position,
        session_id = %session_id,
        participant_id = %participant_id,
    );
    follow_correlation(&span, correlation_id);
    span
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<TraceConfig>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TraceConfig::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn traces_are_off_without_an_endpoint_and_when_disabled() {
        assert_eq!(config(&[]), Ok(None));
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]), Ok(None));
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(config(&[on, ("OTEL_SDK_DISABLED", "true")]), Ok(None));
        assert_eq!(config(&[on, ("OTEL_TRACES_EXPORTER", "none")]), Ok(None));
    }

    #[test]
    fn an_endpoint_turns_traces_on_over_http_protobuf_unless_grpc_is_asked_for() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        let config_of = |vars: &[(&str, &str)]| config(vars).expect("valid").expect("on");
        assert_eq!(config_of(&[on]).protocol, ExportProtocol::HttpProtobuf);
        let traces_only = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        );
        assert_eq!(
            config_of(&[traces_only]).endpoint,
            "http://c:4318/v1/traces"
        );
        let grpc = ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        assert_eq!(config_of(&[on, grpc]).protocol, ExportProtocol::Grpc);
        let traces_http = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf");
        assert_eq!(
            config_of(&[on, grpc, traces_http]).protocol,
            ExportProtocol::HttpProtobuf
        );
    }

    #[test]
    fn an_unsupported_protocol_or_exporter_is_an_error_that_names_the_variable() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        let error = config(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(
            error.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"),
            "{error}"
        );
        let error = config(&[on, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(error.contains("OTEL_TRACES_EXPORTER"), "{error}");
        let tls = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317");
        let error = config(&[tls, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(error.contains("plaintext"), "{error}");
    }

    #[test]
    fn a_correlation_id_is_the_trace_id_and_gives_one_root_span_id() {
        let id = Uuid::now_v7();
        assert_eq!(trace_id_of(id).expect("valid").to_bytes(), *id.as_bytes());
        assert_eq!(root_span_id_of(id), root_span_id_of(id));
        assert_ne!(root_span_id_of(id), root_span_id_of(Uuid::now_v7()));
        assert_eq!(trace_id_of(Uuid::nil()), None);
        // Equal halves fold to zero, which is no span id.
        let halves = Uuid::from_u128((7u128 << 64) | 7);
        assert_ne!(root_span_id_of(halves), SpanId::INVALID);
    }

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Kept(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

    impl opentelemetry_sdk::trace::SpanExporter for Kept {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            self.0.lock().expect("not poisoned").extend(batch);
            Ok(())
        }
    }

    /// The spans of one correlation made in two tasks, as the server makes them, end up in one
    /// trace: the begun span is the root, with the derived ids; the follower is its child.
    #[tokio::test]
    async fn spans_begun_and_followed_in_other_tasks_share_the_correlations_trace() {
        use tracing::Instrument;
        use tracing_subscriber::layer::SubscriberExt;

        let exporter = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(CorrelationIds::default())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        let correlation = Uuid::now_v7();
        let unrelated = tracing::info_span!("unrelated");
        async {
            let root = tracing::info_span!("http.request");
            begin_correlation(&root, correlation);
            async {
                let command = tracing::info_span!("command");
                join_correlation(&command, correlation);
                drop(command);
            }
            .instrument(root)
            .await;
        }
        .instrument(unrelated)
        .await;
        let push = tracing::info_span!("ws.push");
        follow_correlation(&push, correlation);
        drop(push);
        provider.force_flush().expect("flushed");
        let spans = exporter.0.lock().expect("not poisoned").clone();
        let by_name = |name: &str| {
            spans
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no {name} span in {spans:?}"))
        };
        let trace_id = trace_id_of(correlation).expect("valid");
        let root = by_name("http.request");
        assert_eq!(root.span_context.trace_id(), trace_id);
        assert_eq!(root.span_context.span_id(), root_span_id_of(correlation));
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        assert_eq!(root.links.len(), 1, "the outer span becomes a link");
        let command = by_name("command");
        assert_eq!(command.span_context.trace_id(), trace_id);
        assert_eq!(command.parent_span_id, root_span_id_of(correlation));
        let push = by_name("ws.push");
        assert_eq!(push.span_context.trace_id(), trace_id);
        assert_eq!(push.parent_span_id, root_span_id_of(correlation));
        assert_ne!(push.span_context.span_id(), root_span_id_of(correlation));
        assert_ne!(by_name("unrelated").span_context.trace_id(), trace_id);
    }
}
