//! The WASM surface, and the only module that knows about JavaScript.
//! Every export takes JSON text (a plan's chunk lines: the file's UTF-8 bytes) and returns a JSON envelope:
//! `{"ok":true,"value":…}` or `{"ok":false,"error":{kind,code,message}}`.
//! Plain strings keep the surface testable natively and fast for large plans.

use crate::error::{CoreError, CoreResult};
use crate::plan::{self, PlanRequest, PlanState};
use crate::run_state::{self, EventLine, Loading, PlanFacts, RunMode, RunState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

fn envelope<T: Serialize>(r: CoreResult<T>) -> String {
    r.and_then(|v| ok_envelope(0, |out| serde_json::to_writer(out, &v))).unwrap_or_else(error_envelope)
}

/// The value is written straight after the prefix, so the shim can take a large value's
/// JSON text (a snapshot) without parsing it. `capacity`: the expected size, reserved once
/// (growing tens of megabytes step by step grows WASM memory step by step).
fn ok_envelope(capacity: usize, write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> CoreResult<String> {
    let mut out = Vec::with_capacity(capacity + 32);
    out.extend_from_slice(OK_PREFIX);
    write(&mut out).map_err(|e| CoreError::runtime("serialize", e.to_string()))?;
    out.push(b'}');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

const OK_PREFIX: &[u8] = b"{\"ok\":true,\"value\":";

fn error_envelope(e: CoreError) -> String {
    format!("{{\"ok\":false,\"error\":{}}}", serde_json::to_string(&e).expect("error serialises"))
}

fn parse<T: DeserializeOwned>(json: &str, what: &str) -> CoreResult<T> {
    serde_json::from_str(json).map_err(|e| CoreError::usage("invalid_input", format!("{what}: {e}")))
}

#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[wasm_bindgen(js_name = resolveOptions)]
pub fn resolve_options(raw: &str) -> String {
    envelope(parse(raw, "options").and_then(|v| crate::options::resolve_options(&v)))
}

/// The envelope as UTF-8 bytes: the value is the plan file's text (see `plan_file`), written
/// as the chunks are made without holding them; the shim writes its bytes as they are
/// (megabytes, not decoded into a string only to be encoded again).
#[wasm_bindgen(js_name = buildPlan)]
pub fn build_plan(request: &str) -> Vec<u8> {
    parse::<PlanRequest>(request, "plan request")
        .and_then(|r| {
            let mut out = OK_PREFIX.to_vec();
            let mut writer = crate::plan_file::Writer::new(&mut out, plan::expected_chunks(&r));
            plan::build_plan_into(&r, &mut writer)?;
            writer.finish();
            out.push(b'}');
            Ok(out)
        })
        .unwrap_or_else(|e| error_envelope(e).into_bytes())
}

/// `db.table` as the user typed it → `{database, table}` (bare `table` takes `default_db`).
#[wasm_bindgen(js_name = parseTable)]
pub fn parse_table(input: &str, default_db: &str, flag: &str) -> String {
    envelope(crate::sql::parse_table(input, default_db, flag))
}

/// Validate what needs no server (names, numbers, window) before connecting.
#[wasm_bindgen(js_name = checkPlanInput)]
pub fn check_plan_input(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::check_plan_input(&r)))
}

/// Strategy, views and time-column decisions for a request (what a prompt needs).
#[wasm_bindgen(js_name = planPreview)]
pub fn plan_preview(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::plan_preview(&r)))
}

/// For a plan sized by rows or bytes: the distribution queries to answer first (null: by hours).
#[wasm_bindgen(js_name = volumeQueries)]
pub fn volume_queries(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::volume_queries(&r)))
}

/// For a plan sized by rows or bytes: spread, histogram lines and warnings (null: by hours).
#[wasm_bindgen(js_name = volumeReport)]
pub fn volume_report(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::volume_report(&r)))
}

/// The table a materialized view is triggered by: `{database, table}`.
#[wasm_bindgen(js_name = viewSource)]
pub fn view_source(view: &str, query: &str, default_db: &str) -> String {
    envelope(crate::mv_rewrite::analyze_view(view, query, default_db).map(|v| v.source))
}

#[wasm_bindgen(js_name = planDifferences)]
pub fn plan_differences(existing: &str, fresh: &str) -> String {
    envelope(parse(existing, "existing plan").and_then(|e: serde_json::Value| {
        let fresh: PlanState = parse(fresh, "fresh plan")?;
        Ok(plan::plan_differences(&e, &fresh))
    }))
}

/// Check chunk lines of a plan file against its header (see `plan_check`): `lines` holds
/// chunk lines from chunk `first` (0-based) on, as the file's bytes. → how many were checked.
#[wasm_bindgen(js_name = checkPlanChunks)]
pub fn check_plan_chunks(header: &str, chunk_count: &str, default_database: &str, first: &str, lines: &[u8]) -> String {
    envelope(parse::<PlanState>(header, "plan header").and_then(|h| {
        let check = crate::plan_check::PlanCheck::open(&h, parse(chunk_count, "chunk count")?, default_database)?;
        let text = std::str::from_utf8(lines).map_err(|e| {
            CoreError::runtime("plan_mismatch", format!("plan {}: its chunk lines are not UTF-8 text ({e}): make the plan again", h.plan_id))
        })?;
        check.lines(parse(first, "first chunk")?, text)
    }))
}

/// Whether the columns a plan writes `DateTime` bounds for still are `DateTime`s (`plan_check`).
#[wasm_bindgen(js_name = checkBoundTypes)]
pub fn check_bound_types(plan_id: &str, columns: &str) -> String {
    envelope(parse::<Vec<crate::plan_check::BoundColumn>>(columns, "bound columns").and_then(|c| crate::plan_check::check_bound_types(plan_id, &c)))
}

#[wasm_bindgen(js_name = evaluateCheck)]
pub fn evaluate_check(input: &str) -> String {
    envelope(parse(input, "check input").map(|i| crate::check::evaluate(&i)))
}

#[wasm_bindgen]
pub fn diagnose(input: &str) -> String {
    envelope(parse(input, "doctor input").map(|i| crate::doctor::diagnose(&i)))
}

// Runs live here between calls: passing the state of 100,000 chunks across
// the boundary per event would make each event O(chunks).
thread_local! {
    static RUNS: RefCell<(u32, HashMap<u32, Entry>)> = RefCell::new((0, HashMap::new()));
}

enum Entry {
    /// Opened, its event log still being fed in.
    Loading(Loading),
    Ready(RunState),
}

fn handle_of(handle: &str) -> CoreResult<u32> {
    parse(handle, "run handle")
}

fn no_run(h: u32) -> CoreError {
    CoreError::runtime("no_run", format!("no open run {h}"))
}

fn with_run<T>(handle: &str, f: impl FnOnce(&mut RunState) -> CoreResult<T>) -> CoreResult<T> {
    let h = handle_of(handle)?;
    RUNS.with(|r| match r.borrow_mut().1.get_mut(&h) {
        Some(Entry::Ready(run)) => f(run),
        Some(Entry::Loading(_)) => Err(CoreError::runtime("run_loading", format!("run {h} is still loading its event log"))),
        None => Err(no_run(h)),
    })
}

/// Open a run from plan facts, the snapshot text (`""`: none) and the event log's size
/// in bytes. → `{ handle, readFrom }`: feed the log from byte `readFrom` with `runFeed`.
#[wasm_bindgen(js_name = runOpen)]
pub fn run_open(facts: &str, snapshot: &str, log_len: &str) -> String {
    envelope(parse::<PlanFacts>(facts, "plan facts").and_then(|facts| {
        let loading = Loading::begin(facts, (!snapshot.is_empty()).then_some(snapshot), parse(log_len, "log length")?)?;
        let read_from = loading.read_from();
        let handle = RUNS.with(|r| {
            let mut r = r.borrow_mut();
            r.0 += 1;
            let h = r.0;
            r.1.insert(h, Entry::Loading(loading));
            h
        });
        Ok(serde_json::json!({ "handle": handle, "readFrom": read_from }))
    }))
}

/// Feed the event log text that starts at the byte asked for (see `Loading::feed`).
/// → `{ next }`: feed again from byte `next`; or `{ report }`: the run is open.
#[wasm_bindgen(js_name = runFeed)]
pub fn run_feed(handle: &str, text: &str, at_end: &str) -> String {
    envelope(handle_of(handle).and_then(|h| {
        let at_end: bool = parse(at_end, "at end")?;
        RUNS.with(|r| {
            let mut r = r.borrow_mut();
            let Some(Entry::Loading(l)) = r.1.get_mut(&h) else { return Err(no_run(h)) };
            let fed = l.feed(text, at_end);
            if let Ok(Some(next)) = fed {
                return Ok(serde_json::json!({ "next": next }));
            }
            // Done or failed: either way the loading ends here.
            let Some(Entry::Loading(l)) = r.1.remove(&h) else { unreachable!("checked above") };
            fed?;
            let (state, report) = l.finish();
            r.1.insert(h, Entry::Ready(state));
            Ok(serde_json::json!({ "report": report }))
        })
    }))
}

/// Apply `{at, event, ...}`; → the event line to append (seq assigned here), as the
/// envelope's value: the shim appends its JSON text.
#[wasm_bindgen(js_name = runApply)]
pub fn run_apply(handle: &str, event: &str) -> String {
    envelope(with_run(handle, |run| {
        let mut v: serde_json::Value = parse(event, "event")?;
        if let Some(o) = v.as_object_mut() {
            o.insert("seq".into(), (run.snap.seq + 1).into());
            o.insert("gen".into(), run.snap.generation.into());
        }
        let line: EventLine = serde_json::from_value(v)
            .map_err(|e| CoreError::runtime("invalid_event", format!("event: {e}")))?;
        run.apply(line)
    }))
}

/// Become the log's next writer (see `fence`): → the generation every later line carries.
#[wasm_bindgen(js_name = runBeginWriter)]
pub fn run_begin_writer(handle: &str) -> String {
    envelope(with_run(handle, |run| Ok(run.begin_writer())))
}

/// Whether a lock's holder can still write (see `fence::judge_holder`).
#[wasm_bindgen(js_name = judgeLockHolder)]
pub fn judge_lock_holder(facts: &str) -> String {
    envelope(parse::<crate::fence::HolderFacts>(facts, "lock holder").map(|f| crate::fence::judge_holder(&f)))
}

#[wasm_bindgen(js_name = runNextActions)]
pub fn run_next_actions(handle: &str, now: &str, in_flight: &str) -> String {
    envelope(with_run(handle, |run| {
        let now: i64 = parse(now, "now")?;
        let in_flight: usize = parse(in_flight, "in flight")?;
        Ok(run.next_actions(now, in_flight))
    }))
}

/// The snapshot (the envelope's value, whose JSON text the shim writes), with the
/// log's byte length after the last applied line.
#[wasm_bindgen(js_name = runSnapshot)]
pub fn run_snapshot(handle: &str, event_offset: &str) -> String {
    with_run(handle, |run| {
        run.snap.event_offset = parse(event_offset, "event offset")?;
        // About 30 bytes per chunk state; sized up front, as it is rewritten about once a second.
        ok_envelope(run.snap.chunks.len() * 48 + 1024, |out| serde_json::to_writer(out, &run.snap))
    })
    .unwrap_or_else(error_envelope)
}

/// Everything of the snapshot but the chunks.
#[wasm_bindgen(js_name = runSummary)]
pub fn run_summary(handle: &str) -> String {
    envelope(with_run(handle, |run| {
        let s = &run.snap;
        Ok(serde_json::json!({
            "status": s.status, "seq": s.seq, "updatedAt": s.updated_at, "compatibility": s.compatibility,
            "sessions": s.sessions, "attempts": s.attempts, "rowsWritten": s.rows_written,
            "chunkCounts": s.chunk_counts, "lastError": s.last_error, "stopping": s.stopping,
            "needsOperator": s.chunks.iter().filter(|c| c.needs_operator).count(),
            "unverified": s.chunks.iter().filter(|c| c.unverified && c.status == run_state::ChunkStatus::Done).count(),
        }))
    }))
}

/// The state of one chunk (for messages).
#[wasm_bindgen(js_name = runChunk)]
pub fn run_chunk(handle: &str, chunk: &str) -> String {
    envelope(with_run(handle, |run| {
        let i: usize = parse(chunk, "chunk")?;
        run.snap.chunks.get(i).cloned().ok_or_else(|| CoreError::runtime("no_chunk", format!("no chunk {i}")))
    }))
}

/// The grid count that measures every unmeasured `table` chunk at once, or null (see `RunState::baseline_grid`).
#[wasm_bindgen(js_name = runBaselineGrid)]
pub fn run_baseline_grid(handle: &str) -> String {
    envelope(with_run(handle, |run| run.baseline_grid()))
}

/// One count of the windows of several inserted, unchecked chunks (see `RunState::check_counts_sql`).
#[wasm_bindgen(js_name = runCheckCountsSql)]
pub fn run_check_counts_sql(handle: &str, chunks: &str, on_grid: &str) -> String {
    envelope(with_run(handle, |run| {
        let chunks: Vec<usize> = parse(chunks, "chunks")?;
        run.check_counts_sql(&chunks, parse(on_grid, "on_grid")?)
    }))
}

/// Whether a time column of this type can be counted by the chunk grid.
#[wasm_bindgen(js_name = gridCountable)]
pub fn grid_countable(column_type: &str) -> String {
    envelope(Ok(crate::run_state::grid_countable(column_type)))
}

/// Indexes of the chunks a run started now would execute (`run --dry-run`).
#[wasm_bindgen(js_name = runWouldExecute)]
pub fn run_would_execute(handle: &str, mode: &str, replay_done: &str, replay_failed: &str) -> String {
    envelope(with_run(handle, |run| {
        let mode: RunMode = parse(mode, "mode")?;
        let (done, failed): (bool, bool) = (parse(replay_done, "replay done")?, parse(replay_failed, "replay failed")?);
        Ok(run.snap.chunks.iter().enumerate().filter(|(_, c)| c.runs_when_started(mode, done, failed)).map(|(i, _)| i).collect::<Vec<_>>())
    }))
}

#[wasm_bindgen(js_name = runClose)]
pub fn run_close(handle: &str) -> String {
    envelope(handle_of(handle).map(|h| RUNS.with(|r| r.borrow_mut().1.remove(&h).is_some())))
}

/// The chunk statement `sql` with its token's deduplication off, or null (see `sql::without_deduplication`).
#[wasm_bindgen(js_name = sqlWithoutDeduplication)]
pub fn sql_without_deduplication(sql: &str, token: &str) -> String {
    envelope(Ok(crate::sql::without_deduplication(sql, token)))
}

/// The inserted-rows check's reads of `system.parts` (see `sql::parts_max_block_sql`).
#[wasm_bindgen(js_name = partsMaxBlockSql)]
pub fn parts_max_block_sql(table: &str) -> String {
    envelope(parse::<crate::sql::TableRef>(table, "table").map(|t| crate::sql::parts_max_block_sql(&t)))
}

/// A `Distributed` engine definition → `{cluster, remoteDatabase, remoteTable, shardingKey?}`.
#[wasm_bindgen(js_name = distributedEngine)]
pub fn distributed_engine(target: &str, engine_full: &str) -> String {
    envelope(crate::distributed::parse_engine(target, engine_full))
}

#[wasm_bindgen(js_name = syncReplicaSql)]
pub fn sync_replica_sql(table: &str, cluster: &str) -> String {
    envelope(parse::<crate::sql::TableRef>(table, "table").and_then(|t| Ok(crate::sql::sync_replica_sql(&t, parse::<Option<String>>(cluster, "cluster")?.as_deref()))))
}

/// How many rows an `mv_replay` statement's SELECT gives (`verify::replay_rows_sql`).
#[wasm_bindgen(js_name = replayRowsSql)]
pub fn replay_rows_sql(statement: &str) -> String {
    envelope(crate::verify::replay_rows_sql(statement))
}

#[wasm_bindgen(js_name = partsAfterSql)]
pub fn parts_after_sql(table: &str, before: &str) -> String {
    envelope(parse::<crate::sql::TableRef>(table, "table").and_then(|t| Ok(crate::sql::parts_after_sql(&t, parse(before, "block number")?))))
}

/// The rows an INSERT wrote and the highest block number now, from `partsAfterSql`'s rows.
#[wasm_bindgen(js_name = partsRowsAfter)]
pub fn parts_rows_after(parts: &str, before: &str) -> String {
    envelope((|| {
        let parts: Vec<crate::sql::PartBlocks> = parse(parts, "parts")?;
        Ok(crate::sql::parts_rows_after(&parts, parse(before, "block number")?))
    })())
}

/// A recount before an attempt that follows one that may have written (`outcome::judge_recount`).
#[wasm_bindgen(js_name = judgeRecount)]
pub fn judge_recount(chunk_id: &str, seen: &str, verify: &str) -> String {
    envelope((|| Ok(crate::outcome::judge_recount(chunk_id, parse(seen, "count")?, parse(verify, "baseline")?)))())
}

/// The count after a chunk's INSERT returned (`outcome::judge_inserted`).
#[wasm_bindgen(js_name = judgeInserted)]
pub fn judge_inserted(chunk_id: &str, seen: &str, baseline: &str, exact_counts: &str) -> String {
    envelope((|| Ok(crate::outcome::judge_inserted(chunk_id, parse(seen, "count")?, parse(baseline, "baseline")?, parse(exact_counts, "exactCounts")?)))())
}

/// How the rows one INSERT wrote are learned (`outcome::rows_by`).
#[wasm_bindgen(js_name = rowsBy)]
pub fn rows_by(facts: &str) -> String {
    envelope(parse(facts, "insert facts").map(crate::outcome::rows_by))
}

/// The counters the inserted-rows check reads where they are this process's (`sql::insert_counters_sql`).
#[wasm_bindgen(js_name = insertCountersSql)]
pub fn insert_counters_sql() -> String {
    envelope(Ok(crate::sql::insert_counters_sql()))
}

/// `insertCountersSql`'s rows (values as numbers) → the counters.
#[wasm_bindgen(js_name = insertCounters)]
pub fn insert_counters(rows: &str) -> String {
    envelope(parse::<Vec<crate::sql::CounterRow>>(rows, "counter rows").map(|r| crate::sql::insert_counters(&r)))
}

/// What one INSERT wrote from the counters before and after it (`sql::rows_from_counters`).
#[wasm_bindgen(js_name = rowsFromCounters)]
pub fn rows_from_counters(before: &str, after: &str) -> String {
    envelope((|| Ok(crate::sql::rows_from_counters(&parse(before, "counters")?, &parse(after, "counters")?)))())
}

/// What a plan can rely on at a target, from its engine facts (see `doctor::guarantees`).
#[wasm_bindgen(js_name = targetGuarantees)]
pub fn target_guarantees(facts: &str) -> String {
    envelope(parse::<crate::doctor::EngineFacts>(facts, "engine facts").map(|f| crate::doctor::guarantees(&f)))
}

/// Whether a table engine's merges collapse or aggregate rows (its row counts are not what was inserted).
#[wasm_bindgen(js_name = engineMergesRows)]
pub fn engine_merges_rows(engine: &str) -> String {
    envelope(Ok(crate::doctor::merges_rows(engine)))
}

#[wasm_bindgen(js_name = envFingerprint)]
pub fn env_fingerprint(origin: &str, database: &str) -> String {
    envelope(Ok(crate::ids::env_fingerprint(origin, database)))
}

/// `text` without the configured user names and passwords (see `redact::redact`).
#[wasm_bindgen(js_name = redactCredentials)]
pub fn redact_credentials(text: &str, credentials: &str) -> String {
    envelope(parse::<crate::redact::Credentials>(credentials, "credentials").map(|c| crate::redact::redact(text, &c)))
}

#[wasm_bindgen(js_name = compatibilityToken)]
pub fn compatibility_token(plan_sha256: &str, data_options: &str) -> String {
    envelope(parse::<serde_json::Value>(data_options, "data options").map(|o| run_state::compatibility_token(plan_sha256, &o)))
}

/// `verify`: the chunks `--chunk`/`--sample` select (0-based indexes).
#[wasm_bindgen(js_name = verifySelect)]
pub fn verify_select(facts: &str, picks: &str, sample: &str) -> String {
    envelope(parse::<PlanFacts>(facts, "plan facts").and_then(|f| {
        let picks: Vec<String> = parse(picks, "chunks")?;
        let sample: Option<u64> = parse(sample, "sample")?;
        crate::verify::select_chunks(&f, &picks, sample)
    }))
}

/// `verify`: the queries that do not depend on a chunk's statements (see `verify::queries`).
#[wasm_bindgen(js_name = verifyQueries)]
pub fn verify_queries(request: &str) -> String {
    envelope(parse::<crate::verify::VerifyRequest>(request, "verify request").and_then(|r| crate::verify::queries(&r)))
}

/// `verify` of an mv_replay chunk: its one comparing query, from its statements.
#[wasm_bindgen(js_name = verifyMvChunkSql)]
pub fn verify_mv_chunk_sql(request: &str, statements: &str) -> String {
    envelope(parse::<crate::verify::VerifyRequest>(request, "verify request").and_then(|r| {
        let statements: Vec<String> = parse(statements, "statements")?;
        crate::verify::mv_chunk_sql(&r, &statements)
    }))
}

/// `verify`: the verdicts from the queries' answers.
#[wasm_bindgen(js_name = verifyJudge)]
pub fn verify_judge(request: &str, answers: &str) -> String {
    envelope(parse::<crate::verify::VerifyRequest>(request, "verify request").and_then(|r| {
        let answers: crate::verify::Answers = parse(answers, "verify answers")?;
        crate::verify::judge(&r, &answers)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert_eq!(resolve_options("null").len() > 10, true);
        let bad = resolve_options(r#"{"nope":1}"#);
        assert!(bad.starts_with(r#"{"ok":false,"error":{"kind":"usage","code":"invalid_option""#), "{bad}");
        let garbage = String::from_utf8(build_plan("{")).unwrap();
        assert!(garbage.contains("\"invalid_input\""));
    }

    #[test]
    fn run_handles() {
        let facts = r#"{"planId":"p","strategy":"table","target":"a.b","timeColumn":"t",
            "from":"2025-01-01T00:00:00Z","to":"2025-01-01T01:00:00Z","chunkHours":1,"chunkCount":1,
            "firstChunk":null,"lastChunk":null}"#;
        let open: serde_json::Value = serde_json::from_str(&run_open(facts, "", "0")).unwrap();
        let h = open["value"]["handle"].to_string();
        assert_eq!(open["value"]["readFrom"], 0);
        assert!(run_summary(&h).contains("run_loading"));
        assert!(run_feed(&h, "", "true").contains(r#""report":{"#));
        let started = run_apply(&h, r#"{"at":1,"event":"run_started","mode":"run","compatibility":"x","pid":1,"host":"h",
            "settings":{"maxParallelChunks":1,"maxRetriesPerChunk":3,"retryDelayMs":10}}"#);
        assert!(started.starts_with(r#"{"ok":true,"value":{"seq":1,"#), "{started}");
        assert!(!started.contains("\"gen\""), "generation 0 is not written: {started}");
        assert!(run_begin_writer(&h).contains(r#""value":1"#));
        assert!(run_apply(&h, r#"{"at":1,"event":"note","message":"m"}"#).contains(r#""gen":1"#));
        let snap = run_snapshot(&h, "10");
        let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
        assert_eq!(snap["value"]["eventOffset"], 10);
        let actions = run_next_actions(&h, "2", "0");
        assert!(actions.contains("start_chunk"), "{actions}");
        assert!(run_apply(&h, r#"{"at":1,"event":"chunk_succeeded","chunk":0,"rows":1}"#).contains("invalid_transition"));
        assert!(run_close(&h).contains("true"));
        assert!(run_summary(&h).contains("no_run"));
    }
}
