import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { pbkdf2Sync } from "node:crypto";
import {
  ApiKeyFormatError,
  createApiKeyRecord,
  generateApiKey,
  hashSecret,
  InvalidApiKeyRecordError,
  parseApiKey,
  parseApiKeyRecord,
  publicView,
  timingSafeEqual,
  validateApiKeyLabel,
  validateTenantId,
  verifySecret,
} from "../../src/auth/mod.ts";

const enc = new TextEncoder();

/** Independent PBKDF2 (OpenSSL through node:crypto), not our Web Crypto code. */
function nodePbkdf2(password: string, salt: Uint8Array, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
}

function b64AnyDecode(text: string): Buffer {
  return Buffer.from(text.replaceAll("-", "+").replaceAll("_", "/"), "base64");
}

Deno.test("generateApiKey() returns pyoco_<24 hex>.<43 base64url chars>", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const { keyId, secret, apiKey } = generateApiKey();
    assert.match(keyId, /^[0-9a-f]{24}$/);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(b64AnyDecode(secret).length, 32);
    assert.equal(apiKey, `pyoco_${keyId}.${secret}`);
    assert.deepEqual(parseApiKey(apiKey), { keyId, secret });
    seen.add(keyId);
  }
  assert.equal(seen.size, 20);
});

Deno.test("parseApiKey() rejects malformed keys with a typed error that hides the secret", () => {
  const secret = "S3cr3tS3cr3tS3cr3tS3cr3t";
  const cases: [string, string][] = [
    ["", "empty"],
    [`Bearer ${secret}`, "prefix"],
    [`pyoco_0123456789abcdef${secret}`, "separator"],
    [`pyoco_short.${secret}`, "key_id"],
    [`pyoco_0123456789ab*def.${secret}`, "key_id"],
    ["pyoco_0123456789abcdef01234567.tooShort", "secret"],
    [`pyoco_0123456789abcdef01234567.${secret}.extra`, "secret"],
    [`pyoco_0123456789abcdef01234567.${secret}=`, "secret"],
  ];
  for (const [text, problem] of cases) {
    assert.throws(
      () => parseApiKey(text),
      (err: unknown) => {
        assert.ok(err instanceof ApiKeyFormatError);
        assert.equal(err.problem, problem, text);
        assert.equal(err.name, "ApiKeyFormatError");
        assert.ok(!err.message.includes(secret));
        assert.match(err.message, /^Cannot parse API key: /);
        return true;
      },
    );
  }
  // pyoco-server's grammar: key id [A-Za-z0-9_-]{8,64}, secret [A-Za-z0-9_-]{16,256}.
  assert.deepEqual(parseApiKey(`pyoco_Ab_-1234.${secret}`), { keyId: "Ab_-1234", secret });
});

Deno.test("createApiKeyRecord() writes exactly pyoco-server's fields with 200000 iterations", async () => {
  const key = generateApiKey();
  const before = Date.now() / 1000;
  const record = await createApiKeyRecord({ ...key, tenantId: "acme", pepper: "pep" });
  const after = Date.now() / 1000;
  assert.deepEqual(Object.keys(record), [
    "key_id",
    "tenant_id",
    "kdf",
    "iterations",
    "salt_b64",
    "hash_b64",
    "created_at",
    "revoked_at",
  ]);
  assert.equal(record.key_id, key.keyId);
  assert.equal(record.tenant_id, "acme");
  assert.equal(record.kdf, "pbkdf2_hmac_sha256");
  assert.equal(record.iterations, 200000);
  assert.equal(record.revoked_at, null);
  assert.ok(record.created_at >= before && record.created_at <= after);
  assert.match(record.salt_b64, /^[A-Za-z0-9_-]{22}$/); // 16 bytes, url-safe, no padding
  assert.match(record.hash_b64, /^[A-Za-z0-9_-]{43}$/); // 32 bytes
  assert.ok(!JSON.stringify(record).includes(key.secret));

  // An independent PBKDF2 gives the same bytes.
  const salt = b64AnyDecode(record.salt_b64);
  assert.equal(salt.length, 16);
  const expected = nodePbkdf2(key.secret + "pep", salt, 200000);
  assert.deepEqual(b64AnyDecode(record.hash_b64), expected);

  assert.equal(await verifySecret(record, key.secret, { pepper: "pep" }), true);
  assert.equal(await verifySecret(record, key.secret, { pepper: "pe" }), false);
  assert.equal(await verifySecret(record, key.secret), false);
  assert.equal(await verifySecret(record, generateApiKey().secret, { pepper: "pep" }), false);

  const labelled = await createApiKeyRecord({
    ...key,
    tenantId: "acme",
    label: "ci",
    iterations: 1000,
  });
  assert.equal(labelled.label, "ci");
  assert.deepEqual(Object.keys(labelled).at(-1), "label");
});

Deno.test("hashSecret() matches Python hashlib.pbkdf2_hmac for a fixed vector", async () => {
  // python3 -c "import hashlib,base64;print(base64.b64encode(hashlib.pbkdf2_hmac('sha256',
  //   b'secretpepper', b'salt', 200000, 32)).decode())"
  const pythonStd = "pGKvtjoeOetbwDO7bK/vLMSuOc5fgESA6tF1JUdyWMY=";
  const salt = enc.encode("salt");
  const h = await hashSecret("secret", { pepper: "pepper", saltBytes: salt, iterations: 200000 });
  assert.equal(h.kdf, "pbkdf2_hmac_sha256");
  assert.equal(h.iterations, 200000);
  assert.equal(h.salt_b64, "c2FsdA");
  // Written like pyoco-server: url-safe alphabet, no padding.
  assert.equal(h.hash_b64, "pGKvtjoeOetbwDO7bK_vLMSuOc5fgESA6tF1JUdyWMY");
  assert.deepEqual(b64AnyDecode(h.hash_b64), Buffer.from(pythonStd, "base64"));
  assert.deepEqual(b64AnyDecode(h.hash_b64), nodePbkdf2("secretpepper", salt, 200000));
});

Deno.test("verifySecret() accepts a record written by pyoco-server's Python code", async () => {
  // Produced with pyoco_server/auth.py's algorithm (secret = b64url(bytes(range(32))),
  // salt = fb ff 3e * 5 + 01, pepper "pepper-1") and its to_json_bytes() layout.
  const json =
    '{"key_id":"0123456789abcdef01234567","tenant_id":"acme","kdf":"pbkdf2_hmac_sha256",' +
    '"iterations":200000,"salt_b64":"-_8--_8--_8--_8--_8-AQ",' +
    '"hash_b64":"2smWSPbDSwZHT3U4MboT0SW69_TFBodXgvwHh-SWizQ","created_at":1700000000.25,' +
    '"revoked_at":null}';
  const apiKey = "pyoco_0123456789abcdef01234567.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  const { keyId, secret } = parseApiKey(apiKey);
  const record = parseApiKeyRecord(JSON.parse(json));
  assert.equal(record.key_id, keyId);
  assert.equal(record.created_at, 1700000000.25);
  assert.equal(await verifySecret(record, secret, { pepper: "pepper-1" }), true);
  assert.equal(await verifySecret(record, secret, { pepper: "pepper-2" }), false);

  // The same record in standard base64 with padding verifies too.
  const std = {
    ...record,
    salt_b64: b64AnyDecode(record.salt_b64).toString("base64"),
    hash_b64: b64AnyDecode(record.hash_b64).toString("base64"),
  };
  assert.ok(std.salt_b64.endsWith("=") && std.hash_b64.includes("/"));
  assert.equal(await verifySecret(parseApiKeyRecord(std), secret, { pepper: "pepper-1" }), true);

  // Our own record reproduces pyoco-server's bytes for the same inputs.
  const ours = await createApiKeyRecord({
    keyId,
    secret,
    tenantId: "acme",
    pepper: "pepper-1",
    saltBytes: b64AnyDecode(record.salt_b64),
    now: 1700000000.25,
  });
  assert.equal(JSON.stringify(ours), json);
});

Deno.test("parseApiKeyRecord() rejects invalid records and fills pyoco-server defaults", () => {
  const good = {
    key_id: "0123456789abcdef01234567",
    tenant_id: "acme",
    kdf: "pbkdf2_hmac_sha256",
    iterations: 1000,
    salt_b64: "c2FsdA",
    hash_b64: "pGKvtjoeOetbwDO7bK_vLMSuOc5fgESA6tF1JUdyWMY",
    created_at: 1,
    revoked_at: null,
  };
  assert.deepEqual(parseApiKeyRecord(good), good);
  const bad: [Record<string, unknown>, string][] = [
    [{ ...good, key_id: "a.b" }, "key_id"],
    [{ ...good, tenant_id: "" }, "tenant_id"],
    [{ ...good, kdf: "argon2id" }, "kdf"],
    [{ ...good, iterations: 0 }, "iterations"],
    [{ ...good, iterations: 1.5 }, "iterations"],
    [{ ...good, iterations: 1e9 }, "iterations"],
    [{ ...good, salt_b64: "" }, "salt_b64"],
    [{ ...good, salt_b64: "!!" }, "salt_b64"],
    [{ ...good, hash_b64: "c2FsdA" }, "hash_b64"],
    [{ ...good, revoked_at: "now" }, "revoked_at"],
    [{ ...good, label: "a\u0000" }, "label"],
  ];
  for (const [value, field] of bad) {
    assert.throws(() => parseApiKeyRecord(value), (err: unknown) => {
      assert.ok(err instanceof InvalidApiKeyRecordError);
      assert.equal(err.field, field);
      return true;
    });
  }
  assert.throws(() => parseApiKeyRecord([]), InvalidApiKeyRecordError);
  const { kdf: _k, iterations: _i, created_at: _c, revoked_at: _r, ...minimal } = good;
  const filled = parseApiKeyRecord(minimal);
  assert.equal(filled.kdf, "pbkdf2_hmac_sha256");
  assert.equal(filled.iterations, 200000);
  assert.equal(filled.created_at, 0);
  assert.equal(filled.revoked_at, null);
});

Deno.test("validateTenantId() and validateApiKeyLabel() enforce their rules", () => {
  for (const ok of ["acme", "A-b_9", "x".repeat(64)]) assert.equal(validateTenantId(ok), ok);
  for (const bad of ["", "acme.corp", "a b", "a*", "a>", "x".repeat(65)]) {
    assert.throws(() => validateTenantId(bad), { name: "InvalidTenantIdError" });
  }
  assert.equal(validateApiKeyLabel("deploy bot ✓"), "deploy bot ✓");
  for (const bad of ["", "a\tb", "a\u007f", "x".repeat(129)]) {
    assert.throws(() => validateApiKeyLabel(bad), { name: "InvalidApiKeyLabelError" });
  }
});

Deno.test("hashSecret() validates its options", async () => {
  await assert.rejects(() => hashSecret(""), { name: "InvalidAuthOptionError" });
  await assert.rejects(() => hashSecret("s", { iterations: 0 }), {
    name: "InvalidAuthOptionError",
  });
  await assert.rejects(
    () => hashSecret("s", { saltBytes: new Uint8Array(0) }),
    { name: "InvalidAuthOptionError" },
  );
});

Deno.test("timingSafeEqual() compares content and length", () => {
  const a = new Uint8Array([1, 2, 3]);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2, 3])), true);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2, 4])), false);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2])), false);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2, 3, 0])), false);
  assert.equal(timingSafeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});

Deno.test("publicView() drops salt and hash", async () => {
  const key = generateApiKey();
  const record = await createApiKeyRecord({
    ...key,
    tenantId: "acme",
    label: "ops",
    iterations: 1000,
  });
  const view = publicView(record);
  assert.deepEqual(view, {
    key_id: key.keyId,
    tenant_id: "acme",
    label: "ops",
    kdf: "pbkdf2_hmac_sha256",
    iterations: 1000,
    created_at: record.created_at,
    revoked_at: null,
    revoked: false,
  });
  assert.ok(!("salt_b64" in view) && !("hash_b64" in view));
});
