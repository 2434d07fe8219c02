/**
 * `MapSpec`: the plain-data description of a map, as an ELF object declares it or as a user
 * writes it by hand. Parsing produces specs without touching the kernel; `BpfMap.create()`
 * turns one into a kernel object. A spec can be copied and edited freely.
 *
 * @module
 */
import type { MapType } from './types.js';

/** How a map is pinned when a collection is loaded with a `pinPath` (libbpf's `LIBBPF_PIN_*`). */
export enum PinType {
  /** Not pinned. */
  None = 0,
  /**
   * Pinned at `<pinPath>/<name>`; an existing pin with a compatible definition is reused
   * instead of creating a new map (libbpf's `LIBBPF_PIN_BY_NAME`).
   */
  ByName = 1,
}

/**
 * Describes a map to create.
 *
 * Only `type`, `keySize` and `valueSize` are required; `maxEntries` may be left out for
 * `PERF_EVENT_ARRAY` (it then defaults to the number of possible CPUs) and for types that
 * take 0 (cgroup and local storage maps).
 *
 * @example
 * ```ts
 * const spec: MapSpec = { name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 };
 * using counts = BpfMap.create(spec);
 * ```
 */
export interface MapSpec {
  /**
   * Name shown by `bpftool map show` (Linux 4.15+). Sanitised on creation: characters other
   * than `[A-Za-z0-9_.]` become `_`, it is cut to 15 bytes, and it is left out on kernels that
   * reject names.
   */
  name?: string;
  /** The map type (`BPF_MAP_TYPE_*`). */
  type: MapType;
  /** Key size in bytes (0 for queue, stack, bloom filter, ring buffers and arenas). */
  keySize: number;
  /** Value size in bytes (per CPU for per-CPU maps). */
  valueSize: number;
  /** Maximum number of entries (pages for an arena, bytes for a ring buffer). */
  maxEntries?: number;
  /** `BPF_F_*` creation flags (`map_flags`). */
  flags?: number;
  /** Pinning behaviour when loaded as part of a collection with a pin path. */
  pinning?: PinType;
  /** Template of the inner maps of `ARRAY_OF_MAPS` / `HASH_OF_MAPS`. */
  innerMap?: MapSpec;
  /** Entries written right after creation, as `[key, value]` pairs (per-CPU: value per CPU). */
  contents?: ReadonlyArray<readonly [Uint8Array, Uint8Array | readonly Uint8Array[]]>;
  /** Freeze the map (`BPF_MAP_FREEZE`, 5.2+) after writing `contents`: read-only for user space. */
  freeze?: boolean;
  /** NUMA node to allocate on; only used with `BPF_F_NUMA_NODE` in `flags` (4.14+). */
  numaNode?: number;
  /** `map_extra` (5.16+): bloom filter hash count, arena start address. */
  mapExtra?: bigint;
  /** BTF type of the key, when known (a `btf` Type; typed loosely until the BTF layer lands). */
  key?: unknown;
  /** BTF type of the value, when known. */
  value?: unknown;
}

/**
 * A deep copy of `spec`: the copy's `innerMap` and `contents` (including the key and value
 * bytes) can be edited without affecting the original. BTF `key`/`value` types are shared,
 * as they are immutable descriptions.
 *
 * @example
 * ```ts
 * const bigger = copyMapSpec(spec);
 * bigger.maxEntries = 1 << 20;
 * ```
 */
export function copyMapSpec(spec: MapSpec): MapSpec {
  const out: MapSpec = { ...spec };
  if (spec.innerMap !== undefined) out.innerMap = copyMapSpec(spec.innerMap);
  if (spec.contents !== undefined) {
    out.contents = spec.contents.map(([k, v]) => [
      k.slice(),
      v instanceof Uint8Array ? v.slice() : v.map((x) => x.slice()),
    ] as const);
  }
  return out;
}
