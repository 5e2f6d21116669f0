//! Typed settings: defaults, then `LIVESURGERY_…` environment variables, then flags (clap
//! layers them in that order). Secrets never print: see [`DatabaseUrl`].

use std::fmt;

/// The default event log and read-model database: a SQLite file under `./data`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/livesurgery.db";
/// The default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// A database URL whose password never appears in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::store::redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let known = ["sqlite:", "postgres:", "postgresql:"];
        if known.iter().any(|scheme| s.starts_with(scheme)) {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err("expected a sqlite://… or postgres://… URL".to_owned())
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub http_addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_prints() {
        let url: DatabaseUrl = "postgres://app:hunter2@db/ls".parse().unwrap();
        assert!(!format!("{url:?} {url}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://app:hunter2@db/ls");
    }

    #[test]
    fn an_unknown_scheme_is_refused_with_a_hint() {
        let err = "mysql://x".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.contains("sqlite://"));
    }
}
