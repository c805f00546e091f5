//! wend-deputy: system-call forwarding between a migrated process and its home.
//!
//! - [`call`]: a forwarded call as it travels: number, arguments and the memory regions its
//!   pointer arguments refer to, copied in and out. Self-describing, so the home side executes
//!   it without knowing the system call.
#![forbid(unsafe_code)]

pub mod call;

pub use call::{Back, Call, Dir, Outcome, Region};
