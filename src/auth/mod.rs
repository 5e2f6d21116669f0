//! Who the caller is: password hashes (argon2, kept outside the log), signed tokens (HS256
//! JWTs for access, WebSocket, SFU and archive playback), refresh tokens and their
//! families (reuse detection, logout, session timeouts), and the sign-in throttling.

mod credentials;
mod families;
mod rate_limit;
pub mod tokens;

pub use credentials::{Credentials, CredentialsError, dummy_hash, hash_password, verify_password};
pub use families::{Redeemed, SessionLimits};
pub use rate_limit::{KeyedRate, LoginLimiter, Throttled};
pub use tokens::{
    AccessClaims, JoinClaims, Keys, MediaPermission, PlaybackClaims, TokenError, load_or_create_key,
};
