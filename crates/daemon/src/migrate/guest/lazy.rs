//! Post-copy on the target: which pages of a guest still live only at home, and placing them.
//!
//! The guest was rebuilt with every anonymous area registered on a userfaultfd (missing-page
//! mode). [`Wanted`] holds the runs home has not sent yet, keyed by their address here, each
//! with its address at home (they differ once the guest moved memory with `mremap`). A fault
//! on a wanted page asks home for a window around it; a fault anywhere else (memory the
//! process never touched, or dropped since) gets the zero page. The guest's own changes to
//! registered memory arrive as events: unmapped or dropped ranges are wanted no more, moved
//! ranges are wanted at their new place. When nothing is wanted, the userfaultfd is closed,
//! which unregisters everything: the guest's memory is then ordinary memory.

use std::collections::BTreeMap;
use std::time::Instant;

use wend_ckpt::Uffd;
use wend_sys::uffd::{Event, Placed};
use wend_sys::PAGE_SIZE;

/// Pages asked for around a fault.
pub const FAULT_WINDOW: u64 = 64 * PAGE_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    len: u64,
    /// Where the run's first page is at home.
    home: u64,
}

/// Page runs still to come from home: target address -> (length, home address).
#[derive(Debug, Default)]
pub struct Wanted {
    runs: BTreeMap<u64, Run>,
    bytes: u64,
    /// Whether some run moved (home address differs from the target address).
    moved: bool,
}

impl Wanted {
    /// Every run of `runs` (address, length; page-aligned, not overlapping) is wanted.
    pub fn new(runs: &[(u64, u64)]) -> Wanted {
        let mut w = Wanted::default();
        for &(a, l) in runs.iter().filter(|r| r.1 > 0) {
            w.runs.insert(a, Run { len: l, home: a });
            w.bytes += l;
        }
        w
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Bytes still wanted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The run holding target address `addr`.
    fn find(&self, addr: u64) -> Option<(u64, Run)> {
        let (&s, &r) = self.runs.range(..=addr).next_back()?;
        (addr < s + r.len).then_some((s, r))
    }

    /// Whether the page at `addr` is wanted.
    pub fn contains(&self, addr: u64) -> bool {
        self.find(addr).is_some()
    }

    /// Cut `[start, end)` (target addresses) out; the pieces cut, with their home address.
    fn take(&mut self, start: u64, end: u64) -> Vec<(u64, Run)> {
        let mut keys: Vec<u64> = self.runs.range(start..end).map(|(k, _)| *k).collect();
        if let Some((s, _)) = self.find(start).filter(|(s, _)| *s < start) {
            keys.insert(0, s);
        }
        let mut cut = Vec::new();
        for s in keys {
            let Some(r) = self.runs.remove(&s) else {
                continue;
            };
            let e = s + r.len;
            if s < start {
                self.runs.insert(
                    s,
                    Run {
                        len: start - s,
                        home: r.home,
                    },
                );
            }
            if e > end {
                self.runs.insert(
                    end,
                    Run {
                        len: e - end,
                        home: r.home + (end - s),
                    },
                );
            }
            let (cs, ce) = (s.max(start), e.min(end));
            self.bytes -= ce - cs;
            cut.push((
                cs,
                Run {
                    len: ce - cs,
                    home: r.home + (cs - s),
                },
            ));
        }
        cut
    }

    /// `[start, end)` needs nothing from home any more (unmapped, dropped, placed).
    pub fn remove(&mut self, start: u64, end: u64) {
        self.take(start, end);
    }

    /// `[from, from+len)` moved to `to` (mremap): what was wanted there is wanted at `to`.
    pub fn relocate(&mut self, from: u64, to: u64, len: u64) {
        // The destination held nothing wanted (mremap unmaps it first, reported apart).
        self.take(to, to + len);
        for (s, r) in self.take(from, from + len) {
            self.moved |= from != to;
            self.bytes += r.len;
            self.runs.insert(s - from + to, r);
        }
    }

    /// The wanted parts of home's `[home, home+len)`: (target address, home address, length).
    pub fn parts_for_home(&self, home: u64, len: u64) -> Vec<(u64, u64, u64)> {
        let end = home + len;
        let clip = |s: u64, r: &Run| {
            let (hs, he) = (r.home.max(home), (r.home + r.len).min(end));
            (hs < he).then(|| (s + (hs - r.home), hs, he - hs))
        };
        if self.moved {
            return self.runs.iter().filter_map(|(s, r)| clip(*s, r)).collect();
        }
        // Unmoved: target and home addresses are the same.
        let mut out: Vec<(u64, u64, u64)> = self
            .find(home)
            .filter(|(s, _)| *s < home)
            .and_then(|(s, r)| clip(s, &r))
            .into_iter()
            .collect();
        out.extend(self.runs.range(home..end).filter_map(|(s, r)| clip(*s, r)));
        out
    }

    /// The wanted parts of the pages of target `[addr, addr+len)`, in home addresses (whole
    /// pages: a run is only ever cut at page boundaries).
    pub fn parts_for_target(&self, addr: u64, len: u64) -> Vec<(u64, u64)> {
        let end = (addr + len).next_multiple_of(PAGE_SIZE);
        let addr = addr & !(PAGE_SIZE - 1);
        let mut keys: Vec<(u64, Run)> = self
            .find(addr)
            .filter(|(s, _)| *s < addr)
            .into_iter()
            .collect();
        keys.extend(self.runs.range(addr..end).map(|(s, r)| (*s, *r)));
        keys.into_iter()
            .map(|(s, r)| {
                let (cs, ce) = (s.max(addr), (s + r.len).min(end));
                (r.home + (cs - s), ce - cs)
            })
            .filter(|p| p.1 > 0)
            .collect()
    }

    /// The `max`-aligned window (`max` a power of two) around the wanted page at `addr`,
    /// within its run, in home addresses.
    pub fn window(&self, addr: u64, max: u64) -> Option<(u64, u64)> {
        let (s, r) = self.find(addr)?;
        let aligned = addr & !(max - 1);
        let ws = aligned.max(s);
        let we = (aligned + max).min(s + r.len);
        Some((r.home + (ws - s), we - ws))
    }

    /// Every wanted run in home addresses, cut into pieces of at most `max` bytes.
    pub fn all(&self, max: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for r in self.runs.values() {
            let mut off = 0;
            while off < r.len {
                let n = (r.len - off).min(max);
                out.push((r.home + off, n));
                off += n;
            }
        }
        out
    }
}

/// The post-copy state of one guest.
#[derive(Debug)]
pub struct Lazy {
    uffd: Uffd,
    pub wanted: Wanted,
    /// Pages that got no zero page yet because the guest was changing its layout.
    zero_later: Vec<u64>,
    pub since: Instant,
    /// Bytes when it started.
    pub total: u64,
    /// Faults that asked home for pages.
    pub faults: u64,
}

impl Lazy {
    pub fn new(uffd: Uffd, runs: &[(u64, u64)]) -> Lazy {
        let wanted = Wanted::new(runs);
        Lazy {
            uffd,
            total: wanted.bytes(),
            wanted,
            zero_later: Vec::new(),
            since: Instant::now(),
            faults: 0,
        }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.uffd)
    }

    pub fn done(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Read and apply the userfaultfd's events; the home ranges to ask for go to `want`.
    pub fn serve_events(&mut self, want: &mut Vec<(u64, u64)>) -> Result<(), String> {
        loop {
            let events = self.uffd.events().map_err(|e| e.to_string())?;
            let none = events.is_empty();
            for e in events {
                match e {
                    Event::Fault { addr, .. } => {
                        let page = addr & !(PAGE_SIZE - 1);
                        match self.wanted.window(page, FAULT_WINDOW) {
                            Some(w) => {
                                self.faults += 1;
                                want.push(w);
                            }
                            None => self.zero_later.push(page),
                        }
                    }
                    Event::Remap { from, to, len } => self.wanted.relocate(from, to, len),
                    Event::Remove { start, end } | Event::Unmap { start, end } => {
                        self.wanted.remove(start, end)
                    }
                    Event::Other(_) => {}
                }
            }
            let mut again = false;
            for page in std::mem::take(&mut self.zero_later) {
                // A page wanted meanwhile (moved there) comes from home instead.
                if let Some(w) = self.wanted.window(page, FAULT_WINDOW) {
                    want.push(w);
                    continue;
                }
                match self
                    .uffd
                    .zeropage(page, PAGE_SIZE)
                    .map_err(|e| e.to_string())?
                {
                    Placed::Done => {}
                    Placed::Retry(_) => {
                        self.zero_later.push(page);
                        again = true;
                    }
                }
            }
            if none && !again {
                return Ok(());
            }
            if none {
                // The guest is finishing a layout change: let it run.
                std::thread::yield_now();
            }
        }
    }

    /// Place what is still wanted of home's `[home, home+data.len())`.
    pub fn place(
        &mut self,
        home: u64,
        data: &[u8],
        want: &mut Vec<(u64, u64)>,
    ) -> Result<(), String> {
        loop {
            let parts = self.wanted.parts_for_home(home, data.len() as u64);
            if parts.is_empty() {
                return Ok(());
            }
            let mut retry = false;
            for (t, h, l) in parts {
                let off = (h - home) as usize;
                match self
                    .uffd
                    .place(t, &data[off..off + l as usize])
                    .map_err(|e| e.to_string())?
                {
                    Placed::Done => self.wanted.remove(t, t + l),
                    Placed::Retry(n) => {
                        self.wanted.remove(t, t + n as u64);
                        retry = true;
                        break;
                    }
                }
            }
            if !retry {
                return Ok(());
            }
            // The layout changes under us: apply its events, then place what is left.
            self.serve_events(want)?;
        }
    }

    /// Give the zero page to every missing page of target `[addr, addr+len)` that is not
    /// wanted (so that reading or writing it from here does not wait for ourselves).
    pub fn zero_unwanted(&mut self, addr: u64, len: u64) -> Result<(), String> {
        let start = addr & !(PAGE_SIZE - 1);
        let end = (addr + len).next_multiple_of(PAGE_SIZE);
        let mut page = start;
        while page < end {
            if !self.wanted.contains(page) {
                if let Placed::Retry(_) = self
                    .uffd
                    .zeropage(page, PAGE_SIZE)
                    .map_err(|e| e.to_string())?
                {
                    let mut want = Vec::new();
                    self.serve_events(&mut want)?;
                    continue;
                }
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    #[test]
    fn remove_splits_runs() {
        let mut w = Wanted::new(&[(0, 10 * P), (20 * P, 5 * P)]);
        w.remove(2 * P, 4 * P);
        w.remove(9 * P, 21 * P);
        assert_eq!(w.bytes(), 2 * P + 5 * P + 4 * P);
        assert!(w.contains(P) && !w.contains(3 * P) && w.contains(8 * P));
        assert!(!w.contains(9 * P) && !w.contains(20 * P) && w.contains(21 * P));
        assert_eq!(
            w.parts_for_target(0, 30 * P),
            vec![(0, 2 * P), (4 * P, 5 * P), (21 * P, 4 * P)]
        );
    }

    #[test]
    fn relocated_runs_keep_their_home_address() {
        let mut w = Wanted::new(&[(10 * P, 10 * P)]);
        w.relocate(12 * P, 100 * P, 4 * P);
        assert_eq!(w.bytes(), 10 * P);
        assert!(!w.contains(13 * P) && w.contains(101 * P));
        assert_eq!(w.window(101 * P, 64 * P), Some((12 * P, 4 * P)));
        // A push of home's [10, 20) lands partly at the new place.
        let parts = w.parts_for_home(10 * P, 10 * P);
        assert!(parts.contains(&(100 * P, 12 * P, 4 * P)));
        assert!(parts.contains(&(10 * P, 10 * P, 2 * P)));
        assert!(parts.contains(&(16 * P, 16 * P, 4 * P)));
        assert_eq!(parts.len(), 3);
        for (t, _, l) in parts {
            w.remove(t, t + l);
        }
        assert!(w.is_empty() && w.bytes() == 0);
    }

    #[test]
    fn windows_and_chunks_stay_inside_runs() {
        let w = Wanted::new(&[(3 * P, 100 * P)]);
        assert_eq!(w.window(5 * P, 64 * P), Some((3 * P, 61 * P)));
        assert_eq!(w.window(70 * P, 64 * P), Some((64 * P, 39 * P)));
        assert_eq!(w.window(200 * P, 64 * P), None);
        assert_eq!(w.all(64 * P), vec![(3 * P, 64 * P), (67 * P, 36 * P)]);
        assert_eq!(w.parts_for_home(0, 5 * P), vec![(3 * P, 3 * P, 2 * P)]);
        // A string somewhere in a page asks for the whole page.
        assert_eq!(w.parts_for_target(5 * P + 100, 20), vec![(5 * P, P)]);
        assert_eq!(w.parts_for_target(5 * P + 100, P), vec![(5 * P, 2 * P)]);
    }
}
