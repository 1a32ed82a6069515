/**
 * Shared setup of the schedule tests: the gateway fixture (real nats-server, in-process
 * handler), a schedule context on it, dispatchers with a hand-moved clock, and run reads.
 *
 * @module
 */

import type { RunSnapshot } from "../../src/contract/wire.ts";
import { Logger } from "../../src/log.ts";
import {
  buildRecord,
  type Clock,
  type ScheduleContext,
  ScheduleDispatcher,
  type ScheduleRecord,
  scheduleStoreOf,
  validateScheduleRequest,
} from "../../src/runs/schedules/mod.ts";
import {
  type GatewayFixture,
  gatewayFixture,
  type GatewayFixtureOptions,
} from "../gateway/_fixture.ts";

/** A clock the test moves. */
export class FakeClock implements Clock {
  /** Unix seconds. */
  t: number;
  constructor(t: number) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
}

/** Fixture plus schedule context. */
export interface ScheduleFixture {
  gw: GatewayFixture;
  ctx: ScheduleContext;
  /** A dispatcher on the fake clock (not started: the test calls `tick()`). */
  dispatcher(clock: Clock, gatewayId: string, leaseSec?: number): ScheduleDispatcher;
  /** Store a schedule made from a `POST /schedules` body at fake time `now`. */
  create(body: Record<string, unknown>, now: number): Promise<ScheduleRecord>;
  /** Every run of a schedule, by slot. */
  runsOf(scheduleId: string): Promise<RunSnapshot[]>;
  /** The record as stored. */
  read(scheduleId: string): Promise<ScheduleRecord>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Start a nats-server and the gateway side. */
export async function scheduleFixture(
  options: GatewayFixtureOptions = {},
): Promise<ScheduleFixture> {
  const gw = await gatewayFixture(options);
  const store = await scheduleStoreOf(gw.backend, gw.config);
  const logger = new Logger({ service: "pyoco-server:http", level: "ERROR", write: () => {} });
  const ctx: ScheduleContext = { store, backend: gw.backend, config: gw.config, logger };
  return {
    gw,
    ctx,
    dispatcher: (clock, gatewayId, leaseSec) =>
      new ScheduleDispatcher(ctx, { clock, gatewayId, leaseSec }),
    create: async (body, now) => {
      const spec = validateScheduleRequest(body, { config: gw.config, now });
      const rec = buildRecord(spec, { principal: null, now });
      await store.create(rec);
      return rec;
    },
    runsOf: async (scheduleId) => {
      const out: RunSnapshot[] = [];
      for await (const k of await gw.reader.runs.keys()) {
        const e = await gw.reader.runs.get(k);
        if (e?.operation !== "PUT") continue;
        const s = e.json<RunSnapshot>();
        if (s.schedule_id === scheduleId) out.push(s);
      }
      return out.sort((a, b) => (a.scheduled_for ?? 0) - (b.scheduled_for ?? 0));
    },
    read: async (scheduleId) => (await store.get(scheduleId)).rec,
    [Symbol.asyncDispose]: () => gw[Symbol.asyncDispose](),
  };
}
