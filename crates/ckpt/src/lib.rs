//! wend-ckpt: the checkpoint/restore engine.
//!
//! - [`dump`] freezes a single-threaded process (PTRACE_SEIZE + PTRACE_INTERRUPT), checks its
//!   [stay reasons](stay) first, and streams its complete state into a
//!   [`wend_image::ImageWriter`]: the [`ProcessImage`] metadata, blobs (deleted files, pipe
//!   contents), then memory pages. It returns the still-frozen process as [`Frozen`]; the caller
//!   kills it, lets it run on, or keeps it frozen (a migration's deputy).
//! - [`restore`] reads an image, forks a stub that reopens the descriptors and stops under
//!   ptrace, rebuilds memory and state by injected system calls and returns the rebuilt process
//!   still stopped as [`Restored`]: a caller can run a hook on it (install a seccomp filter)
//!   before [`Restored::resume`]. [`restore_into`] rebuilds memory and state into any stopped
//!   process (the deputy coming home).
//! - Post-copy: [`dump`] with [`CheckpointOptions::lazy`] leaves anonymous memory out and
//!   lists its present pages; [`restore_postcopy`] rebuilds the rest and hands back the
//!   target's userfaultfd, through which the caller fills those pages while it runs.
//! - [`checkpoint_to_file`] and [`restore_file`] are the whole `wend checkpoint`/`wend restore`
//!   flows on files.
//!
//! The engine holds no policy about clusters; the stay checks are a function of process facts
//! and a [`StayPath`].
//!
//! Known approximations (each chosen over refusing the process):
//! - A sleeping call the kernel would continue with a restart block (`-ERESTART_RESTARTBLOCK`,
//!   e.g. `nanosleep`) is made again with its original arguments: a sleep starts over.
//! - Read-only shared file mappings are mapped again read-only from their file; a later
//!   `mprotect` to writable fails in the restored process.
//! - Only `[stack]` is mapped `MAP_GROWSDOWN` (the VmFlags that tell would need smaps, which
//!   walks every page).
//! - Signals that arrive while wend injects calls are kept; those given back on a
//!   leave-running checkpoint lose their original sender information (sent again by wend).
#![forbid(unsafe_code)]

mod dump;
mod error;
mod facts;
pub mod forward;
mod progress;
mod restore;
pub mod stay;

pub use dump::{
    checkpoint_to_file, dump, dump_with, CheckpointOptions, CheckpointReport, DumpReport, Frozen,
};
pub use error::CkptError;
pub use progress::Progress;
pub use restore::{
    open_image, restore, restore_file, restore_into, restore_postcopy, RestoreOptions, Restored,
};
pub use stay::{stay_reasons, ProcessFacts, StayPath, StayReason};
pub use wend_image::model::ProcessImage;
pub use wend_sys::uffd::Uffd;
pub use wend_sys::Stopped;

/// Read the facts of `pid` and list every reason it must stay for `path` (empty: it may go).
/// The process is not touched.
pub fn check(pid: i32, path: StayPath) -> Result<Vec<StayReason>, CkptError> {
    Ok(stay_reasons(&ProcessFacts::gather(pid)?, path))
}
