/**
 * Programs attached to a network namespace:
 *
 * - `sk_lookup` (SK_LOOKUP, 5.9): runs when the kernel looks for the socket an incoming TCP
 *   connection or UDP datagram goes to, and may pick one itself (`bpf_sk_assign()` with a
 *   socket from a SOCKMAP, SOCKHASH or REUSEPORT_SOCKARRAY): one socket can then serve any
 *   address and port range. Up to 64 programs per namespace, run in attach order. Links only.
 * - `flow_dissector` (FLOW_DISSECTOR, 4.20): replaces the kernel's C flow dissector (the
 *   parser behind packet hashes, RPS, tc flower and fanout) for the packets of the namespace.
 *   One per namespace; one in the root namespace overrides all others.
 *
 * Both are held by netns links (BPF_LINK_TYPE_NETNS, Linux 5.8, "bpf: Add link-based BPF
 * program attachment to network namespace"), whose target is an fd of the namespace. A link
 * does not keep the namespace alive: when the namespace goes, the link stays but is detached
 * (its info then reports netns inode 0). Before 5.8 a flow dissector is attached with
 * BPF_PROG_ATTACH in the calling thread's namespace; this module enters the namespace for
 * that, and keeps an fd of it to detach later.
 *
 * @module
 */
import { ArgumentError, AttachTargetError } from '../errors.js';
import { Feature } from '../features/feature.js';
import { closeNetns, openNetns, type OpenNetns } from '../internal/netns.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { attachMode, resolveTarget } from './attach-target.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { describeAttached } from './query.js';
import { attachProgram } from './raw.js';

/**
 * netns links: BPF_LINK_CREATE of a FLOW_DISSECTOR program with BPF_FLOW_DISSECTOR (Linux
 * 5.8). Probed with a target fd that cannot be open: netns_bpf_link_create() fails to find the
 * namespace (EBADF); older kernels' link_create() has no case for the program type (EINVAL).
 *
 * @example
 * ```ts
 * if (!netnsLinkFeature.supported()) console.log('flow dissectors attach with BPF_PROG_ATTACH here');
 * ```
 */
export const netnsLinkFeature = new Feature('netns link (BPF_LINK_CREATE with BPF_FLOW_DISSECTOR)', '5.8', () =>
  linkCreateProbe({
    name: 'probe_netns',
    programType: ProgramType.FlowDissector,
    attachType: AttachType.FlowDissector,
    attachName: 'BPF_FLOW_DISSECTOR',
    fields: { target_fd: 0xffffffff },
    proves: [Errno.EBADF],
    since: '5.8',
  }),
  { perBoot: 'kernel' },
);

/** Options of {@link attachNetns}. */
export interface NetnsOptions {
  /**
   * The network namespace: a path (`/proc/PID/ns/net`, `/run/netns/NAME`), a name from
   * `ip netns add`, or an open fd of one. Default: the namespace of the calling thread.
   */
  netns?: string | number;
  /**
   * How the attachment is held: `bpf-link` (5.8+), or `attachment` (BPF_PROG_ATTACH; flow
   * dissectors only). By default a link where the kernel has netns links.
   */
  mode?: 'bpf-link' | 'attachment';
}

/** The attach type of a netns program. */
function attachTypeOf(prog: Program): AttachType {
  if (prog.type === ProgramType.SKLookup) return AttachType.SKLookup;
  if (prog.type === ProgramType.FlowDissector) return AttachType.FlowDissector;
  throw new ArgumentError(`attachNetns needs an SK_LOOKUP or FLOW_DISSECTOR program (sections sk_lookup, flow_dissector); ${prog.name} is ${programTypeName(prog.type)}`);
}

/**
 * Attaches an SK_LOOKUP or FLOW_DISSECTOR program to a network namespace (the calling
 * thread's by default).
 *
 * Uses a netns link (5.8+); a flow dissector falls back to BPF_PROG_ATTACH on older kernels
 * (an `attachment`, detached on `close()` by entering the namespace again; the link keeps an
 * fd of the namespace until then). sk_lookup programs need links.
 *
 * Minimum kernel: 4.20 (flow_dissector), 5.8 (netns links), 5.9 (sk_lookup).
 *
 * @example
 * ```ts
 * using link = attachNetns(coll.programs.steer, { netns: '/proc/1234/ns/net' });
 * ```
 * @throws {@link ArgumentError} for a program of another type; {@link AttachTargetError} for
 * a path, name or fd that is not a network namespace; {@link NotSupportedError} for a link
 * before 5.8 or an sk_lookup `attachment`; {@link SyscallError} from the kernel, explained:
 * EEXIST (a flow dissector attached another way, or in the root namespace) and E2BIG (the
 * namespace's flow dissector link, or 64 sk_lookup links, exist already) name what is attached.
 */
export function attachNetns(prog: Program, options: NetnsOptions = {}): Link {
  const type = attachTypeOf(prog);
  const kind = type === AttachType.SKLookup ? 'sk_lookup' : 'flow dissector';
  let mode = attachMode(options.mode, 'attachNetns');
  if (mode === 'attachment' && type === AttachType.SKLookup) {
    throw new ArgumentError('attachNetns: sk_lookup programs attach through netns links only (mode bpf-link)');
  }
  // The namespace first: a wrong one is reported before any probe reaches the kernel.
  const ns = openNetns(options.netns);
  const context = `attach ${kind} program ${prog.name} to ${ns.description}`;
  const what = `${kind} program ${prog.name} in ${ns.description}`;
  try {
    if (mode === undefined) mode = type === AttachType.SKLookup || netnsLinkFeature.supported() ? 'bpf-link' : 'attachment';
    if (mode === 'bpf-link') {
      if (type === AttachType.FlowDissector) netnsLinkFeature.require();
      const fd = bpfCall(
        LinkCreate,
        { prog_fd: prog.fd, target_fd: ns.fd, attach_type: type, flags: 0 },
        { context, explain: (errno) => explainNetns(errno, type, ns, 'bpf-link') },
      );
      return Link.adopt({ fd, mode: 'bpf-link', what });
    }
    return attachLegacy(prog, ns, context, what);
  } finally {
    closeNetns(ns);
  }
}

/**
 * BPF_PROG_ATTACH of a flow dissector (raw.ts's attachProgram): netns_bpf_prog_attach() wants
 * target_fd 0 and uses the caller's namespace, so the attachment keeps an fd of the namespace
 * and attaches, updates and detaches from inside it; and it replaces a program attached the
 * same way without a word, so one already there is refused.
 */
function attachLegacy(prog: Program, ns: OpenNetns, context: string, what: string): Link {
  const type = AttachType.FlowDissector;
  const target = resolveTarget({ fd: ns.fd }, type, 'attachNetns', true);
  return attachProgram({
    program: prog,
    target,
    attachType: type,
    flags: 0,
    hook: ns.description,
    what,
    context,
    explain: (errno) => explainNetns(errno, type, { ...ns, fd: target.value }, 'attachment'),
    refuseHeld: (held) => `${ns.description} has a flow dissector already: ${held}; BPF_PROG_ATTACH would replace it: detach it first`,
  });
}

/** Explains the errnos of netns_bpf_link_attach() / netns_bpf_prog_attach() with what is attached. */
function explainNetns(errno: number, type: AttachType, ns: OpenNetns, mode: 'bpf-link' | 'attachment'): string | undefined {
  const held = (): string => {
    const here = describeAttached(ns.fd, type);
    return here === undefined ? '' : ` (attached there now: ${here})`;
  };
  if (type === AttachType.FlowDissector) {
    if (errno === Errno.EEXIST) {
      const other = mode === 'bpf-link' ? 'with BPF_PROG_ATTACH, which links cannot join' : 'through a link, which BPF_PROG_ATTACH cannot replace';
      return (
        `a flow dissector is attached to ${ns.description} ${other}${held()}, ` +
        'or one is attached in the root namespace (it overrides every other namespace; attaching in the root namespace is refused while another namespace has one)'
      );
    }
    if (errno === Errno.E2BIG) return `${ns.description} has a flow dissector link already${held()}: a namespace takes one; close that link first`;
  } else if (errno === Errno.E2BIG) {
    return `${ns.description} has the most sk_lookup programs it takes (64)${held()}`;
  }
  if (errno === Errno.EINVAL) return `${ns.description} must be a network namespace, and the program's expected attach type BPF_${type === AttachType.SKLookup ? 'SK_LOOKUP' : 'FLOW_DISSECTOR'}`;
  return undefined;
}
