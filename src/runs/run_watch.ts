/**
 * The KV watch that feeds the run index, opened the way a million stored runs need.
 *
 * Two differences from a plain `kv.watch()`, both measured at 1,000,000 runs (see
 * `docs/performance.md`):
 * - On a bucket with `history: 1` (the runs bucket's setting) every key holds exactly its last
 *   value or delete marker, so delivering the whole stream (`deliver_policy: all`) gives the same
 *   entries as `last_per_subject` — but nats-server creates such a consumer at once, while a
 *   `last_per_subject` consumer over a million subjects took longer than the JetStream request
 *   timeout (the watch could never open).
 * - Entries are handed to a callback as nats.js parses them (the same `KvWatchEntry` objects
 *   `kv.watch()` makes, through the bucket's own converter), instead of a queued async
 *   iterator: no promise per entry and no unbounded queue when the index is the slower side.
 *
 * When the bucket does not expose what this needs (another nats.js version, or history > 1), it
 * falls back to `kv.watch()`.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";

/** A watch opened by {@linkcode openRunWatch}. */
export interface RunWatch {
  /** Whether the initial values were all delivered when it opened (none were pending). */
  readonly emptyAtStart: boolean;
  /** Stop it (and delete its consumer). */
  stop(): void;
  /** Settles when it has stopped (after {@linkcode RunWatch.stop}, an error or a server close). */
  readonly closed: Promise<void>;
}

/** The nats.js v3 `Bucket` internals `kv.watch()` itself uses. */
interface _BucketInternals {
  js?: {
    consumers: {
      getPushConsumer(stream: string, cc: unknown): Promise<_PushConsumer>;
    };
  };
  stream?: string;
  _buildCC?(key: string, include: string, opts: Record<string, unknown>): Record<string, unknown>;
  jmToWatchEntry?(m: unknown, isUpdate: boolean): KvWatchEntry;
}

interface _PushConsumer {
  info(cached?: boolean): Promise<{ num_pending: number }>;
  consume(opts: { callback: (m: { info: { pending: number } }) => void }): Promise<{
    stop(): void;
    closed(): Promise<void | Error>;
  }>;
  delete(): Promise<boolean>;
}

/**
 * Open a watch over every key of the runs bucket: first the stored values, then every change,
 * each handed to `onEntry` in revision order.
 *
 * @param kv The runs bucket.
 * @param onEntry Called with each entry (exceptions are the caller's; they stop nothing).
 * @returns The open watch.
 * @throws {Error} When NATS refuses or does not answer the consumer creation.
 */
export async function openRunWatch(
  kv: KV,
  onEntry: (entry: KvWatchEntry) => void,
): Promise<RunWatch> {
  const status = await kv.status();
  const b = kv as unknown as _BucketInternals;
  if (status.history !== 1 || !b.js || !b.stream || !b._buildCC || !b.jmToWatchEntry) {
    return await _iteratorWatch(kv, onEntry, status.values === 0);
  }
  const cc = b._buildCC(">", "history", {});
  cc.name = `KV_WATCHER_${crypto.randomUUID().replaceAll("-", "")}`;
  const oc = await b.js.consumers.getPushConsumer(b.stream, cc);
  const count = (await oc.info(true)).num_pending;
  let seen = 0;
  const toEntry = b.jmToWatchEntry.bind(b);
  const iter = await oc.consume({
    callback: (m) => {
      seen++;
      onEntry(toEntry(m, seen >= count));
    },
  });
  return {
    emptyAtStart: count === 0,
    stop: () => {
      iter.stop();
      oc.delete().catch(() => {});
    },
    closed: iter.closed().then(() => {}),
  };
}

async function _iteratorWatch(
  kv: KV,
  onEntry: (entry: KvWatchEntry) => void,
  empty: boolean,
): Promise<RunWatch> {
  const watch = await kv.watch();
  const closed = (async () => {
    for await (const entry of watch) onEntry(entry);
  })();
  return {
    emptyAtStart: empty,
    stop: () => {
      watch.stop();
      const consumer = (watch as unknown as { _data?: { delete?: () => Promise<unknown> } })
        ._data;
      consumer?.delete?.().catch(() => {});
    },
    closed,
  };
}
