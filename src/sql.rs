//! Identifiers and SQL text. Every identifier that reaches SQL is parsed here
//! and back-quoted; every string literal is escaped here.

use crate::error::{CoreError, CoreResult};
use crate::window::{push_bound_literal, BoundType, Window};
use serde::{Deserialize, Serialize};

/// A validated `database.table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableRef {
    pub database: String,
    pub table: String,
}

impl TableRef {
    /// `db.table` as users write it (back-quoted only where needed).
    pub fn display(&self) -> String {
        format!("{}.{}", display_ident(&self.database), display_ident(&self.table))
    }
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&self.table))
    }
}

fn is_bare(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn display_ident(s: &str) -> String {
    if is_bare(s) {
        s.to_string()
    } else {
        quote_ident(s)
    }
}

/// Back-quote an identifier, escaping `\` and `` ` `` as ClickHouse reads them.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A single-quoted string literal.
pub fn quote_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Split `a.b` into identifier parts; a part is a bare identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`) or back-quoted (`` `any name` ``).
fn parse_parts(input: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated back-quote".into()),
                    Some('\\') => match chars.next() {
                        Some(c) => part.push(c),
                        None => return Err("unterminated back-quote".into()),
                    },
                    Some('`') => break,
                    Some(c) => part.push(c),
                }
            }
            if part.is_empty() {
                return Err("empty identifier".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
            if part.is_empty() {
                return Err("empty identifier".into());
            }
            if !is_bare(&part) {
                return Err(format!(
                    "'{part}' is not a plain identifier (letters, digits, _; back-quote other names)"
                ));
            }
        }
        if part.chars().any(|c| c.is_control()) {
            return Err("control characters are not allowed in identifiers".into());
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => continue,
            Some(c) => return Err(format!("unexpected '{c}' after identifier")),
        }
    }
}

/// Parse `--target`-style `db.table`; a bare `table` takes `default_db`.
pub fn parse_table(input: &str, default_db: &str, flag: &str) -> CoreResult<TableRef> {
    let bad = |why: String| {
        CoreError::usage("invalid_target", format!("{flag} '{input}' is not a table name: {why} (expected database.table)"))
    };
    let parts = parse_parts(input.trim()).map_err(bad)?;
    match parts.as_slice() {
        [t] => Ok(TableRef { database: default_db.to_string(), table: t.clone() }),
        [d, t] => Ok(TableRef { database: d.clone(), table: t.clone() }),
        _ => Err(bad(format!("{} dotted parts", parts.len()))),
    }
}

/// A column name (one identifier part).
pub fn parse_column(input: &str) -> CoreResult<String> {
    let bad = |why: String| {
        CoreError::usage("invalid_column", format!("column '{input}' is not a column name: {why}"))
    };
    let parts = parse_parts(input.trim()).map_err(bad)?;
    match parts.as_slice() {
        [c] => Ok(c.clone()),
        _ => Err(bad("a column name has no dots".into())),
    }
}

/// `` `tc` >= <from> AND `tc` < <to> ``: the half-open chunk filter.
pub fn window_predicate(time_column: &str, w: Window) -> String {
    window_predicate_as(time_column, BoundType::DateTime64, w)
}

/// `window_predicate` with its bounds written as `bounds` (the plan's, for its column).
pub fn window_predicate_as(time_column: &str, bounds: BoundType, w: Window) -> String {
    let c = quote_ident(time_column);
    let mut s = String::with_capacity(2 * c.len() + 110);
    push_window_predicate(&mut s, &c, bounds, w);
    s
}

/// `window_predicate_as` appended to `s`, the column already quoted (planning writes one per
/// statement of every chunk).
pub fn push_window_predicate(s: &mut String, quoted_column: &str, bounds: BoundType, w: Window) {
    s.push_str(quoted_column);
    s.push_str(" >= ");
    push_bound_literal(s, bounds, w.from);
    s.push_str(" AND ");
    s.push_str(quoted_column);
    s.push_str(" < ");
    push_bound_literal(s, bounds, w.to);
}

/// The row count of a chunk's window in `table`: what decides a chunk's fate, so exact.
/// Through a `Distributed` table it counts every shard, after a foreground insert put
/// the rows there.
pub fn window_count_sql(table: &TableRef, time_column: &str, w: Window) -> String {
    format!("SELECT count() AS c FROM {} WHERE {} {}", table.quoted(), window_predicate(time_column, w), exact_read_settings(false))
}

/// The row counts of several chunks' windows in `table` at once: rows `{ __chkit_chunk, c }`,
/// one per `(chunk, window)` given. Each branch is `window_count_sql`'s count of its window
/// (so it decides a chunk's fate just as exactly, each using the primary key on its own); a
/// UNION ALL, as one `GROUP BY` over a `multiIf` of the windows compares every row with each
/// (measured: 32 windows of 40k rows, ~50 ms against ~270 ms; 32 single counts ~85 ms).
pub fn windows_count_sql(table: &TableRef, time_column: &str, windows: &[(usize, Window)]) -> String {
    let branches: Vec<String> = windows
        .iter()
        .map(|(i, w)| format!("SELECT {i} AS __chkit_chunk, count() AS c FROM {} WHERE {}", table.quoted(), window_predicate(time_column, *w)))
        .collect();
    // The settings of the outer query hold for every branch.
    format!("SELECT __chkit_chunk, c FROM ({}) {}", branches.join(" UNION ALL "), exact_read_settings(false))
}

/// The row counts of consecutive windows (`windows[k]` is chunk `first + k`) in one scan of
/// their span, grouped by chunk: `__chkit_chunk, c`, no row for a window without rows. The
/// chunk of a row is found from its instant in milliseconds, so only for time columns whose
/// instants convert exactly (`run_state::grid_countable`); on windows of one length by
/// division, otherwise by the windows' starts. Same settings as `windows_count_sql`.
pub fn span_count_sql(table: &TableRef, time_column: &str, first: usize, windows: &[Window]) -> String {
    let (start, end) = (windows[0].from, windows[windows.len() - 1].to);
    let ms = format!("toUnixTimestamp64Milli(toDateTime64({}, 3, 'UTC'))", quote_ident(time_column));
    let step = windows[0].to - windows[0].from;
    let even = windows.iter().enumerate().all(|(k, w)| w.from == start + k as i64 * step);
    let chunk = if even {
        format!("{first} + intDiv({ms} - {start}, {step})")
    } else {
        // Every row of the span is at or after the first start: count the later starts it passed.
        let starts: Vec<String> = windows[1..].iter().map(|w| format!("toInt64({})", w.from)).collect();
        format!("{first} + arrayCount(b -> {ms} >= b, [{}])", starts.join(", "))
    };
    format!(
        "SELECT {chunk} AS __chkit_chunk, count() AS c FROM {} WHERE {} GROUP BY __chkit_chunk {}",
        table.quoted(),
        window_predicate(time_column, Window { from: start, to: end }),
        exact_read_settings(false)
    )
}

/// Make the replica that answers the next count current with the parts other replicas
/// committed (a load-balanced endpoint may send a count to one that lags the insert's).
/// With `cluster`, on every replica of it (a Distributed target's shards).
pub fn sync_replica_sql(table: &TableRef, cluster: Option<&str>) -> String {
    let on = cluster.map(|c| format!("ON CLUSTER {} ", quote_ident(c))).unwrap_or_default();
    format!("SYSTEM SYNC REPLICA {on}{} LIGHTWEIGHT", table.quoted())
}

/// Inserted-rows check on the embedded engine (which reports no written rows): the highest
/// block number of `table`'s parts before an INSERT.
pub fn parts_max_block_sql(table: &TableRef) -> String {
    format!(
        "SELECT max(max_block_number) AS c FROM system.parts WHERE database = {} AND table = {} {}",
        quote_string(&table.database),
        quote_string(&table.table),
        exact_read_settings(false)
    )
}

/// … and, after the INSERT, the parts holding blocks above it, as they are (`parts_rows_after`
/// adds them up): selecting four columns of `system.parts` takes about half the time of
/// aggregating them there (measured on the embedded engine: 2.3–2.8 ms against 4.5–5.4 ms).
pub fn parts_after_sql(table: &TableRef, before: u64) -> String {
    format!(
        "SELECT min_block_number AS b, max_block_number AS e, rows AS r, level AS l FROM system.parts \
         WHERE database = {} AND table = {} AND max_block_number > {before} {}",
        quote_string(&table.database),
        quote_string(&table.table),
        exact_read_settings(false)
    )
}

/// A part of `system.parts` as `parts_after_sql` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PartBlocks {
    pub b: i64,
    pub e: i64,
    pub r: u64,
    pub l: u32,
}

/// The rows an INSERT wrote (`c`): those of the single-block parts above `before`, each at its
/// lowest level (a merge may already have rewritten it; the part it was is still listed,
/// inactive), and `top`, the highest block number now: the next insert's `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowsAfter {
    pub c: u64,
    pub top: i64,
}

pub fn parts_rows_after(parts: &[PartBlocks], before: i64) -> RowsAfter {
    let mut lowest: std::collections::BTreeMap<i64, PartBlocks> = std::collections::BTreeMap::new();
    for p in parts.iter().filter(|p| p.b == p.e && p.b > before) {
        let e = lowest.entry(p.b).or_insert(*p);
        if p.l < e.l {
            *e = *p;
        }
    }
    RowsAfter { c: lowest.values().map(|p| p.r).sum(), top: parts.iter().map(|p| p.e).max().unwrap_or(before).max(before) }
}

/// The engine's counters (`system.events`), which an INSERT's rows are read off where the
/// embedded engine runs nothing but this process's statements: cheaper than `system.parts`,
/// whose cost grows with the parts a run makes. All of them, read after an INSERT (the reading
/// is also the next INSERT's "before"): filtering the hundred rows there costs more than
/// sending them (1.08 against 1.33 ms, `SELECT 1` 0.90 ms). A counter still at zero has no row.
pub fn insert_counters_sql() -> String {
    "SELECT event, value FROM system.events".to_string()
}

/// One row of `insert_counters_sql`.
#[derive(Debug, Clone, Deserialize)]
pub struct CounterRow {
    pub event: String,
    pub value: u64,
}

/// The process's insert counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsertCounters {
    /// INSERT statements run.
    pub inserts: u64,
    /// INSERTs into the targets of materialized views that an INSERT fed.
    pub view_inserts: u64,
    /// Rows written into new parts, after merging on insert and before deduplication.
    pub rows: u64,
    /// Blocks dropped as duplicates of a token already in a table's deduplication log.
    pub duplicate_blocks: u64,
    /// Parts added to a table (a dropped duplicate adds none).
    pub parts: u64,
}

pub fn insert_counters(rows: &[CounterRow]) -> InsertCounters {
    let get = |names: &[&str]| rows.iter().filter(|r| names.contains(&r.event.as_str())).map(|r| r.value).sum();
    InsertCounters {
        inserts: get(&["InsertQuery"]),
        view_inserts: get(&["InsertQueriesWithSubqueries"]),
        rows: get(&["MergeTreeDataWriterRows"]),
        duplicate_blocks: get(&["DuplicatedInsertedBlocks"]),
        parts: get(&["InsertedCompactParts", "InsertedWideParts"]),
    }
}

/// What the counters say one INSERT wrote, read before and after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CountedInsert {
    Rows { rows: u64 },
    /// The counters moved for more than this INSERT's own parts: its rows are not told apart.
    /// `views`: it fed views (created since the run started), so the next INSERTs are measured
    /// by their parts.
    Unknown { reason: String, views: bool },
}

/// The rows an INSERT wrote from the counters around it. Exact only where nothing else moved
/// them: one INSERT ran, it fed no view (whose rows the counters would add), and either no
/// block was dropped as a duplicate (every part written was added) or every one was.
pub fn rows_from_counters(before: &InsertCounters, after: &InsertCounters) -> CountedInsert {
    let d = |a: u64, b: u64| a.checked_sub(b);
    let (Some(inserts), Some(views), Some(rows), Some(dups), Some(parts)) = (
        d(after.inserts, before.inserts),
        d(after.view_inserts, before.view_inserts),
        d(after.rows, before.rows),
        d(after.duplicate_blocks, before.duplicate_blocks),
        d(after.parts, before.parts),
    ) else {
        return CountedInsert::Unknown { reason: "the engine's counters went back".into(), views: false };
    };
    if views > 0 {
        return CountedInsert::Unknown { reason: "it also fed materialized views that read from the target, whose rows the engine counts with its own".into(), views: true };
    }
    if inserts != 1 {
        return CountedInsert::Unknown { reason: format!("{inserts} INSERTs ran in this process meanwhile, not one: their rows cannot be told apart"), views: false };
    }
    match (dups, parts) {
        (0, _) => CountedInsert::Rows { rows },
        (_, 0) => CountedInsert::Rows { rows: 0 },
        _ => CountedInsert::Unknown { reason: "the target dropped some of its blocks as duplicates of an earlier run of this plan and kept others".into(), views: false },
    }
}

/// The header that lets an operator find a chunk's query in `system.query_log`
/// or `system.processes`.
pub fn header_comment(plan_id: &str, chunk_id: &str, token: &str) -> String {
    let mut s = String::with_capacity(48 + plan_id.len() + chunk_id.len() + token.len());
    for part in ["/* chkit-backfill plan=", plan_id, " chunk=", chunk_id, " token=", token, " */"] {
        s.push_str(part);
    }
    s
}

/// Settings that make a read exact on any server: parallel replicas can count a part
/// once per replica (ClickHouse Cloud turns them on by default, and counts came out many
/// times too large). Every read whose result decides a chunk's fate carries them: window
/// counts, the planning reads of the data, the inserted-rows check; chunk INSERTs too
/// (their SELECT decides which rows land).
const EXACT_READ: &[(&str, &str)] = &[("enable_parallel_replicas", "0"), ("max_parallel_replicas", "1")];

/// `SETTINGS` that make a read count every committed row exactly once: no parallel
/// replicas (which can sample or split a read across replicas that lag), and on a
/// replicated table only replicas holding every quorum insert. The one list every
/// counting/verifying query pins.
pub fn exact_read_settings(replicated: bool) -> String {
    let mut s = format!("SETTINGS {}", render_pairs(EXACT_READ.iter().map(|(k, v)| (*k, v.to_string()))));
    if replicated {
        s.push_str(", select_sequential_consistency=1");
    }
    s
}

/// What every generated INSERT pins, besides the exact-read settings (its SELECT decides
/// which rows land) and the token's:
/// - `async_insert=0`: an async insert acknowledges before the rows are durable;
/// - the asterisk settings: `*` means the ordinary columns an INSERT without a list expects;
/// - `distributed_foreground_insert=1`: an INSERT into a `Distributed` table (the target, or
///   one a view writes to) returns once its rows are on the shards, not while they wait in
///   the distribution queue, where a count cannot see them and a replay would double them.
const INSERT_PINNED: &[(&str, &str)] = &[
    ("async_insert", "0"),
    ("asterisk_include_materialized_columns", "0"),
    ("asterisk_include_alias_columns", "0"),
    ("distributed_foreground_insert", "1"),
];

/// Settings the token adds; always last in a chunk's SETTINGS.
const TOKEN_SETTINGS: [&str; 2] = ["insert_deduplicate", "insert_deduplication_token"];

/// Every setting the tool pins on a chunk INSERT: `insertSettings` / `--setting` cannot
/// name one of them.
pub fn pinned_insert_settings() -> Vec<&'static str> {
    INSERT_PINNED.iter().chain(EXACT_READ).map(|(k, _)| *k).chain(TOKEN_SETTINGS).collect()
}

/// A value of `insertSettings` / `--setting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

impl SettingValue {
    /// As a ClickHouse literal in `SETTINGS name = value`.
    pub fn literal(&self) -> String {
        match self {
            SettingValue::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            SettingValue::Number(n) => n.to_string(),
            SettingValue::Text(t) => quote_string(t),
        }
    }
}

/// The user's settings for every chunk INSERT, by name (so the SQL is the same for the same settings).
pub type InsertSettings = std::collections::BTreeMap<String, SettingValue>;

fn render_pairs<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    pairs.map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Settings every generated INSERT carries: the user's first, then what the tool pins
/// (the later of two equal names wins in ClickHouse, and the user's cannot name a pinned one
/// anyway), then with a token `insert_deduplicate=1, insert_deduplication_token='<token>'`.
pub fn insert_settings(user: &InsertSettings, token: Option<&str>) -> String {
    let user = user.iter().map(|(k, v)| (k.as_str(), v.literal()));
    let pinned = INSERT_PINNED.iter().chain(EXACT_READ).map(|(k, v)| (*k, v.to_string()));
    let mut s = format!("SETTINGS {}", render_pairs(user.chain(pinned)));
    if let Some(t) = token {
        s.push_str(&token_settings(t));
    }
    s
}

/// `insert_settings(user, token)` from `head`, `insert_settings(user, None)` rendered once
/// for every chunk of a plan (rendering the pinned list per chunk was a good part of planning).
pub fn insert_settings_after(head: &str, token: Option<&str>) -> String {
    let mut s = String::with_capacity(head.len() + token.map_or(0, |t| t.len() + 64));
    s.push_str(head);
    if let Some(t) = token {
        push_token_settings(&mut s, t);
    }
    s
}

fn token_settings(token: &str) -> String {
    let mut s = String::with_capacity(token.len() + 64);
    push_token_settings(&mut s, token);
    s
}

fn push_token_settings(s: &mut String, token: &str) {
    for part in [", ", TOKEN_SETTINGS[0], "=1, ", TOKEN_SETTINGS[1], "="] {
        s.push_str(part);
    }
    s.push_str(&quote_string(token));
}

/// A generated INSERT with its token's deduplication turned off: for a retry that has
/// counted the window and found none of the chunk's rows, where the token could only
/// make the target drop them (an INSERT killed mid-commit can leave its token in a
/// non-replicated MergeTree's deduplication log). `None` when `sql` does not end with
/// the token settings `insert_settings(_, Some(token))` writes.
pub fn without_deduplication(sql: &str, token: &str) -> Option<String> {
    let head = sql.strip_suffix(&token_settings(token))?;
    head.contains("\nSETTINGS ").then(|| format!("{head}, {}=0", TOKEN_SETTINGS[0]))
}

fn column_list(columns: &[String]) -> String {
    columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO target [(cols)] SELECT cols|* FROM source WHERE window SETTINGS ...`.
/// With no known columns the statement relies on `*`, which the settings pin
/// to ordinary columns only, the same set an INSERT without a list expects.
/// The parts common to every chunk are rendered once per plan.
pub struct CopyWindowSql {
    /// `\nINSERT INTO … SELECT … FROM …\nWHERE ` (after the header comment).
    body: String,
    column: String,
    bounds: BoundType,
    /// `insert_settings(settings, None)`: the token's settings follow per chunk.
    settings: String,
}

impl CopyWindowSql {
    pub fn new(target: &TableRef, source: &TableRef, columns: Option<&[String]>, time_column: &str, bounds: BoundType, settings: &InsertSettings) -> Self {
        let (into_cols, select_cols) = match columns {
            Some(cols) if !cols.is_empty() => (format!(" ({})", column_list(cols)), column_list(cols)),
            _ => (String::new(), "*".to_string()),
        };
        CopyWindowSql {
            body: format!("\nINSERT INTO {}{into_cols}\nSELECT {select_cols}\nFROM {}\nWHERE ", target.quoted(), source.quoted()),
            column: quote_ident(time_column),
            bounds,
            settings: insert_settings(settings, None),
        }
    }

    pub fn render(&self, header: &str, w: Window, token: Option<&str>) -> String {
        let mut s = String::with_capacity(header.len() + self.body.len() + 2 * self.column.len() + 260);
        s.push_str(header);
        s.push_str(&self.body);
        push_window_predicate(&mut s, &self.column, self.bounds, w);
        s.push('\n');
        s.push_str(&self.settings);
        if let Some(t) = token {
            push_token_settings(&mut s, t);
        }
        s
    }

    /// The text around the window predicate, the same in every chunk:
    /// a statement is `header + before + window_predicate + after + insert_settings`.
    pub fn window_parts(&self) -> (&str, &str) {
        (&self.body, "\n")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_after_an_insert_from_its_parts() {
        let p = |b, e, r, l| PartBlocks { b, e, r, l };
        // Block 5 is older; 6 and 7 are the insert's (7 already merged with 6 into 6_7_1); 3_5_1 is a merge of old blocks.
        let parts = [p(6, 6, 10, 0), p(7, 7, 4, 0), p(6, 7, 14, 1), p(3, 5, 30, 1), p(5, 5, 2, 0)];
        assert_eq!(parts_rows_after(&parts, 5), RowsAfter { c: 14, top: 7 });
        // A single-block part seen only after a merge rewrote it at a higher level counts once, at its lowest level.
        assert_eq!(parts_rows_after(&[p(8, 8, 3, 1), p(8, 8, 3, 0)], 7), RowsAfter { c: 3, top: 8 });
        // Nothing above: a dropped insert wrote nothing, and the highest block stays.
        assert_eq!(parts_rows_after(&[], 9), RowsAfter { c: 0, top: 9 });
    }

    #[test]
    fn rows_after_an_insert_from_the_engines_counters() {
        let c = |inserts, view_inserts, rows, duplicate_blocks, parts| InsertCounters { inserts, view_inserts, rows, duplicate_blocks, parts };
        let read = insert_counters(&[
            CounterRow { event: "InsertQuery".into(), value: 3 },
            CounterRow { event: "MergeTreeDataWriterRows".into(), value: 700 },
            CounterRow { event: "InsertedCompactParts".into(), value: 4 },
            CounterRow { event: "InsertedWideParts".into(), value: 1 },
            CounterRow { event: "SelectQuery".into(), value: 9 },
        ]);
        assert_eq!(read, c(3, 0, 700, 0, 5), "a counter at zero has no row");
        assert!(insert_counters_sql().contains("system.events"));
        let before = c(3, 0, 700, 0, 5);
        // Two parts (two partitions), nothing dropped.
        assert_eq!(rows_from_counters(&before, &c(4, 0, 1000, 0, 7)), CountedInsert::Rows { rows: 300 });
        // Every block dropped as a duplicate: the parts were written, none added.
        assert_eq!(rows_from_counters(&before, &c(4, 0, 1000, 2, 5)), CountedInsert::Rows { rows: 0 });
        // Some dropped, some added: which rows were kept cannot be told.
        assert!(matches!(rows_from_counters(&before, &c(4, 0, 1000, 1, 6)), CountedInsert::Unknown { views: false, .. }));
        // A view fed by the insert writes rows the counters add to its own.
        assert!(matches!(rows_from_counters(&before, &c(4, 1, 1300, 0, 8)), CountedInsert::Unknown { views: true, .. }));
        // Another INSERT ran in the process meanwhile.
        assert!(matches!(rows_from_counters(&before, &c(5, 0, 1300, 0, 8)), CountedInsert::Unknown { views: false, .. }));
        assert!(matches!(rows_from_counters(&before, &c(0, 0, 0, 0, 0)), CountedInsert::Unknown { .. }));
    }

    use super::*;

    #[test]
    fn settings_rendered_once_then_per_token() {
        let mut user = InsertSettings::new();
        user.insert("max_insert_threads".into(), SettingValue::Number(4.into()));
        for u in [InsertSettings::new(), user] {
            let head = insert_settings(&u, None);
            assert_eq!(insert_settings_after(&head, Some("chkit-a'b")), insert_settings(&u, Some("chkit-a'b")));
            assert_eq!(insert_settings_after(&head, None), insert_settings(&u, None));
        }
    }

    #[test]
    fn tables() {
        let t = parse_table("app.events", "default", "--target").unwrap();
        assert_eq!(t, TableRef { database: "app".into(), table: "events".into() });
        assert_eq!(t.quoted(), "`app`.`events`");
        assert_eq!(parse_table("events", "analytics", "--target").unwrap().display(), "analytics.events");
        let odd = parse_table("`my-db`.`we``ird`", "d", "--target");
        assert!(odd.is_err(), "double back-quote is not an escape here");
        let odd = parse_table("`my-db`.`we\\`ird`", "d", "--target").unwrap();
        assert_eq!(odd.table, "we`ird");
        assert_eq!(odd.quoted(), "`my-db`.`we\\`ird`");
        assert_eq!(odd.display(), "`my-db`.`we\\`ird`");
        for bad in ["", "app.", ".events", "a.b.c", "app events", "app.ev-ents", "1app.events", "app;drop.x", "`unterminated"] {
            let e = parse_table(bad, "default", "--target").unwrap_err();
            assert_eq!(e.code, "invalid_target", "{bad}");
            assert!(e.message.contains("--target"));
        }
    }

    #[test]
    fn deduplication_off_for_a_verified_retry() {
        let t = parse_table("app.events", "default", "--target").unwrap();
        let w = Window { from: 0, to: 3_600_000 };
        let sql = CopyWindowSql::new(&t, &t, None, "ts", BoundType::DateTime64, &InsertSettings::new()).render("/* h */", w, Some("chkit-ab'c"));
        let off = without_deduplication(&sql, "chkit-ab'c").unwrap();
        assert!(off.ends_with("max_parallel_replicas=1, insert_deduplicate=0"), "{off}");
        assert!(!off.contains("insert_deduplication_token"));
        assert_eq!(off.replace(", insert_deduplicate=0", ""), sql.replace(", insert_deduplicate=1, insert_deduplication_token='chkit-ab\\'c'", ""));
        assert_eq!(without_deduplication(&sql, "chkit-other"), None, "another token: not ours to change");
        assert_eq!(without_deduplication(&(sql.clone() + " "), "chkit-ab'c"), None);
    }

    /// Names in the trailing `SETTINGS` of a statement.
    fn settings_of(sql: &str) -> Vec<String> {
        let tail = &sql[sql.rfind("SETTINGS ").expect("a SETTINGS clause") + 9..];
        tail.split(", ").map(|kv| kv.split('=').next().unwrap().to_string()).collect()
    }

    /// Which settings each kind of statement carries.
    #[test]
    fn settings_per_statement_kind() {
        let t = parse_table("app.events", "default", "--target").unwrap();
        let w = Window { from: 0, to: 3_600_000 };
        let mut user = InsertSettings::new();
        user.insert("max_insert_threads".into(), SettingValue::Number(4.into()));
        let copy = CopyWindowSql::new(&t, &t, None, "ts", BoundType::DateTime64, &user);
        let with_token = copy.render("/* h */", w, Some("tok"));
        let exact = ["enable_parallel_replicas", "max_parallel_replicas"];
        let insert = ["async_insert", "asterisk_include_materialized_columns", "asterisk_include_alias_columns", "distributed_foreground_insert"];
        let cat = |parts: &[&[&str]]| parts.concat().iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let table: Vec<(&str, String, Vec<String>)> = vec![
            ("chunk insert with a token", with_token.clone(), cat(&[&["max_insert_threads"], &insert, &exact, &["insert_deduplicate", "insert_deduplication_token"]])),
            ("chunk insert without a token", copy.render("/* h */", w, None), cat(&[&["max_insert_threads"], &insert, &exact])),
            ("retry with deduplication off", without_deduplication(&with_token, "tok").unwrap(), cat(&[&["max_insert_threads"], &insert, &exact, &["insert_deduplicate"]])),
            ("window count", window_count_sql(&t, "ts", w), cat(&[&exact])),
            ("parts before an insert", parts_max_block_sql(&t), cat(&[&exact])),
            ("parts after an insert", parts_after_sql(&t, 7), cat(&[&exact])),
        ];
        for (kind, sql, want) in table {
            assert_eq!(settings_of(&sql), want, "{kind}: {sql}");
        }
        assert!(with_token.contains("max_insert_threads=4, async_insert=0"), "the user's settings come before the pinned ones");
        assert_eq!(settings_of(&exact_read_settings(false)), exact);
        assert_eq!(settings_of(&exact_read_settings(true)), cat(&[&exact, &["select_sequential_consistency"]]));
        for name in pinned_insert_settings() {
            assert!(settings_of(&with_token).contains(&name.to_string()), "{name} is pinned, so every tokened insert carries it");
        }
    }

    #[test]
    fn parts_after_an_insert_reads_its_rows_and_the_next_before_at_once() {
        let t = TableRef { database: "a'b".into(), table: "t\\x".into() };
        assert_eq!(
            parts_after_sql(&t, 42),
            "SELECT min_block_number AS b, max_block_number AS e, rows AS r, level AS l FROM system.parts \
             WHERE database = 'a\\'b' AND table = 't\\\\x' AND max_block_number > 42 \
             SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1"
        );
    }

    #[test]
    fn columns_and_literals() {
        assert_eq!(parse_column("event_time").unwrap(), "event_time");
        assert_eq!(parse_column("`event time`").unwrap(), "event time");
        assert!(parse_column("a.b").is_err());
        assert!(parse_column("x'y").is_err());
        assert_eq!(quote_string("it's \\ ok"), "'it\\'s \\\\ ok'");
        assert_eq!(quote_ident("a`b\\c"), "`a\\`b\\\\c`");
    }

    #[test]
    fn span_counts_number_rows_by_their_window() {
        let t = TableRef { database: "app".into(), table: "events".into() };
        let h = 3_600_000;
        let even: Vec<Window> = (0..3).map(|k| Window { from: 10 * h + k * h, to: 10 * h + (k + 1) * h }).collect();
        let sql = span_count_sql(&t, "ts", 7, &even);
        assert_eq!(
            sql,
            format!(
                "SELECT 7 + intDiv(toUnixTimestamp64Milli(toDateTime64(`ts`, 3, 'UTC')) - {}, {h}) AS __chkit_chunk, count() AS c FROM `app`.`events` WHERE {} GROUP BY __chkit_chunk {}",
                10 * h,
                window_predicate("ts", Window { from: 10 * h, to: 13 * h }),
                exact_read_settings(false)
            )
        );
        // A last window cut short by the plan's end still divides.
        let short = [even[0], Window { from: 11 * h, to: 11 * h + 5 }];
        assert!(span_count_sql(&t, "ts", 0, &short).contains("intDiv("));
        // Windows of other lengths (volume-sized chunks): by their starts.
        let uneven = [Window { from: 0, to: 5 }, Window { from: 5, to: 20 }, Window { from: 20, to: 21 }];
        assert!(span_count_sql(&t, "ts", 2, &uneven).starts_with("SELECT 2 + arrayCount(b -> toUnixTimestamp64Milli(toDateTime64(`ts`, 3, 'UTC')) >= b, [toInt64(5), toInt64(20)]) AS __chkit_chunk"));
    }

}
