import assert from "node:assert/strict";
import { createEventFormatter, eventLine, eventText } from "../../src/cli/format.ts";

Deno.test("createEventFormatter() writes one line per event", () => {
  const format = createEventFormatter();
  const base = { run_id: "r1" };
  const lines = [
    format({ ...base, type: "run.started", flow_name: "f", ts: 10 }),
    format({ ...base, type: "task.started", task: "a", attempt: 1, ts: 10.25 }),
    format({
      ...base,
      type: "task.retrying",
      task: "a",
      attempt: 1,
      error: "E",
      delay_sec: 0.1,
      ts: 10.5,
    }),
    format({ ...base, type: "task.started", task: "a", attempt: 2, ts: 11 }),
    format({ ...base, type: "task.log", task: "a", attempt: 2, message: "hi", ts: 11.1 }),
    format({ ...base, type: "task.succeeded", task: "a", attempt: 2, ts: 11.5 }),
    format({
      ...base,
      type: "task.failed",
      task: "b",
      attempt: 0,
      error: "upstream task a failed",
      ts: 11.5,
    }),
    format({ ...base, type: "run.cancelled", error: null, ts: 12 }),
  ];
  assert.deepEqual(lines, [
    "[+0.000s] run r1 started (flow f)",
    "[+0.250s] a: started (attempt 1)",
    "[+0.500s] a: attempt 1 failed: E; retrying in 0.1 s",
    "[+1.000s] a: started (attempt 2)",
    "[+1.100s] a: log: hi",
    "[+1.500s] a: succeeded (attempt 2, 500 ms)",
    "[+1.500s] b: failed without running: upstream task a failed",
    "[+2.000s] run r1 CANCELLED",
  ]);
});

Deno.test("eventText() words a gateway event like a local one; eventLine() adds the wall clock", () => {
  const stored = {
    seq: 7,
    type: "task.retrying",
    run_id: "r1",
    task: "flaky",
    attempt: 1,
    error: "Boom",
    delay_sec: 0.5,
    ts: 1_700_000_000.25,
  };
  assert.equal(eventText(stored), "flaky: attempt 1 failed: Boom; retrying in 0.5 s");
  const local = createEventFormatter();
  assert.equal(local({ ...stored, seq: undefined } as never), `[+0.000s] ${eventText(stored)}`);
  assert.match(eventLine(stored), /^\d\d:\d\d:\d\d\.250 {2}flaky: attempt 1 failed: Boom;/);
  assert.equal(
    eventText({ seq: 9, type: "events.dropped", dropped_logs: 3 }),
    "(3 log lines of this run were dropped: too many)",
  );
  assert.equal(
    eventText({ seq: 1, type: "custom.thing", run_id: "r1", x: 1 }),
    'custom.thing {"x":1}',
  );
});
