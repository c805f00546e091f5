//! Writes sent behind: the remote's half (home's half is in `home.rs`, see
//! [`super::super::BEHIND_IDS`]).
//!
//! Home grants a budget of bytes per descriptor (`Msg::Behind`, only in answer to a write the
//! guest waited for, so no grant can arrive after the guest moved on to a call that changes
//! its descriptors). While the budget lasts, a write to that descriptor is answered here at
//! once (the full count, which is what a regular file of a file system with room gives) and
//! sent home under a behind id; when it is spent, the next write waits for home as any call
//! and its answer brings a fresh budget (home looks at the free space again).
//!
//! Invariants:
//! - Budgets are dropped at every call home other than `read`, `pread64`, `write`,
//!   `pwrite64`, `lseek`: such a call may close or replace a descriptor.
//! - At most [`IN_FLIGHT`] bytes and [`BEHIND_SLOTS`] writes are unanswered at once; the
//!   guest's next write past that waits for home like any call (and so for all before it).
//! - Before the guest leaves this node or ends, every write sent behind is answered
//!   ([`Behind::in_flight`] is 0), so home has made them all before the next node or the exit.

use std::collections::{HashMap, VecDeque};

use wend_deputy::home::is_file_call;
use wend_deputy::Call;

use super::super::{BEHIND_IDS, BEHIND_SLOTS};

/// Bytes of writes that may be on their way home unanswered.
pub const IN_FLIGHT: u64 = 1 << 20;

#[derive(Debug, Default)]
pub struct Behind {
    /// Bytes home allows to be written behind, by descriptor.
    budget: HashMap<i32, u64>,
    /// Writes sent behind and not answered yet, oldest first: (id, bytes).
    unanswered: VecDeque<(u64, u64)>,
    in_flight: u64,
    next: u64,
    /// Writes sent behind so far, and their bytes.
    pub sent: u64,
    pub bytes: u64,
}

impl Behind {
    /// Home's grant for `fd` (replaces what was left).
    pub fn grant(&mut self, fd: i32, bytes: u64) {
        if bytes == 0 {
            self.budget.remove(&fd);
        } else {
            self.budget.insert(fd, bytes);
        }
    }

    /// The guest makes call `nr` at home.
    pub fn note_call(&mut self, nr: u32) {
        // Calls on one open file never close or replace a descriptor; any other call may.
        if !is_file_call(nr) {
            self.budget.clear();
        }
    }

    /// If `call` (the guest's own, about to be sent home) may be written behind: the id to
    /// send it under and the count to answer the guest with now.
    pub fn take(&mut self, call: &Call) -> Option<(u64, i64)> {
        let nr = i64::from(call.nr);
        if nr != libc::SYS_write && nr != libc::SYS_pwrite64 {
            return None;
        }
        let [r] = &call.regions[..] else { return None };
        let n = r.data.len() as u64;
        if n == 0 || call.args[2] != n {
            return None;
        }
        let fd = call.args[0] as i64 as i32;
        let left = self.budget.get_mut(&fd)?;
        if *left < n
            || self.in_flight + n > IN_FLIGHT
            || self.unanswered.len() as u64 >= BEHIND_SLOTS
        {
            return None;
        }
        *left -= n;
        let id = BEHIND_IDS + self.next % BEHIND_SLOTS;
        self.next += 1;
        self.unanswered.push_back((id, n));
        self.in_flight += n;
        self.sent += 1;
        self.bytes += n;
        Some((id, n as i64))
    }

    /// Whether `id` is a write sent behind; if so it is answered now (`ret` is what it did at
    /// home, which reports a failure to the process itself).
    pub fn answered(&mut self, id: u64, ret: i64) -> bool {
        if !(BEHIND_IDS..BEHIND_IDS + BEHIND_SLOTS).contains(&id) {
            return false;
        }
        // Home answers in order: the answer is the oldest one's.
        match self.unanswered.front() {
            Some(&(first, n)) if first == id => {
                self.unanswered.pop_front();
                self.in_flight -= n;
                if ret != n as i64 {
                    tracing::debug!(id, n, ret, "a write sent behind failed at home");
                }
            }
            _ => tracing::warn!(id, "an answer for a write behind that is not awaited"),
        }
        true
    }

    /// Writes sent behind and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.unanswered.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wend_deputy::{Back, Dir, Region};

    fn write(fd: i32, n: usize) -> Call {
        Call {
            nr: libc::SYS_write as u32,
            args: [fd as u64, 0, n as u64, 0, 0, 0],
            regions: vec![Region {
                arg: 1,
                dir: Dir::In,
                len: n as u32,
                data: vec![7; n],
                back: Back::All,
            }],
        }
    }

    #[test]
    fn writes_go_behind_only_within_the_budget_and_the_in_flight_limit() {
        let mut b = Behind::default();
        assert_eq!(b.take(&write(1, 100)), None, "no budget yet");
        b.grant(1, 1000);
        assert_eq!(b.take(&write(2, 100)), None, "another descriptor");
        let (id, n) = b.take(&write(1, 600)).unwrap();
        assert_eq!(n, 600);
        assert_eq!(b.take(&write(1, 600)), None, "400 bytes of budget left");
        assert!(b.take(&write(1, 400)).is_some());
        assert_eq!(b.in_flight(), 2);
        assert!(b.answered(id, 600));
        assert!(!b.answered(5, 0), "a guest notification id is not ours");
        assert_eq!(b.in_flight(), 1);

        b.grant(1, 8 << 20);
        let big = IN_FLIGHT as usize / 2;
        assert!(b.take(&write(1, big)).is_some());
        assert_eq!(
            b.take(&write(1, big)),
            None,
            "would pass the in-flight limit"
        );
    }

    #[test]
    fn a_call_that_may_change_descriptors_drops_every_budget() {
        let mut b = Behind::default();
        b.grant(1, 1000);
        b.note_call(libc::SYS_lseek as u32);
        assert!(b.take(&write(1, 10)).is_some());
        b.note_call(libc::SYS_close as u32);
        assert_eq!(b.take(&write(1, 10)), None);
        b.grant(1, 1000);
        b.note_call(libc::SYS_dup2 as u32);
        assert_eq!(b.take(&write(1, 10)), None);
    }

    #[test]
    fn ids_stay_in_their_range_and_slots_are_bounded() {
        let mut b = Behind::default();
        b.grant(3, u64::MAX);
        let mut ids = Vec::new();
        while let Some((id, _)) = b.take(&write(3, 1)) {
            ids.push(id);
        }
        assert_eq!(ids.len() as u64, BEHIND_SLOTS);
        assert!(ids
            .iter()
            .all(|id| (BEHIND_IDS..BEHIND_IDS + BEHIND_SLOTS).contains(id)));
        for id in ids {
            assert!(b.answered(id, 1));
        }
        assert!(b.take(&write(3, 1)).is_some(), "slots free again");
    }
}
