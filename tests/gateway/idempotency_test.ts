import assert from "node:assert/strict";
import { poll } from "../_helpers/poll.ts";
import { Kvm } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import type { Principal } from "../../src/gateway/auth.ts";
import { buildRun } from "../../src/runs/submit.ts";
import { claimKey, requestHash } from "../../src/runs/idempotency.ts";
import { gatewayFixture, postJson } from "./_fixture.ts";

async function workMessages(gw: Awaited<ReturnType<typeof gatewayFixture>>): Promise<number> {
  return (await gw.reader.jsm.streams.info(gw.config.workStream)).state.messages;
}

async function runKeys(gw: Awaited<ReturnType<typeof gatewayFixture>>): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  return keys;
}

const tenantAuth = () => (req: Request) => {
  const t = req.headers.get("x-tenant");
  return Promise.resolve<Principal | null>(t === null ? null : { tenantId: t, keyId: `k-${t}` });
};

Deno.test("Idempotency-Key: the same key answers the same run_id, one run, one job; another body is 409", async () => {
  await using gw = await gatewayFixture();
  const key = { "Idempotency-Key": "order-42" };
  const first = await gw.request(
    "/runs",
    postJson({ flow_name: "hello", params: { a: 1, b: 2 } }, key),
  );
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  const a = await first.json();
  // Same body, keys in another order: the same request.
  const second = await gw.request(
    "/runs",
    postJson({ params: { b: 2, a: 1 }, flow_name: "hello" }, key),
  );
  assert.equal(second.status, 200);
  assert.equal(second.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(await second.json(), { run_id: a.run_id, status: "PENDING" });
  assert.equal(await workMessages(gw), 1);
  assert.deepEqual(await runKeys(gw), [a.run_id]);

  // The answer carries the run's current status.
  await gw.request(`/runs/${a.run_id}/cancel`, { method: "POST" });
  const third =
    await (await gw.request("/runs", postJson({ flow_name: "hello", params: { a: 1, b: 2 } }, key)))
      .json();
  assert.deepEqual(third, { run_id: a.run_id, status: "CANCELLED" });

  const conflict = await gw.request(
    "/runs",
    postJson({ flow_name: "hello", params: { a: 9 } }, key),
  );
  assert.equal(conflict.status, 409);
  const body = await conflict.json();
  assert.equal(body.err_id, "ERR-PYOCO-0018");
  assert.equal(body.msg_id, "MSG-PYOCO-0018");
  // The cancel took the run's job out of the queue (issue 14 #3); the 409 queued nothing new.
  await poll(async () => (await workMessages(gw)) === 0, { message: "the cancelled job to go" });
  assert.equal(await workMessages(gw), 0);

  // Bad keys are 422; without a key every submit is a new run.
  for (const bad of ["", "has space", "x".repeat(256), "é"]) {
    const res = await gw.request(
      "/runs",
      postJson({ flow_name: "hello" }, { "Idempotency-Key": bad }),
    );
    assert.equal(res.status, 422, JSON.stringify(bad));
  }
  await gw.request("/runs", postJson({ flow_name: "hello" }));
  await gw.request("/runs", postJson({ flow_name: "hello" }));
  assert.equal(await workMessages(gw), 2, "two new jobs (the cancelled one left the queue)");
});

Deno.test("Idempotency-Key is per tenant and covers POST /runs/yaml", async () => {
  await using gw = await gatewayFixture({ authenticate: () => tenantAuth() });
  const as = (tenant: string) => ({ "Idempotency-Key": "same", "x-tenant": tenant });
  const a = await (await gw.request("/runs", postJson({ flow_name: "hello" }, as("acme")))).json();
  const b = await (await gw.request("/runs", postJson({ flow_name: "hello" }, as("other")))).json();
  assert.notEqual(a.run_id, b.run_id);

  const yaml = 'version: 1\nflow:\n  graph: a >> b\ntasks:\n  a: { callable: "pyoco:echo" }\n';
  const form = (text: string) => {
    const f = new FormData();
    f.append("workflow", new File([text], "flow.yaml"));
    f.append("flow_name", "yflow");
    return f;
  };
  const headers = { "Idempotency-Key": "yaml-1", "x-tenant": "acme" };
  const y1 = await (await gw.request("/runs/yaml", { method: "POST", body: form(yaml), headers }))
    .json();
  const y2 = await gw.request("/runs/yaml", { method: "POST", body: form(yaml), headers });
  assert.equal((await y2.json()).run_id, y1.run_id);
  const y3 = await gw.request("/runs/yaml", {
    method: "POST",
    body: form(yaml + "# changed\n"),
    headers,
  });
  assert.equal(y3.status, 409);
  assert.equal(await workMessages(gw), 3);
});

Deno.test("Idempotency-Key: 20 concurrent duplicate submits make one run and one job", async () => {
  await using gw = await gatewayFixture();
  const headers = { "Idempotency-Key": "burst" };
  const answers = await Promise.all(
    Array.from(
      { length: 20 },
      () => gw.request("/runs", postJson({ flow_name: "hello", params: { n: 1 } }, headers)),
    ),
  );
  const bodies = await Promise.all(answers.map((r) => r.json()));
  assert.deepEqual(answers.map((r) => r.status), Array(20).fill(200));
  assert.equal(new Set(bodies.map((b) => b.run_id)).size, 1);
  assert.equal(await workMessages(gw), 1);
  assert.deepEqual(await runKeys(gw), [bodies[0].run_id]);
  assert.equal(
    answers.filter((r) => r.headers.get("idempotent-replayed") === "true").length,
    19,
  );
});

Deno.test("Idempotency-Key: a crash between the KV writes and the publish is taken over exactly once", async () => {
  await using gw = await gatewayFixture();
  const request = { flow_name: "hello", params: { x: 1 }, tag: "default", tags: ["default"] };
  const idem = await new Kvm(gw.reader.nc).open(gw.config.idempotencyKvBucket);
  // The first attempt wrote its claim and the PENDING snapshot, then died before publishing.
  const runId = "crashed-run";
  const { snapshot } = buildRun(null, request, undefined, { runId });
  await gw.reader.runs.create(runId, JSON.stringify(snapshot));
  await idem.create(
    await claimKey(null, "crash-key"),
    JSON.stringify({
      run_id: runId,
      body_sha256: await requestHash(request),
      created_at: Date.now() / 1000 - 60,
      published: false,
    }),
  );
  assert.equal(await workMessages(gw), 0);
  const retries = await Promise.all(
    Array.from(
      { length: 5 },
      () =>
        gw.request(
          "/runs",
          postJson({ flow_name: "hello", params: { x: 1 } }, {
            "Idempotency-Key": "crash-key",
          }),
        ),
    ),
  );
  for (const r of retries) assert.deepEqual(await r.json(), { run_id: runId, status: "PENDING" });
  assert.equal(await workMessages(gw), 1, "published exactly once");
  const msg = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    last_by_subj: "pyoco.work.default",
  });
  assert.equal(msg!.header.get("Nats-Msg-Id"), runId);
  assert.equal(msg!.json<{ run_id: string }>().run_id, runId);
  const claim = (await idem.get(await claimKey(null, "crash-key")))!.json<{ published: boolean }>();
  assert.equal(claim.published, true);
  assert.equal((await gw.reader.runs.get(runId))!.json<RunSnapshot>().status, "PENDING");
  // Later retries do not publish again.
  await gw.request(
    "/runs",
    postJson({ flow_name: "hello", params: { x: 1 } }, {
      "Idempotency-Key": "crash-key",
    }),
  );
  assert.equal(await workMessages(gw), 1);

  // The crash before the snapshot was written: the take-over creates it.
  await idem.create(
    await claimKey(null, "early-crash"),
    JSON.stringify({
      run_id: "early-run",
      body_sha256: await requestHash(request),
      created_at: Date.now() / 1000 - 60,
      published: false,
    }),
  );
  const early = await (await gw.request(
    "/runs",
    postJson({ flow_name: "hello", params: { x: 1 } }, {
      "Idempotency-Key": "early-crash",
    }),
  )).json();
  assert.deepEqual(early, { run_id: "early-run", status: "PENDING" });
  assert.equal((await gw.reader.runs.get("early-run"))!.json<RunSnapshot>().status, "PENDING");
  assert.equal(await workMessages(gw), 2);
});

Deno.test("Idempotency-Key: a failed submit withdraws its claim so a retry starts over", async () => {
  await using gw = await gatewayFixture({ appConfig: { natsRetrySec: 0.3 } });
  await gw.reader.jsm.streams.delete(gw.config.workStream);
  const headers = { "Idempotency-Key": "retry-me" };
  const failed = await gw.request("/runs", postJson({ flow_name: "hello" }, headers));
  assert.equal(failed.status, 503);
  const idem = await new Kvm(gw.reader.nc).open(gw.config.idempotencyKvBucket);
  const entry = await idem.get(await claimKey(null, "retry-me"));
  assert.ok(entry === null || entry.operation !== "PUT", "the claim was withdrawn");
  assert.deepEqual(await runKeys(gw), []);
});
