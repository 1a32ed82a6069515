/**
 * A worker's part of the flow catalog (SPEC §12): it publishes one entry per (tag, flow) it
 * serves in the `pyoco_flows` bucket under `<tag>.<flow_name>`, and answers the routing question
 * of a job it cannot run ({@linkcode WorkerCatalog.capableWorkerExists}).
 *
 * Several workers of one tag with one flow share the entry: each write is a compare-and-set
 * merge that adds this worker to `workers` (and its callables to `worker_callables`) and drops
 * the workers that are no longer alive (by `isWorkerAlive` of `src/contract/workers.ts` over
 * the workers bucket, and still listing the tag). The content (graph, tasks, defaults) is the
 * last writer's. At start the worker also takes itself out of the entries of flows it no longer
 * has. Then, with every heartbeat interval, it re-reads its entries and writes again only when
 * it is missing from one (another worker dropped it while it was silent) or the entry is older
 * than the refresh period (1 h; the bucket's TTL is 24 h).
 *
 * A worker without any flow publishes nothing (its tasks are not visible to the catalog).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { type Config, workerDisconnectedAfterSec } from "../config.ts";
import {
  catalogKey,
  type FlowCatalogEntry,
  parseCatalogKey,
  yamlCallables,
} from "../contract/catalog.ts";
import { type Job, nowSec, type WorkerRecord } from "../contract/wire.ts";
import { isWorkerAlive } from "../contract/workers.ts";
import type { Flow } from "../flow/types.ts";
import { parseWorkflowYaml } from "../flow/yaml.ts";
import type { Logger } from "../log.ts";
import { createJson, updateJson } from "../nats/kv.ts";
import type { WorkerRegistry } from "./flow_lookup.ts";

/** Options of {@linkcode WorkerCatalog}. */
export interface WorkerCatalogOptions {
  /** The `pyoco_flows` bucket. */
  flows: KV;
  /** The workers bucket (liveness of the other workers of an entry). */
  workers: KV;
  /** The flows and tasks of this worker. */
  registry: WorkerRegistry;
  /** This worker's id. */
  workerId: string;
  /** The tags it consumes. */
  tags: readonly string[];
  /** The configuration (heartbeat interval, liveness threshold, YAML size limit). */
  config: Config;
  /** Where publish problems are logged. */
  logger: Logger;
  /** Rewrite an entry at least this often, in seconds. @default {3600} */
  refreshSec?: number;
}

/**
 * What a job runner asks when the flow (or a callable) of a job is not on its worker: the NAK
 * delay that hands the job back for a live worker of the tag that has it, or `null` to settle it
 * as `flow_not_found` (SPEC §12).
 */
export type HandBackDelay = (
  job: Job,
  at: { tag: string; delivery: number },
) => Promise<number | null>;

/**
 * How long a job the worker cannot run waits before it is offered again, by delivery count:
 * 250 ms doubling to 30 s, so a capable worker busy with a long run is waited for instead of
 * the job running out of deliveries.
 *
 * @param delivery The message's delivery count (1 for the first).
 * @returns The NAK delay in milliseconds.
 *
 * @example Usage
 * ```ts
 * import { routingNakDelayMs } from "./catalog.ts";
 * import assert from "node:assert/strict";
 * assert.equal(routingNakDelayMs(1), 250);
 * assert.equal(routingNakDelayMs(3), 1000);
 * assert.equal(routingNakDelayMs(20), 30_000);
 * ```
 */
export function routingNakDelayMs(delivery: number): number {
  return Math.min(250 * 2 ** Math.max(0, Math.min(delivery - 1, 10)), 30_000);
}

/**
 * The catalog entries a worker publishes: one per tag and flow (flows whose name cannot be a
 * KV key are left out), each listing the worker and every callable it registers.
 *
 * @param registry The worker's flows and tasks.
 * @param options The worker id and its tags.
 * @returns The entries by key.
 */
export function catalogEntriesOf(
  registry: WorkerRegistry,
  options: { workerId: string; tags: readonly string[] },
): Map<string, FlowCatalogEntry> {
  const callables = [...registry.tasks.keys()].sort();
  const out = new Map<string, FlowCatalogEntry>();
  for (const tag of options.tags) {
    for (const flow of registry.flows.values()) {
      const key = catalogKey(tag, flow.name);
      if (key === null) continue;
      out.set(key, _entry(flow, tag, { workerId: options.workerId, callables }));
    }
  }
  return out;
}

function _entry(
  flow: Flow,
  tag: string,
  me: { workerId: string; callables: string[] },
): FlowCatalogEntry {
  return {
    flow_name: flow.name,
    tag,
    graph: flow.graph,
    tasks: [...flow.tasks.keys()],
    defaults: { ...flow.defaults },
    callables: me.callables,
    workers: [me.workerId],
    worker_callables: { [me.workerId]: me.callables },
    updated_at: nowSec(),
  };
}

/** Worker ids an entry names (`workers` and the keys of `worker_callables`). */
function _idsOf(entry: Partial<FlowCatalogEntry> | null): string[] {
  if (entry === null) return [];
  const ids = new Set<string>(Array.isArray(entry.workers) ? entry.workers : []);
  const map = entry.worker_callables;
  if (map && typeof map === "object") { for (const id of Object.keys(map)) ids.add(id); }
  return [...ids].filter((id) => typeof id === "string");
}

/**
 * The entry after a merge: `mine` plus the other workers of `current` that `keep` accepts
 * (without this worker when `mine` is `null`: it leaves the entry).
 *
 * @param current The stored entry (or `null`).
 * @param mine This worker's entry, or `null` to leave.
 * @param keep Which other worker ids stay.
 * @returns The entry to write.
 */
export function mergeEntry(
  current: Partial<FlowCatalogEntry> | null,
  mine: FlowCatalogEntry | null,
  keep: { workerId: string; alive: ReadonlySet<string> },
): Partial<FlowCatalogEntry> {
  const byWorker: Record<string, string[]> = {};
  const stored = current?.worker_callables ?? {};
  const storedAll = Array.isArray(current?.callables) ? current.callables : [];
  for (const id of _idsOf(current)) {
    if (id === keep.workerId || !keep.alive.has(id)) continue;
    byWorker[id] = Array.isArray(stored[id]) ? stored[id]! : storedAll;
  }
  if (mine !== null) byWorker[keep.workerId] = mine.worker_callables?.[keep.workerId] ?? [];
  const ids = Object.keys(byWorker).sort();
  const callables = [...new Set(ids.flatMap((id) => byWorker[id]!))].sort();
  return {
    ...(current ?? {}),
    ...(mine ?? {}),
    callables,
    workers: ids,
    worker_callables: byWorker,
    updated_at: nowSec(),
  };
}

/** Publishes a worker's catalog entries and answers routing questions. */
export class WorkerCatalog {
  readonly #opts: WorkerCatalogOptions;
  readonly #mine: Map<string, FlowCatalogEntry>;
  readonly #refreshSec: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #chain: Promise<void> = Promise.resolve();

  /**
   * Prepare the entries (nothing is written before {@linkcode WorkerCatalog.start}).
   *
   * @param options Buckets, registry, identity and configuration.
   */
  constructor(options: WorkerCatalogOptions) {
    this.#opts = options;
    this.#mine = catalogEntriesOf(options.registry, options);
    this.#refreshSec = options.refreshSec ?? 3600;
  }

  /** The keys this worker publishes. */
  get keys(): string[] {
    return [...this.#mine.keys()];
  }

  /**
   * Publish every entry, leave the entries of flows this worker no longer has, then re-check
   * with every heartbeat interval. Failures are logged, never thrown.
   *
   * @returns When the first publish is done.
   */
  async start(): Promise<void> {
    if (this.#timer === null) {
      const everyMs = this.#opts.config.workerHeartbeatIntervalSec * 1000;
      this.#timer = setInterval(() => void this.#serial(() => this.refresh()), everyMs);
    }
    await this.#serial(async () => {
      for (const tag of this.#opts.tags) await this.#leaveOthers(tag);
      await this.refresh(true);
    });
  }

  /**
   * Stop re-checking (the entries stay; a stopped worker is not alive, so it is not counted).
   *
   * @returns When a re-check in flight is done (so nothing is written after the connection
   *   closes).
   */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#chain;
  }

  /**
   * Write each entry that lacks this worker or is older than the refresh period (every entry
   * with `force`).
   *
   * @param force Write every entry.
   * @returns When done (failures are logged).
   */
  async refresh(force = false): Promise<void> {
    for (const [key, mine] of this.#mine) {
      try {
        const current = await this.#read(key);
        const fresh = current !== null && _idsOf(current.value).includes(this.#opts.workerId) &&
          typeof current.value.updated_at === "number" &&
          current.value.updated_at > nowSec() - this.#refreshSec;
        if (!force && fresh) continue;
        await this.#write(key, mine);
      } catch (err) {
        this.#opts.logger.warn("Cannot publish a flow catalog entry", { key }, err);
      }
    }
  }

  /**
   * Whether another live worker of `tag` can run a job this worker cannot: the catalog entry of
   * its flow lists one, or — for a flow.yaml job — one registers every callable this worker
   * lacks.
   *
   * @param job The job.
   * @param tag The tag it came from.
   * @returns Whether to hand the job back (NAK) for that worker.
   * @throws {Error} A NATS error (the job is then NAKed as for any NATS trouble).
   */
  async capableWorkerExists(job: Job, tag: string): Promise<boolean> {
    const me = this.#opts.workerId;
    if (typeof job.workflow_yaml !== "string") {
      const key = catalogKey(tag, job.flow_name);
      const entry = key === null ? null : await this.#read(key);
      const others = _idsOf(entry?.value ?? null).filter((id) => id !== me);
      return (await this.#alive(others, tag)).size > 0;
    }
    let needed: string[];
    try {
      const parsed = await parseWorkflowYaml(job.workflow_yaml, {
        maxBytes: this.#opts.config.workflowYamlMaxBytes,
      });
      needed = yamlCallables(parsed.config).filter((c) => !this.#opts.registry.tasks.has(c));
    } catch {
      return false; // invalid YAML is not a routing matter
    }
    const offers = new Map<string, Set<string>>();
    for await (const key of await this.#opts.flows.keys(`${tag}.>`)) {
      const entry = (await this.#read(key))?.value;
      if (!entry) continue;
      const map = entry.worker_callables ?? {};
      for (const id of _idsOf(entry)) {
        if (id === me) continue;
        const set = offers.get(id) ?? new Set<string>();
        const list = Array.isArray(map[id]) ? map[id]! : [];
        for (const c of list) set.add(c);
        offers.set(id, set);
      }
    }
    const capable = [...offers].filter(([, set]) => needed.every((c) => set.has(c)));
    return (await this.#alive(capable.map(([id]) => id), tag)).size > 0;
  }

  /**
   * The routing rule of SPEC §12 for a job this worker cannot run: hand it back (NAK with
   * {@linkcode routingNakDelayMs}) while another live worker of the tag can run it, except on
   * the last delivery (then it is settled as `flow_not_found` like any other).
   *
   * @param job The job.
   * @param at The tag it came from, its delivery count and the consumer's MaxDeliver.
   * @returns The NAK delay in milliseconds, or `null` for `flow_not_found`.
   * @throws {Error} A NATS error (the job is then NAKed as for any NATS trouble).
   */
  async handBackDelayMs(
    job: Job,
    at: { tag: string; delivery: number; maxDeliver: number },
  ): Promise<number | null> {
    if (at.delivery >= at.maxDeliver) return null;
    if (!(await this.capableWorkerExists(job, at.tag))) return null;
    // ±25% jitter: two workers handing each other's jobs back at the same moment would otherwise
    // get them back in lockstep (each redelivery going to the pull its own NAK just re-opened).
    return Math.round(routingNakDelayMs(at.delivery) * (0.75 + Math.random() * 0.5));
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(fn, fn);
    return this.#chain;
  }

  async #read(key: string): Promise<{ value: Partial<FlowCatalogEntry>; revision: number } | null> {
    const entry = await this.#opts.flows.get(key);
    if (!entry || entry.operation !== "PUT" || entry.length === 0) return null;
    try {
      const value = entry.json<Partial<FlowCatalogEntry>>();
      if (value && typeof value === "object" && !Array.isArray(value)) {
        return { value, revision: entry.revision };
      }
    } catch { /* not JSON: overwritten by the next write */ }
    return { value: {}, revision: entry.revision };
  }

  /** Compare-and-set merge of `mine` (or leaving, with `null`) into the entry at `key`. */
  async #write(key: string, mine: FlowCatalogEntry | null): Promise<void> {
    const at = parseCatalogKey(key)!;
    for (let i = 0; i < 10; i++) {
      const current = await this.#read(key);
      const others = _idsOf(current?.value ?? null).filter((id) => id !== this.#opts.workerId);
      const alive = await this.#alive(others, at.tag);
      const next = mergeEntry(
        current?.value ?? null,
        mine === null ? null : {
          ...mine,
          updated_at: nowSec(),
        },
        { workerId: this.#opts.workerId, alive },
      );
      const revision = current === null
        ? await createJson(this.#opts.flows, key, next)
        : await updateJson(this.#opts.flows, key, next, current.revision);
      if (revision !== null) return;
    }
    throw new Error(`Cannot write flow catalog entry "${key}": it kept changing (10 conflicts)`);
  }

  /** Take this worker out of the entries of `tag` for flows it does not have. */
  async #leaveOthers(tag: string): Promise<void> {
    try {
      for await (const key of await this.#opts.flows.keys(`${tag}.>`)) {
        if (this.#mine.has(key)) continue;
        const current = await this.#read(key);
        if (current === null || !_idsOf(current.value).includes(this.#opts.workerId)) continue;
        await this.#write(key, null);
      }
    } catch (err) {
      this.#opts.logger.warn("Cannot tidy the flow catalog of a tag", { tag }, err);
    }
  }

  /** Which of `ids` are alive now and still consume `tag`. */
  async #alive(ids: string[], tag: string): Promise<Set<string>> {
    const liveness = {
      disconnectedAfterSec: workerDisconnectedAfterSec(this.#opts.config),
      now: nowSec(),
    };
    const alive = new Set<string>();
    await Promise.all(ids.map(async (id) => {
      if (!/^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/.test(id)) return;
      const entry = await this.#opts.workers.get(id);
      if (!entry || entry.operation !== "PUT" || entry.length === 0) return;
      let record: Partial<WorkerRecord>;
      try {
        record = entry.json<Partial<WorkerRecord>>();
      } catch {
        return;
      }
      if (
        Array.isArray(record.tags) && record.tags.includes(tag) && isWorkerAlive(record, liveness)
      ) {
        alive.add(id);
      }
    }));
    return alive;
  }
}
