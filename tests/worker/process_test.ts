import assert from "node:assert/strict";
import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { REPO_ROOT, startWorkerProcess } from "../_helpers/worker_process.ts";
import { setupWorkerTest, type WorkerTestEnv } from "./_setup.ts";
import { poll } from "../_helpers/poll.ts";

const FLOWS = ["tests/fixtures/flows.ts"];

async function status(t: WorkerTestEnv, runId: string, want: string, timeoutMs = 20_000) {
  return await poll(async () => {
    const s = await t.snapshot(runId);
    return s?.status === want ? s : null;
  }, { timeoutMs, message: `run ${runId} to be ${want}` });
}

Deno.test("worker process killed mid-run: the job is redelivered and completes on another worker", async () => {
  const env = { PYOCO_CONSUMER_ACK_WAIT_SEC: "2", PYOCO_ACK_PROGRESS_INTERVAL_SEC: "0.5" };
  await using t = await setupWorkerTest(env);
  await using a = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS, env });
  const job = await t.submit("slow", { seconds: 3 });
  const running = await status(t, job.run_id, "RUNNING");
  assert.equal(running.worker_id, a.workerId);
  await using b = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS, env });
  assert.notEqual(await a.kill(), 0);
  const done = await status(t, job.run_id, "COMPLETED", 30_000);
  assert.equal(done.worker_id, b.workerId);
  assert.equal(done.attempt, 2, "second delivery");
  assert.deepEqual(done.outputs, { nap: { slept: 3, run_id: job.run_id } });
});

Deno.test("worker process on SIGTERM lets the run complete, exits 0 and records STOPPED", async () => {
  await using t = await setupWorkerTest();
  await using w = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS });
  const job = await t.submit("slow", { seconds: 2 });
  await status(t, job.run_id, "RUNNING");
  const code = await w.stop("SIGTERM");
  assert.equal(code, 0, w.logs());
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "COMPLETED");
  assert.equal(snap?.worker_id, w.workerId);
  assert.equal((await t.workerRecord(w.workerId))?.state, "STOPPED");
  const ci = await t.consumerInfo();
  assert.equal(ci.num_ack_pending, 0);
  assert.ok(w.records().some((r) => r.message === "Worker draining"));
});

Deno.test("worker process on a second SIGTERM stops at once; another worker completes the job on redelivery", async () => {
  await using t = await setupWorkerTest();
  const env = { PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "60", PYOCO_CANCEL_GRACE_PERIOD_SEC: "1" };
  await using a = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS, env });
  const job = await t.submit("slow", { seconds: 4 });
  await poll(async () => (await t.snapshot(job.run_id))?.tasks.nap === "RUNNING", {
    message: "RUNNING",
  });
  const first = a.stop("SIGTERM"); // starts the drain, which would wait for the run
  await poll(() => a.records().some((r) => r.message === "Worker draining"), {
    message: "the drain",
  });
  const code = await a.stop("SIGTERM");
  assert.equal(code, 0, a.logs());
  assert.equal(await first, 0);
  assert.ok(a.records().some((r) => r.message === "Second signal: stopping at once"));
  // It exited before the run could finish: the run was handed back, not completed.
  const requeued = await t.snapshot(job.run_id);
  assert.equal(requeued?.status, "PENDING", a.logs());
  assert.equal((await t.workerRecord(a.workerId))?.state, "STOPPED");

  await using b = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS });
  const done = await status(t, job.run_id, "COMPLETED", 30_000);
  assert.equal(done.worker_id, b.workerId);
  assert.equal(done.attempt, 2, "second delivery");
  assert.deepEqual(done.outputs, { nap: { slept: 4, run_id: job.run_id } });
  const events = await t.events(job.run_id);
  const types = events.map((e) => e.type);
  assert.equal(types.filter((x) => x === "run.requeued").length, 1, `events: ${types}`);
  assert.equal(types.at(-1), "run.completed");
  assert.ok(events.every((e) => e.type !== "run.cancelled"), "a drained run is not cancelled");
});

Deno.test("least-privilege worker process: a task reading outside its folder fails, the worker lives on", async () => {
  await using t = await setupWorkerTest();
  await using w = await startWorkerProcess({ natsUrl: t.srv.url, flows: FLOWS });
  const bad = await t.submit("overstep");
  const failed = await status(t, bad.run_id, "FAILED");
  assert.match(failed.error!, /NotCapable|permission|Requires read access/i);
  assert.match(failed.task_records!.read_outside!.error!, /\/etc\/hostname/);
  const ok = await t.submit("quick", { x: 7 });
  const done = await status(t, ok.run_id, "COMPLETED");
  assert.equal(done.worker_id, w.workerId);
  assert.deepEqual(done.outputs, { quick_step: { ok: true, x: 7 } });
  assert.equal((await t.workerRecord(w.workerId))?.state, "IDLE");
});

Deno.test("worker CLI exits 2 on bad flags, naming what to fix", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...WORKER_PERMISSIONS, "cli/worker.ts", ...args],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    return { code: out.code, text: new TextDecoder().decode(out.stderr) };
  };
  const badTag = await run("--tags", "a.b");
  assert.equal(badTag.code, 2);
  assert.match(badTag.text, /--tags/);
  const badN = await run("--concurrency", "zero");
  assert.equal(badN.code, 2);
  assert.match(badN.text, /--concurrency/);
  const unknown = await run("--nope");
  assert.equal(unknown.code, 2);
  assert.match(unknown.text, /nope/);
  const badUrl = await run("--nats-url", "http://x y");
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.text, /PYOCO_NATS_URL/);
  const missing = await run("--flows", "tests/fixtures/does_not_exist.ts");
  assert.equal(missing.code, 2);
  assert.match(missing.text, /does_not_exist/);
  // Flows outside the folder the worker may read: say how to widen --allow-read.
  const outside = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${outside}/flows.ts`, "export const x = 1;\n");
    const denied = await run("--flows", `${outside}/flows.ts`);
    assert.equal(denied.code, 2);
    assert.match(denied.text, /Requires read access/);
    assert.match(denied.text, /--allow-read=\.,/);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
