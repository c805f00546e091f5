//! wend-daemon: `wend daemon`, the node's orchestration, and the client side of its local API.
//!
//! - [`Daemon`]: binds the peer UDP socket and the API socket, calibrates the CPU speed,
//!   starts the load [`sampler`], the [`peer`] loop around the cluster core (wend-cluster)
//!   with multicast [`discovery`], and the [`api`] server; stops them all on shutdown.
//! - [`client`]: a blocking client of the local API for the `wend` commands.
//! - [`view`] and [`top`]: what `wend nodes` prints and the `wend top` monitor.
#![forbid(unsafe_code)]

pub mod api;
pub mod calibrate;
pub mod client;
pub mod config;
mod daemon;
pub mod discovery;
mod error;
pub mod flags;
pub mod migrate;
pub mod peer;
pub mod probe;
pub mod sampler;
pub mod top;
pub mod view;

pub use config::{ConfigError, DaemonConfig, Overrides};
pub use daemon::{run_until_signal, Daemon};
pub use error::DaemonError;
