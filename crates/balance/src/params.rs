//! Tunables of the policy, with the defaults the simulator measured.

use thiserror::Error;

/// Which decision rule [`crate::decide`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// wend's rule: per-process expected rates (speed, load, CPUs), the
    /// move's cost against the remaining time estimated from the work done,
    /// hysteresis growing with past moves, homes preferred.
    Wend,
    /// The rule MOSIX documented, kept as a baseline: the process with the
    /// second-highest CPU use goes to the node with the lowest
    /// `load + gain × one process's load` if that is below the local load;
    /// no cost model. Expel, memory and stay rules are the same as wend's.
    Mosix,
}

/// How a migration costs a process: the memory crosses the link at
/// `bandwidth`; a live migration keeps the process running at the source
/// while it copies and freezes it only for the last pass, a stop-and-copy
/// migration freezes it for the whole copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// Link bandwidth in bytes per second (default 1.17e8, gigabit ethernet).
    pub bandwidth: f64,
    /// Seconds frozen whatever the size (default 0.05).
    pub overhead: f64,
    /// Live migration: seconds frozen per GiB of memory (default 0.4, the
    /// goal issue 4 sets for wend's live migration); `None`: stop-and-copy.
    pub live_freeze_per_gib: Option<f64>,
}

impl Default for Transfer {
    fn default() -> Self {
        Self {
            bandwidth: 1.17e8,
            overhead: 0.05,
            live_freeze_per_gib: Some(0.4),
        }
    }
}

impl Transfer {
    /// Seconds the process keeps running at the source while its memory is
    /// copied (0 for stop-and-copy).
    pub fn copy_running(&self, mem: u64) -> f64 {
        match self.live_freeze_per_gib {
            Some(_) => mem as f64 / self.bandwidth,
            None => 0.0,
        }
    }

    /// Seconds the process is frozen.
    pub fn frozen(&self, mem: u64) -> f64 {
        self.overhead
            + match self.live_freeze_per_gib {
                Some(per_gib) => per_gib * mem as f64 / f64::from(1u32 << 30),
                None => mem as f64 / self.bandwidth,
            }
    }
}

/// The policy's tunables. `Params::default()` is what the daemon uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Decision rule (default [`Rule::Wend`]).
    pub rule: Rule,
    /// Random peers examined per decision, besides the homes of local
    /// guests (default 32; 0 examines every peer). Sampling keeps a decision
    /// O(1) in the cluster size and spreads busy nodes over different targets.
    pub probes: usize,
    /// Balancing moves per decision at most (default 2). Expel and memory
    /// moves are not limited.
    pub max_moves: usize,
    /// A balancing move needs the rate there to be this many times the rate
    /// here (default 1.5, the target's `admit_gain`: the sender does not
    /// offer what the target would refuse on the same loads; MOSIX's factor
    /// 1.3 made twice as many refused offers for about the same slowdown).
    pub gain: f64,
    /// A process that shares its CPUs (more runnable processes than CPUs
    /// on its node) is rated at this fraction of its rate there, in the
    /// gain it needs, the time a move saves and the rate its target must
    /// beat: its leaving also gives its co-runners more CPU (default 0.85).
    /// A move from a shared node to one where it runs at least as fast is
    /// never undone by the reverse move, which needs the full gain.
    pub shared: f64,
    /// Added to `gain` per migration the process already made (default 0.1):
    /// a process that moved often needs a clearer gain to move again.
    pub gain_per_move: f64,
    /// Gain needed to go home, where a guest has no remote dependencies
    /// (default 1.1).
    pub home_gain: f64,
    /// Seconds after arriving by migration during which a process makes no
    /// balancing move (default 2).
    pub settle: f64,
    /// A process younger than this many seconds stays home (default 0.5).
    pub residency: f64,
    /// The expected time saved must exceed `payback` times the move's cost
    /// (default 1.0).
    pub payback: f64,
    /// What a migration costs (default: live migration over gigabit
    /// ethernet, see [`Transfer`]).
    pub transfer: Transfer,
    /// Remaining work is estimated as `remaining_factor` times the work done
    /// (default 1.0: for heavy-tailed lifetimes a process that has run `t`
    /// seconds is about as likely to run `t` more).
    pub remaining_factor: f64,
    /// Judge a move by the process as it will be when its memory has
    /// crossed (live migration): if it is still running then, it has done
    /// the work of the copy time more, and its remaining work is estimated
    /// from that; if it ends during the copy, the move cost it nothing
    /// (default true). False: the remaining work is estimated now and the
    /// work of the copy time is taken off it.
    pub after_copy: bool,
    /// Remaining work is estimated as at least this many yardstick seconds
    /// (default 0).
    pub min_remaining: f64,
    /// Seconds over which the weight of past migrations in the gain fades:
    /// the extra gain is `gain_per_move × migrations × recent / (recent +
    /// seconds since the last move)` (default 60).
    pub recent: f64,
    /// Rank candidate processes by time saved per unit of their estimated
    /// total work (their slowdown gain) instead of by time saved (default
    /// true).
    pub per_work: bool,
    /// Candidates whose rate is within this fraction of the best are chosen
    /// among at random (default 0.1).
    pub tie: f64,
    /// A node whose free memory is below this fraction of its total sends
    /// processes away (default 0.1).
    pub mem_low: f64,
    /// A target keeps at least this fraction of its memory free after
    /// admitting (default 0.15).
    pub mem_reserve: f64,
    /// The target admits a balancing move only if the process's rate there,
    /// with pending arrivals counted, is this many times its rate at the
    /// sender (default 1.5: stricter than the sender's `gain`, because the
    /// target judges on fresh load and pending arrivals where the sender
    /// judged on a stale table).
    pub admit_gain: f64,
    /// A peer's runnable count (published load times speed) whose fraction
    /// reaches this counts as the next whole number: published loads rise
    /// slowly, so a fraction is mostly a recent arrival (default 0.2; 1
    /// turns it off).
    pub round_up: f64,
    /// Rate a process here as if co-runners expected to finish sooner
    /// (by their estimated remaining work) were there only for that part of
    /// its remaining time: an old process does not leave for a newcomer that
    /// will soon be gone. Better for long processes, worse for the mean
    /// slowdown, which short processes dominate (default false).
    pub horizon: bool,
    /// Fallback targets per move, tried in order when the first refuses
    /// (default 3).
    pub fallbacks: usize,
    /// A process counts as runnable above this CPU share (default 0.05).
    pub busy_cpu: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            rule: Rule::Wend,
            probes: 32,
            max_moves: 2,
            gain: 1.5,
            shared: 0.85,
            gain_per_move: 0.1,
            home_gain: 1.1,
            settle: 2.0,
            residency: 0.5,
            payback: 1.0,
            transfer: Transfer::default(),
            remaining_factor: 1.0,
            after_copy: true,
            min_remaining: 0.0,
            recent: 60.0,
            per_work: true,
            tie: 0.1,
            mem_low: 0.1,
            mem_reserve: 0.15,
            admit_gain: 1.5,
            busy_cpu: 0.05,
            fallbacks: 3,
            round_up: 0.2,
            horizon: false,
        }
    }
}

/// A [`Params`] value that cannot work.
#[derive(Debug, Error, PartialEq)]
pub enum ParamsError {
    /// A factor must be at least 1.
    #[error("{name} is {value}; it must be at least 1 (1 means no hysteresis)")]
    FactorBelowOne {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A value must be finite and not negative.
    #[error("{name} is {value}; it must be a finite number, 0 or more")]
    Negative {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A fraction must be in 0..1.
    #[error("{name} is {value}; it must be a fraction between 0 and 1")]
    NotFraction {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The bandwidth must be positive.
    #[error("bandwidth is {0} bytes/s; give a positive link speed")]
    Bandwidth(f64),
}

impl Params {
    /// MOSIX's documented rule with the sampling (16 probes) and safety
    /// rules wend used when it was measured against it.
    pub fn mosix() -> Self {
        Self {
            rule: Rule::Mosix,
            probes: 16,
            gain: 1.3,
            max_moves: 1,
            shared: 1.0,
            gain_per_move: 0.0,
            settle: 0.0,
            residency: 1.0,
            ..Self::default()
        }
    }

    /// Checks that every field is usable.
    pub fn validate(&self) -> Result<(), ParamsError> {
        for (name, value) in [
            ("gain", self.gain),
            ("home_gain", self.home_gain),
            ("admit_gain", self.admit_gain),
        ] {
            if !(value.is_finite() && value >= 1.0) {
                return Err(ParamsError::FactorBelowOne { name, value });
            }
        }
        for (name, value) in [
            ("gain_per_move", self.gain_per_move),
            ("settle", self.settle),
            ("residency", self.residency),
            ("payback", self.payback),
            ("transfer.overhead", self.transfer.overhead),
            (
                "transfer.live_freeze_per_gib",
                self.transfer.live_freeze_per_gib.unwrap_or(0.0),
            ),
            ("remaining_factor", self.remaining_factor),
            ("min_remaining", self.min_remaining),
            ("recent", self.recent),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ParamsError::Negative { name, value });
            }
        }
        for (name, value) in [
            ("tie", self.tie),
            ("mem_low", self.mem_low),
            ("mem_reserve", self.mem_reserve),
            ("busy_cpu", self.busy_cpu),
            ("round_up", self.round_up.min(0.999)),
            ("shared", self.shared.min(0.999)),
        ] {
            if !(0.0..1.0).contains(&value) {
                return Err(ParamsError::NotFraction { name, value });
            }
        }
        if self.shared.is_nan() || self.shared <= 0.0 {
            return Err(ParamsError::NotFraction {
                name: "shared",
                value: self.shared,
            });
        }
        if !(self.transfer.bandwidth.is_finite() && self.transfer.bandwidth > 0.0) {
            return Err(ParamsError::Bandwidth(self.transfer.bandwidth));
        }
        Ok(())
    }

    /// Gain needed for a balancing move of a process with `migrations` past
    /// moves, the last `since_move` seconds ago.
    pub fn gain_for(&self, migrations: u32, since_move: Option<f64>) -> f64 {
        let fade = match since_move {
            Some(s) if self.recent > 0.0 => self.recent / (self.recent + s.max(0.0)),
            Some(_) => 0.0,
            None => 1.0,
        };
        self.gain + self.gain_per_move * f64::from(migrations.min(20)) * fade
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert_eq!(Params::default().validate(), Ok(()));
        assert_eq!(Params::mosix().validate(), Ok(()));
        let p = Params {
            gain: 0.9,
            ..Params::default()
        };
        let e = p.validate().unwrap_err();
        assert!(e.to_string().starts_with("gain is 0.9"), "{e}");
        let p = Params {
            mem_low: 1.5,
            ..Params::default()
        };
        assert!(matches!(
            p.validate(),
            Err(ParamsError::NotFraction {
                name: "mem_low",
                ..
            })
        ));
        let p = Params {
            transfer: Transfer {
                bandwidth: 0.0,
                ..Transfer::default()
            },
            ..Params::default()
        };
        assert_eq!(p.validate(), Err(ParamsError::Bandwidth(0.0)));
        let p = Params::default();
        assert!(p.gain_for(3, Some(1.0)) > p.gain_for(0, None));
        assert!(p.gain_for(3, Some(1.0)) > p.gain_for(3, Some(600.0)));
    }
}
