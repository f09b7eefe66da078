//! Planning: from a validated request to the immutable plan document
//! (`plans/<planId>.json`). Same request → byte-identical plan but `createdAt`.
//!
//! Three strategies: `table` re-inserts a window of the target into itself,
//! `copy` inserts a window of `--source`, and `mv_replay` runs the query of
//! every materialized view whose `TO` table is the target over a window of the
//! view's source table (see `mv_replay`).

use crate::chunks::{build_chunks, widen_to_chunks};
use crate::error::{CoreError, CoreResult};
use crate::ids::{self, PlanIdentity};
use crate::mv_rewrite::{self, ViewQuery};
use crate::plan_check::{sql_digest, SqlDigest, StatementText};
use crate::options::{check_chunk_hours, resolve_options, Defaults, Limits, Options, Policy};
use crate::sql::{self, TableRef};
use crate::time_column::{self, Choice, TableInfo};
use crate::volume::{self, Grid, Sizing, TableCounts, VolumeHeader};
use crate::window::{check_window, format_instant, parse_instant, BoundType, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the shim gathered for `plan`: flags as typed, the raw options, and
/// what it learned from the server or schema files.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRequest {
    #[serde(default)]
    pub options: Value,
    pub target: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The `--chunk-hours` flag as typed.
    pub chunk_hours: Option<String>,
    /// `--chunk-rows` as typed.
    pub chunk_rows: Option<String>,
    /// `--chunk-bytes` as typed.
    pub chunk_bytes: Option<String>,
    /// Volume sizing: rows per grid cell of each table the chunks read (`volume_queries`).
    pub distribution: Option<Vec<TableCounts>>,
    /// `max_insert_block_size` as the server reports it (the mv_replay block warning).
    pub max_insert_block_size: Option<u64>,
    /// Whether the target is Replicated/Shared, when known.
    pub target_replicated: Option<bool>,
    pub time_column: Option<String>,
    /// `--source db.table`: the copy strategy.
    pub source: Option<String>,
    #[serde(default = "default_database")]
    pub default_database: String,
    pub environment: Option<EnvironmentInput>,
    #[serde(default)]
    pub force_large_window: bool,
    /// Insertable (non MATERIALIZED/ALIAS/EPHEMERAL) columns of the target, in order, when known.
    pub target_columns: Option<Vec<String>>,
    /// Columns of the copy source, when known.
    pub source_columns: Option<Vec<String>>,
    /// Tables known from the server and/or the schema files (target, sources).
    #[serde(default)]
    pub tables: Vec<TableInfo>,
    /// Materialized views whose `TO` table is the target.
    #[serde(default)]
    pub views: Vec<ViewInput>,
    /// Materialized views that read from the target (`db.view`): the plan's inserts fire them too.
    #[serde(default)]
    pub target_dependents: Vec<String>,
    /// Time columns a person picked at a prompt, by table (`db.table` as displayed).
    #[serde(default)]
    pub chosen_time_columns: BTreeMap<String, String>,
    /// min/max of the time column(s) when the window comes from the data.
    pub data_range: Option<DataRange>,
    /// ISO instant; the clock is read by the shim.
    pub now: String,
    /// `--setting name=value` flags as typed, over `options.insertSettings`.
    #[serde(default)]
    pub settings: Vec<String>,
    /// The connected server's `system.settings` (name, type), to check the user's settings against.
    #[serde(default)]
    pub server_settings: Option<Vec<crate::settings::ServerSetting>>,
    /// The target is a `Distributed` table: what it routes to.
    #[serde(default)]
    pub distributed: Option<crate::distributed::DistributedInput>,
    /// Write every bound as a `DateTime64`, as plans before `boundType` did: a re-plan builds
    /// the plan so to compare it with one an earlier version wrote.
    #[serde(default)]
    pub datetime64_bounds: bool,
    /// Wrap every replayed query in `SELECT <cols> FROM (…)` and read its source through a
    /// subquery, as plans before the bare form did: a re-plan builds the plan so to compare
    /// it with one an earlier version wrote.
    #[serde(default)]
    pub wrapped_replays: bool,
}

fn default_database() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentInput {
    /// `http://host:8123` (no credentials) or `chdb:/abs/path`.
    pub origin: String,
    pub database: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewInput {
    pub database: String,
    pub name: String,
    /// The `as` of the schema file's definition.
    pub schema_query: Option<String>,
    /// `system.tables.as_select`.
    pub server_query: Option<String>,
    /// The view's output columns as the server lists them (`system.columns` of the view).
    pub output_columns: Option<Vec<String>>,
    /// `system.tables.create_table_query`: tells a refreshable view from an insert-triggered one.
    #[serde(default)]
    pub create_query: Option<String>,
}

/// Smallest and largest value of the time column(s); both None for no rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataRange {
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub fingerprint: String,
    pub url: String,
    pub database: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Re-insert the window of a table into itself.
    Table,
    /// Insert the window of `source` into the target.
    Copy,
    /// Run each materialized view's query over the window of its source.
    MvReplay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Planned,
}

/// One INSERT of a chunk (`mv_replay`: one per view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatement {
    /// The view replayed.
    pub label: String,
    pub idempotency_token: Option<String>,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanChunk {
    pub id: String,
    pub from: String,
    pub to: String,
    /// Always `pending` in a plan: progress lives in the run state.
    pub status: String,
    pub attempts: u32,
    /// Absent when `requireIdempotencyToken` is false. With `statements`, the first one's.
    pub idempotency_token: Option<String>,
    /// With `statements`, the first one's SQL.
    pub sql_template: String,
    /// `mv_replay`: every statement of the chunk, in order.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub statements: Option<Vec<PlanStatement>>,
}

/// A view an `mv_replay` plan replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    pub name: String,
    /// The table whose inserts trigger the view; the window is cut on it.
    pub source: String,
    /// The source's column the window filters.
    pub time_column: String,
    /// How the window's bounds are written against it (absent: `DateTime64`).
    #[serde(skip_serializing_if = "BoundType::is_default", default)]
    pub bound_type: BoundType,
    /// Target columns the view writes (the INSERT's column list).
    pub columns: Vec<String>,
    /// Where the replayed query came from: `server` or `schema`.
    pub query_from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanState {
    pub plan_id: String,
    pub target: String,
    pub created_at: String,
    pub status: PlanStatus,
    pub strategy: Strategy,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub environment: Option<Environment>,
    pub from: String,
    pub to: String,
    /// Chunks of this many hours; absent when `volume` sizes them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunk_hours: Option<f64>,
    /// Chunks sized by rows or bytes: the boundaries cut from the data's distribution.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<VolumeHeader>,
    /// The column the window filters (`mv_replay`: the first view's source column; see `views`).
    pub time_column: String,
    /// `table`, `copy`: how the chunk statements write the window's bounds against the time
    /// column (absent: `DateTime64`; `mv_replay`: per view). The run's counts and `verify`
    /// write `DateTime64` bounds, exact on any time column.
    #[serde(skip_serializing_if = "BoundType::is_default", default)]
    pub bound_type: BoundType,
    /// Columns named in the INSERT, when known at plan time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub columns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub views: Option<Vec<PlanView>>,
    pub options: Defaults,
    pub policy: Policy,
    pub limits: Limits,
    /// One per statement of a chunk: what every chunk's SQL must be around its
    /// window (see `plan_check`). Absent in plans of earlier versions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sql_digests: Option<Vec<SqlDigest>>,
    /// The user's settings on every chunk INSERT (part of what a chunk does, so recorded here).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub insert_settings: sql::InsertSettings,
    /// The target is a `Distributed` table over these shards.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub distributed: Option<crate::distributed::DistributedTarget>,
    /// Last, so the plan file can put one chunk per line after the header (see `plan_file`).
    /// (Absent when only the header is read.)
    #[serde(default)]
    pub chunks: Vec<PlanChunk>,
}

/// Parse `--chunk-hours` as typed.
pub fn parse_chunk_hours(raw: &str, limits: &Limits) -> CoreResult<f64> {
    let n: f64 = raw.trim().parse().map_err(|_| {
        CoreError::usage("invalid_chunk_hours", format!("--chunk-hours '{raw}' is not a number"))
    })?;
    check_chunk_hours(n, limits, "--chunk-hours")?;
    Ok(n)
}

/// The columns a copy writes: the target's insertable columns that the source also has.
fn shared_columns(target: &[String], source: &[String]) -> Vec<String> {
    target.iter().filter(|c| source.contains(c)).cloned().collect()
}

/// Everything in the request that needs no server: checked before connecting.
struct Flags {
    opts: Options,
    target: TableRef,
    source: Option<TableRef>,
    chunking: Chunking,
    /// Both ends given; otherwise the window comes from the data.
    window: Option<Window>,
    insert_settings: sql::InsertSettings,
}

/// How chunks are cut: equal hours, or by volume from the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunking {
    Hours(f64),
    Volume(Sizing),
}

/// `--chunk-hours`, `--chunk-rows`, `--chunk-bytes`: at most one; a flag beats the options.
fn chunking_of(req: &PlanRequest, opts: &Options) -> CoreResult<Chunking> {
    let given: Vec<&str> = [(&req.chunk_hours, "--chunk-hours"), (&req.chunk_rows, "--chunk-rows"), (&req.chunk_bytes, "--chunk-bytes")]
        .into_iter()
        .filter_map(|(v, f)| v.as_ref().map(|_| f))
        .collect();
    if given.len() > 1 {
        return Err(CoreError::usage(
            "invalid_flag",
            format!("{} are exclusive: chunks are sized by hours, rows or bytes; pass one", given.join(" and ")),
        ));
    }
    Ok(match (&req.chunk_hours, &req.chunk_rows, &req.chunk_bytes) {
        (Some(raw), _, _) => Chunking::Hours(parse_chunk_hours(raw, &opts.limits)?),
        (_, Some(raw), _) => Chunking::Volume(Sizing::Rows(volume::parse_rows(raw, "--chunk-rows")?)),
        (_, _, Some(raw)) => Chunking::Volume(Sizing::Bytes(volume::parse_bytes(raw, "--chunk-bytes")?)),
        _ => match opts.defaults.sizing() {
            Some(sz) => Chunking::Volume(sz),
            None => Chunking::Hours(opts.defaults.chunk_hours),
        },
    })
}

/// How many chunks the request asks for when its window is explicit (0 when unknown or
/// invalid, or sized by volume: the buffer then grows as needed).
pub fn expected_chunks(req: &PlanRequest) -> usize {
    match check_flags(req) {
        Ok(Flags { window: Some(w), chunking: Chunking::Hours(h), .. }) => ((w.to - w.from) / crate::chunks::chunk_ms(h).max(1)) as usize + 1,
        _ => 0,
    }
}

fn check_flags(req: &PlanRequest) -> CoreResult<Flags> {
    let opts = resolve_options(&req.options)?;
    let target = sql::parse_table(&req.target, &req.default_database, "--target")?;
    let source = match &req.source {
        Some(s) => Some(sql::parse_table(s, &req.default_database, "--source")?),
        None => None,
    };
    if source.as_ref() == Some(&target) {
        return Err(CoreError::usage(
            "invalid_source",
            "--source is the target itself; omit --source to re-insert a table's own window",
        ));
    }
    let chunking = chunking_of(req, &opts)?;
    let from = req.from.as_deref().map(|f| parse_instant(f, "--from")).transpose()?;
    let to = req.to.as_deref().map(|t| parse_instant(t, "--to")).transpose()?;
    let window = match (from, to) {
        (Some(from), Some(to)) => {
            let w = Window { from, to };
            check_window(w, &opts.limits, req.force_large_window)?;
            Some(w)
        }
        _ if opts.policy.require_explicit_window => {
            return Err(CoreError::usage(
                "missing_window",
                "plan needs both --from and --to (policy.requireExplicitWindow)",
            ))
        }
        _ => None,
    };
    if let Some(c) = &req.time_column {
        sql::parse_column(c)?;
    }
    let insert_settings = crate::settings::resolve(&opts.insert_settings, &req.settings, req.server_settings.as_deref())?;
    Ok(Flags { opts, target, source, chunking, window, insert_settings })
}

/// Validate what needs no server (names, numbers, window), so bad input never connects.
pub fn check_plan_input(req: &PlanRequest) -> CoreResult<()> {
    check_flags(req).map(|_| ())
}

/// One view to replay, analysed.
struct Replay {
    name: TableRef,
    query: ViewQuery,
    query_from: &'static str,
    columns: Vec<String>,
}

/// What planning decided before the window: strategy, views, time columns.
struct Prepared {
    flags: Flags,
    strategy: Strategy,
    replays: Vec<Replay>,
    /// One per table the window is cut on (target, copy source, or view sources).
    choices: Vec<Choice>,
    warnings: Vec<String>,
}

/// What `plan` reports before it writes anything (and what a prompt needs).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanPreview {
    pub strategy: Strategy,
    pub time_columns: Vec<Choice>,
    pub views: Vec<PreviewView>,
    pub warnings: Vec<String>,
    /// When the window comes from the data: one query per table, each returning
    /// one row `{min, max, rows}` (min/max as UTC `YYYY-MM-DD HH:MM:SS.fff`).
    pub data_range_queries: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewView {
    pub name: String,
    pub source: String,
    pub query_from: String,
}

fn table_info<'a>(req: &'a PlanRequest, t: &TableRef) -> Option<&'a TableInfo> {
    req.tables.iter().find(|i| i.database == t.database && i.table == t.table)
}

fn target_insertable(req: &PlanRequest, target: &TableRef) -> Option<Vec<String>> {
    req.target_columns.clone().or_else(|| table_info(req, target).map(|i| i.insertable_columns()))
}

fn prepare_replay(req: &PlanRequest, flags: &Flags, v: &ViewInput, warnings: &mut Vec<String>) -> CoreResult<Replay> {
    let name = TableRef { database: v.database.clone(), table: v.name.clone() };
    let display = name.display();
    if v.create_query.as_deref().is_some_and(mv_rewrite::is_refreshable) {
        return Err(CoreError::usage(
            "mv_refreshable",
            format!(
                "materialized view {display} is refreshable (REFRESH …): it recomputes on its schedule, not on inserts, so there is nothing to replay; use SYSTEM REFRESH VIEW {display}"
            ),
        ));
    }
    let (text, query_from) = match (&v.server_query, &v.schema_query) {
        (Some(server), Some(schema)) => {
            if !mv_rewrite::same_query(server, schema) {
                warnings.push(format!(
                    "materialized view {display}: the query in the schema files differs from the server's; replaying the server's, which is what runs"
                ));
            }
            (server, "server")
        }
        (Some(server), None) => (server, "server"),
        (None, Some(schema)) => (schema, "schema"),
        (None, None) => return Err(CoreError::usage("invalid_input", format!("view {display} comes with no query"))),
    };
    let query = mv_rewrite::analyze_view(&display, text, &name.database)?;
    if query.source == flags.target {
        return Err(CoreError::usage(
            "mv_query_unsupported",
            format!("materialized view {display} reads from its own target {}; replaying it would feed on its output", flags.target.display()),
        ));
    }
    let outputs = match &v.output_columns {
        Some(cols) => cols.clone(),
        None => query.parsed_outputs.clone().map_err(|why| {
            CoreError::usage(
                "mv_columns_unknown",
                format!(
                    "materialized view {display}: cannot name its output columns ({why}); add aliases or configure a ClickHouse connection so the server can tell"
                ),
            )
        })?,
    };
    if let Some(target_cols) = target_insertable(req, &flags.target) {
        if let Some(bad) = outputs.iter().find(|c| !target_cols.contains(c)) {
            return Err(CoreError::usage(
                "mv_column_mismatch",
                format!(
                    "materialized view {display} outputs column '{bad}', which {} has not as an insertable column ({})",
                    flags.target.display(),
                    target_cols.join(", ")
                ),
            ));
        }
    }
    Ok(Replay { name, query, query_from, columns: outputs })
}

fn prepare(req: &PlanRequest) -> CoreResult<Prepared> {
    let flags = check_flags(req)?;
    let mut warnings = Vec::new();
    let (strategy, replays) = if flags.source.is_some() || req.views.is_empty() {
        (if flags.source.is_some() { Strategy::Copy } else { Strategy::Table }, Vec::new())
    } else {
        if !flags.opts.defaults.require_idempotency_token {
            return Err(CoreError::usage(
                "mv_requires_idempotency",
                format!(
                    "{} is the TO table of materialized views, and mv_replay needs defaults.requireIdempotencyToken: true: each view's insert carries its own token so a retried chunk cannot double its rows",
                    flags.target.display()
                ),
            ));
        }
        let mut replays =
            req.views.iter().map(|v| prepare_replay(req, &flags, v, &mut warnings)).collect::<CoreResult<Vec<_>>>()?;
        replays.sort_by_key(|r| r.name.display());
        replays.dedup_by_key(|r| r.name.display());
        (Strategy::MvReplay, replays)
    };
    if !req.target_dependents.is_empty() {
        warnings.push(format!(
            "inserts into {} also fire the materialized view(s) {} reading from it: their targets receive the backfilled rows as well",
            flags.target.display(),
            req.target_dependents.join(", ")
        ));
    }
    let mut read_tables: Vec<TableRef> = match strategy {
        Strategy::Table => vec![flags.target.clone()],
        Strategy::Copy => vec![flags.source.clone().expect("copy has a source")],
        Strategy::MvReplay => replays.iter().map(|r| r.query.source.clone()).collect(),
    };
    let mut seen = Vec::new();
    read_tables.retain(|t| if seen.contains(t) { false } else { seen.push(t.clone()); true });
    let choices = read_tables
        .iter()
        .map(|t| {
            let explicit = req.chosen_time_columns.get(&t.display()).or(req.time_column.as_ref());
            time_column::choose(t, explicit.map(String::as_str), flags.opts.defaults.time_column.as_deref(), table_info(req, t))
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(Prepared { flags, strategy, replays, choices, warnings })
}

/// Strategy, views and time-column decisions, without cutting chunks.
pub fn plan_preview(req: &PlanRequest) -> CoreResult<PlanPreview> {
    let p = prepare(req)?;
    let data_range_queries = if p.flags.window.is_some() {
        Vec::new()
    } else {
        p.choices
            .iter()
            .filter_map(|c| {
                let table = sql::parse_table(&c.table, &req.default_database, "table").ok()?;
                Some(data_range_sql(&table, c.column.as_deref()?))
            })
            .collect()
    };
    Ok(PlanPreview {
        data_range_queries,
        strategy: p.strategy,
        time_columns: p.choices,
        views: p
            .replays
            .iter()
            .map(|r| PreviewView { name: r.name.display(), source: r.query.source.display(), query_from: r.query_from.into() })
            .collect(),
        warnings: p.warnings,
    })
}

/// min/max of a time column, in the form `parse_instant` reads back.
pub fn data_range_sql(table: &TableRef, time_column: &str) -> String {
    let c = sql::quote_ident(time_column);
    format!(
        "SELECT toString(toDateTime64(min({c}), 3, 'UTC')) AS min, toString(toDateTime64(max({c}), 3, 'UTC')) AS max, count() AS rows FROM {} {}",
        table.quoted(),
        sql::exact_read_settings(false)
    )
}

/// The window when --from/--to are missing and the policy allows it: the
/// data's min/max widened to whole chunks; a given end is kept.
fn window_from_data(req: &PlanRequest, flags: &Flags, tables: &[Choice]) -> CoreResult<Window> {
    let names = tables.iter().map(|c| c.table.clone()).collect::<Vec<_>>().join(", ");
    let Some(range) = &req.data_range else {
        return Err(CoreError::usage(
            "missing_window",
            "without --from/--to the window is read from the data, which needs a ClickHouse connection; pass --from and --to",
        ));
    };
    let (Some(min), Some(max)) = (&range.min, &range.max) else {
        return Err(CoreError::usage("missing_window", format!("{names} has no rows to take a window from; pass --from and --to")));
    };
    // Volume plans widen to whole grid cells.
    let widen_hours = match flags.chunking {
        Chunking::Hours(h) => h,
        Chunking::Volume(_) => flags.opts.limits.min_chunk_minutes / 60.0,
    };
    let data = widen_to_chunks(parse_instant(min, "data minimum")?, parse_instant(max, "data maximum")?, widen_hours);
    let from = req.from.as_deref().map(|f| parse_instant(f, "--from")).transpose()?.unwrap_or(data.from);
    let to = req.to.as_deref().map(|t| parse_instant(t, "--to")).transpose()?.unwrap_or(data.to);
    let w = Window { from, to };
    check_window(w, &flags.opts.limits, req.force_large_window)?;
    Ok(w)
}

/// `INSERT INTO target (<cols>) <the view's query over the window>`, the columns in
/// the order the view's select list names them; where it cannot be told that the query
/// selects exactly those (a `*`, an unnamed expression, columns the server lists in
/// another order, a `SETTINGS` clause of its own) or `wrapped` asks for it, the query is
/// wrapped in `SELECT <cols> FROM (…)`, which names them. Either way each output lands
/// in the target column of its name, as a live view puts it; the wrapper costs the
/// engine a query level on every chunk. The window filters each read of the source in place
/// where that is sound (`mv_rewrite::replay_select_parts`); `wrapped` also keeps the source
/// subquery, as earlier versions wrote it. → the text around the window, the same in every chunk.
fn replay_text(target: &TableRef, r: &Replay, source_columns: Option<&[String]>, time_column: &str, wrapped: bool) -> StatementText {
    let cols = r.columns.iter().map(|c| sql::quote_ident(c)).collect::<Vec<_>>().join(", ");
    let mut parts = mv_rewrite::replay_select_parts(&r.query, source_columns, (!wrapped).then_some(time_column));
    let last = parts.len() - 1;
    if wrapped || !mv_rewrite::selects_exactly(&r.query, &r.columns) {
        parts[0] = format!("\nINSERT INTO {} ({cols})\nSELECT {cols}\nFROM (\n{}", target.quoted(), parts[0]);
        parts[last].push_str("\n)\n");
    } else {
        parts[0] = format!("\nINSERT INTO {} ({cols})\n{}", target.quoted(), parts[0]);
        parts[last].push('\n');
    }
    StatementText { parts }
}

/// The plan id as its header's identity gives it (`ids::plan_id`): planning
/// uses it, and a run checks a plan file's id against it.
pub fn plan_id_of(p: &PlanState) -> String {
    let mv_identity = p.views.as_ref().map(|vs| {
        let parts: Vec<String> = vs.iter().map(|v| format!("{}:{}:{}", v.name, v.source, v.time_column)).collect();
        format!("mv_replay:{}", parts.join(","))
    });
    // Sized by volume: the sizing stands where chunkHours stands (`rows=500000`).
    let chunking = match (&p.volume, p.chunk_hours) {
        (Some(v), _) => v.sizing.identity(),
        (None, Some(h)) => ids::js_number(h),
        (None, None) => String::new(),
    };
    ids::plan_id(&PlanIdentity {
        target: &p.target,
        from: &p.from,
        to: &p.to,
        chunking: &chunking,
        time_column: &p.time_column,
        source: p.source.as_deref().or(mv_identity.as_deref()),
        env_fingerprint: p.environment.as_ref().map(|e| e.fingerprint.as_str()),
    })
}

/// Where a plan goes as it is built: the header (the plan without chunks) first, then
/// each chunk as it is made, so a large plan can be written out without holding it.
pub trait PlanSink {
    fn header(&mut self, plan: &PlanState) -> CoreResult<()>;
    fn chunk(&mut self, chunk: PlanChunk) -> CoreResult<()>;
}

/// The whole plan in memory.
pub fn build_plan(req: &PlanRequest) -> CoreResult<PlanState> {
    struct Collect(Vec<PlanChunk>);
    impl PlanSink for Collect {
        fn header(&mut self, _: &PlanState) -> CoreResult<()> {
            Ok(())
        }
        fn chunk(&mut self, chunk: PlanChunk) -> CoreResult<()> {
            self.0.push(chunk);
            Ok(())
        }
    }
    let mut sink = Collect(Vec::new());
    let mut plan = build_plan_into(req, &mut sink)?;
    plan.chunks = sink.0;
    Ok(plan)
}

/// Build the plan into `sink`; → the plan without its chunks.
pub fn build_plan_into(req: &PlanRequest, sink: &mut dyn PlanSink) -> CoreResult<PlanState> {
    let Prepared { flags, strategy, replays, choices, .. } = prepare(req)?;
    let time_columns = choices.iter().map(time_column::require).collect::<CoreResult<Vec<_>>>()?;
    let time_column = time_columns[0].clone();
    let w = match flags.window {
        Some(w) => w,
        None => window_from_data(req, &flags, &choices)?,
    };
    let Flags { opts, target, source, chunking, insert_settings, .. } = flags;
    let distributed = req.distributed.as_ref().map(|d| crate::distributed::check_target(&target.display(), strategy, d)).transpose()?;
    let (windows, volume) = match chunking {
        Chunking::Hours(_) => (None, None),
        Chunking::Volume(sizing) => {
            let cut = cut_by_volume(req, &choices, w, sizing, &opts.limits)?;
            (Some(cut.windows), Some(cut.header))
        }
    };
    if strategy != Strategy::MvReplay {
        // The run counts each chunk's rows in the target's window: its column must hold the boundaries.
        if let Some(info) = table_info(req, &target) {
            let source_type = source.as_ref().and_then(|s| table_info(req, s)?.columns.iter().find(|c| c.name == time_column).map(|c| c.ty.as_str()));
            match (chunking, &windows) {
                (Chunking::Hours(h), _) => time_column::check_holds_chunks(info, &time_column, source_type, w, h)?,
                (_, Some(ws)) => {
                    let inner: Vec<i64> = ws.iter().skip(1).map(|c| c.from).collect();
                    time_column::check_holds_boundaries(info, &time_column, source_type, w, &inner)?
                }
                _ => {}
            }
        }
    }

    // A `DateTime` bound where every table the column is compared on holds a `DateTime`.
    let column_type = |t: &TableRef, column: &str| table_info(req, t)?.columns.iter().find(|c| c.name == column).map(|c| c.ty.clone());
    let bounds = |types: Vec<Option<String>>| match req.datetime64_bounds {
        true => BoundType::DateTime64,
        false => BoundType::for_columns(types.iter().map(Option::as_deref)),
    };
    let bound_type = match strategy {
        Strategy::MvReplay => BoundType::DateTime64,
        _ => bounds([Some(&target), source.as_ref()].into_iter().flatten().map(|t| column_type(t, &time_column)).collect()),
    };

    let columns = match (&source, &req.target_columns, &req.source_columns) {
        _ if strategy == Strategy::MvReplay => None,
        (Some(src), Some(t), Some(s)) => {
            let shared = shared_columns(t, s);
            if shared.is_empty() {
                return Err(CoreError::usage(
                    "no_shared_columns",
                    format!("{} and {} share no columns to copy", src.display(), target.display()),
                ));
            }
            Some(shared)
        }
        (Some(src), _, _) => {
            return Err(CoreError::usage(
                "columns_unknown",
                format!(
                    "copying from {} needs the columns of both tables; configure a ClickHouse connection",
                    src.display()
                ),
            ))
        }
        (None, Some(t), _) if !t.is_empty() => Some(t.clone()),
        _ => None,
    };
    if let Some(cols) = &columns {
        for c in cols {
            sql::parse_column(&sql::quote_ident(c))?;
        }
    }

    let views: Option<Vec<PlanView>> = (strategy == Strategy::MvReplay).then(|| {
        replays
            .iter()
            .map(|r| {
                let i = choices.iter().position(|c| c.table == r.query.source.display()).expect("a choice per source");
                PlanView {
                    name: r.name.display(),
                    source: r.query.source.display(),
                    time_column: time_columns[i].clone(),
                    bound_type: bounds(vec![column_type(&r.query.source, &time_columns[i])]),
                    columns: r.columns.clone(),
                    query_from: r.query_from.into(),
                }
            })
            .collect()
    });
    let environment = req.environment.as_ref().map(|e| Environment {
        fingerprint: ids::env_fingerprint(&e.origin, &e.database),
        url: e.origin.clone(),
        database: e.database.clone(),
    });
    let views_time: Vec<&String> = replays
        .iter()
        .map(|r| &time_columns[choices.iter().position(|c| c.table == r.query.source.display()).expect("a choice per source")])
        .collect();
    let source_columns: Vec<Option<Vec<String>>> =
        replays.iter().map(|r| table_info(req, &r.query.source).map(|i| i.readable_columns())).collect();
    let read_from = source.as_ref().unwrap_or(&target);
    let copy_sql = sql::CopyWindowSql::new(&target, read_from, columns.as_deref(), &time_column, bound_type, &insert_settings);
    // The text of each statement around its window, the same in every chunk.
    let texts: Vec<StatementText> = if strategy == Strategy::MvReplay {
        replays.iter().zip(&source_columns).zip(&views_time).map(|((r, cols), tc)| replay_text(&target, r, cols.as_deref(), tc, req.wrapped_replays)).collect()
    } else {
        let (before, after) = copy_sql.window_parts();
        vec![StatementText { parts: vec![before.into(), after.into()] }]
    };

    let mut defaults = opts.defaults.clone();
    let chunk_hours = match chunking {
        Chunking::Hours(h) => {
            defaults.chunk_hours = h;
            (defaults.chunk_rows, defaults.chunk_bytes) = (None, None);
            Some(h)
        }
        Chunking::Volume(sz) => {
            (defaults.chunk_rows, defaults.chunk_bytes) = match sz {
                Sizing::Rows(n) => (Some(n), None),
                Sizing::Bytes(n) => (None, Some(n)),
            };
            None
        }
    };
    defaults.time_column = Some(time_column.clone());
    let mut header = PlanState {
        plan_id: String::new(),
        target: target.display(),
        created_at: req.now.clone(),
        status: PlanStatus::Planned,
        strategy,
        source: source.as_ref().map(|s| s.display()),
        environment,
        from: format_instant(w.from),
        to: format_instant(w.to),
        chunk_hours,
        volume,
        time_column,
        bound_type,
        columns,
        views,
        options: defaults,
        policy: opts.policy,
        limits: opts.limits,
        sql_digests: Some(texts.iter().map(|t| sql_digest(&t.parts)).collect()),
        insert_settings,
        distributed,
        chunks: Vec::new(),
    };
    header.plan_id = plan_id_of(&header);
    sink.header(&header)?;

    let plan_id = &header.plan_id;
    let settings_head = sql::insert_settings(&header.insert_settings, None);
    let quoted_time: Vec<String> = header.views.iter().flatten().map(|v| sql::quote_ident(&v.time_column)).collect();
    let windows = match (windows, chunking) {
        (Some(ws), _) => ws,
        (None, Chunking::Hours(h)) => build_chunks(w, h)?,
        (None, Chunking::Volume(_)) => unreachable!("a volume plan has its windows"),
    };
    for cw in windows {
        let (cf, ct) = (format_instant(cw.from), format_instant(cw.to));
        let (id, chunk_token) = ids::chunk_ids(plan_id, &cf, &ct);
        let chunk = if let Some(views) = &header.views {
            let statements: Vec<PlanStatement> = views
                .iter()
                .zip(&texts)
                .zip(&quoted_time)
                .map(|((v, text), column)| {
                    let token = ids::view_token(plan_id, &id, &v.name);
                    let comment = sql::header_comment(plan_id, &id, &token);
                    let mut predicate = String::with_capacity(2 * column.len() + 110);
                    sql::push_window_predicate(&mut predicate, column, v.bound_type, cw);
                    let sql = text.render(&comment, &predicate, &sql::insert_settings_after(&settings_head, Some(&token)));
                    PlanStatement { label: v.name.clone(), idempotency_token: Some(token), sql }
                })
                .collect();
            PlanChunk {
                id,
                from: cf,
                to: ct,
                status: "pending".into(),
                attempts: 0,
                idempotency_token: statements[0].idempotency_token.clone(),
                sql_template: statements[0].sql.clone(),
                statements: Some(statements),
            }
        } else {
            let token = opts.defaults.require_idempotency_token.then_some(chunk_token);
            let comment = sql::header_comment(plan_id, &id, token.as_deref().unwrap_or("none"));
            let sql_template = copy_sql.render(&comment, cw, token.as_deref());
            PlanChunk { id, from: cf, to: ct, status: "pending".into(), attempts: 0, idempotency_token: token, sql_template, statements: None }
        };
        sink.chunk(chunk)?;
    }
    Ok(header)
}

/// A volume-sized cut: the windows, what the header records, and the counts behind them.
struct VolumeCut {
    windows: Vec<Window>,
    header: VolumeHeader,
    ranges: Vec<std::ops::Range<usize>>,
    /// Rows per cell of each table read (in `choices` order), and what the cut weighed.
    rows: Vec<Vec<u64>>,
    weights: Vec<u64>,
}

/// The windows of a volume-sized plan and what its header records of them.
fn cut_by_volume(req: &PlanRequest, choices: &[Choice], w: Window, sizing: Sizing, limits: &Limits) -> CoreResult<VolumeCut> {
    let grid = Grid::new(w, limits.min_chunk_minutes)?;
    let Some(dist) = &req.distribution else {
        return Err(CoreError::usage(
            "distribution_unknown",
            "--chunk-rows/--chunk-bytes size chunks from the rows in the window, which needs a ClickHouse connection; configure one or use --chunk-hours",
        ));
    };
    // One count per table the chunks read, in the order the plan reads them.
    let tables: Vec<&TableCounts> = choices
        .iter()
        .map(|c| {
            dist.iter().find(|d| d.table == c.table).ok_or_else(|| CoreError::runtime("invalid_distribution", format!("no distribution was read for {}", c.table)))
        })
        .collect::<CoreResult<_>>()?;
    let owned: Vec<TableCounts> = tables.iter().map(|t| (*t).clone()).collect();
    let rows = volume::rows_per_cell(&grid, &owned)?;
    let n = grid.cells();
    let cell_rows: Vec<u64> = (0..n).map(|i| rows.iter().map(|r| r[i]).sum()).collect();
    let weights: Vec<u64> = match sizing {
        Sizing::Rows(_) => cell_rows.clone(),
        Sizing::Bytes(_) => {
            let per_row = tables.iter().map(|t| volume::row_bytes(t)).collect::<CoreResult<Vec<f64>>>()?;
            (0..n).map(|i| rows.iter().zip(&per_row).map(|(r, b)| r[i] as f64 * b).sum::<f64>().round() as u64).collect()
        }
    };
    let max_cells = ((limits.max_chunk_hours * crate::window::HOUR_MS as f64) / grid.cell_ms as f64).floor().max(1.0) as usize;
    let ranges = volume::cut(&weights, sizing.target(), max_cells);
    let sum = |v: &[u64], r: &std::ops::Range<usize>| v[r.clone()].iter().sum::<u64>();
    let windows: Vec<Window> = ranges.iter().map(|r| grid.window_of(r)).collect();
    let header = VolumeHeader {
        sizing,
        grid_minutes: limits.min_chunk_minutes,
        max_chunk_hours: limits.max_chunk_hours,
        boundaries: windows.iter().skip(1).map(|c| format_instant(c.from)).collect(),
        expected_rows: ranges.iter().map(|r| sum(&cell_rows, r)).collect(),
        expected_bytes: matches!(sizing, Sizing::Bytes(_)).then(|| ranges.iter().map(|r| sum(&weights, r)).collect()),
    };
    Ok(VolumeCut { windows, header, ranges, rows, weights })
}

/// The queries a volume-sized plan needs answered before it is built: per table the
/// chunks read, rows per grid cell, and (bytes) its uncompressed size. None: sized by hours.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeQueries {
    pub grid_ms: i64,
    pub cells: usize,
    pub queries: Vec<VolumeQuery>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeQuery {
    pub table: String,
    /// Rows `{cell, rows}` per grid cell.
    pub counts: String,
    /// One row `{bytes, rows}`.
    pub size: Option<String>,
}

pub fn volume_queries(req: &PlanRequest) -> CoreResult<Option<VolumeQueries>> {
    let p = prepare(req)?;
    let Chunking::Volume(sizing) = p.flags.chunking else { return Ok(None) };
    let w = match p.flags.window {
        Some(w) => w,
        None => window_from_data(req, &p.flags, &p.choices)?,
    };
    let grid = Grid::new(w, p.flags.opts.limits.min_chunk_minutes)?;
    let queries = p
        .choices
        .iter()
        .map(|c| {
            let table = sql::parse_table(&c.table, &req.default_database, "table")?;
            let column = time_column::require(c)?;
            let read = match p.strategy {
                Strategy::Table => target_insertable(req, &table),
                Strategy::Copy => match (&req.target_columns, &req.source_columns) {
                    (Some(t), Some(s)) => Some(shared_columns(t, s)),
                    _ => None,
                },
                Strategy::MvReplay => table_info(req, &table).map(|i| i.readable_columns()),
            };
            Ok(VolumeQuery {
                table: c.table.clone(),
                counts: volume::distribution_sql(&table, &column, &grid),
                size: matches!(sizing, Sizing::Bytes(_)).then(|| volume::row_size_sql(&table, read.as_deref())),
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(Some(VolumeQueries { grid_ms: grid.cell_ms, cells: grid.cells(), queries }))
}

/// What `plan` shows of a volume-sized plan: the spread of expected rows, a histogram
/// that fits 80 columns, and warnings (cells above the target; mv_replay chunks over one
/// insert block).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeReport {
    pub sizing: Sizing,
    pub grid_minutes: f64,
    pub expected_rows: volume::Spread,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_bytes: Option<volume::Spread>,
    /// Chunks (1-based) that are one grid cell above the target.
    pub oversized: Vec<OversizedChunk>,
    pub histogram: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OversizedChunk {
    pub chunk: usize,
    pub from: String,
    pub to: String,
    pub rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

pub fn volume_report(req: &PlanRequest) -> CoreResult<Option<VolumeReport>> {
    let Prepared { flags, strategy, replays, choices, .. } = prepare(req)?;
    let Chunking::Volume(sizing) = flags.chunking else { return Ok(None) };
    let w = match flags.window {
        Some(w) => w,
        None => window_from_data(req, &flags, &choices)?,
    };
    let cut = cut_by_volume(req, &choices, w, sizing, &flags.opts.limits)?;
    let target = sizing.target();
    let unit = match sizing {
        Sizing::Rows(_) => "rows",
        Sizing::Bytes(_) => "bytes",
    };
    let mut warnings = Vec::new();
    let mut oversized = Vec::new();
    for (k, r) in cut.ranges.iter().enumerate() {
        if cut.weights[r.clone()].iter().any(|c| *c > target) {
            let win = cut.windows[k];
            let o = OversizedChunk {
                chunk: k + 1,
                from: format_instant(win.from),
                to: format_instant(win.to),
                rows: cut.header.expected_rows[k],
                bytes: cut.header.expected_bytes.as_ref().map(|b| b[k]),
            };
            oversized.push(o);
        }
    }
    // One line per chunk when few; otherwise one line naming the largest (JSON lists them all).
    let line = |o: &OversizedChunk| {
        format!("chunk {} ({} → {}) is one grid cell of {} {unit}", o.chunk, o.from, o.to, volume::human(o.bytes.unwrap_or(o.rows)))
    };
    let advice = format!("above the target of {}: it stays one chunk (a smaller limits.minChunkMinutes splits it)", volume::human(target));
    if oversized.len() <= 3 {
        warnings.extend(oversized.iter().map(|o| format!("{}, {advice}", line(o))));
    } else if let Some(big) = oversized.iter().max_by_key(|o| (o.bytes.unwrap_or(o.rows), std::cmp::Reverse(o.chunk))) {
        warnings.push(format!("{} chunks are each one grid cell {advice}; the largest: {}", oversized.len(), line(big)));
    }
    if let (Strategy::MvReplay, Some(block), Some(false)) = (strategy, req.max_insert_block_size, req.target_replicated) {
        warnings.extend(block_warnings(&replays, &choices, &cut, block, flags.opts.limits.max_chunk_hours, flags.opts.limits.min_chunk_minutes));
    }
    Ok(Some(VolumeReport {
        sizing,
        grid_minutes: cut.header.grid_minutes,
        expected_rows: volume::spread(&cut.header.expected_rows),
        expected_bytes: cut.header.expected_bytes.as_deref().map(volume::spread),
        oversized,
        histogram: volume::histogram(&cut.header.expected_rows),
        warnings,
    }))
}

/// mv_replay into a non-replicated target: a view without GROUP BY writes about one row
/// per source row, and a chunk over one insert block splits into blocks whose ids a retry
/// may not reproduce. → a warning per such view, with the `--chunk-rows` that keeps every
/// chunk under the block (found by cutting again, so the advice is checked).
fn block_warnings(replays: &[Replay], choices: &[Choice], cut: &VolumeCut, block: u64, max_chunk_hours: f64, grid_minutes: f64) -> Vec<String> {
    let mut out = Vec::new();
    let cells_rows: Vec<u64> = (0..cut.weights.len()).map(|i| cut.rows.iter().map(|r| r[i]).sum()).collect();
    let max_cells = ((max_chunk_hours * 60.0) / grid_minutes).floor().max(1.0) as usize;
    for r in replays.iter().filter(|r| !mv_rewrite::groups_rows(&r.query)) {
        let Some(t) = choices.iter().position(|c| c.table == r.query.source.display()) else { continue };
        let src = &cut.rows[t];
        let worst = |ranges: &[std::ops::Range<usize>]| ranges.iter().map(|g| src[g.clone()].iter().sum::<u64>()).max().unwrap_or(0);
        let over = cut.ranges.iter().filter(|g| src[(*g).clone()].iter().sum::<u64>() > block).count();
        if over == 0 {
            continue;
        }
        let name = r.name.display();
        let head = format!(
            "materialized view {name} has no GROUP BY and {over} chunk(s) read more than one insert block (max_insert_block_size = {block}) of {}: a retried chunk may split into other blocks and its token no longer deduplicates",
            r.query.source.display()
        );
        if src.iter().any(|c| *c > block) {
            out.push(format!("{head}; one grid cell alone holds more, so lower limits.minChunkMinutes (now {grid_minutes}) and plan again"));
            continue;
        }
        // Largest target whose cut keeps every chunk under the block (1 always does).
        let (mut lo, mut hi) = (1u64, block);
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if worst(&volume::cut(&cells_rows, mid, max_cells)) <= block {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        out.push(format!("{head}; plan with --chunk-rows {lo} to keep every chunk under it"));
    }
    out
}

/// Options recorded in a plan that do not change the rows it writes: how a run
/// goes (parallelism, retries, backoff), the policies and the limits `plan`
/// checked. A plan differing only in them is the same plan.
/// (The sizing options too: the plan's own `chunkHours` / `volume` say how it was cut.)
const RUN_ONLY_OPTIONS: [&str; 6] = ["maxParallelChunks", "maxRetriesPerChunk", "retryDelayMs", "chunkHours", "chunkRows", "chunkBytes"];
const RUN_ONLY_FIELDS: [&str; 3] = ["createdAt", "policy", "limits"];

/// Top-level fields where an existing plan differs from a fresh one in what
/// decides the rows written. Empty: re-planning is a no-op.
pub fn plan_differences(existing: &Value, fresh: &PlanState) -> Vec<String> {
    let fresh = serde_json::to_value(fresh).expect("plan serialises");
    let (Some(a), Some(b)) = (existing.as_object(), fresh.as_object()) else {
        return vec!["(whole plan)".into()];
    };
    let rows_only = |o: &serde_json::Map<String, Value>| {
        let mut o = o.clone();
        for k in RUN_ONLY_FIELDS {
            o.remove(k);
        }
        if let Some(Value::Object(opts)) = o.get_mut("options") {
            for k in RUN_ONLY_OPTIONS {
                opts.remove(k);
            }
        }
        o
    };
    let (a, b) = (rows_only(a), rows_only(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| !json_eq(a.get(*k), b.get(*k))).cloned().collect()
}

/// JSON equality where `6` and `6.0` are the same number (JS writes one, serde the other).
fn json_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(Some(p), Some(q)))
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.len() == y.len() && x.iter().all(|(k, v)| json_eq(Some(v), y.get(k)))
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::Digest;

    fn req() -> PlanRequest {
        PlanRequest {
            options: json!({ "defaults": { "timeColumn": "event_time" } }),
            target: "app.events".into(),
            from: Some("2025-01-01".into()),
            to: Some("2025-01-02T03:00:00Z".into()),
            default_database: "default".into(),
            now: "2025-06-01T00:00:00.000Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn table_plan() {
        let p = build_plan(&req()).unwrap();
        assert_eq!(p.strategy, Strategy::Table);
        assert_eq!(p.chunks.len(), 5);
        assert_eq!(p.chunks[4].from, "2025-01-02T00:00:00.000Z");
        assert_eq!(p.chunks[4].to, "2025-01-02T03:00:00.000Z");
        let sql = &p.chunks[0].sql_template;
        assert!(sql.starts_with(&format!("/* chkit-backfill plan={} chunk={}", p.plan_id, p.chunks[0].id)));
        assert!(sql.contains("INSERT INTO `app`.`events`\nSELECT *\nFROM `app`.`events`\n"));
        assert!(sql.contains("WHERE `event_time` >= toDateTime64('2025-01-01 00:00:00.000', 3, 'UTC') AND `event_time` < toDateTime64('2025-01-01 06:00:00.000', 3, 'UTC')"));
        assert!(sql.contains(&format!("insert_deduplication_token='{}'", p.chunks[0].idempotency_token.as_ref().unwrap())));
        assert!(sql.contains("async_insert=0"));
        // Same request, same plan.
        let again = build_plan(&req()).unwrap();
        assert_eq!(p, again);
        assert!(plan_differences(&serde_json::to_value(&p).unwrap(), &again).is_empty());
        // As JavaScript wrote it: 6 rather than 6.0.
        let js_text = serde_json::to_string(&p).unwrap().replace("\"chunkHours\":6.0", "\"chunkHours\":6");
        assert!(js_text.contains("\"chunkHours\":6,"));
        assert!(plan_differences(&serde_json::from_str(&js_text).unwrap(), &again).is_empty());
    }

    #[test]
    fn run_only_options_do_not_make_a_plan_different() {
        let a = build_plan(&req()).unwrap();
        let mut r = req();
        r.options = json!({
            "defaults": { "timeColumn": "event_time", "retryDelayMs": 5, "maxRetriesPerChunk": 9, "maxParallelChunks": 4 },
            "policy": { "requireDryRunBeforeRun": false, "blockOverlappingRuns": false },
            "limits": { "maxWindowHours": 1000 },
        });
        let b = build_plan(&r).unwrap();
        assert_eq!(a.plan_id, b.plan_id);
        assert!(plan_differences(&serde_json::to_value(&a).unwrap(), &b).is_empty());
        r.options = json!({ "defaults": { "timeColumn": "event_time", "requireIdempotencyToken": false } });
        assert_eq!(plan_differences(&serde_json::to_value(&a).unwrap(), &build_plan(&r).unwrap()), ["chunks", "options"]);
    }

    #[test]
    fn environment_changes_the_id() {
        let a = build_plan(&req()).unwrap();
        let mut r = req();
        r.environment = Some(EnvironmentInput { origin: "http://localhost:8123".into(), database: "app".into() });
        let b = build_plan(&r).unwrap();
        assert_ne!(a.plan_id, b.plan_id);
        assert_eq!(b.environment.as_ref().unwrap().fingerprint, ids::env_fingerprint("http://localhost:8123", "app"));
        let diff = plan_differences(&serde_json::to_value(&a).unwrap(), &b);
        assert!(diff.contains(&"planId".to_string()) && diff.contains(&"environment".to_string()));
    }

    #[test]
    fn tokens_only_when_required() {
        let mut r = req();
        r.options = json!({ "defaults": { "timeColumn": "event_time", "requireIdempotencyToken": false } });
        let p = build_plan(&r).unwrap();
        assert!(p.chunks[0].idempotency_token.is_none());
        assert!(!p.chunks[0].sql_template.contains("insert_deduplication_token"));
    }

    #[test]
    fn copy_names_shared_columns() {
        let mut r = req();
        r.source = Some("app.events_old".into());
        assert_eq!(build_plan(&r).unwrap_err().code, "columns_unknown");
        r.target_columns = Some(vec!["event_time".into(), "user_id".into(), "new_col".into()]);
        r.source_columns = Some(vec!["user_id".into(), "event_time".into(), "legacy".into()]);
        let p = build_plan(&r).unwrap();
        assert_eq!(p.strategy, Strategy::Copy);
        assert_eq!(p.columns.as_deref().unwrap(), ["event_time", "user_id"]);
        assert!(p.chunks[0].sql_template.contains(
            "INSERT INTO `app`.`events` (`event_time`, `user_id`)\nSELECT `event_time`, `user_id`\nFROM `app`.`events_old`"
        ));
        assert_ne!(p.plan_id, build_plan(&req()).unwrap().plan_id);
    }

    #[test]
    fn bad_requests() {
        let cases: Vec<(Box<dyn Fn(&mut PlanRequest)>, &str)> = vec![
            (Box::new(|r| r.target = "app.".into()), "invalid_target"),
            (Box::new(|r| r.from = Some("nope".into())), "invalid_window"),
            (Box::new(|r| r.to = Some("2024-12-31".into())), "invalid_window"),
            (Box::new(|r| r.to = None), "missing_window"),
            (Box::new(|r| r.chunk_hours = Some("x".into())), "invalid_chunk_hours"),
            (Box::new(|r| r.chunk_hours = Some("0.1".into())), "invalid_chunk_hours"),
            (Box::new(|r| r.chunk_hours = Some("-1".into())), "invalid_chunk_hours"),
            (Box::new(|r| r.time_column = Some("a;b".into())), "invalid_column"),
            (Box::new(|r| r.options = json!({})), "missing_time_column"),
            (Box::new(|r| r.source = Some("app.events".into())), "invalid_source"),
            (Box::new(|r| r.to = Some("2025-03-01".into())), "window_too_large"),
        ];
        for (mutate, code) in cases {
            let mut r = req();
            mutate(&mut r);
            let e = build_plan(&r).unwrap_err();
            assert_eq!(e.code, code, "{}", e.message);
        }
        let mut r = req();
        r.chunk_hours = Some("0.25".into());
        assert_eq!(build_plan(&r).unwrap().chunks.len(), 108);
    }

    /// A table plan over one day, sized by rows, with rows on a 15-minute grid.
    fn volume_req(cells: Vec<(u64, u64)>) -> PlanRequest {
        let mut r = req();
        r.to = Some("2025-01-02".into());
        r.chunk_rows = Some("100".into());
        r.distribution = Some(vec![TableCounts { table: "app.events".into(), cells, size: None }]);
        r
    }

    #[test]
    fn volume_plan_cuts_on_the_data() {
        // 96 cells: empty night, a busy morning, a spike, quiet rest.
        let cells: Vec<(u64, u64)> = (0..96u64).filter_map(|i| match i {
            0..=23 => None,
            24..=47 => Some((i, 25)),
            60 => Some((i, 500)),
            _ => Some((i, 1)),
        }).collect();
        let p = build_plan(&volume_req(cells.clone())).unwrap();
        let v = p.volume.as_ref().unwrap();
        assert_eq!(p.chunk_hours, None);
        assert_eq!(v.sizing, Sizing::Rows(100));
        assert_eq!(v.boundaries.len() + 1, p.chunks.len());
        assert_eq!(v.expected_rows.iter().sum::<u64>(), cells.iter().map(|c| c.1).sum::<u64>());
        // The first chunk takes the empty night and four busy cells.
        assert_eq!((p.chunks[0].from.as_str(), p.chunks[0].to.as_str()), ("2025-01-01T00:00:00.000Z", "2025-01-01T07:00:00.000Z"));
        assert_eq!(v.expected_rows, [100, 100, 100, 100, 100, 100, 12, 500, 35]);
        assert_eq!(p.options.chunk_rows, Some(100));
        // The id: the seed's formula with the sizing where chunkHours stands.
        let want = &crate::ids::hex(&sha2::Sha256::digest(b"app.events|2025-01-01T00:00:00.000Z|2025-01-02T00:00:00.000Z|rows=100|event_time"))[..16];
        assert_eq!(p.plan_id, want);
        // Same data, same plan; a run's checks accept it.
        assert_eq!(build_plan(&volume_req(cells.clone())).unwrap(), p);
        let check = crate::plan_check::PlanCheck::open(&PlanState { chunks: vec![], ..p.clone() }, p.chunks.len(), "default").unwrap();
        p.chunks.iter().enumerate().for_each(|(i, c)| check.chunk(i, c).unwrap());
        // Moved data: same id, a plan that differs in its boundaries.
        let mut moved = cells.clone();
        moved[0].1 = 300;
        let q = build_plan(&volume_req(moved)).unwrap();
        assert_eq!(q.plan_id, p.plan_id);
        assert_eq!(plan_differences(&serde_json::to_value(&p).unwrap(), &q), ["chunks", "volume"]);
        // An edited boundary is refused before anything runs.
        let mut h = PlanState { chunks: vec![], ..p.clone() };
        h.volume.as_mut().unwrap().boundaries[0] = "2025-01-01T07:15:00.000Z".into();
        let c = crate::plan_check::PlanCheck::open(&h, p.chunks.len(), "default").unwrap();
        assert!(c.chunk(0, &p.chunks[0]).unwrap_err().message.contains("chunk 1 in the file is"));
        h.volume.as_mut().unwrap().boundaries[0] = "2025-01-01T07:10:00.000Z".into();
        assert!(crate::plan_check::PlanCheck::open(&h, p.chunks.len(), "default").unwrap_err().message.contains("grid"));
        // The report names the spike and draws one bar per chunk.
        let rep = volume_report(&volume_req(cells)).unwrap().unwrap();
        assert_eq!(rep.oversized.len(), 1);
        assert_eq!(rep.oversized[0].chunk, 8);
        assert!(rep.warnings[0].starts_with("chunk 8 (2025-01-01T15:00:00.000Z → 2025-01-01T15:15:00.000Z) is one grid cell of 500 rows"), "{}", rep.warnings[0]);
        assert_eq!(rep.histogram.len(), p.chunks.len());
    }

    #[test]
    fn volume_sizing_flags() {
        let mut r = volume_req(vec![]);
        r.chunk_hours = Some("6".into());
        assert_eq!(build_plan(&r).unwrap_err().code, "invalid_flag");
        for (rows, code) in [("0", "invalid_chunk_rows"), ("-1", "invalid_chunk_rows"), ("1.5", "invalid_chunk_rows")] {
            let mut r = volume_req(vec![]);
            r.chunk_rows = Some(rows.into());
            assert_eq!(check_plan_input(&r).unwrap_err().code, code);
        }
        let mut r = volume_req(vec![]);
        r.chunk_rows = None;
        r.chunk_bytes = Some("12XB".into());
        assert_eq!(check_plan_input(&r).unwrap_err().code, "invalid_chunk_bytes");
        // No connection, no distribution.
        let mut r = volume_req(vec![]);
        r.distribution = None;
        assert_eq!(build_plan(&r).unwrap_err().code, "distribution_unknown");
        // The flag beats the options: hours in the options, rows on the command line.
        let mut r = volume_req(vec![(0, 1)]);
        r.options = json!({ "defaults": { "timeColumn": "event_time", "chunkHours": 3 } });
        assert!(build_plan(&r).unwrap().volume.is_some());
        r.chunk_rows = None;
        assert_eq!(build_plan(&r).unwrap().chunk_hours, Some(3.0));
        // Bytes: rows × the table's average row size.
        let mut r = volume_req((0..96).map(|i| (i, 10)).collect());
        r.chunk_rows = None;
        r.chunk_bytes = Some("1KB".into());
        r.distribution.as_mut().unwrap()[0].size = Some(volume::TableSize { bytes: 5000, rows: 100 });
        let p = build_plan(&r).unwrap();
        let v = p.volume.unwrap();
        assert_eq!(v.expected_bytes.as_ref().unwrap()[0], 1000);
        assert_eq!(v.expected_rows[0], 20);
        assert!(p.plan_id != build_plan(&volume_req(vec![])).unwrap().plan_id);
    }

    #[test]
    fn mv_block_warning_gives_checked_advice() {
        let mut r = mv_req();
        r.to = Some("2025-01-02".into());
        r.chunk_rows = Some("1000".into());
        r.max_insert_block_size = Some(300);
        r.target_replicated = Some(false);
        r.distribution = Some(vec![TableCounts { table: "app.events".into(), cells: (0..96).map(|i| (i, 100)).collect(), size: None }]);
        let rep = volume_report(&r).unwrap().unwrap();
        // v1 has no GROUP BY; v2 aggregates.
        assert_eq!(rep.warnings.len(), 1, "{:?}", rep.warnings);
        assert!(rep.warnings[0].contains("app.v1 has no GROUP BY") && rep.warnings[0].ends_with("plan with --chunk-rows 300 to keep every chunk under it"), "{}", rep.warnings[0]);
        r.chunk_rows = Some("300".into());
        assert!(volume_report(&r).unwrap().unwrap().warnings.is_empty());
        r.target_replicated = Some(true);
        r.chunk_rows = Some("1000".into());
        assert!(volume_report(&r).unwrap().unwrap().warnings.is_empty(), "a replicated target deduplicates by its own log");
    }

    fn mv_req() -> PlanRequest {
        // `name type`, with a trailing `*` for a MATERIALIZED column.
        let table = |name: &str, cols: &[&str], order_by: &str| TableInfo {
            database: "app".into(),
            table: name.into(),
            columns: cols
                .iter()
                .map(|c| {
                    let (n, t) = c.split_once(' ').unwrap();
                    let (t, kind) = t.strip_suffix('*').map_or((t, ""), |t| (t, "MATERIALIZED"));
                    crate::time_column::ColumnInfo { name: n.into(), ty: t.into(), default_kind: kind.into() }
                })
                .collect(),
            order_by: vec![order_by.into()],
            time_column: None,
        };
        let mut r = req();
        r.options = json!({});
        r.target = "app.hourly".into();
        r.tables = vec![
            table("events", &["ts DateTime", "u UInt64", "m UInt64*"], "ts, u"),
            table("hourly", &["hour DateTime", "n UInt64", "x UInt64*"], "hour"),
        ];
        r.views = vec![
            ViewInput { database: "app".into(), name: "v2".into(), schema_query: Some("SELECT toStartOfHour(ts) AS hour, count() AS n FROM events GROUP BY hour".into()), server_query: None, output_columns: None, create_query: None },
            ViewInput { database: "app".into(), name: "v1".into(), schema_query: None, server_query: Some("SELECT * FROM app.events".into()), output_columns: Some(vec!["n".into()]), create_query: None },
        ];
        r
    }

    #[test]
    fn mv_replay_plan() {
        let p = build_plan(&mv_req()).unwrap();
        assert_eq!(p.strategy, Strategy::MvReplay);
        let views = p.views.as_ref().unwrap();
        assert_eq!(views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["app.v1", "app.v2"], "sorted by name");
        assert_eq!((views[0].time_column.as_str(), views[0].source.as_str(), views[0].query_from.as_str()), ("ts", "app.events", "server"));
        assert_eq!(views[1].columns, ["hour", "n"]);
        assert_eq!(p.time_column, "ts");
        assert!(p.columns.is_none());
        for c in &p.chunks {
            let st = c.statements.as_ref().unwrap();
            assert_eq!(st.len(), 2);
            assert_ne!(st[0].idempotency_token, st[1].idempotency_token);
            assert_eq!(st[0].idempotency_token.as_deref(), Some(ids::view_token(&p.plan_id, &c.id, "app.v1").as_str()));
            assert_eq!((&c.sql_template, &c.idempotency_token), (&st[0].sql, &st[0].idempotency_token));
            // The source subquery reads MATERIALIZED columns too; the outer select names the outputs.
            assert!(st[0].sql.contains("INSERT INTO `app`.`hourly` (`n`)\nSELECT `n`\nFROM (\nSELECT * FROM (SELECT `ts`, `u`, `m` FROM `app`.`events` WHERE `ts` >= "), "{}", st[0].sql);
        }
        // Same window as a table plan of the target, yet another plan.
        let mut table = mv_req();
        table.views.clear();
        table.time_column = Some("hour".into());
        assert_ne!(build_plan(&table).unwrap().plan_id, p.plan_id);
        let mut one = mv_req();
        one.views.truncate(1);
        assert_ne!(build_plan(&one).unwrap().plan_id, p.plan_id, "the views are part of the identity");
    }

    #[test]
    fn mv_replay_refusals() {
        let cases: Vec<(Box<dyn Fn(&mut PlanRequest)>, &str, &str)> = vec![
            (Box::new(|r| r.options = json!({"defaults": {"requireIdempotencyToken": false}})), "mv_requires_idempotency", "requireIdempotencyToken: true"),
            (Box::new(|r| r.views[1].output_columns = None), "mv_columns_unknown", "app.v1: cannot name its output columns ('*' (a star"),
            (Box::new(|r| r.views[1].output_columns = Some(vec!["x".into()])), "mv_column_mismatch", "outputs column 'x', which app.hourly has not as an insertable column (hour, n)"),
            (Box::new(|r| r.views[0].schema_query = Some("SELECT hour, n FROM app.hourly".into())), "mv_query_unsupported", "reads from its own target"),
            (Box::new(|r| r.views[0].schema_query = Some("SELECT ts AS hour, 1 AS n FROM events FINAL".into())), "mv_query_unsupported", "FINAL on the source"),
            (Box::new(|r| r.time_column = Some("u".into())), "invalid_time_column", "'u' of app.events is UInt64"),
            (
                Box::new(|r| r.views[1].create_query = Some("CREATE MATERIALIZED VIEW app.v1 REFRESH EVERY 1 HOUR TO app.hourly (`n` UInt64) AS SELECT * FROM app.events".into())),
                "mv_refreshable",
                "app.v1 is refreshable",
            ),
        ];
        for (mutate, code, msg) in cases {
            let mut r = mv_req();
            mutate(&mut r);
            let e = build_plan(&r).unwrap_err();
            assert_eq!(e.code, code, "{}", e.message);
            assert!(e.message.contains(msg), "{}", e.message);
        }
    }

    #[test]
    fn preview_and_warnings() {
        let mut r = mv_req();
        r.views[1].schema_query = Some("SELECT * FROM app.events WHERE 1".into());
        r.target_dependents = vec!["app.down_mv".into()];
        r.from = None;
        r.to = None;
        r.options = json!({"policy": {"requireExplicitWindow": false}});
        let p = plan_preview(&r).unwrap();
        assert_eq!(p.strategy, Strategy::MvReplay);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("app.v1: the query in the schema files differs"));
        assert_eq!(p.data_range_queries, ["SELECT toString(toDateTime64(min(`ts`), 3, 'UTC')) AS min, toString(toDateTime64(max(`ts`), 3, 'UTC')) AS max, count() AS rows FROM `app`.`events` SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1"]);
        assert_eq!(build_plan(&r).unwrap_err().code, "missing_window");
        r.data_range = Some(DataRange { min: Some("2025-01-01 07:10:00.000".into()), max: Some("2025-01-01 13:00:00.000".into()) });
        let plan = build_plan(&r).unwrap();
        assert_eq!((plan.from.as_str(), plan.to.as_str()), ("2025-01-01T06:00:00.000Z", "2025-01-01T18:00:00.000Z"));
        r.to = Some("2025-01-02T03:00:00Z".into());
        let plan = build_plan(&r).unwrap();
        assert_eq!((plan.from.as_str(), plan.to.as_str()), ("2025-01-01T06:00:00.000Z", "2025-01-02T03:00:00.000Z"), "a given end is kept");
    }
}
