import { cancelSubject } from "../../src/config.ts";
import assert from "node:assert/strict";
import {
  isTerminal,
  nowSec,
  type RunSnapshot,
  type WorkerRecord,
} from "../../src/contract/wire.ts";
import { casUpdate, getJson } from "../../src/nats/kv.ts";
import { WORKER_VERSION } from "../../src/worker/heartbeat.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { CANCELLED_BY_REQUEST } from "../../src/contract/wire.ts";
import {
  chatty,
  counted,
  executions,
  failing,
  listen,
  probes,
  quick,
  stubborn,
} from "../fixtures/flows.ts";
import { registryOf, setupWorkerTest, watchRun, type WorkerTestEnv } from "./_setup.ts";
import { poll } from "../_helpers/poll.ts";

const ALL = [quick, counted, failing, listen, stubborn, chatty];

function newWorker(t: WorkerTestEnv) {
  return new PyocoWorker({
    config: t.config,
    registry: registryOf(ALL),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: t.logger,
  });
}

/**
 * What the gateway's cancel does to a RUNNING run: CAS RUNNING → CANCELLING, then a core NATS
 * notification on the cancel subject (unless `notify` is false).
 */
async function requestCancel(
  t: WorkerTestEnv,
  runId: string,
  notify = true,
): Promise<number | null> {
  const at = nowSec();
  const written = await casUpdate<RunSnapshot>(t.runs, runId, (cur) => {
    if (!cur || isTerminal(cur.value.status) || cur.value.status === "CANCELLING") {
      return undefined;
    }
    return { ...cur.value, status: "CANCELLING", cancel_requested_at: at, updated_at: at };
  });
  if (written && notify) t.nc.publish(cancelSubject(t.config, runId));
  return written ? at : null;
}

async function consumerSettled(t: WorkerTestEnv) {
  return await poll(async () => {
    const ci = await t.consumerInfo();
    return ci.num_pending === 0 && ci.num_ack_pending === 0 ? ci : null;
  }, { message: "the consumer to settle" });
}

Deno.test("PyocoWorker aborts a RUNNING run within a second of a notified CANCELLING and ends it CANCELLED", async () => {
  // Snapshot heartbeats every 30 s: only the gateway's cancel notification can be in time.
  await using t = await setupWorkerTest({ PYOCO_RUN_HEARTBEAT_INTERVAL_SEC: "30" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("listen", { seconds: 20 });
  const once = worker.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.tasks.listen === "RUNNING", {
    message: "RUNNING",
  });
  const watch = await watchRun(t, job.run_id);
  const requestedAt = await requestCancel(t, job.run_id);
  assert.ok(requestedAt !== null, "the cancel was written");
  const cancelWrittenAt = Date.now();
  const probe = await poll(() => {
    const p = probes.get(job.run_id);
    return p?.abortedAt ? p : null;
  }, { timeoutMs: 1000, message: "the task's ctx.signal to fire" });
  const snap = await poll(async () => {
    const s = await t.snapshot(job.run_id);
    return s?.status === "CANCELLED" ? s : null;
  }, {
    timeoutMs: Math.max(1, 1000 - (Date.now() - cancelWrittenAt)),
    message: "the run to end CANCELLED",
  });
  assert.ok(probe.abortedAt! >= requestedAt!, "aborted after the request");
  assert.equal(snap.cancel_requested_at, requestedAt);
  assert.equal(snap.error, CANCELLED_BY_REQUEST);
  assert.equal(snap.tasks.listen, "CANCELLED");
  assert.equal(snap.worker_id, worker.workerId);

  const result = await once;
  assert.equal(result?.outcome, "cancelled");
  assert.equal(result?.action, "ack");
  assert.equal(result?.error, CANCELLED_BY_REQUEST);
  await consumerSettled(t);
  await watch.stop();
  const statuses = watch.seen.map((s) => s.snapshot.status);
  assert.deepEqual(statuses.slice(statuses.indexOf("CANCELLING")), ["CANCELLING", "CANCELLED"]);

  const events = await t.events(job.run_id);
  const last = events.at(-1)!;
  assert.equal(last.type, "run.cancelled");
  assert.equal("error" in last ? last.error : null, CANCELLED_BY_REQUEST);
});

Deno.test("PyocoWorker records a run CANCELLED after the grace period when a task ignores its signal", async () => {
  await using t = await setupWorkerTest({ PYOCO_CANCEL_GRACE_PERIOD_SEC: "0.3" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("stubborn", { seconds: 2 });
  const once = worker.runOnce();
  const probe = await poll(() => probes.get(job.run_id), { message: "the task to start" });
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "RUNNING",
  });
  const requestedAt = await requestCancel(t, job.run_id);
  assert.ok(requestedAt !== null);
  const result = await once;
  assert.equal(result?.outcome, "cancelled");
  assert.equal(probe.finished, false, "recorded before the task returned");
  assert.ok(probe.abortedAt !== null, "its signal was aborted");
  const done = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(done?.value.status, "CANCELLED");
  assert.equal(done?.value.error, CANCELLED_BY_REQUEST);
  assert.equal(done?.value.cancel_requested_at, requestedAt);
  assert.equal(done?.value.tasks.stubborn_step, "CANCELLED");
  assert.match(done!.value.task_records!.stubborn_step!.error!, /did not stop within 300 ms/);
  assert.deepEqual(done?.value.outputs, {});

  // The task returns later: its result is discarded, the snapshot is not touched again.
  await poll(() => probe.finished, { timeoutMs: 10_000, message: "the stubborn task to return" });
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, done?.revision);
  assert.ok(!JSON.stringify(after?.value).includes("this result must be"));
  await consumerSettled(t);
});

Deno.test("PyocoWorker: a cancel racing the completion ends in exactly one terminal state", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const tally: Record<string, number> = { COMPLETED: 0, CANCELLED: 0 };
  for (let i = 0; i < 20; i++) {
    // The task takes 150 ms; the cancel comes 0 … 285 ms after it started.
    const job = await t.submit("listen", { seconds: 0.15 });
    const watch = await watchRun(t, job.run_id);
    const once = worker.runOnce();
    await poll(() => probes.get(job.run_id), { message: "the task to start" });
    await new Promise((r) => setTimeout(r, i * 15));
    const requestedAt = await requestCancel(t, job.run_id);
    const result = await once;
    const final = await getJson<RunSnapshot>(t.runs, job.run_id);
    await poll(() => watch.seen.at(-1)?.revision === final!.revision, {
      message: "the watch to catch up",
    });
    await watch.stop();

    const statuses = watch.seen.map((s) => s.snapshot.status);
    const terminal = statuses.filter((s) => isTerminal(s));
    assert.equal(terminal.length, 1, `one terminal write, got ${statuses}`);
    assert.ok(isTerminal(statuses.at(-1)!), `nothing after the terminal write: ${statuses}`);
    const cancelling = statuses.indexOf("CANCELLING");
    if (cancelling >= 0) {
      assert.ok(!statuses.slice(cancelling).includes("RUNNING"), `CANCELLING kept: ${statuses}`);
    }
    const status = final!.value.status;
    tally[status] = (tally[status] ?? 0) + 1;
    if (status === "CANCELLED") {
      assert.ok(requestedAt !== null, "cancelled only when asked");
      assert.equal(final!.value.error, CANCELLED_BY_REQUEST);
      assert.equal(result?.outcome, "cancelled");
    } else {
      assert.equal(status, "COMPLETED", `iteration ${i}: ${statuses}`);
      assert.equal(result?.outcome, "completed");
      assert.deepEqual(final!.value.outputs, { listen: { listened: 0.15 } });
    }
    // A cancel that arrived in time is never lost, even when the completion won.
    assert.equal(final!.value.cancel_requested_at ?? null, requestedAt);
  }
  assert.ok(tally.CANCELLED! > 0, `some runs cancelled: ${JSON.stringify(tally)}`);
  assert.ok(tally.COMPLETED! > 0, `some runs completed: ${JSON.stringify(tally)}`);
  await consumerSettled(t);
});

Deno.test("PyocoWorker ACKs a job cancelled while PENDING without running it", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("counted");
  // The gateway's cancel of a PENDING run: CANCELLED at once.
  const cancelled = await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "CANCELLED",
    cancel_requested_at: nowSec(),
    error: CANCELLED_BY_REQUEST,
  }));
  const before = executions.counted;
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "already_terminal");
  assert.equal(result?.action, "ack");
  assert.equal(executions.counted, before, "never executed");
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, cancelled?.revision, "snapshot untouched");
  assert.equal((await t.events(job.run_id)).length, 0, "no events");
  await consumerSettled(t);
});

Deno.test("PyocoWorker publishes the run's events and log lines in order to pyoco.events.<run_id>", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("chatty", { lines: 3 });
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const events = await t.events(job.run_id);
  assert.deepEqual(events.map((e) => e.type), [
    "run.started",
    "task.started",
    "task.log",
    "task.log",
    "task.log",
    "task.succeeded",
    "task.started",
    "task.log",
    "task.succeeded",
    "run.completed",
  ]);
  assert.deepEqual(
    events.flatMap((e) => e.type === "task.log" ? [`${e.task}: ${e.message}`] : []),
    ["talk: line 1", "talk: line 2", "talk: line 3", "tail: tail done"],
  );
  for (const e of events) {
    assert.equal(e.run_id, job.run_id);
    assert.equal(e.worker_id, worker.workerId);
  }
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.ts >= events[i - 1]!.ts);
  // Logs never go into the snapshot.
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "COMPLETED");
  assert.ok(!JSON.stringify(snap).includes("line 1"));
});

Deno.test("PyocoWorker publishes no events with PYOCO_EVENTS_PUBLISH=false; the run is unchanged", async () => {
  await using t = await setupWorkerTest({ PYOCO_EVENTS_PUBLISH: "false" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("chatty", { lines: 3 });
  assert.equal((await worker.runOnce())?.outcome, "completed");
  assert.deepEqual(await t.events(job.run_id), []);
  assert.equal((await t.snapshot(job.run_id))?.status, "COMPLETED");
});

Deno.test("PyocoWorker publishes task.failed and run.failed for a failed run", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("failing");
  assert.equal((await worker.runOnce())?.outcome, "failed");
  const events = await t.events(job.run_id);
  const failed = events.find((e) => e.type === "task.failed");
  assert.ok(failed && failed.type === "task.failed");
  assert.equal(failed.task, "boom");
  assert.match(failed.error, /boom/);
  const last = events.at(-1)!;
  assert.equal(last.type, "run.failed");
  assert.match(last.type === "run.failed" ? last.error : "", /boom/);
  assert.equal(events[0]!.type, "run.started");
  assert.ok(events.indexOf(failed) < events.length - 1);
});

Deno.test("PyocoWorker keeps `hidden` set on its record by someone else across heartbeats", async () => {
  await using t = await setupWorkerTest({ PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC: "0.2" });
  await using worker = newWorker(t);
  await worker.connect();
  const first = await getJson<WorkerRecord>(t.workers, worker.workerId);
  assert.deepEqual(
    Object.keys(first!.value).sort(),
    [
      "concurrency",
      "current_run_id",
      "current_run_ids",
      "heartbeat_at",
      "hidden",
      "instance_id",
      "started_at",
      "state",
      "tags",
      "version",
      "worker_id",
    ],
  );
  assert.equal(first?.value.hidden, false);
  assert.equal(first?.value.version, WORKER_VERSION);
  assert.equal(first?.value.current_run_id, null);

  // What the gateway's PATCH /workers/{id} does: a compare-and-set update of the record.
  const hidden = await casUpdate<WorkerRecord>(t.workers, worker.workerId, (cur) => ({
    ...cur!.value,
    hidden: true,
  }));
  await poll(async () => {
    const r = await getJson<WorkerRecord>(t.workers, worker.workerId);
    return r && r.revision >= hidden!.revision + 2 ? r : null;
  }, { message: "two more heartbeats" });
  assert.equal((await t.workerRecord(worker.workerId))?.hidden, true);

  // State changes keep it too, and so does the last STOPPED record.
  const job = await t.submit("quick");
  assert.equal((await worker.runOnce())?.outcome, "completed");
  assert.equal((await t.snapshot(job.run_id))?.status, "COMPLETED");
  assert.equal((await t.workerRecord(worker.workerId))?.hidden, true);
  await worker.close();
  const stopped = await t.workerRecord(worker.workerId);
  assert.equal(stopped?.state, "STOPPED");
  assert.equal(stopped?.hidden, true);
});

Deno.test("PyocoWorker keeps replayed_from of a replayed job in the snapshot", async () => {
  // RUNNING written first, so that it can be looked at (the lazy default: data_path_test.ts).
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  // With a PENDING snapshot that does not carry it (written by an older gateway).
  const job = await t.submit("quick", { x: 2 }, { replayed_from: 42 });
  const watch = await watchRun(t, job.run_id);
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const done = await t.snapshot(job.run_id);
  assert.equal(done?.status, "COMPLETED");
  assert.equal(done?.replayed_from, 42);
  await poll(() => watch.seen.some((s) => s.snapshot.status === "COMPLETED"), {
    message: "COMPLETED",
  });
  await watch.stop();
  assert.equal(watch.seen.find((s) => s.snapshot.status === "RUNNING")?.snapshot.replayed_from, 42);

  // Without any snapshot: the PENDING one the worker creates carries it.
  const runId = crypto.randomUUID();
  await t.js.publish(
    "pyoco.work.default",
    JSON.stringify({ run_id: runId, flow_name: "quick", params: {}, replayed_from: 7 }),
    { msgID: runId },
  );
  assert.equal((await worker.runOnce())?.outcome, "completed");
  assert.equal((await t.snapshot(runId))?.replayed_from, 7);
});
