/**
 * What the schedule routes do, as domain operations: create (JSON or flow.yaml), change,
 * trigger a run now, list a schedule's runs; and the one submit every schedule run goes
 * through (`submitScheduledRun`: the run carries `schedule_id` and `scheduled_for`).
 *
 * @module
 */

import { type Config, runKey } from "../../config.ts";
import type { RunSnapshot } from "../../contract/wire.ts";
import { isTerminal, nowSec } from "../../contract/wire.ts";
import type { Logger } from "../../log.ts";
import { natsCall, type RunsBackend } from "../backend.ts";
import { InvalidRequestError } from "../errors.ts";
import type { Principal } from "../principal.ts";
import type { ReadScope } from "../reads.ts";
import { type SubmitBackend, submitRun, type YamlSubmission } from "../submit.ts";
import { nextSlot } from "./rules.ts";
import type { ScheduleStore } from "./store.ts";
import type { ScheduleRecord, ScheduleRunRef } from "./types.ts";
import type { SchedulePatch, ScheduleSpec } from "./validate.ts";

/** How many recent runs a schedule remembers (served by `GET /schedules/{id}/runs`). */
export const RECENT_RUNS_KEPT = 50;

/** What the operations need. */
export interface ScheduleContext {
  /** The schedule store. */
  store: ScheduleStore;
  /** The NATS side (submits and run reads). */
  backend: SubmitBackend & Pick<RunsBackend, "runs" | "timeoutMs">;
  /** The configuration. */
  config: Config;
  /** Where submits are logged. */
  logger: Logger;
}

/**
 * The run id of a schedule slot: derived from the schedule id and the slot (SHA-256, UUID
 * layout), so every gateway that dispatches the slot names the same run.
 *
 * @param scheduleId The schedule id.
 * @param slot The slot (whole unix seconds).
 * @returns The run id.
 */
export async function slotRunId(scheduleId: string, slot: number): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${scheduleId}:${slot}`)),
  );
  const hex = [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

/**
 * Build a new record from a validated spec: the interval anchor (`start_at`, else now plus one
 * interval) and the first slot.
 *
 * @param spec The validated request.
 * @param options Caller, flow.yaml, the current time.
 * @returns The record.
 * @throws {InvalidRequestError} When the rule makes no slot (e.g. `end_at` before the first).
 */
export function buildRecord(
  spec: ScheduleSpec,
  options: { principal: Principal | null; yaml?: YamlSubmission; now: number },
): ScheduleRecord {
  const { now } = options;
  const rule = { ...spec.rule };
  if (rule.interval_seconds !== null && rule.start_at === null) {
    rule.start_at = Math.floor(now) + rule.interval_seconds;
  }
  const first = nextSlot(rule, now);
  if (first === null) {
    throw new InvalidRequestError([{
      path: "end_at",
      message: "the rule makes no slot before it",
    }]);
  }
  return {
    schedule_id: crypto.randomUUID(),
    flow_name: spec.flow_name,
    tag: spec.tag,
    params: spec.params,
    priority: spec.priority,
    schedule_type: spec.schedule_type,
    ...rule,
    overlap: spec.overlap,
    catchup_window_sec: spec.catchup_window_sec,
    paused: spec.paused,
    status: "ACTIVE",
    workflow_yaml_sha256: options.yaml?.sha256 ?? null,
    workflow_yaml_bytes: options.yaml?.bytes ?? null,
    tenant_id: options.principal?.tenantId ?? null,
    api_key_id: options.principal?.keyId || null,
    created_at: now,
    updated_at: now,
    next_run_at: first,
    last_run_id: null,
    last_status: null,
    last_scheduled_for: null,
    last_error: null,
    skipped_slots: 0,
    dispatch_count: 0,
    buffered_slot: null,
    outbox: [],
    recent_runs: [],
  };
}

/**
 * Apply a validated `PATCH`. A new rule or a resume starts from the next slot after `now`:
 * slots of a pause are neither run nor counted.
 *
 * @param rec The current record (a copy).
 * @param patch The changes.
 * @param now Unix seconds.
 * @returns The new record.
 * @throws {InvalidRequestError} When the new rule makes no slot.
 */
export function applyPatch(rec: ScheduleRecord, patch: SchedulePatch, now: number): ScheduleRecord {
  const out = { ...rec, updated_at: now };
  if (patch.params !== undefined) out.params = patch.params;
  if (patch.priority !== undefined) out.priority = patch.priority;
  if (patch.overlap !== undefined) out.overlap = patch.overlap;
  if (patch.catchup_window_sec !== undefined) out.catchup_window_sec = patch.catchup_window_sec;
  let restart = false;
  if (patch.rule !== undefined) {
    const rule = { ...patch.rule.rule };
    if (rule.interval_seconds !== null && rule.start_at === null) {
      rule.start_at = Math.floor(now) + rule.interval_seconds;
    }
    Object.assign(out, rule, { schedule_type: patch.rule.schedule_type });
    restart = true;
  }
  if (patch.paused !== undefined) {
    if (rec.paused && !patch.paused) restart = true;
    out.paused = patch.paused;
  }
  if (restart) {
    out.next_run_at = nextSlot(out, now);
    out.buffered_slot = null;
    if (out.next_run_at === null) {
      throw new InvalidRequestError([{
        path: "end_at",
        message: "the rule makes no slot before it",
      }]);
    }
    out.status = "ACTIVE";
  }
  return out;
}

/**
 * The runs-bucket key of one of a schedule's runs (they belong to the schedule's tenant).
 *
 * @param config The configuration (mode).
 * @param rec The schedule.
 * @param runId One of its runs.
 * @returns The key (`runKey()`).
 */
export function scheduledRunKey(config: Config, rec: ScheduleRecord, runId: string): string {
  return runKey(config, runId, { tenant: rec.tenant_id });
}

function _principal(rec: ScheduleRecord): Principal | null {
  return rec.tenant_id === null ? null : { tenantId: rec.tenant_id, keyId: rec.api_key_id ?? "" };
}

/**
 * Submit one run of a schedule through the atomic submit (`submitRun`), as the schedule's
 * tenant and API key, with `schedule_id` and `scheduled_for` in snapshot and job.
 *
 * @param ctx Store, backend, config, logger.
 * @param rec The schedule.
 * @param options The run id and the slot.
 * @throws {NatsUnavailableError} When NATS does not take it (retry later).
 * @throws {RunStoreError} When the run is refused (e.g. params now too large).
 */
export async function submitScheduledRun(
  ctx: ScheduleContext,
  rec: ScheduleRecord,
  options: { runId: string; scheduledFor: number },
): Promise<void> {
  const yaml = await ctx.store.yaml(rec);
  await submitRun(
    { backend: ctx.backend, config: ctx.config, logger: ctx.logger, principal: _principal(rec) },
    {
      flow_name: rec.flow_name,
      params: rec.params,
      tag: rec.tag,
      tags: [rec.tag],
      ...(rec.priority && rec.priority !== "normal" ? { priority: rec.priority } : {}),
    },
    yaml,
    {
      runId: options.runId,
      schedule: { schedule_id: rec.schedule_id, scheduled_for: options.scheduledFor },
    },
  );
}

/**
 * Remember a submitted run in the record (last run, recent runs, count).
 *
 * @param rec The record (a copy, changed in place).
 * @param ref The run.
 * @returns The record.
 */
export function recordRun(rec: ScheduleRecord, ref: ScheduleRunRef): ScheduleRecord {
  if (rec.last_scheduled_for === null || ref.scheduled_for >= rec.last_scheduled_for) {
    rec.last_run_id = ref.run_id;
    rec.last_status = "PENDING";
    rec.last_scheduled_for = ref.scheduled_for;
    rec.last_error = null;
  }
  rec.dispatch_count++;
  rec.recent_runs = [...rec.recent_runs, ref].slice(-RECENT_RUNS_KEPT);
  return rec;
}

/**
 * `POST /schedules/{id}/trigger`: a run now, outside the slot rule (paused or not, whatever the
 * overlap policy), with `scheduled_for` = now.
 *
 * @param ctx Store, backend, config, logger.
 * @param id The schedule id.
 * @param scope The caller's tenant.
 * @returns The new run's id and its `scheduled_for`.
 * @throws {NotFoundError} ERR-PYOCO-0025.
 * @throws {NatsUnavailableError} When NATS does not take it.
 */
export async function triggerSchedule(
  ctx: ScheduleContext,
  id: string,
  scope: ReadScope,
): Promise<{ run_id: string; status: "PENDING"; schedule_id: string; scheduled_for: number }> {
  const { rec } = await ctx.store.get(id, scope);
  const runId = crypto.randomUUID();
  const at = Math.floor(nowSec());
  await submitScheduledRun(ctx, rec, { runId, scheduledFor: at });
  const ref = { run_id: runId, scheduled_for: at, submitted_at: nowSec(), manual: true };
  await ctx.store.update(id, (r) => recordRun(r, ref)).catch((err) => {
    ctx.logger.warn("Triggered run submitted but not recorded in its schedule", {
      run_id: runId,
      schedule_id: id,
    }, err);
  });
  return { run_id: runId, status: "PENDING", schedule_id: id, scheduled_for: at };
}

/** One row of `GET /schedules/{id}/runs`. */
export interface ScheduleRunRow extends ScheduleRunRef {
  /** The run's status now (`null` when the run is gone, e.g. pruned). */
  status: string | null;
  /** Flow name. */
  flow_name: string;
  /** Last snapshot write, when the run exists. */
  updated_at: number | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/**
 * The schedule's recent runs, newest first, with their current status.
 *
 * @param ctx Store and backend.
 * @param id The schedule id.
 * @param options The caller's tenant and a limit.
 * @returns The rows.
 * @throws {NotFoundError} ERR-PYOCO-0025.
 */
export async function scheduleRuns(
  ctx: Pick<ScheduleContext, "store" | "backend" | "config">,
  id: string,
  options: { scope: ReadScope; limit: number },
): Promise<ScheduleRunRow[]> {
  const { rec } = await ctx.store.get(id, options.scope);
  const refs = rec.recent_runs.slice(-options.limit).reverse();
  const { runs, timeoutMs } = ctx.backend;
  return await Promise.all(refs.map(async (ref) => {
    const key = scheduledRunKey(ctx.config, rec, ref.run_id);
    const entry = await natsCall(() => runs.get(key), "Cannot read a run", timeoutMs);
    const snap = entry?.operation === "PUT" && entry.length > 0 ? entry.json<RunSnapshot>() : null;
    return {
      ...ref,
      status: snap?.status ?? null,
      flow_name: rec.flow_name,
      updated_at: snap?.updated_at ?? null,
      error: snap?.error ?? null,
    };
  }));
}

/**
 * The status of a schedule's last run now (the record keeps the one last seen).
 *
 * @param backend Run reads.
 * @param rec The schedule.
 * @returns The status, the stored one when the run cannot be read.
 */
export async function lastStatusNow(
  backend: Pick<RunsBackend, "runs" | "timeoutMs" | "config">,
  rec: ScheduleRecord,
): Promise<string | null> {
  if (rec.last_run_id === null) return rec.last_status;
  try {
    const entry = await natsCall(
      () => backend.runs.get(scheduledRunKey(backend.config, rec, rec.last_run_id!)),
      "Cannot read a run",
      backend.timeoutMs,
    );
    if (entry?.operation !== "PUT" || entry.length === 0) return rec.last_status;
    return entry.json<RunSnapshot>().status;
  } catch {
    return rec.last_status;
  }
}

/**
 * Whether a status ends a run (for the overlap policy).
 *
 * @param status A run status, or `null`.
 * @returns `true` for COMPLETED, FAILED, CANCELLED.
 */
export function ended(status: string | null): boolean {
  return status !== null && isTerminal(status);
}
