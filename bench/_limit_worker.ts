/**
 * A bare consumer process for the "limit" measurement: the NATS work a worker must do per run and
 * nothing else — pull the job from the durable consumer, read the snapshot's revision, KV update
 * RUNNING (compare-and-set), KV update COMPLETED (compare-and-set), ack. No engine, no heartbeats,
 * no logging. Prints `READY` once consuming; runs until killed.
 *
 * Usage: `deno run -A bench/_limit_worker.ts <nats-url> <concurrency> [tag]`
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
    throw new Error("Usage: _limit_worker.ts <nats-url> <concurrency> [tag]");
  }
  const config = loadConfig({ env: { PYOCO_NATS_URL: url }, envFile: false });
  // Experiment knob: nats.js creates two Error objects (stack traces) per request unless told not to.
  const noAsyncTraces = Deno.env.get("PYOCO_BENCH_NO_ASYNC_TRACES") === "1";
  const nc = await connect({ servers: url, name: `limit-worker ${Deno.pid}`, noAsyncTraces });
  const jsm = await jetstreamManager(nc);
  const durable = await ensureConsumer(jsm, config, tag);
  const js = jetstream(nc);
  const kv = await new Kvm(nc).open(config.runsKvBucket);
  const consumer = await js.consumers.get(config.workStream, durable);
  const workerId = `limit-${Deno.pid}`;
  const messages = await consumer.consume({ max_messages: concurrency });
  console.log("READY");

  let active = 0;
  let wake: (() => void) | null = null;
  for await (const m of messages) {
    while (active >= concurrency) await new Promise<void>((r) => (wake = r));
    active++;
    (async () => {
      try {
        const job = m.json<{ run_id: string }>();
        const entry = await kv.get(job.run_id);
        if (!entry) throw new Error(`Run ${job.run_id} has no snapshot`);
        const rev = await kv.update(
          job.run_id,
          encodeJson(benchSnapshot(job.run_id, "RUNNING", { workerId })),
          entry.revision,
        );
        await kv.update(
          job.run_id,
          encodeJson(benchSnapshot(job.run_id, "COMPLETED", { workerId })),
          rev,
        );
        m.ack();
      } catch (err) {
        console.error(`Limit worker failed a job: ${(err as Error).message}`);
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
