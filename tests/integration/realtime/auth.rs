//! Who may open the socket: the WS token of `participants:join`, in the query or as a
//! subprotocol; everything else is refused before the upgrade with the API's error envelope.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::client::{Auth, SUBPROTOCOL, WsClient};
use super::{join, live_session, member, token_expiring_in, ws_url};
use crate::api::spawn::{Answer, TestApp, spawn_app, spawn_app_with};
use crate::helpers::all_backends;

/// Asserts that the upgrade with `token` (wherever `auth` puts it) is refused with `status`
/// and `code`: by a WebSocket client (which sees the status) and by a plain HTTP client sending
/// the same upgrade request (which reads the whole error envelope).
async fn refused(app: &TestApp, url: &str, token: Option<&str>, status: u16, code: &str) {
    for auth in [Auth::Query, Auth::Subprotocol] {
        let who = format!("[{}] {code} via {auth:?}", app.backend);
        match WsClient::try_connect(url, token, auth, &who).await {
            Ok(_) => panic!("{who}: the upgrade was accepted"),
            Err(refusal) => assert_eq!(refusal.status, status, "{who}: {}", refusal.text),
        }
        let http_url = url.replacen("ws://", "http://", 1);
        let mut request = app
            .client
            .get(&http_url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        match (auth, token) {
            (Auth::Query, Some(token)) => request = request.query(&[("token", token)]),
            (Auth::Subprotocol, Some(token)) => {
                request = request.header(
                    "sec-websocket-protocol",
                    format!("{SUBPROTOCOL}, bearer.{token}"),
                );
            }
            (_, None) => {}
        }
        let answer = Answer::of(request).await;
        answer.assert_error(status, code);
        if let Some(token) = token {
            assert!(!answer.text.contains(token), "{who}: the token is echoed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ws_token_opens_the_socket_in_the_query_or_as_subprotocol_and_nothing_else_does() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let (host, session) = live_session(&app).await;
        let other = app.create_session(&host.token).await;
        app.start(other).await;
        let joined = join(&app, session, &host).await;
        assert_eq!(joined.ws_url, ws_url(&app, session), "{}", joined.body);

        // The token in the query: no subprotocol is selected.
        let mut client =
            WsClient::try_connect(&joined.ws_url, Some(&joined.ws_token), Auth::Query, "query")
                .await
                .unwrap_or_else(|r| panic!("[{}] refused: {} {}", app.backend, r.status, r.text));
        assert_eq!(client.subprotocol, None);
        client.send(json!({"type": "ping"})).await;
        let welcome = client.recv(Duration::from_secs(10)).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["participant_id"], joined.participant_id.to_string());
        client.close().await;

        // The token as a subprotocol: the server selects livesurgery.v1, never the token.
        let mut client = WsClient::try_connect(
            &joined.ws_url,
            Some(&joined.ws_token),
            Auth::Subprotocol,
            "subprotocol",
        )
        .await
        .unwrap_or_else(|r| panic!("[{}] refused: {} {}", app.backend, r.status, r.text));
        assert_eq!(client.subprotocol.as_deref(), Some(SUBPROTOCOL));
        client.send(json!({"type": "ping"})).await;
        let welcome = client.recv(Duration::from_secs(10)).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["participant_id"], joined.participant_id.to_string());
        client.close().await;

        let url = &joined.ws_url;
        refused(&app, url, None, 401, "missing_token").await;
        refused(&app, url, Some("garbage"), 401, "invalid_token").await;
        // A token of session A on session B's URL.
        refused(
            &app,
            &ws_url(&app, other),
            Some(&joined.ws_token),
            403,
            "wrong_session",
        )
        .await;
        // An access token is no WS token, nor is the SFU token of the same join.
        refused(&app, url, Some(&host.token), 401, "invalid_token").await;
        let sfu = joined.body["sfu"]["token"].as_str().expect("an SFU token");
        refused(&app, url, Some(sfu), 401, "invalid_token").await;
        let expired = token_expiring_in(&joined.ws_token, -30);
        refused(&app, url, Some(&expired), 401, "token_expired").await;

        // A plain GET (no upgrade headers) with a good token.
        let plain = app
            .client
            .get(url.replacen("ws://", "http://", 1))
            .query(&[("token", &joined.ws_token)]);
        Answer::of(plain).await.assert_error(400, "not_a_websocket");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_closes_their_socket_with_4003_and_refuses_their_token() {
    for db in all_backends().await {
        // The server notices a deactivation at its next heartbeat (a third of the timeout):
        // a short timeout keeps this test short.
        let app = spawn_app_with(db, |s| s.ws_heartbeat_timeout_secs = 3).await;
        println!("[{}]", app.backend);
        let (_host, session) = live_session(&app).await;
        let user = member(&app, session, "surgeon", "surgeon").await;
        let joined = join(&app, session, &user).await;
        let mut client =
            WsClient::welcomed(&joined.ws_url, &joined.ws_token, "to deactivate").await;
        app.call(
            Method::PATCH,
            &format!("/v1/users/{}", user.id),
            Some(&app.admin_token),
            Some(json!({"active": false})),
        )
        .await
        .assert_status(200);
        let closing = client.closing(Duration::from_secs(10)).await;
        assert_eq!(closing.code, Some(4003), "[{}] {closing:?}", app.backend);
        refused(
            &app,
            &joined.ws_url,
            Some(&joined.ws_token),
            401,
            "user_deactivated",
        )
        .await;
    }
}
