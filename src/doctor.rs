//! `doctor`: turn what the shim observed about a plan (its run, lock,
//! environment, and the server when reachable) into issues with advice.
//! Every recommended command is one the tool accepts in that state.

pub use crate::check::Severity;
use crate::sql::{parse_table, quote_ident};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DoctorInput {
    pub plan_id: String,
    pub target: String,
    pub strategy: String,
    pub require_idempotency_token: bool,
    /// The run as loaded from the state directory; None: never run.
    pub run: Option<RunFacts>,
    #[serde(default)]
    pub lock: Option<LockFacts>,
    /// Plan bound to an environment other than the configured one: (plan's, configured).
    #[serde(default)]
    pub environment_mismatch: Option<(String, String)>,
    #[serde(default)]
    pub compatibility_changed: bool,
    /// Facts from the server; None when no connection is configured.
    #[serde(default)]
    pub server: Option<ServerFacts>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFacts {
    pub status: String,
    pub failed_chunks: u64,
    pub pending_chunks: u64,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The last error's type (a ClickHouse error name, or one of the run's own checks).
    #[serde(default)]
    pub last_error_type: Option<String>,
    /// Chunks that need an operator (e.g. a window whose row count is neither before nor after).
    #[serde(default)]
    pub blocked_chunks: u64,
    /// Done chunks no check could confirm (mv_replay re-sent after a crash, no rows written).
    #[serde(default)]
    pub unverified_chunks: u64,
    /// Chunks that wrote rows or may have (done, interrupted, or stopped for the operator):
    /// `plan --force` refuses to replace their plan without `--discard-applied`.
    #[serde(default)]
    pub applied_chunks: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockFacts {
    pub pid: u32,
    pub host: String,
    /// The holder is alive and its heartbeat is fresh.
    pub live: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServerFacts {
    pub reachable: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub target_exists: bool,
    #[serde(default)]
    pub target_engine: Option<String>,
    /// `non_replicated_deduplication_window` of the target (0 when unset).
    #[serde(default)]
    pub dedup_window: u64,
    /// mv_replay: views whose server query no longer matches the plan's.
    #[serde(default)]
    pub changed_views: Vec<String>,
    /// mv_replay: views of the plan that are gone from the server.
    #[serde(default)]
    pub missing_views: Vec<String>,
    /// Materialized views that read from the target (`db.view`).
    #[serde(default)]
    pub dependent_views: Vec<String>,
    /// The target is a `Distributed` table: its cluster and queue.
    #[serde(default)]
    pub distributed: Option<DistributedFacts>,
    /// `replicated_deduplication_window` and `…_seconds` of a Replicated table rows land in.
    #[serde(default)]
    pub replicated_window: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DistributedFacts {
    pub cluster: String,
    /// `db.table` the rows land in on every shard.
    pub remote: String,
    /// One line per shard: `1: host:port, host:port`.
    pub shards: Vec<String>,
    /// `system.distribution_queue` of the target.
    pub queue_files: u64,
    #[serde(default)]
    pub queue_errors: u64,
    #[serde(default)]
    pub last_exception: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// A command of this tool, without the program name: `resume --plan-id X`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// SQL for the operator to consider running themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub plan_id: String,
    pub ok: bool,
    pub issues: Vec<Issue>,
}

fn issue(code: &'static str, severity: Severity, message: String) -> Issue {
    Issue { code, severity, message, command: None, sql: None }
}

fn with_command(mut i: Issue, cmd: String) -> Issue {
    i.command = Some(cmd);
    i
}

/// Engines whose merges collapse or aggregate rows: a window's row count is not what was inserted.
pub fn merges_rows(engine: &str) -> bool {
    ["Replacing", "Collapsing", "Summing", "Aggregating", "Graphite", "Coalescing"].iter().any(|k| engine.contains(k))
}

/// What the run learned about the table rows land in (for a `Distributed` target: its remote table).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineFacts {
    pub engine: String,
    /// Materialized views that read from the target.
    #[serde(default)]
    pub dependent_views: Vec<String>,
}

/// What a run may do at a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Guarantees {
    /// A window's row count grows by exactly what an INSERT adds (no merges that fold rows).
    pub exact_counts: bool,
    /// A retry that counted the window empty may go in without deduplication.
    pub resend_without_deduplication: bool,
    /// Replicated (or Shared) engine: a count may be answered by a replica that lags.
    pub replicated: bool,
    /// Where the engine's counters move for this process's statements alone (the embedded
    /// engine), they can tell what an INSERT wrote: a MergeTree of this server that no view
    /// reads from (a view's rows would be counted with the target's).
    pub rows_by_counters: bool,
}

pub fn is_replicated(engine: &str) -> bool {
    engine.starts_with("Replicated") || engine.starts_with("Shared")
}

/// Exact counts unless merges fold rows. A retry without deduplication only where the count
/// is exact, no view reads from the target (a killed attempt may have fed it, and only the
/// retry's token lets the view's target drop the repeat), and the target is not Replicated:
/// there a count may come from a replica that has not fetched the attempt's part yet, while
/// the token is checked across all replicas in Keeper.
pub fn guarantees(f: &EngineFacts) -> Guarantees {
    let exact_counts = !merges_rows(&f.engine);
    let replicated = is_replicated(&f.engine);
    let no_views = f.dependent_views.is_empty();
    Guarantees {
        exact_counts,
        resend_without_deduplication: exact_counts && no_views && !replicated,
        replicated,
        rows_by_counters: f.engine.ends_with("MergeTree") && !replicated && no_views,
    }
}

/// A view's query changed, but not its name, source or time column: planning again gives the
/// same plan id, so the same chunk tokens. Windows the old query already wrote must go from the
/// target first (replayed on top they are doubled), and a target that deduplicates would drop
/// the replay as a repeat of them, so its deduplication is off while the plan runs again.
fn view_changed(d: &DoctorInput, s: &ServerFacts, v: &str) -> Issue {
    let id = &d.plan_id;
    let applied = d.run.as_ref().map_or(0, |r| r.applied_chunks);
    let head = format!("view {v} on the server no longer matches the plan");
    if applied == 0 {
        return issue(
            "view_changed",
            Severity::Error,
            format!("{head}; no chunk of it was applied: plan again with the flags it was made with, adding --force, then run it"),
        );
    }
    let t = &d.target;
    let replicated_dedup = s.replicated_window.is_some_and(|(w, secs)| w > 0 && secs > 0);
    let (dedup_off, set_back) = if s.dedup_window > 0 {
        (
            format!("turn {t}'s deduplication off (the plan's tokens stay the same, so it would drop the replay as a repeat of the old rows), "),
            format!(", and set non_replicated_deduplication_window back to {}", s.dedup_window),
        )
    } else if replicated_dedup {
        (
            format!("wait until {t}'s replicated deduplication window no longer holds the plan's tokens (or turn it off), "),
            String::new(),
        )
    } else {
        (String::new(), String::new())
    };
    let mut i = with_command(
        issue(
            "view_changed",
            Severity::Error,
            format!(
                "{head}; its run applied {applied} chunk(s) with the old query. `plan --force` refuses to replace it, and with \
                 --discard-applied the new run replays every window with the same tokens: on top of the old rows (doubled), or \
                 dropped as their duplicates where {t} deduplicates. To keep the old query, `resume --plan-id {id}` continues with \
                 the plan's statements. To replay with the new one: remove the windows of the chunks that are not pending (listed by \
                 this command) from {t}, {dedup_off}plan again with the flags it was made with, adding --force --discard-applied, \
                 run it{set_back}"
            ),
        ),
        format!("status --plan-id {id} --chunks"),
    );
    if s.dedup_window > 0 {
        let (sql, where_) = dedup_setting_sql(d, 0);
        i.message.push_str(&where_);
        i.sql = Some(sql);
    }
    i
}

/// `ALTER TABLE … MODIFY SETTING` of the target's deduplication, and where to run it. The
/// setting belongs to the table rows land in: a `Distributed` table's remote table, on every
/// shard (`ON CLUSTER` needs the cluster's distributed DDL, which not every server runs).
fn dedup_setting_sql(d: &DoctorInput, value: u64) -> (String, String) {
    let quoted = |name: &str| parse_table(name, "default", "table").map_or_else(|_| name.to_string(), |t| t.quoted());
    let sql = |table: String| format!("ALTER TABLE {table} MODIFY SETTING non_replicated_deduplication_window = {value}");
    match d.server.as_ref().and_then(|s| s.distributed.as_ref()) {
        Some(dist) => (
            sql(quoted(&dist.remote)),
            format!(
                " (on every shard of cluster {}: rows land in {}; or add ON CLUSTER {} where the cluster runs distributed DDL)",
                dist.cluster,
                dist.remote,
                quote_ident(&dist.cluster)
            ),
        ),
        None => (sql(quoted(&d.target)), String::new()),
    }
}

pub fn diagnose(d: &DoctorInput) -> DoctorReport {
    let id = &d.plan_id;
    let mut issues = Vec::new();

    if let Some((plan_env, configured)) = &d.environment_mismatch {
        issues.push(with_command(
            issue(
                "environment_mismatch",
                Severity::Error,
                format!("plan was made for {plan_env} but the config points at {configured}"),
            ),
            // `run` refuses a cancelled run and does not retry failed chunks; `resume` covers every started run.
            format!("{} --plan-id {id} --force-environment", if d.run.is_some() { "resume" } else { "run" }),
        ));
    }
    if d.compatibility_changed {
        issues.push(with_command(
            issue(
                "compatibility_changed",
                Severity::Error,
                "the plan or options that affect data changed since the run's checkpoint".into(),
            ),
            format!("resume --plan-id {id} --force-compatibility"),
        ));
    }

    let live_lock = d.lock.as_ref().filter(|l| l.live);
    match (&d.run, live_lock) {
        (None, _) => issues.push(with_command(
            issue("plan_not_started", Severity::Info, "planned, never run".into()),
            format!("run --plan-id {id}"),
        )),
        (Some(_), Some(l)) => issues.push(with_command(
            issue("run_active", Severity::Info, format!("a run is in progress (pid {} on {})", l.pid, l.host)),
            format!("status --plan-id {id}"),
        )),
        (Some(r), None) => match r.status.as_str() {
            "completed" => {}
            "running" => {
                let holder = d.lock.as_ref().map(|l| format!(" (pid {} on {})", l.pid, l.host)).unwrap_or_default();
                issues.push(with_command(
                    issue(
                        "run_orphaned",
                        Severity::Warn,
                        format!("the run is recorded as running but its process is gone{holder}; resume takes over"),
                    ),
                    format!("resume --plan-id {id}"),
                ));
            }
            "failed" => issues.push(with_command(
                issue(
                    "chunks_failed",
                    Severity::Error,
                    format!(
                        "{} chunk(s) failed after all retries{}",
                        r.failed_chunks,
                        r.last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
                    ),
                ),
                format!("resume --plan-id {id}"),
            )),
            "paused" => issues.push(with_command(
                issue("run_paused", Severity::Warn, format!("paused with {} chunk(s) pending", r.pending_chunks)),
                format!("resume --plan-id {id}"),
            )),
            "cancelled" => issues.push(with_command(
                issue(
                    "run_cancelled",
                    Severity::Warn,
                    format!("cancelled with {} chunk(s) pending; resume only if the backfill is still wanted", r.pending_chunks),
                ),
                format!("resume --plan-id {id}"),
            )),
            other => issues.push(issue("run_unknown_state", Severity::Error, format!("run state '{other}' is unknown"))),
        },
    }
    if let Some(r) = &d.run {
        if r.unverified_chunks > 0 {
            issues.push(with_command(
                issue(
                    "chunks_unverified",
                    Severity::Warn,
                    format!(
                        "{} chunk(s) were sent again after a crash and wrote no rows: {} dropped them as duplicates, most likely of rows the \
                         interrupted attempt had written, but possibly of a token it left behind without them; `verify` compares {} \
                         with the view over every window, on the server, and names any that differ (`status --chunks` marks the unverified ones)",
                        r.unverified_chunks, d.target, d.target
                    ),
                ),
                // Read-only: it answers whether those windows hold what the view gives.
                format!("verify --plan-id {id} --chunks"),
            ));
        }
        let dedup_window = d.server.as_ref().map_or(0, |s| s.dedup_window);
        if r.blocked_chunks > 0 && r.last_error_type.as_deref() == Some("INSERT_DROPPED") {
            let set_back = if dedup_window > 0 { format!(" to {dedup_window}") } else { String::new() };
            let dropped = format!(
                "{} dropped {} chunk insert(s) as duplicates of earlier inserts with the same tokens, without their rows",
                d.target, r.blocked_chunks
            );
            let dependents = d.server.as_ref().map_or(&[][..], |s| &s.dependent_views[..]);
            // A dropped insert still feeds the views reading from the target: replaying feeds them
            // again, so their targets must lose those windows first, or they would hold them twice.
            let i = if dependents.is_empty() {
                with_command(
                    issue(
                        "insert_dropped",
                        Severity::Error,
                        format!("{dropped}; turn its deduplication off, replay them, then set non_replicated_deduplication_window back{set_back}"),
                    ),
                    format!("resume --plan-id {id} --replay-failed"),
                )
            } else {
                with_command(
                    issue(
                        "insert_dropped",
                        Severity::Error,
                        format!(
                            "{dropped}; the dropped inserts already fed the views reading from it ({}), so their targets hold those chunks' rows: \
                             remove them there first (the failed chunks' windows, listed by this command), then turn deduplication off, \
                             replay with `resume --plan-id {id} --replay-failed`, and set non_replicated_deduplication_window back{set_back}",
                            dependents.join(", ")
                        ),
                    ),
                    format!("status --plan-id {id} --chunks"),
                )
            };
            let (sql, where_) = dedup_setting_sql(d, 0);
            issues.push(Issue { message: i.message + &where_, sql: Some(sql), ..i });
        } else if r.blocked_chunks > 0 {
            issues.push(issue(
                "chunks_need_operator",
                Severity::Error,
                format!(
                    "{} chunk(s) have an unknown outcome that a row count could not settle; inspect the window in {} before replaying",
                    r.blocked_chunks, d.target
                ),
            ));
        }
    }

    if let Some(s) = &d.server {
        if !s.reachable {
            issues.push(issue(
                "server_unreachable",
                Severity::Error,
                format!("ClickHouse is not reachable: {}", s.error.clone().unwrap_or_default()),
            ));
        } else {
            if let Some(v) = &s.version {
                issues.push(issue("server_version", Severity::Info, format!("ClickHouse {v}")));
            }
            if !s.target_exists {
                issues.push(issue(
                    "target_missing",
                    Severity::Error,
                    format!("target {} does not exist on the server", d.target),
                ));
            } else {
                let engine = s.target_engine.clone().unwrap_or_default();
                if matches!(d.strategy.as_str(), "table" | "copy") && merges_rows(&engine) {
                    issues.push(issue(
                        "row_count_check_unreliable",
                        Severity::Warn,
                        format!(
                            "{} ({engine}) merges rows, so a window's row count can shrink with nobody writing: after a crash the count check may stop an applied chunk for the operator",
                            d.target
                        ),
                    ));
                }
                let replicated = engine.starts_with("Replicated") || engine.starts_with("Shared");
                if d.require_idempotency_token && !replicated && engine.ends_with("MergeTree") && s.dedup_window == 0 {
                    let mut i = issue(
                        "tokens_ignored",
                        Severity::Warn,
                        format!(
                            "{} ({engine}) has non_replicated_deduplication_window = 0, so idempotency tokens are ignored; a retry after a crash relies on the row-count check instead",
                            d.target
                        ),
                    );
                    let (sql, where_) = dedup_setting_sql(d, 1000);
                    i.message.push_str(&where_);
                    i.sql = Some(sql);
                    issues.push(i);
                }
            }
            if let Some(dist) = &s.distributed {
                issues.push(issue(
                    "distributed_target",
                    Severity::Info,
                    format!(
                        "{} is Distributed over cluster {} into {} ({} shard(s): {}); chunk INSERTs wait until their rows are on the shards (distributed_foreground_insert = 1) and the window counts read every shard",
                        d.target,
                        dist.cluster,
                        dist.remote,
                        dist.shards.len(),
                        dist.shards.join("; ")
                    ),
                ));
                if dist.queue_files > 0 {
                    let why = dist.last_exception.as_ref().filter(|e| !e.is_empty()).map(|e| format!("; last error: {e}")).unwrap_or_default();
                    let mut i = issue(
                        "distribution_queue",
                        Severity::Warn,
                        format!(
                            "{} file(s) of rows inserted into {} in the background wait in system.distribution_queue ({} error(s){why}): they are on no shard yet, so a window count misses them; let the queue drain (or flush it) before running or resuming a plan on this target",
                            dist.queue_files, d.target, dist.queue_errors
                        ),
                    );
                    i.sql = Some(format!("SYSTEM FLUSH DISTRIBUTED {}", d.target));
                    issues.push(i);
                }
            }
            if let Some((window, seconds)) = s.replicated_window {
                let relies = if d.strategy == "mv_replay" {
                    "this plan's retries rely on it: a chunk retried after a crash is dropped as a duplicate only while its token is within the window"
                } else {
                    "a retry is always sent with its token here (a count may come from a lagging replica), so the window is what drops a repeat"
                };
                let off = window == 0 || seconds == 0;
                issues.push(issue(
                    "replicated_dedup_window",
                    if off && d.strategy == "mv_replay" { Severity::Error } else if off { Severity::Warn } else { Severity::Info },
                    format!(
                        "replicated_deduplication_window = {window}, replicated_deduplication_window_seconds = {seconds}: a token is recognised among the last {window} inserts into the table and for {seconds} s; {relies}{}",
                        if off { "; deduplication is off, so a retry can double rows" } else { "" }
                    ),
                ));
            }
            for v in &s.changed_views {
                issues.push(view_changed(d, s, v));
            }
            for v in &s.missing_views {
                issues.push(issue("view_missing", Severity::Error, format!("view {v} of the plan is gone from the server")));
            }
        }
    }

    let ok = !issues.iter().any(|i| i.severity == Severity::Error);
    DoctorReport { plan_id: id.clone(), ok, issues }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarantees_by_engine() {
        let g = |engine: &str, views: &[&str]| guarantees(&EngineFacts { engine: engine.into(), dependent_views: views.iter().map(|v| v.to_string()).collect() });
        assert_eq!(g("MergeTree", &[]), Guarantees { exact_counts: true, resend_without_deduplication: true, replicated: false, rows_by_counters: true });
        assert_eq!(g("MergeTree", &["app.v"]).resend_without_deduplication, false);
        assert_eq!(g("SummingMergeTree", &["app.v"]).rows_by_counters, false);
        assert_eq!(g("Memory", &[]).rows_by_counters, false);
        assert_eq!(g("ReplacingMergeTree", &[]), Guarantees { exact_counts: false, resend_without_deduplication: false, replicated: false, rows_by_counters: true });
        // Never a retry without deduplication to a Replicated target: its count may come from a lagging replica.
        assert_eq!(g("ReplicatedMergeTree", &[]), Guarantees { exact_counts: true, resend_without_deduplication: false, replicated: true, rows_by_counters: false });
        assert_eq!(g("SharedMergeTree", &[]).resend_without_deduplication, false);
    }

    #[test]
    fn distributed_and_replicated_facts() {
        let mut d = base();
        d.server = Some(ServerFacts {
            reachable: true,
            target_exists: true,
            target_engine: Some("ReplicatedMergeTree".into()),
            distributed: Some(DistributedFacts { cluster: "c".into(), remote: "app.local".into(), shards: vec!["1: a:9000".into()], queue_files: 2, queue_errors: 1, last_exception: Some("Connection refused".into()) }),
            replicated_window: Some((0, 3600)),
            ..Default::default()
        });
        let r = diagnose(&d);
        let codes: Vec<_> = r.issues.iter().map(|i| (i.code, i.severity)).collect();
        assert!(codes.contains(&("distributed_target", Severity::Info)), "{codes:?}");
        assert!(codes.contains(&("distribution_queue", Severity::Warn)));
        assert!(codes.contains(&("replicated_dedup_window", Severity::Warn)));
        assert_eq!(r.issues.iter().find(|i| i.code == "distribution_queue").unwrap().sql.as_deref(), Some("SYSTEM FLUSH DISTRIBUTED app.events"));
        d.strategy = "mv_replay".into();
        assert!(diagnose(&d).issues.iter().any(|i| i.code == "replicated_dedup_window" && i.severity == Severity::Error));
    }

    #[test]
    fn dedup_advice_on_a_distributed_target_names_the_table_rows_land_in() {
        let mut d = base();
        d.server = Some(ServerFacts {
            reachable: true,
            target_exists: true,
            target_engine: Some("MergeTree".into()),
            distributed: Some(DistributedFacts { cluster: "c1".into(), remote: "app.local".into(), shards: vec!["1: a:9000".into()], ..Default::default() }),
            ..Default::default()
        });
        let i = diagnose(&d).issues.into_iter().find(|i| i.code == "tokens_ignored").unwrap();
        assert_eq!(i.sql.as_deref(), Some("ALTER TABLE `app`.`local` MODIFY SETTING non_replicated_deduplication_window = 1000"));
        assert!(i.message.contains("on every shard of cluster c1: rows land in app.local; or add ON CLUSTER `c1`"), "{}", i.message);
        d.run = Some(RunFacts { blocked_chunks: 1, last_error_type: Some("INSERT_DROPPED".into()), ..run("failed", 1) });
        d.server.as_mut().unwrap().dedup_window = 100;
        let i = diagnose(&d).issues.into_iter().find(|i| i.code == "insert_dropped").unwrap();
        assert_eq!(i.sql.as_deref(), Some("ALTER TABLE `app`.`local` MODIFY SETTING non_replicated_deduplication_window = 0"));
    }

    fn base() -> DoctorInput {
        DoctorInput {
            plan_id: "p1".into(),
            target: "app.events".into(),
            strategy: "table".into(),
            require_idempotency_token: true,
            ..Default::default()
        }
    }

    fn run(status: &str, failed: u64) -> RunFacts {
        RunFacts {
            status: status.into(),
            failed_chunks: failed,
            pending_chunks: 3,
            last_error: Some("boom".into()),
            last_error_type: None,
            blocked_chunks: 0,
            unverified_chunks: 0,
            applied_chunks: 0,
        }
    }

    fn codes(r: &DoctorReport) -> Vec<(&str, Option<&str>)> {
        r.issues.iter().map(|i| (i.code, i.command.as_deref())).collect()
    }

    #[test]
    fn unverified_chunks_point_at_the_chunk_table() {
        let mut d = base();
        d.strategy = "mv_replay".into();
        d.run = Some(RunFacts { unverified_chunks: 2, ..run("completed", 0) });
        let r = diagnose(&d);
        assert_eq!(codes(&r), [("chunks_unverified", Some("verify --plan-id p1 --chunks"))]);
        assert!(r.ok, "a warning: the run completed");
        assert!(r.issues[0].message.starts_with("2 chunk(s) were sent again after a crash and wrote no rows"));
    }

    #[test]
    fn dropped_inserts_get_the_setting_that_lets_them_in() {
        let mut d = base();
        d.run = Some(RunFacts { blocked_chunks: 2, last_error_type: Some("INSERT_DROPPED".into()), ..run("failed", 2) });
        d.server = Some(ServerFacts { reachable: true, target_exists: true, target_engine: Some("MergeTree".into()), dedup_window: 100, ..Default::default() });
        let r = diagnose(&d);
        assert_eq!(codes(&r), [("chunks_failed", Some("resume --plan-id p1")), ("insert_dropped", Some("resume --plan-id p1 --replay-failed"))]);
        assert_eq!(r.issues[1].sql.as_deref(), Some("ALTER TABLE `app`.`events` MODIFY SETTING non_replicated_deduplication_window = 0"));
        assert!(r.issues[1].message.contains("back to 100"), "{}", r.issues[1].message);
        // Views read from the target: the dropped inserts fed them; their targets are repaired first.
        d.server.as_mut().unwrap().dependent_views = vec!["app.fanout_mv".into()];
        let r = diagnose(&d);
        assert_eq!(codes(&r)[1], ("insert_dropped", Some("status --plan-id p1 --chunks")));
        assert!(r.issues[1].message.contains("already fed the views reading from it (app.fanout_mv)"), "{}", r.issues[1].message);
        assert!(r.issues[1].message.contains("remove them there first"), "{}", r.issues[1].message);
        assert!(r.issues[1].message.contains("replay with `resume --plan-id p1 --replay-failed`"), "{}", r.issues[1].message);
        assert!(r.issues[1].sql.is_some());
        d.run = Some(RunFacts { blocked_chunks: 1, last_error_type: Some("UNKNOWN_OUTCOME".into()), ..run("failed", 1) });
        assert_eq!(codes(&diagnose(&d))[1].0, "chunks_need_operator");
    }

    #[test]
    fn changed_view_names_the_windows_to_repair_once_chunks_were_applied() {
        let mut d = base();
        d.strategy = "mv_replay".into();
        d.server = Some(ServerFacts { reachable: true, target_exists: true, target_engine: Some("MergeTree".into()), dedup_window: 1000, changed_views: vec!["app.v".into()], ..Default::default() });
        d.run = Some(run("completed", 0));
        let i = diagnose(&d).issues.into_iter().find(|i| i.code == "view_changed").unwrap();
        assert_eq!((i.command.as_deref(), i.sql.as_deref()), (None, None));
        assert!(i.message.contains("adding --force, then run it"), "{}", i.message);
        d.run = Some(RunFacts { applied_chunks: 3, ..run("completed", 0) });
        let i = diagnose(&d).issues.into_iter().find(|i| i.code == "view_changed").unwrap();
        assert_eq!(i.command.as_deref(), Some("status --plan-id p1 --chunks"));
        assert_eq!(i.sql.as_deref(), Some("ALTER TABLE `app`.`events` MODIFY SETTING non_replicated_deduplication_window = 0"));
        for part in ["applied 3 chunk(s)", "`plan --force` refuses", "--force --discard-applied", "back to 1000", "resume --plan-id p1"] {
            assert!(i.message.contains(part), "{part}: {}", i.message);
        }
        // No deduplication: nothing to turn off, the windows still go first.
        d.server.as_mut().unwrap().dedup_window = 0;
        let i = diagnose(&d).issues.into_iter().find(|i| i.code == "view_changed").unwrap();
        assert!(i.sql.is_none() && i.message.contains("remove the windows"), "{}", i.message);
    }

    #[test]
    fn run_states() {
        let mut d = base();
        assert_eq!(codes(&diagnose(&d)), [("plan_not_started", Some("run --plan-id p1"))]);
        d.run = Some(run("completed", 0));
        let r = diagnose(&d);
        assert!(r.ok && r.issues.is_empty());
        d.run = Some(run("failed", 2));
        let r = diagnose(&d);
        assert!(!r.ok);
        assert_eq!(codes(&r), [("chunks_failed", Some("resume --plan-id p1"))]);
        assert!(r.issues[0].message.contains("boom"));
        d.run = Some(run("running", 0));
        assert_eq!(codes(&diagnose(&d)), [("run_orphaned", Some("resume --plan-id p1"))]);
        d.lock = Some(LockFacts { pid: 7, host: "h".into(), live: true });
        assert_eq!(codes(&diagnose(&d)), [("run_active", Some("status --plan-id p1"))]);
        d.lock = None;
        d.run = Some(run("cancelled", 0));
        assert_eq!(codes(&diagnose(&d)), [("run_cancelled", Some("resume --plan-id p1"))]);
    }

    #[test]
    fn server_facts() {
        let mut d = base();
        d.run = Some(run("completed", 0));
        d.server = Some(ServerFacts { reachable: false, error: Some("ECONNREFUSED".into()), ..Default::default() });
        assert_eq!(codes(&diagnose(&d)), [("server_unreachable", None)]);
        d.server = Some(ServerFacts {
            reachable: true,
            version: Some("26.7".into()),
            target_exists: true,
            target_engine: Some("MergeTree".into()),
            ..Default::default()
        });
        let r = diagnose(&d);
        assert!(r.ok);
        assert_eq!(codes(&r), [("server_version", None), ("tokens_ignored", None)]);
        assert!(r.issues[1].sql.as_ref().unwrap().contains("non_replicated_deduplication_window"));
        d.server.as_mut().unwrap().dedup_window = 100;
        assert_eq!(codes(&diagnose(&d)), [("server_version", None)]);
        d.server.as_mut().unwrap().target_engine = Some("ReplicatedMergeTree".into());
        d.server.as_mut().unwrap().dedup_window = 0;
        assert_eq!(codes(&diagnose(&d)), [("server_version", None)]);
        d.server.as_mut().unwrap().target_engine = Some("ReplicatedReplacingMergeTree".into());
        let r = diagnose(&d);
        assert_eq!(codes(&r), [("server_version", None), ("row_count_check_unreliable", None)]);
        assert!(r.ok, "a warning");
        d.strategy = "mv_replay".into();
        assert_eq!(codes(&diagnose(&d)), [("server_version", None)], "mv_replay does not count windows");
        d.server.as_mut().unwrap().target_exists = false;
        assert!(!diagnose(&d).ok);
    }

    #[test]
    fn environment_and_compatibility() {
        let mut d = base();
        d.run = Some(run("paused", 0));
        d.environment_mismatch = Some(("chdb:/a (app)".into(), "http://h:8123 (app)".into()));
        d.compatibility_changed = true;
        let r = diagnose(&d);
        assert_eq!(
            codes(&r),
            [
                ("environment_mismatch", Some("resume --plan-id p1 --force-environment")),
                ("compatibility_changed", Some("resume --plan-id p1 --force-compatibility")),
                ("run_paused", Some("resume --plan-id p1")),
            ]
        );
    }
}
