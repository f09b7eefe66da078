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
//! Every read of the source on the view's trigger path is replaced: in a
//! `WITH name AS (SELECT …)` subquery the FROM reads, and in each branch of a
//! UNION ALL in a FROM subquery (each branch sees the inserted block there).
//! Column qualifiers naming the source (`db.src.col`, `src.col` under an alias)
//! become the alias, as a subquery answers only to that.
//!
//! Anything the rewriter cannot prove it filters correctly is refused with the
//! construct named: the source (or a WITH subquery reading it) read twice, a
//! top-level UNION ALL (a live view runs only its first SELECT), branches that
//! read another table or none, UNION DISTINCT, INTERSECT/EXCEPT, table
//! functions, PREWHERE, FINAL/SAMPLE on the source, comma joins.

use crate::error::{CoreError, CoreResult};
use crate::sql::{quote_ident, window_predicate, TableRef};
use crate::sql_tokens::{tokenize, Token, TokenKind};
use crate::window::Window;

/// A view query, analysed once; `replay_select` renders it for each chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewQuery {
    text: String,
    /// Spans of `text` to replace, in order: every read of the source, and
    /// every column qualifier that names the source table.
    edits: Vec<Edit>,
    /// The table whose inserts trigger the view.
    pub source: TableRef,
    /// Output column names read from the select list, or why they cannot be.
    pub parsed_outputs: Result<Vec<String>, String>,
    /// Where each read of the source (in the order they stand in the text) takes the window
    /// in a `WHERE` of its own SELECT, when every read can (see `inline_read`); else each is
    /// replaced by a subquery.
    inline: Option<Vec<InlineRead>>,
}

/// A read of the source that is filtered in place: `FROM src [AS a] WHERE <window> [AND (<its WHERE>)]`.
#[derive(Debug, Clone, PartialEq)]
struct InlineRead {
    /// Where the relation (`db.src [AS a]`) ends: a `WHERE <window>` goes here when it has none.
    after: usize,
    /// The span of its own `WHERE` condition, which the window's then precedes.
    condition: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Edit {
    span: (usize, usize),
    /// The name the query knows this read of the source by (its alias, or the table name).
    alias: String,
    kind: EditKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EditKind {
    /// `db.src [AS] a` → `(SELECT … FROM db.src WHERE <window>) AS a`.
    Source,
    /// `db.src` or `src` before `.column` → `a`: a subquery answers only to its alias.
    Qualifier,
}

/// Whether the view's query has a `GROUP BY` of its own (outside parentheses): its
/// output then has fewer rows than it reads. A query that does not tokenize does not.
pub fn groups_rows(q: &ViewQuery) -> bool {
    at_top_level(q, |words, i| words[i].is_keyword("GROUP") && words.get(i + 1).is_some_and(|n| n.is_keyword("BY")))
}

/// Whether the view's query is, as it stands, the SELECT of an INSERT of `columns`: its
/// select list names exactly those columns in that order, so that the INSERT, which
/// matches by position, puts each where the live view puts it (by name), and it has no
/// `SETTINGS` clause of its own, which the INSERT's settings would follow as a second one.
pub fn selects_exactly(q: &ViewQuery, columns: &[String]) -> bool {
    q.parsed_outputs.as_deref() == Ok(columns) && !at_top_level(q, |words, i| words[i].is_keyword("SETTINGS"))
}

/// Whether a word of the query outside parentheses satisfies `at` (given the words and its index).
fn at_top_level(q: &ViewQuery, at: impl Fn(&[&Token], usize) -> bool) -> bool {
    let Ok(tokens) = tokenize(&q.text) else { return false };
    let words: Vec<&Token> = tokens.iter().filter(|t| !t.is_trivia()).collect();
    let mut depth = 0i32;
    for i in 0..words.len() {
        if words[i].is_punct("(") {
            depth += 1;
        } else if words[i].is_punct(")") {
            depth -= 1;
        } else if depth == 0 && at(&words, i) {
            return true;
        }
    }
    false
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
    /// `qualified`: written `db.t`; an unqualified name may be a WITH subquery.
    Table { table: TableRef, qualified: bool, span: (usize, usize), alias: Option<String>, modifier: Option<String> },
    /// `(subquery)`: the id of the frame it opens.
    Subquery(usize),
}

#[derive(Debug, Clone)]
struct FromClause {
    /// The SELECT (one branch of a UNION ALL counts as one) the clause belongs to.
    scope: usize,
    relation: Relation,
}

/// `WITH name AS (SELECT …)`.
struct Cte {
    name: String,
    /// The SELECT whose WITH defines it: the name means this subquery there and in its subqueries.
    scope: usize,
    /// The frame its parenthesis opens.
    frame: usize,
}

/// The parts of the query found by one walk over its tokens.
struct Structure {
    froms: Vec<FromClause>,
    /// Tables named after `IN` (`x IN db.t`), whether they were qualified, and the scope.
    in_tables: Vec<(TableRef, bool, usize)>,
    ctes: Vec<Cte>,
    /// Frame id of every significant token (0 = the outermost query): every
    /// parenthesis opens one.
    frame_of: Vec<usize>,
    /// Scope of every significant token: the SELECT it is part of. A frame
    /// holds one scope per UNION ALL branch; function-call parentheses none.
    scope_of: Vec<usize>,
    /// Frame of each scope, by scope id.
    scope_frame: Vec<usize>,
    /// The scope each scope is nested in (None for the branches of the outermost query).
    scope_parent: Vec<Option<usize>>,
    /// Index of the `)` that closes each frame, by frame id (0 = none).
    close_of: Vec<usize>,
    /// Clauses whose result depends on how rows are split into blocks
    /// (`LIMIT`, window functions), with the scope they are in.
    block_dependent: Vec<(usize, &'static str)>,
}

impl Structure {
    /// The UNION ALL branches of a frame, in order.
    fn branches(&self, frame: usize) -> Vec<usize> {
        (0..self.scope_frame.len()).filter(|&s| self.scope_frame[s] == frame).collect()
    }

    /// What an unqualified table name in `scope` means: the WITH subquery of that
    /// name defined in the scope or one enclosing it (the innermost), else a table.
    /// A name that matches a WITH subquery only elsewhere is refused: in a later
    /// UNION ALL branch its meaning depends on `enable_global_with_statement`.
    fn cte_named(&self, view: &str, scope: usize, name: &str) -> CoreResult<Option<usize>> {
        let mut at = Some(scope);
        while let Some(s) = at {
            if let Some(c) = self.ctes.iter().rposition(|c| c.scope == s && c.name == name) {
                return Ok(Some(c));
            }
            at = self.scope_parent[s];
        }
        if self.ctes.iter().any(|c| c.name == name) {
            return Err(unsupported(view, format!("FROM {name}: {name} names a WITH subquery defined elsewhere in the query")));
        }
        Ok(None)
    }
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

    /// `ident` or `ident.ident` at k: the table, whether it was qualified, and the index after it.
    fn table_name(&self, k: usize) -> Option<(TableRef, bool, usize)> {
        let a = self.at(k).filter(|t| t.is_ident())?;
        if self.at(k + 1).is_some_and(|t| t.is_punct(".")) {
            let b = self.at(k + 2).filter(|t| t.is_ident())?;
            return Some((TableRef { database: a.value.clone(), table: b.value.clone() }, true, k + 3));
        }
        Some((TableRef { database: self.default_db.to_string(), table: a.value.clone() }, false, k + 1))
    }

    /// The relation after FROM/JOIN at k; `next_frame` is the id a `(` here would open.
    fn relation(&self, k: usize, next_frame: usize) -> CoreResult<Relation> {
        let Some(first) = self.at(k) else {
            return Err(unsupported(self.view, "FROM with nothing after it"));
        };
        if first.is_punct("(") {
            return Ok(Relation::Subquery(next_frame));
        }
        let (table, qualified, mut j) = self
            .table_name(k)
            .ok_or_else(|| unsupported(self.view, format!("unexpected '{}' after FROM/JOIN", first.value)))?;
        if self.at(j).is_some_and(|t| t.is_punct("(")) {
            return Err(unsupported(self.view, format!("table function {}()", self.sig[j - 1].value)));
        }
        let name_start = first.start;
        let mut end = self.sig[j - 1].end;
        let mut alias = None;
        if let Some((a, next)) = self.alias_at(j)? {
            alias = Some(a.value.clone());
            end = a.end;
            j = next;
        }
        let modifier = self.at(j).filter(|t| t.is_keyword("FINAL") || t.is_keyword("SAMPLE")).map(|t| t.value.to_uppercase());
        Ok(Relation::Table { table, qualified, span: (name_start, end), alias, modifier })
    }

    /// `AS a` or a bare alias at j: the alias token and the index after it.
    fn alias_at(&self, j: usize) -> CoreResult<Option<(&'a Token, usize)>> {
        if self.at(j).is_some_and(|t| t.is_keyword("AS")) {
            let a = self.at(j + 1).filter(|t| t.is_ident()).ok_or_else(|| unsupported(self.view, "AS without an alias"))?;
            return Ok(Some((a, j + 2)));
        }
        Ok(self.at(j).filter(|t| t.is_ident() && !is_word_in(t, NOT_ALIAS)).map(|a| (a, j + 1)))
    }

    fn walk(&self) -> CoreResult<Structure> {
        let mut s = Structure {
            froms: Vec::new(),
            in_tables: Vec::new(),
            ctes: Vec::new(),
            frame_of: Vec::new(),
            scope_of: Vec::new(),
            scope_frame: vec![0],
            scope_parent: vec![None],
            close_of: vec![0],
            block_dependent: Vec::new(),
        };
        // (frame id, is a SELECT, scope) of each open parenthesis; the root is the query itself.
        let mut stack: Vec<(usize, bool, usize)> = vec![(0, true, 0)];
        let mut next_id = 1;
        for (k, t) in self.sig.iter().enumerate() {
            let (frame, in_select, scope) = *stack.last().expect("root frame");
            s.frame_of.push(frame);
            s.scope_of.push(scope);
            if t.is_punct("(") {
                let select = self.starts_select(k + 1);
                let inner = if select {
                    s.scope_frame.push(next_id);
                    s.scope_parent.push(Some(scope));
                    s.scope_frame.len() - 1
                } else {
                    scope
                };
                stack.push((next_id, select, inner));
                s.close_of.push(0);
                next_id += 1;
            } else if t.is_punct(")") {
                if stack.len() == 1 {
                    return Err(unsupported(self.view, "unbalanced ')'"));
                }
                s.close_of[frame] = k;
                stack.pop();
            } else if t.is_punct(";") {
                if k + 1 != self.sig.len() {
                    return Err(unsupported(self.view, "more than one statement"));
                }
            } else if t.is_keyword("UNION") {
                let next = self.at(k + 1);
                if next.is_some_and(|n| n.is_keyword("DISTINCT")) {
                    return Err(unsupported(self.view, "UNION DISTINCT (only UNION ALL can be replayed)"));
                }
                if !next.is_some_and(|n| n.is_keyword("ALL")) {
                    return Err(unsupported(self.view, "UNION without ALL (its meaning depends on union_default_mode)"));
                }
                if !in_select || !self.starts_select(k + 2) {
                    return Err(unsupported(self.view, "UNION ALL between parenthesised queries (write each branch as a plain SELECT)"));
                }
                // The next branch is a scope of its own in the same frame.
                s.scope_frame.push(frame);
                s.scope_parent.push(s.scope_parent[scope]);
                stack.last_mut().expect("root frame").2 = s.scope_frame.len() - 1;
            } else if t.is_keyword("INTERSECT") {
                return Err(unsupported(self.view, "INTERSECT"));
            } else if t.is_keyword("EXCEPT")
                && (self.starts_select(k + 1)
                    || self.at(k + 1).is_some_and(|n| n.is_keyword("DISTINCT") || n.is_keyword("ALL"))
                    || (self.at(k + 1).is_some_and(|n| n.is_punct("(")) && self.starts_select(k + 2)))
            {
                return Err(unsupported(self.view, "EXCEPT between queries"));
            } else if t.is_keyword("LIMIT") && in_select {
                s.block_dependent.push((scope, "LIMIT"));
            } else if t.is_keyword("OVER") && self.at(k + 1).is_some_and(|n| n.is_punct("(") || n.is_ident()) {
                s.block_dependent.push((scope, "a window function (OVER)"));
            } else if t.is_keyword("PREWHERE") {
                return Err(unsupported(self.view, "PREWHERE (write the condition in WHERE)"));
            } else if in_select && (t.is_keyword("FROM") || (t.is_keyword("JOIN") && !self.after_array(k))) {
                let relation = self.relation(k + 1, next_id)?;
                if t.is_keyword("FROM") {
                    self.no_comma_join(k + 1, &relation)?;
                }
                s.froms.push(FromClause { scope, relation });
            } else if t.is_keyword("IN") && !self.at(k + 1).is_some_and(|n| n.is_punct("(")) {
                if let Some((table, qualified, j)) = self.table_name(k + 1) {
                    if !self.at(j).is_some_and(|n| n.is_punct("(")) {
                        s.in_tables.push((table, qualified, scope));
                    }
                }
            } else if t.is_keyword("AS")
                && self.at(k + 1).is_some_and(|n| n.is_punct("("))
                && self.starts_select(k + 2)
                && k > 0
                && self.sig[k - 1].is_ident()
            {
                s.ctes.push(Cte { name: self.sig[k - 1].value.clone(), scope, frame: next_id });
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

    /// The alias after a FROM/JOIN subquery (after the `)` closing `frame`).
    fn subquery_alias(&self, st: &Structure, frame: usize) -> Option<String> {
        let close = st.close_of.get(frame).copied().filter(|&c| c > 0)?;
        self.alias_at(close + 1).ok().flatten().map(|(a, _)| a.value.clone())
    }
}

/// How the source is read: the FROM clauses that read it, and the FROM
/// clauses (subqueries, WITH names) on the way to them.
#[derive(Default)]
struct Triggers {
    reads: Vec<usize>,
    path: Vec<usize>,
    /// The WITH subqueries on the way, by index.
    ctes: Vec<usize>,
}

/// The table a live view is triggered by is the first table of the outermost
/// FROM, looking inside a FROM subquery or a WITH subquery when the FROM is
/// one; a UNION ALL in such a subquery feeds the inserted block to each of
/// its branches (measured on the engine), so each branch is followed. Also
/// refuses clauses on that path whose result depends on the insert's block
/// size: a live view applies them per inserted block, a replay per chunk.
fn find_triggers(view: &str, st: &Structure) -> CoreResult<Triggers> {
    if st.branches(0).len() > 1 {
        // Measured on the engine (ClickHouse 26): a top-level UNION ALL feeds only its first SELECT.
        return Err(unsupported(
            view,
            "UNION ALL at the top of the query (a live view runs only its first SELECT on each insert, so a replay of every branch would write rows the view never wrote)",
        ));
    }
    let mut out = Triggers::default();
    follow(view, st, 0, "", &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// `within`: what the scope is part of, for messages; `open`: WITH names being followed.
fn follow(view: &str, st: &Structure, scope: usize, within: &str, open: &mut Vec<usize>, out: &mut Triggers) -> CoreResult<()> {
    if let Some((_, what)) = st.block_dependent.iter().find(|(s, _)| *s == scope) {
        return Err(unsupported(view, format!("{what} over the source rows (a live view applies it to each inserted block)")));
    }
    let Some(i) = st.froms.iter().position(|f| f.scope == scope) else {
        return Err(unsupported(
            view,
            match within {
                "" => "no FROM table found".to_string(),
                w if st.branches(st.scope_frame[scope]).len() > 1 => {
                    format!("a UNION ALL branch without FROM{w} (a live view adds its rows on every insert)")
                }
                w => format!("no FROM table found{w}"),
            },
        ));
    };
    let frames = |frame: usize| st.branches(frame);
    let cte = match &st.froms[i].relation {
        Relation::Table { table, qualified: false, .. } => st.cte_named(view, scope, &table.table)?,
        _ => None,
    };
    match &st.froms[i].relation {
        Relation::Table { .. } if cte.is_some() => {
            let c = cte.expect("matched");
            let cte = &st.ctes[c];
            let name = &cte.name;
            if open.contains(&c) {
                return Err(unsupported(view, format!("the WITH subquery {name} refers to itself")));
            }
            out.path.push(i);
            out.ctes.push(c);
            open.push(c);
            for b in frames(cte.frame) {
                follow(view, st, b, &format!(" in the WITH subquery {name}"), open, out)?;
            }
            open.pop();
        }
        Relation::Table { .. } => {
            if !out.reads.contains(&i) {
                out.reads.push(i);
            }
        }
        Relation::Subquery(frame) => {
            out.path.push(i);
            let branches = frames(*frame);
            if branches.is_empty() {
                return Err(unsupported(view, "no FROM table found in the FROM subquery"));
            }
            for b in branches {
                follow(view, st, b, " in a FROM subquery", open, out)?;
            }
        }
    }
    Ok(())
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
    let trig = find_triggers(view, &st)?;
    let read = |i: usize| match &st.froms[i].relation {
        Relation::Table { table, span, alias, modifier, .. } => (table, *span, alias, modifier),
        Relation::Subquery(_) => unreachable!("reads are tables"),
    };
    let source = read(trig.reads[0]).0.clone();
    for &i in &trig.reads {
        let (table, _, _, modifier) = read(i);
        if *table != source {
            return Err(unsupported(
                view,
                format!(
                    "a UNION ALL branch reads {} where the first reads {} (a live view reads every table but its source in full on each insert)",
                    table.display(),
                    source.display()
                ),
            ));
        }
        if let Some(m) = modifier {
            return Err(unsupported(view, format!("{m} on the source table {}", source.display())));
        }
    }
    if st.ctes.iter().any(|c| source.database == default_db && c.name == source.table) {
        return Err(unsupported(view, format!("a WITH subquery named like the source table {}", source.table)));
    }
    // Every other FROM/JOIN/IN naming the source, or a WITH subquery that reads it, reads the source again.
    for (i, f) in st.froms.iter().enumerate() {
        let Relation::Table { table, qualified, .. } = &f.relation else { continue };
        if trig.reads.contains(&i) || trig.path.contains(&i) {
            continue;
        }
        let cte = if *qualified { None } else { st.cte_named(view, f.scope, &table.table)? };
        if cte.is_some_and(|c| trig.ctes.contains(&c)) {
            return Err(cte_read_twice(view, &table.table, &source));
        }
        if cte.is_none() && *table == source {
            return Err(read_twice(view, &source));
        }
    }
    for (table, qualified, scope) in &st.in_tables {
        let cte = if *qualified { None } else { st.cte_named(view, *scope, &table.table)? };
        if cte.is_some_and(|c| trig.ctes.contains(&c)) {
            return Err(cte_read_twice(view, &table.table, &source));
        }
        if cte.is_none() && *table == source {
            return Err(read_twice(view, &source));
        }
    }
    let mut edits: Vec<Edit> = trig
        .reads
        .iter()
        .map(|&i| {
            let (table, span, alias, _) = read(i);
            Edit { span, alias: alias.clone().unwrap_or_else(|| table.table.clone()), kind: EditKind::Source }
        })
        .collect();
    edits.extend(qualifier_edits(view, &w, &st, &trig, &source, &edits)?);
    let parsed_outputs = select_list_names(&sig, &st);
    let mut reads: Vec<usize> = trig.reads.clone();
    reads.sort_by_key(|&i| read(i).1 .0);
    let mut inline: Option<Vec<InlineRead>> = reads.iter().map(|&i| inline_read(&sig, &st, i)).collect();
    let end = sig.iter().rev().find(|t| !t.is_punct(";")).map_or(0, |t| t.end);
    let start = sig.first().map_or(0, |t| t.start);
    let text = query[start..end].to_string();
    for e in &mut edits {
        e.span = (e.span.0 - start, e.span.1 - start);
    }
    for r in inline.iter_mut().flatten() {
        r.after -= start;
        r.condition = r.condition.map(|(a, b)| (a - start, b - start));
    }
    edits.sort_by_key(|e| e.span.0);
    Ok(ViewQuery { text, edits, source, parsed_outputs, inline })
}

/// Words that end a `WHERE` condition (or stand where one would begin) in the SELECT they are part of.
const ENDS_CONDITION: &[&str] = &["GROUP", "HAVING", "ORDER", "LIMIT", "SETTINGS", "WINDOW", "QUALIFY", "UNION", "FORMAT"];

/// Whether the read `from` (a FROM of the source) can be filtered in its own SELECT, as the
/// live view's query reads the inserted block there, without a subquery (a query level the
/// engine plans and runs on every chunk): only where that SELECT reads nothing else (no JOIN,
/// no ARRAY JOIN, whose conditions could then name other columns the window's would be
/// confused with), selects no `*` (a subquery's `*` and a table's differ in the MATERIALIZED
/// and ALIAS columns they expand to), and the relation is followed by its `WHERE` or by a
/// clause that stands after one.
fn inline_read(sig: &[Token], st: &Structure, from: usize) -> Option<InlineRead> {
    let scope = st.froms[from].scope;
    let frame = st.scope_frame[scope];
    let Relation::Table { span, .. } = &st.froms[from].relation else { return None };
    if st.froms.iter().filter(|f| f.scope == scope).count() != 1 {
        return None;
    }
    // The tokens of that SELECT itself, not of the calls or subqueries in it.
    let own = |k: usize| st.scope_of[k] == scope && st.frame_of[k] == frame;
    let closes = |k: usize| frame != 0 && st.close_of[frame] == k;
    for k in (0..sig.len()).filter(|&k| own(k)) {
        let t = &sig[k];
        let prev = k.checked_sub(1).map(|p| &sig[p]);
        let star = t.is_punct("*") && prev.is_some_and(|p| p.is_keyword("SELECT") || p.is_keyword("DISTINCT") || p.is_punct(",") || p.is_punct("."));
        let columns = t.is_keyword("COLUMNS") && sig.get(k + 1).is_some_and(|n| n.is_punct("("));
        if star || columns || t.is_keyword("JOIN") {
            return None;
        }
    }
    let next = sig.iter().position(|t| t.start >= span.1);
    let Some(w) = next.filter(|&k| own(k) && sig[k].is_keyword("WHERE")) else {
        // No WHERE: what follows must be a clause that would stand after one, or the SELECT's end.
        let ends = next.is_none_or(|k| closes(k) || sig[k].is_punct(";") || (own(k) && is_word_in(&sig[k], ENDS_CONDITION)));
        return ends.then_some(InlineRead { after: span.1, condition: None });
    };
    let stop = (w + 1..sig.len())
        .find(|&k| st.frame_of[k] == frame && (closes(k) || sig[k].is_punct(";") || (own(k) && is_word_in(&sig[k], ENDS_CONDITION))))
        .unwrap_or(sig.len());
    (stop > w + 1).then(|| InlineRead { after: span.1, condition: Some((sig[w + 1].start, sig[stop - 1].end)) })
}

/// Whether `name` may be an alias anywhere in the query (`… AS name`, `expr name`, a WITH
/// name): an unqualified window condition on the column of that name could then mean the
/// alias, on servers that prefer aliases to columns. Errs on the side of yes.
fn may_alias(text: &str, name: &str) -> bool {
    const BEFORE_COLUMN: &[&str] = &[
        "SELECT", "DISTINCT", "WHERE", "AND", "OR", "NOT", "BY", "WHEN", "THEN", "ELSE", "CASE", "ON", "IN", "IS", "LIKE", "ILIKE",
        "BETWEEN", "HAVING", "ALL", "ANY", "USING", "QUALIFY", "LIMIT", "OFFSET", "JOIN",
    ];
    let Ok(tokens) = tokenize(text) else { return true };
    let sig: Vec<&Token> = tokens.iter().filter(|t| !t.is_trivia()).collect();
    sig.iter().enumerate().any(|(k, t)| {
        let named = t.is_ident() && t.value.eq_ignore_ascii_case(name);
        let Some(prev) = k.checked_sub(1).map(|p| sig[p]) else { return false };
        let column_position = match prev.kind {
            TokenKind::Word => !prev.is_keyword("AS") && is_word_in(prev, BEFORE_COLUMN),
            TokenKind::Punct => !prev.is_punct(")") && !prev.is_punct("]"),
            _ => false,
        };
        named && !column_position
    })
}

fn read_twice(view: &str, source: &TableRef) -> CoreError {
    unsupported(view, format!("the source table {} is read more than once (self-join, subquery or IN)", source.display()))
}

fn cte_read_twice(view: &str, cte: &str, source: &TableRef) -> CoreError {
    unsupported(view, format!("the WITH subquery {cte}, which reads the source {}, is read more than once", source.display()))
}

/// Column references qualified by the source (`db.src.col`, or `src.col`
/// where the view aliased the table): the live view resolves them against
/// the table, a replay only through the alias of the subquery that replaces
/// it, so the qualifier becomes that alias. Only inside the SELECT that reads
/// the source, and only where no other relation of that SELECT answers to the name.
fn qualifier_edits(view: &str, w: &Walker, st: &Structure, trig: &Triggers, source: &TableRef, reads: &[Edit]) -> CoreResult<Vec<Edit>> {
    let sig = w.sig;
    let inside_read = |t: &Token| reads.iter().any(|e| t.start >= e.span.0 && t.end <= e.span.1);
    let dotted = |i: usize| sig.get(i + 1).is_some_and(|t| t.is_punct("."));
    let mut out = Vec::new();
    for k in 0..sig.len() {
        if inside_read(&sig[k]) || !sig[k].is_ident() || !dotted(k) || (k > 0 && sig[k - 1].is_punct(".")) {
            continue;
        }
        let db_qualified = sig[k].value == source.database
            && sig.get(k + 2).is_some_and(|t| t.is_ident() && t.value == source.table)
            && dotted(k + 2);
        let table_qualified = sig[k].value == source.table;
        if !db_qualified && !table_qualified {
            continue;
        }
        let shown = if db_qualified { format!("{}.{}", source.database, source.table) } else { source.table.clone() };
        let scope = st.scope_of[k];
        let here = trig.reads.iter().zip(reads).find(|(&i, _)| st.froms[i].scope == scope);
        let Some((&read_at, read)) = here else {
            if db_qualified || reads.iter().any(|r| r.alias != source.table) {
                return Err(unsupported(view, format!("column reference {shown}.… outside the SELECT that reads {}", source.display())));
            }
            continue;
        };
        if !db_qualified && read.alias == source.table {
            continue; // `src.col` over `FROM src`: the subquery keeps the name.
        }
        let other_names = st.froms.iter().enumerate().filter(|(i, f)| *i != read_at && f.scope == scope).flat_map(|(_, f)| match &f.relation {
            Relation::Table { table, alias, .. } => vec![Some(table.table.clone()), alias.clone()],
            Relation::Subquery(frame) => vec![w.subquery_alias(st, *frame)],
        });
        let first = sig[k].value.as_str();
        if other_names.flatten().any(|n| n == first) || st.ctes.iter().any(|c| c.name == first) {
            return Err(unsupported(view, format!("column reference {first}.… is ambiguous (another table of that SELECT is called {first})")));
        }
        let last = if db_qualified { &sig[k + 2] } else { &sig[k] };
        out.push(Edit { span: (sig[k].start, last.end), alias: read.alias.clone(), kind: EditKind::Qualifier });
    }
    Ok(out)
}

/// The view's query over one window of its source. `source_columns` lists
/// every readable column of the source (MATERIALIZED and ALIAS ones too, as
/// the live view can read them); unknown → `*`.
pub fn replay_select(v: &ViewQuery, source_columns: Option<&[String]>, time_column: &str, w: Window) -> String {
    replay_select_parts(v, source_columns, Some(time_column)).join(&window_predicate(time_column, w))
}

/// `replay_select` without its window predicates: the texts around them (one more than the
/// reads of the source), the same for every chunk. With `in_place` (the time column), each
/// read of the source is filtered in its own SELECT's `WHERE` where every read can be and no
/// alias can be taken for the column; else (and without it, as earlier versions wrote) each is
/// replaced by `(SELECT … FROM src WHERE <window>) AS <alias>`.
pub fn replay_select_parts(v: &ViewQuery, source_columns: Option<&[String]>, in_place: Option<&str>) -> Vec<String> {
    if let Some(reads) = v.inline.as_ref().filter(|_| in_place.is_some_and(|c| !may_alias(&v.text, c))) {
        let mut parts = Vec::with_capacity(reads.len() + 1);
        let mut out = String::with_capacity(v.text.len());
        let mut at = 0;
        for r in reads {
            match r.condition {
                None => {
                    out.push_str(&v.text[at..r.after]);
                    out.push_str(" WHERE ");
                    parts.push(std::mem::take(&mut out));
                    at = r.after;
                }
                Some((from, to)) => {
                    out.push_str(&v.text[at..from]);
                    parts.push(std::mem::take(&mut out));
                    out.push_str(&format!(" AND ({})", &v.text[from..to]));
                    at = to;
                }
            }
        }
        out.push_str(&v.text[at..]);
        parts.push(out);
        return parts;
    }
    let cols = match source_columns {
        Some(c) if !c.is_empty() => c.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
        _ => "*".to_string(),
    };
    // One part before each read of the source (each filtered by the window) and one after the last.
    let mut parts = Vec::with_capacity(v.edits.len() + 1);
    let mut out = String::with_capacity(v.text.len());
    let mut at = 0;
    for e in &v.edits {
        out.push_str(&v.text[at..e.span.0]);
        match e.kind {
            EditKind::Source => {
                out.push_str(&format!("(SELECT {cols} FROM {} WHERE ", v.source.quoted()));
                parts.push(std::mem::take(&mut out));
                out.push_str(&format!(") AS {}", quote_ident(&e.alias)));
            }
            EditKind::Qualifier => out.push_str(&quote_ident(&e.alias)),
        }
        at = e.span.1;
    }
    out.push_str(&v.text[at..]);
    parts.push(out);
    parts
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

    /// The rewrite that reads the source through a subquery (every view can take it).
    fn rewrite(q: &str) -> CoreResult<String> {
        let v = analyze_view("app.mv", q, "app")?;
        Ok(replay_select_parts(&v, None, None).join(&window_predicate("ts", window())))
    }

    /// The window in each read's own WHERE where that is sound; the subquery elsewhere.
    #[test]
    fn filters_in_place() {
        let sub = "(SELECT * FROM `app`.`src` WHERE $W) AS `src`";
        let cases: &[(&str, String)] = &[
            ("SELECT ts, u FROM src", "SELECT ts, u FROM src WHERE $W".into()),
            ("SELECT ts FROM app.src AS s WHERE s.u > 1 OR u = 0;", "SELECT ts FROM app.src AS s WHERE $W AND (s.u > 1 OR u = 0)".into()),
            (
                "SELECT toStartOfHour(ts) AS h, count() FROM src WHERE u IN (SELECT id FROM dim WHERE x GROUP BY id) GROUP BY h SETTINGS max_threads = 1",
                "SELECT toStartOfHour(ts) AS h, count() FROM src WHERE $W AND (u IN (SELECT id FROM dim WHERE x GROUP BY id)) GROUP BY h SETTINGS max_threads = 1".into(),
            ),
            ("SELECT h FROM (SELECT toDate(ts) AS h FROM src) GROUP BY h", "SELECT h FROM (SELECT toDate(ts) AS h FROM src WHERE $W) GROUP BY h".into()),
            (
                "WITH ok AS (SELECT u FROM src WHERE u > 1 UNION ALL SELECT u + 1 FROM src) SELECT u FROM ok",
                "WITH ok AS (SELECT u FROM src WHERE $W AND (u > 1) UNION ALL SELECT u + 1 FROM src WHERE $W) SELECT u FROM ok".into(),
            ),
            ("SELECT count(*) AS n, ts FROM src GROUP BY ts", "SELECT count(*) AS n, ts FROM src WHERE $W GROUP BY ts".into()),
            // An alias that could be the time column, a JOIN, an ARRAY JOIN, a star: the subquery.
            ("SELECT toStartOfHour(ts) AS ts FROM src", format!("SELECT toStartOfHour(ts) AS ts FROM {sub}")),
            ("SELECT toStartOfHour(ts) `ts` FROM src", format!("SELECT toStartOfHour(ts) `ts` FROM {sub}")),
            ("SELECT ts, d.n FROM src JOIN dim AS d ON d.id = src.u", format!("SELECT ts, d.n FROM {sub} JOIN dim AS d ON d.id = src.u")),
            ("SELECT ts, t FROM src ARRAY JOIN tags AS t", format!("SELECT ts, t FROM {sub} ARRAY JOIN tags AS t")),
            ("SELECT * FROM src", format!("SELECT * FROM {sub}")),
            ("SELECT ts, src.* FROM src", format!("SELECT ts, src.* FROM {sub}")),
            // One read that cannot be filtered in place keeps every read on the subquery.
            (
                "SELECT u FROM (SELECT u FROM src UNION ALL SELECT t AS u FROM src ARRAY JOIN tags AS t)",
                format!("SELECT u FROM (SELECT u FROM {sub} UNION ALL SELECT t AS u FROM {sub} ARRAY JOIN tags AS t)"),
            ),
        ];
        for (input, want) in cases {
            let v = analyze_view("app.mv", input, "app").unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(replay_select(&v, None, "ts", window()), want.replace("$W", W), "{input}");
        }
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
            ("SELECT ts FROM src UNION ALL SELECT ts FROM other", "UNION ALL at the top of the query"),
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

    /// WITH subqueries, qualified columns and UNION ALL in a FROM subquery:
    /// every read of the source is filtered, qualifiers follow the alias.
    #[test]
    fn rewrites_ctes_qualifiers_and_union_branches() {
        let s = "(SELECT * FROM `app`.`src` WHERE $W)";
        let cases: &[(&str, String)] = &[
            (
                "WITH ok AS (SELECT ts, u FROM app.src WHERE u > 1) SELECT ts, count() AS n FROM ok GROUP BY ts",
                format!("WITH ok AS (SELECT ts, u FROM {s} AS `src` WHERE u > 1) SELECT ts, count() AS n FROM ok GROUP BY ts"),
            ),
            (
                "WITH k AS (SELECT 1), a AS (SELECT ts FROM src AS e), b AS (SELECT ts FROM a) SELECT ts FROM b AS x",
                format!("WITH k AS (SELECT 1), a AS (SELECT ts FROM {s} AS `e`), b AS (SELECT ts FROM a) SELECT ts FROM b AS x"),
            ),
            (
                "SELECT app.src.ts AS ts, `app`.`src`.`u` FROM app.src",
                format!("SELECT `src`.ts AS ts, `src`.`u` FROM {s} AS `src`"),
            ),
            (
                "SELECT src.ts, sum(app.src.u) AS n FROM src AS e JOIN app.dim AS d ON d.id = src.u GROUP BY src.ts",
                format!("SELECT `e`.ts, sum(`e`.u) AS n FROM {s} AS `e` JOIN app.dim AS d ON d.id = `e`.u GROUP BY `e`.ts"),
            ),
            (
                "SELECT u, b FROM (SELECT u, 'a' AS b FROM src AS x WHERE x.u > 1 UNION ALL SELECT src.u AS u, 'b' AS b FROM app.src AS y) AS s",
                format!("SELECT u, b FROM (SELECT u, 'a' AS b FROM {s} AS `x` WHERE x.u > 1 UNION ALL SELECT `y`.u AS u, 'b' AS b FROM {s} AS `y`) AS s"),
            ),
            (
                "WITH ok AS (SELECT u FROM src) SELECT * EXCEPT (z) FROM (SELECT u, 1 AS z FROM ok UNION ALL SELECT u, 2 AS z FROM ok)",
                format!("WITH ok AS (SELECT u FROM {s} AS `src`) SELECT * EXCEPT (z) FROM (SELECT u, 1 AS z FROM ok UNION ALL SELECT u, 2 AS z FROM ok)"),
            ),
            (
                "WITH ok AS (SELECT u FROM src UNION ALL SELECT u + 1 FROM src) SELECT u FROM ok",
                format!("WITH ok AS (SELECT u FROM {s} AS `src` UNION ALL SELECT u + 1 FROM {s} AS `src`) SELECT u FROM ok"),
            ),
            (
                "SELECT ts FROM src WHERE u IN (SELECT id FROM d1 UNION ALL SELECT id FROM d2)",
                format!("SELECT ts FROM {s} AS `src` WHERE u IN (SELECT id FROM d1 UNION ALL SELECT id FROM d2)"),
            ),
        ];
        for (input, want) in cases {
            let got = rewrite(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, want.replace("$W", W), "{input}");
        }
    }

    #[test]
    fn refusals_of_ctes_qualifiers_and_unions() {
        let cases: &[(&str, &str)] = &[
            // Measured: a live view runs only the first SELECT of a top-level UNION ALL.
            ("SELECT u FROM src UNION ALL SELECT u FROM src", "UNION ALL at the top of the query"),
            ("WITH ok AS (SELECT u FROM src) SELECT u FROM ok UNION ALL SELECT u FROM ok", "UNION ALL at the top of the query"),
            ("SELECT u FROM (SELECT u FROM src UNION DISTINCT SELECT u FROM src)", "UNION DISTINCT"),
            ("SELECT u FROM (SELECT u FROM src UNION SELECT u FROM src)", "UNION without ALL"),
            ("SELECT u FROM (SELECT u FROM src INTERSECT SELECT u FROM src)", "INTERSECT"),
            ("SELECT u FROM (SELECT u FROM src UNION ALL SELECT u FROM other)", "branch reads app.other"),
            ("SELECT u FROM (SELECT u FROM src UNION ALL SELECT 7 AS u)", "UNION ALL branch without FROM"),
            ("SELECT u FROM (SELECT u FROM src UNION ALL SELECT a.u FROM src AS a JOIN src AS b ON a.u = b.u)", "read more than once"),
            ("SELECT u FROM (SELECT u FROM src UNION ALL SELECT u FROM src LIMIT 3)", "LIMIT over the source rows"),
            ("SELECT u FROM ((SELECT u FROM src) UNION ALL (SELECT u FROM src))", "UNION ALL between parenthesised queries"),
            ("WITH ok AS (SELECT u FROM src) SELECT a.u FROM ok AS a JOIN ok AS b ON a.u = b.u", "WITH subquery ok, which reads the source app.src, is read more than once"),
            ("WITH ok AS (SELECT u FROM src) SELECT u FROM ok WHERE u IN ok", "WITH subquery ok, which reads the source app.src, is read more than once"),
            ("WITH ok AS (SELECT u FROM src) SELECT u FROM ok WHERE u IN (SELECT u FROM ok)", "is read more than once"),
            ("WITH ok AS (SELECT u FROM src) SELECT u FROM src", "read more than once"),
            ("WITH src AS (SELECT u FROM app.src) SELECT u FROM src", "WITH subquery named like the source table"),
            ("WITH a AS (SELECT u FROM a) SELECT u FROM a", "refers to itself"),
            // Outside the SELECT that defines it a name means a table, or (for later UNION ALL
            // branches) the WITH subquery depending on enable_global_with_statement.
            ("SELECT u FROM ok WHERE u IN (WITH ok AS (SELECT u FROM src) SELECT u FROM ok)", "ok names a WITH subquery defined elsewhere"),
            ("SELECT u FROM (WITH ok AS (SELECT u FROM src) SELECT u FROM ok UNION ALL SELECT u FROM ok)", "ok names a WITH subquery defined elsewhere"),
            ("WITH ok AS (SELECT u FROM src FINAL) SELECT u FROM ok", "FINAL on the source"),
            ("WITH ok AS (SELECT u FROM src) SELECT u, row_number() OVER () AS n FROM ok", "window function (OVER)"),
            ("SELECT round(sum(u) OVER (ORDER BY ts)) AS r FROM src", "window function (OVER)"),
            ("SELECT h FROM (SELECT app.src.u AS h FROM src) WHERE app.src.u > 1", "outside the SELECT that reads app.src"),
            ("SELECT src.u FROM src AS e JOIN other.src AS o ON o.u = e.u", "src.… is ambiguous"),
            ("SELECT src.u FROM src AS e JOIN (SELECT 1 AS u) AS src ON src.u = e.u", "src.… is ambiguous"),
            ("SELECT src.u FROM src AS e JOIN (SELECT 1 AS u) src ON src.u = e.u", "src.… is ambiguous"),
        ];
        for (input, want) in cases {
            let e = rewrite(input).expect_err(input);
            assert_eq!(e.code, "mv_query_unsupported", "{input}");
            assert!(e.message.contains(want), "{input}: {}", e.message);
        }
    }

    #[test]
    fn source_of_a_cte_and_of_union_branches() {
        let v = analyze_view("app.mv", "WITH ok AS (SELECT u FROM other.src) SELECT u FROM ok", "app").unwrap();
        assert_eq!(v.source, TableRef { database: "other".into(), table: "src".into() });
        let v = analyze_view("app.mv", "SELECT u AS v FROM (SELECT u FROM src UNION ALL SELECT u FROM app.src)", "app").unwrap();
        assert_eq!(v.source.display(), "app.src");
        assert_eq!(v.parsed_outputs, Ok(vec!["v".to_string()]));
        // A WITH subquery in an IN subquery is not in scope of the outer FROM, which names the table.
        let v = analyze_view("app.mv", "SELECT u FROM ok WHERE u IN (WITH d AS (SELECT u FROM src) SELECT u FROM d)", "app").unwrap();
        assert_eq!(v.source.display(), "app.ok");
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
        let sql = replay_select_parts(&v, Some(&["ts".into(), "m".into()]), None).join(W);
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
