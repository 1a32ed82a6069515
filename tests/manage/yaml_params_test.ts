import assert from "node:assert/strict";
import { consumerName } from "../../src/config.ts";
import { gatewayFixture } from "../gateway/_fixture.ts";
import { flaky, manageFixture } from "./_setup.ts";

const YAML =
  "flow:\n  graph: extract >> transform >> load\n  defaults:\n    n: 1\n    label: base\n";

function yamlForm(fields: Record<string, string> = {}): RequestInit {
  const form = new FormData();
  form.set("workflow", new File([YAML], "flow.yaml"));
  form.set("flow_name", "etl_yaml");
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return { method: "POST", body: form };
}

Deno.test("POST /runs/yaml params overlay flow.defaults in the snapshot, the job and the run", async () => {
  await using gw = await manageFixture();
  flaky.broken = false;
  const res = await gw.request("/runs/yaml", yamlForm({ params: JSON.stringify({ n: 5 }) }));
  assert.equal(res.status, 200, await res.clone().text());
  const { run_id } = await res.json();
  const pending = await (await gw.request(`/runs/${run_id}`)).json();
  assert.deepEqual(pending.params, { n: 5, label: "base" });
  const done = await gw.runOne(run_id);
  assert.equal(done.status, "COMPLETED");
  assert.deepEqual(done.task_records?.extract?.output, { rows: [5, 10, 15] });
  assert.deepEqual(done.outputs, { load: { loaded: 30 } });

  // Absent: pyoco-server 0.4 behaviour, the defaults.
  const plain = await (await gw.request("/runs/yaml", yamlForm())).json();
  assert.deepEqual((await (await gw.request(`/runs/${plain.run_id}`)).json()).params, {
    n: 1,
    label: "base",
  });
  const done2 = await gw.runOne(plain.run_id);
  assert.deepEqual(done2.outputs, { load: { loaded: 6 } });
});

Deno.test("POST /runs/yaml params: not JSON, not an object, too deep or too large → 422 naming params", async () => {
  await using gw = await gatewayFixture({ env: { PYOCO_SUBMIT_FLOW_CHECK: "off" } });
  let deep = "1";
  for (let i = 0; i < 100; i++) deep = `{"a":${deep}}`;
  const cases: [string, RegExp][] = [
    ["{not json", /not valid JSON/],
    ["[1, 2]", /must be an object, got an array/],
    ["null", /must be an object, got null/],
    [deep, /deep/],
    [JSON.stringify({ big: "x".repeat(200_000) }), /at most 131072 bytes/],
  ];
  for (const [value, message] of cases) {
    const res = await gw.request("/runs/yaml", yamlForm({ params: value }));
    assert.equal(res.status, 422, value.slice(0, 40));
    const body = await res.json();
    assert.equal(body.err_id, "ERR-PYOCO-0002");
    assert.equal(body.errors[0].path, "params");
    assert.match(body.errors[0].message, message);
  }
  const file = new FormData();
  file.set("workflow", new File([YAML], "flow.yaml"));
  file.set("flow_name", "etl_yaml");
  file.set("params", new File(["{}"], "params.json"));
  const res = await gw.request("/runs/yaml", { method: "POST", body: file });
  assert.equal(res.status, 422);
  // Nothing was queued by the refused submits.
  const ci = await gw.reader.jsm.consumers.info(
    gw.config.workStream,
    consumerName(gw.config, "default"),
  )
    .catch(() => null);
  assert.equal(ci?.num_pending ?? 0, 0);
});

Deno.test("POST /runs/yaml with the same Idempotency-Key and other params → 409", async () => {
  await using gw = await gatewayFixture({ env: { PYOCO_SUBMIT_FLOW_CHECK: "off" } });
  const key = { "idempotency-key": "yaml-params" };
  const first = await gw.request("/runs/yaml", {
    ...yamlForm({ params: '{"n": 2}' }),
    headers: key,
  });
  assert.equal(first.status, 200);
  const same = await gw.request("/runs/yaml", {
    ...yamlForm({ params: '{"n": 2}' }),
    headers: key,
  });
  assert.equal((await same.json()).run_id, (await first.json()).run_id);
  const other = await gw.request("/runs/yaml", {
    ...yamlForm({ params: '{"n": 3}' }),
    headers: key,
  });
  assert.equal(other.status, 409);
});
