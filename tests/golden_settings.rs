//! Golden SQL of the settings the tool pins on every INSERT and on every read that
//! decides a chunk's fate (tests/golden/pinned_settings.sql).
//! `UPDATE_GOLDEN=1 cargo test --test golden_settings` rewrites the file; review the diff.

use chkit_backfill_core::plan::{build_plan, data_range_sql, PlanRequest};
use chkit_backfill_core::sql::{self, parse_table};
use chkit_backfill_core::window::Window;
use serde_json::json;
use std::path::Path;

fn plan_sql(source: Option<&str>, settings: &[&str]) -> String {
    let req = PlanRequest {
        options: json!({ "insertSettings": { "max_memory_usage": 10000000000u64, "log_comment": "backfill" } }),
        target: "app.events".into(),
        source: source.map(str::to_string),
        from: Some("2025-01-02".into()),
        to: Some("2025-01-02T06:00:00Z".into()),
        time_column: Some("ts".into()),
        target_columns: Some(vec!["ts".into(), "v".into()]),
        source_columns: Some(vec!["ts".into(), "v".into()]),
        settings: settings.iter().map(|s| s.to_string()).collect(),
        now: "2025-06-01T00:00:00.000Z".into(),
        ..Default::default()
    };
    build_plan(&req).unwrap().chunks[0].sql_template.clone()
}

#[test]
fn pinned_settings_on_every_count_and_insert() {
    let t = parse_table("app.events", "default", "t").unwrap();
    let w = Window { from: 1_735_776_000_000, to: 1_735_797_600_000 };
    let table = plan_sql(None, &["max_insert_threads=4"]);
    let token = table.rsplit("insert_deduplication_token='").next().unwrap().trim_end_matches('\'').to_string();
    let sections = [
        ("table chunk, insertSettings and --setting max_insert_threads=4", table.clone()),
        ("copy chunk", plan_sql(Some("app.events_old"), &[])),
        ("retry that counted the window empty", sql::without_deduplication(&table, &token).unwrap()),
        ("window count (before, retry, after)", sql::window_count_sql(&t, "ts", w)),
        ("planning: the data's range", data_range_sql(&t, "ts")),
        ("inserted rows, embedded engine: parts before", sql::parts_max_block_sql(&t)),
        ("inserted rows, embedded engine: parts after", sql::parts_after_sql(&t, 41)),
    ];
    let text: String = sections.iter().map(|(k, s)| format!("-- {k}\n{s};\n\n")).collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pinned_settings.sql");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, &text).unwrap();
    } else {
        assert_eq!(std::fs::read_to_string(&golden).unwrap_or_default(), text, "generated SQL differs from {}", golden.display());
    }
}
