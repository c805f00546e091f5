//! wend-deputy: system-call forwarding between a migrated process and its home.
//!
//! - [`call`]: a forwarded call as it travels: number, arguments and the memory regions its
//!   pointer arguments refer to, copied in and out. Self-describing, so the home side executes
//!   it without knowing the system call.
//! - [`home`]: the home executor: a frozen original process (the deputy) runs forwarded calls
//!   by injection, and the signals sent to its pid are taken for the guest.
//! - [`table`]: the policy table, one row per x86-64 system call: local, forward, barrier or
//!   deny, with a reason (`docs/SYSCALLS.md` is generated from it).
//! - [`filter`]: the guest's seccomp program, built from the table.
//! - [`marshal`]: the remote side of a notified call: the decision, and for a forwarded call
//!   the regions its pointer arguments refer to and the way results go back.
//! - [`readahead`]: the remote side's read-ahead for sequential reads of regular files, and
//!   when it is safe.
#![forbid(unsafe_code)]

pub mod call;
pub mod filter;
pub mod home;
pub mod marshal;
pub mod readahead;
pub mod table;

pub use call::{Back, Call, Dir, Outcome, Region};
pub use marshal::{decide, Context, Decision, GuestMem, MarshalError, Prepared};
pub use table::{Class, Row};
