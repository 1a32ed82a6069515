/**
 * A bare consumer process for "the floor" (SPEC §10): the minimal durable work a worker does per
 * run and nothing else — jobs arrive through one batched pull (`consume()` sized to C, so nats.js
 * asks for many messages per pull request and tops up as they are used), the terminal snapshot is
 * written with one KV compare-and-set against the job's `pending_revision` (no read first), then a
 * plain ack. No engine, no RUNNING write, no events, no heartbeats, no logging. Prints `READY`
 * once consuming; runs until killed.
 *
 * Usage: `deno run -A bench/_floor_worker.ts <nats-url> <concurrency> [tag]`
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../src/config.ts";
import { ensureConsumer } from "../src/nats/resources.ts";
import { encodeJson } from "../src/nats/kv.ts";
import { benchSnapshot } from "./_snapshots.ts";

async function _main(): Promise<void> {
  const [url, concurrencyText, tag = "default"] = Deno.args;
  const concurrency = Number(concurrencyText);
  if (!url || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error("Usage: _floor_worker.ts <nats-url> <concurrency> [tag]");
  }
  const config = loadConfig({ env: { PYOCO_NATS_URL: url }, envFile: false });
  const nc = await connect({ servers: url, name: `floor-worker ${Deno.pid}`, noAsyncTraces: true });
  const durable = await ensureConsumer(await jetstreamManager(nc), config, tag);
  const js = jetstream(nc);
  const kv = await new Kvm(nc).open(config.runsKvBucket);
  const consumer = await js.consumers.get(config.workStream, durable);
  const workerId = `floor-${Deno.pid}`;
  // One pull request asks for up to C messages; nats.js re-pulls when half of them are used.
  const messages = await consumer.consume({ max_messages: concurrency });
  console.log("READY");

  let active = 0;
  let wake: (() => void) | null = null;
  for await (const m of messages) {
    while (active >= concurrency) await new Promise<void>((r) => (wake = r));
    active++;
    (async () => {
      try {
        const job = m.json<{ run_id: string; pending_revision: number }>();
        await kv.update(
          job.run_id,
          encodeJson(benchSnapshot(job.run_id, "COMPLETED", { workerId })),
          job.pending_revision,
        );
        m.ack();
      } catch (err) {
        console.error(`Floor worker failed a job: ${(err as Error).message}`);
        m.nak(500);
      } finally {
        active--;
        const w = wake as (() => void) | null;
        wake = null;
        w?.();
      }
    })();
  }
}

if (import.meta.main) await _main();
