//! wend-proto: the messages between the `wend` client commands and the local daemon, and the
//! framing that carries them. This crate does no I/O: it turns messages into bytes and bytes
//! (arriving in any pieces) back into messages, so the daemon, the client and the tests share
//! one definition of the wire format.
//!
//! A frame on the local API is
//!
//! ```text
//! offset  size  field
//! 0       2     magic b"WD"
//! 2       1     protocol version (API_VERSION)
//! 3       1     message kind (see `kind`)
//! 4       4     payload length, big-endian u32
//! 8       len   payload: JSON (serde) for the kind
//! ```
//!
//! The header layout and the error kind (`kind::ERROR`) never change between versions, so a
//! daemon can always tell a client of another version what went wrong.
#![forbid(unsafe_code)]

pub mod api;
pub mod frame;
mod procs;
mod types;

pub use api::{ApiError, ErrorCode, MessageError, Request, Response};
pub use frame::{Frame, FrameDecoder, FrameError, API_VERSION, HEADER_LEN, MAGIC, MAX_PAYLOAD};
pub use procs::{
    Control, ControlReport, Destination, ManageRequest, MigrateReport, MigrateRequest, ProcInfo,
    ProcState,
};
pub use types::{Caller, DaemonStatus, NodeInfo, NodeState};

/// Message kinds, one byte in the frame header. Requests are below 0x80, replies at or above.
pub mod kind {
    /// Request: a snapshot of every node this daemon knows.
    pub const NODES: u8 = 0x01;
    /// Request: this daemon's own status.
    pub const STATUS: u8 = 0x02;
    /// Request: manage a process (`wend run`'s child).
    pub const MANAGE: u8 = 0x10;
    /// Request: move a process now.
    pub const MIGRATE: u8 = 0x11;
    /// Request: the processes this node manages or hosts.
    pub const PS: u8 = 0x12;
    /// Request: lock or unlock a process, block or expel guests, bring processes home.
    pub const CONTROL: u8 = 0x13;
    // 0x14..=0x3f are reserved for more process requests.
    /// Reply to [`NODES`].
    pub const NODES_REPLY: u8 = 0x81;
    /// Reply to [`STATUS`].
    pub const STATUS_REPLY: u8 = 0x82;
    /// Reply to [`MANAGE`].
    pub const MANAGE_REPLY: u8 = 0x90;
    /// Reply to [`MIGRATE`].
    pub const MIGRATE_REPLY: u8 = 0x91;
    /// Reply to [`PS`].
    pub const PS_REPLY: u8 = 0x92;
    /// Reply to [`CONTROL`].
    pub const CONTROL_REPLY: u8 = 0x93;
    /// Reply: the request failed; the payload is an [`crate::ApiError`]. Stable across versions.
    pub const ERROR: u8 = 0xff;
}
