//! The media engine: one thread owns the UDP socket and drives the sans-IO media [`core`]
//! (every peer connection's `Rtc` and the forwarding between them).
//!
//! Each turn lets time pass in the core, then does what it asks (datagrams sent, media events
//! to the log's queue, registry updates), and waits for the next datagram, command or the
//! core's deadline. A turn's datagrams leave together at its end, in as few system calls as
//! GSO allows. Nothing here waits on the log or the network: sends never block (a full socket
//! buffer drops and counts), media events go to a bounded queue.
//!
//! - `core`: the peers and the forwarding, fed inputs with their time, drained of outputs.
//! - `peer`: one peer connection (its `Rtc`, publisher or subscriber) and its events.
//! - `udp`: the socket, with batched sends (GSO) and receives (`recvmmsg`).

mod core;
mod peer;
#[cfg(test)]
mod tests;
mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use self::core::{Core, Output, RegistryUpdate};
pub(super) use self::peer::{NewPeer, answer};
use self::udp::{Batch, MediaSocket};
use super::{Command, FactSink, Sfu};
use crate::telemetry::Metrics;

/// Datagrams read in one go before the peers' output is drained.
const RECEIVE_BATCH: usize = 64;

/// Runs the media loop on this thread until the SFU stops.
pub(super) fn run(
    socket: std::net::UdpSocket,
    advertised: SocketAddr,
    commands: mpsc::UnboundedReceiver<Command>,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
    timing: Timing,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "the SFU media loop could not start");
            return;
        }
    };
    runtime.block_on(async move {
        let socket = match MediaSocket::new(socket) {
            Ok(socket) => socket,
            Err(error) => {
                tracing::error!(%error, "the SFU socket could not be registered");
                return;
            }
        };
        let mut media = Loop {
            core: Core::new(metrics.clone(), Instant::now())
                .with_setup_timeout(timing.setup_timeout)
                .with_stall_after(timing.stall_after),
            socket,
            outgoing: Batch::default(),
            advertised,
            sink,
            metrics,
            sfu,
        };
        media.run(commands).await;
    });
}

/// The media loop's time limits, from the settings.
pub(super) struct Timing {
    /// How long a new peer has to connect (`LIVESURGERY_SFU_SETUP_TIMEOUT`).
    pub(super) setup_timeout: Duration,
    /// How long a publisher's video may send nothing before it is marked stalled
    /// (`LIVESURGERY_SFU_STALL_AFTER_MS`).
    pub(super) stall_after: Duration,
}

/// The core with what it talks to.
struct Loop {
    core: Core,
    socket: MediaSocket,
    /// The turn's datagrams, sent together once the core has nothing more to say.
    outgoing: Batch,
    /// The address peers send to: every datagram arrived there as far as ICE is concerned
    /// (the socket may be bound to all interfaces, or sit behind 1:1 NAT).
    advertised: SocketAddr,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
}

impl Loop {
    async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.core.handle_timeout(Instant::now());
            let next = self.flush();
            tokio::select! {
                // Commands first: a DELETE answered before its peer's goodbye arrives is
                // recorded as `deleted`.
                biased;
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => return self.shut_down(),
                    Some(command) => self.core.handle_command(command, Instant::now()),
                },
                readable = self.socket.readable() => match readable {
                    Ok(()) => {
                        let mut received = 0;
                        while received < RECEIVE_BATCH {
                            // Commands that came in meanwhile go before later datagrams.
                            while let Ok(command) = commands.try_recv() {
                                if matches!(command, Command::Shutdown) {
                                    return self.shut_down();
                                }
                                self.core.handle_command(command, Instant::now());
                            }
                            let Loop { core, socket, advertised, .. } = self;
                            let count = socket.try_receive(|bytes, source| {
                                core.handle_datagram(source, *advertised, bytes, Instant::now());
                            });
                            if count == 0 {
                                break;
                            }
                            received += count;
                        }
                    }
                    Err(error) => tracing::debug!(%error, "SFU socket not readable"),
                },
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }

    /// Does what the core asks until it has nothing more; returns when it wants time next.
    fn flush(&mut self) -> Instant {
        loop {
            match self.core.poll_output() {
                Output::Transmit(transmit) => self.outgoing.push(
                    transmit.destination,
                    &transmit.bytes,
                    self.socket.max_segments(),
                ),
                Output::Fact(info, event) => {
                    if let Some(sfu) = self.sfu.upgrade() {
                        sfu.on_fact(&info, &event);
                    }
                    self.sink.send(&info, event);
                }
                Output::Registry(update) => {
                    let Some(sfu) = self.sfu.upgrade() else {
                        continue;
                    };
                    match update {
                        RegistryUpdate::TrackSeen {
                            session_id,
                            resource_id,
                            track,
                        } => sfu.track_seen(session_id, resource_id, track),
                        RegistryUpdate::Stall {
                            session_id,
                            resource_id,
                            since,
                        } => {
                            // The core reads no wall clock: its instant is placed on it here.
                            let since = since.map(|at| {
                                let ago = Instant::now().saturating_duration_since(at);
                                chrono::Utc::now()
                                    - chrono::Duration::from_std(ago).unwrap_or_default()
                            });
                            sfu.stall(session_id, resource_id, since);
                        }
                        RegistryUpdate::PeerGone {
                            session_id,
                            resource_id,
                            info,
                            reason,
                        } => sfu.forget(session_id, resource_id, &info, reason),
                    }
                }
                Output::Timeout(next) => {
                    self.socket.send(&mut self.outgoing, &self.metrics);
                    return next;
                }
            }
        }
    }

    /// Ends every peer (their events record `shutdown`) and sends what that produces.
    fn shut_down(&mut self) {
        self.core.handle_command(Command::Shutdown, Instant::now());
        self.flush();
    }
}
