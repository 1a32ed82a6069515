/**
 * Gateway routing by tenant and priority (SPEC §13): in namespaced mode a submit lands on
 * `pyoco.<tenant>.work.<tag>[.high|.low]` (tenant from the key, `_` without one), `priority`
 * is validated and kept in snapshot and job, and `/metrics` shows pending per tenant, tag and
 * priority; in shared mode a normal run's subject and bytes are pyoco-server 0.4's.
 */

import assert from "node:assert/strict";
import type { Principal } from "../../src/gateway/auth.ts";
import type { Job, RunSnapshot } from "../../src/contract/wire.ts";
import { gatewayFixture, postJson } from "../gateway/_fixture.ts";

async function _queued(
  gw: Awaited<ReturnType<typeof gatewayFixture>>,
): Promise<Record<string, Job>> {
  const info = await gw.reader.jsm.streams.info(gw.config.workStream, { subjects_filter: ">" });
  const out: Record<string, Job> = {};
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const m = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
      last_by_subj: subject,
    });
    out[subject] = m!.json<Job>();
  }
  return out;
}

Deno.test("namespaced: a submit goes to its tenant's subject with its priority", async () => {
  await using gw = await gatewayFixture({
    env: { PYOCO_TENANT_ISOLATION: "namespaced" },
    authenticate: () => (req: Request) => {
      const tenantId = req.headers.get("x-tenant");
      return Promise.resolve<Principal | null>(tenantId ? { tenantId, keyId: "k" } : null);
    },
  });
  const submit = async (body: unknown, tenant?: string) => {
    const res = await gw.request("/runs", postJson(body, tenant ? { "x-tenant": tenant } : {}));
    return { status: res.status, body: await res.json() };
  };
  const a = await submit({ flow_name: "hello", priority: "high" }, "acme");
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const b = await submit({ flow_name: "hello", tag: "gpu" }, "globex");
  const c = await submit({ flow_name: "hello", priority: "low" });
  const bad = await submit({ flow_name: "hello", priority: "urgent" }, "acme");
  assert.equal(bad.status, 422);
  assert.equal(bad.body.errors[0].path, "priority");

  const queued = await _queued(gw);
  assert.deepEqual(Object.keys(queued).sort(), [
    "pyoco._.work.default.low",
    "pyoco.acme.work.default.high",
    "pyoco.globex.work.gpu",
  ]);
  assert.equal(queued["pyoco.acme.work.default.high"]!.run_id, a.body.run_id);
  assert.equal(queued["pyoco.acme.work.default.high"]!.priority, "high");
  assert.equal(queued["pyoco.globex.work.gpu"]!.run_id, b.body.run_id);
  assert.equal(queued["pyoco.globex.work.gpu"]!.priority, undefined, "normal is not written");
  assert.equal(queued["pyoco._.work.default.low"]!.run_id, c.body.run_id);
  // Namespaced: the snapshot is keyed `<tenant>.<run_id>` (docs/tenancy.md), nothing at the bare id.
  assert.equal(await gw.reader.runs.get(a.body.run_id), null);
  const snap = (await gw.reader.runs.get(`acme.${a.body.run_id}`))!.json<RunSnapshot>();
  assert.equal(snap.priority, "high");

  // Batch items take a priority too.
  const batch = await gw.request(
    "/runs/batch",
    postJson({ runs: [{ flow_name: "hello", priority: "low" }, { flow_name: "x", priority: 1 }] }, {
      "x-tenant": "acme",
    }),
  );
  const items = (await batch.json()).items;
  assert.ok(items[0].run_id, JSON.stringify(items));
  assert.equal(items[1].error.err_id, "ERR-PYOCO-0002");
  assert.ok((await _queued(gw))["pyoco.acme.work.default.low"]);

  // A flow.yaml run takes the priority form field.
  const form = new FormData();
  form.set(
    "workflow",
    new File(
      ['version: 1\nflow:\n  graph: |\n    one\ntasks:\n  one: { callable: "pyoco:echo" }\n'],
      "flow.yaml",
    ),
  );
  form.set("flow_name", "y");
  form.set("priority", "high");
  const yaml = await gw.request("/runs/yaml", {
    method: "POST",
    body: form,
    headers: { "x-tenant": "globex" },
  });
  const yamlBody = await yaml.json();
  assert.equal(yaml.status, 200, JSON.stringify(yamlBody));
  assert.equal((await _queued(gw))["pyoco.globex.work.default.high"]?.run_id, yamlBody.run_id);
  form.set("priority", "urgent");
  const badYaml = await gw.request("/runs/yaml", {
    method: "POST",
    body: form,
    headers: { "x-tenant": "globex" },
  });
  assert.equal(badYaml.status, 422);
  assert.ok(
    (await badYaml.json()).errors.some((e: { path: string }) => e.path === "priority"),
  );

  const metrics = await (await gw.request("/metrics", { headers: { "x-tenant": "acme" } })).text();
  assert.match(metrics, /pyoco_queue_pending\{tenant="acme",tag="default",priority="high"\} 1/);
  assert.match(metrics, /pyoco_queue_pending\{tenant="acme",tag="default",priority="low"\} 1/);
  assert.match(metrics, /pyoco_queue_pending\{tenant="globex",tag="gpu",priority="normal"\} 1/);
  assert.match(metrics, /pyoco_queue_pending\{tenant="_",tag="default",priority="low"\} 1/);
  assert.match(metrics, /# TYPE pyoco_tenant_running gauge/);
});

Deno.test("shared: a normal submit keeps pyoco-server 0.4's subject; others get a suffix", async () => {
  await using gw = await gatewayFixture();
  const res = await gw.request("/runs", postJson({ flow_name: "hello" }));
  const { run_id } = await res.json();
  const hi = await (await gw.request("/runs", postJson({ flow_name: "hello", priority: "high" })))
    .json();
  const queued = await _queued(gw);
  assert.deepEqual(Object.keys(queued).sort(), ["pyoco.work.default", "pyoco.work.default.high"]);
  assert.equal(queued["pyoco.work.default"]!.run_id, run_id);
  assert.equal("priority" in queued["pyoco.work.default"]!, false);
  assert.equal(queued["pyoco.work.default.high"]!.run_id, hi.run_id);
  const snap = (await gw.reader.runs.get(run_id))!.json<RunSnapshot>();
  assert.equal("priority" in snap, false, "a normal run's snapshot is 0.4's");
  const metrics = await (await gw.request("/metrics")).text();
  assert.match(metrics, /pyoco_queue_pending\{tag="default"\} 2/);
});
