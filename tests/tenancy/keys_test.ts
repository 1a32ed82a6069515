/**
 * Issue #15 / docs/tenancy.md "Runs KV in namespaced mode": with
 * `PYOCO_TENANT_ISOLATION=namespaced` every run snapshot is keyed `<tenant>.<run_id>` (`_.<id>`
 * for runs without an API key), and every route still finds it. Real processes: one nats-server,
 * a gateway with API keys (tenant acme), a gateway without auth (tenant `_`), one worker.
 */

import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../src/config.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { ensureResources } from "../../src/nats/resources.ts";
import { runAdmin } from "../_helpers/cli_process.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";
import { orphanSnapshotJson } from "../_helpers/orphan.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";

const PEPPER = "keys-test-pepper";
const NAMESPACED = {
  PYOCO_TENANT_ISOLATION: "namespaced",
  PYOCO_ORPHAN_AFTER_SEC: "1",
  PYOCO_SWEEP_INTERVAL_SEC: "0.5",
};

type Body = Record<string, unknown>;

/** One caller: a gateway URL and its API key (`null`: auth off). */
interface Caller {
  tenant: string;
  url: string;
  key: string | null;
}

async function _call(
  c: Caller,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Body; text: string; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (c.key !== null) headers.set("X-API-Key", c.key);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(`${c.url}${path}`, {
    ...init,
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: Body = {};
  try {
    body = JSON.parse(text);
  } catch { /* SSE */ }
  return { status: res.status, body, text, headers: res.headers };
}

async function _submit(c: Caller, body: Body, headers: HeadersInit = {}): Promise<string> {
  const res = await _call(c, "/runs", { method: "POST", body: JSON.stringify(body), headers });
  assert.equal(res.status, 200, res.text);
  return res.body.run_id as string;
}

async function _until(c: Caller, runId: string, statuses: string[]): Promise<Body> {
  return await poll(async () => {
    const res = await _call(c, `/runs/${runId}`);
    return res.status === 200 && statuses.includes(res.body.status as string) ? res.body : null;
  }, { timeoutMs: 20_000, message: `run ${runId} of ${c.tenant} to be ${statuses}` });
}

Deno.test("namespaced: snapshots live at <tenant>.<run_id> and every route finds them", async () => {
  await using nats = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: nats.url, ...NAMESPACED }, envFile: false });
  const nc = await connect({ servers: nats.url });
  try {
    await ensureResources(nc, config);
    const runs = await new Kvm(nc).open(config.runsKvBucket);
    await using keyed = await startGatewayProcess({
      natsUrl: nats.url,
      env: { ...NAMESPACED, PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: PEPPER },
    });
    await using open = await startGatewayProcess({ natsUrl: nats.url, env: NAMESPACED });
    await using _worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["tests/fixtures/flows.ts"],
      concurrency: 4,
      env: { PYOCO_TENANT_ISOLATION: "namespaced" },
    });
    const created = await runAdmin(
      ["api-key", "create", "--tenant", "acme", "--json"],
      { PYOCO_NATS_URL: nats.url, PYOCO_AUTH_PEPPER: PEPPER },
    );
    assert.equal(created.code, 0, created.stderr);
    const acme: Caller = {
      tenant: "acme",
      url: keyed.url,
      key: JSON.parse(created.stdout).api_key,
    };
    const anon: Caller = { tenant: "_", url: open.url, key: null };
    const raw = async (key: string) => {
      const e = await runs.get(key);
      return e === null || e.operation !== "PUT" || e.length === 0 ? null : e.json<RunSnapshot>();
    };

    for (const c of [acme, anon]) {
      const what = `tenant ${c.tenant}`;
      // Submit and read: the raw key is <tenant>.<run_id>, nothing at the bare id.
      const id = await _submit(c, { flow_name: "quick", params: { x: 2 } });
      const done = await _until(c, id, ["COMPLETED"]);
      assert.match(JSON.stringify(done.outputs), /"x":2/, what);
      assert.equal((await raw(`${c.tenant}.${id}`))?.status, "COMPLETED", what);
      assert.equal(await raw(id), null, `${what}: no snapshot at the bare run id`);

      // List (index summaries and whole snapshots).
      const list = await _call(c, "/runs");
      assert.ok((list.body as unknown as Body[]).some((r) => r.run_id === id), what);
      const full = await _call(c, "/runs?include=full");
      const fullRun = (full.body as unknown as Body[]).find((r) => r.run_id === id);
      assert.equal(fullRun?.status, "COMPLETED", `${what}: include=full reads the keyed snapshot`);

      // Watch (SSE): the terminal snapshot, then the stream ends.
      const watch = await _call(c, `/runs/${id}/watch`);
      assert.equal(watch.status, 200, what);
      assert.match(watch.text, /event: snapshot/, what);
      assert.match(watch.text, new RegExp(`"run_id":"${id}"[^\\n]*"status":"COMPLETED"`), what);

      // Events.
      const events = await _call(c, `/runs/${id}/events`);
      assert.equal(events.status, 200, what);
      assert.ok((events.body.events as Body[]).length > 0, `${what}: events`);

      // Cancel a running run.
      const slow = await _submit(c, { flow_name: "slow", params: { seconds: 30 } });
      await _until(c, slow, ["RUNNING"]);
      const cancel = await _call(c, `/runs/${slow}/cancel`, { method: "POST" });
      assert.equal(cancel.status, 200, cancel.text);
      await _until(c, slow, ["CANCELLED"]);
      assert.equal((await raw(`${c.tenant}.${slow}`))?.status, "CANCELLED", what);

      // Retry a failed run: the new run is keyed under the same tenant.
      const failing = await _submit(c, { flow_name: "failing" });
      await _until(c, failing, ["FAILED"]);
      const retry = await _call(c, `/runs/${failing}/retry`, { method: "POST", body: "{}" });
      assert.equal(retry.status, 200, retry.text);
      const again = retry.body.run_id as string;
      assert.equal(retry.body.retry_of, failing);
      await _until(c, again, ["FAILED"]);
      assert.equal((await raw(`${c.tenant}.${again}`))?.retry_of, failing, what);

      // Idempotent re-submit: the same run, and its status is read from the keyed snapshot.
      const idem = { "Idempotency-Key": `idem-${c.tenant}` };
      const first = await _submit(c, { flow_name: "quick" }, idem);
      await _until(c, first, ["COMPLETED"]);
      const second = await _call(c, "/runs", {
        method: "POST",
        body: JSON.stringify({ flow_name: "quick" }),
        headers: idem,
      });
      assert.equal(second.body.run_id, first, second.text);
      assert.equal(second.body.status, "COMPLETED", second.text);
      assert.equal(second.headers.get("idempotent-replayed"), "true");

      // Delete: the keyed snapshot is purged, the run is gone for the routes.
      const del = await _call(c, `/runs/${id}`, { method: "DELETE" });
      assert.equal(del.status, 200, del.text);
      assert.equal(await raw(`${c.tenant}.${id}`), null, what);
      assert.equal((await _call(c, `/runs/${id}`)).status, 404, what);

      // A schedule: its runs are keyed under its tenant, and its view reads their status there.
      const sched = await _call(c, "/schedules", {
        method: "POST",
        body: JSON.stringify({ flow_name: "quick", interval_seconds: 1 }),
      });
      assert.equal(sched.status, 200, sched.text);
      const sid = sched.body.schedule_id as string;
      const view = await poll(async () => {
        const v = (await _call(c, `/schedules/${sid}`)).body;
        return v.last_status === "COMPLETED" ? v : null;
      }, { timeoutMs: 20_000, message: `${what}: a scheduled run to complete` });
      assert.equal((await raw(`${c.tenant}.${view.last_run_id}`))?.schedule_id, sid, what);
      // Its runs list reads each run at the tenant's key too (it read bare ids: status null).
      const rows = (await _call(c, `/schedules/${sid}/runs`)).body as unknown as {
        status: string | null;
      }[];
      assert.ok(
        rows.length > 0 && rows.some((r) => r.status === "COMPLETED"),
        `${what}: ${JSON.stringify(rows)}`,
      );
      await _call(c, `/schedules/${sid}`, { method: "DELETE" });

      // An orphan (a PENDING snapshot whose job never reached the stream) is re-published.
      const orphan = `orphan-${c.tenant === "_" ? "anon" : c.tenant}`;
      await runs.create(
        `${c.tenant}.${orphan}`,
        orphanSnapshotJson(orphan, {
          flow: "quick",
          params: { x: 5 },
          tenant: c.key === null ? null : c.tenant,
          ageSec: 5,
        }),
      );
      const repaired = await _until(c, orphan, ["COMPLETED"]);
      assert.match(JSON.stringify(repaired.outputs), /"x":5/, what);
    }

    // Another tenant's key does not find acme's runs (its key is not at globex.<id>).
    const globexKey = await runAdmin(
      ["api-key", "create", "--tenant", "globex", "--json"],
      { PYOCO_NATS_URL: nats.url, PYOCO_AUTH_PEPPER: PEPPER },
    );
    const globex: Caller = {
      tenant: "globex",
      url: keyed.url,
      key: JSON.parse(globexKey.stdout).api_key,
    };
    const acmeRun = await _submit(acme, { flow_name: "quick" });
    await _until(acme, acmeRun, ["COMPLETED"]);
    assert.equal((await _call(globex, `/runs/${acmeRun}`)).status, 404);
    // Without a key, the auth-off gateway finds acme's run by its id alone (`*.<run_id>`).
    const seen = await _call(anon, `/runs/${acmeRun}`);
    assert.equal(seen.status, 200, seen.text);
    assert.equal(seen.body.tenant_id, "acme");
  } finally {
    await nc.close();
  }
});
