import assert from "node:assert/strict";
import { gatewayFixture, postJson } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

async function runKeys(gw: Awaited<ReturnType<typeof gatewayFixture>>): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  return keys;
}

// These submits fail for good; a short retry window (PYOCO_NATS_RETRY_SEC) keeps them quick.
const shortRetry = { natsRetrySec: 0.3 };

Deno.test("POST /runs answers 503 and leaves no snapshot when the work stream is gone", async () => {
  await using gw = await gatewayFixture({ appConfig: shortRetry });
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
  await using gw = await gatewayFixture({
    appConfig: { workSubjectPrefix: "nowhere.work", ...shortRetry },
  });
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

Deno.test("POST /runs rides out a work stream that comes back within PYOCO_NATS_RETRY_SEC", async () => {
  await using gw = await gatewayFixture({ appConfig: { natsRetrySec: 10 } });
  const info = await gw.reader.jsm.streams.info(gw.config.workStream);
  await gw.reader.jsm.streams.delete(gw.config.workStream);
  const pending = gw.request("/runs", postJson({ flow_name: "hello" }));
  // The stream comes back only after a try has failed (and was logged as retried).
  await poll(() => gw.logs.some((l) => l.includes("retrying")), { message: "a failed try" });
  await gw.reader.jsm.streams.add(info.config);
  const res = await pending;
  assert.equal(res.status, 200);
  const { run_id } = await res.json();
  const stream = await gw.reader.jsm.streams.info(gw.config.workStream);
  assert.equal(stream.state.messages, 1, "the job was queued once");
  const job = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    seq: stream.state.last_seq,
  });
  assert.ok(job !== null);
  assert.equal(job.json<{ run_id: string }>().run_id, run_id);
  assert.equal(job.header?.get("Nats-Msg-Id"), run_id);
  const warned = gw.logs.some((l) => l.includes("retrying") && l.includes(run_id));
  assert.ok(warned, "the retries were logged with the run id");
});
