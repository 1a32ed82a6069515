/**
 * The Deno permission flags each program runs with: one source for the deno.json tasks, the
 * dev stack, the compile task and the tests (a test checks deno.json against these lists).
 *
 * The worker gets the least that works: network (NATS), environment variables `PYOCO_*` and
 * `NATS_*`, and read access to the project folder (its flows). No write, no subprocess, no FFI,
 * no system info. Widen it by adding flags, e.g. `--allow-env=PYOCO_*,NATS_*,API_TOKEN` for a
 * flow that exposes `API_TOKEN`, or `--allow-read=.,/data` for tasks that read `/data`.
 *
 * @module
 */

/** Flags of `deno task worker` and the compiled `pyoco-worker`. */
export const WORKER_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env=PYOCO_*,NATS_*",
  "--allow-read=.",
];

/** Flags of `deno task gateway` and the compiled `pyoco-gateway`. */
export const GATEWAY_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
];
