//! The small performance model behind the decisions: the rate a process gets
//! on a node, how many CPUs' worth a process wants, and the local run-queue.

use crate::params::Params;
use crate::types::{NodeState, Proc};

/// Rate, in yardstick CPU-seconds per second, that one single-threaded
/// CPU-bound process gets on a node of `speed` with `cpus` CPUs shared by
/// `runnable` processes (itself included).
pub fn rate(speed: f64, cpus: f64, runnable: f64) -> f64 {
    speed * (cpus / runnable.max(1.0)).min(1.0)
}

/// Runnable processes on the local node: the larger of its own load and the
/// count of local processes using the CPU.
pub fn local_runnable(local: &NodeState, procs: &[Proc], params: &Params) -> f64 {
    let busy = procs.iter().filter(|p| p.cpu >= params.busy_cpu).count() as f64;
    local.runnable().max(busy)
}

/// CPUs' worth a process wants (0 to 1): its CPU share over the fair share it
/// could get with `runnable` processes on `cpus` CPUs. A process that got its
/// whole fair share is counted as wanting a full CPU.
pub fn demand(p: &Proc, cpus: f64, runnable: f64) -> f64 {
    let cpu = if p.cpu.is_finite() {
        p.cpu.max(0.0)
    } else {
        0.0
    };
    let fair = (cpus / runnable.max(1.0)).min(1.0);
    (cpu / fair).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NodeRef;

    #[test]
    fn rates_and_demand() {
        assert_eq!(rate(2.0, 1.0, 4.0), 0.5);
        assert_eq!(rate(2.0, 4.0, 2.0), 2.0);
        assert_eq!(rate(1.0, 1.0, 0.0), 1.0);
        let mut p = Proc::busy(1, 10.0, 0);
        p.cpu = 0.5;
        assert_eq!(demand(&p, 1.0, 2.0), 1.0);
        p.cpu = 0.2;
        assert_eq!(demand(&p, 1.0, 1.0), 0.2);
        let mut local = NodeState::idle(NodeRef(0), 2.0);
        local.load = 1.0;
        let procs = vec![Proc::busy(1, 1.0, 0); 3];
        assert_eq!(local_runnable(&local, &procs, &Params::default()), 3.0);
        local.load = 2.5;
        assert_eq!(local_runnable(&local, &procs, &Params::default()), 5.0);
    }
}
