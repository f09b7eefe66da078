//! `chkit check` findings: what in the state directory should fail CI.
//! Input is a digest of each plan and its run; output is chkit's CheckResult.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckInput {
    pub fail_on_pending: bool,
    /// Names of policies set to false (`policy.requireDryRunBeforeRun`, …).
    #[serde(default)]
    pub relaxed_policies: Vec<String>,
    pub plans: Vec<PlanDigest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDigest {
    pub plan_id: String,
    pub target: String,
    /// None: planned, never run.
    pub run: Option<RunDigest>,
    /// The last `verify` of the plan found chunks that do not hold what they should.
    #[serde(default)]
    pub verification_failed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDigest {
    /// running | completed | failed | paused | cancelled
    pub status: String,
    pub failed_chunks: u64,
    /// A run recorded as `running` whose process is gone.
    #[serde(default)]
    pub orphaned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: &'static str,
    pub message: String,
    pub severity: Severity,
    pub metadata: FindingMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingMetadata {
    pub plan_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckMetadata {
    pub plans: usize,
    pub required: usize,
    pub active: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub plugin: &'static str,
    pub evaluated: bool,
    pub ok: bool,
    pub findings: Vec<Finding>,
    pub metadata: CheckMetadata,
}

fn list(plans: &[&PlanDigest]) -> String {
    plans.iter().map(|p| format!("{} ({})", p.plan_id, p.target)).collect::<Vec<_>>().join(", ")
}

fn finding(code: &'static str, severity: Severity, message: String, plans: &[&PlanDigest]) -> Finding {
    Finding {
        code,
        message,
        severity,
        metadata: FindingMetadata { plan_ids: plans.iter().map(|p| p.plan_id.clone()).collect() },
    }
}

pub fn evaluate(input: &CheckInput) -> CheckResult {
    fn status(p: &PlanDigest) -> Option<&str> {
        p.run.as_ref().map(|r| r.status.as_str())
    }
    let pending: Vec<&PlanDigest> = input.plans.iter().filter(|p| status(p) != Some("completed")).collect();
    let active: Vec<&PlanDigest> =
        input.plans.iter().filter(|p| status(p) == Some("running") && !p.run.as_ref().unwrap().orphaned).collect();
    let exhausted: Vec<&PlanDigest> =
        input.plans.iter().filter(|p| p.run.as_ref().is_some_and(|r| r.failed_chunks > 0)).collect();
    let orphaned: Vec<&PlanDigest> =
        input.plans.iter().filter(|p| p.run.as_ref().is_some_and(|r| r.orphaned)).collect();

    let mut findings = Vec::new();
    if !pending.is_empty() {
        let severity = if input.fail_on_pending { Severity::Error } else { Severity::Warn };
        findings.push(finding(
            "backfill_required_pending",
            severity,
            format!("{} backfill plan(s) not completed: {}", pending.len(), list(&pending)),
            &pending,
        ));
    }
    if !exhausted.is_empty() {
        findings.push(finding(
            "backfill_chunk_failed_retry_exhausted",
            Severity::Error,
            format!("chunks failed after all retries in {}; fix the cause, then resume", list(&exhausted)),
            &exhausted,
        ));
    }
    if !orphaned.is_empty() {
        findings.push(finding(
            "backfill_run_orphaned",
            Severity::Warn,
            format!("run(s) left running by a process that is gone: {}; resume them", list(&orphaned)),
            &orphaned,
        ));
    }
    let unverified: Vec<&PlanDigest> = input.plans.iter().filter(|p| p.verification_failed).collect();
    if !unverified.is_empty() {
        findings.push(finding(
            "backfill_verification_failed",
            Severity::Error,
            format!("the last verification found chunks that do not hold what the backfill wrote in {}; `verify --plan-id <id> --chunks` names them", list(&unverified)),
            &unverified,
        ));
    }
    if !input.relaxed_policies.is_empty() {
        findings.push(Finding {
            code: "backfill_policy_relaxed",
            message: format!("safety policies turned off: {}", input.relaxed_policies.join(", ")),
            severity: Severity::Warn,
            metadata: FindingMetadata { plan_ids: vec![] },
        });
    }
    let ok = !findings.iter().any(|f| f.severity == Severity::Error);
    CheckResult {
        plugin: "backfill",
        evaluated: true,
        ok,
        findings,
        metadata: CheckMetadata {
            plans: input.plans.len(),
            required: pending.len(),
            active: active.len(),
            failed: exhausted.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str, run: Option<(&str, u64, bool)>) -> PlanDigest {
        PlanDigest {
            plan_id: id.into(),
            target: "app.events".into(),
            run: run.map(|(s, f, o)| RunDigest { status: s.into(), failed_chunks: f, orphaned: o }),
            verification_failed: false,
        }
    }

    fn codes(r: &CheckResult) -> Vec<(&str, Severity)> {
        r.findings.iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn table_of_cases() {
        let input = |plans, fail_on_pending, relaxed: &[&str]| CheckInput {
            fail_on_pending,
            relaxed_policies: relaxed.iter().map(|s| s.to_string()).collect(),
            plans,
        };
        let empty = evaluate(&input(vec![], true, &[]));
        assert!(empty.ok && empty.findings.is_empty());

        let done = evaluate(&input(vec![plan("a", Some(("completed", 0, false)))], true, &[]));
        assert!(done.ok && done.findings.is_empty());

        let planned = evaluate(&input(vec![plan("a", None), plan("b", Some(("completed", 0, false)))], true, &[]));
        assert!(!planned.ok);
        assert_eq!(codes(&planned), [("backfill_required_pending", Severity::Error)]);
        assert_eq!(planned.findings[0].metadata.plan_ids, ["a"]);
        assert_eq!(planned.metadata.required, 1);

        let warn_only = evaluate(&input(vec![plan("a", None)], false, &["policy.failCheckOnRequiredPendingBackfill"]));
        assert!(warn_only.ok);
        assert_eq!(
            codes(&warn_only),
            [("backfill_required_pending", Severity::Warn), ("backfill_policy_relaxed", Severity::Warn)]
        );

        let failed = evaluate(&input(vec![plan("a", Some(("failed", 2, false)))], false, &[]));
        assert!(!failed.ok, "exhausted retries fail the check even when pending only warns");
        assert_eq!(failed.metadata.failed, 1);

        let orphan = evaluate(&input(vec![plan("a", Some(("running", 0, true))), plan("b", Some(("running", 0, false)))], true, &[]));
        assert_eq!(
            codes(&orphan),
            [("backfill_required_pending", Severity::Error), ("backfill_run_orphaned", Severity::Warn)]
        );
        assert_eq!(orphan.metadata.active, 1);

        let mut bad = plan("a", Some(("completed", 0, false)));
        bad.verification_failed = true;
        let verified = evaluate(&input(vec![bad, plan("b", Some(("completed", 0, false)))], true, &[]));
        assert!(!verified.ok, "a failed verification fails the check");
        assert_eq!(codes(&verified), [("backfill_verification_failed", Severity::Error)]);
        assert_eq!(verified.findings[0].metadata.plan_ids, ["a"]);
    }
}
