import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

async function submit(url: string): Promise<{ status: number; runId: string | null }> {
  try {
    const res = await fetch(`${url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ flow_name: "hello", params: { x: 1 } }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    return { status: res.status, runId: res.status === 200 ? body.run_id : null };
  } catch (err) {
    throw new Error(`POST /runs hung or failed instead of answering: ${err}`);
  }
}

Deno.test("NATS stopped and restarted: 503 meanwhile, then every accepted run reaches a terminal state", async () => {
  await using nats = await startNatsServer();
  // A submit that reaches the gateway before it has noticed the connection drop retries for
  // PYOCO_NATS_RETRY_SEC (then the request timeout) before its 503; 2 s keeps that inside the
  // 8 s this test allows (with the default 10 s it answered after ~15 s once under load).
  await using gateway = await startGatewayProcess({
    natsUrl: nats.url,
    env: { PYOCO_NATS_RETRY_SEC: "2" },
  });
  await using _worker = await startWorkerProcess({
    natsUrl: nats.url,
    flows: ["examples/flows.ts"],
    concurrency: 4,
  });
  const accepted: string[] = [];
  const statuses: number[] = [];

  const burst = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const { status, runId } = await submit(gateway.url);
      statuses.push(status);
      if (runId) accepted.push(runId);
    }
  };

  await burst(10);
  assert.equal(accepted.length, 10, "runs are accepted while NATS is up");

  await nats.kill();
  // The gateway must answer 503 quickly (never hang, never 500) while NATS is down.
  const downStatuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = Date.now();
    const { status, runId } = await submit(gateway.url);
    downStatuses.push(status);
    if (runId) accepted.push(runId);
    assert.ok(Date.now() - started < 8000, "a submit while NATS is down answers within seconds");
  }
  assert.ok(downStatuses.every((s) => s === 503 || s === 200), `statuses: ${downStatuses}`);
  assert.ok(downStatuses.includes(503), "NATS-backed submits answer 503 while NATS is down");
  const health = await fetch(`${gateway.url}/health`).then((r) => r.json());
  assert.equal(health.status, "ok");

  await nats.restart();
  // It recovers by itself: keep submitting until a 200 comes back.
  const recovered = await poll(async () => {
    const { status, runId } = await submit(gateway.url);
    if (!runId) assert.equal(status, 503);
    return runId;
  }, {
    timeoutMs: 30_000,
    intervalMs: 200,
    message: "the gateway to recover after NATS restarted",
    retryErrors: false,
  });
  accepted.push(recovered);
  await burst(10);

  // Every run answered with 200 reaches a terminal state (the worker reconnects too).
  const pending = new Set(accepted);
  await poll(async () => {
    for (const id of [...pending]) {
      const res = await fetch(`${gateway.url}/runs/${id}`);
      if (res.status === 200) {
        const run = await res.json();
        if (TERMINAL.has(run.status)) {
          assert.equal(run.status, "COMPLETED", `run ${id}: ${run.error}`);
          pending.delete(id);
        }
      } else {
        await res.body?.cancel();
        assert.notEqual(res.status, 404, `an accepted run (${id}) was lost`);
      }
    }
    return pending.size === 0;
  }, {
    timeoutMs: 60_000,
    intervalMs: 250,
    message: () => `${pending.size} accepted runs to finish:\n${gateway.logs().slice(-3000)}`,
    retryErrors: false,
  });
  assert.ok(accepted.length >= 21);
});
