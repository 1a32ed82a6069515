/**
 * Capability-aware routing (SPEC §12) with two real worker processes on one tag, each with a
 * flow the other lacks: every run reaches the worker that has its flow (the other NAKs it
 * back), flow.yaml runs too (by their callables), none fails, nothing is dead-lettered. Then,
 * with the capable worker stopped, a job nobody live can run fails as `flow_not_found` (§4.2).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { FlowView } from "../../src/contract/catalog.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { gatewayFixture, postJson } from "../gateway/_fixture.ts";
import { poll } from "../_helpers/poll.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";

const _TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

Deno.test("jobs reach the live worker that has their flow: 0 failed runs", async () => {
  await using fx = await gatewayFixture({ env: { PYOCO_SUBMIT_FLOW_CHECK: "catalog" } });
  await using helloWorker = await startWorkerProcess({
    natsUrl: fx.srv.url,
    flows: ["./examples/flows.ts"],
    workerId: "route-hello",
  });
  await using ordersWorker = await startWorkerProcess({
    natsUrl: fx.srv.url,
    flows: ["./tests/catalog/_orders_flows.ts"],
    workerId: "route-orders",
  });
  await poll(async () => {
    const flows = await (await fx.request("/flows?tag=default")).json() as FlowView[];
    const live = (name: string) => flows.find((f) => f.flow_name === name)?.live_workers ?? [];
    return live("hello").includes("route-hello") && live("orders").includes("route-orders");
  }, { timeoutMs: 20_000, message: "both workers to be live in the catalog" });

  const runs: { id: string; flow: string }[] = [];
  for (let i = 0; i < 12; i++) {
    // Six of one flow in a row: both workers are pulling, so some land on the wrong one.
    const flow = i < 6 ? "hello" : "orders";
    const res = await fx.request("/runs", postJson({ flow_name: flow }));
    assert.equal(res.status, 200, await res.clone().text());
    runs.push({ id: (await res.json()).run_id, flow });
  }
  // flow.yaml runs whose task only the orders worker registers go there too.
  for (let i = 0; i < 4; i++) {
    const form = new FormData();
    form.set("workflow", new File(["flow: { graph: take }\n"], "flow.yaml"));
    form.set("flow_name", "yaml_take");
    const res = await fx.request("/runs/yaml", { method: "POST", body: form });
    assert.equal(res.status, 200, await res.clone().text());
    runs.push({ id: (await res.json()).run_id, flow: "yaml_take" });
  }
  const done = await poll(async () => {
    const views: RunSnapshot[] = [];
    for (const r of runs) views.push(await (await fx.request(`/runs/${r.id}`)).json());
    return views.every((v) => _TERMINAL.has(v.status)) ? views : null;
  }, {
    timeoutMs: 60_000,
    message: () => `every run to finish\n${helloWorker.logs()}\n${ordersWorker.logs()}`,
  });
  for (const [i, view] of done.entries()) {
    assert.equal(view.status, "COMPLETED", `${runs[i]!.flow}: ${view.error}`);
    assert.equal(
      view.worker_id,
      runs[i]!.flow === "hello" ? "route-hello" : "route-orders",
      runs[i]!.flow,
    );
  }
  const dlq = await fx.backend.jsm.streams.info(fx.config.dlqStream);
  assert.equal(dlq.state.messages, 0);
  // Some jobs did land on the wrong worker first, and were handed back (not failed).
  const handedBack = (helloWorker.logs() + ordersWorker.logs())
    .split("\n").filter((l) => l.includes("Flow not on this worker")).length;
  assert.ok(handedBack > 0, "no job was handed back: the test did not exercise the routing");

  // No live worker has the flow any more: flow_not_found, as before SPEC §12.
  assert.equal(await helloWorker.stop(), 0);
  const res = await fx.request("/runs", postJson({ flow_name: "hello" }));
  assert.equal(res.status, 200);
  const { run_id } = await res.json();
  const failed = await poll(async () => {
    const view = await (await fx.request(`/runs/${run_id}`)).json() as RunSnapshot;
    return _TERMINAL.has(view.status) ? view : null;
  }, { timeoutMs: 30_000, message: "the run without a capable worker to fail" });
  assert.equal(failed.status, "FAILED");
  assert.match(String(failed.error), /^flow_not_found: /);
});
