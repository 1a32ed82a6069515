/**
 * The BullMQ peer, seen from the harness: runs `bench/peer/driver.ts` as its own process under
 * `bench/peer/deno.json` and reads its JSON outcome. BullMQ lives in its own folder with a
 * `package.json` because one of its transitive optional packages (msgpackr-extract) needs an npm
 * `overrides` pin that only `package.json` can express, and the product's `deno.json` must not
 * carry benchmark-only dependencies.
 *
 * @module
 */

import type { Setting, ThroughputResult } from "./_types.ts";
import { progress } from "./_types.ts";

/** The outcome of the peer measurement. */
export interface PeerOutcome {
  /** Set when the peer did not run (e.g. no `redis-server`), saying why. */
  skipped: string | null;
  /** `redis-server --version`, when found. */
  redis_version: string | null;
  /** One result per setting. */
  results: ThroughputResult[];
}

/** Options of {@linkcode measurePeer}. */
export interface PeerOptions {
  /** Jobs per setting. */
  n: number;
  /** Concurrent producers. */
  clients: number;
  /** Worker settings to try. */
  settings: readonly Setting[];
  /** Warm-up jobs before each measurement. */
  warmup: number;
  /** Redis with the append-only file, fsync every second. @default {false} */
  aof?: boolean;
  /** Add jobs with `addBulk`, this many a call (0 = one `add` per job). @default {0} */
  bulk?: number;
}

/**
 * Measure BullMQ on Redis with the same N, producers and W×C settings.
 *
 * @param options N, producers, settings, warm-up, Redis persistence (`aof`), `addBulk` size.
 * @returns The results, or a skip message (no `redis-server`, or the peer could not run).
 */
export async function measurePeer(options: PeerOptions): Promise<PeerOutcome> {
  const dir = new URL("./peer/", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      `${dir}deno.json`,
      `${dir}driver.ts`,
      "--n",
      String(options.n),
      "--clients",
      String(options.clients),
      "--settings",
      options.settings.map((s) => s.label).join(","),
      "--warmup",
      String(options.warmup),
      ...(options.aof ? ["--aof"] : []),
      "--bulk",
      String(options.bulk ?? 0),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let lastError = "";
  const errPump = (async () => {
    let buf = "";
    for await (const chunk of child.stderr) {
      buf += decoder.decode(chunk, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      // Forward the driver's progress lines; drop Deno's npm install chatter.
      for (const l of lines) if (l.startsWith("[bench]")) console.error(l);
      if (lines.some((l) => /error/i.test(l) && !l.startsWith("[bench]"))) {
        lastError = lines.filter((l) => /error/i.test(l)).join(" ").slice(
          0,
          500,
        );
      }
    }
  })();
  const out = decoder.decode(await new Response(child.stdout).arrayBuffer());
  const status = await child.status;
  await errPump;
  const line = out.trim().split("\n").pop() ?? "";
  if (status.success && line.startsWith("{")) {
    return JSON.parse(line) as PeerOutcome;
  }
  const skipped = `BullMQ peer could not run (exit ${status.code}): ${
    lastError || out.slice(-300)
  }`;
  progress(skipped);
  return { skipped, redis_version: null, results: [] };
}
