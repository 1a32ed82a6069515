/**
 * The system under test as real processes: a nats-server (file storage, temp store, random port),
 * one gateway (`cli/gateway.ts`) and W workers (`cli/worker.ts`, least-privilege permissions,
 * `bench/flows.ts`, concurrency C) — started through the test launchers.
 *
 * @module
 */

import { type NatsServerHandle, startNatsServer } from "../tests/_helpers/nats_server.ts";
import { type GatewayProcess, startGatewayProcess } from "../tests/_helpers/gateway_process.ts";
import { startWorkerProcess, type WorkerProcess } from "../tests/_helpers/worker_process.ts";
import { pidListeningOn } from "./_rss.ts";
import { waitFor } from "./_stats.ts";

/** A running stack. */
export interface Stack {
  /** The nats-server. */
  readonly nats: NatsServerHandle;
  /** The gateway's base URL. */
  readonly gatewayUrl: string;
  /** The gateway's pid (found through its listening port), or `null`. */
  readonly gatewayPid: number | null;
  /** The gateway process. */
  readonly gateway: GatewayProcess;
  /** The workers. */
  readonly workers: readonly WorkerProcess[];
  /** Start one more gateway on the same NATS (e.g. with auth on). */
  addGateway(env?: Record<string, string>): Promise<{ url: string; pid: number | null }>;
  /** Stop everything. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startStack}. */
export interface StartStackOptions {
  /** Worker processes. @default {0} */
  workers?: number;
  /** Concurrency of each worker. @default {1} */
  concurrency?: number;
  /** Extra environment of the gateway. */
  gatewayEnv?: Record<string, string>;
  /** Extra environment of the workers. */
  workerEnv?: Record<string, string>;
  /** Use this nats-server instead of starting one (it is not stopped). */
  nats?: NatsServerHandle;
}

/**
 * Start nats-server, the gateway and the workers, each ready when this returns.
 *
 * @param options Workers, concurrency, environments.
 * @returns The stack.
 * @throws {Error} When a process does not start (with its log).
 */
export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  const ownNats = !options.nats;
  const nats = options.nats ?? await startNatsServer();
  const gateways: GatewayProcess[] = [];
  const workers: WorkerProcess[] = [];
  const stop = async () => {
    await Promise.all(workers.map((w) => w.stop().catch(() => 0)));
    await Promise.all(gateways.map((g) => g.stop().catch(() => 0)));
    if (ownNats) await nats.stop();
  };
  const addGateway = async (env: Record<string, string> = {}) => {
    const g = await startGatewayProcess({ natsUrl: nats.url, env });
    gateways.push(g);
    const port = Number(new URL(g.url).port);
    // The gateway listens before its NATS backend is open: wait until it stops answering 503.
    await waitFor(
      async () => {
        const res = await fetch(`${g.url}/runs?limit=1`).catch(() => null);
        await res?.body?.cancel();
        return res !== null && res.status !== 503;
      },
      `the gateway at ${g.url} to be ready`,
      60_000,
      50,
    );
    return { url: g.url, pid: pidListeningOn(port) };
  };
  try {
    const first = await addGateway(options.gatewayEnv);
    const started = await Promise.all(
      Array.from({ length: options.workers ?? 0 }, (_, i) =>
        startWorkerProcess({
          natsUrl: nats.url,
          flows: ["bench/flows.ts"],
          workerId: `bench-w${i + 1}-${crypto.randomUUID().slice(0, 4)}`,
          concurrency: options.concurrency ?? 1,
          env: options.workerEnv,
        })),
    );
    workers.push(...started);
    return {
      nats,
      gatewayUrl: first.url,
      gatewayPid: first.pid,
      gateway: gateways[0]!,
      workers,
      addGateway,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
