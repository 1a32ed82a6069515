/**
 * A flows module for the routing test: a worker with it offers `orders` but not `hello`.
 *
 * @module
 */

import { flow, task } from "../../src/flow/task.ts";

const take = task("take", (_ctx, input: { n?: number } | undefined) => ({ n: input?.n ?? 1 }));

/** `take`: answers at once. */
export const orders = flow("orders", { graph: "take", tasks: [take] });
