/**
 * Per-tenant limits (SPEC §13): `pyoco-admin tenant set|get|list` against a real nats-server,
 * and a limit applied live as `max_ack_pending` of a tenant's consumers in namespaced mode.
 */

import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { consumerName, loadConfig } from "../../src/config.ts";
import { ensureConsumer, ensureResources } from "../../src/nats/resources.ts";
import { runAdmin } from "../../src/cli/admin.ts";
import {
  applyTenantLimit,
  readTenantLimits,
  setTenantLimits,
  tenantMaxAckPending,
} from "../../src/runs/tenants.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";

function _io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

Deno.test("pyoco-admin tenant set, get and list keep a tenant's limit and weight", async () => {
  await using srv = await startNatsServer();
  const a = _io();
  assert.equal(
    await runAdmin(["tenant", "set", "acme", "--max-running", "2", "--nats-url", srv.url], a.io),
    0,
    a.err.join("\n"),
  );
  const b = _io();
  assert.equal(
    await runAdmin(
      ["tenant", "set", "acme", "--weight", "3", "--nats-url", srv.url, "--json"],
      b.io,
    ),
    0,
  );
  const set = JSON.parse(b.out[0]!);
  assert.equal(set.max_running, 2, "a field not given keeps its value");
  assert.equal(set.weight, 3);
  const c = _io();
  assert.equal(await runAdmin(["tenant", "get", "acme", "--json", "--nats-url", srv.url], c.io), 0);
  assert.equal(JSON.parse(c.out[0]!).effective_max_running, 2);
  const d = _io();
  assert.equal(
    await runAdmin(["tenant", "get", "nobody", "--json", "--nats-url", srv.url], d.io),
    0,
  );
  assert.equal(JSON.parse(d.out[0]!).max_running, null);
  const e = _io();
  assert.equal(await runAdmin(["tenant", "list", "--json", "--nats-url", srv.url], e.io), 0);
  assert.deepEqual(JSON.parse(e.out[0]!).map((r: { tenant_id: string }) => r.tenant_id), ["acme"]);
});

Deno.test("pyoco-admin tenant set refuses bad input before connecting", async () => {
  for (
    const argv of [
      ["tenant", "set", "a.b", "--max-running", "1"],
      ["tenant", "set", "acme", "--max-running", "-1"],
      ["tenant", "set", "acme", "--weight", "0"],
      ["tenant", "set", "acme", "--tags", "a.b"],
      ["tenant", "set", "acme"],
      ["tenant", "get"],
      ["tenant", "frobnicate"],
    ]
  ) {
    const x = _io();
    // An unreachable URL: a usage error must come before any connection attempt.
    const code = await runAdmin([...argv, "--nats-url", "nats://127.0.0.1:1"], x.io);
    assert.equal(code, 2, `${argv.join(" ")} → ${x.err.join("\n")}`);
  }
});

Deno.test("applyTenantLimit() sets max_ack_pending on every consumer of the tenant, live", async () => {
  await using srv = await startNatsServer();
  const config = loadConfig({
    env: { PYOCO_NATS_URL: srv.url, PYOCO_TENANT_ISOLATION: "namespaced" },
    envFile: false,
  });
  const nc = await connect({ servers: srv.url });
  try {
    const { tenants } = await ensureResources(nc, config);
    const jsm = await jetstreamManager(nc);
    await ensureConsumer(jsm, config, { tenant: "acme", tag: "default" });
    await ensureConsumer(jsm, config, { tenant: "acme", tag: "default", priority: "high" });
    await ensureConsumer(jsm, config, { tenant: "other", tag: "default" });
    const rec = await setTenantLimits(tenants, { tenant: "acme", maxRunning: 2 });
    const changed = await applyTenantLimit(jsm, config, {
      tenant: "acme",
      maxAckPending: tenantMaxAckPending(config, rec),
    });
    assert.deepEqual(
      changed.sort(),
      [
        consumerName(config, { tenant: "acme", tag: "default", priority: "high" }),
        consumerName(config, { tenant: "acme", tag: "default" }),
      ].sort(),
    );
    const info = await jsm.consumers.info(config.workStream, "pyoco_workers_acme_default");
    assert.equal(info.config.max_ack_pending, 2);
    assert.equal(info.config.filter_subject, "pyoco.acme.work.default");
    const other = await jsm.consumers.info(config.workStream, "pyoco_workers_other_default");
    assert.equal(other.config.max_ack_pending, config.consumerMaxAckPending);
    assert.equal((await readTenantLimits(tenants, "acme"))?.max_running, 2);
  } finally {
    await nc.close();
  }
});

Deno.test("pyoco-admin tenant set --tags creates the tenant's consumers with its limit (namespaced)", async () => {
  await using srv = await startNatsServer();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "cli/admin.ts",
      "tenant",
      "set",
      "acme",
      "--max-running",
      "3",
      "--tags",
      "default,gpu",
      "--json",
      "--nats-url",
      srv.url,
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { PYOCO_TENANT_ISOLATION: "namespaced", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const body = JSON.parse(text);
  assert.equal(body.consumers.length, 6, "two tags x three priorities");
  const nc = await connect({ servers: srv.url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of ["pyoco_workers_acme_gpu", "pyoco_workers-low_acme_default"]) {
      const info = await jsm.consumers.info("PYOCO_WORK", name);
      assert.equal(info.config.max_ack_pending, 3, name);
    }
  } finally {
    await nc.close();
  }
});
