import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";

const FAST = {
  PYOCO_WORKERS_KV_TTL_SEC: "2",
  PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC: "0.3",
  PYOCO_WORKER_DISCONNECTED_AFTER_SEC: "1",
};

type View = { worker_id: string; state: string; heartbeat_at: number; lost_at?: number };

Deno.test("A SIGKILLed worker process stays on /workers?scope=all as LOST after its record expired, across a gateway restart", async () => {
  await using nats = await startNatsServer();
  let gateway = await startGatewayProcess({ natsUrl: nats.url, env: FAST });
  try {
    const worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts"],
      env: FAST,
    });
    const id = worker.workerId;
    const list = async (g = gateway): Promise<View[]> =>
      await (await fetch(`${g.url}/workers?scope=all`)).json();
    await poll(async () => (await list()).some((w) => w.worker_id === id && w.state === "IDLE"), {
      message: "the worker to be listed IDLE",
    });
    await worker.kill();
    const lost = await poll(async () => {
      const w = (await list()).find((v) => v.worker_id === id);
      return w?.state === "LOST" ? w : null;
    }, { message: "the killed worker to show as LOST", timeoutMs: 20_000 });
    assert.equal(typeof lost.heartbeat_at, "number");
    assert.ok(lost.lost_at! >= lost.heartbeat_at);
    const active: View[] = await (await fetch(`${gateway.url}/workers`)).json();
    assert.ok(!active.some((w) => w.worker_id === id), "scope=active hides it");

    await gateway.stop();
    gateway = await startGatewayProcess({ natsUrl: nats.url, env: FAST });
    const after = (await list(gateway)).find((v) => v.worker_id === id);
    assert.equal(after?.state, "LOST");
    assert.equal(after?.heartbeat_at, lost.heartbeat_at);
  } finally {
    await gateway.stop();
  }
});
