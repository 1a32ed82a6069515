/**
 * Conversion of arbitrary task values into JSON-safe values for records and snapshots.
 * Web APIs only.
 *
 * @module
 */

import { MAX_JSON_DEPTH } from "../contract/limits.ts";
import type { JsonValue } from "./types.ts";

/** Options of {@linkcode toJsonSafe}. */
export interface ToJsonSafeOptions {
  /**
   * Nesting depth below which values are replaced by `"[MaxDepth]"`; an integer from 0 to
   * 256, so the conversion's recursion stays bounded.
   * @default {64}
   */
  maxDepth?: number;
}

/**
 * The largest `maxDepth` accepted: the conversion recurses once per level, and this bound keeps
 * that far from any runtime's stack limit.
 */
const _MAX_DEPTH_OPTION = 256;

function _describeFunction(fn: (...args: never[]) => unknown): string {
  return fn.name ? `[Function: ${fn.name}]` : "[Function (anonymous)]";
}

function _errorText(error: Error): string {
  try {
    return `${error.name}: ${error.message}`;
  } catch {
    return "[Error]";
  }
}

/**
 * Set an own data property, even for the key `__proto__` (a plain assignment would change the
 * prototype instead). Internal to the engine (`json.ts`, `selectors.ts`).
 *
 * @param target The object.
 * @param key The key.
 * @param value The value.
 */
export function _defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/**
 * Returns a JSON-safe copy of any value, so `JSON.stringify` of it never throws and never loses a
 * value silently:
 * - `null`, booleans, strings and finite numbers are kept; `NaN`, `Infinity`, `-Infinity` become
 *   `"NaN"`, `"Infinity"`, `"-Infinity"`; a bigint becomes its decimal string;
 * - `undefined` becomes `null` (top level and array items) and is dropped from objects, as
 *   `JSON.stringify` does;
 * - functions → `"[Function: name]"`, symbols → `"Symbol(desc)"`, errors → `"Name: message"`,
 *   dates → ISO string (`"Invalid Date"` when invalid);
 * - a `Map` → an object keyed by `String(key)`, a `Set` and typed arrays → arrays;
 * - objects with `toJSON()` (other than dates) are converted from what it returns;
 * - other objects → their own enumerable string keys; a reference back to an enclosing object →
 *   `"[Circular]"`; nesting deeper than `maxDepth` → `"[MaxDepth]"`; a value whose conversion
 *   throws (e.g. a throwing getter) → `"[Unserializable]"`.
 *
 * @example Usage
 * ```ts
 * import { toJsonSafe } from "./json.ts";
 * import assert from "node:assert/strict";
 * const cyclic: Record<string, unknown> = { n: 1n, when: new Date(0), bad: NaN };
 * cyclic.self = cyclic;
 * assert.deepEqual(toJsonSafe(cyclic), {
 *   n: "1",
 *   when: "1970-01-01T00:00:00.000Z",
 *   bad: "NaN",
 *   self: "[Circular]",
 * });
 * ```
 *
 * @param value Anything.
 * @param options The depth bound.
 * @returns A value made only of JSON types.
 * @throws {RangeError} When `maxDepth` is not an integer from 0 to 256.
 */
export function toJsonSafe(value: unknown, options: ToJsonSafeOptions = {}): JsonValue {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > _MAX_DEPTH_OPTION) {
    throw new RangeError(
      `Invalid option "maxDepth" of toJsonSafe: expected an integer from 0 to ${_MAX_DEPTH_OPTION}, got ${maxDepth}`,
    );
  }
  const ancestors = new Set<object>();

  const convert = (v: unknown, depth: number): JsonValue | undefined => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        return Number.isFinite(v) ? v : String(v);
      case "bigint":
        return v.toString();
      case "undefined":
        return undefined;
      case "symbol":
        return v.toString();
      case "function":
        return _describeFunction(v as (...args: never[]) => unknown);
    }
    if (v === null) return null;
    const obj = v as object;
    if (ancestors.has(obj)) return "[Circular]";
    if (depth >= maxDepth) return "[MaxDepth]";
    ancestors.add(obj);
    try {
      return convertObject(obj, depth);
    } catch {
      return "[Unserializable]";
    } finally {
      ancestors.delete(obj);
    }
  };

  const inArray = (v: unknown, depth: number): JsonValue => convert(v, depth) ?? null;

  const convertObject = (obj: object, depth: number): JsonValue | undefined => {
    if (obj instanceof Date) {
      return Number.isNaN(obj.getTime()) ? "Invalid Date" : obj.toISOString();
    }
    if (obj instanceof Error) return _errorText(obj);
    if (Array.isArray(obj)) return obj.map((item) => inArray(item, depth + 1));
    if (obj instanceof Map) {
      const out: Record<string, JsonValue> = {};
      for (const [key, item] of obj) {
        const converted = convert(item, depth + 1);
        if (converted !== undefined) _defineOwn(out, String(key), converted);
      }
      return out;
    }
    if (obj instanceof Set) return [...obj].map((item) => inArray(item, depth + 1));
    if (ArrayBuffer.isView(obj) && !(obj instanceof DataView)) {
      return Array.from(obj as unknown as ArrayLike<number | bigint>, (n) => inArray(n, depth + 1));
    }
    if (obj instanceof ArrayBuffer) return `[ArrayBuffer ${obj.byteLength} bytes]`;
    if (obj instanceof Promise) return "[Promise]";
    if (obj instanceof WeakMap || obj instanceof WeakSet) return `[${obj.constructor.name}]`;
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      const replaced = toJSON.call(obj, "");
      if (replaced !== obj) return convert(replaced, depth + 1);
    }
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(obj)) {
      const converted = convert((obj as Record<string, unknown>)[key], depth + 1);
      if (converted !== undefined) _defineOwn(out, key, converted);
    }
    return out;
  };

  return convert(value, 0) ?? null;
}
