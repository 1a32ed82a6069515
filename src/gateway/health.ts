/**
 * Operational routes: `GET /health` (open, never needs NATS) and `GET /metrics` (the workers
 * routes are in `workers.ts`).
 *
 * Decisions: `/workers` and `/metrics` describe the whole system, not one tenant (they still
 * need a key when auth is on). A worker record counts as alive when its heartbeat is younger
 * than `PYOCO_WORKERS_KV_TTL_SEC` and it is not `STOPPED`. Queue depth per tag comes from the
 * work stream's per-subject message counts (a work-queue stream keeps a job until it is acked,
 * so this is pending + in flight), plus a zero for every tag that has a durable consumer. In
 * namespaced mode (SPEC §13) the same counts are also given per tenant, tag and priority. In
 * either mode the runs not yet ended (PENDING, RUNNING, CANCELLING) per tenant and priority, and
 * RUNNING per tenant, come from the run index's live tally (the dashboard's Tenants table).
 *
 * @module
 */

import { parseWorkSubject, workFilter } from "../config.ts";
import { NO_TENANT, tenantOf } from "../contract/tenancy.ts";
import { natsCall, type RunsBackend } from "../runs/backend.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { isWorkerAlive } from "../contract/workers.ts";
import {
  PROMETHEUS_CONTENT_TYPE,
  type QueuePending,
  renderMetrics,
  type TenantRuns,
} from "./metrics.ts";
import { livenessNow, readWorkers } from "./workers.ts";

/** `GET /health`: always 200 `{status: "ok", nats: "connected" | "disconnected"}`. */
export function getHealth(ctx: RouteContext): Promise<Response> {
  const backend = ctx.backend();
  const connected = backend !== null && backend.state.connected;
  return Promise.resolve(json({ status: "ok", nats: connected ? "connected" : "disconnected" }));
}

/** `GET /metrics`: Prometheus text 0.0.4. */
export async function getMetrics(ctx: RouteContext): Promise<Response> {
  const backend = requireBackend(ctx, "Cannot collect metrics");
  const { config } = ctx;
  const [workers, dlq, work, consumers] = await Promise.all([
    readWorkers(backend),
    natsCall(
      () => backend.jsm.streams.info(config.dlqStream),
      "Cannot read the DLQ stream",
      backend.timeoutMs,
    ),
    natsCall(
      () =>
        backend.jsm.streams.info(config.workStream, {
          subjects_filter: workFilter(config),
        }),
      "Cannot read the work stream",
      backend.timeoutMs,
    ),
    natsCall(
      () => backend.jsm.consumers.list(config.workStream).next(),
      "Cannot list the work consumers",
      backend.timeoutMs,
    ),
  ]);
  const liveness = livenessNow(config);
  // A queue shows (at 0) as soon as a consumer serves it; its filter names it in either mode.
  const filters = consumers.map((c) => c.config.filter_subject).filter((f) => f !== undefined);
  const queues = _queues(config, filters, work.state.subjects ?? {});
  const body = renderMetrics({
    runsByStatus: backend.index.counts(),
    workersAlive: workers.filter((w) => isWorkerAlive(w, liveness)).length,
    dlqMessages: dlq.state.messages,
    queuePending: queues.byTag,
    ...(config.tenantIsolation === "namespaced" ? { queuePendingByTenant: queues.byTenant } : {}),
    ..._tenantRuns(backend.index),
  }, ctx.metrics);
  return new Response(body, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
}

/** Pending jobs per tag (every priority summed) and per tenant, tag and priority. */
function _queues(
  config: RouteContext["config"],
  filters: string[],
  counts: Record<string, number>,
): { byTag: Record<string, number>; byTenant: QueuePending[] } {
  const byTag: Record<string, number> = {};
  const byTenant = new Map<string, QueuePending>();
  const add = (subject: string, n: number) => {
    const q = parseWorkSubject(config, subject);
    if (q === null) return;
    byTag[q.tag] = (byTag[q.tag] ?? 0) + n;
    const tenant = q.tenant ?? NO_TENANT;
    const key = `${tenant}\u0000${q.tag}\u0000${q.priority}`;
    const row = byTenant.get(key) ?? { tenant, tag: q.tag, priority: q.priority, pending: 0 };
    row.pending += n;
    byTenant.set(key, row);
  };
  for (const f of filters) add(f, 0);
  for (const [subject, n] of Object.entries(counts)) add(subject, n);
  return { byTag, byTenant: [...byTenant.values()] };
}

/**
 * Runs not yet ended per tenant and priority, and `RUNNING` per tenant (the two gauges of one
 * count), from the run index's live tally: O(tenants × priorities), however many runs.
 */
function _tenantRuns(
  index: RunsBackend["index"],
): { runningByTenant: Record<string, number>; tenantRuns: TenantRuns[] } {
  const runningByTenant: Record<string, number> = {};
  const rows = new Map<string, TenantRuns>();
  for (const t of index.countsByTenant()) {
    const tenant = tenantOf(t.tenantId);
    const running = t.byStatus.RUNNING ?? 0;
    if (running > 0) runningByTenant[tenant] = (runningByTenant[tenant] ?? 0) + running;
    const key = `${tenant}\u0000${t.priority}`;
    const row = rows.get(key) ??
      { tenant, priority: t.priority, pending: 0, running: 0, cancelling: 0 };
    row.pending += t.byStatus.PENDING ?? 0;
    row.running += running;
    row.cancelling += t.byStatus.CANCELLING ?? 0;
    rows.set(key, row);
  }
  const active = [...rows.values()].filter((r) => r.pending + r.running + r.cancelling > 0);
  return { runningByTenant, tenantRuns: active };
}
