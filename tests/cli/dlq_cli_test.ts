import assert from "node:assert/strict";
import { runAdmin } from "../_helpers/cli_process.ts";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../../src/config.ts";
import { ensureResources } from "../../src/nats/resources.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";

const admin = runAdmin;

Deno.test("pyoco-admin dlq list and dlq replay work on the DLQ stream directly", async () => {
  await using srv = await startNatsServer();
  const env = { PYOCO_NATS_URL: srv.url };
  const nc = await connect({ servers: srv.url });
  try {
    await ensureResources(nc, loadConfig({ env, envFile: false }));
    const js = jetstream(nc);
    const letter = (runId: string, reason: string, tag = "default") => ({
      timestamp: 1_700_000_000,
      reason,
      error: `failed ${runId}`,
      run_id: runId,
      flow_name: "hello",
      tag,
      tags: [tag],
      worker_id: "w1",
      num_delivered: 3,
      subject: `pyoco.work.${tag}`,
      job: {
        run_id: runId,
        flow_name: "hello",
        tag,
        tags: [tag],
        params: { n: 7 },
        submitted_at: 1,
      },
    });
    const s1 =
      (await js.publish("pyoco.dlq.default", JSON.stringify(letter("r1", "execution_error"))))
        .seq;
    const s2 =
      (await js.publish("pyoco.dlq.gpu", JSON.stringify(letter("r2", "flow_not_found", "gpu"))))
        .seq;

    const listed = await admin(["dlq", "list", "--json"], env);
    assert.equal(listed.code, 0, listed.stderr);
    const entries = JSON.parse(listed.stdout);
    assert.deepEqual(entries.map((e: { seq: number }) => e.seq), [s2, s1]);
    assert.deepEqual(entries[1].job.params, { n: 7 });
    const filtered = await admin(["dlq", "list", "--reason", "flow_not_found", "--json"], env);
    assert.deepEqual(JSON.parse(filtered.stdout).map((e: { run_id: string }) => e.run_id), ["r2"]);
    const byTag = await admin(["dlq", "list", "--tag", "default", "--limit", "5"], env);
    assert.equal(byTag.code, 0, byTag.stderr);
    assert.match(byTag.stdout, /SEQ\s+TIME\s+REASON/);
    assert.match(
      byTag.stdout,
      new RegExp(`${s1}\\s+\\S+\\s+execution_error\\s+default\\s+hello\\s+r1`),
    );
    assert.doesNotMatch(byTag.stdout, /r2/);

    const replayed = await admin(["dlq", "replay", String(s1), "--json"], env);
    assert.equal(replayed.code, 0, replayed.stderr);
    const answer = JSON.parse(replayed.stdout);
    assert.equal(answer.replayed_from, s1);
    assert.equal(answer.status, "PENDING");
    const runs = await new Kvm(nc).open("pyoco_runs");
    const snap = (await runs.get(answer.run_id))!.json<Record<string, unknown>>();
    assert.equal(snap.replayed_from, s1);
    assert.deepEqual(snap.params, { n: 7 });
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info("PYOCO_WORK")).state.messages, 1);
    const text = await admin(["dlq", "replay", String(s2)], env);
    assert.match(text.stdout, /^Replayed dead letter \d+ as run [0-9a-f-]{36} \(PENDING\)\./);

    const missing = await admin(["dlq", "replay", "999"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Dead letter 999 not found/);
    for (
      const bad of [["dlq", "replay"], ["dlq", "replay", "x"], ["dlq", "list", "--reason", "why"], [
        "dlq",
        "frob",
      ], ["dlq", "list", "--limit", "0"]]
    ) {
      const r = await admin(bad, env);
      assert.equal(r.code, 2, bad.join(" "));
    }
  } finally {
    await nc.close();
  }
});
