//! Golden SQL of every materialized-view shape in tests/mv_corpus: the plan's
//! first chunk, statement by statement, must equal tests/golden/<shape>.sql.
//! The same corpus runs end to end on the embedded engine (tests/mv_replay*.test.mjs).
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files; review the diff.

use chkit_backfill_core::plan::{build_plan, PlanRequest, ViewInput};
use chkit_backfill_core::sql::parse_table;
use chkit_backfill_core::sql_tokens::{tokenize, Token};
use chkit_backfill_core::time_column::{ColumnInfo, TableInfo};
use serde_json::{json, Value};
use std::path::Path;

/// Columns and ORDER BY of a `CREATE TABLE db.t (cols) ENGINE = … ORDER BY …`,
/// read with the crate's tokenizer (what the server would report).
fn table_info(ddl: &str) -> TableInfo {
    let toks: Vec<Token> = tokenize(ddl).unwrap().into_iter().filter(|t| !t.is_trivia()).collect();
    let open = toks.iter().position(|t| t.is_punct("(")).unwrap();
    let name: String = toks[2..open].iter().map(|t| ddl[t.start..t.end].to_string()).collect();
    let t = parse_table(&name, "default", "ddl").unwrap();
    let mut columns = Vec::new();
    let (mut depth, mut item) = (0, Vec::new());
    let mut k = open + 1;
    loop {
        let tok = &toks[k];
        if depth == 0 && (tok.is_punct(",") || tok.is_punct(")")) {
            let kinds = ["DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "CODEC", "COMMENT"];
            let stop = item.iter().position(|t: &&Token| kinds.iter().any(|k| t.is_keyword(k))).unwrap_or(item.len());
            let (first, last) = (item[1], item[stop - 1]);
            let kind = item.get(stop).map(|t| t.value.to_uppercase()).filter(|k| k != "CODEC" && k != "COMMENT");
            columns.push(ColumnInfo {
                name: item[0].value.clone(),
                ty: ddl[first.start..last.end].to_string(),
                default_kind: kind.unwrap_or_default(),
            });
            item.clear();
            if tok.is_punct(")") {
                break;
            }
        } else {
            if tok.is_punct("(") {
                depth += 1;
            } else if tok.is_punct(")") {
                depth -= 1;
            }
            item.push(tok);
        }
        k += 1;
    }
    let order = toks.iter().position(|t| t.is_keyword("ORDER")).unwrap() + 2;
    let end = toks[order..].iter().position(|t| t.is_keyword("SETTINGS")).map_or(toks.len(), |n| order + n);
    let text = ddl[toks[order].start..toks[end - 1].end].trim_start_matches('(').trim_end_matches(')').to_string();
    let order_by = text.split(", ").map(str::to_string).collect();
    TableInfo { database: t.database, table: t.table, columns, order_by, time_column: None }
}

fn request(shape: &Value) -> PlanRequest {
    let tables = shape["ddl"].as_array().unwrap().iter().map(|d| table_info(d.as_str().unwrap())).collect();
    let views = shape["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| parse_table(v["name"].as_str().unwrap(), "default", "view").unwrap())
        .zip(shape["views"].as_array().unwrap())
        .map(|(name, v)| ViewInput {
            database: name.database,
            name: name.table,
            schema_query: Some(v["query"].as_str().unwrap().into()),
            server_query: None,
            output_columns: None,
            create_query: None,
        })
        .collect();
    PlanRequest {
        options: json!({}),
        target: shape["target"].as_str().unwrap().into(),
        from: Some("2025-01-02".into()),
        to: Some("2025-01-02T06:00:00Z".into()),
        time_column: shape["timeColumn"].as_str().map(str::to_string),
        tables,
        views,
        now: "2025-06-01T00:00:00.000Z".into(),
        ..Default::default()
    }
}

/// The MV corpus's shape files (tests/mv_corpus/*.json), in name order.
fn corpus_shapes(root: &Path) -> Vec<std::path::PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(root.join("mv_corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
}

#[test]
fn golden_sql_of_every_shape() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let names = corpus_shapes(&root);
    assert!(names.len() >= 12, "the corpus holds at least 12 shapes");
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    let mut failures = Vec::new();
    for path in names {
        let shape: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let plan = build_plan(&request(&shape)).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let statements = plan.chunks[0].statements.as_ref().expect("mv_replay statements");
        assert_eq!(statements.len(), shape["views"].as_array().unwrap().len(), "{stem}");
        assert_eq!(plan.chunks[0].sql_template, statements[0].sql);
        let text: String = statements.iter().map(|s| format!("-- {}\n{}\n", s.label, s.sql)).collect();
        let golden = root.join("golden").join(format!("{stem}.sql"));
        if update {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &text).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
            failures.push(format!("{stem}: generated SQL differs from {}:\n{text}", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Golden SQL of `verify` for every shape: the whole-window key count and the first
/// chunk's comparing query (or why the shape cannot be verified), in tests/golden/verify/.
#[test]
fn golden_verify_sql_of_every_shape() {
    use chkit_backfill_core::verify::{mv_chunk_sql, queries, VerifyRequest};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let names = corpus_shapes(&root);
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    let mut failures = Vec::new();
    for path in names {
        let shape: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let req = request(&shape);
        let plan = build_plan(&req).unwrap();
        let target = parse_table(shape["target"].as_str().unwrap(), "default", "t").unwrap();
        let (ddl, info) = shape["ddl"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d.as_str().unwrap(), table_info(d.as_str().unwrap())))
            .find(|(_, i)| i.database == target.database && i.table == target.table)
            .unwrap();
        let engine = ddl.split("ENGINE = ").nth(1).unwrap().split([' ', '(']).next().unwrap();
        let statements: Vec<String> = plan.chunks[0].statements.as_ref().unwrap().iter().map(|s| s.sql.clone()).collect();
        let vr: VerifyRequest = serde_json::from_value(json!({
            "facts": { "planId": plan.plan_id, "strategy": "mv_replay", "target": plan.target, "timeColumn": plan.time_column,
                       "from": plan.from, "to": plan.to, "chunkHours": plan.chunk_hours, "chunkCount": plan.chunks.len(),
                       "firstChunk": null, "lastChunk": null },
            "target": { "engine": engine, "engineFull": format!("{engine} ORDER BY {}", info.order_by.join(", ")), "sortingKey": info.order_by.join(", "),
                        "columns": info.columns.iter().map(|c| json!({ "name": c.name, "type": c.ty, "defaultKind": c.default_kind })).collect::<Vec<_>>() },
            "views": plan.views.as_ref().unwrap().iter().map(|v| json!({ "name": v.name, "timeColumn": v.time_column, "boundType": v.bound_type, "columns": v.columns })).collect::<Vec<_>>(),
            "chunks": [],
            "firstStatements": statements,
        }))
        .unwrap();
        let q = queries(&vr).unwrap();
        let text = match &q.not_verifiable {
            Some(why) => format!("-- not verifiable: {why}\n"),
            None => format!("-- whole window\n{}\n-- chunk 1\n{}\n", q.queries[0].sql, mv_chunk_sql(&vr, &statements).unwrap()),
        };
        let golden = root.join("golden").join("verify").join(format!("{stem}.sql"));
        if update {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &text).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
            failures.push(format!("{stem}: verify SQL differs from {}:\n{text}", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
