//! One reading of the log per process, fanned out. The projector's subscription is the only
//! one: after each batch is in the read models (and the caches' change counters moved), the
//! same batch goes to every listener: the realtime gateway (WebSocket pushes) and the SFU's
//! removal watcher. So a push is never ahead of what a REST read shows, and the log is read
//! and decoded once, not once per consumer.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use livesurgery_domain::Event;
use livesurgery_domain::envelope::RecordedEvent;

/// One event of the log as read once for every listener; its typed form is decoded on first
/// use and shared.
#[derive(Debug)]
pub struct Dispatched {
    pub recorded: RecordedEvent,
    decoded: OnceLock<Option<Event>>,
}

impl Dispatched {
    /// Wraps a recorded event; nothing is decoded yet.
    pub fn new(recorded: RecordedEvent) -> Dispatched {
        Dispatched {
            recorded,
            decoded: OnceLock::new(),
        }
    }

    /// The typed event, decoded once; `None` for an event this build cannot read (logged).
    pub fn event(&self) -> Option<&Event> {
        self.decoded
            .get_or_init(|| {
                let r = &self.recorded;
                Event::from_stored(&r.event_type, r.schema_version, &r.data)
                    .map_err(|error| {
                        if first_unreadable(&r.event_type, r.schema_version) {
                            tracing::warn!(%error, position = r.position,
                                "an event of the log cannot be read (further events of this type are logged at debug)");
                        } else {
                            tracing::debug!(%error, position = r.position, "an event of the log cannot be read");
                        }
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// Whether this is the first event of its type and schema version this process could not
/// read: one warning per type, not one per event (a stream of them would flood the log).
fn first_unreadable(event_type: &str, schema_version: u32) -> bool {
    static SEEN: Mutex<BTreeSet<(String, u32)>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.len() < MAX_UNREADABLE_TYPES && seen.insert((event_type.to_owned(), schema_version))
}

/// Types remembered by [`first_unreadable`]; past this every unreadable event is logged at debug.
const MAX_UNREADABLE_TYPES: usize = 256;

/// Something that follows the log: it is handed each batch, in log order, once the read
/// models hold it. It must not wait (queue work elsewhere): the next batch waits for it.
pub trait LogListener: Send + Sync {
    /// Takes one batch of events, in log order.
    fn on_events(&self, batch: &[Dispatched]);
}

/// The fan-out of the process's one log subscription.
#[derive(Default)]
pub struct Dispatcher {
    listeners: RwLock<Vec<Weak<dyn LogListener>>>,
}

impl Dispatcher {
    /// A dispatcher with no listeners yet.
    pub fn new() -> Arc<Dispatcher> {
        Arc::new(Dispatcher::default())
    }

    /// Adds a listener, held weakly: it stops receiving when it is dropped.
    pub fn listen(&self, listener: Weak<dyn LogListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Hands a batch to every live listener, in the order they were added.
    pub fn dispatch(&self, batch: &[Dispatched]) {
        if batch.is_empty() {
            return;
        }
        let listeners: Vec<Arc<dyn LogListener>> = {
            let mut listeners = self.listeners.write().unwrap_or_else(|p| p.into_inner());
            listeners.retain(|l| l.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        for listener in listeners {
            listener.on_events(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Seen(Mutex<Vec<u64>>);

    impl LogListener for Seen {
        fn on_events(&self, batch: &[Dispatched]) {
            let mut seen = self.0.lock().expect("not poisoned in a test");
            seen.extend(batch.iter().map(|d| d.recorded.position));
        }
    }

    fn recorded(position: u64) -> Dispatched {
        let session_id = uuid::Uuid::nil();
        Dispatched::new(RecordedEvent {
            id: uuid::Uuid::now_v7(),
            stream: livesurgery_domain::events::session_stream(session_id),
            version: position,
            position,
            event_type: "SessionStarted".into(),
            schema_version: 1,
            data: serde_json::json!({ "session_id": session_id }),
            actor: Default::default(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            recorded_at: chrono::Utc::now(),
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    #[test]
    fn every_listener_gets_each_batch_in_order_until_dropped() {
        let dispatcher = Dispatcher::new();
        let first = Arc::new(Seen(Mutex::new(Vec::new())));
        let second = Arc::new(Seen(Mutex::new(Vec::new())));
        let first_dyn: Arc<dyn LogListener> = first.clone();
        let second_dyn: Arc<dyn LogListener> = second.clone();
        dispatcher.listen(Arc::downgrade(&first_dyn));
        dispatcher.listen(Arc::downgrade(&second_dyn));
        dispatcher.dispatch(&[recorded(1), recorded(2)]);
        drop(second_dyn);
        drop(second);
        dispatcher.dispatch(&[recorded(3)]);
        assert_eq!(*first.0.lock().expect("not poisoned"), vec![1, 2, 3]);
        assert_eq!(dispatcher.listeners.read().expect("not poisoned").len(), 1);
    }

    #[test]
    fn an_event_is_decoded_once_into_its_type() {
        let d = recorded(1);
        assert!(matches!(d.event(), Some(Event::SessionStarted(_))));
        assert!(std::ptr::eq(
            d.event().expect("decoded"),
            d.event().expect("decoded")
        ));
    }
}
