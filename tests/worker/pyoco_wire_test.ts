/**
 * The worker's bytes where pyoco-server 0.4 is followed exactly (SPEC §16): the error texts of
 * a `flow_not_found` and an `execution_error` snapshot, and the dead-letter fields (top-level
 * `tenant_id`/`api_key_id`, the raw `payload` and `error: "invalid_json"` of an invalid job).
 */

import assert from "node:assert/strict";
import { DLQ_PAYLOAD_MAX_CHARS } from "../../src/worker/dead_letter.ts";
import { PyocoWorker } from "../../src/worker/worker.ts";
import { failing, quick } from "../fixtures/flows.ts";
import { registryOf, setupWorkerTest, type WorkerTestEnv } from "./_setup.ts";

function newWorker(t: WorkerTestEnv) {
  return new PyocoWorker({
    config: t.config,
    registry: registryOf([quick, failing]),
    tags: ["default"],
    workerId: "w-wire",
    logger: t.logger,
  });
}

Deno.test("flow_not_found: the snapshot error and the dead letter start with `flow_not_found: `", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("no_such_flow", {}, { tenant_id: "acme", api_key_id: "key-1" });
  assert.equal((await worker.runOnce())?.outcome, "flow_not_found");
  const snap = await t.snapshot(job.run_id);
  assert.equal(
    snap?.error,
    'flow_not_found: Cannot run flow "no_such_flow": it is not registered on worker w-wire',
  );
  const [dl] = await t.deadLetters();
  assert.equal(dl!.error, snap!.error);
  assert.equal(dl!.tenant_id, "acme");
  assert.equal(dl!.api_key_id, "key-1");
  assert.equal(dl!.payload, undefined, "only invalid_job entries carry payload");
});

Deno.test("execution_error: the error starts with the task's own message, our detail after it", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const job = await t.submit("failing");
  assert.equal((await worker.runOnce())?.outcome, "failed");
  const expected = "boom: the task failed on purpose (task boom failed after 1 attempt)";
  const snap = await t.snapshot(job.run_id);
  assert.equal(snap?.error, expected);
  assert.ok(snap!.error!.startsWith(snap!.task_records!.boom!.error!));
  const [dl] = await t.deadLetters();
  assert.equal(dl!.reason, "execution_error");
  assert.equal(dl!.error, expected);
  assert.equal(dl!.tenant_id, null, "null when unknown");
  assert.equal(dl!.api_key_id, null);
  const failed = (await t.events(job.run_id)).find((e) => e.type === "run.failed");
  assert.equal((failed as { error?: string } | undefined)?.error, expected);
});

Deno.test("invalid_job: error `invalid_json` and the raw payload (first 4096 characters) for a non-JSON body", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  const raw = `not json ${"x".repeat(5000)}`;
  await t.publishRaw(raw);
  assert.equal((await worker.runOnce())?.outcome, "invalid_job");
  const body = { run_id: crypto.randomUUID(), tenant_id: "acme", api_key_id: "key-2" };
  await t.publishRaw(JSON.stringify(body));
  assert.equal((await worker.runOnce())?.outcome, "invalid_job");

  const [notJson, noFlow] = await t.deadLetters();
  assert.equal(notJson!.reason, "invalid_job");
  assert.equal(notJson!.error, "invalid_json");
  assert.equal(DLQ_PAYLOAD_MAX_CHARS, 4096);
  assert.equal(notJson!.payload, raw.slice(0, 4096));
  assert.equal(notJson!.tenant_id, null);
  assert.equal(notJson!.api_key_id, null);
  assert.equal(notJson!.job, raw, "our job field stays");

  assert.equal(noFlow!.reason, "invalid_job");
  assert.equal(noFlow!.error, 'Invalid job: "flow_name" is missing');
  assert.equal(noFlow!.payload, JSON.stringify(body));
  assert.equal(noFlow!.tenant_id, "acme");
  assert.equal(noFlow!.api_key_id, "key-2");
  assert.deepEqual(noFlow!.job, body);
});

/** A record pyoco-server 0.4 writes (tests/fixtures/pyoco_server_0_4/). */
async function fixture(name: string): Promise<Record<string, unknown>> {
  const url = new URL(`../fixtures/pyoco_server_0_4/${name}`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

/** Every field of pyoco-server's record is in ours, with the same JSON type. */
function assertSameFields(ours: Record<string, unknown>, theirs: Record<string, unknown>) {
  const kind = (v: unknown) => v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  for (const [key, value] of Object.entries(theirs)) {
    assert.ok(key in ours, `field ${key} is missing`);
    assert.equal(kind(ours[key]), kind(value), `field ${key}: ${JSON.stringify(ours[key])}`);
  }
}

Deno.test("dead letters read raw from NATS have every field of pyoco-server 0.4's, same types", async () => {
  await using t = await setupWorkerTest();
  await using worker = newWorker(t);
  await worker.connect();
  await t.publishRaw("{not json");
  assert.equal((await worker.runOnce())?.outcome, "invalid_job");
  const job = await t.submit("failing", {}, { tenant_id: "acme", api_key_id: "k1" });
  assert.equal((await worker.runOnce())?.outcome, "failed");

  const [invalid, failed] = await t.deadLetters() as unknown as Record<string, unknown>[];
  const theirsInvalid = await fixture("dlq_invalid_job.json");
  assertSameFields(invalid!, theirsInvalid);
  for (const key of ["reason", "error", "subject", "num_delivered", "payload"]) {
    assert.deepEqual(invalid![key], theirsInvalid[key], key);
  }
  const theirsFailed = await fixture("dlq_execution_error.json");
  assertSameFields(failed!, theirsFailed);
  for (const key of ["reason", "tag", "tags", "tenant_id", "api_key_id"]) {
    assert.deepEqual(failed![key], theirsFailed[key], key);
  }
  assert.equal(failed!.run_id, job.run_id);
  assert.ok(String(failed!.error).startsWith("boom"), "the task's own message first");
});
