//! Signed checkpoints of the log's head, kept outside the database.
//!
//! The hash chains show an event edited or removed inside a stream, and the `streams` table
//! shows a stream's last events removed; someone who can write the database can rewrite both
//! to match. A checkpoint closes that gap: at an interval and on shutdown the server signs, with
//! an Ed25519 key that lives in a file and never in the database, the log's global position and
//! a digest of every stream's head (stream, version, hash) at that position. `audit verify`
//! folds the log again up to each checkpoint's position and compares; a consistent rewrite of
//! the database cannot produce the signed digest without the key.
//!
//! The checkpoints are JSON lines in an append-only file; each names the SHA-256 of the line
//! before it, so a line removed from the middle is noticed too. One file per server process.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use chrono::{SecondsFormat, Utc};
use livesurgery_domain::envelope::RecordedEvent;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{EventStore, StoreError};

/// The signed bytes start with this, so a checkpoint signature means nothing elsewhere.
const DOMAIN: &[u8] = b"livesurgery-checkpoint-v1\n";
const PEM_LABEL: &str = "PRIVATE KEY";
/// Events read per round trip while folding the log.
const BATCH: u64 = 1000;

/// Where the signing key and the checkpoints live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPaths {
    pub key: PathBuf,
    pub file: PathBuf,
}

impl CheckpointPaths {
    /// The configured paths: the key defaults to `DATA_DIR/checkpoint.key`, the checkpoints to
    /// `checkpoints.jsonl` beside the key.
    pub fn resolve(data_dir: &Path, key: Option<&Path>, file: Option<&Path>) -> CheckpointPaths {
        let key = key.map_or_else(|| data_dir.join("checkpoint.key"), Path::to_path_buf);
        let file = file.map_or_else(
            || {
                key.parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join("checkpoints.jsonl")
            },
            Path::to_path_buf,
        );
        CheckpointPaths { key, file }
    }
}

/// The Ed25519 key that signs checkpoints.
pub struct SigningKey(Ed25519KeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key_hex())
    }
}

impl SigningKey {
    /// The public key, hex of its 32 bytes: what auditors check checkpoints with.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.public_key().as_ref())
    }

    fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).as_ref())
    }
}

/// Reads the signing key (PKCS#8 PEM), creating it with mode 0600 when the file is absent.
pub fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_key(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key failed"))?;
    let pem = to_pem(pkcs8.as_ref());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the audit checkpoint key");
            parse_key(&pem)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            parse_key(&std::fs::read_to_string(path)?)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn to_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    pem
}

fn parse_key(text: &str) -> anyhow::Result<SigningKey> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .context("the checkpoint key is not PEM (base64)")?;
    // Keys made by `openssl genpkey -algorithm ed25519` are PKCS#8 v1 (no public key inside).
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| anyhow::anyhow!("the checkpoint key is not an Ed25519 PKCS#8 key: {e}"))?;
    Ok(SigningKey(pair))
}

/// Every stream's head (version and hash) as of a global position, folded from the log.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    position: u64,
    streams: BTreeMap<String, (u64, String)>,
}

impl Heads {
    /// The position folded up to.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn apply(&mut self, event: &RecordedEvent) {
        self.position = event.position;
        self.streams
            .insert(event.stream.clone(), (event.version, event.hash.clone()));
    }

    /// SHA-256 over every stream's (name, version, hash), in name order, each field
    /// length-prefixed so no two different sets of heads give the same bytes.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (stream, (version, hash)) in &self.streams {
            for field in [stream.as_bytes(), hash.as_bytes()] {
                hasher.update((field.len() as u64).to_be_bytes());
                hasher.update(field);
            }
            hasher.update(version.to_be_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// Reads the log after the folded position up to `upto` (never past it).
    pub async fn fold_until(
        &mut self,
        store: &dyn EventStore,
        upto: u64,
    ) -> Result<(), StoreError> {
        while self.position < upto {
            let limit = (upto - self.position).min(BATCH) as usize;
            let events = store.read_all(self.position, limit).await?;
            if events.is_empty() {
                return Ok(());
            }
            for event in events.iter().filter(|e| e.position <= upto) {
                self.apply(event);
            }
            // Past `upto` already (a gap where events were deleted): nothing more to fold.
            if events.last().is_some_and(|e| e.position >= upto) {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// What a checkpoint attests; its JSON (in this field order) is what is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBody {
    /// The log's global position signed.
    pub position: u64,
    /// How many streams the log held at that position.
    pub streams: u64,
    /// [`Heads::digest`] at that position.
    pub heads_digest: String,
    /// When it was signed (UTC, RFC 3339).
    pub signed_at: String,
    /// The host that signed it.
    pub node: String,
    /// SHA-256 (hex) of the previous line of the file; `None` for the first.
    pub previous: Option<String>,
    /// The public key (hex) the signature is made with.
    pub public_key: String,
}

/// One line of the checkpoint file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub body: CheckpointBody,
    /// Ed25519 signature (hex) of the domain prefix and the body's JSON.
    pub signature: String,
}

fn signed_bytes(body: &CheckpointBody) -> Vec<u8> {
    let mut bytes = DOMAIN.to_vec();
    // A struct of strings and numbers always serialises.
    bytes.extend(serde_json::to_vec(body).unwrap_or_default());
    bytes
}

fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.trim_end().as_bytes()))
}

/// This machine's name, for checkpoints and audit records ("where").
pub fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "livesurgery".to_owned())
}

/// The last line of the checkpoint file (its hash and position), if any.
fn last_line(path: &Path) -> anyhow::Result<Option<(String, u64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let position = serde_json::from_str::<SignedCheckpoint>(line)
        .map(|c| c.body.position)
        .unwrap_or(0);
    Ok(Some((line_hash(line), position)))
}

/// The server's checkpoint writer: folds the log as it grows and signs its head.
struct Writer {
    store: Arc<dyn EventStore>,
    key: SigningKey,
    file: PathBuf,
    node: String,
    heads: Heads,
    previous: Option<String>,
    last_signed: Option<u64>,
}

impl Writer {
    /// Signs the log's current head and appends the checkpoint, unless nothing was appended
    /// since the last one.
    async fn checkpoint(&mut self) -> anyhow::Result<Option<u64>> {
        let head = self.store.head_position().await?;
        self.heads.fold_until(&*self.store, head).await?;
        let position = self.heads.position();
        if self.last_signed == Some(position) {
            return Ok(None);
        }
        let body = CheckpointBody {
            position,
            streams: self.heads.streams.len() as u64,
            heads_digest: self.heads.digest(),
            signed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            node: self.node.clone(),
            previous: self.previous.clone(),
            public_key: self.key.public_key_hex(),
        };
        let signature = self.key.sign(&signed_bytes(&body));
        let line = serde_json::to_string(&SignedCheckpoint { body, signature })?;
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.file)
            .with_context(|| format!("opening {}", self.file.display()))?;
        // One write of a whole line: an append-only file never holds half a checkpoint.
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to {}", self.file.display()))?;
        self.previous = Some(line_hash(&line));
        self.last_signed = Some(position);
        Ok(Some(position))
    }
}

/// Signs the log's head at start, at an interval and on [`Checkpointer::stop`].
pub struct Checkpointer {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    task: tokio::task::JoinHandle<()>,
    public_key: String,
}

impl Checkpointer {
    /// Loads (or creates) the key and starts signing; `interval` zero signs at start and stop
    /// only.
    pub fn start(
        store: Arc<dyn EventStore>,
        paths: &CheckpointPaths,
        interval: Duration,
    ) -> anyhow::Result<Checkpointer> {
        let key = load_or_create_key(&paths.key)?;
        let public_key = key.public_key_hex();
        let last = last_line(&paths.file)?;
        let writer = Arc::new(tokio::sync::Mutex::new(Writer {
            store,
            key,
            file: paths.file.clone(),
            node: node_name(),
            heads: Heads::default(),
            last_signed: last.as_ref().map(|(_, position)| *position),
            previous: last.map(|(hash, _)| hash),
        }));
        let task = {
            let writer = writer.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(error) = writer.lock().await.checkpoint().await {
                        tracing::error!(
                            error = format!("{error:#}"),
                            "signing a checkpoint failed"
                        );
                    }
                    if interval.is_zero() {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            })
        };
        tracing::info!(
            public_key = %public_key,
            file = %paths.file.display(),
            "signing audit checkpoints"
        );
        Ok(Checkpointer {
            writer,
            task,
            public_key,
        })
    }

    /// The public key (hex) that checks this server's checkpoints.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Stops the interval and signs the head a last time (call before the log closes).
    pub async fn stop(self) {
        self.task.abort();
        match self.writer.lock().await.checkpoint().await {
            Ok(Some(position)) => tracing::info!(position, "signed the shutdown checkpoint"),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "signing the shutdown checkpoint failed"
                )
            }
        }
    }
}

/// What checking the log against its checkpoints found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    /// The checkpoint file read.
    pub file: PathBuf,
    /// How many checkpoints were checked.
    pub checked: u64,
    /// The latest checkpoint's position and time, when there is one.
    pub latest_position: Option<u64>,
    pub latest_signed_at: Option<String>,
    /// Why the log or the checkpoints fail, when they do.
    pub broken: Option<String>,
}

/// Checks the checkpoint file (signatures with `public_key`, the chain of lines) and the log
/// against every checkpoint in it.
pub async fn verify(
    store: &dyn EventStore,
    file: &Path,
    public_key: &str,
) -> anyhow::Result<CheckpointReport> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut report = CheckpointReport {
        file: file.to_path_buf(),
        checked: 0,
        latest_position: None,
        latest_signed_at: None,
        broken: None,
    };
    let key_bytes = hex::decode(public_key.trim()).context("the public key is not hex")?;
    let key = UnparsedPublicKey::new(&ED25519, key_bytes);
    let mut checkpoints = Vec::new();
    let mut previous: Option<String> = None;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = n + 1;
        let checkpoint: SignedCheckpoint = match serde_json::from_str(line) {
            Ok(c) => c,
            Err(e) => {
                report.broken = Some(format!("checkpoint line {at} does not parse: {e}"));
                return Ok(report);
            }
        };
        let signature = hex::decode(&checkpoint.signature).unwrap_or_default();
        if key
            .verify(&signed_bytes(&checkpoint.body), &signature)
            .is_err()
        {
            report.broken = Some(format!(
                "checkpoint line {at} is not signed by the checkpoint key {public_key}: the \
                 checkpoint file was edited or written by another key"
            ));
            return Ok(report);
        }
        if checkpoint.body.previous != previous {
            report.broken = Some(format!(
                "checkpoint line {at} does not follow the line before it: checkpoints were \
                 removed or reordered"
            ));
            return Ok(report);
        }
        previous = Some(line_hash(line));
        checkpoints.push(checkpoint.body);
    }
    checkpoints.sort_by_key(|c| c.position);
    let mut heads = Heads::default();
    for checkpoint in &checkpoints {
        heads.fold_until(store, checkpoint.position).await?;
        let (streams, digest) = (heads.streams.len() as u64, heads.digest());
        let reason = if heads.position() < checkpoint.position {
            Some(format!(
                "the log's last event up to position {} is at position {}",
                checkpoint.position,
                heads.position()
            ))
        } else if streams != checkpoint.streams || digest != checkpoint.heads_digest {
            Some(format!(
                "the log up to position {} holds {streams} streams whose heads do not match \
                 the {} signed",
                checkpoint.position, checkpoint.streams
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            report.broken = Some(format!(
                "{reason}, but the checkpoint signed at {} attests position {}: events were \
                 removed, edited or rewritten after it was signed",
                checkpoint.signed_at, checkpoint.position
            ));
            return Ok(report);
        }
        report.checked += 1;
        report.latest_position = Some(checkpoint.position);
        report.latest_signed_at = Some(checkpoint.signed_at.clone());
    }
    Ok(report)
}

/// The public key (hex) of the key file at `path`, created when absent.
pub fn public_key(path: &Path) -> anyhow::Result<String> {
    Ok(load_or_create_key(path)?.public_key_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem_and_signs_what_its_public_key_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k").join("checkpoint.key");
        let key = load_or_create_key(&path).unwrap();
        let again = load_or_create_key(&path).unwrap();
        assert_eq!(key.public_key_hex(), again.public_key_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let signature = hex::decode(key.sign(b"head")).unwrap();
        let public = hex::decode(key.public_key_hex()).unwrap();
        let verifier = UnparsedPublicKey::new(&ED25519, public);
        assert!(verifier.verify(b"head", &signature).is_ok());
        assert!(verifier.verify(b"tail", &signature).is_err());
    }

    #[test]
    fn the_digest_changes_with_any_head() {
        let mut a = Heads::default();
        a.streams.insert("s-1".into(), (3, "aa".into()));
        a.streams.insert("s-2".into(), (1, "bb".into()));
        let mut b = a.clone();
        b.streams.insert("s-2".into(), (2, "bb".into()));
        let mut c = a.clone();
        c.streams.remove("s-1");
        assert_ne!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
    }
}
