//! Runs the balancer simulator and prints one line per strategy, with its
//! mean slowdown over the lower bound's.
//!
//! ```text
//! cargo run --release -p wend-balance --example balance_sim -- [--nodes 1000,10000]
//!     [--util 0.7] [--seed 1] [--strategies bound,wend,mosix,none,random]
//!   cluster and workload (SimConfig):
//!     [--warmup S] [--duration S] [--drain-cap S] [--work-min S] [--work-max S]
//!     [--alpha A] [--mem-max MIB] [--bandwidth BYTES/S] [--stop-and-copy 1]
//!     [--gossip-min S] [--gossip-max S] [--speed-min X] [--speed-max X] [--period S]
//!   policy (Params, for the wend strategy):
//!     [--gain G] [--gain-per-move G] [--home-gain G] [--admit-gain G] [--probes N]
//!     [--max-moves N] [--fallbacks N] [--residency S] [--settle S] [--recent S]
//!     [--payback F] [--remaining-factor F] [--min-remaining S] [--tie F]
//!     [--round-up F] [--per-work 0|1] [--horizon 0|1] [--after-copy 0|1] [--shared F]
//! ```
//!
//! With `BALANCE_SIM_OCCUPANCY=1` in the environment, each strategy's line is
//! followed by how busy the nodes of each quarter of the speed range were.

use std::process::ExitCode;
use std::time::Instant;

use wend_balance::sim::{run, SimConfig, Strategy};
use wend_balance::Params;

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("balance_sim: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<(), String> {
    let mut config = SimConfig::default();
    let mut params = Params::default();
    let mut nodes = vec![1000usize];
    let mut strategies = "bound,wend,mosix,none,random".to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let num = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("{flag}: {value:?} is not a number"))
        };
        match flag.as_str() {
            "--nodes" => {
                nodes = value
                    .split(',')
                    .map(|n| n.parse().map_err(|_| format!("--nodes: bad count {n:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--seed" => config.seed = num()? as u64,
            "--util" => config.utilisation = num()?,
            "--strategies" => strategies = value.to_string(),
            "--warmup" => config.warmup = num()?,
            "--duration" => config.duration = num()?,
            "--drain-cap" => config.drain_cap = num()?,
            "--work-min" => config.work_min = num()?,
            "--work-max" => config.work_max = num()?,
            "--alpha" => config.work_alpha = num()?,
            "--mem-max" => config.mem_max = (num()? * 1048576.0) as u64,
            "--bandwidth" => config.transfer.bandwidth = num()?,
            "--stop-and-copy" => {
                if num()? != 0.0 {
                    config.transfer.live_freeze_per_gib = None
                }
            }
            "--gossip-min" => config.gossip_min = num()?,
            "--gossip-max" => config.gossip_max = num()?,
            "--speed-min" => config.speed_min = num()?,
            "--speed-max" => config.speed_max = num()?,
            "--gain" => params.gain = num()?,
            "--gain-per-move" => params.gain_per_move = num()?,
            "--probes" => params.probes = num()? as usize,
            "--max-moves" => params.max_moves = num()? as usize,
            "--residency" => params.residency = num()?,
            "--settle" => params.settle = num()?,
            "--payback" => params.payback = num()?,
            "--remaining-factor" => params.remaining_factor = num()?,
            "--admit-gain" => params.admit_gain = num()?,
            "--tie" => params.tie = num()?,
            "--horizon" => params.horizon = num()? != 0.0,
            "--round-up" => params.round_up = num()?,
            "--home-gain" => params.home_gain = num()?,
            "--fallbacks" => params.fallbacks = num()? as usize,
            "--min-remaining" => params.min_remaining = num()?,
            "--recent" => params.recent = num()?,
            "--shared" => params.shared = num()?,
            "--after-copy" => params.after_copy = num()? != 0.0,
            "--per-work" => params.per_work = num()? != 0.0,
            "--period" => config.period = num()?,
            other => {
                return Err(format!(
                    "unknown flag {other}; see the example's doc comment"
                ))
            }
        }
    }
    // The policy believes the link speed the simulated cluster has.
    params.transfer = config.transfer.clone();
    for n in nodes {
        config.nodes = n;
        println!(
            "# {n} nodes, utilisation {}, seed {}, jobs {}..{} s (alpha {}), speeds {}..{}",
            config.utilisation,
            config.seed,
            config.work_min,
            config.work_max,
            config.work_alpha,
            config.speed_min,
            config.speed_max
        );
        let mut bound = None;
        for name in strategies.split(',') {
            let strategy = match name {
                "bound" => Strategy::Ideal,
                "wend" => Strategy::Balance(params.clone()),
                "mosix" => Strategy::Balance(Params {
                    transfer: params.transfer.clone(),
                    ..Params::mosix()
                }),
                "none" => Strategy::NoMigration,
                "random" => Strategy::RandomPlacement,
                other => return Err(format!("unknown strategy {other}")),
            };
            let start = Instant::now();
            let report = run(&config, &strategy).map_err(|e| e.to_string())?;
            if name == "bound" {
                bound = Some(report.mean_slowdown);
            }
            let ratio = bound.map_or(f64::NAN, |b| report.mean_slowdown / b);
            println!(
                "{report} | vs bound {ratio:.3} | sim {:.0} s, {} events, wall {:.1} s",
                report.sim_time,
                report.events,
                start.elapsed().as_secs_f64()
            );
            if std::env::var_os("BALANCE_SIM_OCCUPANCY").is_some() && name != "bound" {
                for (q, row) in report.occupancy.iter().enumerate() {
                    println!(
                        "  speed quarter {}: nodes with 0/1/2/3+ jobs {:.2}/{:.2}/{:.2}/{:.2}",
                        q + 1,
                        row[0],
                        row[1],
                        row[2],
                        row[3]
                    );
                }
            }
        }
    }
    Ok(())
}
