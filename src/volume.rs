//! Chunks sized by volume: about N rows (or N uncompressed bytes) per chunk.
//!
//! The shim counts the rows the chunks will read on a grid of
//! `limits.minChunkMinutes` over the window (one `GROUP BY` on the time column,
//! `distribution_sql`) and, for bytes, reads the tables' uncompressed size
//! (`row_size_sql`). This module cuts the grid into chunks: whole cells,
//! consecutive, covering the window, each as close to the target as the grid
//! allows. The cut is pure, so the same counts give the same boundaries.

use crate::error::{CoreError, CoreResult};
use crate::sql::{self, TableRef};
use crate::window::{Window, HOUR_MS};

const MINUTE_MS: i64 = HOUR_MS / 60;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// What a chunk is sized by, besides hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Sizing {
    /// Rows the chunk reads.
    Rows(u64),
    /// Uncompressed bytes of the rows the chunk reads.
    Bytes(u64),
}

impl Sizing {
    /// What stands where `chunkHours` stands in the plan id (`rows=500000`, `bytes=1073741824`).
    pub fn identity(&self) -> String {
        match self {
            Sizing::Rows(n) => format!("rows={n}"),
            Sizing::Bytes(n) => format!("bytes={n}"),
        }
    }
    pub fn target(&self) -> u64 {
        match self {
            Sizing::Rows(n) | Sizing::Bytes(n) => *n,
        }
    }
}

/// Largest row or byte target accepted (beyond it a number is a typo).
const MAX_TARGET: u64 = 1 << 53;

fn bad(code: &'static str, msg: String) -> CoreError {
    CoreError::usage(code, msg)
}

/// `--chunk-rows` as typed: a positive whole number.
pub fn parse_rows(raw: &str, what: &str) -> CoreResult<u64> {
    let s = raw.trim();
    let n = s.parse::<u64>().ok().filter(|n| *n > 0 && *n <= MAX_TARGET && s.bytes().all(|b| b.is_ascii_digit()));
    n.ok_or_else(|| bad("invalid_chunk_rows", format!("{what} '{raw}' must be a whole number of rows above 0")))
}

/// `--chunk-bytes` as typed: a number with an optional unit, decimal (`KB`, `MB`,
/// `GB`, `TB`: powers of 1000) or binary (`KiB`, `MiB`, `GiB`, `TiB`: powers of 1024).
pub fn parse_bytes(raw: &str, what: &str) -> CoreResult<u64> {
    let err = || {
        bad(
            "invalid_chunk_bytes",
            format!("{what} '{raw}' must be a size above 0 such as 512MB or 2GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"),
        )
    };
    let s = raw.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(err());
    }
    let n: f64 = num.parse().map_err(|_| err())?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(err()),
    };
    let bytes = (n * scale as f64).round();
    if !(bytes >= 1.0 && bytes <= MAX_TARGET as f64) {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// Cut `weights` (one per grid cell, in order) into consecutive ranges of
/// cells. A chunk closes before a cell when adding it would take the chunk
/// further from `target` than it is, when it already holds `max_cells` cells,
/// or when the cell alone is above the target (such a cell stands alone, with
/// the empty cells around it). Empty cells join the chunk before them (the
/// first chunk takes those at the start).
pub fn cut(weights: &[u64], target: u64, max_cells: usize) -> Vec<Range<usize>> {
    let target = target.max(1);
    let max_cells = max_cells.max(1);
    let mut out = Vec::new();
    let (mut start, mut sum) = (0usize, 0u64);
    for (i, &c) in weights.iter().enumerate() {
        if i > start {
            let full = i - start >= max_cells;
            let alone = sum > 0 && c > target;
            let with = sum.saturating_add(c);
            let further = c > 0 && sum > 0 && with > target && with - target >= target.saturating_sub(sum);
            if full || alone || further {
                out.push(start..i);
                start = i;
                sum = 0;
            }
        }
        sum = sum.saturating_add(c);
    }
    if start < weights.len() {
        out.push(start..weights.len());
    }
    out
}

/// The grid: cells of `grid_ms` from the window's start, the last one shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub window: Window,
    pub cell_ms: i64,
}

impl Grid {
    pub fn new(window: Window, grid_minutes: f64) -> CoreResult<Grid> {
        let cell_ms = (grid_minutes * MINUTE_MS as f64).round() as i64;
        if cell_ms <= 0 {
            return Err(bad("invalid_option", format!("limits.minChunkMinutes = {grid_minutes} rounds to no grid")));
        }
        let g = Grid { window, cell_ms };
        if g.cells() > crate::chunks::MAX_CHUNKS {
            return Err(bad(
                "too_many_chunks",
                format!(
                    "the window holds {} grid cells of limits.minChunkMinutes = {grid_minutes}, over the ceiling of {}; raise limits.minChunkMinutes",
                    g.cells(),
                    crate::chunks::MAX_CHUNKS
                ),
            ));
        }
        Ok(g)
    }
    pub fn cells(&self) -> usize {
        ((self.window.to - self.window.from + self.cell_ms - 1) / self.cell_ms) as usize
    }
    /// Where cell `i` starts (`cells()` gives the window's end).
    pub fn edge(&self, i: usize) -> i64 {
        (self.window.from + i as i64 * self.cell_ms).min(self.window.to)
    }
    pub fn window_of(&self, r: &Range<usize>) -> Window {
        Window { from: self.edge(r.start), to: self.edge(r.end) }
    }
}

/// Rows per grid cell of one table the chunks read, as the distribution query returned them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableCounts {
    /// `db.table` as displayed.
    pub table: String,
    /// `[cell, rows]` pairs; cells without rows may be left out.
    pub cells: Vec<(u64, u64)>,
    /// `--chunk-bytes`: the table's uncompressed bytes and rows (`row_size_sql`).
    #[serde(default)]
    pub size: Option<TableSize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableSize {
    pub bytes: u64,
    pub rows: u64,
}

/// Rows per cell for each table, in the order given, checked against the grid.
pub fn rows_per_cell(grid: &Grid, tables: &[TableCounts]) -> CoreResult<Vec<Vec<u64>>> {
    let n = grid.cells();
    tables
        .iter()
        .map(|t| {
            let mut rows = vec![0u64; n];
            for &(cell, count) in &t.cells {
                let slot = rows.get_mut(cell as usize).ok_or_else(|| {
                    CoreError::runtime("invalid_distribution", format!("the distribution of {} has cell {cell}, past the window's {n} cells", t.table))
                })?;
                *slot = slot.saturating_add(count);
            }
            Ok(rows)
        })
        .collect()
}

/// Average uncompressed bytes per row of a table (`--chunk-bytes`).
pub fn row_bytes(t: &TableCounts) -> CoreResult<f64> {
    match &t.size {
        Some(s) if s.rows > 0 && s.bytes > 0 => Ok(s.bytes as f64 / s.rows as f64),
        _ => Err(bad(
            "size_unknown",
            format!(
                "--chunk-bytes needs the uncompressed size of {}'s rows, and system.parts/system.columns report none for it (not a MergeTree table, or no parts yet); use --chunk-rows",
                t.table
            ),
        )),
    }
}

/// Rows per cell of the window, on the time column, reading nothing else.
/// Cell = whole `cell_ms` steps from the window's start (in UTC milliseconds).
pub fn distribution_sql(table: &TableRef, time_column: &str, grid: &Grid) -> String {
    let c = sql::quote_ident(time_column);
    format!(
        "SELECT intDiv(toUnixTimestamp64Milli(toDateTime64({c}, 3, 'UTC')) - {from}, {step}) AS cell, count() AS rows\nFROM {t}\nWHERE {pred}\nGROUP BY cell\nORDER BY cell\n{settings}",
        from = grid.window.from,
        step = grid.cell_ms,
        t = table.quoted(),
        pred = sql::window_predicate(time_column, grid.window),
        // The read tables' replication is not known here: no sequential-consistency demand.
        settings = sql::exact_read_settings(false),
    )
}

/// Uncompressed bytes of the columns a chunk reads (all, when `columns` is None)
/// and the rows of the table's active parts: one row `{bytes, rows}`.
pub fn row_size_sql(table: &TableRef, columns: Option<&[String]>) -> String {
    let (db, t) = (sql::quote_string(&table.database), sql::quote_string(&table.table));
    let names = match columns {
        Some(cols) => format!(" AND name IN ({})", cols.iter().map(|c| sql::quote_string(c)).collect::<Vec<_>>().join(", ")),
        None => String::new(),
    };
    format!(
        "SELECT (SELECT sum(data_uncompressed_bytes) FROM system.columns WHERE database = {db} AND table = {t}{names}) AS bytes, \
         (SELECT sum(rows) FROM system.parts WHERE active AND database = {db} AND table = {t}) AS rows"
    )
}

/// What a volume-sized plan records in its header: how it was sized, the grid,
/// the boundaries it cut and what each chunk is expected to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeHeader {
    pub sizing: Sizing,
    /// The grid the counts were taken on (`limits.minChunkMinutes` at plan time).
    pub grid_minutes: f64,
    /// `limits.maxChunkHours` at plan time: no chunk spans more.
    pub max_chunk_hours: f64,
    /// Where each chunk but the last ends (ISO instants, on the grid): chunk `i` is
    /// `[boundaries[i-1] (or from), boundaries[i] (or to))`.
    pub boundaries: Vec<String>,
    /// Rows each chunk reads, summed over the tables it reads.
    pub expected_rows: Vec<u64>,
    /// `bytes` sizing: uncompressed bytes each chunk reads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_bytes: Option<Vec<u64>>,
}

/// The chunk windows a volume header records, checked: boundaries strictly inside the
/// window, increasing, on its grid, with one expected count per chunk. Err: what is wrong.
pub fn header_windows(w: Window, v: &VolumeHeader) -> Result<Vec<Window>, String> {
    let cell_ms = (v.grid_minutes * MINUTE_MS as f64).round() as i64;
    if !(v.grid_minutes.is_finite() && cell_ms > 0) {
        return Err(format!("its grid of {} minutes is not one `plan` writes", v.grid_minutes));
    }
    let mut edges = Vec::with_capacity(v.boundaries.len() + 2);
    edges.push(w.from);
    for b in &v.boundaries {
        let ms = crate::window::parse_instant(b, "boundary").map_err(|_| format!("its boundary {b} is not an instant"))?;
        if crate::window::format_instant(ms) != *b || (ms - w.from) % cell_ms != 0 {
            return Err(format!("its boundary {b} is not on its {}-minute grid", v.grid_minutes));
        }
        if ms <= *edges.last().expect("from") || ms >= w.to {
            return Err(format!("its boundary {b} is out of order or outside the window"));
        }
        edges.push(ms);
    }
    edges.push(w.to);
    let n = edges.len() - 1;
    if v.expected_rows.len() != n || v.expected_bytes.as_ref().is_some_and(|b| b.len() != n) {
        return Err(format!("its boundaries make {n} chunks but it expects rows for {}", v.expected_rows.len()));
    }
    Ok(edges.windows(2).map(|e| Window { from: e[0], to: e[1] }).collect())
}

/// min / median / max of the expected rows, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    pub min: u64,
    pub median: u64,
    pub max: u64,
    pub total: u64,
}

pub fn spread(values: &[u64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_unstable();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Spread { min: at(0), median: at(v.len() / 2), max: at(v.len().saturating_sub(1)), total: v.iter().sum() }
}

/// `1234567` → `1.23 M` (the histogram's and warnings' numbers).
pub fn human(n: u64) -> String {
    let x = n as f64;
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if x >= scale {
            let v = x / scale;
            return if v >= 100.0 { format!("{v:.0} {suffix}") } else if v >= 10.0 { format!("{v:.1} {suffix}") } else { format!("{v:.2} {suffix}") };
        }
    }
    n.to_string()
}

/// Bars that fit 80 columns.
const BAR: usize = 50;
/// At most this many bars: more chunks are grouped, a bar showing the group's largest.
const BARS: usize = 24;

/// Expected rows per chunk as bars, one per chunk or per group of consecutive chunks,
/// each line under 80 columns.
pub fn histogram(rows: &[u64]) -> Vec<String> {
    if rows.is_empty() {
        return Vec::new();
    }
    let per = rows.len().div_ceil(BARS);
    let groups: Vec<(usize, usize, u64)> = rows.chunks(per).enumerate().map(|(g, c)| (g * per + 1, g * per + c.len(), *c.iter().max().expect("non-empty"))).collect();
    let top = groups.iter().map(|g| g.2).max().unwrap_or(0).max(1);
    let label_width = groups.iter().map(|(a, b, _)| if a == b { a.to_string().len() } else { format!("{a}-{b}").len() }).max().unwrap_or(1);
    groups
        .iter()
        .map(|&(a, b, v)| {
            let label = if a == b { a.to_string() } else { format!("{a}-{b}") };
            let len = if v == 0 { 0 } else { ((v as f64 / top as f64) * BAR as f64).round().max(1.0) as usize };
            format!("  {label:>label_width$} {:<BAR$} {}", "█".repeat(len), human(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_bytes("512MB", "--chunk-bytes").unwrap(), 512_000_000);
        assert_eq!(parse_bytes("2GiB", "--chunk-bytes").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1.5 kb", "--chunk-bytes").unwrap(), 1500);
        assert_eq!(parse_bytes("4096", "--chunk-bytes").unwrap(), 4096);
        for bad in ["0", "-1", "12XB", "", "GB", "1.", ".5GB", "1e9", "0.1B", "1 2MB"] {
            let e = parse_bytes(bad, "--chunk-bytes").unwrap_err();
            assert_eq!(e.code, "invalid_chunk_bytes", "{bad}");
        }
        assert_eq!(parse_rows(" 500000 ", "--chunk-rows").unwrap(), 500_000);
        for bad in ["0", "-1", "1.5", "1e6", "", "x", "+5"] {
            assert_eq!(parse_rows(bad, "--chunk-rows").unwrap_err().code, "invalid_chunk_rows", "{bad}");
        }
        assert_eq!(Sizing::Rows(500000).identity(), "rows=500000");
        assert_eq!(Sizing::Bytes(1073741824).identity(), "bytes=1073741824");
    }

    /// Property: for many skewed distributions, targets and limits, the chunks are whole
    /// cells, consecutive, cover every cell once, hold at most `max_cells`, and each is as
    /// close to the target as one cell more or less would make it; the cut is deterministic.
    #[test]
    fn cuts_tile_the_grid_and_stay_near_the_target() {
        let mut next = rng(0x9e3779b97f4a7c15);
        for round in 0..3000 {
            let n = 1 + (next() % 400) as usize;
            let weights: Vec<u64> = (0..n)
                .map(|i| match next() % 10 {
                    0..=2 => 0,                                  // empty stretches
                    3 => next() % 100_000,                      // spikes
                    _ => (i as u64 * 50 / n as u64 + 1) * (next() % 100), // growth
                })
                .collect();
            let target = 1 + next() % 20_000;
            let max_cells = 1 + (next() % 60) as usize;
            let chunks = cut(&weights, target, max_cells);
            assert_eq!(chunks, cut(&weights, target, max_cells), "deterministic");
            assert_eq!(chunks.first().unwrap().start, 0);
            assert_eq!(chunks.last().unwrap().end, n);
            for pair in chunks.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "round {round}: no gap, no overlap");
            }
            for (k, r) in chunks.iter().enumerate() {
                assert!(r.start < r.end && r.len() <= max_cells, "round {round}: {r:?}");
                let sum: u64 = weights[r.clone()].iter().sum();
                let big = weights[r.clone()].iter().filter(|w| **w > target).count();
                assert!(big <= 1, "a cell above the target stands alone");
                if big == 1 {
                    assert_eq!(weights[r.clone()].iter().filter(|w| **w > 0).count(), 1, "round {round}: only empty cells join a big one");
                }
                if k + 1 < chunks.len() && r.len() < max_cells {
                    // Closed before the next cell: taking it would not have been closer.
                    let next_w = weights[r.end];
                    let d = |x: u64| x.abs_diff(target);
                    assert!(next_w > target || d(sum) <= d(sum + next_w) || sum == 0, "round {round}: chunk {k} {sum} + {next_w} vs {target}");
                }
                if big == 0 && sum > target {
                    // Its last non-empty cell made it closer than without it.
                    let last = *weights[r.clone()].iter().rev().find(|w| **w > 0).unwrap();
                    assert!(sum - target < target - (sum - last) || sum - last == 0, "round {round}: chunk {k}");
                }
            }
        }
    }

    #[test]
    fn empty_stretches_merge_and_spikes_stand_alone() {
        // Quiet start, a busy middle, a spike, an empty tail.
        let w = [0, 0, 5, 5, 5, 5, 0, 0, 50, 0, 4, 0, 0, 0];
        let c = cut(&w, 10, 100);
        assert_eq!(c, vec![0..4, 4..8, 8..10, 10..14]);
        // The tail stops at max_cells.
        assert_eq!(cut(&[0; 10], 10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(cut(&[], 10, 4), Vec::<Range<usize>>::new());
    }

    #[test]
    fn grid_edges_cover_the_window() {
        let g = Grid::new(Window { from: 1000, to: 1000 + 3 * 15 * MINUTE_MS + 7 }, 15.0).unwrap();
        assert_eq!(g.cells(), 4);
        assert_eq!(g.edge(4), g.window.to);
        assert_eq!(g.window_of(&(1..3)), Window { from: 1000 + 15 * MINUTE_MS, to: 1000 + 45 * MINUTE_MS });
        let t = TableCounts { table: "a.b".into(), cells: vec![(0, 3), (3, 4)], size: None };
        assert_eq!(rows_per_cell(&g, &[t]).unwrap(), vec![vec![3, 0, 0, 4]]);
        let t = TableCounts { table: "a.b".into(), cells: vec![(4, 1)], size: None };
        assert_eq!(rows_per_cell(&g, &[t]).unwrap_err().code, "invalid_distribution");
    }

    #[test]
    fn queries_read_the_time_column_only() {
        let t = TableRef { database: "app".into(), table: "events".into() };
        let g = Grid::new(Window { from: 0, to: 60 * MINUTE_MS }, 15.0).unwrap();
        let q = distribution_sql(&t, "ts", &g);
        assert_eq!(
            q,
            "SELECT intDiv(toUnixTimestamp64Milli(toDateTime64(`ts`, 3, 'UTC')) - 0, 900000) AS cell, count() AS rows\nFROM `app`.`events`\n\
             WHERE `ts` >= toDateTime64('1970-01-01 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('1970-01-01 01:00:00.000', 3, 'UTC')\n\
             GROUP BY cell\nORDER BY cell\nSETTINGS enable_parallel_replicas=0, max_parallel_replicas=1"
        );
        let s = row_size_sql(&t, Some(&["a'b".to_string()]));
        assert!(s.contains("name IN ('a\\'b')") && s.contains("system.parts WHERE active AND database = 'app' AND table = 'events'"), "{s}");
        assert_eq!(spread(&[5, 1, 9, 3]), Spread { min: 1, median: 5, max: 9, total: 18 });
    }

    #[test]
    fn histogram_fits_80_columns() {
        assert_eq!(human(999), "999");
        assert_eq!(human(1_234_567), "1.23 M");
        assert_eq!(human(512_000_000), "512 M");
        let few = histogram(&[10, 0, 5]);
        assert_eq!(few.len(), 3);
        assert!(few[0].starts_with("  1 ") && few[0].ends_with(" 10") && few[0].contains(&"█".repeat(50)));
        assert!(!few[1].contains('█'));
        let many: Vec<u64> = (0..1000u64).map(|i| i * i).collect();
        let h = histogram(&many);
        assert!(h.len() <= 24, "{}", h.len());
        assert!(h[0].trim_start().starts_with("1-42 "), "{}", h[0]);
        for line in &h {
            assert!(line.chars().count() <= 80, "{line}");
        }
        assert!(h.last().unwrap().ends_with(&human(999 * 999)));
    }
}
