/**
 * Memory under abuse (issue 12 item 6): a real gateway process (auth on, real nats-server) gets
 * rounds of bad input — JSON nested 10,000 levels, bodies just under and over the 1 MiB cap (with
 * and without `Content-Length`), invalid JSON and multipart, YAML bombs, arbitrary methods and
 * paths, malformed, unknown and wrong API keys — many at once; its resident memory (`VmRSS`) is
 * read after each round once it has settled. A gateway that retains something per request grows
 * round after round; one that only reaches its working-set high-water stays flat after round 1.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { loadConfig } from "../src/config.ts";
import { ensureResources } from "../src/nats/resources.ts";
import { ApiKeyStore } from "../src/auth/store.ts";
import { readMemory } from "./_rss.ts";
import { startStack } from "./_stack.ts";
import { round2, runConcurrently } from "./_stats.ts";
import { progress } from "./_types.ts";

/** One hostile request: where it goes and what it sends. */
export interface AbuseCase {
  /** Short name (for error messages). */
  name: string;
  /** Path and query. */
  path: string;
  /** The request (method, headers, body); the API key header is added unless `key` is set. */
  init: RequestInit;
  /** Send this value as the API key instead of the valid one (bad-key cases). */
  key?: string;
}

/** Options of {@linkcode abuseRound}. */
export interface AbuseRoundOptions {
  /** The gateway's base URL. */
  url: string;
  /** A valid API key (sent unless a case brings its own). */
  apiKey: string;
  /** The API key header. @default {"X-API-Key"} */
  header?: string;
  /** How many times the whole catalogue is sent. @default {10} */
  repeat?: number;
  /** Requests in flight at once. @default {32} */
  concurrency?: number;
  /** Number of the round (makes its random methods and paths new ones). @default {0} */
  round?: number;
  /** Send only the cases whose name contains this. @default {all} */
  only?: string;
}

/** What one round got back. */
export interface AbuseRoundResult {
  /** Requests sent. */
  requests: number;
  /** Answers by status. */
  statuses: Record<string, number>;
  /** Requests that got a 5xx or no answer at all (with the first few reasons). */
  failures: string[];
}

/** Options of {@linkcode measureAbuse}. */
export interface AbuseOptions {
  /** Rounds of bad input. @default {8} */
  rounds?: number;
  /** Catalogue repetitions per round. @default {10} */
  repeat?: number;
  /** Requests in flight at once. @default {32} */
  concurrency?: number;
  /** V8 flags of the gateway process (`DENO_V8_FLAGS`), e.g. `--optimize-for-size`. */
  v8Flags?: string;
}

/** The figure `bench/results/latest.json` keeps under `abuse`. */
export interface AbuseOutcome {
  /** Gateway `VmRSS` after each round (settled), MiB. */
  rss_mib_after_round: number[];
  /** RSS after the last round (the 8th in the benchmark) over RSS after the first. */
  ratio_8_vs_1: number;
  /** RSS of the ready gateway before any bad input, MiB. */
  rss_mib_before: number;
  /**
   * Series of `pyoco_http_requests_total` in `GET /metrics` after each round: flat when labels
   * are bounded (each round sends new methods and paths).
   */
  metric_series_after_round: number[];
  /** Requests per round. */
  requests_per_round: number;
  /** Answers by status over all rounds. */
  statuses: Record<string, number>;
  /** V8 flags the gateway ran with (`""`: none, as `deno run cli/gateway.ts` starts it). */
  v8_flags: string;
}

const _CAP = 1_048_576;
const _nested = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
const _parens = (depth: number) => "(".repeat(depth) + "a" + ")".repeat(depth);

function _json(body: string, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body };
}

function _yamlForm(text: string): RequestInit {
  const form = new FormData();
  form.append("workflow", new File([text], "flow.yaml"));
  form.append("flow_name", "f");
  return { method: "POST", body: form };
}

/** A body sent chunked (no `Content-Length`): the cap must be enforced while reading it. */
function _chunked(bytes: number): RequestInit {
  const chunk = new TextEncoder().encode("y".repeat(64 * 1024));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const n = Math.min(chunk.byteLength, bytes - sent);
      controller.enqueue(chunk.subarray(0, n));
      sent += n;
    },
  });
  return { method: "POST", headers: { "content-type": "application/json" }, body };
}

const _LAUGHS = [
  "version: 1",
  "flow:",
  "  graph: a",
  '  defaults: &a0 { x: ["lol","lol","lol","lol","lol","lol","lol","lol","lol"] }',
  ...Array.from({ length: 9 }, (_, i) => `x${i + 1}: &a${i + 1} [${`*a${i},`.repeat(9)}*a${i}]`),
  "tasks: { a: { callable: 'pyoco:echo', inputs: { value: *a9 } } }",
].join("\n");

/**
 * The catalogue of hostile requests of one repetition. Methods, paths, keys and idempotency keys
 * are fresh per call, so a gateway that keys anything on them sees new keys every time.
 *
 * @param salt Makes the random parts of this repetition unique (round and repetition number).
 * @returns The requests, in a fixed order.
 */
export function abuseCases(salt: string): AbuseCase[] {
  const pad = (n: number) => "y".repeat(n);
  const fakeId = crypto.randomUUID().replaceAll("-", "").slice(0, 24);
  return [
    {
      name: "deep params",
      path: "/runs",
      init: _json(`{"flow_name":"hello","params":${_nested(10_000)}}`),
    },
    {
      name: "deep params + Idempotency-Key",
      path: "/runs",
      init: _json(`{"flow_name":"hello","params":${_nested(10_000)}}`, {
        "idempotency-key": `abuse-${salt}`,
      }),
    },
    {
      name: "body just under the cap",
      path: "/runs",
      init: _json(`{"flow_name":"hello","params":{"x":"${pad(_CAP - 64)}"}}`),
    },
    {
      name: "body just over the cap (Content-Length)",
      path: "/runs",
      init: _json(`{"flow_name":"hello","params":{"x":"${pad(_CAP + 16)}"}}`),
    },
    { name: "body over the cap (chunked)", path: "/runs", init: _chunked(_CAP + 256 * 1024) },
    { name: "invalid JSON near the cap", path: "/runs", init: _json(`{nope${pad(_CAP - 100)}`) },
    { name: "JSON array", path: "/runs/batch", init: _json(`[${"1,".repeat(100_000)}1]`) },
    {
      name: "multipart without a boundary",
      path: "/runs/yaml",
      init: {
        method: "POST",
        headers: { "content-type": "multipart/form-data" },
        body: `--x\r\n${pad(500_000)}`,
      },
    },
    {
      name: "graph of 5,000 parentheses",
      path: "/runs/yaml",
      init: _yamlForm(`version: 1\nflow:\n  graph: "${_parens(5_000)}"\ntasks: {}\n`),
    },
    { name: "billion laughs", path: "/runs/yaml", init: _yamlForm(_LAUGHS) },
    {
      name: "PATCH /workers deep",
      path: `/workers/w-${salt}`,
      init: { ..._json(_nested(10_000)), method: "PATCH" },
    },
    { name: "random method", path: "/runs", init: { method: `FOO${salt.replace(/\W/g, "")}` } },
    {
      name: "unread body to a random path",
      path: `/nope/${salt}`,
      init: _json(`{"x":"${pad(_CAP - 64)}"}`),
    },
    {
      name: "unread body with a bad key",
      path: "/runs",
      init: _json(`{"x":"${pad(_CAP - 64)}"}`),
      key: "pyoco_bad",
    },
    { name: "random path", path: `/x/${salt}/${crypto.randomUUID()}`, init: {} },
    { name: "long run id", path: `/runs/${salt}${"a".repeat(5000)}`, init: {} },
    { name: "garbage cursor", path: `/runs?cursor=%00%ff${salt}`, init: {} },
    { name: "malformed key", path: "/runs", init: {}, key: `nope-${salt}` },
    { name: "unknown key", path: "/runs", init: {}, key: `pyoco_${fakeId}.${salt}secret` },
    { name: "huge key header", path: "/runs", init: {}, key: `pyoco_${pad(16_000)}` },
  ];
}

/**
 * Send the catalogue `repeat` times with `concurrency` requests in flight.
 *
 * @param options Gateway URL, API key, repetitions, concurrency, round number.
 * @returns Counts by status and the requests that got a 5xx or no answer.
 */
export async function abuseRound(options: AbuseRoundOptions): Promise<AbuseRoundResult> {
  const repeat = options.repeat ?? 10;
  const header = options.header ?? "X-API-Key";
  const batches = Array.from(
    { length: repeat },
    (_, i) => abuseCases(`r${options.round ?? 0}x${i}`),
  );
  const cases = batches.flat().filter((c) => c.name.includes(options.only ?? ""));
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  await runConcurrently(cases.length, options.concurrency ?? 32, async (i) => {
    const c = cases[i]!;
    const headers = new Headers(c.init.headers);
    headers.set(header, c.key ?? options.apiKey);
    try {
      const res = await fetch(`${options.url}${c.path}`, { ...c.init, headers });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (res.status >= 500 && failures.length < 10) failures.push(`${c.name}: ${res.status}`);
    } catch (err) {
      // A refused oversized upload may reset the connection before the 413 is read.
      statuses["reset"] = (statuses["reset"] ?? 0) + 1;
      if (!c.name.includes("over the cap") && failures.length < 10) {
        failures.push(`${c.name}: ${(err as Error).message}`);
      }
    }
  });
  return { requests: cases.length, statuses, failures };
}

/**
 * Wait until a process's RSS stops moving (two reads 250 ms apart within 1 MiB), at most 5 s.
 *
 * @param pid The process.
 * @returns Its RSS, MiB.
 * @throws {Error} When the process is gone.
 */
export async function settledRss(pid: number): Promise<number> {
  let last = readMemory(pid)?.rssMb ?? NaN;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = readMemory(pid)?.rssMb ?? NaN;
    if (Number.isNaN(now)) break;
    if (Math.abs(now - last) < 1) return now;
    last = now;
  }
  if (Number.isNaN(last)) throw new Error(`Process ${pid} is gone`);
  return last;
}

async function _requestSeries(url: string, apiKey: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { headers: { "X-API-Key": apiKey } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${text}`);
  return text.split("\n").filter((l) => l.startsWith("pyoco_http_requests_total{")).length;
}

/**
 * Start nats-server and a gateway with API-key auth, then send rounds of bad input and read the
 * gateway's settled RSS after each.
 *
 * @param options Rounds, repetitions per round, concurrency.
 * @returns RSS after each round and the last-over-first ratio.
 * @throws {Error} When the gateway answers a 5xx or cannot be found.
 */
export async function measureAbuse(options: AbuseOptions = {}): Promise<AbuseOutcome> {
  await using srv = await startNatsServer();
  const pepper = "abuse-pepper";
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url, name: "bench-abuse" });
  let apiKey: string;
  try {
    const buckets = await ensureResources(nc, config);
    ({ apiKey } = await new ApiKeyStore(buckets.auth, { pepper })
      .create({ tenantId: "abuse", label: "bench" }));
  } finally {
    await nc.close();
  }
  await using stack = await startStack({
    nats: srv,
    gatewayEnv: {
      PYOCO_AUTH_PEPPER: pepper,
      PYOCO_HTTP_AUTH_MODE: "api_key",
      ...(options.v8Flags ? { DENO_V8_FLAGS: options.v8Flags } : {}),
    },
  });
  const pid = stack.gatewayPid;
  if (pid === null) throw new Error("Cannot find the gateway's pid");
  const before = await settledRss(pid);
  const after: number[] = [];
  const series: number[] = [];
  const statuses: Record<string, number> = {};
  let requests = 0;
  for (let round = 1; round <= (options.rounds ?? 8); round++) {
    const result = await abuseRound({
      url: stack.gatewayUrl,
      apiKey,
      repeat: options.repeat,
      concurrency: options.concurrency,
      round,
    });
    if (result.failures.length > 0) {
      throw new Error(`Round ${round}: ${result.failures.join("; ")}`);
    }
    requests = result.requests;
    for (const [k, v] of Object.entries(result.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    after.push(await settledRss(pid));
    series.push(await _requestSeries(stack.gatewayUrl, apiKey));
    progress(
      `abuse${options.v8Flags ? ` (${options.v8Flags})` : ""}: round ${round}: ` +
        `${result.requests} requests, gateway RSS ${after.at(-1)} MiB`,
    );
  }
  return {
    rss_mib_after_round: after,
    ratio_8_vs_1: round2(after.at(-1)! / after[0]!),
    rss_mib_before: before,
    metric_series_after_round: series,
    requests_per_round: requests,
    statuses,
    v8_flags: options.v8Flags ?? "",
  };
}

if (import.meta.main) {
  // deno run -A bench/abuse.ts [rounds] [repeat] [v8 flags]
  const out = await measureAbuse({
    rounds: Number(Deno.args[0] ?? 8),
    repeat: Number(Deno.args[1] ?? 10),
    v8Flags: Deno.args[2],
  });
  console.log(JSON.stringify(out));
}
