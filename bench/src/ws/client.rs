//! One connection's task: reads every message, times the layout updates it receives, and, for
//! a session's writer, sends `layout.update` at a fixed rate.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::fleet::{ClientState, Counters, SessionLoad};
use super::stage::{Incoming, Ws};
use crate::report::lock;

/// What one connection's task keeps between messages.
#[derive(Default)]
struct Seen {
    /// The writer's base version: the last it saw (welcome, acks, events).
    known: u64,
    /// The stream version and log position of the last event.
    stream_version: u64,
    position: u64,
    /// The writer's updates not answered yet: number (`ref` "u<n>") and when sent.
    pending: std::collections::VecDeque<(u64, Instant)>,
}

impl Seen {
    /// Takes the update that `reference` answers (and any older left unanswered): when it
    /// was sent.
    fn answered(&mut self, reference: Option<&str>) -> Option<Instant> {
        let n: u64 = reference?.strip_prefix('u')?.parse().ok()?;
        while let Some(&(first, sent)) = self.pending.front() {
            if first > n {
                break;
            }
            self.pending.pop_front();
            if first == n {
                return Some(sent);
            }
        }
        None
    }
}

/// One connection's task.
pub(super) struct Client {
    pub state: Arc<ClientState>,
    pub session: Arc<SessionLoad>,
    pub counters: Arc<Counters>,
    /// For the session's writer: its period and the phase of its ticks.
    pub writer: Option<(Duration, Duration)>,
}

impl Client {
    /// Reads (and, as the writer, sends) until the server closes or `stop` changes.
    pub(super) async fn run(self, mut ws: Ws, mut stop: watch::Receiver<bool>) {
        let mut tick = self.writer.map(|(period, phase)| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            tick
        });
        let mut seen = Seen {
            known: self.state.layout_version.load(Ordering::Relaxed),
            ..Seen::default()
        };
        let mut sent = 0u64;
        loop {
            let next_tick = async {
                match &mut tick {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = ws.next() => {
                    let now = Utc::now();
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            self.receive(text.as_str(), now, &mut seen);
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let code = frame.map_or(1005, |f| u16::from(f.code));
                            *lock(&self.counters.closes).entry(code).or_default() += 1;
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => {
                            self.counters.lost.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                _ = next_tick => {
                    if !self.counters.writing.load(Ordering::Relaxed) {
                        continue;
                    }
                    sent += 1;
                    // Panel p1 (6 wide) moves between x 0 and 1 and restacks: never a no-op.
                    let update = format!(
                        r#"{{"type":"layout.update","ref":"u{sent}","base_version":{},"changes":{{"panels":{{"p1":{{"x":{},"z":{sent}}}}}}}}}"#,
                        seen.known,
                        sent % 2
                    );
                    seen.pending.push_back((sent, Instant::now()));
                    if ws.send(Message::text(update)).await.is_err() {
                        self.counters.lost.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    if self.counters.measuring.load(Ordering::Relaxed) {
                        self.counters.updates_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    // The server's close frame, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break;
                }
            }
        }
        self.state.alive.store(false, Ordering::Relaxed);
    }

    fn receive(&self, text: &str, now: DateTime<Utc>, seen: &mut Seen) {
        let counters = &self.counters;
        let Ok(message) = serde_json::from_str::<Incoming>(text) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match &*message.kind {
            "event" => {
                if counters.measuring.load(Ordering::Relaxed) {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                let (Some(version), Some(at)) = (message.version, message.position) else {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                // Per stream (one per session here) the versions are contiguous.
                if seen.stream_version > 0 && version != seen.stream_version + 1 {
                    counters.gaps.fetch_add(
                        version.saturating_sub(seen.stream_version + 1).max(1),
                        Ordering::Relaxed,
                    );
                }
                if at <= seen.position {
                    counters.gaps.fetch_add(1, Ordering::Relaxed);
                }
                seen.stream_version = version;
                seen.position = at;
                if message.event_type.as_deref() != Some("LayoutUpdated") {
                    return;
                }
                if let Some(v) = message.data.and_then(|d| d.version) {
                    self.state.layout_version.fetch_max(v, Ordering::Relaxed);
                    seen.known = seen.known.max(v);
                }
                if counters.measuring.load(Ordering::Relaxed) {
                    let recorded = message
                        .time
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                    match recorded {
                        Some(t) => {
                            let us = (now - t.with_timezone(&Utc))
                                .num_microseconds()
                                .unwrap_or(0)
                                .max(0);
                            counters.latency.record(us as u64);
                        }
                        None => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            "ack" => {
                counters.answered.fetch_add(1, Ordering::Relaxed);
                if let Some(sent) = seen.answered(message.reference.as_deref())
                    && counters.measuring.load(Ordering::Relaxed)
                {
                    counters
                        .ack_latency
                        .record(sent.elapsed().as_micros() as u64);
                }
                if let Some(v) = message.layout_version {
                    seen.known = seen.known.max(v);
                    self.session.acked_version.fetch_max(v, Ordering::Relaxed);
                }
            }
            "error" => {
                // Refusals of this client's updates carry their ref.
                counters.answered.fetch_add(1, Ordering::Relaxed);
                seen.answered(message.reference.as_deref());
                let code = message.code.as_deref().unwrap_or("?").to_owned();
                *lock(&counters.errors).entry(code).or_default() += 1;
            }
            _ => {}
        }
    }
}
