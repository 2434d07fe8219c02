/**
 * Registering struct_ops maps with their kernel subsystem: `attachStructOps(map)`.
 *
 * - A `.struct_ops.link` map (`BPF_F_LINK`, 6.4) is registered by a struct_ops link
 *   (BPF_LINK_CREATE with the map's fd and BPF_STRUCT_OPS); closing the link unregisters it, and
 *   `Link.update(newMap)` swaps in another map of the same struct.
 * - A `.struct_ops` map (5.6) was registered when its value was written (`loadCollection` does
 *   that once its programs are loaded). The {@link Link} returned for it is an `attachment`
 *   holding a copy of the map's fd; closing it deletes element 0, which unregisters the map.
 *
 * @module
 */
import { ArgumentError, SyscallError } from '../errors.js';
import { Feature, notSupported, Supported, unknown } from '../features/feature.js';
import { dupOwned } from '../internal/fd.js';
import { BPF_F_LINK } from '../internal/flags.js';
import { BpfMap } from '../map.js';
import { unregisterStructOps } from '../struct-ops.js';
import { encodeAttr, hostLittleEndian } from '../sys/attr.js';
import { bpfCall, bpfRaw } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate, MapCreate } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { AttachType, MapType, mapTypeName } from '../types.js';
import { errnoName } from '../errors.js';
import { Link } from './link.js';

/**
 * struct_ops links: `BPF_F_LINK` struct_ops maps and BPF_LINK_CREATE with BPF_STRUCT_OPS, which
 * arrived together in Linux 6.4 ("bpf: Create links for BPF struct_ops maps"). Probed with
 * MAP_CREATE of a `BPF_F_LINK` STRUCT_OPS map whose value type id (1, an integer in every
 * vmlinux) is no struct_ops type: a kernel that knows the flag gets past
 * bpf_struct_ops_map_alloc_check() and answers ENOTSUPP from bpf_struct_ops_map_alloc(); older
 * ones refuse any map flag there with EINVAL. Nothing is created either way.
 *
 * @example
 * ```ts
 * structOpsLinkFeature.require(); // NotSupportedError naming 6.4 on older kernels
 * ```
 */
export const structOpsLinkFeature = new Feature('struct_ops link (.struct_ops.link maps, BPF_LINK_CREATE with BPF_STRUCT_OPS)', '6.4', () => {
  const { attr, pointers } = encodeAttr(MapCreate, {
    map_type: MapType.StructOps,
    key_size: 4,
    value_size: 4,
    max_entries: 1,
    map_flags: BPF_F_LINK,
    btf_vmlinux_value_type_id: 1,
  });
  const r = bpfRaw(MapCreate, attr, pointers);
  if (r >= 0) {
    backend().close(r);
    return Supported;
  }
  const errno = -r;
  if (errno === Errno.ENOTSUPP || errno === Errno.EOPNOTSUPP) return Supported;
  if (errno === Errno.EINVAL || errno === Errno.E2BIG) return notSupported(`BPF_MAP_CREATE refuses BPF_F_LINK for STRUCT_OPS (${errnoName(errno)})`, '6.4');
  return unknown(`BPF_MAP_CREATE of a STRUCT_OPS probe answered ${errnoName(errno)}`);
}, { perBoot: 'kernel' });

/** `state` of `struct bpf_struct_ops_common_value` (after the 4-byte refcount). */
const enum StructOpsState {
  Init = 0,
  InUse = 1,
  ToBeFree = 2,
  Ready = 3,
}

/** The state the kernel reports for a struct_ops map's value, or undefined when it cannot be read. */
function structOpsState(map: BpfMap): StructOpsState | undefined {
  try {
    // bpf_struct_ops_map_sys_lookup_elem() (5.6) copies the value with its common header.
    const value = map.lookup(new Uint8Array(4));
    if (value === undefined || value.length < 8) return undefined;
    return new DataView(value.buffer, value.byteOffset, value.length).getUint32(4, hostLittleEndian) as StructOpsState;
  } catch {
    return undefined;
  }
}

/**
 * Registers a struct_ops map with its subsystem and returns the {@link Link} that holds the
 * registration: closing it unregisters (a TCP congestion control disappears from
 * tcp_available_congestion_control).
 *
 * For a `.struct_ops.link` map this creates a struct_ops link; `link.update(otherMap)` then
 * swaps in another `.struct_ops.link` map of the same struct. A `.struct_ops` map was
 * registered already when `loadCollection` wrote its value: the link returned for it takes over
 * the unregistration (an `attachment` without a bpf_link, so no `info()`, `pin()` or
 * `update()`).
 *
 * Minimum kernel: 5.6 for `.struct_ops` maps; 6.4 for `.struct_ops.link` maps.
 *
 * @example
 * ```ts
 * const coll = await loadCollection('my_cc.bpf.o');
 * using link = attachStructOps(coll.maps.my_cc); // SEC(".struct_ops.link")
 * link.update(coll.maps.my_cc_v2);
 * ```
 * @throws {@link ArgumentError} for a map that is not a struct_ops map, or one whose value was
 * never written or was unregistered; `NotSupportedError` for struct_ops links before 6.4;
 * {@link SyscallError} explained: EEXIST (an implementation of that name is registered), EINVAL.
 */
export function attachStructOps(map: BpfMap): Link {
  if (!(map instanceof BpfMap)) throw new ArgumentError('attachStructOps takes a BpfMap');
  if (map.type !== MapType.StructOps) {
    throw new ArgumentError(`attachStructOps: map ${map.name} is a ${mapTypeName(map.type)} map, not a struct_ops map (SEC(".struct_ops") or SEC(".struct_ops.link"))`);
  }
  const what = `struct_ops ${map.name}`;
  if ((map.flags & BPF_F_LINK) !== 0) {
    // No probe: the kernel made this map with BPF_F_LINK, which only kernels with struct_ops
    // links accept (and a probe here, at attach time, would lack the load's BPF token).
    const fd = bpfCall(
      LinkCreate,
      { map_fd: map.fd, attach_type: AttachType.StructOps },
      {
        context: `attach ${what}`,
        explain: (errno) => {
          // bpf_struct_ops_link_create(): the map must be a BPF_F_LINK map in state READY.
          if (errno === Errno.EINVAL) return `the map's value was not written (loadCollection writes it after loading the programs; a map you created needs update(0, value) first), or it is registered by another link already`;
          if (errno === Errno.EEXIST) return `an implementation with the same name is registered already: close its link or unregister it first`;
          return undefined;
        },
      },
    );
    return Link.adopt({ fd, mode: 'bpf-link', what });
  }
  const state = structOpsState(map);
  if (state === StructOpsState.Init) {
    throw new ArgumentError(`attachStructOps: map ${map.name} has no value yet: a .struct_ops map is registered by writing its value, which loadCollection does once its programs are loaded`);
  }
  if (state === StructOpsState.ToBeFree) {
    throw new ArgumentError(`attachStructOps: map ${map.name} was unregistered, and a struct_ops map registers only once: load the object again`);
  }
  // Our own copy of the fd: the collection may close the map before the link.
  const dup = dupOwned(map.fd, `map ${map.name}`);
  let own: BpfMap;
  try {
    own = BpfMap.fromFd(dup);
  } catch (err) {
    backend().close(dup);
    throw err;
  }
  return Link.adopt({
    fd: -1,
    mode: 'attachment',
    what,
    cleanup: () => {
      try {
        unregisterStructOps(own);
      } finally {
        own.close();
      }
    },
  });
}

/**
 * Registers every struct_ops map of `maps` ({@link attachStructOps}), for a collection's
 * `attachAll()`: the links by map name. If one fails, the links made so far are closed and the
 * error is thrown. Other maps are ignored.
 *
 * Minimum kernel: as {@link attachStructOps}.
 *
 * @example
 * ```ts
 * const links = attachStructOpsMaps(coll.maps); // { my_cc: Link }
 * ```
 * @throws what {@link attachStructOps} throws.
 */
export function attachStructOpsMaps(maps: Readonly<Record<string, BpfMap>>): Record<string, Link> {
  const made: Record<string, Link> = {};
  try {
    for (const [name, map] of Object.entries(maps)) {
      if (map.type === MapType.StructOps) made[name] = attachStructOps(map);
    }
  } catch (err) {
    for (const link of Object.values(made)) link.close();
    throw err;
  }
  return made;
}
