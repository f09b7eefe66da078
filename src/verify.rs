//! `verify`: the SQL that compares, on the server, what the target holds for each
//! chunk's window with what it should hold, and the verdicts drawn from the answers.
//! Only aggregates cross the wire: a count and an order-independent checksum per
//! chunk and side (two sums of 64-bit row hashes, in UInt128 so they never wrap and
//! a doubled window doubles them exactly).

use crate::chunks::chunk_ms;
use crate::error::{CoreError, CoreResult};
use crate::ids;
use crate::run_state::{ChunkStatus, PlanFacts};
use crate::sql::{self, exact_read_settings, quote_ident, quote_string, TableRef};
use crate::window::{format_instant, parse_instant, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which hash the second sum of a checksum is of. Runs of earlier versions recorded
/// `sipHash64`, which was most of the cost of measuring the windows at run start (a 5M-row
/// grid count took 0.7 s with it, 0.15 s with `xxHash64`); windows are now measured with
/// `xxHash64`, written with an `x` before its sum (`123:x456`), so a recorded checksum says
/// which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondHash {
    Xx,
    Sip,
}

/// A multiset checksum of rows: the sums of two independent 64-bit hashes of each row
/// (`cityHash64`, and `second` of `hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    pub city: u128,
    pub second: u128,
    pub hash: SecondHash,
}

/// An empty set or NULL sums to 0; anything else must be a number.
fn sum_of(s: &str) -> Option<u128> {
    if s.is_empty() || s == "\\N" {
        Some(0)
    } else {
        s.parse::<u128>().ok()
    }
}

impl Checksum {
    pub const EMPTY: Checksum = Checksum { city: 0, second: 0, hash: SecondHash::Xx };

    /// `city:xXX` (this version) or `city:SIP` (earlier ones), as `chunk_measured` records it.
    pub fn parse(s: &str) -> Option<Checksum> {
        let (a, b) = s.split_once(':')?;
        let city = a.parse().ok()?;
        Some(match b.strip_prefix('x') {
            Some(x) => Checksum { city, second: x.parse().ok()?, hash: SecondHash::Xx },
            // The empty set sums to 0 under either hash (`0:0` is also what a window without rows gets).
            None => match b.parse().ok()? {
                0 => Checksum { city, second: 0, hash: SecondHash::Xx },
                sip => Checksum { city, second: sip, hash: SecondHash::Sip },
            },
        })
    }
    /// The checksum of both sets; None when their second sums are of different hashes.
    pub fn plus(self, o: Checksum) -> Option<Checksum> {
        (self.hash == o.hash).then(|| Checksum { city: self.city.wrapping_add(o.city), second: self.second.wrapping_add(o.second), hash: self.hash })
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hash {
            SecondHash::Xx => write!(f, "{}:x{}", self.city, self.second),
            SecondHash::Sip => write!(f, "{}:{}", self.city, self.second),
        }
    }
}

/// What a verify query answered for a window: the sums under each hash it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sums {
    city: u128,
    xx: u128,
    /// Asked for only when a recorded checksum is of `sipHash64`.
    sip: Option<u128>,
}

impl Sums {
    const EMPTY: Sums = Sums { city: 0, xx: 0, sip: Some(0) };

    /// `h1`, `h2` (`x`-prefixed, as `checksum_items` writes it) and `h3` when asked for.
    fn from_parts(h1: &str, h2: &str, h3: Option<&str>) -> CoreResult<Sums> {
        let bad = || CoreError::runtime("verify_answer", format!("not a checksum: {h1}:{h2}"));
        Ok(Sums {
            city: sum_of(h1).ok_or_else(bad)?,
            xx: sum_of(h2.strip_prefix('x').unwrap_or(h2)).ok_or_else(bad)?,
            sip: h3.map(|s| sum_of(s).ok_or_else(bad)).transpose()?,
        })
    }

    /// These sums as a checksum of `hash`; None when that hash was not asked for.
    fn as_checksum(self, hash: SecondHash) -> Option<Checksum> {
        let second = match hash {
            SecondHash::Xx => self.xx,
            SecondHash::Sip => self.sip?,
        };
        Some(Checksum { city: self.city, second, hash })
    }
}

/// `__chkit_h1, __chkit_h2` select items (aliases no column name is likely to take): the two
/// row-hash sums over `exprs` (`*` when None), the second `x`-prefixed (`SecondHash::Xx`);
/// with `sip`, also `__chkit_h3`, the `sipHash64` sum earlier versions recorded.
pub fn checksum_items(exprs: Option<&[String]>, sip: bool) -> String {
    let row = match exprs {
        Some(e) if !e.is_empty() => e.join(", "),
        _ => "*".to_string(),
    };
    let sum = |hash: &str| format!("toString(sum(toUInt128({hash}(tuple({row})))))");
    let mut items = format!("{} AS __chkit_h1, concat('x', {}) AS __chkit_h2", sum("cityHash64"), sum("xxHash64"));
    if sip {
        items.push_str(&format!(", {} AS __chkit_h3", sum("sipHash64")));
    }
    items
}

/// `SELECT count(), h1, h2 FROM table WHERE window`: the count a run measures
/// before the first attempt, with the window's checksum for `verify` to compare against.
pub fn measure_sql(table: &TableRef, columns: Option<&[String]>, time_column: &str, w: Window) -> String {
    let cols = columns.map(|c| c.iter().map(|c| quote_ident(c)).collect::<Vec<_>>());
    format!(
        "SELECT count() AS __chkit_c, {} FROM {} WHERE {} {}, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0",
        checksum_items(cols.as_deref(), false),
        table.quoted(),
        sql::window_predicate(time_column, w),
        exact_read_settings(false)
    )
}

/// `measure_sql` for many chunks of a plan at once: per chunk (`__chkit_chunk`) the same
/// count and checksum, from one GROUP BY over the chunk grid, as `verify` reads it back.
pub fn grid_measure_sql(f: &PlanFacts, chunks: &[usize]) -> CoreResult<String> {
    let p = plan_of(f)?;
    let (first, last) = match (chunks.first(), chunks.last()) {
        (Some(&a), Some(&b)) if b < p.windows.len() => (a, b),
        _ => return Err(CoreError::runtime("grid_measure", format!("no such chunks: {chunks:?}"))),
    };
    // The span from the first chunk to the last (a short WHERE however many chunks are
    // picked); rows of chunks in between that are not picked are grouped apart and unused.
    let span = sql::window_predicate(&f.time_column, Window { from: p.windows[first].from, to: p.windows[last].to });
    let cols = f.columns.as_ref().map(|c| c.iter().map(|c| quote_ident(c)).collect::<Vec<_>>());
    Ok(side_sql_where(&p.target, cols.as_deref(), &f.time_column, &p, &span, false, false))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// '' | DEFAULT | MATERIALIZED | ALIAS | EPHEMERAL
    #[serde(default)]
    pub default_kind: String,
}

/// The target as `system.tables`/`system.columns` describe it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableFacts {
    pub engine: String,
    #[serde(default)]
    pub engine_full: String,
    #[serde(default)]
    pub sorting_key: String,
    pub columns: Vec<Column>,
}

/// What the run recorded for a chunk.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkRecord {
    /// 0-based.
    pub chunk: usize,
    pub status: ChunkStatus,
    /// The last `chunk_measured` of the chunk.
    #[serde(default)]
    pub before: Option<u64>,
    #[serde(default)]
    pub expected: Option<u64>,
    #[serde(default)]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewFacts {
    pub name: String,
    pub time_column: String,
    /// How the plan wrote the view's window bounds (absent: `DateTime64`).
    #[serde(default)]
    pub bound_type: crate::window::BoundType,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    pub facts: PlanFacts,
    pub target: TableFacts,
    /// mv_replay: the plan's views.
    #[serde(default)]
    pub views: Vec<ViewFacts>,
    /// The chunks to report on (mv_replay evaluates every chunk's view all the same).
    pub chunks: Vec<ChunkRecord>,
    /// mv_replay: the statements of the first chunk (for the whole-window key count).
    #[serde(default)]
    pub first_statements: Vec<String>,
}

struct Plan {
    target: TableRef,
    source: Option<TableRef>,
    windows: Vec<Window>,
    whole: Window,
    /// How a row's chunk is computed on the server.
    bucket: Bucket,
}

enum Bucket {
    /// Chunks of one length: a division.
    Step(i64),
    /// A volume-sized plan: the number of chunk starts (after the first) at or before the row.
    Starts(Vec<i64>),
}

fn plan_of(f: &PlanFacts) -> CoreResult<Plan> {
    let target = sql::parse_table(&f.target, &f.default_database, "plan target")?;
    let source = f.source.as_deref().map(|s| sql::parse_table(s, &f.default_database, "plan source")).transpose()?;
    let whole = Window { from: parse_instant(&f.from, "plan from")?, to: parse_instant(&f.to, "plan to")? };
    let windows = crate::run_state::plan_windows(f, whole)?;
    let bucket = match f.chunk_hours {
        Some(h) if f.volume.is_none() => Bucket::Step(chunk_ms(h)),
        _ => Bucket::Starts(windows.iter().skip(1).map(|w| w.from).collect()),
    };
    Ok(Plan { target, source, windows, whole, bucket })
}

/// Chunks named by `--chunk` (1-based numbers or chunk ids) or `--sample k` (k chunks
/// spread evenly over the window); all chunks when neither is given.
pub fn select_chunks(f: &PlanFacts, picks: &[String], sample: Option<u64>) -> CoreResult<Vec<usize>> {
    let p = plan_of(f)?;
    let n = p.windows.len();
    if !picks.is_empty() && sample.is_some() {
        return Err(CoreError::usage("invalid_flag", "give --chunk or --sample, not both"));
    }
    if let Some(k) = sample {
        if k == 0 {
            return Err(CoreError::usage("invalid_flag", "--sample takes a number of chunks of at least 1"));
        }
        let k = (k as usize).min(n);
        // The middle of each of k equal stretches of the window.
        let mut out: Vec<usize> = (0..k).map(|j| ((2 * j + 1) * n) / (2 * k)).collect();
        out.dedup();
        return Ok(out);
    }
    if picks.is_empty() {
        return Ok((0..n).collect());
    }
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for (i, w) in p.windows.iter().enumerate() {
        by_id.insert(ids::chunk_id(&f.plan_id, &format_instant(w.from), &format_instant(w.to)), i);
    }
    let mut out = Vec::new();
    for pick in picks {
        let i = match pick.parse::<usize>() {
            Ok(k) if k >= 1 && k <= n => k - 1,
            Ok(_) => return Err(CoreError::usage("invalid_chunk", format!("--chunk {pick}: plan {} has chunks 1 to {n}", f.plan_id))),
            Err(_) => *by_id
                .get(pick.as_str())
                .ok_or_else(|| CoreError::usage("invalid_chunk", format!("--chunk {pick}: no chunk of plan {} has this number or id", f.plan_id)))?,
        };
        out.push(i);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `OR` of the selected windows; the plan's window when every chunk is selected.
fn windows_predicate(time_column: &str, p: &Plan, chunks: &[usize]) -> String {
    if chunks.len() == p.windows.len() {
        return sql::window_predicate(time_column, p.whole);
    }
    chunks.iter().map(|&i| format!("({})", sql::window_predicate(time_column, p.windows[i]))).collect::<Vec<_>>().join(" OR ")
}

fn replicated(engine: &str) -> bool {
    engine.starts_with("Replicated") || engine.starts_with("Shared")
}

/// One side of a `table`/`copy` comparison: count and checksum per chunk, one GROUP BY
/// over the selected windows (consecutive, of one length, so a row's chunk is a division).
fn side_sql(table: &TableRef, exprs: Option<&[String]>, time_column: &str, p: &Plan, chunks: &[usize], replicated_table: bool, sip: bool) -> String {
    side_sql_where(table, exprs, time_column, p, &windows_predicate(time_column, p, chunks), replicated_table, sip)
}

fn side_sql_where(table: &TableRef, exprs: Option<&[String]>, time_column: &str, p: &Plan, predicate: &str, replicated_table: bool, sip: bool) -> String {
    let ms = format!("toUnixTimestamp64Milli(toDateTime64({}, 3, 'UTC'))", quote_ident(time_column));
    let chunk = match &p.bucket {
        Bucket::Step(step) => format!("intDiv({ms} - {}, {step})", p.whole.from),
        Bucket::Starts(starts) => {
            format!("arrayCount(b -> {ms} >= b, [{}])", starts.iter().map(|b| format!("toInt64({b})")).collect::<Vec<_>>().join(", "))
        }
    };
    format!(
        "SELECT {chunk} AS __chkit_chunk, count() AS __chkit_c, {h}\nFROM {t}\nWHERE {w}\nGROUP BY __chkit_chunk ORDER BY __chkit_chunk\n{s}, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0",
        h = checksum_items(exprs, sip),
        t = table.quoted(),
        w = predicate,
        s = exact_read_settings(replicated_table),
    )
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// `target`, `source`, `whole`.
    pub side: &'static str,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Queries {
    pub queries: Vec<Query>,
    /// mv_replay: why no chunk can be compared (then there are no queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_verifiable: Option<String>,
    /// mv_replay: run `mv_chunk_sql` for every chunk.
    pub per_chunk: bool,
}

/// The queries of a verification that do not depend on a chunk's statements.
pub fn queries(req: &VerifyRequest) -> CoreResult<Queries> {
    let p = plan_of(&req.facts)?;
    let chunks: Vec<usize> = req.chunks.iter().map(|c| c.chunk).collect();
    let rep = replicated(&req.target.engine);
    match req.facts.strategy.as_str() {
        "table" | "copy" => {
            let tc = &req.facts.time_column;
            let cols = req.facts.columns.as_ref().map(|c| c.iter().map(|c| quote_ident(c)).collect::<Vec<_>>());
            // A baseline an earlier version recorded is compared under its own second hash.
            let sip = req.chunks.iter().any(|c| c.checksum.as_deref().and_then(Checksum::parse).is_some_and(|h| h.hash == SecondHash::Sip));
            let mut queries = vec![Query { side: "target", sql: side_sql(&p.target, cols.as_deref(), tc, &p, &chunks, rep, sip) }];
            if let Some(src) = &p.source {
                // The source side as the INSERT wrote it: each value cast to the target's column type.
                let types: BTreeMap<&str, &str> = req.target.columns.iter().map(|c| (c.name.as_str(), c.ty.as_str())).collect();
                let cast = req.facts.columns.as_ref().map(|cs| {
                    cs.iter()
                        .map(|c| match types.get(c.as_str()) {
                            Some(t) => format!("CAST({}, {})", quote_ident(c), quote_string(t)),
                            None => quote_ident(c),
                        })
                        .collect::<Vec<_>>()
                });
                queries.push(Query { side: "source", sql: side_sql(src, cast.as_deref(), tc, &p, &chunks, false, sip) });
            }
            Ok(Queries { queries, not_verifiable: None, per_chunk: false })
        }
        "mv_replay" => match MvShape::of(req) {
            Err(why) => Ok(Queries { queries: vec![], not_verifiable: Some(why), per_chunk: false }),
            Ok(shape) => {
                let whole = match whole_view_select(req, &p, &shape) {
                    Ok(s) => s,
                    Err(why) => return Ok(Queries { queries: vec![], not_verifiable: Some(why), per_chunk: false }),
                };
                let sql = format!("SELECT uniqExact({}) AS __chkit_k FROM (\n{whole}\n)\n{}", shape.key_tuple(), exact_read_settings(rep));
                Ok(Queries { queries: vec![Query { side: "whole", sql }], not_verifiable: None, per_chunk: true })
            }
        },
        other => Err(CoreError::usage("unknown_strategy", format!("plan strategy {other} cannot be verified"))),
    }
}

// ---------------------------------------------------------------- mv_replay

/// How the target's engine merges rows, and so how both sides are merged before hashing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Merge {
    Plain,
    Replacing,
    Summing,
    Aggregating,
}

struct MvShape {
    merge: Merge,
    /// Quoted key columns.
    keys: Vec<String>,
    /// The written columns, in order, with the target's type.
    written: Vec<(String, String)>,
    /// Non-key columns compared after merging: (quoted name, merge expression over it).
    merged: Vec<(String, String)>,
    /// Summing: the summed columns (a row whose sums are all 0 is dropped by the engine).
    summed: Vec<String>,
}

/// Split `a, (b, c), d` at top-level commas.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None::<char>);
    for ch in s.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '`' | '"') => quote = Some(ch),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Deterministic whatever the merge order (an allow-list: `any`, `groupArray`, sampling
/// quantiles and float sums depend on the order rows meet, so they cannot be compared).
const MERGEABLE: &[&str] = &[
    "count", "sum", "min", "max", "avg", "uniqExact", "uniq", "uniqCombined", "uniqCombined64", "uniqHLL12", "quantileExact",
    "quantilesExact", "quantileExactLow", "quantileExactHigh", "medianExact", "groupBitAnd", "groupBitOr", "groupBitXor",
];
const SIMPLE_MERGEABLE: &[&str] = &["sum", "min", "max", "groupBitAnd", "groupBitOr", "groupBitXor"];

fn is_float(t: &str) -> bool {
    t.contains("Float") || t.contains("BFloat")
}

fn is_summable(t: &str) -> bool {
    t.starts_with("Int") || t.starts_with("UInt") || t.starts_with("Decimal")
}

/// `AggregateFunction(quantileExact(0.5), UInt64)` → the `-Merge` call over `col`.
fn aggregate_merge(ty: &str, col: &str) -> Result<String, String> {
    let inner = ty.strip_prefix("AggregateFunction(").and_then(|s| s.strip_suffix(')')).ok_or("not an AggregateFunction")?;
    let mut args = split_top(inner);
    // A versioned state type starts with its version number.
    if args.first().is_some_and(|a| a.chars().all(|c| c.is_ascii_digit())) {
        args.remove(0);
    }
    let func = args.first().ok_or("no function")?.clone();
    let (name, params) = match func.find('(') {
        Some(i) => (func[..i].to_string(), Some(func[i..].to_string())),
        None => (func.clone(), None),
    };
    if !MERGEABLE.contains(&name.as_str()) {
        return Err(format!("{col} is {ty}: merging {name} states depends on the order rows meet"));
    }
    if matches!(name.as_str(), "sum" | "avg") && args[1..].iter().any(|a| is_float(a)) {
        return Err(format!("{col} is {ty}: a float sum depends on the order rows meet"));
    }
    if let Some(p) = &params {
        // Parameters are numeric literals (`(0.5)`, `(0.25, 0.75)`): nothing else reaches SQL.
        if !p.chars().all(|c| c.is_ascii_digit() || matches!(c, '(' | ')' | '.' | ',' | ' ' | '-' | 'e' | 'E')) {
            return Err(format!("{col} is {ty}: its parameters are not plain numbers"));
        }
    }
    Ok(format!("{name}Merge{}({col})", params.unwrap_or_default()))
}

impl MvShape {
    fn of(req: &VerifyRequest) -> Result<MvShape, String> {
        let engine = req.target.engine.trim_start_matches("Replicated").trim_start_matches("Shared");
        let merge = match engine {
            "MergeTree" => Merge::Plain,
            "ReplacingMergeTree" => Merge::Replacing,
            "SummingMergeTree" => Merge::Summing,
            "AggregatingMergeTree" => Merge::Aggregating,
            other => return Err(format!("the target's engine {other} merges rows in a way verify does not reproduce")),
        };
        // `SummingMergeTree((a, b))` sums only the columns it names (a replicated one's
        // parameters are its path and replica first): not reproduced here.
        let params = req.target.engine_full.split_whitespace().next().and_then(|e| e.split_once('(')).map(|(_, p)| p.trim_end_matches(')'));
        if merge == Merge::Summing && params.is_some_and(|p| !p.is_empty()) {
            return Err("the target's SummingMergeTree has parameters (columns to sum) that verify does not reproduce".into());
        }
        let first = req.views.first().ok_or("the plan names no view")?;
        if req.views.iter().any(|v| v.columns != first.columns) {
            return Err("the views write different sets of the target's columns".into());
        }
        let types: BTreeMap<&str, &str> = req.target.columns.iter().map(|c| (c.name.as_str(), c.ty.as_str())).collect();
        let mut written = Vec::new();
        for c in &first.columns {
            let ty = types.get(c.as_str()).ok_or_else(|| format!("the target has no column {c} any more"))?;
            written.push((c.clone(), ty.to_string()));
        }
        let key_parts = split_top(&req.target.sorting_key);
        if key_parts.is_empty() {
            return Err("the target has no sorting key to find a chunk's rows by".into());
        }
        let mut keys = Vec::new();
        for k in &key_parts {
            let name = sql::parse_column(k).map_err(|_| format!("the target's sorting key has an expression ({k}), not a column"))?;
            if !first.columns.contains(&name) {
                return Err(format!("the sorting key column {name} is not written by the view"));
            }
            keys.push(quote_ident(&name));
        }
        let (mut merged, mut summed) = (Vec::new(), Vec::new());
        for (c, ty) in &written {
            let q = quote_ident(c);
            if keys.contains(&q) {
                continue;
            }
            match merge {
                Merge::Plain | Merge::Replacing => merged.push((q.clone(), q)),
                Merge::Summing => {
                    if is_float(ty) {
                        return Err(format!("{c} is {ty}: a float sum depends on the order rows meet"));
                    }
                    // Other non-key columns keep an arbitrary row's value: not compared.
                    if is_summable(ty) {
                        merged.push((q.clone(), format!("sum({q})")));
                        summed.push(q);
                    }
                }
                Merge::Aggregating => {
                    if ty.starts_with("AggregateFunction(") {
                        merged.push((q.clone(), aggregate_merge(ty, &q)?));
                    } else if let Some(inner) = ty.strip_prefix("SimpleAggregateFunction(").and_then(|s| s.strip_suffix(')')) {
                        let args = split_top(inner);
                        let f = args.first().map(String::as_str).unwrap_or("");
                        if !SIMPLE_MERGEABLE.contains(&f) || (f == "sum" && args.iter().any(|a| is_float(a))) {
                            return Err(format!("{c} is {ty}: its merge depends on the order rows meet"));
                        }
                        merged.push((q.clone(), format!("{f}({q})")));
                    }
                }
            }
        }
        Ok(MvShape { merge, keys, written, merged, summed })
    }

    fn key_tuple(&self) -> String {
        format!("tuple({})", self.keys.join(", "))
    }

    /// The view's rows as the target would store them (cast to its column types).
    fn cast_rows(&self, selects: &[String]) -> String {
        let cols = self.written.iter().map(|(c, t)| format!("CAST({q}, {}) AS {q}", quote_string(t), q = quote_ident(c))).collect::<Vec<_>>().join(", ");
        selects.iter().map(|s| format!("SELECT {cols} FROM (\n{s}\n)")).collect::<Vec<_>>().join("\nUNION ALL\n")
    }

    /// `rows` merged the way the engine merges them, as (count, h1, h2) select items.
    fn merged_summary(&self, rows: &str) -> String {
        let compared: Vec<String> = self.keys.iter().cloned().chain(self.merged.iter().map(|(c, _)| c.clone())).collect();
        let h = checksum_items(Some(&compared), false);
        match self.merge {
            Merge::Plain | Merge::Replacing => format!("SELECT count() AS __chkit_c, {h} FROM ({rows})"),
            Merge::Summing | Merge::Aggregating => {
                let items = self.keys.iter().cloned().chain(self.merged.iter().map(|(c, e)| format!("{e} AS {c}"))).collect::<Vec<_>>().join(", ");
                let having = if self.merge == Merge::Summing && !self.summed.is_empty() {
                    format!(" HAVING NOT ({})", self.summed.iter().map(|c| format!("{c} = 0")).collect::<Vec<_>>().join(" AND "))
                } else {
                    String::new()
                };
                format!("SELECT count() AS __chkit_c, {h} FROM (SELECT {items} FROM ({rows}) GROUP BY {}{having})", self.keys.join(", "))
            }
        }
    }
}

/// The view's query over the window out of a chunk statement the plan wrote
/// (`plan::replay_text`), bare or wrapped in `SELECT cols FROM (…)`: either selects the
/// INSERT's columns by name. The lines between the INSERT and its SETTINGS.
fn view_select(statement: &str) -> Result<String, String> {
    let lines: Vec<&str> = statement.split('\n').collect();
    let ok = lines.len() >= 4
        && lines[0].starts_with("/* chkit-backfill ")
        && lines[1].starts_with("INSERT INTO ")
        && lines[lines.len() - 1].starts_with("SETTINGS ");
    if !ok {
        return Err("a chunk statement is not laid out as this version writes them: make the plan again".into());
    }
    Ok(lines[2..lines.len() - 1].join("\n"))
}

/// How many rows an `mv_replay` statement's SELECT gives (`c`): none means an INSERT of it
/// writes none whether or not the target drops it as a duplicate.
pub fn replay_rows_sql(statement: &str) -> CoreResult<String> {
    let select = view_select(statement).map_err(|e| CoreError::runtime("plan_mismatch", e))?;
    Ok(format!("SELECT count() AS c FROM (\n{select}\n)\n{}", exact_read_settings(false)))
}

/// The first chunk's view selects with the plan's whole window in place of the chunk's.
fn whole_view_select(req: &VerifyRequest, p: &Plan, shape: &MvShape) -> Result<String, String> {
    if req.first_statements.len() != req.views.len() {
        return Err("the plan's first chunk does not have one statement per view".into());
    }
    let mut selects = Vec::new();
    for (st, v) in req.first_statements.iter().zip(&req.views) {
        let s = view_select(st)?;
        let chunk = sql::window_predicate_as(&v.time_column, v.bound_type, p.windows[0]);
        if s.matches(&chunk).count() != 1 {
            return Err(format!("the replayed query of {} does not hold its window filter exactly once", v.name));
        }
        selects.push(s.replacen(&chunk, &sql::window_predicate_as(&v.time_column, v.bound_type, p.whole), 1));
    }
    Ok(shape.cast_rows(&selects))
}

/// The one query comparing chunk `i` (its statements as the plan holds them): the view's
/// rows over the window against the target's rows whose sorting key the view produces,
/// both merged as the engine merges them.
pub fn mv_chunk_sql(req: &VerifyRequest, statements: &[String]) -> CoreResult<String> {
    let shape = MvShape::of(req).map_err(|why| CoreError::runtime("not_verifiable", why))?;
    let selects = statements.iter().map(|s| view_select(s)).collect::<Result<Vec<_>, _>>().map_err(|e| CoreError::runtime("plan_mismatch", e))?;
    let target = sql::parse_table(&req.facts.target, &req.facts.default_database, "plan target")?;
    let view = shape.cast_rows(&selects);
    let kt = shape.key_tuple();
    let cols = shape.written.iter().map(|(c, _)| quote_ident(c)).collect::<Vec<_>>().join(", ");
    let fin = if shape.merge == Merge::Replacing { " FINAL" } else { "" };
    let target_rows = format!("SELECT {cols} FROM {}{fin} WHERE {kt} IN (SELECT {kt} FROM ({view}))", target.quoted());
    Ok(format!(
        "SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM\n({}) AS v\nCROSS JOIN (SELECT uniqExact({kt}) AS __chkit_k, count() AS __chkit_n FROM ({view})) AS k\nCROSS JOIN ({}) AS t\n{}",
        shape.merged_summary(&view),
        shape.merged_summary(&target_rows),
        exact_read_settings(replicated(&req.target.engine))
    ))
}

// ---------------------------------------------------------------- verdicts

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Missing,
    Extra,
    Differs,
    NotVerifiable,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SideRow {
    pub chunk: i64,
    pub c: u64,
    pub h1: String,
    pub h2: String,
    /// The `sipHash64` sum, when the query asked for it.
    #[serde(default)]
    pub h3: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MvRow {
    pub chunk: usize,
    pub vc: u64,
    pub vh1: String,
    pub vh2: String,
    /// Distinct sorting keys and rows of the view's output for the chunk.
    pub vk: u64,
    pub vn: u64,
    pub tc: u64,
    pub th1: String,
    pub th2: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answers {
    #[serde(default)]
    pub target: Vec<SideRow>,
    #[serde(default)]
    pub source: Vec<SideRow>,
    /// mv_replay: distinct keys of the view's output over the whole window.
    #[serde(default)]
    pub whole_keys: Option<u64>,
    /// mv_replay: every chunk.
    #[serde(default)]
    pub mv: Vec<MvRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkVerdict {
    /// 1-based, as `status --chunks` numbers chunks.
    pub index: usize,
    pub id: String,
    pub from: String,
    pub to: String,
    pub verdict: Verdict,
    /// What the counts count: `rows`, or `keys` (rows after the engine's merge).
    pub unit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<u64>,
    /// Whether the content (checksum) was compared, not only the count.
    pub content_checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub chunks: usize,
    pub compared: usize,
    pub ok: usize,
    pub missing: usize,
    pub extra: usize,
    pub differs: usize,
    pub not_verifiable: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every compared chunk is `ok`.
    pub ok: bool,
    pub summary: Summary,
    pub chunks: Vec<ChunkVerdict>,
}

fn by_chunk(rows: &[SideRow]) -> CoreResult<BTreeMap<i64, (u64, Sums)>> {
    rows.iter().map(|r| Ok((r.chunk, (r.c, Sums::from_parts(&r.h1, &r.h2, r.h3.as_deref())?)))).collect()
}

struct Judged {
    verdict: Verdict,
    expected: Option<u64>,
    actual: Option<u64>,
    content_checked: bool,
    reason: Option<String>,
}

fn not_verifiable(reason: impl Into<String>) -> Judged {
    Judged { verdict: Verdict::NotVerifiable, expected: None, actual: None, content_checked: false, reason: Some(reason.into()) }
}

/// Count first, then content when there is something to compare it with.
fn compare(expected: (u64, Option<Checksum>), actual: (u64, Sums), unit: &str, no_content: &str) -> Judged {
    let (e, a) = (expected.0, actual.0);
    let j = |verdict, content_checked, reason: Option<String>| Judged { verdict, expected: Some(e), actual: Some(a), content_checked, reason };
    if a < e {
        return j(Verdict::Missing, false, Some(format!("{} {unit} fewer than expected", e - a)));
    }
    if a > e {
        let twice = if e > 0 && a == 2 * e { " (twice what it should hold)" } else { "" };
        return j(Verdict::Extra, false, Some(format!("{} {unit} more than expected{twice}", a - e)));
    }
    let not_verifiable = |why: &str| j(Verdict::NotVerifiable, false, Some(format!("the count matches ({a} {unit}); the content is not verifiable: {why}")));
    match expected.1 {
        None => not_verifiable(no_content),
        Some(h) => match actual.1.as_checksum(h.hash) {
            None => not_verifiable("the window's sipHash64 sum was not read"),
            Some(got) if got == h => j(Verdict::Ok, true, None),
            Some(_) => j(Verdict::Differs, true, Some(format!("same count ({a} {unit}), other content"))),
        },
    }
}

pub fn judge(req: &VerifyRequest, answers: &Answers) -> CoreResult<Report> {
    let p = plan_of(&req.facts)?;
    let mv = req.facts.strategy == "mv_replay";
    let target = by_chunk(&answers.target)?;
    let source = by_chunk(&answers.source)?;
    let zero = (0u64, Sums::EMPTY);
    // mv_replay: a chunk's target rows are found by the keys its view produces, which is
    // sound only when no key comes from two chunks.
    let shape = if mv { Some(MvShape::of(req)) } else { None };
    let shared_keys = if mv && shape.as_ref().is_some_and(|s| s.is_ok()) {
        let per_chunk: u64 = answers.mv.iter().map(|r| r.vk).sum();
        let whole = answers.whole_keys.ok_or_else(|| CoreError::runtime("verify_answer", "no whole-window key count"))?;
        if answers.mv.len() != p.windows.len() {
            return Err(CoreError::runtime("verify_answer", format!("{} chunk answers for {} chunks", answers.mv.len(), p.windows.len())));
        }
        (per_chunk != whole).then(|| {
            format!(
                "the chunks' views produce {per_chunk} sorting keys of the target, but {whole} distinct ones: keys receive rows from more than one chunk \
                 (a key coarser than the chunks, such as a day with shorter chunks), so no chunk's rows can be told apart; plan with chunks the key does not cross"
            )
        })
    } else {
        None
    };
    let mv_rows: BTreeMap<usize, &MvRow> = answers.mv.iter().map(|r| (r.chunk, r)).collect();

    let mut out = Vec::with_capacity(req.chunks.len());
    let mut summary = Summary { chunks: req.chunks.len(), ..Default::default() };
    for rec in &req.chunks {
        let w = *p.windows.get(rec.chunk).ok_or_else(|| CoreError::runtime("verify_answer", format!("no chunk {}", rec.chunk + 1)))?;
        let k = rec.chunk as i64;
        let mut unit = "rows";
        let j = match (rec.status, req.facts.strategy.as_str()) {
            (ChunkStatus::Pending | ChunkStatus::Running | ChunkStatus::Failed, _) => {
                not_verifiable(format!("the chunk is {}, not done", serde_json::to_value(rec.status).unwrap().as_str().unwrap_or("?")))
            }
            (_, "copy") => {
                let src = source.get(&k).copied().unwrap_or(zero);
                let tgt = target.get(&k).copied().unwrap_or(zero);
                let before = rec.before.unwrap_or(0);
                let prior = match (before, rec.checksum.as_deref().and_then(Checksum::parse)) {
                    (0, _) => Some(Checksum::EMPTY),
                    (_, h) => h,
                };
                compare(
                    (before + src.0, prior.and_then(|h| h.plus(src.1.as_checksum(h.hash)?))),
                    tgt,
                    unit,
                    &format!("the target held {before} rows in the window before the run, and the run recorded no checksum of them"),
                )
            }
            (status, "table") => {
                let tgt = target.get(&k).copied().unwrap_or(zero);
                let recorded = match (status, rec.before, rec.expected) {
                    (ChunkStatus::Skipped, _, _) => Some((0, 0, Some(Checksum::EMPTY))),
                    (_, Some(b), Some(e)) => Some((b, e, rec.checksum.as_deref().and_then(Checksum::parse))),
                    _ => None,
                };
                match recorded {
                    None => not_verifiable("the run recorded no row count of the window before the chunk ran"),
                    // Every row of the window once more: count and checksum double.
                    Some((b, e, h)) => compare(
                        (b + e, if b == e { h.and_then(|h| h.plus(h)) } else { None }),
                        tgt,
                        unit,
                        "the run recorded no checksum of the window before the chunk ran (made by an earlier version)",
                    ),
                }
            }
            (_, "mv_replay") => {
                unit = if matches!(shape, Some(Ok(MvShape { merge: Merge::Summing | Merge::Aggregating, .. }))) { "keys" } else { "rows" };
                match (&shape, &shared_keys, mv_rows.get(&rec.chunk)) {
                    (Some(Err(why)), _, _) => not_verifiable(why.clone()),
                    (_, Some(why), _) => not_verifiable(why.clone()),
                    (_, _, None) => return Err(CoreError::runtime("verify_answer", format!("no answer for chunk {}", rec.chunk + 1))),
                    (Some(Ok(s)), None, Some(r)) if s.merge == Merge::Replacing && r.vk != r.vn => not_verifiable(format!(
                        "the view writes several rows per sorting key in this window ({} rows, {} keys): which one the engine keeps depends on insert order",
                        r.vn, r.vk
                    )),
                    (_, None, Some(r)) => compare(
                        (r.vc, Sums::from_parts(&r.vh1, &r.vh2, None)?.as_checksum(SecondHash::Xx)),
                        (r.tc, Sums::from_parts(&r.th1, &r.th2, None)?),
                        unit,
                        "",
                    ),
                }
            }
            (_, other) => not_verifiable(format!("strategy {other} cannot be verified")),
        };
        match j.verdict {
            Verdict::Ok => summary.ok += 1,
            Verdict::Missing => summary.missing += 1,
            Verdict::Extra => summary.extra += 1,
            Verdict::Differs => summary.differs += 1,
            Verdict::NotVerifiable => summary.not_verifiable += 1,
        }
        if j.verdict != Verdict::NotVerifiable {
            summary.compared += 1;
        }
        out.push(ChunkVerdict {
            index: rec.chunk + 1,
            id: ids::chunk_id(&req.facts.plan_id, &format_instant(w.from), &format_instant(w.to)),
            from: format_instant(w.from),
            to: format_instant(w.to),
            verdict: j.verdict,
            unit,
            expected: j.expected,
            actual: j.actual,
            content_checked: j.content_checked,
            reason: j.reason,
        });
    }
    let ok = summary.missing + summary.extra + summary.differs == 0;
    Ok(Report { ok, summary, chunks: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(strategy: &str) -> PlanFacts {
        serde_json::from_value(json!({
            "planId": "p1", "strategy": strategy, "target": "app.t", "source": if strategy == "copy" { json!("app.s") } else { json!(null) },
            "timeColumn": "ts", "columns": ["ts", "v"], "from": "2025-01-01T00:00:00Z", "to": "2025-01-01T05:00:00Z",
            "chunkHours": 2, "chunkCount": 3, "firstChunk": null, "lastChunk": null
        }))
        .unwrap()
    }

    fn table(engine: &str, key: &str, cols: &[(&str, &str)]) -> TableFacts {
        TableFacts {
            engine: engine.into(),
            engine_full: format!("{engine} ORDER BY {key}"),
            sorting_key: key.into(),
            columns: cols.iter().map(|(n, t)| Column { name: n.to_string(), ty: t.to_string(), default_kind: String::new() }).collect(),
        }
    }

    fn request(strategy: &str, chunks: Vec<ChunkRecord>) -> VerifyRequest {
        VerifyRequest { facts: facts(strategy), target: table("MergeTree", "ts", &[("ts", "DateTime"), ("v", "UInt8")]), views: vec![], chunks, first_statements: vec![] }
    }

    fn rec(chunk: usize, before: Option<u64>, checksum: Option<&str>) -> ChunkRecord {
        ChunkRecord { chunk, status: ChunkStatus::Done, before, expected: before, checksum: checksum.map(str::to_string) }
    }

    /// `city:xx` or, with the sum earlier versions recorded, `city:xx:sip`.
    fn row(chunk: i64, c: u64, h: &str) -> SideRow {
        let mut parts = h.split(':');
        let (a, b) = (parts.next().unwrap(), parts.next().unwrap());
        SideRow { chunk, c, h1: a.into(), h2: format!("x{b}"), h3: parts.next().map(str::to_string) }
    }

    #[test]
    fn selection() {
        let f = facts("table");
        assert_eq!(select_chunks(&f, &[], None).unwrap(), [0, 1, 2]);
        assert_eq!(select_chunks(&f, &["3".into(), "1".into(), "3".into()], None).unwrap(), [0, 2]);
        let id = ids::chunk_id("p1", "2025-01-01T02:00:00.000Z", "2025-01-01T04:00:00.000Z");
        assert_eq!(select_chunks(&f, &[id], None).unwrap(), [1]);
        assert_eq!(select_chunks(&f, &[], Some(1)).unwrap(), [1], "the middle of the window");
        assert_eq!(select_chunks(&f, &[], Some(9)).unwrap(), [0, 1, 2]);
        for (picks, sample) in [(vec!["0".to_string()], None), (vec!["4".into()], None), (vec!["zz".into()], None), (vec![], Some(0)), (vec!["1".into()], Some(1))] {
            assert_eq!(select_chunks(&f, &picks, sample).unwrap_err().kind, crate::error::ErrorKind::Usage, "{picks:?} {sample:?}");
        }
    }

    #[test]
    fn checksums_add_up() {
        let a = Checksum::parse("340282366920938463463374607431768211455:x1").unwrap();
        assert_eq!(a.plus(Checksum::parse("1:x2").unwrap()).unwrap().to_string(), "0:x3", "wraps like the server never needs to");
        assert_eq!(Checksum::parse("x:1"), None);
        assert_eq!(Checksum::parse("1:xx"), None);
        assert_eq!(Sums::from_parts("", "\\N", None).unwrap().as_checksum(SecondHash::Xx), Some(Checksum::EMPTY));
    }

    #[test]
    fn a_checksum_says_which_hash_its_second_sum_is_of() {
        let new = Checksum::parse("3:x5").unwrap();
        let old = Checksum::parse("3:5").unwrap();
        assert_eq!((new.hash, old.hash), (SecondHash::Xx, SecondHash::Sip));
        assert_eq!((new.to_string(), old.to_string()), ("3:x5".to_string(), "3:5".to_string()));
        // A window without rows sums to 0 under either hash.
        assert_eq!(Checksum::parse("0:0"), Some(Checksum::EMPTY));
        assert_eq!(new.plus(old), None, "sums of different hashes do not add up");
        let sums = Sums::from_parts("3", "x5", Some("7")).unwrap();
        assert_eq!(sums.as_checksum(SecondHash::Xx), Some(new));
        assert_eq!(sums.as_checksum(SecondHash::Sip), Checksum::parse("3:7"));
        assert_eq!(Sums::from_parts("3", "x5", None).unwrap().as_checksum(SecondHash::Sip), None);
        // The recorded sums are of cityHash64 and xxHash64; sipHash64 only when asked for.
        let items = checksum_items(Some(&["`a`".to_string()]), false);
        assert_eq!(items, "toString(sum(toUInt128(cityHash64(tuple(`a`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`a`)))))) AS __chkit_h2");
        assert!(checksum_items(None, true).ends_with(", toString(sum(toUInt128(sipHash64(tuple(*))))) AS __chkit_h3"));
    }

    #[test]
    fn baselines_an_earlier_version_recorded_are_compared_under_its_hash() {
        // Chunk 0 measured by an earlier version (sipHash64), chunk 1 by this one.
        let table = request("table", vec![rec(0, Some(4), Some("3:5")), rec(1, Some(4), Some("3:x5")), rec(2, Some(4), Some("3:5"))]);
        let q = queries(&table).unwrap();
        assert!(q.queries[0].sql.contains("sipHash64") && q.queries[0].sql.contains("__chkit_h3"), "{}", q.queries[0].sql);
        let answers = Answers { target: vec![row(0, 8, "6:99:10"), row(1, 8, "6:10:99"), row(2, 8, "6:10:11")], ..Default::default() };
        let v: Vec<_> = judge(&table, &answers).unwrap().chunks.iter().map(|c| (c.verdict, c.content_checked)).collect();
        assert_eq!(v, [(Verdict::Ok, true), (Verdict::Ok, true), (Verdict::Differs, true)]);
        // Only this version's baselines: sipHash64 is not read at all.
        let new_only = request("table", vec![rec(0, Some(4), Some("3:x5")), rec(1, Some(0), Some("0:0"))]);
        assert!(!queries(&new_only).unwrap().queries[0].sql.contains("sipHash64"));
        // copy: the rows held before (old hash) plus the source's rows under the same hash.
        let copy = request("copy", vec![rec(0, Some(5), Some("2:3"))]);
        assert!(queries(&copy).unwrap().queries.iter().all(|q| q.sql.contains("__chkit_h3")));
        let answers = Answers { source: vec![row(0, 10, "7:9:4")], target: vec![row(0, 15, "9:50:7")], ..Default::default() };
        assert_eq!(judge(&copy, &answers).unwrap().chunks[0].verdict, Verdict::Ok);
        let unread = Answers { source: vec![row(0, 10, "7:9")], target: vec![row(0, 15, "9:50")], ..Default::default() };
        assert_eq!(judge(&copy, &unread).unwrap().chunks[0].verdict, Verdict::NotVerifiable, "never ok without the hash it was recorded with");
    }

    #[test]
    fn table_and_copy_sql() {
        let q = queries(&request("copy", vec![rec(0, None, None), rec(2, None, None)])).unwrap();
        assert_eq!(q.queries.len(), 2);
        let t = &q.queries[0].sql;
        assert!(t.starts_with("SELECT intDiv(toUnixTimestamp64Milli(toDateTime64(`ts`, 3, 'UTC')) - 1735689600000, 7200000) AS __chkit_chunk"), "{t}");
        assert!(t.contains("FROM `app`.`t`\nWHERE (`ts` >= toDateTime64('2025-01-01 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-01 02:00:00.000', 3, 'UTC')) OR (`ts` >= toDateTime64('2025-01-01 04:00:00.000'"), "{t}");
        assert!(t.contains("SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1, asterisk"), "{t}");
        let s = &q.queries[1].sql;
        assert!(s.contains("cityHash64(tuple(CAST(`ts`, 'DateTime'), CAST(`v`, 'UInt8')))") && s.contains("FROM `app`.`s`"), "{s}");
        let all = queries(&request("table", (0..3).map(|i| rec(i, Some(1), None)).collect())).unwrap();
        assert_eq!(all.queries.len(), 1);
        assert!(all.queries[0].sql.contains("WHERE `ts` >= toDateTime64('2025-01-01 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-01 05:00:00.000', 3, 'UTC')"));
        let mut rep = request("table", vec![]);
        rep.target.engine = "ReplicatedMergeTree".into();
        assert!(queries(&rep).unwrap().queries[0].sql.contains("select_sequential_consistency=1"));
    }

    #[test]
    fn copy_verdicts() {
        let req = request("copy", vec![rec(0, Some(0), None), rec(1, Some(0), None), rec(2, Some(5), None)]);
        let answers = Answers {
            source: vec![row(0, 10, "7:9"), row(1, 10, "7:9"), row(2, 10, "7:9")],
            target: vec![row(0, 10, "7:9"), row(1, 20, "14:18"), row(2, 15, "9:9")],
            ..Default::default()
        };
        let r = judge(&req, &answers).unwrap();
        let v: Vec<_> = r.chunks.iter().map(|c| (c.verdict, c.content_checked)).collect();
        assert_eq!(v, [(Verdict::Ok, true), (Verdict::Extra, false), (Verdict::NotVerifiable, false)]);
        assert!(r.chunks[1].reason.as_deref().unwrap().contains("twice"));
        assert!(r.chunks[2].reason.as_deref().unwrap().contains("held 5 rows"), "{:?}", r.chunks[2].reason);
        assert!(!r.ok);
        assert_eq!(r.summary, Summary { chunks: 3, compared: 2, ok: 1, missing: 0, extra: 1, differs: 0, not_verifiable: 1 });
        // With the earlier rows' checksum recorded, the content is compared too.
        let req = request("copy", vec![rec(2, Some(5), Some("2:x0"))]);
        let r = judge(&req, &answers).unwrap();
        assert_eq!((r.chunks[0].verdict, r.ok), (Verdict::Ok, true));
    }

    #[test]
    fn table_verdicts() {
        let mut pending = rec(2, None, None);
        pending.status = ChunkStatus::Failed;
        let req = request("table", vec![rec(0, Some(4), Some("3:x5")), rec(1, Some(4), Some("3:x5")), pending]);
        let answers = Answers { target: vec![row(0, 8, "6:10"), row(1, 8, "6:11"), row(2, 1, "1:1")], ..Default::default() };
        let r = judge(&req, &answers).unwrap();
        let v: Vec<_> = r.chunks.iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::Ok, Verdict::Differs, Verdict::NotVerifiable]);
        assert_eq!(r.chunks[2].reason.as_deref(), Some("the chunk is failed, not done"));
        let r = judge(&request("table", vec![rec(0, Some(4), None)]), &Answers { target: vec![row(0, 7, "0:0")], ..Default::default() }).unwrap();
        assert_eq!((r.chunks[0].verdict, r.chunks[0].expected, r.chunks[0].actual), (Verdict::Missing, Some(8), Some(7)));
    }

    #[test]
    fn merges_that_can_and_cannot_be_reproduced() {
        assert_eq!(aggregate_merge("AggregateFunction(quantileExact(0.5), UInt64)", "`m`").unwrap(), "quantileExactMerge(0.5)(`m`)");
        assert_eq!(aggregate_merge("AggregateFunction(1, uniqExact, UInt64)", "`u`").unwrap(), "uniqExactMerge(`u`)");
        assert!(aggregate_merge("AggregateFunction(groupArray, UInt64)", "`g`").unwrap_err().contains("order rows meet"));
        assert!(aggregate_merge("AggregateFunction(sum, Float64)", "`s`").unwrap_err().contains("float"));
        assert!(aggregate_merge("AggregateFunction(quantileExact(x), UInt64)", "`q`").is_err());
        assert_eq!(split_top("a, (b, c), 'x,y'"), ["a", "(b, c)", "'x,y'"]);

        let mv = |engine: &str, key: &str, cols: &[(&str, &str)]| {
            let mut r = request("mv_replay", vec![]);
            r.target = table(engine, key, cols);
            r.views = vec![ViewFacts { name: "app.v".into(), time_column: "ts".into(), bound_type: Default::default(), columns: cols.iter().map(|(n, _)| n.to_string()).collect() }];
            MvShape::of(&r).map(|s| (s.merge, s.keys, s.merged))
        };
        let summing = mv("SummingMergeTree", "h, k", &[("h", "DateTime"), ("k", "String"), ("n", "UInt64"), ("label", "String")]).unwrap();
        assert_eq!(summing.2, [("`n`".to_string(), "sum(`n`)".to_string())], "a non-numeric column keeps any value: not compared");
        assert!(mv("SummingMergeTree", "h", &[("h", "DateTime"), ("x", "Float64")]).unwrap_err().contains("float sum"));
        assert!(mv("CollapsingMergeTree", "h", &[("h", "DateTime")]).unwrap_err().contains("CollapsingMergeTree"));
        assert!(mv("MergeTree", "toStartOfHour(h)", &[("h", "DateTime")]).unwrap_err().contains("expression"));
        assert!(mv("MergeTree", "", &[("h", "DateTime")]).unwrap_err().contains("no sorting key"));
        assert!(mv("ReplicatedAggregatingMergeTree", "d", &[("d", "Date"), ("a", "SimpleAggregateFunction(anyLast, UInt64)")]).unwrap_err().contains("order rows meet"));
        let agg = mv("AggregatingMergeTree", "d", &[("d", "Date"), ("a", "SimpleAggregateFunction(max, UInt64)"), ("u", "AggregateFunction(uniqExact, UInt64)")]).unwrap();
        assert_eq!(agg.2.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(), ["max(`a`)", "uniqExactMerge(`u`)"]);
        let mut params = request("mv_replay", vec![]);
        params.target = table("SummingMergeTree", "h", &[("h", "DateTime"), ("n", "UInt64")]);
        params.target.engine_full = "SummingMergeTree((n)) ORDER BY h".into();
        params.views = vec![ViewFacts { name: "app.v".into(), time_column: "ts".into(), bound_type: Default::default(), columns: vec!["h".into(), "n".into()] }];
        assert!(MvShape::of(&params).is_err());
    }

    #[test]
    fn mv_statement_layout() {
        let st = "/* chkit-backfill plan=p chunk=c token=t */\nINSERT INTO `a`.`t` (`x`)\nSELECT `x`\nFROM (\nSELECT 1 AS x\n)\nSETTINGS async_insert=0";
        assert_eq!(view_select(st).unwrap(), "SELECT `x`\nFROM (\nSELECT 1 AS x\n)");
        assert!(view_select("INSERT INTO t SELECT 1").is_err());
        // The user's insertSettings come first in a chunk's SETTINGS.
        let with_user = st.replace("SETTINGS async_insert=0", "SETTINGS max_insert_threads=4, async_insert=0");
        assert_eq!(view_select(&with_user).unwrap(), "SELECT `x`\nFROM (\nSELECT 1 AS x\n)");
        // The bare layout: the view's query, over lines of its own, as the INSERT's SELECT.
        let bare = "/* chkit-backfill plan=p chunk=c token=t */\nINSERT INTO `a`.`t` (`x`)\nWITH 1 AS one\nSELECT one AS x\nSETTINGS async_insert=0";
        assert_eq!(view_select(bare).unwrap(), "WITH 1 AS one\nSELECT one AS x");
    }

    #[test]
    fn shared_keys_are_not_verifiable() {
        let mut r = request("mv_replay", (0..3).map(|i| rec(i, None, None)).collect());
        r.views = vec![ViewFacts { name: "app.v".into(), time_column: "ts".into(), bound_type: Default::default(), columns: vec!["ts".into(), "v".into()] }];
        let mv = |chunk, vk| MvRow { chunk, vc: vk, vh1: "1".into(), vh2: "1".into(), vk, vn: vk, tc: vk, th1: "1".into(), th2: "1".into() };
        let answers = Answers { whole_keys: Some(3), mv: vec![mv(0, 1), mv(1, 2), mv(2, 1)], ..Default::default() };
        let r2 = judge(&r, &answers).unwrap();
        assert!(r2.chunks.iter().all(|c| c.verdict == Verdict::NotVerifiable && c.reason.as_deref().unwrap().contains("more than one chunk")));
        assert!(r2.ok, "nothing compared, nothing failed");
        let answers = Answers { whole_keys: Some(4), ..answers };
        assert!(judge(&r, &answers).unwrap().chunks.iter().all(|c| c.verdict == Verdict::Ok));
    }

    #[test]
    fn replay_rows_of_a_statement() {
        let st = "/* chkit-backfill plan=p chunk=c token=t */\nINSERT INTO `app`.`h` (`hour`, `n`)\nSELECT `hour`, `n`\nFROM (\nSELECT 1 AS hour, 2 AS n\n)\nSETTINGS insert_deduplicate=1";
        assert_eq!(
            replay_rows_sql(st).unwrap(),
            format!("SELECT count() AS c FROM (\nSELECT `hour`, `n`\nFROM (\nSELECT 1 AS hour, 2 AS n\n)\n)\n{}", exact_read_settings(false))
        );
        assert_eq!(replay_rows_sql("INSERT INTO t SELECT 1").unwrap_err().code, "plan_mismatch");
    }

}
