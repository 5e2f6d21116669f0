//! Names that spoof (issue 19): invisible-only titles, bidirectional controls in titles and
//! display names, and mixed-script display names that look like another user's name.

use reqwest::Method;
use serde_json::json;

use crate::api::spawn::{PASSWORD, TestApp, spawn_app};
use crate::helpers::fresh_sqlite;

/// Sends `body` and asserts the refusal `(status, code)`.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
    (status, code): (u16, &str),
) {
    app.call(method, path, Some(token), Some(body))
        .await
        .assert_error(status, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_of_only_zero_width_spaces_is_refused() {
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    for title in ["\u{200B}\u{200B}\u{200B}", "\u{FEFF}", " \u{2060}\u{200D} "] {
        refused(
            &app,
            Method::POST,
            "/v1/sessions",
            &surgeon.token,
            json!({"title": title}),
            (422, "validation_failed"),
        )
        .await;
    }
    let session = app.create_session(&surgeon.token).await;
    refused(
        &app,
        Method::PATCH,
        &format!("/v1/sessions/{session}"),
        &surgeon.token,
        json!({"title": "\u{200B}"}),
        (422, "validation_failed"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_and_display_names_with_bidi_controls_are_refused() {
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    for title in [
        "Chole\u{202E}ymotcetsyc",
        "\u{2066}Knee\u{2069}",
        "Hip\u{200F}",
    ] {
        refused(
            &app,
            Method::POST,
            "/v1/sessions",
            &surgeon.token,
            json!({"title": title}),
            (422, "validation_failed"),
        )
        .await;
    }
    let body = json!({"username": "bidi-user", "password": PASSWORD, "role": "observer",
        "display_name": "Dr \u{202E}nimda"});
    refused(
        &app,
        Method::POST,
        "/v1/users",
        &app.admin_token,
        body,
        (422, "validation_failed"),
    )
    .await;
    refused(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", surgeon.id),
        &app.admin_token,
        json!({"display_name": "\u{200B}"}),
        (422, "validation_failed"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_script_display_name_that_looks_like_another_users_name_is_flagged() {
    let app = spawn_app(fresh_sqlite()).await;
    let create = |username: &str, display_name: &str| {
        json!({"username": username, "password": PASSWORD, "role": "observer",
            "display_name": display_name})
    };
    // `аdmin` with a Cyrillic а looks like the first admin's username.
    for (username, display_name) in [
        ("spoof-1", "\u{0430}dmin"),
        ("spoof-2", "First \u{0410}dmin"),
    ] {
        refused(
            &app,
            Method::POST,
            "/v1/users",
            &app.admin_token,
            create(username, display_name),
            (409, "confusable_display_name"),
        )
        .await;
    }
    // One script, even a look-alike one, is a name of its own; a rename is checked too.
    let created = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&app.admin_token),
            Some(create("cyrillic", "Лапароскопия")),
        )
        .await;
    created.assert_status(201);
    let user = created.uuid("id");
    refused(
        &app,
        Method::PATCH,
        &format!("/v1/users/{user}"),
        &app.admin_token,
        json!({"display_name": "First Adm\u{0456}n"}),
        (409, "confusable_display_name"),
    )
    .await;
}
