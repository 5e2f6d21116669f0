//! The media loops' UDP sockets: how many, bound where, and the address peers are told.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use anyhow::Context;

/// How many media loops run: the setting, or (0) one per core.
pub(super) fn media_threads(setting: usize) -> usize {
    match setting {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// One socket per media loop: on consecutive ports from the configured one, or each on a
/// port of its own choosing when the configured port is 0.
pub(super) fn bind_all(address: &str, count: usize) -> anyhow::Result<Vec<UdpSocket>> {
    let address: SocketAddr = address
        .parse()
        .with_context(|| format!("SFU UDP address {address:?} is not ip:port"))?;
    (0..count)
        .map(|index| {
            let port = match address.port() {
                0 => Some(0),
                port => u16::try_from(usize::from(port) + index).ok(),
            };
            let port = port.with_context(|| {
                format!("SFU UDP port {} + {index} is past 65535", address.port())
            })?;
            bind(SocketAddr::new(address.ip(), port))
        })
        .collect()
}

/// A media socket, with buffers large enough for a burst to many subscribers.
fn bind(address: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // The kernel caps these at net.core.{r,w}mem_max; asking more is harmless.
    let _ = socket.set_send_buffer_size(8 << 20);
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket
        .bind(&address.into())
        .with_context(|| format!("binding the SFU UDP socket {address}"))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The address to advertise: the configured public IP, the bound one, or (bound to all
/// interfaces) the source address of the default route, else loopback.
pub(super) fn advertised_ip(bound: IpAddr, public: Option<IpAddr>) -> IpAddr {
    if let Some(ip) = public {
        return ip;
    }
    if !bound.is_unspecified() {
        return bound;
    }
    // Connecting a UDP socket sends nothing; it only picks the route and its source address.
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.255:9")
                .or_else(|_| s.connect("8.8.8.8:53"))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertises_the_public_ip_then_the_bound_one() {
        let public: IpAddr = "203.0.113.7".parse().expect("ip");
        let bound: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(advertised_ip(bound, Some(public)), public);
        assert_eq!(advertised_ip(bound, None), bound);
        assert!(!advertised_ip("0.0.0.0".parse().expect("ip"), None).is_unspecified());
    }
}
