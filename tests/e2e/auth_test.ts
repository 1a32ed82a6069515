import assert from "node:assert/strict";
import { runAdmin } from "../_helpers/cli_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";

const PEPPER = "e2e-pepper-that-must-never-be-logged";

async function admin(args: string[], natsUrl: string) {
  const out = await runAdmin(args, { PYOCO_NATS_URL: natsUrl, PYOCO_AUTH_PEPPER: PEPPER });
  assert.equal(out.code, 0, out.stderr);
  return out;
}

async function call(url: string, key: string | null, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (key !== null) headers.set("X-API-Key", key);
  const res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* SSE or text */ }
  return { status: res.status, body: body as Record<string, unknown> };
}

Deno.test("api_key auth end to end: admin CLI keys, tenants, revocation within 1 s, no secret in logs", async () => {
  await using nats = await startNatsServer();
  await using gateway = await startGatewayProcess({
    natsUrl: nats.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: PEPPER, PYOCO_LOG_LEVEL: "DEBUG" },
  });
  await using worker = await startWorkerProcess({
    natsUrl: nats.url,
    flows: ["examples/flows.ts"],
    env: { PYOCO_AUTH_PEPPER: PEPPER, PYOCO_LOG_LEVEL: "DEBUG" },
  });
  const acme = JSON.parse(
    (await admin(["api-key", "create", "--tenant", "acme", "--json"], nats.url)).stdout,
  );
  const globex = JSON.parse(
    (await admin(["api-key", "create", "--tenant", "globex", "--json"], nats.url)).stdout,
  );
  const url = gateway.url;
  const secret = (key: string) => key.slice(key.indexOf(".") + 1);

  // Refusals.
  assert.equal((await call(`${url}/health`, null)).status, 200, "/health stays open");
  const missing = await call(`${url}/runs`, null);
  assert.equal(missing.status, 401);
  assert.equal(missing.body.err_id, "ERR-PYOCO-0014");
  for (
    const bad of [
      "garbage",
      "pyoco_nothex.xyz",
      `pyoco_${"0".repeat(24)}.${secret(acme.api_key)}`,
      `${acme.api_key.slice(0, -2)}zz`,
    ]
  ) {
    const res = await call(`${url}/runs`, bad);
    assert.equal(res.status, 403, bad);
    assert.equal(res.body.err_id, "ERR-PYOCO-0015");
  }
  for (const path of ["/workers", "/metrics", "/dlq"]) {
    assert.equal((await call(`${url}${path}`, null)).status, 401, path);
  }

  // A valid key works end to end and the run carries the tenant.
  const submitted = await call(`${url}/runs`, acme.api_key, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flow_name: "hello", params: { x: 3 } }),
  });
  assert.equal(submitted.status, 200);
  const runId = submitted.body.run_id as string;
  let run: Record<string, unknown> = {};
  await poll(async () => {
    run = (await call(`${url}/runs/${runId}`, acme.api_key)).body;
    return run.status === "COMPLETED";
  }, {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: () => `the run to complete: ${JSON.stringify(run)}`,
  });
  assert.equal(run.tenant_id, "acme");
  assert.equal(run.api_key_id, acme.key_id);

  // Another tenant sees nothing of it: 404 exactly like a missing run.
  for (
    const path of [
      `/runs/${runId}`,
      `/runs/${runId}/tasks`,
      `/runs/${runId}/events`,
      `/runs/${runId}/watch`,
    ]
  ) {
    const res = await call(`${url}${path}`, globex.api_key);
    assert.equal(res.status, 404, path);
    assert.equal(res.body.err_id, "ERR-PYOCO-0005", path);
  }
  const cancel = await call(`${url}/runs/${runId}/cancel`, globex.api_key, { method: "POST" });
  assert.equal(cancel.status, 404);
  const theirList = await call(`${url}/runs`, globex.api_key);
  assert.deepEqual(theirList.body, []);
  const ourList = await call(`${url}/runs`, acme.api_key);
  assert.deepEqual((ourList.body as unknown as { run_id: string }[]).map((r) => r.run_id), [runId]);

  // Revoking with the admin CLI takes effect on the running gateway within a second.
  await admin(["api-key", "revoke", "--key-id", acme.key_id], nats.url);
  const status = await poll(async () => {
    const s = (await call(`${url}/runs`, acme.api_key)).status;
    return s === 403 ? s : null;
  }, { timeoutMs: 1000, message: "the revoked key to be refused within 1 s" });
  assert.equal(status, 403, "the revoked key is refused within 1 s");
  assert.equal((await call(`${url}/runs`, globex.api_key)).status, 200, "other keys still work");

  // No key secret and no pepper in any log line.
  await gateway.stop();
  await worker.stop();
  const logs = gateway.logs() + worker.logs();
  assert.ok(logs.length > 0);
  for (const key of [acme.api_key, globex.api_key]) {
    assert.ok(!logs.includes(secret(key)), "a key secret appears in the logs");
  }
  assert.ok(!logs.includes(PEPPER), "the pepper appears in the logs");
});
