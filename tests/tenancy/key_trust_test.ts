/**
 * Namespaced mode: NATS permissions fence a tenant's workers to their own runs-bucket keys
 * (`<tenant>.>`), not to what they write there. A body that claims another run or tenant must not
 * shadow, remove or expire that other tenant's run in the gateway's index, its retention walk or
 * its idempotency claims (`snapshotMatchesKey`, the index's key check, `purgeRun`).
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { loadConfig, parseRunKey } from "../../src/config.ts";
import { RunIndex } from "../../src/runs/run_index.ts";
import { snapshotMatchesKey } from "../../src/runs/run_keys.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";

const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
const shared = loadConfig({ env: {}, envFile: false });

Deno.test("snapshotMatchesKey: the body's run and tenant must be the key's", () => {
  assert.equal(snapshotMatchesKey(ns, "acme.r1", { run_id: "r1", tenant_id: "acme" }), true);
  assert.equal(snapshotMatchesKey(ns, "_.r1", { run_id: "r1", tenant_id: null }), true);
  assert.equal(snapshotMatchesKey(ns, "acme.r1", { run_id: "r1", tenant_id: "globex" }), false);
  assert.equal(snapshotMatchesKey(ns, "acme.r1", { run_id: "r2", tenant_id: "acme" }), false);
  assert.equal(snapshotMatchesKey(ns, "r1", { run_id: "r1", tenant_id: null }), false);
  assert.equal(snapshotMatchesKey(shared, "r1", { run_id: "r1", tenant_id: "acme" }), true);
  assert.equal(snapshotMatchesKey(shared, "r1", { run_id: "r2" }), false);
});

Deno.test("run index (namespaced): a body claiming another tenant's run neither shadows nor removes it", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  try {
    const kv = await new Kvm(nc).create("trust_runs", { history: 1 });
    const index = new RunIndex(kv, { connection: nc, parseKey: (k) => parseRunKey(ns, k) });
    index.start();
    const snap = (tenant: string | null, status: string, flow: string) =>
      JSON.stringify({
        run_id: "shared-id",
        status,
        flow_name: flow,
        tenant_id: tenant,
        updated_at: Date.now() / 1000,
      });
    try {
      await kv.put("globex.shared-id", snap("globex", "COMPLETED", "payroll"));
      await poll(() => index.get("shared-id")?.flow_name === "payroll", {
        message: "globex's run in the index",
      });
      // acme writes under its own key a body that says it is globex's run (a newer revision).
      await kv.put("acme.shared-id", snap("globex", "FAILED", "forged"));
      await kv.put("acme.other", snap("acme", "FAILED", "forged")); // run_id is not the key's
      await kv.put(
        "acme.marker",
        JSON.stringify({
          run_id: "marker",
          status: "PENDING",
          tenant_id: "acme",
          flow_name: "m",
          updated_at: 1,
        }),
      );
      await poll(() => index.get("marker") !== undefined, { message: "the marker run indexed" });
      assert.equal(index.get("shared-id")?.flow_name, "payroll", "not shadowed");
      assert.equal(index.get("shared-id")?.status, "COMPLETED");
      assert.equal(index.get("other"), undefined, "a body naming another run is skipped");
      // acme deletes its key: globex's row stays.
      await kv.delete("acme.shared-id");
      await kv.delete("acme.marker");
      await poll(() => index.get("marker") === undefined, { message: "the marker removed" });
      assert.equal(index.get("shared-id")?.tenant_id, "globex", "not removed by acme's delete");
    } finally {
      await index.close();
    }
  } finally {
    await nc.close();
  }
});
