/**
 * Reading `BPF_MAP_TYPE_STACK_TRACE` maps: what `bpf_get_stackid()` stored under the id it
 * returned to the program.
 *
 * A value is a fixed-size array (the map's `valueSize`) filled from the top of the stack: the
 * interrupted instruction first, then return addresses, the unused tail zeroed
 * (stack_map_get_build_id_offset() and __bpf_get_stackid() copy the frames and clear the
 * rest). With `BPF_F_STACK_BUILD_ID` each frame is a `struct bpf_stack_build_id` instead:
 * the build id of the file the address is in and the offset into it, so that another machine
 * can symbolise it, or the raw address when the kernel could not read a build id.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { hostLittleEndian } from '../sys/attr.js';
import { MapType, mapTypeName } from '../types.js';
import { dataView } from '../internal/bytes.js';
import { BPF_F_STACK_BUILD_ID } from '../internal/flags.js';
import type { BpfMap, MapValue } from '../map.js';
// For {@link} in doc comments only.
import type { Symbolizer } from './symbolizer.js';

/** `sizeof(struct bpf_stack_build_id)`: `s32 status; u8 build_id[20]; union { u64 offset; u64 ip; }`. */
export const BPF_STACK_BUILD_ID_SIZE = 32;
/** `BPF_BUILD_ID_SIZE`: bytes of a build id (a SHA-1 note). */
const BUILD_ID_BYTES = 20;
/** Offset of the `offset`/`ip` union in `struct bpf_stack_build_id` (aligned to 8). */
const BUILD_ID_OFFSET_AT = 24;

// `enum bpf_stack_build_id_status`.
const BPF_STACK_BUILD_ID_EMPTY = 0;
const BPF_STACK_BUILD_ID_VALID = 1;
const BPF_STACK_BUILD_ID_IP = 2;

/** A build-id frame with `BPF_STACK_BUILD_ID_VALID`: the file and the offset into it. */
export interface BuildIdFileFrame {
  /** The kernel read the file's build id. */
  readonly status: 'valid';
  /** The build id, in hex as `readelf -n` prints it (20 bytes; shorter ids are zero-padded). */
  readonly buildId: string;
  /** The offset into that file. */
  readonly offset: bigint;
}

/** A build-id frame with `BPF_STACK_BUILD_ID_IP`: the kernel could not read a build id (a kernel address, a file without one, a page not in memory). */
export interface BuildIdAddressFrame {
  /** No build id: the address instead. */
  readonly status: 'ip';
  /** The address. */
  readonly ip: bigint;
}

/** One frame of a build-id stack (`struct bpf_stack_build_id`). */
export type BuildIdFrame = BuildIdFileFrame | BuildIdAddressFrame;

function checkMap(map: BpfMap<MapValue>, buildIds: boolean): void {
  if (map.type !== MapType.StackTrace) {
    throw new ArgumentError(`map ${map.name} is a ${mapTypeName(map.type)} map, not a STACK_TRACE map (BPF_MAP_TYPE_STACK_TRACE)`);
  }
  const hasFlag = (map.flags & BPF_F_STACK_BUILD_ID) !== 0;
  if (hasFlag && !buildIds) {
    throw new ArgumentError(`map ${map.name} stores build ids (BPF_F_STACK_BUILD_ID), not addresses: read it with buildIdStackTrace()`);
  }
  if (!hasFlag && buildIds) {
    throw new ArgumentError(`map ${map.name} stores addresses (no BPF_F_STACK_BUILD_ID): read it with stackTrace()`);
  }
}

function checkId(map: BpfMap<MapValue>, id: number): Uint8Array {
  if (!Number.isSafeInteger(id) || id < 0) {
    // bpf_get_stackid() returns a negative errno when it stores nothing: -EFAULT (no stack to
    // walk, e.g. the user stack of a kernel thread), -EEXIST (the id's bucket holds another
    // stack and BPF_F_REUSE_STACKID was not given), -ENOMEM (map full).
    throw new ArgumentError(
      `stack id ${String(id)} of map ${map.name} is not an id: ${typeof id === 'number' && id < 0 ? 'a negative value is the error bpf_get_stackid() returned (-EFAULT: no stack, -EEXIST: bucket taken, -ENOMEM: map full)' : 'ids are non-negative integers'}`,
    );
  }
  const key = new Uint8Array(4);
  dataView(key).setUint32(0, id, hostLittleEndian);
  return key;
}

/**
 * The addresses of stack `id` in STACK_TRACE map `map`, innermost first (the sampled
 * instruction, then each caller), ending before the first zero; undefined when the map has no
 * such stack (never stored, deleted, or replaced: ids are hash buckets).
 *
 * Kernel stacks hold kernel addresses, user stacks (`BPF_F_USER_STACK`) addresses in the
 * process: symbolise them with a {@link Symbolizer}.
 *
 * Minimum kernel: 4.6 (STACK_TRACE maps).
 *
 * @example
 * ```ts
 * const frames = stackTrace(coll.maps.stacks, key.userStackId); // [0x5581…n, …]
 * ```
 * @throws {@link ArgumentError} for a map that is not STACK_TRACE or stores build ids, or an
 * id that is negative (the error bpf_get_stackid() returned) or not an integer;
 * {@link SyscallError} from the lookup.
 */
export function stackTrace(map: BpfMap<MapValue>, id: number): bigint[] | undefined {
  checkMap(map, false);
  const value = map.lookup(checkId(map, id)) as Uint8Array | undefined;
  if (value === undefined) return undefined;
  const view = dataView(value);
  const out: bigint[] = [];
  for (let at = 0; at + 8 <= value.length; at += 8) {
    const address = view.getBigUint64(at, hostLittleEndian);
    if (address === 0n) break;
    out.push(address);
  }
  return out;
}

/**
 * The frames of stack `id` in a STACK_TRACE map created with `BPF_F_STACK_BUILD_ID`,
 * innermost first, ending before the first empty one; undefined when the map has no such
 * stack. A `valid` frame names the file by its build id (as `readelf -n` prints it) and the
 * offset into it; an `ip` frame is an address the kernel could not map to a build id.
 *
 * Minimum kernel: 4.17 (BPF_F_STACK_BUILD_ID).
 *
 * @example
 * ```ts
 * for (const f of buildIdStackTrace(coll.maps.stacks, id) ?? []) {
 *   console.log(f.status === 'valid' ? `${f.buildId}+0x${f.offset.toString(16)}` : `0x${f.ip.toString(16)}`);
 * }
 * ```
 * @throws {@link ArgumentError} for a map that is not STACK_TRACE or stores addresses, or a
 * bad id (see {@link stackTrace}); {@link SyscallError} from the lookup.
 */
export function buildIdStackTrace(map: BpfMap<MapValue>, id: number): BuildIdFrame[] | undefined {
  checkMap(map, true);
  const value = map.lookup(checkId(map, id)) as Uint8Array | undefined;
  if (value === undefined) return undefined;
  const view = dataView(value);
  const out: BuildIdFrame[] = [];
  for (let at = 0; at + BPF_STACK_BUILD_ID_SIZE <= value.length; at += BPF_STACK_BUILD_ID_SIZE) {
    const status = view.getInt32(at, hostLittleEndian);
    if (status === BPF_STACK_BUILD_ID_EMPTY) break;
    const word = view.getBigUint64(at + BUILD_ID_OFFSET_AT, hostLittleEndian);
    if (status === BPF_STACK_BUILD_ID_VALID) {
      const buildId = Buffer.from(value.subarray(at + 4, at + 4 + BUILD_ID_BYTES)).toString('hex');
      out.push({ status: 'valid', buildId, offset: word });
    } else if (status === BPF_STACK_BUILD_ID_IP) {
      out.push({ status: 'ip', ip: word });
    } else {
      break; // a status this library does not know: stop rather than guess
    }
  }
  return out;
}
