import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { WorkerHeartbeat } from "../../src/worker/heartbeat.ts";
import { Logger } from "../../src/log.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";

Deno.test("WorkerHeartbeat coalesces state changes into few writes and keeps hidden", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  try {
    const kv = await new Kvm(nc).create("hb_test", { history: 1 });
    const hb = new WorkerHeartbeat({
      kv,
      workerId: "w1",
      tags: ["default"],
      concurrency: 4,
      intervalSec: 60,
      logger: new Logger({ service: "pyoco-server:worker", write: () => {} }),
    });
    await hb.start();
    const first = (await kv.get("w1"))!.revision;
    // 40 run starts/ends in a burst: one coalesced write carries the final state.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      writes.push(hb.setRuns([`r${i}`]));
      writes.push(hb.setRuns([]));
    }
    writes.push(hb.setRuns(["last"]));
    await Promise.all(writes);
    const entry = (await kv.get("w1"))!;
    const record = entry.json<Record<string, unknown>>();
    assert.equal(record.state, "RUNNING");
    assert.deepEqual(record.current_run_ids, ["last"]);
    assert.ok(entry.revision - first <= 2, `${entry.revision - first} writes for 41 changes`);

    // Someone (the gateway's PATCH) hides the worker: the next write keeps it.
    await kv.update("w1", JSON.stringify({ ...record, hidden: true }), entry.revision);
    await hb.setRuns([]);
    const after = (await kv.get("w1"))!.json<Record<string, unknown>>();
    assert.equal(after.hidden, true);
    assert.equal(after.state, "IDLE");
    await hb.stop();
    assert.equal((await kv.get("w1"))!.json<Record<string, unknown>>().state, "STOPPED");
  } finally {
    await nc.close();
  }
});
