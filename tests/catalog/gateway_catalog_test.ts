/**
 * The flow catalog through the gateway (SPEC §12), against a real nats-server with a real
 * in-process worker publishing its entries: `GET /flows`, `GET /flows/{tag}/{name}`, the submit
 * check with suggestions (flow names and flow.yaml callables), `PYOCO_SUBMIT_FLOW_CHECK=off`,
 * and `waiting_reason` on a run whose tag no live worker serves.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PyocoClient, PyocoHttpError } from "../../src/client/mod.ts";
import { loadConfig } from "../../src/config.ts";
import type { FlowView } from "../../src/contract/catalog.ts";
import { loadRegistry } from "../../src/host/registry.ts";
import { Logger } from "../../src/log.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { gatewayFixture, postJson } from "../gateway/_fixture.ts";
import { poll } from "../_helpers/poll.ts";

const _registry = loadRegistry(["./examples/flows.ts", "./examples/tasks.ts"]);

async function _worker(natsUrl: string, workerId: string, tags = ["default"]) {
  const config = loadConfig({ env: { PYOCO_NATS_URL: natsUrl }, envFile: false });
  const worker = new PyocoWorker({
    config,
    registry: await _registry,
    tags,
    workerId,
    logger: new Logger({ service: "pyoco-server:worker", level: "ERROR", write: () => {} }),
  });
  await worker.connect();
  return worker;
}

function _yamlForm(yaml: string, fields: Record<string, string> = {}): RequestInit {
  const form = new FormData();
  form.set("workflow", new File([yaml], "flow.yaml"));
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return { method: "POST", body: form };
}

Deno.test("GET /flows lists what live workers offer; the submit check suggests names", async () => {
  await using fx = await gatewayFixture();
  const worker = await _worker(fx.srv.url, "cat-w1");
  try {
    const flows = await poll(async () => {
      const res = await fx.request("/flows");
      const body = await res.json() as FlowView[];
      return body.some((f) => f.flow_name === "hello" && f.live_workers.includes("cat-w1"))
        ? body
        : null;
    }, { timeoutMs: 15_000, message: "GET /flows to list hello with its live worker" });
    const hello = flows.find((f) => f.flow_name === "hello")!;
    assert.equal(hello.tag, "default");
    assert.ok(hello.graph.length > 0);
    assert.ok(hello.tasks.length > 0);
    assert.equal(typeof hello.defaults, "object");
    assert.ok(hello.callables.includes("tasks:shout"));

    const one = await fx.request("/flows/default/hello");
    assert.equal(one.status, 200);
    assert.deepEqual((await one.json()).live_workers, ["cat-w1"]);
    const filtered = await (await fx.request("/flows?tag=gpu")).json();
    assert.deepEqual(filtered, []);
    const missing = await fx.request("/flows/default/nope");
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).err_id, "ERR-PYOCO-0006");
    const badTag = await fx.request("/flows?tag=a.b");
    assert.equal(badTag.status, 422);
    assert.equal((await badTag.json()).err_id, "ERR-PYOCO-0002");

    // A typo: 422 naming the flow and the closest name; nothing is written.
    const typo = await fx.request("/runs", postJson({ flow_name: "helo" }));
    assert.equal(typo.status, 422);
    const err = await typo.json();
    assert.equal(err.err_id, "ERR-PYOCO-0006");
    assert.match(err.detail, /"helo"/);
    assert.match(err.detail, /did you mean "hello"\?/);
    assert.equal(err.errors[0].path, "flow_name");
    assert.equal(fx.backend.index.size, 0);

    // In a batch the typo is answered in its item; its neighbour is submitted.
    const batch = await fx.request(
      "/runs/batch",
      postJson({ runs: [{ flow_name: "hello" }, { flow_name: "helo" }] }),
    );
    assert.equal(batch.status, 200);
    const { items } = await batch.json();
    assert.equal(items[0].status, "PENDING");
    assert.equal(items[1].error.err_id, "ERR-PYOCO-0006");
    assert.match(items[1].error.detail, /did you mean "hello"\?/);

    // The real name passes; a tag the catalog does not know is accepted (a worker may come).
    assert.equal((await fx.request("/runs", postJson({ flow_name: "hello" }))).status, 200);
    const gpu = await fx.request("/runs", postJson({ flow_name: "helo", tag: "gpu" }));
    assert.equal(gpu.status, 200);
    const { run_id } = await gpu.json();
    const view = await (await fx.request(`/runs/${run_id}`)).json();
    assert.equal(view.status, "PENDING");
    assert.equal(view.waiting_reason, "no live worker serves tag gpu");

    // flow.yaml runs: their callables are checked the same way (the flow_name is a label).
    const okYaml = 'flow: { graph: a }\ntasks:\n  a: { callable: "tasks:shout" }\n';
    const yamlOk = await fx.request("/runs/yaml", _yamlForm(okYaml, { flow_name: "anything" }));
    assert.equal(yamlOk.status, 200, await yamlOk.clone().text());
    const badYaml = 'flow: { graph: a >> b }\ntasks:\n  a: { callable: "tasks:shuot" }\n' +
      '  b: { callable: "pyoco:echo" }\n';
    const yamlBad = await fx.request("/runs/yaml", _yamlForm(badYaml, { flow_name: "x" }));
    assert.equal(yamlBad.status, 422);
    const yamlErr = await yamlBad.json();
    assert.equal(yamlErr.err_id, "ERR-PYOCO-0006");
    assert.match(yamlErr.detail, /"tasks:shuot"/);
    assert.match(yamlErr.detail, /did you mean "tasks:shout"\?/);
  } finally {
    await worker.close();
  }
});

Deno.test("PYOCO_SUBMIT_FLOW_CHECK=off accepts any flow name", async () => {
  await using fx = await gatewayFixture({ env: { PYOCO_SUBMIT_FLOW_CHECK: "off" } });
  const worker = await _worker(fx.srv.url, "cat-w2");
  try {
    await poll(async () => {
      const body = await (await fx.request("/flows?tag=default")).json() as FlowView[];
      return body.length > 0;
    }, { message: "the catalog to be loaded" });
    const res = await fx.request("/runs", postJson({ flow_name: "helo" }));
    assert.equal(res.status, 200);
  } finally {
    await worker.close();
  }
});

Deno.test("a PENDING run shows no waiting_reason while a live worker serves its tag", async () => {
  await using fx = await gatewayFixture();
  const worker = await _worker(fx.srv.url, "cat-w3", ["slow"]);
  try {
    await poll(async () => {
      const body = await (await fx.request("/flows?tag=slow")).json() as FlowView[];
      return body.some((f) => f.live_workers.includes("cat-w3"));
    }, { message: "the worker to be live in the catalog" });
    // The worker consumes "slow" but is not running: the run stays PENDING.
    const { run_id } = await (await fx.request(
      "/runs",
      postJson({ flow_name: "hello", tag: "slow" }),
    )).json();
    const view = await (await fx.request(`/runs/${run_id}`)).json();
    assert.equal(view.status, "PENDING");
    assert.equal(view.waiting_reason, null);
  } finally {
    await worker.close();
  }
});

Deno.test("PyocoClient.listFlows() and getFlow() read the catalog", async () => {
  await using fx = await gatewayFixture();
  const worker = await _worker(fx.srv.url, "cat-w4", ["default", "gpu"]);
  try {
    const client = new PyocoClient({
      baseUrl: "http://gateway.test",
      fetch: (input, init) => fx.handler(new Request(input, init)),
    });
    const gpu = await poll(async () => {
      const flows = await client.listFlows({ tag: "gpu" });
      return flows.some((f) => f.live_workers.includes("cat-w4")) ? flows : null;
    }, { message: "the gpu flows to be listed" });
    assert.ok(gpu.every((f) => f.tag === "gpu"));
    const hello = await client.getFlow("gpu", "hello");
    assert.equal(hello.flow_name, "hello");
    assert.deepEqual(hello.live_workers, ["cat-w4"]);
    const err = await client.getFlow("gpu", "nope").catch((e) => e);
    assert.ok(err instanceof PyocoHttpError);
    assert.equal(err.status, 404);
    assert.equal(err.errId, "ERR-PYOCO-0006");
  } finally {
    await worker.close();
  }
});
