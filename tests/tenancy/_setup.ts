/**
 * Shared setup of the tenancy tests: a nats-server, a namespaced configuration, submits as a
 * tenant through the real submit path, in-process workers, and snapshot reads.
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { type Config, loadConfig, runKey } from "../../src/config.ts";
import type { Priority } from "../../src/contract/tenancy.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { loadRegistry } from "../../src/host/registry.ts";
import { Logger } from "../../src/log.ts";
import { ensureResources, type PyocoBuckets } from "../../src/nats/resources.ts";
import { findRunKey } from "../../src/runs/run_keys.ts";
import { submitRun, validateRunRequest } from "../../src/runs/submit.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { type NatsServerHandle, startNatsServer } from "../_helpers/nats_server.ts";

/**
 * The nats-server authorization block printed in docs/tenancy.md (between the
 * `tenancy-test-config` markers): the tests run with exactly what the doc tells operators.
 *
 * @returns The configuration text.
 */
export async function docsTenancyConfig(): Promise<string> {
  const doc = await Deno.readTextFile(new URL("../../docs/tenancy.md", import.meta.url));
  const m = doc.match(
    /<!-- BEGIN tenancy-test-config -->\s*```conf\n([\s\S]*?)```\s*<!-- END tenancy-test-config -->/,
  );
  if (!m) throw new Error("docs/tenancy.md has no tenancy-test-config block");
  return m[1]!;
}

/** What a tenancy test gets. */
export interface TenancyEnv {
  srv: NatsServerHandle;
  config: Config;
  nc: NatsConnection;
  buckets: PyocoBuckets;
  runs: KV;
  /** Submit a run as a tenant (`null`: without a key). */
  submit(
    tenant: string | null,
    body: { flow_name: string; params?: Record<string, unknown>; priority?: Priority },
  ): Promise<string>;
  /** Start an in-process worker (closed with the env). */
  worker(options?: { concurrency?: number; tenants?: string[] | "*" }): Promise<PyocoWorker>;
  /** Every run's snapshot now. */
  snapshots(ids: string[]): Promise<RunSnapshot[]>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start a nats-server and the resources in namespaced mode.
 *
 * @param env Extra PYOCO_* variables.
 */
export async function setupTenancy(env: Record<string, string> = {}): Promise<TenancyEnv> {
  const srv = await startNatsServer();
  const config = loadConfig({
    env: { PYOCO_NATS_URL: srv.url, PYOCO_TENANT_ISOLATION: "namespaced", ...env },
    envFile: false,
  });
  const nc = await connect({ servers: srv.url });
  const buckets = await ensureResources(nc, config);
  const registry = await loadRegistry(["tests/fixtures/flows.ts"]);
  const quiet = new Logger({ service: "pyoco-server:worker", level: "ERROR", write: () => {} });
  const workers: PyocoWorker[] = [];
  const stops: AbortController[] = [];
  const running: Promise<void>[] = [];
  /** The tenant each run was submitted as (its snapshot key's first token). */
  const tenants = new Map<string, string | null>();
  const backend = {
    js: jetstream(nc),
    runs: buckets.runs,
    timeoutMs: 5000,
    state: { connected: true },
  };
  return {
    srv,
    config,
    nc,
    buckets,
    runs: buckets.runs,
    async submit(tenant, body) {
      const request = validateRunRequest(body, config);
      const principal = tenant === null ? null : { tenantId: tenant, keyId: "k" };
      const answer = await submitRun({ backend, config, logger: quiet, principal }, request);
      tenants.set(answer.run_id, tenant);
      return answer.run_id;
    },
    async worker(options = {}) {
      const w = new PyocoWorker({
        config,
        registry,
        tags: ["default"],
        tenants: options.tenants,
        concurrency: options.concurrency ?? 1,
        logger: quiet,
        pullExpiresMs: 1000,
      });
      await w.connect();
      const stop = new AbortController();
      workers.push(w);
      stops.push(stop);
      running.push(w.run(stop.signal));
      return w;
    },
    async snapshots(ids) {
      const out: RunSnapshot[] = [];
      for (const id of ids) {
        // Namespaced keys are `<tenant>.<run_id>`: the submitter's tenant, else found the way
        // the gateway finds a run it has not indexed.
        const key = tenants.has(id)
          ? runKey(config, id, { tenant: tenants.get(id) })
          : await findRunKey({ runs: buckets.runs, config }, id);
        const e = await buckets.runs.get(key);
        if (e !== null && e.length > 0) out.push(e.json<RunSnapshot>());
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      for (const s of stops) s.abort();
      await Promise.allSettled(running);
      await Promise.allSettled(workers.map((w) => w.close()));
      await nc.close().catch(() => {});
      await srv.stop();
    },
  };
}
