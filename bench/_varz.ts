/**
 * NATS traffic per run, from nats-server's own monitoring endpoint: the harness starts its
 * nats-server with an HTTP monitoring port (`http: 127.0.0.1:PORT`, what `-m PORT` sets) and reads
 * `/varz` (`in_msgs`, `out_msgs`, `in_bytes`, `out_bytes`: every message the server received from
 * or delivered to any client) and `/connz` (the same per connection, grouped by connection name)
 * before and after the measured runs. Heartbeats, flow control, PubAcks and the harness's own
 * completion watch are all included: the figure is what the server really handled.
 *
 * @module
 */

import { freePort, type NatsServerHandle, startNatsServer } from "../tests/_helpers/nats_server.ts";
import { startNatsCluster } from "../tests/_helpers/nats_cluster.ts";
import { pidListeningOn } from "./_rss.ts";
import type { NatsTraffic } from "./_types.ts";

export type { NatsTraffic };

/** A nats-server with its monitoring port. */
export interface MonitoredNats {
  /** The server. */
  readonly server: NatsServerHandle;
  /** `http://127.0.0.1:<monitor port>` */
  readonly monitorUrl: string;
  /** Stop the server and remove its store. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start a nats-server (file storage, temp store) with HTTP monitoring on a free port.
 *
 * @returns The server and its monitoring URL.
 * @throws {Error} When nats-server does not start.
 */
export async function startMonitoredNats(): Promise<MonitoredNats> {
  const port = freePort();
  const server = await startNatsServer({ extraConfig: `http: 127.0.0.1:${port}` });
  return {
    server,
    monitorUrl: `http://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: () => server.stop(),
  };
}

/** A nats-server or a cluster of them, with monitoring on every node. */
export interface NatsUnderTest {
  /** Client URLs of every node. */
  readonly urls: string[];
  /** Monitoring URLs of every node. */
  readonly monitorUrls: string[];
  /** JetStream replicas the resources should have (1, or the cluster size). */
  readonly replicas: number;
  /** The pids of the nodes (for CPU), `null` where not found. */
  pids(): (number | null)[];
  /** Stop every node and remove the stores. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start one monitored nats-server, or a cluster of `size` nodes (R`size` resources).
 *
 * @param size 1 for a single server, 3 for a 3-node cluster.
 * @returns The servers.
 * @throws {Error} When a node does not start or the cluster does not get ready.
 */
export async function startNatsUnderTest(size = 1): Promise<NatsUnderTest> {
  if (size === 1) {
    const m = await startMonitoredNats();
    return {
      urls: [m.server.url],
      monitorUrls: [m.monitorUrl],
      replicas: 1,
      pids: () => [pidListeningOn(m.server.port)],
      [Symbol.asyncDispose]: () => m.server.stop(),
    };
  }
  const cluster = await startNatsCluster({ size });
  return {
    urls: cluster.urls,
    monitorUrls: cluster.nodes.map((n) => `http://127.0.0.1:${n.monitorPort}`),
    replicas: size,
    pids: () => cluster.nodes.map((n) => pidListeningOn(n.clientPort)),
    [Symbol.asyncDispose]: () => cluster.stop(),
  };
}

interface _Counts {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

interface _Conn extends _Counts {
  cid: number;
  name?: string;
}

async function _json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`nats-server monitoring ${url} answered ${res.status}`);
  }
  return await res.json() as T;
}

/** The client group a connection belongs to, from its name (`null` = unnamed). */
function _group(name: string | undefined, groups: readonly [string, RegExp][]): string {
  for (const [label, re] of groups) if (name !== undefined && re.test(name)) return label;
  return "other";
}

/** Counts nats-server traffic between a start and a read. */
export class TrafficMeter {
  readonly #urls: readonly string[];
  readonly #groups: readonly [string, RegExp][];
  #varz: _Counts | null = null;
  #conns = new Map<string, _Conn>();
  #streams = new Map<string, number>();

  private constructor(urls: readonly string[], groups: readonly [string, RegExp][]) {
    this.#urls = urls;
    this.#groups = groups;
  }

  /**
   * Take the starting counts.
   *
   * @param monitorUrl The server's monitoring URL (several for a cluster: their counts add up).
   * @param groups Client groups: a label and a pattern on the connection name (first match wins).
   * @returns The meter.
   * @throws {Error} When the monitoring endpoint does not answer.
   */
  static async start(
    monitorUrl: string | readonly string[],
    groups: Record<string, RegExp> = {},
  ): Promise<TrafficMeter> {
    const urls = typeof monitorUrl === "string" ? [monitorUrl] : monitorUrl;
    const meter = new TrafficMeter(urls, Object.entries(groups));
    [meter.#varz, meter.#conns, meter.#streams] = await Promise.all([
      meter.#readVarz(),
      meter.#readConns(),
      meter.#readStreams(),
    ]);
    return meter;
  }

  /**
   * Traffic since the start, per run.
   *
   * @param runs Divide by this.
   * @returns Messages and bytes per run, in total and by client group.
   * @throws {Error} When the monitoring endpoint does not answer.
   */
  async read(runs: number): Promise<NatsTraffic> {
    const [varz, conns, streams] = await Promise.all([
      this.#readVarz(),
      this.#readConns(),
      this.#readStreams(),
    ]);
    const start = this.#varz!;
    const per = (x: number) => Math.round((x / runs) * 100) / 100;
    const byClient: Record<string, { in: number; out: number }> = {};
    for (const [cid, c] of conns) {
      const before = this.#conns.get(cid);
      const group = _group(c.name, this.#groups);
      const acc = byClient[group] ??= { in: 0, out: 0 };
      acc.in += c.in_msgs - (before?.in_msgs ?? 0);
      acc.out += c.out_msgs - (before?.out_msgs ?? 0);
    }
    for (const acc of Object.values(byClient)) {
      acc.in = per(acc.in);
      acc.out = per(acc.out);
    }
    return {
      in: per(varz.in_msgs - start.in_msgs),
      out: per(varz.out_msgs - start.out_msgs),
      in_bytes: per(varz.in_bytes - start.in_bytes),
      out_bytes: per(varz.out_bytes - start.out_bytes),
      by_client: byClient,
      stored_bytes_per_run: Object.fromEntries(
        [...streams].map(([name, bytes]) => [name, per(bytes - (this.#streams.get(name) ?? 0))])
          .filter(([, b]) => Math.abs(b as number) >= 1),
      ),
    };
  }

  async #readStreams(): Promise<Map<string, number>> {
    // A replicated stream is stored on each of its peers: its bytes count once per node.
    const out = new Map<string, number>();
    for (const u of this.#urls) {
      const body = await _json<{
        account_details?: { stream_detail?: { name: string; state: { bytes: number } }[] }[];
      }>(`${u}/jsz?streams=true`);
      for (const a of body.account_details ?? []) {
        for (const st of a.stream_detail ?? []) {
          out.set(st.name, (out.get(st.name) ?? 0) + st.state.bytes);
        }
      }
    }
    return out;
  }

  async #readVarz(): Promise<_Counts> {
    const all = await Promise.all(this.#urls.map((u) => _json<_Counts>(`${u}/varz`)));
    const sum: _Counts = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
    for (const v of all) {
      sum.in_msgs += v.in_msgs;
      sum.out_msgs += v.out_msgs;
      sum.in_bytes += v.in_bytes;
      sum.out_bytes += v.out_bytes;
    }
    return sum;
  }

  /** Client connections of every node, keyed `<node>:<cid>`. */
  async #readConns(): Promise<Map<string, _Conn>> {
    const out = new Map<string, _Conn>();
    await Promise.all(this.#urls.map(async (u, node) => {
      const body = await _json<{ connections?: _Conn[] }>(`${u}/connz?limit=4096`);
      for (const c of body.connections ?? []) out.set(`${node}:${c.cid}`, c);
    }));
    return out;
  }
}
