/**
 * Example tasks. A worker started with `--flows ./examples/tasks.ts` registers each exported task
 * twice: as `tasks:<export>` (e.g. `tasks:fetchData`) and by its task name (`fetch_data`), so a
 * flow.yaml can use either.
 *
 * @module
 */

import { task } from "../src/flow/task.ts";

/** Pretend to fetch a record: `{ id, value }`. Reads `x` from the run params when given. */
export const fetchData = task("fetch_data", (ctx) => {
  const x = typeof ctx.params.x === "number" ? ctx.params.x : 1;
  ctx.log(`fetching record ${x}`);
  return { id: x, value: "carrot" };
});

/** Upper-case `input.value`. */
export const shout = task(
  "shout",
  (_ctx, input: { value: string }) => String(input.value).toUpperCase(),
  { retries: 2, retryDelaySec: 0.1, timeoutSec: 10 },
);

/** Reverse `input.value`: another small transformation for fan-out demos. */
export const reverse = task(
  "reverse",
  (_ctx, input: { value: string }) => [...String(input.value)].reverse().join(""),
);

/** Add `input.a` and `input.b`. */
export const add = task("add", (_ctx, input: { a: number; b: number }) => input.a + input.b);

/**
 * Merge the outputs of its upstream tasks. With several upstreams the input is an object keyed by
 * task name; the result lists the values in key order.
 */
export const merge = task("merge", (_ctx, input: Record<string, unknown>) => ({
  merged: Object.values(input ?? {}),
}));

/** Fail on the first attempt, succeed on the next: shows retries (`ctx.attempt` is 1-based). */
export const flaky = task("flaky", (ctx) => {
  if (ctx.attempt === 1) throw new Error("Flaky failure on the first attempt");
  ctx.log(`succeeded on attempt ${ctx.attempt}`);
  return { attempt: ctx.attempt };
}, { retries: 2, retryDelaySec: 0.05 });

/**
 * Sleep `input.seconds` (default 1), honouring `ctx.signal`: a cancel or a timeout ends it at
 * once.
 */
export const slow = task("slow", async (ctx, input: { seconds?: number } | undefined) => {
  const seconds = typeof input?.seconds === "number" ? input.seconds : 1;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, seconds * 1000);
    ctx.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(ctx.signal.reason);
    }, { once: true });
  });
  return { slept: seconds };
});
