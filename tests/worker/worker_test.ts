import assert from "node:assert/strict";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { casUpdate, getJson } from "../../src/nats/kv.ts";
import { redact } from "../../src/log.ts";
import { PyocoWorker, WorkerOptionError } from "../../src/worker/worker.ts";
import {
  counted,
  envEcho,
  executions,
  failing,
  huge,
  quick,
  slow,
  twenty,
} from "../fixtures/flows.ts";
import {
  DLQ_FIELDS,
  INVALID_JOB_DLQ_FIELDS,
  registryOf,
  setupWorkerTest,
  watchRun,
  type WorkerTestEnv,
} from "./_setup.ts";
import { poll } from "../_helpers/poll.ts";

const ALL = [quick, twenty, slow, failing, huge, counted, envEcho];

function newWorker(
  t: WorkerTestEnv,
  extra: Partial<ConstructorParameters<typeof PyocoWorker>[0]> = {},
) {
  return new PyocoWorker({
    config: t.config,
    registry: registryOf(ALL),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: t.logger,
    ...extra,
  });
}

/** Wait until the consumer holds nothing: no pending, no unacknowledged message. */
async function consumerSettled(t: WorkerTestEnv, tag = "default") {
  return await poll(async () => {
    const ci = await t.consumerInfo(tag);
    return ci.num_pending === 0 && ci.num_ack_pending === 0 ? ci : null;
  }, { message: "the consumer to settle" });
}

Deno.test("PyocoWorker validates its options and names the bad one", () => {
  const config = { workerConcurrency: 1 } as never;
  const registry = registryOf([quick]);
  const bad = (opts: Record<string, unknown>, option: string) =>
    assert.throws(
      () => new PyocoWorker({ config, registry, tags: ["default"], ...opts } as never),
      (err: unknown) =>
        err instanceof WorkerOptionError && err.option === option &&
        err.message.includes(option),
    );
  bad({ tags: [] }, "tags");
  bad({ tags: ["a.b"] }, "tags");
  bad({ tags: ["ok", ">"] }, "tags");
  bad({ concurrency: 0 }, "concurrency");
  bad({ concurrency: 1.5 }, "concurrency");
  bad({ workerId: "has space" }, "workerId");
  bad({ registry: {} }, "registry");
  bad({ pullExpiresMs: 10 }, "pullExpiresMs");
});

Deno.test("PyocoWorker.runOnce() moves a run RUNNING → COMPLETED with tasks, records and outputs", async () => {
  // RUNNING written first, as pyoco-server does (the lazy default: data_path_test.ts).
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  const idle = await t.workerRecord(worker.workerId);
  assert.equal(idle?.state, "IDLE");
  assert.deepEqual(idle?.tags, ["default"]);
  assert.equal(idle?.hidden, false);
  assert.equal(typeof idle?.instance_id, "string");

  const job = await t.submit("quick", { x: 5 });
  const watch = await watchRun(t, job.run_id);
  const result = await worker.runOnce();
  assert.deepEqual(result, {
    outcome: "completed",
    action: "ack",
    runId: job.run_id,
    tag: "default",
    deliveryCount: 1,
    error: null,
  });
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "COMPLETED");
  assert.deepEqual(snap?.tasks, { quick_step: "SUCCEEDED" });
  assert.deepEqual(snap?.task_records?.quick_step?.output, { ok: true, x: 5 });
  assert.equal(snap?.task_records?.quick_step?.attempts, 1);
  assert.deepEqual(snap?.outputs, { quick_step: { ok: true, x: 5 } });
  assert.equal(snap?.worker_id, worker.workerId);
  assert.equal(snap?.attempt, 1);
  assert.equal(snap?.error, null);
  assert.equal(snap?.graph, "quick_step", "the graph travels with the snapshot for viewers");
  assert.ok(snap!.start_time! <= snap!.end_time!);
  assert.equal(snap?.tag, "default");

  await poll(() => watch.seen.some((s) => s.snapshot.status === "COMPLETED"), {
    message: "COMPLETED",
  });
  await watch.stop();
  const statuses = watch.seen.map((s) => s.snapshot.status);
  assert.equal(statuses[0], "PENDING");
  assert.ok(statuses.indexOf("RUNNING") > 0, `statuses: ${statuses}`);
  assert.ok(statuses.indexOf("RUNNING") < statuses.indexOf("COMPLETED"));
  const running = watch.seen.find((s) => s.snapshot.status === "RUNNING")!.snapshot;
  assert.equal(running.worker_id, worker.workerId);
  assert.deepEqual(running.tasks, { quick_step: "PENDING" });

  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0);
  assert.equal(await worker.runOnce({ expiresMs: 1000 }), null, "nothing left to run");
  await worker.close();
  assert.equal((await t.workerRecord(worker.workerId))?.state, "STOPPED");
});

Deno.test("PyocoWorker ACKs a redelivered job whose snapshot is terminal without running it", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const before = executions.counted;
  const job = await t.submit("counted");
  assert.equal((await worker.runOnce())?.outcome, "completed");
  assert.equal(executions.counted, before + 1);
  const done = await getJson<RunSnapshot>(t.runs, job.run_id);

  // The same job again (as after a crash between the terminal write and the ACK).
  await t.js.publish(`pyoco.work.default`, JSON.stringify(job), { msgID: `${job.run_id}-again` });
  const again = await worker.runOnce();
  assert.equal(again?.outcome, "already_terminal");
  assert.equal(again?.action, "ack");
  assert.equal(executions.counted, before + 1, "not executed again");
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, done?.revision, "snapshot untouched");
  await consumerSettled(t);
});

Deno.test("PyocoWorker fails an unknown flow, ACKs it and dead-letters flow_not_found", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("no_such_flow", { a: 1 });
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "flow_not_found");
  assert.equal(result?.action, "ack");
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /no_such_flow/);
  assert.match(snap!.error!, /not registered/);
  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0);
  const [dl, ...rest] = await t.deadLetters();
  assert.equal(rest.length, 0);
  assert.deepEqual(Object.keys(dl!).sort(), DLQ_FIELDS);
  assert.equal(dl!.reason, "flow_not_found");
  assert.equal(dl!.run_id, job.run_id);
  assert.equal(dl!.flow_name, "no_such_flow");
  assert.equal(dl!.tag, "default");
  assert.deepEqual(dl!.tags, ["default"]);
  assert.equal(dl!.worker_id, worker.workerId);
  assert.equal(dl!.num_delivered, 1);
  assert.equal(dl!.subject, "pyoco.work.default");
  assert.deepEqual(dl!.job, JSON.parse(JSON.stringify(job)));
  assert.match(dl!.error, /no_such_flow/);
  assert.ok(t.lines.some((l) => l.includes("ERR-PYOCO-0006")));
});

Deno.test("PyocoWorker fails a YAML job whose callable is not registered (flow_not_found)", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const yaml = `version: 1
flow:
  graph: a >> b
tasks:
  a: { callable: "pyoco:echo", inputs: { value: 1 } }
  b: { callable: "secret:rm_rf" }
`;
  const job = await t.submit("from_yaml", {}, { workflow_yaml: yaml });
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "flow_not_found");
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /secret:rm_rf/);
  assert.equal((await t.deadLetters())[0]?.reason, "flow_not_found");
});

Deno.test("PyocoWorker runs a YAML job with built-in tasks", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const yaml = `version: 1
flow:
  graph: a >> b
  defaults: { greeting: hi }
tasks:
  a: { callable: "pyoco:echo", inputs: { value: $flow.greeting } }
  b: { callable: "pyoco:echo", inputs: { value: $node.a.output } }
`;
  const job = await t.submit("from_yaml", {}, { workflow_yaml: yaml });
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "COMPLETED");
  assert.deepEqual(snap?.outputs, { b: "hi" });
});

Deno.test("PyocoWorker fails a run whose task fails, ACKs it and dead-letters execution_error", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("failing");
  const result = await worker.runOnce();
  assert.equal(result?.outcome, "failed");
  assert.equal(result?.action, "ack");
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /boom/);
  assert.deepEqual(snap?.tasks, { quick_step: "SUCCEEDED", boom: "FAILED" });
  assert.match(snap!.task_records!.boom!.error!, /boom/);
  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0);
  const dls = await t.deadLetters();
  assert.equal(dls.length, 1);
  assert.deepEqual(Object.keys(dls[0]!).sort(), DLQ_FIELDS);
  assert.equal(dls[0]!.reason, "execution_error");
  assert.equal(dls[0]!.run_id, job.run_id);
  assert.match(dls[0]!.error, /boom/);
});

Deno.test("PyocoWorker skips the execution_error dead letter when disabled", async () => {
  await using t = await setupWorkerTest({ PYOCO_DLQ_PUBLISH_EXECUTION_ERROR: "false" });
  await using worker = newWorker(t);
  await worker.connect();
  await t.submit("failing");
  assert.equal((await worker.runOnce())?.outcome, "failed");
  await consumerSettled(t);
  assert.equal((await t.deadLetters()).length, 0);
});

Deno.test("PyocoWorker TERMs an invalid job and dead-letters invalid_job", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();

  await t.publishRaw("this is not json");
  const r1 = await worker.runOnce();
  assert.equal(r1?.outcome, "invalid_job");
  assert.equal(r1?.action, "term");
  assert.equal(r1?.runId, null);

  // Known run id, invalid field: the snapshot is failed too.
  const job = await t.submit("quick");
  await t.js.publish(
    "pyoco.work.default",
    JSON.stringify({ run_id: job.run_id, flow_name: "quick", params: "nope" }),
    { msgID: "bad-2" },
  );
  assert.equal((await worker.runOnce())?.outcome, "completed", "the valid job first");
  // It completed: an invalid job for a terminal run leaves the snapshot as it is.
  const r2 = await worker.runOnce();
  assert.equal(r2?.outcome, "invalid_job");
  assert.equal((await t.snapshot(job.run_id))?.status, "COMPLETED");

  // Known run id without a snapshot yet.
  const runId = crypto.randomUUID();
  await t.js.publish("pyoco.work.default", JSON.stringify({ run_id: runId, params: {} }), {
    msgID: "bad-3",
  });
  const r3 = await worker.runOnce();
  assert.equal(r3?.outcome, "invalid_job");
  const snap = await t.snapshot(runId);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /"flow_name" is missing/);

  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0, "terminated, never redelivered");
  assert.equal(await worker.runOnce({ expiresMs: 1000 }), null);
  const dls = await t.deadLetters();
  assert.equal(dls.length, 3);
  for (const dl of dls) {
    assert.deepEqual(Object.keys(dl).sort(), INVALID_JOB_DLQ_FIELDS);
    assert.equal(dl.reason, "invalid_job");
    assert.equal(dl.subject, "pyoco.work.default");
    assert.equal(dl.num_delivered, 1);
  }
  assert.equal(dls[0]!.job, "this is not json");
  assert.equal(dls[0]!.run_id, null);
  assert.deepEqual(dls[2]!.job, { run_id: runId, params: {} });
  assert.equal(dls[2]!.run_id, runId);
  assert.ok(t.lines.some((l) => l.includes("ERR-PYOCO-0012")));
});

Deno.test("PyocoWorker compacts a snapshot with a huge output below the limit", async () => {
  await using t = await setupWorkerTest({ PYOCO_MAX_RUN_SNAPSHOT_BYTES: "65536" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("huge", { size: 300_000 });
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const entry = await t.runs.get(job.run_id);
  assert.ok(entry!.length <= 65536, `snapshot is ${entry!.length} bytes`);
  const snap = entry!.json<RunSnapshot>();
  assert.equal(snap.status, "COMPLETED");
  assert.equal(snap.task_records_truncated, true);
  assert.deepEqual(snap.tasks, { big: "SUCCEEDED" });
  assert.equal(snap.task_records?.big?.output, "<truncated: 300002 bytes>");
  assert.equal(snap.task_records?.big?.state, "SUCCEEDED");
  assert.ok(t.lines.some((l) => l.includes("ERR-PYOCO-0010")));
});

Deno.test("PyocoWorker keeps a run longer than AckWait alive with in_progress ACKs", async () => {
  await using t = await setupWorkerTest({
    PYOCO_CONSUMER_ACK_WAIT_SEC: "2",
    PYOCO_ACK_PROGRESS_INTERVAL_SEC: "0.5",
  });
  await using worker = newWorker(t, { concurrency: 2 });
  await worker.connect();
  const before = executions.counted;
  const job = await t.submit("counted", { seconds: 4 });
  const stop = new AbortController();
  const running = worker.run(stop.signal);
  const snap = await poll(async () => {
    const s = await t.snapshot(job.run_id);
    return s?.status === "COMPLETED" ? s : null;
  }, { timeoutMs: 20_000, message: "the run to complete" });
  stop.abort();
  await running;
  assert.equal(executions.counted, before + 1, "executed once");
  assert.equal(snap.attempt, 1);
  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0, "never redelivered");
  assert.equal(ci.delivered.consumer_seq, 1, "delivered once");
  assert.equal((await t.workerRecord(worker.workerId))?.state, "STOPPED");
});

Deno.test("PyocoWorker coalesces progress writes", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("twenty");
  const pending = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal((await worker.runOnce())?.outcome, "completed");
  const done = await getJson<RunSnapshot>(t.runs, job.run_id);
  // Revisions are stream sequences of the bucket, and only this run writes to it.
  const writes = done!.revision - pending!.revision;
  assert.ok(writes >= 2, `RUNNING and terminal at least, got ${writes}`);
  assert.ok(writes <= 6, `20 tasks (40 state changes) took ${writes} writes`);
  assert.equal(Object.values(done!.value.tasks).filter((s) => s === "SUCCEEDED").length, 20);
});

Deno.test("PyocoWorker refreshes heartbeat_at while a task runs, at most 4 writes a second", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUN_HEARTBEAT_INTERVAL_SEC: "0.2" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("slow", { seconds: 1.5 });
  const watch = await watchRun(t, job.run_id);
  assert.equal((await worker.runOnce())?.outcome, "completed");
  await poll(() => watch.seen.some((s) => s.snapshot.status === "COMPLETED"), {
    message: "COMPLETED",
  });
  await watch.stop();
  const running = watch.seen.filter((s) => s.snapshot.status === "RUNNING");
  assert.ok(running.length >= 4, `${running.length} RUNNING writes`);
  const beats = running.map((s) => s.snapshot.heartbeat_at);
  for (let i = 1; i < beats.length; i++) assert.ok(beats[i]! > beats[i - 1]!);
  // Never two writes closer than PYOCO_SNAPSHOT_MIN_INTERVAL_MS (250 ms).
  const times = watch.seen.filter((s) => s.snapshot.status === "RUNNING")
    .map((s) => s.snapshot.updated_at);
  for (let i = 2; i < times.length; i++) {
    assert.ok(times[i]! - times[i - 1]! >= 0.24, `gap ${times[i]! - times[i - 1]!}`);
  }
  // The task's state was mirrored while it ran.
  assert.ok(running.some((s) => s.snapshot.tasks.nap === "RUNNING"));
});

Deno.test("PyocoWorker never loses a CANCELLING and ends the run CANCELLED", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUN_HEARTBEAT_INTERVAL_SEC: "0.2" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("slow", { seconds: 10 });
  const once = worker.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.tasks.nap === "RUNNING", {
    message: "RUNNING",
  });
  const watch = await watchRun(t, job.run_id);
  await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "CANCELLING",
    cancel_requested_at: 123,
  }));
  const result = await once;
  assert.equal(result?.outcome, "cancelled");
  await watch.stop();
  const statuses = watch.seen.map((s) => s.snapshot.status);
  const first = statuses.indexOf("CANCELLING");
  assert.ok(first >= 0);
  assert.ok(!statuses.slice(first).includes("RUNNING"), `statuses: ${statuses}`);
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "CANCELLED");
  assert.equal(snap?.cancel_requested_at, 123);
  assert.equal(snap?.tasks.nap, "CANCELLED");
  await consumerSettled(t);
});

Deno.test("PyocoWorker never overwrites a snapshot made terminal by someone else", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUN_HEARTBEAT_INTERVAL_SEC: "0.2" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("slow", { seconds: 10 });
  const once = worker.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "RUNNING",
  });
  const foreign = await casUpdate<RunSnapshot>(t.runs, job.run_id, (cur) => ({
    ...cur!.value,
    status: "COMPLETED",
    worker_id: "someone-else",
  }));
  const result = await once;
  assert.equal(result?.outcome, "superseded");
  assert.equal(result?.action, "ack");
  const after = await getJson<RunSnapshot>(t.runs, job.run_id);
  assert.equal(after?.revision, foreign?.revision);
  assert.equal(after?.value.worker_id, "someone-else");
  await consumerSettled(t);
});

Deno.test("PyocoWorker drain NAKs an unfinished run, which another worker then completes", async () => {
  await using t = await setupWorkerTest({
    PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "0",
    PYOCO_CANCEL_GRACE_PERIOD_SEC: "1",
  });
  await using first = newWorker(t);
  await first.connect();
  const job = await t.submit("slow", { seconds: 3 });
  const stop = new AbortController();
  const running = first.run(stop.signal);
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "RUNNING",
  });
  stop.abort();
  await running;
  assert.equal((await t.workerRecord(first.workerId))?.state, "STOPPED");
  const requeued = await t.snapshot(job.run_id);
  assert.equal(requeued?.status, "PENDING");

  await using second = newWorker(t);
  await second.connect();
  const result = await poll(() => second.runOnce(), {
    timeoutMs: 20_000,
    message: "the redelivery",
  });
  assert.equal(result.outcome, "completed");
  assert.equal(result.deliveryCount, 2);
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "COMPLETED");
  assert.equal(snap?.worker_id, second.workerId);
  assert.equal(snap?.attempt, 2);
});

Deno.test("PyocoWorker fails, TERMs and dead-letters a job still failing on its last delivery", async () => {
  await using t = await setupWorkerTest({
    PYOCO_CONSUMER_MAX_DELIVER: "1",
    PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "0",
    PYOCO_CANCEL_GRACE_PERIOD_SEC: "1",
  });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("slow", { seconds: 5 });
  const stop = new AbortController();
  const running = worker.run(stop.signal);
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "RUNNING",
  });
  stop.abort();
  await running;
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /max deliveries exceeded/i);
  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0);
  const [dl] = await t.deadLetters();
  assert.deepEqual(Object.keys(dl!).sort(), DLQ_FIELDS);
  assert.equal(dl!.reason, "execution_error");
  assert.equal(dl!.num_delivered, 1);
  assert.match(dl!.error, /max deliveries exceeded/i);
});

Deno.test("PyocoWorker runs up to `concurrency` jobs at once across several tags", async () => {
  await using t = await setupWorkerTest({}, ["a", "b"]);
  await using worker = newWorker(t, { tags: ["a", "b"], concurrency: 2 });
  await worker.connect();
  const j1 = await t.submit("slow", { seconds: 1.5 }, { tag: "a" });
  const j2 = await t.submit("slow", { seconds: 1.5 }, { tag: "b" });
  const j3 = await t.submit("quick", {}, { tag: "b" });
  const stop = new AbortController();
  const running = worker.run(stop.signal);
  const rec = await poll(async () => {
    const r = await t.workerRecord(worker.workerId);
    return r?.current_run_ids?.length === 2 ? r : null;
  }, { message: "two runs at once" });
  assert.equal(rec.state, "RUNNING");
  assert.deepEqual(new Set(rec.current_run_ids), new Set([j1.run_id, j2.run_id]));
  assert.equal(rec.concurrency, 2);
  assert.equal((await t.snapshot(j3.run_id))?.status, "PENDING", "no third slot");
  for (const j of [j1, j2, j3]) {
    await poll(async () => (await t.snapshot(j.run_id))?.status === "COMPLETED", {
      message: j.run_id,
    });
  }
  stop.abort();
  await running;
  await consumerSettled(t, "a");
  await consumerSettled(t, "b");
});

Deno.test("PyocoWorker NAKs when the terminal write fails, then gives up on the last delivery", async () => {
  await using t = await setupWorkerTest({
    PYOCO_CONSUMER_MAX_DELIVER: "2",
    PYOCO_NAK_DELAY_SEC: "0.2",
    PYOCO_MAX_RUN_SNAPSHOT_BYTES: "65536",
    PYOCO_RUNNING_WRITE_AFTER_MS: "0",
  });
  // Make the runs bucket refuse large writes: the RUNNING snapshot fits, the terminal one not.
  const stream = `KV_${t.config.runsKvBucket}`;
  const info = await t.jsm.streams.info(stream);
  await t.jsm.streams.update(stream, { ...info.config, max_msg_size: 3000 });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("huge", { size: 4000 });

  const first = await worker.runOnce();
  assert.equal(first?.outcome, "requeued");
  assert.equal(first?.action, "nak");
  assert.equal((await t.snapshot(job.run_id))?.status, "RUNNING", "snapshot unchanged");
  assert.ok(t.lines.some((l) => l.includes("ERR-PYOCO-0008")));

  const second = await poll(() => worker.runOnce(), { message: "the redelivery" });
  assert.equal(second.deliveryCount, 2);
  assert.equal(second.outcome, "max_deliveries");
  assert.equal(second.action, "term");
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.status, "FAILED");
  assert.match(snap!.error!, /max deliveries exceeded \(2 of 2\)/i);
  const ci = await consumerSettled(t);
  assert.equal(ci.num_redelivered, 0);
  const dls = await t.deadLetters();
  assert.equal(dls.length, 1);
  assert.equal(dls[0]!.reason, "execution_error");
  assert.equal(dls[0]!.num_delivered, 2);
});

Deno.test("PyocoWorker.forceStop() ends a drain at once and NAKs the active job", async () => {
  await using t = await setupWorkerTest({
    PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "60",
    PYOCO_CANCEL_GRACE_PERIOD_SEC: "1",
  });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("slow", { seconds: 30 });
  const stop = new AbortController();
  let finished = false;
  const running = worker.run(stop.signal).then(() => finished = true);
  await poll(async () => (await t.snapshot(job.run_id))?.tasks.nap === "RUNNING", {
    message: "RUNNING",
  });
  stop.abort();
  await poll(() => t.lines.some((l) => l.includes("Worker draining")), { message: "the drain" });
  assert.equal(finished, false, "the drain waits for the run");
  worker.forceStop();
  await running;
  assert.equal((await t.snapshot(job.run_id))?.status, "PENDING");
  assert.equal((await t.workerRecord(worker.workerId))?.state, "STOPPED");
  // Handed back at once: the next pull gets it again (second delivery).
  const consumer = await t.js.consumers.get(t.config.workStream, "pyoco_workers_default");
  const again = await consumer.next({ expires: 5000 });
  assert.ok(again, "redelivered");
  assert.equal(again.info.deliveryCount, 2);
  assert.equal(again.json<{ run_id: string }>().run_id, job.run_id);
  await again.ackAck();
});

Deno.test("PyocoWorker passes only the flow's expose_env names and registers their values as secrets", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const token = `tok-${crypto.randomUUID()}`;
  Deno.env.set("PYOCO_TEST_TOKEN", token);
  try {
    const job = await t.submit("env_echo");
    assert.equal((await worker.runOnce())?.outcome, "completed");
    const snap = await t.snapshot(job.run_id);
    assert.deepEqual(snap?.outputs, {
      env_report: { keys: ["PYOCO_TEST_TOKEN"], token_length: token.length },
    });
    assert.equal(redact(`value ${token} here`), "value *** here");
  } finally {
    Deno.env.delete("PYOCO_TEST_TOKEN");
  }
});

Deno.test("PyocoWorker never runs a duplicate of a job another live worker is running (SPEC §11)", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using a = newWorker(t);
  await using b = newWorker(t);
  await a.connect();
  await b.connect();
  const before = executions.counted;
  const job = await t.submitLive("counted", { seconds: 1 });
  const first = a.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "worker a to start the run",
  });
  // A second copy of the job (as an orphan re-publish crossing the original would make).
  await t.js.publish("pyoco.work.default", JSON.stringify(job), { msgID: `${job.run_id}-copy` });
  const copy = await b.runOnce();
  assert.equal(copy?.outcome, "held_elsewhere");
  assert.equal(copy?.action, "ack");
  assert.equal((await first)?.outcome, "completed");
  assert.equal(executions.counted, before + 1, "the flow ran once");
  assert.ok(t.lines.some((l) => l.includes("acknowledging this copy unrun")));
  await consumerSettled(t);
});

Deno.test("PyocoWorker takes over a RUNNING run whose worker is dead", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "0" });
  await using b = newWorker(t);
  await b.connect();
  const job = await t.submit("quick");
  // A worker that died mid-run: its snapshot says RUNNING, its record is gone.
  await casUpdate<RunSnapshot>(t.runs, job.run_id, (s) => ({
    ...s!.value,
    status: "RUNNING",
    worker_id: "w-dead",
  }));
  assert.equal((await b.runOnce())?.outcome, "completed");
});

Deno.test("PyocoWorker with lazy RUNNING never runs a copy of a job another live worker is running", async () => {
  await using t = await setupWorkerTest(); // default PYOCO_RUNNING_WRITE_AFTER_MS (50)
  await using a = newWorker(t);
  await using b = newWorker(t);
  await a.connect();
  await b.connect();
  const before = executions.counted;
  const job = await t.submitLive("counted", { seconds: 1 });
  const first = a.runOnce();
  await poll(async () => (await t.snapshot(job.run_id))?.status === "RUNNING", {
    message: "worker a's lazy RUNNING write",
  });
  // A second copy as a re-publisher makes it (an Idempotency-Key take-over rebuilds the job
  // without pending_revision), delivered for the first time: read before running, not run.
  const { pending_revision: _rev, ...copyJob } = job;
  await t.js.publish("pyoco.work.default", JSON.stringify(copyJob), {
    msgID: `${job.run_id}-copy`,
  });
  const copy = await b.runOnce();
  assert.equal(copy?.outcome, "held_elsewhere");
  assert.equal(copy?.action, "ack");
  assert.equal((await first)?.outcome, "completed");
  assert.equal(executions.counted, before + 1, "the flow ran once");
  const done = await t.snapshot(job.run_id);
  assert.equal(done?.status, "COMPLETED");
  assert.equal(done?.worker_id, a.workerId);
});

Deno.test("PyocoWorker never brings back a run whose snapshot was withdrawn or deleted", async () => {
  await using t = await setupWorkerTest();
  await using w = newWorker(t);
  await w.connect();
  const job = await t.submitLive("counted");
  await t.runs.delete(job.run_id); // a submit that answered 503, or DELETE /runs/{id}
  // First delivery: the worker trusts pending_revision and runs, but its terminal write finds
  // the key gone and does not create it again.
  const result = await w.runOnce();
  assert.equal(result?.outcome, "superseded");
  assert.equal(result?.action, "ack");
  assert.equal(await t.snapshot(job.run_id), null, "not created again");
  await consumerSettled(t);
});
