//! The media engine: media loops, one thread each (one per core by default), each owning a
//! UDP socket and driving a sans-IO media [`core`] (its peer connections' `Rtc`s and the
//! forwarding between them). A peer lives on one loop; a publisher's frames reach the
//! subscribers of the other loops through bounded pipes between loops (a full pipe drops the
//! frame for that loop and counts it), and keyframe requests go back the same way.
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

use self::core::{Core, Output, Piped, RegistryUpdate};
pub(super) use self::peer::{NewPeer, answer};
use self::udp::{Batch, MediaSocket};
use super::{Command, FactSink, Sfu};
use crate::telemetry::Metrics;

/// Datagrams read in one go before the peers' output is drained.
const RECEIVE_BATCH: usize = 64;
/// Messages from the other loops taken in one go.
const PIPE_BATCH: usize = 64;
/// Messages waiting in a pipe to one loop; past this they are dropped (frames counted).
const PIPE_QUEUE: usize = 2048;

/// One media loop's own ends: its socket and address, its commands, and the pipes from and to
/// the other loops.
pub(super) struct LoopEnds {
    pub(super) socket: std::net::UdpSocket,
    /// The address peers send to: every datagram arrived there as far as ICE is concerned.
    pub(super) advertised: SocketAddr,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pipe_in: mpsc::Receiver<Piped>,
    pipes_out: Vec<mpsc::Sender<Piped>>,
}

/// Pairs each socket (with its address and commands) with pipes to every other loop.
pub(super) fn join(
    loops: Vec<(
        std::net::UdpSocket,
        SocketAddr,
        mpsc::UnboundedReceiver<Command>,
    )>,
) -> Vec<LoopEnds> {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        loops.iter().map(|_| mpsc::channel(PIPE_QUEUE)).unzip();
    loops
        .into_iter()
        .zip(receivers)
        .enumerate()
        .map(
            |(index, ((socket, advertised, commands), pipe_in))| LoopEnds {
                socket,
                advertised,
                commands,
                pipe_in,
                pipes_out: senders
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != index)
                    .map(|(_, sender)| sender.clone())
                    .collect(),
            },
        )
        .collect()
}

/// Runs one media loop on this thread until the SFU stops.
pub(super) fn run(
    ends: LoopEnds,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
    timing: Timing,
) {
    let LoopEnds {
        socket,
        advertised,
        commands,
        pipe_in,
        pipes_out,
    } = ends;
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
        let core = Core::new(metrics.clone(), Instant::now())
            .with_setup_timeout(timing.setup_timeout)
            .with_stall_after(timing.stall_after);
        let mut media = Loop {
            core: if pipes_out.is_empty() {
                core
            } else {
                core.with_pipes()
            },
            pipes_out,
            socket,
            outgoing: Batch::default(),
            advertised,
            sink,
            metrics,
            sfu,
            barriers: Vec::new(),
        };
        media.run(commands, pipe_in).await;
    });
}

/// The media loop's time limits, from the settings.
#[derive(Debug, Clone, Copy)]
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
    /// To every other media loop.
    pipes_out: Vec<mpsc::Sender<Piped>>,
    /// The address peers send to: every datagram arrived there as far as ICE is concerned
    /// (the socket may be bound to all interfaces, or sit behind 1:1 NAT).
    advertised: SocketAddr,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
    /// Barriers answered at the end of this turn.
    barriers: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Loop {
    async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut pipe_in: mpsc::Receiver<Piped>,
    ) {
        loop {
            self.core.handle_timeout(Instant::now());
            let next = self.flush();
            tokio::select! {
                // Commands first: a DELETE answered before its peer's goodbye arrives is
                // recorded as `deleted`.
                biased;
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => return self.shut_down(),
                    Some(command) => self.command(command),
                },
                Some(piped) = pipe_in.recv() => {
                    self.core.handle_piped(piped, Instant::now());
                    for _ in 1..PIPE_BATCH {
                        match pipe_in.try_recv() {
                            Ok(piped) => self.core.handle_piped(piped, Instant::now()),
                            Err(_) => break,
                        }
                    }
                }
                readable = self.socket.readable() => match readable {
                    Ok(()) => {
                        let mut received = 0;
                        while received < RECEIVE_BATCH {
                            // Commands that came in meanwhile go before later datagrams.
                            while let Ok(command) = commands.try_recv() {
                                if matches!(command, Command::Shutdown) {
                                    return self.shut_down();
                                }
                                self.command(command);
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

    /// Hands a command to the core; a barrier waits for the turn's end (the next flush).
    fn command(&mut self, command: Command) {
        match command {
            Command::Barrier(done) => self.barriers.push(done),
            command => self.core.handle_command(command, Instant::now()),
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
                Output::Pipe(piped) => {
                    let frame = matches!(piped, Piped::Frame { .. });
                    for pipe in &self.pipes_out {
                        if pipe.try_send(piped.clone()).is_err() && frame {
                            self.metrics.sfu.forward_drops.inc();
                        }
                    }
                }
                Output::Timeout(next) => {
                    self.socket.send(&mut self.outgoing, &self.metrics);
                    for done in self.barriers.drain(..) {
                        let _ = done.send(());
                    }
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
