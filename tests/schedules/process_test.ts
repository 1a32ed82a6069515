/**
 * Schedules against real gateway processes on a real nats-server: slots dispatched exactly once
 * by two gateways (one SIGKILLed midway), catch-up after every gateway was down, and overlap
 * `skip` with runs that never end (no worker: they stay PENDING). Set PYOCO_SCHEDULE_LONG=1 for
 * the 20-second version of issue 16.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import type { ScheduleView } from "../../src/runs/schedules/mod.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";

const LONG = Deno.env.get("PYOCO_SCHEDULE_LONG") === "1";
const now = () => Date.now() / 1000;

async function api<T>(url: string, init?: RequestInit & { json?: unknown }): Promise<T> {
  const res = await fetch(url, {
    ...init,
    headers: init?.json === undefined ? undefined : { "content-type": "application/json" },
    body: init?.json === undefined ? init?.body : JSON.stringify(init.json),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

async function readRuns(natsUrl: string, scheduleId: string) {
  const nc = await connect({ servers: natsUrl });
  try {
    const kv = await new Kvm(nc).open("pyoco_runs");
    const runs: RunSnapshot[] = [];
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (e?.operation !== "PUT") continue;
      const s = e.json<RunSnapshot>();
      if (s.schedule_id === scheduleId) runs.push(s);
    }
    const jsm = await jetstreamManager(nc);
    const work = await jsm.streams.info("PYOCO_WORK", { subjects_filter: "pyoco.work.>" });
    return {
      runs: runs.sort((a, b) => a.scheduled_for! - b.scheduled_for!),
      jobs: work.state.messages,
    };
  } finally {
    await nc.close();
  }
}

Deno.test({
  name:
    "two gateways dispatch a 1-second interval exactly once per slot, also when one is SIGKILLed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using nats = await startNatsServer();
    await using gw1 = await startGatewayProcess({ natsUrl: nats.url });
    const gw2 = await startGatewayProcess({ natsUrl: nats.url });
    try {
      await poll(() => api(`${gw1.url}/schedules`).then(() => true), { message: "gw1 ready" });
      await poll(() => api(`${gw2.url}/schedules`).then(() => true), { message: "gw2 ready" });
      const s = await api<ScheduleView>(`${gw1.url}/schedules`, {
        method: "POST",
        // A wide window: a slot is never lost to a slow, loaded machine, so a gap means a bug.
        json: { flow_name: "hello", interval_seconds: 1, overlap: "allow", catchup_window_sec: 30 },
      });
      const total = LONG ? 20 : 8;
      const wait = { timeoutMs: (total + 20) * 1000, intervalMs: 100 };
      const view = () => api<ScheduleView>(`${gw1.url}/schedules/${s.schedule_id}`);
      await poll(async () => (await view()).dispatch_count >= Math.floor(total / 2), {
        ...wait,
        message: "half of the slots",
      });
      await gw2.kill();
      await poll(async () => (await view()).dispatch_count >= total, {
        ...wait,
        message: "all slots",
      });
      await api(`${gw1.url}/schedules/${s.schedule_id}`, {
        method: "PATCH",
        json: { paused: true },
      });
      const { runs, jobs } = await poll(async () => {
        const v = await view();
        const r = await readRuns(nats.url, s.schedule_id);
        return r.runs.length === v.dispatch_count ? r : null;
      }, { ...wait, message: "the last slots to be recorded" });
      const slots = runs.map((r) => r.scheduled_for!);
      assert.ok(slots.length >= total, `only ${slots.length} runs`);
      assert.equal(new Set(slots).size, slots.length, "a slot ran twice");
      assert.equal(jobs, slots.length, "a slot was published twice");
      slots.forEach((slot, i) =>
        assert.equal(slot, slots[0]! + i, `slot ${slots[0]! + i} is missing`)
      );
      assert.equal(slots[0], s.next_run_at);
      assert.equal((await view()).skipped_slots, 0);
      const metrics = await (await fetch(`${gw1.url}/metrics`)).text();
      const dispatched = Number(
        metrics.match(/^pyoco_schedule_slots_dispatched_total (\S+)$/m)?.[1],
      );
      assert.ok(dispatched > 0, metrics);
      assert.match(metrics, /^pyoco_schedule_slots_skipped_total 0$/m);
      assert.match(metrics, /^pyoco_schedule_late_seconds_total \d/m);
    } finally {
      await gw2.stop();
    }
  },
});

Deno.test({
  name:
    "after every gateway was down, catch-up runs the window's slots; window 0 and overlap skip skip",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using nats = await startNatsServer();
    let gw = await startGatewayProcess({ natsUrl: nats.url });
    try {
      await poll(() => api(`${gw.url}/schedules`).then(() => true), { message: "gateway ready" });
      const make = (fields: Record<string, unknown>) =>
        api<ScheduleView>(`${gw.url}/schedules`, {
          method: "POST",
          json: { flow_name: "hello", interval_seconds: 1, ...fields },
        });
      const win5 = await make({ overlap: "allow", catchup_window_sec: 5 });
      const win0 = await make({ overlap: "allow" });
      const skip = await make({}); // overlap skip: the first run never ends (no worker)
      const view = (id: string) => api<ScheduleView>(`${gw.url}/schedules/${id}`);
      await poll(async () => (await view(win0.schedule_id)).dispatch_count >= 2, {
        timeoutMs: 20_000,
        message: "two slots before the outage",
      });
      await gw.stop();
      const downAt = now();
      await poll(() => now() - downAt >= 8, { timeoutMs: 20_000, message: "8 s of outage" });
      gw = await startGatewayProcess({ natsUrl: nats.url });
      const upAt = now();
      const settled = async (id: string) => {
        const v = await view(id);
        return v.next_run_at! > upAt + 1 && v.last_scheduled_for! > upAt ? v : null;
      };
      const a = await poll(() => settled(win5.schedule_id), { timeoutMs: 20_000, message: "win5" });
      const b = await poll(() => settled(win0.schedule_id), { timeoutMs: 20_000, message: "win0" });
      const missedA = (await readRuns(nats.url, win5.schedule_id)).runs
        .filter((r) => r.scheduled_for! > downAt && r.scheduled_for! < upAt);
      const missedB = (await readRuns(nats.url, win0.schedule_id)).runs
        .filter((r) => r.scheduled_for! > downAt && r.scheduled_for! < upAt);
      // The outage lasted ≥ 8 s: window 5 runs up to 5 of its slots (plus any on-time one),
      // window 0 only the slots inside the 2-second on-time grace; the rest are counted.
      assert.ok(missedA.length >= 2, `window 5 ran ${missedA.length} missed slots`);
      assert.ok(missedB.length <= 3, `window 0 ran ${missedB.length} missed slots`);
      assert.ok(a.skipped_slots >= 1, `window 5 skipped ${a.skipped_slots}`);
      assert.ok(b.skipped_slots >= 5, `window 0 skipped ${b.skipped_slots}`);
      assert.ok(missedA.length > missedB.length || b.skipped_slots > a.skipped_slots);
      const s = await view(skip.schedule_id);
      assert.equal(s.dispatch_count, 1);
      assert.ok(s.skipped_slots >= 8, `overlap skip skipped ${s.skipped_slots}`);
      assert.equal(s.last_status, "PENDING");
    } finally {
      await gw.stop();
    }
  },
});
