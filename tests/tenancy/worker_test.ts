/**
 * Workers in namespaced mode (SPEC §13) against a real nats-server, with real in-process
 * workers and the real submit path: a tenant's limit holds across workers, priority order with
 * no starvation of low, fair dispatch between a tenant with a backlog and one that submits
 * after it, and a tenant that appears while workers run.
 */

import assert from "node:assert/strict";
import type { KvWatchEntry } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { readRunEvents } from "../../src/gateway/events.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { consumerName } from "../../src/config.ts";
import { setTenantLimits } from "../../src/runs/tenants.ts";
import { poll } from "../_helpers/poll.ts";
import { setupTenancy, type TenancyEnv } from "./_setup.ts";

async function _allDone(t: TenancyEnv, ids: string[], timeoutMs = 60_000): Promise<RunSnapshot[]> {
  return await poll(async () => {
    const snaps = await t.snapshots(ids);
    return snaps.length === ids.length && snaps.every((s) => s.status === "COMPLETED")
      ? snaps
      : null;
  }, { timeoutMs, intervalMs: 100, message: `${ids.length} runs to complete` });
}

Deno.test("a tenant's limit of 2 holds across 3 workers x 4 slots (snapshots watched)", async () => {
  await using t = await setupTenancy();
  await setTenantLimits(t.buckets.tenants, { tenant: "acme", maxRunning: 2 });
  // Every snapshot change, in order: the most acme runs RUNNING at any one time.
  const running = new Set<string>();
  let most = 0;
  let otherMost = 0;
  const other = new Set<string>();
  const watch = await t.runs.watch();
  const watching = (async () => {
    for await (const e of watch as AsyncIterable<KvWatchEntry>) {
      if (e.operation !== "PUT" || e.length === 0) continue;
      const s = e.json<RunSnapshot>();
      const set = s.tenant_id === "acme" ? running : other;
      if (s.status === "RUNNING") set.add(s.run_id);
      else set.delete(s.run_id);
      most = Math.max(most, running.size);
      otherMost = Math.max(otherMost, other.size);
    }
  })();
  for (let i = 0; i < 3; i++) await t.worker({ concurrency: 4 });
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    ids.push(await t.submit("acme", { flow_name: "slow", params: { seconds: 0.3 } }));
  }
  const others: string[] = [];
  for (let i = 0; i < 6; i++) {
    others.push(await t.submit("globex", { flow_name: "slow", params: { seconds: 0.3 } }));
  }
  await _allDone(t, [...ids, ...others]);
  watch.stop();
  await watching;
  console.log(`most acme runs RUNNING at once: ${most} (limit 2); globex (no limit): ${otherMost}`);
  assert.ok(most <= 2, `acme had ${most} runs RUNNING at once`);
  assert.equal(most, 2, "the limit is used, not just respected");
  assert.ok(otherMost > 2, "another tenant is not held by acme's limit");
});

Deno.test("priority: high before normal before low, and low is not starved", async () => {
  await using t = await setupTenancy();
  const order: { id: string; priority: string }[] = [];
  for (const priority of ["low", "normal", "high"] as const) {
    for (let i = 0; i < 3; i++) {
      const id = await t.submit("acme", {
        flow_name: "slow",
        params: { seconds: 0.02 },
        priority,
      });
      order.push({ id, priority });
    }
  }
  await t.worker({ concurrency: 1 });
  const snaps = await _allDone(t, order.map((o) => o.id));
  const started = snaps.sort((a, b) => a.start_time! - b.start_time!).map((s) =>
    s.priority ?? "normal"
  );
  assert.deepEqual(started, [
    "high",
    "high",
    "high",
    "normal",
    "normal",
    "normal",
    "low",
    "low",
    "low",
  ]);

  // One low run behind 25 high ones still starts within the first 10 pulls.
  const low = await t.submit("globex", {
    flow_name: "slow",
    params: { seconds: 0.01 },
    priority: "low",
  });
  const highs: string[] = [];
  for (let i = 0; i < 25; i++) {
    highs.push(
      await t.submit("globex", { flow_name: "slow", params: { seconds: 0.01 }, priority: "high" }),
    );
  }
  const all = await _allDone(t, [low, ...highs]);
  const rank = all.sort((a, b) => a.start_time! - b.start_time!).findIndex((s) => s.run_id === low);
  console.log(`the low run started as number ${rank + 1} of 26`);
  assert.ok(rank < 10, `the low run started as number ${rank + 1}`);
});

Deno.test("priority: an idle worker's next slot goes to a high job that came with a normal one", async () => {
  await using t = await setupTenancy();
  await t.worker({ concurrency: 2 });
  // Idle: a pull waits on acme's normal queue (created when the worker found the tenant).
  const jsm = await jetstreamManager(t.nc);
  const normal = consumerName(t.config, { tenant: "acme", tag: "default" });
  await t.submit("acme", { flow_name: "slow", params: { seconds: 0.01 } });
  await poll(async () => {
    const info = await jsm.consumers.info(t.config.workStream, normal).catch(() => null);
    return info !== null && info.num_ack_pending === 0 && info.num_waiting > 0;
  }, { message: "the idle worker's waiting pull on the normal queue" });
  // A burst: high first, then two normal, then low; each run holds its slot for 2 s.
  const ids: Record<string, string> = {};
  for (
    const [name, priority] of [["high", "high"], ["n1", "normal"], ["n2", "normal"], [
      "low",
      "low",
    ]] as const
  ) {
    ids[name] = await t.submit("acme", { flow_name: "slow", params: { seconds: 2 }, priority });
  }
  const started = await poll(async () => {
    const snaps = await t.snapshots(Object.values(ids));
    const on = snaps.filter((s) => s.status === "RUNNING" || s.status === "COMPLETED");
    return on.length >= 2 ? on : null;
  }, { timeoutMs: 10_000, message: "two runs to start" });
  const names = started.map((s) => Object.keys(ids).find((k) => ids[k] === s.run_id)).sort();
  // The waiting pull takes a normal job; the slot left must go to the high one.
  assert.ok(names.includes("high"), `first runs started: ${names.join(", ")}`);
  assert.equal(names.length, 2, `first runs started: ${names.join(", ")}`);
});

Deno.test("fair dispatch: B's runs start promptly while A's backlog of 300 waits", async () => {
  await using t = await setupTenancy();
  const service = 0.2;
  for (let i = 0; i < 3; i++) await t.worker({ concurrency: 4 });
  // A and B are known tenants (each ran before); a brand-new one adds up to one discovery
  // interval. Then A queues its backlog, and B comes once the workers are busy with it.
  await _allDone(t, [
    await t.submit("a", { flow_name: "slow", params: { seconds: 0.01 } }),
    await t.submit("b", { flow_name: "slow", params: { seconds: 0.01 } }),
  ]);
  const a: string[] = [];
  await Promise.all(Array.from({ length: 6 }, async () => {
    for (let i = 0; i < 50; i++) {
      a.push(await t.submit("a", { flow_name: "slow", params: { seconds: service } }));
    }
  }));
  await poll(async () => (await t.snapshots(a)).some((s) => s.status === "COMPLETED"), {
    message: "A's backlog to be running",
  });
  const b: string[] = [];
  for (let i = 0; i < 10; i++) {
    b.push(await t.submit("b", { flow_name: "slow", params: { seconds: service } }));
  }
  const bs = await _allDone(t, b, 60_000);
  const aNow = await t.snapshots(a);
  const aWaiting = aNow.filter((s) => s.status === "PENDING").length;
  const waits = bs.map((s) => s.start_time! - s.submitted_at!).sort((x, y) => x - y);
  const measured = bs.reduce((n, s) => n + (s.end_time! - s.start_time!), 0) / bs.length;
  const pullInterval = 0.25;
  const bound = 2 * (measured + pullInterval);
  console.log(
    `B's waits (s): p50 ${waits[4]!.toFixed(3)}, max ${waits.at(-1)!.toFixed(3)}; ` +
      `service ${measured.toFixed(3)} s; bound 2 x (service + pull interval) = ${
        bound.toFixed(3)
      } s; ` +
      `A runs still PENDING when B finished: ${aWaiting} of 300`,
  );
  assert.ok(aWaiting > 100, "A's backlog was still there");
  assert.ok(waits.at(-1)! <= bound, `B's longest wait ${waits.at(-1)} > ${bound}`);
  await _allDone(t, a, 120_000);
});

Deno.test("a tenant that appears while workers run gets served", async () => {
  await using t = await setupTenancy();
  await t.worker({ concurrency: 2 });
  const id = await t.submit("newcomer", { flow_name: "quick" });
  const [done] = await _allDone(t, [id], 20_000);
  assert.equal(done!.tenant_id, "newcomer");
  const jsm = await jetstreamManager(t.nc);
  const info = await jsm.consumers.info(
    t.config.workStream,
    consumerName(t.config, { tenant: "newcomer", tag: "default" }),
  );
  assert.equal(info.config.filter_subject, "pyoco.newcomer.work.default");
  // Its events are on its own subject, and the gateway's reader finds them there.
  const events = await readRunEvents(jetstream(t.nc), t.config, id, { tenant: "newcomer" });
  assert.ok(events.length > 0, "events on pyoco.newcomer.events.<run>");
  const last = await jsm.streams.getMessage(t.config.eventsStream, {
    last_by_subj: `pyoco.newcomer.events.${id}`,
  });
  assert.ok(last !== null);
  // Runs without a key are tenant `_`, served the same way.
  const anon = await t.submit(null, { flow_name: "quick" });
  await _allDone(t, [anon], 20_000);
});
