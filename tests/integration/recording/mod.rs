//! Recording and archives end to end: a real server records what an independent WebRTC peer
//! (aiortc) publishes, stores it (a folder, or a real S3-compatible server), and hands out
//! playback URLs that ffprobe, PyAV and headless Chromium open as a browser would.

mod crash;
mod e2e;
pub(crate) mod support;
