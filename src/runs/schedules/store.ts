/**
 * Schedules in KV bucket `pyoco_schedules` (SPEC §14). Keys:
 * - `schedule.<schedule_id>`: the {@linkcode ScheduleRecord} (definition and dispatch state);
 *   every change is a compare-and-set on its revision, retried on a conflict.
 * - `yaml.<schedule_id>`: the flow.yaml text of a `/schedules/yaml` schedule (at most
 *   `PYOCO_WORKFLOW_YAML_MAX_BYTES`), written before the record and deleted after it.
 * - `sched.<schedule_id>.<slot_unix>`: the claim of one slot — whoever KV-creates it dispatches
 *   the slot (see `dispatcher.ts`).
 *
 * Tenant scoping lives here: another tenant's schedule reads exactly like a missing one.
 *
 * @module
 */

import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Config } from "../../config.ts";
import { ErrId } from "../../contract/errors.ts";
import { encodeJson, isRevisionConflict } from "../../nats/kv.ts";
import { natsCall, type RunsBackend } from "../backend.ts";
import { NatsUnavailableError, NotFoundError } from "../errors.ts";
import type { ReadScope } from "../reads.ts";
import type { YamlSubmission } from "../submit.ts";
import type { ScheduleRecord, ScheduleView } from "./types.ts";

/** Schedule ids: 1–128 letters, digits, `_` or `-` (anything else cannot exist). */
export const SCHEDULE_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,128}$/;

/** At most this many compare-and-set tries of one change. */
const _CAS_TRIES = 20;

/**
 * The record's key.
 *
 * @param id The schedule id.
 * @returns `schedule.<id>`.
 */
export function scheduleKey(id: string): string {
  return `schedule.${id}`;
}

/**
 * The key of a slot's claim.
 *
 * @param id The schedule id.
 * @param slot The slot (whole unix seconds).
 * @returns `sched.<id>.<slot>`.
 */
export function slotKey(id: string, slot: number): string {
  return `sched.${id}.${slot}`;
}

function _yamlKey(id: string): string {
  return `yaml.${id}`;
}

/**
 * Open bucket `PYOCO_SCHEDULES_KV_BUCKET` (created with the other resources by
 * `ensureResources`: history 1, replicas and storage from the configuration).
 *
 * @param js A JetStream client.
 * @param config The configuration.
 * @returns The bucket.
 */
export async function openSchedulesKv(js: JetStreamClient, config: Config): Promise<KV> {
  return await new Kvm(js).open(config.schedulesKvBucket);
}

const _STORES = new WeakMap<RunsBackend, Promise<ScheduleStore>>();

/**
 * The schedule store of a backend, opened once (the bucket is created when missing).
 *
 * @param backend The NATS side.
 * @param config The configuration.
 * @returns The store.
 * @throws {NatsUnavailableError} When the bucket cannot be opened.
 */
export function scheduleStoreOf(backend: RunsBackend, config: Config): Promise<ScheduleStore> {
  let store = _STORES.get(backend);
  if (store === undefined) {
    store = natsCall(
      () => openSchedulesKv(backend.js, config),
      "Cannot open the schedules bucket",
      backend.timeoutMs * 2,
    ).then((kv) => new ScheduleStore(kv, backend.timeoutMs));
    store.catch(() => _STORES.delete(backend));
    _STORES.set(backend, store);
  }
  return store;
}

/**
 * The error of a schedule that does not exist or that the caller may not see.
 *
 * @param id The schedule id asked for.
 * @returns A {@linkcode NotFoundError} (ERR-PYOCO-0025).
 */
export function scheduleNotFound(id: string): NotFoundError {
  return new NotFoundError(`Schedule ${JSON.stringify(id)} not found`, ErrId.scheduleNotFound);
}

/**
 * What the API shows of a record.
 *
 * @param rec The record.
 * @returns The record without its outbox and recent-run list.
 */
export function scheduleView(rec: ScheduleRecord): ScheduleView {
  const { outbox: _o, recent_runs: _r, ...view } = rec;
  return view;
}

/** Reads and writes of schedule records, with deadlines (NATS failures become 503). */
export class ScheduleStore {
  /** The bucket. */
  readonly kv: KV;
  readonly #timeoutMs: number;

  /**
   * Wrap the bucket.
   *
   * @param kv The `pyoco_schedules` bucket.
   * @param timeoutMs Deadline of one NATS operation.
   */
  constructor(kv: KV, timeoutMs: number) {
    this.kv = kv;
    this.#timeoutMs = timeoutMs;
  }

  #call<T>(op: () => Promise<T>, what: string): Promise<T> {
    return natsCall(op, what, this.#timeoutMs);
  }

  /**
   * Store a new schedule (its flow.yaml first, then the record, both KV create).
   *
   * @param rec The record.
   * @param yaml The flow.yaml of a `/schedules/yaml` schedule.
   * @throws {NatsUnavailableError} When NATS does not answer.
   */
  async create(rec: ScheduleRecord, yaml?: YamlSubmission): Promise<void> {
    const id = rec.schedule_id;
    if (yaml !== undefined) {
      await this.#call(() => this.kv.put(_yamlKey(id), yaml.text), "Cannot store the flow.yaml");
    }
    await this.#call(
      () => this.kv.create(scheduleKey(id), encodeJson(rec)),
      "Cannot store the schedule",
    );
  }

  /**
   * Read one schedule as the caller may see it.
   *
   * @param id The schedule id.
   * @param scope The caller's tenant.
   * @returns The record and its revision.
   * @throws {NotFoundError} ERR-PYOCO-0025 when missing or another tenant's.
   * @throws {NatsUnavailableError} When NATS does not answer.
   */
  async get(id: string, scope: ReadScope = {}): Promise<{ rec: ScheduleRecord; revision: number }> {
    const found = await this.find(id);
    if (found === null) throw scheduleNotFound(id);
    if (scope.tenantId !== undefined && found.rec.tenant_id !== scope.tenantId) {
      throw scheduleNotFound(id);
    }
    return found;
  }

  /**
   * Read one schedule, whoever owns it.
   *
   * @param id The schedule id.
   * @returns The record and its revision, or `null`.
   * @throws {NatsUnavailableError} When NATS does not answer.
   */
  async find(id: string): Promise<{ rec: ScheduleRecord; revision: number } | null> {
    if (!SCHEDULE_ID_PATTERN.test(id)) return null;
    const entry = await this.#call(() => this.kv.get(scheduleKey(id)), "Cannot read the schedule");
    if (!entry || entry.operation !== "PUT" || entry.length === 0) return null;
    return { rec: entry.json<ScheduleRecord>(), revision: entry.revision };
  }

  /**
   * Every schedule the caller may see, oldest first.
   *
   * @param scope The caller's tenant.
   * @returns The records.
   * @throws {NatsUnavailableError} When NATS does not answer.
   */
  async list(scope: ReadScope = {}): Promise<ScheduleRecord[]> {
    const keys = await this.#call(async () => {
      const out: string[] = [];
      for await (const k of await this.kv.keys("schedule.*")) out.push(k);
      return out;
    }, "Cannot list schedules");
    const found = await Promise.all(keys.map((k) => this.find(k.slice("schedule.".length))));
    return found
      .filter((f) => f !== null)
      .map((f) => f.rec)
      .filter((r) => scope.tenantId === undefined || r.tenant_id === scope.tenantId)
      .sort((a, b) => a.created_at - b.created_at);
  }

  /**
   * Change a schedule by compare-and-set, re-reading and re-applying `change` on a conflict.
   *
   * @param id The schedule id.
   * @param change Makes the new record from the current one; `null` leaves it as it is.
   * @param scope The caller's tenant.
   * @returns The record as written (or as it is, when `change` returned `null`).
   * @throws {NotFoundError} ERR-PYOCO-0025 when missing or another tenant's.
   * @throws {NatsUnavailableError} When NATS does not answer or the conflicts do not end.
   */
  async update(
    id: string,
    change: (rec: ScheduleRecord) => ScheduleRecord | null,
    scope: ReadScope = {},
  ): Promise<ScheduleRecord> {
    for (let i = 0; i < _CAS_TRIES; i++) {
      const { rec, revision } = await this.get(id, scope);
      const next = change(structuredClone(rec));
      if (next === null) return rec;
      const ok = await this.#call(
        () =>
          this.kv.update(scheduleKey(id), encodeJson(next), revision).then(() => true, (err) => {
            if (_isWrongSequence(err)) return false;
            throw err;
          }),
        "Cannot update the schedule",
      );
      if (ok) return next;
    }
    throw new NatsUnavailableError("Cannot update the schedule", {
      cause: new Error(`still conflicting after ${_CAS_TRIES} tries`),
    });
  }

  /**
   * Delete a schedule: the record first (dispatch stops: no gateway decides a slot of a missing
   * record), then its flow.yaml and its slot claims (best effort).
   *
   * @param id The schedule id.
   * @param scope The caller's tenant.
   * @throws {NotFoundError} ERR-PYOCO-0025 when missing or another tenant's.
   * @throws {NatsUnavailableError} When NATS does not answer.
   */
  async remove(id: string, scope: ReadScope = {}): Promise<void> {
    const { revision } = await this.get(id, scope);
    await this.#call(
      () => this.kv.delete(scheduleKey(id), { previousSeq: revision }),
      "Cannot delete the schedule",
    );
    await this.kv.delete(_yamlKey(id)).catch(() => {});
    try {
      const claims: string[] = [];
      for await (const k of await this.kv.keys(`sched.${id}.*`)) claims.push(k);
      await Promise.all(claims.map((k) => this.kv.purge(k)));
    } catch { /* leftover claims are harmless: no record, no dispatch */ }
  }

  /**
   * The stored flow.yaml of a schedule.
   *
   * @param rec The record.
   * @returns The YAML to put in each job, or `undefined` for a flow-name schedule.
   * @throws {NatsUnavailableError} When NATS does not answer or the YAML is gone.
   */
  async yaml(rec: ScheduleRecord): Promise<YamlSubmission | undefined> {
    if (rec.workflow_yaml_sha256 === null) return undefined;
    const entry = await this.#call(
      () => this.kv.get(_yamlKey(rec.schedule_id)),
      "Cannot read the schedule's flow.yaml",
    );
    if (!entry || entry.operation !== "PUT") {
      throw new NatsUnavailableError("Cannot read the schedule's flow.yaml", {
        cause: new Error("the stored flow.yaml is missing"),
      });
    }
    return {
      text: entry.string(),
      sha256: rec.workflow_yaml_sha256,
      bytes: rec.workflow_yaml_bytes ?? entry.length,
    };
  }
}

function _isWrongSequence(err: unknown): boolean {
  return isRevisionConflict(err);
}
