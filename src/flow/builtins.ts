/**
 * The built-in task module `pyoco`, available to every flow.yaml as `pyoco:<name>`:
 *
 * | callable      | input            | result                                   |
 * |---------------|------------------|------------------------------------------|
 * | `pyoco:sleep` | `{ seconds }`    | `{ slept: seconds }` after waiting        |
 * | `pyoco:echo`  | `{ value }`      | `value` (the whole input when no `value`) |
 * | `pyoco:fail`  | `{ message? }`   | throws `Error(message)`                   |
 *
 * Web APIs only.
 *
 * @module
 */

import { task } from "./task.ts";
import type { Task, TaskContext } from "./types.ts";

function _field(input: unknown, key: string): unknown {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return undefined;
  return Object.hasOwn(input, key) ? (input as Record<string, unknown>)[key] : undefined;
}

/**
 * Wait `seconds` (a number ≥ 0), honouring `ctx.signal`: an abort (cancel, timeout, a `stop`
 * failure elsewhere) ends the wait at once with the signal's reason.
 */
const _sleep: Task = task("sleep", (ctx: TaskContext, input: unknown) => {
  const seconds = _field(input, "seconds");
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    throw new TypeError(
      `pyoco:sleep needs input { seconds: <number >= 0> }, got seconds ${JSON.stringify(seconds)}`,
    );
  }
  const { signal } = ctx;
  return new Promise<{ slept: number }>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve({ slept: seconds });
    }, seconds * 1000);
    signal.addEventListener("abort", onAbort, { once: true });
  });
});

/** Return `input.value`, or the whole input when it has no `value` field. */
const _echo: Task = task("echo", (_ctx: TaskContext, input: unknown) => {
  const hasValue = input !== null && typeof input === "object" && !Array.isArray(input) &&
    Object.hasOwn(input, "value");
  return hasValue ? (input as { value: unknown }).value : input;
});

/** Throw `Error(input.message)` (a default message when there is none). */
const _fail: Task = task("fail", (_ctx: TaskContext, input: unknown) => {
  const message = _field(input, "message");
  throw new Error(
    typeof message === "string" && message !== ""
      ? message
      : message === undefined || message === null
      ? "Task failed on purpose (pyoco:fail)"
      : String(message),
  );
});

/**
 * The built-in tasks, keyed by callable: `pyoco:sleep`, `pyoco:echo`, `pyoco:fail`.
 * {@linkcode flowFromYaml} resolves `pyoco:*` callables here before the registered tasks.
 *
 * @example Look up a built-in
 * ```ts
 * import { builtinTasks } from "./builtins.ts";
 * import assert from "node:assert/strict";
 * assert.ok(builtinTasks.has("pyoco:sleep"));
 * ```
 */
export const builtinTasks: ReadonlyMap<string, Task> = new Map([
  ["pyoco:sleep", _sleep],
  ["pyoco:echo", _echo],
  ["pyoco:fail", _fail],
]);
