/**
 * Issue 12 #4 / SPEC §11: a gateway that dies between the KV create and the publish leaves a
 * PENDING run without a job. Another gateway's sweeper finds it and re-publishes its job, and a
 * worker completes it: no run stays PENDING forever.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { loadConfig } from "../../src/config.ts";
import { ensureResources } from "../../src/nats/resources.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";
import { orphanSnapshotJson } from "../_helpers/orphan.ts";

Deno.test("an orphaned PENDING run is re-published by the sweeper and completes", async () => {
  await using nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  try {
    const config = loadConfig({ env: { PYOCO_NATS_URL: nats.url }, envFile: false });
    await ensureResources(nc, config);
    const runs = await new Kvm(nc).open(config.runsKvBucket);
    // What a gateway SIGKILLed after its KV create leaves behind: a snapshot, no job.
    await runs.create(
      "orphan-1",
      orphanSnapshotJson("orphan-1", { flow: "hello", params: { x: 3 } }),
    );
    const env = { PYOCO_ORPHAN_AFTER_SEC: "1", PYOCO_SWEEP_INTERVAL_SEC: "0.5" };
    await using gateway = await startGatewayProcess({ natsUrl: nats.url, env });
    await using _worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts"],
    });
    const done = await poll(async () => {
      const s = (await runs.get("orphan-1"))?.json<RunSnapshot>();
      return s?.status === "COMPLETED" ? s : null;
    }, { timeoutMs: 20_000, message: () => `the orphan to complete\n${gateway.logs()}` });
    assert.deepEqual(done.params, { x: 3 });
    assert.match(gateway.logs(), /Orphaned run: its job was published again/);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(metrics, /^pyoco_runs_swept_total\{reason="orphan_republished"\} 1$/m);
  } finally {
    await nc.close();
  }
});
