/**
 * Operational routes: `GET /health` (open, never needs NATS) and `GET /metrics` (the workers
 * routes are in `workers.ts`).
 *
 * Decisions: `/workers` and `/metrics` describe the whole system, not one tenant (they still
 * need a key when auth is on). A worker record counts as alive when its heartbeat is younger
 * than `PYOCO_WORKERS_KV_TTL_SEC` and it is not `STOPPED`. Queue depth per tag comes from the
 * work stream's per-subject message counts (a work-queue stream keeps a job until it is acked,
 * so this is pending + in flight), plus a zero for every tag that has a durable consumer.
 *
 * @module
 */

import { natsCall } from "../runs/backend.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { isWorkerAlive } from "../contract/workers.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
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
          subjects_filter: `${config.workSubjectPrefix}.>`,
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
  const queuePending: Record<string, number> = {};
  const consumerPrefix = `${config.consumerPrefix}_`;
  for (const c of consumers) {
    const name = c.config.durable_name ?? c.name;
    if (name.startsWith(consumerPrefix)) queuePending[name.slice(consumerPrefix.length)] = 0;
  }
  const subjectPrefix = `${config.workSubjectPrefix}.`;
  for (const [subject, n] of Object.entries(work.state.subjects ?? {})) {
    if (subject.startsWith(subjectPrefix)) queuePending[subject.slice(subjectPrefix.length)] = n;
  }
  const body = renderMetrics({
    runsByStatus: backend.index.counts(),
    workersAlive: workers.filter((w) => isWorkerAlive(w, liveness)).length,
    dlqMessages: dlq.state.messages,
    queuePending,
  }, ctx.metrics);
  return new Response(body, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
}
