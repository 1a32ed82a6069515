/**
 * The fairness scenario's flow: `nap`, one task that sleeps `params.ms` milliseconds, so a run
 * has a known service time.
 *
 * @module
 */

import { flow, task } from "../src/flow/task.ts";

/** Sleeps `ms` (default 100), honouring the run's abort signal. */
export const napMsTask = task("nap_ms", async (ctx, input: { ms?: number }) => {
  const ms = input?.ms ?? 100;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    ctx.signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
  return ms;
});

/** A one-task flow named `nap`. */
export const nap = flow("nap", { graph: "nap_ms", tasks: [napMsTask] });
