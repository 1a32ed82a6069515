/**
 * The schedule record kept at `schedule.<schedule_id>` in bucket `pyoco_schedules` (SPEC §14):
 * the definition (rule, flow, policies) and the dispatch state (`next_run_at`, `last_run_id`,
 * `last_status`, `skipped_slots`, the outbox of decided slots) in one value, so every change is
 * one compare-and-set on its KV revision.
 *
 * @module
 */

/** What happens to a slot while the previous run is not terminal. */
export type OverlapPolicy = "skip" | "allow" | "buffer_one";

/** Every overlap policy. */
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ["skip", "allow", "buffer_one"];

/** Run priority stored with the schedule (SPEC §13). */
export type SchedulePriority = "high" | "normal" | "low";

/** Every priority. */
export const SCHEDULE_PRIORITIES: readonly SchedulePriority[] = ["high", "normal", "low"];

/** The kind of rule: `cron`, `interval` (`interval_seconds`) or one-shot `once` (`run_at`). */
export type ScheduleType = "cron" | "interval" | "once";

/** `ACTIVE` while slots remain; `COMPLETED` after a one-shot ran or `end_at` passed. */
export type ScheduleStatus = "ACTIVE" | "COMPLETED";

/** The rule that makes slots. Exactly one of `cron`, `interval_seconds`, `run_at` is set. */
export interface ScheduleRule {
  /** Cron expression, 5 fields (minute first) or 6 (second first). */
  cron: string | null;
  /** IANA time zone of `cron` (default `UTC`). */
  timezone: string | null;
  /** Seconds between slots (whole seconds, at least 1). */
  interval_seconds: number | null;
  /** The one slot of a one-shot schedule (unix seconds). */
  run_at: number | null;
  /** No slot before this (unix seconds); the anchor of an interval. */
  start_at: number | null;
  /** No slot after this (unix seconds). */
  end_at: number | null;
}

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

/** One run a schedule submitted (newest last; the last 50 are kept). */
export interface ScheduleRunRef {
  /** Run id. */
  run_id: string;
  /** Its slot, or the trigger time of a manual trigger (unix seconds). */
  scheduled_for: number;
  /** When it was submitted (unix seconds). */
  submitted_at: number;
  /** `true` for `POST /schedules/{id}/trigger`. */
  manual?: boolean;
}

/** The whole record at `schedule.<schedule_id>`. */
export interface ScheduleRecord extends ScheduleRule {
  /** Schedule id (a UUID). */
  schedule_id: string;
  /** Flow every run runs. */
  flow_name: string;
  /** Tag (work queue) of every run. */
  tag: string;
  /** Params of every run (for a flow.yaml schedule: `flow.defaults` overlaid by `params`). */
  params: Record<string, unknown>;
  /** Priority of every run (stored; the worker honours it where SPEC §13 is in place). */
  priority: SchedulePriority;
  /** Kind of rule. */
  schedule_type: ScheduleType;
  /** Overlap policy (default `skip`). */
  overlap: OverlapPolicy;
  /** How late a missed slot may still run, in seconds (default 0: never). */
  catchup_window_sec: number;
  /** Paused schedules decide no slot. */
  paused: boolean;
  /** `ACTIVE` or `COMPLETED`. */
  status: ScheduleStatus;
  /** SHA-256 of the stored flow.yaml (`yaml.<schedule_id>`), `null` for a flow-name schedule. */
  workflow_yaml_sha256: string | null;
  /** Size of the stored flow.yaml in bytes. */
  workflow_yaml_bytes: number | null;
  /** Tenant that owns it (`null` without auth). */
  tenant_id: string | null;
  /** API key that created it. */
  api_key_id: string | null;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds. */
  updated_at: number;
  /** The next slot not yet decided (`null` when none is left). */
  next_run_at: number | null;
  /** The last run submitted. */
  last_run_id: string | null;
  /** Status of that run when last seen (`SUBMIT_FAILED` when it could not be submitted). */
  last_status: string | null;
  /** Slot of that run. */
  last_scheduled_for: number | null;
  /** Last dispatch error. */
  last_error: string | null;
  /** Slots not run: missed beyond the catch-up window, or skipped by the overlap policy. */
  skipped_slots: number;
  /** Runs submitted (slots and triggers). */
  dispatch_count: number;
  /** `buffer_one`: the slot waiting for the previous run to end. */
  buffered_slot: number | null;
  /** Decided slots not yet confirmed as submitted. */
  outbox: OutboxEntry[];
  /** Recent runs, newest last. */
  recent_runs: ScheduleRunRef[];
}

/** What the API shows of a schedule (the record without its internals). */
export type ScheduleView = Omit<ScheduleRecord, "outbox" | "recent_runs">;
