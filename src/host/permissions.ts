/**
 * The Deno permission flags each program runs with: one source for the deno.json tasks, the
 * dev stack, the compile task and the tests (a test checks deno.json against these lists).
 *
 * The worker gets the least that works: network (NATS), environment variables `PYOCO_*` and
 * `NATS_*` (plus `LOG_TOKENS`/`LOG_STREAM`, which the YAML parser reads), and read access to the
 * project folder (its flows). No write, no subprocess, no FFI, no system info, and `--no-prompt`
 * so that a task overstepping them fails at once instead of waiting on a terminal prompt. Widen it by adding flags, e.g. `--allow-env=PYOCO_*,NATS_*,API_TOKEN` for a
 * flow that exposes `API_TOKEN`, or `--allow-read=.,/data` for tasks that read `/data`.
 *
 * @module
 */

/** Flags of `deno task worker` and the compiled `pyoco-worker`. */
export const WORKER_PERMISSIONS: readonly string[] = [
  "--no-prompt",
  "--allow-net",
  // LOG_TOKENS and LOG_STREAM: the `yaml` package reads them (debug switches) on every parse.
  "--allow-env=PYOCO_*,NATS_*,LOG_TOKENS,LOG_STREAM",
  "--allow-read=.",
];

/**
 * Flags of `deno task gateway` and the compiled `pyoco-gateway`. Besides the permissions, V8's
 * `--optimize-for-size`: under bursts of large or hostile requests the default heap keeps
 * growing with garbage it has not collected yet (RSS +37–82% over 8 rounds of bad input);
 * with it RSS stays within 1.25× of the first round, at no measurable throughput cost
 * (docs/performance.md, "Memory under abuse").
 */
export const GATEWAY_PERMISSIONS: readonly string[] = [
  "--v8-flags=--optimize-for-size",
  "--allow-net",
  "--allow-env",
  "--allow-read",
];

/** Flags of `deno task admin` and the compiled `pyoco-admin`. */
export const ADMIN_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
];

/** Flags of `deno task pyoco` and the compiled `pyoco` (the client CLI). */
export const PYOCO_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
];
