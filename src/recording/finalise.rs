//! The playable form of an archive, made after recording from its segments by Debian's
//! `ffmpeg` as a subprocess (off the media path): the segments are concatenated and remuxed
//! as they are (`-c copy`, no transcoding) into one file Chromium plays:
//!
//! - VP8 + Opus: WebM (Chromium plays VP8 only in WebM; Debian's ffmpeg 5.1 cannot write VP8
//!   into MP4 anyway), its index (Cues) at the front.
//! - H.264 + Opus: MP4 with `+faststart` (the index before the media).
//!
//! Segments that are missing or unreadable, or whose video codec differs from the others' (a
//! publisher that came back with another codec), are left out and listed; the rest play back
//! to back. [`ProcessingJobs`] bounds how many run at once; [`probe`] reads a file's duration
//! and streams with `ffprobe`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::Semaphore;

/// ffmpeg's last stderr lines kept for an error.
const STDERR_LINES: usize = 12;

/// The playable form of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playable {
    /// In the `out_dir` given: `playback.webm` or `playback.mp4`.
    pub path: PathBuf,
    /// `video/webm` or `video/mp4`.
    pub content_type: &'static str,
    /// For the object key (`archives/{id}/playback.{extension}`).
    pub extension: &'static str,
    pub duration_ms: u64,
    /// The segments left out (missing, unreadable, or of another codec), in order.
    pub skipped: Vec<PathBuf>,
}

/// Why no playable form was made.
#[derive(Debug, thiserror::Error)]
pub enum FinaliseError {
    #[error("none of the {0} segments could be read")]
    NoSegments(usize),
    #[error("the segments' video codec {0:?} has no playable container here")]
    UnsupportedCodec(String),
    #[error("{program} could not be run: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg { status: String, stderr: String },
    #[error("the playable file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the playable file cannot be read back: {0}")]
    Probe(#[from] ProbeError),
}

/// What `ffprobe` says of a media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeInfo {
    pub duration_ms: u64,
    /// In stream order.
    pub streams: Vec<ProbeStream>,
}

impl ProbeInfo {
    /// The codec of the first stream of this type (`video`, `audio`).
    pub fn codec(&self, codec_type: &str) -> Option<&str> {
        self.streams
            .iter()
            .find(|s| s.codec_type == codec_type)
            .map(|s| s.codec.as_str())
    }
}

/// One stream of a media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStream {
    /// `video` or `audio` (or another of ffprobe's types).
    pub codec_type: String,
    /// ffprobe's codec name (`vp8`, `h264`, `opus`).
    pub codec: String,
}

/// Why a file could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("ffprobe could not be run: {0}")]
    Spawn(std::io::Error),
    #[error("ffprobe cannot read {path}: {stderr}")]
    Unreadable { path: PathBuf, stderr: String },
    #[error("ffprobe's answer is not understood: {0}")]
    Answer(String),
}

#[derive(Deserialize)]
struct FfprobeOutput {
    #[serde(default)]
    streams: Vec<FfprobeStream>,
    format: Option<FfprobeFormat>,
}

#[derive(Deserialize)]
struct FfprobeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
}

#[derive(Deserialize)]
struct FfprobeFormat {
    duration: Option<String>,
}

/// Reads a media file's duration and streams with `ffprobe`.
pub async fn probe(path: &Path) -> Result<ProbeInfo, ProbeError> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("format=duration:stream=codec_type,codec_name")
        .args(["-of", "json"])
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(ProbeError::Spawn)?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !output.status.success() {
        return Err(ProbeError::Unreadable {
            path: path.to_owned(),
            stderr,
        });
    }
    let parsed: FfprobeOutput =
        serde_json::from_slice(&output.stdout).map_err(|e| ProbeError::Answer(e.to_string()))?;
    let seconds = parsed
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .ok_or_else(|| ProbeError::Unreadable {
            path: path.to_owned(),
            stderr: format!("no duration {stderr}"),
        })?;
    Ok(ProbeInfo {
        duration_ms: (seconds * 1000.0).round() as u64,
        streams: parsed
            .streams
            .into_iter()
            .map(|s| ProbeStream {
                codec_type: s.codec_type.unwrap_or_default(),
                codec: s.codec_name.unwrap_or_default(),
            })
            .collect(),
    })
}

/// Concatenates and remuxes `segments` (in order) into one playable file in `out_dir`;
/// `progress` hears how far it got, from 0 to 1.
pub async fn finalise(
    segments: &[PathBuf],
    out_dir: &Path,
    progress: impl Fn(f32),
) -> Result<Playable, FinaliseError> {
    // Read every segment first: the unreadable are left out, the rest say the codec.
    let mut readable = Vec::new();
    let mut skipped = Vec::new();
    for path in segments {
        match probe(path).await {
            Ok(info) => readable.push((path.clone(), info)),
            Err(ProbeError::Spawn(source)) => {
                return Err(FinaliseError::Spawn {
                    program: "ffprobe",
                    source,
                });
            }
            Err(error) => {
                tracing::warn!(%error, "a segment is left out of the playable form");
                skipped.push(path.clone());
            }
        }
    }
    // The video codec most segments have (the earliest on a tie) is the archive's.
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, info) in &readable {
        let codec = info.codec("video").unwrap_or_default();
        match counts.iter_mut().find(|(c, _)| *c == codec) {
            Some((_, n)) => *n += 1,
            None => counts.push((codec, 1)),
        }
    }
    let codec = counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| (*c).to_owned())
        .ok_or(FinaliseError::NoSegments(segments.len()))?;
    let (content_type, extension, format_args): (_, _, &[&str]) = match codec.as_str() {
        "vp8" => ("video/webm", "webm", &["-f", "webm", "-cues_to_front", "1"]),
        "h264" => (
            "video/mp4",
            "mp4",
            &["-f", "mp4", "-movflags", "+faststart"],
        ),
        _ => return Err(FinaliseError::UnsupportedCodec(codec)),
    };
    let mut used = Vec::new();
    let mut total_ms = 0u64;
    for (path, info) in readable {
        if info.codec("video") == Some(codec.as_str()) {
            total_ms += info.duration_ms;
            used.push(path);
        } else {
            skipped.push(path);
        }
    }
    skipped.sort_by_key(|p| segments.iter().position(|s| s == p));

    tokio::fs::create_dir_all(out_dir).await?;
    let list = out_dir.join("segments.ffconcat");
    tokio::fs::write(&list, concat_list(&used)).await?;
    let partial = out_dir.join(format!("playback.partial.{extension}"));
    let path = out_dir.join(format!("playback.{extension}"));
    let result = remux(&list, &partial, format_args, total_ms, &progress).await;
    let _ = tokio::fs::remove_file(&list).await;
    if let Err(error) = result {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(error);
    }
    tokio::fs::rename(&partial, &path).await?;
    let duration_ms = probe(&path).await?.duration_ms;
    progress(1.0);
    Ok(Playable {
        path,
        content_type,
        extension,
        duration_ms,
        skipped,
    })
}

/// The concat demuxer's list: absolute paths, quoted.
fn concat_list(paths: &[PathBuf]) -> String {
    let mut list = String::from("ffconcat version 1.0\n");
    for path in paths {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        let quoted = absolute.to_string_lossy().replace('\'', r"'\''");
        list.push_str(&format!("file '{quoted}'\n"));
    }
    list
}

/// Runs ffmpeg over the list, reporting its progress; its last stderr lines on failure.
async fn remux(
    list: &Path,
    out: &Path,
    format_args: &[&str],
    total_ms: u64,
    progress: &impl Fn(f32),
) -> Result<(), FinaliseError> {
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(list)
        .args(["-map", "0", "-c", "copy"])
        .args(format_args)
        .args(["-progress", "pipe:1", "-nostats"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| FinaliseError::Spawn {
            program: "ffmpeg",
            source,
        })?;
    let stderr = tokio::spawn(last_lines(child.stderr.take()));
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // `out_time_us` (ffmpeg 5's `out_time_ms` is in µs too) is how far the output is.
            if let Some(us) = line
                .strip_prefix("out_time_us=")
                .and_then(|v| v.trim().parse::<u64>().ok())
                && total_ms > 0
            {
                progress(((us / 1_000) as f32 / total_ms as f32).clamp(0.0, 0.99));
            }
        }
    }
    let status = child.wait().await?;
    let stderr = stderr.await.unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    Err(FinaliseError::Ffmpeg {
        status: status.to_string(),
        stderr,
    })
}

/// The last lines of a stream, joined.
async fn last_lines(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(stream) = stream else {
        return String::new();
    };
    let mut lines = BufReader::new(stream).lines();
    let mut last = VecDeque::with_capacity(STDERR_LINES);
    while let Ok(Some(line)) = lines.next_line().await {
        if last.len() == STDERR_LINES {
            last.pop_front();
        }
        last.push_back(line);
    }
    Vec::from(last).join("\n")
}

/// At most `processing_jobs` finalisations (or any other job) at once.
#[derive(Debug, Clone)]
pub struct ProcessingJobs {
    permits: Arc<Semaphore>,
    size: usize,
}

impl ProcessingJobs {
    /// `jobs` at once; 0 means one per CPU core.
    pub fn new(jobs: usize) -> ProcessingJobs {
        let size = match jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        ProcessingJobs {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// How many may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `job` once a place is free (waiting its turn meanwhile).
    pub async fn run<F: Future>(&self, job: F) -> F::Output {
        // The semaphore is never closed, so a permit always comes.
        let _permit = self.permits.acquire().await;
        job.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_concat_list_quotes_paths() {
        let list = concat_list(&[PathBuf::from("/data/spool/it's/00000001.mp4")]);
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile '/data/spool/it'\\''s/00000001.mp4'\n"
        );
    }

    #[tokio::test]
    async fn jobs_run_at_most_so_many_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let jobs = ProcessingJobs::new(2);
        assert_eq!(jobs.size(), 2);
        assert!(ProcessingJobs::new(0).size() >= 1);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (jobs, running, most) = (jobs.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    jobs.run(async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await;
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a job");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
