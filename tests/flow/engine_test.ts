import assert from "node:assert/strict";
import {
  flow,
  type FlowEvent,
  runFlow,
  type RunProgress,
  task,
  type TaskContext,
  TaskTimeoutError,
} from "../../src/flow/mod.ts";
import { poll } from "../_helpers/poll.ts";

/** Resolves when the signal aborts (a well-behaved long task). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Collects events; `names()` gives `type:task` strings. */
function recorder() {
  const events: FlowEvent[] = [];
  return {
    events,
    onEvent: (event: FlowEvent) => void events.push(event),
    names: () => events.map((e) => ("task" in e ? `${e.type}:${e.task}` : e.type)),
  };
}

const noop = (name: string) => task(name, () => name);

Deno.test("runFlow() returns the documented result shape", async () => {
  const fetchData = task("fetch_data", () => ({ id: 1, value: "carrot" }));
  const shout = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase(), {
    retries: 2,
    retryDelaySec: 0.1,
    timeoutSec: 10,
    failPolicy: "stop",
  });
  const hello = flow("hello", {
    graph: "fetch_data >> shout",
    tasks: [fetchData, shout],
    defaults: { x: 1 },
  });
  const before = Date.now() / 1000;
  const result = await runFlow(hello, { params: { x: 2 } });
  assert.deepEqual(Object.keys(result).sort(), [
    "end_time",
    "error",
    "outputs",
    "start_time",
    "status",
    "task_records",
    "tasks",
  ]);
  assert.equal(result.status, "COMPLETED");
  assert.equal(result.error, null);
  assert.deepEqual(result.tasks, { fetch_data: "SUCCEEDED", shout: "SUCCEEDED" });
  assert.deepEqual(result.outputs, { shout: "CARROT" });
  assert.ok(result.start_time >= before - 0.001 && result.end_time >= result.start_time);
  assert.doesNotThrow(() => JSON.stringify(result));
});

Deno.test("runFlow() runs independent tasks concurrently", async () => {
  const started = new Set<string>();
  // Each branch waits until the other has started: only concurrent execution can finish.
  const branch = (name: string, other: string) =>
    task(name, async () => {
      started.add(name);
      await poll(() => started.has(other), { message: `${other} to start` });
      return name;
    }, { timeoutSec: 5 });
  const f = flow("f", {
    graph: "a >> (b & c) >> d",
    tasks: [noop("a"), branch("b", "c"), branch("c", "b"), task("d", (_ctx, input) => input)],
  });
  const result = await runFlow(f);
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, { d: { b: "b", c: "c" } });
});

Deno.test("runFlow() keeps at most maxConcurrency tasks running", async () => {
  const names = ["t1", "t2", "t3", "t4", "t5", "t6"];
  const run = async (maxConcurrency?: number) => {
    let active = 0;
    let peak = 0;
    const tasks = names.map((name) =>
      task(name, async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((resolve) => setTimeout(resolve, 2));
        active--;
      })
    );
    const result = await runFlow(flow("wide", { graph: names.join(" & "), tasks }), {
      maxConcurrency,
    });
    assert.equal(result.status, "COMPLETED");
    return peak;
  };
  assert.equal(await run(2), 2);
  assert.equal(await run(1), 1);
  assert.equal(await run(), names.length);
});

Deno.test("runFlow() gives a root task the params: defaults overlaid by submitted params", async () => {
  const seen: unknown[] = [];
  const a = task("a", (ctx, input) => {
    seen.push(input, ctx.params);
    return null;
  });
  const f = flow("f", { graph: "a", tasks: [a], defaults: { x: 1, y: { deep: true } } });
  await runFlow(f, { params: { x: 2, z: 3 } });
  assert.deepEqual(seen[0], { x: 2, y: { deep: true }, z: 3 });
  assert.equal(seen[0], seen[1]);
  assert.deepEqual(f.defaults, { x: 1, y: { deep: true } });
  await runFlow(f);
  assert.deepEqual(seen[2], { x: 1, y: { deep: true } });
});

Deno.test("runFlow() passes a single upstream's output, or an object keyed by upstream", async () => {
  const inputs: Record<string, unknown> = {};
  const capture = (name: string, output: unknown) =>
    task(name, (_ctx, input) => {
      inputs[name] = input;
      return output;
    });
  const f = flow("f", {
    graph: "a >> (b & c) >> d",
    tasks: [capture("a", { n: 1 }), capture("b", "B"), capture("c", 3), capture("d", null)],
  });
  await runFlow(f, { params: { p: true } });
  assert.deepEqual(inputs.a, { p: true });
  assert.deepEqual(inputs.b, { n: 1 });
  assert.deepEqual(inputs.c, { n: 1 });
  assert.deepEqual(inputs.d, { b: "B", c: 3 });
});

Deno.test("runFlow() resolves an inputs mapping instead of the upstream output", async () => {
  let received: unknown;
  const a = task("a", () => ({ id: 7, tags: ["x", "y"] }), { outputs: ["scratch.fetched"] });
  const b = task("b", (ctx) => {
    ctx.artifacts.report = { pages: 4 };
    return "b-out";
  });
  const c = task("c", (_ctx, input) => (received = input), {
    inputs: {
      flow: "$flow.x",
      params: "$ctx.params.nested.list.1",
      node: "$node.a.output.id",
      nodeWhole: "$node.b.output",
      results: "$ctx.results.a.tags",
      scratch: "$ctx.scratch.fetched.tags.0",
      artifacts: "$ctx.artifacts.report.pages",
      env: "$env.API_TOKEN",
      unset: "$env.UNSET_VAR",
      nested: [{ deep: "$flow.x" }, "literal", 5],
      literal: "$5.00 is not a selector",
    },
  });
  const f = flow("f", {
    graph: "a >> b >> c",
    tasks: [a, b, c],
    defaults: { x: 1, nested: { list: [10, 20] } },
    exposeEnv: ["API_TOKEN", "UNSET_VAR"],
  });
  const result = await runFlow(f, {
    params: { x: 2 },
    env: { API_TOKEN: "secret", OTHER: "hidden" },
  });
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(received, {
    flow: 2,
    params: 20,
    node: 7,
    nodeWhole: "b-out",
    results: ["x", "y"],
    scratch: "x",
    artifacts: 4,
    env: "secret",
    unset: undefined,
    nested: [{ deep: 2 }, "literal", 5],
    literal: "$5.00 is not a selector",
  });
  assert.deepEqual(result.task_records.c!.inputs, {
    flow: 2,
    params: 20,
    node: 7,
    nodeWhole: "b-out",
    results: ["x", "y"],
    scratch: "x",
    artifacts: 4,
    env: "secret",
    nested: [{ deep: 2 }, "literal", 5],
    literal: "$5.00 is not a selector",
  });
});

Deno.test("runFlow() fails a task whose $env selector names a variable that is not exposed", async () => {
  let ran = false;
  const a = task("a", () => (ran = true), {
    inputs: { token: "$env.SECRET" },
    retries: 3,
    retryDelaySec: 0,
  });
  const result = await runFlow(flow("f", { graph: "a", tasks: [a] }), {
    env: { SECRET: "s3cr3t" },
  });
  assert.equal(ran, false);
  assert.equal(result.status, "FAILED");
  assert.equal(result.tasks.a, "FAILED");
  assert.equal(result.task_records.a!.attempts, 1);
  assert.match(result.task_records.a!.error!, /SECRET is not exposed/);
  assert.match(result.error!, /Task a failed: .*SECRET is not exposed/);
  assert.ok(!JSON.stringify(result).includes("s3cr3t"));
});

Deno.test("runFlow() gives tasks the documented context", async () => {
  const contexts: TaskContext[] = [];
  const snapshots: unknown[] = [];
  const a = task("a", (ctx) => {
    contexts.push(ctx);
    ctx.scratch.shared = "from a";
    ctx.log("hello from a");
    return "A";
  });
  const b = task("b", (ctx) => {
    contexts.push(ctx);
    snapshots.push({ ...ctx.results }, ctx.scratch.shared);
    if (ctx.attempt === 1) throw new Error("first attempt fails");
    return "B";
  }, { retries: 1, retryDelaySec: 0 });
  const f = flow("ctx_flow", { graph: "a >> b", tasks: [a, b], exposeEnv: ["SHOWN"] });
  const rec = recorder();
  await runFlow(f, {
    runId: "run-123",
    params: { x: 1 },
    env: { SHOWN: "yes", HIDDEN: "no" },
    onEvent: rec.onEvent,
  });
  const [ctxA, ctxB1, ctxB2] = contexts;
  assert.equal(ctxA!.run_id, "run-123");
  assert.equal(ctxA!.flow_name, "ctx_flow");
  assert.equal(ctxA!.task_name, "a");
  assert.equal(ctxA!.attempt, 1);
  assert.equal(ctxB1!.task_name, "b");
  assert.deepEqual([ctxB1!.attempt, ctxB2!.attempt], [1, 2]);
  assert.deepEqual(ctxA!.params, { x: 1 });
  assert.deepEqual(ctxA!.env, { SHOWN: "yes" });
  assert.ok(ctxA!.signal instanceof AbortSignal);
  assert.notEqual(ctxB1!.signal, ctxB2!.signal);
  assert.equal(ctxA!.scratch, ctxB1!.scratch);
  assert.deepEqual(snapshots[0], { a: "A" });
  assert.equal(snapshots[1], "from a");
  const log = rec.events.find((e) => e.type === "task.log");
  assert.deepEqual(
    log && { ...log, ts: 0 },
    { type: "task.log", run_id: "run-123", task: "a", attempt: 1, message: "hello from a", ts: 0 },
  );
});

Deno.test("runFlow() stops the run on a failure under the stop policy", async () => {
  const cStarted = Promise.withResolvers<void>();
  let cSawAbort = false;
  let dRan = false;
  const b = task("b", async () => {
    await cStarted.promise;
    throw new Error("boom");
  });
  const c = task("c", async (ctx) => {
    cStarted.resolve();
    await aborted(ctx.signal);
    cSawAbort = true;
    throw ctx.signal.reason;
  });
  const d = task("d", () => (dRan = true));
  const f = flow("f", {
    graph: "a >> (b & c) >> d; a >> e",
    tasks: [noop("a"), b, c, d, noop("e")],
  });
  const rec = recorder();
  const result = await runFlow(f, { onEvent: rec.onEvent, maxConcurrency: 2 });
  assert.equal(result.status, "FAILED");
  assert.match(result.error!, /^Task b failed: boom$/);
  assert.equal(cSawAbort, true);
  assert.equal(dRan, false);
  assert.deepEqual(result.tasks, {
    a: "SUCCEEDED",
    b: "FAILED",
    c: "CANCELLED",
    d: "CANCELLED",
    e: "CANCELLED", // ready but never started: the two slots were taken by b and c
  });
  assert.equal(result.task_records.b!.error, "boom");
  assert.match(result.task_records.b!.traceback!, /Error: boom/);
  assert.equal(result.task_records.c!.attempts, 1);
  assert.equal(result.task_records.d!.attempts, 0);
  assert.equal(result.task_records.d!.started_at, null);
  assert.equal(result.task_records.e!.started_at, null);
  assert.deepEqual(result.outputs, {});
  assert.equal(rec.names().at(-1), "run.failed");
  assert.ok(!rec.names().includes("task.started:d"));
});

Deno.test("runFlow() isolates a failure to its downstream under the isolate policy", async () => {
  const b = task("b", () => {
    throw new Error("boom");
  }, { failPolicy: "isolate" });
  const f = flow("f", {
    graph: "a >> (b & c) >> d >> e; a >> g",
    tasks: [noop("a"), b, noop("c"), noop("d"), noop("e"), noop("g")],
  });
  const rec = recorder();
  const result = await runFlow(f, { onEvent: rec.onEvent });
  assert.equal(result.status, "COMPLETED");
  assert.equal(result.error, null);
  assert.deepEqual(result.tasks, {
    a: "SUCCEEDED",
    b: "FAILED",
    c: "SUCCEEDED",
    d: "FAILED",
    e: "FAILED",
    g: "SUCCEEDED",
  });
  assert.equal(result.task_records.b!.error, "boom");
  assert.equal(result.task_records.d!.error, "upstream task b failed");
  assert.equal(result.task_records.e!.error, "upstream task d failed");
  assert.equal(result.task_records.d!.attempts, 0);
  assert.equal(result.task_records.d!.started_at, null);
  assert.deepEqual(result.outputs, { g: "g" });
  assert.ok(rec.names().includes("task.failed:d"));
  assert.equal(rec.names().at(-1), "run.completed");
});

Deno.test("runFlow() retries with exponential backoff and counts attempts", async () => {
  const attempts: number[] = [];
  const flaky = task("flaky", (ctx) => {
    attempts.push(ctx.attempt);
    if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
    return "ok";
  }, { retries: 3, retryDelaySec: 0.01, retryBackoff: 3 });
  const rec = recorder();
  const result = await runFlow(flow("f", { graph: "flaky", tasks: [flaky] }), {
    onEvent: rec.onEvent,
  });
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(attempts, [1, 2, 3]);
  const record = result.task_records.flaky!;
  assert.equal(record.attempts, 3);
  assert.equal(record.state, "SUCCEEDED");
  assert.equal(record.error, null);
  const retrying = rec.events.filter((e) => e.type === "task.retrying");
  assert.deepEqual(
    retrying.map((e) => e.type === "task.retrying" && [e.attempt, e.error, e.delay_sec]),
    [[1, "fail 1", 0.01], [2, "fail 2", 0.03]],
  );
  assert.deepEqual(rec.names(), [
    "run.started",
    "task.started:flaky",
    "task.retrying:flaky",
    "task.started:flaky",
    "task.retrying:flaky",
    "task.started:flaky",
    "task.succeeded:flaky",
    "run.completed",
  ]);
});

Deno.test("runFlow() fails a task whose retries are exhausted", async () => {
  const always = task("always", (ctx) => {
    throw new Error(`attempt ${ctx.attempt}`);
  }, { retries: 2, retryDelaySec: 0 });
  const result = await runFlow(flow("f", { graph: "always", tasks: [always] }));
  assert.equal(result.status, "FAILED");
  assert.equal(result.task_records.always!.attempts, 3);
  assert.equal(result.task_records.always!.error, "attempt 3");
  assert.equal(result.error, "Task always failed: attempt 3");
});

Deno.test("runFlow() times out an attempt, aborts its signal and retries it", async () => {
  const reasons: unknown[] = [];
  const slow = task("slow", async (ctx) => {
    await aborted(ctx.signal);
    reasons.push(ctx.signal.reason);
    return "too late";
  }, { timeoutSec: 0.02, retries: 1, retryDelaySec: 0 });
  const rec = recorder();
  const result = await runFlow(flow("f", { graph: "slow", tasks: [slow] }), {
    onEvent: rec.onEvent,
  });
  assert.equal(result.status, "FAILED");
  const record = result.task_records.slow!;
  assert.equal(record.state, "FAILED");
  assert.equal(record.attempts, 2);
  assert.equal(record.output, null);
  assert.match(record.error!, /Task "slow" timed out after 0.02 s/);
  assert.equal(reasons.length, 2);
  assert.ok(reasons.every((r) => r instanceof TaskTimeoutError));
  assert.deepEqual(rec.names().filter((n) => n.startsWith("task.")), [
    "task.started:slow",
    "task.retrying:slow",
    "task.started:slow",
    "task.failed:slow",
  ]);
});

Deno.test("runFlow() cancels the run when its signal aborts", async () => {
  const controller = new AbortController();
  let bRan = false;
  const a = task("a", async (ctx) => {
    await aborted(ctx.signal);
    throw new Error("stopped by signal");
  });
  const b = task("b", () => (bRan = true));
  const rec = recorder();
  const running = runFlow(flow("f", { graph: "a >> b", tasks: [a, b] }), {
    signal: controller.signal,
    onEvent: rec.onEvent,
  });
  await poll(() => rec.names().includes("task.started:a"), { message: "a to start" });
  controller.abort("user request");
  const result = await running;
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.error, "Run cancelled: user request");
  assert.deepEqual(result.tasks, { a: "CANCELLED", b: "CANCELLED" });
  assert.equal(result.task_records.a!.error, "stopped by signal");
  assert.equal(result.task_records.b!.attempts, 0);
  assert.equal(bRan, false);
  const last = rec.events.at(-1)!;
  assert.equal(last.type, "run.cancelled");
});

Deno.test("runFlow() cancels at once when the signal is already aborted", async () => {
  let ran = false;
  const a = task("a", () => (ran = true));
  const rec = recorder();
  const result = await runFlow(flow("f", { graph: "a", tasks: [a] }), {
    signal: AbortSignal.abort(),
    onEvent: rec.onEvent,
  });
  assert.equal(ran, false);
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.error, "Run cancelled");
  assert.deepEqual(result.tasks, { a: "CANCELLED" });
  assert.deepEqual(rec.names(), ["run.started", "run.cancelled"]);
});

Deno.test("runFlow() interrupts a delay between retries when cancelled", async () => {
  const controller = new AbortController();
  const a = task("a", () => {
    throw new Error("try again");
  }, { retries: 5, retryDelaySec: 600 });
  const rec = recorder();
  const running = runFlow(flow("f", { graph: "a", tasks: [a] }), {
    signal: controller.signal,
    onEvent: rec.onEvent,
  });
  await poll(() => rec.names().includes("task.retrying:a"), { message: "a to retry" });
  controller.abort();
  const result = await running;
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.tasks.a, "CANCELLED");
  assert.equal(result.task_records.a!.attempts, 1);
  assert.equal(result.task_records.a!.error, "try again");
});

Deno.test("runFlow() does not hang on a task that ignores its signal", async () => {
  const release = Promise.withResolvers<void>();
  const controller = new AbortController();
  const stubborn = task("stubborn", async () => {
    await release.promise; // ignores ctx.signal
    return "late";
  });
  const rec = recorder();
  const progress: RunProgress[] = [];
  const running = runFlow(
    flow("f", { graph: "stubborn >> after", tasks: [stubborn, noop("after")] }),
    {
      signal: controller.signal,
      onEvent: rec.onEvent,
      onProgress: (p) => void progress.push(p),
      abortGraceMs: 20,
    },
  );
  await poll(() => rec.names().includes("task.started:stubborn"), {
    message: "stubborn to start",
  });
  controller.abort();
  const result = await running;
  assert.equal(result.status, "CANCELLED");
  assert.deepEqual(result.tasks, { stubborn: "CANCELLED", after: "CANCELLED" });
  assert.match(result.task_records.stubborn!.error!, /did not stop within 20 ms/);

  // The late result is discarded: no events or progress after the run ended.
  const [eventCount, progressCount] = [rec.events.length, progress.length];
  release.resolve();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(rec.events.length, eventCount);
  assert.equal(progress.length, progressCount);
  assert.equal(result.task_records.stubborn!.output, null);
});

Deno.test("runFlow() does not hang on a stubborn task after a stop failure", async () => {
  const release = Promise.withResolvers<void>();
  const stubborn = task("stubborn", () => release.promise);
  const failing = task("failing", () => Promise.reject(new Error("bad")));
  const result = await runFlow(
    flow("f", { graph: "stubborn & failing", tasks: [stubborn, failing] }),
    { abortGraceMs: 10 },
  );
  release.resolve();
  assert.equal(result.status, "FAILED");
  assert.equal(result.error, "Task failing failed: bad");
  assert.deepEqual(result.tasks, { stubborn: "CANCELLED", failing: "FAILED" });
});

Deno.test("runFlow() starts an OR-join when any upstream succeeded", async () => {
  const dStarted = Promise.withResolvers<void>();
  let dInput: unknown;
  // c only finishes after d started: d must not wait for c.
  const c = task("c", async () => {
    await dStarted.promise;
    return "C";
  }, { timeoutSec: 5 });
  const d = task("d", (_ctx, input) => {
    dInput = structuredClone(input);
    dStarted.resolve();
    return "D";
  });
  const f = flow("f", { graph: "a >> (b | c) >> d", tasks: [noop("a"), noop("b"), c, d] });
  const result = await runFlow(f);
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.tasks, {
    a: "SUCCEEDED",
    b: "SUCCEEDED",
    c: "SUCCEEDED",
    d: "SUCCEEDED",
  });
  assert.deepEqual(dInput, { b: "b" });
});

Deno.test("runFlow() runs an OR-join after some branches failed", async () => {
  const fail = (name: string) =>
    task(name, () => {
      throw new Error(`${name} broke`);
    }, { failPolicy: "isolate" });
  const f = flow("f", {
    graph: "(b | c | e) >> d",
    tasks: [fail("b"), noop("c"), fail("e"), noop("d")],
  });
  const result = await runFlow(f);
  assert.equal(result.status, "COMPLETED");
  assert.equal(result.tasks.d, "SUCCEEDED");
  assert.deepEqual(result.task_records.d!.inputs, { c: "c" });
});

Deno.test("runFlow() fails an OR-join without running it when all upstreams failed", async () => {
  let dRan = false;
  const fail = (name: string) =>
    task(name, () => {
      throw new Error(`${name} broke`);
    }, { failPolicy: "isolate" });
  const d = task("d", () => (dRan = true));
  const f = flow("f", { graph: "(b | c) >> d", tasks: [fail("b"), fail("c"), d] });
  const result = await runFlow(f);
  assert.equal(dRan, false);
  assert.equal(result.status, "COMPLETED");
  assert.equal(result.tasks.d, "FAILED");
  assert.match(result.task_records.d!.error!, /^upstream task [bc] failed$/);
  assert.equal(result.task_records.d!.attempts, 0);
});

Deno.test("runFlow() waits for every upstream of an AND-join", async () => {
  const rec = recorder();
  const slow = task("slow", async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return "S";
  });
  const f = flow("f", { graph: "(fast & slow) >> d", tasks: [noop("fast"), slow, noop("d")] });
  const result = await runFlow(f, { onEvent: rec.onEvent });
  const names = rec.names();
  assert.ok(names.indexOf("task.succeeded:slow") < names.indexOf("task.started:d"));
  assert.ok(names.indexOf("task.succeeded:fast") < names.indexOf("task.started:d"));
  assert.deepEqual(result.outputs, { d: "d" });
});

Deno.test("runFlow() honours nested joins", async () => {
  const fail = (name: string) =>
    task(name, () => {
      throw new Error("x");
    }, { failPolicy: "isolate" });
  // d needs c AND (a OR b).
  const orInside = flow("f", {
    graph: "((a | b) & c) >> d",
    tasks: [fail("a"), noop("b"), noop("c"), noop("d")],
  });
  assert.equal((await runFlow(orInside)).tasks.d, "SUCCEEDED");
  const missingC = flow("f", {
    graph: "((a | b) & c) >> d",
    tasks: [noop("a"), noop("b"), fail("c"), noop("d")],
  });
  const r2 = await runFlow(missingC);
  assert.equal(r2.tasks.d, "FAILED");
  assert.equal(r2.task_records.d!.error, "upstream task c failed");
  // d needs (a AND b) OR c.
  const andInside = flow("f", {
    graph: "((a & b) | c) >> d",
    tasks: [fail("a"), noop("b"), noop("c"), noop("d")],
  });
  assert.equal((await runFlow(andInside)).tasks.d, "SUCCEEDED");
  const neither = flow("f", {
    graph: "((a & b) | c) >> d",
    tasks: [fail("a"), noop("b"), fail("c"), noop("d")],
  });
  assert.equal((await runFlow(neither)).tasks.d, "FAILED");
});

Deno.test("runFlow() fills task records", async () => {
  const a = task("a", (ctx) => {
    ctx.artifacts.report = { pages: 2 };
    ctx.artifacts.chart = "png";
    return { n: 1 };
  }, { outputs: ["scratch.saved", "artifacts.copy.of_a"] });
  const b = task("b", (ctx) => {
    ctx.artifacts.other = true;
    return ctx.scratch.saved;
  });
  const result = await runFlow(flow("f", { graph: "a >> b", tasks: [a, b] }), { params: { p: 1 } });
  const rec = result.task_records.a!;
  assert.equal(rec.state, "SUCCEEDED");
  assert.equal(rec.attempts, 1);
  assert.equal(rec.error, null);
  assert.equal(rec.traceback, null);
  assert.deepEqual(rec.inputs, { p: 1 });
  assert.deepEqual(rec.output, { n: 1 });
  assert.deepEqual(rec.artifacts, { report: { pages: 2 }, chart: "png", copy: { of_a: { n: 1 } } });
  assert.ok(rec.started_at! <= rec.ended_at!);
  assert.equal(rec.duration_ms, Math.round((rec.ended_at! - rec.started_at!) * 1000));
  assert.ok(rec.started_at! >= result.start_time && rec.ended_at! <= result.end_time);
  assert.deepEqual(result.task_records.b!.artifacts, { other: true });
  assert.deepEqual(result.task_records.b!.output, { n: 1 });
});

Deno.test("runFlow() stringifies outputs that are not JSON-serialisable", async () => {
  let downstream: unknown;
  const a = task("a", () => {
    const value: Record<string, unknown> = {
      big: 10n,
      fn: function helper() {},
      when: new Date(0),
    };
    value.self = value;
    return value;
  });
  const b = task("b", (_ctx, input: { big: bigint }) => {
    downstream = input.big;
    return input;
  });
  const result = await runFlow(flow("f", { graph: "a >> b", tasks: [a, b] }));
  assert.equal(downstream, 10n); // tasks get the real value
  const expected = {
    big: "10",
    fn: "[Function: helper]",
    when: "1970-01-01T00:00:00.000Z",
    self: "[Circular]",
  };
  assert.deepEqual(result.task_records.a!.output, expected);
  assert.deepEqual(result.outputs.b, expected);
  assert.doesNotThrow(() => JSON.stringify(result));
});

Deno.test("runFlow() returns only the sink tasks' outputs", async () => {
  const f = flow("f", { graph: "a >> (b & c); b >> d", tasks: ["a", "b", "c", "d"].map(noop) });
  const result = await runFlow(f);
  assert.deepEqual(result.outputs, { c: "c", d: "d" });
});

Deno.test("runFlow() emits lifecycle events in order and ignores listener errors", async () => {
  const events: string[] = [];
  const f = flow("f", { graph: "a >> (b & c)", tasks: ["a", "b", "c"].map(noop) });
  const result = await runFlow(f, {
    runId: "r1",
    onEvent: (e) => {
      events.push("task" in e ? `${e.type}:${e.task}` : e.type);
      assert.equal(e.run_id, "r1");
      throw new Error("listener bug");
    },
    onProgress: () => {
      throw new Error("progress bug");
    },
  });
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(events, [
    "run.started",
    "task.started:a",
    "task.succeeded:a",
    "task.started:b",
    "task.started:c",
    "task.succeeded:b",
    "task.succeeded:c",
    "run.completed",
  ]);
});

Deno.test("runFlow() reports progress after every task state change", async () => {
  const progress: RunProgress[] = [];
  const f = flow("f", { graph: "a >> b", tasks: ["a", "b"].map(noop) });
  await runFlow(f, { onProgress: (p) => void progress.push(p) });
  assert.deepEqual(progress.map((p) => `${p.tasks.a}/${p.tasks.b}`), [
    "RUNNING/PENDING",
    "SUCCEEDED/PENDING",
    "SUCCEEDED/RUNNING",
    "SUCCEEDED/SUCCEEDED",
    "SUCCEEDED/SUCCEEDED", // final
  ]);
  // Fresh copies: later changes do not show up in earlier reports.
  assert.equal(progress[0]!.task_records.a!.state, "RUNNING");
  assert.notEqual(progress[0]!.task_records.a, progress[1]!.task_records.a);
  assert.deepEqual(progress[3]!.task_records.b!.output, "b");
});

Deno.test("runFlow() reports a thrown non-Error and a sync throw", async () => {
  const a = task("a", () => {
    throw { code: 42 };
  }, { failPolicy: "isolate" });
  const b = task("b", () => {
    throw "plain string";
  }, { failPolicy: "isolate" });
  const result = await runFlow(flow("f", { graph: "a & b", tasks: [a, b] }));
  assert.equal(result.task_records.a!.error, '{"code":42}');
  assert.equal(result.task_records.a!.traceback, null);
  assert.equal(result.task_records.b!.error, "plain string");
});

Deno.test("runFlow() rejects programming errors", async () => {
  const f = flow("f", { graph: "a", tasks: [noop("a")] });
  await assert.rejects(runFlow({} as never), TypeError);
  await assert.rejects(runFlow(f, { maxConcurrency: 0 }), RangeError);
  await assert.rejects(runFlow(f, { abortGraceMs: -1 }), RangeError);
  await assert.rejects(runFlow(f, { params: [] as never }), TypeError);
});

Deno.test("runFlow() schedules large flows without recursion limits", async () => {
  const size = 3000;
  const names = Array.from({ length: size }, (_, i) => `t${i}`);
  const head = task("t0", () => {
    throw new Error("head failed");
  }, { failPolicy: "isolate" });
  const chain = flow("chain", {
    graph: names.join(" >> "),
    tasks: [head, ...names.slice(1).map(noop)],
  });
  const failed = await runFlow(chain);
  assert.equal(failed.status, "COMPLETED");
  assert.equal(failed.tasks[`t${size - 1}`], "FAILED");
  assert.equal(failed.task_records[`t${size - 1}`]!.error, `upstream task t${size - 2} failed`);

  const fan = flow("fan", {
    graph: `root >> (${names.join(" & ")}) >> sink`,
    tasks: [
      noop("root"),
      ...names.map(noop),
      task("sink", (_ctx, input) => Object.keys(input).length),
    ],
  });
  const wide = await runFlow(fan);
  assert.deepEqual(wide.outputs, { sink: size });
});

Deno.test("runFlow() never starts an attempt after a listener aborts on task.started", async () => {
  const controller = new AbortController();
  let ran = false;
  const a = task("a", () => {
    ran = true;
  });
  const started = Date.now();
  const result = await runFlow(flow("f", { graph: "a", tasks: [a] }), {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "task.started") controller.abort();
    },
  });
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.tasks.a, "CANCELLED");
  assert.equal(ran, false);
  assert.ok(Date.now() - started < 2000, "the run did not wait for the abort grace period");
});
