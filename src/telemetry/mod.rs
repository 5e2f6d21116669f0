//! Prometheus metrics of one server process, served at `GET /metrics` in the text format, and
//! the service level indicators computed from them in process ([`slo`], the Health page).
//!
//! Labels hold only message types, route patterns and other fixed names: never ids, tokens or
//! user data.

pub mod http;
pub mod slo;

use std::sync::Mutex;

pub mod logs;
pub mod trace;

use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Something that sets gauges from the process's state just before they are read (a scrape,
/// the Health page): the projections' lag, the upload backlog.
type Sampler = Box<dyn Fn() + Send + Sync>;

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
    /// The SFU's media plane.
    pub sfu: SfuMetrics,
    /// The recorder.
    pub recording: RecordingMetrics,
    /// REST answers and their latency, joins.
    pub http: HttpMetrics,
    /// The event log and the projections.
    pub log: LogMetrics,
    samplers: Mutex<Vec<Sampler>>,
}

/// The HTTP API's metrics (`livesurgery_http_*`, `livesurgery_joins_total`).
pub struct HttpMetrics {
    /// Answers by `method`, `route` (the matched pattern) and `status_class` (`2xx`…).
    pub requests: IntCounterVec,
    /// From a request's arrival to its answer's head, by `method` and `route`.
    pub duration: HistogramVec,
    /// `participants:join` answers by `outcome`: `ok`, `refused` (4xx), `failed` (5xx).
    pub joins: IntCounterVec,
}

impl HttpMetrics {
    fn new() -> HttpMetrics {
        HttpMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "livesurgery_http_requests_total",
                    "HTTP answers, by method, matched route pattern and status class",
                ),
                &["method", "route", "status_class"],
            )
            .expect("a valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "livesurgery_http_request_duration_seconds",
                    "From an HTTP request's arrival to its answer's head, by method and route pattern",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["method", "route"],
            )
            .expect("a valid metric"),
            joins: IntCounterVec::new(
                Opts::new(
                    "livesurgery_joins_total",
                    "participants:join answers by outcome: ok, refused (4xx), failed (5xx)",
                ),
                &["outcome"],
            )
            .expect("a valid metric"),
        }
    }

    /// Every join outcome exists from the start at 0: a series that first appears at 1 hides
    /// its first increase from Prometheus's `increase`.
    fn zeroed(self) -> HttpMetrics {
        for outcome in ["ok", "refused", "failed"] {
            self.joins.with_label_values(&[outcome]);
        }
        self
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.requests.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.joins.clone()),
        ]
    }
}

/// The event log's and the projections' metrics.
pub struct LogMetrics {
    /// From an append call to its durable commit.
    pub append_duration: Histogram,
    /// Events between the log's head and the projections' position (sampled when read).
    pub projection_lag_events: IntGauge,
    /// From an event's append (`recorded_at`) to the projections having committed it.
    pub projection_apply_latency: Histogram,
}

impl LogMetrics {
    fn new() -> LogMetrics {
        LogMetrics {
            append_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "livesurgery_event_append_duration_seconds",
                    "From an append to the event log to its durable commit",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            )
            .expect("a valid metric"),
            projection_lag_events: IntGauge::new(
                "livesurgery_projection_lag_events",
                "Events between the log's head and the position every projection has reached",
            )
            .expect("a valid metric"),
            projection_apply_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "livesurgery_projection_apply_latency_seconds",
                    "From an event's append to the projections having committed it (events appended while this process runs)",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )
            .expect("a valid metric"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.append_duration.clone()),
            Box::new(self.projection_lag_events.clone()),
            Box::new(self.projection_apply_latency.clone()),
        ]
    }
}

/// The recorder's metrics (`livesurgery_recording_*`).
pub struct RecordingMetrics {
    /// Frames the SFU did not hand to the recorder because its queue was full (forwarding
    /// never waits for the recorder).
    pub dropped_frames: IntCounter,
    /// Recorded segments waiting in the upload spool (sampled when read).
    pub upload_backlog: IntGauge,
    /// Failed upload attempts (each is retried).
    pub upload_failures: IntCounter,
}

impl RecordingMetrics {
    fn new() -> RecordingMetrics {
        RecordingMetrics {
            dropped_frames: IntCounter::new(
                "livesurgery_recording_dropped_frames_total",
                "Frames of recorded sources dropped because the recorder's queue was full",
            )
            .expect("a valid metric"),
            upload_backlog: IntGauge::new(
                "livesurgery_recording_upload_backlog_segments",
                "Recorded segments waiting in the upload spool",
            )
            .expect("a valid metric"),
            upload_failures: IntCounter::new(
                "livesurgery_recording_upload_failures_total",
                "Failed attempts to upload a recorded segment (each is retried)",
            )
            .expect("a valid metric"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.dropped_frames.clone()),
            Box::new(self.upload_backlog.clone()),
            Box::new(self.upload_failures.clone()),
        ]
    }
}

/// The SFU's metrics (`livesurgery_sfu_*`).
pub struct SfuMetrics {
    /// Peer connections now, by `role` (`publisher`, `subscriber`).
    pub peers: IntGaugeVec,
    /// Published tracks receiving media now.
    pub tracks: IntGauge,
    /// RTP packets and bytes sent to subscribers (str0m's egress statistics).
    pub packets_forwarded: IntCounter,
    pub bytes_forwarded: IntCounter,
    /// RTP packets received from publishers, and those the publishers' streams lost on the way.
    pub packets_received: IntCounter,
    pub packets_lost: IntCounter,
    /// NACKs and PLIs received from subscribers.
    pub nacks: IntCounter,
    pub plis: IntCounter,
    /// Keyframe requests sent to publishers (after rate limiting).
    pub keyframe_requests: IntCounter,
    /// Frames or packets not forwarded: no matching codec at the subscriber, a full socket
    /// buffer, a write refused.
    pub forward_drops: IntCounter,
    /// Frames handed to subscribers' connections.
    pub frames_forwarded: IntCounter,
    /// From a frame's arrival from the network to its hand-off to a subscriber's connection.
    pub forward_delay: Histogram,
    /// Media events lost because the appender's queue was full (the media loop never waits).
    pub event_drops: IntCounter,
    /// From `participants:join` to the first keyframe forwarded to that subscriber.
    pub join_to_first_frame: Histogram,
}

impl SfuMetrics {
    fn new() -> SfuMetrics {
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("a valid metric");
        SfuMetrics {
            peers: IntGaugeVec::new(
                Opts::new("livesurgery_sfu_peers", "SFU peer connections now, by role"),
                &["role"],
            )
            .expect("a valid metric"),
            tracks: IntGauge::new(
                "livesurgery_sfu_tracks",
                "Published tracks receiving media now",
            )
            .expect("a valid metric"),
            packets_forwarded: counter(
                "livesurgery_sfu_packets_forwarded_total",
                "RTP packets sent to subscribers",
            ),
            bytes_forwarded: counter(
                "livesurgery_sfu_bytes_forwarded_total",
                "RTP payload and header bytes sent to subscribers",
            ),
            packets_received: counter(
                "livesurgery_sfu_packets_received_total",
                "RTP packets received from publishers",
            ),
            packets_lost: counter(
                "livesurgery_sfu_packets_lost_total",
                "RTP packets from publishers lost on the way (from the receive statistics)",
            ),
            nacks: counter(
                "livesurgery_sfu_nacks_total",
                "NACKs received from subscribers",
            ),
            plis: counter(
                "livesurgery_sfu_plis_total",
                "Keyframe requests (PLI and FIR) received from subscribers",
            ),
            keyframe_requests: counter(
                "livesurgery_sfu_keyframe_requests_total",
                "Keyframe requests sent to publishers, after rate limiting",
            ),
            forward_drops: counter(
                "livesurgery_sfu_forward_drops_total",
                "Frames or packets not forwarded (no matching codec, full socket buffer, write refused)",
            ),
            frames_forwarded: counter(
                "livesurgery_sfu_frames_forwarded_total",
                "Frames handed to subscribers' connections",
            ),
            forward_delay: Histogram::with_opts(
                HistogramOpts::new(
                    "livesurgery_sfu_forward_delay_seconds",
                    "Latency the SFU adds: from a frame's arrival to its hand-off to a subscriber's connection",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25,
                ]),
            )
            .expect("a valid metric"),
            event_drops: counter(
                "livesurgery_sfu_event_drops_total",
                "Media events lost because the appender queue was full",
            ),
            join_to_first_frame: Histogram::with_opts(
                HistogramOpts::new(
                    "livesurgery_sfu_join_to_first_frame_seconds",
                    "From participants:join to the first keyframe forwarded to that subscriber",
                )
                .buckets(vec![
                    0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
                ]),
            )
            .expect("a valid metric"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.peers.clone()),
            Box::new(self.tracks.clone()),
            Box::new(self.packets_forwarded.clone()),
            Box::new(self.bytes_forwarded.clone()),
            Box::new(self.packets_received.clone()),
            Box::new(self.packets_lost.clone()),
            Box::new(self.nacks.clone()),
            Box::new(self.plis.clone()),
            Box::new(self.keyframe_requests.clone()),
            Box::new(self.forward_drops.clone()),
            Box::new(self.frames_forwarded.clone()),
            Box::new(self.forward_delay.clone()),
            Box::new(self.event_drops.clone()),
            Box::new(self.join_to_first_frame.clone()),
        ]
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let sfu = SfuMetrics::new();
        let recording = RecordingMetrics::new();
        let http = HttpMetrics::new().zeroed();
        let log = LogMetrics::new();
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
        ]
        .into_iter()
        .chain(sfu.collectors())
        .chain(recording.collectors())
        .chain(http.collectors())
        .chain(log.collectors())
        {
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
            sfu,
            recording,
            http,
            log,
            samplers: Mutex::new(Vec::new()),
        }
    }

    /// Runs `sample` before every reading of the metrics, to set gauges from state that is
    /// not pushed (a lag, a queue's length).
    pub fn sample_with(&self, sample: impl Fn() + Send + Sync + 'static) {
        crate::app::lock(&self.samplers).push(Box::new(sample));
    }

    /// Every metric family, the sampled gauges brought up to date first.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        for sample in crate::app::lock(&self.samplers).iter() {
            sample();
        }
        self.registry.gather()
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.gather(), &mut out);
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
