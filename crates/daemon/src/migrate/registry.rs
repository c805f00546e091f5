//! Who is where: the processes this node is home for, and the guests it runs.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wend_ckpt::StayPath;
use wend_proto::{Caller, ProcInfo, ProcState};

use super::home::Command;
use super::wire::{AutoTerms, Dest};
use crate::flags::NodeFlags;

#[derive(Debug)]
struct HomeEntry {
    cmd: String,
    uid: u32,
    locked: bool,
    state: ProcState,
    /// Node it runs on, when away.
    away_on: Option<String>,
    migrations: u32,
    /// CPU seconds used away (reported by the remote), added to the home process's own.
    away_cpu: f64,
    /// The deputy thread's commands, while it is away.
    ctl: Option<Sender<Command>>,
    /// When wend started managing it.
    adopted: Instant,
    /// When it last arrived somewhere by migration (home included).
    arrived: Option<Instant>,
}

/// A process at home, as the balancer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AtHome {
    pub pid: i32,
    pub locked: bool,
    pub migrations: u32,
    /// CPU seconds it used away before it came back.
    pub away_cpu: f64,
    /// Seconds since wend started managing it.
    pub age: f64,
    /// Seconds since it last arrived by migration (it came home).
    pub since_move: Option<f64>,
}

/// A guest running here, as the balancer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestView {
    pub local: i32,
    pub home_node: String,
    pub migrations: u32,
    /// CPU seconds it used before it came here.
    pub cpu_before: f64,
    /// Seconds since it arrived.
    pub since_move: f64,
    /// Already told to go home.
    pub leaving: bool,
    /// Locked by its user: the balancer leaves it here.
    pub locked: bool,
}

#[derive(Debug)]
struct GuestEntry {
    home_node: String,
    home_pid: i32,
    cmd: String,
    uid: u32,
    migrations: u32,
    cpu_before: f64,
    arrived: Instant,
    locked: bool,
    /// Why it must go home, once the balancer or the owner decided it.
    leave: Option<String>,
    /// A node the balancer would pass it on to, for its thread to suggest to home.
    suggest: Option<(Dest, AutoTerms)>,
    /// When it last made a suggestion (the balancer leaves it alone for a while after).
    suggested: Option<Instant>,
}

/// How long the balancer leaves a guest alone after suggesting a move for it (home may have
/// refused, the target may have: it judges again after that).
const SUGGEST_AGAIN: Duration = Duration::from_secs(5);

/// The stay reason `wend ps` shows for a locked process.
const LOCKED: &str = "locked by its user (wend run --lock, wend lock)";

/// The node's table of managed processes and guests.
#[derive(Debug)]
pub struct Registry {
    home: Mutex<HashMap<i32, HomeEntry>>,
    /// By local pid.
    guests: Mutex<HashMap<i32, GuestEntry>>,
    /// The guest count for the published load vector, and the owner's guest policy.
    flags: Arc<NodeFlags>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The command line of a local process, for tables.
pub fn cmdline(pid: i32) -> String {
    let raw = wend_sys::proc::read(pid, "cmdline").unwrap_or_default();
    let s: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    s.join(" ")
}

/// The real uid of a local process (0 if unknown).
pub fn owner(pid: i32) -> u32 {
    wend_sys::proc::status(pid)
        .ok()
        .and_then(|st| {
            wend_sys::proc::status_field(&st, "Uid")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// CPU seconds a local process used (user + system).
pub fn cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = wend_sys::proc::read_string(pid, "stat") else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

/// Seconds a local process (its main thread) ran or waited to run on a CPU: what it wanted,
/// whether or not it got it (/proc/PID/schedstat: run time and run-queue wait, ns).
pub fn want_secs(pid: i32) -> f64 {
    let Ok(s) = wend_sys::proc::read_string(pid, "schedstat") else {
        return 0.0;
    };
    let f: Vec<u64> = s
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match (f.first(), f.get(1)) {
        (Some(run), Some(wait)) => (run + wait) as f64 / 1e9,
        _ => 0.0,
    }
}

/// Bytes a move of a local process transfers, roughly: its resident private memory.
pub fn mem_bytes(pid: i32) -> u64 {
    let Ok(statm) = wend_sys::proc::read_string(pid, "statm") else {
        return 0;
    };
    let f: Vec<u64> = statm
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match (f.get(1), f.get(2)) {
        (Some(resident), Some(shared)) => resident.saturating_sub(*shared) * wend_sys::PAGE_SIZE,
        _ => 0,
    }
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}

impl Registry {
    pub fn new(flags: Arc<NodeFlags>) -> Registry {
        Registry {
            home: Mutex::default(),
            guests: Mutex::default(),
            flags,
        }
    }

    /// Manage `pid` (idempotent; `lock` only ever adds the lock).
    pub fn adopt(&self, pid: i32, lock_it: bool) {
        let mut home = lock(&self.home);
        let e = home.entry(pid).or_insert_with(|| HomeEntry {
            cmd: cmdline(pid),
            uid: owner(pid),
            locked: false,
            state: ProcState::Home,
            away_on: None,
            migrations: 0,
            away_cpu: 0.0,
            ctl: None,
            adopted: Instant::now(),
            arrived: None,
        });
        e.locked |= lock_it;
    }

    /// Manage the children of managed processes too (and theirs): `wend run -- make -j`
    /// balances the compilers make starts. A child inherits its parent's lock.
    pub fn adopt_children(&self) {
        let parents: Vec<(i32, bool)> = lock(&self.home)
            .iter()
            .filter(|(_, e)| e.state == ProcState::Home)
            .map(|(pid, e)| (*pid, e.locked))
            .collect();
        let mut todo = parents;
        while let Some((pid, locked)) = todo.pop() {
            for child in children(pid) {
                let known = lock(&self.home).contains_key(&child);
                if !known {
                    self.adopt(child, locked);
                    todo.push((child, locked));
                }
            }
        }
    }

    /// `wend lock` / `wend unlock`: false if `pid` is not managed here.
    pub fn set_lock(&self, pid: i32, locked: bool) -> bool {
        match lock(&self.home).get_mut(&pid) {
            Some(e) => {
                e.locked = locked;
                true
            }
            None => false,
        }
    }

    /// Whether `pid` is managed here and locked.
    pub fn is_locked(&self, pid: i32) -> bool {
        lock(&self.home).get(&pid).is_some_and(|e| e.locked)
    }

    /// Managed processes at home now (alive ones; not moving).
    pub fn at_home(&self) -> Vec<AtHome> {
        lock(&self.home)
            .iter()
            .filter(|(pid, e)| e.state == ProcState::Home && is_alive(**pid))
            .map(|(pid, e)| AtHome {
                pid: *pid,
                locked: e.locked,
                migrations: e.migrations,
                away_cpu: e.away_cpu,
                age: e.adopted.elapsed().as_secs_f64(),
                since_move: e.arrived.map(|a| a.elapsed().as_secs_f64()),
            })
            .collect()
    }

    /// Every guest running here.
    pub fn guests(&self) -> Vec<GuestView> {
        lock(&self.guests)
            .iter()
            .map(|(local, g)| GuestView {
                local: *local,
                home_node: g.home_node.clone(),
                migrations: g.migrations,
                cpu_before: g.cpu_before,
                since_move: g.arrived.elapsed().as_secs_f64(),
                leaving: g.leave.is_some()
                    || g.suggested.is_some_and(|t| t.elapsed() < SUGGEST_AGAIN),
                locked: g.locked,
            })
            .collect()
    }

    /// The balancer would pass the guest `local` on to `to`: its thread asks home to.
    pub fn suggest(&self, local: i32, to: Dest, auto: AutoTerms) {
        if let Some(g) = lock(&self.guests).get_mut(&local) {
            g.suggest = Some((to, auto));
            g.suggested = Some(Instant::now());
        }
    }

    /// The suggestion to send home for the guest `local`, if there is one.
    pub(super) fn take_suggestion(&self, local: i32) -> Option<(Dest, AutoTerms)> {
        lock(&self.guests).get_mut(&local)?.suggest.take()
    }

    /// The guest `local` was locked or unlocked at home.
    pub(super) fn set_guest_lock(&self, local: i32, locked: bool) {
        if let Some(g) = lock(&self.guests).get_mut(&local) {
            g.locked = locked;
        }
    }

    /// Tell the guest `local` to go home (its thread sees it within a few milliseconds).
    pub fn send_home(&self, local: i32, why: String) {
        if let Some(g) = lock(&self.guests).get_mut(&local) {
            g.leave.get_or_insert(why);
        }
    }

    /// Why the guest `local` must go home, if it must.
    pub(super) fn leave_reason(&self, local: i32) -> Option<String> {
        lock(&self.guests).get(&local).and_then(|g| g.leave.clone())
    }

    /// Mark `pid` as leaving home; false if it is not at home or already moving.
    pub(super) fn begin_move(&self, pid: i32) -> bool {
        match lock(&self.home).get_mut(&pid) {
            Some(e) if e.state == ProcState::Home => {
                e.state = ProcState::Migrating;
                true
            }
            _ => false,
        }
    }

    /// The deputy thread's command channel, if `pid` is away.
    pub(super) fn control(&self, pid: i32) -> Option<Sender<Command>> {
        lock(&self.home).get(&pid).and_then(|e| e.ctl.clone())
    }

    pub(super) fn set_state(&self, pid: i32, state: ProcState, on: Option<&str>) {
        if let Some(e) = lock(&self.home).get_mut(&pid) {
            e.state = state;
            e.away_on = on.map(str::to_owned);
        }
    }

    pub(super) fn moved(&self, pid: i32, on: Option<&str>, ctl: Option<Sender<Command>>) {
        if let Some(e) = lock(&self.home).get_mut(&pid) {
            e.migrations += 1;
            e.state = if on.is_some() {
                ProcState::Remote
            } else {
                ProcState::Home
            };
            e.away_on = on.map(str::to_owned);
            e.ctl = ctl;
            e.arrived = Some(Instant::now());
        }
    }

    pub(super) fn away_cpu(&self, pid: i32, secs: f64) {
        if let Some(e) = lock(&self.home).get_mut(&pid) {
            e.away_cpu = secs;
        }
    }

    pub(super) fn migrations(&self, pid: i32) -> u32 {
        lock(&self.home).get(&pid).map_or(0, |e| e.migrations)
    }

    /// The process ended (at home or away).
    pub(super) fn forget(&self, pid: i32) {
        lock(&self.home).remove(&pid);
    }

    /// A guest runs here now: `offer` describes it; it is `local` here.
    pub(super) fn add_guest(&self, local: i32, offer: &super::wire::Offer) {
        let mut guests = lock(&self.guests);
        guests.insert(
            local,
            GuestEntry {
                home_node: offer.home.node.clone(),
                home_pid: offer.home.pid,
                cmd: offer.cmd.clone(),
                uid: offer.uid,
                migrations: offer.migrations + 1,
                cpu_before: offer.cpu_secs,
                arrived: Instant::now(),
                locked: offer.locked,
                leave: None,
                suggest: None,
                suggested: None,
            },
        );
        self.flags.set_guests(guests.len() as u32);
    }

    /// Guests running here now.
    pub fn guest_count(&self) -> u32 {
        self.flags.guests()
    }

    /// The deputy threads of every process that is away.
    pub(super) fn away(&self) -> Vec<(i32, Sender<Command>)> {
        lock(&self.home)
            .iter()
            .filter_map(|(pid, e)| Some((*pid, e.ctl.clone()?)))
            .collect()
    }

    pub(super) fn drop_guest(&self, local: i32) {
        let mut guests = lock(&self.guests);
        guests.remove(&local);
        self.flags.set_guests(guests.len() as u32);
    }

    /// `wend ps` rows this caller may see.
    pub fn list(&self, node: &str, caller: Caller) -> Vec<ProcInfo> {
        // Home processes that ended while at home leave the table here.
        let mut out = Vec::new();
        let mut home = lock(&self.home);
        home.retain(|pid, e| e.ctl.is_some() || is_alive(*pid));
        for (pid, e) in home.iter() {
            if !caller.may_access(e.uid) {
                continue;
            }
            let at_home = e.state == ProcState::Home;
            let mut stay: Vec<String> = if at_home {
                wend_ckpt::check(*pid, StayPath::Migration)
                    .map(|r| r.iter().map(|r| r.to_string()).collect())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            if e.locked {
                stay.push(LOCKED.into());
            }
            out.push(ProcInfo {
                pid: *pid,
                home: node.to_owned(),
                cmd: if at_home {
                    cmdline(*pid)
                } else {
                    e.cmd.clone()
                },
                where_: e.away_on.clone().unwrap_or_else(|| node.to_owned()),
                state: e.state,
                cpu_secs: if at_home { cpu_secs(*pid) } else { 0.0 } + e.away_cpu,
                migrations: e.migrations,
                locked: e.locked,
                stay_reasons: stay,
                local_pid: None,
            });
        }
        drop(home);
        for (local, g) in lock(&self.guests).iter() {
            if !caller.may_access(g.uid) {
                continue;
            }
            out.push(ProcInfo {
                pid: g.home_pid,
                home: g.home_node.clone(),
                cmd: g.cmd.clone(),
                where_: node.to_owned(),
                state: ProcState::Guest,
                cpu_secs: cpu_secs(*local),
                migrations: g.migrations,
                locked: g.locked,
                stay_reasons: if g.locked {
                    vec![LOCKED.to_owned()]
                } else {
                    Vec::new()
                },
                local_pid: Some(*local),
            });
        }
        out.sort_by_key(|p| (p.state == ProcState::Guest, p.pid));
        out
    }
}

/// The children of every thread of `pid`.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    out
}

fn is_alive(pid: i32) -> bool {
    !matches!(
        wend_sys::proc::stat::state(pid),
        Err(_) | Ok('Z') | Ok('X') | Ok('x')
    )
}
