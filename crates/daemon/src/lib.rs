//! wend-daemon: `wend daemon`, the node's orchestration.
#![forbid(unsafe_code)]

pub mod calibrate;
pub mod config;
pub mod probe;
