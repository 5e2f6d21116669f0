//! The REST calls that set a stage up (users, sessions, members, participants), as a client
//! makes them: through the public API only.

use anyhow::Context;

/// The bench's administrator (scratch databases only: the password is no secret).
pub const ADMIN_USERNAME: &str = "bench-admin";
/// Its password, also given to every user the bench creates.
pub const ADMIN_PASSWORD: &str = "bench-password-not-secret";

/// Signs in with a password; the access token.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let login: serde_json::Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("signing in as {username}"))?
        .json()
        .await?;
    Ok(login["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned())
}

/// Creates a user named `name` with `role` (the bench's password) as the admin; its id.
pub async fn create_user(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    name: &str,
    role: &str,
) -> anyhow::Result<String> {
    let user: serde_json::Value = client
        .post(format!("{base}/v1/users"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({
            "username": name, "password": ADMIN_PASSWORD, "role": role, "display_name": name
        }))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("creating the user {name}"))?
        .json()
        .await?;
    Ok(user["id"].as_str().context("no user id")?.to_owned())
}

/// Creates a session (the caller becomes its host, the layout starts as 2x2 panels `p1`-`p4`);
/// its id.
pub async fn create_session(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    title: &str,
) -> anyhow::Result<String> {
    let session: serde_json::Value = client
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "title": title }))
        .send()
        .await?
        .error_for_status()
        .context("creating a session")?
        .json()
        .await?;
    Ok(session["id"].as_str().context("no session id")?.to_owned())
}

/// Makes user `user_id` a member of the session with `role`.
pub async fn add_member(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    session_id: &str,
    user_id: &str,
    role: &str,
) -> anyhow::Result<()> {
    client
        .put(format!("{base}/v1/sessions/{session_id}/members/{user_id}"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({ "role": role }))
        .send()
        .await?
        .error_for_status()
        .context("adding a member")?;
    Ok(())
}

/// Starts (takes live) the session.
pub async fn start_session(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    session_id: &str,
) -> anyhow::Result<()> {
    client
        .post(format!("{base}/v1/sessions/{session_id}:start"))
        .bearer_auth(admin_token)
        .send()
        .await?
        .error_for_status()
        .context("starting a session")?;
    Ok(())
}

/// Joins the session as a participant on `device`: the body of the 201 (the WebSocket's and
/// the SFU's URLs and tokens).
pub async fn join(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    session_id: &str,
    device: &str,
) -> anyhow::Result<serde_json::Value> {
    let response = client
        .post(format!("{base}/v1/sessions/{session_id}/participants:join"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "device": device }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "participants:join answered {status}: {body}"
    );
    Ok(body)
}

/// The string at `pointer` (`/ws/url`) of a JSON answer, or an error naming it.
pub fn field(body: &serde_json::Value, pointer: &str) -> anyhow::Result<String> {
    Ok(body
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .with_context(|| format!("no {pointer} in the answer"))?
        .to_owned())
}
