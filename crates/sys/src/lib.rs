//! wend-sys: the only crate of wend that contains `unsafe` code.
//!
//! It wraps the kernel interfaces the checkpoint engine needs behind safe, typed functions:
//!
//! - [`ptrace`]: a seized, stopped process as a value ([`Stopped`]); registers, the xsave area,
//!   the signal mask, pending signals and the rseq registration are only reachable through it,
//!   and detaching consumes it. A vanished process becomes [`SysError::Died`].
//! - [`inject`]: running a system call inside a stopped tracee.
//! - [`flight`]: injected calls that may block: launched, polled, interrupted.
//! - [`mem`]: `process_vm_readv`/`process_vm_writev` in large batches, and `/proc/PID/mem` for
//!   areas those calls refuse (`PROT_NONE`).
//! - [`proc`]: parsers for `/proc/PID/{maps,smaps,status,stat,fdinfo,auxv,pagemap}` and
//!   `/proc/locks`.
//! - [`fd`]: descriptor helpers: `kcmp(KCMP_FILE)`, peeking into a pipe with `tee(2)`, pipe
//!   sizes, `O_TMPFILE`.
//! - [`stub`]: forking the restore stub that reopens descriptors, then stops under
//!   `PTRACE_TRACEME`.
//! - [`pidfd`]: `pidfd_open`, `pidfd_getfd`, `pidfd_send_signal`.
//! - [`seccomp`]: installing a seccomp filter with a user-notification listener into a stopped
//!   tracee, and serving the listener.
//! - [`signals`]: blocking and forwarding SIGINT/SIGTERM/SIGHUP to a child.
//!
//! Architecture-specific parts (register layout, system-call restart codes) live in
//! `arch/x86_64` and are re-exported from [`arch`].
//!
//! We use `nix` (not `rustix`) because `nix` covers ptrace (seize, interrupt, regs, single-step,
//! detach) and `waitpid` with ptrace events, which `rustix` does not offer; requests neither
//! wraps (`PTRACE_GETREGSET`, `PTRACE_GETSIGMASK`, `PTRACE_PEEKSIGINFO`,
//! `PTRACE_GET_RSEQ_CONFIGURATION`, `kcmp`, `tee`, `close_range`) go through `libc` directly,
//! each in an `unsafe` block with a `// SAFETY:` comment.

pub mod arch;
mod error;
pub mod fd;
pub mod flight;
pub mod inject;
pub mod limits;
pub mod mem;
pub mod pidfd;
pub mod proc;
pub mod process;
pub mod ptrace;
pub mod seccomp;
pub mod signals;
pub mod snapshot;
pub mod stub;
pub mod uffd;

pub use arch::Regs;
pub use error::{Result, SysError};
pub use ptrace::{DropAction, Stopped};

/// A process id.
pub type Pid = i32;

/// The size of a page on x86-64.
pub const PAGE_SIZE: u64 = 4096;
