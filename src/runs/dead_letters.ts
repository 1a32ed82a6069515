/**
 * Dead letters: list the `PYOCO_DLQ` stream and replay an entry as a new run. Shared by the
 * gateway (`GET /dlq`, `POST /dlq/{seq}/replay`) and the admin CLI (`dlq list`, `dlq replay`),
 * over nats.js.
 *
 * Decisions (also in `docs/spec.md`):
 * - Entries are listed newest first (descending stream sequence), each as `{seq, ...message}`
 *   (the message of SPEC §4, including the original `job`). They are read backwards in chunks
 *   of parallel `STREAM.MSG.GET` requests, so the cost follows what is read, never the stream's
 *   size; with filters, at most {@linkcode DLQ_MAX_SCAN} entries (the newest) are looked at.
 * - `tag` matches the entry's subject `pyoco.dlq.<tag>`; `reason` its `reason`; `flowName` its
 *   `flow_name` (or its job's).
 * - Replay marks (`replayed_as`), delete and bulk replay live in `dlq_manage.ts` (SPEC §15).
 * - Tenants: with a tenant given, only entries whose job carries that `tenant_id` are visible
 *   (an `invalid_job` entry whose job is raw text has no tenant: only tenant-less callers see it).
 * - Replay submits the original job as a NEW run (new run id; same flow_name, params, tag,
 *   tags, tenant, api key id and YAML) through the gateway's atomic submit, with
 *   `replayed_from: <seq>` in the snapshot and the job. The DLQ entry stays (the stream is an
 *   audit log with its own limits). A job that cannot be replayed (raw text, or fields a submit
 *   would refuse) is a {@linkcode DeadLetterNotReplayableError}.
 *
 * @module
 */

import type { JetStreamManager } from "@nats-io/jetstream";
import { sha256Hex } from "../contract/_util.ts";
import { type Config, parseDlqSubject } from "../config.ts";
import type { DeadLetter } from "../contract/views.ts";
import { isPriority } from "../contract/tenancy.ts";
import type { DlqMessage, Job, RunSnapshot, SubmitResponse } from "../contract/wire.ts";
import type { Principal } from "./principal.ts";
import { findRunKey } from "./run_keys.ts";
import {
  type RunRequest,
  type SubmitContext,
  submitRun,
  validateRunRequest,
  type YamlSubmission,
} from "./submit.ts";

export type { DeadLetter };

/** The DLQ reasons of SPEC §4. */
export const DLQ_REASONS = ["invalid_job", "flow_not_found", "execution_error"] as const;

/** Default and maximum of `limit`. */
export const DLQ_LIMIT = { default: 50, max: 1000 } as const;

/** With filters, at most this many of the newest entries are looked at. */
export const DLQ_MAX_SCAN = 10_000;

const _CHUNK = 64;

/** No dead letter has this sequence (or the caller's tenant may not see it). */
export class DeadLetterNotFoundError extends Error {
  /** The sequence asked for. */
  readonly seq: number;

  /**
   * Make the error.
   *
   * @param seq The sequence asked for.
   * @param options Keeps `cause`.
   */
  constructor(seq: number, options?: ErrorOptions) {
    super(`Dead letter ${seq} not found in the DLQ stream`, options);
    this.name = "DeadLetterNotFoundError";
    this.seq = seq;
  }
}

/** A dead letter whose job cannot be submitted again. */
export class DeadLetterNotReplayableError extends Error {
  /** The sequence asked for. */
  readonly seq: number;

  /**
   * Make the error.
   *
   * @param seq The sequence.
   * @param why Why it cannot be replayed.
   * @param options Keeps `cause`.
   */
  constructor(seq: number, why: string, options?: ErrorOptions) {
    super(`Dead letter ${seq} cannot be replayed: ${why}`, options);
    this.name = "DeadLetterNotReplayableError";
    this.seq = seq;
  }
}

/** Filters of {@linkcode listDeadLetters}. */
export interface ListDeadLettersOptions {
  /** Only this reason (`invalid_job`, `flow_not_found`, `execution_error`). */
  reason?: string | null;
  /** Only this tag (subject `pyoco.dlq.<tag>`). */
  tag?: string | null;
  /** Only this flow (the entry's `flow_name`, else its job's). */
  flowName?: string | null;
  /** At most this many entries. @default {50} */
  limit?: number;
  /** Only this tenant's entries; `undefined` means every entry. */
  tenantId?: string | null;
}

function _toDeadLetter(seq: number, data: Uint8Array): DeadLetter {
  const text = new TextDecoder().decode(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      seq,
      timestamp: 0,
      reason: "invalid_job",
      error: "The dead letter is not a JSON object",
      run_id: null,
      flow_name: null,
      tag: null,
      tags: [],
      worker_id: "",
      num_delivered: 0,
      subject: "",
      job: text,
    };
  }
  return { ...(value as DlqMessage), seq };
}

function _tenantOf(entry: DeadLetter): string | null {
  // The top-level field first: pyoco-server 0.4 workers write only that one (SPEC §16).
  if (typeof entry.tenant_id === "string") return entry.tenant_id;
  const job = _jobOf(entry);
  return job !== null && typeof job.tenant_id === "string" ? job.tenant_id : null;
}

/**
 * The job of a dead letter as an object: our `job` field, or — for entries written by a
 * pyoco-server 0.4 worker, which has no `job` — the raw `payload` text parsed.
 */
function _jobOf(entry: DeadLetter): Partial<Job> | null {
  const isObject = (v: unknown): v is Partial<Job> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObject(entry.job)) return entry.job;
  const raw = typeof entry.payload === "string"
    ? entry.payload
    : typeof entry.job === "string"
    ? entry.job
    : null;
  if (raw === null) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function _flowOf(entry: DeadLetter): string | null {
  if (typeof entry.flow_name === "string") return entry.flow_name;
  const job = _jobOf(entry);
  return job !== null && typeof job.flow_name === "string" ? job.flow_name : null;
}

function _visible(entry: DeadLetter, tenantId: string | null | undefined): boolean {
  return tenantId === undefined || _tenantOf(entry) === tenantId;
}

/**
 * List dead letters, newest first.
 *
 * @param jsm A JetStream manager.
 * @param config The configuration (DLQ stream and subject prefix).
 * @param options Filters and limit.
 * @returns At most `limit` entries.
 * @throws {Error} The nats.js error when JetStream does not answer.
 */
export async function listDeadLetters(
  jsm: JetStreamManager,
  config: Config,
  options: ListDeadLettersOptions = {},
): Promise<DeadLetter[]> {
  const limit = Math.min(Math.max(1, options.limit ?? DLQ_LIMIT.default), DLQ_LIMIT.max);
  const info = await jsm.streams.info(config.dlqStream);
  const { first_seq: first, last_seq: last, messages } = info.state;
  const out: DeadLetter[] = [];
  if (messages === 0) return out;
  let hi = last;
  let scanned = 0;
  while (out.length < limit && hi >= first && scanned < DLQ_MAX_SCAN) {
    const lo = Math.max(first, hi - _CHUNK + 1);
    const seqs: number[] = [];
    for (let seq = hi; seq >= lo; seq--) seqs.push(seq);
    scanned += seqs.length;
    const stored = await Promise.all(
      seqs.map((seq) => jsm.streams.getMessage(config.dlqStream, { seq })),
    );
    for (const m of stored) {
      if (m === null) continue; // deleted or aged out meanwhile
      const where = parseDlqSubject(config, m.subject);
      if (options.tag && where?.tag !== options.tag) continue;
      const entry = _toDeadLetter(m.seq, m.data);
      if (options.reason && entry.reason !== options.reason) continue;
      if (options.flowName && _flowOf(entry) !== options.flowName) continue;
      if (!_visible(entry, options.tenantId)) continue;
      out.push(entry);
      if (out.length >= limit) break;
    }
    hi = lo - 1;
  }
  return out;
}

/**
 * Read one dead letter.
 *
 * @param jsm A JetStream manager.
 * @param config The configuration.
 * @param seq Its stream sequence.
 * @param tenantId Only visible to this tenant; `undefined` means any.
 * @returns The entry.
 * @throws {DeadLetterNotFoundError} When there is none (or another tenant's).
 */
export async function getDeadLetter(
  jsm: JetStreamManager,
  config: Config,
  seq: number,
  tenantId?: string | null,
): Promise<DeadLetter> {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new DeadLetterNotFoundError(seq);
  const m = await jsm.streams.getMessage(config.dlqStream, { seq });
  if (m === null || parseDlqSubject(config, m.subject) === null) {
    throw new DeadLetterNotFoundError(seq);
  }
  const entry = _toDeadLetter(m.seq, m.data);
  if (!_visible(entry, tenantId)) throw new DeadLetterNotFoundError(seq);
  return entry;
}

/**
 * What a replay would submit: the request, its YAML and the principal it runs as.
 *
 * @param entry The dead letter.
 * @param config The configuration (validation rules).
 * @returns The submit inputs.
 * @throws {DeadLetterNotReplayableError} When the job is raw text or a submit would refuse it.
 */
export async function replayRequest(
  entry: DeadLetter,
  config: Config,
): Promise<{ request: RunRequest; yaml?: YamlSubmission; principal: Principal | null }> {
  const j = _jobOf(entry);
  if (j === null) {
    throw new DeadLetterNotReplayableError(entry.seq, "its job is not a JSON object");
  }
  let request: RunRequest;
  try {
    request = validateRunRequest({
      flow_name: j.flow_name,
      params: j.params ?? {},
      ...(j.tag !== undefined ? { tag: j.tag } : {}),
      ...(j.tags !== undefined ? { tags: j.tags } : {}),
      ...(isPriority(j.priority) ? { priority: j.priority } : {}),
    }, config);
  } catch (err) {
    const why = (err as Error).message;
    throw new DeadLetterNotReplayableError(entry.seq, why, { cause: err });
  }
  let yaml: YamlSubmission | undefined;
  if (typeof j.workflow_yaml === "string") {
    const bytes = new TextEncoder().encode(j.workflow_yaml);
    yaml = { text: j.workflow_yaml, sha256: await sha256Hex(bytes), bytes: bytes.byteLength };
  }
  const tenantId = _tenantOf(entry);
  const keyId = typeof j.api_key_id === "string"
    ? j.api_key_id
    : typeof entry.api_key_id === "string"
    ? entry.api_key_id
    : "";
  const principal = tenantId !== null ? { tenantId, keyId } : null;
  return { request, yaml, principal };
}

/**
 * A pyoco-server 0.4 worker dead-letters a failed run without its job (only run id, flow, tags,
 * tenant): rebuild the job from the run's snapshot, which holds the params. A YAML run cannot be
 * rebuilt (its YAML is never stored) and stays not replayable.
 */
async function _withJobFromSnapshot(ctx: SubmitContext, entry: DeadLetter): Promise<DeadLetter> {
  if (typeof entry.run_id !== "string" || entry.run_id === "") return entry;
  const key = await findRunKey({ runs: ctx.backend.runs, config: ctx.config }, entry.run_id, {
    tenantId: entry.tenant_id ?? undefined,
  });
  const got = await ctx.backend.runs.get(key);
  if (got === null || got.operation !== "PUT" || got.length === 0) return entry;
  const snapshot = got.json<Partial<RunSnapshot>>();
  if (typeof snapshot.workflow_yaml_sha256 === "string") return entry;
  const job: Partial<Job> = {
    flow_name: snapshot.flow_name ?? entry.flow_name ?? undefined,
    params: snapshot.params ?? {},
    tag: snapshot.tag ?? entry.tag ?? undefined,
    tags: snapshot.tags ?? entry.tags,
    tenant_id: snapshot.tenant_id ?? entry.tenant_id ?? null,
    api_key_id: snapshot.api_key_id ?? entry.api_key_id ?? null,
  };
  return { ...entry, job: job as Job };
}

/** Options of {@linkcode replayDeadLetter}. */
export interface ReplayDeadLetterOptions {
  /** Only this tenant's entries may be replayed; `undefined` means any. */
  tenantId?: string | null;
}

/**
 * Submit a dead letter's job again as a new run (`replayed_from: seq`).
 *
 * @param ctx Submit context (backend, config, logger; its `principal` is ignored: the run keeps
 *   the job's tenant and api key id).
 * @param jsm A JetStream manager.
 * @param seq The dead letter's stream sequence.
 * @param options The caller's tenant.
 * @returns `{run_id, status: "PENDING", replayed_from}`.
 * @throws {DeadLetterNotFoundError} When there is no such entry (for this tenant).
 * @throws {DeadLetterNotReplayableError} When its job cannot be submitted.
 * @throws {NatsUnavailableError} When the submit fails (nothing is left behind).
 */
export async function replayDeadLetter(
  ctx: SubmitContext,
  jsm: JetStreamManager,
  seq: number,
  options: ReplayDeadLetterOptions = {},
): Promise<SubmitResponse & { replayed_from: number }> {
  let entry = await getDeadLetter(jsm, ctx.config, seq, options.tenantId);
  if (_jobOf(entry) === null) entry = await _withJobFromSnapshot(ctx, entry);
  const { request, yaml, principal } = await replayRequest(entry, ctx.config);
  const answer = await submitRun({ ...ctx, principal }, request, yaml, { replayedFrom: seq });
  return { ...answer, replayed_from: seq };
}
