// @chkit/plugin-backfill/sdk: the backfill engine without the CLI, for scripts and
// orchestrators. Every operation takes the project's config (loadBackfillConfig, or a
// BackfillConfig built by hand) or a Session, returns the payload `--json` prints, and
// throws a BackfillError whose `code` and `exitCode` are the CLI's.
export { BackfillError } from '../core/errors.js';
export { Session, type BackfillConfig } from './session.js';
export { loadBackfillConfig } from './config.js';
export { planBackfill, type PlanInput as PlanRequest, type PlanResult } from './plan.js';
export { runBackfill, type RunHooks, type RunProgress, type RunRequest, type RunResult } from './run.js';
export { backfillStatus, type Runner, type StatusRequest, type StatusResult } from './status.js';
export { cancelBackfill, type CancelResult } from './cancel.js';
export { listBackfills, type ListResult, type PlanListing } from './list.js';
export { diagnoseBackfill, type DoctorResult, type Issue } from './doctor.js';
export { verifyBackfill, type ChunkVerdict, type VerifyRequest, type VerifyResult, type VerifySummary } from './verify.js';
export { checkBackfills, type CheckFinding, type CheckResult } from './check.js';
export type { RunPayload } from './payload.js';
export type { ChunkRow } from '../engine/chunk_rows.js';
