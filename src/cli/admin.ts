/**
 * The admin commands: API-key create / list / revoke, and dead letters (`dlq list`, `dlq replay`,
 * over NATS directly with the same functions as the gateway's `/dlq` routes). Output goes to
 * stdout (tables, or JSON with `--json`); errors to stderr with a hint. Secrets are printed once,
 * by `create`, and never logged.
 *
 * @module
 */

import { type Config, ConfigError, loadConfig } from "../config.ts";
import { connectNats, type NatsConnection, NatsUnavailableError } from "../nats/connection.ts";
import { ensureResources, type PyocoBuckets } from "../nats/resources.ts";
import { ApiKeyStore } from "../auth/store.ts";
import { publicView, validateApiKeyLabel, validateTenantId } from "../auth/keys.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { TAG_PATTERN } from "../contract/wire.ts";
import { Logger } from "../log.ts";
import { parseFlags, UsageError } from "./usage.ts";
import {
  DeadLetterNotFoundError,
  DeadLetterNotReplayableError,
  DLQ_LIMIT,
  DLQ_REASONS,
  listDeadLetters,
  replayDeadLetter,
} from "../runs/dead_letters.ts";
import {
  ApiKeyNotFoundError,
  InvalidApiKeyLabelError,
  InvalidTenantIdError,
  PepperMismatchError,
} from "../auth/errors.ts";
import { checkPepper, recordPepper } from "../auth/pepper.ts";

/** Usage text of the admin CLI. */
export const ADMIN_HELP = `Usage: pyoco-admin <command> [options]

API keys (stored in the auth KV bucket, PYOCO_AUTH_KV_BUCKET):
  api-key create --tenant T [--label L] [--json]   create a key; prints it ONCE
  api-key list [--tenant T] [--json]               list keys (never secrets)
  api-key revoke --key-id K [--json]               revoke a key (idempotent)
  api-key pepper-reset [--force]                   record this PYOCO_AUTH_PEPPER as the keys'
                                                   pepper (--force: even with active keys)
  (create refuses when PYOCO_AUTH_PEPPER is not the pepper the bucket's keys were made with)

Dead letters (the DLQ stream, PYOCO_DLQ_STREAM):
  dlq list [--reason R] [--tag T] [--limit N] [--json]
                                                   newest first (R: invalid_job,
                                                   flow_not_found, execution_error)
  dlq replay SEQ [--json]                          submit entry SEQ's job again as a new run

Options:
  --nats-url URL   NATS server(s), comma-separated (default PYOCO_NATS_URL)
  -h, --help       this text

Exit codes: 0 ok, 1 failure, 2 usage.`;

/** Where the admin commands write. */
export interface AdminIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const _defaultIo: AdminIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Run one admin command line.
 *
 * @param argv Arguments after the program name.
 * @param io Output sinks.
 * @returns The process exit code.
 */
export async function runAdmin(argv: string[], io: AdminIo = _defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv, {
      tenant: { type: "string" },
      label: { type: "string" },
      "key-id": { type: "string" },
      reason: { type: "string" },
      tag: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "nats-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${ADMIN_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(ADMIN_HELP);
    return values.help ? 0 : 2;
  }
  const [group, action] = positionals;
  const command = `${group} ${action ?? ""}`.trim();
  if (group === "dlq") return await _runDlq(action, positionals.slice(2), values, io);
  try {
    if (
      group !== "api-key" || !["create", "list", "revoke", "pepper-reset"].includes(action ?? "")
    ) {
      throw new UsageError(`Unknown command "${command}"`);
    }
    if (action === "create" && !values.tenant) {
      throw new UsageError("api-key create needs --tenant T");
    }
    if (action === "revoke" && !values["key-id"]) {
      throw new UsageError("api-key revoke needs --key-id K");
    }
    // Validate before connecting, so bad input never waits on NATS.
    if (values.tenant !== undefined) validateTenantId(values.tenant);
    if (values.label !== undefined) validateApiKeyLabel(values.label);
    await _withNats(values["nats-url"], async (_nc, config, { auth }) => {
      const store = new ApiKeyStore(auth, { pepper: config.authPepper });
      if (action === "pepper-reset") {
        return await _pepperReset(store, auth, { config, force: values.force, io });
      }
      await _checkPepper(auth, config, { create: action === "create", io });
      if (action === "create") {
        const created = await store.create({ tenantId: values.tenant!, label: values.label });
        if (values.json) {
          io.out(JSON.stringify({
            key_id: created.keyId,
            tenant_id: created.tenantId,
            api_key: created.apiKey,
          }));
        } else {
          io.out(`Created API key ${created.keyId} for tenant ${created.tenantId}.`);
          io.out(`Key (shown once, store it now): ${created.apiKey}`);
        }
      } else if (action === "list") {
        const records = (await store.list({ tenantId: values.tenant })).map(publicView);
        if (values.json) {
          io.out(JSON.stringify(records));
        } else if (records.length === 0) {
          io.out("No API keys.");
        } else {
          io.out(_table(
            ["KEY_ID", "TENANT", "LABEL", "CREATED", "STATUS"],
            records.map((r) => [
              r.key_id,
              r.tenant_id,
              r.label ?? "",
              new Date(r.created_at * 1000).toISOString(),
              r.revoked_at === null
                ? "active"
                : `revoked ${new Date(r.revoked_at * 1000).toISOString()}`,
            ]),
          ));
        }
      } else {
        const record = await store.revoke(values["key-id"]!);
        if (values.json) io.out(JSON.stringify(publicView(record)));
        else io.out(`Revoked API key ${record.key_id} (tenant ${record.tenant_id}).`);
      }
    });
    return 0;
  } catch (err) {
    if (err instanceof InvalidTenantIdError || err instanceof InvalidApiKeyLabelError) {
      io.err(err.message);
      return 2;
    }
    return _failure(err, command, io, [ApiKeyNotFoundError, PepperMismatchError]);
  }
}

/** `api-key pepper-reset`: record this pepper; refuse while active keys exist unless forced. */
async function _pepperReset(
  store: ApiKeyStore,
  auth: PyocoBuckets["auth"],
  options: { config: Config; force: boolean | undefined; io: AdminIo },
): Promise<void> {
  const active = (await store.list()).filter((r) => r.revoked_at === null).length;
  if (active > 0 && !options.force) {
    throw new Error(
      `${active} active API key(s) were made with the recorded pepper and would answer 403 on ` +
        "gateways with this one; revoke them first, or pass --force",
    );
  }
  await recordPepper(auth, options.config.authPepper);
  options.io.out(
    `Recorded this PYOCO_AUTH_PEPPER (${
      options.config.authPepper === "" ? "empty" : "set"
    }) as the pepper of the keys in ${options.config.authKvBucket}.`,
  );
}

/**
 * The pepper check of the api-key commands: `create` refuses (and records the fingerprint when
 * the bucket has none); `list` and `revoke` only warn, so a key can always be revoked.
 */
async function _checkPepper(
  auth: PyocoBuckets["auth"],
  config: Config,
  options: { create: boolean; io: AdminIo },
): Promise<void> {
  if (options.create && config.authPepper === "") {
    options.io.err(
      "WARNING: PYOCO_AUTH_PEPPER is empty: anyone who can write to the auth KV bucket can add " +
        "a working API key for any tenant; set a long random pepper (the same on every gateway).",
    );
  }
  try {
    await checkPepper(auth, {
      pepper: config.authPepper,
      who: "admin CLI",
      bucket: config.authKvBucket,
      record: options.create,
    });
  } catch (err) {
    if (options.create || !(err instanceof PepperMismatchError)) throw err;
    options.io.err(`WARNING: ${err.detail}`);
  }
}

/** Load the config (flag over env), connect, make sure the resources exist, run, disconnect. */
async function _withNats(
  natsUrl: string | undefined,
  fn: (nc: NatsConnection, config: Config, buckets: PyocoBuckets) => Promise<void>,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ envOverrides: { PYOCO_NATS_URL: natsUrl } });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const nc = await connectNats(config, { name: "pyoco-admin", timeoutMs: 3000 });
  try {
    await fn(nc, config, await ensureResources(nc, config));
  } finally {
    await nc.close();
  }
}

/**
 * The exit code of a failed command, with its message on stderr: 2 for usage errors, 1 for
 * NATS being unreachable, for the `expected` errors (their message says it all) and the rest.
 */
function _failure(
  err: unknown,
  command: string,
  io: AdminIo,
  expected: (new (...args: never[]) => Error)[],
): number {
  if (err instanceof UsageError) {
    io.err(`${err.message}\n\n${ADMIN_HELP}`);
    return 2;
  }
  if (expected.some((cls) => err instanceof cls)) {
    io.err((err as Error).message);
    return 1;
  }
  if (err instanceof NatsUnavailableError) {
    io.err(`${err.message}\nIs NATS running? Set PYOCO_NATS_URL or pass --nats-url.`);
    return 1;
  }
  const message = (err as Error).message;
  io.err(`${command} failed: ${message}`);
  return 1;
}

function _table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

interface _DlqFlags {
  reason?: string;
  tag?: string;
  limit?: string;
  json?: boolean;
  "nats-url"?: string;
}

async function _runDlq(
  action: string | undefined,
  args: string[],
  values: _DlqFlags,
  io: AdminIo,
): Promise<number> {
  const command = `dlq ${action ?? ""}`.trim();
  try {
    let seq = 0;
    let limit: number | undefined;
    if (action === "list") {
      if (args.length > 0) throw new UsageError(`dlq list takes no argument, got "${args[0]}"`);
      if (
        values.reason !== undefined && !(DLQ_REASONS as readonly string[]).includes(values.reason)
      ) {
        throw new UsageError(`--reason must be one of ${DLQ_REASONS.join(", ")}`);
      }
      if (values.tag !== undefined && !TAG_PATTERN.test(values.tag)) {
        throw new UsageError("--tag must be 1 to 64 letters, digits, _ or -");
      }
      if (values.limit !== undefined) {
        limit = Number(values.limit);
        if (!/^\d+$/.test(values.limit) || limit < 1 || limit > DLQ_LIMIT.max) {
          throw new UsageError(`--limit must be an integer from 1 to ${DLQ_LIMIT.max}`);
        }
      }
    } else if (action === "replay") {
      if (args.length !== 1 || !/^\d{1,15}$/.test(args[0]!) || Number(args[0]) < 1) {
        throw new UsageError("dlq replay needs one sequence number: dlq replay SEQ");
      }
      seq = Number(args[0]);
    } else {
      throw new UsageError(`Unknown command "${command}"`);
    }
    await _withNats(values["nats-url"], async (nc, config, { runs }) => {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      if (action === "list") {
        const entries = await listDeadLetters(jsm, config, {
          reason: values.reason,
          tag: values.tag,
          limit,
        });
        if (values.json) io.out(JSON.stringify(entries));
        else if (entries.length === 0) io.out("No dead letters.");
        else {
          io.out(_table(
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
          ));
        }
      } else {
        const logger = new Logger({
          service: "pyoco-server:admin",
          logger: "pyoco.admin",
          level: "ERROR",
          write: (line) => io.err(line),
        });
        const backend = {
          js: jetstream(nc, { timeout: 5000 }),
          runs,
          timeoutMs: 5000,
          state: { connected: true },
        };
        const answer = await replayDeadLetter(
          { backend, config, logger, principal: null },
          jsm,
          seq,
        );
        if (values.json) io.out(JSON.stringify(answer));
        else io.out(`Replayed dead letter ${seq} as run ${answer.run_id} (${answer.status}).`);
      }
    });
    return 0;
  } catch (err) {
    return _failure(err, command, io, [DeadLetterNotFoundError, DeadLetterNotReplayableError]);
  }
}
