//! Filling another process's fresh anonymous memory with `UFFDIO_COPY`.
//!
//! Writing restored pages with `process_vm_writev` faults every page in first: the kernel
//! allocates it, zeroes it (`clear_page`, 29% of a 1 GiB restore's CPU here) and only then
//! copies our data over it. `UFFDIO_COPY` on a userfaultfd of the target allocates the page and
//! copies into it directly, a whole run per call, without the zeroing or the per-page fault.
//! The userfaultfd is created inside the stopped target by an injected call (it belongs to the
//! target's mm), taken with `pidfd_getfd`, and closed in the target at once.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::ptrace::Stopped;
use crate::{pidfd, Pid, Result, SysError};

const UFFD_API: u64 = 0xaa;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
// _IOWR/_IOR(0xaa, nr, struct): direction << 30 | size << 16 | 0xaa << 8 | nr.
const UFFDIO_API: u64 = 0xc018_aa3f;
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
const UFFDIO_UNREGISTER: u64 = 0x8010_aa01;
const UFFDIO_COPY: u64 = 0xc028_aa03;

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
struct CopyArg {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
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
        let pid = st.pid();
        let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
        let rfd = st.syscall("userfaultfd", libc::SYS_userfaultfd, [flags, 0, 0, 0, 0, 0])?;
        let taken = pidfd::open(pid).and_then(|p| pidfd::get_fd(&p, pid, rfd as i32));
        st.syscall("close(userfaultfd)", libc::SYS_close, [rfd, 0, 0, 0, 0, 0])?;
        let u = Uffd { fd: taken?, pid };
        let mut api = ApiArg {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        u.ioctl("UFFDIO_API", UFFDIO_API, (&mut api as *mut ApiArg).cast())?;
        Ok(u)
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
