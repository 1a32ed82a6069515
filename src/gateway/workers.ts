/**
 * Workers registry **[beyond]**: `GET /workers?scope=active|all&include_hidden=` and
 * `PATCH /workers/{id}` `{hidden}`.
 *
 * Decisions (also in `docs/spec.md`):
 * - Records come from the workers TTL bucket. A record whose `heartbeat_at` is older than
 *   `PYOCO_WORKER_DISCONNECTED_AFTER_SEC` (default 2 × `PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC`,
 *   always below `PYOCO_WORKERS_KV_TTL_SEC`) and whose stored state is not `STOPPED` is shown
 *   with `state: "DISCONNECTED"`: a worker gone silent is visible before its record expires.
 * - `scope=active` (the default) lists workers that are neither `STOPPED` nor `DISCONNECTED`;
 *   `scope=all` lists every record, plus workers the TTL bucket has forgotten within
 *   `PYOCO_WORKERS_HISTORY_SEC` of their last heartbeat, from the gateway's history
 *   (`src/runs/worker_history.ts`): `state: "LOST"` (or `STOPPED`) with `lost_at`. Hidden workers (`hidden: true`) only with
 *   `include_hidden=true`. Sorted by `worker_id`.
 * - `PATCH /workers/{id}` takes exactly `{"hidden": true|false}` and writes it with
 *   compare-and-set (retried on conflicts); the worker keeps the flag when it rewrites its
 *   record on every heartbeat. The answer is the updated record (with the derived state).
 *   Hiding is a display preference, so it is not tenant-scoped (like the list).
 *
 * @module
 */

import { workerDisconnectedAfterSec } from "../config.ts";
import type { Config } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import type { WorkerRecord } from "../contract/wire.ts";
import { type LivenessOptions, type WorkerView, workerView } from "../contract/workers.ts";

export type { WorkerView };
import { nowSec } from "../contract/wire.ts";
import { casUpdate } from "../nats/kv.ts";
import { natsCall } from "../runs/backend.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { readJsonBody } from "./body.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { type FieldError, HttpError, invalidRequest } from "./errors.ts";

const _WORKER_ID = /^[-/=\w]+(\.[-/=\w]+)*$/;

/**
 * The liveness options of now: the configured silence threshold and the current time.
 *
 * @param config The configuration (`PYOCO_WORKER_DISCONNECTED_AFTER_SEC`).
 * @returns Options for `workerState`/`isWorkerAlive`/`workerView` of `src/contract/workers.ts`.
 */
export function livenessNow(config: Config): LivenessOptions {
  return { disconnectedAfterSec: workerDisconnectedAfterSec(config), now: nowSec() };
}

/**
 * Every worker record in the bucket, sorted by `worker_id`.
 *
 * @param backend The NATS side.
 * @returns The records (entries that are not JSON objects are skipped).
 * @throws {HttpError} 503 when NATS does not answer.
 */
export async function readWorkers(backend: RunsBackend): Promise<WorkerRecord[]> {
  return await natsCall(
    async () => {
      const keys: string[] = [];
      for await (const k of await backend.workers.keys()) keys.push(k);
      const entries = await Promise.all(keys.map((k) => backend.workers.get(k)));
      const out: WorkerRecord[] = [];
      for (const e of entries) {
        if (!e || e.operation !== "PUT" || e.length === 0) continue;
        try {
          const record = e.json<WorkerRecord>();
          if (record && typeof record === "object" && !Array.isArray(record)) out.push(record);
        } catch { /* not JSON: skipped */ }
      }
      out.sort((a, b) => String(a.worker_id) < String(b.worker_id) ? -1 : 1);
      return out;
    },
    "Cannot list workers",
    backend.timeoutMs,
  );
}

function _flag(value: string | null, path: string, errors: FieldError[]): boolean {
  if (value === null) return false;
  const v = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["", "0", "false", "no", "off"].includes(v)) return false;
  errors.push({ path, message: "must be true or false" });
  return false;
}

/** `GET /workers?scope=active|all&include_hidden=`: worker records with their state. */
export async function listWorkers(ctx: RouteContext): Promise<Response> {
  const q = ctx.url.searchParams;
  const errors: FieldError[] = [];
  const includeHidden = _flag(q.get("include_hidden"), "include_hidden", errors);
  const scope = (q.get("scope") ?? "active").trim().toLowerCase() || "active";
  if (scope !== "active" && scope !== "all") {
    errors.push({ path: "scope", message: "must be active or all" });
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot list workers");
  const liveness = livenessNow(ctx.config);
  let views = (await readWorkers(backend)).map((r) => workerView(r, liveness));
  if (scope === "all") views = _withHistory(views, await _lostWorkers(backend));
  views = views
    .filter((w) => includeHidden || w.hidden !== true)
    .filter((w) => scope === "all" || (w.state !== "STOPPED" && w.state !== "DISCONNECTED"));
  return json(views);
}

/** Recently dead workers from the history (SPEC §15), for `scope=all`. */
function _lostWorkers(backend: RunsBackend): Promise<WorkerView[]> {
  return natsCall(
    () => backend.workerHistory.list(),
    "Cannot read the workers history",
    backend.timeoutMs,
  );
}

/** The live records, plus the history's for workers no longer in the bucket, by `worker_id`. */
function _withHistory(live: WorkerView[], lost: WorkerView[]): WorkerView[] {
  const ids = new Set(live.map((w) => w.worker_id));
  const all = [...live, ...lost.filter((w) => !ids.has(w.worker_id))];
  return all.sort((a, b) => String(a.worker_id) < String(b.worker_id) ? -1 : 1);
}

/** `PATCH /workers/{id}` with `{"hidden": boolean}`: the updated record. */
export async function patchWorker(ctx: RouteContext): Promise<Response> {
  const id = ctx.params.id ?? "";
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const errors: FieldError[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    errors.push({ path: "body", message: 'must be a JSON object like {"hidden": true}' });
  } else {
    for (const key of Object.keys(body)) {
      if (key !== "hidden") errors.push({ path: key, message: "unknown field (allowed: hidden)" });
    }
    const hidden = (body as Record<string, unknown>).hidden;
    if (hidden === undefined) errors.push({ path: "hidden", message: "is required" });
    else if (typeof hidden !== "boolean") {
      errors.push({ path: "hidden", message: "must be true or false" });
    }
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const hidden = (body as { hidden: boolean }).hidden;
  const notFound = () =>
    new HttpError(404, ErrId.workerNotFound, `Worker ${JSON.stringify(id)} not found`);
  if (!_WORKER_ID.test(id)) throw notFound();
  const backend = requireBackend(ctx, "Cannot update the worker");
  let missing = false;
  let unchanged: WorkerRecord | null = null;
  const written = await natsCall(
    () =>
      casUpdate<WorkerRecord>(backend.workers, id, (current) => {
        if (current === null) {
          missing = true;
          return undefined;
        }
        if (current.value.hidden === hidden) {
          unchanged = current.value;
          return undefined;
        }
        return { ...current.value, hidden };
      }),
    `Cannot update worker ${id}`,
    4 * backend.timeoutMs,
  );
  if (missing) throw notFound();
  const record = written?.value ?? (unchanged as WorkerRecord | null);
  if (record === null) throw notFound();
  return json(workerView(record, livenessNow(ctx.config)));
}
