/**
 * The run index's storage: one *slot* per run, its fields in typed-array columns, every string
 * (flow, tag, tenant, worker, error, tags, priority, schedule, workflow hash) interned once with
 * a reference count. About 70 bytes per run plus its id, instead of an object of ~1 KiB: the
 * index holds every stored run (SPEC §11: ≤ 0.5 KiB per run), while only the runs of one page
 * are ever turned back into objects ({@linkcode RunTable.materialize}).
 *
 * The list filters that have their own ordered lists in the index are named in
 * {@linkcode RUN_INDEX_FILTERS}: adding a filter is one line there.
 *
 * @module
 */

import type { RunSnapshot, RunStatus, RunSummary } from "../contract/wire.ts";
import { RUN_STATUSES } from "../contract/wire.ts";
import { PRIORITIES } from "../contract/tenancy.ts";

/** A summary as the index hands it out: the wire summary plus tenant and revision. */
export interface IndexedRun extends RunSummary {
  /** Tenant of the run (`null` without auth). */
  tenant_id: string | null;
  /** KV revision the summary was read at. */
  revision: number;
}

/**
 * The list filters with an ordered list of their own per value (query field → snapshot
 * field). A filtered list walks only the runs with that value, newest first. Add a line here
 * to index one more string field of the snapshot.
 */
export const RUN_INDEX_FILTERS = {
  flow: "flow_name",
  tag: "tag",
  schedule_id: "schedule_id",
  workflow_yaml_sha256: "workflow_yaml_sha256",
} as const;

/** A query field of {@linkcode RUN_INDEX_FILTERS}. */
export type RunIndexFilter = keyof typeof RUN_INDEX_FILTERS;

/**
 * One optional value per filter of {@linkcode RUN_INDEX_FILTERS} (`null` or absent: no
 * filter): `flow` (flow name), `tag` (the tag the run was queued on; secondary `tags` do not
 * match, as pyoco-server), `schedule_id`, `workflow_yaml_sha256`.
 */
export type RunFilterValues = { [K in RunIndexFilter]?: string | null };

/** The filter names, in table order. */
export const FILTER_NAMES = Object.keys(RUN_INDEX_FILTERS) as RunIndexFilter[];

const _BASE_COLUMNS = [
  "flow_name",
  "tag",
  "tenant_id",
  "worker_id",
  "error",
  "tags",
  "priority",
] as const;
/** The interned string columns of a slot: the summary's strings, then filter-only fields. */
const _COLUMNS: readonly string[] = [
  ...new Set<string>([..._BASE_COLUMNS, ...Object.values(RUN_INDEX_FILTERS)]),
];
const C_FLOW = 0;
const C_TAG = 1;
/** Column of the tenant. */
export const C_TENANT = 2;
/** Column of the worker id. */
export const C_WORKER = 3;
const C_ERROR = 4;
const C_TAGS = 5;
/** Column of the priority (`null`: none named, so `normal`). */
export const C_PRIORITY = 6;
/** Column of each filter, in {@linkcode FILTER_NAMES} order. */
export const FILTER_COLUMNS: readonly number[] = FILTER_NAMES.map((f) =>
  _COLUMNS.indexOf(RUN_INDEX_FILTERS[f])
);

/** One decoded snapshot, before it is stored. */
export interface RunRecord {
  /** Run id. */
  runId: string;
  /** Status text. */
  status: string;
  /** `updated_at`. */
  updatedAt: number;
  /** `heartbeat_at`. */
  heartbeatAt: number;
  /** The string columns (`null` when absent); `tags` is `null` when it is just `[tag]`. */
  strings: (string | null)[];
}

function _str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/**
 * Take what the index keeps from a snapshot.
 *
 * @param snapshot A run snapshot (any extra fields are ignored).
 * @returns The record, or `null` when the snapshot lacks `run_id` or `status`.
 */
export function decodeRecord(snapshot: Partial<RunSnapshot>): RunRecord | null {
  if (typeof snapshot.run_id !== "string" || typeof snapshot.status !== "string") return null;
  const raw = snapshot as Record<string, unknown>;
  const strings: (string | null)[] = new Array(_COLUMNS.length);
  for (let c = 0; c < _COLUMNS.length; c++) strings[c] = _str(raw[_COLUMNS[c]!]);
  strings[C_FLOW] ??= "";
  const tag = strings[C_TAG] ?? null;
  let tags: string | null = null;
  if (Array.isArray(snapshot.tags)) {
    const list = snapshot.tags.filter((t): t is string => typeof t === "string");
    if (!(tag !== null && list.length === 1 && list[0] === tag)) tags = JSON.stringify(list);
  } // `tags` absent: the summary shows `[tag]` (or `[]`), as `null` gives in materialize
  strings[C_TAGS] = tags;
  // Only the three priorities (SPEC §13); anything else a writer put there counts as normal.
  const priority = strings[C_PRIORITY];
  if (typeof priority === "string" && !(PRIORITIES as readonly string[]).includes(priority)) {
    strings[C_PRIORITY] = null;
  }
  return {
    runId: snapshot.run_id,
    status: snapshot.status,
    updatedAt: typeof snapshot.updated_at === "number" ? snapshot.updated_at : 0,
    heartbeatAt: typeof snapshot.heartbeat_at === "number" ? snapshot.heartbeat_at : 0,
    strings,
  };
}

/** Strings stored once each, with a reference count; id 0 is `null`. */
export class Interner {
  readonly #ids = new Map<string, number>();
  readonly #values: (string | null)[] = [null];
  readonly #refs: number[] = [0];
  readonly #free: number[] = [];

  /**
   * Take a reference to a string.
   *
   * @param s The string (`null` is id 0, not counted).
   * @returns Its id.
   */
  ref(s: string | null): number {
    if (s === null) return 0;
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.#free.pop() ?? this.#values.length;
      this.#values[id] = s;
      this.#refs[id] = 0;
      this.#ids.set(s, id);
    }
    this.#refs[id]!++;
    return id;
  }

  /**
   * Drop a reference (the string is forgotten with its last one).
   *
   * @param id Its id.
   */
  unref(id: number): void {
    if (id === 0) return;
    if (--this.#refs[id]! > 0) return;
    this.#ids.delete(this.#values[id]!);
    this.#values[id] = null;
    this.#free.push(id);
  }

  /**
   * The string of an id.
   *
   * @param id The id.
   * @returns The string (`null` for 0).
   */
  value(id: number): string | null {
    return this.#values[id] ?? null;
  }

  /**
   * The id of a string, if any run uses it.
   *
   * @param s The string (`null` is 0).
   * @returns Its id, or `undefined`.
   */
  idOf(s: string | null): number | undefined {
    return s === null ? 0 : this.#ids.get(s);
  }
}

/** Runs in slots with typed-array columns; see the module documentation. */
export class RunTable {
  /** The interned strings. */
  readonly strings: Interner = new Interner();
  /** Slot of each run id. */
  slotOf: Map<string, number> = new Map();
  /** Run id of each slot (kept after {@linkcode RunTable.free} until a compaction). */
  ids: string[] = [];
  /** KV revision per slot. */
  rev: Float64Array = new Float64Array(0);
  /** `updated_at` per slot. */
  at: Float64Array = new Float64Array(0);
  /** `heartbeat_at` per slot. */
  hb: Float64Array = new Float64Array(0);
  /** Status code + 1 per slot (0: a free slot). */
  status: Uint8Array = new Uint8Array(0);
  /** The string columns (interned ids). */
  cols: Uint32Array[] = _COLUMNS.map(() => new Uint32Array(0));
  /** Slots in use or freed (the next new slot). */
  length = 0;
  /** Freed slots below `length`. */
  freed = 0;
  /** Status names by code (the contract's first; unknown ones are added, up to 254). */
  readonly statusNames: string[] = [...RUN_STATUSES];
  readonly #statusCodes = new Map<string, number>(RUN_STATUSES.map((s, i) => [s, i]));
  readonly #scratch: number[] = new Array(_COLUMNS.length).fill(0);

  /** Runs stored. */
  get size(): number {
    return this.slotOf.size;
  }

  /**
   * The code of a status name.
   *
   * @param name The status.
   * @param add Add it when unknown.
   * @returns The code, or `undefined` (unknown and not added, or the table of codes is full).
   */
  statusCode(name: string, add = false): number | undefined {
    let code = this.#statusCodes.get(name);
    if (code === undefined && add && this.statusNames.length < 254) {
      code = this.statusNames.length;
      this.statusNames.push(name);
      this.#statusCodes.set(name, code);
    }
    return code;
  }

  /**
   * The interned ids of a query's filter values.
   *
   * @param query The filter values.
   * @returns Field (1 + filter number), column and id of each filter given; `undefined` when no
   *   run has a value asked for.
   */
  filterIds(
    query: RunFilterValues,
  ): { field: number; column: number; id: number }[] | undefined {
    const out: { field: number; column: number; id: number }[] = [];
    for (let f = 0; f < FILTER_NAMES.length; f++) {
      const value = query[FILTER_NAMES[f]!];
      if (value == null) continue;
      const id = this.strings.idOf(value);
      if (id === undefined) return undefined;
      out.push({ field: f + 1, column: FILTER_COLUMNS[f]!, id });
    }
    return out;
  }

  /**
   * Status codes of a status filter.
   *
   * @param statuses The statuses (`null`: every status known).
   * @returns Their codes (unknown statuses left out).
   */
  statusCodes(statuses: ReadonlySet<string> | null): number[] {
    if (statuses === null) return this.statusNames.map((_, i) => i);
    const out: number[] = [];
    for (const s of statuses) {
      const code = this.statusCode(s);
      if (code !== undefined) out.push(code);
    }
    return out;
  }

  /**
   * A new slot for a run id.
   *
   * @param runId The run id.
   * @returns The slot.
   */
  alloc(runId: string): number {
    if (this.length === this.rev.length) this.#grow();
    const slot = this.length++;
    this.ids[slot] = runId;
    this.slotOf.set(runId, slot);
    return slot;
  }

  /**
   * Intern a record's strings (references taken: store them with {@linkcode RunTable.store}).
   *
   * @param record The record.
   * @returns The ids, in a scratch array reused by the next call.
   */
  intern(record: RunRecord): number[] {
    const ids = this.#scratch;
    for (let c = 0; c < ids.length; c++) ids[c] = this.strings.ref(record.strings[c] ?? null);
    return ids;
  }

  /**
   * Write a record into a slot, dropping the references of what it held.
   *
   * @param slot The slot.
   * @param record The record.
   * @param options Interned string ids, status code and revision.
   */
  store(
    slot: number,
    record: RunRecord,
    options: { ids: number[]; status: number; revision: number },
  ): void {
    const held = this.status[slot] !== 0;
    for (let c = 0; c < this.cols.length; c++) {
      const col = this.cols[c]!;
      if (held) this.strings.unref(col[slot]!);
      col[slot] = options.ids[c]!;
    }
    this.rev[slot] = options.revision;
    this.at[slot] = record.updatedAt;
    this.hb[slot] = record.heartbeatAt;
    this.status[slot] = options.status + 1;
  }

  /**
   * Free a slot (its run id stays readable until {@linkcode RunTable.compact}).
   *
   * @param slot The slot.
   */
  free(slot: number): void {
    if (this.status[slot] === 0) return;
    for (const col of this.cols) this.strings.unref(col[slot]!);
    this.status[slot] = 0;
    this.slotOf.delete(this.ids[slot]!);
    this.freed++;
  }

  /**
   * The interned id in a column of a slot.
   *
   * @param slot The slot.
   * @param column The column.
   * @returns The id (0: `null`).
   */
  col(slot: number, column: number): number {
    return this.cols[column]![slot]!;
  }

  /**
   * The worker id of a slot.
   *
   * @param slot The slot.
   * @returns The worker id, or `null`.
   */
  workerOf(slot: number): string | null {
    return this.strings.value(this.cols[C_WORKER]![slot]!);
  }

  /**
   * Ids that start with `prefix`, in no particular order (one pass over the ids).
   *
   * @param prefix The start of the id (`""` matches nothing).
   * @param options `limit` (default 10) and `tenantId` (only that tenant's; `undefined`: all).
   * @returns At most `limit` ids.
   */
  idsWithPrefix(
    prefix: string,
    options: { limit?: number; tenantId?: string | null } = {},
  ): string[] {
    const limit = options.limit ?? 10;
    const out: string[] = [];
    if (prefix === "" || limit <= 0) return out;
    for (const [id, slot] of this.slotOf) {
      if (!id.startsWith(prefix)) continue;
      if (options.tenantId !== undefined) {
        if (this.strings.value(this.col(slot, C_TENANT)) !== options.tenantId) continue;
      }
      out.push(id);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Order of two slots' run ids (the tie-break of equal `updated_at`).
   *
   * @param a A slot.
   * @param b Another slot.
   * @returns Negative, zero or positive.
   */
  compareIds(a: number, b: number): number {
    const x = this.ids[a]!;
    const y = this.ids[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  /**
   * The summary of a slot, as an object.
   *
   * @param slot The slot.
   * @returns The indexed run.
   */
  materialize(slot: number): IndexedRun {
    const s = this.strings;
    const c = this.cols;
    const tag = s.value(c[C_TAG]![slot]!);
    const tags = s.value(c[C_TAGS]![slot]!);
    return {
      run_id: this.ids[slot]!,
      flow_name: s.value(c[C_FLOW]![slot]!) ?? "",
      tag,
      tags: tags === null ? (tag === null ? [] : [tag]) : JSON.parse(tags),
      status: this.statusNames[this.status[slot]! - 1] as RunStatus,
      updated_at: this.at[slot]!,
      heartbeat_at: this.hb[slot]!,
      worker_id: s.value(c[C_WORKER]![slot]!),
      error: s.value(c[C_ERROR]![slot]!),
      tenant_id: s.value(c[C_TENANT]![slot]!),
      revision: this.rev[slot]!,
    };
  }

  /**
   * Drop the freed slots and renumber the rest (order kept).
   *
   * @returns The new slot of each old one (`-1` for a freed slot).
   */
  compact(): Int32Array {
    const map = new Int32Array(this.length).fill(-1);
    let w = 0;
    for (let r = 0; r < this.length; r++) {
      if (this.status[r] === 0) continue;
      map[r] = w;
      if (w !== r) {
        this.ids[w] = this.ids[r]!;
        this.rev[w] = this.rev[r]!;
        this.at[w] = this.at[r]!;
        this.hb[w] = this.hb[r]!;
        this.status[w] = this.status[r]!;
        for (const col of this.cols) col[w] = col[r]!;
        this.slotOf.set(this.ids[w]!, w);
      }
      w++;
    }
    this.status.fill(0, w, this.length);
    this.ids.length = w;
    this.length = w;
    this.freed = 0;
    return map;
  }

  #grow(): void {
    const n = this.rev.length;
    const cap = n < 1024 ? Math.max(64, n * 2) : Math.ceil(n * 1.5);
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.rev = f64(this.rev);
    this.at = f64(this.at);
    this.hb = f64(this.hb);
    const status = new Uint8Array(cap);
    status.set(this.status);
    this.status = status;
    this.cols = this.cols.map((a) => {
      const b = new Uint32Array(cap);
      b.set(a);
      return b;
    });
  }
}

/**
 * Make the index summary of a snapshot.
 *
 * @param snapshot A run snapshot.
 * @param revision Its KV revision.
 * @returns The summary, or `null` when the snapshot lacks `run_id` or `status`.
 */
export function summarize(snapshot: Partial<RunSnapshot>, revision: number): IndexedRun | null {
  const record = decodeRecord(snapshot);
  if (record === null) return null;
  const table = new RunTable();
  const slot = table.alloc(record.runId);
  const code = table.statusCode(record.status, true)!;
  table.store(slot, record, { ids: table.intern(record), status: code, revision });
  return table.materialize(slot);
}

/**
 * The wire summary of an indexed run (without tenant and revision).
 *
 * @param run An indexed run.
 * @returns The `GET /runs` row.
 */
export function toSummary(run: IndexedRun): RunSummary {
  const { tenant_id: _t, revision: _r, ...summary } = run;
  return summary;
}
