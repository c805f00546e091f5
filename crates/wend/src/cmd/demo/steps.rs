//! The demo's steps, in order: input, lab, the batch under wend (watched live), the same
//! batch without wend, one job alone, the output check and the times.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wend_daemon::client::Client;
use wend_lab::{CpuSpec, Lab, LabName, LabSpec};
use wend_proto::NodeState;

use super::batch::{Batch, XZ};
use super::view::View;
use super::{input, priority, Args, WorkDir};

/// How often the live view is redrawn.
const VIEW_EVERY: Duration = Duration::from_millis(500);
/// How often the jobs are checked for their end (the makespan's resolution).
const POLL_EVERY: Duration = Duration::from_millis(20);
/// The node everything starts on.
const HOME: &str = "node1";

pub struct Demo {
    name: LabName,
    nodes: usize,
    jobs: usize,
    mb: u64,
    cpus: CpuSpec,
    cpus_text: String,
    daemon_args: Vec<String>,
    priority: bool,
    wend: PathBuf,
    stop: Arc<AtomicBool>,
    tty: bool,
}

impl Demo {
    pub fn new(args: &Args, stop: Arc<AtomicBool>, tty: bool) -> anyhow::Result<Demo> {
        let nodes = usize::from(args.nodes);
        let name = match &args.name {
            Some(n) => n.clone(),
            None => LabName::new(&format!("d{}", base36(std::process::id())))?,
        };
        Ok(Demo {
            name,
            nodes,
            jobs: args.jobs.map_or(nodes, usize::from),
            mb: args.mb,
            cpus: CpuSpec::parse(&args.cpus)?,
            cpus_text: args.cpus.clone(),
            daemon_args: args.daemon_args.clone(),
            priority: !args.no_priority,
            wend: std::env::current_exe().context("cannot find the wend binary")?,
            stop,
            tty,
        })
    }

    fn check_stop(&self) -> anyhow::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        Ok(())
    }

    pub fn run(self) -> anyhow::Result<()> {
        let (j, k, mb) = (self.jobs, self.nodes, self.mb);
        let one = mb as f64; // seconds for one job, at about 1 MB per CPU-second
        let guess = one * (j.div_ceil(k) + j + 1) as f64 + 15.0;
        say(&format!(
            "wend demo: {j} compressions (xz -9 -T1 of {mb} MB) started on {HOME} of a {k}-node lab cluster (CPU share {} each); about {:.0} s in all",
            self.cpus_text, guess
        ));
        let work = WorkDir::create(self.name.as_str())?;
        let input = work.0.join("input");
        println!(
            "making {mb} MB of reproducible, semi-compressible text in {}",
            input.display()
        );
        input::generate(&input, mb * 1_000_000, &self.stop)?;
        self.check_stop()?;

        say(&format!(
            "bringing up lab {}: {k} nodes (network namespaces on a bridge), each with its own wend daemon and CPU share",
            self.name
        ));
        let mut spec = LabSpec::new(self.name.clone(), k, &self.wend);
        spec.cpus = self.cpus.clone();
        spec.daemon_args = self.daemon_args.clone();
        let lab = Lab::up(spec)?;
        self.check_stop()?;
        if self.priority {
            let (file, value) = priority::raise(&lab)?;
            println!(
                "the lab's nodes take their CPU shares before other work on this machine ({} = {value}; --no-priority leaves it)",
                file.display()
            );
        }
        if let Some((load, cpus)) = priority::machine_load() {
            if load > cpus as f64 {
                println!(
                    "note: this machine is busy (load {load:.1} on {cpus} CPUs): the times below include waiting for that work"
                );
            }
        }
        let nodes: Vec<(String, PathBuf)> = lab
            .nodes()
            .into_iter()
            .map(|n| {
                let s = lab.api_socket(&n);
                (n, s)
            })
            .collect();
        self.wait_members(&lab, &nodes)?;
        println!("the {k} nodes found each other (multicast discovery, gossip membership)");

        say(&format!(
            "with wend: {j} jobs of `wend run -- {} FILE` on {HOME}; the daemons move them to idle nodes while they run",
            XZ.join(" ")
        ));
        let mut batch = Batch::start(&lab, HOME, Some(&self.wend), &input, &work.0, "wend", j)?;
        let mut view = View::new(self.tty, HOME, nodes.clone(), j);
        self.watch(&mut batch, |b| view.update(b))?;
        batch.check_success("under wend")?;
        let with = batch.makespan().context("a job without an end")?;
        let outputs_wend: Vec<PathBuf> = batch.jobs.iter().map(|j| j.output.clone()).collect();
        drop(batch);
        let paths = view.paths();
        println!(
            "all {j} ended after {:.1} s; {} migration(s) in all",
            with.as_secs_f64(),
            view.migrations()
        );

        say(&format!(
            "without wend: the same {j} compressions on {HOME} alone"
        ));
        let (without, outputs_plain) = self.plain(&lab, &input, &work.0, "plain", j)?;
        say("one compression alone on node1 (the reference output and time)");
        let (alone, reference) = self.plain(&lab, &input, &work.0, "alone", 1)?;

        say("checking the outputs");
        let reference = &reference[0];
        let expected = std::fs::read(reference)
            .with_context(|| format!("cannot read {}", reference.display()))?;
        for (what, outs) in [
            ("with wend", &outputs_wend),
            ("without wend", &outputs_plain),
        ] {
            for (i, out) in outs.iter().enumerate() {
                let got =
                    std::fs::read(out).with_context(|| format!("cannot read {}", out.display()))?;
                if got != expected {
                    bail!(
                        "the output of job {} {what} ({} bytes) differs from the reference ({} bytes): {} against {}",
                        i + 1,
                        got.len(),
                        expected.len(),
                        out.display(),
                        reference.display()
                    );
                }
            }
        }
        println!(
            "outputs identical: all {} outputs match the reference byte for byte ({} bytes from {} MB)",
            2 * j,
            expected.len(),
            mb
        );
        for (i, p) in paths.iter().enumerate() {
            println!("  job {}: {}", i + 1, p.join(" -> "));
        }

        say("results");
        let ratio = |d: Duration| d.as_secs_f64() / alone.as_secs_f64();
        println!(
            "{:<36} {:>10} {:>22}",
            "", "makespan", "makespan / one alone"
        );
        let rows = [
            (format!("with wend ({j} jobs, {k} nodes)"), with),
            (format!("without wend ({j} jobs on {HOME})"), without),
            ("one job alone".to_owned(), alone),
        ];
        for (what, d) in rows {
            println!("{what:<36} {:>8.1} s {:>22.2}", d.as_secs_f64(), ratio(d));
        }
        println!(
            "with wend the batch finished {:.2}x sooner than on {HOME} alone",
            without.as_secs_f64() / with.as_secs_f64()
        );

        say(&format!("removing lab {} and the files", self.name));
        let removed = lab.down()?;
        println!(
            "removed: {} processes, {} namespaces, {} links, {} cgroups, {}",
            removed.processes.len(),
            removed.netns.len(),
            removed.links.len(),
            removed.cgroups.len(),
            work.0.display()
        );
        Ok(())
    }

    /// Waits until node1 knows every node by name, alive.
    fn wait_members(&self, lab: &Lab, nodes: &[(String, PathBuf)]) -> anyhow::Result<()> {
        let timeout = Duration::from_secs(60);
        let deadline = Instant::now() + timeout;
        for (n, _) in nodes {
            lab.wait_api(n, timeout)?;
        }
        let api = &nodes[0].1;
        loop {
            self.check_stop()?;
            let alive = Client::connect(api)
                .and_then(|mut c| c.nodes())
                .map(|ns| {
                    nodes
                        .iter()
                        .filter(|(want, _)| {
                            ns.iter()
                                .any(|m| m.name == *want && m.state == NodeState::Alive)
                        })
                        .count()
                })
                .unwrap_or(0);
            if alive == nodes.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "after {} s, {HOME} knows only {alive} of the {} nodes alive; see the daemons' logs under {}",
                    timeout.as_secs(),
                    nodes.len(),
                    lab.root().join(lab.name().as_str()).display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a batch without wend on node1; its makespan and outputs.
    fn plain(
        &self,
        lab: &Lab,
        input: &Path,
        dir: &Path,
        tag: &str,
        count: usize,
    ) -> anyhow::Result<(Duration, Vec<PathBuf>)> {
        let mut batch = Batch::start(lab, HOME, None, input, dir, tag, count)?;
        let tty = self.tty;
        self.watch(&mut batch, |b| {
            if tty {
                let running = b.jobs.iter().filter(|j| j.ended.is_none()).count();
                print!(
                    "\r\x1b[2K{:>6.1} s   {running} running",
                    b.elapsed().as_secs_f64()
                );
                let _ = std::io::Write::flush(&mut std::io::stdout());
            }
        })?;
        if tty {
            println!();
        }
        batch.check_success(&format!("({tag})"))?;
        let d = batch.makespan().context("a job without an end")?;
        println!("all {count} ended after {:.1} s", d.as_secs_f64());
        Ok((d, batch.jobs.iter().map(|j| j.output.clone()).collect()))
    }

    /// Polls `batch` until every job ended, calling `show` about twice a second and at the
    /// end; gives up on Ctrl-C or when it takes far longer than it should.
    fn watch(&self, batch: &mut Batch, mut show: impl FnMut(&Batch)) -> anyhow::Result<()> {
        let limit = Duration::from_secs(300 + 10 * self.mb * batch.jobs.len() as u64);
        let mut next = Instant::now();
        loop {
            self.check_stop()?;
            let done = batch.poll()?;
            if done || Instant::now() >= next {
                show(batch);
                next = Instant::now() + VIEW_EVERY;
            }
            if done {
                return Ok(());
            }
            if batch.elapsed() > limit {
                bail!(
                    "the jobs still run after {} s (expected about {} s): something is stuck; see the daemons' logs",
                    limit.as_secs(),
                    self.mb * batch.jobs.len() as u64
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }
}

/// A step's title.
fn say(what: &str) {
    println!("\n== {what}");
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}
