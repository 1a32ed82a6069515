import assert from "node:assert/strict";
import type { Job, RunSnapshot } from "../../src/contract/wire.ts";
import { gatewayFixture, postJson } from "./_fixture.ts";

Deno.test("POST /runs/batch answers every item in order; a bad item never fails its neighbours", async () => {
  await using gw = await gatewayFixture();
  const res = await gw.request(
    "/runs/batch",
    postJson({
      runs: [
        { flow_name: "hello", params: { i: 0 } },
        { flow_name: "" },
        { flow_name: "hello", tag: "gpu", params: { i: 2 } },
        "not an object",
        { flow_name: "hello", colour: "blue" },
        { flow_name: "hello", params: { i: 5 }, idempotency_key: "batch-5" },
      ],
    }),
  );
  assert.equal(res.status, 200);
  const { items } = await res.json();
  assert.deepEqual(items.map((i: { index: number }) => i.index), [0, 1, 2, 3, 4, 5]);
  const ok = items.filter((i: { run_id?: string }) => i.run_id);
  assert.deepEqual(ok.map((i: { index: number }) => i.index), [0, 2, 5]);
  for (const i of ok) assert.equal(i.status, "PENDING");
  assert.equal(items[1].error.err_id, "ERR-PYOCO-0002");
  assert.equal(items[1].error.errors[0].path, "runs[1].flow_name");
  assert.equal(items[3].error.errors[0].path, "runs[3]");
  assert.equal(items[4].error.errors[0].path, "runs[4].colour");

  // Exactly the accepted runs exist, PENDING, each with one job carrying pending_revision.
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  assert.deepEqual(keys.sort(), ok.map((i: { run_id: string }) => i.run_id).sort());
  const stream = await gw.reader.jsm.streams.info(gw.config.workStream, { subjects_filter: ">" });
  assert.deepEqual(stream.state.subjects, { "pyoco.work.default": 2, "pyoco.work.gpu": 1 });
  for (let seq = stream.state.first_seq; seq <= stream.state.last_seq; seq++) {
    const m = await gw.reader.jsm.streams.getMessage(gw.config.workStream, { seq });
    const job = m!.json<Job>();
    const entry = await gw.reader.runs.get(job.run_id);
    assert.equal(entry!.json<RunSnapshot>().status, "PENDING");
    assert.equal(job.pending_revision, entry!.revision);
  }

  // The item's idempotency_key means what the header means.
  const again = await (await gw.request(
    "/runs/batch",
    postJson({ runs: [{ flow_name: "hello", params: { i: 5 }, idempotency_key: "batch-5" }] }),
  )).json();
  assert.equal(again.items[0].run_id, items[5].run_id);
});

Deno.test("POST /runs/batch rejects a body that is not a batch, naming the limit", async () => {
  await using gw = await gatewayFixture({ appConfig: { batchMaxRuns: 3 } });
  for (
    const body of [{}, { runs: [] }, { runs: "x" }, { runs: [{}, {}, {}, {}] }, {
      runs: [{}],
      x: 1,
    }]
  ) {
    const res = await gw.request("/runs/batch", postJson(body));
    const answer = await res.json();
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(answer.err_id, "ERR-PYOCO-0002");
  }
  const tooMany = await (await gw.request("/runs/batch", postJson({ runs: [{}, {}, {}, {}] })))
    .json();
  assert.match(tooMany.detail, /1 to 3 runs \(PYOCO_BATCH_MAX_RUNS\)/);
  assert.equal((await gw.reader.runs.status()).values, 0);
});

Deno.test("POST /runs/batch of 500 runs writes them all", async () => {
  await using gw = await gatewayFixture();
  const runs = Array.from({ length: 500 }, (_, i) => ({ flow_name: "hello", params: { i } }));
  const started = performance.now();
  const { items } = await (await gw.request("/runs/batch", postJson({ runs }))).json();
  const ms = performance.now() - started;
  assert.equal(items.filter((i: { run_id?: string }) => i.run_id).length, 500);
  assert.equal((await gw.reader.runs.status()).values, 500);
  const stream = await gw.reader.jsm.streams.info(gw.config.workStream);
  assert.equal(stream.state.messages, 500);
  console.log(`500 runs in one batch: ${ms.toFixed(0)} ms`);
});
