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

use crate::error::{CoreError, CoreResult};
use crate::plan::{PlanChunk, PlanSink, PlanState};

/// The first line ends with this; the last line is `]}`.
pub const HEADER_END: &str = "\"chunks\":[";

/// Writes a plan file's text into `out` as the plan is built (a `PlanSink`).
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    chunks: usize,
    /// How many chunks the plan will have, to size `out` once from the first chunk's length.
    expected_chunks: usize,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut Vec<u8>, expected_chunks: usize) -> Self {
        Writer { out, chunks: 0, expected_chunks }
    }

    /// Close the chunk array and the plan; the text ends with a newline.
    pub fn finish(self) {
        self.out.extend_from_slice(b"\n]}\n");
    }
}

fn serialize(e: serde_json::Error) -> CoreError {
    CoreError::runtime("serialize", e.to_string())
}

impl PlanSink for Writer<'_> {
    fn header(&mut self, plan: &PlanState) -> CoreResult<()> {
        debug_assert!(plan.chunks.is_empty(), "the header is the plan without chunks");
        // `chunks` is the struct's last field: the header ends `"chunks":[]}`; keep the `[`.
        serde_json::to_writer(&mut *self.out, plan).map_err(serialize)?;
        debug_assert!(self.out.ends_with(b"\"chunks\":[]}"));
        self.out.truncate(self.out.len() - 2);
        Ok(())
    }

    fn chunk(&mut self, chunk: PlanChunk) -> CoreResult<()> {
        let start = self.out.len();
        self.out.extend_from_slice(if self.chunks == 0 { b"\n" } else { b",\n" });
        write_chunk(self.out, &chunk).map_err(serialize)?;
        if self.chunks == 0 {
            // Growing tens of megabytes step by step grows WASM memory step by step: size it once.
            let per_chunk = self.out.len() - start + 16;
            self.out.reserve(self.expected_chunks.saturating_sub(1).saturating_mul(per_chunk) + 16);
        }
        self.chunks += 1;
        Ok(())
    }
}

/// `chunk` as `serde_json` writes it, byte for byte, but with the SQL of a chunk's first
/// statement escaped once: it is also the chunk's `sqlTemplate`, and escaping kilobytes of
/// SQL twice per chunk was a fifth of planning time.
fn write_chunk(out: &mut Vec<u8>, c: &PlanChunk) -> serde_json::Result<()> {
    let template = escaped(&c.sql_template)?;
    out.extend_from_slice(b"{\"id\":");
    push_json_string(out, &c.id);
    out.extend_from_slice(b",\"from\":");
    push_json_string(out, &c.from);
    out.extend_from_slice(b",\"to\":");
    push_json_string(out, &c.to);
    out.extend_from_slice(b",\"status\":");
    push_json_string(out, &c.status);
    out.extend_from_slice(b",\"attempts\":");
    serde_json::to_writer(&mut *out, &c.attempts)?;
    out.extend_from_slice(b",\"idempotencyToken\":");
    push_json_option(out, c.idempotency_token.as_deref());
    out.extend_from_slice(b",\"sqlTemplate\":");
    out.extend_from_slice(&template);
    if let Some(statements) = &c.statements {
        out.extend_from_slice(b",\"statements\":[");
        for (k, st) in statements.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"label\":");
            push_json_string(out, &st.label);
            out.extend_from_slice(b",\"idempotencyToken\":");
            push_json_option(out, st.idempotency_token.as_deref());
            out.extend_from_slice(b",\"sql\":");
            if st.sql == c.sql_template {
                out.extend_from_slice(&template);
            } else {
                push_json_string(out, &st.sql);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

fn escaped(s: &str) -> serde_json::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(s.len() + s.len() / 16 + 2);
    push_json_string(&mut v, s);
    Ok(v)
}

fn push_json_option(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `s` as a JSON string, byte for byte as `serde_json` writes it (plans already written are
/// compared with fresh ones byte for byte), eight bytes at a time: a chunk's SQL is kilobytes
/// with a few newlines and quotes, and escaping it byte by byte was a fifth of planning.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether any byte of `w` is below 0x20, a `"` or a `\` (may say yes for a word
    // without one, never no for a word with one: such a word is escaped byte by byte).
    let special = |w: u64| {
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        (w.wrapping_sub(ONES * 0x20) & !w & HIGHS) | zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64)) != 0
    };
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut plain = 0; // bytes[plain..i] are still to copy as they are
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() && !special(u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"))) {
            i += 8;
            continue;
        }
        let end = (i + 8).min(bytes.len());
        for j in i..end {
            let b = bytes[j];
            let short: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => b"",
                _ => continue,
            };
            out.extend_from_slice(&bytes[plain..j]);
            plain = j + 1;
            if short.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            } else {
                out.extend_from_slice(short);
            }
        }
        i = end;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// The plan file's text of a plan in memory (ends with a newline).
pub fn to_text(plan: &PlanState) -> String {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out, plan.chunks.len());
    w.header(&PlanState { chunks: Vec::new(), ..plan.clone() }).expect("a plan serialises");
    for c in &plan.chunks {
        w.chunk(c.clone()).expect("a chunk serialises");
    }
    w.finish();
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build_plan, PlanRequest};

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0u32..0x100).filter_map(char::from_u32).map(|c| c.to_string()).collect();
        // Every character at every offset of an eight-byte word, among plain text and multi-byte UTF-8.
        for c in (0u8..0x80).map(char::from).chain(['é', '€', '😀']) {
            for at in 0..17 {
                let mut t: String = "SELECT x FROM t WHERE `a` = 'b'".chars().cycle().take(at).collect();
                t.push(c);
                t.push_str("ü tail of sixteen bytes\n");
                texts.push(t);
            }
        }
        texts.push(String::new());
        texts.push("\"\\\u{1}\u{1f}\u{7f}\n\r\t\u{8}\u{c}".repeat(5));
        for t in texts {
            let mut ours = Vec::new();
            push_json_string(&mut ours, &t);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&t).unwrap(), "{t:?}");
        }
    }

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
        let p = plan(3);
        let text = to_text(&p);
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

    #[test]
    fn a_chunk_line_is_what_serde_writes() {
        use crate::plan::{PlanChunk, PlanStatement};
        let st = |label: &str, sql: &str, token: Option<&str>| PlanStatement { label: label.into(), idempotency_token: token.map(Into::into), sql: sql.into() };
        let sql = "/* c */\nINSERT INTO `a`.`t` SELECT 'x\"y\\\\z' WHERE ts >= 1\tAND é";
        let mut chunks: Vec<PlanChunk> = plan(3).chunks;
        chunks[1].idempotency_token = None;
        chunks[2].sql_template = sql.into();
        chunks[2].statements = Some(vec![st("app.v1", sql, Some("t1")), st("app.v2", "other\n", None)]);
        for c in &chunks {
            let mut out = Vec::new();
            write_chunk(&mut out, c).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(c).unwrap());
        }
    }
}
