//! Requests from client commands to the local daemon, and the daemon's replies.
//!
//! One request, one reply, in order, on a connection that may carry many. Every request kind
//! has exactly one reply kind, or an [`ApiError`] in a [`kind::ERROR`] frame.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::frame::{Frame, API_VERSION};
use crate::kind;
use crate::procs::{
    Control, ControlReport, ManageRequest, MigrateReport, MigrateRequest, ProcInfo,
};
use crate::types::{DaemonStatus, NodeInfo};

/// What a client asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Every node this daemon knows, with its load vector.
    Nodes,
    /// This daemon's own status.
    Status,
    /// Manage a process (`wend run`).
    Manage(ManageRequest),
    /// Move a process now; the reply comes when it runs at its destination.
    Migrate(MigrateRequest),
    /// The processes this node manages as home, and the guests it runs.
    Ps,
    /// Lock/unlock a process, block/unblock/expel guests, bring processes home.
    Control(Control),
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// Reply to [`Request::Nodes`].
    Nodes(Vec<NodeInfo>),
    /// Reply to [`Request::Status`].
    Status(DaemonStatus),
    /// Reply to [`Request::Manage`].
    Managed,
    /// Reply to [`Request::Migrate`].
    Migrated(MigrateReport),
    /// Reply to [`Request::Ps`].
    Procs(Vec<ProcInfo>),
    /// Reply to [`Request::Control`].
    Controlled(ControlReport),
    /// The request failed.
    Error(ApiError),
}

/// Machine-readable reason of an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame's version is not the daemon's.
    UnsupportedVersion,
    /// The frame could not be decoded (bad magic, too large, bad payload, unknown kind).
    BadRequest,
    /// The caller may not do this.
    PermissionDenied,
    /// The daemon is busy (too many connections) or stopping.
    Unavailable,
    /// The daemon failed while handling the request.
    Internal,
    /// No such process (or not one this daemon manages).
    NoSuchProcess,
    /// The process has reasons to stay where it is.
    Stay,
    /// The destination refused, failed or is unknown; the process runs where it was.
    MigrationFailed,
}

/// An error reply: a code and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{message}")]
pub struct ApiError {
    /// The reason, for programs.
    pub code: ErrorCode,
    /// What went wrong and how to fix it, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// Why a frame is not a valid message.
#[derive(Debug, Error)]
pub enum MessageError {
    /// The sender speaks another protocol version.
    #[error("api version {found} is not supported (this side speaks {API_VERSION}); run the same wend version on both sides")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u8,
    },
    /// The kind byte names no message of this direction.
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
    /// The payload does not match the kind.
    #[error("bad payload for message kind {kind:#04x}: {source}")]
    BadPayload {
        /// The kind of the frame.
        kind: u8,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl MessageError {
    /// The error reply a daemon sends for this error.
    pub fn to_api_error(&self) -> ApiError {
        let code = match self {
            MessageError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(code, self.to_string())
    }
}

fn check_version(frame: &Frame) -> Result<(), MessageError> {
    if frame.version == API_VERSION {
        Ok(())
    } else {
        Err(MessageError::UnsupportedVersion {
            found: frame.version,
        })
    }
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, numbers, enums without maps of non-string
    // keys) cannot fail; an empty payload would be refused by the other side anyway.
    serde_json::to_vec(value).unwrap_or_default()
}

fn parse<'a, T: Deserialize<'a>>(frame: &'a Frame) -> Result<T, MessageError> {
    serde_json::from_slice(&frame.payload).map_err(|source| MessageError::BadPayload {
        kind: frame.kind,
        source,
    })
}

impl Request {
    /// The frame carrying this request.
    pub fn to_frame(&self) -> Frame {
        match self {
            Request::Nodes => Frame::new(kind::NODES, Vec::new()),
            Request::Status => Frame::new(kind::STATUS, Vec::new()),
            Request::Manage(m) => Frame::new(kind::MANAGE, json(m)),
            Request::Migrate(m) => Frame::new(kind::MIGRATE, json(m)),
            Request::Ps => Frame::new(kind::PS, Vec::new()),
            Request::Control(c) => Frame::new(kind::CONTROL, json(c)),
        }
    }

    /// The request in a frame; requests without arguments ignore their payload.
    pub fn from_frame(frame: &Frame) -> Result<Request, MessageError> {
        check_version(frame)?;
        match frame.kind {
            kind::NODES => Ok(Request::Nodes),
            kind::STATUS => Ok(Request::Status),
            kind::MANAGE => parse(frame).map(Request::Manage),
            kind::MIGRATE => parse(frame).map(Request::Migrate),
            kind::PS => Ok(Request::Ps),
            kind::CONTROL => parse(frame).map(Request::Control),
            other => Err(MessageError::UnknownKind(other)),
        }
    }
}

impl Response {
    /// The frame carrying this reply.
    pub fn to_frame(&self) -> Frame {
        match self {
            Response::Nodes(nodes) => Frame::new(kind::NODES_REPLY, json(nodes)),
            Response::Status(status) => Frame::new(kind::STATUS_REPLY, json(status)),
            Response::Managed => Frame::new(kind::MANAGE_REPLY, Vec::new()),
            Response::Migrated(r) => Frame::new(kind::MIGRATE_REPLY, json(r)),
            Response::Procs(p) => Frame::new(kind::PS_REPLY, json(p)),
            Response::Controlled(r) => Frame::new(kind::CONTROL_REPLY, json(r)),
            Response::Error(err) => Frame::new(kind::ERROR, json(err)),
        }
    }

    /// The reply in a frame. An error frame is understood whatever its version, so a client
    /// can show why a daemon of another version refused it.
    pub fn from_frame(frame: &Frame) -> Result<Response, MessageError> {
        if frame.kind == kind::ERROR {
            return parse(frame).map(Response::Error);
        }
        check_version(frame)?;
        match frame.kind {
            kind::NODES_REPLY => parse(frame).map(Response::Nodes),
            kind::STATUS_REPLY => parse(frame).map(Response::Status),
            kind::MANAGE_REPLY => Ok(Response::Managed),
            kind::MIGRATE_REPLY => parse(frame).map(Response::Migrated),
            kind::PS_REPLY => parse(frame).map(Response::Procs),
            kind::CONTROL_REPLY => parse(frame).map(Response::Controlled),
            other => Err(MessageError::UnknownKind(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Caller, NodeState};

    fn node() -> NodeInfo {
        NodeInfo {
            name: "node1".into(),
            state: NodeState::Alive,
            addr: "10.0.0.1:7100".into(),
            cpus: 0.5,
            speed: 1.25,
            load: 0.75,
            mem_free: 1 << 30,
            mem_total: 2 << 30,
            guests: 0,
            accepting: true,
            local: true,
            age_ms: Some(12),
        }
    }

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Nodes,
            Request::Status,
            Request::Ps,
            Request::Manage(ManageRequest { pid: 7, lock: true }),
            Request::Migrate(MigrateRequest {
                pid: 7,
                to: crate::Destination::Node("node2".into()),
            }),
            Request::Migrate(MigrateRequest {
                pid: 7,
                to: crate::Destination::Home,
            }),
            Request::Control(Control::Lock { pid: 3 }),
            Request::Control(Control::Unlock { pid: 3 }),
            Request::Control(Control::Block),
            Request::Control(Control::Unblock),
            Request::Control(Control::Expel),
            Request::Control(Control::Bring { pids: vec![4, 5] }),
        ] {
            assert_eq!(Request::from_frame(&req.to_frame()).unwrap(), req);
        }
    }

    #[test]
    fn responses_round_trip() {
        let status = DaemonStatus {
            name: "n".into(),
            version: "0.1.0".into(),
            api_version: API_VERSION,
            listen: "127.0.0.1:1".into(),
            uptime_secs: 3,
            alive: 1,
            known: 2,
            accepting: false,
            discovery: true,
            caller: Caller {
                uid: 0,
                gid: 0,
                pid: Some(1),
            },
        };
        for resp in [
            Response::Nodes(vec![node(), node()]),
            Response::Status(status),
            Response::Error(ApiError::new(ErrorCode::BadRequest, "no")),
            Response::Managed,
            Response::Migrated(MigrateReport {
                pid: 9,
                now_on: "node2".into(),
                frozen_ms: 12.5,
                total_ms: 40.0,
                image_bytes: 1 << 20,
            }),
            Response::Procs(vec![ProcInfo {
                pid: 9,
                home: "node1".into(),
                cmd: "xz -9".into(),
                where_: "node2".into(),
                state: crate::ProcState::Remote,
                cpu_secs: 1.5,
                migrations: 1,
                locked: false,
                stay_reasons: vec![],
                local_pid: None,
            }]),
            Response::Controlled(ControlReport {
                message: "2 guest(s) sent home".into(),
                count: 2,
            }),
        ] {
            assert_eq!(Response::from_frame(&resp.to_frame()).unwrap(), resp);
        }
    }

    #[test]
    fn wrong_version_is_refused_but_errors_are_read() {
        let mut f = Request::Nodes.to_frame();
        f.version = API_VERSION + 1;
        let err = Request::from_frame(&f).unwrap_err();
        assert!(
            matches!(err, MessageError::UnsupportedVersion { found } if found == API_VERSION + 1)
        );
        assert_eq!(err.to_api_error().code, ErrorCode::UnsupportedVersion);

        let mut e = Response::Error(ApiError::new(ErrorCode::Internal, "x")).to_frame();
        e.version = 200;
        assert!(matches!(Response::from_frame(&e), Ok(Response::Error(_))));
    }

    #[test]
    fn unknown_kinds_and_bad_payloads() {
        let f = Frame::new(0x7e, Vec::new());
        assert!(matches!(
            Request::from_frame(&f),
            Err(MessageError::UnknownKind(0x7e))
        ));
        let f = Frame::new(kind::NODES_REPLY, b"{not json".to_vec());
        assert!(matches!(
            Response::from_frame(&f),
            Err(MessageError::BadPayload { .. })
        ));
    }

    #[test]
    fn json_field_names_are_stable() {
        let v: serde_json::Value = serde_json::from_slice(&json(&node())).unwrap();
        for key in [
            "name",
            "state",
            "cpus",
            "speed",
            "load",
            "mem_free",
            "mem_total",
            "guests",
            "accepting",
            "addr",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["state"], "alive");
    }
}
