//! The SFU's signalling refusals and its ICE servers, over plain HTTP (no WebRTC peer needed):
//! every call checks the SFU token, the membership now and the session's state.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha1::Sha1;

use crate::api::spawn::{Answer, TestApp, spawn_app_with};
use crate::helpers::all_backends;
use crate::realtime::{join, live_session, member, session_events};

/// The smallest offer str0m parses: one sendonly VP8 video m-line.
const OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=ssrc:1111 cname:test\r\n";

const TURN_SECRET: &str = "a-turn-secret-shared-with-coturn-0123456789";

async fn post_sdp(
    app: &TestApp,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> Answer {
    let mut request = app
        .client
        .post(url)
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::of(request).await
}

fn sfu_token(joined: &crate::realtime::Joined) -> String {
    joined.body["sfu"]["token"]
        .as_str()
        .expect("sfu.token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_hands_out_stun_and_turn_with_a_time_limited_coturn_credential() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| {
            s.ice_servers = vec!["stun:stun.example.org:3478".into()];
            s.turn_urls = vec!["turn:turn.example.org:3478?transport=udp".into()];
            s.turn_secret = Some(TURN_SECRET.parse().expect("a secret"));
            s.turn_ttl_secs = 600;
        })
        .await;
        let (host, session) = live_session(&app).await;
        let joined = join(&app, session, &host).await;
        let servers = joined.body["ice_servers"].as_array().expect("ice_servers");
        assert_eq!(servers.len(), 2, "{}", joined.body);
        assert_eq!(servers[0], json!({"urls": ["stun:stun.example.org:3478"]}));
        let turn = &servers[1];
        assert_eq!(
            turn["urls"],
            json!(["turn:turn.example.org:3478?transport=udp"])
        );
        let username = turn["username"].as_str().expect("username");
        let (expiry, participant) = username.split_once(':').expect("expiry:participant");
        assert_eq!(participant, joined.participant_id.to_string());
        let expiry: i64 = expiry.parse().expect("unix time");
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now + 590..=now + 610).contains(&expiry),
            "{expiry} vs {now}"
        );
        let mut mac = Hmac::<Sha1>::new_from_slice(TURN_SECRET.as_bytes()).expect("hmac");
        mac.update(username.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(turn["credential"], json!(expected));
        assert!(
            !joined.body.to_string().contains(TURN_SECRET),
            "the secret never leaves the server"
        );
        // WHIP's answer lists the same servers as Link headers (RFC 9725 section 4.6) — checked
        // on the refusal-free path by the peer tests; here the secret stays out of events too.
        let events = session_events(&app, session).await;
        assert!(!Value::Array(events).to_string().contains(TURN_SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalling_refuses_what_it_must_and_records_a_refused_publish() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |_| {}).await;
        println!("[{}]", app.backend);
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        let host_joined = join(&app, session, &host).await;
        let observer_joined = join(&app, session, &observer).await;
        let whip = format!("{}/v1/sessions/{session}/whip?source=endoscope", app.base);
        let host_sfu = sfu_token(&host_joined);

        // No token, an access token, the WS token: 401.
        post_sdp(&app, &whip, None, "application/sdp", OFFER)
            .await
            .assert_error(401, "missing_token");
        post_sdp(&app, &whip, Some(&host.token), "application/sdp", OFFER)
            .await
            .assert_error(401, "invalid_token");
        let ws_token = host_joined.body["ws"]["token"].as_str().expect("ws token");
        post_sdp(&app, &whip, Some(ws_token), "application/sdp", OFFER)
            .await
            .assert_error(401, "invalid_token");
        // Another session's token: 403.
        let other = app.create_session(&host.token).await;
        app.start(other).await;
        let other_whip = format!("{}/v1/sessions/{other}/whip?source=endoscope", app.base);
        post_sdp(&app, &other_whip, Some(&host_sfu), "application/sdp", OFFER)
            .await
            .assert_error(403, "wrong_session");
        // Bad media type, label, SDP.
        post_sdp(&app, &whip, Some(&host_sfu), "application/json", OFFER)
            .await
            .assert_error(415, "unsupported_media_type");
        let bad_label = format!("{}/v1/sessions/{session}/whip?source=Room%20Cam", app.base);
        post_sdp(&app, &bad_label, Some(&host_sfu), "application/sdp", OFFER)
            .await
            .assert_error(400, "invalid_source");
        post_sdp(&app, &whip, Some(&host_sfu), "application/sdp", "hello")
            .await
            .assert_error(400, "invalid_sdp");

        // An observer may not publish: 403, and the refusal is in the log.
        let refused = post_sdp(
            &app,
            &whip,
            Some(&sfu_token(&observer_joined)),
            "application/sdp",
            OFFER,
        )
        .await;
        refused.assert_error(403, "forbidden");
        // The refusal reaches the audit read model within moments.
        let listing = format!("/v1/audit?event_type=AccessDenied&actor={}", observer.id);
        let mut found = Value::Null;
        for _ in 0..50 {
            let denied = app
                .call(Method::GET, &listing, Some(&app.admin_token), None)
                .await;
            denied.assert_status(200);
            let hit = denied.body["items"].as_array().and_then(|items| {
                items
                    .iter()
                    .find(|e| e["data"]["route"] == "/v1/sessions/{id}/whip")
                    .cloned()
            });
            if let Some(hit) = hit {
                found = hit;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(found["data"]["action"], "publish_media", "{found}");
        assert_eq!(found["data"]["status"], 403, "{found}");
        assert_eq!(found["data"]["session_id"], json!(session), "{found}");

        // The first publish of a label is answered; a second one of the same label is 409.
        let first = post_sdp(&app, &whip, Some(&host_sfu), "application/sdp", OFFER).await;
        first.assert_status(201);
        assert_eq!(first.header("content-type"), Some("application/sdp"));
        let location = first.header("location").expect("Location").to_owned();
        assert!(
            location.starts_with(&format!("/v1/sessions/{session}/whip/")),
            "{location}"
        );
        assert!(first.text.contains("a=candidate:"), "{}", first.text);
        post_sdp(&app, &whip, Some(&host_sfu), "application/sdp", OFFER)
            .await
            .assert_error(409, "source_taken");
        // The sources list shows it; only its owner may delete it.
        let media = app
            .call(
                Method::GET,
                &format!("/v1/sessions/{session}/media"),
                Some(&host.token),
                None,
            )
            .await;
        media.assert_status(200);
        assert_eq!(
            media.body["sources"][0]["source"], "endoscope",
            "{}",
            media.body
        );
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let surgeon_sfu = sfu_token(&join(&app, session, &surgeon).await);
        let delete = |token: String| {
            let url = format!("{}{location}", app.base);
            let request = app.client.delete(url).bearer_auth(token);
            Answer::of(request)
        };
        delete(surgeon_sfu.clone())
            .await
            .assert_error(403, "forbidden");
        delete(host_sfu.clone()).await.assert_status(200);
        delete(host_sfu.clone())
            .await
            .assert_error(404, "not_found");
        // Selecting slots without a subscription: 404.
        let select = app
            .client
            .post(format!(
                "{}/v1/sessions/{session}/media:subscribe",
                app.base
            ))
            .bearer_auth(&surgeon_sfu)
            .json(&json!({"slots": ["endoscope"]}));
        Answer::of(select).await.assert_error(404, "not_found");

        // After the end, no media: 409.
        app.call(
            Method::POST,
            &format!("/v1/sessions/{session}:end"),
            Some(&host.token),
            None,
        )
        .await
        .assert_status(200);
        let after = post_sdp(&app, &whip, Some(&host_sfu), "application/sdp", OFFER).await;
        after.assert_error(409, "session_not_live");
    }
}
