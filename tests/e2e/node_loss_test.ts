/**
 * Issue 12 #5: on a 3-node JetStream cluster with every resource at 3 replicas, SIGKILL of the
 * node that leads the runs bucket under a steady submit load is invisible to clients but for
 * latency: no submit fails, every accepted run completes, and none runs twice.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { startNatsCluster } from "../_helpers/nats_cluster.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

async function submit(url: string, i: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flow_name: "hello", params: { x: i } }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: await res.text() };
}

Deno.test({
  name:
    "3-node cluster: killing the runs bucket's leader under load loses no submit and runs nothing twice",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using cluster = await startNatsCluster({ size: 3 });
    const natsUrl = cluster.urls.join(",");
    const env = { PYOCO_JS_REPLICAS: "3", PYOCO_NATS_RETRY_SEC: "15" };
    await using gateway = await startGatewayProcess({ natsUrl, env });
    await using _worker = await startWorkerProcess({
      natsUrl,
      flows: ["examples/flows.ts"],
      concurrency: 4,
      env,
    });
    const leader = await cluster.leaderOf("KV_pyoco_runs");

    const results: { status: number; body: string }[] = [];
    const total = 120;
    let killed = false;
    for (let i = 0; i < total; i++) {
      if (i === 30) {
        await cluster.kill(leader);
        killed = true;
      }
      const started = Date.now();
      results.push(await submit(gateway.url, i));
      // A steady load of about 20 submits a second.
      const rest = 50 - (Date.now() - started);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
    assert.ok(killed);
    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${total} submits failed`);
    const runIds = results.map((r) => JSON.parse(r.body).run_id as string);

    const nc = await connect({ servers: cluster.urls.filter((_, i) => i !== leader) });
    try {
      const runs = await new Kvm(nc).open("pyoco_runs");
      const snapshots = await poll(async () => {
        const all = await Promise.all(runIds.map((id) => runs.get(id)));
        const snaps = all.map((e) => e?.json<RunSnapshot>() ?? null);
        return snaps.every((s) => s !== null && TERMINAL.has(s.status)) ? snaps : null;
      }, { timeoutMs: 90_000, message: "every accepted run to end" });
      const notCompleted = snapshots.filter((s) => s!.status !== "COMPLETED");
      assert.deepEqual(notCompleted.map((s) => [s!.run_id, s!.status, s!.error]), []);
      // A run that ran twice ends with the delivery count of its second execution.
      const again = snapshots.filter((s) => (s!.attempt ?? 1) > 1);
      assert.deepEqual(again.map((s) => [s!.run_id, s!.attempt]), [], "no run ran twice");
    } finally {
      await nc.close();
    }
  },
});
