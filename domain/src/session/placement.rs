//! Where a session's media lives: on one server node at a time, recorded as `MediaPlaced`.
//!
//! Which nodes are alive is not in the log (heartbeats would flood it): the caller says. A node
//! offers itself; the session is placed on it when it has no placement yet or its node is no
//! longer alive, and the offer is refused (`no_change`) while the placed node is alive. So an
//! offer that lost a version race to another node's placement, decided again on the stream's
//! new tail, is refused: two nodes placing at once record one placement.

use crate::error::DomainError;
use crate::events::{Event, MediaPlaced, PlacementReason};

use super::{SessionState, SessionStatus};

/// Longest node id, in characters.
pub const MAX_NODE_ID_LEN: usize = 64;
/// Longest node base URL, in characters.
pub const MAX_NODE_URL_LEN: usize = 512;

/// A node offering to hold a session's media: its id and base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOffer<'a> {
    pub node_id: &'a str,
    pub url: &'a str,
}

/// Decides whether the session's media is placed on the offering node: `MediaPlaced` when it
/// has no placement (`first_join`) or `is_live` says its node is gone (`node_gone`); refused
/// with `no_change` while it is placed on a live node (this one included), with
/// `invalid_transition` unless the session is live.
pub fn place_media(
    state: &SessionState,
    offer: NodeOffer<'_>,
    is_live: impl Fn(&str) -> bool,
) -> Result<Vec<Event>, DomainError> {
    let (Some(status), Some(session_id)) = (state.status, state.session_id) else {
        return Err(DomainError::not_found("session"));
    };
    if status != SessionStatus::Live {
        return Err(DomainError::InvalidTransition {
            command: "place_media",
            state: format!("the session is {}", status.as_str()),
        });
    }
    check_offer(offer)?;
    let (reason, previous_node_id) = match &state.media {
        None => (PlacementReason::FirstJoin, None),
        Some(placed) if placed.node_id == offer.node_id => {
            return Err(DomainError::no_change("the media is placed on this node"));
        }
        Some(placed) if is_live(&placed.node_id) => {
            return Err(DomainError::no_change(format!(
                "the media is placed on live node {}",
                placed.node_id
            )));
        }
        Some(placed) => (PlacementReason::NodeGone, Some(placed.node_id.clone())),
    };
    Ok(vec![Event::MediaPlaced(MediaPlaced {
        session_id,
        node_id: offer.node_id.to_owned(),
        url: offer.url.to_owned(),
        reason,
        previous_node_id,
    })])
}

/// A node id of letters, digits, `.`, `_`, `-`; an absolute http(s) URL without spaces.
fn check_offer(offer: NodeOffer<'_>) -> Result<(), DomainError> {
    let id_ok = !offer.node_id.is_empty()
        && offer.node_id.chars().count() <= MAX_NODE_ID_LEN
        && offer
            .node_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !id_ok {
        return Err(DomainError::validation(
            "node_id",
            format!("must be 1-{MAX_NODE_ID_LEN} letters, digits, '.', '_' or '-'"),
        ));
    }
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|scheme| offer.url.len() > scheme.len() && offer.url.starts_with(scheme));
    let url_ok = scheme_ok
        && offer.url.chars().count() <= MAX_NODE_URL_LEN
        && !offer
            .url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !url_ok {
        return Err(DomainError::validation(
            "url",
            format!("must be an http:// or https:// URL of at most {MAX_NODE_URL_LEN} characters"),
        ));
    }
    Ok(())
}
