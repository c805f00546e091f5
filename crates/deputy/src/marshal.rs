//! The remote side of a notified system call: what to do with it, and for a forwarded one the
//! [`Call`] that carries it home and the way its results come back.
//!
//! [`decide`] turns a notification into a [`Decision`]. A forwarded call's pointer arguments
//! are described declaratively per system call (in `marshal/specs.rs`): a C string, an in
//! buffer, an out buffer returned up to the result, an in-out struct, each sized by a
//! constant, an argument, or a length the guest stores in its memory. Read- and write-like lengths are clamped to
//! [`MAX_REGION`] (a short read or write is legal); `readv`/`writev`/`preadv`/`pwritev` become
//! one `read`/`write`/`pread64`/`pwrite64` of a flat buffer; ioctls are sized by their `_IOC`
//! bits or a table of the classic terminal requests. Whatever cannot be described goes home
//! first ([`Decision::Barrier`]). [`Prepared::finish`] writes the out regions back to the guest.

mod special;
mod specs;

use crate::call::{Back, Call, Dir, Outcome, Region, MAX_REGION};
use crate::table::{self, Class};

/// The guest's memory, as the remote daemon reaches it (`process_vm_readv`/`writev`).
pub trait GuestMem {
    /// Read exactly `buf.len()` bytes at `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Write all of `data` at `addr`.
    fn write(&self, addr: u64, data: &[u8]) -> std::io::Result<()>;
}

/// What the remote knows of the guest's home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The process's pid at home (what `getpid` returns).
    pub home_pid: i32,
}

/// What to do with a notified system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it run natively on the remote (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
    /// Run it at home; answer with [`Prepared::finish`] of home's [`Outcome`].
    Forward(Prepared),
    /// Bring the process home, then let it make the call again there.
    Barrier(&'static str),
    /// Fail it with `errno` (positive).
    Deny { errno: i32, why: &'static str },
    /// Answer it here with this value.
    Reply(i64),
    /// A signal the process sends itself: deliver `sig` to the guest here, then answer 0.
    SignalSelf { sig: i32 },
}

/// A forwarded call ready to travel, and where its results go in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub call: Call,
    /// For every `Out`/`InOut` region, in order: the guest pieces (address, length) its bytes
    /// are scattered over (one piece, or the iovecs of a flattened `readv`).
    pub(crate) back: Vec<Vec<(u64, u32)>>,
}

/// Why home's answer cannot be written back.
#[derive(Debug, thiserror::Error)]
pub enum MarshalError {
    #[error("home returned {got} out regions for a call with {want}: home and remote disagree on the call")]
    OutcomeShape { want: usize, got: usize },
    #[error("home returned {got} bytes for out region {index} of {max} bytes: home and remote disagree on the call")]
    RegionTooLong {
        index: usize,
        got: usize,
        max: usize,
    },
    #[error("cannot write a forwarded call's results into the guest: {0}")]
    Guest(std::io::Error),
    #[error("an answer from home came for no call the read-ahead sent: the guest loop must pass only answers to its Step::Send calls")]
    NoCall,
}

impl Prepared {
    /// Write home's results into the guest and return the value the guest's call returns.
    /// A guest buffer that turned out unwritable makes the call fail with EFAULT, as the
    /// kernel would after doing the work.
    pub fn finish(&self, out: &Outcome, mem: &dyn GuestMem) -> Result<i64, MarshalError> {
        let outs: Vec<&Region> = self
            .call
            .regions
            .iter()
            .filter(|r| r.dir != Dir::In)
            .collect();
        if out.out.len() != outs.len() {
            return Err(MarshalError::OutcomeShape {
                want: outs.len(),
                got: out.out.len(),
            });
        }
        for (index, ((region, bytes), pieces)) in
            outs.iter().zip(&out.out).zip(&self.back).enumerate()
        {
            if bytes.len() > region.len as usize {
                return Err(MarshalError::RegionTooLong {
                    index,
                    got: bytes.len(),
                    max: region.len as usize,
                });
            }
            let mut rest: &[u8] = bytes;
            for &(addr, len) in pieces {
                if rest.is_empty() {
                    break;
                }
                let n = rest.len().min(len as usize);
                if let Err(e) = mem.write(addr, &rest[..n]) {
                    if e.raw_os_error() == Some(libc::EFAULT) {
                        return Ok(-i64::from(libc::EFAULT));
                    }
                    return Err(MarshalError::Guest(e));
                }
                rest = &rest[n..];
            }
        }
        Ok(out.ret)
    }

    /// The guest pieces of every out region (for diagnostics and tests).
    pub fn back_pieces(&self) -> &[Vec<(u64, u32)>] {
        &self.back
    }
}

/// How long a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    Fixed(u32),
    /// The value of an argument, exactly (more than [`MAX_REGION`] goes home).
    Arg(u8),
    /// The value of an argument, clamped to [`MAX_REGION`]; the argument is rewritten.
    Clamp(u8),
    /// An argument times an element size, exactly.
    Count(u8, u32),
    /// An argument times an element size, the count clamped; the argument is rewritten.
    ClampCount(u8, u32),
    /// An argument plus a constant (a System V message: its type, then its text).
    ArgPlus(u8, u32),
    /// An `fd_set` for the descriptor count in an argument.
    FdSet(u8),
    /// A `u32` the guest stores at the address in an argument (a socklen), at most the
    /// constant; a larger stored value is lowered in that argument's own in-out region.
    PtrU32(u8, u32),
}

/// One pointer argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum A {
    /// A C string up to `PATH_MAX` (a path, a name).
    Str,
    /// The call reads it.
    In(Len),
    /// The call writes it; the first `ret` bytes come back.
    Out(Len),
    /// The call reads and writes it; all of it comes back.
    InOut(Len),
}

/// The pointer arguments of a call, by index; the other arguments travel as they are.
pub(crate) type Spec = &'static [(u8, A)];

/// Why a call could not be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A guest pointer the kernel would refuse.
    Fault,
    Errno(i32, &'static str),
    Home(&'static str),
}

impl From<Stop> for Decision {
    fn from(s: Stop) -> Decision {
        match s {
            Stop::Fault => Decision::Deny {
                errno: libc::EFAULT,
                why: "a pointer argument is outside the guest's memory",
            },
            Stop::Errno(errno, why) => Decision::Deny { errno, why },
            Stop::Home(why) => Decision::Barrier(why),
        }
    }
}

/// Read a C string of at most `PATH_MAX` bytes (with its NUL) at `addr`, a page at a time so
/// that a string near the end of a mapping is found.
pub(crate) fn read_cstr(mem: &dyn GuestMem, addr: u64) -> Result<Vec<u8>, Stop> {
    const PATH_MAX: usize = libc::PATH_MAX as usize;
    let mut s = Vec::with_capacity(256);
    let mut at = addr;
    while s.len() < PATH_MAX {
        let to_page_end = (4096 - (at % 4096)) as usize;
        let n = to_page_end.min(PATH_MAX - s.len());
        let mut buf = vec![0u8; n];
        mem.read(at, &mut buf).map_err(|_| Stop::Fault)?;
        if let Some(i) = buf.iter().position(|&b| b == 0) {
            s.extend_from_slice(&buf[..=i]);
            return Ok(s);
        }
        s.extend_from_slice(&buf);
        at += n as u64;
    }
    Err(Stop::Errno(
        libc::ENAMETOOLONG,
        "a path is longer than PATH_MAX",
    ))
}

pub(crate) fn read_bytes(mem: &dyn GuestMem, addr: u64, len: usize) -> Result<Vec<u8>, Stop> {
    let mut buf = vec![0u8; len];
    if len > 0 {
        mem.read(addr, &mut buf).map_err(|_| Stop::Fault)?;
    }
    Ok(buf)
}

/// Builds the regions of one call from its [`Spec`].
pub(crate) struct Builder<'a> {
    pub(crate) nr: u32,
    pub(crate) args: [u64; 6],
    regions: Vec<Region>,
    back: Vec<Vec<(u64, u32)>>,
    /// (argument of a socklen, lowered value) to write into that argument's region.
    lower: Vec<(u8, u32)>,
    mem: &'a dyn GuestMem,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(nr: u32, args: [u64; 6], mem: &'a dyn GuestMem) -> Self {
        Builder {
            nr,
            args,
            regions: Vec::new(),
            back: Vec::new(),
            lower: Vec::new(),
            mem,
        }
    }

    fn arg(&self, i: u8) -> u64 {
        self.args[usize::from(i)]
    }

    fn len(&mut self, l: Len) -> Result<u32, Stop> {
        let max = u64::from(MAX_REGION);
        let big = Stop::Home("a buffer larger than a forwarded region");
        let v = match l {
            Len::Fixed(n) => u64::from(n),
            Len::Arg(i) => self.arg(i),
            Len::Clamp(i) => {
                let v = self.arg(i).min(max);
                self.args[usize::from(i)] = v;
                v
            }
            Len::Count(i, sz) => self.arg(i).saturating_mul(u64::from(sz)),
            Len::ClampCount(i, sz) => {
                // An int count: zero or negative is the kernel's to refuse.
                let c = self.arg(i) as u32 as i32;
                if c <= 0 {
                    return Ok(0);
                }
                let count = (c as u64).min(max / u64::from(sz));
                self.args[usize::from(i)] = count;
                count * u64::from(sz)
            }
            Len::ArgPlus(i, k) => self.arg(i).saturating_add(u64::from(k)),
            Len::FdSet(i) => {
                let n = self.arg(i) as u32 as i32;
                if n < 0 {
                    return Err(Stop::Errno(libc::EINVAL, "negative descriptor count"));
                }
                (n as u64).div_ceil(64) * 8
            }
            Len::PtrU32(i, cap) => {
                let p = self.arg(i);
                if p == 0 {
                    return Err(Stop::Fault);
                }
                let mut b = [0u8; 4];
                self.mem.read(p, &mut b).map_err(|_| Stop::Fault)?;
                let v = u32::from_ne_bytes(b);
                if v > cap {
                    self.lower.push((i, cap));
                }
                u64::from(v.min(cap))
            }
        };
        u32::try_from(v)
            .ok()
            .filter(|&v| v <= MAX_REGION)
            .ok_or(big)
    }

    /// Add the region of pointer argument `i`.
    pub(crate) fn add(&mut self, i: u8, a: A) -> Result<(), Stop> {
        let addr = self.arg(i);
        if addr == 0 {
            return Ok(()); // NULL travels as NULL; home's kernel answers as ours would.
        }
        let (dir, len, back) = match a {
            A::Str => {
                let s = read_cstr(self.mem, addr)?;
                let len = s.len() as u32;
                self.push(i, Dir::In, len, s, Back::All, Vec::new());
                return Ok(());
            }
            A::In(l) => (Dir::In, self.len(l)?, Back::All),
            A::Out(l) => (Dir::Out, self.len(l)?, Back::UpToRet),
            A::InOut(l) => (Dir::InOut, self.len(l)?, Back::All),
        };
        if len == 0 {
            return Ok(());
        }
        let data = match dir {
            Dir::Out => Vec::new(),
            _ => read_bytes(self.mem, addr, len as usize)?,
        };
        self.push(i, dir, len, data, back, vec![(addr, len)]);
        Ok(())
    }

    fn push(
        &mut self,
        i: u8,
        dir: Dir,
        len: u32,
        data: Vec<u8>,
        back: Back,
        pieces: Vec<(u64, u32)>,
    ) {
        if dir != Dir::In {
            self.back.push(pieces);
        }
        self.regions.push(Region {
            arg: i,
            dir,
            len,
            data,
            back,
        });
    }

    /// Add a region whose guest side is scattered over `pieces` (a flattened iovec array).
    pub(crate) fn add_flat(
        &mut self,
        i: u8,
        dir: Dir,
        len: u32,
        data: Vec<u8>,
        pieces: Vec<(u64, u32)>,
    ) {
        if len == 0 {
            self.args[usize::from(i)] = 0;
            return;
        }
        self.push(i, dir, len, data, Back::UpToRet, pieces);
    }

    pub(crate) fn build(mut self, spec: &[(u8, A)]) -> Result<Prepared, Stop> {
        for &(i, a) in spec {
            self.add(i, a)?;
        }
        self.finish()
    }

    pub(crate) fn finish(mut self) -> Result<Prepared, Stop> {
        for (i, v) in std::mem::take(&mut self.lower) {
            if let Some(r) = self.regions.iter_mut().find(|r| r.arg == i) {
                r.data[..4].copy_from_slice(&v.to_ne_bytes());
            }
        }
        let call = Call {
            nr: self.nr,
            args: self.args,
            regions: self.regions,
        };
        call.validate()
            .map_err(|_| Stop::Home("the call's buffers exceed what one forwarded call carries"))?;
        Ok(Prepared {
            call,
            back: self.back,
        })
    }
}

/// Decide what to do with system call `nr(args)` the guest is blocked in.
pub fn decide(nr: u32, args: [u64; 6], ctx: &Context, mem: &dyn GuestMem) -> Decision {
    if nr == libc::SYS_mmap as u32 {
        // The filter lets private anonymous mappings pass: this one maps a file or is shared.
        return Decision::Barrier("a file-backed or shared mapping stays home");
    }
    if crate::filter::takes_clock_id(nr) && !crate::filter::own_clock(args[0]) {
        return Decision::Barrier("a CPU clock of another process or a clock device");
    }
    let Some(row) = table::lookup(nr) else {
        return Decision::Deny {
            errno: libc::ENOSYS,
            why: "no such system call",
        };
    };
    match row.class {
        Class::Local => Decision::Continue,
        Class::Deny(errno) => Decision::Deny {
            errno,
            why: row.reason,
        },
        Class::Barrier => special::barrier(nr, args).unwrap_or(Decision::Barrier(row.reason)),
        Class::Forward => forward(nr, args, ctx, mem),
    }
}

fn forward(nr: u32, args: [u64; 6], ctx: &Context, mem: &dyn GuestMem) -> Decision {
    if let Some(d) = special::decide(nr, args, ctx, mem) {
        return d;
    }
    match specs::spec(nr) {
        Some(spec) => match Builder::new(nr, args, mem).build(spec) {
            Ok(p) => Decision::Forward(p),
            Err(s) => s.into(),
        },
        None => Decision::Barrier("no marshalling is described for this call"),
    }
}

#[cfg(test)]
mod tests;
