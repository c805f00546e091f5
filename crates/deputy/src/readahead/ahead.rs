//! Prefetch: the next window is asked for while the guest still reads the current one, so a
//! steady sequential reader finds it here when it gets there and never waits for a fill.
//!
//! At most one prefetch is on its way. It is sent under its own id (the guest loop's choice)
//! right after an answer to the guest, and home runs it before any later call of the guest,
//! so its bytes are never newer than what the safety rules of the module allow: when they
//! drop what was learnt (a call that is not quiet, a signal, a flush), the generation moves on
//! and a prefetch of an older generation is thrown away when it arrives. A read that needs
//! the window on its way waits for it ([`Step::Wait`]) instead of asking for it again.
//!
//! A window is prefetched once the guest has used half of it while it is younger than half of
//! [`Config::max_age`]: a reader that slow would find the next one too old to use.

use std::time::Instant;

use super::{Action, Ahead, Pending, ReadAhead, Step, Window};
use crate::call::{Call, Outcome};
use crate::marshal::GuestMem;

/// What a window can do for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// Answered: this many bytes.
    Bytes(i64),
    /// The prefetch on its way will answer it.
    Wait,
    /// Not from a window.
    No,
}

impl Window {
    /// The file offset after the window's last byte.
    pub(super) fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    /// Whether a read of `want` bytes needs more than is left (never a short read before
    /// the end of the file).
    pub(super) fn short_of(&self, want: usize) -> bool {
        let left = self.data.len() - self.used;
        left == 0 || (want > left && !self.eof)
    }

    /// This window's unread bytes followed by `next`'s, if `next` starts where this ends.
    pub(super) fn join(self, next: Window) -> Option<Window> {
        if next.start != self.end() {
            return Some(self);
        }
        if self.used == self.data.len() {
            return Some(next);
        }
        let mut data = self.data[self.used..].to_vec();
        data.extend_from_slice(&next.data);
        Some(Window {
            start: self.start + self.used as u64,
            data,
            used: 0,
            filled: self.filled.min(next.filled),
            eof: next.eof,
        })
    }
}

impl ReadAhead {
    /// The prefetch to send now, if one is due (see the module docs); its outcome goes to
    /// [`ReadAhead::prefetched`], or [`ReadAhead::prefetch_lost`] if home drops or
    /// interrupts it. Call after each answer to the guest.
    pub fn prefetch(&mut self, now: Instant) -> Option<Call> {
        if !self.cfg.prefetch || self.ahead.is_some() {
            return None;
        }
        let fd = self.last_read?;
        let f = self.fds.get(&fd)?;
        let w = f.window.as_ref()?;
        let young = now.duration_since(w.filled) < self.cfg.max_age / 2;
        if w.eof || f.next.is_some() || w.used * 2 < w.data.len() || !young {
            return None;
        }
        self.ahead = Some(Ahead {
            fd,
            off: w.end(),
            generation: self.generation,
        });
        self.stats.prefetches += 1;
        Some(Call::pread(fd, u64::from(self.cfg.window), w.end()))
    }

    /// Home's answer to the prefetch; if the guest's read waited for it, what to do for that
    /// read now.
    pub fn prefetched(&mut self, out: Outcome, mem: &dyn GuestMem, now: Instant) -> Option<Step> {
        let a = self.ahead.take()?;
        let asked = (self.cfg.window as usize).min(crate::call::MAX_REGION as usize);
        if a.generation == self.generation && out.ret >= 0 {
            if let (Some(f), Some(data)) = (self.fds.get_mut(&a.fd), out.out.into_iter().next()) {
                if f.window.as_ref().is_some_and(|w| w.end() == a.off) {
                    f.next = Some(Window {
                        start: a.off,
                        eof: data.len() < asked,
                        data,
                        used: 0,
                        filled: now,
                    });
                }
            }
        }
        self.resume(mem, now)
    }

    /// Home dropped or interrupted the prefetch (a move, a signal); if the guest's read
    /// waited for it, what to do for that read now.
    pub fn prefetch_lost(&mut self, mem: &dyn GuestMem, now: Instant) -> Option<Step> {
        self.ahead = None;
        self.resume(mem, now)
    }

    /// The read that waited for the prefetch, taken up again.
    fn resume(&mut self, mem: &dyn GuestMem, now: Instant) -> Option<Step> {
        if !matches!(
            self.pending,
            Some(Pending {
                doing: Action::Await,
                ..
            })
        ) {
            return None;
        }
        let Pending { guest, .. } = self.pending.take()?;
        Some(self.begin(guest, mem, now))
    }
}
