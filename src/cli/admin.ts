/**
 * The admin commands: API-key create / list / revoke / pepper-reset here, dead letters
 * (`dlq list`, `dlq replay`) in `admin_dlq.ts`. Output goes to stdout (tables, or JSON with
 * `--json`); errors to stderr with a hint. Secrets are printed once, by `create`, and never
 * logged.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { PyocoBuckets } from "../nats/resources.ts";
import { ApiKeyStore } from "../auth/store.ts";
import { publicView, validateApiKeyLabel, validateTenantId } from "../auth/keys.ts";
import {
  ADMIN_HELP,
  adminFailure,
  type AdminIo,
  defaultAdminIo,
  withNats,
} from "./_admin_common.ts";
import { runDlq } from "./admin_dlq.ts";
import { runTenant } from "./admin_tenants.ts";
import { table } from "./format.ts";
import { parseFlags, UsageError } from "./usage.ts";
import {
  ApiKeyNotFoundError,
  InvalidApiKeyLabelError,
  InvalidTenantIdError,
  PepperMismatchError,
} from "../auth/errors.ts";
import { checkPepper, recordPepper } from "../auth/pepper.ts";

/**
 * Run one admin command line.
 *
 * @param argv Arguments after the program name.
 * @param io Output sinks.
 * @returns The process exit code.
 */
export async function runAdmin(argv: string[], io: AdminIo = defaultAdminIo): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv, {
      tenant: { type: "string" },
      label: { type: "string" },
      "key-id": { type: "string" },
      reason: { type: "string" },
      tag: { type: "string" },
      tags: { type: "string" },
      limit: { type: "string" },
      "max-running": { type: "string" },
      weight: { type: "string" },
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
  if (group === "dlq") return await runDlq(action, { args: positionals.slice(2), values, io });
  if (group === "tenant") {
    return await runTenant(action, { args: positionals.slice(2), values, io });
  }
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
    await withNats(values["nats-url"], async (_nc, config, { auth }) => {
      const store = new ApiKeyStore(auth, { pepper: config.authPepper });
      if (action === "pepper-reset") {
        return await _pepperReset(store, auth, { config, force: values.force, io });
      }
      await _checkPepper(auth, config, { create: action === "create", io });
      if (action === "create") await _create(store, values, io);
      else if (action === "list") await _list(store, values, io);
      else await _revoke(store, values, io);
    });
    return 0;
  } catch (err) {
    if (err instanceof InvalidTenantIdError || err instanceof InvalidApiKeyLabelError) {
      io.err(err.message);
      return 2;
    }
    return adminFailure(err, command, io, [ApiKeyNotFoundError, PepperMismatchError]);
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

/** The flags the api-key commands read. */
interface _KeyFlags {
  tenant?: string;
  label?: string;
  "key-id"?: string;
  json?: boolean;
}

async function _create(store: ApiKeyStore, values: _KeyFlags, io: AdminIo): Promise<void> {
  const created = await store.create({ tenantId: values.tenant!, label: values.label });
  if (values.json) {
    io.out(JSON.stringify({
      key_id: created.keyId,
      tenant_id: created.tenantId,
      api_key: created.apiKey,
    }));
    return;
  }
  io.out(`Created API key ${created.keyId} for tenant ${created.tenantId}.`);
  io.out(`Key (shown once, store it now): ${created.apiKey}`);
}

async function _list(store: ApiKeyStore, values: _KeyFlags, io: AdminIo): Promise<void> {
  const records = (await store.list({ tenantId: values.tenant })).map(publicView);
  if (values.json) io.out(JSON.stringify(records));
  else if (records.length === 0) io.out("No API keys.");
  else {
    io.out(
      table(
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
      ).trimEnd(),
    );
  }
}

async function _revoke(store: ApiKeyStore, values: _KeyFlags, io: AdminIo): Promise<void> {
  const record = await store.revoke(values["key-id"]!);
  if (values.json) io.out(JSON.stringify(publicView(record)));
  else io.out(`Revoked API key ${record.key_id} (tenant ${record.tenant_id}).`);
}

export { ADMIN_HELP };
export type { AdminIo };
