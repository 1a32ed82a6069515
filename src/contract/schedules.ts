/**
 * Schedules on the wire (SPEC §14): what `GET /schedules`, `GET /schedules/{id}`,
 * `POST /schedules/{id}/trigger` and `GET /schedules/{id}/runs` answer. Shared by the gateway's
 * schedule service (`src/runs/schedules/`) and the client, so the two cannot drift.
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

/** A schedule as the API shows it: its definition and its dispatch state. */
export interface ScheduleView extends ScheduleRule {
  /** Schedule id (a UUID). */
  schedule_id: string;
  /** Flow every run runs. */
  flow_name: string;
  /** Tag (work queue) of every run. */
  tag: string;
  /** Params of every run (for a flow.yaml schedule: `flow.defaults` overlaid by `params`). */
  params: Record<string, unknown>;
  /** Priority of every run. */
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
  /** SHA-256 of the stored flow.yaml, `null` for a flow-name schedule. */
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
}

/** One row of `GET /schedules/{id}/runs`: a run the schedule submitted, as it is now. */
export interface ScheduleRunRow extends ScheduleRunRef {
  /** The run's status now (`null` when the run is gone, e.g. deleted). */
  status: string | null;
  /** Flow name. */
  flow_name: string;
  /** Last snapshot write, when the run exists. */
  updated_at: number | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/** The answer of `POST /schedules/{id}/trigger`: the run it submitted now. */
export interface ScheduleTriggerResponse {
  /** The new run. */
  run_id: string;
  /** Always `PENDING`. */
  status: "PENDING";
  /** The schedule. */
  schedule_id: string;
  /** The trigger time (unix seconds), recorded as the run's `scheduled_for`. */
  scheduled_for: number;
}
