import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { openBackend } from "../../src/runs/backend.ts";
import { createApp } from "../../src/gateway/app.ts";
import { Logger } from "../../src/log.ts";
import { gatewayFixture } from "../gateway/_fixture.ts";
import { poll } from "../_helpers/poll.ts";

const FAST = {
  PYOCO_WORKERS_KV_TTL_SEC: "1.5",
  PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC: "0.25",
  PYOCO_WORKER_DISCONNECTED_AFTER_SEC: "0.5",
};

type View = { worker_id: string; state: string; heartbeat_at: number; lost_at?: number };

Deno.test("A worker whose record expired stays on /workers?scope=all as LOST, also for a restarted gateway", async () => {
  await using gw = await gatewayFixture({ env: FAST });
  const heartbeat = Date.now() / 1000;
  const record = { worker_id: "w-dead", heartbeat_at: heartbeat, tags: ["default"], state: "IDLE" };
  await gw.reader.workers.put("w-dead", JSON.stringify(record));
  await gw.reader.workers.put(
    "w-stopped",
    JSON.stringify({ ...record, worker_id: "w-stopped", state: "STOPPED" }),
  );

  // The TTL bucket forgets both (1.5 s); the history keeps them.
  const all = await poll(async () => {
    const keys: string[] = [];
    for await (const k of await gw.reader.workers.keys()) keys.push(k);
    if (keys.length > 0) return null;
    const views: View[] = await (await gw.request("/workers?scope=all")).json();
    return views.length === 2 ? views : null;
  }, { message: "the records to expire and the history to list them" });
  assert.deepEqual(all.map((w) => [w.worker_id, w.state]), [["w-dead", "LOST"], [
    "w-stopped",
    "STOPPED",
  ]]);
  assert.equal(all[0]!.heartbeat_at, heartbeat);
  assert.equal(typeof all[0]!.lost_at, "number");
  assert.deepEqual(await (await gw.request("/workers")).json(), [], "scope=active hides them");

  // A gateway started afterwards (a restart) shows them too: the history is in KV.
  const nc = await connect({ servers: gw.srv.url });
  const logger = new Logger({ service: "pyoco-server:http", write: () => {} });
  const second = await openBackend(nc, gw.config, { logger });
  try {
    const app = createApp({ config: gw.config, logger, backend: () => second });
    const views: View[] = await (await app(new Request("http://gw/workers?scope=all"))).json();
    assert.deepEqual(views.map((w) => [w.worker_id, w.state]), [["w-dead", "LOST"], [
      "w-stopped",
      "STOPPED",
    ]]);
  } finally {
    await second.close();
    await nc.close();
  }

  // It comes back: live again, and no longer LOST.
  await gw.reader.workers.put(
    "w-dead",
    JSON.stringify({ ...record, heartbeat_at: Date.now() / 1000 }),
  );
  const back = await poll(async () => {
    const views: View[] = await (await gw.request("/workers?scope=all")).json();
    const w = views.find((v) => v.worker_id === "w-dead");
    return w?.state === "IDLE" ? w : null;
  }, { message: "the worker to be live again" });
  assert.equal(back.lost_at, undefined);
  await poll(async () => {
    const e = await gw.backend.history.get("workers.w-dead");
    return e === null || e.operation !== "PUT";
  }, { message: "the history record to be removed" });
});

Deno.test("PYOCO_WORKERS_HISTORY_SEC bounds the history; 0 turns it off", async () => {
  await using gw = await gatewayFixture({ env: { ...FAST, PYOCO_WORKERS_HISTORY_SEC: "0" } });
  await gw.reader.workers.put(
    "w-gone",
    JSON.stringify({
      worker_id: "w-gone",
      heartbeat_at: Date.now() / 1000,
      tags: [],
      state: "IDLE",
    }),
  );
  await poll(async () => {
    const views: View[] = await (await gw.request("/workers?scope=all")).json();
    return views.length === 0;
  }, { message: "the record to expire" });
  const keys: string[] = [];
  for await (const k of await gw.backend.history.keys()) keys.push(k);
  assert.deepEqual(keys, []);

  // A record older than the history window is not listed.
  await using gw2 = await gatewayFixture({ env: { ...FAST, PYOCO_WORKERS_HISTORY_SEC: "60" } });
  const old = Date.now() / 1000 - 120;
  await gw2.backend.history.put(
    "workers.w-old",
    JSON.stringify({
      worker_id: "w-old",
      heartbeat_at: old,
      tags: [],
      state: "IDLE",
      lost_at: old,
    }),
  );
  assert.deepEqual(await (await gw2.request("/workers?scope=all")).json(), []);
});
