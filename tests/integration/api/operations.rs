//! Operations: health, readiness, the OpenAPI document, projection rebuilds, and the first
//! admin made with the command line.

use std::collections::BTreeSet;
use std::process::Stdio;

use livesurgery_domain::endpoints::ENDPOINTS;
use reqwest::Method;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::spawn::spawn_app;
use crate::helpers::all_backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_200_on_a_fresh_server() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let health = app.call(Method::GET, "/healthz", None, None).await;
        health.assert_status(200);
        assert_eq!(health.str("status"), "ok");
        let ready = app.call(Method::GET, "/readyz", None, None).await;
        ready.assert_status(200);
        assert_eq!(ready.str("status"), "ready");
        assert!(ready.body["head"].as_u64().is_some(), "{}", ready.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_openapi_equals_committed_schemas_openapi_json_else_run_cargo_run_openapi() {
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json"))
            .expect("schemas/openapi.json exists"),
    )
    .expect("schemas/openapi.json is JSON");
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let served = app.call(Method::GET, "/v1/openapi.json", None, None).await;
        served.assert_status(200);
        assert!(
            served.body == committed,
            "GET /v1/openapi.json differs from the committed schemas/openapi.json; regenerate it \
             with `cargo run -- openapi > schemas/openapi.json` and review the diff"
        );
    }
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[test]
fn the_openapi_document_lists_exactly_the_endpoints_of_the_endpoint_table() {
    let document = serde_json::to_value(livesurgery::api::openapi()).expect("serialisable");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.keys()
                .filter(|k| HTTP_METHODS.contains(&k.as_str()))
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let table: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(
        table.len(),
        ENDPOINTS.len(),
        "the endpoint table lists an endpoint twice"
    );
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let not_in_table: Vec<_> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty() && not_in_table.is_empty(),
        "in the endpoint table but not the OpenAPI document: {undocumented:?}; \
         in the OpenAPI document but not the endpoint table: {not_in_table:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_the_sessions_projection_answers_202_and_ends_at_generation_2() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let session = app.create_session(&app.admin_token).await;

        let started = app
            .call(
                Method::POST,
                "/v1/admin/projections/sessions:rebuild",
                Some(&app.admin_token),
                None,
            )
            .await;
        started.assert_status(202);
        assert!(started.body["items"].is_array(), "{}", started.text);

        let sessions = app.wait_for_rebuild("sessions").await;
        assert_eq!(sessions["generation"], 2, "{sessions}");
        // The rebuilt tables serve what the old ones did.
        app.get(&format!("/v1/sessions/{session}"), &app.admin_token)
            .await
            .assert_status(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_an_unknown_projection_is_404() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        app.call(
            Method::POST,
            "/v1/admin/projections/nonsense:rebuild",
            Some(&app.admin_token),
            None,
        )
        .await
        .assert_error(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_created_with_the_cli_and_a_piped_password_can_sign_in() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let password = "piped through standard input";
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livesurgery"))
            .args([
                "users",
                "create",
                "--username",
                "cli-admin",
                "--role",
                "admin",
            ])
            .args(["--database-url", &app.db_url])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running livesurgery users create");
        let mut stdin = child.stdin.take().expect("a stdin pipe");
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "users create failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !stdout.contains(password) && !stdout.contains("shown once"),
            "a piped password is neither generated nor printed: {stdout}"
        );

        // The running server picks the user up from the shared log.
        let login = app.login("cli-admin", password).await;
        login.assert_status(200);
        assert_eq!(login.body["user"]["role"], "admin", "{}", login.text);
        let token = login.str("access_token");
        app.get("/v1/users", token).await.assert_status(200);
        app.login("cli-admin", "not the piped password")
            .await
            .assert_error(401, "invalid_credentials");
    }
}
