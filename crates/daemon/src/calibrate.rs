//! CPU speed calibration: a short, fixed piece of CPU work (the yardstick), timed in the
//! calibrating thread's own CPU time so that a CPU quota (which delays the thread but does not
//! slow the CPU) does not change the result. Speed 1.0 means the yardstick runs as fast as on
//! the reference machine; 2.0 twice as fast. A configured speed skips calibration (as
//! `mosctl setspeed` did).
//!
//! The work is a dependent chain of libm calls (sin, exp, sqrt): it measures the core's
//! floating-point pipeline, not memory, and costs the same whatever our crate's optimisation
//! level, since the time is spent inside the C library.

use std::hint::black_box;
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

/// Iterations in one yardstick run.
pub const YARDSTICK_ITERATIONS: u32 = 400_000;
/// Thread CPU nanoseconds one yardstick run takes on the reference machine (the project's
/// 2-core x86-64 build machine of 2026).
pub const REFERENCE_NANOS: f64 = 10_800_000.0;
/// Runs per calibration; the fastest counts (others were disturbed).
pub const RUNS: u32 = 5;

/// The result of a calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Speed relative to the reference (1.0 = reference).
    pub speed: f64,
    /// CPU time of the fastest run.
    pub best: Duration,
}

/// One yardstick run: the same work every time; the result is kept so it cannot be skipped.
pub fn yardstick(iterations: u32) -> f64 {
    let mut x = black_box(0.5f64);
    for i in 0..iterations {
        let t = black_box(x).sin() + f64::from(i & 7) * 1e-3;
        x = (t.abs() + 0.25).sqrt() * (-t * t).exp();
    }
    black_box(x)
}

fn thread_cpu_nanos() -> Option<u128> {
    let ts = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(Duration::from(ts).as_nanos())
}

/// Measures this CPU's speed: a blocking call of roughly `RUNS` yardstick runs (tens of
/// milliseconds of CPU). Returns `None` if the thread CPU clock is unavailable.
pub fn calibrate() -> Option<Calibration> {
    let mut best = u128::MAX;
    for _ in 0..RUNS {
        let start = thread_cpu_nanos()?;
        black_box(yardstick(YARDSTICK_ITERATIONS));
        let spent = thread_cpu_nanos()?.saturating_sub(start).max(1);
        best = best.min(spent);
    }
    let speed = REFERENCE_NANOS / best as f64;
    Some(Calibration {
        speed: (speed * 100.0).round().max(1.0) / 100.0,
        best: Duration::from_nanos(u64::try_from(best).unwrap_or(u64::MAX)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yardstick_is_deterministic() {
        assert_eq!(yardstick(1000).to_bits(), yardstick(1000).to_bits());
        assert!(yardstick(1000).is_finite());
    }

    #[test]
    fn calibration_gives_a_positive_speed() {
        let c = calibrate().expect("thread cpu clock");
        assert!(c.speed.is_finite() && c.speed > 0.0, "{c:?}");
        assert!(c.best > Duration::ZERO);
    }
}
