/**
 * A sorted list of `(key, slot)` pairs kept in chunks of at most {@linkcode CHUNK} entries (two
 * typed arrays each): the run index's per-filter lists, ordered by `updated_at` then run id.
 *
 * Why chunks: an update usually lands at the end of its list, but one whose `updated_at` lands
 * deep inside (a writer's clock behind, a run listed again) would shift everything after it in
 * one flat array — O(runs) for one KV-watch message. Here an insert or a removal finds its
 * chunk by binary search over the chunks' last entries and shifts at most one chunk: O(log n +
 * CHUNK), whatever the position. A full chunk splits in two; an empty one is dropped. Small
 * lists start with a small chunk that grows, so a list per rare filter value costs little.
 *
 * @module
 */

import type { SlotTieBreak } from "./ordered_slots.ts";

/** Entries per chunk at most. */
export const CHUNK = 512;

/** One chunk: `n` entries in ascending order. */
export interface SlotChunk {
  /** Keys (`updated_at`). */
  keys: Float64Array;
  /** Slots. */
  slots: Int32Array;
  /** Entries in use. */
  n: number;
}

function _chunk(capacity: number): SlotChunk {
  return { keys: new Float64Array(capacity), slots: new Int32Array(capacity), n: 0 };
}

function _grow(c: SlotChunk): void {
  const cap = Math.min(CHUNK, c.keys.length * 2);
  const keys = new Float64Array(cap);
  keys.set(c.keys.subarray(0, c.n));
  const slots = new Int32Array(cap);
  slots.set(c.slots.subarray(0, c.n));
  c.keys = keys;
  c.slots = slots;
}

/** Sorted `(key, slot)` entries in chunks; see the module documentation. */
export class ChunkedSlots {
  /** The chunks, in order (read them to walk the list; never empty ones). */
  readonly chunks: SlotChunk[] = [];
  #size = 0;
  readonly #tie: SlotTieBreak;

  /**
   * Make an empty list.
   *
   * @param tie How entries with equal keys are ordered.
   */
  constructor(tie: SlotTieBreak) {
    this.#tie = tie;
  }

  /** Entries in the list. */
  get live(): number {
    return this.#size;
  }

  /**
   * Append an entry known to sort after every entry (bulk building).
   *
   * @param key The key.
   * @param slot The slot.
   */
  push(key: number, slot: number): void {
    let c = this.chunks[this.chunks.length - 1];
    if (c === undefined || c.n === CHUNK) {
      c = _chunk(c === undefined ? 4 : CHUNK);
      this.chunks.push(c);
    } else if (c.n === c.keys.length) {
      _grow(c);
    }
    c.keys[c.n] = key;
    c.slots[c.n] = slot;
    c.n++;
    this.#size++;
  }

  /**
   * Insert an entry at its place.
   *
   * @param key The key.
   * @param slot The slot.
   */
  insert(key: number, slot: number): void {
    const last = this.chunks[this.chunks.length - 1];
    if (last === undefined || this.#before(last, last.n - 1, key, slot)) {
      this.push(key, slot);
      return;
    }
    const ci = this.#chunkOf(key, slot);
    let c = this.chunks[ci]!;
    let at = this.#lowerBound(c, key, slot);
    if (c.n === c.keys.length) {
      if (c.keys.length < CHUNK) {
        _grow(c);
      } else {
        const half = c.n >>> 1;
        const right = _chunk(CHUNK);
        right.keys.set(c.keys.subarray(half, c.n));
        right.slots.set(c.slots.subarray(half, c.n));
        right.n = c.n - half;
        c.n = half;
        this.chunks.splice(ci + 1, 0, right);
        if (at > half) {
          c = right;
          at -= half;
        }
      }
    }
    c.keys.copyWithin(at + 1, at, c.n);
    c.slots.copyWithin(at + 1, at, c.n);
    c.keys[at] = key;
    c.slots[at] = slot;
    c.n++;
    this.#size++;
  }

  /**
   * Remove an entry.
   *
   * @param key Its key.
   * @param slot Its slot.
   * @returns Whether it was found.
   */
  remove(key: number, slot: number): boolean {
    const ci = this.#chunkOf(key, slot);
    const c = this.chunks[ci];
    if (c === undefined) return false;
    const at = this.#lowerBound(c, key, slot);
    if (at >= c.n || c.keys[at] !== key || c.slots[at] !== slot) return false;
    c.keys.copyWithin(at, at + 1, c.n);
    c.slots.copyWithin(at, at + 1, c.n);
    c.n--;
    this.#size--;
    if (c.n === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /**
   * Renumber the slots (order kept).
   *
   * @param map New slot of each slot (`-1`: drop the entry).
   */
  rewrite(map: (slot: number) => number): void {
    let size = 0;
    for (const c of this.chunks) {
      let w = 0;
      for (let r = 0; r < c.n; r++) {
        const to = map(c.slots[r]!);
        if (to < 0) continue;
        c.keys[w] = c.keys[r]!;
        c.slots[w] = to;
        w++;
      }
      c.n = w;
      size += w;
    }
    this.#size = size;
    const kept = this.chunks.filter((c) => c.n > 0);
    this.chunks.length = 0;
    this.chunks.push(...kept);
  }

  /** Whether `(key, slot)` sorts after entry `i` of chunk `c`. */
  #before(c: SlotChunk, i: number, key: number, slot: number): boolean {
    const k = c.keys[i]!;
    return k !== key ? k < key : this.#tie(c.slots[i]!, slot) < 0;
  }

  /** The first chunk whose last entry does not sort before `(key, slot)` (or the count). */
  #chunkOf(key: number, slot: number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid]!;
      if (this.#before(c, c.n - 1, key, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #lowerBound(c: SlotChunk, key: number, slot: number): number {
    let lo = 0;
    let hi = c.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#before(c, mid, key, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
