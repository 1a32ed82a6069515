/**
 * The benchmark's flows: `noop`, one task that returns at once, so a run measures the system
 * (HTTP, KV, JetStream, worker bookkeeping) and not the work.
 *
 * @module
 */

import { flow, task } from "../src/flow/task.ts";

/** The one task of {@linkcode noop}: returns `true`. */
export const noopTask = task("noop_task", () => true);

/** A one-task flow named `noop`. */
export const noop = flow("noop", { graph: "noop_task", tasks: [noopTask] });
