/**
 * `pyoco-admin dlq list` and `dlq replay SEQ`: dead letters over NATS directly, with the same
 * functions as the gateway's `/dlq` routes.
 *
 * @module
 */

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "../nats/connection.ts";
import type { PyocoBuckets } from "../nats/resources.ts";
import type { Config } from "../config.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import { Logger } from "../log.ts";
import {
  DeadLetterNotFoundError,
  DeadLetterNotReplayableError,
  DLQ_LIMIT,
  DLQ_REASONS,
  listDeadLetters,
} from "../runs/dead_letters.ts";
import { replayAndMark, withReplayMarks } from "../runs/dlq_manage.ts";
import { adminFailure, type AdminIo, withNats } from "./_admin_common.ts";
import { table } from "./format.ts";
import { UsageError } from "./usage.ts";

/** The flags the dlq commands read. */
export interface DlqFlags {
  /** `--reason R` (list). */
  reason?: string;
  /** `--tag T` (list). */
  tag?: string;
  /** `--limit N` (list). */
  limit?: string;
  /** `--json`. */
  json?: boolean;
  /** `--nats-url URL`. */
  "nats-url"?: string;
}

/** A dlq command line, checked. */
type _DlqRequest = { action: "list"; limit: number | undefined } | {
  action: "replay";
  seq: number;
};

/**
 * Run `dlq list` or `dlq replay SEQ`.
 *
 * @param action `list` or `replay`.
 * @param options The arguments after the action, the flags and where to write.
 * @returns The exit code: 0 ok, 1 failure, 2 usage.
 */
export async function runDlq(
  action: string | undefined,
  options: { args: string[]; values: DlqFlags; io: AdminIo },
): Promise<number> {
  const { values, io } = options;
  const command = `dlq ${action ?? ""}`.trim();
  try {
    const request = _parseDlq(action, options.args, values);
    await withNats(values["nats-url"], async (nc, config, buckets) => {
      if (request.action === "list") {
        await _list(nc, { config, buckets, values, limit: request.limit, io });
      } else await _replay(nc, { config, buckets, seq: request.seq, json: values.json, io });
    });
    return 0;
  } catch (err) {
    return adminFailure(err, command, io, [DeadLetterNotFoundError, DeadLetterNotReplayableError]);
  }
}

function _parseDlq(action: string | undefined, args: string[], values: DlqFlags): _DlqRequest {
  if (action === "replay") {
    if (args.length !== 1 || !/^\d{1,15}$/.test(args[0]!) || Number(args[0]) < 1) {
      throw new UsageError("dlq replay needs one sequence number: dlq replay SEQ");
    }
    return { action, seq: Number(args[0]) };
  }
  if (action !== "list") throw new UsageError(`Unknown command "dlq ${action ?? ""}"`.trim());
  if (args.length > 0) throw new UsageError(`dlq list takes no argument, got "${args[0]}"`);
  if (values.reason !== undefined && !(DLQ_REASONS as readonly string[]).includes(values.reason)) {
    throw new UsageError(`--reason must be one of ${DLQ_REASONS.join(", ")}`);
  }
  if (values.tag !== undefined && !TAG_PATTERN.test(values.tag)) {
    throw new UsageError("--tag must be 1 to 64 letters, digits, _ or -");
  }
  if (values.limit === undefined) return { action, limit: undefined };
  const limit = Number(values.limit);
  if (!/^\d+$/.test(values.limit) || limit < 1 || limit > DLQ_LIMIT.max) {
    throw new UsageError(`--limit must be an integer from 1 to ${DLQ_LIMIT.max}`);
  }
  return { action, limit };
}

async function _list(
  nc: NatsConnection,
  options: {
    config: Config;
    buckets: PyocoBuckets;
    values: DlqFlags;
    limit: number | undefined;
    io: AdminIo;
  },
): Promise<void> {
  const { values, io } = options;
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const entries = await withReplayMarks(
    options.buckets.history,
    await listDeadLetters(jsm, options.config, {
      reason: values.reason,
      tag: values.tag,
      limit: options.limit,
    }),
  );
  if (values.json) io.out(JSON.stringify(entries));
  else if (entries.length === 0) io.out("No dead letters.");
  else {
    io.out(
      table(
        ["SEQ", "TIME", "REASON", "TAG", "FLOW", "RUN_ID", "ERROR"],
        entries.map((e) => [
          String(e.seq),
          e.timestamp ? new Date(e.timestamp * 1000).toISOString() : "",
          e.reason,
          e.tag ?? "",
          e.flow_name ?? "",
          e.run_id ?? "",
          (e.error ?? "").replace(/\s+/g, " ").slice(0, 80),
        ]),
      ).trimEnd(),
    );
  }
}

async function _replay(
  nc: NatsConnection,
  options: { config: Config; buckets: PyocoBuckets; seq: number; json?: boolean; io: AdminIo },
): Promise<void> {
  const { config, seq, io } = options;
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const logger = new Logger({
    service: "pyoco-server:admin",
    logger: "pyoco.admin",
    level: "ERROR",
    write: (line) => io.err(line),
  });
  const backend = {
    js: jetstream(nc, { timeout: 5000 }),
    runs: options.buckets.runs,
    timeoutMs: 5000,
    state: { connected: true },
  };
  // Marked like a gateway replay (SPEC §15: the entry shows replayed_as).
  const history = options.buckets.history;
  const answer = await replayAndMark(
    { backend, config, logger, principal: null, jsm, history },
    seq,
  );
  if (options.json) io.out(JSON.stringify(answer));
  else io.out(`Replayed dead letter ${seq} as run ${answer.run_id} (${answer.status}).`);
}
