import assert from "node:assert/strict";
import type { RunSnapshot, TaskRecord } from "../../src/contract/wire.ts";
import { compactSnapshot, jsonBytes } from "../../src/worker/compact.ts";
import { parseJob } from "../../src/worker/job.ts";
import { pendingSnapshotFromJob } from "../../src/worker/snapshot.ts";

function record(output: unknown, inputs: unknown = null): TaskRecord {
  return {
    state: "SUCCEEDED",
    started_at: 1,
    ended_at: 2,
    duration_ms: 1000,
    attempts: 1,
    error: null,
    traceback: null,
    inputs: inputs as TaskRecord["inputs"],
    output: output as TaskRecord["output"],
    artifacts: {},
  };
}

function snapshot(records: Record<string, TaskRecord>): RunSnapshot {
  const tasks: RunSnapshot["tasks"] = {};
  for (const name of Object.keys(records)) tasks[name] = "SUCCEEDED";
  return {
    run_id: "r1",
    flow_name: "f",
    status: "COMPLETED",
    params: { a: 1 },
    tasks,
    heartbeat_at: 1,
    updated_at: 1,
    task_records: records,
    task_records_truncated: false,
    outputs: {},
  };
}

Deno.test("compactSnapshot() leaves a small snapshot untouched", () => {
  const s = snapshot({ a: record({ ok: true }) });
  const r = compactSnapshot(s, 4096);
  assert.equal(r.truncated, false);
  assert.equal(r.snapshot, s);
  assert.equal(r.snapshot.task_records_truncated, false);
  assert.equal(r.bytes, jsonBytes(s));
});

Deno.test("compactSnapshot() replaces the largest outputs and inputs first", () => {
  const s = snapshot({
    small: record({ v: 1 }, { w: 2 }),
    big_out: record("o".repeat(20_000)),
    big_in: record(1, "i".repeat(8_000)),
    medium: record("m".repeat(1_000)),
  });
  s.outputs = { medium: "m".repeat(1_000) };
  const before = JSON.stringify(s);
  const r = compactSnapshot(s, 8_000);
  assert.equal(JSON.stringify(s), before, "the input is not modified");
  assert.ok(r.truncated);
  assert.ok(r.bytes <= 8_000, `compacted to ${r.bytes} bytes`);
  assert.equal(r.bytes, jsonBytes(r.snapshot));
  assert.equal(r.snapshot.task_records_truncated, true);
  const recs = r.snapshot.task_records!;
  assert.deepEqual(Object.keys(recs).sort(), ["big_in", "big_out", "medium", "small"]);
  assert.match(String(recs.big_out!.output), /^<truncated: 20002 bytes>$/);
  assert.match(String(recs.big_in!.inputs), /^<truncated: 8002 bytes>$/);
  // Smaller values survive when the large ones were enough.
  assert.deepEqual(recs.small!.output, { v: 1 });
  assert.equal(recs.medium!.output, "m".repeat(1_000));
  assert.deepEqual(r.snapshot.tasks, s.tasks);
});

Deno.test("compactSnapshot() drops whole records when shrinking values is not enough", () => {
  const records: Record<string, TaskRecord> = {};
  for (let i = 0; i < 200; i++) records[`t${i}`] = record(i, i);
  const s = snapshot(records);
  const r = compactSnapshot(s, 4096);
  assert.ok(r.truncated);
  assert.ok(r.bytes <= 4096, `compacted to ${r.bytes} bytes`);
  const kept = Object.keys(r.snapshot.task_records!);
  assert.ok(kept.length > 0 && kept.length < 200, `kept ${kept.length} records`);
  assert.equal(Object.keys(r.snapshot.tasks).length, 200, "tasks always stays");
  assert.equal(r.snapshot.task_records_truncated, true);
});

Deno.test("compactSnapshot() shrinks huge sink outputs too", () => {
  const s = snapshot({ a: record("x".repeat(50_000)) });
  s.outputs = { a: "x".repeat(50_000) };
  const r = compactSnapshot(s, 4096);
  assert.ok(r.bytes <= 4096);
  assert.match(String(r.snapshot.outputs!.a), /^<truncated: 50002 bytes>$/);
});

Deno.test("parseJob() fills defaults from the subject tag", () => {
  const p = parseJob(new TextEncoder().encode(`{"run_id":"r1","flow_name":"hello"}`), "gpu");
  assert.ok(p.ok);
  assert.equal(p.job.tag, "gpu");
  assert.deepEqual(p.job.tags, ["gpu"]);
  assert.deepEqual(p.job.params, {});
});

Deno.test("parseJob() rejects non-JSON, missing and invalid fields", () => {
  const enc = (v: string) => new TextEncoder().encode(v);
  const notJson = parseJob(enc("{nope"), "default");
  assert.ok(!notJson.ok);
  assert.match(notJson.error, /not JSON/);
  assert.equal(notJson.payload, "{nope");
  assert.equal(notJson.runId, null);

  const noFlow = parseJob(enc(`{"run_id":"r2"}`), "default");
  assert.ok(!noFlow.ok);
  assert.match(noFlow.error, /"flow_name" is missing/);
  assert.equal(noFlow.runId, "r2");

  const badParams = parseJob(enc(`{"run_id":"r3","flow_name":"f","params":[1]}`), "default");
  assert.ok(!badParams.ok);
  assert.match(badParams.error, /"params" must be an object/);

  const badRunId = parseJob(enc(`{"run_id":"a b","flow_name":"f"}`), "default");
  assert.ok(!badRunId.ok);
  assert.equal(badRunId.runId, null);

  const badTag = parseJob(enc(`{"run_id":"r4","flow_name":"f","tag":"a.b"}`), "default");
  assert.ok(!badTag.ok);
  assert.match(badTag.error, /"tag"/);
});

Deno.test("pendingSnapshotFromJob() keeps the gateway's fields the job carries", () => {
  const snapshot = pendingSnapshotFromJob({
    run_id: "r1",
    flow_name: "hello",
    tag: "default",
    tags: ["default"],
    params: {},
    submitted_at: 1,
    idempotency_claim: "_.abc",
    retry_of: "r0",
    priority: "high",
  });
  assert.equal(snapshot.idempotency_claim, "_.abc");
  assert.equal(snapshot.retry_of, "r0");
  assert.equal(snapshot.priority, "high");
});
