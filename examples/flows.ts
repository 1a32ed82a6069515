/**
 * Example flows. Start a worker with them (`deno task worker -- --flows ./examples/flows.ts`) or
 * run one locally: `deno task pyoco -- run ./examples/flows.ts --flow hello --param x=2`.
 *
 * @module
 */

import { flow, task } from "../src/flow/task.ts";
import { fetchData, flaky, merge, reverse, shout, slow } from "./tasks.ts";

/** `fetch_data >> shout`: the SPEC's first example. Output: `{ shout: "CARROT" }`. */
export const hello = flow("hello", {
  graph: "fetch_data >> shout",
  tasks: [fetchData, shout],
  defaults: { x: 1 },
});

/**
 * Fan-out and AND-join: `shout` and `reverse` run in parallel after `fetch_data`; `merge` waits
 * for both and receives `{ shout, reverse }`. Output: `{ merge: { merged: ["CARROT", "torrac"] } }`.
 */
export const fanout = flow("fanout", {
  graph: "fetch_data >> (shout & reverse) >> merge",
  tasks: [fetchData, shout, reverse, merge],
});

/** Two sleepers with different lengths (re-using the `slow` task's function). */
const quick = task("quick", slow.fn, { inputs: { seconds: 0.05 } });
const steady = task("steady", slow.fn, { inputs: { seconds: 0.5 } });
/** With an OR-join, the input holds the upstreams that had succeeded when it started. */
const first = task("first", (_ctx, input: Record<string, unknown>) => Object.keys(input));

/**
 * OR-join: `first` starts as soon as either `quick` or `steady` succeeded (it sees only
 * `quick`); the run still waits for `steady`. Output: `{ first: ["quick"] }`.
 */
export const race = flow("race", {
  graph: "(quick | steady) >> first",
  tasks: [quick, steady, first],
});

const report = task(
  "report",
  (_ctx, input: { attempt: number }) => `succeeded on attempt ${input.attempt}`,
);

/**
 * Retries: `flaky` fails its first attempt and is retried (`retries: 2`). Output:
 * `{ report: "succeeded on attempt 2" }`; `task_records.flaky.attempts` is 2.
 */
export const retryDemo = flow("retry_demo", {
  graph: "flaky >> report",
  tasks: [flaky, report],
});

const nap = (name: string, seconds: number) => task(name, slow.fn, { inputs: { seconds } });

/**
 * About 2.4 s of sleeps (`nap1 >> (nap2 & nap3) >> nap4`, 0.8 s each): long enough to watch
 * progress or cancel it.
 */
export const sleepy = flow("sleepy", {
  graph: "nap1 >> (nap2 & nap3) >> nap4",
  tasks: [nap("nap1", 0.8), nap("nap2", 0.8), nap("nap3", 0.8), nap("nap4", 0.8)],
});

const start = task("start", () => "go");
const broken = task("broken", () => {
  throw new Error("Broken on purpose");
}, { failPolicy: "isolate" });
const afterBroken = task("after_broken", () => "never runs");
const healthy = task("healthy", (_ctx, input: string) => `${input} went fine`);

/**
 * `isolate`: `broken` fails, `after_broken` ends FAILED ("upstream task broken failed") without
 * running, `healthy` still runs, and the run ends COMPLETED.
 */
export const isolateDemo = flow("isolate_demo", {
  graph: "start >> (broken & healthy); broken >> after_broken",
  tasks: [start, broken, afterBroken, healthy],
});
