/**
 * Child process of `run_index_scale_test.ts`: loads the run index from a runs bucket and prints
 * what it costs per run — V8 heap plus typed-array memory after a full GC, measured before and
 * after the load — as one JSON line. Run with `--v8-flags=--expose-gc`.
 *
 * ```
 * deno run -A --v8-flags=--expose-gc tests/gateway/_index_memory.ts NATS_URL BUCKET
 * ```
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { RunIndex } from "../../src/runs/run_index.ts";

const [url, bucket] = Deno.args;
const gc = (globalThis as { gc?: () => void }).gc;
if (!url || !bucket || !gc) {
  console.error("Usage: deno run -A --v8-flags=--expose-gc _index_memory.ts NATS_URL BUCKET");
  Deno.exit(2);
}
const used = () => {
  gc();
  gc();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
};
const nc = await connect({ servers: url });
const kv = await new Kvm(nc).open(bucket);
const before = used();
const t0 = performance.now();
const index = new RunIndex(kv);
index.start();
const ready = await index.whenReady(60_000);
const loadMs = performance.now() - t0;
// Build the lists now (the first list does it when the load ends).
index.list({ limit: 1 });
const after = used();
console.log(JSON.stringify({
  ready,
  size: index.size,
  load_ms: Math.round(loadMs),
  bytes_per_run: Math.round((after - before) / Math.max(1, index.size)),
}));
await index.close();
await nc.close();
