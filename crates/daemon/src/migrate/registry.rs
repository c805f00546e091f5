//! Who is where: the processes this node is home for, and the guests it runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use wend_ckpt::StayPath;
use wend_proto::{Caller, ProcInfo, ProcState};

use super::home::Command;

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
}

#[derive(Debug)]
struct GuestEntry {
    home_node: String,
    home_pid: i32,
    cmd: String,
    uid: u32,
    migrations: u32,
}

/// The node's table of managed processes and guests.
#[derive(Debug)]
pub struct Registry {
    home: Mutex<HashMap<i32, HomeEntry>>,
    /// By local pid.
    guests: Mutex<HashMap<i32, GuestEntry>>,
    /// How many guests run here, for the published load vector.
    guest_count: Arc<AtomicU32>,
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

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}

impl Registry {
    pub fn new(guest_count: Arc<AtomicU32>) -> Registry {
        Registry {
            home: Mutex::default(),
            guests: Mutex::default(),
            guest_count,
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
        });
        e.locked |= lock_it;
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
            },
        );
        self.guest_count
            .store(guests.len() as u32, Ordering::Relaxed);
    }

    /// Guests running here now.
    pub fn guest_count(&self) -> u32 {
        self.guest_count.load(Ordering::Relaxed)
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
        self.guest_count
            .store(guests.len() as u32, Ordering::Relaxed);
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
                stay.push("locked by its user (wend run --lock)".into());
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
                locked: false,
                stay_reasons: Vec::new(),
                local_pid: Some(*local),
            });
        }
        out.sort_by_key(|p| (p.state == ProcState::Guest, p.pid));
        out
    }
}

fn is_alive(pid: i32) -> bool {
    !matches!(
        wend_sys::proc::stat::state(pid),
        Err(_) | Ok('Z') | Ok('X') | Ok('x')
    )
}
