//! Multicast discovery on the local segment, as openMosix's omdiscd did: every node sends a
//! sealed announcement ("a wend node listens at IP:PORT") to a multicast group, often while it
//! knows nobody and rarely after; every node that hears one joins the announcer. Only holders
//! of the cluster key can make or read announcements (the cluster crate seals them).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::config::DiscoveryConfig;

/// Announcement period while the node knows no member.
pub const ANNOUNCE_ALONE: Duration = Duration::from_secs(2);
/// Announcement period once the node has members (new nodes still find it).
pub const ANNOUNCE_JOINED: Duration = Duration::from_secs(10);
/// Largest announcement accepted (they are about 100 bytes).
pub const MAX_ANNOUNCEMENT: usize = 512;

/// The discovery socket: bound to the group's port, member of the group on the interface of
/// the peer address, sending there with TTL 1 (never routed off the segment).
#[derive(Debug)]
pub struct Discovery {
    socket: UdpSocket,
    group: SocketAddr,
}

impl Discovery {
    /// Opens the socket. `iface` is this node's peer IP (unspecified: the kernel's choice).
    pub fn open(cfg: &DiscoveryConfig, iface: Ipv4Addr) -> io::Result<Discovery> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, cfg.port).into())?;
        socket.join_multicast_v4(&cfg.group, &iface)?;
        if !iface.is_unspecified() {
            socket.set_multicast_if_v4(&iface)?;
        }
        socket.set_multicast_ttl_v4(1)?;
        // Several daemons may share a host (loopback tests): let them hear each other.
        socket.set_multicast_loop_v4(true)?;
        Ok(Discovery {
            socket: UdpSocket::from_std(socket.into())?,
            group: SocketAddr::V4(SocketAddrV4::new(cfg.group, cfg.port)),
        })
    }

    /// Sends one sealed announcement to the group.
    pub async fn announce(&self, sealed: &[u8]) -> io::Result<()> {
        self.socket.send_to(sealed, self.group).await.map(|_| ())
    }

    /// Receives one datagram from the group.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }
}
