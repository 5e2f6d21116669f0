//! A real S3-compatible server for the tests: `s3s-fs` (installed by `.ci/install-s3.sh`), which
//! checks request signatures, started on a free port with its own folder; and the stores the
//! conformance suite runs against.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use livesurgery::settings::{ApiSettings, StorageKind};
use livesurgery::storage::{self, BlobStore};
use tokio::process::{Child, Command};

/// Set to `1` (as CI does), a missing s3s-fs fails the tests instead of skipping them.
pub const REQUIRE_ENV: &str = "LIVESURGERY_REQUIRE_S3";
/// The s3s-fs binary to run; default: `s3s-fs` on PATH, else in ~/.cargo/bin.
pub const BINARY_ENV: &str = "LIVESURGERY_S3S_FS";

pub const ACCESS_KEY: &str = "livesurgery-test";
pub const SECRET_KEY: &str = "test-secret-key-that-signs-every-request";
pub const BUCKET: &str = "archives";

/// The s3s-fs binary, if there is one.
fn binary() -> Option<&'static PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os(BINARY_ENV) {
                return Some(PathBuf::from(path)).filter(|path| path.is_file());
            }
            let on_path = std::env::var_os("PATH")
                .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
                .unwrap_or_default();
            let cargo_bin = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
                .map(|cargo| cargo.join("bin"));
            on_path
                .into_iter()
                .chain(cargo_bin)
                .map(|dir| dir.join("s3s-fs"))
                .find(|candidate| candidate.is_file())
        })
        .as_ref()
}

/// Whether `test` can run: s3s-fs is installed. Otherwise it says so loudly and the test
/// returns, unless [`REQUIRE_ENV`] is `1`: then it fails.
pub fn s3_ready(test: &str) -> bool {
    let missing = binary()
        .is_none()
        .then(|| "s3s-fs not installed".to_owned());
    crate::helpers::prerequisites_met(test, missing, REQUIRE_ENV, "bash .ci/install-s3.sh")
}

/// A running s3s-fs on 127.0.0.1 with one bucket, [`BUCKET`]; killed when dropped. It can be
/// stopped and started again on the same port and folder (an outage).
pub struct S3Server {
    pub port: u16,
    root: tempfile::TempDir,
    child: Option<Child>,
}

impl S3Server {
    /// Starts a server (call [`s3_ready`] first) and waits until it answers.
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().expect("a folder for s3s-fs");
        // s3s-fs keeps each bucket as a folder under its root.
        std::fs::create_dir(root.path().join(BUCKET)).expect("the bucket's folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = S3Server {
            port,
            root,
            child: None,
        };
        server.restart().await;
        server
    }

    /// Kills the server (as a crash or a network cut would); its objects stay in its folder.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port and folder; returns once it answers.
    pub async fn restart(&mut self) {
        self.stop().await;
        let binary = binary().expect("s3_ready() was checked first");
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        self.child = Some(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "s3s-fs did not answer on port {} within 15 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings that point the server's storage at this S3 server, with this secret key.
    pub fn settings_with_secret(&self, secret_key: &str) -> ApiSettings {
        ApiSettings {
            storage: StorageKind::S3,
            s3_endpoint: Some(self.endpoint()),
            s3_bucket: Some(BUCKET.into()),
            s3_access_key: Some(ACCESS_KEY.into()),
            s3_secret_key: Some(secret_key.parse().expect("a secret key")),
            s3_path_style: true,
            ..ApiSettings::default()
        }
    }

    /// A store on this server, opened from the settings as the server opens its own.
    pub fn store(&self) -> Arc<dyn BlobStore> {
        storage::open(&self.settings_with_secret(SECRET_KEY)).expect("opening the S3 store")
    }
}

/// A store under test and what it needs to stay alive.
pub struct Backend {
    pub store: Arc<dyn BlobStore>,
    /// A scratch folder for the test's own files.
    pub scratch: tempfile::TempDir,
    /// The filesystem store's data folder (`DATA_DIR`).
    pub data_dir: Option<tempfile::TempDir>,
    /// The S3 server, running as long as the backend lives.
    _server: Option<S3Server>,
}

/// Every backend available here: the filesystem always, S3 when s3s-fs is installed (else a
/// printed skip, or a failure under `LIVESURGERY_REQUIRE_S3=1`).
pub async fn all_backends(test: &str) -> Vec<Backend> {
    let data_dir = tempfile::tempdir().expect("a data folder");
    let settings = ApiSettings {
        data_dir: data_dir.path().to_owned(),
        ..ApiSettings::default()
    };
    let mut backends = vec![Backend {
        store: storage::open(&settings).expect("opening the filesystem store"),
        scratch: tempfile::tempdir().expect("a scratch folder"),
        data_dir: Some(data_dir),
        _server: None,
    }];
    if s3_ready(test) {
        let server = S3Server::start().await;
        backends.push(Backend {
            store: server.store(),
            scratch: tempfile::tempdir().expect("a scratch folder"),
            data_dir: None,
            _server: Some(server),
        });
    }
    backends
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deterministic content of `len` bytes, different for each `seed`.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
