/**
 * Limits on untrusted values, one home for the rule (SPEC §2.4, §5): run `params`, flow.yaml
 * `flow.defaults` and task `inputs` nest at most {@linkcode MAX_JSON_DEPTH} levels. Every walk in
 * this file is a loop with an explicit stack, so a value nested 100,000 levels deep is measured
 * without touching the call stack. Web APIs only.
 *
 * @module
 */

/**
 * How deep objects and arrays may nest in untrusted JSON-like values: `params`, flow.yaml
 * `flow.defaults` and task `inputs`. A scalar has depth 0, `{}` and `[]` depth 1, `{"a": []}`
 * depth 2.
 *
 * @example Usage
 * ```ts
 * import { MAX_JSON_DEPTH } from "./limits.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_JSON_DEPTH, 64);
 * ```
 */
export const MAX_JSON_DEPTH = 64;

/** Options of {@linkcode jsonDepthError}. */
export interface JsonDepthOptions {
  /** Name of the value in the message, e.g. `params` or `flow.defaults`. @default {"value"} */
  path?: string;
  /** The deepest nesting allowed. @default {64} */
  max?: number;
}

/** Longest key path quoted in a message; longer paths keep their head and tail. */
const _MAX_PATH_CHARS = 120;

interface _Frame {
  value: object;
  depth: number;
  path: string;
}

function _shortPath(path: string): string {
  if (path.length <= _MAX_PATH_CHARS) return path;
  const half = Math.floor((_MAX_PATH_CHARS - 1) / 2);
  return `${path.slice(0, half)}…${path.slice(path.length - half)}`;
}

function _childPath(path: string, key: string): string {
  // Only the head and tail of a deep path are ever shown, so keep it bounded while walking.
  const next = `${path}.${key.length > 40 ? `${key.slice(0, 37)}...` : key}`;
  return next.length > 4 * _MAX_PATH_CHARS ? _shortPath(next) : next;
}

/**
 * Checks that a JSON-like value does not nest objects and arrays deeper than `max` levels,
 * without recursion (safe on values nested far deeper than the call stack allows, and on cycles,
 * which count as too deep). Plain objects and arrays are walked through their own enumerable
 * keys; other values are leaves.
 *
 * @example Usage
 * ```ts
 * import { jsonDepthError } from "./limits.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonDepthError({ a: [1, { b: 2 }] }), null);
 * let deep: unknown = 1;
 * for (let i = 0; i < 10_000; i++) deep = { a: deep };
 * assert.match(jsonDepthError(deep, { path: "params" }) ?? "", /params.*deeper than 64 levels/);
 * ```
 *
 * @param value The value to measure (e.g. the result of `JSON.parse`).
 * @param options The name of the value in the message and the limit.
 * @returns `null` when the value is within the limit, else a message naming the path where the
 * limit was exceeded and the limit.
 * @throws {RangeError} When `max` is not a non-negative integer.
 */
export function jsonDepthError(value: unknown, options: JsonDepthOptions = {}): string | null {
  const max = options.max ?? MAX_JSON_DEPTH;
  if (!Number.isInteger(max) || max < 0) {
    throw new RangeError(`Invalid option "max" of jsonDepthError: expected an integer >= 0`);
  }
  const root = options.path ?? "value";
  if (value === null || typeof value !== "object") return null;
  // An object reached again at a depth no greater than before adds nothing new: skip it, so a
  // value that shares sub-objects is walked in O(objects × max), never exponentially.
  const seenAt = new Map<object, number>();
  const stack: _Frame[] = [{ value, depth: 1, path: root }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.depth > max) {
      return `${root} is nested deeper than ${max} levels (the limit) at ${_shortPath(frame.path)}`;
    }
    const before = seenAt.get(frame.value);
    if (before !== undefined && before >= frame.depth) continue;
    seenAt.set(frame.value, frame.depth);
    const keys = Array.isArray(frame.value) ? frame.value.keys() : Object.keys(frame.value);
    for (const key of keys) {
      const child = (frame.value as Record<string | number, unknown>)[key];
      if (child === null || typeof child !== "object") continue;
      stack.push({ value: child, depth: frame.depth + 1, path: _childPath(frame.path, `${key}`) });
    }
  }
  return null;
}
