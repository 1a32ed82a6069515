/**
 * Observes runs reaching a terminal status through one KV watch on the runs bucket (never by
 * polling the gateway, which would load what is measured), and turns "submitted at" times into
 * submit→terminal latencies.
 *
 * @module
 */

import { type KV, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { CompletionTracker } from "./_tracker.ts";

export { CompletionTracker };

const _TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/** Watches a runs bucket for terminal snapshots. */
export class TerminalWatcher extends CompletionTracker {
  #stop: () => void = () => {};

  /**
   * Start watching (updates only: runs created before are ignored).
   *
   * @param nc A NATS connection (the harness's own).
   * @param bucket The runs bucket name.
   * @returns The watcher, already watching.
   */
  static async open(nc: NatsConnection, bucket: string): Promise<TerminalWatcher> {
    const kv: KV = await new Kvm(nc).open(bucket);
    const iter = await kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
    const watcher = new TerminalWatcher();
    watcher.#stop = () => iter.stop();
    (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT" || e.length === 0) continue;
        let status: unknown;
        try {
          status = (e.json() as { status?: unknown }).status;
        } catch {
          continue;
        }
        if (typeof status === "string" && _TERMINAL.has(status)) {
          watcher.terminal(e.key, status === "COMPLETED", performance.now());
        }
      }
    })().catch(() => {});
    return watcher;
  }

  /** Stop the watch. */
  stop(): void {
    this.#stop();
  }
}
