//! What a node's owner and users ask of the migration side besides moves: lock a process in
//! place, block guests, expel them, bring one's processes home.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wend_proto::{ApiError, Caller, Control, ControlReport, ErrorCode};

use super::{check_owner, home, Manager};

/// How long `wend expel` waits for the guests to leave.
pub const EXPEL_WAIT: Duration = Duration::from_secs(60);
/// How long `wend bring` waits for each process.
const BRING_WAIT: Duration = Duration::from_secs(60);

fn owner_only(caller: Caller, what: &str) -> Result<(), ApiError> {
    if caller.uid == 0 {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("only root may {what} on this node; run it with sudo"),
        ))
    }
}

impl Manager {
    /// Any [`Control`]. Blocks (call it off the async runtime).
    pub fn control(
        self: &Arc<Self>,
        c: &Control,
        caller: Caller,
    ) -> Result<ControlReport, ApiError> {
        match c {
            Control::Lock { pid } => self.lock(*pid, true, caller),
            Control::Unlock { pid } => self.lock(*pid, false, caller),
            Control::Block => self.block(true, caller),
            Control::Unblock => self.block(false, caller),
            Control::Expel => self.expel(caller),
            Control::Bring { pids } => self.bring(pids, caller),
        }
    }

    /// `wend lock PID` / `wend unlock PID`: a locked process is never moved automatically.
    pub fn lock(&self, pid: i32, locked: bool, caller: Caller) -> Result<ControlReport, ApiError> {
        check_owner(pid, caller)?;
        self.registry.adopt(pid, false);
        self.registry.set_lock(pid, locked);
        if let Some(ctl) = self.registry.control(pid) {
            // Away: the node it runs on keeps it there too.
            let _ = ctl.send(home::Command::Lock { locked });
        }
        let what = if locked { "locked" } else { "unlocked" };
        Ok(ControlReport {
            message: format!("process {pid} {what}"),
            count: 1,
        })
    }

    /// `wend block` (true) / `wend unblock` (false; also ends `wend expel`).
    pub fn block(&self, blocked: bool, caller: Caller) -> Result<ControlReport, ApiError> {
        owner_only(caller, "block or unblock guests")?;
        self.flags.set_blocked(blocked);
        let message = if blocked {
            format!(
                "{} takes no new guests; its {} guest(s) stay (`wend expel` sends them home)",
                self.node,
                self.registry.guest_count()
            )
        } else {
            format!("{} takes guests again", self.node)
        };
        Ok(ControlReport { message, count: 0 })
    }

    /// `wend expel`: refuse new guests and send every guest home; waits until they left.
    pub fn expel(&self, caller: Caller) -> Result<ControlReport, ApiError> {
        owner_only(caller, "expel guests")?;
        let before = self.registry.guest_count();
        self.flags.expel();
        let deadline = Instant::now() + EXPEL_WAIT;
        while self.registry.guest_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.registry.guest_count();
        if left > 0 {
            return Err(ApiError::new(
                ErrorCode::MigrationFailed,
                format!(
                    "{left} of {before} guest(s) still here after {} s; see `wend ps` and the log",
                    EXPEL_WAIT.as_secs()
                ),
            ));
        }
        Ok(ControlReport {
            message: format!(
                "{before} guest(s) sent home; {} takes no guests until `wend unblock`",
                self.node
            ),
            count: before,
        })
    }

    /// `wend bring [PID...]`: call the caller's processes (all, or those listed) home and
    /// lock them there, so the balancer does not send them away again (`wend unlock PID`).
    /// Without PIDs, the caller's processes already at home are locked too: "all of mine
    /// here" must not end with the balancer sending one away to the room the others left.
    pub fn bring(
        self: &Arc<Self>,
        pids: &[i32],
        caller: Caller,
    ) -> Result<ControlReport, ApiError> {
        let away: Vec<_> = self
            .registry
            .away()
            .into_iter()
            .filter(|(pid, _)| pids.is_empty() || pids.contains(pid))
            .filter(|(pid, _)| check_owner(*pid, caller).is_ok())
            .collect();
        for pid in pids {
            check_owner(*pid, caller)?;
            self.registry.set_lock(*pid, true);
        }
        if pids.is_empty() {
            for p in self.registry.at_home() {
                if check_owner(p.pid, caller).is_ok() {
                    self.registry.set_lock(p.pid, true);
                }
            }
        }
        let mut waiting = Vec::new();
        for (pid, ctl) in away {
            self.registry.set_lock(pid, true);
            let (tx, rx) = oneshot::channel();
            if ctl
                .send(home::Command::Move {
                    to: None,
                    reply: tx,
                })
                .is_ok()
            {
                waiting.push((pid, rx));
            }
        }
        let mut brought = 0;
        let mut failed = Vec::new();
        for (pid, rx) in waiting {
            match wait(rx, BRING_WAIT) {
                Some(Ok(_)) => brought += 1,
                Some(Err(e)) => failed.push(format!("{pid}: {}", e.message)),
                None => failed.push(format!("{pid}: no answer")),
            }
        }
        if !failed.is_empty() {
            return Err(ApiError::new(
                ErrorCode::MigrationFailed,
                format!(
                    "{brought} process(es) brought home; not: {}",
                    failed.join("; ")
                ),
            ));
        }
        Ok(ControlReport {
            message: format!(
                "{brought} process(es) brought home and locked there (`wend unlock PID` frees one)"
            ),
            count: brought,
        })
    }
}

/// The answer on `rx`, or `None` if it is dropped or `within` passes.
pub(super) fn wait<T>(mut rx: oneshot::Receiver<T>, within: Duration) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(oneshot::error::TryRecvError::Closed) => return None,
            Err(oneshot::error::TryRecvError::Empty) if Instant::now() > deadline => return None,
            Err(oneshot::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(10))
            }
        }
    }
}
