//! The sender's side: given a node's view, which processes go where.
//!
//! Order of business in one decision:
//! 1. an expelling node sends every guest away (to the best peer that fits,
//!    or home when home is about as good or nothing else fits);
//! 2. a node short of free memory sends its largest movable processes to
//!    peers with room until it is above the low-water mark;
//! 3. up to [`Params::max_moves`] balancing moves by the configured
//!    [`Rule`], each re-evaluated on the loads the previous ones projected.
//!
//! Processes with a stay reason never move, whatever the reason.

use rand::{Rng, RngExt};

use crate::model::{demand, local_runnable, rate};
use crate::params::{Params, Rule};
use crate::types::{Move, NodeRef, NodeState, Offer, Peers, Proc, Reason};

/// A possible target with the load and memory this decision projects on it.
pub(crate) struct Cand<'a> {
    pub(crate) node: &'a NodeState,
    /// Runnable processes, counting moves planned in this decision.
    pub(crate) runnable: f64,
    /// Free memory in bytes after planned moves.
    pub(crate) mem_free: f64,
}

impl Cand<'_> {
    /// Rate a process wanting `demand` CPUs would get there.
    pub(crate) fn rate_for(&self, demand: f64) -> f64 {
        rate(
            self.node.speed(),
            self.node.cpus(),
            self.runnable + demand.max(0.01),
        )
    }

    /// Whether `p` may go there at all: accepting (or its home), not
    /// expelling, and with room for its memory above the reserve.
    pub(crate) fn takes(&self, p: &Proc, params: &Params) -> bool {
        let is_home = p.home == Some(self.node.id);
        if self.node.expelling || !(self.node.accepting || is_home) {
            return false;
        }
        !self.node.knows_memory()
            || self.mem_free - p.mem as f64 >= params.mem_reserve * self.node.mem_total as f64
    }
}

/// Runnable processes a peer's published load implies. Published loads
/// rise slowly (5 old : 3 new each second) and fall at once, so a fraction
/// above `params.round_up` is a process that arrived recently and counts
/// whole.
fn peer_runnable(node: &NodeState, params: &Params) -> f64 {
    let r = node.runnable();
    if r - r.floor() >= params.round_up {
        r.ceil()
    } else {
        r
    }
}

/// Local state of one decision: the node, its projected run-queue, and the
/// candidate targets.
pub(crate) struct Plan<'a> {
    pub(crate) local: &'a NodeState,
    pub(crate) runnable: f64,
    /// Runnable processes when the CPU shares in `Proc::cpu` were measured.
    observed: f64,
    pub(crate) cands: Vec<Cand<'a>>,
    pub(crate) moving: Vec<bool>,
    pub(crate) moves: Vec<Move>,
}

impl<'a> Plan<'a> {
    fn new<R: Rng + ?Sized>(
        local: &'a NodeState,
        procs: &[Proc],
        peers: &'a Peers,
        params: &Params,
        rng: &mut R,
    ) -> Self {
        let all = peers.as_slice();
        let cand = |node: &'a NodeState| Cand {
            node,
            runnable: peer_runnable(node, params),
            mem_free: node.mem_free as f64,
        };
        let mut cands: Vec<Cand<'a>> = Vec::new();
        if params.probes == 0 || params.probes >= all.len() {
            // Every peer (ids are unique in `Peers`), homes included.
            cands.extend(all.iter().filter(|n| n.id != local.id).map(cand));
        } else {
            let mut add = |node: &'a NodeState| {
                if node.id != local.id && !cands.iter().any(|c| c.node.id == node.id) {
                    cands.push(cand(node));
                }
            };
            for _ in 0..params.probes {
                add(&all[rng.random_range(0..all.len())]);
            }
            for home in procs.iter().filter_map(|p| p.home) {
                if let Some(node) = peers.get(home) {
                    add(node);
                }
            }
        }
        let runnable = local_runnable(local, procs, params);
        Self {
            local,
            runnable,
            observed: runnable,
            cands,
            moving: vec![false; procs.len()],
            moves: Vec::new(),
        }
    }

    /// Rate a local process gets here now.
    pub(crate) fn rate_here(&self) -> f64 {
        rate(self.local.speed(), self.local.cpus(), self.runnable)
    }

    pub(crate) fn demand_of(&self, p: &Proc) -> f64 {
        demand(p, self.local.cpus(), self.observed)
    }

    /// Records a move of `procs[i]` to candidate `c` and projects its effect.
    /// Fallback targets are the other candidates that take it at a rate of
    /// at least `fallback_rate` (none when `None`), best first.
    pub(crate) fn commit(
        &mut self,
        procs: &[Proc],
        (i, c): (usize, usize),
        reason: Reason,
        rh: f64,
        fallback_rate: Option<f64>,
        params: &Params,
    ) {
        let p = &procs[i];
        let d = self.demand_of(p);
        let mut also: Vec<(f64, NodeRef)> = match fallback_rate {
            Some(floor) => self
                .cands
                .iter()
                .enumerate()
                .filter(|&(k, cand)| k != c && cand.takes(p, params))
                .map(|(_, cand)| (cand.rate_for(d), cand.node.id))
                .filter(|&(r, _)| r >= floor)
                .collect(),
            None => Vec::new(),
        };
        also.sort_by(|a, b| b.0.total_cmp(&a.0));
        also.truncate(params.fallbacks);
        let cand = &mut self.cands[c];
        cand.runnable += d;
        cand.mem_free -= p.mem as f64;
        let to = cand.node.id;
        self.runnable = (self.runnable - d).max(0.0);
        self.moving[i] = true;
        self.moves.push(Move {
            pid: p.pid,
            to,
            also: also.into_iter().map(|(_, id)| id).collect(),
            reason,
            offer: Offer {
                from: self.local.id,
                home: p.home.unwrap_or(self.local.id),
                reason,
                mem: p.mem,
                demand: d,
                rate_here: if reason.is_forced() { 0.0 } else { rh },
            },
        });
    }

    /// Among candidates that take `p`, a random one whose rate is within
    /// `tie` of the best; with the best rate.
    pub(crate) fn pick<R: Rng + ?Sized>(
        &self,
        p: &Proc,
        params: &Params,
        exclude_home: bool,
        rng: &mut R,
    ) -> Option<(usize, f64)> {
        let d = self.demand_of(p);
        let ok = |c: &Cand<'_>| c.takes(p, params) && !(exclude_home && p.home == Some(c.node.id));
        let best = self
            .cands
            .iter()
            .filter(|c| ok(c))
            .map(|c| c.rate_for(d))
            .fold(0.0_f64, f64::max);
        if best <= 0.0 {
            return None;
        }
        let floor = best * (1.0 - params.tie);
        let near: Vec<usize> = (0..self.cands.len())
            .filter(|&i| ok(&self.cands[i]) && self.cands[i].rate_for(d) >= floor)
            .collect();
        let i = near[rng.random_range(0..near.len())];
        Some((i, self.cands[i].rate_for(d)))
    }

    /// Index of `p`'s home among the candidates, if it is known and may
    /// take it back.
    pub(crate) fn home_of(&self, p: &Proc) -> Option<usize> {
        let home = p.home?;
        self.cands
            .iter()
            .position(|c| c.node.id == home && !c.node.expelling)
    }
}

/// Proposes the moves of one decision round for `local`, from its `procs`
/// and its (stale) view of the `peers`. Pure: the same inputs and RNG state
/// give the same moves. Each move carries the [`Offer`] to give the target's
/// [`crate::admit`]; if the target refuses, the same offer goes to the
/// [`Move::also`] fallbacks in order, and if all refuse the process stays
/// (the next round decides again).
pub fn decide<R: Rng + ?Sized>(
    local: &NodeState,
    procs: &[Proc],
    peers: &Peers,
    params: &Params,
    rng: &mut R,
) -> Vec<Move> {
    if procs.is_empty() {
        return Vec::new();
    }
    let mut plan = Plan::new(local, procs, peers, params, rng);
    if local.expelling {
        expel(&mut plan, procs, params, rng);
    }
    if local.knows_memory() {
        relieve_memory(&mut plan, procs, params, rng);
    }
    match params.rule {
        Rule::Wend => crate::rules::balance_wend(&mut plan, procs, params, rng),
        Rule::Mosix => crate::rules::balance_mosix(&mut plan, procs, params, rng),
    }
    plan.moves
}

/// Every guest leaves: to the best peer that takes it, unless home is about
/// as good (within `home_gain`) or nothing else takes it.
fn expel<R: Rng + ?Sized>(plan: &mut Plan<'_>, procs: &[Proc], params: &Params, rng: &mut R) {
    for (i, p) in procs.iter().enumerate() {
        if !p.is_guest() || p.stay.is_some() {
            continue;
        }
        let home = plan.home_of(p);
        let other = plan.pick(p, params, true, rng);
        let d = plan.demand_of(p);
        let target = match (other, home) {
            (Some((c, r)), Some(h)) => {
                if plan.cands[h].rate_for(d) * params.home_gain >= r {
                    h
                } else {
                    c
                }
            }
            (Some((c, _)), None) => c,
            (None, Some(h)) => h,
            (None, None) => continue,
        };
        plan.commit(procs, (i, target), Reason::Expel, 0.0, Some(0.0), params);
    }
}

/// Below the low-water mark, the largest movable processes leave until the
/// projected free memory is above it again.
fn relieve_memory<R: Rng + ?Sized>(
    plan: &mut Plan<'_>,
    procs: &[Proc],
    params: &Params,
    rng: &mut R,
) {
    let local = plan.local;
    let low = params.mem_low * local.mem_total as f64;
    let mut free = local.mem_free as f64;
    if free >= low {
        return;
    }
    let mut order: Vec<usize> = (0..procs.len())
        .filter(|&i| procs[i].stay.is_none() && !plan.moving[i])
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(procs[i].mem));
    for i in order {
        if free >= low {
            break;
        }
        let p = &procs[i];
        if let Some((c, _)) = plan.pick(p, params, false, rng) {
            plan.commit(procs, (i, c), Reason::Memory, 0.0, Some(0.0), params);
            free += p.mem as f64;
        }
    }
}
