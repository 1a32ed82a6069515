/**
 * Test launcher for a real 3-node JetStream cluster on loopback: random client, cluster and
 * monitoring ports, one temp store per node, a config file per node, and each node's log kept to
 * print on failure. It waits until every running node sees the same meta leader and JetStream
 * answers; it can SIGKILL and restart one node, and say which node leads a stream or a KV bucket.
 *
 * Built on {@linkcode startNatsServer}'s conventions (`tests/_helpers/nats_server.ts`).
 *
 * @example
 * ```ts ignore
 * await using cluster = await startNatsCluster();
 * const nc = await connect({ servers: cluster.urls });
 * // ... create an R3 bucket, then:
 * const leader = await cluster.leaderOf("KV_runs");
 * await cluster.kill(leader);
 * await cluster.waitReady();
 * ```
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort, natsServerBin } from "./nats_server.ts";
import { poll, StopPolling } from "./poll.ts";

/** One node of a {@linkcode NatsCluster}. */
export interface NatsClusterNode {
  /** Its position in {@linkcode NatsCluster.nodes}, 0-based. */
  readonly index: number;
  /** Its `server_name` (`n0`, `n1`, …), as JetStream names leaders. */
  readonly name: string;
  /** `nats://127.0.0.1:<clientPort>` */
  readonly url: string;
  /** The client port. */
  readonly clientPort: number;
  /** The cluster (route) port. */
  readonly clusterPort: number;
  /** The HTTP monitoring port (`/varz`, `/jsz`, `/healthz`). */
  readonly monitorPort: number;
  /** Its JetStream store directory (kept across a restart). */
  readonly storeDir: string;
}

/** A running cluster started by {@linkcode startNatsCluster}. */
export interface NatsCluster {
  /** Every node, running or not. */
  readonly nodes: readonly NatsClusterNode[];
  /** The client URLs of every node (give them all to `connect({ servers })`). */
  readonly urls: string[];
  /** Whether node `i` is running. */
  running(i: number): boolean;
  /** The log of node `i` so far. */
  log(i: number): string;
  /** Every node's log, each under a `--- nX` header (tails of `maxPerNode` characters). */
  logs(maxPerNode?: number): string;
  /**
   * Wait until every running node reports the same meta leader and JetStream answers a request.
   *
   * @throws {Error} With the logs, when that does not happen within `timeoutMs`.
   */
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGKILL node `i` and await its exit. Its store stays for {@linkcode NatsCluster.restart}. */
  kill(i: number): Promise<void>;
  /** Start node `i` again on the same ports and store, then {@linkcode NatsCluster.waitReady}. */
  restart(i: number): Promise<void>;
  /** The index of the node that leads the meta group now (asked of a running node). */
  metaLeader(): Promise<number>;
  /**
   * The index of the node leading `stream` (for a KV bucket `b` the stream is `KV_b`), asked
   * through the JetStream API; waits through an election.
   *
   * @throws {Error} When no leader is known within `timeoutMs`.
   */
  leaderOf(stream: string, timeoutMs?: number): Promise<number>;
  /** Stop every node and remove the stores and configs. */
  stop(): Promise<void>;
  /** Same as {@linkcode NatsCluster.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startNatsCluster}. */
export interface StartNatsClusterOptions {
  /**
   * How many nodes.
   *
   * @default {3}
   */
  size?: number;
  /** Extra config text appended to every node's config. */
  extraConfig?: string;
  /**
   * How long to wait for the cluster to be ready, in milliseconds.
   *
   * @default {30000}
   */
  readyTimeoutMs?: number;
}

interface _Proc {
  child: Deno.ChildProcess;
  pump: Promise<void>;
  /** Set once the process has exited. */
  exited: boolean;
}

/**
 * Start a JetStream cluster of `size` nodes (3 by default) on loopback and wait until it is ready.
 *
 * @param options Size, extra config, ready timeout.
 * @returns The running cluster; dispose it (or call `stop()`) to remove everything.
 * @throws {Error} With every node's log when the cluster does not get ready.
 */
export async function startNatsCluster(
  options: StartNatsClusterOptions = {},
): Promise<NatsCluster> {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`startNatsCluster(): size must be a positive integer, got ${size}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "pyoco-nats-cluster-" });
  const nodes: NatsClusterNode[] = Array.from({ length: size }, (_, index) => {
    const clientPort = freePort();
    return {
      index,
      name: `n${index}`,
      url: `nats://127.0.0.1:${clientPort}`,
      clientPort,
      clusterPort: freePort(),
      monitorPort: freePort(),
      storeDir: `${dir}/n${index}/store`,
    };
  });
  for (const node of nodes) {
    await Deno.mkdir(`${dir}/${node.name}`, { recursive: true });
    await Deno.writeTextFile(_confPath(dir, node), _config(node, nodes, options.extraConfig));
  }
  const cluster = new _NatsCluster(dir, nodes);
  try {
    for (const node of nodes) cluster.spawn(node.index);
    await cluster.waitReady(options.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** The processes of a cluster and what they logged. */
class _NatsCluster implements NatsCluster {
  readonly nodes: readonly NatsClusterNode[];
  readonly urls: string[];
  #dir: string;
  #logText: string[];
  #procs: (_Proc | null)[];

  constructor(dir: string, nodes: NatsClusterNode[]) {
    this.#dir = dir;
    this.nodes = nodes;
    this.urls = nodes.map((n) => n.url);
    this.#logText = nodes.map(() => "");
    this.#procs = nodes.map(() => null);
  }

  /** Start node `i`'s process (without waiting for it). */
  spawn(i: number): void {
    const child = new Deno.Command(natsServerBin(), {
      args: ["-c", _confPath(this.#dir, this.nodes[i]!)],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#logText[i] += decoder.decode(chunk, { stream: true });
    };
    const proc: _Proc = {
      child,
      pump: Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {}),
      exited: false,
    };
    child.status.then(() => (proc.exited = true));
    this.#procs[i] = proc;
  }

  running(i: number): boolean {
    return (this.#procs[i] ?? null) !== null;
  }

  log(i: number): string {
    return this.#logText[i] ?? "";
  }

  logs(maxPerNode = 4000): string {
    return this.nodes.map((n) => `--- ${n.name}\n${this.log(n.index).slice(-maxPerNode)}`)
      .join("\n");
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    try {
      await poll(async () => {
        const gone = this.nodes.find((n) => this.#procs[n.index]?.exited);
        if (gone) throw new StopPolling(`Node ${gone.name} exited`);
        const leaders = await this.#metaLeaders();
        if (leaders.some((l) => l === "" || l !== leaders[0])) return false;
        return await this.#withConnection(async (nc) => {
          const jsm = await jetstreamManager(nc, { timeout: 2000 });
          return (await jsm.getAccountInfo()) !== null;
        });
      }, { timeoutMs, intervalMs: 100, message: "a meta leader and JetStream to answer" });
    } catch (err) {
      throw new Error(`The NATS cluster is not ready: ${(err as Error).message}\n${this.logs()}`, {
        cause: err,
      });
    }
  }

  kill(i: number): Promise<void> {
    return this.#stopNode(i, "SIGKILL");
  }

  async restart(i: number): Promise<void> {
    if (this.running(i)) throw new Error(`Node ${this.nodes[i]?.name} is still running`);
    this.spawn(i);
    await this.waitReady();
  }

  async metaLeader(): Promise<number> {
    const leaders = await this.#metaLeaders();
    const i = this.#indexOf(leaders.find((l) => l !== ""));
    if (i < 0) throw new Error(`No meta leader: ${JSON.stringify(leaders)}`);
    return i;
  }

  async leaderOf(stream: string, timeoutMs = 15_000): Promise<number> {
    const found = await poll(async () => {
      const leader = await this.#withConnection(async (nc) => {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        return (await jsm.streams.info(stream)).cluster?.leader;
      });
      const i = this.#indexOf(leader);
      return i >= 0 && this.running(i) ? { i } : null;
    }, { timeoutMs, intervalMs: 100, message: `a leader of stream ${stream}` });
    return found.i;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.#stopNode(n.index, "SIGTERM")));
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stopNode(i: number, signal: Deno.Signal): Promise<void> {
    const proc = this.#procs[i];
    if (!proc) return;
    this.#procs[i] = null;
    try {
      proc.child.kill(signal);
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        proc.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await proc.child.status;
    clearTimeout(timer);
    await proc.pump;
  }

  /** The meta leader's name as each running node's monitoring endpoint (`/jsz`) reports it. */
  #metaLeaders(): Promise<string[]> {
    const running = this.nodes.filter((n) => this.running(n.index));
    return Promise.all(running.map(async (n) => {
      const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`, {
        signal: AbortSignal.timeout(2000),
      });
      const jsz = await res.json() as { meta_cluster?: { leader?: string } };
      return jsz.meta_cluster?.leader ?? "";
    }));
  }

  /** Run `fn` with a short-lived connection to the running nodes. */
  async #withConnection<T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
    const servers = this.nodes.filter((n) => this.running(n.index)).map((n) => n.url);
    const nc = await connect({ servers, maxReconnectAttempts: 0, timeout: 2000 });
    try {
      return await fn(nc);
    } finally {
      await nc.close();
    }
  }

  #indexOf(name: string | undefined): number {
    return this.nodes.findIndex((n) => n.name === name);
  }
}

function _confPath(dir: string, node: NatsClusterNode): string {
  return `${dir}/${node.name}/nats.conf`;
}

/** One node's config: loopback only, routes to every other node. */
function _config(node: NatsClusterNode, all: readonly NatsClusterNode[], extra = ""): string {
  const routes = all.filter((n) => n !== node).map((n) =>
    `nats-route://127.0.0.1:${n.clusterPort}`
  );
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.clientPort}`,
    `http: 127.0.0.1:${node.monitorPort}`,
    `jetstream { store_dir: "${node.storeDir}" }`,
    "cluster {",
    "  name: pyoco-test",
    `  listen: 127.0.0.1:${node.clusterPort}`,
    `  routes: [${routes.join(", ")}]`,
    "}",
    extra,
  ].join("\n");
}
