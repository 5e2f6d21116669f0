//! The JSON shapes of the API, as documented in `schemas/openapi.json`. Kept apart from the
//! domain and read-model types so the contract changes only when this file does.
//!
//! One file per resource; everything is re-exported here, so `dto::X` is the one path to name a
//! shape by. What several resources share (pages, cursors, the 202 answer) lives in this file.

mod admin;
mod archives;
mod audit;
mod auth;
mod layout;
mod participants;
mod replay;
mod sessions;
mod setup;
mod users;

#[cfg(test)]
mod fuzz;

pub use admin::*;
pub use archives::*;
pub use audit::*;
pub use auth::*;
pub use layout::*;
pub use participants::*;
pub use replay::*;
pub use sessions::*;
pub use setup::*;
pub use users::*;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `null` and absent differ: absent leaves a field alone, `null` clears it.
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Parses an opaque cursor (a log position, or a username for users).
pub fn cursor_position(
    cursor: &Option<String>,
) -> Result<Option<u64>, crate::api::error::ApiError> {
    match cursor {
        None => Ok(None),
        Some(c) => c.parse::<u64>().map(Some).map_err(|_| {
            crate::api::error::ApiError::bad_request(
                "invalid_cursor",
                "cursor is not one this API gave out",
            )
        }),
    }
}

/// A write that is in the log but not yet visible in the read models (202).
#[derive(Debug, Serialize, ToSchema)]
pub struct WriteAccepted {
    /// The log position the write reached: send it as `X-Min-Position` to read it.
    pub position: u64,
    pub message: String,
}
