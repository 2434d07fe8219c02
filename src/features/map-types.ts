/**
 * Map type probes: one {@link Feature} per `BPF_MAP_TYPE_*`, each creating the smallest map
 * the type accepts. Also the probes for object names in `BPF_MAP_CREATE`.
 *
 * The kernel answers an unknown map type with EINVAL from `find_and_alloc_map()`, the same
 * errno a known type gives for bad sizes: so each probe must send attributes the type
 * accepts, or a kernel that has the type would look like one that lacks it. The per-type
 * rules below cite the kernel's `map_alloc_check` callbacks.
 *
 * @module
 */
import { bpfRaw } from '../sys/bpf.js';
import { encodeAttr, hostLittleEndian, type AttrValues } from '../sys/attr.js';
import { BtfLoad, MapCreate } from '../sys/layouts.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { MapType, mapTypeName, mapTypeSince } from '../types.js';
import { Feature, notSupported, notSupportedUnlessConfigured, permissionDenied, Supported, unknown, type FeatureResult } from './feature.js';
import { errnoName } from '../errors.js';
import { BPF_F_NO_PREALLOC, BPF_F_MMAPABLE } from '../internal/flags.js';
import { dataView } from '../internal/bytes.js';

/**
 * The kernel config option a map type depends on beyond `CONFIG_BPF_SYSCALL`, from
 * include/linux/bpf_types.h and the Makefiles that build each map's source file. A type that
 * is missing on a kernel new enough to have it was most likely configured out.
 */
export const mapTypeConfig: Readonly<Partial<Record<MapType, string>>> = {
  [MapType.PerfEventArray]: 'CONFIG_PERF_EVENTS',
  [MapType.StackTrace]: 'CONFIG_PERF_EVENTS',
  [MapType.CgroupArray]: 'CONFIG_CGROUPS',
  [MapType.CgroupStorage]: 'CONFIG_CGROUP_BPF',
  [MapType.PerCPUCgroupStorage]: 'CONFIG_CGROUP_BPF',
  [MapType.CgrpStorage]: 'CONFIG_CGROUPS',
  [MapType.DevMap]: 'CONFIG_NET',
  [MapType.DevMapHash]: 'CONFIG_NET',
  [MapType.CPUMap]: 'CONFIG_NET',
  [MapType.SKStorage]: 'CONFIG_NET',
  [MapType.XSKMap]: 'CONFIG_XDP_SOCKETS',
  [MapType.SockMap]: 'CONFIG_BPF_STREAM_PARSER (CONFIG_NET on 5.15+)',
  [MapType.SockHash]: 'CONFIG_BPF_STREAM_PARSER (CONFIG_NET on 5.15+)',
  [MapType.ReuseportSockarray]: 'CONFIG_INET',
  [MapType.InodeStorage]: 'CONFIG_BPF_LSM',
  [MapType.StructOps]: 'CONFIG_BPF_JIT and CONFIG_DEBUG_INFO_BTF',
  [MapType.Arena]: 'CONFIG_BPF_JIT and CONFIG_MMU on a 64-bit architecture',
};

/**
 * A minimal BTF blob with one type, `int` (id 1: signed, 32 bits), as the local storage maps
 * need: `bpf_local_storage_map_alloc_check()` insists on BTF key and value type ids and
 * `bpf_local_storage_map_check_btf()` on an int key. Hand-encoded so the probe does not
 * depend on the BTF package.
 */
export function minimalIntBTF(): Uint8Array {
  const strings = new TextEncoder().encode('\0int\0');
  const typeLen = 16; // struct btf_type (12) + the INT's u32 encoding word
  const headerLen = 24;
  const bytes = new Uint8Array(headerLen + typeLen + strings.length);
  const v = dataView(bytes);
  const le = hostLittleEndian; // BTF is loaded in host byte order
  v.setUint16(0, 0xeb9f, le); // magic
  v.setUint8(2, 1); // version
  v.setUint8(3, 0); // flags
  v.setUint32(4, headerLen, le); // hdr_len
  v.setUint32(8, 0, le); // type_off
  v.setUint32(12, typeLen, le); // type_len
  v.setUint32(16, typeLen, le); // str_off
  v.setUint32(20, strings.length, le); // str_len
  v.setUint32(24, 1, le); // name_off: "int"
  v.setUint32(28, 1 << 24, le); // info: kind BTF_KIND_INT (1), vlen 0
  v.setUint32(32, 4, le); // size
  v.setUint32(36, (1 << 24) | 32, le); // BTF_INT_SIGNED, offset 0, 32 bits
  bytes.set(strings, headerLen + typeLen);
  return bytes;
}

/**
 * Loads {@link minimalIntBTF} and returns its fd, or `-errno`. The caller closes the fd.
 */
export function loadMinimalIntBTF(): number {
  const blob = minimalIntBTF();
  const { attr, pointers } = encodeAttr(BtfLoad, { btf: blob, btf_size: blob.byteLength });
  return bpfRaw(BtfLoad, attr, pointers);
}

type CreateValues = AttrValues<keyof typeof MapCreate.fields>;

/** Creates a map from raw attr values and returns the fd or -errno. */
function rawCreate(values: CreateValues): number {
  const { attr, pointers } = encodeAttr(MapCreate, values);
  return bpfRaw(MapCreate, attr, pointers);
}

function closeFd(fd: number): void {
  if (fd >= 0) backend().close(fd);
}

/** The smallest attributes each map type accepts (without fds, which {@link probeMapType} adds). */
function probeAttrs(type: MapType): CreateValues {
  const base = { map_type: type, key_size: 4, value_size: 4, max_entries: 1 };
  switch (type) {
    case MapType.StackTrace:
      // stack_map_alloc(): value_size is a multiple of 8 (one u64 per frame).
      return { ...base, value_size: 8 };
    case MapType.LPMTrie:
      // trie_alloc(): key = 4-byte prefixlen + data, and only BPF_F_NO_PREALLOC.
      return { ...base, key_size: 8, map_flags: BPF_F_NO_PREALLOC };
    case MapType.CgroupStorage:
    case MapType.PerCPUCgroupStorage:
      // cgroup_storage_map_alloc(): key is struct bpf_cgroup_storage_key (16 bytes), max_entries 0.
      return { ...base, key_size: 16, max_entries: 0 };
    case MapType.Queue:
    case MapType.Stack:
    case MapType.BloomFilter:
      // queue_stack_map_alloc_check(), bloom_map_alloc(): key_size must be 0.
      return { ...base, key_size: 0 };
    case MapType.RingBuf:
    case MapType.UserRingBuf:
      // ringbuf_map_alloc(): no key/value, max_entries a power-of-2 multiple of the page size;
      // 64 KiB is one for 4K, 16K and 64K pages alike.
      return { ...base, key_size: 0, value_size: 0, max_entries: 1 << 16 };
    case MapType.Arena:
      // arena_map_alloc(): no key/value, max_entries pages, BPF_F_MMAPABLE required.
      return { ...base, key_size: 0, value_size: 0, map_flags: BPF_F_MMAPABLE };
    case MapType.StructOps:
      // Type id 1 of vmlinux BTF is some integer type, never a struct_ops value: a kernel
      // that has STRUCT_OPS passes bpf_struct_ops_map_alloc_check() and then answers ENOTSUPP
      // from bpf_struct_ops_map_alloc() ("no struct_ops with that value type"); one without
      // it answers EINVAL from find_and_alloc_map().
      return { ...base, btf_vmlinux_value_type_id: 1 };
    case MapType.SKStorage:
    case MapType.InodeStorage:
    case MapType.TaskStorage:
    case MapType.CgrpStorage:
      // bpf_local_storage_map_alloc_check(): int key, max_entries 0, BPF_F_NO_PREALLOC, BTF.
      return { ...base, max_entries: 0, map_flags: BPF_F_NO_PREALLOC, btf_key_type_id: 1, btf_value_type_id: 1 };
    default:
      return base;
  }
}

/** Classifies a MAP_CREATE errno for a probe of `type`. */
function classify(type: MapType, errno: number): FeatureResult {
  const name = `map type ${mapTypeName(type)}`;
  if (type === MapType.StructOps && (errno === Errno.ENOTSUPP || errno === Errno.EOPNOTSUPP)) return Supported;
  switch (errno) {
    case Errno.EINVAL:
    case Errno.E2BIG: // an attr field (btf, map_extra) older kernels do not know
    case Errno.ENOTSUPP:
    case Errno.EOPNOTSUPP: {
      const why = type === MapType.Arena && errno !== Errno.EINVAL ? '; the BPF JIT lacks arena support' : '';
      return notSupportedUnlessConfigured(`BPF_MAP_CREATE of ${name} answered ${errnoName(errno)}${why}`, mapTypeSince[type], mapTypeConfig[type]);
    }
    case Errno.EPERM:
      return permissionDenied(`BPF_MAP_CREATE of ${name}`);
    default:
      return unknown(`BPF_MAP_CREATE of ${name} answered ${errnoName(errno)}`);
  }
}

/** Runs the probe for `type`: creates and closes the smallest map of that type. */
function probeMapType(type: MapType): FeatureResult {
  const values: Record<string, unknown> = { ...probeAttrs(type) };
  const extraFds: number[] = [];
  try {
    if (type === MapType.ArrayOfMaps || type === MapType.HashOfMaps) {
      // bpf_map_meta_alloc() needs an inner map to copy the template from.
      const inner = rawCreate({ map_type: MapType.Array, key_size: 4, value_size: 4, max_entries: 1 });
      if (inner < 0) return unknown(`cannot create the inner ARRAY map: ${errnoName(-inner)}`);
      extraFds.push(inner);
      values.inner_map_fd = inner;
    }
    if (values.btf_key_type_id !== undefined) {
      const btf = loadMinimalIntBTF();
      if (btf < 0) {
        if (btf === -Errno.EPERM) return permissionDenied('BPF_BTF_LOAD');
        // No BTF_LOAD (before 4.18) means no local storage either (5.2+).
        return notSupported(`BPF_BTF_LOAD failed (${errnoName(-btf)}), which local storage maps need`, mapTypeSince[type]);
      }
      extraFds.push(btf);
      values.btf_fd = btf;
    }
    const fd = rawCreate(values as CreateValues);
    if (fd >= 0) {
      closeFd(fd);
      return Supported;
    }
    return classify(type, -fd);
  } finally {
    for (const fd of extraFds) closeFd(fd);
  }
}

const mapTypeFeatures = new Map<MapType, Feature>();

/**
 * The probe for a map type: does the running kernel have `BPF_MAP_TYPE_<type>`?
 * Answers supported, not supported (with the first kernel version that has the type and, for
 * types gated by a config option, which option to check), or unknown (EPERM: not enough
 * privileges to ask). Conclusive answers are cached per process and kept for later processes of
 * the boot (`EBPF_TS_NO_PROBE_CACHE=1` turns that off).
 *
 * `STRUCT_OPS` is probed through the errno of a deliberately wrong value type (see the code);
 * local storage maps load a one-type BTF blob.
 *
 * Minimum kernel: each type's own ({@link mapTypeSince}).
 *
 * @example
 * ```ts
 * if (mapTypeFeature(MapType.RingBuf).supported()) useRingBuffer();
 * mapTypeFeature(MapType.Arena).require(); // throws NotSupportedError before 6.9
 * ```
 */
export function mapTypeFeature(type: MapType): Feature {
  let f = mapTypeFeatures.get(type);
  if (f === undefined) {
    if (!(type in mapTypeSince) || type === MapType.Unspec) {
      f = new Feature(`map type ${mapTypeName(type)}`, undefined, () =>
        notSupported(`${mapTypeName(type)} is not a map type this library knows`),
      );
    } else {
      f = new Feature(`map type ${mapTypeName(type)}`, mapTypeSince[type], () => probeMapType(type), { perBoot: 'kernel' });
    }
    mapTypeFeatures.set(type, f);
  }
  return f;
}

/** Forgets every cached map type answer (tests). */
export function resetMapTypeFeatures(): void {
  for (const f of mapTypeFeatures.values()) f.reset();
  mapNameFeature.reset();
  mapNameDotFeature.reset();
}

function probeName(name: string, since: string, what: string): FeatureResult {
  const fd = rawCreate({ map_type: MapType.Array, key_size: 4, value_size: 4, max_entries: 1, map_name: name });
  if (fd >= 0) {
    closeFd(fd);
    return Supported;
  }
  // Before 4.15 map_name lies beyond the kernel's attr: bpf_check_uarg_tail_zero() → E2BIG.
  // Before 5.2 bpf_obj_name_cpy() rejects '.' with EINVAL.
  if (fd === -Errno.E2BIG || fd === -Errno.EINVAL) return notSupported(`${what}: BPF_MAP_CREATE answered ${errnoName(-fd)}`, since);
  return unknown(`${what}: BPF_MAP_CREATE answered ${errnoName(-fd)}`);
}

/** Does `BPF_MAP_CREATE` accept `map_name`? (4.15+) */
export const mapNameFeature = new Feature('map names', '4.15', () => probeName('feature_probe', '4.15', 'map names'), { perBoot: 'kernel', versionSuffices: true });

/**
 * Do object names accept `.`? (5.2+, kernel commit "bpf: allow . char as part of the object
 * name"); libbpf names global data maps `.rodata`, `.bss`.
 */
export const mapNameDotFeature = new Feature('"." in object names', '5.2', () =>
  probeName('.probe', '5.2', '"." in object names'),
  { perBoot: 'kernel', versionSuffices: true },
);
