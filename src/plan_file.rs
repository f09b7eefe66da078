//! The plan file's layout: ordinary JSON, with the header (everything but the
//! chunks) on the first line and one chunk per line after it. JSON strings
//! cannot hold a raw newline, so a reader can find chunk `i` by lines without
//! parsing the whole plan: a run of 100,000 chunks parses the header once and
//! a chunk's SQL only when it executes.
//!
//! ```text
//! {"planId":"…",…,"limits":{…},"chunks":[
//! {"id":"…",…},
//! {"id":"…",…}
//! ]}
//! ```

use crate::plan::PlanState;

/// The first line ends with this; the last line is `]}`.
pub const HEADER_END: &str = "\"chunks\":[";

/// Append the plan file's text (ending in a newline) to `out`.
pub fn write(plan: &mut PlanState, out: &mut Vec<u8>) -> serde_json::Result<()> {
    // The header is the plan without chunks; `chunks` is the struct's last field.
    let chunks = std::mem::take(&mut plan.chunks);
    let header = serde_json::to_writer(&mut *out, &*plan);
    plan.chunks = chunks;
    header?;
    debug_assert!(out.ends_with(b"\"chunks\":[]}"));
    out.truncate(out.len() - 2);
    for (i, c) in plan.chunks.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut *out, c)?;
    }
    out.extend_from_slice(b"\n]}\n");
    Ok(())
}

pub fn to_text(plan: &mut PlanState) -> String {
    let mut out = Vec::new();
    write(plan, &mut out).expect("a plan serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build_plan, PlanRequest};

    fn plan(hours: u32) -> PlanState {
        let req: PlanRequest = serde_json::from_value(serde_json::json!({
            "options": { "defaults": { "timeColumn": "ts" } },
            "target": "app.events",
            "from": "2025-01-01",
            "to": format!("2025-01-01T{hours:02}:00:00Z"),
            "chunkHours": "1",
            "now": "2025-06-01T00:00:00Z",
        }))
        .unwrap();
        build_plan(&req).unwrap()
    }

    #[test]
    fn one_chunk_per_line_and_still_the_same_json() {
        let mut p = plan(3);
        let text = to_text(&mut p);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].ends_with(HEADER_END) && lines[0].starts_with("{\"planId\":"));
        assert!(lines[1].ends_with(',') && lines[2].ends_with(',') && !lines[3].ends_with(','));
        assert_eq!(lines[4], "]}");
        assert!(text.ends_with("]}\n"));
        let back: PlanState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        let chunk: crate::plan::PlanChunk = serde_json::from_str(lines[3]).unwrap();
        assert_eq!(chunk, p.chunks[2]);
        // The header line alone is the plan without chunks.
        let header: serde_json::Value = serde_json::from_str(&format!("{}]}}", lines[0])).unwrap();
        assert_eq!(header["planId"], p.plan_id.as_str());
        assert_eq!(header["chunks"], serde_json::json!([]));
    }
}
