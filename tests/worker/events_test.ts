import assert from "node:assert/strict";
import { eventsSubject } from "../../src/config.ts";
import { RunEventPublisher } from "../../src/worker/events.ts";
import { setupWorkerTest } from "./_setup.ts";

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
  // run.started left the queue at once (the drain starts on the first push): 5 lines fit.
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
