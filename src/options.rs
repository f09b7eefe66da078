//! The `backfill({...})` options: defaults, strict validation, resolved shape.
//! Unknown keys and wrong types fail with the option's path, so a typo never
//! silently falls back to a default.

use crate::error::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Defaults {
    pub chunk_hours: f64,
    pub max_parallel_chunks: u32,
    pub max_retries_per_chunk: u32,
    pub retry_delay_ms: u64,
    pub require_idempotency_token: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_column: Option<String>,
    /// Chunks of about this many rows instead of `chunk_hours` (see `volume`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunk_rows: Option<u64>,
    /// Chunks of about this many uncompressed bytes instead of `chunk_hours`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunk_bytes: Option<u64>,
}

impl Defaults {
    /// The volume sizing the options ask for (`None`: chunks of `chunk_hours`).
    pub fn sizing(&self) -> Option<crate::volume::Sizing> {
        use crate::volume::Sizing;
        self.chunk_rows.map(Sizing::Rows).or(self.chunk_bytes.map(Sizing::Bytes))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub require_dry_run_before_run: bool,
    pub require_explicit_window: bool,
    pub block_overlapping_runs: bool,
    pub fail_check_on_required_pending_backfill: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_window_hours: f64,
    pub min_chunk_minutes: f64,
    /// Longest chunk a volume-sized plan makes (empty stretches merge up to it).
    #[serde(default = "default_max_chunk_hours")]
    pub max_chunk_hours: f64,
}

fn default_max_chunk_hours() -> f64 {
    24.0 * 7.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// As the user wrote it; the shim resolves it against the config directory.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state_dir: Option<String>,
    pub defaults: Defaults,
    pub policy: Policy,
    pub limits: Limits,
    /// Added to every chunk INSERT (`settings::from_options`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub insert_settings: crate::sql::InsertSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_dir: None,
            defaults: Defaults {
                chunk_hours: 6.0,
                max_parallel_chunks: 1,
                max_retries_per_chunk: 3,
                retry_delay_ms: 1000,
                require_idempotency_token: true,
                time_column: None,
                chunk_rows: None,
                chunk_bytes: None,
            },
            policy: Policy {
                require_dry_run_before_run: true,
                require_explicit_window: true,
                block_overlapping_runs: true,
                fail_check_on_required_pending_backfill: true,
            },
            limits: Limits { max_window_hours: 720.0, min_chunk_minutes: 15.0, max_chunk_hours: default_max_chunk_hours() },
            insert_settings: Default::default(),
        }
    }
}

/// Upper bound for `maxParallelChunks`: more would only queue on the server.
pub const MAX_PARALLEL_CHUNKS: u32 = 64;

fn invalid(path: &str, what: &str) -> CoreError {
    CoreError::usage("invalid_option", format!("option {path} {what}"))
}

fn object<'a>(v: &'a Value, path: &str, allowed: &[&str]) -> CoreResult<&'a Map<String, Value>> {
    let map = v.as_object().ok_or_else(|| invalid(path, "must be an object"))?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let full = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            return Err(CoreError::usage(
                "invalid_option",
                format!("unknown option {full} (allowed here: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(map)
}

fn positive_number(v: &Value, path: &str) -> CoreResult<f64> {
    match v.as_f64() {
        Some(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(invalid(path, &format!("must be a positive number, got {v}"))),
    }
}

fn integer(v: &Value, path: &str, min: u64, max: u64) -> CoreResult<u64> {
    let n = v.as_f64().filter(|n| n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64);
    n.map(|n| n as u64)
        .ok_or_else(|| invalid(path, &format!("must be an integer from {min} to {max}, got {v}")))
}

fn boolean(v: &Value, path: &str) -> CoreResult<bool> {
    v.as_bool().ok_or_else(|| invalid(path, &format!("must be true or false, got {v}")))
}

fn non_empty_string(v: &Value, path: &str) -> CoreResult<String> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(invalid(path, &format!("must be a non-empty string, got {v}"))),
    }
}

/// Validate the raw options object and fill in defaults. `null`/absent → all defaults.
pub fn resolve_options(raw: &Value) -> CoreResult<Options> {
    let mut o = Options::default();
    if raw.is_null() {
        return Ok(o);
    }
    let top = object(raw, "", &["stateDir", "defaults", "policy", "limits", "insertSettings"])
        .map_err(|e| if raw.is_object() { e } else { invalid("(root)", "must be an object") })?;
    if let Some(v) = top.get("stateDir") {
        o.state_dir = Some(non_empty_string(v, "stateDir")?);
    }
    if let Some(d) = top.get("defaults") {
        let d = object(
            d,
            "defaults",
            &[
                "chunkHours",
                "maxParallelChunks",
                "maxRetriesPerChunk",
                "retryDelayMs",
                "requireIdempotencyToken",
                "timeColumn",
                "chunkRows",
                "chunkBytes",
            ],
        )?;
        // At most one way of sizing chunks: two would leave the plan guessing which applies.
        let given: Vec<&str> = ["chunkHours", "chunkRows", "chunkBytes"].into_iter().filter(|k| d.contains_key(*k)).collect();
        if given.len() > 1 {
            return Err(CoreError::usage(
                "invalid_option",
                format!("options defaults.{} are exclusive: chunks are sized by hours, rows or bytes; keep one", given.join(" and defaults.")),
            ));
        }
        let t = &mut o.defaults;
        if let Some(v) = d.get("chunkHours") {
            t.chunk_hours = positive_number(v, "defaults.chunkHours")?;
        }
        if let Some(v) = d.get("maxParallelChunks") {
            t.max_parallel_chunks =
                integer(v, "defaults.maxParallelChunks", 1, MAX_PARALLEL_CHUNKS as u64)? as u32;
        }
        if let Some(v) = d.get("maxRetriesPerChunk") {
            t.max_retries_per_chunk = integer(v, "defaults.maxRetriesPerChunk", 1, 100)? as u32;
        }
        if let Some(v) = d.get("retryDelayMs") {
            t.retry_delay_ms = integer(v, "defaults.retryDelayMs", 0, 3_600_000)?;
        }
        if let Some(v) = d.get("requireIdempotencyToken") {
            t.require_idempotency_token = boolean(v, "defaults.requireIdempotencyToken")?;
        }
        if let Some(v) = d.get("timeColumn") {
            let s = non_empty_string(v, "defaults.timeColumn")?;
            crate::sql::parse_column(&s).map_err(|e| invalid("defaults.timeColumn", &e.message))?;
            t.time_column = Some(s);
        }
        if let Some(v) = d.get("chunkRows") {
            let n = integer(v, "defaults.chunkRows", 1, 1 << 53)?;
            t.chunk_rows = Some(n);
        }
        if let Some(v) = d.get("chunkBytes") {
            let n = match v {
                Value::String(s) => crate::volume::parse_bytes(s, "defaults.chunkBytes").map_err(|e| invalid("defaults.chunkBytes", &e.message))?,
                _ => integer(v, "defaults.chunkBytes", 1, 1 << 53)?,
            };
            t.chunk_bytes = Some(n);
        }
    }
    if let Some(p) = top.get("policy") {
        let p = object(
            p,
            "policy",
            &[
                "requireDryRunBeforeRun",
                "requireExplicitWindow",
                "blockOverlappingRuns",
                "failCheckOnRequiredPendingBackfill",
            ],
        )?;
        let t = &mut o.policy;
        if let Some(v) = p.get("requireDryRunBeforeRun") {
            t.require_dry_run_before_run = boolean(v, "policy.requireDryRunBeforeRun")?;
        }
        if let Some(v) = p.get("requireExplicitWindow") {
            t.require_explicit_window = boolean(v, "policy.requireExplicitWindow")?;
        }
        if let Some(v) = p.get("blockOverlappingRuns") {
            t.block_overlapping_runs = boolean(v, "policy.blockOverlappingRuns")?;
        }
        if let Some(v) = p.get("failCheckOnRequiredPendingBackfill") {
            t.fail_check_on_required_pending_backfill =
                boolean(v, "policy.failCheckOnRequiredPendingBackfill")?;
        }
    }
    if let Some(l) = top.get("limits") {
        let l = object(l, "limits", &["maxWindowHours", "minChunkMinutes", "maxChunkHours"])?;
        if let Some(v) = l.get("maxChunkHours") {
            o.limits.max_chunk_hours = positive_number(v, "limits.maxChunkHours")?;
        }
        if let Some(v) = l.get("maxWindowHours") {
            o.limits.max_window_hours = positive_number(v, "limits.maxWindowHours")?;
        }
        if let Some(v) = l.get("minChunkMinutes") {
            o.limits.min_chunk_minutes = positive_number(v, "limits.minChunkMinutes")?;
        }
    }
    if let Some(v) = top.get("insertSettings") {
        o.insert_settings = crate::settings::from_options(v)?;
    }
    check_chunk_hours(o.defaults.chunk_hours, &o.limits, "defaults.chunkHours")?;
    if o.limits.max_chunk_hours * 60.0 < o.limits.min_chunk_minutes {
        return Err(invalid("limits.maxChunkHours", &format!("= {} is below limits.minChunkMinutes = {} minutes", o.limits.max_chunk_hours, o.limits.min_chunk_minutes)));
    }
    Ok(o)
}

/// A chunk shorter than `minChunkMinutes` would flood the server with tiny inserts.
pub fn check_chunk_hours(chunk_hours: f64, limits: &Limits, what: &str) -> CoreResult<()> {
    if !(chunk_hours.is_finite() && chunk_hours > 0.0) {
        return Err(CoreError::usage("invalid_chunk_hours", format!("{what} must be a positive number")));
    }
    if chunk_hours * 60.0 < limits.min_chunk_minutes {
        return Err(CoreError::usage(
            "invalid_chunk_hours",
            format!(
                "{what} = {chunk_hours} is {} minutes, below limits.minChunkMinutes = {}",
                chunk_hours * 60.0,
                limits.min_chunk_minutes
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_when_absent() {
        let o = resolve_options(&Value::Null).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.defaults.chunk_hours, 6.0);
        assert!(o.policy.require_dry_run_before_run);
        assert_eq!(o.limits.max_window_hours, 720.0);
    }

    #[test]
    fn overrides_apply() {
        let o = resolve_options(&json!({
            "stateDir": "./state",
            "defaults": { "chunkHours": 0.5, "maxParallelChunks": 4, "timeColumn": "event_time" },
            "policy": { "blockOverlappingRuns": false },
            "limits": { "minChunkMinutes": 30 }
        }))
        .unwrap();
        assert_eq!(o.state_dir.as_deref(), Some("./state"));
        assert_eq!(o.defaults.chunk_hours, 0.5);
        assert_eq!(o.defaults.max_parallel_chunks, 4);
        assert_eq!(o.defaults.time_column.as_deref(), Some("event_time"));
        assert!(!o.policy.block_overlapping_runs);
        assert!(o.policy.require_explicit_window);
    }

    #[test]
    fn volume_sizing_options() {
        let o = resolve_options(&json!({ "defaults": { "chunkRows": 500000 } })).unwrap();
        assert_eq!(o.defaults.sizing(), Some(crate::volume::Sizing::Rows(500000)));
        let o = resolve_options(&json!({ "defaults": { "chunkBytes": "1GiB" }, "limits": { "maxChunkHours": 48 } })).unwrap();
        assert_eq!(o.defaults.sizing(), Some(crate::volume::Sizing::Bytes(1 << 30)));
        assert_eq!(o.limits.max_chunk_hours, 48.0);
        assert_eq!(resolve_options(&Value::Null).unwrap().defaults.sizing(), None);
        assert_eq!(resolve_options(&Value::Null).unwrap().limits.max_chunk_hours, 168.0);
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (json!({"defaults": {"chunkHour": 1}}), "defaults.chunkHour"),
            (json!({"bogus": 1}), "bogus"),
            (json!({"defaults": {"chunkHours": "6"}}), "defaults.chunkHours"),
            (json!({"defaults": {"maxParallelChunks": 1.5}}), "defaults.maxParallelChunks"),
            (json!({"defaults": {"maxParallelChunks": 0}}), "defaults.maxParallelChunks"),
            (json!({"policy": {"requireExplicitWindow": "yes"}}), "policy.requireExplicitWindow"),
            (json!({"limits": {"maxWindowHours": -1}}), "limits.maxWindowHours"),
            (json!({"policy": []}), "policy"),
            (json!({"defaults": {"timeColumn": "a b"}}), "defaults.timeColumn"),
            (json!({"defaults": {"chunkHours": 0.2}}), "defaults.chunkHours"),
            (json!({"defaults": {"chunkRows": 1.5}}), "defaults.chunkRows"),
            (json!({"defaults": {"chunkRows": 0}}), "defaults.chunkRows"),
            (json!({"defaults": {"chunkBytes": "12XB"}}), "defaults.chunkBytes"),
            (json!({"defaults": {"chunkBytes": -1}}), "defaults.chunkBytes"),
            (json!({"defaults": {"chunkHours": 6, "chunkRows": 10}}), "defaults.chunkHours and defaults.chunkRows"),
            (json!({"defaults": {"chunkRows": 6, "chunkBytes": 10}}), "defaults.chunkRows and defaults.chunkBytes"),
            (json!({"limits": {"maxChunkHours": 0.1}}), "limits.maxChunkHours"),
        ];
        for (raw, path) in cases {
            let e = resolve_options(&raw).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Usage);
            assert!(e.message.contains(path), "{raw}: {}", e.message);
        }
    }
}
