/**
 * {@link TypedMap}: a {@link BpfMap} whose keys and values are JavaScript values, encoded and
 * decoded by codecs (from `btf.codecFor()`, from a module written by `ebpf-ts gen`, or by
 * hand). The map keeps its fd and its checks; this only translates.
 *
 * @module
 */
import type { Codec } from './btf/codec.js';
import { ArgumentError } from './errors.js';
import { BatchCursor, UpdateFlags, type BpfMap, type MapValue } from './map.js';

/**
 * A map with typed keys and values. Per-CPU maps (built with {@link TypedMap.perCPU}) take
 * and return one value per possible CPU.
 *
 * @example
 * ```ts
 * const counts = TypedMap.of(coll.maps.counts, btf.codecFor<number>(spec.btf, '__u32'), btf.codecFor<bigint>(spec.btf, '__u64'));
 * counts.set(1, 0n);
 * for (const [pid, n] of counts.entries()) console.log(pid, n);
 * ```
 * @throws {@link ArgumentError} from the codecs when a key or value does not fit its type,
 * and whatever {@link BpfMap} throws for the syscall.
 */
export class TypedMap<K, V> {
  /** The map underneath, for what the typed view does not cover (pin, info, freeze). */
  readonly map: BpfMap<MapValue>;
  readonly #key: Codec<K>;
  readonly #value: Codec<unknown>;

  /** @internal Use {@link TypedMap.of} or {@link TypedMap.perCPU}. */
  constructor(map: BpfMap<MapValue>, key: Codec<K>, value: Codec<unknown>, perCPU: boolean) {
    if (map.keySize !== key.size) throw new ArgumentError(`TypedMap ${map.name}: the key codec is ${key.size} bytes, the map's keys ${map.keySize}`);
    if (map.valueSize !== value.size) throw new ArgumentError(`TypedMap ${map.name}: the value codec is ${value.size} bytes, the map's values ${map.valueSize}`);
    if (map.perCPU !== perCPU) {
      throw new ArgumentError(`TypedMap ${map.name}: the map is ${map.perCPU ? '' : 'not '}per-CPU; use TypedMap.${map.perCPU ? 'perCPU' : 'of'}()`);
    }
    this.map = map;
    this.#key = key;
    this.#value = value;
  }

  /**
   * A typed view of a map that is not per-CPU.
   *
   * @example
   * ```ts
   * const m = TypedMap.of(map, keyCodec, valueCodec);
   * ```
   * @throws {@link ArgumentError} when the codec sizes differ from the map's or the map is per-CPU.
   */
  static of<K, V>(map: BpfMap<MapValue>, key: Codec<K>, value: Codec<V>): TypedMap<K, V> {
    return new TypedMap<K, V>(map, key, value, false);
  }

  /**
   * A typed view of a per-CPU map: values are arrays with one entry per possible CPU.
   *
   * @example
   * ```ts
   * const perCPU = TypedMap.perCPU(map, keyCodec, valueCodec);
   * const total = perCPU.get(0)?.reduce((a, b) => a + b, 0n);
   * ```
   * @throws {@link ArgumentError} when the codec sizes differ from the map's or the map is not per-CPU.
   */
  static perCPU<K, V>(map: BpfMap<MapValue>, key: Codec<K>, value: Codec<V>): TypedMap<K, V[]> {
    return new TypedMap<K, V[]>(map, key, value, true);
  }

  /** The map's name. */
  get name(): string {
    return this.map.name;
  }

  #encodeValue(value: V): MapValue {
    if (!this.map.perCPU) return this.#value.encode(value);
    if (!Array.isArray(value)) throw new ArgumentError(`map ${this.map.name} is per-CPU: give one value per CPU (an array)`);
    return value.map((v: unknown) => this.#value.encode(v));
  }

  #decodeValue(raw: MapValue): V {
    // The constructor checked that map.perCPU matches the codec: per-CPU values come as arrays.
    if (this.map.perCPU) return (raw as Uint8Array[]).map((b) => this.#value.decode(b)) as V;
    return this.#value.decode(raw as Uint8Array) as V;
  }

  /**
   * The value under `key`, or undefined.
   *
   * @example
   * ```ts
   * counts.get(42); // 3n
   * ```
   * @throws {@link ArgumentError} when the key does not fit its type.
   */
  get(key: K): V | undefined {
    const raw = this.map.lookup(this.#key.encode(key));
    return raw === undefined ? undefined : this.#decodeValue(raw);
  }

  /**
   * Writes `value` under `key` (`flags`: {@link UpdateFlags}).
   *
   * @example
   * ```ts
   * counts.set(42, 0n, UpdateFlags.NoExist);
   * ```
   * @throws {@link ArgumentError} when the key or value does not fit its type.
   */
  set(key: K, value: V, flags: number = UpdateFlags.Any): void {
    this.map.update(this.#key.encode(key), this.#encodeValue(value), flags);
  }

  /**
   * Deletes `key`; false when it was not there.
   *
   * @example
   * ```ts
   * counts.delete(42);
   * ```
   */
  delete(key: K): boolean {
    return this.map.delete(this.#key.encode(key));
  }

  /**
   * Every key (see {@link BpfMap.keys} for concurrent deletes).
   *
   * @example
   * ```ts
   * const pids = [...counts.keys()];
   * ```
   */
  *keys(): Generator<K, void, undefined> {
    for (const k of this.map.keys()) yield this.#key.decode(k);
  }

  /**
   * Every `[key, value]` pair, one lookup per key (see {@link BpfMap.entries}).
   *
   * @example
   * ```ts
   * for (const [pid, n] of counts.entries()) console.log(pid, n);
   * ```
   */
  *entries(): Generator<[K, V], void, undefined> {
    for (const [k, v] of this.map.entries()) yield [this.#key.decode(k), this.#decodeValue(v)];
  }

  /** Same as {@link TypedMap.entries}. */
  [Symbol.iterator](): Generator<[K, V], void, undefined> {
    return this.entries();
  }

  /**
   * Every pair, read in batches of `chunk` entries (`BPF_MAP_LOOKUP_BATCH`, 5.6+; per key before).
   *
   * @example
   * ```ts
   * const all = new Map(counts.entriesBatch());
   * ```
   */
  *entriesBatch(chunk = 4096): Generator<[K, V], void, undefined> {
    for (const [k, v] of this.map.entriesBatch(chunk)) yield [this.#key.decode(k), this.#decodeValue(v)];
  }

  /**
   * Reads and deletes up to `count` entries per call from where `cursor` stands
   * (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`), the way to drain a map while programs fill it.
   *
   * @example
   * ```ts
   * const cursor = new BatchCursor();
   * while (!cursor.done) for (const [k, v] of counts.takeBatch(cursor, 1024)) use(k, v);
   * ```
   */
  takeBatch(cursor: BatchCursor, count: number): Array<[K, V]> {
    const r = this.map.lookupAndDeleteBatch(cursor, count);
    const out: Array<[K, V]> = [];
    for (let i = 0; i < r.count; i++) out.push([this.#key.decode(r.keys[i]!), this.#decodeValue(r.values[i]!)]);
    return out;
  }

  /**
   * Writes many entries in one call (`BPF_MAP_UPDATE_BATCH`, 5.6+; per key before); returns
   * how many were written.
   *
   * @example
   * ```ts
   * counts.setBatch([[1, 0n], [2, 0n]]);
   * ```
   * @throws {@link ArgumentError} when a key or value does not fit its type.
   */
  setBatch(entries: Iterable<readonly [K, V]>, flags: number = UpdateFlags.Any): number {
    const keys: Uint8Array[] = [];
    const values: MapValue[] = [];
    for (const [k, v] of entries) {
      keys.push(this.#key.encode(k));
      values.push(this.#encodeValue(v));
    }
    return this.map.updateBatch(keys, values, flags);
  }

  /**
   * Deletes many keys in one call (`BPF_MAP_DELETE_BATCH`, 5.6+); returns how many were deleted.
   *
   * @example
   * ```ts
   * counts.deleteBatch([1, 2]);
   * ```
   */
  deleteBatch(keys: Iterable<K>): number {
    return this.map.deleteBatch([...keys].map((k) => this.#key.encode(k)));
  }

  /**
   * Deletes every entry, key by key (array maps cannot delete; use `set` there).
   *
   * @example
   * ```ts
   * counts.clear();
   * ```
   */
  clear(): number {
    return this.map.deleteBatch([...this.map.keys()]);
  }
}

export { BatchCursor };
