/**
 * Hard isolation with REAL processes (SPEC §13, docs/tenancy.md "Hard isolation with NATS
 * authorization"): nats-server runs with the doc's configuration; the gateway connects as
 * `gateway`, a worker process as `acme-worker` (its own inbox prefix, `--tenants acme`). acme's
 * runs complete; globex's stay PENDING, untouched, until a worker with globex's own user runs
 * them. Neither worker hits a permission the doc does not grant.
 */

import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { consumerName, loadConfig, workSubject } from "../../src/config.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { runAdmin } from "../_helpers/cli_process.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";
import { startWorkerProcess, type WorkerProcess } from "../_helpers/worker_process.ts";
import { docsTenancyConfig } from "./_setup.ts";

const PEPPER = "worker-users-pepper";
const GATEWAY_USER = { PYOCO_NATS_USER: "gateway", PYOCO_NATS_PASSWORD: "gateway-secret" };

/** What a worker of `tenant` runs with: the doc's user, password and reply prefix. */
function _tenantWorkerEnv(tenant: string): Record<string, string> {
  return {
    PYOCO_TENANT_ISOLATION: "namespaced",
    PYOCO_NATS_USER: `${tenant}-worker`,
    PYOCO_NATS_PASSWORD: `${tenant}-secret`,
    PYOCO_NATS_INBOX_PREFIX: `_INBOX_${tenant}`,
  };
}

/** Log lines of a worker that tell of a refused NATS call. */
function _refusals(w: WorkerProcess): string[] {
  return w.logs().split("\n").filter((l) => /permission|authorization/i.test(l));
}

Deno.test("real tenant workers under their own NATS users: acme runs, globex waits for its own", async () => {
  await using nats = await startNatsServer({ extraConfig: await docsTenancyConfig() });
  const ns = { PYOCO_TENANT_ISOLATION: "namespaced" };
  const config = loadConfig({
    env: { PYOCO_NATS_URL: nats.url, ...ns, ...GATEWAY_USER },
    envFile: false,
  });
  await using gateway = await startGatewayProcess({
    natsUrl: nats.url,
    env: { ...ns, ...GATEWAY_USER, PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: PEPPER },
  });
  const adminEnv = { PYOCO_NATS_URL: nats.url, PYOCO_AUTH_PEPPER: PEPPER, ...ns, ...GATEWAY_USER };
  const keys: Record<string, string> = {};
  for (const tenant of ["acme", "globex"]) {
    // The operator (as the gateway user) creates each tenant's consumers and an API key.
    const set = await runAdmin(["tenant", "set", tenant, "--tags", "default"], adminEnv);
    assert.equal(set.code, 0, set.stderr);
    const key = await runAdmin(["api-key", "create", "--tenant", tenant, "--json"], adminEnv);
    assert.equal(key.code, 0, key.stderr);
    keys[tenant] = JSON.parse(key.stdout).api_key;
  }
  const call = async (tenant: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${gateway.url}${path}`, {
      ...init,
      headers: { "X-API-Key": keys[tenant]!, "content-type": "application/json" },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json() };
  };
  const submit = async (tenant: string, flow = "quick", params: Record<string, unknown> = {}) => {
    const res = await call(tenant, "/runs", {
      method: "POST",
      body: JSON.stringify({ flow_name: flow, params: { x: tenant, ...params } }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.run_id as string;
  };
  const statuses = async (tenant: string, ids: string[]) =>
    await Promise.all(ids.map(async (id) => (await call(tenant, `/runs/${id}`)).body.status));

  const acmeRuns = [await submit("acme"), await submit("acme")];
  const globexRuns = [await submit("globex"), await submit("globex")];

  const nc = await connect({ servers: nats.url, user: "gateway", pass: "gateway-secret" });
  try {
    const runs = await new Kvm(nc).open(config.runsKvBucket);
    const jsm = await jetstreamManager(nc);
    const revisions = async () =>
      await Promise.all(globexRuns.map(async (id) => (await runs.get(`globex.${id}`))?.revision));
    const globexBefore = await revisions();

    await using acmeWorker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["tests/fixtures/flows.ts"],
      args: ["--tenants", "acme"],
      env: _tenantWorkerEnv("acme"),
    });
    await poll(async () => (await statuses("acme", acmeRuns)).every((s) => s === "COMPLETED"), {
      timeoutMs: 20_000,
      message: () => `acme's runs to complete\n${acmeWorker.logs()}`,
    });
    for (const id of acmeRuns) {
      const snap = (await runs.get(`acme.${id}`))!.json<RunSnapshot>();
      assert.equal(snap.worker_id, acmeWorker.workerId);
    }
    const events = await call("acme", `/runs/${acmeRuns[0]}/events`);
    assert.ok(events.body.events.length > 0, "acme's worker published its events");
    // A failing run: FAILED snapshot and a dead letter on acme's DLQ subject.
    const failing = await submit("acme", "failing");
    await poll(async () => (await statuses("acme", [failing]))[0] === "FAILED", {
      message: () => `acme's failing run to fail\n${acmeWorker.logs()}`,
    });
    await poll(async () => {
      const dlq = await call("acme", "/dlq");
      return (dlq.body as { run_id: string }[]).some((e) => e.run_id === failing);
    }, { message: "acme's dead letter" });
    // A cancel reaches the running run (notification on pyoco.acme.cancel.*).
    const slow = await submit("acme", "slow", { seconds: 30 });
    await poll(async () => (await statuses("acme", [slow]))[0] === "RUNNING", {
      message: "acme's slow run to start",
    });
    assert.equal((await call("acme", `/runs/${slow}/cancel`, { method: "POST" })).status, 200);
    await poll(async () => (await statuses("acme", [slow]))[0] === "CANCELLED", {
      message: () => `acme's slow run to be cancelled\n${acmeWorker.logs()}`,
    });

    // A job another system published on acme's queue without tenant_id: it is acme's run.
    const foreign = `foreign-${crypto.randomUUID().slice(0, 8)}`;
    await jetstream(nc).publish(
      workSubject(config, { tenant: "acme", tag: "default" }),
      JSON.stringify({
        run_id: foreign,
        flow_name: "quick",
        tag: "default",
        tags: ["default"],
        params: { x: "foreign" },
        submitted_at: Date.now() / 1000,
      }),
      { msgID: foreign },
    );
    await poll(async () => (await statuses("acme", [foreign]))[0] === "COMPLETED", {
      message: () => `the foreign job to complete as acme's\n${acmeWorker.logs()}`,
    });
    assert.equal((await runs.get(`acme.${foreign}`))?.json<RunSnapshot>().tenant_id, "acme");
    const foreignEvents = await call("acme", `/runs/${foreign}/events`);
    assert.ok(foreignEvents.body.events.length > 0, "its events are on acme's subject");

    // globex: still PENDING, snapshots not written since the submit, jobs still queued.
    assert.deepEqual(await statuses("globex", globexRuns), ["PENDING", "PENDING"]);
    assert.deepEqual(await revisions(), globexBefore, "globex's snapshots are untouched");
    const globexQueue = consumerName(config, { tenant: "globex", tag: "default" });
    const info = await jsm.consumers.info(config.workStream, globexQueue);
    assert.equal(info.num_pending + info.num_ack_pending, 2, "globex's jobs wait in its queue");
    assert.deepEqual(_refusals(acmeWorker), [], "acme's worker was refused nothing");

    // globex's own worker, with its own user, runs them.
    await using globexWorker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["tests/fixtures/flows.ts"],
      args: ["--tenants", "globex"],
      env: _tenantWorkerEnv("globex"),
    });
    await poll(
      async () => (await statuses("globex", globexRuns)).every((s) => s === "COMPLETED"),
      { timeoutMs: 20_000, message: () => `globex's runs to complete\n${globexWorker.logs()}` },
    );
    for (const id of globexRuns) {
      const snap = (await runs.get(`globex.${id}`))!.json<RunSnapshot>();
      assert.equal(snap.worker_id, globexWorker.workerId);
    }
    assert.deepEqual(_refusals(globexWorker), [], "globex's worker was refused nothing");
    assert.deepEqual(_refusals(acmeWorker), [], "acme's worker was refused nothing");
  } finally {
    await nc.close();
  }
});
