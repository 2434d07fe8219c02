/**
 * netkit: a pair of network devices, like veth, whose packet path is programmable from both
 * ends (Linux 6.7, "netkit, bpf: Add bpf programmable net device"). Programs are managed
 * through the primary device only (the end that stays in the host namespace):
 *
 * - BPF_NETKIT_PRIMARY programs run for packets the primary device transmits (towards the
 *   peer);
 * - BPF_NETKIT_PEER programs run for packets the peer transmits (from inside the container
 *   namespace), before they reach the primary; the peer's side cannot detach them.
 *
 * Each side is a multi-program hook like tcx (see `mprog.ts`): anchors, revisions, NETKIT_NEXT
 * (-1) to go on, NETKIT_PASS (0), NETKIT_DROP (2) or NETKIT_REDIRECT (7) to decide; with no
 * program the device's default policy applies. Programs attach through BPF_LINK_CREATE or,
 * without a link, BPF_PROG_ATTACH.
 *
 * @module
 */
import { ArgumentError, AttachTargetError, SyscallError } from '../errors.js';
import { resolveInterface } from '../internal/netdev.js';
import type { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { AttachType, ProgramType } from '../types.js';
import type { Link } from './link.js';
import { attachMprog, checkMprogArgs, encodePlacement, mprogLinkFeature, mprogMode, requireMprogFeature, type MprogPlacement } from './mprog.js';
import type { attachTcx } from './tcx.js';

/** Options of {@link attachNetkit}. */
export interface NetkitOptions extends MprogPlacement {
  /** The primary device of the netkit pair, by name or index, in the calling thread's network namespace. */
  interface: string | number;
  /**
   * Attach to the peer side (BPF_NETKIT_PEER): the program runs for packets the peer device
   * sends. Default: the primary side, or what a `netkit/peer` / `netkit/primary` section says.
   */
  peer?: boolean;
  /**
   * `bpf-link` (default): a bpf_link that closing detaches. `attachment`: BPF_PROG_ATTACH, held
   * by the kernel until `close()` detaches it (BPF_PROG_DETACH).
   */
  mode?: 'bpf-link' | 'attachment';
}

/**
 * netkit devices (BPF_LINK_CREATE with BPF_NETKIT_PRIMARY, Linux 6.7). Probed with ifindex 0:
 * a kernel with netkit looks the device up and answers ENODEV; older kernels do not know the
 * attach type (EINVAL). Kernels built without CONFIG_NETKIT (the driver) have a stub that
 * answers EINVAL too; the kernel's config tells them apart.
 *
 * @example
 * ```ts
 * if (netkitFeature.supported()) console.log('netkit devices can carry BPF programs');
 * ```
 */
export const netkitFeature = mprogLinkFeature('netkit', AttachType.NetkitPrimary, 'BPF_NETKIT_PRIMARY', '6.7', 'CONFIG_NETKIT');

function side(prog: Program, options: NetkitOptions): 'primary' | 'peer' {
  if (options.peer !== undefined) {
    if (typeof options.peer !== 'boolean') throw new ArgumentError(`attachNetkit: peer must be true or false, got ${JSON.stringify(options.peer)}`);
    return options.peer ? 'peer' : 'primary';
  }
  return prog.attachment.attachType === AttachType.NetkitPeer ? 'peer' : 'primary';
}

/**
 * Attaches a SCHED_CLS program to a netkit device pair, given by its primary device: to the
 * primary side (packets the primary sends) or with `peer: true` to the peer side (packets the
 * peer sends). Placement among the programs already there is as for {@link attachTcx}:
 * `before` / `after` an attached {@link Program}, {@link Link}, `{ programId }`, `{ linkId }` or
 * `'all'`, and `expectedRevision`.
 *
 * Minimum kernel: 6.7, built with CONFIG_NETKIT. A netkit pair is made with
 * `ip link add nk0 type netkit peer name nk1` (iproute2 6.7+) or rtnetlink.
 *
 * @example
 * ```ts
 * import { attachNetkit } from 'ebpf-ts';
 * using toContainer = attachNetkit(coll.programs.policy_in, { interface: 'nk0' });
 * using fromContainer = attachNetkit(coll.programs.policy_out, { interface: 'nk0', peer: true });
 * ```
 * @throws {@link ArgumentError} for a program that is not SCHED_CLS or options that are not
 * ones; {@link AttachTargetError} when the interface does not exist, is not a netkit device
 * (ENXIO) or is the peer end (EACCES: programs are attached through the primary);
 * {@link NotSupportedError} before 6.7 or without CONFIG_NETKIT; {@link SyscallError} as for
 * {@link attachTcx} (EEXIST, ENOENT/EBUSY for anchors, ESTALE, ERANGE), explained.
 */
export function attachNetkit(prog: Program, options: NetkitOptions): Link {
  checkMprogArgs(prog, options, 'attachNetkit', 'SEC("netkit/primary") or SEC("netkit/peer")', '{ interface (the primary device, by name or index), peer? }');
  const which = side(prog, options);
  const mode = mprogMode(options.mode, 'attachNetkit');
  const placement = encodePlacement(options, ProgramType.SchedCls, 'attachNetkit');
  const iface = resolveInterface(options.interface);
  requireMprogFeature(netkitFeature, 'netkit', 'use a veth pair with attachTcx (6.6) or attachTc instead');
  const explainDevice = (errno: number): string | undefined => {
    switch (errno) {
      case Errno.ENODEV:
        return which === 'peer' ? `${iface.name} has no peer device any more` : `interface ${iface.name} (index ${iface.index}) disappeared before the attach`;
      case Errno.EOPNOTSUPP:
        // netkit_dev_fetch() (6.19+): a single netkit device, made without a peer.
        return `${iface.name} is a netkit device without a peer: attach to its primary side`;
      default:
        return undefined;
    }
  };
  try {
    return attachMprog({
      prog,
      mode,
      ifindex: iface.index,
      attachType: which === 'peer' ? AttachType.NetkitPeer : AttachType.NetkitPrimary,
      hook: `netkit ${which} of ${iface.name}`,
      placement,
      explainDevice,
    });
  } catch (err) {
    // netkit_dev_fetch(): the device is no netkit device (ENXIO), or the peer end (EACCES).
    if (err instanceof SyscallError && err.errno === Errno.ENXIO) {
      throw new AttachTargetError('interface', iface.name, `${iface.name} is not a netkit device: attachNetkit takes the primary device of a netkit pair (use attachTcx for other interfaces)`, {
        errno: Errno.ENXIO,
        cause: err,
      });
    }
    if (err instanceof SyscallError && err.errno === Errno.EACCES) {
      throw new AttachTargetError(
        'interface',
        iface.name,
        `${iface.name} is the peer end of a netkit pair: programs are attached through the primary device (in the namespace that holds it), with peer: true for this side`,
        { errno: Errno.EACCES, cause: err },
      );
    }
    throw err;
  }
}
