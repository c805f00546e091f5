//! wend-balance: where processes should run, as a pure function of a
//! node's view of the cluster, and a simulator that runs that very code.
//!
//! Mechanism lives elsewhere: this crate does no I/O, knows nothing of
//! ptrace or sockets, and never reads a clock. The daemon, once a second,
//! fills a [`NodeState`] for itself (fresh), one per peer (the gossiped,
//! stale load vectors, in [`Peers`]) and a [`Proc`] per local process, calls
//! [`decide`], puts each proposed [`Move`]'s [`Offer`] to the target's
//! [`admit`] (then to the [`Move::also`] fallbacks in order, if it refuses),
//! and migrates what is admitted. The target counts admitted, not yet
//! landed arrivals in its [`Pending`].
//!
//! The rule starts from MOSIX's (DESIGN.md, "Load balancing"; kept as
//! [`Rule::Mosix`] for comparison) and changes:
//! - rates, not loads: a process's rate on a node is its speed times its CPU
//!   share there, so a faster node wins even when busier;
//! - a move must pay: the time saved on the remaining work, estimated from
//!   the work done (heavy-tailed lifetimes: old processes live long), must
//!   beat the cost of moving (frozen time, and the copy time during which
//!   it still runs at the old rate); new processes therefore stay home, and
//!   processes are ranked by the slowdown a move saves them;
//! - hysteresis: the rate there must be [`Params::gain`] (1.5) times the rate
//!   here, more for a process that moved recently, and none moves again
//!   within [`Params::settle`] seconds of arriving;
//! - co-runners: a process sharing its CPU is rated at [`Params::shared`]
//!   (0.85) of its rate, since its leaving speeds up the others; a move
//!   from a shared node to one where it runs at least as fast is never
//!   undone by the reverse move, which needs the full gain;
//! - live moves are judged as the process will be when its memory has
//!   crossed ([`Params::after_copy`]): a process that ends during the copy
//!   loses nothing, one that survives it has run that much longer and is
//!   expected to run as long again (the same decision as weighting the
//!   saving by the chance it survives the copy);
//! - published loads rise slowly, so a fractional run-queue of a peer counts
//!   as the next whole process ([`Params::round_up`]);
//! - herds: each decision probes a random sample of peers and picks at
//!   random among near-equal ones, and the target's [`admit`] refuses what
//!   its fresh load plus pending arrivals cannot serve better than the sender;
//! - guests go home when home is about as good, every guest leaves an
//!   expelling node, a node short of memory sends its largest processes away,
//!   and a process with a [`Stay`] reason never moves.
//!
//! [`sim`] runs [`decide`] and [`admit`] over thousands of simulated nodes
//! (`cargo run --release -p wend-balance --example balance_sim`); results
//! are in `docs/perf/balance-sim.md`.
#![forbid(unsafe_code)]

mod admit;
mod decide;
mod model;
mod params;
mod rules;
pub mod sim;
mod types;

pub use admit::{admit, Admission, Pending, Refusal};
pub use decide::decide;
pub use model::rate;
pub use params::{Params, ParamsError, Rule, Transfer};
pub use types::{Move, NodeRef, NodeState, Offer, Peers, Proc, Reason, Stay};

#[cfg(test)]
mod tests;
