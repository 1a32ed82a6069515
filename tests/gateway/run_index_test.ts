import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { RunIndex, toSummary } from "../../src/runs/run_index.ts";
import { RUN_STATUSES } from "../../src/contract/wire.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";

Deno.test("RunIndex loads existing runs, follows updates and deletes, and ignores stale revisions", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  const kv = await new Kvm(nc).create("runs_idx", { history: 1 });
  for (let i = 0; i < 300; i++) {
    await kv.put(
      `r${i}`,
      JSON.stringify({ run_id: `r${i}`, flow_name: "f", status: "PENDING", updated_at: i }),
    );
  }
  const index = new RunIndex(kv, { connection: nc });
  try {
    index.start();
    assert.equal(await index.whenReady(10_000), true);
    assert.equal(index.size, 300);
    assert.equal(index.counts().PENDING, 300);
    assert.deepEqual(Object.keys(index.counts()), [...RUN_STATUSES]);

    const rev = await kv.put(
      "r0",
      JSON.stringify({ run_id: "r0", flow_name: "f", status: "COMPLETED", updated_at: 999 }),
    );
    await kv.delete("r1");
    await poll(() => index.get("r0")?.status === "COMPLETED", { message: "the update" });
    await poll(() => index.get("r1") === undefined, { message: "the delete" });
    assert.equal(index.counts().COMPLETED, 1);
    assert.equal(index.counts().PENDING, 298);
    // An older revision never replaces a newer one.
    index.upsert({ run_id: "r0", flow_name: "f", status: "RUNNING", updated_at: 5 }, rev - 1);
    assert.equal(index.get("r0")?.status, "COMPLETED");
    assert.equal(index.list({ limit: 1 })[0]?.run_id, "r0");
  } finally {
    await index.close();
    await nc.close();
  }
});

Deno.test("RunIndex.list() equals a full filter and sort, bounded to the limit", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  const kv = await new Kvm(nc).create("runs_topk", { history: 1 });
  const index = new RunIndex(kv);
  try {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const statuses = ["PENDING", "RUNNING", "COMPLETED", "FAILED"] as const;
    for (let i = 0; i < 5000; i++) {
      index.upsert({
        run_id: `run-${i}`,
        flow_name: rand() < 0.5 ? "a" : "b",
        status: statuses[Math.floor(rand() * statuses.length)]!,
        updated_at: Math.floor(rand() * 1000),
        tag: rand() < 0.3 ? "gpu" : "default",
        tenant_id: rand() < 0.5 ? "t1" : null,
      }, 1);
    }
    const everything = index.list({ limit: 10_000 });
    assert.equal(everything.length, 5000);
    for (
      const q of [
        { limit: 50 },
        { limit: 200, flow: "a" },
        { limit: 7, statuses: new Set(["FAILED"]), tag: "gpu" },
        { limit: 100, tenantId: "t1" },
        { limit: 100, tenantId: null },
      ]
    ) {
      const expected = everything
        .filter((r) =>
          (!q.flow || r.flow_name === q.flow) &&
          (!q.statuses || q.statuses.has(r.status)) &&
          (!q.tag || r.tags.includes(q.tag)) &&
          (q.tenantId === undefined || r.tenant_id === q.tenantId)
        )
        .sort((x, y) =>
          y.updated_at - x.updated_at || (y.run_id > x.run_id ? 1 : y.run_id < x.run_id ? -1 : 0)
        )
        .slice(0, q.limit);
      assert.deepEqual(index.list(q).map(toSummary), expected.map(toSummary), JSON.stringify(q));
    }
  } finally {
    await index.close();
    await nc.close();
  }
});

Deno.test("RunIndex.countsByTenant() matches a full count through updates, removes and compaction", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  const kv = await new Kvm(nc).create("runs_tally", { history: 1 });
  const index = new RunIndex(kv);
  try {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const statuses = ["PENDING", "RUNNING", "CANCELLING", "COMPLETED"] as const;
    const tenants = ["acme", "globex", null] as const;
    const priorities = ["high", "normal", "low", undefined] as const;
    const runs = new Map<string, { tenant: string | null; priority: string; status: string }>();
    let rev = 0;
    const put = (id: string) => {
      const run = { tenant: pick(tenants), priority: pick(priorities), status: pick(statuses) };
      index.upsert({
        run_id: id,
        flow_name: "f",
        status: run.status,
        updated_at: rev,
        tenant_id: run.tenant,
        ...(run.priority ? { priority: run.priority as "high" } : {}),
      }, ++rev);
      runs.set(id, { ...run, priority: run.priority ?? "normal" });
    };
    const check = (when: string) => {
      const expected = new Map<string, number>();
      for (const r of runs.values()) {
        const key = `${r.tenant}/${r.priority}/${r.status}`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      }
      const got = new Map<string, number>();
      for (const row of index.countsByTenant()) {
        for (const [status, n] of Object.entries(row.byStatus)) {
          const key = `${row.tenantId}/${row.priority}/${status}`;
          assert.equal(got.has(key), false, `${key} twice`);
          got.set(key, n);
        }
      }
      assert.deepEqual(
        [...got].sort(),
        [...expected].sort(),
        `counts by tenant, priority and status ${when}`,
      );
      assert.equal(
        index.counts().PENDING,
        [...runs.values()].filter((r) => r.status === "PENDING").length,
      );
    };
    for (let i = 0; i < 3000; i++) put(`run-${i}`);
    check("after the first writes");
    for (let i = 0; i < 3000; i++) put(`run-${Math.floor(rand() * 3000)}`);
    check("after updates");
    for (let i = 0; i < 2500; i++) {
      index.remove(`run-${i}`);
      runs.delete(`run-${i}`);
    }
    check("after removes (the slots were compacted)");
    for (const id of [...runs.keys()]) {
      index.remove(id);
      runs.delete(id);
    }
    assert.deepEqual(index.countsByTenant(), [], "nothing is left once every run is gone");
    put("again");
    check("with one run after all were gone");
  } finally {
    await index.close();
    await nc.close();
  }
});
