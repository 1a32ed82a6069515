import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import type { Job, RunSnapshot } from "../../src/contract/wire.ts";
import { Logger } from "../../src/log.ts";
import { SUBMISSION_INTERRUPTED, Sweeper } from "../../src/runs/sweeper.ts";
import { gatewayFixture, postJson, snapshot } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

const quiet = new Logger({ service: "pyoco-server:http", level: "ERROR", write: () => {} });
type Gw = Awaited<ReturnType<typeof gatewayFixture>>;

function sweeper(gw: Gw, holder: string, now: () => number, config = {}) {
  return new Sweeper({
    backend: gw.backend,
    config: { ...gw.config, ...config },
    logger: quiet,
    holder,
    now,
  });
}

async function workJobs(gw: Gw): Promise<Job[]> {
  const info = await gw.reader.jsm.streams.info(gw.config.workStream);
  const jobs: Job[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await gw.reader.jsm.streams.getMessage(gw.config.workStream, { seq }).catch(() =>
      null
    );
    if (m) jobs.push(m.json<Job>());
  }
  return jobs;
}

Deno.test("the sweeper deletes finished runs past PYOCO_RUNS_RETENTION_SEC and nothing else", async () => {
  await using gw = await gatewayFixture();
  const t = Date.now() / 1000;
  const put = (id: string, f: Partial<RunSnapshot>) =>
    gw.reader.runs.put(id, JSON.stringify(snapshot(id, f)));
  await put("old-done", { status: "COMPLETED", end_time: t - 500, updated_at: t - 500 });
  await put("old-failed", { status: "FAILED", end_time: t - 400, updated_at: t - 400 });
  await put("ended-later", { status: "COMPLETED", end_time: t + 200, updated_at: t + 200 });
  await put("old-running", { status: "RUNNING", updated_at: t - 500 });
  await put("old-pending", { status: "PENDING", updated_at: t - 500 });
  await poll(() => gw.backend.index.size === 5, { message: "the index to load 5 runs" });
  // A clock 1000 s ahead and a cutoff at t + 100: every KV message is older than the cutoff, so
  // end_time decides (ended-later claims an end after the cutoff).
  const s = sweeper(gw, "a", () => t + 1000, { runsRetentionSec: 900, orphanAfterSec: 1e6 });
  const report = await s.sweepOnce();
  assert.deepEqual(report, { held: true, expired: 2, republished: 0, interrupted: 0 });
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  assert.deepEqual(keys.sort(), ["ended-later", "old-pending", "old-running"]);
  await poll(() => gw.backend.index.size === 3, { message: "the index to drop the deleted runs" });
  // Retention 0 keeps everything.
  const keep = sweeper(gw, "a", () => t + 1e7, { runsRetentionSec: 0, orphanAfterSec: 1e9 });
  assert.equal((await keep.sweepOnce()).expired, 0);
  await s.stop();
});

Deno.test("one sweeper at a time: the lease passes on when its holder stops or lapses", async () => {
  await using gw = await gatewayFixture();
  let now = Date.now() / 1000;
  const a = sweeper(gw, "a", () => now, { sweepIntervalSec: 10 });
  const b = sweeper(gw, "b", () => now, { sweepIntervalSec: 10 });
  assert.equal((await a.sweepOnce()).held, true);
  assert.equal((await b.sweepOnce()).held, false);
  assert.equal((await a.sweepOnce()).held, true, "the holder renews");
  now += 21; // past 2 x the interval without a renewal: lapsed
  assert.equal((await b.sweepOnce()).held, true);
  assert.equal((await a.sweepOnce()).held, false);
  await b.stop(); // gives the lease up
  assert.equal((await a.sweepOnce()).held, true);
  await a.stop();
});

Deno.test("orphans: a PENDING run without a job is re-published once; a YAML one is FAILED", async () => {
  await using gw = await gatewayFixture();
  const t = Date.now() / 1000;
  // A run submitted normally has its job: never touched.
  const { run_id: queued } = await (await gw.request("/runs", postJson({ flow_name: "hello" })))
    .json();
  // Gateways that died between the KV create and the publish.
  await gw.reader.runs.put(
    "orphan",
    JSON.stringify(snapshot("orphan", { params: { x: 1 }, tag: "gpu", tags: ["gpu", "big"] })),
  );
  await gw.reader.runs.put(
    "orphan-yaml",
    JSON.stringify(snapshot("orphan-yaml", { workflow_yaml_sha256: "ab", workflow_yaml_bytes: 2 })),
  );
  await poll(() => gw.backend.index.size === 3, { message: "the index to load 3 runs" });
  const s = sweeper(gw, "a", () => t + 60, { orphanAfterSec: 30, runsRetentionSec: 0 });
  const report = await s.sweepOnce();
  assert.deepEqual(report, { held: true, expired: 0, republished: 1, interrupted: 1 });

  const jobs = await workJobs(gw);
  assert.deepEqual(jobs.map((j) => j.run_id).sort(), [queued, "orphan"].sort());
  const job = jobs.find((j) => j.run_id === "orphan")!;
  assert.equal(job.tag, "gpu");
  assert.deepEqual(job.tags, ["gpu", "big"]);
  assert.deepEqual(job.params, { x: 1 });
  assert.equal(job.pending_revision, (await gw.reader.runs.get("orphan"))!.revision);
  const yaml = (await gw.reader.runs.get("orphan-yaml"))!.json<RunSnapshot>();
  assert.equal(yaml.status, "FAILED");
  assert.equal(yaml.error, SUBMISSION_INTERRUPTED);

  // The job is in the stream now: the next pass leaves it alone.
  assert.deepEqual(await s.sweepOnce(), { held: true, expired: 0, republished: 0, interrupted: 0 });
  assert.equal((await workJobs(gw)).length, 2);
  // Not old enough: not an orphan yet.
  await gw.reader.runs.put("fresh", JSON.stringify(snapshot("fresh", { updated_at: t })));
  await poll(() => gw.backend.index.get("fresh") !== undefined, { message: "the index" });
  const young = sweeper(gw, "a", () => t + 10, { orphanAfterSec: 30, runsRetentionSec: 0 });
  assert.equal((await young.sweepOnce()).republished, 0);
  await s.stop();
  const leases = await new Kvm(gw.reader.nc).open(gw.config.leasesKvBucket);
  assert.equal(await leases.get("sweeper").then((e) => e?.operation ?? null), "DEL");
});

Deno.test("the retention walk removes old delete markers so they cannot pile up at the front", async () => {
  await using gw = await gatewayFixture();
  const t = Date.now() / 1000;
  for (let i = 0; i < 50; i++) {
    await gw.reader.runs.put(`gone-${i}`, JSON.stringify(snapshot(`gone-${i}`)));
    await gw.reader.runs.purge(`gone-${i}`); // leaves a purge marker
  }
  await gw.reader.runs.put(
    "old-done",
    JSON.stringify(snapshot("old-done", { status: "COMPLETED", end_time: t - 500 })),
  );
  const stream = `KV_${gw.config.runsKvBucket}`;
  assert.equal((await gw.reader.jsm.streams.info(stream)).state.messages, 51);
  await poll(() => gw.backend.index.get("old-done") !== undefined, { message: "the index" });
  const s = sweeper(gw, "a", () => t + 1000, { runsRetentionSec: 900, orphanAfterSec: 1e6 });
  assert.equal((await s.sweepOnce()).expired, 1);
  // The 50 markers are gone; only old-done's own purge marker is left.
  assert.equal((await gw.reader.jsm.streams.info(stream)).state.messages, 1);
  await s.stop();
});
