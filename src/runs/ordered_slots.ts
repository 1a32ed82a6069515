/**
 * A sorted list of `(key, slot)` pairs in two flat typed arrays: the run index's revision list
 * (key = KV revision, one entry per run at its latest revision), which the delta listing binary
 * searches by position.
 *
 * Why flat: new revisions always arrive at the end (revisions grow), so appends are O(1)
 * amortised and positions stay cheap to search. A removal near the end (the run's previous
 * revision, usually recent) shifts at most {@linkcode EAGER_TAIL} entries; a removal further
 * back only marks the entry dead (a *tombstone*: the slot stored as `~slot`, the key kept so the
 * order stays searchable), and the list compacts itself once tombstones outnumber a quarter of
 * its live entries — O(log n) amortised, never a walk over the whole list per change. An insert
 * in the middle (a gateway's own write ahead of the watch) lands near the end. Entries with equal
 * keys are ordered by a caller-given tie-break on the slots.
 *
 * @module
 */

/** Removals this close to the end shift the tail; further back they leave a tombstone. */
export const EAGER_TAIL = 4096;

/** Compares two slots whose keys are equal (negative: `a` sorts first). */
export type SlotTieBreak = (a: number, b: number) => number;

const _NO_TIE: SlotTieBreak = (a, b) => a - b;

/** Sorted `(key, slot)` entries with tombstones; see the module documentation. */
export class OrderedSlots {
  /** Keys, ascending (tombstones keep theirs). */
  keys: Float64Array;
  /** Slots (`~slot` for a tombstone). */
  slots: Int32Array;
  /** Entries in use, tombstones included. */
  length = 0;
  /** Tombstones among them. */
  dead = 0;
  readonly #tie: SlotTieBreak;

  /**
   * Make an empty list.
   *
   * @param tie How entries with equal keys are ordered (default: by slot number).
   * @param capacity Initial capacity.
   */
  constructor(tie: SlotTieBreak = _NO_TIE, capacity = 4) {
    this.#tie = tie;
    this.keys = new Float64Array(capacity);
    this.slots = new Int32Array(capacity);
  }

  /** Entries that are not tombstones. */
  get live(): number {
    return this.length - this.dead;
  }

  /**
   * Append an entry known to sort after every entry (bulk building).
   *
   * @param key The key.
   * @param slot The slot.
   */
  push(key: number, slot: number): void {
    if (this.length === this.keys.length) this.#grow();
    this.keys[this.length] = key;
    this.slots[this.length] = slot;
    this.length++;
  }

  /**
   * Insert an entry at its place (usually the end).
   *
   * @param key The key.
   * @param slot The slot.
   */
  insert(key: number, slot: number): void {
    const n = this.length;
    if (n === 0 || this.#before(n - 1, key, slot)) {
      this.push(key, slot);
      return;
    }
    const at = this.#lowerBound(key, slot);
    if (n === this.keys.length) this.#grow();
    this.keys.copyWithin(at + 1, at, n);
    this.slots.copyWithin(at + 1, at, n);
    this.keys[at] = key;
    this.slots[at] = slot;
    this.length++;
  }

  /**
   * Remove an entry (shift the tail when it is near the end, else leave a tombstone).
   *
   * @param key Its key.
   * @param slot Its slot.
   * @returns Whether it was found.
   */
  remove(key: number, slot: number): boolean {
    let at = this.#lowerBound(key, slot);
    // A tombstone of the same slot and key may sit beside the live entry: skip it.
    while (at < this.length && this.keys[at] === key && this.slots[at] === ~slot) at++;
    if (at >= this.length || this.keys[at] !== key || this.slots[at] !== slot) return false;
    if (this.length - at <= EAGER_TAIL) {
      this.keys.copyWithin(at, at + 1, this.length);
      this.slots.copyWithin(at, at + 1, this.length);
      this.length--;
    } else {
      this.slots[at] = ~slot;
      this.dead++;
      if (this.dead > 1024 + (this.length >>> 2)) this.compact();
    }
    return true;
  }

  /**
   * Position of the first entry whose key is greater than `key` (tombstones included).
   *
   * @param key The key.
   * @returns A position in `0..length`.
   */
  upperBound(key: number): number {
    let lo = 0;
    let hi = this.length;
    const keys = this.keys;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drop every tombstone (order kept). */
  compact(): void {
    this.rewrite((slot) => slot);
  }

  /**
   * Drop tombstones and renumber the remaining slots (order kept).
   *
   * @param map New slot of a live slot (`-1`: drop the entry).
   */
  rewrite(map: (slot: number) => number): void {
    let w = 0;
    const { keys, slots } = this;
    for (let r = 0; r < this.length; r++) {
      const s = slots[r]!;
      if (s < 0) continue;
      const to = map(s);
      if (to < 0) continue;
      keys[w] = keys[r]!;
      slots[w] = to;
      w++;
    }
    this.length = w;
    this.dead = 0;
  }

  /** Whether `(key, slot)` sorts after entry `i`. */
  #before(i: number, key: number, slot: number): boolean {
    const k = this.keys[i]!;
    if (k !== key) return k < key;
    const s = this.slots[i]!;
    return this.#tie(s < 0 ? ~s : s, slot) < 0;
  }

  /** Position of the first entry not sorting before `(key, slot)`. */
  #lowerBound(key: number, slot: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#before(mid, key, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #grow(): void {
    const n = this.keys.length;
    const cap = n < 1024 ? Math.max(4, n * 2) : Math.ceil(n * 1.5);
    const keys = new Float64Array(cap);
    keys.set(this.keys.subarray(0, this.length));
    const slots = new Int32Array(cap);
    slots.set(this.slots.subarray(0, this.length));
    this.keys = keys;
    this.slots = slots;
  }
}
