//! `livesurgery serve` serves a web app build at `/`: files as they are, the app's `index.html`
//! for every other app path (a reload deep in the app works), while API paths keep their JSON
//! answers. Runs on a small build of its own, so it needs no Node.js; and the build embedded in
//! the binary, when there is one (CI embeds it: `LIVESURGERY_EMBED_WEB=1`).

use reqwest::Method;

use crate::api::spawn::{TestApp, spawn_app_with};
use crate::helpers::{fresh_sqlite, prerequisites_met};

const INDEX: &str = "<!doctype html><title>LiveSurgery test build</title><div id=root></div>";
const SCRIPT: &str = "console.log('app');";

async fn app_with_build() -> (TestApp, tempfile::TempDir) {
    let dist = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dist.path().join("index.html"), INDEX).expect("index.html");
    std::fs::create_dir(dist.path().join("assets")).expect("assets/");
    std::fs::write(dist.path().join("assets/index-abc.js"), SCRIPT).expect("a script");
    let dir = dist.path().to_owned();
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dir)).await;
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
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dir)).await;
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

async fn response(app: &TestApp, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut request = app.request(Method::GET, path, None);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    request.send().await.expect("the server answers")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_the_app_page_is_revalidated() {
    let (app, _dist) = app_with_build().await;
    for path in ["/", "/sessions/0193/workspace"] {
        let answer = response(&app, path, None).await;
        assert_eq!(header(&answer, "cache-control"), "no-cache", "{path}");
    }
    let answer = response(&app, "/assets/index-abc.js", None).await;
    assert_eq!(
        header(&answer, "cache-control"),
        "public, max-age=31536000, immutable"
    );
}

/// The first `/assets/….js` that `index.html` loads.
fn script_of(index: &str) -> String {
    let start = index
        .find("/assets/")
        .unwrap_or_else(|| panic!("index.html loads no asset:\n{index}"));
    let end = start + index[start..].find('"').expect("a quoted asset path");
    index[start..end].to_owned()
}

/// The app embedded by build.rs (release builds; `LIVESURGERY_EMBED_WEB=1` in CI's debug build),
/// served by a server started without `--web-dir`. A build without it answers as it says.
#[tokio::test]
async fn without_a_web_dir_the_embedded_sign_in_page_is_served_from_the_binary() {
    use livesurgery::web::{WebApp, embedded};
    let app = spawn_app_with(fresh_sqlite(), |s| s.web_dir = None).await;
    let missing = (!embedded::is_present()).then(|| {
        "no web app embedded in this test build (built without LIVESURGERY_EMBED_WEB=1, or \
         Node.js/npm missing: see the build's warning)"
            .to_owned()
    });
    let embedded = prerequisites_met(
        "web::embedded_app",
        missing,
        super::app::REQUIRE_WEBAPP,
        "bash .ci/install-browser.sh, then LIVESURGERY_EMBED_WEB=1 cargo test",
    );
    if !embedded {
        match WebApp::choose(None) {
            // A developer's `npm run build` in the repository, served instead.
            WebApp::Folder(dir) => {
                let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
                assert_eq!(get(&app, "/").await.2, index);
            }
            other => {
                assert_eq!(other, WebApp::NotBuilt { web_dir: None });
                let answer = app.call(Method::GET, "/", None, None).await;
                answer.assert_error(503, "web_app_not_built");
                let message = answer.body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("cargo run --release"), "{message}");
            }
        }
        return;
    }
    let (status, content_type, index) = get(&app, "/").await;
    assert_eq!(status, 200, "{index}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(index.contains("<title>LiveSurgery</title>"), "{index}");
    // A reload deep in the app gets the same page.
    let (status, _, deep) = get(&app, "/sessions/0193/workspace").await;
    assert_eq!((status, &deep), (200, &index));

    let script = script_of(&index);
    let (status, content_type, code) = get(&app, &script).await;
    assert_eq!(status, 200, "{script}");
    assert!(content_type.contains("javascript"), "{content_type}");
    assert!(
        code.contains("Sign in to join live sessions."),
        "the bundle renders the sign-in page"
    );
    let answer = response(&app, &script, None).await;
    assert_eq!(
        header(&answer, "cache-control"),
        "public, max-age=31536000, immutable"
    );

    // HEAD: the headers without the body.
    let head = app
        .request(Method::HEAD, "/", None)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(header(&head, "cache-control"), "no-cache");
    assert_eq!(header(&head, "content-length"), index.len().to_string());
    assert!(head.bytes().await.expect("a body").is_empty());

    // The page is revalidated: the browser's copy is still good while the build is the same.
    let tag = header(&response(&app, "/", None).await, "etag");
    assert!(!tag.is_empty(), "an ETag");
    let again = response(&app, "/", Some(&tag)).await;
    assert_eq!(again.status().as_u16(), 304);

    // A missing asset is a 404; API paths keep their JSON answers.
    let (status, content_type, _) = get(&app, "/assets/gone-123.js").await;
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    for path in ["/v1/no-such-route", "/v1"] {
        let (status, content_type, body) = get(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(content_type.starts_with("application/json"), "{path}");
    }
    let (status, _, body) = get(&app, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let answer = app.call(Method::POST, "/sessions", None, None).await;
    answer.assert_error(404, "not_found");
}
