//! Media events on their way from the media loops to the log: a bounded queue the loops never
//! wait on, and the task that appends what it holds.

use std::sync::Arc;

use livesurgery_domain::{CommandContext, Event};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::PeerInfo;
use crate::app::App;
use crate::telemetry::Metrics;

/// One media event on its way to the log.
#[derive(Debug)]
pub(super) struct Fact {
    session_id: Uuid,
    context: CommandContext,
    event: Event,
}

/// The media loop's side of the appender queue: never waits.
#[derive(Clone)]
pub(super) struct FactSink {
    pub(super) tx: mpsc::Sender<Fact>,
    pub(super) metrics: Arc<Metrics>,
}

impl FactSink {
    pub(super) fn send(&self, info: &PeerInfo, event: Event) {
        let fact = Fact {
            session_id: info.session_id,
            context: info.context(),
            event,
        };
        if let Err(e) = self.tx.try_send(fact) {
            self.metrics.sfu.event_drops.inc();
            let dropped = self.metrics.sfu.event_drops.get();
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "SFU media event queue full or closed, event lost: {}",
                    match e {
                        mpsc::error::TrySendError::Full(f)
                        | mpsc::error::TrySendError::Closed(f) => f.event.event_type(),
                    }
                );
            }
        }
    }
}

/// Writes media facts to the log, each session's in one append per batch, in order.
pub(super) async fn append_facts(app: Arc<App>, mut rx: mpsc::Receiver<Fact>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut by_session: Vec<(Uuid, Vec<(Event, CommandContext)>)> = Vec::new();
        for fact in batch.drain(..) {
            match by_session.iter_mut().find(|(s, _)| *s == fact.session_id) {
                Some((_, facts)) => facts.push((fact.event, fact.context)),
                None => by_session.push((fact.session_id, vec![(fact.event, fact.context)])),
            }
        }
        for (session_id, facts) in by_session {
            if let Err(error) = app
                .record_session_facts(session_id, &facts, Uuid::now_v7())
                .await
            {
                tracing::error!(%error, %session_id, count = facts.len(), "could not append media events");
            }
        }
    }
}
