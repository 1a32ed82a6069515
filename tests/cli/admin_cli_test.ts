import assert from "node:assert/strict";
import { runAdmin } from "../_helpers/cli_process.ts";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { freePort, startNatsServer } from "../_helpers/nats_server.ts";

const admin = runAdmin;

Deno.test("pyoco-admin creates, lists and revokes API keys in the auth KV", async () => {
  await using srv = await startNatsServer();
  const env = { PYOCO_NATS_URL: srv.url, PYOCO_AUTH_PEPPER: "pepper-for-admin-test" };

  const created = await admin(
    ["api-key", "create", "--tenant", "acme", "--label", "ci", "--json"],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout);
  assert.equal(key.tenant_id, "acme");
  assert.match(key.api_key, /^pyoco_[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(key.api_key.slice(6, 30), key.key_id);

  // The stored record has the pyoco-server format and no secret.
  const nc = await connect({ servers: srv.url });
  try {
    const kv = await new Kvm(nc).open("pyoco_auth");
    const entry = await kv.get(`api_keys.${key.key_id}`);
    const record = entry!.json<Record<string, unknown>>();
    assert.equal(record.kdf, "pbkdf2_hmac_sha256");
    assert.equal(record.iterations, 200000);
    assert.equal(record.tenant_id, "acme");
    assert.equal(record.revoked_at, null);
    const raw = entry!.string();
    assert.ok(!raw.includes(key.api_key.split(".")[1]), "the secret is never stored");
    assert.ok(!raw.includes("pepper-for-admin-test"), "the pepper is never stored");
  } finally {
    await nc.close();
  }

  const listed = await admin(["api-key", "list", "--json"], env);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].key_id, key.key_id);
  assert.equal(rows[0].salt_b64, undefined);
  assert.equal(rows[0].hash_b64, undefined);
  assert.ok(!listed.stdout.includes(key.api_key.split(".")[1]));

  const table = await admin(["api-key", "list", "--tenant", "acme"], env);
  assert.match(table.stdout, /KEY_ID\s+TENANT/);
  assert.match(table.stdout, new RegExp(`${key.key_id}\\s+acme\\s+ci\\s+\\S+\\s+active`));
  const other = await admin(["api-key", "list", "--tenant", "globex", "--json"], env);
  assert.deepEqual(JSON.parse(other.stdout), []);

  const revoked = await admin(["api-key", "revoke", "--key-id", key.key_id], env);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked API key/);
  const again = await admin(["api-key", "revoke", "--key-id", key.key_id, "--json"], env);
  assert.equal(again.code, 0, "revoke is idempotent");
  assert.notEqual(JSON.parse(again.stdout).revoked_at, null);

  const unknown = await admin(["api-key", "revoke", "--key-id", "0".repeat(24)], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /0{24}/);
});

Deno.test("pyoco-admin answers usage errors with 2 and an unreachable NATS with 1", async () => {
  const env = { PYOCO_NATS_URL: `nats://127.0.0.1:${freePort()}` };
  const noTenant = await admin(["api-key", "create"], env);
  assert.equal(noTenant.code, 2);
  assert.match(noTenant.stderr, /--tenant/);
  const unknownCmd = await admin(["api-key", "frobnicate"], env);
  assert.equal(unknownCmd.code, 2);
  const badFlag = await admin(["api-key", "list", "--bogus"], env);
  assert.equal(badFlag.code, 2);
  const badTenant = await admin(["api-key", "create", "--tenant", "a b"], env);
  assert.equal(badTenant.code, 2);
  const down = await admin(["api-key", "list"], env);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Cannot connect to NATS/);
  assert.match(down.stderr, /PYOCO_NATS_URL/);
});
