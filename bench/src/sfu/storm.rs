//! The join storm: N subscribers whose WHEP requests go out at once, in a session of their own
//! with a publisher of its own already sending (its first keyframe long gone). Per subscriber:
//! WHEP request to its answer (the HTTP path: token, authorization, the SFU's answer), to its
//! connection (ICE and DTLS with the SFU) and to its first complete frame (which waits for a
//! keyframe the SFU asks the publisher for). The joins (`participants:join`) come before and
//! are not timed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

use super::meter::Meter;
use super::peers::{Peer, Subscriber, subscriber_offer};
use super::stage::{Stage, post_offer};
use super::{READY_WITHIN, SETUP_CONCURRENCY, Shape, WARM_UP, publish, wait_for};
use crate::report::{lock, quantile};

/// The goals for a storm: first frames at p50 under this...
pub(super) const GOAL_P50_MS: f64 = 200.0;
/// ...and all under this.
pub(super) const GOAL_MAX_MS: f64 = 1000.0;

/// What a storm measured, each sorted (ms).
pub(super) struct Storm {
    pub subscribers: usize,
    pub answered_ms: Vec<f64>,
    pub connected_ms: Vec<f64>,
    pub first_frame_ms: Vec<f64>,
    pub keyframe_requests: u64,
}

impl Storm {
    fn p50(values: &[f64]) -> f64 {
        quantile(values, 0.5).unwrap_or(f64::NAN)
    }

    fn max(values: &[f64]) -> f64 {
        values.last().copied().unwrap_or(f64::NAN)
    }

    /// All subscribers had a first frame, p50 and max within the goals.
    pub(super) fn met(&self) -> bool {
        self.first_frame_ms.len() == self.subscribers
            && Storm::p50(&self.first_frame_ms) < GOAL_P50_MS
            && Storm::max(&self.first_frame_ms) < GOAL_MAX_MS
    }

    /// The goal line: `join storm 200: p50 150 ms (goal < 200 ms), max 800 ms (goal < 1 s)`.
    pub(super) fn goal_line(&self) -> String {
        let missing = self.subscribers - self.first_frame_ms.len();
        format!(
            "join storm {}: WHEP to first frame p50 {:.0} ms (goal < {GOAL_P50_MS:.0} ms), max \
             {:.0} ms (goal < {:.0} s){}: {}",
            self.subscribers,
            Storm::p50(&self.first_frame_ms),
            Storm::max(&self.first_frame_ms),
            GOAL_MAX_MS / 1000.0,
            if missing > 0 {
                format!(
                    ", {missing} had no frame within {} s",
                    READY_WITHIN.as_secs()
                )
            } else {
                String::new()
            },
            if self.met() { "met" } else { "MISSED" }
        )
    }

    /// Where the time went: the three stages' p50 and max.
    pub(super) fn breakdown(&self) -> String {
        let stage = |name: &str, values: &[f64]| {
            format!(
                "{name} p50 {:.0} ms, max {:.0} ms",
                Storm::p50(values),
                Storm::max(values)
            )
        };
        format!(
            "from the WHEP request: {}; {}; {} ({} keyframe requests reached the publisher)",
            stage("answer", &self.answered_ms),
            stage("connected (ICE + DTLS)", &self.connected_ms),
            stage("first frame", &self.first_frame_ms),
            self.keyframe_requests
        )
    }
}

/// Runs a storm of `n` subscribers in a session of its own; stops its peers before returning.
pub(super) async fn join_storm(
    http: &reqwest::Client,
    stage: &Stage,
    shape: Shape,
    n: usize,
) -> anyhow::Result<Storm> {
    let stage = stage.another(http).await?;
    let (stop_tx, stop) = watch::channel(false);
    let (source, publishing) = publish(http, &stage, shape, stop.clone()).await?;
    source.sending.store(true, Ordering::Relaxed);
    tokio::time::sleep(WARM_UP).await;

    let accesses: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let stage = &stage;
            async move {
                let device = format!("bench-storm-{i}");
                stage.join(http, &stage.observer_token, &device).await
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
        .context("joining the storm's subscribers")?;
    let mut prepared = Vec::with_capacity(n);
    for access in accesses {
        let mut peer = Peer::bind().await?;
        let (offer, pending) = subscriber_offer(&mut peer.rtc)?;
        prepared.push((access, peer, offer, pending));
    }
    let requests_before = source.keyframe_requests.load(Ordering::Relaxed);
    let meter = Arc::new(Meter::default());
    let answered = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let storm = prepared
        .into_iter()
        .map(|(access, mut peer, offer, pending)| {
            let (meter, answered, stop) = (meter.clone(), answered.clone(), stop.clone());
            async move {
                let started = Instant::now();
                let answer = post_offer(http, &access.whep_url, &access.token, &offer).await?;
                lock(&answered).push(started.elapsed().as_secs_f64() * 1000.0);
                peer.accept(pending, answer)?;
                anyhow::Ok(tokio::spawn(
                    peer.drive(Subscriber::new(meter, started), stop),
                ))
            }
        });
    let tasks = futures::future::try_join_all(storm)
        .await
        .context("the storm's WHEP requests")?;
    let _ = wait_for(READY_WITHIN, || {
        meter.ready.load(Ordering::Relaxed) >= n as u64
    })
    .await;
    let sorted = |values: &Mutex<Vec<f64>>| {
        let mut values = lock(values).clone();
        values.sort_by(f64::total_cmp);
        values
    };
    let figures = Storm {
        subscribers: n,
        answered_ms: sorted(&answered),
        connected_ms: sorted(&meter.connected_ms),
        first_frame_ms: sorted(&meter.first_frames_ms),
        keyframe_requests: source
            .keyframe_requests
            .load(Ordering::Relaxed)
            .saturating_sub(requests_before),
    };
    let _ = stop_tx.send(true);
    for task in tasks.into_iter().chain([publishing]) {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    Ok(figures)
}
