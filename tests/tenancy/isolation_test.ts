/**
 * Hard tenant isolation by NATS authorization (SPEC §13, docs/tenancy.md): nats-server runs with
 * the configuration printed in docs/tenancy.md; tenant acme's worker user (raw nats.js, as a
 * worker would use it) can pull, ack, read and write its own work, runs and events, and cannot
 * pull, read or publish tenant globex's; the gateway user serves both.
 */

import assert from "node:assert/strict";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { consumerName, eventsSubject, loadConfig, workSubject } from "../../src/config.ts";
import { ensureConsumer, ensureResources } from "../../src/nats/resources.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";
import { docsTenancyConfig } from "./_setup.ts";

/** Assert that NATS refuses a call: a permissions violation (or no answer to a denied request). */
async function _refused(what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    const text = `${(err as Error).message} ${((err as Error).cause as Error)?.message ?? ""}`;
    assert.match(text, /permission|timeout|timed out/i, `${what}: ${text}`);
    return;
  }
  assert.fail(`${what} was allowed`);
}

Deno.test("a tenant's NATS user cannot touch another tenant's work, runs or events", async () => {
  await using srv = await startNatsServer({ extraConfig: await docsTenancyConfig() });
  const config = loadConfig({
    env: { PYOCO_NATS_URL: srv.url, PYOCO_TENANT_ISOLATION: "namespaced" },
    envFile: false,
  });
  const opened: NatsConnection[] = [];
  const open = async (user: string, pass: string, inboxPrefix?: string) => {
    const nc = await connect({ servers: srv.url, user, pass, inboxPrefix });
    opened.push(nc);
    return nc;
  };
  try {
    // The gateway user: resources, the tenants' consumers, one job, run and event per tenant.
    const gw = await open("gateway", "gateway-secret");
    const { runs } = await ensureResources(gw, config);
    const gjsm = await jetstreamManager(gw);
    const gjs = jetstream(gw);
    for (const tenant of ["acme", "globex"]) {
      await ensureConsumer(gjsm, config, { tenant, tag: "default" });
      await gjs.publish(workSubject(config, { tenant, tag: "default" }), `job-${tenant}`, {
        msgID: `run-${tenant}`,
      });
      await runs.put(`${tenant}.run-${tenant}`, `snapshot-${tenant}`);
      await gjs.publish(eventsSubject(config, `run-${tenant}`, { tenant }), `event-${tenant}`);
    }
    const globexConsumer = consumerName(config, { tenant: "globex", tag: "default" });
    const acmeConsumer = consumerName(config, { tenant: "acme", tag: "default" });
    const globexPending = async () =>
      (await gjsm.consumers.info(config.workStream, globexConsumer)).num_pending;
    assert.equal(await globexPending(), 1);

    // Tenant acme's worker, as a worker connects: its own user and reply prefix.
    const acme = await open("acme-worker", "acme-secret", "_INBOX_acme");
    const js = jetstream(acme, { timeout: 1500 });
    const jsm = await jetstreamManager(acme, { timeout: 1500 });

    // Its own work: pull and ack.
    const own = await js.consumers.get(config.workStream, acmeConsumer);
    const batch = await own.fetch({ max_messages: 1, expires: 2000 });
    let got = "";
    for await (const m of batch) {
      got = m.string();
      await m.ackAck();
    }
    assert.equal(got, "job-acme");

    // Another tenant's work: no pull, no consumer, no read by sequence, no publish.
    await _refused("pulling globex's consumer", async () => {
      const c = await js.consumers.get(config.workStream, globexConsumer);
      for await (const _ of await c.fetch({ max_messages: 1, expires: 1000 })) return;
      throw new Error("nothing delivered");
    });
    await _refused("a consumer on globex's subjects", () =>
      jsm.consumers.add(config.workStream, {
        durable_name: "sneaky",
        filter_subject: workSubject(config, { tenant: "globex", tag: "default" }),
        ack_policy: AckPolicy.Explicit,
      }));
    await _refused(
      "reading the work stream by sequence",
      () => jsm.streams.getMessage(config.workStream, { seq: 1 }),
    );
    await _refused(
      "publishing globex work",
      () => js.publish(workSubject(config, { tenant: "globex", tag: "default" }), "evil"),
    );
    assert.equal(await globexPending(), 1, "globex's job is still there, untouched");
    const info = await gjsm.streams.info(config.workStream, {
      subjects_filter: workSubject(config, { tenant: "globex", tag: "default" }),
    });
    assert.equal(info.state.messages, 1, "no job was published for globex");

    // Runs KV: its own keys only.
    const kv = await new Kvm(acme).open(config.runsKvBucket, { allow_direct: true });
    assert.equal((await kv.get("acme.run-acme"))?.string(), "snapshot-acme");
    await kv.put("acme.run-acme", "snapshot-acme-2");
    await _refused("reading globex's run", () => kv.get("globex.run-globex"));
    await _refused("writing globex's run", () => kv.put("globex.run-globex", "evil"));
    assert.equal((await runs.get("globex.run-globex"))?.string(), "snapshot-globex");
    assert.equal((await runs.get("acme.run-acme"))?.string(), "snapshot-acme-2");

    // Events: publish its own; no read (no consumer, no direct get) or publish of globex's.
    await js.publish(eventsSubject(config, "run-acme", { tenant: "acme" }), "event-acme-2");
    await _refused(
      "publishing globex's events",
      () => js.publish(eventsSubject(config, "run-globex", { tenant: "globex" }), "evil"),
    );
    await _refused("reading globex's events", async () => {
      const c = await js.consumers.get(config.eventsStream, {
        filter_subjects: eventsSubject(config, "run-globex", { tenant: "globex" }),
      });
      for await (const _ of await c.fetch({ max_messages: 1, expires: 1000 })) return;
      throw new Error("nothing delivered");
    });
    await _refused(
      "reading the events stream by sequence",
      () => jsm.streams.getMessage(config.eventsStream, { seq: 1 }),
    );
    // A core subscription to globex's events: the server refuses it, and nothing arrives
    // even though the gateway publishes there before a message acme may receive.
    // Likewise every reply (`_INBOX.>`) and globex's workers' replies: no sniffing of pulls.
    const spy = acme.subscribe(eventsSubject(config, "*", { tenant: "globex" }));
    const inboxes = acme.subscribe("_INBOX.>");
    const globexInbox = acme.subscribe("_INBOX_globex.>");
    const cancels = acme.subscribe("pyoco.acme.cancel.*");
    await acme.flush();
    gw.publish(eventsSubject(config, "run-globex", { tenant: "globex" }), "secret");
    gw.publish("_INBOX.x", "secret");
    gw.publish("_INBOX_globex.x", "secret");
    gw.publish("pyoco.acme.cancel.run-acme", "cancel");
    await gw.flush();
    await poll(() => cancels.getReceived() === 1, { message: "acme's own cancel to arrive" });
    assert.equal(spy.getReceived(), 0, "no globex event reached acme");
    assert.equal(inboxes.getReceived() + globexInbox.getReceived(), 0, "no reply reached acme");

    // The gateway user serves both tenants.
    const globexWork = await gjs.consumers.get(config.workStream, globexConsumer);
    let served = "";
    for await (const m of await globexWork.fetch({ max_messages: 1, expires: 2000 })) {
      served = m.string();
      m.ack();
    }
    assert.equal(served, "job-globex");
    assert.equal((await runs.get("globex.run-globex"))?.string(), "snapshot-globex");
    const ev = await gjsm.streams.getMessage(config.eventsStream, {
      last_by_subj: eventsSubject(config, "run-acme", { tenant: "acme" }),
    });
    assert.equal(ev?.string(), "event-acme-2");
  } finally {
    await Promise.allSettled(opened.map((nc) => nc.close()));
  }
});
