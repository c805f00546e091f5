//! The target's side: accept or refuse an incoming process, on the target's
//! fresh state and the arrivals it already agreed to. This is what stops
//! herds: many senders may pick the same idle node from stale vectors, but
//! the node takes only as many as keep it better than where they come from.

use crate::model::rate;
use crate::params::Params;
use crate::types::{NodeState, Offer};

/// Arrivals a node has admitted that have not landed yet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pending {
    /// How many processes.
    pub count: u32,
    /// Their memory in bytes.
    pub mem: u64,
}

/// Why a target refuses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// `wend block`: the node takes no guests.
    NotAccepting,
    /// The node is expelling its guests or leaving.
    Expelling,
    /// Taking it would leave less than the reserve free.
    NoMemory {
        /// Free bytes after pending arrivals.
        free: u64,
        /// Bytes the process needs plus the reserve.
        needed: u64,
    },
    /// With pending arrivals counted, the process would not run clearly
    /// faster here than at the sender.
    NoGain {
        /// Its rate at the sender.
        rate_here: f64,
        /// Its projected rate here.
        rate_there: f64,
    },
}

/// The target's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Send it.
    Accept,
    /// Keep it.
    Refuse(Refusal),
}

/// Decides whether `me` takes the process described by `offer`, with
/// `pending` arrivals already admitted. `me` should carry the node's
/// freshest load (the larger of the smoothed load and the current run-queue
/// over speed). A home takes its own processes back unless it is expelling;
/// forced moves (expel, memory) need room, not a gain.
pub fn admit(me: &NodeState, offer: &Offer, pending: &Pending, params: &Params) -> Admission {
    let home = offer.home == me.id;
    if me.expelling {
        return Admission::Refuse(Refusal::Expelling);
    }
    if !me.accepting && !home {
        return Admission::Refuse(Refusal::NotAccepting);
    }
    if me.knows_memory() && !home {
        let free = me.mem_free.saturating_sub(pending.mem);
        let reserve = (params.mem_reserve * me.mem_total as f64) as u64;
        let needed = offer.mem.saturating_add(reserve);
        if free < needed {
            return Admission::Refuse(Refusal::NoMemory { free, needed });
        }
    }
    if !offer.reason.is_forced() {
        let runnable = me.runnable() + f64::from(pending.count) + offer.demand.max(0.01);
        let rate_there = rate(me.speed(), me.cpus(), runnable);
        let factor = if home { 1.0 } else { params.admit_gain };
        if rate_there < factor * offer.rate_here {
            return Admission::Refuse(Refusal::NoGain {
                rate_here: offer.rate_here,
                rate_there,
            });
        }
    }
    Admission::Accept
}
