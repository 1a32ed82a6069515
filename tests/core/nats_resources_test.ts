import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import { loadConfig } from "../../src/config.ts";
import { ensureConsumer, ensureResources } from "../../src/nats/resources.ts";
import { casUpdate, createJson, getJson, updateJson } from "../../src/nats/kv.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";

Deno.test("ensureResources() creates every SPEC §3 resource with its settings", async () => {
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url });
  try {
    await ensureResources(nc, config);
    const jsm = await jetstreamManager(nc);
    const work = await jsm.streams.info("PYOCO_WORK");
    assert.deepEqual(work.config.subjects, ["pyoco.work.>"]);
    assert.equal(work.config.retention, RetentionPolicy.Workqueue);
    assert.ok(work.config.duplicate_window >= nanos(120_000));
    const dlq = await jsm.streams.info("PYOCO_DLQ");
    assert.deepEqual(dlq.config.subjects, ["pyoco.dlq.>"]);
    assert.equal(dlq.config.retention, RetentionPolicy.Limits);
    assert.equal(dlq.config.max_msgs, 100000);
    assert.equal(dlq.config.max_bytes, 536870912);
    assert.equal(dlq.config.max_age, nanos(604800 * 1000));
    const events = await jsm.streams.info("PYOCO_EVENTS");
    assert.deepEqual(events.config.subjects, ["pyoco.events.>"]);
    const kvm = new Kvm(nc);
    const runs = await (await kvm.open("pyoco_runs")).status();
    assert.equal(runs.history, 1);
    const workers = await (await kvm.open("pyoco_workers")).status();
    assert.equal(workers.history, 1);
    assert.equal(workers.ttl, 15_000);
    await (await kvm.open("pyoco_auth")).status();

    const durable = await ensureConsumer(jsm, config, "gpu");
    assert.equal(durable, "pyoco_workers_gpu");
    const ci = await jsm.consumers.info("PYOCO_WORK", durable);
    assert.equal(ci.config.filter_subject, "pyoco.work.gpu");
    assert.equal(ci.config.ack_policy, "explicit");
    assert.equal(ci.config.ack_wait, nanos(30_000));
    assert.equal(ci.config.max_deliver, 20);
    assert.equal(ci.config.max_ack_pending, 200);
    // Idempotent: a second call changes nothing.
    await ensureResources(nc, config);
    await ensureConsumer(jsm, config, "gpu");
  } finally {
    await nc.close();
  }
});

Deno.test("ensureResources() respects existing resources' settings", async () => {
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "PYOCO_WORK",
      subjects: ["pyoco.work.>"],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(300_000),
    });
    await new Kvm(nc).create("pyoco_runs", { history: 5 });
    await ensureResources(nc, config);
    const work = await jsm.streams.info("PYOCO_WORK");
    assert.equal(work.config.duplicate_window, nanos(300_000));
    const runs = await (await new Kvm(nc).open("pyoco_runs")).status();
    assert.equal(runs.history, 5);
  } finally {
    await nc.close();
  }
});

Deno.test("KV helpers compare-and-set on the revision", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  try {
    const kv = await new Kvm(nc).create("cas_test", { history: 1 });
    const rev1 = await createJson(kv, "k", { n: 1 });
    assert.ok(rev1 !== null);
    assert.equal(await createJson(kv, "k", { n: 99 }), null, "create never overwrites");
    const rev2 = await updateJson(kv, "k", { n: 2 }, rev1);
    assert.ok(rev2 !== null && rev2 > rev1);
    assert.equal(await updateJson(kv, "k", { n: 3 }, rev1), null, "stale revision loses");
    assert.deepEqual((await getJson(kv, "k"))?.value, { n: 2 });
    // Concurrent increments through casUpdate never lose an update.
    await Promise.all(
      Array.from(
        { length: 10 },
        () => casUpdate<{ n: number }>(kv, "k", (cur) => ({ n: (cur?.value.n ?? 0) + 1 })),
      ),
    );
    assert.deepEqual((await getJson(kv, "k"))?.value, { n: 12 });
    await kv.delete("k");
    assert.equal(await getJson(kv, "k"), null, "a deleted key reads as absent");
    assert.ok(await createJson(kv, "k", { n: 0 }) !== null, "create works again after delete");
  } finally {
    await nc.close();
  }
});
