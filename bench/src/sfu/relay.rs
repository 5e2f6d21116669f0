//! The baseline: a plain UDP relay, one thread of this process that copies every packet to N
//! sockets, fed packets of the publisher's count and size at its rate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::frames::{STAMP_LEN, read_stamp};
use super::meter::{Meter, Source, wall_us};
use super::probes::{Figures, Probe, window_figures};
use super::{DATAGRAM_TARGET, READY_WITHIN, Shape, WARM_UP, wait_for};
use crate::report::{lock, read, stat_cpu_seconds};
use crate::server::ChildServer;

/// A thread of this process that copies every datagram it receives to each target.
pub(super) struct Relay {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    /// Datagrams it sent so far.
    pub forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Its thread's stat file, for its CPU time.
    stat: PathBuf,
}

impl Relay {
    /// Starts the relay's thread on a loopback socket.
    pub(super) fn start() -> anyhow::Result<Relay> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").context("binding the relay")?;
        // The read timeout lets the thread notice `stop`.
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = socket.local_addr()?;
        let targets: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (t, f, s) = (targets.clone(), forwarded.clone(), stop.clone());
        std::thread::Builder::new()
            .name("sfu-bench-relay".into())
            .spawn(move || {
                // This thread's own /proc entry (a symlink to /proc/<pid>/task/<tid>).
                let _ = tx.send(std::fs::read_link("/proc/thread-self"));
                relay_loop(&socket, &t, &f, &s);
            })
            .context("starting the relay thread")?;
        let stat = rx
            .recv()
            .context("the relay thread ended at once")?
            .context("reading /proc/thread-self")?;
        Ok(Relay {
            addr,
            targets,
            forwarded,
            stop,
            stat: PathBuf::from("/proc").join(stat).join("stat"),
        })
    }

    /// CPU seconds its thread used so far.
    pub(super) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        stat_cpu_seconds(&read(&self.stat.display().to_string())?)
    }

    /// Ends its thread (within its 100 ms read timeout).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay_loop(
    socket: &std::net::UdpSocket,
    targets: &Mutex<Vec<SocketAddr>>,
    forwarded: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            // The read timeout, or an ICMP error from a receiver gone: carry on.
            continue;
        };
        let targets = lock(targets);
        for target in targets.iter() {
            if socket.send_to(&buf[..n], target).is_ok() {
                forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The relay's packets: as many per frame, and as large, as the publisher's RTP packets.
#[derive(Debug, Clone, Copy)]
pub(super) struct RelayShape {
    period: Duration,
    pub packets_per_frame: usize,
    pub packet_bytes: usize,
}

impl RelayShape {
    /// From what the publisher sent so far (retransmissions make it a little larger).
    pub(super) fn measured(source: &Source, shape: Shape) -> RelayShape {
        let frames = source.frames.load(Ordering::Relaxed);
        let packets = source.media_packets.load(Ordering::Relaxed);
        let bytes = source.media_bytes.load(Ordering::Relaxed);
        if frames == 0 || packets == 0 {
            return RelayShape::estimated(shape);
        }
        RelayShape {
            period: shape.period,
            packets_per_frame: (packets as f64 / frames as f64).round().max(1.0) as usize,
            packet_bytes: (bytes / packets).max(RELAY_HEADER as u64) as usize,
        }
    }

    /// Without a publisher: str0m's datagram target, ~40 bytes of RTP, VP8 and SRTP overhead.
    pub(super) fn estimated(shape: Shape) -> RelayShape {
        let packets = shape.frame_bytes.div_ceil(DATAGRAM_TARGET - 40).max(1);
        RelayShape {
            period: shape.period,
            packets_per_frame: packets,
            packet_bytes: (shape.frame_bytes / packets + 40).max(RELAY_HEADER),
        }
    }
}

/// A relay packet: the stamp (magic, frame number, write time), then its index and the
/// frame's packet count (big-endian u16s), then filler.
const RELAY_MAGIC: &[u8; 4] = b"LSbr";
const RELAY_HEADER: usize = STAMP_LEN + 4;

/// The relay at `receivers` sockets for one window: a sender of its own (same frame numbers
/// logic, same rate) and fresh receivers, closed afterwards.
pub(super) async fn relay_step(
    relay: &Relay,
    server: Option<&ChildServer>,
    receivers: usize,
    shape: RelayShape,
    window: Duration,
) -> anyhow::Result<Figures> {
    let meter = Arc::new(Meter::default());
    let source = Arc::new(Source::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut addrs = Vec::with_capacity(receivers);
    for _ in 0..receivers {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a relay receiver")?;
        addrs.push(socket.local_addr()?);
        tasks.push(tokio::spawn(relay_receiver(
            socket,
            meter.clone(),
            stop.clone(),
        )));
    }
    *lock(&relay.targets) = addrs;
    source.sending.store(true, Ordering::Relaxed);
    tasks.push(tokio::spawn(relay_sender(
        relay.addr,
        source.clone(),
        shape,
        stop.clone(),
    )));
    let ready = wait_for(READY_WITHIN, || {
        meter.ready.load(Ordering::Relaxed) >= receivers as u64
    })
    .await;
    if ready.is_err() {
        eprintln!(
            "  relay: only {} of {receivers} receivers had a frame after {} s",
            meter.ready.load(Ordering::Relaxed),
            READY_WITHIN.as_secs()
        );
    }
    tokio::time::sleep(WARM_UP).await;
    let probe = Probe {
        sfu: false,
        server,
        relay,
    };
    let figures = window_figures("relay", receivers, &meter, &source, &probe, window).await;
    let _ = stop_tx.send(true);
    lock(&relay.targets).clear();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    figures
}

async fn relay_sender(
    relay: SocketAddr,
    source: Arc<Source>,
    shape: RelayShape,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
        return;
    };
    let mut tick = tokio::time::interval(shape.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut packet = vec![0u8; shape.packet_bytes];
    let mut x = 0x9e37_79b9u32;
    for byte in packet.iter_mut().skip(RELAY_HEADER) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let seq = source.next_seq.fetch_add(1, Ordering::Relaxed);
        let sent_us = wall_us();
        let count = shape.packets_per_frame as u16;
        for index in 0..count {
            packet[..4].copy_from_slice(RELAY_MAGIC);
            packet[4..12].copy_from_slice(&seq.to_be_bytes());
            packet[12..20].copy_from_slice(&sent_us.to_be_bytes());
            packet[20..22].copy_from_slice(&index.to_be_bytes());
            packet[22..24].copy_from_slice(&count.to_be_bytes());
            if socket.send_to(&packet, relay).await.is_ok() {
                source.media_packets.fetch_add(1, Ordering::Relaxed);
                source
                    .media_bytes
                    .fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        }
        source.frames.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a frame complete when all its packets arrived (they arrive in order on loopback;
/// a frame with a missing packet is lost).
async fn relay_receiver(socket: UdpSocket, meter: Arc<Meter>, mut stop: watch::Receiver<bool>) {
    let mut buf = [0u8; 2048];
    let (mut current, mut have, mut got_first) = (None::<u64>, 0u16, false);
    loop {
        let n = tokio::select! {
            biased;
            _ = stop.changed() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, _)) => n,
                Err(_) => continue,
            },
        };
        if meter.measuring() {
            meter.datagrams.fetch_add(1, Ordering::Relaxed);
        }
        let packet = &buf[..n];
        let (Some((seq, sent_us)), Some(count)) = (
            packet
                .get(..STAMP_LEN)
                .and_then(|s| read_stamp(s, RELAY_MAGIC)),
            packet.get(22..24).map(|c| u16::from_be_bytes([c[0], c[1]])),
        ) else {
            meter.unreadable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if current != Some(seq) {
            if current.is_some_and(|c| seq < c) {
                continue;
            }
            (current, have) = (Some(seq), 0);
        }
        have += 1;
        if have == count {
            if !got_first {
                got_first = true;
                meter.ready.fetch_add(1, Ordering::Relaxed);
            }
            meter.frame(seq, sent_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::TEST_SHAPE;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relay_copies_every_frame_to_every_receiver() {
        let relay = Relay::start().unwrap();
        let shape = RelayShape::estimated(TEST_SHAPE);
        let figures = relay_step(&relay, None, 5, shape, Duration::from_secs(1))
            .await
            .unwrap();
        relay.stop();
        assert_eq!(figures.loss_pct, 0.0, "{figures:?}");
        assert!(figures.frames >= 5.0 * 25.0, "{figures:?}");
        let per_receiver = figures.received / 5.0;
        assert!(
            per_receiver >= 25.0 * shape.packets_per_frame as f64,
            "{figures:?}"
        );
        // Every frame of the window went to every receiver, and the relay counted the copies.
        let copies = figures.forwarded.unwrap_or(0.0);
        assert!(copies >= figures.received * 0.9, "{figures:?}");
    }
}
