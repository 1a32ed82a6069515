/**
 * Configuration from environment variables, optionally from a `.env` file (`PYOCO_ENV_FILE`,
 * default `.env`; the process environment wins). Every variable of pyoco-server 0.4 keeps its
 * name and default. An invalid value fails fast with a {@linkcode ConfigError} naming the
 * variable, the value and what is allowed.
 *
 * @module
 */

import { ConfigError } from "./config/errors.ts";
import { _readEnvFile } from "./config/_env_file.ts";
import type { _Parser } from "./config/_parse.ts";
import { CONFIG_VARIABLES } from "./config/variables.ts";
import type { Config } from "./config/types.ts";

export { ConfigError } from "./config/errors.ts";
export { CONFIG_VARIABLES } from "./config/variables.ts";
export type { ConfigVariable } from "./config/variables.ts";
export type { Config } from "./config/types.ts";
export {
  cancelFilter,
  cancelSubject,
  consumerName,
  dlqFilter,
  dlqSubject,
  eventsFilter,
  eventsSubject,
  parseDlqSubject,
  parseRunKey,
  parseWorkSubject,
  runKey,
  runKeyFilter,
  tenantToken,
  workFilter,
  workSubject,
} from "./config/subjects.ts";
export type {
  ParsedRunKey,
  ParsedWorkSubject,
  RunSubjectOptions,
  WorkRoute,
} from "./config/subjects.ts";

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Environment to read. By default each variable is read with `Deno.env.get`, so a process
   * allowed only `--allow-env=PYOCO_*,NATS_*` can load its configuration.
   */
  env?: Record<string, string | undefined>;
  /** Read `.env` (or `PYOCO_ENV_FILE`). @default {true} */
  envFile?: boolean;
  /**
   * Variables that win over the environment, validated the same way (for CLI flags, e.g.
   * `{ PYOCO_NATS_URL: "--nats-url value" }`).
   */
  envOverrides?: Record<string, string | undefined>;
  /** Values that win over everything, unvalidated (for tests and embedding). */
  overrides?: Partial<Config>;
}

/**
 * Build the configuration from the environment (and `.env`), validating every value.
 *
 * @param options Environment source and overrides.
 * @returns The configuration.
 * @throws {ConfigError} When a value is invalid or the env file named by `PYOCO_ENV_FILE` is missing.
 *
 * @example Defaults
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 * const config = loadConfig({ env: {}, envFile: false });
 * assert.equal(config.workersKvTtlSec, 15);
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const given = options.env;
  const fromProcess = (name: string) => given ? given[name] : Deno.env.get(name);
  const fromFile = options.envFile === false ? {} : _readEnvFile(fromProcess("PYOCO_ENV_FILE"));
  const config: Record<string, unknown> = {};
  const set = new Set<string>();
  for (const spec of CONFIG_VARIABLES) {
    const raw = options.envOverrides?.[spec.env] ?? fromProcess(spec.env) ?? fromFile[spec.env];
    if (raw !== undefined) set.add(spec.env);
    try {
      config[spec.key] = (spec.parse as _Parser<unknown>)(raw ?? spec.def, spec.env);
    } catch (err) {
      if (err instanceof ConfigError && spec.secret) {
        throw new ConfigError(spec.env, `Invalid ${spec.env}: ${err.message.split(": ").pop()}`);
      }
      throw err;
    }
  }
  const result = { ...config, ...options.overrides } as Config;
  const ackProgressSet = set.has("PYOCO_ACK_PROGRESS_INTERVAL_SEC") ||
    options.overrides?.ackProgressIntervalSec !== undefined;
  if (!ackProgressSet) {
    // Unset: the default (10 s) unless AckWait is short, then a third of it, so a short
    // PYOCO_CONSUMER_ACK_WAIT_SEC (pyoco-server's tests use 0.2) starts without a second variable.
    result.ackProgressIntervalSec = Math.min(
      result.ackProgressIntervalSec,
      result.consumerAckWaitSec / 3,
    );
  }
  _checkRules(result);
  return result;
}

/** The rules between variables (docs/config.md "Rules between variables"). */
function _checkRules(result: Config): void {
  if (result.ackProgressIntervalSec >= result.consumerAckWaitSec) {
    throw new ConfigError(
      "PYOCO_ACK_PROGRESS_INTERVAL_SEC",
      `Invalid PYOCO_ACK_PROGRESS_INTERVAL_SEC=${result.ackProgressIntervalSec}: expected less than PYOCO_CONSUMER_ACK_WAIT_SEC (${result.consumerAckWaitSec})`,
    );
  }
  if (
    result.workerDisconnectedAfterSec !== null &&
    result.workerDisconnectedAfterSec >= result.workersKvTtlSec
  ) {
    throw new ConfigError(
      "PYOCO_WORKER_DISCONNECTED_AFTER_SEC",
      `Invalid PYOCO_WORKER_DISCONNECTED_AFTER_SEC=${result.workerDisconnectedAfterSec}: expected less than PYOCO_WORKERS_KV_TTL_SEC (${result.workersKvTtlSec})`,
    );
  }
  if (result.orphanAfterSec * 2 > result.duplicateWindowSec) {
    throw new ConfigError(
      "PYOCO_ORPHAN_AFTER_SEC",
      `Invalid PYOCO_ORPHAN_AFTER_SEC=${result.orphanAfterSec}: expected at most half of PYOCO_DUPLICATE_WINDOW_SEC (${result.duplicateWindowSec})`,
    );
  }
  if ((result.natsUser === null) !== (result.natsPassword === null)) {
    throw new ConfigError(
      "PYOCO_NATS_USER",
      "Invalid NATS credentials: PYOCO_NATS_USER and PYOCO_NATS_PASSWORD must be set together",
    );
  }
}

/**
 * Whole milliseconds of a duration in seconds. Every `*_SEC` variable takes fractions
 * (`PYOCO_CONSUMER_ACK_WAIT_SEC=0.2`), and `1.001 * 1000` is `1000.9999999999999` in floating
 * point; NATS takes durations as integers (a fractional nanosecond count is rejected), so every
 * value handed to NATS goes through this or {@linkcode secondsToNanos}.
 *
 * @param seconds A duration in seconds.
 * @returns The duration in whole milliseconds (rounded).
 *
 * @example
 * ```ts
 * import { secondsToMs } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(secondsToMs(1.001), 1001);
 * ```
 */
export function secondsToMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

/**
 * Whole nanoseconds of a duration in seconds, as JetStream's stream and consumer settings
 * (`ack_wait`, `max_age`, `duplicate_window`) take them.
 *
 * @param seconds A duration in seconds.
 * @returns The duration in whole nanoseconds (rounded to the millisecond).
 *
 * @example
 * ```ts
 * import { secondsToNanos } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(secondsToNanos(0.2), 200_000_000);
 * ```
 */
export function secondsToNanos(seconds: number): number {
  return secondsToMs(seconds) * 1_000_000;
}

/**
 * How long a worker may stay silent before it shows as `DISCONNECTED`:
 * `PYOCO_WORKER_DISCONNECTED_AFTER_SEC`, or by default twice the worker heartbeat interval, kept
 * below the workers bucket TTL (at most 3/4 of it) so the state is visible before the record
 * expires.
 *
 * @param config The configuration.
 * @returns Seconds.
 */
export function workerDisconnectedAfterSec(config: Config): number {
  if (config.workerDisconnectedAfterSec !== null) return config.workerDisconnectedAfterSec;
  return Math.min(2 * config.workerHeartbeatIntervalSec, 0.75 * config.workersKvTtlSec);
}
