//! x86-64: the general register set, system-call numbers and restart rules.

/// `ptrace` note type of the xsave area.
pub const NT_X86_XSTATE: u32 = 0x202;
/// `arch_prctl` code that maps the vDSO block at an address.
pub const ARCH_MAP_VDSO_64: u64 = 0x2003;
/// The instruction `syscall`.
pub const SYSCALL_INSN: [u8; 2] = [0x0f, 0x05];
/// The highest user address plus one (47-bit address space).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Number of general registers in [`Regs::to_array`].
pub const NREGS: usize = 27;

/// The kernel's "restart this system call" return codes, seen in `rax` of a process frozen in
/// a sleeping system call.
const ERESTARTSYS: i64 = -512;
const ERESTARTNOINTR: i64 = -513;
const ERESTARTNOHAND: i64 = -514;
const ERESTART_RESTARTBLOCK: i64 = -516;

/// General registers of a stopped thread (`struct user_regs_struct`), fs/gs base included.
#[derive(Clone, Copy)]
pub struct Regs(pub(crate) libc::user_regs_struct);

impl std::fmt::Debug for Regs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Regs {{ rip: {:#x}, rsp: {:#x}, rax: {:#x}, orig_rax: {:#x} }}",
            self.0.rip, self.0.rsp, self.0.rax, self.0.orig_rax
        )
    }
}

/// How to continue a process frozen inside a sleeping system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// The same process continues: `restart_syscall` uses the kernel's saved restart block.
    SameProcess,
    /// A rebuilt process: no restart block exists, so the original call is made again.
    Rebuilt,
}

impl Regs {
    /// The registers as 27 words in `user_regs_struct` order.
    pub fn to_array(&self) -> [u64; NREGS] {
        let r = &self.0;
        [
            r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx,
            r.rdx, r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base,
            r.gs_base, r.ds, r.es, r.fs, r.gs,
        ]
    }

    /// The inverse of [`Regs::to_array`].
    pub fn from_array(a: &[u64; NREGS]) -> Self {
        Regs(libc::user_regs_struct {
            r15: a[0],
            r14: a[1],
            r13: a[2],
            r12: a[3],
            rbp: a[4],
            rbx: a[5],
            r11: a[6],
            r10: a[7],
            r9: a[8],
            r8: a[9],
            rax: a[10],
            rcx: a[11],
            rdx: a[12],
            rsi: a[13],
            rdi: a[14],
            orig_rax: a[15],
            rip: a[16],
            cs: a[17],
            eflags: a[18],
            rsp: a[19],
            ss: a[20],
            fs_base: a[21],
            gs_base: a[22],
            ds: a[23],
            es: a[24],
            fs: a[25],
            gs: a[26],
        })
    }

    pub fn ip(&self) -> u64 {
        self.0.rip
    }
    pub fn sp(&self) -> u64 {
        self.0.rsp
    }
    pub fn ret(&self) -> u64 {
        self.0.rax
    }
    pub fn orig_syscall(&self) -> u64 {
        self.0.orig_rax
    }
    pub fn fs_base(&self) -> u64 {
        self.0.fs_base
    }
    pub fn gs_base(&self) -> u64 {
        self.0.gs_base
    }

    /// Prepare a system call `nr(args)` executed by the `syscall` instruction at `insn`.
    pub fn set_syscall(&mut self, insn: u64, nr: i64, args: [u64; 6]) {
        let r = &mut self.0;
        r.rax = nr as u64;
        // -1: the kernel must not treat the stop we resume from as an interrupted call.
        r.orig_rax = u64::MAX;
        r.rdi = args[0];
        r.rsi = args[1];
        r.rdx = args[2];
        r.r10 = args[3];
        r.r8 = args[4];
        r.r9 = args[5];
        r.rip = insn;
    }

    /// Set the stack pointer.
    pub fn set_sp(&mut self, sp: u64) {
        self.0.rsp = sp;
    }

    /// Whether the thread was frozen inside a system call that the kernel would restart.
    pub fn in_restartable_syscall(&self) -> bool {
        (self.0.orig_rax as i64) >= 0
            && matches!(
                self.0.rax as i64,
                ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
            )
    }

    /// Rewrite a frozen "will restart" state into one that makes the call again when resumed
    /// from a stop the kernel does not treat as a syscall exit (after injection or restore).
    pub fn fixup_restart(&mut self, mode: RestartMode) {
        if !self.in_restartable_syscall() {
            return;
        }
        let r = &mut self.0;
        r.rax = if r.rax as i64 == ERESTART_RESTARTBLOCK && mode == RestartMode::SameProcess {
            libc::SYS_restart_syscall as u64
        } else {
            r.orig_rax
        };
        r.rip -= 2;
        r.orig_rax = u64::MAX;
    }
}
