/**
 * struct_ops maps as kernel objects: creating one for the running kernel's struct, writing its
 * value (element 0) once its programs are loaded, and unregistering a map the update
 * registered.
 *
 * What writing the value does depends on how the map was created (kernel/bpf/bpf_struct_ops.c):
 * - a `.struct_ops` map (no flags, 5.6+): the update registers the implementation with its
 *   subsystem (a TCP congestion control appears in tcp_available_congestion_control), and the
 *   registered map holds a reference to itself, so closing every fd does not unregister it:
 *   deleting element 0 does (5.6+);
 * - a `.struct_ops.link` map (`BPF_F_LINK`, 6.4+): the update only makes the value ready; a
 *   struct_ops link registers it (attachStructOps) and closing the link unregisters it.
 * A value is written once: the kernel answers EBUSY to a second update.
 *
 * @module
 */
import { exit, mov64Imm } from './asm/builder.js';
import { Register } from './asm/register.js';
import type { ELFMapSpec } from './elf/specs.js';
import { BpfError, NotSupportedError, SyscallError } from './errors.js';
import { BPF_F_LINK } from './internal/flags.js';
import { BpfMap } from './map.js';
import { Errno } from './sys/errno.js';
import { kernelVersion } from './sys/kernel-version.js';
import { StructOpsError, type StructOpsTarget } from './struct-ops-layout.js';
import { Program } from './prog.js';
import { MapType, ProgramType } from './types.js';

/** The key of a struct_ops map's one element. */
function zeroKey(): Uint8Array {
  return new Uint8Array(4);
}

/** The struct a struct_ops map implements, from its kernel type name, for messages. */
function structLabel(target: StructOpsTarget): string {
  return `struct ${target.type.name}`;
}

/**
 * Creates the map of a struct_ops spec for the running kernel: value size and
 * `btf_vmlinux_value_type_id` from `target`, `BPF_F_LINK` for `.struct_ops.link` maps.
 * `btfFd` is the object's loaded BTF: map_create() insists on one even though the value type
 * is the kernel's.
 *
 * Minimum kernel: 5.6; `.struct_ops.link` maps 6.4.
 *
 * @example
 * ```ts
 * const map = createStructOpsMap(spec.maps.my_cc, structOpsTarget('my_cc', 'tcp_congestion_ops', kernel), btf.fd);
 * ```
 * @throws {@link NotSupportedError} for a `.struct_ops.link` map before 6.4, or a kernel
 * without struct_ops; {@link StructOpsError} without object BTF; {@link SyscallError}
 * otherwise.
 */
export function createStructOpsMap(m: ELFMapSpec, target: StructOpsTarget, btfFd: number | undefined, noBTFReason?: string): BpfMap {
  const link = ((m.flags ?? 0) & BPF_F_LINK) !== 0;
  if (btfFd === undefined) {
    throw new StructOpsError(m.name, undefined, `the kernel needs the object's BTF to create a struct_ops map, and it was not loaded (${noBTFReason ?? 'the object has no BTF'})`);
  }
  const create = (): BpfMap =>
    BpfMap.create(
      { name: m.name, type: MapType.StructOps, keySize: 4, valueSize: target.valueSize, maxEntries: 1, flags: m.flags ?? 0 },
      { btfFd, btfVmlinuxValueTypeId: target.valueTypeId },
    );
  try {
    try {
      return create();
    } catch (err) {
      // ENOTSUPP: "no struct_ops with this value type". On 5.10 the kernel learns its struct_ops
      // value type ids only when it parses its own BTF (bpf_struct_ops_init() from
      // btf_parse_vmlinux()), which it does lazily, at the verifier's first run
      // (bpf_get_btf_vmlinux()): before any program was loaded since boot, every id is unknown.
      if (!(err instanceof BpfError) || err.errno !== Errno.ENOTSUPP) throw err;
      runVerifierOnce();
      return create();
    }
  } catch (err) {
    // bpf_struct_ops_map_alloc_check() refused every map_flags bit until 6.4 ("bpf: Create
    // links for BPF struct_ops maps" added BPF_F_LINK).
    if (link && err instanceof BpfError && err.errno === Errno.EINVAL && !kernelVersion().atLeast('6.4')) {
      throw new NotSupportedError(`struct_ops map ${m.name} in ${m.sectionName} (BPF_F_LINK, registered through a struct_ops link)`, '6.4', {
        errno: Errno.EINVAL,
        cause: err,
        detail: `move it to SEC(".struct_ops") to register it with the map update on this kernel`,
      });
    }
    throw err;
  }
}

/** Loads and closes a trivial program, so the kernel has parsed its BTF (see createStructOpsMap). */
function runVerifierOnce(): void {
  try {
    Program.load({ name: 'struct_ops_btf', type: ProgramType.SocketFilter, license: 'GPL', instructions: [mov64Imm(Register.R0, 0), exit()] }).close();
  } catch {
    // The retry then fails as before, with the kernel's answer.
  }
}

/**
 * Writes the value of a struct_ops map (element 0). For a map created without `BPF_F_LINK`
 * this registers it with its subsystem; for a `.struct_ops.link` map it makes the value ready
 * for `attachStructOps(map)`.
 *
 * Minimum kernel: 5.6.
 *
 * @example
 * ```ts
 * writeStructOps(map, 'my_cc', target, structOpsValue('my_cc', spec, type, target, fdOf, 'little'));
 * ```
 * @throws {@link StructOpsError} with the kernel's errno explained: EEXIST (a registered
 * implementation already has the name), EBUSY (the value was written before), EINVAL (a
 * member the subsystem refuses, a program loaded for another member), ENOTSUPP.
 */
export function writeStructOps(map: BpfMap, name: string, target: StructOpsTarget, value: Uint8Array): void {
  try {
    map.update(zeroKey(), value);
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    const errno = err.errno ?? 0;
    const registers = (map.flags & BPF_F_LINK) === 0;
    let why: string;
    switch (errno) {
      case Errno.EEXIST:
        // bpf_tcp_ca_init_member() (and tcp_register_congestion_control()) refuse a name in use.
        why = `an implementation of ${structLabel(target)} with the same name is registered already: unregister it, or give this one another name`;
        break;
      case Errno.EBUSY:
        why = 'its value was written before, and a struct_ops value is written only once: load the object again for a new one';
        break;
      case Errno.EINVAL:
        why =
          `${structLabel(target)} refused the value: a data member it does not accept, a name with characters other than [A-Za-z0-9_.], ` +
          'a required function left NULL (tcp_congestion_ops needs ssthresh, undo_cwnd and cong_avoid or cong_control), ' +
          'or a program loaded for another member or struct';
        break;
      case Errno.ENOTSUPP:
      case Errno.EOPNOTSUPP:
        why = `this kernel cannot implement a function of ${structLabel(target)} the object sets in BPF`;
        break;
      case Errno.EPERM:
        why = 'refused by the kernel (needs CAP_BPF and CAP_NET_ADMIN or CAP_SYS_ADMIN; a kernel lockdown refuses the BPF trampolines struct_ops runs on)';
        break;
      default:
        why = err.message;
    }
    throw new StructOpsError(name, undefined, `${registers ? 'registering it (the map update)' : 'writing its value'} failed with ${err.message}: ${why}`, { cause: err });
  }
}

/**
 * Unregisters a struct_ops map that its update registered (created without `BPF_F_LINK`) by
 * deleting element 0. Returns false when it was not registered (never written, or already
 * unregistered).
 *
 * Minimum kernel: 5.6.
 *
 * @example
 * ```ts
 * unregisterStructOps(coll.maps.my_cc); // the congestion control disappears
 * ```
 * @throws {@link StructOpsError} for a `.struct_ops.link` map (close its link instead);
 * {@link SyscallError} otherwise.
 */
export function unregisterStructOps(map: BpfMap): boolean {
  if ((map.flags & BPF_F_LINK) !== 0) {
    throw new StructOpsError(map.name, undefined, 'it is registered through a struct_ops link: close (or detach) the link to unregister it');
  }
  try {
    return map.delete(zeroKey());
  } catch (err) {
    // bpf_struct_ops_map_delete_elem(): EINPROGRESS while an earlier delete is still
    // unregistering it.
    if (err instanceof SyscallError && err.errno === EINPROGRESS) return false;
    throw err;
  }
}

/** EINPROGRESS (not in sys/errno's table). */
const EINPROGRESS = 115;

/** True for struct_ops maps whose update registers them (no `BPF_F_LINK`). */
export function registersOnUpdate(map: BpfMap): boolean {
  return map.type === MapType.StructOps && (map.flags & BPF_F_LINK) === 0;
}
