//! `livesurgery-bench upload`: how fast recorded segments reach S3 through the server's upload
//! path (`Spool` + `S3Store`: a move into the spool, a sidecar fsynced, a streamed upload
//! hashed on the way, then `on_stored`), beside a plain `rust-s3` `put_object` loop of the same
//! bytes to the same server in the same run. The server is an `s3s-fs` this suite starts on
//! 127.0.0.1 with a scratch folder (installed by `.ci/install-s3.sh`; without it the suite
//! says so and measures nothing).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use clap::Args;
use livesurgery::settings::Credential;
use livesurgery::storage::{BlobStore, OnStored, PutReceipt, S3Config, S3Store, Spool, SpoolItem};
use rand::RngCore;

const ACCESS_KEY: &str = "livesurgery-bench";
const SECRET_KEY: &str = "bench-secret-key-that-signs-every-request";
const BUCKET: &str = "archives";

/// Options of the upload suite.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Segments uploaded per scenario.
    #[arg(long, default_value_t = 64)]
    pub files: usize,
    /// Size of each segment, in KiB (a 4 s segment at 2 Mbit/s is about 1 MiB).
    #[arg(long, default_value_t = 1024)]
    pub file_kib: usize,
    /// The s3s-fs binary; default: `s3s-fs` on PATH, else in ~/.cargo/bin.
    #[arg(long, env = "LIVESURGERY_S3S_FS")]
    pub s3s_fs: Option<PathBuf>,
}

/// Runs the upload suite and prints the figures.
pub async fn run(args: &UploadArgs) -> anyhow::Result<()> {
    let Some(binary) = s3s_fs(args.s3s_fs.as_deref()) else {
        println!("upload: SKIPPED: s3s-fs not installed (bash .ci/install-s3.sh)");
        return Ok(());
    };
    let scratch = tempfile::Builder::new()
        .prefix("livesurgery-bench-upload")
        .tempdir_in(".")?;
    let server = S3sFs::start(&binary, &scratch.path().join("s3")).await?;
    let config = S3Config {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        bucket: BUCKET.into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY
            .parse::<Credential>()
            .map_err(anyhow::Error::msg)?,
        path_style: true,
    };
    let store: Arc<dyn BlobStore> = Arc::new(S3Store::new(config)?);
    let mut bucket = s3::Bucket::new(
        BUCKET,
        s3::Region::Custom {
            region: "us-east-1".into(),
            endpoint: server.endpoint(),
        },
        s3::creds::Credentials::new(Some(ACCESS_KEY), Some(SECRET_KEY), None, None, None)?,
    )?;
    bucket.set_path_style();

    let mut payloads = vec![vec![0u8; args.file_kib * 1024]; args.files];
    for payload in &mut payloads {
        rand::rng().fill_bytes(payload);
    }
    let total = (args.files * args.file_kib * 1024) as f64;
    let rate = |elapsed: Duration| total / 1e6 / elapsed.as_secs_f64();
    println!(
        "upload throughput to s3s-fs on 127.0.0.1, {} segments of {} KiB, one at a time:",
        args.files, args.file_kib
    );

    // The baseline runs before and after, and the mean is used: the machine's speed drifts.
    let before = put_object_loop(&bucket, &payloads, "baseline-1").await?;
    let recording = scratch.path().join("recording");
    let direct = put_file_loop(&*store, &payloads, &recording).await?;
    let spooled = spool_run(store.clone(), &payloads, scratch.path()).await?;
    let after = put_object_loop(&bucket, &payloads, "baseline-2").await?;
    let baseline = (rate(before) + rate(after)) / 2.0;

    println!(
        "  baseline: rust-s3 put_object loop, bytes in memory: {baseline:>7.1} MB/s ({:.1} / {:.1})",
        rate(before),
        rate(after)
    );
    println!(
        "  S3Store::put_file loop (streamed from disk, SHA-256): {:>7.1} MB/s = {:.2}x baseline",
        rate(direct),
        rate(direct) / baseline
    );
    println!(
        "  Spool + S3Store, enqueue to flushed:                  {:>7.1} MB/s = {:.2}x baseline",
        rate(spooled),
        rate(spooled) / baseline
    );
    Ok(())
}

/// The baseline: `put_object` of each payload, one after another.
async fn put_object_loop(
    bucket: &s3::Bucket,
    payloads: &[Vec<u8>],
    prefix: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for (n, payload) in payloads.iter().enumerate() {
        bucket
            .put_object(format!("{prefix}/{n:08}.webm"), payload)
            .await
            .context("baseline put_object")?;
    }
    Ok(started.elapsed())
}

/// `S3Store::put_file` of each payload, written to disk first (not timed).
async fn put_file_loop(
    store: &dyn BlobStore,
    payloads: &[Vec<u8>],
    folder: &Path,
) -> anyhow::Result<Duration> {
    let files = write_segments(payloads, folder, "direct")?;
    let started = Instant::now();
    for (n, file) in files.iter().enumerate() {
        store
            .put_file(&format!("direct/{n:08}.webm"), file, "video/webm")
            .await?;
    }
    Ok(started.elapsed())
}

/// The server's path: segments written to disk (not timed), enqueued, then `flushed`.
async fn spool_run(
    store: Arc<dyn BlobStore>,
    payloads: &[Vec<u8>],
    scratch: &Path,
) -> anyhow::Result<Duration> {
    let files = write_segments(payloads, &scratch.join("recording"), "spooled")?;
    let spool = Spool::open(scratch.join("spool"), store, Arc::new(Discard)).await?;
    let started = Instant::now();
    for (n, file) in files.into_iter().enumerate() {
        spool
            .enqueue(SpoolItem {
                key: format!("archives/bench/segments/{n:08}.webm"),
                file,
                content_type: "video/webm".into(),
                meta: serde_json::json!({ "seq": n }),
            })
            .await?;
    }
    tokio::time::timeout(Duration::from_secs(600), spool.flushed("archives/bench/"))
        .await
        .context("the spool did not flush within 10 minutes")?;
    let elapsed = started.elapsed();
    if let Some(error) = spool.last_error() {
        anyhow::bail!("the spool failed: {}", error.message);
    }
    Ok(elapsed)
}

/// Writes each payload to a file, fsynced as the recorder leaves its segments.
fn write_segments(payloads: &[Vec<u8>], folder: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(folder)?;
    payloads
        .iter()
        .enumerate()
        .map(|(n, payload)| {
            let path = folder.join(format!("{name}-{n:08}.webm"));
            let mut file = std::fs::File::create(&path)?;
            std::io::Write::write_all(&mut file, payload)?;
            file.sync_all()?;
            Ok(path)
        })
        .collect()
}

/// An `on_stored` that records nothing (the log append is not what this suite measures).
struct Discard;

#[async_trait]
impl OnStored for Discard {
    async fn stored(&self, _item: &SpoolItem, _receipt: &PutReceipt) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The s3s-fs binary: the one given, else on PATH, else in ~/.cargo/bin.
fn s3s_fs(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(given) = given {
        return given.is_file().then(|| given.to_owned());
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .map(|cargo| cargo.join("bin"));
    std::env::split_paths(&paths)
        .chain(cargo_bin)
        .map(|dir| dir.join("s3s-fs"))
        .find(|candidate| candidate.is_file())
}

/// A running s3s-fs with one bucket; killed when dropped.
struct S3sFs {
    port: u16,
    _child: tokio::process::Child,
}

impl S3sFs {
    async fn start(binary: &Path, root: &Path) -> anyhow::Result<S3sFs> {
        // s3s-fs keeps each bucket as a folder under its root.
        std::fs::create_dir_all(root.join(BUCKET))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(15),
                "s3s-fs did not answer on port {port} within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(S3sFs {
            port,
            _child: child,
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
