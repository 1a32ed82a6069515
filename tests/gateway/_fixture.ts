/**
 * Shared setup of the gateway tests: a real nats-server, the gateway's backend on it, the
 * in-process handler, and a separate nats.js client to read back what the gateway wrote.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type Config, loadConfig } from "../../src/config.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { Logger } from "../../src/log.ts";
import { createApp, type Handler } from "../../src/gateway/app.ts";
import type { Authenticate } from "../../src/gateway/auth.ts";
import { openBackend, type RunsBackend } from "../../src/runs/backend.ts";
import { type NatsServerHandle, startNatsServer } from "../_helpers/nats_server.ts";

/** A server, the gateway handler on it and a reader client, disposed together. */
export interface GatewayFixture {
  srv: NatsServerHandle;
  config: Config;
  backend: RunsBackend;
  /** The gateway's own connection. */
  nc: NatsConnection;
  /** A separate client for reading back. */
  reader: { nc: NatsConnection; jsm: JetStreamManager; runs: KV; workers: KV; auth: KV };
  handler: Handler;
  /** Log lines the gateway wrote. */
  logs: string[];
  /** Call the handler with a path relative to the gateway. */
  request(path: string, init?: RequestInit): Promise<Response>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode gatewayFixture}. */
export interface GatewayFixtureOptions {
  /** Config values for the handler (the backend uses the base config). */
  appConfig?: Partial<Config>;
  /** Environment for the base config. */
  env?: Record<string, string>;
  /** Authenticator (built after the backend exists). */
  authenticate?: (backend: RunsBackend, config: Config) => Promise<Authenticate> | Authenticate;
}

/** Start everything. */
export async function gatewayFixture(options: GatewayFixtureOptions = {}): Promise<GatewayFixture> {
  const srv = await startNatsServer();
  const cleanups: (() => Promise<unknown>)[] = [() => srv.stop()];
  const dispose = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
  };
  try {
    const config = loadConfig({
      env: { PYOCO_NATS_URL: srv.url, ...options.env },
      envFile: false,
    });
    const nc = await connect({
      servers: srv.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    cleanups.push(() => nc.close());
    const logs: string[] = [];
    const logger = new Logger({
      service: "pyoco-server:http",
      level: "DEBUG",
      write: (line) => logs.push(line),
    });
    const backend = await openBackend(nc, config, { logger });
    cleanups.push(() => backend.close());
    const readerNc = await connect({ servers: srv.url });
    cleanups.push(() => readerNc.close());
    const kvm = new Kvm(readerNc);
    const reader = {
      nc: readerNc,
      jsm: await jetstreamManager(readerNc),
      runs: await kvm.open(config.runsKvBucket),
      workers: await kvm.open(config.workersKvBucket),
      auth: await kvm.open(config.authKvBucket),
    };
    const appConfig = { ...config, ...options.appConfig };
    const authenticate = options.authenticate
      ? await options.authenticate(backend, appConfig)
      : undefined;
    const handler = createApp({ config: appConfig, logger, backend: () => backend, authenticate });
    return {
      srv,
      config: appConfig,
      backend,
      nc,
      reader,
      handler,
      logs,
      request: (path, init) => handler(new Request(`http://gateway.test${path}`, init)),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** A JSON POST. */
export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

/** A run snapshot for tests: a PENDING `hello` run with `fields` on top. */
export function snapshot(runId: string, fields: Partial<RunSnapshot> = {}): RunSnapshot {
  return {
    run_id: runId,
    flow_name: "hello",
    status: "PENDING",
    params: {},
    tasks: {},
    heartbeat_at: 1000,
    updated_at: 1000,
    tag: "default",
    tags: ["default"],
    worker_id: null,
    task_records: {},
    task_records_truncated: false,
    error: null,
    ...fields,
  };
}
