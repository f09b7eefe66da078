//! One writer per plan: who holds a plan's lock, and which event lines count.
//! The shim gathers the facts (the lock file, `/proc`, the clock); the rules
//! are here.
//!
//! A holder on this host is judged by its process alone: alive (and the same
//! process, by its start time) means it can still write, however old its
//! heartbeat, for a stopped process (SIGSTOP, a suspended laptop or VM) wakes
//! up and carries on. Only another host's holder, whose process cannot be
//! seen, is judged by its heartbeat.
//!
//! Every writer of a plan's event log gets a generation one above the newest
//! the log holds, and stamps it on each line. A writer that lost its lock
//! stops before its next line, but one line may still slip in (checked, then
//! stopped before the write): loading skips a line older than the newest
//! generation already read.

use serde::{Deserialize, Serialize};

/// What the shim knows about a lock's holder.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HolderFacts {
    pub pid: u32,
    pub host: String,
    /// The lock was written on this host.
    pub same_host: bool,
    /// This host only: the process facts, from `kill(pid, 0)` and `/proc/<pid>/stat`.
    #[serde(default)]
    pub process: Option<ProcessFacts>,
    /// Now minus the heartbeat; NaN/absent heartbeats come as `None`.
    pub heartbeat_age_ms: Option<i64>,
    pub stale_after_ms: i64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessFacts {
    pub alive: bool,
    /// The lock's recorded start time equals the live process's; `None` when either is unknown.
    #[serde(default)]
    pub same_start: Option<bool>,
    /// The process is stopped (`/proc` state `T` or `t`).
    #[serde(default)]
    pub stopped: bool,
}

/// The verdict on a lock's holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Holder {
    /// Can still write: never taken over.
    #[serde(rename_all = "camelCase")]
    Alive {
        /// This host: its process is alive, however old the heartbeat. Else a fresh heartbeat.
        process_seen: bool,
        stopped: bool,
        /// The heartbeat is older than the limit (a stopped or hung process).
        quiet: bool,
        heartbeat_age_ms: Option<i64>,
        advice: Option<String>,
    },
    /// Cannot write any more (or, another host, presumed so): may be taken over.
    Gone { reason: String },
}

fn secs(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}

pub fn judge_holder(f: &HolderFacts) -> Holder {
    let quiet = f.heartbeat_age_ms.map_or(true, |a| a > f.stale_after_ms);
    if f.same_host {
        let p = f.process.unwrap_or(ProcessFacts { alive: false, same_start: None, stopped: false });
        if !p.alive {
            return Holder::Gone { reason: format!("process {} on {} is gone", f.pid, f.host) };
        }
        if p.same_start == Some(false) {
            return Holder::Gone { reason: format!("pid {} on {} is now another process (its start time differs)", f.pid, f.host) };
        }
        let advice = (quiet || p.stopped).then(|| {
            format!(
                "it may be stopped (SIGSTOP, Ctrl-Z){}: `kill -CONT {pid}` (SIGCONT) lets it continue, or `kill -9 {pid}` ends it and `resume` checks its chunks",
                if p.stopped { ", and its process is stopped" } else { "" },
                pid = f.pid
            )
        });
        return Holder::Alive { process_seen: true, stopped: p.stopped, quiet, heartbeat_age_ms: f.heartbeat_age_ms, advice };
    }
    match f.heartbeat_age_ms {
        Some(age) if !quiet => Holder::Alive { process_seen: false, stopped: false, quiet: false, heartbeat_age_ms: Some(age), advice: None },
        Some(age) => Holder::Gone { reason: format!("heartbeat is {} s old", secs(age)) },
        None => Holder::Gone { reason: "the lock has no readable heartbeat".into() },
    }
}

/// What loading does with an event line, given the newest generation read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineVerdict {
    /// The current writer's line.
    Apply,
    /// The first line of a newer writer: from here on, its generation is the current one.
    NewWriter,
    /// A line of a writer that had lost the lock when it wrote it: not part of the run.
    FencedOut,
}

/// Lines without a generation (logs written before generations) are generation 0.
pub fn line_verdict(current: u64, line: u64) -> LineVerdict {
    use std::cmp::Ordering::*;
    match line.cmp(&current) {
        Equal => LineVerdict::Apply,
        Greater => LineVerdict::NewWriter,
        Less => LineVerdict::FencedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(alive: bool, same_start: Option<bool>, stopped: bool, age: i64) -> HolderFacts {
        HolderFacts {
            pid: 7,
            host: "h".into(),
            same_host: true,
            process: Some(ProcessFacts { alive, same_start, stopped }),
            heartbeat_age_ms: Some(age),
            stale_after_ms: 30_000,
        }
    }

    #[test]
    fn a_live_process_on_this_host_is_never_gone_however_old_its_heartbeat() {
        for age in [0, 30_000, 31_000, 86_400_000] {
            for same_start in [Some(true), None] {
                assert!(matches!(judge_holder(&here(true, same_start, false, age)), Holder::Alive { process_seen: true, .. }), "{age}");
            }
        }
        match judge_holder(&here(true, Some(true), true, 40_000)) {
            Holder::Alive { stopped: true, quiet: true, advice: Some(a), .. } => {
                assert!(a.contains("kill -CONT 7") && a.contains("kill -9 7"), "{a}");
            }
            x => panic!("{x:?}"),
        }
        // A fresh, running holder needs no advice.
        assert!(matches!(judge_holder(&here(true, Some(true), false, 900)), Holder::Alive { quiet: false, advice: None, .. }));
    }

    #[test]
    fn a_dead_or_reused_pid_on_this_host_is_gone_however_fresh_its_heartbeat() {
        assert_eq!(judge_holder(&here(false, None, false, 0)), Holder::Gone { reason: "process 7 on h is gone".into() });
        match judge_holder(&here(true, Some(false), false, 0)) {
            Holder::Gone { reason } => assert!(reason.contains("another process"), "{reason}"),
            x => panic!("{x:?}"),
        }
        let unknown = HolderFacts { process: None, ..here(true, None, false, 0) };
        assert!(matches!(judge_holder(&unknown), Holder::Gone { .. }));
    }

    #[test]
    fn another_hosts_holder_is_judged_by_its_heartbeat() {
        let there = |age: Option<i64>| HolderFacts { same_host: false, process: None, heartbeat_age_ms: age, ..here(true, None, false, 0) };
        assert!(matches!(judge_holder(&there(Some(30_000))), Holder::Alive { process_seen: false, .. }));
        assert_eq!(judge_holder(&there(Some(120_400))), Holder::Gone { reason: "heartbeat is 120 s old".into() });
        assert!(matches!(judge_holder(&there(None)), Holder::Gone { .. }));
    }

    #[test]
    fn generations() {
        assert_eq!(line_verdict(0, 0), LineVerdict::Apply);
        assert_eq!(line_verdict(3, 3), LineVerdict::Apply);
        assert_eq!(line_verdict(3, 4), LineVerdict::NewWriter);
        assert_eq!(line_verdict(0, 1), LineVerdict::NewWriter);
        assert_eq!(line_verdict(4, 3), LineVerdict::FencedOut);
    }
}
