import assert from "node:assert/strict";
import {
  ApiKeyNotFoundError,
  ApiKeyStore,
  parseApiKey,
  publicView,
  verifySecret,
} from "../../src/auth/mod.ts";
import { authFixture } from "./_setup.ts";

Deno.test("ApiKeyStore.create() stores a pyoco-server record at api_keys.<key_id>", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: "pep", iterations: 1000 });
  const created = await store.create({ tenantId: "acme", label: "ci" });
  const { keyId, secret } = parseApiKey(created.apiKey);
  assert.equal(created.keyId, keyId);
  assert.equal(created.tenantId, "acme");

  const entry = await fx.kv.get(`api_keys.${keyId}`);
  assert.ok(entry);
  const raw = entry.string();
  assert.ok(!raw.includes(secret));
  assert.deepEqual(JSON.parse(raw), created.record);
  assert.equal(created.record.label, "ci");
  assert.equal(created.record.iterations, 1000);
  assert.equal(await verifySecret(created.record, secret, { pepper: "pep" }), true);
  assert.deepEqual(await store.get(keyId), created.record);
  assert.equal(await store.get("0123456789abcdef01234567"), null);
  assert.equal(await store.get("not.a.key"), null);
});

Deno.test("ApiKeyStore.create() validates the tenant and label before touching KV", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { iterations: 1000 });
  await assert.rejects(() => store.create({ tenantId: "acme.corp" }), {
    name: "InvalidTenantIdError",
  });
  await assert.rejects(() => store.create({ tenantId: "acme", label: "" }), {
    name: "InvalidApiKeyLabelError",
  });
  assert.deepEqual(await store.list(), []);
  assert.throws(() => new ApiKeyStore(fx.kv, { iterations: 0 }), {
    name: "InvalidAuthOptionError",
  });
});

Deno.test("ApiKeyStore.list() returns every record, filtered by tenant, oldest first", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { iterations: 1000 });
  assert.deepEqual(await store.list(), []);
  const a1 = await store.create({ tenantId: "acme" });
  const b1 = await store.create({ tenantId: "beta" });
  const a2 = await store.create({ tenantId: "acme" });
  await fx.kv.put("other.key", "{}"); // not an API key record: ignored

  const all = await store.list();
  assert.deepEqual(all.map((r) => r.key_id).sort(), [a1, b1, a2].map((c) => c.keyId).sort());
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1]!.created_at <= all[i]!.created_at);
  }
  const acme = await store.list({ tenantId: "acme" });
  assert.deepEqual(acme.map((r) => r.key_id).sort(), [a1.keyId, a2.keyId].sort());
  assert.deepEqual(await store.list({ tenantId: "nobody" }), []);
  for (const r of all) assert.ok(!("hash_b64" in publicView(r)));
});

Deno.test("ApiKeyStore.revoke() sets revoked_at once and is idempotent", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { iterations: 1000 });
  const created = await store.create({ tenantId: "acme" });
  const before = Date.now() / 1000;
  const revoked = await store.revoke(created.keyId);
  assert.ok(revoked.revoked_at !== null && revoked.revoked_at >= before - 1);
  assert.deepEqual({ ...revoked, revoked_at: null }, created.record);
  assert.deepEqual(await store.get(created.keyId), revoked);

  const again = await store.revoke(created.keyId);
  assert.equal(again.revoked_at, revoked.revoked_at);
  const [listed] = await store.list();
  assert.equal(publicView(listed!).revoked, true);

  await assert.rejects(() => store.revoke("0123456789abcdef01234567"), (err: unknown) => {
    assert.ok(err instanceof ApiKeyNotFoundError);
    assert.equal(err.keyId, "0123456789abcdef01234567");
    return true;
  });
  await assert.rejects(() => store.revoke("bad.id"), ApiKeyNotFoundError);
});
