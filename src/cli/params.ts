/**
 * The one params reader of the `pyoco` CLI: `--params-file F` (a JSON or YAML mapping) overlaid
 * with `--param k=v` pairs. `pyoco run` and `pyoco submit` both read params through
 * {@linkcode readParams}, so they accept the same files and the same pairs.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { jsonDepthError } from "../contract/mod.ts";
import { UsageError } from "./usage.ts";

/** Where {@linkcode readParams} takes params from. */
export interface ParamsSources {
  /** `--param k=v` pairs, in order (a later pair wins). @default {[]} */
  pairs?: readonly string[];
  /** `--params-file` path: a JSON or YAML mapping. The pairs are laid over it. */
  file?: string;
}

/**
 * Parse `--param k=v` values: the value as JSON when it parses (`2`, `true`, `{"a":1}`), else
 * as the string itself.
 *
 * @example
 * ```ts
 * import { parseParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseParams(["x=2", "name=bob", 'o={"a":[1]}']), {
 *   x: 2,
 *   name: "bob",
 *   o: { a: [1] },
 * });
 * ```
 *
 * @param pairs The `k=v` strings.
 * @returns The params object.
 * @throws {UsageError} When a pair has no `=` or an empty key, or a value nests too deep.
 */
export function parseParams(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--param expects KEY=VALUE, got "${pair}"`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    _define(out, pair.slice(0, eq), value);
  }
  _checkDepth(out, "--param");
  return out;
}

/**
 * Read a `--params-file`: a mapping of param names to values, in JSON or YAML.
 *
 * @param path The file.
 * @returns The params object.
 * @throws {UsageError} When the file cannot be read, is neither JSON nor YAML, is not a mapping,
 * or nests too deep.
 */
export async function readParamsFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(`Cannot read --params-file "${path}": ${_message(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    // JSON is YAML: one parser reads both. Aliases are capped so a small file cannot expand.
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new UsageError(
      `Cannot parse --params-file "${path}" as JSON or YAML: ${_message(err)}`,
      { cause: err },
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(
      `Invalid --params-file "${path}": expected a mapping of param names to values`,
    );
  }
  _checkDepth(value, `--params-file "${path}"`);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) _define(out, key, v);
  return out;
}

/**
 * The params of a command line: the `--params-file` mapping, then each `--param` over it.
 *
 * @example
 * ```ts
 * import { readParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(await readParams({ pairs: ["x=3"] }), { x: 3 });
 * ```
 *
 * @param sources The pairs and the file.
 * @returns The params object.
 * @throws {UsageError} See {@linkcode parseParams} and {@linkcode readParamsFile}.
 */
export async function readParams(sources: ParamsSources): Promise<Record<string, unknown>> {
  const params = sources.file === undefined ? {} : await readParamsFile(sources.file);
  for (const [key, value] of Object.entries(parseParams(sources.pairs ?? []))) {
    _define(params, key, value);
  }
  return params;
}

/** Set a key as an own data property (a key `__proto__` stays a plain key). */
function _define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function _checkDepth(value: unknown, source: string): void {
  const problem = jsonDepthError(value, { path: "params" });
  if (problem !== null) throw new UsageError(`Invalid ${source}: ${problem}`);
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
