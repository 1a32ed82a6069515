/**
 * A small size-bounded map that evicts the least recently used entry (Map insertion order).
 *
 * @module
 */

/** Size-bounded LRU map. Internal to `src/auth/`. */
export class _Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Value for `key`, marking it most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** Value for `key` without touching its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Delete every entry whose value matches. */
  deleteWhere(pred: (value: V, key: K) => boolean): void {
    for (const [k, v] of this.#map) if (pred(v, k)) this.#map.delete(k);
  }

  clear(): void {
    this.#map.clear();
  }
}
