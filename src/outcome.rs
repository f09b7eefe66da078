//! What a window's count says of a chunk's attempt: the driver counts, this decides, and words
//! the stop for an operator where only a person can resolve it (every such text says what to
//! do, and following it is tested).

use serde::{Deserialize, Serialize};

use crate::run_state::Baseline;

/// A count's verdict on a chunk that settles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Its rows are in the window: `recovered` when found so before sending anything.
    Succeeded {
        rows: u64,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// Neither: a person must look (the chunk fails and waits for `--replay-failed`).
    StopForOperator {
        #[serde(rename = "type")]
        ty: &'static str,
        message: String,
    },
}

/// How the rows one INSERT wrote are learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsBy {
    /// The server's reply to the INSERT (its summary over HTTP).
    Reply,
    /// The window's count after it, batched with other chunks' (`table`, `copy`).
    WindowCount,
    /// The embedded engine's insert counters around it (`sql::rows_from_counters`).
    Counters,
    /// The target's parts before and after it (`sql::parts_rows_after`).
    Parts,
}

/// What decides `rows_by` for one statement of an attempt.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsertFacts {
    /// The embedded engine, which replies to an INSERT without its rows.
    pub embedded: bool,
    /// The chunk's window is counted after its insert.
    pub window_counted: bool,
    /// The engine's counters are this process's alone, the target's guarantees let them tell
    /// an insert's rows, and no insert of this run has fed a view.
    pub counters: bool,
    /// The chunk has one statement (with several, the counters cannot tell whose rows).
    pub single_statement: bool,
    /// The chunk's first attempt: nothing of an earlier one can be in the counters' reading.
    pub first_attempt: bool,
    /// Sent again without deduplication on its token (`sql::without_deduplication`).
    pub resent: bool,
}

/// How the rows an INSERT wrote are learned: the reply or the window count where there is one,
/// the counters where they can tell, else the parts.
pub fn rows_by(f: InsertFacts) -> RowsBy {
    if f.window_counted {
        RowsBy::WindowCount
    } else if !f.embedded {
        RowsBy::Reply
    } else if f.counters && f.single_statement && f.first_attempt && !f.resent {
        RowsBy::Counters
    } else {
        RowsBy::Parts
    }
}

/// Before an attempt that follows one that may have written (a crash, a failure): the window
/// holds `seen` rows where it held `verify.before` before the first attempt. None: none of the
/// chunk's rows are there, it may be sent.
pub fn judge_recount(chunk_id: &str, seen: u64, verify: Baseline) -> Option<Verdict> {
    let Baseline { before, expected } = verify;
    if seen == before + expected {
        return Some(Verdict::Succeeded { rows: expected, recovered: true });
    }
    if seen == before {
        return None;
    }
    Some(Verdict::StopForOperator {
        ty: "UNKNOWN_OUTCOME",
        message: format!(
            "chunk {chunk_id}: the window holds {seen} rows in the target; before the first attempt it held {before} \
             and one execution adds {expected}. An earlier attempt wrote part of its rows (or something else writes to this window): \
             repair the window (back to its {before} rows, or to {} with this chunk's rows complete), then resume \
             with --replay-failed: it counts the window again and inserts only at {before}",
            before + expected
        ),
    })
}

/// After the chunk's INSERT returned: the window holds `seen` rows. Where counts are exact
/// (no merges fold rows), never a chunk done that did not add its rows (a dropped or partial insert).
pub fn judge_inserted(chunk_id: &str, seen: u64, baseline: Baseline, exact_counts: bool) -> Verdict {
    let Baseline { before, expected } = baseline;
    let gained = seen as i128 - before as i128;
    if exact_counts && gained == 0 && expected > 0 {
        return Verdict::StopForOperator {
            ty: "INSERT_DROPPED",
            message: format!(
                "chunk {chunk_id}: the INSERT returned but added none of its {expected} rows: the target dropped it, most likely as a \
                 duplicate (its deduplication log holds this chunk's token from an earlier insert); `doctor` says how to replay it"
            ),
        };
    }
    if exact_counts && gained != expected as i128 {
        return Verdict::StopForOperator {
            ty: "UNKNOWN_OUTCOME",
            message: format!(
                "chunk {chunk_id}: the INSERT returned, but the window gained {gained} rows where one execution adds {expected}: \
                 something else writes to the window; remove the rows that are not this chunk's (leaving {}), \
                 then resume with --replay-failed: it counts the window again and, finding this chunk's rows there, does not insert them twice",
                before + expected
            ),
        };
    }
    Verdict::Succeeded { rows: seen.saturating_sub(before), recovered: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Baseline = Baseline { before: 10, expected: 5 };

    #[test]
    fn a_recount_finds_the_chunk_applied_untouched_or_partial() {
        assert_eq!(judge_recount("c", 15, B), Some(Verdict::Succeeded { rows: 5, recovered: true }));
        assert_eq!(judge_recount("c", 10, B), None);
        let Some(Verdict::StopForOperator { ty, message }) = judge_recount("c", 12, B) else { panic!() };
        assert_eq!(ty, "UNKNOWN_OUTCOME");
        assert!(message.contains("holds 12 rows") && message.contains("back to its 10 rows, or to 15") && message.contains("--replay-failed"), "{message}");
    }

    #[test]
    fn after_an_insert_the_window_gained_its_rows_none_or_other_rows() {
        assert_eq!(judge_inserted("c", 15, B, true), Verdict::Succeeded { rows: 5, recovered: false });
        assert!(matches!(judge_inserted("c", 10, B, true), Verdict::StopForOperator { ty: "INSERT_DROPPED", .. }));
        let Verdict::StopForOperator { ty, message } = judge_inserted("c", 17, B, true) else { panic!() };
        assert_eq!(ty, "UNKNOWN_OUTCOME");
        assert!(message.contains("gained 7 rows") && message.contains("leaving 15"), "{message}");
        // Fewer rows than before the insert: a negative gain, said as such.
        let Verdict::StopForOperator { message, .. } = judge_inserted("c", 8, B, true) else { panic!() };
        assert!(message.contains("gained -2 rows"), "{message}");
        // Merges fold rows: the count cannot judge, the rows are what it shows.
        assert_eq!(judge_inserted("c", 12, B, false), Verdict::Succeeded { rows: 2, recovered: false });
        // … and a merge may leave fewer than before: none added that the count can show.
        assert_eq!(judge_inserted("c", 7, B, false), Verdict::Succeeded { rows: 0, recovered: false });
        // An empty window stays empty: nothing was to be added.
        assert_eq!(judge_inserted("c", 10, Baseline { before: 10, expected: 0 }, true), Verdict::Succeeded { rows: 0, recovered: false });
    }

    #[test]
    fn how_an_inserts_rows_are_learned() {
        let f = InsertFacts { embedded: true, window_counted: false, counters: true, single_statement: true, first_attempt: true, resent: false };
        assert_eq!(rows_by(f), RowsBy::Counters);
        assert_eq!(rows_by(InsertFacts { window_counted: true, ..f }), RowsBy::WindowCount);
        assert_eq!(rows_by(InsertFacts { embedded: false, ..f }), RowsBy::Reply);
        assert_eq!(rows_by(InsertFacts { embedded: false, window_counted: true, ..f }), RowsBy::WindowCount);
        for g in [
            InsertFacts { counters: false, ..f },
            InsertFacts { single_statement: false, ..f },
            InsertFacts { first_attempt: false, ..f },
            InsertFacts { resent: true, ..f },
        ] {
            assert_eq!(rows_by(g), RowsBy::Parts, "{g:?}");
        }
    }
}
