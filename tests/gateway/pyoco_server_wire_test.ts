/**
 * Records written by pyoco-server 0.4 workers (fixtures in tests/fixtures/pyoco_server_0_4/) read
 * through our gateway: dead letters listed with their tenant and replayed, and `worker_alive` for a
 * run whose later snapshots lack `worker_id` (SPEC §16).
 */
import assert from "node:assert/strict";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { listDeadLetters } from "../../src/runs/dead_letters.ts";
import { poll } from "../_helpers/poll.ts";
import { gatewayFixture, postJson } from "./_fixture.ts";

const fixture = (name: string) =>
  Deno.readTextFile(new URL(`../fixtures/pyoco_server_0_4/${name}`, import.meta.url));

Deno.test("dead letters written by a pyoco-server 0.4 worker are listed with their tenant and replayed", async () => {
  await using gw = await gatewayFixture();
  const snapshot = await fixture("snapshot_progress.json");
  await gw.reader.runs.put("py-run-exec-1", snapshot);
  const js = gw.reader.nc;
  js.publish("pyoco.dlq.default", await fixture("dlq_invalid_job.json"));
  js.publish("pyoco.dlq.default", await fixture("dlq_execution_error.json"));
  await poll(
    async () => (await gw.reader.jsm.streams.info(gw.config.dlqStream)).state.messages === 2,
    {
      message: "both dead letters to be stored",
    },
  );

  const listed = await (await gw.request("/dlq")).json();
  assert.deepEqual(listed.map((e: { reason: string }) => e.reason), [
    "execution_error",
    "invalid_job",
  ]);
  const [exec, invalid] = listed;
  assert.equal(exec.tenant_id, "acme");
  assert.equal(exec.run_id, "py-run-exec-1");
  assert.equal(invalid.error, "invalid_json");
  assert.equal(invalid.payload, "{not json");

  // The tenant comes from the top-level field: acme sees its entry, another tenant does not.
  const forAcme = await listDeadLetters(gw.reader.jsm, gw.config, { tenantId: "acme" });
  assert.deepEqual(forAcme.map((e) => e.run_id), ["py-run-exec-1"]);
  const forOther = await listDeadLetters(gw.reader.jsm, gw.config, { tenantId: "other" });
  assert.deepEqual(forOther, []);

  // Replay rebuilds the job from the run's snapshot (pyoco-server stores no job in the entry).
  const res = await gw.request(`/dlq/${exec.seq}/replay`, { method: "POST" });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.replayed_from, exec.seq);
  const replayed = (await gw.reader.runs.get(body.run_id))!.json<RunSnapshot>();
  assert.equal(replayed.flow_name, "hello");
  assert.deepEqual(replayed.params, { x: 7 });
  assert.equal(replayed.tenant_id, "acme");
  assert.equal(replayed.api_key_id, "k1");

  // The invalid_job's raw text is not a job: 422 naming why, nothing written.
  const bad = await gw.request(`/dlq/${invalid.seq}/replay`, { method: "POST" });
  assert.equal(bad.status, 422);
  assert.match((await bad.json()).detail, /not a JSON object/);
});

Deno.test("a run whose later pyoco-server snapshots lack worker_id still gets worker_alive", async () => {
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  await gw.reader.workers.put(
    "py-worker-1",
    JSON.stringify({ worker_id: "py-worker-1", heartbeat_at: now, tags: ["default"] }),
  );
  await gw.reader.runs.put("py-run-exec-1", await fixture("snapshot_running.json"));
  await poll(() => gw.backend.index.get("py-run-exec-1")?.worker_id === "py-worker-1", {
    message: "the index to see the first snapshot",
  });
  const rev = await gw.reader.runs.put("py-run-exec-1", await fixture("snapshot_progress.json"));
  await poll(() => gw.backend.index.get("py-run-exec-1")?.revision === rev, {
    message: "the index to see the progress snapshot",
  });
  const view = await (await gw.request("/runs/py-run-exec-1")).json();
  assert.equal(view.worker_id, "py-worker-1");
  assert.equal(view.worker_alive, true);
  assert.deepEqual(view.worker_tags, ["default"]);
});

Deno.test("tags without tag queue on PYOCO_DEFAULT_TAG and ?tag= matches the queue tag only (SPEC §16)", async () => {
  await using gw = await gatewayFixture();
  const a = await (await gw.request("/runs", postJson({ flow_name: "hello", tags: ["cpu"] })))
    .json();
  const b = await (await gw.request("/runs", postJson({ flow_name: "hello", tag: "cpu" }))).json();
  const work = await gw.reader.jsm.streams.info(gw.config.workStream, { subjects_filter: ">" });
  assert.deepEqual(work.state.subjects, { "pyoco.work.default": 1, "pyoco.work.cpu": 1 });
  const onCpu = await (await gw.request("/runs?tag=cpu")).json();
  assert.deepEqual(onCpu.map((r: { run_id: string }) => r.run_id), [b.run_id]);
  const onDefault = await (await gw.request("/runs?tag=default")).json();
  assert.deepEqual(onDefault.map((r: { run_id: string }) => r.run_id), [a.run_id]);
});
