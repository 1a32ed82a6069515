/**
 * Run routes: submit (JSON and flow.yaml), read one run, its tasks, and list runs.
 *
 * Decisions (also in `docs/`):
 * - A run id that cannot be a KV key token (`[A-Za-z0-9_-]{1,128}`) answers 404 like a missing
 *   run: such a run cannot exist, and it keeps the rule simple for clients.
 * - With auth, another tenant's run answers 404 exactly like a missing one.
 * - `include` is repeatable and comma-separated; `records`, `full` and `all` all add
 *   `task_records` to `GET /runs/{id}`; `full`/`all` on `GET /runs` return whole snapshots.
 *   Any other value is a 422. Unknown query parameters are ignored.
 * - `worker_alive` is `null` for a run without a worker; otherwise whether the worker's record
 *   is in the TTL bucket with a heartbeat younger than `PYOCO_WORKERS_KV_TTL_SEC` and not
 *   `STOPPED`.
 *
 * @module
 */

import type { RunSnapshot, RunTasksView, RunView, WorkerRecord } from "../contract/wire.ts";
import { natsCall } from "../runs/backend.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { readRunSnapshot, readSnapshots, requireIndex, RUN_ID_PATTERN } from "../runs/reads.ts";
import { readJsonBody, readMultipartBody } from "./body.ts";
import {
  json,
  requireBackend,
  requireBackendForWrite,
  type RouteContext,
  scopeOf,
} from "./context.ts";
import { type FieldError, invalidRequest } from "./errors.ts";
import { LIST_LIMIT, parseIncludes, parseRunFilters } from "./run_filters.ts";
import { isWorkerAlive } from "../contract/workers.ts";
import { livenessNow } from "./workers.ts";
import {
  type RunRequest,
  submitRun,
  validateRunRequest,
  validateYamlRequest,
  type YamlSubmission,
} from "../runs/submit.ts";
import { submitBatch } from "../runs/batch.ts";
import { deleteRun } from "../runs/delete.ts";
import { idempotencyKeyOf, submitIdempotent } from "../runs/idempotency.ts";
import { toSummary } from "../runs/run_index.ts";
import { listRunsDelta } from "./delta.ts";
import { listRunsOfSchedule } from "./schedules.ts";

export { LIST_LIMIT, RUN_ID_PATTERN };

const _WORKER_KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;

/**
 * Read the run named by the `id` path parameter, as the caller may see it.
 *
 * @param ctx The route context (path parameter `id`, caller).
 * @param backend The NATS side.
 * @returns The snapshot, its KV revision and its KV key.
 * @throws {NotFoundError} When it is missing or belongs to another tenant (404).
 */
export function readRun(
  ctx: RouteContext,
  backend: RunsBackend,
): Promise<{ snapshot: RunSnapshot; revision: number; key: string }> {
  return readRunSnapshot(backend, ctx.params.id ?? "", scopeOf(ctx));
}

async function _readRun(ctx: RouteContext, backend: RunsBackend): Promise<RunSnapshot> {
  return (await readRun(ctx, backend)).snapshot;
}

async function _submit(
  ctx: RouteContext,
  key: string | null,
  request: RunRequest,
  yaml?: YamlSubmission,
): Promise<Response> {
  const backend = await requireBackendForWrite(ctx, "Cannot submit the run");
  const sctx = { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal };
  if (key === null) return json(await submitRun(sctx, request, yaml));
  const { replayed, ...answer } = await submitIdempotent(sctx, key, request, yaml);
  const res = json(answer);
  if (replayed) res.headers.set("idempotent-replayed", "true");
  return res;
}

/** `POST /runs`: submit a run by flow name (header `Idempotency-Key` honoured). */
export async function postRun(ctx: RouteContext): Promise<Response> {
  const key = idempotencyKeyOf(ctx.req);
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const request = validateRunRequest(body, ctx.config);
  return await _submit(ctx, key, request);
}

/**
 * `POST /runs/yaml`: submit a flow.yaml run (multipart `workflow`, `flow_name`, `tag?`; header
 * `Idempotency-Key` honoured).
 */
export async function postRunYaml(ctx: RouteContext): Promise<Response> {
  const key = idempotencyKeyOf(ctx.req);
  const form = await readMultipartBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const { request, yaml } = await validateYamlRequest(form, ctx.config);
  return await _submit(ctx, key, request, yaml);
}

/** `POST /runs/batch`: many runs at once, one answer item per run in request order. */
export async function postRunBatch(ctx: RouteContext): Promise<Response> {
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const backend = await requireBackendForWrite(ctx, "Cannot submit the runs");
  const sctx = { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal };
  return json(await submitBatch(sctx, body));
}

/** `GET /runs/{id}`: the snapshot (task records only when included) and its worker's state. */
export async function getRun(ctx: RouteContext): Promise<Response> {
  const include = parseIncludes(ctx.url, ["records", "full", "all"]);
  const backend = requireBackend(ctx, "Cannot read the run");
  const snapshot = await _readRun(ctx, backend);
  let worker: Partial<WorkerRecord> | null = null;
  // pyoco-server 0.4 workers write worker_id only in the first snapshot; the index keeps it.
  const workerId = snapshot.worker_id ?? backend.index.get(snapshot.run_id)?.worker_id ?? null;
  if (typeof workerId === "string" && _WORKER_KEY.test(workerId)) {
    const entry = await natsCall(
      () => backend.workers.get(workerId),
      `Cannot read worker ${workerId}`,
      backend.timeoutMs,
    );
    if (entry && entry.operation === "PUT" && entry.length > 0) {
      try {
        worker = entry.json<Partial<WorkerRecord>>();
      } catch {
        worker = null;
      }
    }
  }
  const view: RunView = {
    ...snapshot,
    worker_id: workerId,
    worker_alive: typeof workerId === "string"
      ? worker !== null && isWorkerAlive(worker, livenessNow(ctx.config))
      : null,
    worker_heartbeat_at: typeof worker?.heartbeat_at === "number" ? worker.heartbeat_at : null,
    worker_tags: Array.isArray(worker?.tags) ? worker.tags : null,
  };
  if (include.size === 0) delete view.task_records;
  // SPEC §12: why a PENDING run does not start (no live worker consumes its tag).
  if (view.status === "PENDING") {
    view.waiting_reason = backend.catalog.waitingReason(view.tag ?? ctx.config.defaultTag);
  }
  return json(view);
}

/** `DELETE /runs/{id}`: delete a finished run, its idempotency claim and its events (409 if running). */
export async function deleteRunRoute(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot delete the run");
  return json(
    await deleteRun(backend, ctx.config, { runId: ctx.params.id ?? "", ...scopeOf(ctx) }),
  );
}

/** `GET /runs/{id}/tasks`: task states and records. */
export async function getRunTasks(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot read the run");
  const s = await _readRun(ctx, backend);
  const view: RunTasksView = {
    run_id: s.run_id,
    flow_name: s.flow_name,
    status: s.status,
    tasks: s.tasks ?? {},
    task_records: s.task_records ?? {},
    task_records_truncated: s.task_records_truncated ?? false,
  };
  return json(view);
}

/**
 * `GET /runs`: newest runs first, filtered by status, flow and tag; with `cursor` or
 * `updated_after` the delta listing of `delta.ts` (`{items, next_cursor}`).
 */
export async function listRuns(ctx: RouteContext): Promise<Response> {
  const errors: FieldError[] = [];
  const filters = parseRunFilters(ctx.url, errors);
  const q = ctx.url.searchParams;
  if (q.has("schedule_id") && errors.length === 0) return await listRunsOfSchedule(ctx, filters);
  if (q.has("cursor") || q.has("updated_after")) return await listRunsDelta(ctx, filters, errors);
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot list runs");
  await requireIndex(backend);
  const runs = backend.index.list({
    statuses: filters.statuses,
    flow: filters.flow,
    tag: filters.tag,
    tenantId: ctx.principal === null ? undefined : ctx.principal.tenantId,
    limit: filters.limit,
  });
  if (filters.include.size === 0) return json(runs.map(toSummary));
  return json(await readSnapshots(backend, runs, scopeOf(ctx)));
}
