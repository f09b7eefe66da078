//! Which column the window is cut on. First match wins: `--time-column`, the
//! table's `plugins.backfill.timeColumn` in the schema, `defaults.timeColumn`,
//! then detection (date/time columns in ORDER BY, then common names). The
//! shim asks a person on a terminal; this module only decides.

use crate::error::{CoreError, CoreResult};
use crate::sql::{self, TableRef};
use crate::sql_tokens::tokenize;
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

/// Date, Date32, DateTime, DateTime64, possibly Nullable/LowCardinality.
pub fn is_time_type(ty: &str) -> bool {
    let mut t = ty.trim();
    loop {
        let inner = ["Nullable(", "LowCardinality("].iter().find_map(|w| t.strip_prefix(w).and_then(|r| r.strip_suffix(')')));
        match inner {
            Some(i) => t = i.trim(),
            None => break,
        }
    }
    let base = t.split('(').next().unwrap_or("");
    matches!(base, "Date" | "Date32" | "DateTime" | "DateTime64")
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
