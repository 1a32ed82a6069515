/**
 * `POST /runs/{id}/cancel` **[beyond]**: compare-and-set on the run snapshot, so a cancel that
 * races a worker's write ends in exactly one terminal state.
 *
 * - `PENDING` → `CANCELLED` at once (`end_time`, `cancel_requested_at`, `error: "Run cancelled
 *   by request"`, every task not yet finished → `CANCELLED`); a worker that receives the job later
 *   ACKs it without running it.
 * - `RUNNING` → `CANCELLING` with `cancel_requested_at`, and a core NATS message on
 *   `<PYOCO_CANCEL_SUBJECT_PREFIX>.<run_id>` tells the worker at once; it re-reads the key, aborts the
 *   run and writes `CANCELLED`.
 * - `CANCELLING` and terminal runs are left unchanged (200): the call is idempotent.
 * - The answer is the snapshot after the call (without `task_records`), so it carries
 *   `{run_id, status}` and everything a client needs to show the outcome.
 *
 * @module
 */

import type { RunSnapshot, TaskState } from "../contract/wire.ts";
import { CANCELLED_BY_REQUEST, nowSec } from "../contract/wire.ts";
import { cancelSubject, workSubject } from "../config.ts";
import { casUpdate } from "../nats/kv.ts";
import type { Principal } from "./auth.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { json, requireBackend, type RouteContext, scopeOf } from "./context.ts";
import { RunStoreError } from "../runs/errors.ts";
import { HttpError, natsUnavailable } from "./errors.ts";
import { RUN_ID_PATTERN, runNotFoundError } from "../runs/reads.ts";
import { expandRunIdPrefix } from "../runs/prefix.ts";
import { findRunKey } from "../runs/run_keys.ts";
import { dropQueuedJob } from "../runs/work_queue.ts";

class _NotFound extends Error {}

/**
 * The snapshot a cancel request makes of `current`, or `undefined` when it stays unchanged.
 *
 * @param current The stored snapshot.
 * @param now The time of the request (unix seconds).
 * @returns The new snapshot, or `undefined`.
 */
export function cancelledSnapshot(current: RunSnapshot, now: number): RunSnapshot | undefined {
  if (current.status === "PENDING") {
    const tasks: Record<string, TaskState> = {};
    for (const [name, state] of Object.entries(current.tasks ?? {})) {
      tasks[name] = state === "SUCCEEDED" || state === "FAILED" ? state : "CANCELLED";
    }
    return {
      ...current,
      status: "CANCELLED",
      tasks,
      end_time: now,
      updated_at: now,
      cancel_requested_at: current.cancel_requested_at ?? now,
      error: CANCELLED_BY_REQUEST,
    };
  }
  if (current.status === "RUNNING") {
    return { ...current, status: "CANCELLING", updated_at: now, cancel_requested_at: now };
  }
  return undefined;
}

/**
 * Cancel a run with compare-and-set (retried on conflicts).
 *
 * @param backend The NATS side.
 * @param runId The run.
 * @param principal The caller (another tenant's run is "not found").
 * @returns The snapshot after the call.
 * @throws {HttpError} 404 ERR-PYOCO-0005; 503 when NATS does not answer.
 */
export async function cancelRun(
  backend: RunsBackend,
  runId: string,
  principal: Principal | null,
): Promise<RunSnapshot> {
  if (!RUN_ID_PATTERN.test(runId)) throw runNotFoundError(runId);
  let seen: RunSnapshot | null = null;
  let result: { value: RunSnapshot; revision: number } | null;
  const now = nowSec();
  try {
    const scope = principal === null ? {} : { tenantId: principal.tenantId };
    const key = await _withDeadline(findRunKey(backend, runId, scope), backend.timeoutMs);
    result = await _withDeadline(
      casUpdate<RunSnapshot>(backend.runs, key, (current) => {
        if (current === null) throw new _NotFound();
        const snapshot = current.value;
        if (principal !== null && snapshot.tenant_id !== principal.tenantId) throw new _NotFound();
        seen = snapshot;
        return cancelledSnapshot(snapshot, now);
      }),
      4 * backend.timeoutMs,
    );
  } catch (err) {
    if (err instanceof _NotFound) throw runNotFoundError(runId);
    if (err instanceof HttpError || err instanceof RunStoreError) throw err;
    throw natsUnavailable(`Cannot cancel run ${runId}`, err);
  }
  if (result !== null) {
    backend.index.upsert(result.value, result.revision);
    return result.value;
  }
  return seen!;
}

async function _withDeadline<T>(op: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      op,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The queue clean-ups of cancelled runs, one after another. */
let _drops: Promise<unknown> = Promise.resolve();

/** `POST /runs/{id}/cancel`: the snapshot after the call, without `task_records`. */
export async function postCancel(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot cancel the run");
  const asked = ctx.params.id ?? "";
  // SPEC §15: an id prefix names the one run it matches (the exact id always wins).
  const runId = backend.index.get(asked) === undefined
    ? expandRunIdPrefix(backend.index, asked, scopeOf(ctx).tenantId) ?? asked
    : asked;
  const snapshot = await cancelRun(backend, runId, ctx.principal);
  if (snapshot.status === "CANCELLING" || snapshot.status === "CANCELLED") {
    // Tell the worker at once (core NATS, best effort: it also notices at its next write). A
    // run cancelled while PENDING may already be starting on a worker inside its lazy RUNNING
    // window (SPEC §10): the notice stops it there instead of at its first write.
    try {
      backend.nc.publish(
        cancelSubject(ctx.config, snapshot.run_id, { tenant: snapshot.tenant_id }),
      );
    } catch { /* disconnected: the worker's next compare-and-set write sees the CANCELLING */ }
  }
  if (snapshot.status === "CANCELLED" && snapshot.start_time == null) {
    // Cancelled before a worker took it: take its job out of the queue (best effort, in the
    // background), so queue depth and pyoco_queue_pending stop counting it (issue 14 #3).
    const subject = workSubject(ctx.config, {
      tag: snapshot.tag ?? ctx.config.defaultTag,
      tenant: snapshot.tenant_id,
      priority: snapshot.priority,
    });
    // One scan at a time per gateway: a burst of cancels must not start a scan each at once.
    _drops = _drops.then(() =>
      dropQueuedJob(backend, ctx.config, { runId: snapshot.run_id, subject }).catch(() => false)
    );
  }
  const { task_records: _records, ...view } = snapshot;
  return json(view);
}
