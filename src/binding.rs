//! The WASM surface, and the only module that knows about JavaScript.
//! Every export takes JSON text and returns a JSON envelope:
//! `{"ok":true,"value":…}` or `{"ok":false,"error":{kind,code,message}}`.
//! Plain strings keep the surface testable natively and fast for large plans.

use crate::error::{CoreError, CoreResult};
use crate::plan::{self, PlanRequest, PlanState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn envelope<T: Serialize>(r: CoreResult<T>) -> String {
    match r.and_then(|v| {
        serde_json::to_string(&v).map_err(|e| CoreError::runtime("serialize", e.to_string()))
    }) {
        Ok(json) => format!("{{\"ok\":true,\"value\":{json}}}"),
        Err(e) => format!(
            "{{\"ok\":false,\"error\":{}}}",
            serde_json::to_string(&e).expect("error serialises")
        ),
    }
}

fn parse<T: DeserializeOwned>(json: &str, what: &str) -> CoreResult<T> {
    serde_json::from_str(json).map_err(|e| CoreError::usage("invalid_input", format!("{what}: {e}")))
}

#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[wasm_bindgen(js_name = resolveOptions)]
pub fn resolve_options(raw: &str) -> String {
    envelope(parse(raw, "options").and_then(|v| crate::options::resolve_options(&v)))
}

#[wasm_bindgen(js_name = buildPlan)]
pub fn build_plan(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::build_plan(&r)))
}

/// `db.table` as the user typed it → `{database, table}` (bare `table` takes `default_db`).
#[wasm_bindgen(js_name = parseTable)]
pub fn parse_table(input: &str, default_db: &str, flag: &str) -> String {
    envelope(crate::sql::parse_table(input, default_db, flag))
}

/// Validate what needs no server (names, numbers, window) before connecting.
#[wasm_bindgen(js_name = checkPlanInput)]
pub fn check_plan_input(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::check_plan_input(&r)))
}

/// Strategy, views and time-column decisions for a request (what a prompt needs).
#[wasm_bindgen(js_name = planPreview)]
pub fn plan_preview(request: &str) -> String {
    envelope(parse::<PlanRequest>(request, "plan request").and_then(|r| plan::plan_preview(&r)))
}

/// The table a materialized view is triggered by: `{database, table}`.
#[wasm_bindgen(js_name = viewSource)]
pub fn view_source(view: &str, query: &str, default_db: &str) -> String {
    envelope(crate::mv_replay::analyze_view(view, query, default_db).map(|v| v.source))
}

#[wasm_bindgen(js_name = planDifferences)]
pub fn plan_differences(existing: &str, fresh: &str) -> String {
    envelope(parse(existing, "existing plan").and_then(|e: serde_json::Value| {
        let fresh: PlanState = parse(fresh, "fresh plan")?;
        Ok(plan::plan_differences(&e, &fresh))
    }))
}

#[wasm_bindgen(js_name = evaluateCheck)]
pub fn evaluate_check(input: &str) -> String {
    envelope(parse(input, "check input").map(|i| crate::check::evaluate(&i)))
}

#[wasm_bindgen]
pub fn diagnose(input: &str) -> String {
    envelope(parse(input, "doctor input").map(|i| crate::doctor::diagnose(&i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert_eq!(resolve_options("null").len() > 10, true);
        let bad = resolve_options(r#"{"nope":1}"#);
        assert!(bad.starts_with(r#"{"ok":false,"error":{"kind":"usage","code":"invalid_option""#), "{bad}");
        let garbage = build_plan("{");
        assert!(garbage.contains("\"invalid_input\""));
    }
}
