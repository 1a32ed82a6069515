import assert from "node:assert/strict";
import { gatewayFixture } from "./_fixture.ts";

const patch = (body: unknown): RequestInit => ({
  method: "PATCH",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("GET /workers shows state, DISCONNECTED before expiry, and scope=active|all", async () => {
  // Heartbeat every 2 s → DISCONNECTED after 4 s of silence; records expire after 15 s.
  await using gw = await gatewayFixture({ appConfig: { workerHeartbeatIntervalSec: 2 } });
  const now = Date.now() / 1000;
  const put = (id: string, fields: Record<string, unknown>) =>
    gw.reader.workers.put(
      id,
      JSON.stringify({
        worker_id: id,
        heartbeat_at: now,
        tags: ["default"],
        instance_id: `i-${id}`,
        version: "0.1.0",
        concurrency: 2,
        current_run_id: null,
        ...fields,
      }),
    );
  await put("w-idle", { state: "IDLE" });
  await put("w-busy", { state: "RUNNING", current_run_id: "run-1" });
  await put("w-silent", { state: "RUNNING", heartbeat_at: now - 6 });
  await put("w-stopped", { state: "STOPPED", heartbeat_at: now - 6 });
  await put("w-hidden", { state: "IDLE", hidden: true });

  const active = await (await gw.request("/workers")).json();
  assert.deepEqual(active.map((w: { worker_id: string }) => w.worker_id), ["w-busy", "w-idle"]);
  assert.equal(active[0].current_run_id, "run-1");
  assert.equal(active[0].concurrency, 2);
  assert.equal(active[0].instance_id, "i-w-busy");
  const all = await (await gw.request("/workers?scope=all")).json();
  assert.deepEqual(
    all.map((w: { worker_id: string; state: string }) => [w.worker_id, w.state]),
    [["w-busy", "RUNNING"], ["w-idle", "IDLE"], ["w-silent", "DISCONNECTED"], [
      "w-stopped",
      "STOPPED",
    ]],
  );
  const hidden = await (await gw.request("/workers?scope=all&include_hidden=true")).json();
  assert.equal(hidden.length, 5);
  assert.equal((await gw.request("/workers?scope=some")).status, 422);
  assert.equal((await gw.request("/workers?include_hidden=perhaps")).status, 422);
  // The stored record keeps its own state.
  const stored = (await gw.reader.workers.get("w-silent"))!.json<{ state: string }>();
  assert.equal(stored.state, "RUNNING");
});

Deno.test("PATCH /workers/{id} sets hidden with compare-and-set; 404 and 422 otherwise", async () => {
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  await gw.reader.workers.put(
    "w1",
    JSON.stringify({ worker_id: "w1", heartbeat_at: now, tags: ["a"], state: "IDLE" }),
  );
  const res = await gw.request("/workers/w1", patch({ hidden: true }));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.hidden, true);
  assert.equal(body.state, "IDLE");
  assert.deepEqual(body.tags, ["a"]);
  const stored = (await gw.reader.workers.get("w1"))!;
  assert.equal(stored.json<{ hidden: boolean }>().hidden, true);
  assert.deepEqual(await (await gw.request("/workers")).json(), []);
  // Same value again: no write.
  await gw.request("/workers/w1", patch({ hidden: true }));
  assert.equal((await gw.reader.workers.get("w1"))!.revision, stored.revision);
  const shown = await (await gw.request("/workers/w1", patch({ hidden: false }))).json();
  assert.equal(shown.hidden, false);
  assert.equal((await (await gw.request("/workers")).json()).length, 1);

  const missing = await gw.request("/workers/nope", patch({ hidden: true }));
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).err_id, "ERR-PYOCO-0022");
  for (const bad of [{}, { hidden: "yes" }, { hidden: true, extra: 1 }, [true]]) {
    const r = await gw.request("/workers/w1", patch(bad));
    assert.equal(r.status, 422, JSON.stringify(bad));
  }
  assert.equal((await gw.request("/workers/w1", { method: "GET" })).status, 405);
});

Deno.test("a worker silent between the heartbeat threshold and the TTL reads the same everywhere", async () => {
  // Defaults: heartbeat 5 s → DISCONNECTED after 10 s; the record expires after 15 s. A worker
  // silent for 12 s must be dead on /workers, on /runs/{id} and in /metrics alike.
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  const record = (id: string, silentSec: number) =>
    JSON.stringify({
      worker_id: id,
      heartbeat_at: now - silentSec,
      tags: ["default"],
      state: "RUNNING",
      current_run_id: `run-${id}`,
    });
  await gw.reader.workers.put("w-silent", record("w-silent", 12));
  await gw.reader.workers.put("w-fresh", record("w-fresh", 1));
  for (const id of ["w-silent", "w-fresh"]) {
    await gw.reader.runs.put(
      `run-${id}`,
      JSON.stringify({
        run_id: `run-${id}`,
        flow_name: "hello",
        status: "RUNNING",
        params: {},
        tasks: {},
        heartbeat_at: now,
        updated_at: now,
        worker_id: id,
      }),
    );
  }

  const workers = await (await gw.request("/workers?scope=all")).json();
  const states = Object.fromEntries(
    workers.map((w: { worker_id: string; state: string }) => [w.worker_id, w.state]),
  );
  assert.deepEqual(states, { "w-fresh": "RUNNING", "w-silent": "DISCONNECTED" });

  const silentRun = await (await gw.request("/runs/run-w-silent")).json();
  assert.equal(silentRun.worker_alive, false);
  const freshRun = await (await gw.request("/runs/run-w-fresh")).json();
  assert.equal(freshRun.worker_alive, true);

  const metrics = await (await gw.request("/metrics")).text();
  assert.match(metrics, /^pyoco_workers_alive_total 1$/m);
});
