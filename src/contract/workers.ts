/**
 * Worker liveness: one rule for every place that shows it (`GET /workers`, `worker_alive` on
 * `GET /runs/{id}`, `pyoco_workers_alive_total` in `/metrics`, the dashboard).
 *
 * A worker is `DISCONNECTED` when it did not stop and its last heartbeat is older than
 * `disconnectedAfterSec` (the gateway passes `PYOCO_WORKER_DISCONNECTED_AFTER_SEC`, by default
 * twice the worker heartbeat interval, always below the workers bucket's TTL); it is alive when
 * its state is neither `STOPPED` nor `DISCONNECTED`.
 *
 * @module
 */

import type { WorkerRecord } from "./wire.ts";

/**
 * A worker's state as shown: the stored state, the derived `DISCONNECTED`, or `LOST` — a worker
 * that went silent and whose record the workers bucket has already forgotten, kept by the
 * gateway's history (`GET /workers?scope=all`, `PYOCO_WORKERS_HISTORY_SEC`).
 */
export type WorkerState = NonNullable<WorkerRecord["state"]> | "DISCONNECTED" | "LOST";

/**
 * A worker record as the API shows it (`state` may be the derived `DISCONNECTED` or `LOST`; a
 * worker from the history also has `lost_at`, when the gateway noticed it was gone).
 */
export type WorkerView = Omit<WorkerRecord, "state"> & { state?: WorkerState; lost_at?: number };

/** Options of {@linkcode workerState}. */
export interface LivenessOptions {
  /** A worker silent longer than this (seconds) is `DISCONNECTED`. */
  disconnectedAfterSec: number;
  /** Current unix time in seconds. */
  now: number;
}

/**
 * The state a worker record shows now.
 *
 * @param record The stored record (fields may be missing in records of other writers).
 * @param options The silence threshold and the current time.
 * @returns `DISCONNECTED` for a silent worker that did not stop, else the stored state
 *   (`IDLE` when the record has none).
 *
 * @example Usage
 * ```ts
 * import { isWorkerAlive, workerState } from "./workers.ts";
 * import assert from "node:assert/strict";
 * const record = { worker_id: "w1", heartbeat_at: 100, tags: ["default"], state: "IDLE" as const };
 * assert.equal(workerState(record, { disconnectedAfterSec: 10, now: 105 }), "IDLE");
 * assert.equal(workerState(record, { disconnectedAfterSec: 10, now: 112 }), "DISCONNECTED");
 * assert.equal(isWorkerAlive(record, { disconnectedAfterSec: 10, now: 112 }), false);
 * ```
 */
export function workerState(record: Partial<WorkerRecord>, options: LivenessOptions): WorkerState {
  const stored = record.state ?? "IDLE";
  if (stored === "STOPPED") return stored;
  const heartbeat = typeof record.heartbeat_at === "number" ? record.heartbeat_at : -Infinity;
  return options.now - heartbeat > options.disconnectedAfterSec ? "DISCONNECTED" : stored;
}

/**
 * Whether a worker is alive now: neither `STOPPED` nor `DISCONNECTED` by {@linkcode workerState}.
 *
 * @param record The stored record.
 * @param options The silence threshold and the current time.
 * @returns Whether it counts as alive.
 */
export function isWorkerAlive(record: Partial<WorkerRecord>, options: LivenessOptions): boolean {
  const state = workerState(record, options);
  return state !== "STOPPED" && state !== "DISCONNECTED";
}

/**
 * The record as shown: its `state` replaced by {@linkcode workerState}'s.
 *
 * @param record The stored record.
 * @param options The silence threshold and the current time.
 * @returns The view.
 */
export function workerView(record: WorkerRecord, options: LivenessOptions): WorkerView {
  return workerState(record, options) === "DISCONNECTED"
    ? { ...record, state: "DISCONNECTED" }
    : record;
}
