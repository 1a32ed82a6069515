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

import { ErrId } from "../contract/errors.ts";
import type { RunSnapshot, RunTasksView, RunView, WorkerRecord } from "../contract/wire.ts";
import { nowSec, RUN_STATUSES, TAG_PATTERN } from "../contract/wire.ts";
import { natsCall } from "./backend.ts";
import type { GatewayBackend } from "./backend.ts";
import { readJsonBody, readMultipartBody } from "./body.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { type FieldError, HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
import { isWorkerAlive } from "./metrics.ts";
import {
  type RunRequest,
  submitRun,
  validateRunRequest,
  validateYamlRequest,
  type YamlSubmission,
} from "../runs/submit.ts";
import { idempotencyKeyOf, submitIdempotent } from "../runs/idempotency.ts";
import { type IndexedRun, toSummary } from "../runs/run_index.ts";
import { listRunsDelta } from "./delta.ts";

/** Run ids the gateway accepts in paths (a single KV key token). */
export const RUN_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,128}$/;

const _WORKER_KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;

/** Default and maximum of `GET /runs?limit=`. */
export const LIST_LIMIT = { default: 50, max: 200 } as const;

/**
 * The 404 of a run that does not exist (or that the caller may not see).
 *
 * @param id The run id.
 * @returns The error to throw (ERR-PYOCO-0005).
 */
export function runNotFound(id: string): HttpError {
  return new HttpError(404, ErrId.runNotFound, `Run ${JSON.stringify(id)} not found`);
}

/**
 * The `include` query values (repeatable, comma-separated, case-insensitive).
 *
 * @param url The request URL.
 * @param allowed The accepted values.
 * @returns The values given.
 * @throws {HttpError} 422 ERR-PYOCO-0002 naming the first unknown value.
 */
export function parseIncludes(url: URL, allowed: readonly string[]): Set<string> {
  const values = url.searchParams.getAll("include")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== "");
  const bad = values.filter((v) => !allowed.includes(v));
  if (bad.length > 0) {
    throw invalidRequest([{
      path: "include",
      message: `unknown value ${JSON.stringify(bad[0])} (allowed: ${allowed.join(", ")})`,
    }]);
  }
  return new Set(values);
}

/**
 * Read the run named by the `id` path parameter, as the caller may see it.
 *
 * @param ctx The route context (path parameter `id`, caller).
 * @param backend The NATS side.
 * @returns The snapshot and its KV revision.
 * @throws {HttpError} 404 ERR-PYOCO-0005 when it is missing, its id is impossible or it belongs
 *   to another tenant; 503 when NATS does not answer.
 */
export async function readRun(
  ctx: RouteContext,
  backend: GatewayBackend,
): Promise<{ snapshot: RunSnapshot; revision: number }> {
  const id = ctx.params.id ?? "";
  if (!RUN_ID_PATTERN.test(id)) throw runNotFound(id);
  const entry = await natsCall(
    () => backend.runs.get(id),
    `Cannot read run ${id}`,
    backend.timeoutMs,
  );
  if (!entry || entry.operation !== "PUT" || entry.length === 0) throw runNotFound(id);
  const snapshot = entry.json<RunSnapshot>();
  if (ctx.principal !== null && snapshot.tenant_id !== ctx.principal.tenantId) {
    throw runNotFound(id);
  }
  return { snapshot, revision: entry.revision };
}

async function _readRun(ctx: RouteContext, backend: GatewayBackend): Promise<RunSnapshot> {
  return (await readRun(ctx, backend)).snapshot;
}

async function _submit(
  ctx: RouteContext,
  key: string | null,
  request: RunRequest,
  yaml?: YamlSubmission,
): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot submit the run");
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

/** `GET /runs/{id}`: the snapshot (task records only when included) and its worker's state. */
export async function getRun(ctx: RouteContext): Promise<Response> {
  const include = parseIncludes(ctx.url, ["records", "full", "all"]);
  const backend = requireBackend(ctx, "Cannot read the run");
  const snapshot = await _readRun(ctx, backend);
  let worker: Partial<WorkerRecord> | null = null;
  const workerId = snapshot.worker_id;
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
    worker_alive: typeof workerId === "string"
      ? worker !== null && isWorkerAlive(worker, ctx.config, nowSec())
      : null,
    worker_heartbeat_at: typeof worker?.heartbeat_at === "number" ? worker.heartbeat_at : null,
    worker_tags: Array.isArray(worker?.tags) ? worker.tags : null,
  };
  if (include.size === 0) delete view.task_records;
  return json(view);
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

/** The list filters of `GET /runs` (and `GET /runs/watch`). */
export interface RunFilters {
  /** Only these statuses (`null`: every status). */
  statuses: Set<string> | null;
  /** Only this flow. */
  flow: string | null;
  /** Only this tag. */
  tag: string | null;
  /** Page size. */
  limit: number;
  /** `include` values (`full`/`all`: whole snapshots). */
  include: Set<string>;
}

/**
 * Parse `status` (repeatable, comma-separated), `flow`, `tag`, `limit` and `include`.
 *
 * @param url The request URL.
 * @param errors Problems are appended here (the caller throws them together).
 * @returns The filters (defaults where a value is bad).
 */
export function parseRunFilters(url: URL, errors: FieldError[]): RunFilters {
  const q = url.searchParams;
  const statuses = q.getAll("status").flatMap((v) => v.split(","))
    .map((v) => v.trim().toUpperCase()).filter((v) => v !== "");
  for (const s of statuses) {
    if (!(RUN_STATUSES as readonly string[]).includes(s)) {
      errors.push({
        path: "status",
        message: `unknown status ${JSON.stringify(s)} (allowed: ${RUN_STATUSES.join(", ")})`,
      });
    }
  }
  const limitText = q.get("limit");
  let limit: number = LIST_LIMIT.default;
  if (limitText !== null) {
    const n = Number(limitText.trim());
    if (!/^\d+$/.test(limitText.trim()) || n < 1 || n > LIST_LIMIT.max) {
      errors.push({ path: "limit", message: `must be an integer from 1 to ${LIST_LIMIT.max}` });
    } else {
      limit = n;
    }
  }
  const tag = q.get("tag") || null;
  if (tag !== null && !TAG_PATTERN.test(tag)) {
    errors.push({ path: "tag", message: "must be 1 to 64 letters, digits, _ or -" });
  }
  const flow = q.get("flow") || null;
  let include = new Set<string>();
  try {
    include = parseIncludes(url, ["full", "all"]);
  } catch (err) {
    if (err instanceof HttpError) errors.push(...err.errors);
    else throw err;
  }
  return {
    statuses: statuses.length > 0 ? new Set(statuses) : null,
    flow,
    tag,
    limit,
    include,
  };
}

/**
 * Wait for the run index's initial load.
 *
 * @param backend The NATS side.
 * @throws {HttpError} 503 when it is not loaded within the NATS deadline.
 */
export async function requireIndex(backend: GatewayBackend): Promise<void> {
  if (!backend.index.ready && !(await backend.index.whenReady(backend.timeoutMs))) {
    throw natsUnavailable("Cannot list runs: the run index is still loading");
  }
}

/**
 * Read whole snapshots of indexed runs (for `include=full`), keeping the caller's tenant only.
 *
 * @param ctx The route context.
 * @param backend The NATS side.
 * @param runs The runs to read.
 * @returns Their snapshots, in the same order (missing ones left out).
 * @throws {HttpError} 503 when NATS does not answer.
 */
export async function readSnapshots(
  ctx: RouteContext,
  backend: GatewayBackend,
  runs: readonly IndexedRun[],
): Promise<RunSnapshot[]> {
  const entries = await natsCall(
    () => Promise.all(runs.map((r) => backend.runs.get(r.run_id))),
    "Cannot read run snapshots",
    backend.timeoutMs,
  );
  const full: RunSnapshot[] = [];
  for (const entry of entries) {
    if (!entry || entry.operation !== "PUT" || entry.length === 0) continue;
    const snapshot = entry.json<RunSnapshot>();
    if (ctx.principal !== null && snapshot.tenant_id !== ctx.principal.tenantId) continue;
    full.push(snapshot);
  }
  return full;
}

/**
 * `GET /runs`: newest runs first, filtered by status, flow and tag; with `cursor` or
 * `updated_after` the delta listing of `delta.ts` (`{items, next_cursor}`).
 */
export async function listRuns(ctx: RouteContext): Promise<Response> {
  const errors: FieldError[] = [];
  const filters = parseRunFilters(ctx.url, errors);
  const q = ctx.url.searchParams;
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
  return json(await readSnapshots(ctx, backend, runs));
}
