//! Prometheus metrics of one server process, served at `GET /metrics` in the text format.
//!
//! Labels hold only message types and other fixed names: never ids, tokens or user data.

use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric of the process, registered in its own registry (several servers can run in one
/// test process).
pub struct Metrics {
    registry: Registry,
    /// WebSocket connections open now.
    pub ws_connected: IntGauge,
    /// Messages received from WebSocket clients, by `type` (`invalid` when unreadable).
    pub ws_messages_in: IntCounterVec,
    /// Messages sent to WebSocket clients, by `type`.
    pub ws_messages_out: IntCounterVec,
    /// From an event's `recorded_at` to its push being handed to a client's socket.
    pub ws_push_latency: Histogram,
    /// Connections closed because their outgoing queue overflowed.
    pub ws_slow_consumers: IntCounter,
    /// Connections closed because their client stopped sending heartbeats.
    pub ws_presence_timeouts: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let ws_connected = IntGauge::new(
            "livesurgery_ws_connected_clients",
            "WebSocket connections open now",
        )
        .expect("a valid metric");
        let ws_messages_in = IntCounterVec::new(
            Opts::new(
                "livesurgery_ws_messages_in_total",
                "Messages received from WebSocket clients, by type",
            ),
            &["type"],
        )
        .expect("a valid metric");
        let ws_messages_out = IntCounterVec::new(
            Opts::new(
                "livesurgery_ws_messages_out_total",
                "Messages sent to WebSocket clients, by type",
            ),
            &["type"],
        )
        .expect("a valid metric");
        let ws_push_latency = Histogram::with_opts(
            HistogramOpts::new(
                "livesurgery_ws_push_latency_seconds",
                "From an event's append (recorded_at) to its push being handed to the client's socket",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
        )
        .expect("a valid metric");
        let ws_slow_consumers = IntCounter::new(
            "livesurgery_ws_slow_consumers_dropped_total",
            "WebSocket connections closed because the client could not keep up (close code 4008)",
        )
        .expect("a valid metric");
        let ws_presence_timeouts = IntCounter::new(
            "livesurgery_ws_presence_timeouts_total",
            "WebSocket connections closed for missing heartbeats (participant left: timed_out)",
        )
        .expect("a valid metric");
        for collector in [
            Box::new(ws_connected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(ws_messages_in.clone()),
            Box::new(ws_messages_out.clone()),
            Box::new(ws_push_latency.clone()),
            Box::new(ws_slow_consumers.clone()),
            Box::new(ws_presence_timeouts.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            ws_connected,
            ws_messages_in,
            ws_messages_out,
            ws_push_latency,
            ws_slow_consumers,
            ws_presence_timeouts,
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The metrics, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)),
    security(()))]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .body(metrics.render())
}
