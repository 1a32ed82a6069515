/**
 * Flows for the browser tests, served by the test worker next to `examples/flows.ts`:
 * `etl` (a diamond with log lines, for the run page), `long_nap` (a minute of sleeping, to
 * cancel while it runs), `pipeline` (four columns, fails at its third task) and `wide` (ten
 * columns).
 *
 * @module
 */

import { flow, task } from "../../src/flow/task.ts";
import { slow } from "../../examples/tasks.ts";

const _nap = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

const extract = task("extract", async (ctx) => {
  ctx.log("reading 3 source files");
  await _nap(300, ctx.signal);
  ctx.log("read 1,204 rows");
  return { rows: 1204 };
});
const clean = task("clean", async (ctx, input: { rows: number }) => {
  ctx.log(`dropping duplicates from ${input.rows} rows`);
  await _nap(400, ctx.signal);
  return { rows: input.rows - 17 };
});
const enrich = task("enrich", async (ctx) => {
  ctx.log("joining with the customer table");
  await _nap(500, ctx.signal);
  return { joined: true };
});
const load = task("load", async (ctx, input: Record<string, unknown>) => {
  ctx.log(`writing ${Object.keys(input).length} inputs to the warehouse`);
  await _nap(200, ctx.signal);
  ctx.log("done");
  return { loaded: 1187 };
});

/** `extract >> (clean & enrich) >> load`, about 1 s, with log lines. */
export const etl = flow("etl", {
  graph: "extract >> (clean & enrich) >> load",
  tasks: [extract, clean, enrich, load],
});

const prepare = task("prepare", slow.fn, { inputs: { seconds: 0.1 } });
const waitA = task("wait_a", slow.fn, { inputs: { seconds: 60 } });
const waitB = task("wait_b", slow.fn, { inputs: { seconds: 60 } });
const finish = task("finish", () => "never reached in the tests");

/** `prepare >> (wait_a & wait_b) >> finish`: a minute long, made to be cancelled. */
export const longNap = flow("long_nap", {
  graph: "prepare >> (wait_a & wait_b) >> finish",
  tasks: [prepare, waitA, waitB, finish],
});

const fetchStep = task("fetch", async (ctx) => {
  ctx.log("fetching the feed");
  await _nap(150, ctx.signal);
  return { items: 40 };
});
const parseStep = task("parse", async (ctx) => {
  await _nap(250, ctx.signal);
  return { parsed: 40 };
});
const transformStep = task("transform", async (ctx) => {
  await _nap(100, ctx.signal);
  if (ctx.params.fixed !== true) throw new Error("transform: column 'price' is not a number");
  return { rows: 40 };
});
const storeStep = task("store", () => ({ stored: 40 }));

/**
 * `fetch >> parse >> transform >> store`: four columns (the run page must fit them at
 * 1280×800); `transform` fails unless `params.fixed` is `true`, for "Retry from failed".
 */
export const pipeline = flow("pipeline", {
  graph: "fetch >> parse >> transform >> store",
  tasks: [fetchStep, parseStep, transformStep, storeStep],
});

const _steps = Array.from({ length: 10 }, (_, i) => task(`step_${i + 1}`, () => i + 1));

/** `step_1 >> … >> step_10`: ten columns, wider than any panel (the graph must scroll). */
export const wide = flow("wide", {
  graph: _steps.map((s) => s.name).join(" >> "),
  tasks: _steps,
});
