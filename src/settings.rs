//! Typed settings: defaults, then a TOML config file, then `LIVESURGERY_…` environment
//! variables, then flags (see [`crate::cli::config_file`]). Each default is written once, in the
//! `#[arg]` attributes below, which `--help` shows. Secrets never print: see [`DatabaseUrl`] and
//! [`Secret`].

use std::fmt;

/// The default event log and read-model database: a SQLite file under `./data`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/livesurgery.db";
/// The default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// The default folder for state the server generates itself (signing keys, checkpoints).
pub const DEFAULT_DATA_DIR: &str = "data";

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

/// A secret from configuration (a signing key): never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for use only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < 32 {
            Err("a signing key needs at least 32 characters".to_owned())
        } else {
            Ok(Secret(s.to_owned()))
        }
    }
}

/// Settings of the HTTP API: tokens, limits, read-your-writes, what `participants:join` hands out.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiSettings {
    /// Folder for state the server generates itself (the token signing key when none is given).
    #[arg(long, env = "LIVESURGERY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: std::path::PathBuf,
    /// A web app build to serve at `/` (`npm run build` in `frontend/` writes `frontend/dist`),
    /// instead of the one embedded in the binary. Default: the embedded app; in a binary built
    /// without it, `frontend/dist` when that holds a build.
    #[arg(long, env = "LIVESURGERY_WEB_DIR")]
    pub web_dir: Option<std::path::PathBuf>,
    /// Demo mode: on an empty database, seed synthetic personas (passwords printed once), a live
    /// demo session and synthetic feeds published by the server itself; on later starts, restart
    /// the feeds. Refuses a database that holds other data. `--demo` alone means `true`.
    #[arg(long, env = "LIVESURGERY_DEMO", default_value_t = false, num_args = 0..=1,
        default_missing_value = "true", action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
    /// HS256 key that signs every token (32+ characters). When absent, a random key is
    /// generated once and kept in DATA_DIR/jwt.key. Several server processes must share one.
    #[arg(long, env = "LIVESURGERY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "LIVESURGERY_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token, in seconds (each use replaces it with a new one).
    #[arg(long, env = "LIVESURGERY_REFRESH_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Idle timeout of a signed-in session, in seconds: a refresh this long after the last one
    /// (or the sign-in) is refused with 401 `session_idle_timeout`.
    #[arg(long, env = "LIVESURGERY_SESSION_IDLE_TIMEOUT", default_value_t = 3600)]
    pub session_idle_timeout: u64,
    /// Absolute timeout of a signed-in session, in seconds: a refresh this long after the
    /// sign-in is refused with 401 `session_absolute_timeout`.
    #[arg(long, env = "LIVESURGERY_SESSION_ABSOLUTE_TIMEOUT", default_value_t = 12 * 3600)]
    pub session_absolute_timeout: u64,
    /// Lifetime of the WebSocket and SFU tokens that `participants:join` hands out, in seconds.
    #[arg(long, env = "LIVESURGERY_JOIN_TOKEN_TTL_SECS", default_value_t = 600)]
    pub join_token_ttl_secs: u64,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "LIVESURGERY_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Login attempts allowed per username from one client address per minute (then 429 with
    /// Retry-After); wrong passwords past five in a row add an exponential delay for that pair.
    #[arg(
        long,
        env = "LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE",
        default_value_t = 10
    )]
    pub login_per_username_per_minute: u32,
    /// Login attempts allowed per client address per minute.
    #[arg(
        long,
        env = "LIVESURGERY_LOGIN_PER_ADDRESS_PER_MINUTE",
        default_value_t = 60
    )]
    pub login_per_address_per_minute: u32,
    /// Writes allowed per user per minute, over REST (WHIP/WHEP included) and WebSocket
    /// messages together (then 429 / `rate_limited` with Retry-After); 0: no limit.
    #[arg(
        long,
        env = "LIVESURGERY_WRITES_PER_USER_PER_MINUTE",
        default_value_t = 600
    )]
    pub writes_per_user_per_minute: u32,
    /// Writes allowed per client address per minute, every user together; 0: no limit.
    #[arg(
        long,
        env = "LIVESURGERY_WRITES_PER_ADDRESS_PER_MINUTE",
        default_value_t = 6000
    )]
    pub writes_per_address_per_minute: u32,
    /// Participants one user may have present at once in one session; a further
    /// `participants:join` gets 429 `too_many_participants`.
    #[arg(
        long,
        env = "LIVESURGERY_MAX_PARTICIPANTS_PER_USER",
        default_value_t = 5
    )]
    pub max_participants_per_user: u32,
    /// A participant whose WebSocket has not connected this long after the join leaves with
    /// reason `timed_out`, in seconds.
    #[arg(
        long,
        env = "LIVESURGERY_JOIN_CONNECT_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub join_connect_timeout_secs: u64,
    /// How long a read waits for the projections to reach `X-Min-Position`, in milliseconds.
    #[arg(long, env = "LIVESURGERY_READ_WAIT_MS", default_value_t = 5000)]
    pub read_wait_ms: u64,
    /// `/readyz` fails when the projections are more than this many events behind the log.
    #[arg(long, env = "LIVESURGERY_READY_MAX_LAG", default_value_t = 1000)]
    pub ready_max_lag: u64,
    /// The server's public base URL (`https://or.example.org`), for the WebSocket and WHIP/WHEP
    /// URLs that `participants:join` returns; default: taken from the request's Host.
    #[arg(long, env = "LIVESURGERY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// This node's own base URL for WHIP/WHEP (`https://node-a.or.example.org`), reachable by
    /// clients directly, not through a load balancer that may send them to another node: the
    /// URL `participants:join` on any node hands out while a session's media is placed here.
    /// Default: the public URL, else the bound address.
    #[arg(long, env = "LIVESURGERY_MEDIA_URL")]
    pub media_url: Option<String>,
    /// Whether this node holds sessions' media. `false`: an API-only node, which places
    /// sessions on a live media node (never on itself) and refuses WHIP/WHEP.
    #[arg(long, env = "LIVESURGERY_MEDIA_NODE", default_value_t = true, action = clap::ArgAction::Set)]
    pub media_node: bool,
    /// How often this node renews its row among the media nodes, in ms; a node that misses
    /// three is gone, and the sessions placed on it are placed again.
    #[arg(long, env = "LIVESURGERY_NODE_HEARTBEAT_MS", default_value_t = 2000)]
    pub node_heartbeat_ms: u64,
    /// ICE servers handed to clients, comma-separated (`stun:stun.example.org:3478,...`).
    #[arg(long, env = "LIVESURGERY_ICE_SERVERS", value_delimiter = ',')]
    pub ice_servers: Vec<String>,
    /// WebSocket: a connection that sends nothing (no message, no pong) for this long is closed
    /// (code 4010) and its participant leaves with reason `timed_out`, in seconds.
    #[arg(
        long,
        env = "LIVESURGERY_WS_HEARTBEAT_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub ws_heartbeat_timeout_secs: u64,
    /// WebSocket: messages queued for one connection; a client that falls this far behind is
    /// disconnected (code 4008) and may resume.
    #[arg(long, env = "LIVESURGERY_WS_QUEUE", default_value_t = 256)]
    pub ws_queue: usize,
    /// WebSocket: largest message accepted from a client, in bytes (larger: close code 1009).
    #[arg(long, env = "LIVESURGERY_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_message_bytes: usize,
    /// WebSocket: messages per second a connection may send (then `error` `rate_limited`).
    #[arg(long, env = "LIVESURGERY_WS_RATE_PER_SEC", default_value_t = 20)]
    pub ws_rate_per_sec: u32,
    /// WebSocket: burst allowance on top of the rate.
    #[arg(long, env = "LIVESURGERY_WS_RATE_BURST", default_value_t = 40)]
    pub ws_rate_burst: u32,
    /// WebSocket: a `resume` further behind than this many events of the session gets a fresh
    /// `welcome` instead of the missed events.
    #[arg(long, env = "LIVESURGERY_WS_RESUME_WINDOW", default_value_t = 1000)]
    pub ws_resume_window: u64,
    /// WebSocket: how long the server waits for a first `resume` before sending `welcome`, in
    /// milliseconds (any other first message gets the welcome at once).
    #[arg(long, env = "LIVESURGERY_WS_RESUME_WAIT_MS", default_value_t = 250)]
    pub ws_resume_wait_ms: u64,
    /// SFU: the UDP address of the first media loop (`ip:port`); loop N listens on port + N
    /// (port 0: each loop picks one).
    #[arg(long, env = "LIVESURGERY_SFU_UDP_BIND", default_value = "0.0.0.0:3480")]
    pub sfu_udp_bind: String,
    /// SFU: media loops, each a thread with its own UDP port, peers spread across them;
    /// 0 (the default) runs one per CPU core.
    #[arg(long, env = "LIVESURGERY_SFU_MEDIA_THREADS", default_value_t = 0)]
    pub sfu_media_threads: usize,
    /// SFU: the address clients are told to send media to (the host candidate), for a server
    /// behind 1:1 NAT; default: the bound address, or the address of the default route when
    /// bound to 0.0.0.0.
    #[arg(long, env = "LIVESURGERY_SFU_PUBLIC_IP")]
    pub sfu_public_ip: Option<std::net::IpAddr>,
    /// SFU: peer connections (WHIP and WHEP together) one participant may hold at once; one
    /// more is refused 409 `too_many_peers`.
    #[arg(
        long,
        env = "LIVESURGERY_SFU_MAX_PEERS_PER_PARTICIPANT",
        default_value_t = 8
    )]
    pub sfu_max_peers_per_participant: usize,
    /// SFU: peer connections one session may hold at once; one more is refused 409
    /// `session_peers_full`.
    #[arg(
        long,
        env = "LIVESURGERY_SFU_MAX_PEERS_PER_SESSION",
        default_value_t = 200
    )]
    pub sfu_max_peers_per_session: usize,
    /// SFU: a peer connection whose ICE and DTLS are not up this long after its offer is
    /// removed (its disconnect recorded with reason `setup_timeout`), in seconds.
    #[arg(long, env = "LIVESURGERY_SFU_SETUP_TIMEOUT", default_value_t = 15)]
    pub sfu_setup_timeout: u64,
    /// SFU: a publisher's video that sends nothing this long while its connection stays up is
    /// marked stalled (`SourceStalled`; its next media records `SourceResumed`), in ms.
    #[arg(long, env = "LIVESURGERY_SFU_STALL_AFTER_MS", default_value_t = 2000)]
    pub sfu_stall_after_ms: u64,
    /// TURN servers handed to clients with time-limited credentials, comma-separated
    /// (`turn:turn.example.org:3478?transport=udp,turns:...`); needs `--turn-secret`.
    #[arg(long, env = "LIVESURGERY_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,
    /// The secret shared with coturn (`static-auth-secret`) that signs TURN credentials.
    #[arg(long, env = "LIVESURGERY_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,
    /// Lifetime of a TURN credential, in seconds.
    #[arg(long, env = "LIVESURGERY_TURN_TTL_SECS", default_value_t = 3600)]
    pub turn_ttl_secs: u64,
    /// Where archives are stored: `filesystem` (under DATA_DIR/archives) or `s3`.
    #[arg(long, env = "LIVESURGERY_STORAGE", value_enum, default_value_t = StorageKind::Filesystem)]
    pub storage: StorageKind,
    /// S3: the endpoint URL (`https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`).
    #[arg(long, env = "LIVESURGERY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3: the region (any name for MinIO or Ceph).
    #[arg(long, env = "LIVESURGERY_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3: the bucket archives go to (it must exist).
    #[arg(long, env = "LIVESURGERY_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3: the access key id.
    #[arg(long, env = "LIVESURGERY_S3_ACCESS_KEY")]
    pub s3_access_key: Option<String>,
    /// S3: the secret access key.
    #[arg(long, env = "LIVESURGERY_S3_SECRET_KEY", hide_env_values = true)]
    pub s3_secret_key: Option<Credential>,
    /// S3: path-style addressing (`endpoint/bucket/key`), as MinIO and Ceph need; off means
    /// virtual-hosted style (`bucket.endpoint/key`), as AWS prefers.
    #[arg(long, env = "LIVESURGERY_S3_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// How long an archive is kept before the lifecycle task deletes it (unless on legal hold),
    /// in days.
    #[arg(long, env = "LIVESURGERY_ARCHIVE_RETENTION_DAYS", default_value_t = 30)]
    pub archive_retention_days: u32,
    /// How often the lifecycle task looks for expired archives, in seconds.
    #[arg(
        long,
        env = "LIVESURGERY_ARCHIVE_GC_INTERVAL_SECS",
        default_value_t = 3600
    )]
    pub archive_gc_interval_secs: u64,
    /// Recording: the target length of a media segment, in seconds (2 to 6); segments are cut
    /// at the first keyframe after it.
    #[arg(long, env = "LIVESURGERY_RECORDING_SEGMENT_SECS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(2..=6))]
    pub recording_segment_secs: u64,
    /// Recording: how many frames may wait for the recorder, per recorded source, before it
    /// drops (and reports) rather than hold up forwarding.
    #[arg(long, env = "LIVESURGERY_RECORDING_QUEUE", default_value_t = 1024)]
    pub recording_queue: usize,
    /// Recording: how many archives are made playable at once after recording (ffmpeg jobs);
    /// 0 means one per CPU core.
    #[arg(long, env = "LIVESURGERY_PROCESSING_JOBS", default_value_t = 0)]
    pub processing_jobs: usize,
    /// Lifetime of an archive playback URL, in seconds.
    #[arg(long, env = "LIVESURGERY_PLAYBACK_URL_TTL_SECS", default_value_t = 300)]
    pub playback_url_ttl_secs: u64,
    /// Origins (`https://or.example.org`) whose pages may open the WebSocket and read the API
    /// cross-origin (CORS), comma-separated; any other `Origin` is refused. Default: none
    /// besides the server's own origin (`--public-url`, else the request's scheme and Host).
    #[arg(long, env = "LIVESURGERY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// TLS: the certificate chain (PEM) to serve HTTPS with, with `--tls-key`. Default: none,
    /// plain HTTP (terminate TLS in front of the server then).
    #[arg(long, env = "LIVESURGERY_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS: the private key (PEM: PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, env = "LIVESURGERY_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve the web app's source maps (`/assets/*.map`), for debugging; off, they answer 404
    /// even when the build holds them.
    #[arg(long, env = "LIVESURGERY_WEB_SOURCE_MAPS", default_value_t = false, action = clap::ArgAction::Set)]
    pub web_source_maps: bool,
    /// Audit: the Ed25519 key (PKCS#8 PEM) that signs checkpoints of the log's head, kept
    /// outside the database; created (mode 0600) on first start when absent. Default:
    /// DATA_DIR/checkpoint.key.
    #[arg(long, env = "LIVESURGERY_CHECKPOINT_KEY")]
    pub checkpoint_key: Option<std::path::PathBuf>,
    /// Audit: the append-only file of signed checkpoints (JSON lines). Default:
    /// checkpoints.jsonl beside the checkpoint key.
    #[arg(long, env = "LIVESURGERY_CHECKPOINT_FILE")]
    pub checkpoint_file: Option<std::path::PathBuf>,
    /// Audit: how often the log's head is signed, in seconds (also at start and on shutdown);
    /// 0 signs at start and on shutdown only.
    #[arg(long, env = "LIVESURGERY_CHECKPOINT_INTERVAL", default_value_t = 300)]
    pub checkpoint_interval: u64,
}

impl ApiSettings {
    /// Whether a browser page of `origin` may use this server (WebSocket, CORS): the server's
    /// own origin (`own`: `--public-url`, else the request's scheme and Host) or one of
    /// `--allowed-origins`. Compared without case and trailing `/`, as browsers send them.
    pub fn origin_allowed(&self, origin: &str, own: &str) -> bool {
        let normal = |o: &str| o.trim().trim_end_matches('/').to_ascii_lowercase();
        let origin = normal(origin);
        let own = match &self.public_url {
            Some(url) => url_origin(url),
            None => normal(own),
        };
        origin == own
            || self
                .allowed_origins
                .iter()
                .any(|allowed| normal(allowed) == origin)
    }

    /// The server's base URL for links it hands out: the public URL, else the scheme and host
    /// the request reached it by.
    pub fn public_base(&self, scheme: &str, host: &str) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{scheme}://{host}"),
        }
    }

    /// Whether the server terminates TLS itself (`--tls-cert` and `--tls-key`).
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

/// The origin (`scheme://host[:port]`, lowercase) of a URL such as `--public-url`.
fn url_origin(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => url.trim_end_matches('/').to_owned(),
    }
}

/// Where archives are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// A folder, DATA_DIR/archives (the embedded default).
    Filesystem,
    /// An S3-compatible object store (AWS S3, MinIO, Ceph) through `rust-s3`.
    S3,
}

/// A credential from configuration (an S3 secret key): never printed. Unlike [`Secret`], no
/// length is required.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// The credential itself, for use only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(***)")
    }
}

impl std::str::FromStr for Credential {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            Err("must not be empty".to_owned())
        } else {
            Ok(Credential(s.to_owned()))
        }
    }
}

impl Default for ApiSettings {
    /// The defaults of the `#[arg]` attributes, read from clap without the environment.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let command =
            ApiSettings::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
        command
            .try_get_matches_from(["defaults"])
            .and_then(|matches| ApiSettings::from_arg_matches(&matches))
            // Every setting has a default or may be absent, and the defaults parse (a test
            // checks): nothing given cannot fail.
            .expect("the defaults of ApiSettings parse")
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub http_addr: String,
    pub api: ApiSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let defaults = ApiSettings::default();
        assert_eq!(defaults.sfu_udp_bind, "0.0.0.0:3480", "as the README says");
        assert_eq!(defaults.data_dir, std::path::Path::new("data"));
        assert_eq!(defaults.refresh_token_ttl_secs, 604_800);
        assert_eq!(defaults.max_body_bytes, 65_536);
        assert!(defaults.jwt_secret.is_none() && defaults.ice_servers.is_empty());
        assert!(
            defaults.web_dir.is_none(),
            "the embedded app unless a folder is given"
        );
    }

    #[test]
    fn only_the_own_origin_and_the_listed_ones_are_allowed() {
        let mut settings = ApiSettings::default();
        assert!(settings.origin_allowed("http://127.0.0.1:8080", "http://127.0.0.1:8080"));
        assert!(!settings.origin_allowed("https://evil.example", "http://127.0.0.1:8080"));
        settings.public_url = Some("https://OR.example.org/".into());
        assert!(settings.origin_allowed("https://or.example.org", "http://10.0.0.1:8080"));
        assert!(!settings.origin_allowed("http://10.0.0.1:8080", "http://10.0.0.1:8080"));
        settings.allowed_origins = vec!["https://viewer.example.org/".into()];
        assert!(settings.origin_allowed("https://viewer.example.org", "x"));
        assert!(!settings.origin_allowed("null", "x"));
    }

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
