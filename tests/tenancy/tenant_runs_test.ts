/**
 * `GET /metrics` counts the runs not yet ended per tenant and priority
 * (`pyoco_tenant_runs{tenant,priority,status}`, what the dashboard's Tenants table reads), from
 * the same run-index tally as `pyoco_tenant_running{tenant}`: a namespaced gateway, runs of two
 * tenants and of no tenant, and a real worker that serves one tenant only.
 */

import assert from "node:assert/strict";
import type { Principal } from "../../src/gateway/auth.ts";
import { loadRegistry } from "../../src/host/registry.ts";
import { Logger } from "../../src/log.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { gatewayFixture, postJson } from "../gateway/_fixture.ts";
import { poll } from "../_helpers/poll.ts";

/** The `pyoco_tenant_runs` and `pyoco_tenant_running` samples of an exposition, sorted. */
function _tenantSamples(text: string): string[] {
  return text.split("\n")
    .filter((l) => l.startsWith("pyoco_tenant_runs{") || l.startsWith("pyoco_tenant_running{"))
    .sort();
}

Deno.test("/metrics counts pending, running and cancelling runs per tenant and priority", async () => {
  await using gw = await gatewayFixture({
    env: {
      PYOCO_TENANT_ISOLATION: "namespaced",
      PYOCO_SUBMIT_FLOW_CHECK: "off",
      // The worker's run still goes at the end: do not wait for it.
      PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "0",
    },
    authenticate: () => (req: Request) => {
      const tenantId = req.headers.get("x-tenant");
      return Promise.resolve<Principal | null>(tenantId ? { tenantId, keyId: "k" } : null);
    },
  });
  const submit = async (tenant: string | null, body: Record<string, unknown>) => {
    const headers: Record<string, string> = tenant ? { "x-tenant": tenant } : {};
    const res = await gw.request("/runs", postJson({ flow_name: "slow", ...body }, headers));
    const answer = await res.json();
    assert.equal(res.status, 200, JSON.stringify(answer));
    return answer.run_id as string;
  };
  const metrics = async () => {
    const res = await gw.request("/metrics", { headers: { "x-tenant": "acme" } });
    assert.equal(res.status, 200);
    return await res.text();
  };
  const long = { params: { seconds: 60 } };
  const acmeHigh = await submit("acme", { ...long, priority: "high" });
  await submit("acme", long);
  await submit("acme", { ...long, priority: "low" });
  await submit("globex", { ...long, priority: "high" });
  await submit("globex", long);
  await submit("globex", long);
  await submit(null, { ...long, priority: "low" });

  const text = await metrics();
  assert.match(text, /# TYPE pyoco_tenant_runs gauge/);
  assert.deepEqual(_tenantSamples(text), [
    'pyoco_tenant_runs{tenant="_",priority="low",status="PENDING"} 1',
    'pyoco_tenant_runs{tenant="acme",priority="high",status="PENDING"} 1',
    'pyoco_tenant_runs{tenant="acme",priority="low",status="PENDING"} 1',
    'pyoco_tenant_runs{tenant="acme",priority="normal",status="PENDING"} 1',
    'pyoco_tenant_runs{tenant="globex",priority="high",status="PENDING"} 1',
    'pyoco_tenant_runs{tenant="globex",priority="normal",status="PENDING"} 2',
  ]);

  // A worker for acme only, one slot: it takes acme's high run first; globex's runs wait.
  const worker = new PyocoWorker({
    config: gw.config,
    registry: await loadRegistry(["tests/fixtures/flows.ts"]),
    tags: ["default"],
    tenants: ["acme"],
    concurrency: 1,
    logger: new Logger({ service: "pyoco-server:worker", level: "ERROR", write: () => {} }),
    pullExpiresMs: 1000,
  });
  await worker.connect();
  const stop = new AbortController();
  const running = worker.run(stop.signal);
  try {
    const expectRunning = [
      'pyoco_tenant_running{tenant="acme"} 1',
      'pyoco_tenant_runs{tenant="_",priority="low",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="acme",priority="high",status="RUNNING"} 1',
      'pyoco_tenant_runs{tenant="acme",priority="low",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="acme",priority="normal",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="globex",priority="high",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="globex",priority="normal",status="PENDING"} 2',
    ];
    let last: string[] = [];
    await poll(async () => {
      last = _tenantSamples(await metrics());
      return JSON.stringify(last) === JSON.stringify(expectRunning);
    }, { timeoutMs: 20_000, message: () => `acme's high run RUNNING; got\n${last.join("\n")}` });

    // Cancelled, the high run leaves the counts and acme's normal run takes the slot.
    const cancel = await gw.request(`/runs/${acmeHigh}/cancel`, {
      method: "POST",
      headers: { "x-tenant": "acme" },
    });
    assert.equal(cancel.status, 200);
    const seen = new Set<string>();
    const expectNext = [
      'pyoco_tenant_running{tenant="acme"} 1',
      'pyoco_tenant_runs{tenant="_",priority="low",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="acme",priority="low",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="acme",priority="normal",status="RUNNING"} 1',
      'pyoco_tenant_runs{tenant="globex",priority="high",status="PENDING"} 1',
      'pyoco_tenant_runs{tenant="globex",priority="normal",status="PENDING"} 2',
    ];
    await poll(async () => {
      last = _tenantSamples(await metrics());
      for (const l of last) seen.add(l);
      return JSON.stringify(last) === JSON.stringify(expectNext);
    }, { timeoutMs: 20_000, message: () => `acme's normal run RUNNING; got\n${last.join("\n")}` });
    for (const l of seen) {
      // Whatever was seen on the way (CANCELLING included) was one of acme's two runs.
      if (l.includes('status="CANCELLING"')) {
        assert.equal(l, 'pyoco_tenant_runs{tenant="acme",priority="high",status="CANCELLING"} 1');
      }
    }
  } finally {
    stop.abort();
    await running.catch(() => {});
    await worker.close();
  }
});
