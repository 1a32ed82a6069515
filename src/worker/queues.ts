/**
 * The work queues a worker serves (SPEC §13) and which of them to pull next. A queue is one
 * durable consumer: a tag and a priority — and in namespaced mode a tenant. `WorkQueues` finds
 * the tenants (from the work stream's subjects every {@linkcode DISCOVER_INTERVAL_MS} and the
 * tenants bucket every {@linkcode LIMITS_INTERVAL_MS}, bounded by {@linkcode MAX_TENANTS}), creates their consumers with the tenant's limit as
 * `max_ack_pending` (and changes it live when the limit changes), keeps each queue's pending
 * count fresh, and plans a round of pulls for the free slots:
 *
 * - tenants in round-robin, each getting up to its `weight` slots per turn, so one tenant's
 *   backlog never holds another tenant's runs behind it;
 * - inside a tenant, `high` before `normal` before `low`, except that every tenth pull of the
 *   tenant takes `low` first (no starvation);
 * - one pull request per queue per round, for as many jobs as the queue gets (batched, SPEC §10).
 *
 * In shared mode there is one group (all tenants share the queues), so only priority and tag
 * rotation apply.
 *
 * @module
 */

import type { Consumer, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { type Config, parseWorkSubject, workFilter } from "../config.ts";
import { NO_TENANT, PRIORITIES, type Priority, TENANT_PATTERN } from "../contract/tenancy.ts";
import type { Logger } from "../log.ts";
import { ensureConsumer } from "../nats/resources.ts";
import { readTenantLimits, type TenantLimits, tenantMaxAckPending } from "../runs/tenants.ts";

/** How often the work stream is looked at for new tenants. */
export const DISCOVER_INTERVAL_MS = 500;

/** How often every served tenant's limit and weight are read again (and applied). */
export const LIMITS_INTERVAL_MS = 2000;

/** At most this many tenants are served by one worker (a bound on discovery). */
export const MAX_TENANTS = 1000;

/** Every `LOW_EVERY`-th pull of a tenant takes `low` first. */
export const LOW_EVERY = 10;

/** One consumer the worker pulls from. */
export interface WorkQueue {
  /** Tenant (`null` in shared mode). */
  tenant: string | null;
  /** The tag. */
  tag: string;
  /** The priority. */
  priority: Priority;
  /** Durable name. */
  durable: string;
  /** The nats.js consumer. */
  consumer: Consumer;
  /** Its MaxDeliver. */
  maxDeliver: number;
  /** Jobs not delivered yet, as last seen (lowered locally as pulls are planned). */
  pending: number;
  /** Jobs delivered and not acked, as last seen. */
  ackPending: number;
  /** Its `max_ack_pending`. */
  maxAckPending: number;
  /** A pull of this queue is in flight. */
  fetching: boolean;
}

/** One pull of a round: a queue and how many jobs to ask it for. */
export interface PlannedPull {
  /** The queue. */
  queue: WorkQueue;
  /** Jobs to ask for (≥ 1). */
  count: number;
}

/** Options of {@linkcode WorkQueues}. */
export interface WorkQueuesOptions {
  /** The configuration (mode, names, consumer settings). */
  config: Config;
  /** Tags served. */
  tags: string[];
  /** Tenants served (namespaced mode): ids, or `"*"` for every tenant. */
  tenants: string[] | "*";
  /** JetStream manager (consumers, stream info). */
  jsm: JetStreamManager;
  /** JetStream client (consumer handles). */
  js: JetStreamClient;
  /** The tenants bucket (limits and weights). */
  tenantsKv: KV;
  /** Logger. */
  log: Logger;
}

/** The queues of one worker; see the module documentation. */
export class WorkQueues {
  readonly #o: WorkQueuesOptions;
  readonly #queues = new Map<string, WorkQueue>();
  readonly #limits = new Map<string, TenantLimits | null>();
  readonly #pulls = new Map<string, number>();
  #cursor = 0;
  #discoveredAt = 0;
  #limitsAt = 0;

  /**
   * Make the queue set (nothing is created before {@linkcode WorkQueues.start}).
   *
   * @param options Configuration, tags, tenants and the NATS handles.
   */
  constructor(options: WorkQueuesOptions) {
    this.#o = options;
  }

  /** Every queue known now. */
  get queues(): WorkQueue[] {
    return [...this.#queues.values()];
  }

  /** The tenants served now (namespaced mode; `[]` in shared mode). */
  get tenants(): string[] {
    return [...new Set(this.queues.map((q) => q.tenant).filter((t) => t !== null))].sort();
  }

  /**
   * Make the queues known at start: every tag and priority (of each named tenant, or of the
   * tenants found so far, in namespaced mode).
   *
   * @returns When their consumers exist.
   * @throws {Error} The nats.js error when JetStream does not answer.
   */
  async start(): Promise<void> {
    if (this.#o.config.tenantIsolation !== "namespaced") {
      for (const tag of this.#o.tags) await this.#addTenantTag(null, tag);
      return;
    }
    await this.discover(true);
  }

  /**
   * Find tenants that appeared (namespaced mode, at most every
   * {@linkcode DISCOVER_INTERVAL_MS} unless forced) and apply changed limits.
   *
   * @param force Look now, whatever the interval.
   * @returns When done (errors are logged, never thrown, after the first start).
   */
  async discover(force = false): Promise<void> {
    const { config } = this.#o;
    if (config.tenantIsolation !== "namespaced") return;
    const now = Date.now();
    if (!force && now - this.#discoveredAt < DISCOVER_INTERVAL_MS) return;
    this.#discoveredAt = now;
    const all = this.#o.tenants === "*";
    // Limits (and tenants that only have a record) are read less often than the stream.
    const withLimits = force || now - this.#limitsAt >= LIMITS_INTERVAL_MS;
    const found = new Set<string>(all ? [] : this.#o.tenants as string[]);
    if (all) { for (const t of await this.#tenantsFromStream()) found.add(t); }
    if (all && withLimits) {
      for await (const key of await this.#o.tenantsKv.keys()) {
        if (found.size >= MAX_TENANTS) break;
        if (TENANT_PATTERN.test(key)) found.add(key);
      }
    }
    if (withLimits) this.#limitsAt = now;
    for (const tenant of found) {
      const known = this.#limits.has(tenant);
      if (known && !withLimits) continue;
      const limits = await readTenantLimits(this.#o.tenantsKv, tenant);
      this.#limits.set(tenant, limits);
      for (const tag of this.#o.tags) await this.#addTenantTag(tenant, tag);
      await this.#applyLimit(tenant, limits);
    }
  }

  /**
   * Refresh every queue's pending and ack-pending counts (one consumer info each, in
   * parallel).
   *
   * @returns When done (a queue that cannot be read keeps its old counts).
   */
  async refresh(): Promise<void> {
    await Promise.all(this.queues.map(async (q) => {
      try {
        const info = await q.consumer.info();
        if (!q.fetching) q.pending = info.num_pending;
        q.ackPending = info.num_ack_pending;
        q.maxAckPending = info.config.max_ack_pending ?? q.maxAckPending;
      } catch (err) {
        this.#o.log.debug("Cannot read a queue's counts", {
          consumer: q.durable,
          error: (err as Error)?.message,
        });
      }
    }));
  }

  /**
   * Plan one round of pulls for `free` slots: tenants round-robin by weight, priorities in
   * order inside each tenant (see the module documentation). The planned counts are taken off
   * the queues' `pending` at once, so the next round does not plan them again.
   *
   * @param free Free slots (≥ 1).
   * @returns The pulls, at most one per queue; empty when nothing is known to be waiting.
   */
  plan(free: number): PlannedPull[] {
    const groups = this.#groups();
    if (groups.length === 0) return [];
    const start = this.#cursor++ % groups.length;
    const order = [...groups.slice(start), ...groups.slice(0, start)];
    const out = new Map<WorkQueue, number>();
    let left = free;
    // Round-robin: each tenant up to its weight per turn, until the slots or the work run out.
    for (let progress = true; left > 0 && progress;) {
      progress = false;
      for (const g of order) {
        for (let w = 0; w < g.weight && left > 0; w++) {
          const q = this.#nextQueue(g, out);
          if (q === null) break;
          out.set(q, (out.get(q) ?? 0) + 1);
          left--;
          progress = true;
        }
        if (left === 0) break;
      }
    }
    const pulls: PlannedPull[] = [];
    for (const [queue, count] of out) {
      queue.pending -= count;
      pulls.push({ queue, count });
      const key = queue.tenant ?? "";
      this.#pulls.set(key, (this.#pulls.get(key) ?? 0) + 1);
    }
    return pulls;
  }

  /** The queues grouped by tenant, only those with work to take, each with its weight. */
  #groups(): { key: string; weight: number; queues: WorkQueue[] }[] {
    const by = new Map<string, WorkQueue[]>();
    for (const q of this.#queues.values()) {
      if (q.fetching || q.pending <= 0 || q.ackPending >= q.maxAckPending) continue;
      const key = q.tenant ?? "";
      by.set(key, [...(by.get(key) ?? []), q]);
    }
    return [...by].sort(([a], [b]) => a < b ? -1 : 1).map(([key, queues]) => ({
      key,
      weight: this.#limits.get(key)?.weight ?? 1,
      queues,
    }));
  }

  /** The next queue of a tenant to give a slot: by priority (low first every tenth pull). */
  #nextQueue(
    g: { key: string; queues: WorkQueue[] },
    planned: Map<WorkQueue, number>,
  ): WorkQueue | null {
    const n = this.#pulls.get(g.key) ?? 0;
    const order: Priority[] = n % LOW_EVERY === LOW_EVERY - 1
      ? ["low", "high", "normal"]
      : [...PRIORITIES];
    // Tags take turns too: each round starts at another of the tenant's queues.
    const start = n % g.queues.length;
    const rotated = [...g.queues.slice(start), ...g.queues.slice(0, start)];
    for (const p of order) {
      for (const q of rotated) {
        if (q.priority !== p) continue;
        const taken = planned.get(q) ?? 0;
        const room = Math.min(q.pending, q.maxAckPending - q.ackPending) - taken;
        if (room > 0) return q;
      }
    }
    return null;
  }

  /** Tenants that have (or had) work on the stream, bounded by {@linkcode MAX_TENANTS}. */
  async #tenantsFromStream(): Promise<string[]> {
    const { config, jsm } = this.#o;
    const info = await jsm.streams.info(config.workStream, {
      subjects_filter: workFilter(config),
    });
    const out = new Set<string>();
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const t = parseWorkSubject(config, subject)?.tenant;
      if (t && this.#o.tags.includes(parseWorkSubject(config, subject)!.tag)) out.add(t);
      if (out.size >= MAX_TENANTS) break;
    }
    return [...out];
  }

  async #addTenantTag(tenant: string | null, tag: string): Promise<void> {
    const { config, jsm, js } = this.#o;
    const limits = tenant === null ? null : this.#limits.get(tenant) ?? null;
    const maxAckPending = tenant === null
      ? config.consumerMaxAckPending
      : tenantMaxAckPending(config, limits);
    for (const priority of PRIORITIES) {
      const key = `${tenant ?? ""}\u0000${tag}\u0000${priority}`;
      if (this.#queues.has(key)) continue;
      const route = { tenant: tenant ?? NO_TENANT, tag, priority };
      const durable = await ensureConsumer(jsm, config, { ...route, maxAckPending });
      const consumer = await js.consumers.get(config.workStream, durable);
      const info = await consumer.info(true);
      this.#queues.set(key, {
        tenant,
        tag,
        priority,
        durable,
        consumer,
        maxDeliver: info.config.max_deliver ?? config.consumerMaxDeliver,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        maxAckPending: info.config.max_ack_pending ?? maxAckPending,
        fetching: false,
      });
      if (tenant !== null && priority === "normal") {
        this.#o.log.info("Serving tenant", { tenant, tag, consumer: durable });
      }
    }
  }

  /** Set a tenant's consumers' `max_ack_pending` to its limit when it changed. */
  async #applyLimit(tenant: string, limits: TenantLimits | null): Promise<void> {
    const { config, jsm } = this.#o;
    const want = tenantMaxAckPending(config, limits);
    for (const q of this.#queues.values()) {
      if (q.tenant !== tenant || q.maxAckPending === want) continue;
      try {
        await jsm.consumers.update(config.workStream, q.durable, { max_ack_pending: want });
        q.maxAckPending = want;
        this.#o.log.info("Tenant limit applied", { tenant, consumer: q.durable, limit: want });
      } catch (err) {
        this.#o.log.warn("Cannot apply a tenant's limit", { tenant, consumer: q.durable }, err);
      }
    }
  }
}
