//! Planning: from a validated request to the immutable plan document
//! (`plans/<planId>.json`). Same request → byte-identical plan but `createdAt`.

use crate::chunks::build_chunks;
use crate::error::{CoreError, CoreResult};
use crate::ids::{self, PlanIdentity};
use crate::options::{check_chunk_hours, resolve_options, Defaults, Limits, Policy};
use crate::sql;
use crate::window::{check_window, format_instant, parse_instant, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// ISO instant; the clock is read by the shim.
    pub now: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Planned,
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
    /// Absent when `requireIdempotencyToken` is false.
    pub idempotency_token: Option<String>,
    pub sql_template: String,
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
    pub chunk_hours: f64,
    pub time_column: String,
    /// Columns named in the INSERT, when known at plan time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub columns: Option<Vec<String>>,
    pub chunks: Vec<PlanChunk>,
    pub options: Defaults,
    pub policy: Policy,
    pub limits: Limits,
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

pub fn build_plan(req: &PlanRequest) -> CoreResult<PlanState> {
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
    let chunk_hours = match &req.chunk_hours {
        Some(raw) => parse_chunk_hours(raw, &opts.limits)?,
        None => opts.defaults.chunk_hours,
    };
    let (from_raw, to_raw) = match (&req.from, &req.to) {
        (Some(f), Some(t)) => (f, t),
        _ => {
            return Err(CoreError::usage(
                "missing_window",
                "plan needs both --from and --to (policy.requireExplicitWindow)",
            ))
        }
    };
    let w = Window { from: parse_instant(from_raw, "--from")?, to: parse_instant(to_raw, "--to")? };
    check_window(w, &opts.limits, req.force_large_window)?;

    let time_column = match req.time_column.as_deref().or(opts.defaults.time_column.as_deref()) {
        Some(c) => sql::parse_column(c)?,
        None => {
            return Err(CoreError::usage(
                "missing_time_column",
                "no time column: pass --time-column or set defaults.timeColumn in the backfill options",
            ))
        }
    };

    let columns = match (&source, &req.target_columns, &req.source_columns) {
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

    let environment = req.environment.as_ref().map(|e| Environment {
        fingerprint: ids::env_fingerprint(&e.origin, &e.database),
        url: e.origin.clone(),
        database: e.database.clone(),
    });
    let from = format_instant(w.from);
    let to = format_instant(w.to);
    let target_display = target.display();
    let source_display = source.as_ref().map(|s| s.display());
    let plan_id = ids::plan_id(&PlanIdentity {
        target: &target_display,
        from: &from,
        to: &to,
        chunk_hours,
        time_column: &time_column,
        source: source_display.as_deref(),
        env_fingerprint: environment.as_ref().map(|e| e.fingerprint.as_str()),
    });

    let read_from = source.as_ref().unwrap_or(&target);
    let chunks = build_chunks(w, chunk_hours)?
        .into_iter()
        .map(|cw| {
            let (cf, ct) = (format_instant(cw.from), format_instant(cw.to));
            let id = ids::chunk_id(&plan_id, &cf, &ct);
            let token =
                opts.defaults.require_idempotency_token.then(|| ids::idempotency_token(&plan_id, &id, None));
            let header = sql::header_comment(&plan_id, &id, token.as_deref().unwrap_or("none"));
            let sql_template = sql::copy_window_sql(
                &header,
                &target,
                read_from,
                columns.as_deref(),
                &time_column,
                cw,
                token.as_deref(),
            );
            PlanChunk {
                id,
                from: cf,
                to: ct,
                status: "pending".into(),
                attempts: 0,
                idempotency_token: token,
                sql_template,
            }
        })
        .collect();

    let mut defaults = opts.defaults.clone();
    defaults.chunk_hours = chunk_hours;
    defaults.time_column = Some(time_column.clone());
    Ok(PlanState {
        plan_id,
        target: target_display,
        created_at: req.now.clone(),
        status: PlanStatus::Planned,
        strategy: if source.is_some() { Strategy::Copy } else { Strategy::Table },
        source: source_display,
        environment,
        from,
        to,
        chunk_hours,
        time_column,
        columns,
        chunks,
        options: defaults,
        policy: opts.policy,
        limits: opts.limits,
    })
}

/// Top-level fields where an existing plan differs from a fresh one
/// (`createdAt` aside). Empty: re-planning is a no-op.
pub fn plan_differences(existing: &Value, fresh: &PlanState) -> Vec<String> {
    let fresh = serde_json::to_value(fresh).expect("plan serialises");
    let (Some(a), Some(b)) = (existing.as_object(), fresh.as_object()) else {
        return vec!["(whole plan)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).filter(|k| *k != "createdAt").collect();
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
}
