//! The target's side of a move: take a process or refuse it, on this node's fresh state and the
//! arrivals it already agreed to (wend-balance's `admit`). This is what stops herds: many
//! senders may pick the same idle node from stale load vectors, but it takes only as many as
//! keep it clearly better than where they come from.

use std::sync::Mutex;

use wend_balance::{admit, Admission, NodeRef, Offer as BalanceOffer, Pending, Reason, Refusal};

use super::wire::Offer;
use super::Manager;

/// The policy's name for this node in its own view (any fixed value: only compared).
pub(super) const SELF_REF: NodeRef = NodeRef(0);
/// Readings of the run queue behind one fresh value, and the time between them.
const FRESH_READINGS: usize = 5;
const FRESH_GAP: std::time::Duration = std::time::Duration::from_millis(10);
/// The name the admission check gives a sender (never this node).
const SENDER_REF: NodeRef = NodeRef(u32::MAX);

/// An admitted arrival, counted as pending until it lands (or fails): drop it then.
pub struct Admitted<'a> {
    pending: &'a Mutex<Pending>,
    mem: u64,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.count = p.count.saturating_sub(1);
        p.mem = p.mem.saturating_sub(self.mem);
    }
}

impl Manager {
    /// Whether this node takes the process `offer` describes. A move a user asked for
    /// (`wend migrate`) needs only room and an accepting node; an automatic one must also
    /// run clearly faster here, pending arrivals counted.
    pub fn admit(&self, offer: &Offer) -> Result<Admitted<'_>, String> {
        if self.stopping() {
            return Err(format!("{} is stopping", self.node));
        }
        // A user's move needs no fresh run queue (only room counts for it): one reading of
        // the memory, not the 40 ms of readings that steady the run queue.
        let me = self.local_state(offer.auto.is_some());
        let terms = BalanceOffer {
            from: SENDER_REF,
            home: SENDER_REF,
            // A user's move is judged like a forced one: room is all it needs.
            reason: if offer.auto.is_some() {
                Reason::Balance
            } else {
                Reason::Expel
            },
            mem: offer.mem_bytes,
            demand: offer.auto.map_or(1.0, |a| a.demand),
            rate_here: offer.auto.map_or(0.0, |a| a.rate_here),
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let answer = admit(&me, &terms, &pending, &self.params);
        tracing::debug!(
            runnable = me.runnable(),
            pending = pending.count,
            demand = terms.demand,
            rate_here = terms.rate_here,
            ?answer,
            "admission"
        );
        match answer {
            Admission::Accept => {
                pending.count += 1;
                pending.mem += offer.mem_bytes;
                Ok(Admitted {
                    pending: &self.pending,
                    mem: offer.mem_bytes,
                })
            }
            Admission::Refuse(r) => Err(self.refusal(r)),
        }
    }

    fn refusal(&self, r: Refusal) -> String {
        let node = &self.node;
        match r {
            Refusal::NotAccepting => {
                format!("{node} does not accept guests (`wend unblock` there lets them in)")
            }
            Refusal::Expelling => format!("{node} is sending its guests away (`wend expel`)"),
            Refusal::NoMemory { free, needed } => format!(
                "{node} is short of memory: {} MiB free, {} MiB needed with its reserve",
                free >> 20,
                needed >> 20
            ),
            Refusal::NoGain {
                rate_here,
                rate_there,
            } => format!(
                "{node} would not run it clearly faster ({rate_there:.2} there against \
                 {rate_here:.2} where it runs)"
            ),
        }
    }

    /// The run queue now: the median of `readings` readings [`FRESH_GAP`] apart, so the
    /// daemon's own threads (which run in bursts) do not count, while a CPU-bound process
    /// (runnable nearly all the time) does. The reading thread is left out.
    fn fresh_sample(&self, readings: usize) -> Option<crate::probe::Sample> {
        let mut probe = self.probe.clone();
        probe.set_self_tid(nix::unistd::gettid().as_raw());
        let mut samples = Vec::with_capacity(readings);
        for i in 0..readings {
            if i > 0 {
                std::thread::sleep(FRESH_GAP);
            }
            samples.push(probe.sample().ok()?);
        }
        samples.sort_by(|a, b| a.runnable.total_cmp(&b.runnable));
        Some(samples.swap_remove(readings / 2))
    }

    /// This node as the policy sees it: the published vector, with the run queue at least
    /// what a fresh reading shows (the published load rises slowly; with `steady`, the
    /// median of [`FRESH_READINGS`], else one reading), and the owner's flags.
    pub(super) fn local_state(&self, steady: bool) -> wend_balance::NodeState {
        let load = self.loads.borrow().clone();
        let mut me = wend_balance::NodeState::from_load(SELF_REF, &load, false);
        let readings = if steady { FRESH_READINGS } else { 1 };
        if let Some(sample) = self.fresh_sample(readings) {
            me.load = me.load.max(sample.runnable / me.speed());
            me.mem_free = sample.mem_free;
            me.mem_total = sample.mem_total;
        }
        me.accepting = self.flags.accepting();
        me.expelling = self.flags.expelling();
        me
    }
}
