/**
 * The worker through a NATS outage (issue 12): a terminal write that fails while NATS is away
 * is retried for up to PYOCO_NATS_RETRY_SEC instead of NAKed (the flow does not run twice), and
 * a worker process started before NATS waits for it instead of exiting.
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig, workSubject } from "../../src/config.ts";
import type { RunSnapshot, WorkerRecord } from "../../src/contract/wire.ts";
import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { createJson, getJson } from "../../src/nats/kv.ts";
import { ensureResources } from "../../src/nats/resources.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { counted, executions } from "../fixtures/flows.ts";
import { freePort, startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";
import { REPO_ROOT } from "../_helpers/worker_process.ts";
import { registryOf, setupWorkerTest } from "./_setup.ts";

Deno.test("PyocoWorker retries a terminal write through a NATS restart: the run completes once, no NAK", async () => {
  // Events off: their publish would wait out its own timeout while NATS is away.
  await using t = await setupWorkerTest({
    PYOCO_NATS_RETRY_SEC: "60",
    PYOCO_EVENTS_PUBLISH: "false",
  });
  await using worker = new PyocoWorker({
    config: t.config,
    registry: registryOf([counted]),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: t.logger,
  });
  await worker.connect();
  const before = executions.counted;
  const job = await t.submit("counted", { seconds: 1 });
  const result = worker.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "RUNNING",
  });
  // NATS goes away while the task runs: the terminal write meets no server.
  await t.srv.kill();
  await poll(() => t.lines.some((l) => l.includes("Cannot write the terminal snapshot yet")), {
    timeoutMs: 30_000,
    message: () => `a retried terminal write:\n${t.lines.slice(-20).join("\n")}`,
  });
  await t.srv.restart();

  const r = await result;
  assert.equal(r?.outcome, "completed", JSON.stringify(r));
  assert.equal(r?.action, "ack");
  assert.equal(executions.counted, before + 1, "executed once");
  const snap = await poll(() => t.snapshot(job.run_id), { timeoutMs: 20_000 });
  assert.equal(snap.status, "COMPLETED");
  assert.equal(snap.attempt, 1);
  assert.ok(t.lines.some((l) => l.includes("ERR-PYOCO-0008")));
  assert.ok(!t.lines.some((l) => l.includes("NAK for redelivery")), "never NAKed");
  const ci = await poll(async () => {
    const info = await t.consumerInfo();
    return info.num_ack_pending === 0 && info.num_pending === 0 ? info : null;
  }, { timeoutMs: 20_000, message: "the consumer to settle" });
  assert.equal(ci.num_redelivered, 0, "not redelivered");
});

Deno.test("worker process started before NATS waits for it with backoff, then runs jobs", async () => {
  const port = freePort();
  const url = `nats://127.0.0.1:${port}`;
  const workerId = `early-${crypto.randomUUID().slice(0, 6)}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...WORKER_PERMISSIONS,
      "cli/worker.ts",
      "--nats-url",
      url,
      "--worker-id",
      workerId,
      "--flows",
      "tests/fixtures/flows.ts",
    ],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let code: number | null = null;
  const exited = child.status.then(async (s) => {
    await pumps;
    code = s.code;
    return s.code;
  });
  try {
    // Two attempts, both logged, and the process is still there.
    await poll(() => (text.match(/Waiting for NATS/g)?.length ?? 0) >= 2 || code !== null, {
      timeoutMs: 30_000,
      message: () => `two "Waiting for NATS" lines:\n${text}`,
    });
    assert.equal(code, null, `the worker exited while waiting:\n${text}`);

    await using srv = await startNatsServer({ port });
    await poll(() => text.includes(`Worker ${workerId} ready`), {
      timeoutMs: 30_000,
      message: () => `the ready line:\n${text}`,
    });

    // A job submitted as the gateway does is run.
    const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
    const nc = await connect({ servers: srv.url });
    try {
      const buckets = await ensureResources(nc, config);
      const js = (await jetstreamManager(nc)).jetstream();
      const runId = crypto.randomUUID();
      const now = Date.now() / 1000;
      const job = {
        run_id: runId,
        flow_name: "quick",
        tag: "default",
        tags: ["default"],
        params: {},
        submitted_at: now,
      };
      await createJson(buckets.runs, runId, {
        ...job,
        status: "PENDING",
        tasks: {},
        heartbeat_at: now,
        updated_at: now,
        worker_id: null,
      });
      await js.publish(workSubject(config, "default"), JSON.stringify(job), { msgID: runId });
      const done = await poll(async () => {
        const s = (await getJson<RunSnapshot>(buckets.runs, runId))?.value;
        return s?.status === "COMPLETED" ? s : null;
      }, { timeoutMs: 20_000, message: () => `the run to complete:\n${text}` });
      assert.equal(done.worker_id, workerId);
      const record = await getJson<WorkerRecord>(buckets.workers, workerId);
      assert.ok(record, "liveness record written");
    } finally {
      await nc.close();
    }
    child.kill("SIGTERM");
    assert.equal(await exited, 0, text);
  } finally {
    if (code === null) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await exited;
  }
});

Deno.test("worker process stopped while waiting for NATS exits 0", async () => {
  const url = `nats://127.0.0.1:${freePort()}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...WORKER_PERMISSIONS, "cli/worker.ts", "--nats-url", url],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  await poll(() => text.includes("Waiting for NATS"), {
    timeoutMs: 30_000,
    message: () => `"Waiting for NATS":\n${text}`,
  });
  child.kill("SIGTERM");
  const status = await child.status;
  await pumps;
  assert.equal(status.code, 0, text);
  assert.match(text, /Stopped before NATS could be reached/);
});
