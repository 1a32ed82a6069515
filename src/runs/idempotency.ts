/**
 * `Idempotency-Key` on `POST /runs` and `POST /runs/yaml` **[beyond]**: the same key (per
 * tenant) always answers the same `run_id` and never causes a second run or execution; the same
 * key with a different body is a 409.
 *
 * How (also in `docs/spec.md`):
 * - A claim lives in the KV bucket `PYOCO_IDEMPOTENCY_KV_BUCKET` (TTL
 *   `PYOCO_IDEMPOTENCY_TTL_SEC`, 24 h) at `<tenant or "_">.<sha256 hex of the key>`:
 *   `{run_id, body_sha256, created_at, published}`. The body hash covers `flow_name, params,
 *   tag, tags` (canonical JSON, object keys sorted), or for YAML the YAML's sha256, `flow_name`
 *   and `tag`.
 * - The first request claims the key with KV **create** and a fresh run id, submits the run
 *   atomically (snapshot create, publish with `Nats-Msg-Id: <run_id>`) and marks the claim
 *   `published` (compare-and-set). A failed submit withdraws the claim, so a retry starts over.
 * - A request that finds a claim: another body → 409 ERR-PYOCO-0018. Same body and published →
 *   200 with the run id and its current status (header `Idempotent-Replayed: true`). Not yet
 *   published and younger than {@linkcode TAKEOVER_AFTER_MS}: wait for it (poll). Older: the
 *   first attempt died between its writes, so take over — create the snapshot if missing (an
 *   existing one is kept), publish with the same `Nats-Msg-Id` (JetStream's duplicate window
 *   drops a second copy) unless the snapshot already left `PENDING` (then it was published),
 *   and mark the claim published. Concurrent take-overs are harmless for the same reasons.
 * - Limit: if the first attempt published, then died before marking, and the take-over comes
 *   after the duplicate window (2 min) while the job is still queued, the job is queued twice;
 *   the worker's rule "a job whose snapshot is terminal is ACKed without running" makes the
 *   second copy a no-op once the first has run.
 *
 * @module
 */

import { abortableSleep, sha256Hex } from "../contract/_util.ts";
import { ErrId } from "../contract/errors.ts";
import type { RunSnapshot, RunStatus, SubmitResponse } from "../contract/wire.ts";
import { nowSec } from "../contract/wire.ts";
import { createJson, getJson, updateJson } from "../nats/kv.ts";
import { natsCall, type RunsBackend } from "./backend.ts";
import { snapshotKey } from "./run_keys.ts";
import { runKey } from "../config.ts";
import { ConflictError, InvalidRequestError, NatsUnavailableError } from "./errors.ts";
import {
  buildRun,
  publishJob,
  type RunRequest,
  type SubmitContext,
  submitRun,
  type YamlSubmission,
} from "./submit.ts";

/** The request header. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";

/** An unpublished claim older than this is taken over by the next request with its key. */
export const TAKEOVER_AFTER_MS = 5000;

/** A claim at `pyoco_idempotency/<tenant>.<sha256(key)>`. */
export interface IdempotencyClaim {
  /** The run the key stands for. */
  run_id: string;
  /** SHA-256 (hex) of the canonical request body. */
  body_sha256: string;
  /** When the key was first used (unix seconds). */
  created_at: number;
  /** Whether the job is known to be in the work stream. */
  published: boolean;
}

/** A submit answer plus whether it repeated an earlier one. */
export interface IdempotentAnswer extends SubmitResponse {
  /** `true` when the key had been used before (the run was not created now). */
  replayed: boolean;
}

/** What {@linkcode submitIdempotent} needs: a submit context with the whole gateway backend. */
export interface IdempotentSubmitContext extends SubmitContext {
  /** The NATS side (with the idempotency bucket and the run index). */
  backend: RunsBackend;
}

const _KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Read and validate the `Idempotency-Key` header.
 *
 * @param req The request.
 * @returns The key, or `null` when the header is absent.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 when it is not 1 to 255 visible ASCII characters.
 */
export function idempotencyKeyOf(req: Request): string | null {
  const key = req.headers.get(IDEMPOTENCY_HEADER);
  return key === null ? null : checkIdempotencyKey(key, "header.Idempotency-Key");
}

/**
 * Check an idempotency key (a header, or a batch item's `idempotency_key`).
 *
 * @param key The value given.
 * @param path Where it was given, for the error.
 * @returns The key.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 when it is not 1 to 255 visible ASCII characters.
 */
export function checkIdempotencyKey(key: unknown, path: string): string {
  if (typeof key !== "string" || !_KEY.test(key)) {
    throw new InvalidRequestError([{
      path,
      message: "must be 1 to 255 visible ASCII characters (no spaces)",
    }]);
  }
  return key;
}

function _canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(_canonical);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      out[k] = _canonical((value as Record<string, unknown>)[k]);
    }
    return out;
  }
  return value;
}

/**
 * The hash that decides whether two requests with one key are "the same request".
 *
 * @param request The validated request.
 * @param yaml The flow.yaml of a YAML submit.
 * @returns SHA-256 hex of the canonical body.
 */
export function requestHash(request: RunRequest, yaml?: YamlSubmission): Promise<string> {
  const body = yaml === undefined
    ? { flow_name: request.flow_name, params: request.params, tag: request.tag, tags: request.tags }
    : {
      kind: "yaml",
      yaml_sha256: yaml.sha256,
      flow_name: request.flow_name,
      tag: request.tag,
      ...(yaml.paramsOverlay !== undefined ? { params: yaml.paramsOverlay } : {}),
    };
  return sha256Hex(JSON.stringify(_canonical(body)));
}

/**
 * The claim's KV key: `<tenant or "_">.<sha256 hex of the key>`.
 *
 * @param tenantId The caller's tenant (`null` without auth).
 * @param key The Idempotency-Key.
 * @returns The KV key.
 */
export async function claimKey(tenantId: string | null, key: string): Promise<string> {
  return `${tenantId ?? "_"}.${await sha256Hex(key)}`;
}

/**
 * Submit a run under an Idempotency-Key (see the module text for the protocol).
 *
 * @param ctx Backend, config, logger and caller.
 * @param key The Idempotency-Key.
 * @param request The validated request.
 * @param yaml The flow.yaml of a YAML submit.
 * @returns The run id, its status and whether the key had been used before.
 * @throws {ConflictError} ERR-PYOCO-0018 when the key was used with another body;
 *   {@linkcode NatsUnavailableError} when
 *   NATS does not answer.
 */
export async function submitIdempotent(
  ctx: IdempotentSubmitContext,
  key: string,
  request: RunRequest,
  yaml?: YamlSubmission,
): Promise<IdempotentAnswer> {
  const { backend } = ctx;
  const kv = backend.idempotency;
  const k = await claimKey(ctx.principal?.tenantId ?? null, key);
  const bodyHash = await requestHash(request, yaml);
  const deadline = Date.now() + TAKEOVER_AFTER_MS + 10 * backend.timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const claim: IdempotencyClaim = {
      run_id: crypto.randomUUID(),
      body_sha256: bodyHash,
      created_at: nowSec(),
      published: false,
    };
    const revision = await natsCall(
      () => createJson(kv, k, claim),
      "Cannot claim the Idempotency-Key",
      backend.timeoutMs,
    );
    if (revision !== null) {
      return await _firstSubmit(ctx, { held: { k, claim, revision }, request, yaml });
    }
    const current = await natsCall(
      () => getJson<IdempotencyClaim>(kv, k),
      "Cannot read the Idempotency-Key claim",
      backend.timeoutMs,
    );
    if (current === null) continue; // withdrawn meanwhile: claim it again
    const found = current.value;
    if (found.body_sha256 !== bodyHash) {
      throw new ConflictError(
        "Idempotency-Key already used with a different request body: use a new key for a " +
          "different run",
        ErrId.idempotencyConflict,
      );
    }
    if (found.published) {
      return { run_id: found.run_id, status: await _status(ctx, found.run_id), replayed: true };
    }
    const ageMs = (nowSec() - found.created_at) * 1000;
    if (ageMs < TAKEOVER_AFTER_MS) {
      await abortableSleep(Math.min(50 + attempt * 10, 200));
      continue;
    }
    return await _takeOver(ctx, {
      held: { k, claim: current.value, revision: current.revision },
      request,
      yaml,
    });
  }
  throw new NatsUnavailableError("Cannot submit the run: its Idempotency-Key claim did not settle");
}

/** A claim as held: its KV key, its value and the revision it was read or written at. */
interface _Held {
  k: string;
  claim: IdempotencyClaim;
  revision: number;
}

/** What a claimed submit writes. */
interface _ClaimedSubmit {
  held: _Held;
  request: RunRequest;
  yaml: YamlSubmission | undefined;
}

async function _firstSubmit(
  ctx: IdempotentSubmitContext,
  { held, request, yaml }: _ClaimedSubmit,
): Promise<IdempotentAnswer> {
  const { k, claim, revision } = held;
  const kv = ctx.backend.idempotency;
  let answer: SubmitResponse;
  try {
    answer = await submitRun(ctx, request, yaml, { runId: claim.run_id, idempotencyClaim: k });
  } catch (err) {
    // Nothing was queued (submitRun withdrew the snapshot): withdraw the claim too.
    await kv.delete(k, { previousSeq: revision }).catch(() => {});
    throw err;
  }
  await _markPublished(ctx, held);
  return { ...answer, replayed: false };
}

async function _takeOver(
  ctx: IdempotentSubmitContext,
  { held, request, yaml }: _ClaimedSubmit,
): Promise<IdempotentAnswer> {
  const { k, claim } = held;
  const { backend, config, logger } = ctx;
  const runId = claim.run_id;
  const { snapshot, job } = buildRun(ctx.principal, request, yaml, {
    runId,
    idempotencyClaim: k,
  });
  const created = await natsCall(
    () => createJson(backend.runs, snapshotKey(config, snapshot), snapshot),
    "Cannot write the run snapshot",
    backend.timeoutMs,
  );
  let status: RunStatus = "PENDING";
  if (created === null) {
    status = await _status(ctx, runId);
  } else {
    backend.index.upsert(snapshot, created);
  }
  if (status === "PENDING") {
    try {
      await publishJob(backend, config, job);
    } catch (err) {
      throw new NatsUnavailableError("Cannot queue the run", { cause: err });
    }
  }
  logger.info("Idempotent submit taken over after an interrupted attempt", {
    run_id: runId,
    flow_name: request.flow_name,
    tag: request.tag,
    snapshot_created: created !== null,
  });
  await _markPublished(ctx, held);
  return { run_id: runId, status, replayed: true };
}

async function _markPublished(ctx: IdempotentSubmitContext, held: _Held): Promise<void> {
  const { k, claim, revision } = held;
  // A lost race means another request marked it (or took it over): either way it is published.
  await updateJson(ctx.backend.idempotency, k, { ...claim, published: true }, revision)
    .catch((err) => {
      ctx.logger.warn("Cannot mark an Idempotency-Key claim published", {
        run_id: claim.run_id,
      }, err);
    });
}

async function _status(ctx: IdempotentSubmitContext, runId: string): Promise<RunStatus> {
  const key = runKey(ctx.config, runId, { tenant: ctx.principal?.tenantId });
  const entry = await natsCall(
    () => getJson<RunSnapshot>(ctx.backend.runs, key),
    `Cannot read run ${runId}`,
    ctx.backend.timeoutMs,
  );
  return entry?.value.status ?? "PENDING";
}
