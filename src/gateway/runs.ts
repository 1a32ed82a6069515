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
import { HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
import { isWorkerAlive } from "./metrics.ts";
import { submitRun, validateRunRequest, validateYamlRequest } from "./submit.ts";
import { toSummary } from "./run_index.ts";

/** Run ids the gateway accepts in paths (a single KV key token). */
export const RUN_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,128}$/;

const _WORKER_KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;

/** Default and maximum of `GET /runs?limit=`. */
export const LIST_LIMIT = { default: 50, max: 200 } as const;

function _notFound(id: string): HttpError {
  return new HttpError(404, ErrId.runNotFound, `Run ${JSON.stringify(id)} not found`);
}

function _includes(url: URL, allowed: readonly string[]): Set<string> {
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

async function _readRun(ctx: RouteContext, backend: GatewayBackend): Promise<RunSnapshot> {
  const id = ctx.params.id ?? "";
  if (!RUN_ID_PATTERN.test(id)) throw _notFound(id);
  const entry = await natsCall(
    () => backend.runs.get(id),
    `Cannot read run ${id}`,
    backend.timeoutMs,
  );
  if (!entry || entry.operation !== "PUT" || entry.length === 0) throw _notFound(id);
  const snapshot = entry.json<RunSnapshot>();
  if (ctx.principal !== null && snapshot.tenant_id !== ctx.principal.tenantId) throw _notFound(id);
  return snapshot;
}

/** `POST /runs`: submit a run by flow name. */
export async function postRun(ctx: RouteContext): Promise<Response> {
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const request = validateRunRequest(body, ctx.config);
  const backend = requireBackend(ctx, "Cannot submit the run");
  const answer = await submitRun(
    { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal },
    request,
  );
  return json(answer);
}

/** `POST /runs/yaml`: submit a flow.yaml run (multipart `workflow`, `flow_name`, `tag?`). */
export async function postRunYaml(ctx: RouteContext): Promise<Response> {
  const form = await readMultipartBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const { request, yaml } = await validateYamlRequest(form, ctx.config);
  const backend = requireBackend(ctx, "Cannot submit the run");
  const answer = await submitRun(
    { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal },
    request,
    yaml,
  );
  return json(answer);
}

/** `GET /runs/{id}`: the snapshot (task records only when included) and its worker's state. */
export async function getRun(ctx: RouteContext): Promise<Response> {
  const include = _includes(ctx.url, ["records", "full", "all"]);
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

/** `GET /runs`: newest runs first, filtered by status, flow and tag. */
export async function listRuns(ctx: RouteContext): Promise<Response> {
  const q = ctx.url.searchParams;
  const errors: { path: string; message: string }[] = [];
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
    include = _includes(ctx.url, ["full", "all"]);
  } catch (err) {
    if (err instanceof HttpError) errors.push(...err.errors);
    else throw err;
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot list runs");
  if (!backend.index.ready && !(await backend.index.whenReady(backend.timeoutMs))) {
    throw natsUnavailable("Cannot list runs: the run index is still loading");
  }
  const runs = backend.index.list({
    statuses: statuses.length > 0 ? new Set(statuses) : null,
    flow,
    tag,
    tenantId: ctx.principal === null ? undefined : ctx.principal.tenantId,
    limit,
  });
  if (include.size === 0) return json(runs.map(toSummary));
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
  return json(full);
}
