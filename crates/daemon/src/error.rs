//! The daemon's typed errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use crate::config::ConfigError;

/// Why the daemon could not start or run.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cluster key could not be read.
    #[error("{error}; to make a key run `wend keygen -o {path}` and copy it to every node")]
    Key {
        /// The key file.
        path: PathBuf,
        /// The cluster crate's error.
        error: wend_cluster::KeyError,
    },
    /// The cluster core refused its configuration.
    #[error(transparent)]
    Cluster(#[from] wend_cluster::ClusterError),
    /// The peer socket could not be bound.
    #[error("cannot listen for peers on {addr}: {error}; pick a free port or an address of this machine with --listen")]
    BindPeer {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// Another daemon already serves the API socket.
    #[error("another wend daemon is already listening on {0}; stop it or pass another --api path")]
    AlreadyRunning(PathBuf),
    /// The API socket could not be created.
    #[error("cannot create the api socket {path}: {error}; check the directory exists and is writable, or pass another --api path")]
    ApiSocket {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The async runtime or the signal handlers could not be set up.
    #[error("cannot set up the daemon's runtime: {0}")]
    Runtime(std::io::Error),
    /// The local machine could not be read (/proc).
    #[error("cannot read this machine's load from /proc: {0}")]
    Probe(std::io::Error),
}
