/** `runFlow(flow, { resume })`: retry from failed (SPEC §15). */
import assert from "node:assert/strict";
import { runFlow } from "../../src/flow/engine.ts";
import { flow, task } from "../../src/flow/task.ts";
import type { FlowEvent } from "../../src/flow/types.ts";

/** A flow `a >> (b & c) >> d` whose tasks count their calls. */
function counted() {
  const calls: Record<string, number> = { a: 0, b: 0, c: 0, d: 0 };
  const a = task("a", () => {
    calls.a!++;
    return { id: 1 };
  });
  const b = task("b", (_ctx, input: { id: number }) => {
    calls.b!++;
    return input.id + 10;
  });
  const c = task("c", (_ctx, input: { id: number }) => {
    calls.c!++;
    return input.id + 20;
  });
  const d = task("d", (_ctx, input: { b: number; c: number }) => {
    calls.d!++;
    return input.b + input.c;
  });
  const f = flow("diamond", { graph: "a >> (b & c) >> d", tasks: [a, b, c, d] });
  return { f, calls };
}

Deno.test("runFlow() with resume does not run resumed tasks and feeds their outputs on", async () => {
  const { f, calls } = counted();
  const events: FlowEvent[] = [];
  const result = await runFlow(f, {
    resume: { a: { id: 5 }, b: 15 },
    onEvent: (e) => void events.push(e),
  });
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(calls, { a: 0, b: 0, c: 1, d: 1 });
  assert.deepEqual(result.outputs, { d: 15 + 25 });
  for (const name of ["a", "b"]) {
    const record = result.task_records[name]!;
    assert.equal(record.state, "SUCCEEDED");
    assert.equal(record.reused, true);
    assert.equal(record.attempts, 0);
  }
  assert.deepEqual(result.task_records.a!.output, { id: 5 });
  assert.equal(result.task_records.b!.output, 15);
  assert.equal(result.task_records.c!.reused, undefined);
  assert.deepEqual(result.task_records.c!.inputs, { id: 5 });
  const started = events.filter((e) => e.type === "task.started").map((e) =>
    (e as { task: string }).task
  );
  assert.deepEqual(started.sort(), ["c", "d"]);
});

Deno.test("runFlow() with every task resumed completes without running any", async () => {
  const { f, calls } = counted();
  const result = await runFlow(f, { resume: { a: { id: 1 }, b: 11, c: 21, d: 32 } });
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(calls, { a: 0, b: 0, c: 0, d: 0 });
  assert.deepEqual(result.outputs, { d: 32 });
  assert.ok(Object.values(result.task_records).every((r) => r.reused === true));
});

Deno.test("runFlow() keeps a resumed task SUCCEEDED when a re-run upstream fails", async () => {
  const boom = task("a", () => {
    throw new Error("boom");
  }, { failPolicy: "isolate" });
  const b = task("b", () => "fresh");
  const f = flow("f", { graph: "a >> b", tasks: [boom, b] });
  const result = await runFlow(f, { resume: { b: "kept" } });
  assert.equal(result.tasks.a, "FAILED");
  assert.equal(result.tasks.b, "SUCCEEDED");
  assert.equal(result.task_records.b!.output, "kept");
  assert.equal(result.task_records.b!.reused, true);
});

Deno.test("runFlow() writes a resumed task's outputs paths for its downstream", async () => {
  const a = task("a", () => "unused", { outputs: ["scratch.saved"] });
  const b = task("b", (_ctx, input: unknown) => input, { inputs: { v: "$ctx.scratch.saved" } });
  const f = flow("f", { graph: "a >> b", tasks: [a, b] });
  const result = await runFlow(f, { resume: { a: "from-before" } });
  assert.deepEqual(result.outputs, { b: { v: "from-before" } });
});

Deno.test("runFlow() rejects a resume naming a task that is not in the flow", async () => {
  const { f } = counted();
  await assert.rejects(
    runFlow(f, { resume: { nope: 1 } }),
    (e: unknown) => e instanceof TypeError && /"resume" names task "nope"/.test(e.message),
  );
  await assert.rejects(
    runFlow(f, { resume: [] as never }),
    (e: unknown) => e instanceof TypeError && /"resume" must be an object/.test(e.message),
  );
});
