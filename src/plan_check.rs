//! A plan file is immutable in fact: before a run executes anything, every
//! chunk line is checked against what the plan's header gives. The core cuts
//! the window again and derives each chunk's id and tokens; the SQL of each
//! statement must be the header comment, window predicate and settings it
//! derives, around a text that is the same in every chunk, whose digest the
//! header carries (`sqlDigests`, one per statement). For `table` and `copy`
//! that text is derived from the header as well, so plans written before the
//! digests existed are checked all the same; an `mv_replay` plan without them
//! is refused (the view's query is not in the header), to be made again.

use crate::chunks::chunk_ms;
use crate::error::{CoreError, CoreResult};
use crate::ids;
use crate::plan::{plan_id_of, PlanChunk, PlanState, Strategy};
use crate::sql::{self, CopyWindowSql};
use crate::window::{format_instant, parse_instant, BoundType, Window};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;

/// What every chunk's statement holds around its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlDigest {
    /// How often the window predicate stands in the statement (once per read of the source).
    pub windows: usize,
    /// sha256 (hex) of the texts around the predicates, NUL-separated.
    pub sha256: String,
}

/// `parts`: the texts around the window predicates, in order (one more than the predicates).
pub fn sql_digest<S: AsRef<str>>(parts: &[S]) -> SqlDigest {
    let mut h = Sha256::new();
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            h.update([0u8]);
        }
        h.update(p.as_ref().as_bytes());
    }
    SqlDigest { windows: parts.len().saturating_sub(1), sha256: ids::hex(&h.finalize()) }
}

/// A statement's text around its window: the statement of a chunk is
/// `header comment + before + window predicate + after + insert settings`.
pub struct StatementText {
    /// The texts around the window predicates (one more than the predicates).
    pub parts: Vec<String>,
}

impl StatementText {
    pub fn render(&self, comment: &str, predicate: &str, settings: &str) -> String {
        let body: usize = self.parts.iter().map(String::len).sum();
        let mut s = String::with_capacity(comment.len() + body + predicate.len() * self.parts.len() + settings.len());
        s.push_str(comment);
        for (k, part) in self.parts.iter().enumerate() {
            if k > 0 {
                s.push_str(predicate);
            }
            s.push_str(part);
        }
        s.push_str(settings);
        s
    }
}

impl Slot {
    /// Whether `sql` is `comment + parts joined by predicate + settings` with the slot's
    /// digest of the parts. Parts equal to ones found to have it are not hashed again (they
    /// are the same text in every chunk, kilobytes of a view's query for `mv_replay`).
    /// (A part that held the predicate's text itself would split wrongly: refused, never passed.)
    fn statement_matches(&self, sql: &str, comment: &str, predicate: &str, settings: &str) -> bool {
        let Some(middle) = sql.strip_prefix(comment).and_then(|s| s.strip_suffix(settings)) else { return false };
        let parts: Vec<&str> = middle.split(predicate).collect();
        if parts.len() != self.digest.windows + 1 {
            return false;
        }
        let mut known = self.known.borrow_mut();
        if known.as_ref().is_some_and(|k| k.iter().eq(parts.iter())) {
            return true;
        }
        let ok = sql_digest(&parts).sha256 == self.digest.sha256;
        if ok {
            *known = Some(parts.iter().map(|p| p.to_string()).collect());
        }
        ok
    }
}

fn mismatch(plan_id: &str, what: String) -> CoreError {
    CoreError::runtime(
        "plan_mismatch",
        format!("plan {plan_id}: {what}; the plan file was edited or made by an incompatible version, and nothing was executed: make the plan again"),
    )
}

/// One statement slot of every chunk.
#[derive(Debug)]
struct Slot {
    /// `mv_replay`: the view replayed (the statement's label, and part of its token).
    view: Option<String>,
    time_column: String,
    bounds: BoundType,
    digest: SqlDigest,
    /// The texts around the window of a statement found to have `digest`.
    known: RefCell<Option<Vec<String>>>,
}

/// Where a plan's chunks are: equal steps, or the windows its volume header records.
#[derive(Debug)]
enum Cuts {
    Step(i64),
    Windows(Vec<Window>),
}

/// A plan's header, ready to check its chunk lines one by one.
#[derive(Debug)]
pub struct PlanCheck {
    plan_id: String,
    window: Window,
    cuts: Cuts,
    count: usize,
    tokens: bool,
    slots: Vec<Slot>,
    /// `sql::insert_settings(header's, None)`: each statement's token settings follow.
    insert_settings: String,
}

impl PlanCheck {
    /// Check the header itself (its id, environment, window and digests) and the
    /// number of chunk lines the file has.
    pub fn open(header: &PlanState, chunk_count: usize, default_database: &str) -> CoreResult<PlanCheck> {
        let id = &header.plan_id;
        let expected = plan_id_of(header);
        if expected != *id {
            return Err(mismatch(
                id,
                format!("its header (target, window, chunk length, time column, source or views, environment) gives the plan id {expected}"),
            ));
        }
        if let Some(e) = &header.environment {
            if ids::env_fingerprint(&e.url, &e.database) != e.fingerprint {
                return Err(mismatch(id, format!("its environment fingerprint {} is not that of {} (database {})", e.fingerprint, e.url, e.database)));
            }
        }
        let window = Window { from: parse_instant(&header.from, "plan from")?, to: parse_instant(&header.to, "plan to")? };
        if format_instant(window.from) != header.from || format_instant(window.to) != header.to || window.to <= window.from {
            return Err(mismatch(id, format!("its window {} → {} is not one `plan` writes", header.from, header.to)));
        }
        let cuts = match (&header.volume, header.chunk_hours) {
            (Some(v), None) => Cuts::Windows(crate::volume::header_windows(window, v).map_err(|why| mismatch(id, why))?),
            (None, Some(h)) => {
                let step = chunk_ms(h);
                if step <= 0 {
                    return Err(mismatch(id, format!("its chunk length {h} h is not one `plan` writes")));
                }
                Cuts::Step(step)
            }
            _ => return Err(mismatch(id, "its header sizes chunks by neither hours nor volume, or by both".into())),
        };
        let count = match &cuts {
            Cuts::Step(step) => ((window.to - window.from + step - 1) / step) as usize,
            Cuts::Windows(ws) => ws.len(),
        };
        if count != chunk_count {
            return Err(mismatch(id, format!("its window cuts into {count} chunks, but the file has {chunk_count}")));
        }
        let slots = match header.strategy {
            Strategy::Table | Strategy::Copy => {
                let target = sql::parse_table(&header.target, default_database, "plan target")?;
                let source = match &header.source {
                    Some(s) => sql::parse_table(s, default_database, "plan source")?,
                    None => target.clone(),
                };
                let text = CopyWindowSql::new(&target, &source, header.columns.as_deref(), &header.time_column, header.bound_type, &header.insert_settings);
                let (before, after) = text.window_parts();
                let digest = sql_digest(&[before, after]);
                if header.sql_digests.as_ref().is_some_and(|d| d.as_slice() != std::slice::from_ref(&digest)) {
                    return Err(mismatch(id, "its SQL digest is not that of the statement its target, source and columns give".into()));
                }
                vec![Slot { view: None, time_column: header.time_column.clone(), bounds: header.bound_type, digest, known: RefCell::new(None) }]
            }
            Strategy::MvReplay => {
                let (Some(views), Some(digests)) = (&header.views, &header.sql_digests) else {
                    return Err(CoreError::runtime(
                        "plan_outdated",
                        format!(
                            "plan {id} was written by an earlier version, which recorded no digest of its chunks' SQL, so its chunks cannot be checked before they run; \
                             make the plan again with the same flags (`plan` adds the digests to it and keeps its run), then run it"
                        ),
                    ));
                };
                if views.len() != digests.len() || views.is_empty() {
                    return Err(mismatch(id, format!("it replays {} views but has {} SQL digests", views.len(), digests.len())));
                }
                views
                    .iter()
                    .zip(digests)
                    .map(|(v, d)| Slot { view: Some(v.name.clone()), time_column: v.time_column.clone(), bounds: v.bound_type, digest: d.clone(), known: RefCell::new(None) })
                    .collect()
            }
        };
        // The user's settings come from the header: none of them may be one the tool pins.
        let pinned = sql::pinned_insert_settings();
        if let Some(k) = header.insert_settings.keys().find(|k| pinned.contains(&k.as_str())) {
            return Err(mismatch(id, format!("its insertSettings set {k}, which the backfill pins")));
        }
        let insert_settings = sql::insert_settings(&header.insert_settings, None);
        Ok(PlanCheck { plan_id: id.clone(), window, cuts, count, tokens: header.options.require_idempotency_token, slots, insert_settings })
    }

    /// Chunk `i` (0-based) as the header gives it: window, id and tokens; its SQL around the digest.
    pub fn chunk(&self, i: usize, c: &PlanChunk) -> CoreResult<()> {
        let n = i + 1;
        if i >= self.count {
            return Err(mismatch(&self.plan_id, format!("chunk {n} is past the last chunk its window cuts")));
        }
        let w = match &self.cuts {
            Cuts::Step(step) => {
                let from = self.window.from + i as i64 * step;
                Window { from, to: (from + step).min(self.window.to) }
            }
            Cuts::Windows(ws) => ws[i],
        };
        let (cf, ct) = (format_instant(w.from), format_instant(w.to));
        let (id, single_token) = ids::chunk_ids(&self.plan_id, &cf, &ct);
        let bad = |what: &str| mismatch(&self.plan_id, format!("chunk {n} ({id}, {cf} → {ct}) {what}"));
        if c.id != id || c.from != cf || c.to != ct {
            return Err(mismatch(
                &self.plan_id,
                format!("chunk {n} in the file is {} {} → {}, not the chunk its window cuts ({id}, {cf} → {ct})", c.id, c.from, c.to),
            ));
        }
        if c.status != "pending" || c.attempts != 0 {
            return Err(bad("carries a status or attempts: a plan holds none"));
        }
        let check = |slot: &Slot, label: Option<&str>, token: Option<&str>, sql: &str| -> CoreResult<()> {
            let expected_token = match &slot.view {
                Some(view) => Some(ids::view_token(&self.plan_id, &id, view)),
                None => self.tokens.then(|| single_token.clone()),
            };
            if label != slot.view.as_deref() {
                return Err(bad(&format!("has a statement labelled {}, where the plan replays {}", label.unwrap_or("(none)"), slot.view.as_deref().unwrap_or("(none)"))));
            }
            if token != expected_token.as_deref() {
                return Err(bad("has an idempotency token that is not the one its plan and window give"));
            }
            let comment = sql::header_comment(&self.plan_id, &id, token.unwrap_or("none"));
            let predicate = sql::window_predicate_as(&slot.time_column, slot.bounds, w);
            if !slot.statement_matches(sql, &comment, &predicate, &sql::insert_settings_after(&self.insert_settings, token)) {
                return Err(bad("has SQL that is not the statement the plan made for it"));
            }
            Ok(())
        };
        match (&c.statements, self.slots.as_slice()) {
            (None, [slot]) if slot.view.is_none() => check(slot, None, c.idempotency_token.as_deref(), &c.sql_template),
            (Some(st), slots) if st.len() == slots.len() && slots.iter().all(|s| s.view.is_some()) => {
                for (s, slot) in st.iter().zip(slots) {
                    check(slot, Some(&s.label), s.idempotency_token.as_deref(), &s.sql)?;
                }
                if c.sql_template != st[0].sql || c.idempotency_token != st[0].idempotency_token {
                    return Err(bad("has a first statement that differs from its sqlTemplate"));
                }
                Ok(())
            }
            _ => Err(bad(&format!("has {} statement(s), where the plan makes {}", c.statements.as_ref().map_or(1, |s| s.len()), self.slots.len()))),
        }
    }

    /// Chunk lines as the plan file holds them (one JSON object per line, a
    /// trailing comma allowed), the first being chunk `first`. → lines checked.
    pub fn lines(&self, first: usize, text: &str) -> CoreResult<usize> {
        let mut n = 0;
        for line in text.split('\n') {
            let line = line.trim_end();
            let line = line.strip_suffix(',').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let i = first + n;
            let c: PlanChunk = serde_json::from_str(line)
                .map_err(|e| mismatch(&self.plan_id, format!("chunk {} is not a chunk line: {e}", i + 1)))?;
            self.chunk(i, &c)?;
            n += 1;
        }
        Ok(n)
    }
}

/// A column a plan compares its window with, its bounds as the plan writes them, and the
/// column's type on the server now (None: not known).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BoundColumn {
    pub table: String,
    pub column: String,
    pub bound_type: BoundType,
    #[serde(rename = "type")]
    pub ty: Option<String>,
}

/// Before a run sends anything: every column the plan writes `DateTime` bounds for is still a
/// `DateTime`. A column changed to `DateTime64` since would be compared with whole seconds,
/// and ClickHouse then skips rows of a sorting-key column (see `window::sql_literal`).
pub fn check_bound_types(plan_id: &str, columns: &[BoundColumn]) -> CoreResult<()> {
    let changed = columns.iter().find(|c| {
        c.bound_type == BoundType::DateTime && c.ty.as_deref().is_some_and(|t| BoundType::for_column(Some(t)) != BoundType::DateTime)
    });
    match changed {
        None => Ok(()),
        Some(c) => Err(CoreError::runtime(
            "time_column_changed",
            format!(
                "plan {plan_id} was made when {}.{} was a DateTime and writes its window for one, but the column is now {}; \
                 nothing was executed: make the plan again with the same flags (--force replaces this one)",
                c.table,
                c.column,
                c.ty.as_deref().unwrap_or_default()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build_plan, PlanRequest};
    use serde_json::json;

    fn req(extra: serde_json::Value) -> PlanRequest {
        let mut v = json!({
            "options": { "defaults": { "timeColumn": "ts" } },
            "target": "app.events",
            "from": "2025-01-01",
            "to": "2025-01-01T05:00:00Z",
            "chunkHours": "2",
            "now": "2025-06-01T00:00:00Z",
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn header(p: &PlanState) -> PlanState {
        PlanState { chunks: Vec::new(), ..p.clone() }
    }

    fn check_all(p: &PlanState) -> CoreResult<()> {
        let c = PlanCheck::open(&header(p), p.chunks.len(), "default")?;
        p.chunks.iter().enumerate().try_for_each(|(i, ch)| c.chunk(i, ch))
    }

    fn mv_plan() -> PlanState {
        let r = req(json!({
            "target": "app.hourly",
            "options": {},
            "tables": [
                { "database": "app", "table": "events", "columns": [{"name": "ts", "type": "DateTime"}, {"name": "u", "type": "UInt64"}], "orderBy": ["ts"] },
                { "database": "app", "table": "hourly", "columns": [{"name": "hour", "type": "DateTime"}, {"name": "n", "type": "UInt64"}], "orderBy": ["hour"] }
            ],
            "views": [
                { "database": "app", "name": "v1", "schemaQuery": "SELECT toStartOfHour(ts) AS hour, count() AS n FROM events GROUP BY hour" },
                { "database": "app", "name": "v2", "schemaQuery": "SELECT toStartOfHour(ts) AS hour, uniq(u) AS n FROM app.events e GROUP BY hour" }
            ],
        }));
        build_plan(&r).unwrap()
    }

    #[test]
    fn an_untouched_plan_passes_for_every_strategy() {
        check_all(&build_plan(&req(json!({}))).unwrap()).unwrap();
        let copy = req(json!({ "source": "app.old", "targetColumns": ["ts", "u"], "sourceColumns": ["u", "ts"] }));
        check_all(&build_plan(&copy).unwrap()).unwrap();
        let untokened = req(json!({ "options": { "defaults": { "timeColumn": "ts", "requireIdempotencyToken": false } } }));
        check_all(&build_plan(&untokened).unwrap()).unwrap();
        let mv = mv_plan();
        assert_eq!(mv.sql_digests.as_ref().unwrap().len(), 2);
        check_all(&mv).unwrap();
    }

    #[test]
    fn an_edited_chunk_is_refused_naming_it() {
        let p = build_plan(&req(json!({}))).unwrap();
        let edits: Vec<(Box<dyn Fn(&mut PlanChunk)>, &str)> = vec![
            (Box::new(|c| c.sql_template = c.sql_template.replace("INSERT INTO `app`.`events`", "INSERT INTO `app`.`other`")), "has SQL that is not"),
            (Box::new(|c| c.sql_template = c.sql_template.replace("2025-01-01 04:00:00.000", "2025-01-01 03:00:00.000")), "has SQL that is not"),
            (Box::new(|c| c.sql_template.push_str(" ")), "has SQL that is not"),
            (Box::new(|c| c.from = "2025-01-01T03:00:00.000Z".into()), "chunk 2 in the file is"),
            (Box::new(|c| c.idempotency_token = Some("chkit-x".into())), "idempotency token"),
            (Box::new(|c| c.attempts = 1), "carries a status"),
        ];
        for (edit, what) in edits {
            let mut q = p.clone();
            edit(&mut q.chunks[1]);
            let e = check_all(&q).unwrap_err();
            assert_eq!(e.code, "plan_mismatch");
            assert!(e.message.contains("chunk 2") && e.message.contains(what), "{}", e.message);
        }
        let mut mv = mv_plan();
        let st = mv.chunks[2].statements.as_mut().unwrap();
        st[1].sql = st[1].sql.replace("uniq(u)", "count()");
        let e = check_all(&mv).unwrap_err();
        assert!(e.message.contains("chunk 3") && e.message.contains("has SQL that is not"), "{}", e.message);
    }

    #[test]
    fn an_edited_header_is_refused() {
        let p = build_plan(&req(json!({}))).unwrap();
        let mut q = header(&p);
        q.to = "2025-01-01T07:00:00.000Z".into();
        assert!(PlanCheck::open(&q, 3, "default").unwrap_err().message.contains("gives the plan id"));
        let mut q = header(&p);
        q.columns = Some(vec!["ts".into()]);
        assert!(PlanCheck::open(&q, 3, "default").unwrap_err().message.contains("SQL digest"));
        assert!(PlanCheck::open(&header(&p), 4, "default").unwrap_err().message.contains("cuts into 3 chunks, but the file has 4"));
    }

    #[test]
    fn plans_without_digests() {
        // table/copy: the digest is derived from the header, so such a plan is checked all the same.
        let mut p = build_plan(&req(json!({}))).unwrap();
        p.sql_digests = None;
        check_all(&p).unwrap();
        p.chunks[0].sql_template = p.chunks[0].sql_template.replace("SELECT *", "SELECT * FROM numbers(1)");
        assert!(check_all(&p).unwrap_err().message.contains("chunk 1"));
        // mv_replay: refused, to be made again.
        let mut mv = mv_plan();
        mv.sql_digests = None;
        let e = check_all(&mv).unwrap_err();
        assert_eq!(e.code, "plan_outdated");
        assert!(e.message.contains("make the plan again"), "{}", e.message);
    }

    #[test]
    fn lines_as_the_file_holds_them() {
        let p = build_plan(&req(json!({}))).unwrap();
        let text = crate::plan_file::to_text(&p);
        let lines: Vec<&str> = text.lines().collect();
        let c = PlanCheck::open(&header(&p), 3, "default").unwrap();
        assert_eq!(c.lines(0, &lines[1..3].join("\n")).unwrap(), 2);
        assert_eq!(c.lines(2, lines[3]).unwrap(), 1);
        assert!(c.lines(1, lines[3]).unwrap_err().message.contains("chunk 2 in the file is"));
    }

    #[test]
    fn a_datetime_bound_needs_a_datetime_column() {
        let col = |b: BoundType, ty: Option<&str>| BoundColumn { table: "app.events".into(), column: "ts".into(), bound_type: b, ty: ty.map(str::to_string) };
        assert!(check_bound_types("p", &[col(BoundType::DateTime, Some("DateTime")), col(BoundType::DateTime, Some("Nullable(DateTime('UTC'))"))]).is_ok());
        // Unknown: the chunk itself will fail with the cause.
        assert!(check_bound_types("p", &[col(BoundType::DateTime, None)]).is_ok());
        // A DateTime64 bound compares with anything.
        assert!(check_bound_types("p", &[col(BoundType::DateTime64, Some("DateTime64(3)"))]).is_ok());
        let e = check_bound_types("p", &[col(BoundType::DateTime, Some("DateTime")), col(BoundType::DateTime, Some("DateTime64(3)"))]).unwrap_err();
        assert_eq!(e.code, "time_column_changed");
        assert!(e.message.contains("app.events.ts was a DateTime") && e.message.contains("now DateTime64(3)"), "{}", e.message);
    }
}
