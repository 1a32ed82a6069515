/**
 * The admin commands: API-key create / list / revoke. Output goes to stdout (tables, or JSON with
 * `--json`); errors to stderr with a hint. Secrets are printed once, by `create`, and never logged.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.ts";
import { connectNats, NatsUnavailableError } from "../nats/connection.ts";
import { ensureResources } from "../nats/resources.ts";
import { ApiKeyStore } from "../auth/store.ts";
import { publicView, validateApiKeyLabel, validateTenantId } from "../auth/keys.ts";
import {
  ApiKeyNotFoundError,
  InvalidApiKeyLabelError,
  InvalidTenantIdError,
} from "../auth/errors.ts";

/** Usage text of the admin CLI. */
export const ADMIN_HELP = `Usage: pyoco-admin <command> [options]

API keys (stored in the auth KV bucket, PYOCO_AUTH_KV_BUCKET):
  api-key create --tenant T [--label L] [--json]   create a key; prints it ONCE
  api-key list [--tenant T] [--json]               list keys (never secrets)
  api-key revoke --key-id K [--json]               revoke a key (idempotent)

Options:
  --nats-url URL   NATS server(s), comma-separated (default PYOCO_NATS_URL)
  -h, --help       this text

Exit codes: 0 ok, 1 failure, 2 usage.`;

/** Where the admin commands write. */
export interface AdminIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

class _UsageError extends Error {}

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
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tenant: { type: "string" },
        label: { type: "string" },
        "key-id": { type: "string" },
        json: { type: "boolean", default: false },
        "nats-url": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
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
  try {
    if (group !== "api-key" || !["create", "list", "revoke"].includes(action ?? "")) {
      throw new _UsageError(`Unknown command "${command}"`);
    }
    if (action === "create" && !values.tenant) {
      throw new _UsageError("api-key create needs --tenant T");
    }
    if (action === "revoke" && !values["key-id"]) {
      throw new _UsageError("api-key revoke needs --key-id K");
    }
    // Validate before connecting, so bad input never waits on NATS.
    if (values.tenant !== undefined) validateTenantId(values.tenant);
    if (values.label !== undefined) validateApiKeyLabel(values.label);
    let config;
    try {
      config = loadConfig({ envOverrides: { PYOCO_NATS_URL: values["nats-url"] } });
    } catch (err) {
      if (err instanceof ConfigError) throw new _UsageError(err.message);
      throw err;
    }
    const nc = await connectNats(config, { name: "pyoco-admin", timeoutMs: 3000 });
    try {
      const { auth } = await ensureResources(nc, config);
      const store = new ApiKeyStore(auth, { pepper: config.authPepper });
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
    } finally {
      await nc.close();
    }
    return 0;
  } catch (err) {
    if (err instanceof _UsageError) {
      io.err(`${err.message}\n\n${ADMIN_HELP}`);
      return 2;
    }
    if (err instanceof InvalidTenantIdError || err instanceof InvalidApiKeyLabelError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof ApiKeyNotFoundError) {
      io.err(err.message);
      return 1;
    }
    if (err instanceof NatsUnavailableError) {
      io.err(`${err.message}\nIs NATS running? Set PYOCO_NATS_URL or pass --nats-url.`);
      return 1;
    }
    io.err(`${command} failed: ${(err as Error).message}`);
    return 1;
  }
}

function _table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
