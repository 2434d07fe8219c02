/**
 * tcx: SCHED_CLS programs on a network interface's ingress or egress path without a qdisc or
 * filter (Linux 6.6, "bpf: Add fd-based tcx multi-prog infra with link support"). The programs
 * of a hook form an ordered list (see `mprog.ts`): each returns TCX_NEXT (-1) to hand the
 * packet to the next one, or a verdict (TCX_PASS 0, TCX_DROP 2, TCX_REDIRECT 7) that ends the
 * list. Two ways in:
 *
 * - BPF_LINK_CREATE with BPF_TCX_INGRESS / BPF_TCX_EGRESS: a bpf_link owned by the process
 *   (closing it detaches; it can be pinned, updated, queried);
 * - BPF_PROG_ATTACH with the same attach types: the kernel holds the program until
 *   BPF_PROG_DETACH, as for the classic tc filters; the {@link Link} returned then has no fd
 *   and detaches in `close()`.
 *
 * Older kernels have only the classic path, a cls_bpf filter on a clsact qdisc: `attachTc`.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { resolveInterface } from '../internal/netdev.js';
import type { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { AttachType, ProgramType } from '../types.js';
import type { Link } from './link.js';
import { attachMprog, checkMprogArgs, encodePlacement, mprogLinkFeature, mprogMode, requireMprogFeature, type MprogPlacement } from './mprog.js';

/** Which path of the interface a tcx program sits on. */
export type TcxDirection = 'ingress' | 'egress';

/** Options of {@link attachTcx}. */
export interface TcxOptions extends MprogPlacement {
  /** The interface, by name (`eth0`) or index, in the calling thread's network namespace. */
  interface: string | number;
  /**
   * `ingress` (packets the interface receives) or `egress` (packets it sends). May be left out
   * for a program from a `tcx/ingress` or `tcx/egress` section, which says it.
   */
  direction?: TcxDirection;
  /**
   * `bpf-link` (default): a bpf_link that closing detaches. `attachment`: BPF_PROG_ATTACH, the
   * kernel holds the program until `close()` detaches it (BPF_PROG_DETACH), and nothing is
   * detached if the process dies first.
   */
  mode?: 'bpf-link' | 'attachment';
}

/**
 * tcx hooks (BPF_LINK_CREATE with BPF_TCX_INGRESS, Linux 6.6). Probed with ifindex 0, which no
 * interface has: a kernel with tcx looks the device up and answers ENODEV; older kernels do not
 * know the attach type (EINVAL from link_create()'s attach_type_to_prog_type() check). A kernel
 * built without CONFIG_NET_XGRESS has a stub that answers EINVAL as well; its config tells.
 *
 * @example
 * ```ts
 * if (!tcxFeature.supported()) console.log('tcx needs Linux 6.6: using attachTc');
 * ```
 */
export const tcxFeature = mprogLinkFeature('tcx', AttachType.TCXIngress, 'BPF_TCX_INGRESS', '6.6', 'CONFIG_NET_XGRESS');

function direction(prog: Program, options: TcxOptions): TcxDirection {
  const given = options.direction;
  if (given !== undefined) {
    if (given !== 'ingress' && given !== 'egress') throw new ArgumentError(`attachTcx: direction must be 'ingress' or 'egress', got ${JSON.stringify(given)}`);
    return given;
  }
  const loaded = prog.attachment.attachType;
  if (loaded === AttachType.TCXIngress) return 'ingress';
  if (loaded === AttachType.TCXEgress) return 'egress';
  throw new ArgumentError(`attachTcx: give direction ('ingress' or 'egress'): program ${prog.name} comes from no tcx/ingress or tcx/egress section that would say it`);
}

/**
 * Attaches a SCHED_CLS program to the ingress or egress path of a network interface with tcx,
 * after the programs already there unless `before` / `after` say otherwise. Anchors are an
 * attached {@link Program}, a {@link Link}, `{ programId }`, `{ linkId }`, or `'all'`;
 * `expectedRevision` makes the attach fail (ESTALE) if the hook changed since it was read.
 * The program's return value decides what happens to the packet: TCX_NEXT (-1) runs the next
 * program, TCX_PASS (0), TCX_DROP (2) and TCX_REDIRECT (7) end the list.
 *
 * Interfaces are looked up in the network namespace of the calling thread: wrap the call in
 * `inNetns()` to attach in another one.
 *
 * Minimum kernel: 6.6. On older kernels use `attachTc` (cls_bpf).
 *
 * @example
 * ```ts
 * import { attachTcx } from 'ebpf-ts';
 * using first = attachTcx(coll.programs.count_udp, { interface: 'eth0', direction: 'ingress' });
 * using second = attachTcx(coll.programs.filter, { interface: 'eth0', direction: 'ingress', before: first });
 * ```
 * @throws {@link ArgumentError} for a program that is not SCHED_CLS, a direction, mode or
 * anchor that is not one, both `before` and `after`; {@link AttachTargetError} when the
 * interface does not exist; {@link NotSupportedError} before 6.6 (naming attachTc);
 * {@link SyscallError} when the kernel refuses, explained with what the hook holds now (EEXIST:
 * the program is there already; ENOENT/EBUSY: the anchor is not attached there, or not that
 * way; ESTALE: the revision moved on; ERANGE: 64 programs).
 */
export function attachTcx(prog: Program, options: TcxOptions): Link {
  checkMprogArgs(prog, options, 'attachTcx', 'SEC("tcx/ingress"), SEC("tcx/egress") or SEC("tc")', "{ interface (a name or an index), direction: 'ingress' | 'egress' }");
  const dir = direction(prog, options);
  const mode = mprogMode(options.mode, 'attachTcx');
  const placement = encodePlacement(options, ProgramType.SchedCls, 'attachTcx');
  const iface = resolveInterface(options.interface);
  requireMprogFeature(tcxFeature, 'tcx', 'attach the program with attachTc instead (a cls_bpf filter on a clsact qdisc, which every kernel since 4.5 has)');
  return attachMprog({
    prog,
    mode,
    ifindex: iface.index,
    attachType: dir === 'ingress' ? AttachType.TCXIngress : AttachType.TCXEgress,
    hook: `tcx ${dir} of ${iface.name}`,
    placement,
    explainDevice: (errno) => (errno === Errno.ENODEV ? `interface ${iface.name} (index ${iface.index}) disappeared before the attach` : undefined),
  });
}
