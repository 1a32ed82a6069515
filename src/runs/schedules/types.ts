/**
 * The schedule record kept at `schedule.<schedule_id>` in bucket `pyoco_schedules` (SPEC §14):
 * the definition (rule, flow, policies) and the dispatch state (`next_run_at`, `last_run_id`,
 * `last_status`, `skipped_slots`, the outbox of decided slots) in one value, so every change is
 * one compare-and-set on its KV revision.
 *
 * @module
 */

import type { ScheduleRunRef, ScheduleView } from "../../contract/schedules.ts";

// The wire shapes live in src/contract/ (the client reads them too); re-exported here so the
// schedule service keeps one import.
export { OVERLAP_POLICIES, SCHEDULE_PRIORITIES } from "../../contract/schedules.ts";
export type {
  OverlapPolicy,
  SchedulePriority,
  ScheduleRule,
  ScheduleRunRef,
  ScheduleStatus,
  ScheduleType,
  ScheduleView,
} from "../../contract/schedules.ts";

/** A decided slot waiting to be submitted (or being submitted). */
export interface OutboxEntry {
  /** The slot (unix seconds). */
  slot: number;
  /** The run id this slot gets (derived from the schedule id and the slot). */
  run_id: string;
  /** When it was decided (unix seconds). */
  decided_at: number;
  /** Gateway that decided it; others take over only after the lease. */
  owner: string;
}

/** The whole record at `schedule.<schedule_id>`: the API's view plus its internals. */
export interface ScheduleRecord extends ScheduleView {
  /** Decided slots not yet confirmed as submitted. */
  outbox: OutboxEntry[];
  /** Recent runs, newest last. */
  recent_runs: ScheduleRunRef[];
}
