/**
 * Watch streams (server-sent events) **[beyond]**.
 *
 * `GET /runs/{id}/watch[?include=records][&events=1][&after_seq=N]` — driven by a KV watch on
 * the run's key (no polling):
 * - `event: snapshot`, `id: <KV revision>`, `data: <snapshot>`: the first one is the current
 *   snapshot, then one per change; `task_records` only with `include=records|full|all`. The
 *   stream closes after the terminal snapshot.
 * - `event: heartbeat`, `data: {"ts": …}` after every `PYOCO_SSE_HEARTBEAT_SEC` without another
 *   frame.
 * - With `events=1`, `event: event`, `data: {seq, type, …}` items of the run's events stream are
 *   interleaved (from the start, or after `after_seq`), one frame per event: a batch message of
 *   the events stream (SPEC §10) is expanded with `expandEventMessage`, exactly as
 *   `GET /runs/{id}/events` does, with the same `seq`s. Ids then read `<revision>-<seq>` (last
 *   snapshot revision and last event `seq` sent; resuming inside a batch works). Before the
 *   terminal snapshot the stream first sends the events already stored (waiting up to 2 s for
 *   them); events published after the terminal snapshot are read with `GET /runs/{id}/events`.
 * - Reconnecting with `Last-Event-ID` (header, or the `last_event_id` query parameter) skips
 *   snapshot revisions ≤ it and events ≤ its sequence: the client never gets again what it has.
 *   When the current revision equals it, nothing is sent until the next change; when the run is
 *   already terminal at that revision, the stream closes at once.
 * - When NATS drops (or the KV watch ends), `event: error` `{detail, err_id: "ERR-PYOCO-0003"}`
 *   is sent and the stream closes: the client reconnects with `Last-Event-ID`. A deleted run
 *   sends `event: error` with ERR-PYOCO-0005. The stream never hangs silently.
 * - A missing run (or another tenant's) answers a plain 404 before any stream starts. The KV
 *   watch and the events consumer stop when the client disconnects.
 *
 * `GET /runs/watch[?status=&flow=&tag=]` — dashboards: `event: summary`, `id: <revision>`,
 * `data: <run summary>` for every run that changes and matches the filters (tenant-scoped),
 * `event: removed` `{run_id}` when a run's snapshot is deleted, heartbeats when idle (one at
 * once, so the client knows the stream is live). It rides on the run index's change feed (one
 * KV watch per gateway, not one per client). With `Last-Event-ID: <revision>` the changes after
 * that revision are sent first (at most {@linkcode WATCH_ALL_REPLAY_MAX}; more → `event: error`
 * asking the client to re-list with `GET /runs?cursor=`).
 *
 * @module
 */

import type { KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { Consumer, ConsumerMessages } from "@nats-io/jetstream";
import { ErrId } from "../contract/errors.ts";
import type { RunSnapshot } from "../contract/wire.ts";
import { isTerminal } from "../contract/wire.ts";
import { eventsSubject } from "../config.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { natsCall } from "../runs/backend.ts";
import { requireBackend, type RouteContext } from "./context.ts";
import { type FieldError, HttpError, invalidRequest } from "./errors.ts";
import { lastEventSeq } from "./events.ts";
import {
  type EventPosition,
  eventPosition,
  eventStartSeq,
  expandEventMessage,
  isAfterPosition,
} from "../contract/events.ts";
import { type IndexedRun, type RunChange, toSummary } from "../runs/run_index.ts";
import { requireIndex } from "../runs/reads.ts";
import { parseIncludes, parseRunFilters } from "./run_filters.ts";
import { readRun } from "./runs.ts";
import { SseStream } from "./_sse.ts";

/** Most changes `GET /runs/watch` replays after a `Last-Event-ID`. */
export const WATCH_ALL_REPLAY_MAX = 10_000;

/** How long the end of a run's stream waits for its stored events. */
const _EVENTS_DRAIN_MS = 2000;

/** A parsed `Last-Event-ID`. */
export interface LastEventId {
  /** Snapshot revision (or, for `/runs/watch`, the change revision) the client has. */
  revision: number;
  /** Event sequence the client has (0 when none). */
  seq: number;
}

/**
 * Parse a `Last-Event-ID` (`<revision>` or `<revision>-<seq>`).
 *
 * @param text The header or query value.
 * @returns The position, or `null` when malformed.
 */
export function parseLastEventId(text: string): LastEventId | null {
  // 16 digits for the seq: a batched event's is 10^15 + stream sequence × 1000 + index.
  const m = /^(\d{1,15})(?:-(\d{1,16}))?$/.exec(text.trim());
  if (!m) return null;
  const seq = m[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { revision: Number(m[1]), seq };
}

function _flag(value: string | null, path: string, errors: FieldError[]): boolean {
  if (value === null) return false;
  const v = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["", "0", "false", "no", "off"].includes(v)) return false;
  errors.push({ path, message: "must be true or false" });
  return false;
}

function _lastEventId(ctx: RouteContext, errors: FieldError[]): LastEventId | null {
  const text = ctx.req.headers.get("last-event-id") ?? ctx.url.searchParams.get("last_event_id");
  if (text === null || text.trim() === "") return null;
  const parsed = parseLastEventId(text);
  if (parsed === null) {
    errors.push({
      path: "Last-Event-ID",
      message: "must be an id this stream sent (<revision> or <revision>-<seq>)",
    });
  }
  return parsed;
}

/** `GET /runs/{id}/watch`: the run's snapshots (and events) as server-sent events. */
export async function watchRun(ctx: RouteContext): Promise<Response> {
  const errors: FieldError[] = [];
  let include = new Set<string>();
  try {
    include = parseIncludes(ctx.url, ["records", "full", "all"]);
  } catch (err) {
    if (err instanceof HttpError) errors.push(...err.errors);
    else throw err;
  }
  const withEvents = _flag(ctx.url.searchParams.get("events"), "events", errors);
  const afterSeqText = ctx.url.searchParams.get("after_seq");
  let afterSeq = 0;
  if (afterSeqText !== null) {
    const t = afterSeqText.trim();
    if (!/^\d{1,16}$/.test(t) || !Number.isSafeInteger(Number(t))) {
      errors.push({ path: "after_seq", message: "must be a non-negative integer" });
    } else {
      afterSeq = Number(afterSeqText.trim());
    }
  }
  const last = _lastEventId(ctx, errors);
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot watch the run");
  const { snapshot, key } = await readRun(ctx, backend);
  const session = new _RunWatch(ctx, backend, snapshot.run_id, {
    key,
    records: include.size > 0,
    events: withEvents,
    revision: last?.revision ?? 0,
    seq: last && last.seq > 0 ? last.seq : afterSeq,
    tenant: snapshot.tenant_id ?? null,
  });
  session.start();
  return session.sse.response();
}

interface _RunWatchOptions {
  /** The run's key in the runs bucket (`<tenant>.<run_id>` in namespaced mode). */
  key: string;
  /** The run's tenant: its events subject in namespaced mode (SPEC §13). */
  tenant: string | null;
  records: boolean;
  events: boolean;
  revision: number;
  seq: number;
}

class _RunWatch {
  readonly sse: SseStream;
  readonly #ctx: RouteContext;
  readonly #backend: RunsBackend;
  readonly #runId: string;
  readonly #opts: _RunWatchOptions;
  #revision: number;
  /** The last event `seq` sent (for ids) and where it sits in the stream (for skipping). */
  #seq: number;
  #position: EventPosition;
  #kvWatch: QueuedIterator<KvWatchEntry> | null = null;
  #events: ConsumerMessages | null = null;
  #eventsConsumer: Consumer | null = null;
  #seqWaiters: (() => void)[] = [];
  #offState: (() => void) | null = null;

  constructor(
    ctx: RouteContext,
    backend: RunsBackend,
    runId: string,
    opts: _RunWatchOptions,
  ) {
    this.#ctx = ctx;
    this.#backend = backend;
    this.#runId = runId;
    this.#opts = opts;
    this.#revision = opts.revision;
    this.#seq = opts.seq;
    this.#position = eventPosition(opts.seq);
    this.sse = new SseStream({
      heartbeatMs: ctx.config.sseHeartbeatSec * 1000,

      onClose: () => this.#cleanup(),
    });
  }

  start(): void {
    this.#offState = this.#backend.state.onChange((up) => {
      if (!up) this.#fail("NATS connection lost while watching the run; reconnect to resume");
    });
    if (!this.#backend.state.connected) {
      this.#fail("NATS is unavailable");
      return;
    }
    this.#run().catch((err) => {
      this.#ctx.logger.warn("Run watch failed", { run_id: this.#runId }, err);
      this.#fail(`Cannot watch run ${this.#runId}: ${(err as Error).message}`);
    });
  }

  get #id(): string {
    return this.#opts.events ? `${this.#revision}-${this.#seq}` : String(this.#revision);
  }

  async #run(): Promise<void> {
    const watch = await natsCall(
      () => this.#backend.runs.watch({ key: this.#opts.key }),
      `Cannot watch run ${this.#runId}`,
      this.#backend.timeoutMs,
    );
    if (this.sse.closed) {
      _stopWatch(watch);
      return;
    }
    this.#kvWatch = watch;
    if (this.#opts.events) await this.#startEvents();
    for await (const entry of watch) {
      if (this.sse.closed) break;
      if (entry.operation !== "PUT" || entry.length === 0) {
        this.sse.fail(ErrId.runNotFound, `Run ${JSON.stringify(this.#runId)} was deleted`);
        break;
      }
      let snapshot: RunSnapshot;
      try {
        snapshot = entry.json<RunSnapshot>();
      } catch {
        continue; // not JSON: nothing a client could use
      }
      const principal = this.#ctx.principal;
      if (principal !== null && snapshot.tenant_id !== principal.tenantId) {
        this.sse.fail(ErrId.runNotFound, `Run ${JSON.stringify(this.#runId)} not found`);
        break;
      }
      const terminal = isTerminal(snapshot.status);
      if (entry.revision <= this.#revision) {
        // The client already has this revision.
        if (!terminal) continue;
        this.sse.close();
        break;
      }
      if (terminal) await this.#drainEvents();
      this.#revision = entry.revision;
      if (!this.#opts.records) delete snapshot.task_records;
      if (snapshot.status === "PENDING") {
        // SPEC §12: why it does not start (`no live worker serves tag gpu`), or null.
        (snapshot as { waiting_reason?: string | null }).waiting_reason = this.#backend.catalog
          .waitingReason(snapshot.tag ?? this.#ctx.config.defaultTag);
      }
      this.sse.send("snapshot", snapshot, this.#id);
      if (terminal) {
        this.sse.close();
        break;
      }
    }
    if (!this.sse.closed) this.#fail("The run watch ended unexpectedly; reconnect to resume");
  }

  async #startEvents(): Promise<void> {
    const consumer = await natsCall(
      () =>
        this.#backend.js.consumers.get(this.#ctx.config.eventsStream, {
          filter_subjects: eventsSubject(this.#ctx.config, this.#runId, {
            tenant: this.#opts.tenant,
          }),
          opt_start_seq: eventStartSeq(this.#seq),
          inactive_threshold: 30_000,
        }),
      `Cannot read the events of run ${this.#runId}`,
      this.#backend.timeoutMs,
    );
    const messages = await natsCall(
      () => consumer.consume({ max_messages: 256 }),
      `Cannot read the events of run ${this.#runId}`,
      this.#backend.timeoutMs,
    );
    this.#eventsConsumer = consumer;
    if (this.sse.closed) {
      messages.stop();
      await consumer.delete().catch(() => {});
      return;
    }
    this.#events = messages;
    (async () => {
      for await (const m of messages) {
        if (this.sse.closed) break;
        // During the drain the terminal snapshot is sent last: events go first.
        for (const event of expandEventMessage(m.seq, m.data, this.#position)) {
          this.#seq = event.seq;
          this.#position = eventPosition(event.seq);
          this.sse.send("event", event, this.#id);
        }
        const waiters = this.#seqWaiters;
        this.#seqWaiters = [];
        for (const w of waiters) w();
      }
    })().catch(() => {});
  }

  /** Before the terminal snapshot: send the events already stored (bounded wait). */
  async #drainEvents(): Promise<void> {
    if (!this.#opts.events || this.#events === null) return;
    let target: number;
    try {
      target = await natsCall(
        () =>
          lastEventSeq(this.#backend.jsm, this.#ctx.config, this.#runId, {
            tenant: this.#opts.tenant,
          }),
        "Cannot read the last event",
        this.#backend.timeoutMs,
      );
    } catch {
      return;
    }
    const last = eventPosition(target);
    const deadline = Date.now() + _EVENTS_DRAIN_MS;
    while (
      target > 0 && isAfterPosition(last, this.#position) && !this.sse.closed &&
      Date.now() < deadline
    ) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#seqWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  #fail(detail: string): void {
    if (this.sse.closed) return;
    this.sse.fail(ErrId.natsUnavailable, detail);
  }

  #cleanup(): void {
    this.#offState?.();
    if (this.#kvWatch) _stopWatch(this.#kvWatch);
    this.#events?.stop();
    this.#eventsConsumer?.delete().catch(() => {});
    const waiters = this.#seqWaiters;
    this.#seqWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Stop a KV watch and delete its server-side consumer at once (nats.js only unsubscribes; the
 * server would keep the ephemeral consumer for its 5-minute inactivity threshold). The consumer
 * sits on the iterator's internal `_data` in nats.js v3; without it, only `stop()` happens.
 */
function _stopWatch(watch: QueuedIterator<KvWatchEntry>): void {
  watch.stop();
  const consumer = (watch as unknown as { _data?: { delete?: () => Promise<unknown> } })._data;
  consumer?.delete?.().catch(() => {});
}

function _matches(
  run: IndexedRun,
  filters: ReturnType<typeof parseRunFilters>,
  tenantId: string | null | undefined,
): boolean {
  if (filters.statuses && !filters.statuses.has(run.status)) return false;
  if (filters.flow !== null && run.flow_name !== filters.flow) return false;
  if (filters.tag !== null && run.tag !== filters.tag && !run.tags.includes(filters.tag)) {
    return false;
  }
  if (tenantId !== undefined && run.tenant_id !== tenantId) return false;
  return true;
}

/** `GET /runs/watch`: summaries of every run that changes, as server-sent events. */
export async function watchRuns(ctx: RouteContext): Promise<Response> {
  const errors: FieldError[] = [];
  const filters = parseRunFilters(ctx.url, errors);
  const last = _lastEventId(ctx, errors);
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot watch runs");
  await requireIndex(backend);
  const tenantId = ctx.principal === null ? undefined : ctx.principal.tenantId;
  let offChange: (() => void) | null = null;
  let offState: (() => void) | null = null;
  const sse = new SseStream({
    heartbeatMs: ctx.config.sseHeartbeatSec * 1000,

    onClose: () => {
      offChange?.();
      offState?.();
    },
  });
  sse.send("heartbeat", { ts: Date.now() / 1000 });
  // Replay and subscription happen in one synchronous block: no change can fall between them.
  let sentUpTo = 0;
  if (last !== null) {
    let after = last.revision;
    let sent = 0;
    while (true) {
      const page = backend.index.listDelta({
        statuses: filters.statuses,
        flow: filters.flow,
        tag: filters.tag,
        tenantId,
        afterRevision: after,
        limit: 200,
      });
      for (const run of page.runs) sse.send("summary", toSummary(run), String(run.revision));
      sent += page.runs.length;
      after = page.nextRevision;
      if (!page.hasMore) break;
      if (sent >= WATCH_ALL_REPLAY_MAX) {
        sse.fail(
          ErrId.invalidRequest,
          `More than ${WATCH_ALL_REPLAY_MAX} changes since Last-Event-ID: list them with ` +
            "GET /runs?cursor= and watch again",
        );
        return sse.response();
      }
    }
    sentUpTo = after;
  }
  offChange = backend.index.onChange((change: RunChange) => {
    const revision = change.type === "put" ? change.run.revision : change.revision;
    if (revision <= sentUpTo) return;
    if (!_matches(change.run, filters, tenantId)) return;
    if (change.type === "put") sse.send("summary", toSummary(change.run), String(revision));
    else sse.send("removed", { run_id: change.run.run_id }, String(revision));
  });
  offState = backend.state.onChange((up) => {
    if (!up) {
      sse.fail(ErrId.natsUnavailable, "NATS connection lost while watching runs; reconnect");
    }
  });
  if (sse.closed) {
    offChange();
    offState();
  }
  return sse.response();
}
