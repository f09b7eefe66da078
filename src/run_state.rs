//! The run of a plan as a pure state machine ("sans-IO"). The driver feeds
//! events in (`apply`) and asks what to do next (`next_actions(now, in_flight)`);
//! it owns SQL, clocks, timers and files. Every transition is an event line in
//! the log, so the state is the fold of the log over the plan.

use crate::chunks::build_chunks;
use crate::error::{CoreError, CoreResult};
use crate::fence::{line_verdict, LineVerdict};
use crate::ids;
use crate::sql::{self, TableRef};
use crate::window::{format_instant, parse_instant, Window};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Paused,
    Cancelled,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkStatus {
    Pending,
    Running,
    Done,
    Failed,
    /// The window held no rows to insert.
    Skipped,
}

/// A failure as the server (or the driver) reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkError {
    /// ClickHouse error code; absent when no server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub message: String,
    /// `server`, `network`, `aborted`, or `check` (a row-count check of the driver).
    #[serde(default = "default_origin")]
    pub origin: String,
}

fn default_origin() -> String {
    "server".into()
}

/// Server errors a retry cannot fix: the statement or the schema is wrong,
/// or we may not do it. Everything else (network, timeouts, overload,
/// unknown codes) is retried within the budget.
const PERMANENT_CODES: &[i64] = &[
    1,   // UNSUPPORTED_METHOD
    6,   // CANNOT_PARSE_TEXT
    10,  // NOT_FOUND_COLUMN_IN_BLOCK
    16,  // NO_SUCH_COLUMN_IN_TABLE
    20,  // NUMBER_OF_COLUMNS_DOESNT_MATCH
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    36,  // BAD_ARGUMENTS
    41,  // CANNOT_PARSE_DATETIME
    42,  // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    44,  // ILLEGAL_COLUMN
    46,  // UNKNOWN_FUNCTION
    47,  // UNKNOWN_IDENTIFIER
    48,  // NOT_IMPLEMENTED
    53,  // TYPE_MISMATCH
    60,  // UNKNOWN_TABLE
    62,  // SYNTAX_ERROR
    70,  // CANNOT_CONVERT_TYPE
    81,  // UNKNOWN_DATABASE
    115, // UNKNOWN_SETTING
    164, // READONLY
    179, // MULTIPLE_EXPRESSIONS_FOR_ALIAS
    184, // ILLEGAL_AGGREGATION
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    215, // NOT_AN_AGGREGATE
    352, // AMBIGUOUS_COLUMN_NAME
    386, // NO_COMMON_TYPE
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// Whether retrying can fix this failure.
pub fn is_retryable(e: &ChunkError) -> bool {
    match e.origin.as_str() {
        "check" => false,
        "server" => e.code.map_or(true, |c| !PERMANENT_CODES.contains(&c)),
        _ => true,
    }
}

/// Delay before the next attempt after `failures` failed ones:
/// `retryDelayMs · 2^(failures-1)`, saturating.
pub fn backoff_ms(retry_delay_ms: u64, failures: u32) -> u64 {
    let exp = failures.saturating_sub(1).min(40);
    retry_delay_ms.saturating_mul(1u64 << exp)
}

/// Hash of what decides the data a run writes: the plan file exactly as
/// stored (its sha256, hex, taken by the shim as it reads the file) and the
/// options that change generated rows.
pub fn compatibility_token(plan_sha256: &str, data_options: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(plan_sha256.as_bytes());
    h.update(b"\n");
    h.update(data_options.to_string().as_bytes());
    ids::hex(&h.finalize()[..12])
}

/// What the machine needs of the plan: no SQL text and nothing per chunk.
/// The chunks are cut again from the plan's window the way `plan` cut them
/// (`chunks::build_chunks`, `ids::chunk_ids`) and checked against the plan
/// file's chunk lines, so opening a run of 100,000 chunks copies no chunk list
/// across the WASM boundary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFacts {
    pub plan_id: String,
    pub strategy: String,
    pub target: String,
    #[serde(default)]
    pub source: Option<String>,
    pub time_column: String,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default = "default_db")]
    pub default_database: String,
    /// The plan's window and chunk length.
    pub from: String,
    pub to: String,
    /// Absent when `volume` sizes the chunks.
    #[serde(default)]
    pub chunk_hours: Option<f64>,
    /// A volume-sized plan's header record: its chunks are the windows it lists.
    #[serde(default)]
    pub volume: Option<crate::volume::VolumeHeader>,
    /// INSERTs per chunk (`mv_replay`: one per view).
    #[serde(default = "one")]
    pub statements_per_chunk: u32,
    /// What the plan file holds: the number of chunk lines, and the first and last chunk.
    /// No count: the lines were not read (a read-only summary; `run` reads and checks them all),
    /// and the window's cut is taken.
    #[serde(default)]
    pub chunk_count: Option<usize>,
    pub first_chunk: Option<ChunkFacts>,
    pub last_chunk: Option<ChunkFacts>,
}

fn default_db() -> String {
    "default".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChunkFacts {
    pub id: String,
    pub from: String,
    pub to: String,
}

fn one() -> u32 {
    1
}

/// Per-run knobs, recorded in `run_started` so the log says what was used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSettings {
    pub max_parallel_chunks: u32,
    pub max_retries_per_chunk: u32,
    pub retry_delay_ms: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings { max_parallel_chunks: 1, max_retries_per_chunk: 3, retry_delay_ms: 1000 }
    }
}

/// Row counts taken before the first attempt: what the window held in the
/// target, and how many rows one execution adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    #[serde(rename = "b")]
    pub before: u64,
    #[serde(rename = "e")]
    pub expected: u64,
}

/// Compact per-chunk record (snapshot field names are short on purpose:
/// a snapshot of 100,000 chunks is rewritten about once a second).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkState {
    #[serde(rename = "s")]
    pub status: ChunkStatus,
    /// Attempts started, over the life of the plan.
    #[serde(rename = "a", default)]
    pub attempts: u32,
    /// Failed attempts since the chunk last became runnable: the retry budget.
    #[serde(rename = "f", default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    #[serde(rename = "r", default, skip_serializing_if = "is_zero_u64")]
    pub rows: u64,
    #[serde(rename = "n", default, skip_serializing_if = "is_zero")]
    pub statements_done: u32,
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
    #[serde(rename = "bl", default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// The baseline came from the grid count at this run's start (`windows_measured`) and no
    /// attempt has started since: the next attempt inserts without counting first.
    #[serde(rename = "bf", default, skip_serializing_if = "is_false")]
    pub baseline_fresh: bool,
    /// The last attempt ended without a known outcome (crash, kill, pause).
    #[serde(rename = "u", default, skip_serializing_if = "is_false")]
    pub uncertain: bool,
    /// Its next attempt was announced (`chunks_intended`) and has not logged `chunk_started`:
    /// that line need not be durable before the insert, so the attempt may have been sent.
    #[serde(rename = "i", default, skip_serializing_if = "is_false")]
    pub intended: bool,
    /// Running, its INSERT returned (`chunk_inserted`): waiting for its window's count.
    #[serde(rename = "ins", default, skip_serializing_if = "is_false")]
    pub inserted: bool,
    /// Failed in a way only a person can resolve (a partial write was found).
    #[serde(rename = "op", default, skip_serializing_if = "is_false")]
    pub needs_operator: bool,
    /// Done, but its outcome could not be checked (see `Event::ChunkSucceeded`).
    #[serde(rename = "uv", default, skip_serializing_if = "is_false")]
    pub unverified: bool,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ChunkError>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}
fn is_false(b: &bool) -> bool {
    !*b
}

impl ChunkState {
    /// Whether a run started now (`mode`, replay flags) would execute this chunk: pending and
    /// interrupted chunks always; failed ones on resume (those waiting for an operator only
    /// with --replay-failed); done and skipped ones with --replay-done.
    pub fn runs_when_started(&self, mode: RunMode, replay_done: bool, replay_failed: bool) -> bool {
        match self.status {
            ChunkStatus::Pending | ChunkStatus::Running => true,
            ChunkStatus::Failed => replay_failed || (mode == RunMode::Resume && !self.needs_operator),
            ChunkStatus::Done | ChunkStatus::Skipped => replay_done,
        }
    }

    fn new() -> Self {
        ChunkState {
            status: ChunkStatus::Pending,
            attempts: 0,
            failures: 0,
            rows: 0,
            statements_done: 0,
            retry_at: None,
            baseline: None,
            baseline_fresh: false,
            uncertain: false,
            intended: false,
            inserted: false,
            needs_operator: false,
            unverified: false,
            last_error: None,
        }
    }
    /// Pending and not waiting for a retry time.
    fn is_fresh(&self) -> bool {
        self.status == ChunkStatus::Pending && self.retry_at.is_none()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkCounts {
    pub total: usize,
    pub pending: usize,
    pub running: usize,
    /// Of `running`: inserted, waiting for the count that checks their windows.
    #[serde(default)]
    pub checking: usize,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Run,
    Resume,
}

/// One line of `events/<planId>.ndjson`. `seq` and `at` are on the line too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    RunStarted {
        mode: RunMode,
        compatibility: String,
        pid: u32,
        host: String,
        #[serde(default)]
        replay_done: bool,
        #[serde(default)]
        replay_failed: bool,
        settings: RunSettings,
        /// Policy overrides the operator gave (`--force-overlap`, ...).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        forced: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    LockTakenOver { previous_pid: u32, previous_host: String, reason: String },
    /// Write-ahead for several attempts at once: the next attempt of each listed chunk may be
    /// sent from now on. Durable before the first of them is sent; their own `chunk_started`
    /// lines then need no fsync of their own (one fsync covers many chunks). A run that stops
    /// before starting some of them says so by `run_finished`; a crash leaves them uncertain.
    #[serde(rename_all = "camelCase")]
    ChunksIntended { chunks: Vec<usize> },
    #[serde(rename_all = "camelCase")]
    ChunkStarted { chunk: usize, chunk_id: String, attempt: u32, query_id: String },
    /// The chunk's INSERT returned; it is done once the count of its window (one query for
    /// several chunks) says so. Still running: a crash leaves it uncertain, counted on resume.
    #[serde(rename_all = "camelCase")]
    ChunkInserted {
        chunk: usize,
        /// How long the INSERT took as the run saw it (sent → returned), for where a run's time
        /// went; absent in logs of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statement_ms: Option<f64>,
    },
    /// Row counts before the first attempt; durable before the insert starts.
    #[serde(rename_all = "camelCase")]
    ChunkMeasured {
        chunk: usize,
        before: u64,
        expected: u64,
        /// Checksum of the target's window before the first attempt (`verify::Checksum`),
        /// for `verify` to compare with; absent in logs of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<String>,
    },
    /// Baselines of many `table` chunks from one count over the chunk grid at run start,
    /// durable before the first insert: `before[k]`, `expected[k]` and `checksums[k]` (as
    /// `chunk_measured` records them, for `verify`) belong to `chunks[k]`, each a chunk that is
    /// pending and not yet measured. Without `checksums`, `verify` compares counts only.
    #[serde(rename_all = "camelCase")]
    WindowsMeasured {
        chunks: Vec<usize>,
        before: Vec<u64>,
        expected: Vec<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checksums: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    StatementSucceeded { chunk: usize, statement: u32, rows: u64 },
    #[serde(rename_all = "camelCase")]
    ChunkSucceeded {
        chunk: usize,
        rows: u64,
        /// Found applied by a check after a crash or failure, not executed now.
        #[serde(default, skip_serializing_if = "is_false")]
        recovered: bool,
        /// Sent again after a crash, it wrote no rows, and no count can tell whether the
        /// crashed attempt had written them (mv_replay): an operator should compare.
        #[serde(default, skip_serializing_if = "is_false")]
        unverified: bool,
        /// As `chunk_inserted`'s: the time of the chunk's statements in this attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statement_ms: Option<f64>,
    },
    #[serde(rename_all = "camelCase")]
    ChunkSkipped { chunk: usize, reason: String },
    #[serde(rename_all = "camelCase")]
    ChunkFailed {
        chunk: usize,
        error: ChunkError,
        /// Filled in by `apply` from the error; input values are ignored.
        #[serde(default)]
        retryable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<i64>,
        #[serde(default, skip_serializing_if = "is_false")]
        needs_operator: bool,
    },
    /// Stopped by cancel or pause before finishing; the outcome is unknown.
    #[serde(rename_all = "camelCase")]
    ChunkInterrupted { chunk: usize },
    #[serde(rename_all = "camelCase")]
    CancelRequested { by: String },
    #[serde(rename_all = "camelCase")]
    PauseRequested { signal: String },
    #[serde(rename_all = "camelCase")]
    RunFinished { status: RunStatus },
    #[serde(rename_all = "camelCase")]
    Note { message: String },
}

/// An event line: the event plus its sequence number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub seq: u64,
    pub at: i64,
    /// The writer's generation (`fence`); 0 on lines written before generations.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub gen: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    #[serde(rename_all = "camelCase")]
    StartChunk {
        chunk: usize,
        chunk_id: String,
        attempt: u32,
        /// One per statement still to run (index `statementsDone..`).
        query_ids: Vec<String>,
        statements_done: u32,
        /// Query ids of the previous attempt when its statements may still run on the
        /// server (a crash, or a failure the server did not report): kill them first.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        previous_query_ids: Vec<String>,
        /// Counts recorded before the first attempt: check before re-executing.
        #[serde(skip_serializing_if = "Option::is_none")]
        verify: Option<Baseline>,
        uncertain: bool,
        /// Chunks (this one first) whose next attempts the driver logs as `chunks_intended`
        /// before this attempt's first statement; empty when an earlier announcement covers it.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        announce: Vec<usize>,
        /// `SELECT count()` of the window in the target; absent when it cannot be counted.
        #[serde(skip_serializing_if = "Option::is_none")]
        count_target_sql: Option<String>,
        /// Rows one execution inserts (copy: the source window; table: the target window).
        #[serde(skip_serializing_if = "Option::is_none")]
        count_expected_sql: Option<String>,
        /// The first measurement of the target's window: its count (`c`) with its checksum
        /// (`h1`, `h2`), recorded in `chunk_measured` for `verify`; absent once measured.
        #[serde(skip_serializing_if = "Option::is_none")]
        measure_target_sql: Option<String>,
        /// Counted at this run's start (`windows_measured`), no attempt since: insert without
        /// counting first (`verify` is then absent).
        #[serde(skip_serializing_if = "Option::is_none")]
        measured: Option<Baseline>,
    },
    #[serde(rename_all = "camelCase")]
    WaitUntil { at: i64 },
    #[serde(rename_all = "camelCase")]
    Finish { status: RunStatus },
}

/// See `RunState::baseline_grid`. Rows `{ __chkit_chunk, __chkit_c, __chkit_h1, __chkit_h2 }`;
/// a chunk without a row holds no rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineGrid {
    pub chunks: Vec<usize>,
    pub sql: String,
}

/// A grid count at run start reads at most this many windows, less one, that it does not need
/// between two it does.
const GRID_GAP: usize = 8;

/// Whether instants of a time column of this type convert exactly to the milliseconds the
/// grid divides: `DateTime`, `DateTime64` (maybe Nullable/LowCardinality); not `Date`.
pub fn grid_countable(column_type: &str) -> bool {
    matches!(crate::time_column::resolution(column_type), Some(crate::time_column::Resolution::SecondDigits(_)))
}

/// The compact snapshot written to `runs/<planId>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: u32,
    pub plan_id: String,
    /// `None` until the first `run_started`.
    pub status: Option<RunStatus>,
    /// Last event folded in, and the byte length of the log up to it.
    pub seq: u64,
    pub event_offset: u64,
    /// The newest writer generation folded in (`fence`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub generation: u64,
    pub updated_at: i64,
    pub compatibility: Option<String>,
    pub sessions: u32,
    pub attempts: u64,
    pub rows_written: u64,
    pub chunk_counts: ChunkCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ChunkError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<RunStatus>,
    pub settings: RunSettings,
    pub chunks: Vec<ChunkState>,
}

#[derive(Debug, Clone)]
pub struct RunState {
    pub facts: PlanFacts,
    target: TableRef,
    source: Option<TableRef>,
    windows: Vec<Window>,
    pub snap: Snapshot,
    /// First index that may hold a fresh pending chunk.
    cursor: usize,
    /// Chunks pending with a retry time.
    waiting: Vec<usize>,
}

/// The chunk windows of a plan as its header gives them: equal hours, or the boundaries a
/// volume-sized plan recorded (checked against its grid and window).
pub fn plan_windows(facts: &PlanFacts, window: Window) -> CoreResult<Vec<Window>> {
    let mismatch = |what: String| {
        CoreError::runtime(
            "plan_mismatch",
            format!("plan {}: {what}; the plan file was edited or made by an incompatible version: make the plan again", facts.plan_id),
        )
    };
    match (&facts.volume, facts.chunk_hours) {
        (Some(v), None) => crate::volume::header_windows(window, v).map_err(mismatch),
        (None, Some(h)) => build_chunks(window, h),
        _ => Err(mismatch("its header sizes chunks by neither hours nor volume, or by both".into())),
    }
}

/// A chunk's id, as `plan` derived it from the chunk's window.
fn chunk_id(plan_id: &str, w: Window) -> String {
    ids::chunk_id(plan_id, &format_instant(w.from), &format_instant(w.to))
}

/// Chunks per `chunks_intended`: one fsync per this many chunks; after a crash, at most this
/// many not-yet-started chunks are checked before they run.
const INTENT_BATCH: usize = 32;

fn invalid(msg: String) -> CoreError {
    CoreError::runtime("invalid_transition", msg)
}

impl RunState {
    pub fn new(facts: PlanFacts) -> CoreResult<Self> {
        let target = sql::parse_table(&facts.target, &facts.default_database, "plan target")?;
        let source = match &facts.source {
            Some(s) => Some(sql::parse_table(s, &facts.default_database, "plan source")?),
            None => None,
        };
        let window = Window { from: parse_instant(&facts.from, "plan from")?, to: parse_instant(&facts.to, "plan to")? };
        let mismatch = |what: String| {
            CoreError::runtime(
                "plan_mismatch",
                format!("plan {}: {what}; the plan file was edited or made by an incompatible version: make the plan again", facts.plan_id),
            )
        };
        let windows = plan_windows(&facts, window)?;
        let n = windows.len();
        if let Some(lines) = facts.chunk_count.filter(|&lines| lines != n) {
            return Err(mismatch(format!("its window cuts into {n} chunks, but the file has {lines}")));
        }
        for (i, given) in [(0, &facts.first_chunk), (n.wrapping_sub(1), &facts.last_chunk)] {
            let Some(given) = given else { continue };
            let w = windows.get(i).copied();
            let cut = w.map(|w| ChunkFacts { id: chunk_id(&facts.plan_id, w), from: format_instant(w.from), to: format_instant(w.to) });
            if cut.as_ref() != Some(given) {
                return Err(mismatch(format!("chunk {} in the file is {} {} → {}, not the chunk its window cuts", i + 1, given.id, given.from, given.to)));
            }
        }
        let snap = Snapshot {
            version: 1,
            plan_id: facts.plan_id.clone(),
            status: None,
            seq: 0,
            event_offset: 0,
            generation: 0,
            updated_at: 0,
            compatibility: None,
            sessions: 0,
            attempts: 0,
            rows_written: 0,
            chunk_counts: ChunkCounts { total: n, pending: n, ..Default::default() },
            last_error: None,
            stopping: None,
            settings: RunSettings::default(),
            chunks: vec![ChunkState::new(); n],
        };
        Ok(RunState { facts, target, source, windows, snap, cursor: 0, waiting: Vec::new() })
    }

    /// Continue from a stored snapshot (already checked against this plan).
    pub fn from_snapshot(facts: PlanFacts, snap: Snapshot) -> CoreResult<Self> {
        let mut s = RunState::new(facts)?;
        if snap.plan_id != s.facts.plan_id || snap.chunks.len() != s.windows.len() {
            return Err(CoreError::runtime(
                "snapshot_mismatch",
                format!("snapshot is for plan {} with {} chunks", snap.plan_id, snap.chunks.len()),
            ));
        }
        s.snap = snap;
        s.reindex();
        Ok(s)
    }

    fn reindex(&mut self) {
        let mut c = ChunkCounts { total: self.snap.chunks.len(), ..Default::default() };
        self.waiting.clear();
        for (i, ch) in self.snap.chunks.iter().enumerate() {
            match ch.status {
                ChunkStatus::Pending => c.pending += 1,
                ChunkStatus::Running => {
                    c.running += 1;
                    c.checking += usize::from(ch.inserted);
                }
                ChunkStatus::Done => c.done += 1,
                ChunkStatus::Failed => c.failed += 1,
                ChunkStatus::Skipped => c.skipped += 1,
            }
            if ch.status == ChunkStatus::Pending && ch.retry_at.is_some() {
                self.waiting.push(i);
            }
        }
        self.snap.chunk_counts = c;
        self.cursor = 0;
        self.advance_cursor();
    }

    fn advance_cursor(&mut self) {
        while self.cursor < self.snap.chunks.len() && !self.snap.chunks[self.cursor].is_fresh() {
            self.cursor += 1;
        }
    }

    fn set_status(&mut self, i: usize, s: ChunkStatus) {
        fn counter(c: &mut ChunkCounts, s: ChunkStatus) -> &mut usize {
            match s {
                ChunkStatus::Pending => &mut c.pending,
                ChunkStatus::Running => &mut c.running,
                ChunkStatus::Done => &mut c.done,
                ChunkStatus::Failed => &mut c.failed,
                ChunkStatus::Skipped => &mut c.skipped,
            }
        }
        let old = self.snap.chunks[i].status;
        if std::mem::take(&mut self.snap.chunks[i].inserted) {
            self.snap.chunk_counts.checking -= 1;
        }
        *counter(&mut self.snap.chunk_counts, old) -= 1;
        *counter(&mut self.snap.chunk_counts, s) += 1;
        self.snap.chunks[i].status = s;
    }

    fn chunk(&self, i: usize) -> CoreResult<&ChunkState> {
        self.snap.chunks.get(i).ok_or_else(|| invalid(format!("no chunk {i} in plan")))
    }

    fn expect_status(&self, i: usize, want: ChunkStatus, what: &str) -> CoreResult<()> {
        let st = self.chunk(i)?.status;
        if st != want {
            return Err(invalid(format!("{what} for chunk {i} which is {st:?}, not {want:?}")));
        }
        Ok(())
    }

    fn expect_running_run(&self, what: &str) -> CoreResult<()> {
        if self.snap.status != Some(RunStatus::Running) {
            return Err(invalid(format!("{what} while the run is {:?}", self.snap.status)));
        }
        Ok(())
    }

    /// Fold one event in; returns the event as it must be logged (with
    /// derived fields such as `retryable`/`retryAt` filled in).
    pub fn apply(&mut self, line: EventLine) -> CoreResult<EventLine> {
        let mut line = line;
        if line.seq != self.snap.seq + 1 {
            return Err(invalid(format!("event seq {} after {}", line.seq, self.snap.seq)));
        }
        match line_verdict(self.snap.generation, line.gen) {
            LineVerdict::Apply => {}
            LineVerdict::NewWriter => self.snap.generation = line.gen,
            LineVerdict::FencedOut => {
                return Err(CoreError::runtime(
                    "lock_lost",
                    format!("an event of writer generation {} after generation {}: that writer lost the plan's lock", line.gen, self.snap.generation),
                ))
            }
        }
        let at = line.at;
        match &mut line.event {
            Event::RunStarted { compatibility, replay_done, replay_failed, settings, mode, .. } => {
                // A status still `running` here means the previous process died:
                // the driver only starts after taking the plan lock.
                self.snap.status = Some(RunStatus::Running);
                self.snap.stopping = None;
                self.snap.sessions += 1;
                self.snap.compatibility = Some(compatibility.clone());
                self.snap.settings = *settings;
                for ch in self.snap.chunks.iter_mut() {
                    if ch.intended {
                        // Announced by a writer that stopped without saying it was not sent (a
                        // crash, or a power loss that took its `chunk_started`): it may have run.
                        // Counted as that attempt, so its query ids are the ones to look for.
                        ch.intended = false;
                        ch.attempts += 1;
                        self.snap.attempts += 1;
                        ch.uncertain = true;
                        ch.baseline_fresh = false;
                    }
                    if ch.baseline_fresh {
                        // Counted at an earlier run's start, never attempted: counted again.
                        ch.baseline = None;
                        ch.baseline_fresh = false;
                    }
                    if !ch.runs_when_started(*mode, *replay_done, *replay_failed) {
                        ch.retry_at = None;
                        continue;
                    }
                    match ch.status {
                        // Left running by a crash: its outcome is checked before it runs again.
                        ChunkStatus::Running => {
                            ch.status = ChunkStatus::Pending;
                            ch.uncertain = true;
                            ch.inserted = false;
                        }
                        ChunkStatus::Failed => {
                            if ch.needs_operator {
                                // The operator checked the window. Its baseline stays: a count of
                                // before + expected (the chunk's rows kept) is done, a count of
                                // before is sent, anything else stops again; measuring afresh
                                // would send the rows a second time over a window that holds them.
                                // Statements done stay done: a replay continues at the one
                                // that was interrupted, so earlier views are not fed twice.
                                ch.uncertain = false;
                            }
                            ch.status = ChunkStatus::Pending;
                            ch.needs_operator = false;
                            ch.failures = 0;
                        }
                        ChunkStatus::Done | ChunkStatus::Skipped => {
                            ch.status = ChunkStatus::Pending;
                            ch.baseline = None;
                            ch.uncertain = false;
                            ch.failures = 0;
                            ch.statements_done = 0;
                        }
                        _ => {}
                    }
                    ch.retry_at = None;
                }
                self.reindex();
            }
            Event::LockTakenOver { .. } | Event::Note { .. } => {}
            Event::ChunksIntended { chunks } => {
                self.expect_running_run("chunks_intended")?;
                for &i in chunks.iter() {
                    self.expect_status(i, ChunkStatus::Pending, "chunks_intended")?;
                }
                for &i in chunks.iter() {
                    self.snap.chunks[i].intended = true;
                }
            }
            Event::ChunkStarted { chunk, attempt, .. } => {
                let i = *chunk;
                self.expect_running_run("chunk_started")?;
                self.expect_status(i, ChunkStatus::Pending, "chunk_started")?;
                let ch = &self.snap.chunks[i];
                if *attempt != ch.attempts + 1 {
                    return Err(invalid(format!("chunk {i} attempt {attempt} after {}", ch.attempts)));
                }
                if ch.retry_at.is_some() {
                    self.waiting.retain(|w| *w != i);
                }
                self.set_status(i, ChunkStatus::Running);
                let ch = &mut self.snap.chunks[i];
                ch.attempts = *attempt;
                ch.retry_at = None;
                ch.baseline_fresh = false;
                ch.intended = false;
                self.snap.attempts += 1;
                self.advance_cursor();
            }
            Event::ChunkInserted { chunk, .. } => {
                self.expect_status(*chunk, ChunkStatus::Running, "chunk_inserted")?;
                let ch = &mut self.snap.chunks[*chunk];
                if !ch.inserted {
                    ch.inserted = true;
                    self.snap.chunk_counts.checking += 1;
                }
            }
            Event::ChunkMeasured { chunk, before, expected, .. } => {
                self.expect_status(*chunk, ChunkStatus::Running, "chunk_measured")?;
                self.snap.chunks[*chunk].baseline = Some(Baseline { before: *before, expected: *expected });
            }
            Event::WindowsMeasured { chunks, before, expected, checksums } => {
                self.expect_running_run("windows_measured")?;
                if chunks.len() != before.len() || chunks.len() != expected.len() || !(checksums.is_empty() || chunks.len() == checksums.len()) {
                    return Err(invalid("windows_measured with lists of different lengths".into()));
                }
                for &i in chunks.iter() {
                    let ch = self.chunk(i)?;
                    if ch.status != ChunkStatus::Pending || ch.baseline.is_some() || ch.uncertain {
                        return Err(invalid(format!("windows_measured for chunk {i}, which is not pending and unmeasured")));
                    }
                }
                for (k, &i) in chunks.iter().enumerate() {
                    let ch = &mut self.snap.chunks[i];
                    ch.baseline = Some(Baseline { before: before[k], expected: expected[k] });
                    ch.baseline_fresh = true;
                }
            }
            Event::StatementSucceeded { chunk, statement, rows } => {
                self.expect_status(*chunk, ChunkStatus::Running, "statement_succeeded")?;
                let ch = &mut self.snap.chunks[*chunk];
                ch.statements_done = *statement + 1;
                ch.rows += *rows;
                self.snap.rows_written += *rows;
            }
            Event::ChunkSucceeded { chunk, rows, unverified, .. } => {
                let i = *chunk;
                self.expect_status(i, ChunkStatus::Running, "chunk_succeeded")?;
                self.set_status(i, ChunkStatus::Done);
                let ch = &mut self.snap.chunks[i];
                ch.rows += *rows;
                ch.unverified = *unverified;
                ch.uncertain = false;
                ch.last_error = None;
                ch.statements_done = 0;
                self.snap.rows_written += *rows;
            }
            Event::ChunkSkipped { chunk, .. } => {
                self.expect_status(*chunk, ChunkStatus::Running, "chunk_skipped")?;
                self.set_status(*chunk, ChunkStatus::Skipped);
                let ch = &mut self.snap.chunks[*chunk];
                ch.uncertain = false;
                ch.last_error = None;
            }
            Event::ChunkFailed { chunk, error, retryable, retry_at, needs_operator } => {
                let i = *chunk;
                self.expect_status(i, ChunkStatus::Running, "chunk_failed")?;
                *retryable = !*needs_operator && is_retryable(error);
                let settings = self.snap.settings;
                let ch = &mut self.snap.chunks[i];
                ch.failures += 1;
                ch.last_error = Some(error.clone());
                self.snap.last_error = Some(error.clone());
                if *retryable && ch.failures < settings.max_retries_per_chunk {
                    let when = at.saturating_add(backoff_ms(settings.retry_delay_ms, ch.failures) as i64);
                    *retry_at = Some(when);
                    ch.retry_at = Some(when);
                    self.set_status(i, ChunkStatus::Pending);
                    self.waiting.push(i);
                } else {
                    *retry_at = None;
                    ch.needs_operator = *needs_operator;
                    self.set_status(i, ChunkStatus::Failed);
                }
            }
            Event::ChunkInterrupted { chunk } => {
                self.expect_status(*chunk, ChunkStatus::Running, "chunk_interrupted")?;
                self.set_status(*chunk, ChunkStatus::Pending);
                self.snap.chunks[*chunk].uncertain = true;
                if *chunk < self.cursor {
                    self.cursor = *chunk;
                }
            }
            Event::CancelRequested { .. } => {
                self.expect_running_run("cancel_requested")?;
                self.snap.stopping = Some(RunStatus::Cancelled);
            }
            Event::PauseRequested { .. } => {
                self.expect_running_run("pause_requested")?;
                if self.snap.stopping.is_none() {
                    self.snap.stopping = Some(RunStatus::Paused);
                }
            }
            Event::RunFinished { status } => {
                if self.snap.chunk_counts.running > 0 {
                    return Err(invalid("run_finished with chunks still running".into()));
                }
                if *status == RunStatus::Running {
                    return Err(invalid("run_finished with status running".into()));
                }
                self.snap.status = Some(*status);
                self.snap.stopping = None;
                // Nothing is in flight: what was announced and not started was not sent.
                for ch in self.snap.chunks.iter_mut() {
                    ch.intended = false;
                }
            }
        }
        self.snap.seq = line.seq;
        self.snap.updated_at = at;
        Ok(line)
    }

    /// Become the log's next writer (after taking the plan's lock and loading the log):
    /// every line applied from now on carries the new generation. → the generation.
    pub fn begin_writer(&mut self) -> u64 {
        self.snap.generation += 1;
        self.snap.generation
    }

    fn count_sql(&self, table: &TableRef, i: usize) -> String {
        sql::window_count_sql(table, &self.facts.time_column, self.windows[i])
    }

    /// The chunks a grid count at run start measures (`table` only: a copy's source may still
    /// be filling, so it is counted just before each insert) and its SQL (`verify::grid_measure_sql`:
    /// per chunk the count and checksum `chunk_measured` records), or `None` when no chunk
    /// needs it. The caller checks that the time column converts exactly (`grid_countable`).
    /// One count scans the span from its first chunk to its last: chunks far apart (a resume
    /// of a few failed chunks of a long plan) are counted in several, each asked for once the
    /// one before it is recorded, so no count reads long stretches of windows it does not need.
    pub fn baseline_grid(&self) -> CoreResult<Option<BaselineGrid>> {
        if !self.countable() || self.facts.strategy != "table" || self.snap.status != Some(RunStatus::Running) {
            return Ok(None);
        }
        let chunks: Vec<usize> = (0..self.snap.chunks.len())
            .filter(|&i| {
                let c = &self.snap.chunks[i];
                c.status == ChunkStatus::Pending && c.baseline.is_none() && !c.uncertain
            })
            .collect();
        if chunks.is_empty() {
            return Ok(None);
        }
        // The first run of chunks with fewer than GRID_GAP windows between neighbours.
        let end = chunks.windows(2).position(|p| p[1] - p[0] > GRID_GAP).map_or(chunks.len(), |k| k + 1);
        let chunks = chunks[..end].to_vec();
        let sql = crate::verify::grid_measure_sql(&self.facts, &chunks)?;
        Ok(Some(BaselineGrid { chunks, sql }))
    }

    /// One count of the target's windows of `chunks` (each running, inserted, not yet checked).
    /// `on_grid` (the caller found the time column's instants convert exactly to milliseconds,
    /// `grid_countable`): where the chunks lie close together, one GROUP BY over the span from
    /// the first to the last (`sql::span_count_sql`), a scan and a plan for all of them;
    /// otherwise `sql::windows_count_sql`, the count `count_target_sql` gives each, united.
    /// Either way, rows `__chkit_chunk, c`; a chunk with no row counted none.
    pub fn check_counts_sql(&self, chunks: &[usize], on_grid: bool) -> CoreResult<String> {
        if !self.countable() || chunks.is_empty() {
            return Err(invalid(format!("no window count for chunks {chunks:?} of this plan")));
        }
        for &i in chunks {
            self.expect_status(i, ChunkStatus::Running, "a window count")?;
        }
        let (first, last) = (*chunks.iter().min().expect("not empty"), *chunks.iter().max().expect("not empty"));
        // Chunks in the span that are not counted here are grouped apart and ignored: a span at
        // most twice the batch keeps that cheap (a retried chunk far behind the others is not).
        if on_grid && last - first < 2 * chunks.len() {
            return Ok(sql::span_count_sql(&self.target, &self.facts.time_column, first, &self.windows[first..=last]));
        }
        let windows: Vec<(usize, Window)> = chunks.iter().map(|&i| (i, self.windows[i])).collect();
        Ok(sql::windows_count_sql(&self.target, &self.facts.time_column, &windows))
    }

    /// The target can be counted per window only when it has the time column
    /// and a chunk is one INSERT into it.
    fn countable(&self) -> bool {
        let has_time = self.facts.columns.as_ref().map_or(true, |c| c.contains(&self.facts.time_column));
        self.facts.statements_per_chunk <= 1 && has_time && matches!(self.facts.strategy.as_str(), "table" | "copy")
    }

    /// How many chunks one `chunks_intended` announces. After a crash each announced chunk that
    /// had not started is checked like an interrupted one, so only where that check is cheap and
    /// settles it alone: a count of its window (table, copy) or a resend with its token (one
    /// statement). A chunk of several statements that cannot be counted would wait for an
    /// operator: it announces itself only.
    fn intent_batch(&self) -> usize {
        if self.countable() || self.facts.statements_per_chunk <= 1 {
            INTENT_BATCH
        } else {
            1
        }
    }

    /// The chunks chunk `i`'s start announces: none when it is announced already; else `i`
    /// and the next fresh chunks after it up to the batch, minus those in `covered` (announced
    /// by an earlier action of the same call), which this adds to.
    fn announce_for(&self, i: usize, covered: &mut Vec<usize>) -> Vec<usize> {
        if self.snap.chunks[i].intended || covered.contains(&i) {
            return Vec::new();
        }
        let mut out = vec![i];
        let mut j = i + 1;
        while out.len() < self.intent_batch() && j < self.snap.chunks.len() {
            let c = &self.snap.chunks[j];
            if c.is_fresh() && !c.intended && !covered.contains(&j) {
                out.push(j);
            }
            j += 1;
        }
        covered.extend_from_slice(&out);
        out
    }

    fn start_action(&self, i: usize, covered: &mut Vec<usize>) -> Action {
        let ch = &self.snap.chunks[i];
        let id = chunk_id(&self.facts.plan_id, self.windows[i]);
        let statements = self.facts.statements_per_chunk.max(1);
        let attempt = ch.attempts + 1;
        let query_ids =
            (ch.statements_done..statements).map(|s| ids::query_id(&self.facts.plan_id, &id, attempt, s as usize)).collect();
        // A server that reported the error has ended the statement; a lost connection has not.
        let unreported = ch.last_error.as_ref().is_some_and(|e| matches!(e.origin.as_str(), "network" | "aborted"));
        let previous_query_ids = if ch.attempts > 0 && (ch.uncertain || unreported) {
            (0..statements).map(|s| ids::query_id(&self.facts.plan_id, &id, ch.attempts, s as usize)).collect()
        } else {
            Vec::new()
        };
        let countable = self.countable();
        Action::StartChunk {
            chunk: i,
            chunk_id: id,
            attempt,
            query_ids,
            statements_done: ch.statements_done,
            previous_query_ids,
            verify: if ch.baseline_fresh { None } else { ch.baseline },
            measured: if ch.baseline_fresh { ch.baseline } else { None },
            uncertain: ch.uncertain,
            announce: self.announce_for(i, covered),
            count_target_sql: countable.then(|| self.count_sql(&self.target, i)),
            count_expected_sql: countable.then(|| self.count_sql(self.source.as_ref().unwrap_or(&self.target), i)),
            measure_target_sql: (countable && ch.baseline.is_none()).then(|| {
                crate::verify::measure_sql(&self.target, self.facts.columns.as_deref(), &self.facts.time_column, self.windows[i])
            }),
        }
    }

    /// What to do now, given the chunks the driver has in flight.
    /// Pure: calling it twice without an event in between gives the same answer.
    pub fn next_actions(&self, now: i64, in_flight: usize) -> Vec<Action> {
        if self.snap.status != Some(RunStatus::Running) {
            return Vec::new();
        }
        if let Some(stop) = self.snap.stopping {
            return if in_flight == 0 { vec![Action::Finish { status: stop }] } else { Vec::new() };
        }
        let mut out = Vec::new();
        let mut covered = Vec::new();
        let mut slots = (self.snap.settings.max_parallel_chunks.max(1) as usize).saturating_sub(in_flight);
        // Retries that are due go first, earliest first.
        let mut due: Vec<(i64, usize)> = self
            .waiting
            .iter()
            .filter_map(|&i| self.snap.chunks[i].retry_at.filter(|t| *t <= now).map(|t| (t, i)))
            .collect();
        due.sort_unstable();
        for (_, i) in due {
            if slots == 0 {
                break;
            }
            out.push(self.start_action(i, &mut covered));
            slots -= 1;
        }
        let mut i = self.cursor;
        while slots > 0 && i < self.snap.chunks.len() {
            if self.snap.chunks[i].is_fresh() {
                out.push(self.start_action(i, &mut covered));
                slots -= 1;
            }
            i += 1;
        }
        if out.is_empty() {
            let next_retry = self.waiting.iter().filter_map(|&i| self.snap.chunks[i].retry_at).min();
            if let Some(at) = next_retry {
                out.push(Action::WaitUntil { at });
            } else if in_flight == 0 && self.snap.chunk_counts.pending == 0 && self.snap.chunk_counts.running == 0 {
                let status = if self.snap.chunk_counts.failed > 0 { RunStatus::Failed } else { RunStatus::Completed };
                out.push(Action::Finish { status });
            }
        }
        out
    }
}

/// Load a run: the snapshot if it is sound, then the log lines after it.
/// A torn last line (a crash mid-append) is ignored and reported; any other
/// bad line is an error. A corrupt snapshot is rebuilt from the whole log.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub torn_tail: bool,
    pub snapshot_rebuilt: bool,
    /// Byte length of the sound part of the log (where the next line goes).
    pub log_bytes: u64,
    pub events_replayed: usize,
    /// Lines skipped as those of a writer that had lost the lock (`fence`).
    pub fenced_lines: usize,
}

/// Loading a run in steps, so the shim can stream a long event log through
/// in blocks instead of holding it whole: `begin` with the snapshot says where
/// to start reading, `feed` takes complete lines from there, `finish` hands
/// over the state.
pub struct Loading {
    facts: PlanFacts,
    state: RunState,
    report: LoadReport,
    /// Log byte offset of the next line to fold in.
    pos: u64,
    /// The snapshot claims the log up to `pos`: the first feed starts one byte
    /// earlier, which must be the newline ending the snapshot's last line.
    check_boundary: bool,
}

impl Loading {
    /// `log_len`: the event log's size in bytes.
    pub fn begin(facts: PlanFacts, snapshot: Option<&str>, log_len: u64) -> CoreResult<Loading> {
        let mut report = LoadReport { torn_tail: false, snapshot_rebuilt: false, log_bytes: 0, events_replayed: 0, fenced_lines: 0 };
        let from_snapshot = snapshot.map(|text| serde_json::from_str::<Snapshot>(text).ok().and_then(|s| RunState::from_snapshot(facts.clone(), s).ok()));
        if let Some(Some(st)) = &from_snapshot {
            // A sound snapshot says the log holds more than it does: the log lost events
            // (truncated, replaced). Rebuilding from it would forget chunks already applied.
            if st.snap.event_offset > log_len {
                return Err(CoreError::runtime(
                    "event_log_short",
                    format!(
                        "the event log holds {log_len} bytes but the run snapshot covers {}: the log was truncated or replaced; not replacing the run state",
                        st.snap.event_offset
                    ),
                ));
            }
        }
        report.snapshot_rebuilt = matches!(from_snapshot, Some(None));
        let state = match from_snapshot.flatten() {
            Some(st) => st,
            None => RunState::new(facts.clone())?,
        };
        let pos = state.snap.event_offset;
        Ok(Loading { facts, state, report, pos, check_boundary: pos > 0 })
    }

    /// Where the next `feed` must start: one byte before the first line when
    /// that byte has to be checked, else the first line not yet folded in.
    pub fn read_from(&self) -> u64 {
        self.pos - self.check_boundary as u64
    }

    /// Fold in the lines of `text`, which starts at `read_from()`; `at_end`:
    /// it reaches the end of the log. An incomplete last line is left for the
    /// next feed, or at the end is a torn tail (a crash mid-append), reported
    /// and dropped. Any other bad line is an error. → where to read next, or
    /// `None` when the log is done.
    pub fn feed(&mut self, text: &str, at_end: bool) -> CoreResult<Option<u64>> {
        let mut text = text;
        if self.check_boundary {
            self.check_boundary = false;
            match text.strip_prefix('\n') {
                Some(rest) => text = rest,
                None => {
                    // The snapshot's offset is not a line end: rebuild from the whole log.
                    self.state = RunState::new(self.facts.clone())?;
                    self.report.snapshot_rebuilt = true;
                    self.pos = 0;
                    return Ok(Some(0));
                }
            }
        }
        let mut lines = text.split_inclusive('\n').peekable();
        while let Some(raw) = lines.next() {
            let complete = raw.ends_with('\n');
            if !complete && !at_end {
                break;
            }
            let line = raw.trim_end_matches('\n');
            if line.trim().is_empty() {
                self.pos += raw.len() as u64;
                continue;
            }
            match serde_json::from_str::<EventLine>(line) {
                Ok(ev) if complete => {
                    if line_verdict(self.state.snap.generation, ev.gen) == LineVerdict::FencedOut {
                        self.report.fenced_lines += 1;
                    // Lines the snapshot already holds (one taken mid-log) are skipped.
                    } else if ev.seq > self.state.snap.seq {
                        let at = self.pos;
                        self.state.apply(ev).map_err(|e| {
                            CoreError::runtime("event_log_corrupt", format!("event log byte {at}: {}", e.message))
                        })?;
                        self.report.events_replayed += 1;
                    }
                    self.pos += raw.len() as u64;
                }
                _ if lines.peek().is_none() && !complete => {
                    self.report.torn_tail = true;
                    break;
                }
                Err(e) => {
                    return Err(CoreError::runtime(
                        "event_log_corrupt",
                        format!("event log line at byte {} is not a valid event ({e}); not replacing the run state", self.pos),
                    ))
                }
                Ok(_) => unreachable!("incomplete lines are only the last one"),
            }
        }
        Ok((!at_end).then_some(self.pos))
    }

    pub fn finish(mut self) -> (RunState, LoadReport) {
        self.report.log_bytes = self.pos;
        self.state.snap.event_offset = self.pos;
        (self.state, self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Load a run from its snapshot (if any) and its whole event log.
    fn load(facts: PlanFacts, snapshot: Option<&str>, log: &str) -> CoreResult<(RunState, LoadReport)> {
        let mut l = Loading::begin(facts, snapshot, log.len() as u64)?;
        let mut from = l.read_from();
        // Twice at most: a snapshot whose offset is not a line end restarts from byte 0.
        while let Some(next) = l.feed(log.get(from as usize..).unwrap_or(""), true)? {
            from = next;
        }
        Ok(l.finish())
    }

    fn facts(n: usize) -> PlanFacts {
        PlanFacts {
            plan_id: "p".into(),
            strategy: "table".into(),
            target: "app.events".into(),
            source: None,
            time_column: "t".into(),
            columns: None,
            default_database: "default".into(),
            from: "2025-01-01T00:00:00Z".into(),
            to: format!("2025-01-01T{n:02}:00:00Z"),
            chunk_hours: Some(1.0),
            volume: None,
            statements_per_chunk: 1,
            chunk_count: Some(n),
            first_chunk: None,
            last_chunk: None,
        }
    }

    #[test]
    fn chunks_are_cut_again_and_checked_against_the_file() {
        let cut = |i: u32| ChunkFacts {
            id: ids::chunk_id("p", &format!("2025-01-01T{i:02}:00:00.000Z"), &format!("2025-01-01T{:02}:00:00.000Z", i + 1)),
            from: format!("2025-01-01T{i:02}:00:00.000Z"),
            to: format!("2025-01-01T{:02}:00:00.000Z", i + 1),
        };
        let good = PlanFacts { first_chunk: Some(cut(0)), last_chunk: Some(cut(2)), ..facts(3) };
        let run = RunState::new(good.clone()).unwrap();
        assert_eq!(run.windows.len(), 3);
        match &run.next_actions(0, 0)[..] {
            [] => {}
            other => panic!("not started yet, yet {other:?}"),
        }
        assert_eq!(chunk_id("p", run.windows[2]), cut(2).id);

        let wrong_count = PlanFacts { chunk_count: Some(4), ..good.clone() };
        let e = RunState::new(wrong_count).unwrap_err();
        assert_eq!(e.code, "plan_mismatch");
        assert!(e.message.contains("cuts into 3 chunks, but the file has 4"), "{}", e.message);
        let wrong_last = PlanFacts { last_chunk: Some(cut(1)), ..good.clone() };
        assert!(RunState::new(wrong_last).unwrap_err().message.contains("chunk 3 in the file"));

        // A summary reads the header and the first line only: the cut gives the count.
        let header_only = PlanFacts { chunk_count: None, last_chunk: None, ..good.clone() };
        assert_eq!(RunState::new(header_only).unwrap().snap.chunk_counts.total, 3);
        let wrong_first = PlanFacts { chunk_count: None, last_chunk: None, first_chunk: Some(cut(1)), ..good };
        assert!(RunState::new(wrong_first).unwrap_err().message.contains("chunk 1 in the file"));
    }

    struct M {
        s: RunState,
        now: i64,
    }

    impl M {
        fn new(n: usize, settings: RunSettings) -> Self {
            let mut m = M { s: RunState::new(facts(n)).unwrap(), now: 1_000 };
            m.start(RunMode::Run, settings, false, false);
            m
        }
        fn ev(&mut self, e: Event) -> EventLine {
            let seq = self.s.snap.seq + 1;
            self.s.apply(EventLine { seq, at: self.now, gen: self.s.snap.generation, event: e }).unwrap()
        }
        fn start(&mut self, mode: RunMode, settings: RunSettings, replay_done: bool, replay_failed: bool) {
            self.ev(Event::RunStarted {
                mode,
                compatibility: "x".into(),
                pid: 1,
                host: "h".into(),
                replay_done,
                replay_failed,
                settings,
                forced: vec![],
            });
        }
        fn started(&mut self, a: &Action) -> usize {
            match a {
                Action::StartChunk { chunk, chunk_id, attempt, query_ids, .. } => {
                    self.ev(Event::ChunkStarted {
                        chunk: *chunk,
                        chunk_id: chunk_id.clone(),
                        attempt: *attempt,
                        query_id: query_ids[0].clone(),
                    });
                    *chunk
                }
                other => panic!("expected start, got {other:?}"),
            }
        }
        fn fail(&mut self, i: usize, code: i64) -> EventLine {
            self.fail_as(i, ChunkError { code: Some(code), kind: None, message: "boom".into(), origin: "server".into() }, false)
        }
        /// Retryability and the retry time are the machine's to decide.
        fn fail_as(&mut self, i: usize, error: ChunkError, needs_operator: bool) -> EventLine {
            self.ev(Event::ChunkFailed { chunk: i, error, retryable: false, retry_at: None, needs_operator })
        }
        /// Start the next chunk; announcing it then (no longer pending) is refused.
        fn start_then_refuse_announcing_it(&mut self) {
            let a = self.s.next_actions(self.now, 0);
            let c = self.started(&a[0]);
            let seq = self.s.snap.seq + 1;
            let e = self.s.apply(EventLine { seq, at: self.now, gen: self.s.snap.generation, event: Event::ChunksIntended { chunks: vec![c] } }).unwrap_err();
            assert!(e.message.contains("chunks_intended for chunk"), "{}", e.message);
        }
        fn ok(&mut self, i: usize) {
            self.ev(Event::ChunkSucceeded { chunk: i, rows: 10, recovered: false, unverified: false, statement_ms: None });
        }
    }

    fn settings(par: u32, retries: u32, delay: u64) -> RunSettings {
        RunSettings { max_parallel_chunks: par, max_retries_per_chunk: retries, retry_delay_ms: delay }
    }

    #[test]
    fn which_chunks_a_new_run_executes() {
        let chunk = |status, op| ChunkState { status, needs_operator: op, ..ChunkState::new() };
        let (run, resume) = (RunMode::Run, RunMode::Resume);
        // (chunk, mode, replay_done, replay_failed, executes)
        let table = [
            (chunk(ChunkStatus::Pending, false), run, false, false, true),
            (chunk(ChunkStatus::Running, false), run, false, false, true),
            (chunk(ChunkStatus::Failed, false), run, false, false, false),
            (chunk(ChunkStatus::Failed, false), resume, false, false, true),
            (chunk(ChunkStatus::Failed, true), resume, false, false, false),
            (chunk(ChunkStatus::Failed, true), resume, false, true, true),
            (chunk(ChunkStatus::Failed, false), run, false, true, true),
            (chunk(ChunkStatus::Done, false), resume, false, false, false),
            (chunk(ChunkStatus::Done, false), run, true, false, true),
            (chunk(ChunkStatus::Skipped, false), run, true, false, true),
        ];
        for (c, mode, done, failed, want) in table {
            assert_eq!(c.runs_when_started(mode, done, failed), want, "{:?} {mode:?} done={done} failed={failed}", c.status);
        }
    }

    #[test]
    fn backoff_formula() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 3), 4000);
        assert_eq!(backoff_ms(250, 5), 4000);
        assert_eq!(backoff_ms(u64::MAX, 9), u64::MAX);
    }

    #[test]
    fn classification() {
        let e = |code: Option<i64>, origin: &str| ChunkError { code, kind: None, message: String::new(), origin: origin.into() };
        for c in [62, 60, 47, 16, 53, 516, 497, 81] {
            assert!(!is_retryable(&e(Some(c), "server")), "{c}");
        }
        for c in [159, 209, 202, 252, 241, 394, 999] {
            assert!(is_retryable(&e(Some(c), "server")), "{c}");
        }
        assert!(is_retryable(&e(None, "network")));
        assert!(!is_retryable(&e(None, "check")));
    }

    #[test]
    fn sequential_run_completes() {
        let mut m = M::new(3, settings(1, 3, 100));
        for _ in 0..3 {
            let a = m.s.next_actions(m.now, 0);
            assert_eq!(a.len(), 1);
            let i = m.started(&a[0]);
            assert!(m.s.next_actions(m.now, 1).is_empty(), "one at a time");
            m.ok(i);
        }
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::Finish { status: RunStatus::Completed }]);
        m.ev(Event::RunFinished { status: RunStatus::Completed });
        assert_eq!(m.s.snap.rows_written, 30);
        assert_eq!(m.s.snap.chunk_counts.done, 3);
        assert!(m.s.next_actions(m.now, 0).is_empty());
    }

    #[test]
    fn retry_with_backoff_then_budget_exhausted() {
        let mut m = M::new(2, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        let i = m.started(&a[0]);
        assert_eq!(i, 0);
        let line = m.fail(0, 202); // overload: retryable
        assert!(matches!(line.event, Event::ChunkFailed { retryable: true, retry_at: Some(1100), .. }));
        // The other chunk goes ahead while chunk 0 waits.
        let a = m.s.next_actions(m.now, 0);
        assert_eq!(m.started(&a[0]), 1);
        m.ok(1);
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::WaitUntil { at: 1100 }]);
        m.now = 1099;
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::WaitUntil { at: 1100 }]);
        m.now = 1100;
        let a = m.s.next_actions(m.now, 0);
        assert!(matches!(&a[0], Action::StartChunk { chunk: 0, attempt: 2, .. }));
        m.started(&a[0]);
        let line = m.fail(0, 209);
        assert!(matches!(line.event, Event::ChunkFailed { retry_at: Some(1300), .. }), "2nd delay doubles");
        m.now = 1300;
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        let line = m.fail(0, 209);
        assert!(matches!(line.event, Event::ChunkFailed { retryable: true, retry_at: None, .. }), "budget of 3 used");
        assert_eq!(m.s.snap.chunks[0].status, ChunkStatus::Failed);
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::Finish { status: RunStatus::Failed }]);
    }

    #[test]
    fn permanent_error_fails_at_once() {
        let mut m = M::new(1, settings(1, 5, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        let line = m.fail(0, 62);
        assert!(matches!(line.event, Event::ChunkFailed { retryable: false, retry_at: None, .. }));
        assert_eq!(m.s.snap.chunks[0].status, ChunkStatus::Failed);
        assert_eq!(m.s.snap.chunks[0].attempts, 1);
    }

    #[test]
    fn parallel_fills_slots_and_keeps_counts() {
        let mut m = M::new(10, settings(4, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        assert_eq!(a.len(), 4);
        let ids: Vec<usize> = a.iter().map(|x| m.started(x)).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
        assert_eq!(m.s.snap.chunk_counts.running, 4);
        assert!(m.s.next_actions(m.now, 4).is_empty());
        m.ok(2);
        let a = m.s.next_actions(m.now, 3);
        assert_eq!(a.len(), 1);
        assert_eq!(m.started(&a[0]), 4);
        assert_eq!(m.s.snap.chunk_counts, ChunkCounts { total: 10, pending: 5, running: 4, done: 1, failed: 0, skipped: 0, checking: 0 });
    }

    #[test]
    fn cancel_stops_starting_and_finishes_when_idle() {
        let mut m = M::new(5, settings(2, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        for x in &a {
            m.started(x);
        }
        m.ev(Event::CancelRequested { by: "cancel".into() });
        assert!(m.s.next_actions(m.now, 2).is_empty());
        m.ok(0);
        m.ev(Event::ChunkInterrupted { chunk: 1 });
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::Finish { status: RunStatus::Cancelled }]);
        m.ev(Event::RunFinished { status: RunStatus::Cancelled });
        // Resume (explicit) continues with the interrupted chunk, checked first.
        m.start(RunMode::Resume, settings(1, 3, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        assert!(matches!(&a[0], Action::StartChunk { chunk: 1, uncertain: true, attempt: 2, .. }), "{a:?}");
    }

    #[test]
    fn an_unverified_success_is_kept_in_the_snapshot_until_the_chunk_succeeds_again() {
        let mut m = M::new(2, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.ev(Event::ChunkSucceeded { chunk: 0, rows: 0, recovered: false, unverified: true, statement_ms: None });
        assert!(m.s.snap.chunks[0].unverified);
        let text = serde_json::to_string(&m.s.snap).unwrap();
        assert!(text.contains("\"uv\":true"), "{text}");
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert!(back.chunks[0].unverified && !back.chunks[1].unverified);
        // --replay-done runs it again; a checked success clears the mark.
        m.ev(Event::RunFinished { status: RunStatus::Paused });
        m.start(RunMode::Resume, settings(1, 3, 100), true, false);
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.ev(Event::ChunkSucceeded { chunk: 0, rows: 5, recovered: false, unverified: false, statement_ms: None });
        assert!(!m.s.snap.chunks[0].unverified);
    }

    #[test]
    fn a_retry_after_a_lost_connection_kills_the_previous_statement_first() {
        let mut m = M::new(1, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.fail_as(0, ChunkError { code: None, kind: None, message: "socket hang up".into(), origin: "network".into() }, false);
        // After the backoff (retryDelayMs 100).
        match &m.s.next_actions(m.now + 100, 0)[0] {
            Action::StartChunk { attempt: 2, uncertain: false, previous_query_ids, .. } => {
                assert_eq!(previous_query_ids, &[ids::query_id("p", &chunk_id("p", m.s.windows[0]), 1, 0)]);
            }
            x => panic!("{x:?}"),
        }
    }

    #[test]
    fn crash_leaves_running_chunk_uncertain_and_resume_retries_failed() {
        let mut m = M::new(3, settings(1, 1, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.ev(Event::ChunkMeasured { chunk: 0, before: 5, expected: 5, checksum: None });
        m.fail(0, 202); // budget 1: failed
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]); // chunk 1 running, then "crash"
        m.start(RunMode::Run, settings(1, 1, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        match &a[0] {
            Action::StartChunk { chunk, uncertain, previous_query_ids, .. } => {
                assert_eq!(*chunk, 1);
                assert!(*uncertain);
                assert_eq!(previous_query_ids.len(), 1);
            }
            x => panic!("{x:?}"),
        }
        assert_eq!(m.s.snap.chunks[0].status, ChunkStatus::Failed, "run does not retry failed chunks");
        m.start(RunMode::Resume, settings(1, 1, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        // Chunk 0 failed with a server error: its statement is over, nothing to kill first.
        assert!(matches!(&a[0], Action::StartChunk { chunk: 0, verify: Some(Baseline { before: 5, expected: 5 }), previous_query_ids, .. }
            if previous_query_ids.is_empty()));
    }

    fn announce(a: &Action) -> Vec<usize> {
        match a {
            Action::StartChunk { announce, .. } => announce.clone(),
            x => panic!("{x:?}"),
        }
    }

    #[test]
    fn one_announcement_covers_a_batch_of_chunks_even_across_parallel_starts() {
        let half_hours = PlanFacts { to: "2025-01-01T20:00:00Z".into(), chunk_hours: Some(0.5), chunk_count: Some(40), ..facts(1) };
        let mut m = M { s: RunState::new(half_hours).unwrap(), now: 1_000 };
        m.start(RunMode::Run, settings(2, 3, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        assert_eq!(a.len(), 2);
        assert_eq!(announce(&a[0]), (0..INTENT_BATCH).collect::<Vec<_>>());
        assert!(announce(&a[1]).is_empty(), "chunk 1 is in chunk 0's announcement");
        m.ev(Event::ChunksIntended { chunks: announce(&a[0]) });
        m.started(&a[0]);
        m.started(&a[1]);
        m.ok(0);
        m.ok(1);
        // Chunks 2..31 were announced; 32 is not: its start announces 32..39.
        for i in 2..INTENT_BATCH {
            let a = m.s.next_actions(m.now, 0);
            assert!(announce(&a[0]).is_empty(), "chunk {i}");
            let c = m.started(&a[0]);
            m.ok(c);
        }
        let a = m.s.next_actions(m.now, 1);
        assert_eq!(announce(&a[0]), (INTENT_BATCH..40).collect::<Vec<_>>());
        // A chunk of several statements that no count can check announces only itself.
        let mut f = facts(3);
        f.strategy = "mv_replay".into();
        f.statements_per_chunk = 2;
        let mut s = RunState::new(f).unwrap();
        let started = EventLine { seq: 1, at: 0, gen: 0, event: Event::RunStarted { mode: RunMode::Run, compatibility: "x".into(), pid: 1, host: "h".into(), replay_done: false, replay_failed: false, settings: settings(1, 1, 1), forced: vec![] } };
        s.apply(started).unwrap();
        assert_eq!(announce(&s.next_actions(0, 0)[0]), vec![0]);
    }

    #[test]
    fn an_announced_chunk_whose_start_was_lost_is_uncertain_after_a_crash() {
        let mut m = M::new(4, settings(1, 3, 100));
        m.ev(Event::WindowsMeasured { chunks: vec![0, 1, 2, 3], before: vec![5; 4], expected: vec![5; 4], checksums: vec![] });
        let a = m.s.next_actions(m.now, 0);
        m.ev(Event::ChunksIntended { chunks: announce(&a[0]) });
        m.started(&a[0]);
        m.ok(0);
        // Chunk 1's insert was sent; its chunk_started line was never made durable and a power
        // loss took it. Chunks 2 and 3 were announced too and never sent.
        m.start(RunMode::Run, settings(1, 3, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        match &a[0] {
            Action::StartChunk { chunk: 1, attempt: 2, uncertain: true, verify, measured: None, previous_query_ids, query_ids, announce, .. } => {
                // Checked against the baseline counted before the insert, never counted afresh.
                assert_eq!(*verify, Some(Baseline { before: 5, expected: 5 }));
                assert_eq!(previous_query_ids, &vec![ids::query_id("p", &chunk_id("p", m.s.windows[1]), 1, 0)]);
                assert_ne!(previous_query_ids, query_ids);
                assert_eq!(announce, &vec![1, 2, 3]);
            }
            x => panic!("{x:?}"),
        }
        assert!(m.s.snap.chunks[2].uncertain && m.s.snap.chunks[3].uncertain);
        assert_eq!(m.s.snap.chunks[0].status, ChunkStatus::Done);
    }

    #[test]
    fn a_run_that_finished_says_its_announced_chunks_were_not_sent() {
        let mut m = M::new(3, settings(1, 3, 100));
        m.ev(Event::WindowsMeasured { chunks: vec![0, 1, 2], before: vec![5; 3], expected: vec![5; 3], checksums: vec![] });
        let a = m.s.next_actions(m.now, 0);
        m.ev(Event::ChunksIntended { chunks: announce(&a[0]) });
        m.started(&a[0]);
        m.ev(Event::PauseRequested { signal: "SIGINT".into() });
        m.ok(0);
        m.ev(Event::RunFinished { status: RunStatus::Paused });
        m.start(RunMode::Resume, settings(1, 3, 100), false, false);
        let a = m.s.next_actions(m.now, 0);
        assert!(matches!(&a[0], Action::StartChunk { chunk: 1, attempt: 1, uncertain: false, previous_query_ids, .. } if previous_query_ids.is_empty()), "{a:?}");
        assert_eq!(announce(&a[0]), vec![1, 2]);
        m.start_then_refuse_announcing_it();
    }

    #[test]
    fn one_count_checks_the_windows_of_several_running_chunks() {
        let mut m = M::new(4, settings(2, 3, 100));
        assert!(m.s.check_counts_sql(&[0], false).is_err(), "chunk 0 is not running");
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.started(&a[1]);
        m.ev(Event::ChunkInserted { chunk: 0, statement_ms: None });
        m.ev(Event::ChunkInserted { chunk: 1, statement_ms: None });
        assert_eq!((m.s.snap.chunk_counts.running, m.s.snap.chunk_counts.checking), (2, 2));
        let sql = m.s.check_counts_sql(&[0, 1], false).unwrap();
        let w = |i: usize| sql::window_predicate("t", m.s.windows[i]);
        // Each window as `count_target_sql` reads it, with the same exact-read settings.
        let exact = sql::exact_read_settings(false);
        assert_eq!(
            sql,
            format!(
                "SELECT __chkit_chunk, c FROM (SELECT 0 AS __chkit_chunk, count() AS c FROM `app`.`events` WHERE {} UNION ALL SELECT 1 AS __chkit_chunk, count() AS c FROM `app`.`events` WHERE {}) {exact}",
                w(0),
                w(1)
            )
        );
        match &a[0] {
            Action::StartChunk { count_target_sql: Some(c), .. } => {
                assert_eq!(c, &format!("SELECT count() AS c FROM `app`.`events` WHERE {} {exact}", w(0)))
            }
            x => panic!("{x:?}"),
        }
        // On the grid: one GROUP BY over the span of both windows, numbered from the first.
        let grid = m.s.check_counts_sql(&[1, 0], true).unwrap();
        assert_eq!(grid, sql::span_count_sql(&m.s.target, "t", 0, &m.s.windows[0..=1]));
        assert!(grid.starts_with("SELECT 0 + intDiv(toUnixTimestamp64Milli(toDateTime64(`t`, 3, 'UTC')) - "), "{grid}");
        m.ok(0);
        assert_eq!((m.s.snap.chunk_counts.running, m.s.snap.chunk_counts.checking), (1, 1));
        // A crash before the count: uncertain, counted again before anything is sent.
        m.start(RunMode::Run, settings(2, 3, 100), false, false);
        assert_eq!((m.s.snap.chunk_counts.running, m.s.snap.chunk_counts.checking), (0, 0));
        assert!(m.s.snap.chunks[1].uncertain && !m.s.snap.chunks[1].inserted);
    }

    #[test]
    fn needs_operator_is_not_retried_by_resume() {
        let mut m = M::new(1, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.fail_as(0, ChunkError { code: None, kind: Some("UNKNOWN_OUTCOME".into()), message: "x".into(), origin: "check".into() }, true);
        m.ev(Event::RunFinished { status: RunStatus::Failed });
        m.start(RunMode::Resume, settings(1, 3, 100), false, false);
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::Finish { status: RunStatus::Failed }]);
        m.ev(Event::RunFinished { status: RunStatus::Failed });
        m.start(RunMode::Resume, settings(1, 3, 100), false, true);
        assert!(matches!(&m.s.next_actions(m.now, 0)[0], Action::StartChunk { chunk: 0, verify: None, uncertain: false, .. }));
    }

    #[test]
    fn baselines_from_one_grid_count() {
        let mut m = M::new(4, settings(1, 3, 100));
        // Chunk 0 measured and started the usual way: the grid leaves it out.
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.ev(Event::ChunkMeasured { chunk: 0, before: 1, expected: 1, checksum: Some("1:2".into()) });
        let g = m.s.baseline_grid().unwrap().unwrap();
        assert_eq!(g.chunks, vec![1, 2, 3]);
        assert!(g.sql.starts_with("SELECT intDiv(toUnixTimestamp64Milli(toDateTime64(`t`, 3, 'UTC')) - 1735689600000, 3600000) AS __chkit_chunk, count() AS __chkit_c, "), "{}", g.sql);
        assert!(g.sql.contains("WHERE `t` >= toDateTime64('2025-01-01 01:00:00.000', 3, 'UTC') AND `t` < toDateTime64('2025-01-01 04:00:00.000', 3, 'UTC')"), "{}", g.sql);
        let measured = |chunks: Vec<usize>, counts: Vec<u64>| Event::WindowsMeasured {
            checksums: counts.iter().map(|c| format!("{c}:{c}")).collect(),
            chunks,
            before: counts.clone(),
            expected: counts,
        };
        m.ev(measured(vec![1, 2, 3], vec![5, 0, 7]));
        assert_eq!(m.s.snap.chunks[2].baseline, Some(Baseline { before: 0, expected: 0 }));
        assert_eq!(m.s.baseline_grid().unwrap(), None, "nothing left to measure");
        m.ok(0);
        let a = m.s.next_actions(m.now, 0);
        assert!(
            matches!(&a[0], Action::StartChunk { chunk: 1, attempt: 1, verify: None, measured: Some(Baseline { before: 5, expected: 5 }), measure_target_sql: None, .. }),
            "{a:?}"
        );
        // Once an attempt started, the baseline is checked like any other before a retry.
        m.started(&a[0]);
        m.fail(1, 209);
        m.now += 10_000;
        let a = m.s.next_actions(m.now, 0);
        assert!(matches!(&a[0], Action::StartChunk { chunk: 1, attempt: 2, verify: Some(Baseline { before: 5, expected: 5 }), measured: None, .. }), "{a:?}");
        m.started(&a[0]);
        m.ok(1);
        // Measured twice, a chunk that ran, or lists of different lengths: refused, and nothing applied.
        let seq = m.s.snap.seq + 1;
        let gen = m.s.snap.generation;
        for bad in [measured(vec![3], vec![1]), measured(vec![1], vec![1]), Event::WindowsMeasured { chunks: vec![3], before: vec![1], expected: vec![1], checksums: vec!["1:1".into(), "2:2".into()] }] {
            assert!(m.s.apply(EventLine { seq, at: m.now, gen, event: bad }).is_err());
        }
        assert_eq!(m.s.snap.chunks[3].baseline, Some(Baseline { before: 7, expected: 7 }));
        // A later run counts again what was counted at an earlier start and never attempted
        // (chunks 2 and 3), and the done ones it replays (--replay-done); not chunk 1's own.
        m.ev(Event::RunFinished { status: RunStatus::Paused });
        m.start(RunMode::Resume, settings(1, 3, 100), false, false);
        assert_eq!(m.s.baseline_grid().unwrap().unwrap().chunks, vec![2, 3]);
        assert!(!m.s.snap.chunks[3].baseline_fresh);
        m.ev(Event::RunFinished { status: RunStatus::Paused });
        m.start(RunMode::Resume, settings(1, 3, 100), true, false);
        assert_eq!(m.s.baseline_grid().unwrap().unwrap().chunks, vec![0, 1, 2, 3]);
    }

    #[test]
    fn chunks_far_apart_are_counted_by_separate_grids() {
        let mut m = M::new(20, settings(1, 3, 100));
        let measured = |chunks: Vec<usize>| Event::WindowsMeasured { checksums: vec![], before: vec![1; chunks.len()], expected: vec![1; chunks.len()], chunks };
        // Chunks 0–4 and 9–12 measured: 5–8 and 13–19 left, in one span (gaps under GRID_GAP).
        m.ev(measured((0..20).filter(|k| !(5..=8).contains(k) && *k < 13).collect()));
        let g = m.s.baseline_grid().unwrap().unwrap();
        assert_eq!(g.chunks, [5, 6, 7, 8].into_iter().chain(13..20).collect::<Vec<_>>());
        m.ev(measured(g.chunks.clone()));
        assert_eq!(m.s.baseline_grid().unwrap(), None);
        // Chunks 3 and 19 left: two counts of one window each, not one of 17.
        let mut m = M::new(20, settings(1, 3, 100));
        m.ev(measured((0..20).filter(|k| *k != 3 && *k != 19).collect()));
        let g = m.s.baseline_grid().unwrap().unwrap();
        assert_eq!(g.chunks, vec![3]);
        assert!(g.sql.contains(&sql::window_predicate("t", m.s.windows[3])), "{}", g.sql);
        m.ev(measured(vec![3]));
        assert_eq!(m.s.baseline_grid().unwrap().unwrap().chunks, vec![19]);
    }

    #[test]
    fn grid_needs_exact_instants_and_a_table_plan() {
        for t in ["DateTime", "DateTime('UTC')", "DateTime64(3)", "DateTime64(6, 'Europe/Berlin')", "Nullable(DateTime)", "LowCardinality(Nullable(DateTime))"] {
            assert!(grid_countable(t), "{t}");
        }
        for t in ["Date", "Date32", "String", "Nullable(Date)", "UInt32"] {
            assert!(!grid_countable(t), "{t}");
        }
        for (strategy, source) in [("mv_replay", None), ("copy", Some("app.src"))] {
            let mut f = facts(3);
            f.strategy = strategy.into();
            f.source = source.map(str::to_string);
            let mut m = M { s: RunState::new(f).unwrap(), now: 0 };
            m.start(RunMode::Run, settings(1, 3, 100), false, false);
            assert_eq!(m.s.baseline_grid().unwrap(), None, "{strategy}");
        }
    }

    #[test]
    fn replay_failed_keeps_the_baseline_and_the_statements_done() {
        let mut m = M::new(1, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        m.started(&a[0]);
        m.ev(Event::ChunkMeasured { chunk: 0, before: 5, expected: 7, checksum: None });
        m.ev(Event::StatementSucceeded { chunk: 0, statement: 0, rows: 0 });
        m.fail_as(0, ChunkError { code: None, kind: Some("UNKNOWN_OUTCOME".into()), message: "x".into(), origin: "check".into() }, true);
        m.ev(Event::RunFinished { status: RunStatus::Failed });
        m.start(RunMode::Resume, settings(1, 3, 100), false, true);
        // Counted against the window as it was before the first attempt, from the statement that did not finish.
        assert!(matches!(&m.s.next_actions(m.now, 0)[0],
            Action::StartChunk { chunk: 0, attempt: 2, verify: Some(Baseline { before: 5, expected: 7 }), statements_done: 1, uncertain: false, .. }));
    }

    #[test]
    fn replay_done_reruns_done_chunks() {
        let mut m = M::new(2, settings(1, 3, 100));
        for _ in 0..2 {
            let a = m.s.next_actions(m.now, 0);
            let i = m.started(&a[0]);
            m.ok(i);
        }
        m.ev(Event::RunFinished { status: RunStatus::Completed });
        m.start(RunMode::Run, settings(1, 3, 100), true, false);
        assert_eq!(m.s.snap.chunk_counts.pending, 2);
        let a = m.s.next_actions(m.now, 0);
        assert!(matches!(&a[0], Action::StartChunk { chunk: 0, attempt: 2, verify: None, .. }));
    }

    #[test]
    fn pause_then_resume() {
        let mut m = M::new(3, settings(1, 3, 100));
        let a = m.s.next_actions(m.now, 0);
        let i = m.started(&a[0]);
        m.ev(Event::PauseRequested { signal: "SIGINT".into() });
        assert!(m.s.next_actions(m.now, 1).is_empty());
        m.ok(i);
        assert_eq!(m.s.next_actions(m.now, 0), vec![Action::Finish { status: RunStatus::Paused }]);
        m.ev(Event::RunFinished { status: RunStatus::Paused });
        m.start(RunMode::Resume, settings(1, 3, 100), false, false);
        assert!(matches!(&m.s.next_actions(m.now, 0)[0], Action::StartChunk { chunk: 1, .. }));
    }

    #[test]
    fn invalid_transitions_are_refused() {
        let mut m = M::new(2, settings(1, 3, 100));
        let seq = m.s.snap.seq + 1;
        let bad = m.s.apply(EventLine { seq, at: 0, gen: 0, event: Event::ChunkSucceeded { chunk: 0, rows: 1, recovered: false, unverified: false, statement_ms: None } });
        assert_eq!(bad.unwrap_err().code, "invalid_transition");
        let bad = m.s.apply(EventLine { seq: seq + 5, at: 0, gen: 0, event: Event::Note { message: "x".into() } });
        assert!(bad.is_err());
    }

    #[test]
    fn load_snapshot_plus_log_and_torn_tail() {
        let mut r = M { s: RunState::new(facts(3)).unwrap(), now: 5 };
        let lines = vec![
            r.ev(Event::RunStarted {
                mode: RunMode::Run,
                compatibility: "x".into(),
                pid: 1,
                host: "h".into(),
                replay_done: false,
                replay_failed: false,
                settings: settings(1, 3, 100),
                forced: vec![],
            }),
            r.ev(Event::ChunkStarted { chunk: 0, chunk_id: "c0".into(), attempt: 1, query_id: "q".into() }),
            r.ev(Event::ChunkSucceeded { chunk: 0, rows: 7, recovered: false, unverified: false, statement_ms: None }),
        ];
        let mut log = String::new();
        let mut snap_at = 0;
        for (k, l) in lines.iter().enumerate() {
            log.push_str(&serde_json::to_string(l).unwrap());
            log.push('\n');
            if k == 1 {
                snap_at = log.len();
            }
        }
        // A snapshot taken after two events, then the third from the log.
        let mut early = RunState::new(facts(3)).unwrap();
        for l in &lines[..2] {
            early.apply(l.clone()).unwrap();
        }
        early.snap.event_offset = snap_at as u64;
        let snap_text = serde_json::to_string(&early.snap).unwrap();
        let (st, rep) = load(facts(3), Some(&snap_text), &log).unwrap();
        assert_eq!(rep.events_replayed, 1);
        let mut want = r.s.snap.clone();
        want.event_offset = log.len() as u64;
        assert_eq!(st.snap, want);
        // Torn last line: ignored, reported, log_bytes stops before it.
        let torn = format!("{log}{{\"seq\":4,\"at\":9,\"event\":\"chunk_sta");
        let (st2, rep2) = load(facts(3), Some(&snap_text), &torn).unwrap();
        assert!(rep2.torn_tail);
        assert_eq!(rep2.log_bytes as usize, log.len());
        assert_eq!(st2.snap.seq, 3);
        // Corrupt snapshot: rebuilt from the log, never replaced by a fresh state.
        let (st3, rep3) = load(facts(3), Some("{nope"), &log).unwrap();
        assert!(rep3.snapshot_rebuilt);
        assert_eq!(st3.snap.rows_written, 7);
        // A bad line in the middle is an error.
        let mid = log.replacen("\"chunk_started\"", "\"chunk_startxd\"", 1);
        assert_eq!(load(facts(3), None, &mid).unwrap_err().code, "event_log_corrupt");
    
        // Streamed in blocks of every size, cut where the shim cuts (after the block's last
        // newline, the rest read again), the log loads to the same state.
        let torn_bytes = torn.as_bytes();
        for block in 1..torn.len() + 2 {
            let mut l = Loading::begin(facts(3), Some(&snap_text), torn.len() as u64).unwrap();
            let mut from = l.read_from() as usize;
            loop {
                let end = (from + block).min(torn.len());
                let at_end = end == torn.len();
                let cut = if at_end { end } else { torn_bytes[from..end].iter().rposition(|&b| b == b'\n').map_or(from, |p| from + p + 1) };
                if cut == from && !at_end {
                    // No whole line in the block: the shim reads a bigger one.
                    let mut big = Loading::begin(facts(3), Some(&snap_text), torn.len() as u64).unwrap();
                    assert!(big.feed(&torn[big.read_from() as usize..], true).unwrap().is_none());
                    l = big;
                    break;
                }
                match l.feed(&torn[from..cut], at_end).unwrap() {
                    Some(next) => from = next as usize,
                    None => break,
                }
            }
            let (st4, rep4) = l.finish();
            assert_eq!((st4.snap.seq, rep4.torn_tail, rep4.log_bytes as usize), (3, true, log.len()), "block {block}");
        }
        // A sound snapshot beyond the end of the log: the log lost events; an error, not a fresh state.
        let short = load(facts(3), Some(&snap_text), &log[..snap_at - 1]).unwrap_err();
        assert_eq!(short.code, "event_log_short");
        assert!(short.message.contains("not replacing the run state"), "{}", short.message);
        // A snapshot whose offset is not a line end: rebuilt from the whole log.
        let mut off = early.snap.clone();
        off.event_offset -= 3;
        let (st5, rep5) = load(facts(3), Some(&serde_json::to_string(&off).unwrap()), &log).unwrap();
        assert!(rep5.snapshot_rebuilt);
        assert_eq!((st5.snap.seq, st5.snap.rows_written, rep5.events_replayed), (3, 7, 3));
    }

    #[test]
    fn lines_of_a_writer_that_lost_the_lock_are_skipped_when_loading() {
        let run_started = |pid| Event::RunStarted {
            mode: RunMode::Resume,
            compatibility: "x".into(),
            pid,
            host: "h".into(),
            replay_done: false,
            replay_failed: false,
            settings: settings(1, 3, 100),
            forced: vec![],
        };
        let text = |l: &EventLine| serde_json::to_string(l).unwrap() + "\n";
        // Writer 1 starts chunk 0 and is stopped; writer 2 takes over and finishes chunk 0.
        let mut w1 = M { s: RunState::new(facts(2)).unwrap(), now: 5 };
        assert_eq!(w1.s.begin_writer(), 1);
        let mut log = text(&w1.ev(run_started(1)));
        log += &text(&w1.ev(Event::ChunkStarted { chunk: 0, chunk_id: "c0".into(), attempt: 1, query_id: "q1".into() }));
        let (mut w2, rep) = load(facts(2), None, &log).unwrap();
        assert_eq!((w2.snap.generation, rep.fenced_lines), (1, 0));
        assert_eq!(w2.begin_writer(), 2);
        let mut w2 = M { s: w2, now: 6 };
        log += &text(&w2.ev(run_started(2)));
        // Writer 1 wakes up and one line of it slips in after writer 2's first.
        log += &text(&w1.ev(Event::ChunkSucceeded { chunk: 0, rows: 10, recovered: false, unverified: false, statement_ms: None }));
        assert!(log.contains("\"gen\":1") && log.contains("\"gen\":2"));
        assert!(matches!(&w2.s.next_actions(6, 0)[0], Action::StartChunk { chunk: 0, attempt: 2, uncertain: true, .. }));
        log += &text(&w2.ev(Event::ChunkStarted { chunk: 0, chunk_id: "c0".into(), attempt: 2, query_id: "q2".into() }));
        log += &text(&w2.ev(Event::ChunkSucceeded { chunk: 0, rows: 10, recovered: true, unverified: false, statement_ms: None }));
        let (st, rep) = load(facts(2), None, &log).unwrap();
        assert_eq!(rep.fenced_lines, 1);
        assert_eq!((st.snap.generation, st.snap.rows_written, st.snap.chunks[0].attempts), (2, 10, 2));
        let mut want = w2.s.snap.clone();
        want.event_offset = log.len() as u64;
        assert_eq!(st.snap, want);
        // The machine itself refuses a fenced-out line.
        let seq = st.snap.seq + 1;
        let mut st = st;
        let e = st.apply(EventLine { seq, at: 9, gen: 1, event: Event::Note { message: "late".into() } }).unwrap_err();
        assert_eq!(e.code, "lock_lost");
        // A snapshot keeps the generation.
        let back: Snapshot = serde_json::from_str(&serde_json::to_string(&st.snap).unwrap()).unwrap();
        assert_eq!(back.generation, 2);
    }

    #[test]
    fn count_sql_for_verification() {
        let m = M::new(1, settings(1, 3, 100));
        match &m.s.next_actions(0, 0)[0] {
            Action::StartChunk { count_target_sql: Some(t), count_expected_sql: Some(e), .. } => {
                assert!(t.starts_with("SELECT count() AS c FROM `app`.`events` WHERE `t` >= "));
                assert_eq!(t, e, "table strategy: one execution adds the window's own rows");
            }
            x => panic!("{x:?}"),
        }
    }
}
