/**
 * `BpfMap`: a kernel BPF map, owned through one file descriptor.
 *
 * Keys and values are `Uint8Array`s of exactly the map's key and value size; per-CPU maps
 * take and return one value per possible CPU. Element operations go through the hand-encoded
 * hot path in src/sys/commands.ts (`mapElem()`); everything else through the bpf()
 * funnel, so every failure is a typed error that names the map.
 *
 * @module
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, BpfError, ClosedError, NotSupportedError, SyscallError } from './errors.js';
import { MapType, mapTypeName, mapTypeSince } from './types.js';
import { PinType, type MapSpec } from './map-spec.js';
import { bpfCheck, bpfPrepare, bpfPrepareCmd, bpfRaw, syscallDebugEnabled } from './sys/bpf.js';
import { encodeAttr, decodeStruct, hostLittleEndian, type AttrValues, type Layout } from './sys/attr.js';
import { elemManyLoop, type PointerList } from './sys/backend.js';
import {
  Cmd,
  MapCreate,
  MapDeleteBatch,
  MapDeleteElem,
  MapFreeze,
  MapGetNextKey,
  MapInfo as MapInfoLayout,
  MapLookupAndDeleteBatch,
  MapLookupAndDeleteElem,
  MapLookupBatch,
  MapLookupElem,
  MapUpdateBatch,
  MapUpdateElem,
} from './sys/layouts.js';
import { bpfError, Errno, type ErrorContext } from './sys/errno.js';
import { fdById, mapElem, objGet, objGetInfoByFd, objPin, objectIds, type ElemLayout } from './sys/commands.js';
import { backend } from './sys/select.js';
import { possibleCPUs } from './sys/cpus.js';
import { kernelVersion } from './sys/kernel-version.js';
import { mapNameDotFeature, mapNameFeature, mapTypeFeature } from './features/map-types.js';
import { Owner, type HeldFd } from './internal/owner.js';
import { sanitizeObjectName } from './sys/object-name.js';
import { BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_RDONLY_PROG, BPF_F_MMAPABLE } from './internal/flags.js';
import { dataView } from './internal/bytes.js';
import { withLoadToken, type TokenOption } from './token.js';
export { BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_RDONLY_PROG, BPF_F_MMAPABLE } from './internal/flags.js';

export { PinType, copyMapSpec, type MapSpec } from './map-spec.js';

/** Flags of `BPF_MAP_UPDATE_ELEM` (and `BPF_F_LOCK` for lookups). */
export enum UpdateFlags {
  /** `BPF_ANY`: create or replace. */
  Any = 0,
  /** `BPF_NOEXIST`: create only; EEXIST if the key exists. */
  NoExist = 1,
  /** `BPF_EXIST`: replace only; ENOENT if the key is missing. */
  Exist = 2,
  /** `BPF_F_LOCK` (5.1+): take the value's `bpf_spin_lock` while copying. */
  Lock = 4,
}


/** A map value: one buffer, or one buffer per possible CPU for per-CPU maps. */
export type MapValue = Uint8Array | Uint8Array[];

/** Extra, kernel-object-level inputs of {@link BpfMap.create} that a {@link MapSpec} does not carry. */
export interface CreateMapOptions {
  /** fd of loaded BTF that `btfKeyTypeId`/`btfValueTypeId` refer to (4.18+). */
  btfFd?: number;
  /** BTF type id of the key in `btfFd`. */
  btfKeyTypeId?: number;
  /** BTF type id of the value in `btfFd`. */
  btfValueTypeId?: number;
  /** vmlinux BTF type id of a `STRUCT_OPS` map's value (`bpf_struct_ops_<name>`, 5.6+). */
  btfVmlinuxValueTypeId?: number;
  /** An existing map to use as the inner map template of a map-in-map (instead of `spec.innerMap`). */
  innerMapFd?: number;
  /** Offload the map to this network device (4.16+). */
  ifindex?: number;
  /**
   * The BPF token to create the map with, inside a user namespace (6.9; see {@link TokenOption}:
   * by default one from a delegating /sys/fs/bpf there).
   */
  token?: TokenOption;
  /**
   * Directory on a bpffs mount for `spec.pinning === PinType.ByName`: an existing compatible
   * pin `<pinPath>/<name>` is opened instead of creating a map; otherwise the new map is
   * pinned there.
   */
  pinPath?: string;
}

/** What the kernel reports about a map (`struct bpf_map_info`). Fields the kernel lacks are 0. */
export interface MapInfo {
  /** Kernel-wide map id (4.13+). */
  readonly id: number;
  /** Map type. */
  readonly type: MapType;
  /** Name, as sanitised at creation (4.15+). */
  readonly name: string;
  /** Key size in bytes. */
  readonly keySize: number;
  /** Value size in bytes. */
  readonly valueSize: number;
  /** Maximum number of entries. */
  readonly maxEntries: number;
  /** `map_flags`. */
  readonly flags: number;
  /** Offload device, 0 if none (4.16+). */
  readonly ifindex: number;
  /** BTF object id, 0 if none (4.18+). */
  readonly btfId: number;
  /** BTF type id of the key (4.18+). */
  readonly btfKeyTypeId: number;
  /** BTF type id of the value (4.18+). */
  readonly btfValueTypeId: number;
  /** vmlinux BTF type id of a struct_ops value (5.6+). */
  readonly btfVmlinuxValueTypeId: number;
  /** `map_extra` (5.16+). */
  readonly mapExtra: bigint;
  /** Network namespace device of an offloaded map. */
  readonly netnsDev: bigint;
  /** Network namespace inode of an offloaded map. */
  readonly netnsIno: bigint;
}

/**
 * Iteration gave up: more keys came back than the map can hold, which happens when entries are
 * deleted concurrently and the kernel restarts the key walk from the first key over and over.
 */
export class IterationAbortedError extends BpfError {}

/**
 * Position of a batch walk ({@link BpfMap.lookupBatch}, {@link BpfMap.lookupAndDeleteBatch}).
 * Start with a fresh cursor; pass the same cursor to each following call; `done` turns true
 * when the last batch was returned. Opaque otherwise: it holds the kernel's batch token (or,
 * when the kernel has no batch ops for the map type, the last key seen).
 */
export class BatchCursor {
  /** True once the walk has reached the end of the map. */
  done = false;
  /** @internal The kernel's `out_batch` token from the last call. */
  token: Uint8Array | undefined;
  /** @internal The last key returned by the per-key fallback. */
  lastKey: Uint8Array | undefined;
}

/** One batch of entries. `keys[i]` belongs with `values[i]`. */
export interface BatchResult<V extends MapValue = MapValue> {
  /** Number of entries in this batch. */
  readonly count: number;
  /** The keys (views into one buffer per call). */
  readonly keys: Uint8Array[];
  /** The values (per-CPU maps: one array of per-CPU values per entry). */
  readonly values: V[];
  /** True if this was the last batch (the cursor is `done`). */
  readonly done: boolean;
}

const perCPUTypes = new Set<MapType>([
  MapType.PerCPUHash,
  MapType.PerCPUArray,
  MapType.LRUPerCPUHash,
  MapType.PerCPUCgroupStorage,
]);
/** True for the map types that keep one value per possible CPU (`PerCPUHash`, `PerCPUArray`, …). @internal */
export function isPerCPUMapType(type: MapType): boolean {
  return perCPUTypes.has(type);
}
const hashLikeTypes = new Set<MapType>([MapType.Hash, MapType.PerCPUHash, MapType.LRUHash, MapType.LRUPerCPUHash, MapType.HashOfMaps]);
const mapInMapTypes = new Set<MapType>([MapType.ArrayOfMaps, MapType.HashOfMaps]);

/** PCPU_MIN_UNIT_SIZE: the largest per-CPU allocation `htab_map_alloc_check()`/`array_map_alloc_check()` allow. */
const PCPU_MIN_UNIT_SIZE = 32 * 1024;
/** MAX_BPF_STACK: hash keys live on the program stack, `htab_map_alloc_check()` caps them. */
const MAX_BPF_STACK = 512;

const round8 = (n: number): number => (n + 7) & ~7;

/** Makes a map name acceptable to the kernel (see {@link sanitizeObjectName}). */
export const sanitizeName = sanitizeObjectName;

// ---- ownership: close(), the leak safety net, use after close (src/internal/owner.ts) ----

const owners = Owner.fdKind('BpfMap');

// ---- batch support cache -----------------------------------------------------------------

/** `"<type>:<cmd>"` → whether the kernel has that batch op for that map type. */
const batchSupport = new Map<string, boolean>();

/** Forgets which map types have batch ops (tests). */
export function resetBatchSupport(): void {
  batchSupport.clear();
}

// ---- the map -----------------------------------------------------------------------------

/**
 * A BPF map, owned through one file descriptor.
 *
 * Create one with {@link BpfMap.create}, open an existing one with {@link BpfMap.fromPin},
 * {@link BpfMap.fromId} or {@link BpfMap.fromFd}. Release it with {@link BpfMap.close} or a
 * `using` declaration. The type parameter `V` is the value shape: `Uint8Array` (default) or
 * `Uint8Array[]` for per-CPU maps.
 *
 * Minimum kernel: 3.19 (hash and array maps); each map type has its own ({@link mapTypeSince}).
 *
 * @example
 * ```ts
 * using counts = BpfMap.create({ name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 });
 * counts.update(new Uint8Array([1, 0, 0, 0]), new Uint8Array(8));
 * for (const [key, value] of counts.entries()) console.log(key, value);
 * ```
 *
 * @throws a {@link SyscallError} for kernel errors (the message names the map and the command),
 * {@link NotSupportedError} for a map type or attribute the kernel lacks, {@link ArgumentError}
 * for keys/values of the wrong size (before any syscall), {@link ClosedError} after close().
 */
export class BpfMap<V extends MapValue = Uint8Array> implements Disposable {
  /** The fd, read by the element hot path without going through #owner; -1 once closed. */
  #fd: number;
  readonly #owner: Owner<HeldFd>;
  /** Map type. */
  readonly type: MapType;
  /** Key size in bytes. */
  readonly keySize: number;
  /** Value size in bytes (per CPU, for per-CPU maps). */
  readonly valueSize: number;
  /** Maximum number of entries. */
  readonly maxEntries: number;
  /** `map_flags` at creation. */
  readonly flags: number;
  /** The map's name (as the kernel knows it, or the spec's name if the kernel has none). */
  readonly name: string;
  /**
   * The name the kernel keeps (what `bpftool map show` and `info().name` print): the spec's
   * name with characters other than `[A-Za-z0-9_.]` replaced and cut to 15 bytes
   * (BPF_OBJ_NAME_LEN); '' when the kernel got none. A collection keys its maps by the full
   * name, so `coll.maps.events_by_process.kernelName` is `events_by_proce`.
   */
  readonly kernelName: string;
  /** True for per-CPU maps: values are arrays of one value per possible CPU. */
  readonly perCPU: boolean;
  #cpus: number;
  /** Bytes the kernel copies per value: `possibleCPUs × round_up(valueSize, 8)` for per-CPU maps. */
  readonly #kernelValueSize: number;
  #pinnedPath: string | undefined;
  readonly #label: string;
  // Scratch buffers for the element hot path. User buffers are copied in rather than handed to
  // the addon: a typed array crossing into native code is moved off the V8 heap on first use
  // (napi_get_typedarray_info()), which costs more than copying a few bytes; these are moved
  // once. Results are copied out, so callers never see them.
  readonly #scratchKey: Uint8Array | null;
  readonly #scratchValue: Uint8Array | null;
  // Prebuilt element attrs over the scratch buffers: map_fd is written once, only flags change
  // per call, so the hot path goes straight to the funnel's bpfRaw() without re-encoding.
  readonly #elemAttr: Uint8Array | undefined; // 32 bytes: map_fd, key, value, flags
  readonly #elemView: DataView | undefined;
  readonly #elemPointers: PointerList | undefined;
  readonly #elemCall: ((cmd: number) => number) | undefined;
  #elemFlags = 0;
  // Direct requests over the caller's own buffers, for hot loops that pass the same key and
  // value buffers call after call: adopted on the second call in a row with the same pair,
  // they skip both copies. Held here so the buffers outlive the addresses in the attr; a
  // detached buffer has length 0 and fails the size checks before the call (see
  // intrinsicLength for why `length`, not `byteLength`).
  #intoPair: DirectPair | undefined;
  #updatePair: DirectPair | undefined;
  readonly #deleteAttr: Uint8Array | undefined; // 16 bytes: map_fd, key
  readonly #deletePointers: PointerList | undefined;
  readonly #deleteCall: ((cmd: number) => number) | undefined;

  private constructor(fd: number, type: MapType, keySize: number, valueSize: number, maxEntries: number, flags: number, name: string, kernelName = name) {
    this.#fd = fd;
    this.kernelName = kernelName;
    this.type = type;
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.maxEntries = maxEntries;
    this.flags = flags;
    this.name = name;
    this.perCPU = perCPUTypes.has(type);
    // bpf_map_value_size(): per-CPU maps copy round_up(value_size, 8) bytes per possible CPU.
    this.#cpus = this.perCPU ? possibleCPUs() : 1;
    this.#kernelValueSize = this.perCPU ? round8(valueSize) * this.#cpus : valueSize;
    this.#label = name === '' ? `map (fd ${fd}, ${mapTypeName(type)})` : `map ${name}`;
    this.#scratchKey = keySize > 0 ? new Uint8Array(keySize) : null;
    this.#scratchValue = this.#kernelValueSize > 0 ? new Uint8Array(this.#kernelValueSize) : null;
    if (this.#scratchKey !== null) {
      this.#deleteAttr = new Uint8Array(16);
      dataView(this.#deleteAttr).setUint32(0, fd, hostLittleEndian);
      this.#deletePointers = [8, this.#scratchKey];
      this.#deleteCall = bpfPrepare(this.#deleteAttr, this.#deletePointers, [MapDeleteElem]);
      if (this.#scratchValue !== null) {
        this.#elemAttr = new Uint8Array(32);
        this.#elemView = dataView(this.#elemAttr);
        this.#elemView.setUint32(0, fd, hostLittleEndian);
        this.#elemPointers = [8, this.#scratchKey, 16, this.#scratchValue];
        // The request and its buffers live as long as the map, so their addresses can be
        // written once (Backend.prepare): each operation is then one plain syscall.
        this.#elemCall = bpfPrepare(this.#elemAttr, this.#elemPointers, [MapLookupElem, MapUpdateElem, MapLookupAndDeleteElem]);
      }
    }
    this.#owner = new Owner(owners, this, { fd, name: name === '' ? mapTypeName(type) : name }, `${this.#label} is closed`);
  }

  // ---- creation ------------------------------------------------------------------------

  /**
   * Creates a map (`BPF_MAP_CREATE`) from a spec, then writes `spec.contents` and freezes it
   * if `spec.freeze` is set.
   *
   * Only the attr fields the spec uses are sent, so old kernels do not see fields they do not
   * know. The name is sanitised (see `sanitizeName`) and omitted on kernels that reject
   * names (probed once). `PERF_EVENT_ARRAY` gets `maxEntries` = possible CPUs and 4-byte keys
   * and values when left 0. For `ARRAY_OF_MAPS`/`HASH_OF_MAPS` a temporary inner map is
   * created from `spec.innerMap` (unless `options.innerMapFd` is given) and closed afterwards.
   *
   * Minimum kernel: 3.19; names 4.15; BTF options 4.18; `mapExtra` 5.16.
   *
   * @example
   * ```ts
   * const events = BpfMap.create({ type: MapType.PerfEventArray, keySize: 4, valueSize: 4 });
   * const outer = BpfMap.create({
   *   type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 8,
   *   innerMap: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 },
   * });
   * ```
   *
   * @throws a {@link NotSupportedError} if the kernel lacks the map type (with the first version
   * that has it, and the config option to check) or an attribute the spec uses;
   * {@link SyscallError} otherwise, E2BIG and EINVAL with an explanation;
   * {@link ArgumentError} for a map-in-map without an inner map.
   */
  static create<V extends MapValue = Uint8Array>(spec: MapSpec, options: CreateMapOptions = {}): BpfMap<V> {
    return withLoadToken(options.token, () => BpfMap.createInScope<V>(spec, options));
  }

  private static createInScope<V extends MapValue>(spec: MapSpec, options: CreateMapOptions): BpfMap<V> {
    if (spec.pinning === PinType.ByName && options.pinPath !== undefined) {
      return BpfMap.createOrOpenPinned<V>(spec, options, options.pinPath);
    }
    const s = withDefaults(spec);
    const label = s.name === undefined || s.name === '' ? `map (${mapTypeName(s.type)})` : `map ${s.name}`;
    let name = s.name === undefined ? '' : sanitizeName(s.name);
    if (name !== '' && !mapNameFeature.supported()) name = '';
    if (name.includes('.') && !mapNameDotFeature.supported()) name = sanitizeName(name, false);

    let innerFd = options.innerMapFd;
    let temporaryInner: BpfMap<MapValue> | undefined;
    if (mapInMapTypes.has(s.type) && innerFd === undefined) {
      if (s.innerMap === undefined) {
        throw new ArgumentError(`${label}: ${mapTypeName(s.type)} needs innerMap (the template of its inner maps) or options.innerMapFd`);
      }
      // The kernel copies the inner map's shape (bpf_map_meta_alloc()); the template's own
      // contents, pinning and freezing do not matter.
      const { contents: _c, pinning: _p, freeze: _f, ...template } = s.innerMap;
      temporaryInner = BpfMap.create<MapValue>({ ...template, name: template.name ?? `${name.slice(0, 9)}_inner` });
      innerFd = temporaryInner.fd;
    }

    const values: Record<string, unknown> = {
      map_type: s.type,
      key_size: s.keySize,
      value_size: s.valueSize,
      max_entries: s.maxEntries,
    };
    const flags = s.flags ?? 0;
    if (flags !== 0) values.map_flags = flags;
    if (innerFd !== undefined) values.inner_map_fd = innerFd;
    if ((flags & BPF_F_NUMA_NODE) !== 0) values.numa_node = s.numaNode ?? 0;
    if (name !== '') values.map_name = name;
    if (options.ifindex !== undefined && options.ifindex !== 0) values.map_ifindex = options.ifindex;
    if (options.btfFd !== undefined) values.btf_fd = options.btfFd;
    if (options.btfKeyTypeId !== undefined && options.btfKeyTypeId !== 0) values.btf_key_type_id = options.btfKeyTypeId;
    if (options.btfValueTypeId !== undefined && options.btfValueTypeId !== 0) values.btf_value_type_id = options.btfValueTypeId;
    if (options.btfVmlinuxValueTypeId !== undefined && options.btfVmlinuxValueTypeId !== 0) {
      values.btf_vmlinux_value_type_id = options.btfVmlinuxValueTypeId;
    }
    if (s.mapExtra !== undefined && s.mapExtra !== 0n) values.map_extra = s.mapExtra;

    let fd: number;
    try {
      fd = createFd(s, values as AttrValues<keyof typeof MapCreate.fields>, label);
    } finally {
      temporaryInner?.close();
    }
    const map = new BpfMap<V>(fd, s.type, s.keySize, s.valueSize, s.maxEntries, flags, name !== '' ? name : (s.name ?? ''), name);
    try {
      for (const [key, value] of s.contents ?? []) {
        // Keyless maps (queue, stack, bloom filter) take their contents by push.
        if (map.keySize === 0) map.push(value as V);
        else map.update(key, value as V);
      }
      if (s.freeze === true) map.freeze();
    } catch (err) {
      map.close();
      throw err;
    }
    return map;
  }

  private static createOrOpenPinned<V extends MapValue>(spec: MapSpec, options: CreateMapOptions, pinPath: string): BpfMap<V> {
    if (spec.name === undefined || spec.name === '') throw new ArgumentError('a map pinned by name needs a name');
    const path = join(pinPath, spec.name);
    let existing: BpfMap<V> | undefined;
    try {
      existing = BpfMap.fromPin<V>(path);
    } catch (err) {
      if (!(err instanceof SyscallError && err.errno === Errno.ENOENT)) throw err;
    }
    if (existing !== undefined) {
      const s = withDefaults(spec);
      const diffs: string[] = [];
      if (existing.type !== s.type) diffs.push(`type ${mapTypeName(existing.type)} != ${mapTypeName(s.type)}`);
      if (existing.keySize !== s.keySize) diffs.push(`keySize ${existing.keySize} != ${s.keySize}`);
      if (existing.valueSize !== s.valueSize) diffs.push(`valueSize ${existing.valueSize} != ${s.valueSize}`);
      if (existing.maxEntries !== s.maxEntries) diffs.push(`maxEntries ${existing.maxEntries} != ${s.maxEntries}`);
      if (existing.flags !== (s.flags ?? 0)) diffs.push(`flags ${existing.flags} != ${s.flags ?? 0}`);
      if (diffs.length > 0) {
        existing.close();
        throw new ArgumentError(`map ${spec.name}: the map pinned at ${path} is incompatible with the spec (${diffs.join(', ')})`);
      }
      existing.#pinnedPath = path;
      return existing;
    }
    const { pinPath: _ignored, ...rest } = options;
    const map = BpfMap.create<V>({ ...spec, pinning: PinType.None }, rest);
    try {
      map.pin(path);
    } catch (err) {
      map.close();
      throw err;
    }
    return map;
  }

  /**
   * Takes ownership of a map fd (it is closed by {@link BpfMap.close}) and reads the map's
   * type and sizes from the kernel (`BPF_OBJ_GET_INFO_BY_FD`, 4.13+).
   *
   * @throws a {@link ArgumentError} if the fd is not a BPF map; {@link SyscallError} if the
   * kernel cannot report its info.
   */
  static fromFd<V extends MapValue = Uint8Array>(fd: number): BpfMap<V> {
    if (!Number.isInteger(fd) || fd < 0) throw new ArgumentError(`not a file descriptor: ${fd}`);
    if (backend().kind !== 'fake') {
      let fdinfo: string | undefined;
      try {
        fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      } catch {
        fdinfo = undefined;
      }
      // bpf_map_show_fdinfo() prints map_type; program and link fds print other fields.
      if (fdinfo !== undefined && !/^map_type:/m.test(fdinfo)) throw new ArgumentError(`fd ${fd} is not a BPF map`);
    }
    const info = readInfo(fd, `map (fd ${fd})`);
    return new BpfMap<V>(fd, info.type, info.keySize, info.valueSize, info.maxEntries, info.flags, info.name);
  }

  /**
   * Opens a map pinned on a bpffs mount (`BPF_OBJ_GET`, 4.4+). `readOnly`/`writeOnly` open it
   * with `BPF_F_RDONLY`/`BPF_F_WRONLY` (4.15+): the kernel then refuses the other direction
   * with EPERM.
   *
   * @example
   * ```ts
   * using counts = BpfMap.fromPin('/sys/fs/bpf/counts', { readOnly: true });
   * ```
   * @throws a {@link SyscallError} ENOENT if nothing is pinned there, EACCES/EPERM without access.
   */
  static fromPin<V extends MapValue = Uint8Array>(path: string, options: { readOnly?: boolean; writeOnly?: boolean } = {}): BpfMap<V> {
    if (options.readOnly === true && options.writeOnly === true) {
      throw new ArgumentError(`open pinned map ${path}: readOnly and writeOnly exclude each other`);
    }
    const flags = options.readOnly === true ? BPF_F_RDONLY : options.writeOnly === true ? BPF_F_WRONLY : 0;
    const fd = objGet(path, flags, { context: `open pinned map ${path}` });
    try {
      const map = BpfMap.fromFd<V>(fd);
      map.#pinnedPath = path;
      return map;
    } catch (err) {
      backend().close(fd);
      throw err;
    }
  }

  /**
   * Opens a loaded map by its kernel id (`BPF_MAP_GET_FD_BY_ID`, 4.13+, needs CAP_SYS_ADMIN).
   *
   * @throws a {@link SyscallError} ENOENT if no map has that id.
   */
  static fromId<V extends MapValue = Uint8Array>(id: number): BpfMap<V> {
    const fd = fdById('map', id, { context: `open map id ${id}` });
    try {
      return BpfMap.fromFd<V>(fd);
    } catch (err) {
      backend().close(fd);
      throw err;
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /**
   * The map's file descriptor (owned by this object: do not close it yourself).
   *
   * @throws a {@link ClosedError} after close().
   */
  get fd(): number {
    if (this.#fd < 0) throw this.#owner.closedError();
    return this.#fd;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /** Where this map was pinned by {@link BpfMap.pin} or opened from by {@link BpfMap.fromPin}. */
  get pinnedPath(): string | undefined {
    return this.#pinnedPath;
  }

  /**
   * Closes the fd. The kernel frees the map once no fd, pin or program refers to it.
   * Idempotent.
   */
  close(): void {
    this.#fd = -1;
    // The adopted requests hold the fd number, which the kernel may hand out again: the hot
    // paths test only for an adopted pair, so they go with the fd.
    this.#intoPair = undefined;
    this.#updatePair = undefined;
    this.#owner.close();
  }

  /** Same as {@link BpfMap.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Pins the map at `path` on a bpffs mount (`BPF_OBJ_PIN`, 4.4+), so it outlives the process.
   *
   * @throws a {@link SyscallError} EEXIST if the path exists, EPERM/EINVAL if not on bpffs.
   */
  pin(path: string): void {
    objPin(this.fd, path, {
      context: `pin ${this.#label} at ${path}`,
      explain: (errno) =>
        errno === Errno.EEXIST
          ? 'a file already exists at that path'
          : errno === Errno.EPERM || errno === Errno.EINVAL
            ? 'the directory must be on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)'
            : undefined,
    });
    this.#pinnedPath = path;
  }

  /** Removes the pin made by {@link BpfMap.pin} (or the one opened with fromPin). No-op if none. */
  unpin(): void {
    const path = this.#pinnedPath;
    if (path === undefined) return;
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.#pinnedPath = undefined;
  }

  /**
   * What the kernel reports about the map (`BPF_OBJ_GET_INFO_BY_FD`, 4.13+): id, type, name,
   * sizes, flags, BTF ids, `map_extra`.
   */
  info(): MapInfo {
    return readInfo(this.fd, this.#label);
  }

  /**
   * Makes the map read-only for user space (`BPF_MAP_FREEZE`, 5.2+): later updates and
   * deletes from user space fail with EPERM; programs can still write unless the map has
   * `BPF_F_RDONLY_PROG`.
   *
   * @throws a {@link NotSupportedError} before 5.2; {@link SyscallError} EBUSY if the map is
   * mmap()ed writable.
   */
  freeze(): void {
    const { attr } = encodeAttr(MapFreeze, { map_fd: this.fd });
    bpfCheck(MapFreeze, attr, undefined, {
      context: `freeze ${this.#label}`,
      explain: (errno) => (errno === Errno.EBUSY ? 'the map is mmap()ed writable' : undefined),
    });
  }

  // ---- element operations ------------------------------------------------------------

  /**
   * Looks a key up (`BPF_MAP_LOOKUP_ELEM`). Returns a fresh copy of the value, or undefined
   * if the key is absent. Per-CPU maps return one value per possible CPU.
   *
   * For map-in-map and program arrays the value is the inner object's id.
   *
   * @param flags `UpdateFlags.Lock` to copy under the value's spin lock (5.1+).
   * @throws a {@link ArgumentError} for a key of the wrong size; {@link SyscallError} otherwise.
   */
  lookup(key: Uint8Array, flags: number = 0): V | undefined {
    // The hot path of every map read: checks inline, one prepared syscall, one copy out.
    const call = this.#elemCall;
    const k = this.#scratchKey;
    if (call !== undefined && this.#fd >= 0 && key instanceof Uint8Array && key.length === this.keySize && flags === this.#elemFlags) {
      k!.set(key);
      const r = call(Cmd.MapLookupElem);
      if (r === 0) {
        const value = this.#scratchValue!;
        return (this.perCPU ? splitPerCPU(new Uint8Array(value), 0, this.valueSize, this.#cpus) : new Uint8Array(value)) as V;
      }
      if (r === -Errno.ENOENT) return undefined;
      return this.#fail(MapLookupElem, -r, 'lookup', key, this.#scratchValue, flags);
    }
    return this.#lookupOther(key, flags);
  }

  /** lookup off the hot path: flags that differ from the last call's, no scratch request, bad keys. */
  #lookupOther(key: Uint8Array, flags: number): V | undefined {
    const k = this.#scratchKey;
    const fd = this.fd;
    this.#checkKey(key, 'lookup');
    k!.set(key);
    const value = this.#scratchValue;
    const r = this.#elemAttr !== undefined ? this.#keyed(MapLookupElem, flags) : mapElem(MapLookupElem, fd, k, value, flags);
    if (r === 0) return this.#fromKernel(value);
    if (r === -Errno.ENOENT) return undefined;
    return this.#fail(MapLookupElem, -r, 'lookup', key, value, flags);
  }

  /**
   * Looks a key up into a buffer the caller owns (`BPF_MAP_LOOKUP_ELEM`), allocating nothing:
   * the zero-copy form of {@link BpfMap.lookup} for hot loops, like libbpf's
   * `bpf_map_lookup_elem(fd, key, value)` and cilium/ebpf's `Lookup(key, valueOut)`. Returns
   * false if the key is absent (then `out` is unchanged).
   *
   * `out` holds `valueSize` bytes; for per-CPU maps, the kernel's layout: one value per
   * possible CPU, each padded to a multiple of 8 bytes.
   *
   * @example
   * ```ts
   * const value = new Uint8Array(8);
   * if (counts.lookupInto(key, value)) total += new DataView(value.buffer).getBigUint64(0, true);
   * ```
   * @throws a {@link ArgumentError} for a key or buffer of the wrong size; {@link SyscallError} otherwise.
   */
  lookupInto(key: Uint8Array, out: Uint8Array, flags: number = 0): boolean {
    // Adopted buffers (see #adopt); the sizes are checked again because a detached buffer
    // keeps its identity. Everything else is in #lookupIntoOther: this method stays small
    // enough for V8 to inline into the caller's loop (no JS call per element).
    const p = this.#intoPair;
    if (p !== undefined && p.call !== undefined && p.key === key && p.value === out && flags === 0 && key.length === this.keySize && out.length === this.#kernelValueSize) {
      const r = p.call();
      if (r === undefined) return true;
      if (r === -Errno.ENOENT) return false;
      return this.#fail(MapLookupElem, -r, 'lookup', key, out, flags);
    }
    return this.#lookupIntoOther(key, out, flags);
  }

  /** lookupInto over buffers not adopted (yet): through the scratch buffers, or checked. */
  #lookupIntoOther(key: Uint8Array, out: Uint8Array, flags: number): boolean {
    const call = this.#elemCall;
    const scratch = this.#scratchValue;
    if (
      call !== undefined &&
      this.#fd >= 0 &&
      key instanceof Uint8Array &&
      key.length === this.keySize &&
      out instanceof Uint8Array &&
      out.length === this.#kernelValueSize &&
      flags === this.#elemFlags
    ) {
      if (flags === 0) this.#intoPair = this.#adopt(this.#intoPair, MapLookupElem, key, out);
      this.#scratchKey!.set(key);
      const r = call(Cmd.MapLookupElem);
      if (r === 0) {
        out.set(scratch!);
        return true;
      }
      if (r === -Errno.ENOENT) return false;
      return this.#fail(MapLookupElem, -r, 'lookup', key, scratch, flags);
    }
    this.#checkKey(key, 'lookup');
    if (!(out instanceof Uint8Array) || out.byteLength !== this.#kernelValueSize) {
      const got = out instanceof Uint8Array ? `${out.byteLength} bytes` : describe(out);
      const want = this.perCPU ? `${this.#kernelValueSize} bytes (${this.#cpus} CPUs × ${round8(this.valueSize)})` : `${this.valueSize} bytes`;
      throw new ArgumentError(`${this.#label}: lookupInto buffer must be a Uint8Array of ${want}, got ${got}`);
    }
    const fd = this.fd;
    this.#scratchKey!.set(key);
    const r = this.#elemAttr !== undefined ? this.#keyed(MapLookupElem, flags) : mapElem(MapLookupElem, fd, this.#scratchKey, scratch, flags);
    if (r === 0) {
      out.set(scratch!);
      return true;
    }
    if (r === -Errno.ENOENT) return false;
    return this.#fail(MapLookupElem, -r, 'lookup', key, scratch, flags);
  }

  /**
   * Creates or replaces an entry (`BPF_MAP_UPDATE_ELEM`). Per-CPU maps take an array with one
   * value per possible CPU. fd-holding maps (program arrays, map-in-map, sockmaps, …) take a
   * 4-byte value holding the fd.
   *
   * @param flags {@link UpdateFlags}: `Any` (default), `NoExist`, `Exist`, optionally `| Lock`.
   * @throws a {@link ArgumentError} for sizes that do not match; {@link SyscallError} EEXIST
   * (NoExist), ENOENT (Exist), E2BIG (map full), EPERM (frozen or read-only map).
   */
  update(key: Uint8Array, value: V, flags: number = UpdateFlags.Any): void {
    // Adopted buffers first, small enough to inline, as in lookupInto.
    const p = this.#updatePair;
    if (p !== undefined && p.call !== undefined && p.key === key && p.value === value && flags === 0 && key.length === this.keySize && (value as Uint8Array).length === this.valueSize) {
      const r = p.call();
      if (r !== undefined) this.#fail(MapUpdateElem, -r, 'update', key, value as Uint8Array, flags);
      return;
    }
    this.#updateOther(key, value, flags);
  }

  /** update with buffers not adopted (yet): through the scratch buffers, or encoded. */
  #updateOther(key: Uint8Array, value: V, flags: number): void {
    const call = this.#elemCall;
    if (
      call !== undefined &&
      !this.perCPU &&
      this.#fd >= 0 &&
      key instanceof Uint8Array &&
      key.length === this.keySize &&
      value instanceof Uint8Array &&
      value.length === this.valueSize &&
      flags === this.#elemFlags
    ) {
      if (flags === 0) this.#updatePair = this.#adopt(this.#updatePair, MapUpdateElem, key, value);
      this.#scratchKey!.set(key);
      this.#scratchValue!.set(value);
      const r = call(Cmd.MapUpdateElem);
      if (r !== 0) this.#fail(MapUpdateElem, -r, 'update', key, this.#scratchValue, flags);
      return;
    }
    const fd = this.fd;
    this.#checkKey(key, 'update');
    const kernelValue = this.#toKernel(value, 'update', this.#scratchValue ?? undefined);
    const k = this.#scratchKey!;
    k.set(key);
    const r =
      this.#elemAttr !== undefined && kernelValue === this.#scratchValue
        ? this.#keyed(MapUpdateElem, flags)
        : mapElem(MapUpdateElem, fd, k, kernelValue, flags);
    if (r !== 0) this.#fail(MapUpdateElem, -r, 'update', key, kernelValue, flags);
  }

  /**
   * Deletes a key (`BPF_MAP_DELETE_ELEM`). Returns false if it was absent.
   *
   * @throws a {@link SyscallError} EINVAL for arrays (their entries cannot be deleted), EPERM
   * for frozen maps.
   */
  delete(key: Uint8Array): boolean {
    if (this.#fd < 0) throw this.#owner.closedError();
    this.#checkKey(key, 'delete');
    this.#scratchKey!.set(key);
    const r = this.#deleteCall!(MapDeleteElem.cmd);
    if (r === 0) return true;
    if (r === -Errno.ENOENT) return false;
    return this.#fail(MapDeleteElem, -r, 'delete', key, null, 0);
  }

  /**
   * Looks a key up and deletes it in one step (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`: queue and
   * stack 4.20, hash maps 5.14). Returns undefined if the key was absent.
   */
  lookupAndDelete(key: Uint8Array, flags: number = 0): V | undefined {
    const fd = this.fd;
    this.#checkKey(key, 'lookupAndDelete');
    const k = this.#scratchKey!;
    k.set(key);
    const value = this.#scratchValue;
    const r =
      this.#elemAttr !== undefined ? this.#keyed(MapLookupAndDeleteElem, flags) : mapElem(MapLookupAndDeleteElem, fd, k, value, flags);
    if (r === 0) return this.#fromKernel(value);
    if (r === -Errno.ENOENT) return undefined;
    // map_lookup_and_delete_elem() took only queues and stacks until 5.14 added hash maps.
    if ((r === -Errno.ENOTSUPP || r === -Errno.EOPNOTSUPP) && hashLikeTypes.has(this.type) && !kernelVersion().atLeast('5.14')) {
      throw new NotSupportedError(`${this.#label}: lookupAndDelete on ${mapTypeName(this.type)} maps`, '5.14', { errno: -r });
    }
    return this.#fail(MapLookupAndDeleteElem, -r, 'lookupAndDelete', key, value, flags);
  }

  /**
   * Pushes a value onto a queue or stack (`BPF_MAP_UPDATE_ELEM` with no key), or adds one to
   * a bloom filter. `UpdateFlags.Exist` makes a full queue drop its oldest value instead of
   * failing with E2BIG.
   *
   * Minimum kernel: 4.20 (queue, stack), 5.16 (bloom filter).
   */
  push(value: V, flags: number = UpdateFlags.Any): void {
    const fd = this.fd;
    this.#checkNoKey('push');
    const kernelValue = this.#toKernel(value, 'push', this.#scratchValue ?? undefined);
    const r = mapElem(MapUpdateElem, fd, null, kernelValue, flags);
    if (r !== 0) this.#fail(MapUpdateElem, -r, 'push', null, kernelValue, flags);
  }

  /**
   * Removes and returns the next value of a queue (oldest) or stack (newest)
   * (`BPF_MAP_LOOKUP_AND_DELETE_ELEM` with no key, 4.20+). undefined when empty.
   */
  pop(): V | undefined {
    const fd = this.fd;
    this.#checkNoKey('pop');
    const value = this.#scratchValue;
    const r = mapElem(MapLookupAndDeleteElem, fd, null, value);
    if (r === 0) return this.#fromKernel(value);
    if (r === -Errno.ENOENT) return undefined;
    return this.#fail(MapLookupAndDeleteElem, -r, 'pop', null, value, 0);
  }

  /** Returns the value {@link BpfMap.pop} would return, without removing it (4.20+). */
  peek(): V | undefined {
    const fd = this.fd;
    this.#checkNoKey('peek');
    const value = this.#scratchValue;
    const r = mapElem(MapLookupElem, fd, null, value);
    if (r === 0) return this.#fromKernel(value);
    if (r === -Errno.ENOENT) return undefined;
    return this.#fail(MapLookupElem, -r, 'peek', null, value, 0);
  }

  /**
   * Asks a bloom filter whether it may contain `value` (`BPF_MAP_LOOKUP_ELEM` with no key: the
   * value is the input, see `map_lookup_elem()`). False means definitely absent.
   *
   * Minimum kernel: 5.16.
   */
  mayContain(value: Uint8Array): boolean {
    const fd = this.fd;
    this.#checkNoKey('mayContain');
    const input = this.#toKernel(value as V, 'mayContain', this.#scratchValue ?? undefined);
    const r = mapElem(MapLookupElem, fd, null, input);
    if (r === 0) return true;
    if (r === -Errno.ENOENT) return false;
    return this.#fail(MapLookupElem, -r, 'mayContain', null, input, 0);
  }

  /**
   * Iterates the keys (`BPF_MAP_GET_NEXT_KEY`, starting from no key). Each key is a fresh
   * copy.
   *
   * Concurrent deletes: if the key the walk stands on is deleted, a hash map's
   * `htab_map_get_next_key()` starts over from the first key, so keys can come back more than
   * once. The walk is bounded like cilium/ebpf's MapIterator: more than `maxEntries` keys
   * throws {@link IterationAbortedError}. For a consistent snapshot of a busy map, use
   * {@link BpfMap.entriesBatch}.
   */
  *keys(): Generator<Uint8Array, void, undefined> {
    for (const key of this.#walk('iterate keys of')) yield key.slice();
  }

  /**
   * The GET_NEXT_KEY walk behind {@link BpfMap.keys} and {@link BpfMap.entries}: yields a
   * scratch buffer holding the current key, valid until the next step. Two buffers alternate
   * as "previous" and "next" key (see the scratch-buffer note on the class).
   */
  *#walk(op: string): Generator<Uint8Array, void, undefined> {
    const buffers = [new Uint8Array(this.keySize), new Uint8Array(this.keySize)] as const;
    let prev: Uint8Array | null = null;
    let steps = 0;
    for (;;) {
      const next: Uint8Array = buffers[steps & 1]!;
      const r = mapElem(MapGetNextKey, this.fd, prev, next);
      if (r === -Errno.ENOENT) return;
      if (r !== 0) this.#fail(MapGetNextKey, -r, op, prev, next, 0);
      if (++steps > this.maxEntries && this.maxEntries > 0) this.#abort(steps);
      prev = next;
      yield next;
    }
  }

  /**
   * Iterates `[key, value]` pairs: {@link BpfMap.keys} plus a lookup per key. A key deleted
   * between the two steps is skipped, and the walk continues from it, which on a hash map
   * restarts from the first key (see {@link BpfMap.keys}); slots of fd arrays that hold no
   * object are skipped the same way. Bounded by `maxEntries` steps
   * ({@link IterationAbortedError}).
   *
   * For large maps {@link BpfMap.entriesBatch} is much faster (one syscall per chunk).
   */
  *entries(): Generator<[Uint8Array, V], void, undefined> {
    for (const key of this.#walk('iterate')) {
      const value = this.lookup(key);
      if (value === undefined) continue; // vanished (or an empty fd slot): walk on from it
      yield [key.slice(), value];
    }
  }

  /** Same as {@link BpfMap.entries}. */
  [Symbol.iterator](): Generator<[Uint8Array, V], void, undefined> {
    return this.entries();
  }

  // ---- batch operations --------------------------------------------------------------

  /**
   * Reads up to `count` entries from where `cursor` stands (`BPF_MAP_LOOKUP_BATCH`, 5.6+).
   * Call again with the same cursor until `done`. On kernels or map types without batch ops
   * it falls back to per-key GET_NEXT_KEY + LOOKUP transparently.
   *
   * On a hash map a call can return fewer than `count` entries before the end (batches end on
   * bucket boundaries), and fails with ENOSPC when one bucket holds more than `count` entries.
   *
   * @example
   * ```ts
   * const cursor = new BatchCursor();
   * while (!cursor.done) {
   *   const { keys, values } = map.lookupBatch(cursor, 1024);
   *   // ...
   * }
   * ```
   */
  lookupBatch(cursor: BatchCursor, count: number, options: { elemFlags?: number } = {}): BatchResult<V> {
    return this.#lookupBatch(MapLookupBatch, cursor, count, options.elemFlags ?? 0);
  }

  /**
   * Like {@link BpfMap.lookupBatch}, deleting what it returns (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
   * 5.6+; hash maps only in the kernel, a per-key fallback elsewhere).
   */
  lookupAndDeleteBatch(cursor: BatchCursor, count: number, options: { elemFlags?: number } = {}): BatchResult<V> {
    return this.#lookupBatch(MapLookupAndDeleteBatch, cursor, count, options.elemFlags ?? 0);
  }

  /**
   * Writes many entries in one syscall (`BPF_MAP_UPDATE_BATCH`, 5.6+; per-key fallback).
   * Returns the number written (all of them, or it throws).
   *
   * @param elemFlags {@link UpdateFlags} applied to every element.
   * @throws a {@link ArgumentError} if the arrays differ in length or an element has the wrong
   * size (before any syscall); {@link SyscallError} naming how many entries were written.
   */
  updateBatch(keys: readonly Uint8Array[], values: readonly V[], elemFlags: number = UpdateFlags.Any): number {
    const fd = this.fd;
    if (keys.length !== values.length) {
      throw new ArgumentError(`${this.#label}: updateBatch got ${keys.length} keys but ${values.length} values`);
    }
    const n = keys.length;
    const keyBuf = new Uint8Array(n * this.keySize);
    const valueBuf = new Uint8Array(n * this.#kernelValueSize);
    for (let i = 0; i < n; i++) {
      this.#checkKey(keys[i]!, 'updateBatch');
      keyBuf.set(keys[i]!, i * this.keySize);
      this.#toKernel(values[i]!, 'updateBatch', valueBuf, i * this.#kernelValueSize);
    }
    if (n === 0) return 0;
    if (this.#batchSupported(MapUpdateBatch) !== false) {
      const r = this.#batchCall(MapUpdateBatch, fd, null, null, keyBuf, valueBuf, n, elemFlags);
      if (r.result === 0) return n;
      if (!this.#batchFallback(MapUpdateBatch, r.result, elemFlags)) {
        this.#batchFail(MapUpdateBatch, r, 'updateBatch', `${r.count} of ${n} entries written`);
      }
    }
    for (let i = 0; i < n; i++) {
      const rr = mapElem(MapUpdateElem, fd, keys[i]!, valueBuf.subarray(i * this.#kernelValueSize, (i + 1) * this.#kernelValueSize), elemFlags);
      if (rr !== 0) this.#fail(MapUpdateElem, -rr, `updateBatch (${i} of ${n} entries written)`, keys[i]!, null, elemFlags);
    }
    return n;
  }

  /**
   * Deletes many keys (`BPF_MAP_DELETE_BATCH`, 5.6+; per-key fallback). Keys that are absent
   * are skipped; returns how many were deleted.
   */
  deleteBatch(keys: readonly Uint8Array[]): number {
    const fd = this.fd;
    const n = keys.length;
    const keyBuf = new Uint8Array(n * this.keySize);
    for (let i = 0; i < n; i++) {
      this.#checkKey(keys[i]!, 'deleteBatch');
      keyBuf.set(keys[i]!, i * this.keySize);
    }
    let deleted = 0;
    let start = 0;
    if (n > 0 && this.#batchSupported(MapDeleteBatch) !== false) {
      while (start < n) {
        const chunk = keyBuf.subarray(start * this.keySize);
        const r = this.#batchCall(MapDeleteBatch, fd, null, null, chunk, null, n - start, 0);
        if (r.result === 0) return deleted + (n - start);
        if (r.result === -Errno.ENOENT) {
          // generic_map_delete_batch() stops at the first missing key and reports how many
          // it deleted before it: skip that key and go on.
          deleted += r.count;
          start += r.count + 1;
          this.#markBatch(MapDeleteBatch, true);
          continue;
        }
        if (start === 0 && this.#batchFallback(MapDeleteBatch, r.result, 0)) break;
        this.#batchFail(MapDeleteBatch, r, 'deleteBatch', `${deleted + r.count} of ${n} keys deleted`);
      }
      if (start >= n) return deleted;
    }
    for (let i = start; i < n; i++) if (this.delete(keys[i]!)) deleted++;
    return deleted;
  }

  /**
   * Looks many keys up, one `BPF_MAP_LOOKUP_ELEM` each, all issued in one call into the native
   * addon (a JS loop on the ffi-rs backend): for callers holding a list of keys, where
   * {@link BpfMap.lookupBatch} walks the map in its own order. Returns one entry per key, in
   * order: the value, or `undefined` for an absent key. The values are views into one buffer
   * allocated for the call.
   *
   * The first error other than ENOENT stops the calls, like the kernel's batch ops, and throws.
   *
   * @example
   * ```ts
   * const [a, b] = counts.lookupMany([keyA, keyB]); // b === undefined if keyB is absent
   * ```
   * @param flags `UpdateFlags.Lock` to copy each value under its spin lock (5.1+).
   * @throws a {@link ArgumentError} for a key of the wrong size (before any syscall); a
   * {@link SyscallError} naming the failing key's index.
   */
  lookupMany(keys: readonly Uint8Array[], flags: number = 0): Array<V | undefined> {
    const n = keys.length;
    const vs = this.#kernelValueSize;
    const values = new Uint8Array(n * vs);
    const results = this.#many(MapLookupElem, 'lookupMany', keys, values, flags, Errno.ENOENT);
    const out = new Array<V | undefined>(n);
    for (let i = 0; i < n; i++) {
      out[i] =
        results[i] !== 0
          ? undefined
          : ((this.perCPU ? splitPerCPU(values, i * vs, this.valueSize, this.#cpus) : values.subarray(i * vs, (i + 1) * vs)) as V);
    }
    return out;
  }

  /**
   * Writes many entries, one `BPF_MAP_UPDATE_ELEM` each, all issued in one call into the
   * native addon (a JS loop on the ffi-rs backend). Unlike {@link BpfMap.updateBatch} it needs
   * no batch support (any kernel, any map type that takes updates). The first failing key
   * stops the writes, like `BPF_MAP_UPDATE_BATCH`: the keys before it are written, the rest
   * are not.
   *
   * @param flags {@link UpdateFlags} applied to every element.
   * @throws a {@link ArgumentError} if the arrays differ in length or an element has the wrong
   * size (before any syscall); a {@link SyscallError} naming the failing key's index and how
   * many entries were written.
   */
  updateMany(keys: readonly Uint8Array[], values: readonly V[], flags: number = UpdateFlags.Any): void {
    if (keys.length !== values.length) {
      throw new ArgumentError(`${this.#label}: updateMany got ${keys.length} keys but ${values.length} values`);
    }
    const vs = this.#kernelValueSize;
    const valueBuf = new Uint8Array(keys.length * vs);
    for (let i = 0; i < values.length; i++) this.#toKernel(values[i]!, 'updateMany', valueBuf, i * vs);
    this.#many(MapUpdateElem, 'updateMany', keys, valueBuf, flags, 0);
  }

  /**
   * Deletes many keys, one `BPF_MAP_DELETE_ELEM` each, all issued in one call into the native
   * addon (a JS loop on the ffi-rs backend). Absent keys are skipped, as in
   * {@link BpfMap.deleteBatch}; returns how many were deleted. Any other error stops the
   * deletes and throws.
   *
   * @throws a {@link ArgumentError} for a key of the wrong size (before any syscall); a
   * {@link SyscallError} naming the failing key's index (e.g. EINVAL: array entries cannot be deleted).
   */
  deleteMany(keys: readonly Uint8Array[]): number {
    const results = this.#many(MapDeleteElem, 'deleteMany', keys, null, 0, Errno.ENOENT);
    let deleted = 0;
    for (let i = 0; i < results.length; i++) if (results[i] === 0) deleted++;
    return deleted;
  }

  /**
   * Iterates all entries with batch lookups of `chunk` entries (`BPF_MAP_LOOKUP_BATCH`, 5.6+,
   * else per-key), the fast way to read a whole map. Grows the chunk when a hash bucket does
   * not fit (ENOSPC). Keys and values are views into per-batch buffers: keep them freely.
   */
  *entriesBatch(chunk = 4096): Generator<[Uint8Array, V], void, undefined> {
    const cursor = new BatchCursor();
    let size = Math.max(1, Math.min(chunk, Math.max(this.maxEntries, 1)));
    while (!cursor.done) {
      let batch: BatchResult<V>;
      try {
        batch = this.lookupBatch(cursor, size);
      } catch (err) {
        if (err instanceof SyscallError && err.errno === Errno.ENOSPC && size < this.maxEntries) {
          size = Math.min(size * 2, this.maxEntries);
          continue;
        }
        throw err;
      }
      for (let i = 0; i < batch.count; i++) yield [batch.keys[i]!, batch.values[i]!];
    }
  }

  // ---- internals ---------------------------------------------------------------------

  /**
   * Notes the buffers of a fast-path call with flags 0: the second call in a row with the same
   * key and value buffers prepares a request over them, which later calls use without copying
   * (the hot paths of lookupInto and update), if both are plain (intrinsicLength). Reuses `pair`,
   * so a loop over fresh buffers allocates nothing.
   */
  #adopt(pair: DirectPair | undefined, layout: ElemLayout, key: Uint8Array, value: Uint8Array): DirectPair {
    if (pair === undefined) return { key, value, call: undefined };
    if (pair.key === key && pair.value === value) {
      // Checked once, where the kernel is about to get the buffers' addresses.
      if (pair.call === undefined && intrinsicLength(key) && intrinsicLength(value)) pair.call = this.#direct(layout, key, value);
    } else {
      pair.key = key;
      pair.value = value;
      pair.call = undefined;
    }
    return pair;
  }

  /** A prepared element request (flags 0) over a caller's key and value buffers, for one command. */
  #direct(layout: ElemLayout, key: Uint8Array, value: Uint8Array): () => number | undefined {
    const attr = new Uint8Array(32);
    dataView(attr).setUint32(0, this.#fd, hostLittleEndian);
    return bpfPrepareCmd(layout, attr, [8, key, 16, value]);
  }

  /** One element op through the prebuilt attr (key and value already in the scratch buffers). */
  #keyed(layout: Layout, flags: number): number {
    if (flags !== this.#elemFlags) {
      this.#elemView!.setBigUint64(24, BigInt(flags), hostLittleEndian);
      this.#elemFlags = flags;
    }
    return this.#elemCall!(layout.cmd);
  }


  /**
   * The element ops of lookupMany/updateMany/deleteMany: packs the keys, makes `keys.length`
   * calls through {@link Backend.elemMany} and returns the per-key results; throws for the
   * first one that is neither 0 nor `-tolerated`.
   */
  #many(layout: ElemLayout, op: string, keys: readonly Uint8Array[], values: Uint8Array | null, flags: number, tolerated: number): Int32Array {
    const fd = this.fd;
    const n = keys.length;
    const ks = this.keySize;
    const keyBuf = new Uint8Array(n * ks);
    for (let i = 0; i < n; i++) {
      this.#checkKey(keys[i]!, op);
      keyBuf.set(keys[i]!, i * ks);
    }
    const results = new Int32Array(n);
    if (n === 0) return results;
    // Delete's attr ends at the key: the kernel wants the bytes after it zero (CHECK_ATTR).
    const attr = new Uint8Array(layout === MapDeleteElem ? 16 : 32);
    const view = dataView(attr);
    view.setUint32(0, fd, hostLittleEndian);
    if (layout !== MapDeleteElem) view.setBigUint64(24, BigInt(flags), hostLittleEndian);
    const vs = this.#kernelValueSize;
    // With EBPF_TS_DEBUG=syscalls each call goes through the funnel, which logs it.
    const done = syscallDebugEnabled()
      ? elemManyLoop({ bpf: (_cmd, a, p) => bpfRaw(layout, a, p) }, layout.cmd, attr, keyBuf, ks, values, vs, n, results, tolerated)
      : backend().elemMany(layout.cmd, attr, keyBuf, ks, values, vs, n, results, tolerated);
    const last = done - 1;
    const r = results[last]!;
    if (r !== 0 && r !== -tolerated) {
      const progress = layout === MapUpdateElem ? `, ${last} of ${n} entries written` : layout === MapDeleteElem ? `, ${last} of ${n} keys done` : '';
      const value = values === null ? null : values.subarray(last * vs, (last + 1) * vs);
      this.#fail(layout, -r, `${op} (key ${last} of ${n}${progress})`, keys[last]!, value, flags);
    }
    return results;
  }

  #checkKey(key: Uint8Array | null, op: string): void {
    if (this.keySize === 0) {
      throw new ArgumentError(`${this.#label}: ${mapTypeName(this.type)} maps have no keys; ${op} does not apply (use push/pop/peek)`);
    }
    // `length`, as on the hot paths: every caller copies the key (set() reads the real length).
    if (!(key instanceof Uint8Array) || key.length !== this.keySize) {
      const got = key instanceof Uint8Array ? `${key.byteLength} bytes` : describe(key);
      throw new ArgumentError(`${this.#label}: ${op} key must be a Uint8Array of keySize ${this.keySize} bytes, got ${got}`);
    }
  }

  #checkNoKey(op: string): void {
    if (this.keySize !== 0) {
      throw new ArgumentError(`${this.#label}: ${op} is for maps without keys (queue, stack, bloom filter); this map has keySize ${this.keySize}`);
    }
  }

  /** Validates a value and lays it out as the kernel wants it, into `out` at `offset` if given. */
  #toKernel(value: V, op: string, out?: Uint8Array, offset = 0): Uint8Array {
    if (!this.perCPU) {
      if (!(value instanceof Uint8Array) || value.byteLength !== this.valueSize) {
        const got = value instanceof Uint8Array ? `${value.byteLength} bytes` : describe(value);
        throw new ArgumentError(`${this.#label}: ${op} value must be a Uint8Array of valueSize ${this.valueSize} bytes, got ${got}`);
      }
      if (out === undefined) return value;
      out.set(value, offset);
      return out;
    }
    const cpus = this.#cpus;
    if (!Array.isArray(value) || value.length !== cpus) {
      const got = Array.isArray(value) ? `an array of ${value.length}` : describe(value);
      throw new ArgumentError(
        `${this.#label}: ${op} value of a per-CPU map must be an array of ${cpus} Uint8Arrays (one per possible CPU) of valueSize ${this.valueSize} bytes, got ${got}`,
      );
    }
    const buf = out ?? new Uint8Array(this.#kernelValueSize);
    const stride = round8(this.valueSize);
    // Zero the padding between CPUs' values: a scratch buffer may hold an earlier lookup's bytes.
    if (out !== undefined && stride !== this.valueSize) buf.fill(0, offset, offset + this.#kernelValueSize);
    for (let cpu = 0; cpu < cpus; cpu++) {
      const v = value[cpu];
      if (!(v instanceof Uint8Array) || v.byteLength !== this.valueSize) {
        const got = v instanceof Uint8Array ? `${v.byteLength} bytes` : describe(v);
        throw new ArgumentError(`${this.#label}: ${op} value for CPU ${cpu} must be a Uint8Array of valueSize ${this.valueSize} bytes, got ${got}`);
      }
      buf.set(v, offset + cpu * stride);
    }
    return buf;
  }

  /** Turns the kernel's value bytes into the caller's shape: per-CPU maps split per CPU. */
  #fromKernel(scratch: Uint8Array | null): V {
    // The Uint8Array copy constructor is the cheapest copy V8 offers (no species lookup).
    const bytes = scratch === null ? new Uint8Array(0) : new Uint8Array(scratch);
    if (!this.perCPU) return bytes as V;
    return splitPerCPU(bytes, 0, this.valueSize, this.#cpus) as V;
  }

  #explain(op: string): (errno: number) => string | undefined {
    const type = mapTypeName(this.type);
    return (errno) => {
      switch (errno) {
        case Errno.EPERM:
          return op.startsWith('lookup') || op === 'peek' || op.startsWith('iterate')
            ? 'the map was opened write-only for user space (BPF_F_WRONLY)'
            : 'the map is frozen (BPF_MAP_FREEZE) or read-only for user space (BPF_F_RDONLY)';
        case Errno.EEXIST:
          return 'the key already exists (UpdateFlags.NoExist)';
        case Errno.ENOENT:
          return 'the key does not exist (UpdateFlags.Exist)';
        case Errno.E2BIG:
          return `the map is full (maxEntries ${this.maxEntries}) or the index is out of range`;
        case Errno.ENOTSUPP:
        case Errno.EOPNOTSUPP:
          return `${type} maps do not support ${op} from user space`;
        case Errno.EINVAL:
          return `the kernel rejected ${op} for map type ${type}: wrong flags, or an operation this type lacks (e.g. deleting from an array)`;
        case Errno.EBADF:
          // bpf_fd_inode_storage_*_elem(): the key's file has no inode storage blob unless the
          // BPF LSM is active (CONFIG_BPF_LSM and "bpf" in the lsm= boot list).
          if (this.type === MapType.InodeStorage) {
            return 'the key must be an open file fd, and inode storage needs the BPF LSM active (CONFIG_BPF_LSM and "bpf" in /sys/kernel/security/lsm)';
          }
          return 'the value must hold an open fd of the kind this map stores';
        case Errno.ENOSPC:
          return op.includes('atch') ? 'a hash bucket holds more entries than count: retry with a larger count' : undefined;
        default:
          return undefined;
      }
    };
  }

  #fail(layout: ElemLayout, errno: number, op: string, key: Uint8Array | null, value: Uint8Array | null, flags: number): never {
    const values: Record<string, unknown> = { map_fd: this.#fd, key };
    if (layout === MapGetNextKey) values.next_key = value;
    else if (layout !== MapDeleteElem) {
      values.value = value;
      values.flags = flags;
    }
    const { attr, pointers } = encodeAttr(layout as Layout<string>, values as AttrValues<string>);
    const verb = op.startsWith('iterate') ? op : `${op} in`;
    throw bpfError(layout, errno, attr, pointers, { context: `${verb} ${this.#label}`, explain: this.#explain(op) });
  }

  #abort(steps: number): never {
    throw new IterationAbortedError(
      `${this.#label}: iteration aborted after ${steps} keys, more than maxEntries ${this.maxEntries}: ` +
        'entries are being deleted concurrently and the walk keeps restarting; use entriesBatch() for a snapshot',
    );
  }

  // -- batch internals

  #batchKey(layout: Layout): string {
    return `${this.type}:${layout.cmd}`;
  }

  #batchSupported(layout: Layout): boolean | undefined {
    return batchSupport.get(this.#batchKey(layout));
  }

  #markBatch(layout: Layout, supported: boolean): void {
    batchSupport.set(this.#batchKey(layout), supported);
  }

  /**
   * Decides whether a failed batch call means "this kernel or map type has no such batch op",
   * and if so caches that and returns true. The kernel says so with ENOTSUPP from
   * `BPF_DO_BATCH()` when the map's ops lack the callback, EOPNOTSUPP on some types, and EINVAL
   * from kernels before 5.6 that do not know the command. EINVAL is only taken as that answer
   * on the first call for the map type with no element flags (later, or with flags, it is a
   * real argument error).
   */
  #batchFallback(layout: Layout, result: number, elemFlags: number): boolean {
    const errno = -result;
    const known = this.#batchSupported(layout);
    if (known === true) return false;
    // The returned count is no evidence either way: a kernel without the command or the
    // callback leaves the attr untouched, so it still holds what was asked for.
    const unsupported = errno === Errno.ENOTSUPP || errno === Errno.EOPNOTSUPP || (errno === Errno.EINVAL && elemFlags === 0);
    if (unsupported) this.#markBatch(layout, false);
    return unsupported;
  }

  #batchCall(
    layout: Layout,
    fd: number,
    inBatch: Uint8Array | null,
    outBatch: Uint8Array | null,
    keys: Uint8Array | null,
    values: Uint8Array | null,
    count: number,
    elemFlags: number,
  ): { result: number; count: number; attr: Uint8Array; pointers: Array<number | Uint8Array | null> } {
    // Sent up to elem_flags (offset 48); batch.flags is not used.
    const attr = new Uint8Array(48);
    const view = dataView(attr);
    const pointers: Array<number | Uint8Array | null> = [];
    if (inBatch !== null) pointers.push(0, inBatch);
    if (outBatch !== null) pointers.push(8, outBatch);
    if (keys !== null && keys.byteLength > 0) pointers.push(16, keys);
    if (values !== null && values.byteLength > 0) pointers.push(24, values);
    view.setUint32(32, count, hostLittleEndian);
    view.setUint32(36, fd, hostLittleEndian);
    if (elemFlags !== 0) view.setBigUint64(40, BigInt(elemFlags), hostLittleEndian);
    const result = bpfRaw(layout, attr, pointers);
    // The kernel writes back how many elements it processed, on success and on error.
    return { result, count: view.getUint32(32, hostLittleEndian), attr, pointers };
  }

  #batchFail(layout: Layout, r: { result: number; attr: Uint8Array; pointers: Array<number | Uint8Array | null> }, op: string, progress?: string): never {
    const context = `${op} in ${this.#label}${progress === undefined ? '' : ` (${progress})`}`;
    throw bpfError(layout, -r.result, r.attr, r.pointers, { context, explain: this.#explain(op) } satisfies ErrorContext);
  }

  #lookupBatch(layout: Layout, cursor: BatchCursor, count: number, elemFlags: number): BatchResult<V> {
    const fd = this.fd;
    const op = layout === MapLookupBatch ? 'lookupBatch' : 'lookupAndDeleteBatch';
    if (!(cursor instanceof BatchCursor)) throw new ArgumentError(`${this.#label}: ${op} needs a BatchCursor`);
    if (!Number.isInteger(count) || count <= 0) throw new ArgumentError(`${this.#label}: ${op} count must be a positive integer, got ${count}`);
    if (cursor.done) return { count: 0, keys: [], values: [], done: true };
    if (cursor.lastKey === undefined && this.#batchSupported(layout) !== false) {
      // The token is a u32 bucket index for hash maps (htab_map_lookup_batch()) and a key for
      // everything else (generic_map_lookup_batch()): max(keySize, 4) holds either. in_batch
      // and out_batch are separate buffers: the kernel reads one and writes the other.
      const tokenSize = Math.max(this.keySize, 4);
      const out = new Uint8Array(tokenSize);
      const keyBuf = new Uint8Array(count * this.keySize);
      const valueBuf = new Uint8Array(count * this.#kernelValueSize);
      const r = this.#batchCall(layout, fd, cursor.token ?? null, out, keyBuf, valueBuf, count, elemFlags);
      let done = false;
      if (r.result === -Errno.ENOENT) {
        done = true; // the last batch: r.count entries are still valid
      } else if (r.result < 0) {
        if (!(cursor.token === undefined && this.#batchFallback(layout, r.result, elemFlags))) {
          this.#batchFail(layout, r, op);
        }
        return this.#lookupBatchFallback(layout, cursor, count, elemFlags);
      }
      this.#markBatch(layout, true);
      cursor.token = out;
      cursor.done = done;
      return this.#batchResult(keyBuf, valueBuf, r.count, done);
    }
    return this.#lookupBatchFallback(layout, cursor, count, elemFlags);
  }

  #batchResult(keyBuf: Uint8Array, valueBuf: Uint8Array, n: number, done: boolean): BatchResult<V> {
    const keys: Uint8Array[] = new Array(n);
    const values: V[] = new Array(n);
    const ks = this.keySize;
    const vs = this.#kernelValueSize;
    for (let i = 0; i < n; i++) {
      keys[i] = keyBuf.subarray(i * ks, (i + 1) * ks);
      values[i] = (this.perCPU ? splitPerCPU(valueBuf, i * vs, this.valueSize, this.#cpus) : valueBuf.subarray(i * vs, (i + 1) * vs)) as V;
    }
    return { count: n, keys, values, done };
  }

  /** Per-key emulation of a batch lookup: GET_NEXT_KEY from the cursor's last key, then LOOKUP. */
  #lookupBatchFallback(layout: Layout, cursor: BatchCursor, count: number, elemFlags: number): BatchResult<V> {
    const fd = this.fd;
    const deleting = layout === MapLookupAndDeleteBatch;
    const keys: Uint8Array[] = [];
    const values: V[] = [];
    let prev: Uint8Array | null = cursor.lastKey === undefined || cursor.lastKey.byteLength === 0 ? null : cursor.lastKey;
    if (cursor.lastKey === undefined) cursor.lastKey = new Uint8Array(0); // mark "fallback started"
    let steps = 0;
    while (keys.length < count) {
      const next = new Uint8Array(this.keySize);
      // Deleting walks always start from the first key: what was returned is gone.
      const r = mapElem(MapGetNextKey, fd, deleting ? null : prev, next);
      if (r === -Errno.ENOENT) {
        cursor.done = true;
        break;
      }
      if (r !== 0) this.#fail(MapGetNextKey, -r, 'iterate', prev, next, 0);
      if (++steps > Math.max(this.maxEntries, count) && this.maxEntries > 0) this.#abort(steps);
      prev = next;
      const value = this.lookup(next, elemFlags);
      if (value === undefined) continue;
      if (deleting) this.delete(next);
      keys.push(next);
      values.push(value);
    }
    if (prev !== null) cursor.lastKey = prev;
    return { count: keys.length, keys, values, done: cursor.done };
  }
}

// ---- module-level helpers -----------------------------------------------------------------

/**
 * Whether `x.length` is the TypedArray getter itself (a plain Uint8Array or Buffer, no own
 * `length`), so that a detached buffer reads 0 through it. Only such buffers are adopted: the
 * adopted paths check sizes with `length` rather than `byteLength`, which V8 11 reads through a
 * builtin call; right after a syscall that call's cold code cost ~150 ns per element op
 * (bench/results/issue14-maps4-2026-12-07.md).
 */
function intrinsicLength(x: Uint8Array): boolean {
  const proto: unknown = Object.getPrototypeOf(x);
  return (proto === Uint8Array.prototype || proto === Buffer.prototype) && !Object.hasOwn(x, 'length');
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name} of ${x.byteLength} bytes`;
  return typeof x;
}

/** Splits `cpus` values of `valueSize` bytes, each at an 8-byte-rounded stride, into views. */
function splitPerCPU(bytes: Uint8Array, offset: number, valueSize: number, cpus: number): Uint8Array[] {
  const stride = round8(valueSize);
  const out: Uint8Array[] = new Array(cpus);
  for (let cpu = 0; cpu < cpus; cpu++) {
    const start = offset + cpu * stride;
    out[cpu] = bytes.subarray(start, start + valueSize);
  }
  return out;
}

type NormalizedSpec = MapSpec & { maxEntries: number };

/** Fills in what the kernel needs but a spec may leave out (cilium/ebpf and libbpf do the same). */
function withDefaults(spec: MapSpec): NormalizedSpec {
  const s: NormalizedSpec = { ...spec, maxEntries: spec.maxEntries ?? 0 };
  if (s.type === MapType.PerfEventArray) {
    // One slot per CPU: bpf_perf_event_output() indexes by CPU with BPF_F_CURRENT_CPU.
    if (s.keySize === 0) s.keySize = 4;
    if (s.valueSize === 0) s.valueSize = 4;
    if (s.maxEntries === 0) s.maxEntries = possibleCPUs();
  }
  if (mapInMapTypes.has(s.type) && s.valueSize === 0) s.valueSize = 4;
  return s;
}

/** Why MAP_CREATE said E2BIG, given the spec (the funnel has already ruled out newer fields). */
function explainCreateE2BIG(s: NormalizedSpec): string {
  const reasons: string[] = [];
  if (perCPUTypes.has(s.type) && round8(s.valueSize) > PCPU_MIN_UNIT_SIZE) {
    reasons.push(
      `the per-CPU value of ${s.valueSize} bytes (${round8(s.valueSize)} rounded to 8) exceeds the per-CPU allocator's ` +
        `${PCPU_MIN_UNIT_SIZE / 1024} KiB unit (PCPU_MIN_UNIT_SIZE, checked by htab_map_alloc_check()/array_map_alloc_check())`,
    );
  }
  if (hashLikeTypes.has(s.type) && s.keySize > MAX_BPF_STACK) {
    reasons.push(`the key of ${s.keySize} bytes exceeds MAX_BPF_STACK (${MAX_BPF_STACK}), the largest key htab_map_alloc_check() allows`);
  }
  if (s.valueSize >= 4 * 1024 * 1024) {
    reasons.push(`the value of ${s.valueSize} bytes exceeds what kmalloc can hand out (KMALLOC_MAX_SIZE, usually 4 MiB)`);
  }
  if (reasons.length === 0) {
    reasons.push(
      `key (${s.keySize} bytes) or value (${s.valueSize} bytes) too big for ${mapTypeName(s.type)}, or maxEntries (${s.maxEntries}) too large; ` +
        'or the attr has non-zero bytes past the fields this kernel knows (bpf_check_uarg_tail_zero()), i.e. an attribute newer than the kernel',
    );
  }
  return reasons.join('; ');
}

/** Short rules per map type, for an EINVAL from MAP_CREATE on a kernel that has the type. */
function createRules(type: MapType): string | undefined {
  switch (type) {
    case MapType.LPMTrie:
      return 'LPM_TRIE needs flags BPF_F_NO_PREALLOC, keySize = 4 + 1..256 data bytes, maxEntries > 0';
    case MapType.Queue:
    case MapType.Stack:
    case MapType.BloomFilter:
      return `${mapTypeName(type)} needs keySize 0`;
    case MapType.RingBuf:
    case MapType.UserRingBuf:
      return `${mapTypeName(type)} needs keySize 0, valueSize 0 and maxEntries a power-of-2 multiple of the page size`;
    case MapType.Arena:
      return 'ARENA needs keySize 0, valueSize 0, maxEntries > 0 pages and flags BPF_F_MMAPABLE';
    case MapType.CgroupStorage:
    case MapType.PerCPUCgroupStorage:
      return `${mapTypeName(type)} needs maxEntries 0 and keySize 8 or 16 (struct bpf_cgroup_storage_key)`;
    case MapType.SKStorage:
    case MapType.InodeStorage:
    case MapType.TaskStorage:
    case MapType.CgrpStorage:
      return `${mapTypeName(type)} needs keySize 4, maxEntries 0, flags BPF_F_NO_PREALLOC and BTF key/value type ids (btfFd, btfKeyTypeId, btfValueTypeId)`;
    case MapType.StructOps:
      return (
        'STRUCT_OPS needs keySize 4, maxEntries 1, btfVmlinuxValueTypeId (a bpf_struct_ops_<name> type of vmlinux), ' +
        'valueSize equal to that type\'s size, and btfFd: map_create() insists on a loaded BTF object even then'
      );
    case MapType.ArrayOfMaps:
    case MapType.HashOfMaps:
      return `${mapTypeName(type)} needs valueSize 4 and an inner map`;
    case MapType.StackTrace:
      return 'STACK_TRACE needs keySize 4 and valueSize a multiple of 8';
    default:
      return 'check keySize, valueSize, maxEntries (> 0) and flags for this map type';
  }
}

/** The last key and value buffers of a map's lookupInto (or update), and a request over them once adopted. */
interface DirectPair {
  key: Uint8Array;
  value: Uint8Array;
  /** The request's one command; undefined where the kernel returned 0 (Backend.prepareCmd). */
  call: (() => number | undefined) | undefined;
}

function createFd(s: NormalizedSpec, values: AttrValues<keyof typeof MapCreate.fields>, label: string): number {
  const { attr, pointers } = encodeAttr(MapCreate, values);
  const fd = bpfRaw(MapCreate, attr, pointers);
  if (fd >= 0) return fd;
  const errno = -fd;
  const ctx: ErrorContext = {
    context: `create ${label}`,
    // Before the alloc_check() size tests (5.x), an oversized per-CPU array value reached
    // __alloc_percpu_gfp() and failed there with ENOMEM: explain both the same way.
    explain: (e) =>
      e === Errno.E2BIG || (e === Errno.ENOMEM && perCPUTypes.has(s.type) && round8(s.valueSize) > PCPU_MIN_UNIT_SIZE)
        ? explainCreateE2BIG(s)
        : e === Errno.EINVAL
          ? createRules(s.type)
          : undefined,
  };
  if (errno === Errno.EPERM) {
    // With every capability held, EPERM is a security policy refusing the type (ARENA under
    // lockdown); the probe tells that from missing privileges.
    const probe = mapTypeFeature(s.type).check();
    if (probe.supported === false && probe.refusedByPolicy) {
      throw new NotSupportedError(`${label}: map type ${mapTypeName(s.type)}`, undefined, { errno, detail: probe.reason });
    }
  }
  if (errno === Errno.EINVAL || errno === Errno.ENOTSUPP || errno === Errno.EOPNOTSUPP) {
    // find_and_alloc_map() answers an unknown type with EINVAL, like bad sizes: ask the probe.
    const probe = mapTypeFeature(s.type).check();
    if (probe.supported === false) {
      // The probe's reason names the config option to check, or the one left out.
      const since = probe.missingConfig === undefined ? (probe.minimumVersion ?? mapTypeSince[s.type]) : undefined;
      const what = s.type in MapType ? `map type ${mapTypeName(s.type)}` : mapTypeName(s.type);
      throw new NotSupportedError(`${label}: ${what}`, since, { errno, detail: probe.reason });
    }
  }
  throw bpfError(MapCreate, errno, attr, pointers, ctx);
}

function readInfo(fd: number, label: string): MapInfo {
  const bytes = objGetInfoByFd(fd, MapInfoLayout.size, [], { context: `info of ${label}` });
  const raw = decodeStruct(MapInfoLayout, bytes);
  return {
    id: raw.id as number,
    type: raw.type as MapType,
    name: raw.name as string,
    keySize: raw.key_size as number,
    valueSize: raw.value_size as number,
    maxEntries: raw.max_entries as number,
    flags: raw.map_flags as number,
    ifindex: raw.ifindex as number,
    btfId: raw.btf_id as number,
    btfKeyTypeId: raw.btf_key_type_id as number,
    btfValueTypeId: raw.btf_value_type_id as number,
    btfVmlinuxValueTypeId: raw.btf_vmlinux_value_type_id as number,
    mapExtra: raw.map_extra as bigint,
    netnsDev: raw.netns_dev as bigint,
    netnsIno: raw.netns_ino as bigint,
  };
}

/**
 * Every map loaded in the kernel, as `bpftool map show` lists them: ids from
 * `BPF_MAP_GET_NEXT_ID`, then an fd per id for its info (each fd closed again). Maps that
 * vanish while listing are left out.
 *
 * Minimum kernel: 4.13. Needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * for (const m of listMaps()) console.log(m.id, m.name, MapType[m.type]);
 * ```
 */
export function listMaps(): MapInfo[] {
  const out: MapInfo[] = [];
  for (const id of objectIds('map')) {
    let fd: number;
    try {
      fd = fdById('map', id, { context: `open map id ${id}` });
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOENT) continue;
      throw err;
    }
    try {
      out.push(readInfo(fd, `map id ${id}`));
    } finally {
      backend().close(fd);
    }
  }
  return out;
}
