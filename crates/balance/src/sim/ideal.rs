//! The lower bound: the ideal pooled cluster. The `n` jobs present share
//! the capacity of the `min(n, nodes)` fastest CPUs equally, so every job
//! runs at `min(fastest, top_n / n)`, all the time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::stats::{Recorder, SimReport};
use super::workload::{speeds, Arrivals};
use super::SimConfig;

/// A job by its finishing mark (ordered for a min-heap through `Reverse`).
#[derive(PartialEq)]
struct Mark(f64, f64, f64, bool);

impl Eq for Mark {}
impl PartialOrd for Mark {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Mark {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

pub(super) fn run(config: &SimConfig) -> SimReport {
    let mut sorted = speeds(config);
    let capacity: f64 = sorted.iter().sum();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let fastest = sorted[0];
    // top[n] = total speed of the n fastest CPUs.
    let mut top = vec![0.0];
    for s in &sorted {
        top.push(top.last().copied().unwrap_or(0.0) + s);
    }
    let rate = |n: usize| {
        if n == 0 {
            0.0
        } else {
            fastest.min(top[n.min(sorted.len())] / n as f64)
        }
    };
    let mut arrivals = Arrivals::new(config, capacity);
    let mut next = arrivals.next_job();
    // Jobs as (finish mark, arrival, work, measured).
    let mut present: BinaryHeap<Reverse<Mark>> = BinaryHeap::new();
    let (lo, hi) = (config.warmup, config.warmup + config.duration);
    let cap = hi + config.drain_cap;
    let mut attained = 0.0;
    let mut now = 0.0;
    let mut outstanding = 0u64;
    let mut rec = Recorder::default();
    let mut events = 0u64;
    loop {
        let r = rate(present.len());
        let finish = present
            .peek()
            .map(|Reverse(m)| now + (m.0 - attained).max(0.0) / r)
            .unwrap_or(f64::INFINITY);
        let t = finish.min(next.arrival);
        if (t >= hi && outstanding == 0) || t > cap {
            break;
        }
        events += 1;
        attained += (t - now) * r;
        now = t;
        if next.arrival <= finish {
            let measured = next.arrival >= lo && next.arrival < hi;
            outstanding += u64::from(measured);
            present.push(Reverse(Mark(
                attained + next.work,
                next.arrival,
                next.work,
                measured,
            )));
            next = arrivals.next_job();
        } else if let Some(Reverse(Mark(_, arrival, work, measured))) = present.pop() {
            if measured {
                rec.job(work, now - arrival, work / fastest, 0, true);
                outstanding -= 1;
            }
        }
    }
    for Reverse(Mark(_, arrival, work, measured)) in present {
        if measured {
            rec.job(work, now - arrival, work / fastest, 0, false);
        }
    }
    let mut report = rec.report("lower-bound", config.nodes);
    report.sim_time = now;
    report.events = events;
    report
}
