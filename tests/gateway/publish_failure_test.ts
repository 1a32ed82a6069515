import assert from "node:assert/strict";
import { gatewayFixture, postJson } from "./_fixture.ts";

async function runKeys(gw: Awaited<ReturnType<typeof gatewayFixture>>): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  return keys;
}

Deno.test("POST /runs answers 503 and leaves no snapshot when the work stream is gone", async () => {
  await using gw = await gatewayFixture();
  await gw.reader.jsm.streams.delete(gw.config.workStream);
  const res = await gw.request("/runs", postJson({ flow_name: "hello" }));
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.err_id, "ERR-PYOCO-0003");
  assert.equal(body.msg_id, "MSG-PYOCO-0003");
  // The snapshot was created, then withdrawn: no live key, nothing listed.
  assert.deepEqual(await runKeys(gw), []);
  const list = await (await gw.request("/runs")).json();
  assert.deepEqual(list, []);
  const logged = gw.logs.map((l) => JSON.parse(l)).find((l) =>
    l.level === "ERROR" && l.err_id === "ERR-PYOCO-0003" && typeof l.run_id === "string"
  );
  assert.ok(logged, "the failed publish was logged with its run_id");
  const entry = await gw.reader.runs.get(logged.run_id);
  assert.ok(entry === null || entry.operation !== "PUT");
});

Deno.test("POST /runs/yaml answers 503 and leaves no snapshot when no stream takes the subject", async () => {
  await using gw = await gatewayFixture({ appConfig: { workSubjectPrefix: "nowhere.work" } });
  const form = new FormData();
  form.append("workflow", new File(["flow:\n  graph: a >> b\n"], "flow.yaml"));
  form.append("flow_name", "f");
  const res = await gw.request("/runs/yaml", { method: "POST", body: form });
  assert.equal(res.status, 503);
  assert.equal((await res.json()).err_id, "ERR-PYOCO-0003");
  const json = await gw.request("/runs", postJson({ flow_name: "hello" }));
  assert.equal(json.status, 503);
  assert.deepEqual(await runKeys(gw), []);
  assert.equal((await gw.reader.jsm.streams.info(gw.config.workStream)).state.messages, 0);
});
