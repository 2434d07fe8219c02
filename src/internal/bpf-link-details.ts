/**
 * The parts of `struct bpf_link_info` that say where a link is attached for the link types
 * whose members the library's LinkInfo does not decode: cgroup, iter, netns, xdp,
 * struct_ops, netfilter, tcx, netkit and sockmap links. Offsets are the UAPI union's: it
 * starts at 16 (8-aligned after type, id and prog_id).
 *
 * @module
 */
import { dataView, hostLittleEndian } from './bytes.js';
import { fdById, objGetInfoByFd } from '../sys/commands.js';
import { backend } from '../sys/select.js';

/** `enum bpf_link_type` values of the links decoded here. */
const Cgroup = 3;
const Iter = 4;
const NetNs = 5;
const XDP = 6;
const StructOps = 9;
const Netfilter = 10;
const TCX = 11;
const Netkit = 13;
const Sockmap = 14;

/** Where a link is attached: the UAPI members, camel-cased (`cgroupId`, `ifindex`, …). */
export type LinkDetails = Readonly<Record<string, number | bigint | string>>;

// Iterator target names ("bpf_map_elem", "task") are short; the kernel reports the length anyway.
const ITER_NAME_MAX = 64;

/**
 * The type-specific members of link `id` of type `type`, or undefined for a type not decoded
 * here (or a link gone meanwhile).
 */
export function linkDetails(id: number, type: number): LinkDetails | undefined {
  if (![Cgroup, Iter, NetNs, XDP, StructOps, Netfilter, TCX, Netkit, Sockmap].includes(type)) return undefined;
  let fd: number;
  try {
    fd = fdById('link', id);
  } catch {
    return undefined;
  }
  try {
    const name = new Uint8Array(ITER_NAME_MAX);
    const input = new Uint8Array(64);
    const pointers: (number | Uint8Array)[] = [];
    if (type === Iter) {
      // target_name at 16 with its buffer length at 24.
      dataView(input).setUint32(24, name.byteLength, hostLittleEndian);
      pointers.push(16, name);
    }
    const info = objGetInfoByFd(fd, 64, pointers, { context: `info of link id ${id}` }, input);
    const v = dataView(info);
    const u32 = (at: number): number => v.getUint32(at, hostLittleEndian);
    switch (type) {
      case Cgroup:
        return { cgroupId: v.getBigUint64(16, hostLittleEndian), attachType: u32(24) };
      case Iter: {
        const nul = name.indexOf(0);
        const targetName = new TextDecoder().decode(name.subarray(0, nul < 0 ? name.length : nul));
        // The target decides which member of the nested unions means anything.
        if (targetName === 'cgroup') return { targetName, cgroupId: v.getBigUint64(32, hostLittleEndian), order: u32(40) };
        if (targetName.startsWith('task')) return { targetName, tid: u32(32), pid: u32(36) };
        return u32(28) === 0 ? { targetName } : { targetName, mapId: u32(28) };
      }
      case NetNs:
        return { netnsIno: u32(16), attachType: u32(20) };
      case XDP:
        return { ifindex: u32(16) };
      case StructOps:
        return { mapId: u32(16) };
      case Netfilter:
        return { pf: u32(16), hooknum: u32(20), priority: v.getInt32(24, hostLittleEndian), flags: u32(28) };
      case Sockmap:
        return { mapId: u32(16), attachType: u32(20) };
      default: // TCX, Netkit
        return { ifindex: u32(16), attachType: u32(20) };
    }
  } catch {
    return undefined;
  } finally {
    backend().close(fd);
  }
}
