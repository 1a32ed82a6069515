/**
 * Input selectors (`$flow.x`, `$node.a.output.y`, `$ctx.scratch.z`, `$env.NAME`, …) and output
 * paths (`scratch.x`, `artifacts.y`). Web APIs only.
 *
 * A string is a selector when it starts with `$flow`, `$ctx.`, `$node.` or `$env.`; any other
 * string (and every non-string value) is a literal. Paths are dot-separated; a numeric segment
 * indexes an array. Walking only follows own properties, and the segments `__proto__`,
 * `constructor` and `prototype` never resolve, so a selector cannot reach a prototype.
 *
 * @module
 */

import { jsonDepthError, MAX_JSON_DEPTH } from "../contract/limits.ts";
import { _defineOwn } from "./json.ts";

/** A parsed input selector. */
export type Selector =
  | { source: "params"; path: string[] }
  | { source: "node"; task: string; path: string[] }
  | { source: "results"; task: string | null; path: string[] }
  | { source: "scratch"; path: string[] }
  | { source: "artifacts"; path: string[] }
  | { source: "env"; name: string };

/** A selector or output path is malformed. `text` is the offending string. */
export class SelectorSyntaxError extends Error {
  /** The offending selector or path. */
  readonly text: string;

  /**
   * Creates the error.
   *
   * @param text The offending selector or path.
   * @param message Why it is malformed.
   * @param options `cause`.
   */
  constructor(text: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SelectorSyntaxError";
    this.text = text;
  }
}

/** A selector could not be resolved at run time (e.g. `$env.X` with `X` not exposed). */
export class SelectorResolutionError extends Error {
  /** The selector that failed. */
  readonly selector: string;

  /**
   * Creates the error.
   *
   * @param selector The selector that failed.
   * @param message Why it failed.
   * @param options `cause`.
   */
  constructor(selector: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SelectorResolutionError";
    this.selector = selector;
  }
}

const _FORBIDDEN: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
const _ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function _segments(text: string, rest: string): string[] {
  if (rest === "") return [];
  const parts = rest.split(".");
  for (const part of parts) {
    if (part === "") {
      throw new SelectorSyntaxError(text, `Invalid selector "${text}": empty path segment`);
    }
    if (_FORBIDDEN.has(part)) {
      throw new SelectorSyntaxError(
        text,
        `Invalid selector "${text}": path segment "${part}" is not allowed`,
      );
    }
  }
  return parts;
}

/** Returns what follows `prefix` when `text` is `prefix` or starts with `prefix.`, else null. */
function _after(text: string, prefix: string): string | null {
  if (text === prefix) return "";
  if (text.startsWith(prefix + ".")) return text.slice(prefix.length + 1);
  return null;
}

/**
 * Parses one string as a selector.
 *
 * @example Usage
 * ```ts
 * import { parseSelector } from "./selectors.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseSelector("$node.fetch.output.id"), {
 *   source: "node",
 *   task: "fetch",
 *   path: ["id"],
 * });
 * assert.equal(parseSelector("plain text"), null);
 * ```
 *
 * @param text The string.
 * @returns The selector, or `null` when the string is a literal.
 * @throws {SelectorSyntaxError} When the string starts like a selector but is malformed.
 */
export function parseSelector(text: string): Selector | null {
  let rest = _after(text, "$flow");
  if (rest !== null) return { source: "params", path: _segments(text, rest) };

  if (text.startsWith("$ctx.")) {
    for (const source of ["params", "results", "scratch", "artifacts"] as const) {
      rest = _after(text, `$ctx.${source}`);
      if (rest === null) continue;
      const path = _segments(text, rest);
      if (source !== "results") return { source, path };
      const [task = null, ...tail] = path;
      return { source, task, path: tail };
    }
    throw new SelectorSyntaxError(
      text,
      `Invalid selector "${text}": expected $ctx.params, $ctx.results, $ctx.scratch or $ctx.artifacts`,
    );
  }

  rest = _after(text, "$node");
  if (rest !== null && rest !== "") {
    const [task, output, ...path] = _segments(text, rest);
    if (task === undefined || output !== "output") {
      throw new SelectorSyntaxError(
        text,
        `Invalid selector "${text}": expected $node.<task>.output[.<path>]`,
      );
    }
    return { source: "node", task, path };
  }

  rest = _after(text, "$env");
  if (rest !== null && rest !== "") {
    if (!_ENV_NAME.test(rest)) {
      throw new SelectorSyntaxError(
        text,
        `Invalid selector "${text}": expected $env.<NAME> with NAME made of letters, digits and "_"`,
      );
    }
    return { source: "env", name: rest };
  }
  return null;
}

/**
 * Calls `visit` for every selector string inside an inputs value (nested objects and arrays
 * included), with the dotted key path where it was found. A loop with an explicit stack: the
 * value may nest at most `MAX_JSON_DEPTH` levels, deeper is a clear error, never a stack overflow.
 *
 * @param value An inputs mapping or any nested value.
 * @param visit Called with each selector and its key path (e.g. `config.items.0`).
 * @param path Key path of `value` itself.
 * @throws {SelectorSyntaxError} When a selector is malformed, or when `value` nests deeper than
 * `MAX_JSON_DEPTH` levels (`text` is then the key path where the limit was exceeded).
 */
export function forEachSelector(
  value: unknown,
  visit: (selector: Selector, path: string) => void,
  path = "",
): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const at = (key: string | number) => (item.path ? `${item.path}.${key}` : `${key}`);
    if (typeof item.value === "string") {
      const selector = parseSelector(item.value);
      if (selector !== null) visit(selector, item.path);
      continue;
    }
    let children: [string | number, unknown][];
    if (Array.isArray(item.value)) children = [...item.value.entries()];
    else if (_isPlainObject(item.value)) children = Object.entries(item.value);
    else continue;
    if (item.depth >= MAX_JSON_DEPTH) {
      throw new SelectorSyntaxError(
        item.path,
        `Invalid inputs: nested deeper than ${MAX_JSON_DEPTH} levels (the limit) at ${
          item.path || "the top level"
        }`,
      );
    }
    // Pushed in reverse so that selectors are visited in document order.
    for (let i = children.length - 1; i >= 0; i--) {
      const [key, child] = children[i]!;
      stack.push({ value: child, path: at(key), depth: item.depth + 1 });
    }
  }
}

/**
 * Walks `path` from `root` over own properties only; a forbidden segment, a missing key or a
 * non-object on the way gives `undefined`.
 *
 * @example Usage
 * ```ts
 * import { getPath } from "./selectors.ts";
 * import assert from "node:assert/strict";
 * assert.equal(getPath({ a: [{ b: 2 }] }, ["a", "0", "b"]), 2);
 * assert.equal(getPath({}, ["constructor"]), undefined);
 * ```
 *
 * @param root Where to start.
 * @param path Segments.
 * @returns The value at the path, or `undefined`.
 */
export function getPath(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const segment of path) {
    if (_FORBIDDEN.has(segment)) return undefined;
    if (current === null || (typeof current !== "object" && typeof current !== "function")) {
      return undefined;
    }
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** What {@linkcode resolveInputs} reads from. */
export interface SelectorScope {
  /** Flow defaults overlaid by submitted params. */
  params: Record<string, unknown>;
  /** Outputs of finished tasks. */
  results: Record<string, unknown>;
  /** The run's scratch space. */
  scratch: Record<string, unknown>;
  /** The run's artifacts. */
  artifacts: Record<string, unknown>;
  /** Exposed environment values. */
  env: Record<string, string>;
  /** Names `$env.X` may read. */
  exposeEnv: ReadonlySet<string>;
}

/**
 * Resolves one selector.
 *
 * @param selector The parsed selector.
 * @param where Its source `text` (for error messages) and the `scope` to read.
 * @returns The value (`undefined` when the path does not exist).
 * @throws {SelectorResolutionError} For `$env.X` when `X` is not exposed to the flow.
 */
export function resolveSelector(
  selector: Selector,
  where: { text: string; scope: SelectorScope },
): unknown {
  const { text, scope } = where;
  switch (selector.source) {
    case "params":
      return getPath(scope.params, selector.path);
    case "node":
      return getPath(scope.results, [selector.task, ...selector.path]);
    case "results":
      if (selector.task === null) return { ...scope.results };
      return getPath(scope.results, [selector.task, ...selector.path]);
    case "scratch":
      return getPath(scope.scratch, selector.path);
    case "artifacts":
      return getPath(scope.artifacts, selector.path);
    case "env":
      if (!scope.exposeEnv.has(selector.name)) {
        throw new SelectorResolutionError(
          text,
          `Cannot resolve "${text}": environment variable ${selector.name} is not exposed to this flow (list it in runtime.expose_env)`,
        );
      }
      return Object.hasOwn(scope.env, selector.name) ? scope.env[selector.name] : undefined;
  }
}

/**
 * Resolves every selector inside an inputs value (nested objects and arrays included); other
 * values are copied as literals.
 *
 * @example Usage
 * ```ts
 * import { resolveInputs } from "./selectors.ts";
 * import assert from "node:assert/strict";
 * const scope = {
 *   params: { x: 2 }, results: { a: { id: 7 } }, scratch: {}, artifacts: {},
 *   env: {}, exposeEnv: new Set<string>(),
 * };
 * assert.deepEqual(
 *   resolveInputs({ x: "$flow.x", ids: ["$node.a.output.id", 3], note: "hi" }, scope),
 *   { x: 2, ids: [7, 3], note: "hi" },
 * );
 * ```
 *
 * @param value The inputs mapping (or any nested value).
 * @param scope What selectors read.
 * @returns The resolved value.
 * @throws {SelectorSyntaxError} When a selector is malformed.
 * @throws {SelectorResolutionError} When a selector cannot be resolved, or when `value` nests
 * deeper than `MAX_JSON_DEPTH` levels.
 */
export function resolveInputs(value: unknown, scope: SelectorScope): unknown {
  // `_resolve` recurses once per level of the inputs mapping: bound the depth first.
  const tooDeep = jsonDepthError(value, { path: "inputs" });
  if (tooDeep !== null) throw new SelectorResolutionError("inputs", `Cannot resolve ${tooDeep}`);
  return _resolve(value, scope);
}

function _resolve(value: unknown, scope: SelectorScope): unknown {
  if (typeof value === "string") {
    const selector = parseSelector(value);
    return selector === null ? value : resolveSelector(selector, { text: value, scope });
  }
  if (Array.isArray(value)) return value.map((item) => _resolve(item, scope));
  if (_isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      _defineOwn(out, key, _resolve(item, scope));
    }
    return out;
  }
  return value;
}

/** A parsed `outputs` path: where in the context a task's result is also saved. */
export interface OutputPath {
  /** `scratch` or `artifacts`. */
  target: "scratch" | "artifacts";
  /** Non-empty key path below the target. */
  path: string[];
}

/**
 * Parses an `outputs` entry such as `scratch.fetched` or `artifacts.report.main`.
 *
 * @param text The entry.
 * @returns The parsed path.
 * @throws {SelectorSyntaxError} When it does not start with `scratch.` / `artifacts.` or has an
 * empty or forbidden segment.
 */
export function parseOutputPath(text: string): OutputPath {
  const [target, ...path] = typeof text === "string" ? text.split(".") : [];
  if ((target !== "scratch" && target !== "artifacts") || path.length === 0) {
    throw new SelectorSyntaxError(
      String(text),
      `Invalid output path "${String(text)}": expected scratch.<path> or artifacts.<path>`,
    );
  }
  for (const part of path) {
    if (part === "" || _FORBIDDEN.has(part)) {
      throw new SelectorSyntaxError(
        text,
        `Invalid output path "${text}": ${part === "" ? "empty" : `"${part}"`} segment`,
      );
    }
  }
  return { target, path };
}

/**
 * Stores `value` at `path` below `root`, creating plain objects for missing levels.
 *
 * @param root The scratch or artifacts object.
 * @param path Key path (at least one segment, none forbidden).
 * @param value What to store.
 * @throws {TypeError} When a level on the way exists but is not an object.
 */
export function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown) {
  let current: Record<string, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i]!;
    let next = Object.hasOwn(current, segment) ? current[segment] : undefined;
    if (next === undefined) {
      next = {};
      _defineOwn(current, segment, next);
    } else if (next === null || typeof next !== "object") {
      throw new TypeError(
        `Cannot save to "${path.join(".")}": "${path.slice(0, i + 1).join(".")}" is not an object`,
      );
    }
    current = next as Record<string, unknown>;
  }
  _defineOwn(current, path[path.length - 1]!, value);
}

function _isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
