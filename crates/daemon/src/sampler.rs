//! The load sampler: a thread that reads the node four times a second, averages the run queue
//! over each second, smooths it (5 old : 3 new rising, at once falling) and normalises it by
//! speed with the cluster crate's functions, and hands the resulting load vector to the peer
//! loop through a watch channel.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wend_cluster::{normalise_load, LoadSmoother, LocalLoad};

use crate::flags::NodeFlags;
use crate::probe::{Probe, Sample};

/// Readings per published sample.
pub const READINGS_PER_SAMPLE: u32 = 4;
/// Time between readings.
pub const READING_INTERVAL: Duration = Duration::from_millis(250);

/// What the node publishes besides the measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeTraits {
    /// Per-CPU speed relative to the yardstick (calibrated or configured).
    pub base_speed: f64,
    /// Whether the node accepts guests.
    pub accepting: bool,
    /// Guest processes running here.
    pub guests: u16,
}

/// Turns one averaged sample into the load vector to publish.
pub fn local_load(smoother: &mut LoadSmoother, sample: &Sample, traits: NodeTraits) -> LocalLoad {
    let speed = traits.base_speed * sample.speed_factor();
    let smoothed = smoother.update(sample.runnable);
    LocalLoad {
        cpus: sample.cpus(),
        speed,
        load: normalise_load(smoothed, speed),
        mem_free: sample.mem_free,
        mem_total: sample.mem_total,
        guests: traits.guests,
        accepting: traits.accepting,
    }
}

/// Starts the sampling thread; it stops when `shutdown` is cancelled. The first vector is
/// published before this returns, so the node never advertises an unmeasured load.
pub fn spawn(
    mut probe: Probe,
    traits: NodeTraits,
    flags: Arc<NodeFlags>,
    shutdown: CancellationToken,
) -> std::io::Result<(watch::Receiver<LocalLoad>, thread::JoinHandle<()>)> {
    let mut smoother = LoadSmoother::new();
    let first = probe.sample()?;
    let (tx, rx) = watch::channel(local_load(&mut smoother, &first, traits));
    let handle = thread::Builder::new()
        .name("wend-sampler".into())
        .spawn(move || {
            probe.set_self_tid(nix::unistd::gettid().as_raw());
            run(probe, smoother, traits, &flags, &tx, &shutdown);
        })?;
    Ok((rx, handle))
}

fn run(
    probe: Probe,
    mut smoother: LoadSmoother,
    mut traits: NodeTraits,
    flags: &NodeFlags,
    tx: &watch::Sender<LocalLoad>,
    shutdown: &CancellationToken,
) {
    let mut acc: Option<Sample> = None;
    let mut readings = 0u32;
    while !shutdown.is_cancelled() {
        thread::sleep(READING_INTERVAL);
        let sample = match probe.sample() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%err, "cannot read the node's load; keeping the last value");
                continue;
            }
        };
        readings += 1;
        acc = Some(match acc {
            None => sample,
            Some(mut a) => {
                a.runnable += sample.runnable;
                a.cpu_share = sample.cpu_share;
                a.mem_free = sample.mem_free;
                a.mem_total = sample.mem_total;
                a
            }
        });
        if readings == READINGS_PER_SAMPLE {
            if let Some(mut a) = acc.take() {
                a.runnable /= f64::from(readings);
                traits.guests = u16::try_from(flags.guests()).unwrap_or(u16::MAX);
                traits.accepting = flags.accepting();
                let load = local_load(&mut smoother, &a, traits);
                tracing::trace!(?load, "sampled");
                if tx.send(load).is_err() {
                    return; // the peer loop is gone
                }
            }
            readings = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_cpu_node_publishes_half_speed() {
        let traits = NodeTraits {
            base_speed: 2.0,
            accepting: true,
            guests: 0,
        };
        let sample = Sample {
            runnable: 1.0,
            cpu_share: 0.5,
            mem_free: 1,
            mem_total: 2,
        };
        let mut s = LoadSmoother::new();
        let l = local_load(&mut s, &sample, traits);
        assert_eq!(l.cpus, 1);
        assert_eq!(l.speed, 1.0);
        assert_eq!(l.load, 1.0);
        // Rising load is smoothed 5:3.
        let busy = Sample {
            runnable: 9.0,
            ..sample
        };
        assert_eq!(local_load(&mut s, &busy, traits).load, 4.0);
        // Falling load drops at once.
        let idle = Sample {
            runnable: 0.0,
            ..sample
        };
        assert_eq!(local_load(&mut s, &idle, traits).load, 0.0);
    }
}
