/**
 * Which environment variables a flow may read, decided once for every Deno host (worker and
 * `pyoco run`): the flow's `runtime.expose_env` names ({@linkcode Flow.exposeEnv}) that this
 * process is permitted to read and that are set. Every value handed out is registered as a log
 * secret first, so it never appears in a log line (SPEC §8). Deno.
 *
 * @module
 */

import type { Flow } from "../flow/mod.ts";
import { registerSecret } from "../log.ts";

/** Options of {@linkcode exposedEnv}. */
export interface ExposedEnvOptions {
  /**
   * Called for each exposed name this process may not read (no `--allow-env` for it); the name
   * is left out. Permissions are queried, never requested, so nothing prompts.
   * @default {ignore}
   */
  onDenied?: (name: string) => void;
}

/**
 * The values of a flow's exposed env names, for `ctx.env` / `$env.NAME`. Each value is
 * registered as a log secret (redacted from every log line) before it is returned. Unset names
 * and names this process may not read are left out.
 *
 * @example
 * ```ts
 * import { exposedEnv } from "./exposed_env.ts";
 * import assert from "node:assert/strict";
 * Deno.env.set("PYOCO_DOC_EXAMPLE_TOKEN", "s3cret-value");
 * const env = exposedEnv({ exposeEnv: ["PYOCO_DOC_EXAMPLE_TOKEN", "PYOCO_DOC_UNSET"] });
 * assert.deepEqual(env, { PYOCO_DOC_EXAMPLE_TOKEN: "s3cret-value" });
 * ```
 *
 * @param flow The flow about to run (only its `exposeEnv` names are read).
 * @param options What to do about names this process may not read.
 * @returns Name → value, for the names permitted and set.
 */
export function exposedEnv(
  flow: Pick<Flow, "exposeEnv">,
  options: ExposedEnvOptions = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of flow.exposeEnv) {
    if (!_mayRead(name)) {
      options.onDenied?.(name);
      continue;
    }
    const value = Deno.env.get(name);
    if (value === undefined) continue;
    registerSecret(value);
    env[name] = value;
  }
  return env;
}

function _mayRead(name: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  } catch {
    return false; // a name Deno rejects (e.g. with "=") cannot be read either
  }
}
