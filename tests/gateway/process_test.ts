import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import { ApiKeyStore } from "../../src/auth/mod.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { poll } from "../_helpers/poll.ts";

/** A fetch that fails the test instead of hanging. */
async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

function submit(url: string) {
  return call(`${url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flow_name: "hello" }),
  });
}

Deno.test("gateway process serves, answers 503 while NATS is down and recovers by itself", async () => {
  await using srv = await startNatsServer();
  await using gw = await startGatewayProcess({ natsUrl: srv.url });
  assert.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  await poll(async () => (await call(`${gw.url}/health`)).body.nats === "connected", {
    message: "the gateway to connect",
  });
  const first = await submit(gw.url);
  assert.equal(first.status, 200);

  await srv.kill();
  await poll(async () => (await call(`${gw.url}/health`)).body.nats === "disconnected", {
    message: "the gateway to notice NATS is down",
  });
  const health = await call(`${gw.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, "ok");
  for (const path of ["/runs", `/runs/${first.body.run_id}`, "/workers", "/metrics"]) {
    const res = await call(`${gw.url}${path}`);
    assert.equal(res.status, 503, path);
    assert.equal(res.body.err_id, "ERR-PYOCO-0003", path);
  }
  const down = await submit(gw.url);
  assert.equal(down.status, 503);

  await srv.restart();
  await poll(async () => (await submit(gw.url)).status === 200, {
    timeoutMs: 20_000,
    message: "submits to work again",
  });
  const got = await call(`${gw.url}/runs/${first.body.run_id}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.status, "PENDING");

  assert.equal(await gw.stop(), 0);
  const urlLines = gw.logs().split("\n").filter((l) => l.includes(gw.url));
  assert.equal(urlLines.length, 1, gw.logs());
  assert.ok(!gw.logs().includes("Uncaught"), gw.logs());
});

Deno.test("gateway process started before NATS waits for it", async () => {
  await using srv = await startNatsServer();
  await srv.kill();
  await using gw = await startGatewayProcess({ natsUrl: srv.url, waitReady: false });
  assert.deepEqual((await call(`${gw.url}/health`)).body, { status: "ok", nats: "disconnected" });
  assert.equal((await submit(gw.url)).status, 503);
  await srv.restart();
  await poll(async () => (await submit(gw.url)).status === 200, {
    timeoutMs: 20_000,
    message: "the gateway to connect",
  });
  assert.equal(await gw.stop(), 0);
});

Deno.test("gateway process leaves existing resources' settings as they were", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "PYOCO_WORK",
      subjects: ["pyoco.work.>"],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(300_000),
    });
    await new Kvm(nc).create("pyoco_runs", { history: 5 });
    await using gw = await startGatewayProcess({ natsUrl: srv.url });
    await poll(async () => (await submit(gw.url)).status === 200, { message: "a submit to work" });
    const work = await jsm.streams.info("PYOCO_WORK");
    assert.equal(work.config.duplicate_window, nanos(300_000));
    assert.equal(work.state.messages, 1);
    const runs = await (await new Kvm(nc).open("pyoco_runs")).status();
    assert.equal(runs.history, 5);
    // The resources it had to create exist.
    await jsm.streams.info("PYOCO_DLQ");
    await (await new Kvm(nc).open("pyoco_workers")).status();
    assert.equal(await gw.stop(), 0);
  } finally {
    await nc.close();
  }
});

Deno.test("gateway process exits 2 naming the variable for an invalid config", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/gateway.ts"],
    cwd: new URL("../../", import.meta.url),
    env: { PYOCO_ENV_FILE: "/dev/null", PYOCO_HTTP_AUTH_MODE: "maybe", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /PYOCO_HTTP_AUTH_MODE/);
  const flags = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/gateway.ts", "--port", "99999"],
    cwd: new URL("../../", import.meta.url),
    env: { PYOCO_ENV_FILE: "/dev/null", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(flags.code, 2);
  assert.match(new TextDecoder().decode(flags.stderr), /PYOCO_HTTP_PORT/);
});

Deno.test("gateway process with api_key auth checks keys against the auth bucket", async () => {
  await using srv = await startNatsServer();
  const pepper = "process-test-pepper";
  await using gw = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: pepper },
  });
  await poll(async () => (await call(`${gw.url}/health`)).body.nats === "connected", {
    message: "the gateway to connect",
  });
  const nc = await connect({ servers: srv.url });
  try {
    const store = new ApiKeyStore(await new Kvm(nc).open("pyoco_auth"), {
      pepper,
      iterations: 1000,
    });
    const { apiKey } = await store.create({ tenantId: "acme" });
    assert.equal((await call(`${gw.url}/health`)).status, 200);
    const missing = await call(`${gw.url}/runs`);
    assert.equal(missing.status, 401);
    assert.equal(missing.body.err_id, "ERR-PYOCO-0014");
    const bad = await call(`${gw.url}/runs`, { headers: { "X-API-Key": `${apiKey}zz` } });
    assert.equal(bad.status, 403);
    assert.equal(bad.body.err_id, "ERR-PYOCO-0015");
    const ok = await call(`${gw.url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-API-Key": apiKey },
      body: JSON.stringify({ flow_name: "hello" }),
    });
    assert.equal(ok.status, 200);
    const run = await call(`${gw.url}/runs/${ok.body.run_id}`, {
      headers: { "X-API-Key": apiKey },
    });
    assert.equal(run.body.tenant_id, "acme");
    assert.equal(await gw.stop(), 0);
    assert.ok(!gw.logs().includes(apiKey.split(".")[1]!), "the key secret was logged");
    assert.ok(!gw.logs().includes(pepper), "the pepper was logged");
  } finally {
    await nc.close();
  }
});

Deno.test("gateway process stops cleanly: no WARNING or ERROR on a plain stop", async () => {
  await using srv = await startNatsServer();
  await using gw = await startGatewayProcess({ natsUrl: srv.url });
  assert.equal((await call(`${gw.url}/ready`)).status, 200);
  assert.equal(await gw.stop(), 0);
  const noisy = gw.logs().split("\n").filter((l) => /"level":"(WARNING|ERROR)"/.test(l));
  assert.deepEqual(noisy, []);
  assert.match(gw.logs(), /Gateway stopped/);
});
