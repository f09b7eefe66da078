//! Materialized-view replay: recognise the structure of a view's SELECT on
//! tokens (never on raw characters) and rewrite it so that the view's own
//! query runs over one window of its source table.
//!
//! The source reference in the view's FROM is replaced by
//! `(SELECT … FROM src WHERE <window>) AS <alias>`, keeping the alias the view
//! used (or the table name when it had none), so joins, subqueries, WHERE,
//! GROUP BY, HAVING, SETTINGS, `-State` aggregates, `arrayJoin` and aliases
//! keep their meaning. That is what a live view sees, too: its query runs
//! over the inserted block in place of the source table, while every other
//! table it names is read in full.
//!
//! Anything the rewriter cannot prove it filters correctly is refused with the
//! construct named: the source read twice, UNION, table functions, PREWHERE,
//! FINAL/SAMPLE on the source, comma joins, columns qualified by database.

use crate::error::{CoreError, CoreResult};
use crate::sql::{quote_ident, window_predicate, TableRef};
use crate::sql_tokens::{tokenize, Token, TokenKind};
use crate::window::Window;

/// A view query, analysed once; `replay_select` renders it for each chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewQuery {
    text: String,
    /// Byte span of the source reference (table name and alias) in `text`.
    span: (usize, usize),
    /// The table whose inserts trigger the view.
    pub source: TableRef,
    /// The name the query knows the source by: its alias, or the table name.
    pub alias: String,
    /// Output column names read from the select list, or why they cannot be.
    pub parsed_outputs: Result<Vec<String>, String>,
}

fn unsupported(view: &str, what: impl std::fmt::Display) -> CoreError {
    CoreError::usage("mv_query_unsupported", format!("materialized view {view}: {what}; it cannot be replayed safely"))
}

/// Words that end a table reference instead of being its alias.
const NOT_ALIAS: &[&str] = &[
    "FINAL", "SAMPLE", "WHERE", "PREWHERE", "GROUP", "ORDER", "LIMIT", "SETTINGS", "FORMAT", "HAVING", "WINDOW",
    "QUALIFY", "UNION", "INTERSECT", "EXCEPT", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "ANY", "ALL",
    "ASOF", "SEMI", "ANTI", "ARRAY", "GLOBAL", "PASTE", "USING", "ON", "OFFSET", "LOCAL", "INTO", "WITH", "OUTER",
];

/// Words that end an expression and so are never an implicit alias (`CASE … END`, `INTERVAL 1 DAY`).
const NOT_IMPLICIT_ALIAS: &[&str] = &[
    "END", "NULL", "TRUE", "FALSE", "NAN", "INF", "DESC", "ASC", "NANOSECOND", "MICROSECOND", "MILLISECOND",
    "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "DISTINCT", "ALL",
];

fn is_word_in(t: &Token, words: &[&str]) -> bool {
    t.kind == TokenKind::Word && words.iter().any(|w| t.value.eq_ignore_ascii_case(w))
}

/// What follows a FROM or JOIN.
#[derive(Debug, Clone)]
enum Relation {
    Table { table: TableRef, span: (usize, usize), alias: Option<String>, modifier: Option<String> },
    /// `(subquery)`: the id of the frame it opens.
    Subquery(usize),
}

#[derive(Debug, Clone)]
struct FromClause {
    frame: usize,
    relation: Relation,
}

/// The parts of the query found by one walk over its tokens.
struct Structure {
    froms: Vec<FromClause>,
    /// Tables named after `IN` (`x IN db.t`).
    in_tables: Vec<TableRef>,
    /// Names defined by `WITH name AS (SELECT …)`.
    cte_names: Vec<String>,
    /// Frame id of every significant token (0 = the outermost query).
    frame_of: Vec<usize>,
    /// Clauses whose result depends on how rows are split into blocks
    /// (`LIMIT`, window functions), with the frame they are in.
    block_dependent: Vec<(usize, &'static str)>,
}

struct Walker<'a> {
    view: &'a str,
    default_db: &'a str,
    sig: &'a [Token],
}

impl<'a> Walker<'a> {
    fn at(&self, k: usize) -> Option<&'a Token> {
        self.sig.get(k)
    }

    fn starts_select(&self, k: usize) -> bool {
        self.at(k).is_some_and(|t| t.is_keyword("SELECT") || t.is_keyword("WITH"))
    }

    /// `ident` or `ident.ident` at k: the table and the index after it.
    fn table_name(&self, k: usize) -> Option<(TableRef, usize)> {
        let a = self.at(k).filter(|t| t.is_ident())?;
        if self.at(k + 1).is_some_and(|t| t.is_punct(".")) {
            let b = self.at(k + 2).filter(|t| t.is_ident())?;
            return Some((TableRef { database: a.value.clone(), table: b.value.clone() }, k + 3));
        }
        Some((TableRef { database: self.default_db.to_string(), table: a.value.clone() }, k + 1))
    }

    /// The relation after FROM/JOIN at k; `next_frame` is the id a `(` here would open.
    fn relation(&self, k: usize, next_frame: usize) -> CoreResult<Relation> {
        let Some(first) = self.at(k) else {
            return Err(unsupported(self.view, "FROM with nothing after it"));
        };
        if first.is_punct("(") {
            return Ok(Relation::Subquery(next_frame));
        }
        let (table, mut j) = self
            .table_name(k)
            .ok_or_else(|| unsupported(self.view, format!("unexpected '{}' after FROM/JOIN", first.value)))?;
        if self.at(j).is_some_and(|t| t.is_punct("(")) {
            return Err(unsupported(self.view, format!("table function {}()", self.sig[j - 1].value)));
        }
        let name_start = first.start;
        let mut end = self.sig[j - 1].end;
        let mut alias = None;
        if self.at(j).is_some_and(|t| t.is_keyword("AS")) {
            let a = self.at(j + 1).filter(|t| t.is_ident()).ok_or_else(|| unsupported(self.view, "AS without an alias"))?;
            alias = Some(a.value.clone());
            end = a.end;
            j += 2;
        } else if let Some(a) = self.at(j).filter(|t| t.is_ident() && !is_word_in(t, NOT_ALIAS)) {
            alias = Some(a.value.clone());
            end = a.end;
            j += 1;
        }
        let modifier = self.at(j).filter(|t| t.is_keyword("FINAL") || t.is_keyword("SAMPLE")).map(|t| t.value.to_uppercase());
        Ok(Relation::Table { table, span: (name_start, end), alias, modifier })
    }

    fn walk(&self) -> CoreResult<Structure> {
        let mut s = Structure {
            froms: Vec::new(),
            in_tables: Vec::new(),
            cte_names: Vec::new(),
            frame_of: Vec::new(),
            block_dependent: Vec::new(),
        };
        // (id, is a SELECT) of each open parenthesis; the root is the query itself.
        let mut stack: Vec<(usize, bool)> = vec![(0, true)];
        let mut next_id = 1;
        for (k, t) in self.sig.iter().enumerate() {
            let (frame, in_select) = *stack.last().expect("root frame");
            s.frame_of.push(frame);
            if t.is_punct("(") {
                stack.push((next_id, self.starts_select(k + 1)));
                next_id += 1;
            } else if t.is_punct(")") {
                if stack.len() == 1 {
                    return Err(unsupported(self.view, "unbalanced ')'"));
                }
                stack.pop();
            } else if t.is_punct(";") {
                if k + 1 != self.sig.len() {
                    return Err(unsupported(self.view, "more than one statement"));
                }
            } else if t.is_keyword("UNION") || t.is_keyword("INTERSECT") {
                return Err(unsupported(self.view, t.value.to_uppercase()));
            } else if t.is_keyword("EXCEPT")
                && (self.starts_select(k + 1)
                    || self.at(k + 1).is_some_and(|n| n.is_keyword("DISTINCT") || n.is_keyword("ALL"))
                    || (self.at(k + 1).is_some_and(|n| n.is_punct("(")) && self.starts_select(k + 2)))
            {
                return Err(unsupported(self.view, "EXCEPT between queries"));
            } else if t.is_keyword("LIMIT") && in_select {
                s.block_dependent.push((frame, "LIMIT"));
            } else if t.is_keyword("OVER") && self.at(k + 1).is_some_and(|n| n.is_punct("(") || n.is_ident()) {
                s.block_dependent.push((frame, "a window function (OVER)"));
            } else if t.is_keyword("PREWHERE") {
                return Err(unsupported(self.view, "PREWHERE (write the condition in WHERE)"));
            } else if in_select && (t.is_keyword("FROM") || (t.is_keyword("JOIN") && !self.after_array(k))) {
                let relation = self.relation(k + 1, next_id)?;
                if t.is_keyword("FROM") {
                    self.no_comma_join(k + 1, &relation)?;
                }
                s.froms.push(FromClause { frame, relation });
            } else if t.is_keyword("IN") && !self.at(k + 1).is_some_and(|n| n.is_punct("(")) {
                if let Some((table, j)) = self.table_name(k + 1) {
                    if !self.at(j).is_some_and(|n| n.is_punct("(")) {
                        s.in_tables.push(table);
                    }
                }
            } else if t.is_keyword("AS")
                && self.at(k + 1).is_some_and(|n| n.is_punct("("))
                && self.starts_select(k + 2)
                && k > 0
                && self.sig[k - 1].is_ident()
            {
                s.cte_names.push(self.sig[k - 1].value.clone());
            }
        }
        if stack.len() != 1 {
            return Err(unsupported(self.view, "unbalanced '('"));
        }
        Ok(s)
    }

    fn after_array(&self, k: usize) -> bool {
        k > 0 && self.sig[k - 1].is_keyword("ARRAY")
    }

    /// `FROM a, b`: the second table would be read in full while the first is
    /// filtered; refuse rather than guess which one the view is triggered by.
    fn no_comma_join(&self, k: usize, relation: &Relation) -> CoreResult<()> {
        let Relation::Table { span, .. } = relation else { return Ok(()) };
        let after = self.sig.iter().position(|t| t.start >= span.1);
        if after.and_then(|j| self.at(j)).is_some_and(|t| t.is_punct(",")) {
            return Err(unsupported(self.view, format!("comma-separated FROM list after {} (write it as a JOIN)", self.sig[k].value)));
        }
        Ok(())
    }
}

/// The table a live view is triggered by: the first table of the outermost
/// FROM, looking inside a FROM subquery when the FROM is one. Also refuses
/// clauses on that path whose result depends on the insert's block size: a
/// live view applies them per inserted block, a replay per chunk.
fn trigger_table(view: &str, st: &Structure) -> CoreResult<usize> {
    let mut frame = 0;
    loop {
        if let Some((_, what)) = st.block_dependent.iter().find(|(f, _)| *f == frame) {
            return Err(unsupported(view, format!("{what} over the source rows (a live view applies it to each inserted block)")));
        }
        let i = st
            .froms
            .iter()
            .position(|f| f.frame == frame)
            .ok_or_else(|| unsupported(view, "no FROM table found"))?;
        match st.froms[i].relation {
            Relation::Table { .. } => return Ok(i),
            Relation::Subquery(child) => frame = child,
        }
    }
}

/// Name of one select-list item, or why it has none a replay can rely on.
fn item_name(item: &[Token]) -> Result<String, String> {
    let text = || item.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(" ");
    let n = item.len();
    if n == 0 {
        return Err("an empty select item".into());
    }
    if item.iter().enumerate().any(|(i, t)| t.is_punct("*") && (i == 0 || item[i - 1].is_punct("."))) {
        return Err(format!("'{}' (a star expands to columns only the server knows)", text()));
    }
    if item[0].is_keyword("COLUMNS") && item.get(1).is_some_and(|t| t.is_punct("(")) {
        return Err(format!("'{}' (COLUMNS() expands to columns only the server knows)", text()));
    }
    if n >= 2 && item[n - 2].is_keyword("AS") && item[n - 1].is_ident() {
        return Ok(item[n - 1].value.clone());
    }
    let is_path = n % 2 == 1
        && item.iter().enumerate().all(|(i, t)| if i % 2 == 0 { t.is_ident() } else { t.is_punct(".") });
    if is_path {
        return Ok(item[n - 1].value.clone());
    }
    let last = &item[n - 1];
    let prev = &item[n - 2];
    let implicit_alias = last.is_ident()
        && !is_word_in(last, NOT_IMPLICIT_ALIAS)
        && (prev.is_punct(")") || prev.is_punct("]") || (prev.is_ident() && !prev.is_keyword("AS")));
    if implicit_alias {
        return Ok(last.value.clone());
    }
    Err(format!("'{}' has no alias", text()))
}

/// Output column names of the outermost select list.
fn select_list_names(sig: &[Token], st: &Structure) -> Result<Vec<String>, String> {
    let select = (0..sig.len())
        .find(|&k| st.frame_of[k] == 0 && sig[k].is_keyword("SELECT"))
        .ok_or("no SELECT")?;
    let mut k = select + 1;
    while sig.get(k).is_some_and(|t| t.is_keyword("DISTINCT") || t.is_keyword("ALL")) {
        k += 1;
    }
    let mut names = Vec::new();
    let mut item: Vec<Token> = Vec::new();
    let mut brackets = 0i32;
    while let Some(t) = sig.get(k) {
        let top = st.frame_of[k] == 0 && !t.is_punct("(") && brackets == 0;
        if top && (t.is_keyword("FROM") || t.is_punct(";")) {
            break;
        }
        if t.is_punct("[") {
            brackets += 1;
        } else if t.is_punct("]") {
            brackets -= 1;
        }
        if top && t.is_punct(",") {
            names.push(item_name(&item)?);
            item.clear();
        } else {
            item.push(t.clone());
        }
        k += 1;
    }
    names.push(item_name(&item)?);
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(format!("column '{dup}' appears twice"));
    }
    Ok(names)
}

/// Analyse a view's SELECT. `view` names it in messages; unqualified tables
/// resolve against `default_db` (the view's own database).
pub fn analyze_view(view: &str, query: &str, default_db: &str) -> CoreResult<ViewQuery> {
    let tokens = tokenize(query).map_err(|e| unsupported(view, format!("cannot read the query: {}", e.message)))?;
    let sig: Vec<Token> = tokens.into_iter().filter(|t| !t.is_trivia()).collect();
    if !sig.first().is_some_and(|t| t.is_keyword("SELECT") || t.is_keyword("WITH")) {
        return Err(unsupported(view, "the query does not start with SELECT or WITH"));
    }
    let w = Walker { view, default_db, sig: &sig };
    let st = w.walk()?;
    let main = trigger_table(view, &st)?;
    let Relation::Table { table: source, span, alias, modifier } = st.froms[main].relation.clone() else {
        unreachable!("trigger_table returns a table")
    };
    if let Some(m) = modifier {
        return Err(unsupported(view, format!("{m} on the source table {}", source.display())));
    }
    if source.database == default_db && st.cte_names.iter().any(|c| *c == source.table) {
        return Err(unsupported(view, format!("FROM reads the WITH subquery {}", source.table)));
    }
    let others = st.froms.iter().enumerate().filter(|(i, _)| *i != main).filter_map(|(_, f)| match &f.relation {
        Relation::Table { table, .. } => Some(table),
        Relation::Subquery(_) => None,
    });
    if others.chain(st.in_tables.iter()).any(|t| *t == source) {
        return Err(unsupported(
            view,
            format!("the source table {} is read more than once (self-join, subquery or IN)", source.display()),
        ));
    }
    let alias_name = alias.clone().unwrap_or_else(|| source.table.clone());
    // `db.src.col` stops resolving once the table is a subquery; `src.col`
    // stops resolving when the view aliased the table to something else.
    for k in 0..sig.len() {
        let outside = sig[k].end <= span.0 || sig[k].start >= span.1;
        let dotted = |i: usize| sig.get(i + 1).is_some_and(|t| t.is_punct("."));
        if !outside || !sig[k].is_ident() || !dotted(k) || (k > 0 && sig[k - 1].is_punct(".")) {
            continue;
        }
        let db_qualified = sig[k].value == source.database
            && sig.get(k + 2).is_some_and(|t| t.is_ident() && t.value == source.table)
            && dotted(k + 2);
        if db_qualified {
            return Err(unsupported(view, format!("column reference qualified by database ({}.{}.…)", source.database, source.table)));
        }
        if alias.is_some() && sig[k].value == source.table && alias_name != source.table {
            return Err(unsupported(view, format!("column reference {}.… while FROM names the table {alias_name}", source.table)));
        }
    }
    let parsed_outputs = select_list_names(&sig, &st);
    let end = sig.iter().rev().find(|t| !t.is_punct(";")).map_or(0, |t| t.end);
    let start = sig.first().map_or(0, |t| t.start);
    let text = query[start..end].to_string();
    Ok(ViewQuery { span: (span.0 - start, span.1 - start), text, source, alias: alias_name, parsed_outputs })
}

/// The view's query over one window of its source. `source_columns` lists
/// every readable column of the source (MATERIALIZED and ALIAS ones too, as
/// the live view can read them); unknown → `*`.
pub fn replay_select(v: &ViewQuery, source_columns: Option<&[String]>, time_column: &str, w: Window) -> String {
    let (before, after) = replay_select_parts(v, source_columns);
    format!("{before}{}{after}", window_predicate(time_column, w))
}

/// `replay_select` without its window predicate: the text before and after it,
/// the same for every chunk.
pub fn replay_select_parts(v: &ViewQuery, source_columns: Option<&[String]>) -> (String, String) {
    let cols = match source_columns {
        Some(c) if !c.is_empty() => c.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
        _ => "*".to_string(),
    };
    (
        format!("{}(SELECT {cols} FROM {} WHERE ", &v.text[..v.span.0], v.source.quoted()),
        format!(") AS {}{}", quote_ident(&v.alias), &v.text[v.span.1..]),
    )
}

/// `CREATE MATERIALIZED VIEW … REFRESH …`: recomputed on a schedule, not fed by inserts.
pub fn is_refreshable(create_query: &str) -> bool {
    let Ok(tokens) = tokenize(create_query) else { return false };
    let sig: Vec<&Token> = tokens.iter().filter(|t| !t.is_trivia()).collect();
    // Only the header counts: the part before the view's `AS SELECT|WITH`.
    let body = sig
        .windows(2)
        .position(|w| w[0].is_keyword("AS") && (w[1].is_keyword("SELECT") || w[1].is_keyword("WITH")))
        .unwrap_or(sig.len());
    sig[..body].windows(2).any(|w| w[0].is_keyword("REFRESH") && (w[1].is_keyword("EVERY") || w[1].is_keyword("AFTER")))
}

/// Two queries the same up to whitespace, comments, keyword case, quoting of
/// identifiers and database qualification of the given tables (the server stores
/// its own formatting; this tells whether the schema's view is the one deployed).
pub fn same_query(a: &str, b: &str) -> bool {
    fn norm(q: &str) -> Option<Vec<String>> {
        let toks = tokenize(q).ok()?;
        let sig: Vec<&Token> = toks.iter().filter(|t| !t.is_trivia() && !t.is_punct(";")).collect();
        Some(
            sig.iter()
                .map(|t| match t.kind {
                    TokenKind::Word => t.value.to_ascii_lowercase(),
                    TokenKind::QuotedIdent => t.value.clone(),
                    _ => t.value.clone(),
                })
                .collect(),
        )
    }
    fn strip_qualifiers(v: Vec<String>) -> Vec<String> {
        // `FROM db.t` vs `FROM t`: the server always qualifies.
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            let after_from = i > 0 && (v[i - 1] == "from" || v[i - 1] == "join");
            if after_from && v.get(i + 1).is_some_and(|d| d == ".") && v.get(i + 2).is_some() {
                i += 2;
            }
            out.push(v[i].clone());
            i += 1;
        }
        out
    }
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => strip_qualifiers(x) == strip_qualifiers(y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::parse_instant;

    fn window() -> Window {
        Window { from: parse_instant("2025-01-01", "").unwrap(), to: parse_instant("2025-01-01T06:00:00Z", "").unwrap() }
    }
    const W: &str = "`ts` >= toDateTime64('2025-01-01 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-01 06:00:00.000', 3, 'UTC')";

    fn rewrite(q: &str) -> CoreResult<String> {
        let v = analyze_view("app.mv", q, "app")?;
        Ok(replay_select(&v, None, "ts", window()))
    }

    /// The rewriter's table: input → the exact rewrite (`$W` = the window filter).
    #[test]
    fn rewrites() {
        let cases: &[(&str, &str)] = &[
            ("SELECT ts, u FROM src", "SELECT ts, u FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src`"),
            ("SELECT ts FROM app.src AS s WHERE s.u > 1;", "SELECT ts FROM (SELECT * FROM `app`.`src` WHERE $W) AS `s` WHERE s.u > 1"),
            ("select ts from app.src s group by ts", "select ts from (SELECT * FROM `app`.`src` WHERE $W) AS `s` group by ts"),
            ("SELECT ts FROM `app`.`src` WHERE 1 SETTINGS max_threads = 1", "SELECT ts FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src` WHERE 1 SETTINGS max_threads = 1"),
            (
                "SELECT 'FROM other' AS s, /* FROM other */ ts -- FROM other\nFROM \"app\".src",
                "SELECT 'FROM other' AS s, /* FROM other */ ts -- FROM other\nFROM (SELECT * FROM `app`.`src` WHERE $W) AS `src`",
            ),
            (
                "SELECT h, n FROM (SELECT toStartOfHour(ts) AS h, count() AS n FROM src GROUP BY h) WHERE n > 0",
                "SELECT h, n FROM (SELECT toStartOfHour(ts) AS h, count() AS n FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src` GROUP BY h) WHERE n > 0",
            ),
            (
                "SELECT e.ts, d.name FROM src AS e LEFT JOIN app.dim AS d ON d.id = e.u",
                "SELECT e.ts, d.name FROM (SELECT * FROM `app`.`src` WHERE $W) AS `e` LEFT JOIN app.dim AS d ON d.id = e.u",
            ),
            (
                "SELECT ts, tag FROM src ARRAY JOIN tags AS tag",
                "SELECT ts, tag FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src` ARRAY JOIN tags AS tag",
            ),
            (
                "SELECT ts, extract(DAY FROM ts) AS d, trim(BOTH ' ' FROM s) AS t FROM src",
                "SELECT ts, extract(DAY FROM ts) AS d, trim(BOTH ' ' FROM s) AS t FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src`",
            ),
            (
                "WITH 5 AS k SELECT ts, u * k AS x FROM src WHERE u IN (SELECT id FROM dim)",
                "WITH 5 AS k SELECT ts, u * k AS x FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src` WHERE u IN (SELECT id FROM dim)",
            ),
            ("SELECT src.ts FROM src", "SELECT src.ts FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src`"),
            (
                "SELECT ts FROM src WHERE u IN (SELECT id FROM dim ORDER BY id LIMIT 10)",
                "SELECT ts FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src` WHERE u IN (SELECT id FROM dim ORDER BY id LIMIT 10)",
            ),
            ("SELECT * EXCEPT (u) FROM src", "SELECT * EXCEPT (u) FROM (SELECT * FROM `app`.`src` WHERE $W) AS `src`"),
        ];
        for (input, want) in cases {
            let got = rewrite(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, want.replace("$W", W), "{input}");
        }
    }

    #[test]
    fn refusals_name_the_construct() {
        let cases: &[(&str, &str)] = &[
            ("SELECT ts FROM src UNION ALL SELECT ts FROM other", "UNION"),
            ("SELECT ts FROM src EXCEPT SELECT ts FROM other", "EXCEPT between queries"),
            ("SELECT a.ts FROM src AS a JOIN src AS b ON a.u = b.u", "read more than once"),
            ("SELECT ts FROM src WHERE u IN (SELECT u FROM app.src)", "read more than once"),
            ("SELECT ts FROM src WHERE u IN src", "read more than once"),
            ("SELECT number FROM numbers(10)", "table function numbers()"),
            ("SELECT ts FROM src JOIN remote('h', app.src) AS r ON 1", "table function remote()"),
            ("SELECT ts FROM src PREWHERE u > 1", "PREWHERE"),
            ("SELECT ts FROM src FINAL", "FINAL on the source"),
            ("SELECT ts FROM src SAMPLE 0.1", "SAMPLE on the source"),
            ("SELECT ts FROM src, dim", "comma-separated FROM"),
            ("SELECT app.src.ts FROM src", "qualified by database"),
            ("SELECT src.ts FROM src AS s", "while FROM names the table s"),
            ("WITH src AS (SELECT 1) SELECT * FROM src", "WITH subquery"),
            ("SELECT 1", "no FROM"),
            ("INSERT INTO x SELECT 1", "does not start with SELECT"),
            ("SELECT ts FROM src; SELECT 2", "more than one statement"),
            ("SELECT 'unterminated FROM src", "cannot read the query"),
            ("SELECT (ts FROM src", "unbalanced"),
            ("SELECT ts FROM src ORDER BY ts LIMIT 10", "LIMIT over the source rows"),
            ("SELECT ts FROM (SELECT ts FROM src LIMIT 1 BY u)", "LIMIT over the source rows"),
            ("SELECT ts, row_number() OVER (ORDER BY ts) AS n FROM src", "window function (OVER)"),
        ];
        for (input, want) in cases {
            let e = rewrite(input).expect_err(input);
            assert_eq!(e.code, "mv_query_unsupported", "{input}");
            assert!(e.message.contains(want), "{input}: {}", e.message);
            assert!(e.message.contains("app.mv"), "{}", e.message);
        }
    }

    #[test]
    fn output_names() {
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            ("SELECT toStartOfHour(ts) AS h, count() AS n FROM src", Ok(&["h", "n"])),
            ("SELECT e.ts, `my col`, sum(v) total, [1, 2] AS arr FROM src AS e", Ok(&["ts", "my col", "total", "arr"])),
            ("SELECT DISTINCT CASE WHEN u > 1 THEN 'a' ELSE 'b' END AS c FROM src", Ok(&["c"])),
            ("WITH 1 AS k SELECT ts + INTERVAL 1 DAY AS t FROM src", Ok(&["t"])),
            ("SELECT ts, count() FROM src", Err("'count ( )' has no alias")),
            ("SELECT ts + INTERVAL 1 DAY FROM src", Err("has no alias")),
            ("SELECT * FROM src", Err("star")),
            ("SELECT e.* FROM src AS e", Err("star")),
            ("SELECT ts, ts FROM src", Err("appears twice")),
        ];
        for (q, want) in cases {
            let got = analyze_view("app.mv", q, "app").unwrap().parsed_outputs;
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{q}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{q}: {g}"),
                (w, g) => panic!("{q}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn source_and_columns() {
        let v = analyze_view("app.mv", "SELECT ts FROM other.src", "app").unwrap();
        assert_eq!(v.source, TableRef { database: "other".into(), table: "src".into() });
        let sql = replay_select(&v, Some(&["ts".into(), "m".into()]), "ts", window());
        assert!(sql.starts_with("SELECT ts FROM (SELECT `ts`, `m` FROM `other`.`src` WHERE"), "{sql}");
    }

    #[test]
    fn refreshable_views() {
        assert!(is_refreshable("CREATE MATERIALIZED VIEW app.r REFRESH EVERY 1 HOUR TO app.t (`u` UInt64) AS SELECT u FROM app.s"));
        assert!(!is_refreshable("CREATE MATERIALIZED VIEW app.m TO app.t (`u` UInt64) AS SELECT u AS refresh FROM app.s"));
        assert!(!is_refreshable("CREATE MATERIALIZED VIEW app.`refresh` TO app.t AS SELECT 'REFRESH' AS u FROM app.s"));
        assert!(!is_refreshable("CREATE MATERIALIZED VIEW app.refresh TO app.t AS SELECT u FROM app.s"));
        assert!(is_refreshable("CREATE MATERIALIZED VIEW app.r REFRESH AFTER 1 MINUTE APPEND TO app.t AS WITH 1 AS k SELECT u FROM app.s"));
    }

    #[test]
    fn query_comparison() {
        assert!(same_query("select ts from src -- x\n where u>0", "SELECT ts FROM app.src WHERE u > 0"));
        assert!(same_query("SELECT `ts` FROM src", "SELECT ts FROM src;"));
        assert!(!same_query("SELECT ts FROM src WHERE u > 0", "SELECT ts FROM src WHERE u > 1"));
        assert!(!same_query("SELECT 'A' FROM src", "SELECT 'a' FROM src"));
    }
}
