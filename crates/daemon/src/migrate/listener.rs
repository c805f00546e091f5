//! Accepting links from other daemons on the peer port (TCP beside the UDP membership
//! traffic): each authenticated link's first message says what it is for.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wend_link::Link;

use super::guest;
use super::home::Command;
use super::wire::{Msg, PEER_VERSION};
use super::{Manager, STEP_TIMEOUT};

/// Bind the link listener at `addr` and serve it on a thread until `shutdown`.
pub fn spawn_listener(
    mgr: Arc<Manager>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("wend-links".into())
        .spawn(move || accept_loop(mgr, listener, shutdown))
}

fn accept_loop(mgr: Arc<Manager>, listener: TcpListener, shutdown: CancellationToken) {
    use std::os::fd::AsFd;
    while !shutdown.is_cancelled() {
        {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::from(200u16)), Ok(n) if n > 0) {
                continue;
            }
        }
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                tracing::warn!("link accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let mgr = mgr.clone();
        let spawned = std::thread::Builder::new()
            .name("wend-link".into())
            .spawn(move || serve(mgr, stream, peer));
        if let Err(e) = spawned {
            tracing::warn!("no thread for a link from {peer}: {e}");
        }
    }
}

fn serve(mgr: Arc<Manager>, stream: std::net::TcpStream, peer: SocketAddr) {
    // A peer without the key, or a broken one, only loses its own connection.
    let mut link = match Link::accept(stream, &mgr.key, STEP_TIMEOUT) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%peer, "link refused: {e}");
            return;
        }
    };
    let _ = link.set_read_timeout(Some(STEP_TIMEOUT));
    let first = match link.recv().map(Msg::decode) {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            tracing::warn!(%peer, "bad first message: {e}");
            return;
        }
        Err(e) => {
            tracing::debug!(%peer, "link closed before its first message: {e}");
            return;
        }
    };
    let _ = link.set_read_timeout(None);
    match first {
        Msg::Offer(offer) => guest::serve_offer(mgr, link, offer),
        Msg::Attach {
            version,
            home_pid,
            token,
            node,
        } => {
            let refuse = |mut link: Link, reason: String| {
                tracing::warn!(%peer, home_pid, "attach refused: {reason}");
                let _ = link.send(&Msg::Refuse { reason }.encode());
            };
            if version != PEER_VERSION {
                return refuse(
                    link,
                    format!("peer protocol {version}, here {PEER_VERSION}"),
                );
            }
            match mgr.registry.control(home_pid) {
                Some(ctl) => {
                    if let Err(std::sync::mpsc::SendError(Command::Attach { link, .. })) =
                        ctl.send(Command::Attach { link, token, node })
                    {
                        refuse(link, format!("process {home_pid} has ended"));
                    }
                }
                None => refuse(link, format!("process {home_pid} is not away from here")),
            }
        }
        other => tracing::warn!(%peer, "a link may not start with {}", other.name()),
    }
}
