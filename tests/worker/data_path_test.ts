/**
 * The worker's side of the run data path at the NATS floor (SPEC §10): the first write is a
 * compare-and-set against the job's `pending_revision`; only a mismatch makes it read the
 * snapshot and decide.
 */

import assert from "node:assert/strict";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { casUpdate, getJson } from "../../src/nats/kv.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { counted, executions, quick } from "../fixtures/flows.ts";
import { registryOf, setupWorkerTest, watchRun, type WorkerTestEnv } from "./_setup.ts";
import { poll } from "../_helpers/poll.ts";

function newWorker(t: WorkerTestEnv) {
  return new PyocoWorker({
    config: t.config,
    registry: registryOf([quick, counted]),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: t.logger,
  });
}

Deno.test("first write: CAS against pending_revision; a mismatch re-reads and keeps what was written meanwhile", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("quick");
  // Someone writes the PENDING snapshot after the create: the job's revision is stale.
  const changed = await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    note: "written after the create",
  } as RunSnapshot));
  assert.ok(changed!.revision > job.pending_revision!);
  const watch = await watchRun(t, job.run_id);
  const result = await worker.runOnce();
  await watch.stop();
  assert.equal(result?.outcome, "completed");
  const snap = await t.snapshot(job.run_id) as RunSnapshot & { note?: string };
  assert.equal(snap.status, "COMPLETED");
  assert.equal(snap.note, "written after the create", "re-read, not overwritten blindly");
  const statuses = watch.seen.map((s) => s.snapshot.status);
  assert.equal(statuses.filter((s) => s === "COMPLETED").length, 1);
});

Deno.test("first write: a pending_revision mismatch onto CANCELLING is honoured without running", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("counted");
  await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "CANCELLING",
  }));
  const before = executions.counted;
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "cancelled");
  assert.equal(executions.counted, before, "never executed");
  assert.equal((await t.snapshot(job.run_id))?.status, "CANCELLED");
});

Deno.test("first write: a pending_revision mismatch onto a terminal snapshot is ACKed without running", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("counted");
  const cancelled = await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "CANCELLED",
    error: "Run cancelled by request",
  }));
  const before = executions.counted;
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "already_terminal");
  assert.equal(executions.counted, before, "never executed");
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, cancelled?.revision, "snapshot untouched");
});

Deno.test("parseJob() checks pending_revision", async () => {
  const { parseJob } = await import("../../src/worker/job.ts");
  const body = (v: unknown) =>
    new TextEncoder().encode(JSON.stringify({ run_id: "r", flow_name: "f", pending_revision: v }));
  assert.ok(parseJob(body(7), "default").ok);
  assert.ok(parseJob(body(null), "default").ok);
  for (const bad of [0, -1, 1.5, "3"]) {
    const parsed = parseJob(body(bad), "default");
    assert.ok(!parsed.ok);
    assert.match(parsed.error, /pending_revision/);
  }
});

Deno.test("lazy RUNNING: a run shorter than the window goes PENDING → COMPLETED in one write", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "5000" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("quick", { x: 3 });
  const watch = await watchRun(t, job.run_id);
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const done = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(done!.revision, job.pending_revision! + 1, "one write");
  await watch.stop();
  assert.deepEqual(watch.seen.map((s) => s.snapshot.status), ["PENDING", "COMPLETED"]);
  const snap = done!.value;
  assert.equal(snap.worker_id, worker.workerId);
  assert.equal(snap.attempt, 1);
  assert.equal(snap.graph, "quick_step");
  assert.ok(snap.start_time! <= snap.end_time!);
  assert.deepEqual(snap.tasks, { quick_step: "SUCCEEDED" });
  assert.deepEqual(snap.outputs, { quick_step: { ok: true, x: 3 } });
});

Deno.test("lazy RUNNING: a run still going after the window is written RUNNING", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "100" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("counted", { seconds: 1 });
  const result = worker.runOnce();
  const running = await poll(async () => {
    const s = await t.snapshot(job.run_id);
    return s?.status === "RUNNING" ? s : null;
  }, { message: "RUNNING" });
  assert.equal(running.worker_id, worker.workerId);
  assert.equal((await result)?.outcome, "completed");
  assert.equal((await t.snapshot(job.run_id))?.status, "COMPLETED");
});

Deno.test("lazy RUNNING: a cancel racing the run wins; the engine's result is dropped", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "60000" });
  await using worker = newWorker(t);
  await worker.connect();
  const before = executions.counted;
  const job = await t.submitLive("counted", { seconds: 0.5 });
  const result = worker.runOnce();
  await poll(() => executions.counted > before, { message: "the task to start" });
  assert.equal((await t.snapshot(job.run_id))?.status, "PENDING", "RUNNING not written yet");
  // The gateway cancels what it sees as a PENDING run: CANCELLED at once.
  const cancelled = await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "CANCELLED",
    error: "Run cancelled by request",
    end_time: Date.now() / 1000,
  }));
  const r = await result;
  assert.equal(r?.outcome, "superseded");
  assert.equal(r?.action, "ack");
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, cancelled?.revision, "the terminal CAS lost: CANCELLED stays");
  assert.equal(after?.value.status, "CANCELLED");
  assert.equal(executions.counted, before + 1);
});

Deno.test("a redelivered job reads its snapshot first: terminal → ACKed without running (lost ACK)", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("counted");
  // A first worker finished the run but its plain ACK was lost: the job comes back.
  const consumer = await t.js.consumers.get(t.config.workStream, "pyoco_workers_default");
  const first = await consumer.next({ expires: 5000 });
  assert.ok(first);
  await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "COMPLETED",
    end_time: Date.now() / 1000,
  }));
  first.nak();
  const before = executions.counted;
  const result = await poll(() => worker.runOnce(), { message: "the redelivery" });
  assert.equal(result.deliveryCount, 2);
  assert.equal(result.outcome, "already_terminal");
  assert.equal(executions.counted, before, "not run again");
});
