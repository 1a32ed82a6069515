/**
 * Schedule routes (SPEC §14): `POST /schedules` (JSON), `POST /schedules/yaml` (multipart,
 * pyoco-server 0.7's form fields plus ours), `GET /schedules`, `GET /schedules/{id}`,
 * `PATCH /schedules/{id}`, `DELETE /schedules/{id}`, `POST /schedules/{id}/trigger`,
 * `GET /schedules/{id}/runs`. Tenant-scoped like runs: another tenant's schedule answers 404.
 * The domain work is in `src/runs/schedules/`; its errors become HTTP answers in `errors.ts`.
 *
 * Decisions: a schedule of a flow the flow catalog knows no worker for is refused at create
 * exactly like a submit (422 ERR-PYOCO-0006 with the closest names); create answers 200 with the schedule (as pyoco-server 0.7's `/schedules/yaml`);
 * `last_status` is read live from the last run (`GET` of one schedule) or from the run index
 * (lists); delete answers `{schedule_id, deleted: true}` (pyoco-server 0.7).
 *
 * @module
 */

import { nowSec } from "../contract/wire.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { checkOffered } from "../runs/submit.ts";
import {
  applyPatch,
  buildRecord,
  lastStatusNow,
  type ScheduleContext,
  scheduleRuns,
  scheduleStoreOf,
  type ScheduleView,
  scheduleView,
  triggerSchedule,
  validateScheduleForm,
  validateSchedulePatch,
  validateScheduleRequest,
} from "../runs/schedules/mod.ts";
import { readJsonBody, readMultipartBody } from "./body.ts";
import {
  json,
  requireBackend,
  requireBackendForWrite,
  type RouteContext,
  scopeOf,
} from "./context.ts";
import { invalidRequest } from "./errors.ts";
import type { RunFilters } from "./run_filters.ts";
import { readSnapshots, requireIndex } from "../runs/reads.ts";
import { type IndexedRun, toSummary } from "../runs/run_index.ts";

async function _ctx(ctx: RouteContext, backend: RunsBackend): Promise<ScheduleContext> {
  return {
    store: await scheduleStoreOf(backend, ctx.config),
    backend,
    config: ctx.config,
    logger: ctx.logger,
  };
}

/** `POST /schedules`: create a schedule of a flow by name. */
export async function postSchedule(ctx: RouteContext): Promise<Response> {
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const now = nowSec();
  const spec = validateScheduleRequest(body, { config: ctx.config, now });
  const backend = await requireBackendForWrite(ctx, "Cannot create the schedule");
  checkOffered(backend, { ...spec, tags: [spec.tag] });
  const sctx = await _ctx(ctx, backend);
  const rec = buildRecord(spec, { principal: ctx.principal, now });
  await sctx.store.create(rec);
  ctx.logger.info("Schedule created", { schedule_id: rec.schedule_id, flow_name: rec.flow_name });
  return json(scheduleView(rec));
}

/** `POST /schedules/yaml`: create a schedule of a stored flow.yaml (multipart). */
export async function postScheduleYaml(ctx: RouteContext): Promise<Response> {
  const form = await readMultipartBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const now = nowSec();
  const { spec, yaml } = await validateScheduleForm(form, { config: ctx.config, now });
  const backend = await requireBackendForWrite(ctx, "Cannot create the schedule");
  checkOffered(backend, { ...spec, tags: [spec.tag] }, yaml);
  const sctx = await _ctx(ctx, backend);
  const rec = buildRecord(spec, { principal: ctx.principal, yaml, now });
  await sctx.store.create(rec, yaml);
  ctx.logger.info("Schedule created", {
    schedule_id: rec.schedule_id,
    flow_name: rec.flow_name,
    yaml: true,
  });
  return json(scheduleView(rec));
}

/** `GET /schedules`: the caller's schedules, oldest first. */
export async function listSchedules(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot list schedules");
  const { store } = await _ctx(ctx, backend);
  const recs = await store.list(scopeOf(ctx));
  const views: ScheduleView[] = recs.map((rec) => {
    const indexed = rec.last_run_id === null ? undefined : backend.index.get(rec.last_run_id);
    return { ...scheduleView(rec), last_status: indexed?.status ?? rec.last_status };
  });
  return json(views);
}

/** `GET /schedules/{id}`: one schedule, `last_status` read from its last run. */
export async function getSchedule(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot read the schedule");
  const { store } = await _ctx(ctx, backend);
  const { rec } = await store.get(ctx.params.id ?? "", scopeOf(ctx));
  return json({ ...scheduleView(rec), last_status: await lastStatusNow(backend, rec) });
}

/** `PATCH /schedules/{id}`: pause/resume, params, policies or a new rule. */
export async function patchSchedule(ctx: RouteContext): Promise<Response> {
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const now = nowSec();
  const patch = validateSchedulePatch(body, { config: ctx.config, now });
  const backend = await requireBackendForWrite(ctx, "Cannot change the schedule");
  const { store } = await _ctx(ctx, backend);
  const rec = await store.update(
    ctx.params.id ?? "",
    (r) => applyPatch(r, patch, now),
    scopeOf(ctx),
  );
  return json(scheduleView(rec));
}

/** `DELETE /schedules/{id}`: no slot is decided after this answer. */
export async function deleteSchedule(ctx: RouteContext): Promise<Response> {
  const backend = await requireBackendForWrite(ctx, "Cannot delete the schedule");
  const { store } = await _ctx(ctx, backend);
  const id = ctx.params.id ?? "";
  await store.remove(id, scopeOf(ctx));
  ctx.logger.info("Schedule deleted", { schedule_id: id });
  return json({ schedule_id: id, deleted: true });
}

/** `POST /schedules/{id}/trigger`: one run now, outside the slot rule. */
export async function postScheduleTrigger(ctx: RouteContext): Promise<Response> {
  const backend = await requireBackendForWrite(ctx, "Cannot trigger the schedule");
  const sctx = await _ctx(ctx, backend);
  const answer = await triggerSchedule(sctx, ctx.params.id ?? "", scopeOf(ctx));
  ctx.metrics.count("pyoco_schedule_triggers_total", {
    help: "Runs started by POST /schedules/{id}/trigger on this gateway.",
  });
  return json(answer);
}

/** `GET /schedules/{id}/runs`: its recent runs (the last 50 kept), newest first; `limit`. */
export async function listScheduleRuns(ctx: RouteContext): Promise<Response> {
  const raw = ctx.url.searchParams.get("limit");
  const limit = raw === null ? 50 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw invalidRequest([{ path: "limit", message: "must be a whole number from 1 to 200" }]);
  }
  const backend = requireBackend(ctx, "Cannot list the schedule's runs");
  const sctx = await _ctx(ctx, backend);
  return json(await scheduleRuns(sctx, ctx.params.id ?? "", { scope: scopeOf(ctx), limit }));
}

/**
 * `GET /runs?schedule_id=…`: the runs of one schedule (its last 50, as kept in the schedule),
 * newest slot first, with the other `GET /runs` filters (`status`, `flow`, `tag`, `limit`,
 * `include=full`). A schedule the caller may not see, or that does not exist, has no runs (`[]`).
 *
 * @param ctx The route context.
 * @param filters The parsed `GET /runs` filters.
 * @returns The response.
 */
export async function listRunsOfSchedule(
  ctx: RouteContext,
  filters: RunFilters,
): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot list runs");
  await requireIndex(backend);
  const { store } = await _ctx(ctx, backend);
  const found = await store.find(ctx.url.searchParams.get("schedule_id") ?? "");
  const scope = scopeOf(ctx);
  if (found === null || (scope.tenantId !== undefined && found.rec.tenant_id !== scope.tenantId)) {
    return json([]);
  }
  const runs: IndexedRun[] = [];
  for (const ref of [...found.rec.recent_runs].reverse()) {
    const run = backend.index.get(ref.run_id);
    if (run === undefined) continue;
    if (filters.statuses !== null && !filters.statuses.has(run.status)) continue;
    if (filters.flow !== null && run.flow_name !== filters.flow) continue;
    if (filters.tag !== null && run.tag !== filters.tag) continue;
    runs.push(run);
    if (runs.length >= filters.limit) break;
  }
  if (filters.include.size === 0) return json(runs.map(toSummary));
  return json(await readSnapshots(backend, runs, scope));
}
