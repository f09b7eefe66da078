//! Cutting a window into consecutive half-open chunks.

use crate::error::{CoreError, CoreResult};
use crate::window::{Window, HOUR_MS};

/// Hard ceiling on the number of chunks in one plan (the plan file and the
/// run state grow with it).
pub const MAX_CHUNKS: usize = 1_000_000;

pub fn chunk_ms(chunk_hours: f64) -> i64 {
    (chunk_hours * HOUR_MS as f64).round() as i64
}

/// Consecutive `[from, to)` slices of `chunk_hours`, the last one shorter:
/// they cover the window exactly, with no gap and no overlap.
pub fn build_chunks(w: Window, chunk_hours: f64) -> CoreResult<Vec<Window>> {
    let step = chunk_ms(chunk_hours);
    if step <= 0 {
        return Err(CoreError::usage("invalid_chunk_hours", "chunk length rounds to zero milliseconds"));
    }
    let count = ((w.to - w.from) + step - 1) / step;
    if count as usize > MAX_CHUNKS {
        return Err(CoreError::usage(
            "too_many_chunks",
            format!("the window would be cut into {count} chunks, over the ceiling of {MAX_CHUNKS}; use larger --chunk-hours"),
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut from = w.from;
    while from < w.to {
        let to = (from + step).min(w.to);
        out.push(Window { from, to });
        from = to;
    }
    Ok(out)
}

/// Widen `[min, max]` of the data to whole chunks aligned on `chunk_hours`
/// from the Unix epoch, so the implicit window is reproducible.
pub fn widen_to_chunks(min: i64, max_inclusive: i64, chunk_hours: f64) -> Window {
    let step = chunk_ms(chunk_hours);
    let from = min.div_euclid(step) * step;
    let to = (max_inclusive.div_euclid(step) + 1) * step;
    Window { from, to }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Property: for many windows and chunk lengths the chunks tile the window.
    #[test]
    fn chunks_tile_the_window() {
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let from = (next() % 2_000_000_000_000) as i64;
            let len = 1 + (next() % (40 * 24 * HOUR_MS as u64)) as i64;
            let hours = [0.25, 0.5, 1.0, 1.5, 6.0, 24.0, 0.3][(next() % 7) as usize];
            let w = Window { from, to: from + len };
            let chunks = build_chunks(w, hours).unwrap();
            assert_eq!(chunks.first().unwrap().from, w.from);
            assert_eq!(chunks.last().unwrap().to, w.to);
            for pair in chunks.windows(2) {
                assert_eq!(pair[0].to, pair[1].from, "no gap, no overlap");
            }
            for (i, c) in chunks.iter().enumerate() {
                assert!(c.from < c.to);
                if i + 1 < chunks.len() {
                    assert_eq!(c.to - c.from, chunk_ms(hours));
                } else {
                    assert!(c.to - c.from <= chunk_ms(hours));
                }
            }
        }
    }

    #[test]
    fn widen() {
        let w = widen_to_chunks(HOUR_MS * 7 + 5, HOUR_MS * 13, 6.0);
        assert_eq!(w, Window { from: HOUR_MS * 6, to: HOUR_MS * 18 });
    }
}
