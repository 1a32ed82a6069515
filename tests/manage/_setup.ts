/**
 * Shared setup of the run-management tests (SPEC §15): a real nats-server, the gateway's handler
 * on it (`tests/gateway/_fixture.ts`) and an in-process worker with a flow whose middle task
 * fails while `flaky.broken` is true, counting how often each task ran.
 *
 * @module
 */

import { flow, task } from "../../src/flow/task.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { Logger } from "../../src/log.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import {
  type GatewayFixture,
  gatewayFixture,
  type GatewayFixtureOptions,
} from "../gateway/_fixture.ts";
import { registryOf } from "../worker/_setup.ts";
import { poll } from "../_helpers/poll.ts";

/** Switch and counters of the `etl` flow (per test: reset by {@linkcode manageFixture}). */
export const flaky = { broken: true, runs: { extract: 0, transform: 0, load: 0 } };

const extract = task("extract", (_ctx, input: { n?: number }) => {
  flaky.runs.extract++;
  return { rows: [1, 2, 3].map((r) => r * (input?.n ?? 1)) };
});
const transform = task("transform", (_ctx, input: { rows: number[] }) => {
  flaky.runs.transform++;
  if (flaky.broken) throw new Error("transform: the source is broken");
  return { total: input.rows.reduce((a, b) => a + b, 0) };
});
const load = task("load", (_ctx, input: { total: number }) => {
  flaky.runs.load++;
  return { loaded: input.total };
});

/** `extract >> transform >> load`; `transform` fails while `flaky.broken`. */
export const etl = flow("etl", {
  graph: "extract >> transform >> load",
  tasks: [extract, transform, load],
  defaults: { n: 1 },
});

/** The gateway fixture plus a connected in-process worker serving `etl` on `default`. */
export interface ManageFixture extends GatewayFixture {
  worker: PyocoWorker;
  /** Let the worker take jobs until the run is terminal; returns its snapshot. */
  runOne(runId: string): Promise<RunSnapshot>;
}

/**
 * Start nats-server, the gateway handler and a worker.
 *
 * @param options Gateway fixture options.
 * @returns The fixture (dispose with `await using`).
 */
export async function manageFixture(options: GatewayFixtureOptions = {}): Promise<ManageFixture> {
  flaky.broken = true;
  flaky.runs = { extract: 0, transform: 0, load: 0 };
  const gw = await gatewayFixture(options);
  const worker = new PyocoWorker({
    config: gw.config,
    registry: registryOf([etl], [etl]),
    tags: ["default"],
    workerId: `w-${crypto.randomUUID().slice(0, 6)}`,
    logger: new Logger({ service: "pyoco-server:worker", write: () => {} }),
  });
  try {
    await worker.connect();
  } catch (err) {
    await gw[Symbol.asyncDispose]();
    throw err;
  }
  return {
    ...gw,
    worker,
    async runOne(runId: string) {
      // Jobs queued before this one are run first.
      return await poll(async () => {
        const s = (await gw.reader.runs.get(runId))?.json<RunSnapshot>();
        if (s && ["COMPLETED", "FAILED", "CANCELLED"].includes(s.status)) return s;
        await worker.runOnce({ expiresMs: 1000 });
        return null;
      }, { message: `run ${runId} to finish` });
    },
    async [Symbol.asyncDispose]() {
      await worker.close().catch(() => {});
      await gw[Symbol.asyncDispose]();
    },
  };
}
