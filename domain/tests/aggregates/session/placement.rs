//! Media placement: a session's media on one node at a time, placed again when its node is gone.

use livesurgery_domain::events::*;
use livesurgery_domain::session::{NodeOffer, SessionState, fold, place_media};

use crate::support::*;

const A: NodeOffer<'static> = NodeOffer {
    node_id: "node-a",
    url: "http://10.0.0.1:8080",
};
const B: NodeOffer<'static> = NodeOffer {
    node_id: "node-b",
    url: "https://b.or.example.org",
};

fn placed(offer: NodeOffer<'_>, reason: PlacementReason, previous: Option<&str>) -> Event {
    Event::MediaPlaced(MediaPlaced {
        session_id: SESSION,
        node_id: offer.node_id.into(),
        url: offer.url.into(),
        reason,
        previous_node_id: previous.map(str::to_owned),
    })
}

fn state(events: &[Event]) -> SessionState {
    fold(events)
}

fn everyone_alive(_: &str) -> bool {
    true
}

#[test]
fn the_first_offer_places_a_live_sessions_media_on_the_offering_node() {
    let events = place_media(&state(&live()), A, everyone_alive).expect("placed");
    assert_eq!(events, vec![placed(A, PlacementReason::FirstJoin, None)]);
    let mut log = live();
    log.extend(events);
    let media = state(&log).media.expect("a placement");
    assert_eq!(
        (media.node_id.as_str(), media.url.as_str()),
        (A.node_id, A.url)
    );
}

#[test]
fn a_placement_on_a_live_node_stands_whoever_offers() {
    let mut log = live();
    log.push(placed(A, PlacementReason::FirstJoin, None));
    for offer in [A, B] {
        let refused = place_media(&state(&log), offer, everyone_alive).unwrap_err();
        assert_eq!(refused.code(), "no_change", "{offer:?}: {refused}");
    }
}

#[test]
fn a_session_whose_node_is_gone_is_placed_again_on_the_offering_node() {
    let mut log = live();
    log.push(placed(A, PlacementReason::FirstJoin, None));
    let only_b = |node: &str| node == B.node_id;
    let events = place_media(&state(&log), B, only_b).expect("placed again");
    assert_eq!(
        events,
        vec![placed(B, PlacementReason::NodeGone, Some(A.node_id))]
    );
    log.extend(events);
    assert_eq!(
        state(&log).media.map(|m| m.node_id),
        Some(B.node_id.to_owned())
    );
}

#[test]
fn of_two_nodes_racing_to_replace_a_gone_node_the_loser_decides_again_and_is_refused() {
    let mut log = live();
    log.push(placed(A, PlacementReason::FirstJoin, None));
    let a_gone = |node: &str| node != A.node_id;
    let c = NodeOffer {
        node_id: "node-c",
        url: "http://10.0.0.3:8080",
    };
    // Both decide on the same state; B's append wins the version race.
    let before = state(&log);
    let b_events = place_media(&before, B, a_gone).expect("B places");
    assert!(place_media(&before, c, a_gone).is_ok());
    log.extend(b_events);
    // C's append fails the version check: it decides again on the new tail.
    let refused = place_media(&state(&log), c, a_gone).unwrap_err();
    assert_eq!(refused.code(), "no_change", "{refused}");
}

#[test]
fn media_is_placed_only_while_the_session_is_live() {
    for (name, events) in [
        ("scheduled", scheduled()),
        ("ended", ended()),
        ("cancelled", cancelled()),
    ] {
        let refused = place_media(&state(&events), A, everyone_alive).unwrap_err();
        assert_eq!(refused.code(), "invalid_transition", "{name}: {refused}");
    }
    let refused = place_media(&SessionState::default(), A, everyone_alive).unwrap_err();
    assert_eq!(refused.code(), "not_found");
}

#[test]
fn an_offer_names_its_node_and_an_http_url() {
    let long_id = "n".repeat(65);
    let long_url = format!("http://{}", "h".repeat(600));
    for (node_id, url) in [
        ("", A.url),
        ("node a", A.url),
        (long_id.as_str(), A.url),
        ("node-a", "ftp://10.0.0.1"),
        ("node-a", "http://"),
        ("node-a", "http://host/a b"),
        ("node-a", long_url.as_str()),
    ] {
        let offer = NodeOffer { node_id, url };
        let refused = place_media(&state(&live()), offer, everyone_alive).unwrap_err();
        assert_eq!(refused.code(), "validation_failed", "{offer:?}: {refused}");
    }
}
