//! Which column the window is cut on. First match wins: `--time-column`, the
//! table's `plugins.backfill.timeColumn` in the schema, `defaults.timeColumn`,
//! then detection (date/time columns in ORDER BY, then common names). The
//! shim asks a person on a terminal; this module only decides.

use crate::error::{CoreError, CoreResult};
use crate::sql::{self, TableRef};
use crate::chunks::chunk_ms;
use crate::sql_tokens::tokenize;
use crate::window::{format_instant, Window};
use serde::{Deserialize, Serialize};

/// What the shim knows about a table, from the server and/or the schema files.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableInfo {
    pub database: String,
    pub table: String,
    pub columns: Vec<ColumnInfo>,
    /// ORDER BY expressions (server `sorting_key` split, or the schema's `orderBy`).
    #[serde(default)]
    pub order_by: Vec<String>,
    /// `plugins.backfill.timeColumn` from the schema definition.
    pub time_column: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// '' | DEFAULT | MATERIALIZED | ALIAS | EPHEMERAL
    #[serde(default)]
    pub default_kind: String,
}

impl TableInfo {
    pub fn table_ref(&self) -> TableRef {
        TableRef { database: self.database.clone(), table: self.table.clone() }
    }
    /// Columns a SELECT can read (EPHEMERAL ones hold no data).
    pub fn readable_columns(&self) -> Vec<String> {
        self.columns.iter().filter(|c| c.default_kind != "EPHEMERAL").map(|c| c.name.clone()).collect()
    }
    /// Columns an INSERT can write.
    pub fn insertable_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| !matches!(c.default_kind.as_str(), "MATERIALIZED" | "ALIAS" | "EPHEMERAL"))
            .map(|c| c.name.clone())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--time-column`, or the answer to a prompt.
    Flag,
    Schema,
    Defaults,
    Detected,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub in_order_by: bool,
}

/// The decision for one table. `column` is None when detection is ambiguous.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub table: String,
    pub column: Option<String>,
    pub origin: Option<Origin>,
    /// Detected candidates, best first (empty unless detection ran).
    pub candidates: Vec<Candidate>,
}

/// Names that usually hold an event's time, in order of preference.
pub const COMMON_NAMES: [&str; 8] =
    ["created_at", "timestamp", "event_time", "ingested_at", "occurred_at", "event_timestamp", "inserted_at", "ts"];

/// The type inside Nullable(...)/LowCardinality(...) wrappers.
fn unwrapped(ty: &str) -> &str {
    let mut t = ty.trim();
    loop {
        let inner = ["Nullable(", "LowCardinality("].iter().find_map(|w| t.strip_prefix(w).and_then(|r| r.strip_suffix(')')));
        match inner {
            Some(i) => t = i.trim(),
            None => return t,
        }
    }
}

/// The type's name without wrappers or arguments: `DateTime` for `Nullable(DateTime('UTC'))`.
pub fn base_type(ty: &str) -> &str {
    let t = unwrapped(ty);
    t.split_once('(').map_or(t, |(b, _)| b.trim())
}

/// Date, Date32, DateTime, DateTime64, possibly Nullable/LowCardinality.
pub fn is_time_type(ty: &str) -> bool {
    resolution(ty).is_some()
}

/// The finest instants a time type holds: a value written into it is floored to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Date, Date32: whole days (UTC midnights, as the window compares them).
    Day,
    /// DateTime (0 digits) and DateTime64(p): 10^-p seconds.
    SecondDigits(u32),
}

impl Resolution {
    /// The step, in milliseconds, boundaries must be multiples of (1: every window instant fits).
    fn step_ms(self) -> i64 {
        match self {
            Resolution::Day => 86_400_000,
            Resolution::SecondDigits(p) => 10_i64.pow(3 - p.min(3)),
        }
    }
}

/// None: not a date/time type.
pub fn resolution(ty: &str) -> Option<Resolution> {
    let t = unwrapped(ty);
    let (base, args) = match t.split_once('(') {
        Some((b, rest)) => (b.trim(), Some(rest.strip_suffix(')')?)),
        None => (t, None),
    };
    match (base, args) {
        ("Date" | "Date32", None) => Some(Resolution::Day),
        ("DateTime", _) => Some(Resolution::SecondDigits(0)),
        ("DateTime64", Some(a)) => a.split(',').next()?.trim().parse().ok().map(Resolution::SecondDigits),
        _ => None,
    }
}

/// The timezone a DateTime/DateTime64 type names, if any (`DateTime('Europe/Berlin')`).
fn type_timezone(ty: &str) -> Option<&str> {
    let t = unwrapped(ty);
    let q = t.find('\'')?;
    t[q + 1..].split('\'').next()
}

/// For `table` and `copy`: the target's time column must hold every chunk boundary exactly.
/// A row inserted into a coarser column is floored (a `Date` keeps midnight) and can land
/// outside the window it was read for; the row counts that settle a chunk after a crash or
/// an INSERT would then see rows vanish from one chunk and appear in another, and every
/// replay would add them again. Flooring to a grid that holds the boundaries keeps each row
/// in its window. `source_type`: the copy source's column type (its timezone decides which
/// day a time falls on when it is floored to a `Date`).
pub fn check_holds_chunks(target: &TableInfo, column: &str, source_type: Option<&str>, w: Window, chunk_hours: f64) -> CoreResult<()> {
    let step = chunk_ms(chunk_hours);
    // Boundaries are `from + k·step` and `to`: these three on the grid put all of them on it.
    let inner: Vec<i64> = Some(w.from + step).filter(|b| *b < w.to).into_iter().collect();
    holds(target, column, source_type, w, &inner, false)
}

/// `check_holds_chunks` for a plan sized by volume: `inner` are its chunk boundaries
/// (on the grid of `limits.minChunkMinutes`).
pub fn check_holds_boundaries(target: &TableInfo, column: &str, source_type: Option<&str>, w: Window, inner: &[i64]) -> CoreResult<()> {
    holds(target, column, source_type, w, inner, true)
}

fn holds(target: &TableInfo, column: &str, source_type: Option<&str>, w: Window, inner: &[i64], volume: bool) -> CoreResult<()> {
    let display = format!("{}.{}", target.table_ref().display(), column);
    let unsound = |m: String| CoreError::usage("time_column_unsound", m);
    let Some(col) = target.columns.iter().find(|c| c.name == column) else {
        return Err(unsound(format!(
            "{} has no column {column}: the rows a chunk writes cannot be counted in its window; add the column or pick a time column both tables have (--time-column)",
            target.table_ref().display()
        )));
    };
    let Some(res) = resolution(&col.ty) else {
        return Err(unsound(format!("{display} is {}, not a date/time type: the rows a chunk writes cannot be counted in its window", col.ty)));
    };
    let off_grid = [w.from, w.to].into_iter().chain(inner.iter().copied()).find(|b| b.rem_euclid(res.step_ms()) != 0);
    if let Some(b) = off_grid {
        let works = match res {
            Resolution::Day if volume => "limits.minChunkMinutes = 1440 (or a multiple) with --from and --to at 00:00 UTC".to_string(),
            Resolution::Day => "--chunk-hours 24 (or a multiple of 24) with --from and --to at 00:00 UTC".to_string(),
            Resolution::SecondDigits(0) => "chunk lengths and --from/--to on whole seconds".to_string(),
            Resolution::SecondDigits(p) => format!("chunk lengths and --from/--to in multiples of {} s", 1.0 / 10_f64.powi(p as i32)),
        };
        let boundary = if inner.contains(&b) && b != w.from && b != w.to { format!("the chunk boundary {}", format_instant(b)) } else { format_instant(b) };
        return Err(unsound(format!(
            "{display} is {}, which cannot hold {boundary}: rows written into it would be floored outside their chunk's window, \
             and the row counts that keep the run exactly-once would be wrong; use {works}",
            col.ty
        )));
    }
    if res == Resolution::Day {
        if let Some(tz) = source_type.and_then(type_timezone).filter(|tz| *tz != "UTC") {
            return Err(unsound(format!(
                "{display} is {}, and the source column is {}: a time is floored to its day in {tz}, not in UTC, so rows near midnight \
                 would land in the neighbouring chunk; copy into a DateTime column, or from a column in UTC",
                col.ty,
                source_type.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Identifiers used in the ORDER BY expressions, in order.
fn order_by_names(order_by: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for expr in order_by {
        for t in tokenize(expr).unwrap_or_default() {
            if t.is_ident() && !out.contains(&t.value) {
                out.push(t.value);
            }
        }
    }
    out
}

pub fn candidates(info: &TableInfo) -> Vec<Candidate> {
    let time_cols: Vec<&ColumnInfo> =
        info.columns.iter().filter(|c| is_time_type(&c.ty) && c.default_kind != "EPHEMERAL").collect();
    let mut out: Vec<Candidate> = Vec::new();
    for name in order_by_names(&info.order_by) {
        if let Some(c) = time_cols.iter().find(|c| c.name == name) {
            out.push(Candidate { name: c.name.clone(), ty: c.ty.clone(), in_order_by: true });
        }
    }
    for name in COMMON_NAMES {
        if let Some(c) = time_cols.iter().find(|c| c.name == name) {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(Candidate { name: c.name.clone(), ty: c.ty.clone(), in_order_by: false });
            }
        }
    }
    out
}

/// Run the chain for one table. `explicit` is `--time-column` (or a prompt's answer).
pub fn choose(table: &TableRef, explicit: Option<&str>, defaults: Option<&str>, info: Option<&TableInfo>) -> CoreResult<Choice> {
    let display = table.display();
    let picked = explicit
        .map(|c| (c.to_string(), Origin::Flag))
        .or_else(|| info.and_then(|i| i.time_column.clone()).map(|c| (c, Origin::Schema)))
        .or_else(|| defaults.map(|c| (c.to_string(), Origin::Defaults)));
    if let Some((raw, origin)) = picked {
        let column = sql::parse_column(&raw)?;
        if let Some(info) = info {
            check_column(&display, info, &column, origin)?;
        }
        return Ok(Choice { table: display, column: Some(column), origin: Some(origin), candidates: vec![] });
    }
    let Some(info) = info else {
        return Err(CoreError::usage(
            "missing_time_column",
            format!("no time column for {display}: pass --time-column or set defaults.timeColumn in the backfill options"),
        ));
    };
    let cands = candidates(info);
    let in_order_by: Vec<&Candidate> = cands.iter().filter(|c| c.in_order_by).collect();
    let column = (in_order_by.len() == 1).then(|| in_order_by[0].name.clone());
    Ok(Choice { table: display, origin: column.as_ref().map(|_| Origin::Detected), column, candidates: cands })
}

fn check_column(display: &str, info: &TableInfo, column: &str, origin: Origin) -> CoreResult<()> {
    let how = match origin {
        Origin::Flag => "--time-column",
        Origin::Schema => "plugins.backfill.timeColumn",
        Origin::Defaults => "defaults.timeColumn",
        Origin::Detected => "the detected time column",
    };
    match info.columns.iter().find(|c| c.name == column) {
        None => Err(CoreError::usage(
            "invalid_time_column",
            format!("{how} '{column}' is not a column of {display} (columns: {})", names(info)),
        )),
        Some(c) if !is_time_type(&c.ty) || c.default_kind == "EPHEMERAL" => Err(CoreError::usage(
            "invalid_time_column",
            format!("{how} '{column}' of {display} is {}, not a Date/DateTime/DateTime64 column", c.ty),
        )),
        Some(_) => Ok(()),
    }
}

fn names(info: &TableInfo) -> String {
    info.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The chosen column, or the exit-2 error that lists the candidates.
pub fn require(choice: &Choice) -> CoreResult<String> {
    if let Some(c) = &choice.column {
        return Ok(c.clone());
    }
    if choice.candidates.is_empty() {
        return Err(CoreError::usage(
            "missing_time_column",
            format!("no time column found in {}: pass --time-column <column>", choice.table),
        ));
    }
    let list = choice
        .candidates
        .iter()
        .map(|c| format!("{} ({}{})", c.name, c.ty, if c.in_order_by { ", in ORDER BY" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ");
    Err(CoreError::usage(
        "ambiguous_time_column",
        format!("cannot tell which time column of {} to use: {list}; pass --time-column <column>", choice.table),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cols: &[(&str, &str)], order_by: &[&str]) -> TableInfo {
        TableInfo {
            database: "app".into(),
            table: "t".into(),
            columns: cols.iter().map(|(n, t)| ColumnInfo { name: n.to_string(), ty: t.to_string(), default_kind: String::new() }).collect(),
            order_by: order_by.iter().map(|s| s.to_string()).collect(),
            time_column: None,
        }
    }
    fn t() -> TableRef {
        TableRef { database: "app".into(), table: "t".into() }
    }

    #[test]
    fn types() {
        for ty in ["DateTime", "DateTime('UTC')", "DateTime64(3)", "DateTime64(6, 'UTC')", "Date", "Date32", "Nullable(DateTime)", "LowCardinality(Nullable(Date))"] {
            assert!(is_time_type(ty), "{ty}");
        }
        for ty in ["String", "UInt32", "DateTimeX", "Array(DateTime)", "Tuple(DateTime)"] {
            assert!(!is_time_type(ty), "{ty}");
        }
    }

    #[test]
    fn chain_first_match_wins() {
        let mut i = info(&[("ts", "DateTime"), ("created_at", "DateTime"), ("u", "UInt64")], &["toStartOfHour(ts)", "u"]);
        let c = choose(&t(), None, None, Some(&i)).unwrap();
        assert_eq!((c.column.as_deref(), c.origin), (Some("ts"), Some(Origin::Detected)));
        assert_eq!(c.candidates.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["ts", "created_at"]);
        assert_eq!(choose(&t(), None, Some("created_at"), Some(&i)).unwrap().origin, Some(Origin::Defaults));
        i.time_column = Some("created_at".into());
        let c = choose(&t(), None, Some("ts"), Some(&i)).unwrap();
        assert_eq!((c.column.as_deref(), c.origin), (Some("created_at"), Some(Origin::Schema)));
        let c = choose(&t(), Some("ts"), None, Some(&i)).unwrap();
        assert_eq!((c.column.as_deref(), c.origin), (Some("ts"), Some(Origin::Flag)));
    }

    #[test]
    fn ambiguity_and_absence() {
        let two = info(&[("a", "DateTime"), ("b", "DateTime64(3)")], &["a", "b"]);
        let c = choose(&t(), None, None, Some(&two)).unwrap();
        assert_eq!(c.column, None);
        let e = require(&c).unwrap_err();
        assert_eq!(e.code, "ambiguous_time_column");
        assert!(e.message.contains("a (DateTime, in ORDER BY), b (DateTime64(3), in ORDER BY)"), "{}", e.message);
        // A name match alone is offered, never used without a person confirming it.
        let named = info(&[("created_at", "DateTime"), ("u", "UInt64")], &["u"]);
        let c = choose(&t(), None, None, Some(&named)).unwrap();
        assert_eq!((c.column.as_deref(), c.candidates.len()), (None, 1));
        assert_eq!(require(&c).unwrap_err().code, "ambiguous_time_column");
        let none = info(&[("u", "UInt64")], &["u"]);
        assert_eq!(require(&choose(&t(), None, None, Some(&none)).unwrap()).unwrap_err().code, "missing_time_column");
        assert_eq!(choose(&t(), None, None, None).unwrap_err().code, "missing_time_column");
    }

    #[test]
    fn resolutions() {
        use Resolution::*;
        let cases = [
            ("Date", Some(Day)),
            ("Date32", Some(Day)),
            ("Nullable(Date)", Some(Day)),
            ("LowCardinality(Nullable(Date32))", Some(Day)),
            ("DateTime", Some(SecondDigits(0))),
            ("DateTime('Europe/Berlin')", Some(SecondDigits(0))),
            ("DateTime64(3)", Some(SecondDigits(3))),
            ("Nullable(DateTime64(6, 'UTC'))", Some(SecondDigits(6))),
            ("DateTime64(0)", Some(SecondDigits(0))),
            ("DateTime64", None),
            ("Date(1)", None),
            ("String", None),
        ];
        for (ty, want) in cases {
            assert_eq!(resolution(ty), want, "{ty}");
        }
        assert_eq!(type_timezone("Nullable(DateTime64(3, 'Asia/Tokyo'))"), Some("Asia/Tokyo"));
        assert_eq!(type_timezone("DateTime"), None);
    }

    fn window(from: &str, to: &str) -> Window {
        Window { from: crate::window::parse_instant(from, "--from").unwrap(), to: crate::window::parse_instant(to, "--to").unwrap() }
    }

    #[test]
    fn target_column_must_hold_every_boundary() {
        let day = window("2025-01-01", "2025-01-03");
        let check = |ty: &str, w: Window, hours: f64| check_holds_chunks(&info(&[("event_time", ty)], &[]), "event_time", None, w, hours);
        // Date: whole days at UTC midnight only.
        let e = check("Date", day, 6.0).unwrap_err();
        assert_eq!((e.code, e.kind), ("time_column_unsound", crate::error::ErrorKind::Usage));
        assert!(e.message.starts_with("app.t.event_time is Date, which cannot hold the chunk boundary 2025-01-01T06:00:00.000Z"), "{}", e.message);
        assert!(e.message.ends_with("use --chunk-hours 24 (or a multiple of 24) with --from and --to at 00:00 UTC"), "{}", e.message);
        assert!(check("Date", day, 24.0).is_ok());
        assert!(check("Nullable(Date32)", day, 48.0).is_ok());
        assert!(check("Date", day, 36.0).is_err(), "the second boundary is at noon");
        assert!(check("Date", window("2025-01-01T06:00:00Z", "2025-01-03T06:00:00Z"), 24.0).is_err());
        assert!(check("Date", window("2025-01-01", "2025-01-02T12:00:00Z"), 24.0).unwrap_err().message.contains("hold 2025-01-02T12:00:00.000Z"));
        // One chunk shorter than chunkHours: its only boundaries are the window's ends.
        assert!(check("Date", window("2025-01-01", "2025-01-02"), 48.0).is_ok());
        // DateTime: whole seconds; DateTime64(p): its precision; finer than ms always holds.
        assert!(check("DateTime", day, 0.25).is_ok());
        assert!(check("DateTime", window("2025-01-01T00:00:00.500Z", "2025-01-02"), 1.0).unwrap_err().message.contains("whole seconds"));
        assert!(check("DateTime('UTC')", day, 1.0 / 7200.0).is_err(), "half-second chunks");
        assert!(check("DateTime64(1)", window("2025-01-01T00:00:00.100Z", "2025-01-02"), 1.0).is_ok());
        assert!(check("DateTime64(1)", window("2025-01-01T00:00:00.050Z", "2025-01-02"), 1.0).unwrap_err().message.contains("multiples of 0.1 s"));
        assert!(check("DateTime64(3)", window("2025-01-01T00:00:00.001Z", "2025-01-02"), 1.0).is_ok());
        assert!(check("DateTime64(9, 'UTC')", window("2025-01-01T00:00:00.001Z", "2025-01-02"), 1.0).is_ok());
        // Not a time type, or no such column.
        assert!(check("String", day, 24.0).unwrap_err().message.contains("app.t.event_time is String, not a date/time type"));
        let e = check_holds_chunks(&info(&[("ts", "DateTime")], &[]), "event_time", None, day, 24.0).unwrap_err();
        assert!(e.message.starts_with("app.t has no column event_time"), "{}", e.message);
    }

    #[test]
    fn a_date_target_needs_a_source_in_utc() {
        let t = info(&[("event_time", "Date")], &[]);
        let day = window("2025-01-01", "2025-01-03");
        let e = check_holds_chunks(&t, "event_time", Some("DateTime('Europe/Berlin')"), day, 24.0).unwrap_err();
        assert!(e.message.contains("floored to its day in Europe/Berlin"), "{}", e.message);
        for ok in ["DateTime", "DateTime('UTC')", "Date", "DateTime64(3, 'UTC')"] {
            assert!(check_holds_chunks(&t, "event_time", Some(ok), day, 24.0).is_ok(), "{ok}");
        }
        // A DateTime target keeps the instant whatever the source's timezone.
        let dt = info(&[("event_time", "DateTime")], &[]);
        assert!(check_holds_chunks(&dt, "event_time", Some("DateTime('Europe/Berlin')"), day, 6.0).is_ok());
    }

    #[test]
    fn explicit_columns_are_checked() {
        let i = info(&[("ts", "DateTime"), ("u", "UInt64")], &["ts"]);
        let e = choose(&t(), Some("nope"), None, Some(&i)).unwrap_err();
        assert_eq!(e.code, "invalid_time_column");
        assert!(e.message.contains("'nope' is not a column of app.t (columns: ts, u)"), "{}", e.message);
        let e = choose(&t(), None, Some("u"), Some(&i)).unwrap_err();
        assert!(e.message.contains("defaults.timeColumn 'u' of app.t is UInt64"), "{}", e.message);
        assert_eq!(choose(&t(), Some("a b"), None, Some(&i)).unwrap_err().code, "invalid_column");
        // Unknown table: nothing to check against.
        assert_eq!(choose(&t(), Some("whatever"), None, None).unwrap().column.as_deref(), Some("whatever"));
    }
}
