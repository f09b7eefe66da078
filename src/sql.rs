//! Identifiers and SQL text. Every identifier that reaches SQL is parsed here
//! and back-quoted; every string literal is escaped here.

use crate::error::{CoreError, CoreResult};
use crate::window::{sql_literal, Window};
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
    let c = quote_ident(time_column);
    format!("{c} >= {} AND {c} < {}", sql_literal(w.from), sql_literal(w.to))
}

/// The header that lets an operator find a chunk's query in `system.query_log`
/// or `system.processes`.
pub fn header_comment(plan_id: &str, chunk_id: &str, token: &str) -> String {
    format!("/* chkit-backfill plan={plan_id} chunk={chunk_id} token={token} */")
}

/// Settings every generated INSERT carries. `async_insert=0` because an async
/// insert acknowledges before the rows are durable, which breaks checkpoints.
pub fn insert_settings(token: Option<&str>) -> String {
    const BASE: &str = "SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0";
    match token {
        Some(t) => format!("{BASE}, insert_deduplicate=1, insert_deduplication_token={}", quote_string(t)),
        None => BASE.to_string(),
    }
}

/// Settings that make a read count every committed row exactly once: no parallel
/// replicas (which can sample or split a read across replicas that lag), and on a
/// replicated table only replicas holding every quorum insert. The one list every
/// counting/verifying query pins (`verify`; others may adopt it).
pub fn exact_read_settings(replicated: bool) -> String {
    let mut s = String::from("SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1");
    if replicated {
        s.push_str(", select_sequential_consistency=1");
    }
    s
}

/// A generated INSERT with its token's deduplication turned off: for a retry that has
/// counted the window and found none of the chunk's rows, where the token could only
/// make the target drop them (an INSERT killed mid-commit can leave its token in a
/// non-replicated MergeTree's deduplication log). `None` when `sql` does not end with
/// the settings `insert_settings(Some(token))` writes.
pub fn without_deduplication(sql: &str, token: &str) -> Option<String> {
    let head = sql.strip_suffix(&insert_settings(Some(token)))?;
    Some(format!("{head}{}, insert_deduplicate=0", insert_settings(None)))
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
}

impl CopyWindowSql {
    pub fn new(target: &TableRef, source: &TableRef, columns: Option<&[String]>, time_column: &str) -> Self {
        let (into_cols, select_cols) = match columns {
            Some(cols) if !cols.is_empty() => (format!(" ({})", column_list(cols)), column_list(cols)),
            _ => (String::new(), "*".to_string()),
        };
        CopyWindowSql {
            body: format!("\nINSERT INTO {}{into_cols}\nSELECT {select_cols}\nFROM {}\nWHERE ", target.quoted(), source.quoted()),
            column: quote_ident(time_column),
        }
    }

    pub fn render(&self, header: &str, w: Window, token: Option<&str>) -> String {
        let mut s = String::with_capacity(header.len() + self.body.len() + 2 * self.column.len() + 260);
        s.push_str(header);
        s.push_str(&self.body);
        s.push_str(&self.column);
        s.push_str(" >= ");
        s.push_str(&sql_literal(w.from));
        s.push_str(" AND ");
        s.push_str(&self.column);
        s.push_str(" < ");
        s.push_str(&sql_literal(w.to));
        s.push('\n');
        s.push_str(&insert_settings(token));
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
    use super::*;

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
        let sql = CopyWindowSql::new(&t, &t, None, "ts").render("/* h */", w, Some("chkit-ab'c"));
        let off = without_deduplication(&sql, "chkit-ab'c").unwrap();
        assert!(off.ends_with("asterisk_include_alias_columns=0, insert_deduplicate=0"), "{off}");
        assert!(!off.contains("insert_deduplication_token"));
        assert_eq!(off.replace(", insert_deduplicate=0", ""), sql.replace(", insert_deduplicate=1, insert_deduplication_token='chkit-ab\\'c'", ""));
        assert_eq!(without_deduplication(&sql, "chkit-other"), None, "another token: not ours to change");
        assert_eq!(without_deduplication(&(sql.clone() + " "), "chkit-ab'c"), None);
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
}
