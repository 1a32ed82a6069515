/**
 * The arguments of `runFlow()`: checked before a run starts (each message names the option),
 * and the values a run derives from them (its params, its id). Web APIs only.
 *
 * @module
 */

import { jsonDepthError } from "../contract/limits.ts";
import type { Flow, RunFlowOptions } from "./types.ts";

function _isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function _isFlow(value: unknown): value is Flow {
  return _isRecord(value) && value.kind === "pyoco.flow" && value.tasks instanceof Map &&
    value.requirements instanceof Map && value.upstream instanceof Map &&
    Array.isArray(value.order) && Array.isArray(value.sinks);
}

/**
 * Checks `runFlow()`'s arguments.
 *
 * @param flow Must be a Flow created with `flow()`.
 * @param options Must be a {@linkcode RunFlowOptions} object.
 * @throws {TypeError} When `flow` is not a Flow, an option has the wrong type, or `resume`
 * names a task that is not in the flow.
 * @throws {RangeError} When `maxConcurrency` or `abortGraceMs` is out of range, or `params`
 * nests deeper than `MAX_JSON_DEPTH` levels.
 */
export function validateRunFlowArgs(
  flow: unknown,
  options: unknown,
): asserts options is RunFlowOptions {
  if (!_isFlow(flow)) {
    throw new TypeError("Cannot run flow: expected a Flow created with flow()");
  }
  if (!_isRecord(options)) throw new TypeError("Cannot run flow: options must be an object");
  const o = options as RunFlowOptions;
  if (o.params !== undefined && !_isRecord(o.params)) {
    throw new TypeError('Cannot run flow: option "params" must be an object');
  }
  const tooDeep = o.params === undefined ? null : jsonDepthError(o.params, { path: "params" });
  if (tooDeep !== null) throw new RangeError(`Cannot run flow: option ${tooDeep}`);
  if (o.env !== undefined && !_isRecord(o.env)) {
    throw new TypeError('Cannot run flow: option "env" must be an object');
  }
  if (o.runId !== undefined && (typeof o.runId !== "string" || o.runId === "")) {
    throw new TypeError('Cannot run flow: option "runId" must be a non-empty string');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError('Cannot run flow: option "signal" must be an AbortSignal');
  }
  for (const key of ["onEvent", "onProgress"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "function") {
      throw new TypeError(`Cannot run flow: option "${key}" must be a function`);
    }
  }
  if (o.resume !== undefined) _validateResume(flow, o.resume);
  const max = o.maxConcurrency;
  if (max !== undefined && !(max === Infinity || (Number.isInteger(max) && max >= 1))) {
    throw new RangeError(
      `Cannot run flow: option "maxConcurrency" must be a positive integer or Infinity, got ${max}`,
    );
  }
  const grace = o.abortGraceMs;
  if (grace !== undefined && !(typeof grace === "number" && grace >= 0 && grace <= 2 ** 31 - 1)) {
    throw new RangeError(
      `Cannot run flow: option "abortGraceMs" must be a number from 0 to 2147483647, got ${grace}`,
    );
  }
}

function _validateResume(flow: Flow, resume: unknown): void {
  if (!_isRecord(resume)) throw new TypeError('Cannot run flow: option "resume" must be an object');
  for (const name of Object.keys(resume)) {
    if (!flow.tasks.has(name)) {
      throw new TypeError(
        `Cannot run flow: option "resume" names task "${name}", which is not in flow "${flow.name}"`,
      );
    }
  }
}

/**
 * A run's params: the flow's defaults overlaid by the submitted params, cloned so that tasks
 * cannot change the caller's objects (shared as given when they cannot be cloned).
 *
 * @param defaults The flow's defaults.
 * @param params The submitted params.
 * @returns The merged params.
 */
export function mergeParams(
  defaults: Readonly<Record<string, unknown>>,
  params: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...defaults, ...params };
  // No params and no defaults (most runs): `merged` is a fresh empty object, nothing to clone.
  if (Object.keys(merged).length === 0) return merged;
  try {
    return structuredClone(merged);
  } catch {
    return merged;
  }
}

/**
 * A new run id: a UUID where the runtime has `crypto.randomUUID`, else a time-and-random id.
 *
 * @returns The id.
 */
export function newRunId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  return `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
