//! Filling another process's fresh anonymous memory with `UFFDIO_COPY`.
//!
//! Writing restored pages with `process_vm_writev` faults every page in first: the kernel
//! allocates it, zeroes it (`clear_page`, 29% of a 1 GiB restore's CPU here) and only then
//! copies our data over it. `UFFDIO_COPY` on a userfaultfd of the target allocates the page and
//! copies into it directly, a whole run per call, without the zeroing or the per-page fault.
//! The userfaultfd is created inside the stopped target by an injected call (it belongs to the
//! target's mm), taken with `pidfd_getfd`, and closed in the target at once.
//!
//! Post-copy uses the same descriptor while the target runs: its missing-page faults and the
//! changes it makes to registered memory (unmap, `MADV_DONTNEED`, `mremap`) arrive as
//! [`Event`]s ([`Uffd::events`]); pages are placed with [`Uffd::place`] or
//! [`Uffd::zeropage`]. Closing the descriptor unregisters every range it holds.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::ptrace::Stopped;
use crate::{pidfd, Pid, Result, SysError};

const UFFD_API: u64 = 0xaa;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
// _IOWR/_IOR(0xaa, nr, struct): direction << 30 | size << 16 | 0xaa << 8 | nr.
const UFFDIO_API: u64 = 0xc018_aa3f;
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
const UFFDIO_UNREGISTER: u64 = 0x8010_aa01;
const UFFDIO_COPY: u64 = 0xc028_aa03;
const UFFDIO_WAKE: u64 = 0x8010_aa02;
const UFFDIO_ZEROPAGE: u64 = 0xc020_aa04;

/// Features asking for the events a post-copy monitor needs: `mremap`, `MADV_DONTNEED` /
/// `MADV_REMOVE` and `munmap` of registered memory.
pub const FEATURES_POSTCOPY: u64 = FEATURE_EVENT_REMAP | FEATURE_EVENT_REMOVE | FEATURE_EVENT_UNMAP;
const FEATURE_EVENT_REMAP: u64 = 1 << 2;
const FEATURE_EVENT_REMOVE: u64 = 1 << 3;
const FEATURE_EVENT_UNMAP: u64 = 1 << 6;

const EVENT_PAGEFAULT: u8 = 0x12;
const EVENT_REMAP: u8 = 0x14;
const EVENT_REMOVE: u8 = 0x15;
const EVENT_UNMAP: u8 = 0x16;
/// Size of `struct uffd_msg`.
const MSG_LEN: usize = 32;

#[repr(C)]
struct ApiArg {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct Range {
    start: u64,
    len: u64,
}

#[repr(C)]
struct RegisterArg {
    range: Range,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct ZeroArg {
    range: Range,
    mode: u64,
    zeropage: i64,
}

#[repr(C)]
struct CopyArg {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

/// What the userfaultfd reports about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A thread waits for the page at this address (not page-aligned).
    Fault { addr: u64, write: bool },
    /// `[from, from+len)` moved to `to` (mremap); the moved range stays registered.
    Remap { from: u64, to: u64, len: u64 },
    /// `[start, end)` was dropped (`MADV_DONTNEED`, `MADV_REMOVE`): it reads as zero now.
    Remove { start: u64, end: u64 },
    /// `[start, end)` was unmapped.
    Unmap { start: u64, end: u64 },
    /// An event this code does not ask for.
    Other(u8),
}

impl Event {
    fn parse(m: &[u8; MSG_LEN]) -> Event {
        let word =
            |i: usize| u64::from_ne_bytes(m[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
        match m[0] {
            EVENT_PAGEFAULT => Event::Fault {
                addr: word(1),
                write: word(0) & 1 != 0,
            },
            EVENT_REMAP => Event::Remap {
                from: word(0),
                to: word(1),
                len: word(2),
            },
            EVENT_REMOVE => Event::Remove {
                start: word(0),
                end: word(1),
            },
            EVENT_UNMAP => Event::Unmap {
                start: word(0),
                end: word(1),
            },
            other => Event::Other(other),
        }
    }
}

/// How [`Uffd::place`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Every page of the run is present now (placed by this call, or already there, or its
    /// memory is gone from the target: nothing more to do for it).
    Done,
    /// The target changes its layout (an event waits to be read): read [`Uffd::events`],
    /// then place what is still wanted again. The first `n` bytes were handled.
    Retry(usize),
}

/// A userfaultfd of another process's mm, held by us.
#[derive(Debug)]
pub struct Uffd {
    fd: OwnedFd,
    pid: Pid,
}

impl Uffd {
    /// Create a userfaultfd inside the stopped `st` and take it; the target keeps no copy.
    pub fn create_in(st: &mut Stopped) -> Result<Uffd> {
        Uffd::create_with(st, 0)
    }

    /// [`Uffd::create_in`] asking for `features` (e.g. [`FEATURES_POSTCOPY`]); fails if the
    /// kernel lacks one.
    pub fn create_with(st: &mut Stopped, features: u64) -> Result<Uffd> {
        let pid = st.pid();
        let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
        let rfd = st.syscall("userfaultfd", libc::SYS_userfaultfd, [flags, 0, 0, 0, 0, 0])?;
        let taken = pidfd::open(pid).and_then(|p| pidfd::get_fd(&p, pid, rfd as i32));
        st.syscall("close(userfaultfd)", libc::SYS_close, [rfd, 0, 0, 0, 0, 0])?;
        let u = Uffd { fd: taken?, pid };
        let mut api = ApiArg {
            api: UFFD_API,
            features,
            ioctls: 0,
        };
        u.ioctl("UFFDIO_API", UFFDIO_API, (&mut api as *mut ApiArg).cast())?;
        Ok(u)
    }

    /// Whether this process may create a userfaultfd (root, or
    /// `vm.unprivileged_userfaultfd`): a cheap check before promising post-copy.
    pub fn available() -> bool {
        let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as libc::c_long;
        // SAFETY: userfaultfd takes only flags; a returned descriptor is ours and closed here.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
        if fd < 0 {
            return false;
        }
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        unsafe { libc::close(fd as i32) };
        true
    }

    /// The pid whose memory this is.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    fn ioctl(&self, op: &'static str, req: u64, arg: *mut libc::c_void) -> Result<()> {
        // SAFETY: every caller passes a pointer to a live #[repr(C)] value of the layout the
        // request encodes; the kernel reads and writes only that value.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), req, arg) };
        if r < 0 {
            return Err(SysError::last(op, self.pid));
        }
        Ok(())
    }

    /// Have missing-page faults in `[start, start+len)` go to this userfaultfd, which makes
    /// the range fillable with [`Uffd::copy`].
    pub fn register(&self, start: u64, len: u64) -> Result<()> {
        let mut reg = RegisterArg {
            range: Range { start, len },
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        self.ioctl(
            "UFFDIO_REGISTER",
            UFFDIO_REGISTER,
            (&mut reg as *mut RegisterArg).cast(),
        )
    }

    /// Undo [`Uffd::register`].
    pub fn unregister(&self, start: u64, len: u64) -> Result<()> {
        let mut range = Range { start, len };
        self.ioctl(
            "UFFDIO_UNREGISTER",
            UFFDIO_UNREGISTER,
            (&mut range as *mut Range).cast(),
        )
    }

    /// Read the events waiting (none if nothing waits; the descriptor is non-blocking).
    pub fn events(&self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let mut buf = [0u8; MSG_LEN * 64];
        loop {
            // SAFETY: `buf` is a live local buffer of the length passed.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(out),
                    Some(libc::EINTR) => continue,
                    _ => return Err(SysError::io("read(userfaultfd)", self.pid, e)),
                }
            }
            let n = n as usize;
            for m in buf[..n].chunks_exact(MSG_LEN) {
                if let Ok(m) = <&[u8; MSG_LEN]>::try_from(m) {
                    out.push(Event::parse(m));
                }
            }
            if n < buf.len() {
                return Ok(out);
            }
        }
    }

    /// Place `data` (a page multiple) at `addr` (page-aligned), waking whoever waits for it.
    /// Pages already present and pages whose memory the target no longer has registered are
    /// skipped; see [`Placed`].
    pub fn place(&self, addr: u64, data: &[u8]) -> Result<Placed> {
        let page = crate::PAGE_SIZE as usize;
        let mut done = 0usize;
        // A run may span several mappings (one call cannot): after a refusal, page by page.
        let mut step = data.len();
        while done < data.len() {
            let len = step.min(data.len() - done);
            let mut arg = CopyArg {
                dst: addr + done as u64,
                src: data[done..].as_ptr() as u64,
                len: len as u64,
                mode: 0,
                copy: 0,
            };
            let r = self.ioctl(
                "UFFDIO_COPY",
                UFFDIO_COPY,
                (&mut arg as *mut CopyArg).cast(),
            );
            if arg.copy > 0 {
                done += arg.copy as usize;
                continue;
            }
            match r.as_ref().err().and_then(SysError::errno) {
                Some(libc::EAGAIN) => return Ok(Placed::Retry(done)),
                // Already there: someone else placed it; wake a thread that may wait on it.
                Some(libc::EEXIST) => {
                    let _ = self.wake(addr + done as u64, page as u64);
                    done += page;
                }
                Some(libc::ENOENT | libc::EINVAL | libc::EFAULT) if len > page => step = page,
                // Not registered (unmapped, or a mapping that replaced it) or gone.
                Some(libc::ENOENT | libc::EINVAL | libc::EFAULT) => done += page,
                _ => {
                    return Err(r
                        .err()
                        .unwrap_or_else(|| SysError::os("UFFDIO_COPY", self.pid, libc::EIO)))
                }
            }
        }
        Ok(Placed::Done)
    }

    /// Map the zero page at every missing page of `[addr, addr+len)` (page-aligned) and wake
    /// whoever waits there. Present and unregistered pages are left alone.
    pub fn zeropage(&self, addr: u64, len: u64) -> Result<Placed> {
        let page = crate::PAGE_SIZE;
        let mut done = 0u64;
        let mut step = len;
        while done < len {
            let n = step.min(len - done);
            let mut arg = ZeroArg {
                range: Range {
                    start: addr + done,
                    len: n,
                },
                mode: 0,
                zeropage: 0,
            };
            let r = self.ioctl(
                "UFFDIO_ZEROPAGE",
                UFFDIO_ZEROPAGE,
                (&mut arg as *mut ZeroArg).cast(),
            );
            if arg.zeropage > 0 {
                done += arg.zeropage as u64;
                continue;
            }
            match r.as_ref().err().and_then(SysError::errno) {
                Some(libc::EAGAIN) => return Ok(Placed::Retry(done as usize)),
                Some(libc::EEXIST) => {
                    let _ = self.wake(addr + done, page);
                    done += page;
                }
                Some(libc::ENOENT | libc::EINVAL | libc::EFAULT) if n > page => step = page,
                Some(libc::ENOENT | libc::EINVAL | libc::EFAULT) => done += page,
                _ => {
                    return Err(r
                        .err()
                        .unwrap_or_else(|| SysError::os("UFFDIO_ZEROPAGE", self.pid, libc::EIO)))
                }
            }
        }
        Ok(Placed::Done)
    }

    /// Wake the threads waiting for pages of `[addr, addr+len)`.
    pub fn wake(&self, addr: u64, len: u64) -> Result<()> {
        let mut range = Range { start: addr, len };
        self.ioctl(
            "UFFDIO_WAKE",
            UFFDIO_WAKE,
            (&mut range as *mut Range).cast(),
        )
    }

    /// Place `data` (a page multiple) at `addr` (page-aligned, registered, not yet present).
    pub fn copy(&self, addr: u64, data: &[u8]) -> Result<()> {
        let mut done = 0usize;
        while done < data.len() {
            let mut arg = CopyArg {
                dst: addr + done as u64,
                src: data[done..].as_ptr() as u64,
                len: (data.len() - done) as u64,
                mode: 0,
                copy: 0,
            };
            let r = self.ioctl(
                "UFFDIO_COPY",
                UFFDIO_COPY,
                (&mut arg as *mut CopyArg).cast(),
            );
            // EAGAIN with progress: partly copied (interrupted); go on from there.
            match r {
                Ok(()) if arg.copy > 0 => done += arg.copy as usize,
                Err(e) if e.errno() == Some(libc::EAGAIN) && arg.copy > 0 => {
                    done += arg.copy as usize
                }
                Ok(()) => return Err(SysError::os("UFFDIO_COPY", self.pid, libc::EIO)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl AsFd for Uffd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
