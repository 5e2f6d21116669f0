//! Media across nodes: two server processes on one PostgreSQL database. A session's media is
//! placed on one node (`MediaPlaced`); a join on either node hands out that node's WHIP/WHEP
//! URLs, so a publisher that joined through node A and a subscriber that joined through node B
//! meet on one SFU and the subscriber decodes the publisher's frames. When the placed node
//! stops, the other places the session again, tells its clients (`media.placed`), and media
//! published and subscribed again at the new URLs flows.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::aiortc::{FPS, sees_pattern};
use super::support::{Peer, Sfu, webrtc_ready};
use crate::api::spawn::{ADMIN, Answer, PASSWORD};
use crate::helpers::{TestDb, fresh_postgres};
use crate::nodes::{Node, create_first_admin, start_node};
use crate::realtime::client::WsClient;

/// Fast heartbeats: a node is gone after three missed ones (under a second here).
const NODE_ENV: &[(&str, &str)] = &[("LIVESURGERY_NODE_HEARTBEAT_MS", "300")];
const WAIT: Duration = Duration::from_secs(10);

/// A live session with a surgeon and an observer; the ids and their access tokens.
struct LiveSession {
    id: String,
    surgeon: String,
    observer: String,
    admin: String,
}

async fn live_session(node: &Node) -> LiveSession {
    let admin = node.login(ADMIN).await;
    let mut tokens = Vec::new();
    let created = node
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&admin),
            Some(json!({"title": "Two nodes, one SFU"})),
        )
        .await;
    created.assert_status(201);
    let id = created.str("id").to_owned();
    for role in ["surgeon", "observer"] {
        let body = json!({"username": format!("{role}-1"), "password": PASSWORD, "role": role,
                          "display_name": format!("Dr {role}")});
        let user = node
            .call(Method::POST, "/v1/users", Some(&admin), Some(body))
            .await;
        user.assert_status(201);
        let user_id = user.str("id").to_owned();
        node.call(
            Method::PUT,
            &format!("/v1/sessions/{id}/members/{user_id}"),
            Some(&admin),
            Some(json!({"role": role})),
        )
        .await
        .assert_status(200);
        tokens.push(node.login(&format!("{role}-1")).await);
    }
    node.call(
        Method::POST,
        &format!("/v1/sessions/{id}:start"),
        Some(&admin),
        None,
    )
    .await
    .assert_status(200);
    let [surgeon, observer] = <[String; 2]>::try_from(tokens).expect("two tokens");
    LiveSession {
        id,
        surgeon,
        observer,
        admin,
    }
}

/// Nodes A and B on one fresh PostgreSQL, the first admin, and a live session made on A.
struct TwoNodes {
    a: Node,
    b: Node,
    session: LiveSession,
    db: TestDb,
}

/// [`TwoNodes`]; `None` (a recorded skip) without PostgreSQL.
async fn two_nodes() -> Option<TwoNodes> {
    let db = fresh_postgres().await?;
    create_first_admin(&db.url);
    let a = start_node(&db.url, NODE_ENV).await;
    let b = start_node(&db.url, NODE_ENV).await;
    let session = live_session(&a).await;
    Some(TwoNodes { a, b, session, db })
}

async fn join(node: &Node, session: &str, token: &str) -> Answer {
    let joined = node
        .call(
            Method::POST,
            &format!("/v1/sessions/{session}/participants:join"),
            Some(token),
            Some(json!({"device": "test"})),
        )
        .await;
    joined.assert_status(201);
    joined
}

/// The realtime client of a join, welcomed; the join's WebSocket is on the node it was made on.
async fn realtime_client(joined: &Answer, node: &Node, label: &str) -> WsClient {
    let url = joined.body["ws"]["url"].as_str().expect("ws.url");
    assert!(url.contains(&format!(":{}/", node.port)), "{url}");
    let token = joined.body["ws"]["token"].as_str().expect("ws.token");
    WsClient::welcomed(url, token, label).await
}

/// The WHIP/WHEP URLs and token a join handed out.
fn sfu_of(joined: &Answer) -> Sfu {
    let field = |name: &str| {
        joined.body["sfu"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no sfu.{name} in {}", joined.text))
            .to_owned()
    };
    Sfu {
        whip_url: field("whip_url"),
        whep_url: field("whep_url"),
        token: field("token"),
    }
}

fn media_urls(node: &Node, session: &str) -> (String, String) {
    (
        format!("{}/v1/sessions/{session}/whip", node.base),
        format!("{}/v1/sessions/{session}/whep", node.base),
    )
}

/// The session's `MediaPlaced` events in log order, read through `node`.
async fn placements(node: &Node, session: &LiveSession) -> Vec<Value> {
    let events = node
        .call(
            Method::GET,
            &format!("/v1/sessions/{}/events?limit=1000", session.id),
            Some(&session.admin),
            None,
        )
        .await;
    events.assert_status(200);
    events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["type"] == "MediaPlaced")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_published_through_a_join_on_node_a_reaches_a_subscriber_that_joined_on_node_b() {
    if !webrtc_ready("media_across_nodes") {
        return;
    }
    // Two nodes meet through PostgreSQL only: without it, the test is a (recorded) skip.
    let Some(TwoNodes {
        mut a, b, session, ..
    }) = two_nodes().await
    else {
        return;
    };
    let sid = session.id.as_str();

    // The first join, on A, places the session's media on A; a join on B hands out A's URLs.
    let on_a = join(&a, sid, &session.surgeon).await;
    let on_b = join(&b, sid, &session.observer).await;
    let node_a = on_a.body["sfu"]["node_id"]
        .as_str()
        .expect("a node")
        .to_owned();
    let (whip_a, whep_a) = media_urls(&a, sid);
    for joined in [&on_a, &on_b] {
        let sfu = sfu_of(joined);
        assert_eq!(
            (&sfu.whip_url, &sfu.whep_url),
            (&whip_a, &whep_a),
            "{}",
            joined.text
        );
        assert_eq!(joined.body["sfu"]["node_id"], node_a.as_str());
    }
    let placed = placements(&b, &session).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(
        (&placed[0]["data"]["node_id"], &placed[0]["data"]["reason"]),
        (&json!(node_a), &json!("first_join"))
    );

    // B refuses the session's media, saying where it is: sent there, it would reach nobody.
    let (_, whep_b) = media_urls(&b, sid);
    let refused = Answer::of(
        reqwest::Client::new()
            .post(&whep_b)
            .bearer_auth(sfu_of(&on_b).token)
            .header("Content-Type", "application/sdp")
            .body("v=0\r\n"),
    )
    .await;
    refused.assert_status(409);
    assert_eq!(
        refused.body["error"]["code"], "media_elsewhere",
        "{}",
        refused.text
    );
    assert_eq!(refused.body["error"]["media"]["whep_url"], whep_a.as_str());

    // The observer's realtime client is on B: its welcome says where the media is.
    let mut watcher = realtime_client(&on_b, &b, "observer on B").await;
    let welcome = watcher.state.welcome.clone().expect("a welcome");
    assert_eq!(welcome["session"]["media"]["whep_url"], whep_a.as_str());

    // Published through A's join, received through B's join: the pattern decodes.
    let publisher = Peer::publish("surgeon (joined on A)", &sfu_of(&on_a), "endoscope", FPS).await;
    let tag = publisher.tag.expect("a tag");
    let mut subscriber = Peer::subscribe("observer (joined on B)", &sfu_of(&on_b), 1, "").await;
    sees_pattern(&mut subscriber, 0, tag).await;
    // Asked on B, the list of sources is A's (B holds no media of the session).
    let media = b
        .call(
            Method::GET,
            &format!("/v1/sessions/{sid}/media"),
            Some(&session.observer),
            None,
        )
        .await;
    media.assert_status(200);
    assert_eq!(
        media.body["sources"][0]["source"], "endoscope",
        "{}",
        media.text
    );
    assert_eq!(
        media.body["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        media.text
    );

    // A stops: B places the session on itself and tells its clients where to reconnect.
    a.stop(Duration::from_secs(30));
    let event = watcher
        .until(WAIT, "MediaPlaced on B", |m| {
            m["type"] == "event" && m["event_type"] == "MediaPlaced"
        })
        .await;
    let node_b = event["data"]["node_id"]
        .as_str()
        .expect("a node")
        .to_owned();
    assert_ne!(node_b, node_a);
    assert_eq!(
        (&event["data"]["reason"], &event["data"]["previous_node_id"]),
        (&json!("node_gone"), &json!(node_a)),
        "{event}"
    );
    let moved = watcher
        .until(WAIT, "media.placed", |m| m["type"] == "media.placed")
        .await;
    let (whip_b, whep_b) = media_urls(&b, sid);
    assert_eq!(
        (&moved["whip_url"], &moved["whep_url"], &moved["node_id"]),
        (&json!(whip_b), &json!(whep_b), &json!(node_b)),
        "{moved}"
    );
    assert_eq!(moved["position"], event["position"]);
    let placed = placements(&b, &session).await;
    assert_eq!(
        placed.len(),
        2,
        "one placement again, not one per node: {placed:?}"
    );

    // Publisher and subscriber do WHIP and WHEP again at the new URLs, with their tokens.
    publisher.kill().await;
    subscriber.kill().await;
    let again = |joined: &Answer| Sfu {
        whip_url: whip_b.clone(),
        whep_url: whep_b.clone(),
        ..sfu_of(joined)
    };
    let publisher = Peer::publish("surgeon, again on B", &again(&on_a), "endoscope", FPS).await;
    let tag = publisher.tag.expect("a tag");
    let mut subscriber = Peer::subscribe("observer, again on B", &again(&on_b), 1, "").await;
    sees_pattern(&mut subscriber, 0, tag).await;
    // A join on B now hands out B's URLs.
    let later = sfu_of(&join(&b, sid, &session.observer).await);
    assert_eq!((later.whip_url, later.whep_url), (whip_b, whep_b));
    subscriber.quit().await;
    publisher.quit().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_placed_on_a_node_that_dies_is_placed_again_on_a_live_one_within_seconds() {
    // Nodes A and B hold media; C (started later) is an API-only node.
    let Some(TwoNodes {
        mut a,
        b,
        session,
        db,
    }) = two_nodes().await
    else {
        return;
    };
    let sid = session.id.as_str();
    let on_a = join(&a, sid, &session.surgeon).await;
    let node_a = on_a.body["sfu"]["node_id"]
        .as_str()
        .expect("a node")
        .to_owned();
    let on_b = join(&b, sid, &session.observer).await;
    let mut watcher = realtime_client(&on_b, &b, "observer on B").await;

    // Killed: no goodbye, its heartbeat just stops.
    a.kill();
    let killed = std::time::Instant::now();
    let moved = watcher
        .until(WAIT, "media.placed", |m| m["type"] == "media.placed")
        .await;
    println!(
        "placed again {:?} after node A was killed",
        killed.elapsed()
    );
    let (whip_b, whep_b) = media_urls(&b, sid);
    assert_eq!(
        (&moved["reason"], &moved["whip_url"], &moved["whep_url"]),
        (&json!("node_gone"), &json!(whip_b), &json!(whep_b)),
        "{moved}"
    );
    assert_ne!(moved["node_id"], node_a.as_str());
    let placed = placements(&b, &session).await;
    assert_eq!(placed.len(), 2, "{placed:?}");
    assert_eq!(placed[1]["actor_role"], "system", "{placed:?}");
    watcher.close().await;

    // An API-only node places a new session's media on a live media node, never on itself.
    let api_only = [NODE_ENV[0], ("LIVESURGERY_MEDIA_NODE", "false")];
    let c = start_node(&db.url, &api_only).await;
    let created = c
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&session.admin),
            Some(json!({"title": "Joined through an API-only node"})),
        )
        .await;
    created.assert_status(201);
    let other = created.str("id").to_owned();
    c.call(
        Method::POST,
        &format!("/v1/sessions/{other}:start"),
        Some(&session.admin),
        None,
    )
    .await
    .assert_status(200);
    let joined = join(&c, &other, &session.admin).await;
    let (whip_b, whep_b) = media_urls(&b, &other);
    assert_eq!(
        (
            &joined.body["sfu"]["node_id"],
            &joined.body["sfu"]["whip_url"],
            &joined.body["sfu"]["whep_url"]
        ),
        (&moved["node_id"], &json!(whip_b), &json!(whep_b)),
        "{}",
        joined.text
    );
}
