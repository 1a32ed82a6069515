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

/** The V8 flags the gateway runs with (see {@linkcode GATEWAY_PERMISSIONS}). */
export const GATEWAY_V8_FLAGS = "--v8-flags=--max-semi-space-size=8";

/**
 * Flags of `deno task gateway` and the compiled `pyoco-gateway`. Besides the permissions, a
 * young generation capped at 8 MiB per semi-space (`--max-semi-space-size=8`): under bursts of
 * large or hostile requests V8's default young generation grows and keeps garbage (body
 * buffers) long enough to raise RSS 51–56% over 8 rounds of bad input; with the cap it stays
 * within 1.00–1.20× of the first round (once 1.48×), at no measurable CPU cost per request — where
 * `--optimize-for-size`, which also held it, cost 10–28% CPU per submit and pushed a
 * 1M-run cold start past 15 s (docs/performance.md, "Memory under abuse").
 */
export const GATEWAY_PERMISSIONS: readonly string[] = [
  GATEWAY_V8_FLAGS,
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
