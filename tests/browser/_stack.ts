/**
 * The real stack the browser tests drive: nats-server, the gateway process with API-key auth,
 * one worker process with the example flows, and an API key made with `ApiKeyStore`.
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
  /** The worker's id. */
  workerId: string;
  /** Logs of every process, for failure messages. */
  logs(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

const _PEPPER = "browser-test-pepper";

/**
 * Start nats-server, the gateway (auth on) and a worker, and create an API key.
 *
 * @returns The stack; dispose it to stop everything.
 */
export async function startStack(): Promise<Stack> {
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
    let apiKey: string;
    try {
      const store = new ApiKeyStore(await new Kvm(nc).open("pyoco_auth"), {
        pepper: _PEPPER,
        iterations: 1000,
      });
      apiKey = (await store.create({ tenantId: "acme", label: "browser-test" })).apiKey;
    } finally {
      await nc.close();
    }
    parts.worker = await startWorkerProcess({
      natsUrl: parts.srv.url,
      flows: ["examples/flows.ts", "examples/tasks.ts", "tests/browser/_flows.ts"],
      workerId: "browser-worker",
      concurrency: 2,
    });
    return {
      url: parts.gw.url,
      apiKey,
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
