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
