//! `livesurgery serve` serves a web app build at `/`: files as they are, the app's `index.html`
//! for every other app path (a reload deep in the app works), while API paths keep their JSON
//! answers. Runs on a small build of its own, so it needs no Node.js.

use reqwest::Method;

use crate::api::spawn::{TestApp, spawn_app_with};
use crate::helpers::fresh_sqlite;

const INDEX: &str = "<!doctype html><title>LiveSurgery test build</title><div id=root></div>";
const SCRIPT: &str = "console.log('app');";

async fn app_with_build() -> (TestApp, tempfile::TempDir) {
    let dist = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dist.path().join("index.html"), INDEX).expect("index.html");
    std::fs::create_dir(dist.path().join("assets")).expect("assets/");
    std::fs::write(dist.path().join("assets/index-abc.js"), SCRIPT).expect("a script");
    let dir = dist.path().to_owned();
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = dir).await;
    (app, dist)
}

async fn get(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app
        .request(Method::GET, path, None)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn app_paths_get_index_html_files_are_served_and_api_paths_keep_json_errors() {
    let (app, _dist) = app_with_build().await;
    for path in ["/", "/sessions", "/sessions/0193/workspace", "/admin"] {
        let (status, content_type, body) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert_eq!(body, INDEX, "{path}");
    }
    let (status, content_type, body) = get(&app, "/assets/index-abc.js").await;
    assert_eq!((status, body.as_str()), (200, SCRIPT));
    assert!(content_type.contains("javascript"), "{content_type}");

    // A missing asset is a 404, never the app's HTML (a browser would run it as a script).
    let (status, content_type, body) = get(&app, "/assets/gone-123.js").await;
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(body.contains("\"not_found\""), "{body}");

    for path in ["/v1/no-such-route", "/v1"] {
        let (status, content_type, body) = get(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(content_type.starts_with("application/json"), "{path}");
        assert!(body.contains("\"not_found\""), "{path}: {body}");
    }
    let (status, _, body) = get(&app, "/v1/users/me").await;
    assert_eq!(status, 401, "the API still answers: {body}");
    let (status, _, body) = get(&app, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    // Writes to an app path are not the app's: the usual JSON 404.
    let answer = app.call(Method::POST, "/sessions", None, None).await;
    answer.assert_error(404, "not_found");
}

#[tokio::test]
async fn without_a_build_app_paths_say_how_to_build_it_and_the_api_still_works() {
    let missing = tempfile::tempdir().expect("a temporary folder");
    let dir = missing.path().join("dist");
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = dir).await;
    let answer = app.call(Method::GET, "/", None, None).await;
    answer.assert_error(503, "web_app_not_built");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("npm run build"), "{message}");
    app.call(Method::GET, "/sessions/x", None, None)
        .await
        .assert_error(503, "web_app_not_built");
    let me = app.get("/v1/users/me", &app.admin_token).await;
    me.assert_status(200);
}
