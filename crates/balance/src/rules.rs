//! The balancing rules: wend's cost-aware rule and MOSIX's documented one.

use rand::{Rng, RngExt};

use crate::decide::Plan;
use crate::model::rate;
use crate::params::Params;
use crate::types::{Proc, Reason};

/// Whether `p` may make a balancing move now: no stay reason, not already
/// moving, past its residency, settled since its last move, using the CPU.
fn may_balance(plan: &Plan<'_>, i: usize, p: &Proc, params: &Params) -> bool {
    p.stay.is_none()
        && !plan.moving[i]
        && p.age >= params.residency
        && p.since_move.is_none_or(|s| s >= params.settle)
        && p.cpu >= params.busy_cpu
}

/// wend's rule. For each movable process: the rate it gets here, the best
/// rate among the candidates (random among near-equal ones), and home's. A
/// move qualifies when the rate there is `gain_for(migrations)` times the
/// rate here (`home_gain` for home) and the time it saves on its estimated
/// remaining work beats `payback` times the move's cost. Home wins when it
/// qualifies and is within `home_gain` of the best. Among processes the
/// largest saving goes first (per unit of estimated total work with
/// `per_work`, the slowdown it saves), so old (likely long) processes move
/// and new ones stay home.
pub(crate) fn balance_wend<R: Rng + ?Sized>(
    plan: &mut Plan<'_>,
    procs: &[Proc],
    params: &Params,
    rng: &mut R,
) {
    let estimate_for =
        |work: f64| (work.max(0.0) * params.remaining_factor).max(params.min_remaining);
    let estimate = |q: &Proc| estimate_for(q.work);
    for _ in 0..params.max_moves {
        let busy: Vec<usize> = (0..procs.len())
            .filter(|&i| !plan.moving[i] && procs[i].cpu >= params.busy_cpu)
            .collect();
        let unexplained = (plan.runnable - busy.len() as f64).max(0.0);
        let mut best: Option<(f64, usize, usize, Reason, f64, f64)> = None;
        for (i, p) in procs.iter().enumerate() {
            if !may_balance(plan, i, p, params) {
                continue;
            }
            let remaining = estimate(p);
            // With `horizon`, a co-runner expected to finish within a fraction
            // of this process's remaining time counts only for that fraction.
            let rh = if params.horizon {
                let mine = remaining.max(1e-3);
                let others: f64 = busy
                    .iter()
                    .filter(|&&k| k != i)
                    .map(|&k| (estimate(&procs[k]) / mine).min(1.0))
                    .sum();
                rate(
                    plan.local.speed(),
                    plan.local.cpus(),
                    unexplained + 1.0 + others,
                )
            } else {
                plan.rate_here()
            };
            // Sharing its CPU, it is worth less here than its rate: its
            // leaving speeds up its co-runners.
            let rh = if plan.runnable >= plan.local.cpus() + 0.5 {
                rh * params.shared
            } else {
                rh
            };
            let need = params.gain_for(p.migrations, p.since_move) * rh;
            // It runs here while its memory is copied, then is frozen.
            let cost = params.transfer.frozen(p.mem);
            let copy_work = params.transfer.copy_running(p.mem) * rh;
            let (total, later) = if params.after_copy {
                let done = p.work.max(0.0) + copy_work;
                (done + estimate_for(done), estimate_for(done))
            } else {
                (
                    p.work.max(0.0) + remaining,
                    (remaining - copy_work).max(0.0),
                )
            };
            let saving = |r_there: f64| later * (1.0 / rh - 1.0 / r_there) - cost;
            let d = plan.demand_of(p);
            let other = plan.pick(p, params, true, rng).filter(|&(_, r)| r >= need);
            let home = plan.home_of(p).and_then(|h| {
                let r = plan.cands[h].rate_for(d);
                (plan.cands[h].takes(p, params) && r >= params.home_gain * rh).then_some((h, r))
            });
            let choice = match (other, home) {
                (Some(o), Some(h)) if h.1 * params.home_gain >= o.1 => Some((h, Reason::Home)),
                (Some(o), _) => Some((o, Reason::Balance)),
                (None, Some(h)) => Some((h, Reason::Home)),
                (None, None) => None,
            };
            let Some(((c, r), reason)) = choice else {
                continue;
            };
            let mut s = saving(r);
            if s <= 0.0 || s < params.payback * cost {
                continue;
            }
            if params.per_work {
                s /= total;
            }
            if best.is_none_or(|b| s > b.0) {
                best = Some((s, i, c, reason, rh, need));
            }
        }
        let Some((_, i, c, reason, rh, need)) = best else {
            return;
        };
        let floor = (reason == Reason::Balance).then_some(need);
        plan.commit(procs, (i, c), reason, rh, floor, params);
    }
}

/// MOSIX's rule: the movable process with the second-highest CPU use (the
/// highest if it is alone) goes to the candidate with the lowest
/// `load + gain × its load there`, if that is below the local load.
pub(crate) fn balance_mosix<R: Rng + ?Sized>(
    plan: &mut Plan<'_>,
    procs: &[Proc],
    params: &Params,
    rng: &mut R,
) {
    for _ in 0..params.max_moves {
        let mut order: Vec<usize> = (0..procs.len())
            .filter(|&i| may_balance(plan, i, &procs[i], params))
            .collect();
        if order.is_empty() {
            return;
        }
        order.sort_by(|&a, &b| procs[b].cpu.total_cmp(&procs[a].cpu));
        let i = order[1.min(order.len() - 1)];
        let p = &procs[i];
        let d = plan.demand_of(p);
        let local_load = plan.runnable / (plan.local.speed() * plan.local.cpus());
        let score = |c: &crate::decide::Cand<'_>| {
            let unit = c.node.speed() * c.node.cpus();
            c.runnable / unit + params.gain * d / unit
        };
        let mut best: Option<(f64, usize)> = None;
        let mut ties = 0u32;
        for (c, cand) in plan.cands.iter().enumerate() {
            if !cand.takes(p, params) {
                continue;
            }
            let s = score(cand);
            match best {
                Some((b, _)) if s > b => {}
                Some((b, _)) if s == b => {
                    ties += 1;
                    if rng.random_range(0..ties) == 0 {
                        best = Some((s, c));
                    }
                }
                _ => {
                    ties = 1;
                    best = Some((s, c));
                }
            }
        }
        match best {
            Some((s, c)) if s < local_load => {
                let rh = plan.rate_here();
                plan.commit(procs, (i, c), Reason::Balance, rh, None, params);
            }
            _ => return,
        }
    }
}
