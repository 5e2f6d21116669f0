//! Media across nodes: a session's media is placed on one server node, and the placement is an
//! event of the session's stream (`MediaPlaced`), so every node (and an audit replay) knows
//! where it is.
//!
//! - Which nodes run is the `media_nodes` table ([`super::nodes`]): each node writes its row at
//!   start, renews it every `--node-heartbeat-ms` and deletes it when it stops; a node that
//!   missed three heartbeats is gone.
//! - `participants:join` on any node places a session that has no placement, or whose node is
//!   gone, on the node serving the join (an API-only node, `--media-node false`, picks a live
//!   media node by the session's id), and hands out the placed node's WHIP/WHEP URLs.
//! - WHIP and WHEP on another node than the placed one are refused (`409 media_elsewhere`,
//!   with the placed node's URLs): media sent there would reach nobody.
//! - Every node looks, at each heartbeat, for live sessions placed on a gone node and places
//!   them again on itself; the session's version check makes one node win. The winner closes
//!   the media the gone node left open (`interrupted`), and the `media.placed` push tells the
//!   clients to publish and subscribe again at the new node's URLs.
//!
//! The decision itself is the domain's ([`place_media`]); this module feeds it which nodes are
//! alive and keeps what the log says of placements at hand, so a join on a placed session
//! costs no read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livesurgery_domain::aggregate::Session;
use livesurgery_domain::envelope::Actor;
use livesurgery_domain::events::{Event, session_stream};
use livesurgery_domain::session::{MediaPlacement, NodeOffer, place_media};
use livesurgery_domain::{DomainError, replay};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::commands::{Accepted, CommandError};
use super::dispatch::{Dispatched, LogListener};
use super::nodes::{MediaNode, MediaNodes};
use super::{App, AppError, lock};

/// A node is gone once it missed this many heartbeats.
const MISSED_BEATS: u32 = 3;
/// Rows of nodes gone this long are deleted.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Where a session's media is, as a client uses it: the node and its WHIP and WHEP URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MediaLocation {
    /// The node the session's media is placed on.
    pub node_id: String,
    /// Publish here (WHIP).
    pub whip_url: String,
    /// Subscribe here (WHEP).
    pub whep_url: String,
}

/// This process's view of placements: the node it is, the sessions' placements as the log has
/// them (it follows the log), and the nodes alive at the last heartbeat.
pub struct Placements {
    pub node: MediaNode,
    pub nodes: MediaNodes,
    heartbeat: Duration,
    /// Placements by session, with the log position that made them.
    sessions: Mutex<HashMap<Uuid, (MediaPlacement, u64)>>,
    /// Live nodes (id -> base URL) at the last reading of the table.
    live: Mutex<HashMap<String, String>>,
    /// Whether start-up recovery is done: only then are gone nodes' sessions placed again
    /// (both close the media a gone node left open; they must not both do it).
    ready: AtomicBool,
}

impl std::fmt::Debug for Placements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placements")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Placements {
    /// The placements of this node, renewing its row every `heartbeat`.
    pub fn new(node: MediaNode, nodes: MediaNodes, heartbeat: Duration) -> Arc<Placements> {
        Arc::new(Placements {
            node,
            nodes,
            heartbeat: heartbeat.max(Duration::from_millis(50)),
            sessions: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
        })
    }

    /// How long a heartbeat keeps a node alive.
    fn lifetime(&self) -> Duration {
        self.heartbeat * MISSED_BEATS
    }

    /// The session's placement as this process last saw it in the log.
    pub fn placement(&self, session_id: Uuid) -> Option<MediaPlacement> {
        lock(&self.sessions)
            .get(&session_id)
            .map(|(p, _)| p.clone())
    }

    /// Notes a placement made at log `position`, unless a later one is known.
    pub fn remember(&self, session_id: Uuid, placement: MediaPlacement, position: u64) {
        let mut sessions = lock(&self.sessions);
        match sessions.get(&session_id) {
            Some((_, known)) if *known >= position => {}
            _ => {
                sessions.insert(session_id, (placement, position));
            }
        }
    }

    fn forget(&self, session_id: Uuid) {
        lock(&self.sessions).remove(&session_id);
    }

    /// The session's placement when it is on another node that is alive.
    pub fn elsewhere(&self, session_id: Uuid) -> Option<MediaPlacement> {
        self.placement(session_id)
            .filter(|p| !self.is_here(p) && self.is_live(&p.node_id))
    }

    /// Whether the session's media is placed on this node.
    pub fn is_here(&self, placement: &MediaPlacement) -> bool {
        placement.node_id == self.node.id
    }

    /// Whether a node was alive at the last reading (this one always is, if it holds media).
    fn is_live(&self, node_id: &str) -> bool {
        (node_id == self.node.id && self.node.holds_media) || lock(&self.live).contains_key(node_id)
    }

    /// The node a session with no live placement goes to: this one, or (an API-only node) one
    /// of the live media nodes, the same for a session whichever API node asks.
    fn candidate<'a>(
        &'a self,
        session_id: Uuid,
        live: &'a HashMap<String, String>,
    ) -> Result<NodeOffer<'a>, AppError> {
        if self.node.holds_media {
            return Ok(NodeOffer {
                node_id: &self.node.id,
                url: &self.node.url,
            });
        }
        let mut nodes: Vec<(&String, &String)> = live.iter().collect();
        nodes.sort();
        let pick = (session_id.as_u128() % nodes.len().max(1) as u128) as usize;
        nodes
            .get(pick)
            .map(|(node_id, url)| NodeOffer { node_id, url })
            .ok_or_else(|| {
                AppError::unavailable(
                    "no_media_node",
                    "no media node is running to hold this session's media; retry",
                )
            })
    }

    /// Reads the live nodes from the table and keeps them.
    async fn refresh_live(&self) -> Result<HashMap<String, String>, sqlx::Error> {
        let live = self.nodes.live().await?;
        lock(&self.live).clone_from(&live);
        Ok(live)
    }

    /// Start-up recovery is done: gone nodes' sessions may be placed again from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// The base URL of a placement's WHIP/WHEP as a client of a request to `request_base` (this
    /// node's own base as the request reached it) reaches it: this node by the request's base
    /// unless its URL was configured, another node by its URL.
    pub fn base_url(&self, placement: &MediaPlacement, request_base: &str) -> String {
        if self.is_here(placement) && !self.node.configured {
            request_base.trim_end_matches('/').to_owned()
        } else {
            placement.url.clone()
        }
    }

    /// Where a session's media is, for a client whose request reached this node at
    /// `request_base`.
    pub fn location(
        &self,
        session_id: Uuid,
        placement: &MediaPlacement,
        request_base: &str,
    ) -> MediaLocation {
        let base = self.base_url(placement, request_base);
        MediaLocation {
            node_id: placement.node_id.clone(),
            whip_url: format!("{base}/v1/sessions/{session_id}/whip"),
            whep_url: format!("{base}/v1/sessions/{session_id}/whep"),
        }
    }

    /// The sessions placed on nodes not in `live` (never this one).
    fn stranded(&self, live: &HashMap<String, String>) -> Vec<Uuid> {
        lock(&self.sessions)
            .iter()
            .filter(|(_, (p, _))| p.node_id != self.node.id && !live.contains_key(&p.node_id))
            .map(|(session_id, _)| *session_id)
            .collect()
    }
}

/// Follows the log: each `MediaPlaced`, and sessions that end (their media ends with them).
impl LogListener for Placements {
    fn on_events(&self, batch: &[Dispatched]) {
        for dispatched in batch {
            match dispatched.event() {
                Some(Event::MediaPlaced(e)) => self.remember(
                    e.session_id,
                    MediaPlacement {
                        node_id: e.node_id.clone(),
                        url: e.url.clone(),
                    },
                    dispatched.recorded.position,
                ),
                Some(Event::SessionEnded(e)) => self.forget(e.session_id),
                Some(Event::SessionCancelled(e)) => self.forget(e.session_id),
                _ => {}
            }
        }
    }
}

fn table_error(error: sqlx::Error) -> AppError {
    AppError::internal(format!("reading the media nodes: {error}"))
}

impl App {
    /// Where the session's media is: its placement when its node is alive, else (no placement,
    /// or its node is gone) this node, or for an API-only node a live media node, recorded as
    /// `MediaPlaced`. The session must be live.
    /// Returns the placement and, when this call placed it, what it appended.
    pub async fn place_media(
        &self,
        session_id: Uuid,
        correlation_id: Uuid,
    ) -> Result<(MediaPlacement, Option<Accepted>), AppError> {
        let placements = &self.placements;
        if let Some(placed) = placements.placement(session_id)
            && placements.is_live(&placed.node_id)
        {
            return Ok((placed, None));
        }
        // Unknown here, or on a node believed gone: read the table afresh (a node that started
        // since the last heartbeat is alive), then decide on the session's stream.
        let live = placements.refresh_live().await.map_err(table_error)?;
        self.decide_placement(session_id, &live, correlation_id)
            .await
    }

    /// The domain's placement decision on the session's stream, with `live` the nodes alive.
    async fn decide_placement(
        &self,
        session_id: Uuid,
        live: &HashMap<String, String>,
        correlation_id: Uuid,
    ) -> Result<(MediaPlacement, Option<Accepted>), AppError> {
        let node = &self.placements.node;
        let offer = self.placements.candidate(session_id, live)?;
        let is_live = |id: &str| (id == node.id && node.holds_media) || live.contains_key(id);
        // The placement the last decision saw: the answer when it is refused (placed already).
        let seen = Mutex::new(None);
        let decided = self
            .executor
            .decide_as::<Session>(
                &*self.store,
                session_id,
                |state| {
                    lock(&seen).clone_from(&state.media);
                    place_media(state, offer, is_live)
                },
                Actor::system(),
                correlation_id,
            )
            .await;
        match decided {
            Ok(accepted) => {
                let placed = MediaPlacement {
                    node_id: offer.node_id.to_owned(),
                    url: offer.url.to_owned(),
                };
                self.placements
                    .remember(session_id, placed.clone(), accepted.append.last_position);
                Ok((placed, Some(accepted)))
            }
            Err(CommandError::Domain(DomainError::NoChange { .. })) => lock(&seen)
                .take()
                .map(|placed| (placed, None))
                .ok_or_else(|| AppError::internal("a refused placement saw no placement")),
            Err(error) => Err(error.into()),
        }
    }

    /// WHIP and WHEP take media only on the node the session is placed on (placing it here
    /// when it has no placement or its node is gone); elsewhere `409 media_elsewhere`, with
    /// where it is, as a client of `request_base` reaches it.
    pub async fn check_media_here(
        &self,
        session_id: Uuid,
        correlation_id: Uuid,
        request_base: &str,
    ) -> Result<(), AppError> {
        let (placed, _) = self.place_media(session_id, correlation_id).await?;
        if self.placements.is_here(&placed) {
            return Ok(());
        }
        let location = self.placements.location(session_id, &placed, request_base);
        Err(AppError::media_elsewhere(location))
    }

    /// One heartbeat of this node: renews its row, reads which nodes are alive, and places
    /// again on this node the sessions placed on gone ones.
    pub async fn node_heartbeat(&self) {
        let placements = &self.placements;
        if placements.node.holds_media
            && let Err(error) = placements
                .nodes
                .beat(&placements.node, placements.lifetime())
                .await
        {
            tracing::warn!(%error, "could not renew this node's heartbeat");
        }
        let live = match placements.refresh_live().await {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%error, "could not read the media nodes");
                return;
            }
        };
        // Media nodes take over the sessions of gone nodes; an API-only node only reads.
        if !placements.node.holds_media || !placements.ready.load(Ordering::Acquire) {
            return;
        }
        for session_id in placements.stranded(&live) {
            let gone = placements.placement(session_id);
            match self
                .decide_placement(session_id, &live, Uuid::now_v7())
                .await
            {
                Ok((_, Some(accepted))) => {
                    tracing::info!(
                        %session_id,
                        gone = %gone.map(|p| p.node_id).unwrap_or_default(),
                        "placed the media of a session whose node is gone on this node"
                    );
                    if let Err(error) = self.close_media_left_open(session_id, &accepted).await {
                        tracing::error!(%error, %session_id, "could not close the media a gone node left open");
                    }
                }
                // Another node placed it first.
                Ok((_, None)) => {}
                // Ended meanwhile (its end reaches the listener too).
                Err(error) if matches!(error.code, "invalid_transition" | "not_found") => {
                    placements.forget(session_id);
                }
                Err(error) => {
                    tracing::warn!(%error, %session_id, "could not place a session again");
                }
            }
        }
        if let Err(error) = placements.nodes.forget_gone(FORGET_AFTER).await {
            tracing::debug!(%error, "could not delete the rows of long gone nodes");
        }
    }

    /// Closes, as `interrupted`, the media the log shows open before the placement `accepted`
    /// appended: the gone node's peers, which died with it.
    async fn close_media_left_open(
        &self,
        session_id: Uuid,
        accepted: &Accepted,
    ) -> anyhow::Result<()> {
        let mut events =
            crate::store::read_whole_stream(&*self.store, &session_stream(session_id)).await?;
        let placed_at = accepted.append.last_position;
        events.retain(|e| e.position < placed_at);
        let view = replay::replay_session(&events, None)?;
        let facts = super::recovery::interrupted_media(session_id, &view.media);
        if !facts.is_empty() {
            self.record_system_facts(session_id, facts).await?;
        }
        Ok(())
    }
}

/// Renews this node's row every heartbeat and places again the sessions of gone nodes, until
/// aborted.
pub fn spawn_heartbeat(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(app.placements.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            app.node_heartbeat().await;
        }
    })
}
