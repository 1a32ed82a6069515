import assert from "node:assert/strict";
import { tenantFigures } from "./overview_tenants.tsx";

const _sample = (name: string, labels: Record<string, string>, value: number) => ({
  name,
  labels,
  value,
});

Deno.test("tenantFigures() adds up runs per tenant and priority, with a zero row per queue", () => {
  const f = tenantFigures([
    _sample("pyoco_queue_pending", { tenant: "globex", tag: "default", priority: "low" }, 4),
    _sample("pyoco_queue_pending", { tenant: "globex", tag: "gpu", priority: "low" }, 1),
    _sample("pyoco_tenant_runs", { tenant: "acme", priority: "low", status: "PENDING" }, 3),
    _sample("pyoco_tenant_runs", { tenant: "acme", priority: "high", status: "RUNNING" }, 2),
    _sample("pyoco_tenant_runs", { tenant: "acme", priority: "high", status: "CANCELLING" }, 1),
    _sample("pyoco_tenant_runs", { tenant: "acme", priority: "high", status: "PENDING" }, 5),
    _sample("pyoco_tenant_running", { tenant: "acme" }, 2),
    _sample("pyoco_runs_total", { status: "PENDING" }, 8),
  ]);
  assert.equal(f.namespaced, true);
  assert.deepEqual(f.rows, [
    { tenant: "acme", priority: "high", pending: 5, running: 2, cancelling: 1 },
    { tenant: "acme", priority: "low", pending: 3, running: 0, cancelling: 0 },
    // Queue depth is jobs in the stream, not runs: the row is there, its counts come from runs.
    { tenant: "globex", priority: "low", pending: 0, running: 0, cancelling: 0 },
  ]);
});

Deno.test("tenantFigures() sees a shared gateway by its queues without a tenant", () => {
  const f = tenantFigures([
    _sample("pyoco_queue_pending", { tag: "default" }, 2),
    _sample("pyoco_tenant_runs", { tenant: "_", priority: "normal", status: "PENDING" }, 2),
  ]);
  assert.equal(f.namespaced, false);
  assert.deepEqual(f.rows, [
    { tenant: "_", priority: "normal", pending: 2, running: 0, cancelling: 0 },
  ]);
});
