/**
 * Schedules (SPEC §14): cron, interval and one-shot runs of a flow, exactly once per slot
 * across gateways. The public surface of `src/runs/schedules/`; `docs/schedules.md` has the
 * rules and guarantees.
 *
 * @module
 */

export {
  CLAIM_KEEP_SEC,
  DEFAULT_LEASE_SEC,
  MAX_SLEEP_MS,
  ScheduleDispatcher,
} from "./dispatcher.ts";
export type { Clock, CounterSink, ScheduleDispatcherOptions, SlotClaim } from "./dispatcher.ts";
export {
  MAX_CATCHUP_SLOTS,
  MAX_SLOTS_PER_PASS,
  nextSlot,
  ON_TIME_GRACE_SEC,
  parseTime,
  planDue,
} from "./rules.ts";
export type { DuePlan } from "./rules.ts";
export {
  applyPatch,
  buildRecord,
  lastStatusNow,
  RECENT_RUNS_KEPT,
  scheduleRuns,
  slotRunId,
  submitScheduledRun,
  triggerSchedule,
} from "./service.ts";
export type { ScheduleContext, ScheduleRunRow } from "./service.ts";
export {
  openSchedulesKv,
  SCHEDULE_ID_PATTERN,
  scheduleKey,
  scheduleNotFound,
  ScheduleStore,
  scheduleStoreOf,
  scheduleView,
  slotKey,
} from "./store.ts";
export type {
  OutboxEntry,
  OverlapPolicy,
  SchedulePriority,
  ScheduleRecord,
  ScheduleRule,
  ScheduleRunRef,
  ScheduleStatus,
  ScheduleType,
  ScheduleView,
} from "./types.ts";
export {
  validateScheduleForm,
  validateSchedulePatch,
  validateScheduleRequest,
} from "./validate.ts";
export type { SchedulePatch, ScheduleSpec } from "./validate.ts";

import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { RunsBackend } from "../backend.ts";
import { type CounterSink, DEFAULT_LEASE_SEC, ScheduleDispatcher } from "./dispatcher.ts";
import { scheduleStoreOf } from "./store.ts";

/**
 * Open the schedules bucket and start this gateway's dispatcher (`PYOCO_SCHEDULER=on`).
 *
 * @param backend The NATS side (ready).
 * @param options Configuration, logger and the counters for `/metrics`.
 * @returns The running dispatcher (close it on shutdown).
 * @throws {NatsUnavailableError} When the bucket cannot be opened.
 */
export async function startScheduler(
  backend: RunsBackend,
  options: { config: Config; logger: Logger; metrics?: CounterSink },
): Promise<ScheduleDispatcher> {
  const store = await scheduleStoreOf(backend, options.config);
  const dispatcher = new ScheduleDispatcher(
    { store, backend, config: options.config, logger: options.logger },
    {
      metrics: options.metrics,
      // Longer than a submit can take (it retries for PYOCO_NATS_RETRY_SEC per step).
      leaseSec: Math.max(DEFAULT_LEASE_SEC, 3 * options.config.natsRetrySec),
    },
  );
  dispatcher.start();
  return dispatcher;
}
