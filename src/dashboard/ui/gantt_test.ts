import assert from "node:assert/strict";
import { ganttTicks, layoutGantt } from "./gantt.ts";

const _rec = (started_at: number | null, ended_at: number | null, extra = {}) => ({
  started_at,
  ended_at,
  ...extra,
});

Deno.test("layoutGantt() places bars as fractions of the span from first start to last end", () => {
  const g = layoutGantt(
    { extract: _rec(10, 11), clean: _rec(11, 13), enrich: _rec(11, 12), load: _rec(13, 14) },
    {
      states: { extract: "SUCCEEDED", clean: "SUCCEEDED", enrich: "SUCCEEDED", load: "SUCCEEDED" },
      order: ["extract", "clean", "enrich", "load"],
      nowSec: 99,
    },
  );
  assert.equal(g.origin, 10);
  assert.equal(g.spanSec, 4);
  assert.deepEqual(
    g.rows.map((r) => [r.name, r.left, r.width, r.open]),
    [
      ["extract", 0, 0.25, false],
      ["clean", 0.25, 0.5, false],
      ["enrich", 0.25, 0.25, false],
      ["load", 0.75, 0.25, false],
    ],
  );
});

Deno.test("layoutGantt() runs an open bar to now and keeps tasks that never started", () => {
  const g = layoutGantt({ a: _rec(100, 102), b: _rec(102, null) }, {
    states: { a: "SUCCEEDED", b: "RUNNING", c: "PENDING" },
    nowSec: 104,
  });
  assert.equal(g.spanSec, 4);
  const b = g.rows.find((r) => r.name === "b")!;
  assert.equal(b.open, true);
  assert.equal(b.durationSec, 2);
  const c = g.rows.find((r) => r.name === "c")!;
  assert.equal(c.left, null);
  assert.equal(c.state, "PENDING");
});

Deno.test("layoutGantt() with no started task has no origin and no bars", () => {
  const g = layoutGantt({}, { states: { a: "PENDING" }, nowSec: 5 });
  assert.equal(g.origin, null);
  assert.deepEqual(g.rows.map((r) => r.width), [null]);
});

Deno.test("layoutGantt() marks reused tasks", () => {
  const g = layoutGantt({ a: _rec(1, 1, { reused: true }), b: _rec(1, 2) }, { nowSec: 3 });
  assert.equal(g.rows.find((r) => r.name === "a")!.reused, true);
  assert.equal(g.rows.find((r) => r.name === "b")!.reused, false);
});

Deno.test("ganttTicks() picks a round step with at most six ticks", () => {
  assert.deepEqual(ganttTicks(1).map((t) => t.sec), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ganttTicks(100).map((t) => t.sec), [0, 30, 60, 90]);
  for (const span of [0.05, 0.7, 3, 47, 290, 5000, 90_000]) {
    const ticks = ganttTicks(span);
    assert.ok(ticks.length >= 1 && ticks.length <= 6, `${span}: ${ticks.length} ticks`);
    assert.ok(ticks.every((t) => t.at >= 0 && t.at <= 1 + 1e-9), `${span}: inside`);
  }
});
