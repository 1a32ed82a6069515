/**
 * The real stack the browser tests drive: nats-server, the gateway process with API-key auth,
 * one worker process with the example flows, and an API key made with `ApiKeyStore` (one per
 * tenant when a test asks for more tenants).
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { ApiKeyStore } from "../../src/auth/mod.ts";
import { type NatsServerHandle, startNatsServer } from "../_helpers/nats_server.ts";
import { type GatewayProcess, startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess, type WorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";

/** A running stack. */
export interface Stack {
  /** The gateway's base URL (serves the dashboard at `/`). */
  url: string;
  /** A valid API key of tenant `acme`. */
  apiKey: string;
  /** A valid API key of each tenant (`acme` and those of {@linkcode StackOptions.tenants}). */
  keys: Record<string, string>;
  /** The worker's id. */
  workerId: string;
  /** Logs of every process, for failure messages. */
  logs(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startStack}. */
export interface StackOptions {
  /** More environment of the gateway and the worker (e.g. `PYOCO_TENANT_ISOLATION`). */
  env?: Record<string, string>;
  /** Tenants that get an API key besides `acme`. @default {[]} */
  tenants?: string[];
  /** The worker's `--tenants` (namespaced mode). @default {every tenant} */
  workerTenants?: string[];
}

const _PEPPER = "browser-test-pepper";

/**
 * Start nats-server, the gateway (auth on) and a worker, and create the API keys.
 *
 * @param options Extra environment, more tenants and the tenants the worker serves.
 * @returns The stack; dispose it to stop everything.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const parts: { srv?: NatsServerHandle; gw?: GatewayProcess; worker?: WorkerProcess } = {};
  const stop = async () => {
    await parts.worker?.[Symbol.asyncDispose]();
    await parts.gw?.stop();
    await parts.srv?.stop();
  };
  try {
    parts.srv = await startNatsServer();
    parts.gw = await startGatewayProcess({
      natsUrl: parts.srv.url,
      env: {
        PYOCO_HTTP_AUTH_MODE: "api_key",
        PYOCO_AUTH_PEPPER: _PEPPER,
        // The tests need runs the catalog check would refuse: an unknown flow that becomes a
        // flow_not_found dead letter, a run that fails before any task.
        PYOCO_SUBMIT_FLOW_CHECK: "off",
        ...options.env,
      },
    });
    const health = async () => {
      try {
        const res = await fetch(`${parts.gw!.url}/health`);
        return (await res.json()).nats === "connected";
      } catch {
        return false;
      }
    };
    await poll(health, {
      timeoutMs: 20_000,
      intervalMs: 50,
      message: () => `the gateway to connect:\n${parts.gw?.logs()}`,
    });
    const nc = await connect({ servers: parts.srv.url });
    const keys: Record<string, string> = {};
    try {
      const store = new ApiKeyStore(await new Kvm(nc).open("pyoco_auth"), {
        pepper: _PEPPER,
        iterations: 1000,
      });
      for (const tenantId of ["acme", ...(options.tenants ?? [])]) {
        keys[tenantId] = (await store.create({ tenantId, label: "browser-test" })).apiKey;
      }
    } finally {
      await nc.close();
    }
    parts.worker = await startWorkerProcess({
      natsUrl: parts.srv.url,
      flows: ["examples/flows.ts", "examples/tasks.ts", "tests/browser/_flows.ts"],
      workerId: "browser-worker",
      concurrency: 2,
      env: options.env,
      tenants: options.workerTenants,
    });
    return {
      url: parts.gw.url,
      apiKey: keys.acme!,
      keys,
      workerId: parts.worker.workerId,
      logs: () =>
        `--- gateway\n${parts.gw?.logs() ?? ""}\n--- worker\n${parts.worker?.logs() ?? ""}`,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
