import assert from "node:assert/strict";
import {
  ApiKeyStore,
  ApiKeyStoreUnavailableError,
  ApiKeyVerifier,
  type ApiKeyVerifierOptions,
  parseApiKey,
} from "../../src/auth/mod.ts";
import { type AuthFixture, authFixture } from "./_setup.ts";
import { poll } from "../_helpers/poll.ts";

const PEPPER = "test-pepper";

async function started(
  fx: AuthFixture,
  options: ApiKeyVerifierOptions = {},
): Promise<ApiKeyVerifier & AsyncDisposable> {
  const v = new ApiKeyVerifier(fx.kv, { pepper: PEPPER, connection: fx.nc, ...options });
  await v.start();
  return Object.assign(v, { [Symbol.asyncDispose]: () => v.close() });
}

/** A key with the same key id as `apiKey` and another (well-formed) secret. */
function otherSecret(apiKey: string, n: number): string {
  const { keyId } = parseApiKey(apiKey);
  return `pyoco_${keyId}.wrongSecret${String(n).padStart(8, "0")}xxxxxxxx`;
}

Deno.test("ApiKeyVerifier.verify() answers ok, missing, malformed, unknown and wrong_secret", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 1000 });
  const { apiKey, keyId } = await store.create({ tenantId: "acme" });
  await using v = await started(fx);
  assert.equal(v.healthy, true);

  assert.deepEqual(await v.verify(apiKey), { ok: true, keyId, tenantId: "acme" });
  assert.deepEqual(await v.verify(null), { ok: false, reason: "missing" });
  assert.deepEqual(await v.verify(undefined), { ok: false, reason: "missing" });
  assert.deepEqual(await v.verify(""), { ok: false, reason: "missing" });

  const lookups = v.stats().kvLookups;
  for (const bad of ["Bearer x", "pyoco_nodot", `pyoco_${keyId}.short`, `${apiKey} `]) {
    assert.deepEqual(await v.verify(bad), { ok: false, reason: "malformed" });
  }
  assert.equal(v.stats().kvLookups, lookups, "malformed keys never reach KV");

  const derivations = v.stats().derivations;
  const unknown = `pyoco_0123456789abcdef01234567.${parseApiKey(apiKey).secret}`;
  assert.deepEqual(await v.verify(unknown), { ok: false, reason: "unknown" });
  assert.equal(v.stats().derivations, derivations, "unknown key ids cost no PBKDF2");

  // Same key id, different secret: a cache miss and one PBKDF2.
  assert.deepEqual(await v.verify(otherSecret(apiKey, 1)), { ok: false, reason: "wrong_secret" });
  assert.equal(v.stats().derivations, derivations + 1);
  // The same wrong key again is answered from memory.
  assert.deepEqual(await v.verify(otherSecret(apiKey, 1)), { ok: false, reason: "wrong_secret" });
  assert.equal(v.stats().derivations, derivations + 1);

  // A verifier with another pepper refuses the key.
  await using w = await started(fx, { pepper: "other" });
  assert.deepEqual(await w.verify(apiKey), { ok: false, reason: "wrong_secret" });
});

Deno.test("ApiKeyVerifier.verify() serves a repeated key from the cache without PBKDF2 or KV", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 1000 });
  const a = await store.create({ tenantId: "acme" });
  const b = await store.create({ tenantId: "beta" });
  await using v = await started(fx);

  assert.equal((await v.verify(a.apiKey)).ok, true);
  const s1 = v.stats();
  assert.equal(s1.derivations, 1);
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await v.verify(a.apiKey), { ok: true, keyId: a.keyId, tenantId: "acme" });
  }
  const s2 = v.stats();
  assert.equal(s2.derivations, 1);
  assert.equal(s2.kvLookups, s1.kvLookups);
  assert.equal(s2.cacheHits, s1.cacheHits + 20);

  // Concurrent first checks of one key share one derivation.
  const results = await Promise.all(Array.from({ length: 10 }, () => v.verify(b.apiKey)));
  for (const r of results) assert.deepEqual(r, { ok: true, keyId: b.keyId, tenantId: "beta" });
  assert.equal(v.stats().derivations, 2);
});

Deno.test("ApiKeyVerifier sees a revocation made on another connection within 1 s", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 1000 });
  const { apiKey, keyId } = await store.create({ tenantId: "acme" });
  // staleAfterMs is huge, so only the watch can make the revocation visible.
  await using v = await started(fx, { staleAfterMs: 600_000 });
  assert.equal((await v.verify(apiKey)).ok, true);
  assert.equal((await v.verify(apiKey)).ok, true);
  assert.equal(v.stats().cacheHits, 1);
  const derivations = v.stats().derivations;

  const other = await fx.other();
  const otherStore = new ApiKeyStore(other.kv, { pepper: PEPPER });
  await otherStore.revoke(keyId);
  const last = await poll(async () => {
    const r = await v.verify(apiKey);
    return r.ok ? null : r;
  }, { timeoutMs: 1000, intervalMs: 10, message: "the revocation", retryErrors: false });
  assert.deepEqual(last, { ok: false, reason: "revoked" });
  assert.equal(v.stats().derivations, derivations, "revocation costs no PBKDF2");
  assert.ok(v.stats().watchEvents >= 1);
  // Remembered: further attempts need no KV.
  const lookups = v.stats().kvLookups;
  assert.deepEqual(await v.verify(apiKey), { ok: false, reason: "revoked" });
  assert.equal(v.stats().kvLookups, lookups);
});

Deno.test("ApiKeyVerifier bounds PBKDF2 work under a flood of wrong secrets", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 20_000 });
  const victim = await store.create({ tenantId: "acme" });
  const bystander = await store.create({ tenantId: "acme" });
  await using v = await started(fx, { failureBurst: 5, failureRefillPerSec: 0.2 });
  assert.equal((await v.verify(victim.apiKey)).ok, true); // cached before the flood
  const base = v.stats().derivations;
  const t0 = performance.now();

  // 50 distinct wrong secrets at once, then 50 more one by one.
  const burst = await Promise.all(
    Array.from({ length: 50 }, (_, i) => v.verify(otherSecret(victim.apiKey, i))),
  );
  for (let i = 50; i < 100; i++) burst.push(await v.verify(otherSecret(victim.apiKey, i)));
  const elapsedSec = (performance.now() - t0) / 1000;

  for (const r of burst) assert.equal(r.ok === false && r.reason, "wrong_secret");
  const spent = v.stats().derivations - base;
  const allowed = 5 + Math.ceil(elapsedSec * 0.2);
  assert.ok(spent >= 1 && spent <= allowed, `${spent} derivations (allowed ${allowed})`);
  assert.ok(v.stats().throttled >= 100 - allowed);
  assert.ok(burst.some((r) => !r.ok && r.throttled === true));
  // Once the budget is spent, further wrong secrets cost neither PBKDF2 nor KV.
  const before = v.stats();
  assert.deepEqual(await v.verify(otherSecret(victim.apiKey, 1000)), {
    ok: false,
    reason: "wrong_secret",
    throttled: true,
  });
  assert.equal(v.stats().kvLookups, before.kvLookups);
  assert.equal(v.stats().derivations, before.derivations);

  // The cached right key keeps working; another key id has its own budget.
  assert.equal((await v.verify(victim.apiKey)).ok, true);
  assert.equal((await v.verify(bystander.apiKey)).ok, true);
});

Deno.test("ApiKeyVerifier re-checks cached keys with kv.get (no PBKDF2) when the watch is not trusted", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 1000 });
  const { apiKey, keyId } = await store.create({ tenantId: "acme" });
  // No connection status source: the watch never counts as healthy.
  const v = new ApiKeyVerifier(fx.kv, { pepper: PEPPER, staleAfterMs: 0 });
  await v.start();
  try {
    assert.equal(v.healthy, false);
    assert.equal((await v.verify(apiKey)).ok, true);
    for (let i = 0; i < 5; i++) assert.equal((await v.verify(apiKey)).ok, true);
    const s = v.stats();
    assert.equal(s.derivations, 1);
    assert.equal(s.rechecks, 5);
    assert.equal(s.cacheHits, 0);

    // A revocation written straight to KV is seen on the next check even without the watch.
    await v.close();
    await store.revoke(keyId);
    assert.deepEqual(await v.verify(apiKey), { ok: false, reason: "revoked" });
    assert.equal(v.stats().derivations, 1);
  } finally {
    await v.close();
  }
});

Deno.test("ApiKeyVerifier fails closed while NATS is down and recovers after a restart", async () => {
  await using fx = await authFixture();
  const store = new ApiKeyStore(fx.kv, { pepper: PEPPER, iterations: 1000 });
  const a = await store.create({ tenantId: "acme" });
  await using v = await started(fx, { staleAfterMs: 200, lookupTimeoutMs: 300 });
  assert.equal((await v.verify(a.apiKey)).ok, true);
  const opens = v.stats().watchOpens;

  await fx.srv.kill();
  await poll(() => !v.healthy, {
    timeoutMs: 5000,
    message: "the verifier to notice the disconnect",
  });
  // Beyond staleAfterMs a cached key must be re-checked, and KV is unreachable.
  await poll(async () => {
    try {
      const r = await v.verify(a.apiKey);
      assert.equal(r.ok, true, "a stored key must not be refused while NATS is down");
      return false;
    } catch (err) {
      assert.ok(err instanceof ApiKeyStoreUnavailableError);
      assert.ok(!err.message.includes(PEPPER));
      return true;
    }
  }, { timeoutMs: 3000, message: "verify() to stop trusting the cache", retryErrors: false });

  await fx.srv.restart();
  await poll(() => v.healthy, { timeoutMs: 10_000, message: "the watch to be re-opened" });
  assert.ok(v.stats().watchOpens > opens);
  assert.equal((await v.verify(a.apiKey)).ok, true);

  // The re-opened watch delivers revocations again.
  await store.revoke(a.keyId);
  await poll(async () => {
    const r = await v.verify(a.apiKey);
    return !r.ok && r.reason === "revoked";
  }, { timeoutMs: 1000, message: "the revocation after the restart" });
});

Deno.test("ApiKeyVerifier validates its options", async () => {
  await using fx = await authFixture();
  for (
    const bad of [
      { cacheSize: 0 },
      { staleAfterMs: -1 },
      { maxConcurrentDerivations: 0 },
      { failureBurst: 1.5 },
      { failureRefillPerSec: -1 },
      { lookupTimeoutMs: 0 },
    ]
  ) {
    assert.throws(() => new ApiKeyVerifier(fx.kv, bad), { name: "InvalidAuthOptionError" });
  }
  const v = new ApiKeyVerifier(fx.kv);
  await v.start();
  await assert.rejects(() => v.start(), { name: "InvalidAuthOptionError" });
  await v.close();
});
