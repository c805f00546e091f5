//! Load vectors: what each node publishes about itself, and the pure
//! functions the daemon uses to compute the load from /proc samples.
//!
//! # Wire form of one load vector (30 bytes + address (7 or 19) + name)
//!
//! ```text
//! addr:Addr generation:u32 version:u32 flags:u8 (bit 0 accepting, bit 1 leaving)
//! cpus:u16 speed:u32 (1/1000) load:u32 (1/1000) mem_free:u32 (MiB)
//! mem_total:u32 (MiB) guests:u16 name_len:u8 name:utf-8
//! ```
//!
//! Loads and speeds travel as thousandths and memory as whole MiB, so a
//! decoded vector equals the published one up to that rounding.

use std::net::SocketAddr;

use crate::error::DecodeError;
use crate::identity::NodeId;
use crate::wire::{addr_len, put_addr, put_short_str, truncate_utf8, Reader};

/// Longest node name carried on the wire, in bytes.
pub const MAX_NAME_LEN: usize = 63;

/// What the daemon measured about its own node, handed to
/// [`crate::ClusterNode::set_local_load`].
#[derive(Debug, Clone, PartialEq)]
pub struct LocalLoad {
    /// Online CPUs.
    pub cpus: u16,
    /// CPU speed relative to the yardstick (1.0 = yardstick CPU).
    pub speed: f64,
    /// Load in yardstick units: smoothed with [`LoadSmoother`] and divided by
    /// speed with [`normalise_load`].
    pub load: f64,
    /// Free memory in bytes.
    pub mem_free: u64,
    /// Total memory in bytes.
    pub mem_total: u64,
    /// Guest processes this node runs for others.
    pub guests: u16,
    /// Whether this node accepts new guests.
    pub accepting: bool,
}

impl Default for LocalLoad {
    fn default() -> Self {
        Self {
            cpus: 1,
            speed: 1.0,
            load: 0.0,
            mem_free: 0,
            mem_total: 0,
            guests: 0,
            accepting: true,
        }
    }
}

/// One node's published load vector, as every member sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadVector {
    /// Node name (at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// Which identity published it (address and generation).
    pub id: NodeId,
    /// Grows with every publication of this generation; the newer
    /// `(generation, version)` wins when merging.
    pub version: u32,
    /// The measured values.
    pub load: LocalLoad,
    /// Set in the last vector a node publishes when it leaves the cluster.
    pub leaving: bool,
}

impl LoadVector {
    /// The node's peer address.
    pub fn addr(&self) -> SocketAddr {
        self.id.addr
    }

    /// Whether `self` is newer than `other` (by generation, then version).
    pub fn supersedes(&self, other: &LoadVector) -> bool {
        (self.id.generation, self.version) > (other.id.generation, other.version)
    }

    /// Encoded size.
    pub fn encoded_len(&self) -> usize {
        addr_len(&self.id.addr) + 30 + truncate_utf8(&self.name, MAX_NAME_LEN).len()
    }

    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let l = &self.load;
        put_addr(out, &self.id.addr);
        out.extend_from_slice(&self.id.generation.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(u8::from(l.accepting) | (u8::from(self.leaving) << 1));
        out.extend_from_slice(&l.cpus.to_be_bytes());
        out.extend_from_slice(&milli(l.speed).to_be_bytes());
        out.extend_from_slice(&milli(l.load).to_be_bytes());
        out.extend_from_slice(&mib(l.mem_free).to_be_bytes());
        out.extend_from_slice(&mib(l.mem_total).to_be_bytes());
        out.extend_from_slice(&l.guests.to_be_bytes());
        put_short_str(out, &self.name, MAX_NAME_LEN);
    }

    /// Reads the wire form.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let addr = r.addr()?;
        let generation = r.u32()?;
        let version = r.u32()?;
        let flags = r.u8()?;
        if flags & !0b11 != 0 {
            return Err(DecodeError::InvalidField("load vector flags"));
        }
        let cpus = r.u16()?;
        let speed = f64::from(r.u32()?) / 1000.0;
        let load = f64::from(r.u32()?) / 1000.0;
        let mem_free = u64::from(r.u32()?) << 20;
        let mem_total = u64::from(r.u32()?) << 20;
        let guests = r.u16()?;
        let name = r.short_str()?;
        if name.len() > MAX_NAME_LEN {
            return Err(DecodeError::InvalidField("node name length"));
        }
        Ok(Self {
            name: name.to_string(),
            id: NodeId::new(addr, generation),
            version,
            load: LocalLoad {
                cpus,
                speed,
                load,
                mem_free,
                mem_total,
                guests,
                accepting: flags & 1 != 0,
            },
            leaving: flags & 2 != 0,
        })
    }
}

pub(crate) fn milli(v: f64) -> u32 {
    // `as` saturates and maps NaN to 0, which is what we want on the wire.
    (v * 1000.0).round() as u32
}

pub(crate) fn mib(bytes: u64) -> u32 {
    u32::try_from(bytes >> 20).unwrap_or(u32::MAX)
}

/// One smoothing step as MOSIX did it: a rising load moves 3/8 of the way
/// towards the new sample (5 old : 3 new); a falling load drops at once.
pub fn smooth_load(previous: f64, sample: f64) -> f64 {
    if sample > previous {
        (5.0 * previous + 3.0 * sample) / 8.0
    } else {
        sample
    }
}

/// Load in yardstick units: `raw` (runnable processes, smoothed) divided by
/// the CPU speed relative to the yardstick. A non-positive or non-finite
/// speed counts as 1.
pub fn normalise_load(raw: f64, speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        raw / speed
    } else {
        raw
    }
}

/// Keeps the smoothed load between samples (the daemon samples once a second).
#[derive(Debug, Clone, Default)]
pub struct LoadSmoother {
    value: Option<f64>,
}

impl LoadSmoother {
    /// A smoother with no history; the first sample is taken as is.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a raw run-queue sample and returns the smoothed value.
    pub fn update(&mut self, sample: f64) -> f64 {
        let next = match self.value {
            None => sample,
            Some(prev) => smooth_load(prev, sample),
        };
        self.value = Some(next);
        next
    }

    /// The current smoothed value (0 before any sample).
    pub fn value(&self) -> f64 {
        self.value.unwrap_or(0.0)
    }
}

/// Thresholds that decide when a new local load is worth publishing before
/// the periodic refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeThresholds {
    /// Absolute load change (yardstick units).
    pub load_abs: f64,
    /// Relative load change (fraction of the old load).
    pub load_rel: f64,
    /// Free-memory change as a fraction of total memory.
    pub mem_frac: f64,
}

impl Default for ChangeThresholds {
    fn default() -> Self {
        Self {
            load_abs: 0.25,
            load_rel: 0.2,
            mem_frac: 0.05,
        }
    }
}

/// Whether `new` differs enough from the published `old` to publish at once:
/// any change in CPUs, speed, guests or acceptance, a load change beyond
/// both the absolute and relative thresholds, or a free-memory change beyond
/// the memory threshold.
pub fn is_significant_change(old: &LocalLoad, new: &LocalLoad, t: &ChangeThresholds) -> bool {
    if old.cpus != new.cpus
        || old.guests != new.guests
        || old.accepting != new.accepting
        || old.mem_total != new.mem_total
        || (old.speed - new.speed).abs() > 0.001
    {
        return true;
    }
    let dl = (old.load - new.load).abs();
    if dl > t.load_abs && dl > t.load_rel * old.load.abs() {
        return true;
    }
    let total = new.mem_total.max(1) as f64;
    (old.mem_free as f64 - new.mem_free as f64).abs() / total > t.mem_frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_rises_slowly_falls_at_once() {
        assert_eq!(smooth_load(0.0, 8.0), 3.0);
        assert_eq!(smooth_load(3.0, 8.0), (15.0 + 24.0) / 8.0);
        assert_eq!(smooth_load(5.0, 1.0), 1.0);
        let mut s = LoadSmoother::new();
        assert_eq!(s.update(2.0), 2.0);
        assert_eq!(s.update(10.0), 5.0);
        assert_eq!(s.update(0.0), 0.0);
        assert_eq!(normalise_load(3.0, 1.5), 2.0);
        assert_eq!(normalise_load(3.0, 0.0), 3.0);
    }

    #[test]
    fn significance() {
        let t = ChangeThresholds::default();
        let a = LocalLoad {
            load: 2.0,
            mem_total: 1 << 30,
            mem_free: 1 << 29,
            ..LocalLoad::default()
        };
        let mut b = a.clone();
        b.load = 2.2;
        assert!(!is_significant_change(&a, &b, &t));
        b.load = 3.0;
        assert!(is_significant_change(&a, &b, &t));
        let mut c = a.clone();
        c.accepting = false;
        assert!(is_significant_change(&a, &c, &t));
        let mut d = a.clone();
        d.mem_free = 1 << 28;
        assert!(is_significant_change(&a, &d, &t));
    }

    #[test]
    fn wire_round_trip() {
        let v = LoadVector {
            name: "node-é".repeat(20),
            id: NodeId::new("[::1]:7946".parse().unwrap(), 42),
            version: 7,
            load: LocalLoad {
                cpus: 4,
                speed: 1.25,
                load: 2.5,
                mem_free: 3 << 30,
                mem_total: 8 << 30,
                guests: 2,
                accepting: false,
            },
            leaving: true,
        };
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out.len(), v.encoded_len());
        let d = LoadVector::decode(&mut Reader::new(&out)).unwrap();
        assert!(d.name.len() <= MAX_NAME_LEN);
        assert!(v.name.starts_with(&d.name));
        assert_eq!(d.load, v.load);
        assert_eq!((d.id, d.version, d.leaving), (v.id, v.version, v.leaving));
    }
}
