import assert from "node:assert/strict";
import { progressView } from "../../src/cli/_progress.ts";
import type { CliIo } from "../../src/cli/_common.ts";
import type { RunEvent, RunSnapshot } from "../../src/client/mod.ts";

function collect(errIsTty = false): { io: CliIo; lines: () => string[] } {
  let err = "";
  const io: CliIo = {
    out: () => {},
    err: (text) => err += text,
    errIsTty,
    env: () => undefined,
  };
  return {
    io,
    lines: () => err.trimEnd().split("\n").map((l) => l.replace(/^\d\d:\d\d:\d\d /, "")),
  };
}

function snapshot(status: string, extra: Record<string, unknown> = {}): RunSnapshot {
  return {
    run_id: "r1",
    flow_name: "hello",
    status,
    tasks: {},
    ...extra,
  } as unknown as RunSnapshot;
}

function event(type: string, extra: Record<string, unknown> = {}): RunEvent {
  return { seq: 1, type, run_id: "r1", ts: 1_700_000_000, ...extra };
}

Deno.test("progressView() prints waiting_reason once while PENDING", () => {
  const { io, lines } = collect();
  const view = progressView(io);
  const waiting = { waiting_reason: "no live worker serves tag gpu" };
  view.update(snapshot("PENDING", waiting));
  view.update(snapshot("PENDING", waiting));
  view.update(snapshot("PENDING", waiting));
  view.update(snapshot("RUNNING", { worker_id: "w1", tasks: { a: "RUNNING" } }));
  assert.deepEqual(lines(), [
    "run r1 PENDING",
    "run r1 waiting: no live worker serves tag gpu",
    "run r1 RUNNING (worker w1)",
    "task a RUNNING",
  ]);
});

Deno.test("progressView() prints retries and log lines, and nothing after the final status", () => {
  const { io, lines } = collect();
  const view = progressView(io);
  view.update(snapshot("RUNNING", { worker_id: "w1", tasks: { a: "RUNNING", b: "PENDING" } }));
  view.event(event("task.started", { task: "a", attempt: 1 }));
  view.event(event("task.retrying", { task: "a", attempt: 1, error: "E", delay_sec: 0.1 }));
  view.event(event("task.log", { task: "a", attempt: 2, message: "hello" }));
  view.update(
    snapshot("COMPLETED", { worker_id: "w1", tasks: { a: "SUCCEEDED", b: "SUCCEEDED" } }),
  );
  view.event(event("task.log", { task: "b", attempt: 1, message: "late" }));
  view.update(snapshot("COMPLETED", { worker_id: "w1", tasks: { a: "SUCCEEDED" } }));
  view.done();
  assert.deepEqual(lines(), [
    "run r1 RUNNING (worker w1)",
    "task a RUNNING",
    "a: attempt 1 failed: E; retrying in 0.1 s",
    "a: log: hello",
    "task a SUCCEEDED",
    "task b SUCCEEDED",
    "run r1 COMPLETED (worker w1)",
  ]);
});

Deno.test("progressView({ tasks: false }) shows only the run's status and why it waits", () => {
  const { io, lines } = collect(true);
  const view = progressView(io, { tasks: false });
  view.update(snapshot("PENDING", { waiting_reason: "no live worker serves tag gpu" }));
  view.update(snapshot("RUNNING", { tasks: { a: "RUNNING" } }));
  view.event(event("task.log", { task: "a", attempt: 1, message: "shown on stdout instead" }));
  view.update(snapshot("FAILED", { tasks: { a: "FAILED" } }));
  assert.deepEqual(lines(), [
    "run r1 PENDING",
    "run r1 waiting: no live worker serves tag gpu",
    "run r1 RUNNING",
    "a: log: shown on stdout instead",
    "run r1 FAILED",
  ]);
});

Deno.test("progressView() on a terminal redraws one block and keeps event lines above it", () => {
  const { io } = collect(true);
  let text = "";
  const view = progressView({ ...io, err: (t) => text += t });
  view.update(snapshot("PENDING", { waiting_reason: "no live worker serves tag gpu" }));
  view.update(snapshot("RUNNING", { tasks: { a: "RUNNING" } }));
  view.event(event("task.log", { task: "a", attempt: 1, message: "hi" }));
  view.update(snapshot("COMPLETED", { tasks: { a: "SUCCEEDED" } }));
  view.done();
  assert.match(
    text,
    /^run r1 {2}hello {2}PENDING {2}\d+\.\ds\n {2}waiting: no live worker serves tag gpu\n/,
  );
  // The log line replaces the block, then the block is drawn again below it.
  const redraw = "\x1b[2F\x1b[J";
  assert.ok(text.includes(redraw), JSON.stringify(text));
  assert.ok(
    text.split(redraw).some((part) =>
      /^\d\d:\d\d:\d\d a: log: hi\nrun r1 {2}hello {2}RUNNING/.test(part)
    ),
    JSON.stringify(text),
  );
  assert.match(text, /✓ a {2}SUCCEEDED\n$/);
});
