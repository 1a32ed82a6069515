/**
 * A real stack for client and CLI tests: nats-server (launcher) + gateway process + worker
 * process running `examples/flows.ts`.
 *
 * @module
 */

import { startNatsServer } from "../_helpers/nats_server.ts";
import type { NatsServerHandle } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";

/** A running nats-server + gateway (+ worker). */
export interface Stack {
  nats: NatsServerHandle;
  /** Gateway base URL. */
  url: string;
  /** Gateway and worker logs, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Start nats-server, a gateway and (unless `worker: false`) one worker with the examples. */
export async function startStack(options: { worker?: boolean } = {}): Promise<Stack> {
  const nats = await startNatsServer();
  const stops: (() => Promise<unknown>)[] = [() => nats.stop()];
  const logSources: [string, () => string][] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const gateway = await startGatewayProcess({ natsUrl: nats.url });
    stops.push(() => gateway.stop());
    logSources.push(["gateway", () => gateway.logs()]);
    if (options.worker !== false) {
      const worker = await startWorkerProcess({ natsUrl: nats.url, flows: ["examples/flows.ts"] });
      stops.push(() => worker.stop());
      logSources.push(["worker", () => worker.logs()]);
    }
    return {
      nats,
      url: gateway.url,
      logs: () => logSources.map(([n, f]) => `--- ${n} ---\n${f()}`).join("\n"),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
