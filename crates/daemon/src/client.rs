//! A blocking client of the local API, for the `wend` commands (no async runtime needed).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use wend_proto::{
    ApiError, Control, ControlReport, DaemonStatus, Destination, FrameDecoder, FrameError,
    ManageRequest, MessageError, MigrateReport, MigrateRequest, NodeInfo, ProcInfo, Request,
    Response, MAX_PAYLOAD,
};

/// How long a reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a migration may take (a large process over a slow link).
pub const MIGRATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a request to the daemon failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No daemon listens there.
    #[error("cannot reach the wend daemon at {path}: {error}; start it with `wend daemon`, or point WEND_API or --api at its socket")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The connection broke or timed out.
    #[error("talking to the wend daemon at {path}: {error}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The daemon closed the connection without answering.
    #[error("the wend daemon at {0} closed the connection without answering")]
    Closed(PathBuf),
    /// The reply is not a valid frame.
    #[error("bad reply from the wend daemon: {0}")]
    Frame(#[from] FrameError),
    /// The reply is not a valid message.
    #[error("bad reply from the wend daemon: {0}")]
    Message(#[from] MessageError),
    /// The daemon answered with an error.
    #[error("the wend daemon refused: {0}")]
    Daemon(ApiError),
    /// The daemon answered with the wrong kind of reply.
    #[error("the wend daemon answered a {asked} request with something else")]
    Unexpected {
        /// What was asked.
        asked: &'static str,
    },
}

/// One connection to a daemon; requests are answered in order.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: UnixStream,
    decoder: FrameDecoder,
}

impl Client {
    /// Connects to the API socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|error| ClientError::Connect {
            path: path.to_owned(),
            error,
        })?;
        let io_err = |error| ClientError::Io {
            path: path.to_owned(),
            error,
        };
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(io_err)?;
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .map_err(io_err)?;
        Ok(Client {
            path: path.to_owned(),
            stream,
            decoder: FrameDecoder::new(MAX_PAYLOAD),
        })
    }

    /// Sends one request and reads its reply (an error reply is a `Response::Error`).
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        let bytes = req.to_frame().to_bytes()?;
        self.stream.write_all(&bytes).map_err(|e| self.io(e))?;
        let mut buf = [0u8; 8192];
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Response::from_frame(&frame)?);
            }
            let n = self.stream.read(&mut buf).map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(ClientError::Closed(self.path.clone()));
            }
            self.decoder.extend(&buf[..n]);
        }
    }

    /// Every node the daemon knows.
    pub fn nodes(&mut self) -> Result<Vec<NodeInfo>, ClientError> {
        match self.request(&Request::Nodes)? {
            Response::Nodes(n) => Ok(n),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "nodes" }),
        }
    }

    /// The daemon's status.
    pub fn status(&mut self) -> Result<DaemonStatus, ClientError> {
        match self.request(&Request::Status)? {
            Response::Status(s) => Ok(s),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "status" }),
        }
    }

    /// Ask the daemon to manage `pid` (`wend run`).
    pub fn manage(&mut self, pid: i32, lock: bool) -> Result<(), ClientError> {
        match self.request(&Request::Manage(ManageRequest { pid, lock }))? {
            Response::Managed => Ok(()),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "manage" }),
        }
    }

    /// Move `pid` now; the reply comes once it runs at its destination (up to
    /// [`MIGRATE_TIMEOUT`]).
    pub fn migrate(&mut self, pid: i32, to: Destination) -> Result<MigrateReport, ClientError> {
        let _ = self.stream.set_read_timeout(Some(MIGRATE_TIMEOUT));
        let r = self.request(&Request::Migrate(MigrateRequest { pid, to }));
        let _ = self.stream.set_read_timeout(Some(REPLY_TIMEOUT));
        match r? {
            Response::Migrated(m) => Ok(m),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "migrate" }),
        }
    }

    /// Lock or unlock a process, block or expel guests, bring processes home; expel and bring
    /// answer once the processes moved (up to [`MIGRATE_TIMEOUT`]).
    pub fn control(&mut self, c: Control) -> Result<ControlReport, ClientError> {
        let _ = self.stream.set_read_timeout(Some(MIGRATE_TIMEOUT));
        let r = self.request(&Request::Control(c));
        let _ = self.stream.set_read_timeout(Some(REPLY_TIMEOUT));
        match r? {
            Response::Controlled(m) => Ok(m),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "control" }),
        }
    }

    /// The processes the daemon manages or hosts, as far as the caller may see them.
    pub fn ps(&mut self) -> Result<Vec<ProcInfo>, ClientError> {
        match self.request(&Request::Ps)? {
            Response::Procs(p) => Ok(p),
            Response::Error(e) => Err(ClientError::Daemon(e)),
            _ => Err(ClientError::Unexpected { asked: "ps" }),
        }
    }

    fn io(&self, error: io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            error,
        }
    }
}
