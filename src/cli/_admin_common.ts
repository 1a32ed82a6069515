/**
 * What the admin commands share: where they write, the usage text, connecting to NATS with the
 * config, and turning a failure into a message and an exit code.
 *
 * @module
 */

import { type Config, ConfigError, loadConfig } from "../config.ts";
import { connectNats, type NatsConnection, NatsUnavailableError } from "../nats/connection.ts";
import { ensureResources, type PyocoBuckets } from "../nats/resources.ts";
import { UsageError } from "./usage.ts";

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

Tenants (limits in the tenants KV bucket, PYOCO_TENANTS_KV_BUCKET; SPEC §13):
  tenant set T [--max-running N] [--weight W] [--tags a,b] [--json]
                                                   N runs of T at once across all workers
                                                   (0 = unlimited), W its share of pulls
                                                   (1..100); applied live in namespaced mode,
                                                   where --tags also creates T's consumers
  tenant get T [--json]                            T's limits (and the default in effect)
  tenant list [--json]                             every tenant with limits set

Options:
  --nats-url URL   NATS server(s), comma-separated (default PYOCO_NATS_URL)
  -h, --help       this text

Exit codes: 0 ok, 1 failure, 2 usage.`;

/** Where the admin commands write. */
export interface AdminIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The process's stdout and stderr. */
export const defaultAdminIo: AdminIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Load the config (flag over env), connect, make sure the resources exist, run, disconnect.
 *
 * @param natsUrl The `--nats-url` flag, if given.
 * @param fn What to do with the connection, the config and the buckets.
 * @throws {UsageError} When the config is invalid.
 * @throws {NatsUnavailableError} When NATS cannot be reached.
 */
export async function withNats(
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
 *
 * @param err The error.
 * @param command The command that failed (`api-key create`), for the message.
 * @param io Where to write.
 * @param expected Error classes whose message is shown as it is.
 * @returns The exit code.
 */
export function adminFailure(
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
