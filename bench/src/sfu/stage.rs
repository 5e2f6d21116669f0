//! The SFU suite's stage over REST (a live session, a surgeon who publishes, an observer who
//! subscribes many times) and WHIP/WHEP's one request.

use anyhow::Context;
use str0m::change::{SdpAnswer, SdpOffer};

use crate::rest::{
    ADMIN_PASSWORD, ADMIN_USERNAME, add_member, create_session, create_user, field, join, sign_in,
    start_session,
};

/// A live session with a surgeon (the publisher) and an observer (every subscriber: one user
/// may join as many participants as it likes).
pub(super) struct Stage {
    base: String,
    session_id: String,
    pub surgeon_token: String,
    pub observer_token: String,
    admin_token: String,
    /// The surgeon's and the observer's user ids.
    members: [String; 2],
}

/// What `participants:join` hands out for the SFU.
pub(super) struct SfuAccess {
    pub whip_url: String,
    pub whep_url: String,
    pub token: String,
}

impl Stage {
    /// Creates the session and its two members as the admin, and starts it.
    pub(super) async fn prepare(http: &reqwest::Client, base: &str) -> anyhow::Result<Stage> {
        let admin = sign_in(http, base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
        let session_id = create_session(http, base, &admin, "SFU bench session").await?;
        let mut tokens = Vec::new();
        let mut ids = Vec::new();
        for (name, role) in [
            ("bench-sfu-surgeon", "surgeon"),
            ("bench-sfu-observer", "observer"),
        ] {
            let id = create_user(http, base, &admin, name, role).await?;
            add_member(http, base, &admin, &session_id, &id, role).await?;
            tokens.push(sign_in(http, base, name, ADMIN_PASSWORD).await?);
            ids.push(id);
        }
        start_session(http, base, &admin, &session_id).await?;
        let observer_token = tokens.pop().context("no observer")?;
        let surgeon_token = tokens.pop().context("no surgeon")?;
        let observer_id = ids.pop().context("no observer")?;
        let surgeon_id = ids.pop().context("no surgeon")?;
        Ok(Stage {
            base: base.to_owned(),
            session_id,
            surgeon_token,
            observer_token,
            admin_token: admin,
            members: [surgeon_id, observer_id],
        })
    }

    /// Another live session with the same surgeon and observer.
    pub(super) async fn another(&self, http: &reqwest::Client) -> anyhow::Result<Stage> {
        let (base, admin) = (&self.base, &self.admin_token);
        let session_id = create_session(http, base, admin, "SFU bench session").await?;
        for (id, role) in self.members.iter().zip(["surgeon", "observer"]) {
            add_member(http, base, admin, &session_id, id, role).await?;
        }
        start_session(http, base, admin, &session_id).await?;
        Ok(Stage {
            base: base.clone(),
            session_id,
            surgeon_token: self.surgeon_token.clone(),
            observer_token: self.observer_token.clone(),
            admin_token: admin.clone(),
            members: self.members.clone(),
        })
    }

    /// The session's id.
    pub(super) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Joins as a participant (with `token`, the surgeon's or the observer's) on `device`.
    pub(super) async fn join(
        &self,
        http: &reqwest::Client,
        token: &str,
        device: &str,
    ) -> anyhow::Result<SfuAccess> {
        let body = join(http, &self.base, token, &self.session_id, device).await?;
        Ok(SfuAccess {
            whip_url: field(&body, "/sfu/whip_url")?,
            whep_url: field(&body, "/sfu/whep_url")?,
            token: field(&body, "/sfu/token")?,
        })
    }
}

/// POSTs an SDP offer (WHIP or WHEP): the answer of a 201.
pub(super) async fn post_offer(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    offer: &SdpOffer,
) -> anyhow::Result<SdpAnswer> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/sdp")
        .body(offer.to_sdp_string())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "POST {url} answered {status}: {body}"
    );
    SdpAnswer::from_sdp_string(&body).with_context(|| format!("the SDP answer of {url}"))
}
