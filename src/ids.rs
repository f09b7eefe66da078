//! Deterministic ids: the same inputs give the same plan, chunk ids, tokens
//! and query ids on every machine, so re-planning and retries line up.

use sha2::{Digest, Sha256};

fn sha256_hex(input: &str) -> String {
    hex(&Sha256::digest(input.as_bytes()))
}

/// Lower-case hex without a `format!` per byte (plans hash every chunk).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// sha256 of the parts joined by `|`, hashed as they are (planning hashes every chunk twice:
/// no string is built to hash it).
fn sha256_joined(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            h.update(b"|");
        }
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// `chkit-` + the hex of `digest`'s bytes (32 hex digits from 16 bytes).
fn token_of(digest: &[u8]) -> String {
    let mut s = String::with_capacity(6 + 2 * digest.len());
    s.push_str("chkit-");
    push_hex(&mut s, digest);
    s
}

fn hex16(input: &str) -> String {
    sha256_hex(input)[..16].to_string()
}

/// JavaScript's `String(n)` for the numbers chunkHours can take (`6`, `0.25`).
pub fn js_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// What the plan id is hashed from; the parts are the plan's identity.
pub struct PlanIdentity<'a> {
    pub target: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// `chunkHours` as JavaScript prints it (`6`, `0.25`), or a volume sizing (`rows=500000`).
    pub chunking: &'a str,
    pub time_column: &'a str,
    /// `copy` plans only: the source table.
    pub source: Option<&'a str>,
    pub env_fingerprint: Option<&'a str>,
}

/// First 16 hex of sha256(`target|from|to|chunkHours|timeColumn[|source][|envFingerprint]`),
/// with `rows=N` / `bytes=N` for chunkHours in a volume-sized plan.
pub fn plan_id(p: &PlanIdentity) -> String {
    let mut s = format!("{}|{}|{}|{}|{}", p.target, p.from, p.to, p.chunking, p.time_column);
    if let Some(src) = p.source {
        s.push('|');
        s.push_str(src);
    }
    if let Some(fp) = p.env_fingerprint {
        s.push('|');
        s.push_str(fp);
    }
    hex16(&s)
}

/// First 16 hex of sha256(`<url origin>|<database>`).
pub fn env_fingerprint(origin: &str, database: &str) -> String {
    hex16(&format!("{origin}|{database}"))
}

pub fn chunk_id(plan_id: &str, from: &str, to: &str) -> String {
    chunk_ids(plan_id, from, to).0
}

/// A chunk's id and its single-statement token from one hash (planning hashes every chunk):
/// the first 16 hex of sha256(`chunk|plan|from|to`) and `chkit-` + the next 32.
pub fn chunk_ids(plan_id: &str, from: &str, to: &str) -> (String, String) {
    let h = sha256_joined(&["chunk", plan_id, from, to]);
    (hex(&h[..8]), token_of(&h[8..24]))
}

/// The token of one view's statement in a chunk: several views into one target each need
/// their own, or the second view's blocks would be dropped as duplicates of the first's.
pub fn view_token(plan_id: &str, chunk_id: &str, view: &str) -> String {
    token_of(&sha256_joined(&["token", plan_id, chunk_id, view])[..16])
}

/// The server-side query id of one attempt of one statement of a chunk; known
/// before the query is sent, so a crashed attempt can be looked up or killed.
pub fn query_id(plan_id: &str, chunk_id: &str, attempt: u32, statement_index: usize) -> String {
    format!("chkit-backfill-{plan_id}-{chunk_id}-a{attempt}-s{statement_index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_id_formula() {
        let id = plan_id(&PlanIdentity {
            target: "app.events",
            from: "2025-01-01T00:00:00.000Z",
            to: "2025-02-01T00:00:00.000Z",
            chunking: "6",
            time_column: "event_time",
            source: None,
            env_fingerprint: None,
        });
        let want = &sha256_hex("app.events|2025-01-01T00:00:00.000Z|2025-02-01T00:00:00.000Z|6|event_time")[..16];
        assert_eq!(id, want);
        assert_eq!(id.len(), 16);
    }

    #[test]
    fn numbers_print_like_js() {
        assert_eq!(js_number(6.0), "6");
        assert_eq!(js_number(0.25), "0.25");
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn tokens_differ_per_chunk_and_view() {
        let (id, a) = chunk_ids("p", "f", "t");
        assert_eq!((id.clone(), a.clone()), chunk_ids("p", "f", "t"));
        assert_eq!(id, chunk_id("p", "f", "t"));
        assert_eq!((id.len(), a.len()), (16, 38));
        assert_ne!(a, chunk_ids("p", "f", "u").1);
        assert_ne!(view_token("p", &id, "v1"), view_token("p", &id, "v2"));
        assert_ne!(view_token("p", &id, "v1"), a);
    }

    #[test]
    fn ids_are_the_documented_hashes() {
        let h = sha256_hex("chunk|0123456789abcdef|2025-01-01T00:00:00.000Z|2025-01-01T06:00:00.000Z");
        let (id, token) = chunk_ids("0123456789abcdef", "2025-01-01T00:00:00.000Z", "2025-01-01T06:00:00.000Z");
        assert_eq!((id.as_str(), token), (&h[..16], format!("chkit-{}", &h[16..48])));
        let t = sha256_hex("token|0123456789abcdef|54c3ffdd7d0013c8|app.hourly_mv");
        assert_eq!(view_token("0123456789abcdef", "54c3ffdd7d0013c8", "app.hourly_mv"), format!("chkit-{}", &t[..32]));
    }
}
