import assert from "node:assert/strict";
import { eventsSubject } from "../../src/config.ts";
import { RunEventPublisher } from "../../src/worker/events.ts";
import type { RunEvent } from "../../src/contract/events.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { chatty, quick, slow } from "../fixtures/flows.ts";
import { poll } from "../_helpers/poll.ts";
import { registryOf, setupWorkerTest, type WorkerTestEnv } from "./_setup.ts";

const log = (i: number) => ({
  type: "task.log" as const,
  run_id: "r1",
  task: "t",
  attempt: 1,
  message: `line ${i}`,
  ts: i,
});

Deno.test("RunEventPublisher drops log lines beyond its bound, keeps lifecycle events and reports the drops last", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: eventsSubject(t.config, "r1"),
    runId: "r1",
    workerId: "w1",
    logger: t.logger,
    maxQueued: 5,
  });
  // Everything is pushed synchronously: the queue cannot drain in between.
  events.push({ type: "run.started", run_id: "r1", flow_name: "f", ts: 0 });
  for (let i = 1; i <= 20; i++) events.push(log(i));
  events.push({ type: "task.succeeded", run_id: "r1", task: "t", attempt: 1, ts: 21 });
  events.push({ type: "run.completed", run_id: "r1", ts: 22 });
  const stats = await events.flush();
  // The bound counts the log lines waiting (lifecycle events are always kept): 5 lines fit.
  assert.deepEqual(stats, { published: 9, dropped: 15, failed: 0 });
  events.push(log(99));
  assert.equal(events.stats.published, 9, "nothing accepted after flush()");

  const stored = await t.events("r1");
  assert.deepEqual(stored.map((e) => e.type), [
    "run.started",
    "task.log",
    "task.log",
    "task.log",
    "task.log",
    "task.log",
    "task.succeeded",
    "run.completed",
    "events.dropped",
  ]);
  assert.deepEqual(
    stored.flatMap((e) => e.type === "task.log" ? [e.message] : []),
    ["line 1", "line 2", "line 3", "line 4", "line 5"],
  );
  const last = stored.at(-1)!;
  assert.equal(last.type === "events.dropped" ? last.dropped_logs : null, 15);
  assert.ok(stored.every((e) => e.worker_id === "w1"));
  assert.ok(t.lines.some((l) => l.includes("Some run events were not published")));
});

Deno.test("RunEventPublisher publishes thousands of events in order, in batches", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: eventsSubject(t.config, "r2"),
    runId: "r2",
    workerId: "w1",
    logger: t.logger,
    batchSize: 64,
  });
  for (let i = 1; i <= 3000; i++) events.push({ ...log(i), run_id: "r2" });
  assert.deepEqual(await events.flush(), { published: 3000, dropped: 0, failed: 0 });
  const stored = await t.events("r2");
  assert.equal(stored.length, 3000);
  stored.forEach((e, i) => assert.equal(e.ts, i + 1));
});

Deno.test("RunEventPublisher never throws when publishing fails; it counts and warns once", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: "not.in.any.stream",
    runId: "r3",
    workerId: "w1",
    logger: t.logger,
  });
  for (let i = 1; i <= 3; i++) events.push(log(i));
  assert.deepEqual(await events.flush(), { published: 0, dropped: 0, failed: 3 });
  assert.equal(t.lines.filter((l) => l.includes("Cannot publish run events")).length, 1);
});

Deno.test("RunEventPublisher validates its bounds", () => {
  const base = {
    js: null as never,
    subject: "s",
    runId: "r",
    workerId: "w",
    logger: null as never,
  };
  assert.throws(() => new RunEventPublisher({ ...base, maxQueued: 0 }), /maxQueued/);
  assert.throws(() => new RunEventPublisher({ ...base, batchSize: 1.5 }), /batchSize/);
});

/** Messages stored for a run (not events: a batch message holds several). */
async function messagesOf(t: WorkerTestEnv, runId: string): Promise<number> {
  const subject = eventsSubject(t.config, runId);
  const info = await t.jsm.streams.info(t.config.eventsStream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

function newWorker(t: WorkerTestEnv, flows = [quick, slow, chatty]) {
  return new PyocoWorker({
    config: t.config,
    registry: registryOf(flows),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: t.logger,
  });
}

Deno.test("RunEventPublisher sends nothing within the lazy window: flush() publishes everything as one message", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: eventsSubject(t.config, "r5"),
    runId: "r5",
    workerId: "w1",
    logger: t.logger,
    firstFlushAfterMs: 60_000,
  });
  events.push({ type: "run.started", run_id: "r5", flow_name: "f", ts: 0 });
  // Pushes across several NATS round trips (timers get every chance): nothing is due yet.
  for (let round = 0; round < 5; round++) {
    for (let i = 1; i <= 10; i++) events.push({ ...log(round * 10 + i), run_id: "r5" });
    assert.equal(await messagesOf(t, "r5"), 0, "nothing published during the window");
  }
  events.push({ type: "run.completed", run_id: "r5", ts: 51 });
  assert.deepEqual(await events.flush(), { published: 52, dropped: 0, failed: 0 });
  assert.equal(events.messages, 1);
  assert.equal(await messagesOf(t, "r5"), 1);
  const stored = await t.events("r5");
  assert.deepEqual(stored.map((e) => e.type), [
    "run.started",
    ...Array(50).fill("task.log"),
    "run.completed",
  ]);
});

Deno.test("RunEventPublisher flushes a long run's events as they come, at most 4 times a second, in order", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: eventsSubject(t.config, "r6"),
    runId: "r6",
    workerId: "w1",
    logger: t.logger,
  });
  const started = Date.now();
  let i = 0;
  // A run that logs a line every 10 ms for a second (load, not synchronisation).
  while (Date.now() - started < 1000) {
    events.push({ ...log(++i), run_id: "r6" });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const published = await messagesOf(t, "r6");
  assert.ok(published >= 2, `flushed while running (${published} messages so far)`);
  assert.deepEqual(await events.flush(), { published: i, dropped: 0, failed: 0 });
  const elapsed = Date.now() - started;
  const messages = await messagesOf(t, "r6");
  assert.equal(events.messages, messages);
  assert.ok(
    messages <= Math.floor(elapsed / 250) + 2,
    `${messages} messages in ${elapsed} ms: at most 4 flushes a second, plus the last`,
  );
  const stored = await t.events("r6");
  assert.equal(stored.length, i);
  stored.forEach((e, k) => assert.equal(e.ts, k + 1));
});

Deno.test("RunEventPublisher splits a flush above maxMessageChars and keeps the order; the seqs increase", async () => {
  await using t = await setupWorkerTest();
  const events = new RunEventPublisher({
    js: t.js,
    subject: eventsSubject(t.config, "r7"),
    runId: "r7",
    workerId: "w1",
    logger: t.logger,
    firstFlushAfterMs: 60_000,
    maxMessageChars: 1000,
  });
  for (let i = 1; i <= 40; i++) events.push({ ...log(i), run_id: "r7", message: "x".repeat(90) });
  events.push({ ...log(41), run_id: "r7", message: "y".repeat(5000) });
  assert.deepEqual(await events.flush(), { published: 41, dropped: 0, failed: 0 });
  assert.ok(events.messages >= 5, `${events.messages} messages`);
  assert.equal(await messagesOf(t, "r7"), events.messages);
  const stored = await t.events("r7") as unknown as RunEvent[];
  stored.forEach((e, k) => assert.equal(e.ts, k + 1));
  for (let k = 1; k < stored.length; k++) assert.ok(stored[k]!.seq > stored[k - 1]!.seq);
  assert.equal(stored.at(-1)!.message, "y".repeat(5000), "a big event goes alone");
});

Deno.test("worker: a one-task run ending within the lazy window makes exactly one events message", async () => {
  // A wide window, so that a slow machine cannot turn this run into a long one.
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "5000" });
  await using worker = newWorker(t);
  await worker.connect();
  for (const flowName of ["quick", "chatty"]) {
    const job = await t.submitLive(flowName);
    assert.equal((await worker.runOnce())?.outcome, "completed");
    assert.equal(await messagesOf(t, job.run_id), 1, `${flowName}: one message for the run`);
    const types = (await t.events(job.run_id)).map((e) => e.type);
    assert.equal(types[0], "run.started");
    assert.equal(types.at(-1), "run.completed");
    if (flowName === "chatty") assert.equal(types.filter((x) => x === "task.log").length, 4);
  }
});

Deno.test("worker: a run longer than the lazy window publishes its first events while it runs, then the rest", async () => {
  await using t = await setupWorkerTest({ PYOCO_RUNNING_WRITE_AFTER_MS: "50" });
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submitLive("slow", { seconds: 1 });
  const running = worker.runOnce();
  await poll(async () => (await messagesOf(t, job.run_id)) >= 1, {
    message: "the run's first events to be published while it runs",
  });
  assert.equal((await running)?.outcome, "completed");
  const messages = await messagesOf(t, job.run_id);
  assert.ok(messages >= 2 && messages <= 3, `${messages} messages`);
  assert.deepEqual((await t.events(job.run_id)).map((e) => e.type), [
    "run.started",
    "task.started",
    "task.succeeded",
    "run.completed",
  ]);
});
