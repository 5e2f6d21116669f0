//! Time-limited TURN credentials in coturn's shared-secret scheme (`use-auth-secret`): the
//! username is `<expiry unix time>:<participant id>`, the credential base64(HMAC-SHA1(secret,
//! username)). coturn recomputes the credential from the same secret, so nothing is stored and
//! a credential stops working at its expiry. `ops/coturn/turnserver.conf` matches.

use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::settings::ApiSettings;

/// One ICE server, in the shape of WebRTC's `RTCIceServer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    /// TURN only: `<expiry unix time>:<participant id>` (coturn's shared-secret scheme).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN only: base64 HMAC-SHA1 of the username, valid until the expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The ICE servers for a participant: STUN as configured, TURN with a credential that expires
/// after `--turn-ttl-secs`.
pub fn ice_servers(settings: &ApiSettings, participant_id: Uuid) -> Vec<IceServer> {
    let mut servers: Vec<IceServer> = settings
        .ice_servers
        .iter()
        .map(|url| IceServer {
            urls: vec![url.clone()],
            username: None,
            credential: None,
        })
        .collect();
    if let Some(secret) = &settings.turn_secret
        && !settings.turn_urls.is_empty()
    {
        let expires = Utc::now().timestamp() + settings.turn_ttl_secs as i64;
        let c = credential(secret.expose(), participant_id, expires);
        servers.push(IceServer {
            urls: settings.turn_urls.clone(),
            username: Some(c.username),
            credential: Some(c.credential),
        });
    }
    servers
}

/// One username/credential pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub credential: String,
}

/// The credential for `participant` valid until `expires_at` (unix seconds).
pub fn credential(secret: &str, participant: Uuid, expires_at: i64) -> TurnCredential {
    let username = format!("{expires_at}:{participant}");
    TurnCredential {
        credential: sign(secret, &username),
        username,
    }
}

fn sign(secret: &str, username: &str) -> String {
    // HMAC accepts a key of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_2202_hmac_sha1_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?",
        // HMAC-SHA1 effcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").expect("hex"));
        assert_eq!(sign("Jefe", "what do ya want for nothing?"), expected);
    }

    #[test]
    fn the_username_carries_expiry_and_participant() {
        let participant = Uuid::nil();
        let c = credential("s3cret", participant, 1_800_000_000);
        assert_eq!(
            c.username,
            "1800000000:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(c.credential, sign("s3cret", &c.username));
        assert_ne!(
            c.credential,
            credential("other", participant, 1_800_000_000).credential
        );
    }
}
