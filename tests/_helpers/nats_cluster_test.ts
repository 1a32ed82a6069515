import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { startNatsCluster } from "./nats_cluster.ts";
import { poll } from "./poll.ts";

Deno.test({
  name:
    "startNatsCluster(): an R3 KV stays writable after its leader is SIGKILLed, and the node rejoins",
  fn: async () => {
    await using cluster = await startNatsCluster();
    assert.equal(cluster.nodes.length, 3);
    const ports = cluster.nodes.flatMap((n) => [n.clientPort, n.clusterPort, n.monitorPort]);
    assert.equal(new Set(ports).size, 9, "every port is distinct");
    const nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100 });
    try {
      const kv = await new Kvm(nc).create("cluster_probe", { replicas: 3 });
      await kv.put("k", "before");
      const leader = await cluster.leaderOf("KV_cluster_probe");
      assert.ok(cluster.running(leader));
      assert.ok(cluster.logs().includes("--- n2"));

      await cluster.kill(leader);
      assert.equal(cluster.running(leader), false);
      // Writable again once a new leader is elected: a put that fails during the election is
      // tried again.
      await poll(() => kv.put("k", "after").then(() => true), {
        timeoutMs: 20_000,
        intervalMs: 100,
        message: () => `the KV to accept a write after the leader died\n${cluster.logs(1500)}`,
      });
      assert.equal((await kv.get("k"))?.string(), "after");
      const next = await cluster.leaderOf("KV_cluster_probe");
      assert.notEqual(next, leader, "another node leads now");

      await cluster.restart(leader);
      assert.ok(cluster.running(leader));
      const meta = await cluster.metaLeader();
      assert.ok(meta >= 0 && meta < 3);
      // The restarted node catches up: with it and one other node, the bucket still has a quorum.
      await cluster.kill(next);
      await poll(async () => (await kv.get("k"))?.string() === "after", {
        timeoutMs: 20_000,
        intervalMs: 100,
        message: () => `the KV to read back after a second kill\n${cluster.logs(1500)}`,
      });
    } finally {
      await nc.close();
    }
  },
});
