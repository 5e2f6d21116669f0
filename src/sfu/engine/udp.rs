//! The media socket with batched system calls: a turn's datagrams leave in as few `sendmsg`
//! calls as UDP GSO allows (a frame's packets to one subscriber are back to back and of one
//! size but the last, so they go as one call), and datagrams come in by `recvmmsg`, GRO
//! batches split again. `quinn-udp` does the system calls; this module decides the batches.
//!
//! Sends never wait: a full socket buffer drops the batch and counts each of its datagrams in
//! `livesurgery_sfu_forward_drops_total`, as a single `sendto` did before.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::telemetry::Metrics;

/// The largest UDP payload one GSO send may carry (the kernel's limit is 64 KiB less headers).
const GSO_MAX_BYTES: usize = 60_000;
/// One received datagram's buffer, times the GRO segments the kernel may coalesce into it.
const DATAGRAM_BUFFER: usize = 2048;

/// Datagrams to send, grouped into GSO sends: runs of datagrams to one destination, each of
/// the run's first size but the last, which may be shorter (and ends the run).
#[derive(Debug, Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    runs: Vec<Run>,
}

/// One GSO send: `bytes[start..end]`, cut into `segment`-byte datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    destination: SocketAddr,
    start: usize,
    end: usize,
    segment: usize,
    datagrams: usize,
    /// A shorter datagram ended it: nothing more may join.
    closed: bool,
}

impl Batch {
    /// Adds a datagram; `max_segments` is how many one send may carry (1 without GSO).
    pub(super) fn push(&mut self, destination: SocketAddr, datagram: &[u8], max_segments: usize) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        let len = datagram.len();
        if let Some(run) = self.runs.last_mut()
            && !run.closed
            && run.destination == destination
            && run.datagrams < max_segments
            && len <= run.segment
            && run.end - run.start + len <= GSO_MAX_BYTES
            && len > 0
        {
            run.end += len;
            run.datagrams += 1;
            run.closed = len < run.segment;
            return;
        }
        self.runs.push(Run {
            destination,
            start,
            end: start + len,
            segment: len,
            datagrams: 1,
            closed: len == 0,
        });
    }

    /// How many datagrams wait.
    #[cfg(test)]
    pub(super) fn datagrams(&self) -> usize {
        self.runs.iter().map(|r| r.datagrams).sum()
    }

    /// The sends, as (destination, bytes, segment size when more than one datagram).
    fn sends(&self) -> impl Iterator<Item = (SocketAddr, &[u8], Option<usize>)> + '_ {
        self.runs.iter().map(|run| {
            (
                run.destination,
                &self.bytes[run.start..run.end],
                (run.datagrams > 1).then_some(run.segment),
            )
        })
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.runs.clear();
    }
}

/// The media socket of one media loop.
pub(super) struct MediaSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    receive: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
}

impl MediaSocket {
    /// Takes over a bound, non-blocking socket (within a Tokio runtime).
    pub(super) fn new(socket: std::net::UdpSocket) -> io::Result<MediaSocket> {
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        let socket = UdpSocket::from_std(socket)?;
        let buffer = DATAGRAM_BUFFER * state.gro_segments().max(1);
        let batch = quinn_udp::BATCH_SIZE.max(1);
        Ok(MediaSocket {
            socket,
            state,
            receive: vec![vec![0u8; buffer]; batch],
            metas: vec![RecvMeta::default(); batch],
        })
    }

    /// How many datagrams one send may carry now (GSO; 1 where the kernel lacks it).
    pub(super) fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// Waits until datagrams can be read.
    pub(super) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads what has arrived (one `recvmmsg`) and hands each datagram to `each`; returns how
    /// many came, 0 when none were waiting.
    pub(super) fn try_receive(&mut self, mut each: impl FnMut(&[u8], SocketAddr)) -> usize {
        let MediaSocket {
            socket,
            state,
            receive,
            metas,
        } = self;
        let mut slices: Vec<IoSliceMut<'_>> =
            receive.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let received = socket.try_io(Interest::READABLE, || {
            state.recv(UdpSockRef::from(&*socket), &mut slices, metas)
        });
        let count = match received {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return 0,
            Err(error) => {
                tracing::debug!(%error, "SFU socket receive failed");
                return 0;
            }
        };
        let mut datagrams = 0;
        for (meta, buffer) in metas.iter().zip(slices.iter()).take(count) {
            let stride = meta.stride.max(1);
            let received = &buffer[..meta.len.min(buffer.len())];
            for datagram in received.chunks(stride) {
                each(datagram, meta.addr);
                datagrams += 1;
            }
        }
        datagrams
    }

    /// Sends the batch and empties it; what the socket buffer cannot take is dropped and
    /// counted.
    pub(super) fn send(&self, batch: &mut Batch, metrics: &Metrics) {
        for (destination, contents, segment_size) in batch.sends() {
            let datagrams = segment_size.map_or(1, |size| contents.len().div_ceil(size));
            let transmit = Transmit {
                destination,
                ecn: None,
                contents,
                segment_size,
                src_ip: None,
            };
            match self
                .state
                .try_send(UdpSockRef::from(&self.socket), &transmit)
            {
                Ok(()) => {}
                // The kernel refused segmentation (quinn-udp then turns it off): one by one.
                Err(_) if segment_size.is_some() && self.max_segments() == 1 => {
                    for datagram in contents.chunks(segment_size.unwrap_or(contents.len())) {
                        self.send_one(destination, datagram, metrics);
                    }
                }
                Err(error) => {
                    metrics.sfu.forward_drops.inc_by(datagrams as u64);
                    tracing::trace!(%error, datagrams, "SFU send dropped");
                }
            }
        }
        batch.clear();
    }

    fn send_one(&self, destination: SocketAddr, datagram: &[u8], metrics: &Metrics) {
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: datagram,
            segment_size: None,
            src_ip: None,
        };
        if let Err(error) = self
            .state
            .try_send(UdpSockRef::from(&self.socket), &transmit)
        {
            metrics.sfu.forward_drops.inc();
            tracing::trace!(%error, "SFU send dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 2], port))
    }

    fn sends(batch: &Batch) -> Vec<(u16, usize, Option<usize>)> {
        batch
            .sends()
            .map(|(to, bytes, segment)| (to.port(), bytes.len(), segment))
            .collect()
    }

    #[test]
    fn a_frames_packets_to_one_subscriber_go_as_one_send() {
        let mut batch = Batch::default();
        for len in [1100, 1100, 1100, 700] {
            batch.push(addr(1), &vec![7; len], 64);
        }
        assert_eq!(sends(&batch), vec![(1, 4000, Some(1100))]);
        assert_eq!(batch.datagrams(), 4);
    }

    #[test]
    fn a_shorter_datagram_ends_its_send_and_a_longer_one_starts_another() {
        let mut batch = Batch::default();
        for len in [1100, 700, 1100, 1200, 1200] {
            batch.push(addr(1), &vec![7; len], 64);
        }
        assert_eq!(
            sends(&batch),
            vec![
                (1, 1800, Some(1100)),
                (1, 1100, None),
                (1, 2400, Some(1200))
            ]
        );
    }

    #[test]
    fn each_destination_gets_its_own_sends_and_bytes_stay_in_order() {
        let mut batch = Batch::default();
        batch.push(addr(1), &[1, 1], 64);
        batch.push(addr(2), &[2, 2], 64);
        batch.push(addr(2), &[3, 3], 64);
        batch.push(addr(1), &[4, 4], 64);
        assert_eq!(
            sends(&batch),
            vec![(1, 2, None), (2, 4, Some(2)), (1, 2, None)]
        );
        let bytes: Vec<u8> = batch.sends().flat_map(|(_, b, _)| b.to_vec()).collect();
        assert_eq!(bytes, vec![1, 1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn a_send_holds_at_most_the_segments_and_bytes_the_kernel_takes() {
        let mut batch = Batch::default();
        for _ in 0..5 {
            batch.push(addr(1), &[0; 100], 2);
        }
        assert_eq!(
            sends(&batch),
            vec![(1, 200, Some(100)), (1, 200, Some(100)), (1, 100, None)]
        );
        let mut big = Batch::default();
        for _ in 0..60 {
            big.push(addr(1), &[0; 1200], 64);
        }
        assert!(
            big.sends()
                .all(|(_, bytes, _)| bytes.len() <= GSO_MAX_BYTES),
            "{:?}",
            sends(&big)
        );
        assert_eq!(big.datagrams(), 60);
    }

    #[tokio::test]
    async fn datagrams_sent_in_one_batch_arrive_one_by_one() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
        let to = receiver.local_addr().expect("its address");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
        sender.set_nonblocking(true).expect("non-blocking");
        let socket = MediaSocket::new(sender).expect("the media socket");
        let mut batch = Batch::default();
        for (i, len) in [1100usize, 1100, 1100, 500].into_iter().enumerate() {
            batch.push(to, &vec![i as u8; len], socket.max_segments());
        }
        let metrics = Metrics::new();
        socket.send(&mut batch, &metrics);
        assert_eq!(batch.datagrams(), 0, "the batch is emptied");
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("a timeout");
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        for _ in 0..4 {
            let n = receiver.recv(&mut buf).expect("a datagram");
            got.push((n, buf[0]));
        }
        assert_eq!(got, vec![(1100, 0), (1100, 1), (1100, 2), (500, 3)]);
        assert_eq!(metrics.sfu.forward_drops.get(), 0);
    }
}
