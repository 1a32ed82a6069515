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

/** NATS messages and bytes per run, as the server counted them. */
export interface NatsTraffic {
  /** Messages into nats-server per run (published by clients: PUBs, requests, acks). */
  in: number;
  /** Messages out of nats-server per run (delivered to subscribers, PubAcks, replies). */
  out: number;
  /** Bytes in per run (payloads and headers). */
  in_bytes: number;
  /** Bytes out per run. */
  out_bytes: number;
  /** Messages in / out per run by client group (connection name prefix), when known. */
  by_client?: Record<string, { in: number; out: number }>;
  /**
   * JetStream bytes stored per run by stream (`/jsz` deltas: what the runs left on disk, before
   * any retention; a KV bucket is the stream `KV_<bucket>`).
   */
  stored_bytes_per_run?: Record<string, number>;
}

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
  readonly #url: string;
  readonly #groups: readonly [string, RegExp][];
  #varz: _Counts | null = null;
  #conns = new Map<number, _Conn>();
  #streams = new Map<string, number>();

  private constructor(url: string, groups: readonly [string, RegExp][]) {
    this.#url = url;
    this.#groups = groups;
  }

  /**
   * Take the starting counts.
   *
   * @param monitorUrl The server's monitoring URL.
   * @param groups Client groups: a label and a pattern on the connection name (first match wins).
   * @returns The meter.
   * @throws {Error} When the monitoring endpoint does not answer.
   */
  static async start(
    monitorUrl: string,
    groups: Record<string, RegExp> = {},
  ): Promise<TrafficMeter> {
    const meter = new TrafficMeter(monitorUrl, Object.entries(groups));
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
    const body = await _json<{
      account_details?: { stream_detail?: { name: string; state: { bytes: number } }[] }[];
    }>(`${this.#url}/jsz?streams=true`);
    const out = new Map<string, number>();
    for (const a of body.account_details ?? []) {
      for (const st of a.stream_detail ?? []) out.set(st.name, st.state.bytes);
    }
    return out;
  }

  async #readVarz(): Promise<_Counts> {
    return await _json<_Counts>(`${this.#url}/varz`);
  }

  async #readConns(): Promise<Map<number, _Conn>> {
    const body = await _json<{ connections?: _Conn[] }>(`${this.#url}/connz?limit=4096`);
    return new Map((body.connections ?? []).map((c) => [c.cid, c]));
  }
}
