/**
 * The gateway's view of the flow catalog (SPEC §12): the `pyoco_flows` entries the workers
 * publish and the worker liveness records, both held in memory and kept current by one KV watch
 * each (no KV read per submit or per `GET /flows`). From them:
 * - `GET /flows` / `GET /flows/{tag}/{name}` ({@linkcode FlowCatalog.list}, {@linkcode FlowCatalog.get}),
 *   each flow with the workers alive now that offer it;
 * - the submit check ({@linkcode FlowCatalog.checkSubmit}): when the catalog knows the tag (some
 *   entry exists for it) and no entry has the flow — or, for a flow.yaml run, a callable — the
 *   submit fails with {@linkcode FlowNotOfferedError} (422 ERR-PYOCO-0006) naming the closest
 *   names; a tag the catalog knows nothing of is accepted (a worker may come later);
 * - `waiting_reason` ({@linkcode FlowCatalog.waitingReason}): `no live worker serves tag gpu`.
 *
 * Decisions: a worker counts for a flow when it is alive by `src/contract/workers.ts` and its
 * record still lists the tag. Entries stay when their workers stop (the tag stays "known", so a
 * typo is caught while the fleet restarts); they expire 24 h after their last refresh.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/nats-core";
import { type Config, workerDisconnectedAfterSec } from "../config.ts";
import {
  closestNames,
  didYouMean,
  type FlowCatalogEntry,
  type FlowView,
  parseCatalogKey,
} from "../contract/catalog.ts";
import { nowSec, type WorkerRecord } from "../contract/wire.ts";
import { isWorkerAlive, type LivenessOptions } from "../contract/workers.ts";
import type { Logger } from "../log.ts";
import { FlowNotOfferedError } from "./errors.ts";

export { FlowNotOfferedError };
export type { FlowCatalogEntry, FlowView };

/** Options of {@linkcode FlowCatalog}. */
export interface FlowCatalogOptions {
  /** The `pyoco_flows` bucket. */
  flows: KV;
  /** The workers bucket. */
  workers: KV;
  /** The configuration (liveness threshold, `PYOCO_SUBMIT_FLOW_CHECK`, workers TTL). */
  config: Config;
  /** Where watch problems are logged. */
  logger?: Logger;
  /** The connection behind the buckets: the watches are re-opened on every reconnect. */
  connection?: NatsConnection;
}

/** What {@linkcode FlowCatalog.checkSubmit} checks. */
export interface SubmitCheck {
  /** The flow name (checked for a run by name). */
  flowName: string;
  /** The tag whose queue gets the job. */
  tag: string;
  /** The registered tasks a flow.yaml run needs (given for YAML runs only). */
  callables?: readonly string[];
}

/** A bucket held in memory by a KV watch, re-opened after errors and reconnects. */
class _KvMirror<T> {
  readonly values = new Map<string, T>();
  readonly #kv: KV;
  readonly #logger: Logger | undefined;
  readonly #what: string;
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  readonly #ready = Promise.withResolvers<void>();
  #isReady = false;
  #wake: (() => void) | null = null;

  constructor(kv: KV, what: string, logger?: Logger) {
    this.#kv = kv;
    this.#what = what;
    this.#logger = logger;
  }

  get ready(): boolean {
    return this.#isReady;
  }

  start(): void {
    this.#loop = this.#run();
  }

  whenReady(): Promise<void> {
    return this.#ready.promise;
  }

  reopen(): void {
    this.#watch?.stop();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watch?.stop();
    this.#wake?.();
    await this.#loop;
  }

  #markReady(): void {
    if (this.#isReady) return;
    this.#isReady = true;
    this.#ready.resolve();
  }

  #apply(entry: KvWatchEntry): void {
    if (entry.operation !== "PUT" || entry.length === 0) {
      this.values.delete(entry.key);
      return;
    }
    try {
      const value = entry.json<T>();
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        this.values.set(entry.key, value);
        return;
      }
    } catch { /* not JSON: dropped below */ }
    this.values.delete(entry.key);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let fallback: ReturnType<typeof setTimeout> | undefined;
      try {
        const empty = (await this.#kv.status()).values === 0;
        const watch = await this.#kv.watch();
        this.#watch = watch;
        if (this.#closed) watch.stop();
        // Once the initial values are in, keys this (re)opened watch did not bring are gone (a
        // TTL expiry leaves no marker): forget them.
        const seen = new Set<string>();
        let initial = true;
        const settle = () => {
          if (!initial) return;
          initial = false;
          for (const key of [...this.values.keys()]) if (!seen.has(key)) this.values.delete(key);
          this.#markReady();
        };
        if (empty) settle();
        let received = false;
        // Not empty, yet the watch brings nothing (the values expired meanwhile): loaded.
        fallback = setTimeout(() => received || settle(), 2000);
        for await (const entry of watch) {
          received = true;
          if (initial) seen.add(entry.key);
          this.#apply(entry);
          if (entry.delta === 0 || entry.isUpdate) settle();
        }
      } catch (err) {
        if (!this.#closed) this.#logger?.warn(`${this.#what} watch failed; re-opening it`, {}, err);
      } finally {
        clearTimeout(fallback);
        this.#watch = null;
      }
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
  }
}

/**
 * The flow catalog and worker liveness as the gateway sees them, kept current by KV watches.
 *
 * @example Check a submit
 * ```ts ignore
 * const catalog = new FlowCatalog({ flows, workers, config });
 * catalog.start();
 * await catalog.whenReady(5000);
 * catalog.checkSubmit({ flowName: "helo", tag: "default" }); // throws: did you mean "hello"?
 * ```
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export class FlowCatalog {
  readonly #config: Config;
  readonly #entries: _KvMirror<FlowCatalogEntry>;
  readonly #workers: _KvMirror<Partial<WorkerRecord>>;
  readonly #connection: NatsConnection | undefined;
  #statusLoop: Promise<void> = Promise.resolve();
  #statusIter: AsyncIterable<unknown> | null = null;

  /**
   * Prepare the catalog (nothing is read before {@linkcode FlowCatalog.start}).
   *
   * @param options The buckets, configuration, logger and connection.
   */
  constructor(options: FlowCatalogOptions) {
    this.#config = options.config;
    this.#entries = new _KvMirror(options.flows, "Flow catalog", options.logger);
    this.#workers = new _KvMirror(options.workers, "Workers", options.logger);
    this.#connection = options.connection;
  }

  /** Start both watches (re-opened in the background after errors and reconnects). */
  start(): void {
    this.#entries.start();
    this.#workers.start();
    const nc = this.#connection;
    if (nc) {
      const it = nc.status();
      this.#statusIter = it;
      this.#statusLoop = (async () => {
        for await (const s of it) {
          if (s.type === "reconnect") {
            this.#entries.reopen();
            this.#workers.reopen();
          }
        }
      })().catch(() => {});
    }
  }

  /** Whether both buckets have been loaded once. */
  get ready(): boolean {
    return this.#entries.ready && this.#workers.ready;
  }

  /**
   * Wait until both buckets are loaded.
   *
   * @param timeoutMs Give up after this long.
   * @returns Whether the catalog is ready.
   */
  async whenReady(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([this.#entries.whenReady(), this.#workers.whenReady()]),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    return this.ready;
  }

  /** Stop the watches. */
  async close(): Promise<void> {
    (this.#statusIter as { stop?: () => void } | null)?.stop?.();
    await Promise.all([this.#entries.close(), this.#workers.close()]);
    await this.#statusLoop;
  }

  /**
   * The flows of the catalog, sorted by tag then flow name.
   *
   * @param options `tag`: only the flows offered on it.
   * @returns The views, each with its live workers.
   */
  list(options: { tag?: string } = {}): FlowView[] {
    const liveness = this.#liveness();
    const out: FlowView[] = [];
    for (const [key, entry] of this.#entries.values) {
      const at = parseCatalogKey(key);
      if (at === null || (options.tag !== undefined && at.tag !== options.tag)) continue;
      out.push(this.#view(entry, at, liveness));
    }
    out.sort((a, b) =>
      a.tag === b.tag ? (a.flow_name < b.flow_name ? -1 : 1) : (a.tag < b.tag ? -1 : 1)
    );
    return out;
  }

  /**
   * One flow of the catalog.
   *
   * @param tag The tag.
   * @param flowName The flow name.
   * @returns Its view, or `null` when the catalog has no such entry.
   */
  get(tag: string, flowName: string): FlowView | null {
    const entry = this.#entries.values.get(`${tag}.${flowName}`);
    return entry ? this.#view(entry, { tag, flowName }, this.#liveness()) : null;
  }

  /**
   * Check a submit against the catalog (`PYOCO_SUBMIT_FLOW_CHECK=catalog`; nothing is checked
   * with `off`, or before the catalog is loaded).
   *
   * @param check The flow (or a flow.yaml run's callables) and the tag.
   * @throws {FlowNotOfferedError} ERR-PYOCO-0006 when the catalog knows the tag and nothing on
   *   it offers the flow (or one of the callables); the message names the closest names.
   */
  checkSubmit(check: SubmitCheck): void {
    if (this.#config.submitFlowCheck === "off" || !this.#entries.ready) return;
    const flows: string[] = [];
    const callables = new Set<string>();
    for (const [key, entry] of this.#entries.values) {
      const at = parseCatalogKey(key);
      if (at === null || at.tag !== check.tag) continue;
      flows.push(at.flowName);
      for (const c of Array.isArray(entry.callables) ? entry.callables : []) callables.add(c);
    }
    if (flows.length === 0) return;
    const tag = JSON.stringify(check.tag);
    if (check.callables !== undefined) {
      const missing = check.callables.filter((c) => !callables.has(c));
      if (missing.length === 0) return;
      const first = missing[0]!;
      const hint = didYouMean(closestNames(first, callables));
      throw new FlowNotOfferedError(
        `Task ${
          JSON.stringify(first)
        } of the workflow is not registered on any worker of tag ${tag}` +
          (hint ? `: ${hint}` : ""),
        { path: "workflow.tasks", missing },
      );
    }
    if (flows.includes(check.flowName)) return;
    const hint = didYouMean(closestNames(check.flowName, flows));
    const known = flows.sort().slice(0, 20).map((f) => JSON.stringify(f)).join(", ");
    throw new FlowNotOfferedError(
      `Flow ${JSON.stringify(check.flowName)} is not offered on tag ${tag}: ` +
        (hint || `the workers of tag ${tag} offer ${known}`),
      { path: "flow_name", missing: [check.flowName] },
    );
  }

  /**
   * Why a pending run on `tag` cannot start: no live worker consumes the tag.
   *
   * @param tag The run's tag.
   * @returns `no live worker serves tag <tag>`, or `null` when some live worker does (or the
   *   workers are not loaded yet).
   */
  waitingReason(tag: string): string | null {
    if (!this.#workers.ready) return null;
    const liveness = this.#liveness();
    for (const record of this.#workers.values.values()) {
      if (Array.isArray(record.tags) && record.tags.includes(tag)) {
        if (isWorkerAlive(record, liveness)) return null;
      }
    }
    return `no live worker serves tag ${tag}`;
  }

  #liveness(): LivenessOptions {
    const now = nowSec();
    // The workers bucket's TTL removes records silently (no watch event): forget them here.
    const forgetBefore = now - this.#config.workersKvTtlSec - 60;
    for (const [id, r] of this.#workers.values) {
      if (typeof r.heartbeat_at !== "number" || r.heartbeat_at < forgetBefore) {
        this.#workers.values.delete(id);
      }
    }
    return { disconnectedAfterSec: workerDisconnectedAfterSec(this.#config), now };
  }

  #view(
    entry: FlowCatalogEntry,
    at: { tag: string; flowName: string },
    liveness: LivenessOptions,
  ): FlowView {
    const workers = Array.isArray(entry.workers) ? entry.workers : [];
    const live = workers.filter((id) => {
      const record = this.#workers.values.get(id);
      return record !== undefined && Array.isArray(record.tags) &&
        record.tags.includes(at.tag) && isWorkerAlive(record, liveness);
    });
    return {
      flow_name: at.flowName,
      tag: at.tag,
      graph: typeof entry.graph === "string" ? entry.graph : "",
      tasks: Array.isArray(entry.tasks) ? entry.tasks : [],
      defaults: entry.defaults && typeof entry.defaults === "object" ? entry.defaults : {},
      live_workers: live,
      callables: Array.isArray(entry.callables) ? entry.callables : [],
      updated_at: typeof entry.updated_at === "number" ? entry.updated_at : 0,
    };
  }
}
