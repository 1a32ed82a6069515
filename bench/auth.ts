/**
 * Auth cost: throughput of `GET /runs/{id}` with `clients` concurrent clients on a gateway with
 * auth off and on a second gateway (same NATS, same runs) with `PYOCO_HTTP_AUTH_MODE=api_key`
 * and a real API key (default 200,000-iteration PBKDF2 record; the gateway caches successful
 * verifications). Rounds alternate off/on to spread machine noise; the best round of each counts.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { loadConfig } from "../src/config.ts";
import { ensureResources } from "../src/nats/resources.ts";
import { ApiKeyStore } from "../src/auth/store.ts";
import { startStack } from "./_stack.ts";
import { round2, runConcurrently, waitFor } from "./_stats.ts";
import { progress } from "./_types.ts";
import { seedRuns } from "./reads.ts";

/** Options of {@linkcode measureAuth}. */
export interface AuthOptions {
  /** Requests per round. */
  requests: number;
  /** Concurrent clients. */
  clients: number;
  /** Runs stored (the ids requested). */
  runs: number;
  /** Rounds per mode. @default {2} */
  rounds?: number;
}

/** The outcome of {@linkcode measureAuth}. */
export interface AuthOutcome {
  /** Requests/s with auth off (best round). */
  off_rps: number;
  /** Requests/s with auth on (best round). */
  on_rps: number;
  /** `(1 - on/off) × 100`: throughput lost to auth, %. */
  cost_pct: number;
  /** Every round, in order. */
  rounds: { mode: "off" | "on"; rps: number }[];
}

const _TENANT = "bench";
const _PEPPER = "bench-pepper";

/**
 * Measure `GET /runs/{id}` throughput with auth off and on.
 *
 * @param options Requests, clients, runs, rounds.
 * @returns Best requests/s of each mode and the cost.
 * @throws {Error} When a request does not answer 200.
 */
export async function measureAuth(options: AuthOptions): Promise<AuthOutcome> {
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url, name: "bench-auth" });
  try {
    const buckets = await ensureResources(nc, config);
    const runsKv = await new Kvm(nc).open(config.runsKvBucket);
    // The runs belong to the key's tenant, so both gateways answer 200 for the same ids.
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    await seedRuns(runsKv, 0, options.runs, (data) => {
      const snap = JSON.parse(decoder.decode(data));
      snap.tenant_id = _TENANT;
      return encoder.encode(JSON.stringify(snap));
    });
    const { apiKey } = await new ApiKeyStore(buckets.auth, { pepper: _PEPPER })
      .create({ tenantId: _TENANT, label: "bench" });
    const env = { PYOCO_AUTH_PEPPER: _PEPPER };
    await using stack = await startStack({ nats: srv, gatewayEnv: env });
    const on = await stack.addGateway({ ...env, PYOCO_HTTP_AUTH_MODE: "api_key" });
    const targets = {
      off: { url: stack.gatewayUrl, headers: {} as Record<string, string> },
      on: { url: on.url, headers: { "X-API-Key": apiKey } as Record<string, string> },
    };
    const path = (i: number) =>
      `/runs/seed${String((i * 2_654_435_761) % options.runs).padStart(7, "0")}`;
    // Ready: the auth gateway's key cache is warm and its backend is open.
    for (const t of Object.values(targets)) {
      await waitFor(
        async () => {
          const res = await fetch(`${t.url}${path(1)}`, { headers: t.headers });
          await res.body?.cancel();
          return res.status === 200;
        },
        `GET /runs/{id} on ${t.url} to answer 200`,
        30_000,
        100,
      );
    }
    const round = async (mode: "off" | "on") => {
      const t = targets[mode];
      const t0 = performance.now();
      await runConcurrently(options.requests, options.clients, async (i) => {
        const res = await fetch(`${t.url}${path(i)}`, { headers: t.headers });
        await res.arrayBuffer();
        if (res.status !== 200) {
          throw new Error(`GET ${path(i)} (auth ${mode}) answered ${res.status}`);
        }
      });
      return round2(options.requests / ((performance.now() - t0) / 1000));
    };
    // A short warm-up of both (JIT, connection pools), not counted.
    await round("off");
    await round("on");
    const rounds: AuthOutcome["rounds"] = [];
    for (let r = 0; r < (options.rounds ?? 2); r++) {
      for (const mode of ["off", "on"] as const) rounds.push({ mode, rps: await round(mode) });
    }
    const bestOf = (mode: "off" | "on") =>
      Math.max(...rounds.filter((r) => r.mode === mode).map((r) => r.rps));
    const off = bestOf("off");
    const onRps = bestOf("on");
    const outcome = {
      off_rps: off,
      on_rps: onRps,
      cost_pct: round2((1 - onRps / off) * 100),
      rounds,
    };
    progress(`auth: off ${off} req/s, on ${onRps} req/s, cost ${outcome.cost_pct}%`);
    return outcome;
  } finally {
    await nc.close();
  }
}
