/**
 * A BullMQ worker process for the peer measurement: concurrency C, a processor that returns at
 * once. Prints `READY` once the worker runs; runs until killed.
 *
 * Usage: `deno run -A bench/_bullmq_worker.ts <redis-port> <concurrency> <queue>`
 *
 * @module
 */

import { Worker } from "bullmq";

async function _main(): Promise<void> {
  const [portText, concurrencyText, queue = "bench"] = Deno.args;
  const port = Number(portText);
  const concurrency = Number(concurrencyText);
  if (!Number.isInteger(port) || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error("Usage: _bullmq_worker.ts <redis-port> <concurrency> <queue>");
  }
  const worker = new Worker(queue, () => Promise.resolve(true), {
    connection: { host: "127.0.0.1", port, maxRetriesPerRequest: null },
    concurrency,
    autorun: false,
  });
  worker.on("error", (err) => console.error(`BullMQ worker error: ${err.message}`));
  const running = worker.run();
  await worker.waitUntilReady();
  console.log("READY");
  const stop = async () => {
    await worker.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  await running;
}

if (import.meta.main) await _main();
