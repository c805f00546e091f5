//! A forwarded system call and its outcome, as they travel between the remote node and home.
//!
//! The remote side knows the system call (the policy table) and turns every pointer argument
//! into a [`Region`]: the bytes the call reads (copied from the guest), or the room it writes
//! (copied back to the guest). Home needs no table: it places each region in the deputy's
//! scratch memory, points the argument at it, runs the call, and returns what the call wrote.

use serde::{Deserialize, Serialize};

/// Largest region a call may carry (a read or write of more is split by the remote side).
pub const MAX_REGION: u32 = 8 << 20;
/// Largest sum of region lengths in one call.
pub const MAX_CALL_BYTES: u64 = 16 << 20;

/// Which way a region's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dir {
    /// The call reads it: `data` holds the guest's bytes.
    In,
    /// The call writes it: `data` is empty; home returns `len` bytes (see [`Back`]).
    Out,
    /// Both: `data` holds the guest's bytes, home returns them as the call left them.
    InOut,
}

/// How much of an out region goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Back {
    /// All `len` bytes (a struct the call fills).
    All,
    /// The first `ret` bytes, where `ret` is the call's non-negative result (read, getdents64).
    UpToRet,
}

/// The memory one pointer argument refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Index of the argument (0..6) that points at it; home rewrites that argument.
    pub arg: u8,
    pub dir: Dir,
    /// Bytes of room at home (for `In` equal to `data.len()`).
    pub len: u32,
    /// The guest's bytes for `In` and `InOut`; empty for `Out`.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub back: Back,
}

/// A system call to run at home in the deputy's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub nr: u32,
    /// Raw arguments; those named by a region are replaced at home.
    pub args: [u64; 6],
    pub regions: Vec<Region>,
}

/// What a forwarded call did at home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The raw return value (a negative errno on failure).
    pub ret: i64,
    /// For every `Out` and `InOut` region of the call, in order: the bytes to copy back.
    #[serde(with = "byte_list")]
    pub out: Vec<Vec<u8>>,
}

/// Why a call cannot be carried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("argument index {0} is out of range (0..6)")]
    BadArg(u8),
    #[error("region of {0} bytes is larger than the limit of {MAX_REGION}")]
    RegionTooLarge(u32),
    #[error("in region holds {data} bytes but says {len}")]
    LengthMismatch { len: u32, data: usize },
    #[error("call carries {0} bytes, more than the limit of {MAX_CALL_BYTES}")]
    TooLarge(u64),
    #[error("argument {0} is named by two regions")]
    DuplicateArg(u8),
}

impl Call {
    /// The call without the guest's bytes: its number, arguments and regions, each region's
    /// data left empty (enough to write home's answer back, see
    /// [`crate::marshal::Prepared::finish`]).
    pub fn shape(&self) -> Call {
        Call {
            nr: self.nr,
            args: self.args,
            regions: self
                .regions
                .iter()
                .map(|r| Region {
                    arg: r.arg,
                    dir: r.dir,
                    len: r.len,
                    data: Vec::new(),
                    back: r.back,
                })
                .collect(),
        }
    }

    /// A call without memory.
    pub fn scalar(nr: u32, args: [u64; 6]) -> Call {
        Call {
            nr,
            args,
            regions: Vec::new(),
        }
    }

    /// `pread64(fd, buf, len, off)`, its buffer an out region of `len` bytes (at most
    /// [`MAX_REGION`]) that comes back up to what the call returned.
    pub fn pread(fd: i32, len: u64, off: u64) -> Call {
        let len = len.min(u64::from(MAX_REGION));
        Call {
            nr: libc::SYS_pread64 as u32,
            args: [fd as u64, 0, len, off, 0, 0],
            regions: vec![Region {
                arg: 1,
                dir: Dir::Out,
                len: len as u32,
                data: Vec::new(),
                back: Back::UpToRet,
            }],
        }
    }

    /// Check the shape (home does this before touching the deputy: a call from the wire is
    /// untrusted input).
    pub fn validate(&self) -> Result<(), CallError> {
        let mut total = 0u64;
        let mut seen = [false; 6];
        for r in &self.regions {
            let i = usize::from(r.arg);
            if i >= 6 {
                return Err(CallError::BadArg(r.arg));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(CallError::DuplicateArg(r.arg));
            }
            if r.len > MAX_REGION {
                return Err(CallError::RegionTooLarge(r.len));
            }
            let expect = match r.dir {
                Dir::Out => 0,
                Dir::In | Dir::InOut => r.len as usize,
            };
            if r.data.len() != expect {
                return Err(CallError::LengthMismatch {
                    len: r.len,
                    data: r.data.len(),
                });
            }
            total += u64::from(r.len);
        }
        if total > MAX_CALL_BYTES {
            return Err(CallError::TooLarge(total));
        }
        Ok(())
    }

    /// Bytes home must reserve in the deputy's scratch memory.
    pub fn scratch_bytes(&self) -> u64 {
        self.regions
            .iter()
            .map(|r| u64::from(r.len).next_multiple_of(16))
            .sum()
    }
}

impl Outcome {
    /// The bytes home returns for `region` of a call whose result was `ret`, taken from `room`
    /// (what the region holds after the call).
    pub fn back_len(region: &Region, ret: i64) -> usize {
        if ret < 0 {
            // A failed call wrote nothing the guest may rely on.
            return 0;
        }
        match (region.dir, region.back) {
            (Dir::In, _) => 0,
            (_, Back::All) => region.len as usize,
            (_, Back::UpToRet) => usize::try_from(ret).unwrap_or(0).min(region.len as usize),
        }
    }
}

/// A list of byte strings, each as one block (serde's default for `Vec<u8>` is a sequence of
/// numbers, which formats like postcard then walk byte by byte).
mod byte_list {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| Bytes::new(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<ByteBuf>::deserialize(d)?
            .into_iter()
            .map(ByteBuf::into_vec)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(arg: u8, dir: Dir, len: u32) -> Region {
        let data = match dir {
            Dir::Out => Vec::new(),
            _ => vec![7; len as usize],
        };
        Region {
            arg,
            dir,
            len,
            data,
            back: Back::All,
        }
    }

    #[test]
    fn validate_accepts_a_well_formed_call() {
        let c = Call {
            nr: 0,
            args: [3, 0, 4096, 0, 0, 0],
            regions: vec![region(1, Dir::Out, 4096)],
        };
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.scratch_bytes(), 4096);
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        let mut c = Call::scalar(1, [0; 6]);
        c.regions.push(region(6, Dir::In, 1));
        assert_eq!(c.validate(), Err(CallError::BadArg(6)));
        c.regions = vec![region(1, Dir::In, 4), region(1, Dir::Out, 4)];
        assert_eq!(c.validate(), Err(CallError::DuplicateArg(1)));
        let mut r = region(1, Dir::In, 4);
        r.data.pop();
        c.regions = vec![r];
        assert!(matches!(
            c.validate(),
            Err(CallError::LengthMismatch { len: 4, data: 3 })
        ));
        c.regions = vec![region(1, Dir::Out, MAX_REGION + 1)];
        assert_eq!(c.validate(), Err(CallError::RegionTooLarge(MAX_REGION + 1)));
        c.regions = (0..3).map(|i| region(i, Dir::Out, MAX_REGION)).collect();
        assert!(matches!(c.validate(), Err(CallError::TooLarge(_))));
    }

    #[test]
    fn back_len_follows_the_result() {
        let mut r = region(1, Dir::Out, 100);
        assert_eq!(Outcome::back_len(&r, 5), 100);
        assert_eq!(Outcome::back_len(&r, -14), 0);
        r.back = Back::UpToRet;
        assert_eq!(Outcome::back_len(&r, 5), 5);
        assert_eq!(Outcome::back_len(&r, -14), 0);
        assert_eq!(Outcome::back_len(&r, 500), 100);
        assert_eq!(Outcome::back_len(&region(0, Dir::In, 8), 8), 0);
    }
}
