//! The local API server: a Unix socket speaking wend-proto frames. Clients are identified by
//! the kernel (SO_PEERCRED), never by what they say; node information is public, process
//! information (issue 4) is filtered by [`Caller::may_access`]. Connections are capped, frames
//! are size-limited, a slow or broken client only loses its own connection, and shutdown
//! closes every connection.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wend_proto::{
    ApiError, Caller, DaemonStatus, ErrorCode, FrameDecoder, MessageError, Request, Response,
    API_VERSION,
};

use crate::error::DaemonError;
use crate::migrate::Manager;
use crate::peer::Query;

/// Connections served at once; more are told the daemon is busy.
pub const MAX_CONNECTIONS: usize = 64;
/// Largest request payload accepted (requests are small).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Largest reply sent.
pub const MAX_REPLY: usize = wend_proto::MAX_PAYLOAD;
/// A connection with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A request must arrive whole within this long once it has started.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may take to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server knows about its daemon besides the peer loop.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Node name.
    pub name: String,
    /// Peer address.
    pub listen: String,
    /// Accepting guests.
    pub accepting: bool,
    /// Discovery on.
    pub discovery: bool,
    /// Start time.
    pub started: Instant,
}

/// Binds the API socket: makes the directory, removes a stale socket (one nobody listens on),
/// refuses to take over a live one, and opens the socket to every local user (access is
/// decided per request from SO_PEERCRED).
pub fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    let err = |error: io::Error| DaemonError::ApiSocket {
        path: path.to_owned(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::AlreadyRunning(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(err)?;
    Ok(listener)
}

/// The accept loop; returns at shutdown after removing the socket file. Connection tasks are
/// spawned on `tracker` so the daemon can wait for them.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    info: Arc<ServerInfo>,
    queries: mpsc::Sender<Query>,
    manager: Arc<Manager>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%err, "api accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracker.spawn(refuse_busy(stream));
            continue;
        };
        let conn = Connection {
            info: info.clone(),
            queries: queries.clone(),
            manager: manager.clone(),
            shutdown: shutdown.clone(),
        };
        tracker.spawn(async move {
            if let Err(err) = conn.run(stream).await {
                tracing::debug!(%err, "api connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

async fn refuse_busy(mut stream: UnixStream) {
    let reply = Response::Error(ApiError::new(
        ErrorCode::Unavailable,
        format!("the daemon serves {MAX_CONNECTIONS} connections already; retry later"),
    ));
    if let Ok(bytes) = reply.to_frame().to_bytes() {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await;
    }
}

struct Connection {
    info: Arc<ServerInfo>,
    queries: mpsc::Sender<Query>,
    manager: Arc<Manager>,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, mut stream: UnixStream) -> io::Result<()> {
        let cred = stream.peer_cred()?;
        let caller = Caller {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        let mut decoder = FrameDecoder::new(MAX_REQUEST);
        let mut buf = vec![0u8; 4096];
        loop {
            // Answer every whole frame already buffered.
            loop {
                let frame = match decoder.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(err) => {
                        let e = ApiError::new(ErrorCode::BadRequest, err.to_string());
                        return send(&mut stream, &Response::Error(e)).await;
                    }
                };
                match Request::from_frame(&frame) {
                    Ok(req) => {
                        let reply = self.handle(req, caller).await;
                        send(&mut stream, &reply).await?;
                    }
                    Err(err @ MessageError::UnsupportedVersion { .. }) => {
                        return send(&mut stream, &Response::Error(err.to_api_error())).await;
                    }
                    Err(err) => send(&mut stream, &Response::Error(err.to_api_error())).await?,
                }
            }
            let timeout = if decoder.pending() > 0 {
                REQUEST_TIMEOUT
            } else {
                IDLE_TIMEOUT
            };
            let n = tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                r = tokio::time::timeout(timeout, stream.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => return Ok(()), // idle or too slow: close
                },
            };
            if n == 0 {
                return Ok(());
            }
            decoder.extend(&buf[..n]);
        }
    }

    async fn handle(&self, req: Request, caller: Caller) -> Response {
        match req {
            Request::Nodes => match self.ask(Query::Nodes).await {
                Some(nodes) => Response::Nodes(nodes),
                None => stopping(),
            },
            Request::Status => match self.ask(Query::Counts).await {
                Some((alive, known)) => Response::Status(DaemonStatus {
                    name: self.info.name.clone(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    api_version: API_VERSION,
                    listen: self.info.listen.clone(),
                    uptime_secs: self.info.started.elapsed().as_secs(),
                    alive,
                    known,
                    accepting: self.manager.flags.accepting(),
                    discovery: self.info.discovery,
                    caller,
                }),
                None => stopping(),
            },
            Request::Manage(m) => match self.manager.manage(&m, caller) {
                Ok(()) => Response::Managed,
                Err(e) => Response::Error(e),
            },
            Request::Ps => {
                let mgr = self.manager.clone();
                match tokio::task::spawn_blocking(move || mgr.ps(caller)).await {
                    Ok(rows) => Response::Procs(rows),
                    Err(_) => internal(),
                }
            }
            Request::Migrate(m) => {
                let mgr = self.manager.clone();
                match tokio::task::spawn_blocking(move || mgr.migrate(&m, caller)).await {
                    Ok(Ok(r)) => Response::Migrated(r),
                    Ok(Err(e)) => Response::Error(e),
                    Err(_) => internal(),
                }
            }
            Request::Control(c) => {
                let mgr = self.manager.clone();
                match tokio::task::spawn_blocking(move || mgr.control(&c, caller)).await {
                    Ok(Ok(r)) => Response::Controlled(r),
                    Ok(Err(e)) => Response::Error(e),
                    Err(_) => internal(),
                }
            }
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.queries.send(make(tx)).await.ok()?;
        rx.await.ok()
    }
}

fn internal() -> Response {
    Response::Error(ApiError::new(
        ErrorCode::Internal,
        "the daemon failed while handling the request; see its log",
    ))
}

fn stopping() -> Response {
    Response::Error(ApiError::new(
        ErrorCode::Unavailable,
        "the daemon is stopping; start it again with `wend daemon`",
    ))
}

async fn send(stream: &mut UnixStream, reply: &Response) -> io::Result<()> {
    let mut bytes = Vec::new();
    if let Err(err) = reply.to_frame().encode_into(&mut bytes, MAX_REPLY) {
        let e = ApiError::new(ErrorCode::Internal, err.to_string());
        bytes.clear();
        Response::Error(e)
            .to_frame()
            .encode_into(&mut bytes, MAX_REPLY)
            .map_err(io::Error::other)?;
    }
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client does not read",
        )),
    }
}
