//! First start: `/v1/setup`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether the first-start setup page can be used.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True while no admin exists and a setup link printed at start-up is unused.
    pub needed: bool,
}

/// The first admin, created with the token of the setup link printed at start-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The `token` of the setup link (`/setup?token=…`) in the server's start-up log.
    pub token: String,
    /// 3-64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
    pub username: String,
    pub display_name: String,
    /// At least 12 characters.
    pub password: String,
}
