import assert from "node:assert/strict";
import { runAdmin } from "../_helpers/cli_process.ts";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import {
  ApiKeyStore,
  checkPepper,
  PEPPER_FINGERPRINT_KV_KEY,
  pepperFingerprint,
  PepperMismatchError,
  recordPepper,
} from "../../src/auth/mod.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { poll } from "../_helpers/poll.ts";
import { authFixture } from "./_setup.ts";

const BUCKET = "pyoco_auth_test_x";
const opts = (pepper: string, record = true) => ({
  pepper,
  who: "gateway",
  bucket: BUCKET,
  record,
});

Deno.test("pepperFingerprint() is an HMAC of a fixed label: stable, pepper-specific, not the pepper", async () => {
  const a = await pepperFingerprint("pepper-one");
  assert.equal(a, await pepperFingerprint("pepper-one"));
  assert.notEqual(a, await pepperFingerprint("pepper-two"));
  assert.match(a!, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(await pepperFingerprint(""), null);
});

Deno.test("checkPepper() records the first pepper, then matches it and names the side that differs", async () => {
  await using f = await authFixture();
  assert.equal(await checkPepper(f.kv, opts("pep-A", false)), "unrecorded");
  assert.equal(await checkPepper(f.kv, opts("pep-A")), "recorded");
  const raw = (await f.kv.get(PEPPER_FINGERPRINT_KV_KEY))!.string();
  assert.ok(!raw.includes("pep-A"), "the pepper itself is never stored");
  assert.equal(await checkPepper(f.kv, opts("pep-A")), "matched");
  assert.equal(await checkPepper(f.kv, opts("pep-A", false)), "matched");

  // Once a key exists, a different pepper is refused, never silently re-recorded.
  await new ApiKeyStore(f.kv, { pepper: "pep-A", iterations: 1000 }).create({ tenantId: "t" });
  await assert.rejects(
    () => checkPepper(f.kv, opts("pep-B")),
    (err: unknown) =>
      err instanceof PepperMismatchError && err.mismatch === "differs" &&
      err.message.includes("this gateway's PYOCO_AUTH_PEPPER differs from the one") &&
      err.message.includes(BUCKET) && !err.message.includes("pep-"),
  );
  await assert.rejects(
    () => checkPepper(f.kv, { ...opts(""), who: "admin CLI" }),
    (err: unknown) =>
      err instanceof PepperMismatchError && err.mismatch === "empty_here" &&
      /this admin CLI's PYOCO_AUTH_PEPPER is empty while the API keys .* were made with a pepper/
        .test(err.message),
  );
  assert.equal(await checkPepper(f.kv, opts("pep-A")), "matched", "the record is unchanged");
});

Deno.test("checkPepper() refuses a pepper when the keys were made without one", async () => {
  await using f = await authFixture();
  assert.equal(await checkPepper(f.kv, opts("")), "recorded");
  assert.equal(await checkPepper(f.kv, opts("")), "matched");
  await new ApiKeyStore(f.kv, { iterations: 1000 }).create({ tenantId: "t" });
  await assert.rejects(
    () => checkPepper(f.kv, opts("pep-late")),
    (err: unknown) =>
      err instanceof PepperMismatchError && err.mismatch === "empty_there" &&
      /PYOCO_AUTH_PEPPER is set while the API keys .* were made without one/.test(err.message),
  );
});

Deno.test("checkPepper() never replaces a recorded pepper; recordPepper() does, on purpose", async () => {
  await using f = await authFixture();
  assert.equal(await checkPepper(f.kv, opts("")), "recorded");
  // Even with no key yet: a running gateway with the recorded pepper must not be undercut.
  await assert.rejects(() => checkPepper(f.kv, opts("pep-fixed")), PepperMismatchError);
  await recordPepper(f.kv, "pep-fixed");
  assert.equal(await checkPepper(f.kv, opts("pep-fixed", false)), "matched");
  await assert.rejects(() => checkPepper(f.kv, opts("", false)), PepperMismatchError);
});

Deno.test("checkPepper(): two first starters with different peppers cannot both record", async () => {
  await using f = await authFixture();
  const other = await f.other();
  await new ApiKeyStore(f.kv, { iterations: 1000 }).create({ tenantId: "t" });
  const results = await Promise.allSettled([
    checkPepper(f.kv, opts("pep-1")),
    checkPepper(other.kv, opts("pep-2")),
  ]);
  const recorded = results.filter((r) => r.status === "fulfilled");
  const refused = results.filter((r) =>
    r.status === "rejected" && r.reason instanceof PepperMismatchError
  );
  assert.equal(recorded.length, 1, JSON.stringify(results));
  assert.equal(refused.length, 1, JSON.stringify(results));
});

// ---- The admin CLI and the gateway, as real processes ----

const admin = runAdmin;

Deno.test("pyoco-admin api-key create refuses a pepper that differs from the keys'; list and revoke warn", async () => {
  await using srv = await startNatsServer();
  const withPepper = { PYOCO_NATS_URL: srv.url, PYOCO_AUTH_PEPPER: "admin-pepper-1" };
  const first = await admin(["api-key", "create", "--tenant", "acme", "--json"], withPepper);
  assert.equal(first.code, 0, first.stderr);
  const keyId = JSON.parse(first.stdout).key_id;

  const noPepper = { PYOCO_NATS_URL: srv.url };
  const refused = await admin(["api-key", "create", "--tenant", "acme"], noPepper);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /WARNING: PYOCO_AUTH_PEPPER is empty/);
  assert.match(
    refused.stderr,
    /this admin CLI's PYOCO_AUTH_PEPPER is empty while the API keys in KV bucket pyoco_auth were made with a pepper/,
  );

  const other = { PYOCO_NATS_URL: srv.url, PYOCO_AUTH_PEPPER: "admin-pepper-2" };
  const differs = await admin(["api-key", "create", "--tenant", "acme"], other);
  assert.equal(differs.code, 1);
  assert.match(differs.stderr, /this admin CLI's PYOCO_AUTH_PEPPER differs from the one/);
  assert.ok(!differs.stderr.includes("admin-pepper"), "no pepper in the message");

  const listed = await admin(["api-key", "list", "--json"], other);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stderr, /WARNING: this admin CLI's PYOCO_AUTH_PEPPER differs/);
  assert.equal(JSON.parse(listed.stdout).length, 1, "only the first key was made");

  const revoked = await admin(["api-key", "revoke", "--key-id", keyId], noPepper);
  assert.equal(revoked.code, 0, "revocation always works: " + revoked.stderr);

  // Changing the pepper on purpose: pepper-reset, refused while active keys exist.
  const second = await admin(["api-key", "create", "--tenant", "acme", "--json"], withPepper);
  assert.equal(second.code, 0, second.stderr);
  const busy = await admin(["api-key", "pepper-reset"], other);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /1 active API key\(s\) were made with the recorded pepper/);
  const forced = await admin(["api-key", "pepper-reset", "--force"], other);
  assert.equal(forced.code, 0, forced.stderr);
  const after = await admin(["api-key", "create", "--tenant", "acme"], other);
  assert.equal(after.code, 0, after.stderr);
  const old = await admin(["api-key", "create", "--tenant", "acme"], withPepper);
  assert.equal(old.code, 1, "the old pepper is now the one that differs");
});

Deno.test("a gateway in api_key mode refuses to start with another pepper, and warns without one", async () => {
  await using srv = await startNatsServer();
  const made = await admin(["api-key", "create", "--tenant", "acme", "--json"], {
    PYOCO_NATS_URL: srv.url,
    PYOCO_AUTH_PEPPER: "gateway-test-pepper",
  });
  assert.equal(made.code, 0, made.stderr);

  await using wrong = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: "not-the-pepper" },
    waitReady: false,
  });
  const code = await poll(() => wrong.exitCode() ?? undefined, {
    timeoutMs: 20_000,
    message: "the gateway with the wrong pepper to exit",
  });
  assert.equal(code, 1, wrong.logs());
  assert.match(wrong.logs(), /this gateway's PYOCO_AUTH_PEPPER differs from the one the API keys/);
  assert.ok(!wrong.logs().includes("not-the-pepper") && !wrong.logs().includes("gateway-test"));

  await using empty = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_LOG_FORMAT: "text" },
    waitReady: false,
  });
  assert.equal(
    await poll(() => empty.exitCode() ?? undefined, { timeoutMs: 20_000, message: "exit" }),
    1,
  );
  assert.match(empty.logs(), /WARNING.*api_key without PYOCO_AUTH_PEPPER: anyone who can write/);
  assert.match(empty.logs(), /this gateway's PYOCO_AUTH_PEPPER is empty while the API keys/);

  // The right pepper starts and serves the key.
  await using right = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: "gateway-test-pepper" },
  });
  const apiKey = JSON.parse(made.stdout).api_key;
  const status = await poll(async () => {
    const res = await fetch(`${right.url}/runs`, { headers: { "X-API-Key": apiKey } });
    await res.body?.cancel();
    return res.status === 200 ? res.status : undefined;
  }, { timeoutMs: 20_000, message: "the gateway to accept the key" });
  assert.equal(status, 200);
  assert.equal(right.exitCode(), null);
});

Deno.test("a gateway in api_key mode records its pepper in a fresh bucket", async () => {
  await using srv = await startNatsServer();
  await using gw = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: "first-gateway-pepper" },
  });
  const nc = await connect({ servers: srv.url });
  try {
    const stored = await poll(async () => {
      const kv = await new Kvm(nc).open("pyoco_auth").catch(() => null);
      return (await kv?.get(PEPPER_FINGERPRINT_KV_KEY))?.json<Record<string, unknown>>() ??
        undefined;
    }, { timeoutMs: 20_000, message: "the fingerprint to be recorded" });
    assert.equal(stored.pepper_set, true);
    assert.equal(stored.hmac_sha256_b64, await pepperFingerprint("first-gateway-pepper"));
  } finally {
    await nc.close();
  }
  const made = await admin(["api-key", "create", "--tenant", "t"], { PYOCO_NATS_URL: srv.url });
  assert.equal(made.code, 1, "an admin without the gateway's pepper cannot make keys");
  assert.ok(gw.logs().length > 0);
});
