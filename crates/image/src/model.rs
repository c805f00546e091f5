//! The data model of a process image (owned by the engine; see docs/agents/IMAGE_API.md).
//!
//! [`ProcessImage`] is the metadata record of an image: everything but the memory contents and
//! blobs, which follow it as page and blob records. It is plain serde data, encoded by the codec;
//! it holds no policy. Field order matters to the encoding: add fields at the end of a struct and
//! bump [`MODEL_VERSION`].

use serde::{Deserialize, Serialize};

/// Version of this model, apart from the container format's version.
pub const MODEL_VERSION: u32 = 1;

/// The complete state of one frozen single-threaded process, memory contents aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessImage {
    pub model_version: u32,
    /// Pid at checkpoint time.
    pub pid: i32,
    /// Process name (`comm`, up to 15 bytes).
    pub comm: String,
    /// The executable's path (`/proc/PID/exe`).
    pub exe: String,
    /// `/proc/PID/cmdline` at checkpoint time (NUL-separated), for display.
    pub cmdline: Vec<u8>,
    /// Working directory.
    pub cwd: String,
    pub umask: u32,
    pub cpu: CpuState,
    pub mm: MmState,
    /// Memory areas in address order (the vDSO block and `[vsyscall]` excluded).
    pub areas: Vec<Area>,
    pub vdso: Option<VdsoBlock>,
    pub files: Files,
    pub signals: SignalState,
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [ITimer; 3],
    /// Resource limits, indexed by RLIMIT_* number.
    pub rlimits: Vec<Rlimit>,
    pub rseq: Option<Rseq>,
    /// Unix time in nanoseconds when the image was taken.
    pub taken_at_ns: u64,
    /// Hostname of the machine the image was taken on.
    pub hostname: String,
    /// Nice value (-20..19).
    pub nice: i32,
}

/// Registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuState {
    /// `user_regs_struct` as 27 words, fs/gs base included.
    pub gregs: Vec<u64>,
    /// The xsave area (`NT_X86_XSTATE`).
    pub xsave: Vec<u8>,
}

/// Address-space fields of `mm_struct` (set back with PR_SET_MM_MAP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmState {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// The auxiliary vector as words, AT_NULL included.
    pub auxv: Vec<u64>,
}

/// One memory area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    /// PROT_* bits.
    pub prot: i32,
    /// Grows down (the main stack).
    pub growsdown: bool,
    /// The name /proc/PID/maps showed (`[heap]`, `[stack]`, a path, or empty).
    pub name: String,
    pub backing: Backing,
}

/// Where an area's contents come from at restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backing {
    /// Anonymous private memory: starts zero; page records give the non-zero pages.
    Anon,
    /// A private mapping of a file: mapped from the file, then page records (the pages the
    /// process wrote) are laid over it.
    File(MappedFile),
    /// A read-only shared mapping of a file, mapped again from the file.
    SharedFile(MappedFile),
}

/// Identity of a mapped file, checked at restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedFile {
    pub path: String,
    pub offset: u64,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

/// The vDSO block: `[vvar]`, `[vvar_vclock]`, `[vdso]`, contiguous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdsoBlock {
    /// Start of the block (the first vvar page).
    pub start: u64,
    /// Start of `[vdso]` (text).
    pub vdso_start: u64,
    pub end: u64,
}

/// Open descriptors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    /// Open file descriptions; several descriptors may share one (dup).
    pub descriptions: Vec<OpenFile>,
    pub fds: Vec<Fd>,
    pub pipes: Vec<Pipe>,
}

/// One descriptor number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fd {
    pub fd: i32,
    pub cloexec: bool,
    /// Index into [`Files::descriptions`].
    pub description: u32,
}

/// One open file description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFile {
    /// Open flags (O_CLOEXEC removed).
    pub flags: i32,
    pub pos: u64,
    pub kind: FileKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// Standard input/output/error that was a terminal or a pipe to elsewhere: the restorer's
    /// own descriptor of that number takes its place.
    Inherit { stdio: i32, what: String },
    /// A file reopened by path (regular files, directories, /dev/null-like devices).
    Path {
        path: String,
        dev: u64,
        ino: u64,
        mode: u32,
    },
    /// A deleted regular file: its content is blob `blob`.
    Deleted {
        path: String,
        blob: u32,
        size: u64,
        mode: u32,
    },
    /// One end of a pipe whose both ends the process holds.
    Pipe { pipe: u32, write_end: bool },
}

/// A pipe with both ends in the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipe {
    pub capacity: u64,
    /// Blob with the bytes buffered in it (absent when empty).
    pub data_blob: Option<u32>,
    pub data_len: u64,
}

/// Signal state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalState {
    /// Kernel `struct sigaction` (handler, flags, restorer, mask) for signals 1..=64; index 0 is
    /// signal 1. SIGKILL and SIGSTOP entries are kept but never set.
    pub actions: Vec<SigAction>,
    /// Blocked mask, bit n-1 for signal n.
    pub blocked: u64,
    pub pending: Vec<PendingSignal>,
    pub altstack: AltStack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignal {
    pub signo: i32,
    /// Process-wide (shared) rather than thread-private.
    pub shared: bool,
    /// The 128-byte `siginfo_t`.
    pub siginfo: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

/// `struct itimerval` in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ITimer {
    pub interval_us: u64,
    pub value_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub soft: u64,
    pub hard: u64,
}

/// The rseq registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rseq {
    pub addr: u64,
    pub len: u32,
    pub signature: u32,
}

impl ProcessImage {
    /// Bytes of memory the areas span.
    pub fn mapped_bytes(&self) -> u64 {
        self.areas.iter().map(|a| a.end - a.start).sum()
    }

    /// The command line as `ps` prints it (arguments joined by spaces).
    pub fn cmdline_display(&self) -> String {
        let parts: Vec<String> = self
            .cmdline
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        parts.join(" ")
    }
}
