/**
 * netfilter links: a NETFILTER program registered as a netfilter hook function of the calling
 * thread's network namespace, beside iptables and nftables chains (Linux 6.4, "bpf: add bpf_link
 * support for BPF_NETFILTER programs"). The program sees each packet at one hook (PRE_ROUTING,
 * LOCAL_IN, FORWARD, LOCAL_OUT or POST_ROUTING) of IPv4 or IPv6, in the order of its priority
 * among the other hook functions there (conntrack at -200, iptables' filter table at 0, …),
 * and returns NF_ACCEPT (1) or NF_DROP (0).
 *
 * `defrag` (Linux 6.6, BPF_F_NETFILTER_IP_DEFRAG) makes the kernel reassemble fragments before
 * the program runs, which only a priority after the defrag hook (-400) can promise.
 *
 * @module
 */
import { ArgumentError, NotSupportedError } from '../errors.js';
import { Feature, notSupported, type FeatureResult } from '../features/feature.js';
import { programTypeFeature } from '../features/prog-types.js';
import { BPF_F_NETFILTER_IP_DEFRAG } from '../internal/flags.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
export { BPF_F_NETFILTER_IP_DEFRAG } from '../internal/flags.js';

/** `NFPROTO_IPV4` and `NFPROTO_IPV6`, the protocol families netfilter links take. */
export const NetfilterFamily = {
  /** NFPROTO_IPV4. */
  ipv4: 2,
  /** NFPROTO_IPV6. */
  ipv6: 10,
} as const;

/** The `enum nf_inet_hooks` values, by the names the options take. */
export const NetfilterHook = {
  /** NF_INET_PRE_ROUTING: every packet received, before routing. */
  pre_routing: 0,
  /** NF_INET_LOCAL_IN: received packets for this host. */
  local_in: 1,
  /** NF_INET_FORWARD: received packets routed onwards. */
  forward: 2,
  /** NF_INET_LOCAL_OUT: packets this host sends. */
  local_out: 3,
  /** NF_INET_POST_ROUTING: every packet leaving, after routing. */
  post_routing: 4,
} as const;

/** A protocol family: `'ipv4'`, `'ipv6'`, `'NFPROTO_IPV4'`, `'NFPROTO_IPV6'`, or 2 / 10. */
export type NetfilterFamilyName = keyof typeof NetfilterFamily | 'NFPROTO_IPV4' | 'NFPROTO_IPV6' | number;

/** A hook: `'local_in'`, `'NF_INET_LOCAL_IN'` (either case), or its number (0–4). */
export type NetfilterHookName = keyof typeof NetfilterHook | `NF_INET_${Uppercase<keyof typeof NetfilterHook>}` | number;

/** Options of {@link attachNetfilter}. */
export interface NetfilterOptions {
  /** IPv4 or IPv6. */
  family: NetfilterFamilyName;
  /** The hook: `pre_routing`, `local_in`, `forward`, `local_out` or `post_routing`. */
  hook: NetfilterHookName;
  /**
   * Where among the hook's functions the program runs, lower first: a 32-bit integer other than
   * its two extremes (INT_MIN and INT_MAX are reserved for the kernel's own hooks).
   */
  priority: number;
  /** Reassemble IP fragments before the program sees them (Linux 6.6); needs a priority above -400. */
  defrag?: boolean;
}

/** `NF_IP_PRI_CONNTRACK_DEFRAG`: the defrag hook's priority, which a defrag program must follow. */
const NF_IP_PRI_CONNTRACK_DEFRAG = -400;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/**
 * netfilter links (BPF_LINK_CREATE with BPF_NETFILTER, Linux 6.4). Kernels before 6.4 do not
 * know NETFILTER programs at all, so the probe program's load answers first (not supported,
 * or CONFIG_NETFILTER_BPF_LINK when the config says it is off). Then the link is probed with
 * protocol family 0: a kernel with netfilter links answers EAFNOSUPPORT from
 * bpf_nf_check_pf_and_hooks(), so nothing is attached; one built without
 * CONFIG_NETFILTER_BPF_LINK answers EOPNOTSUPP from the stub.
 *
 * @example
 * ```ts
 * netfilterFeature.require(); // NotSupportedError naming 6.4 on older kernels
 * ```
 */
export const netfilterFeature = new Feature('netfilter link (BPF_LINK_CREATE with BPF_NETFILTER)', '6.4', () => {
  const type = programTypeFeature(ProgramType.Netfilter).check();
  if (type.supported !== true) return type;
  return linkCreateProbe({
    name: 'probe_nf',
    programType: ProgramType.Netfilter,
    attachType: AttachType.Netfilter,
    attachName: 'BPF_NETFILTER',
    fields: { netfilter_pf: 0, netfilter_hooknum: 0, netfilter_priority: 1 },
    proves: [Errno.EAFNOSUPPORT],
    since: '6.4',
    config: 'CONFIG_NETFILTER_BPF_LINK',
  });
}, { perBoot: 'kernel' });

/**
 * BPF_F_NETFILTER_IP_DEFRAG (Linux 6.6). Probed with the flag and priority INT_MIN, which every
 * kernel refuses: one that knows the flag gets past the flag check to the priority check
 * (ERANGE); 6.4 and 6.5 refuse any netfilter flag with EOPNOTSUPP.
 *
 * @example
 * ```ts
 * const defrag = netfilterDefragFeature.supported();
 * ```
 */
export const netfilterDefragFeature = new Feature('netfilter link IP defragmentation (BPF_F_NETFILTER_IP_DEFRAG)', '6.6', () => {
  const link = netfilterFeature.check();
  if (link.supported !== true) return link.supported === false && link.minimumVersion !== undefined ? notSupported(link.reason, '6.6') : link;
  return probeDefrag();
}, { perBoot: 'kernel' });

function probeDefrag(): FeatureResult {
  return linkCreateProbe({
    name: 'probe_nf_defrag',
    programType: ProgramType.Netfilter,
    attachType: AttachType.Netfilter,
    attachName: 'BPF_NETFILTER with BPF_F_NETFILTER_IP_DEFRAG',
    fields: {
      netfilter_pf: NetfilterFamily.ipv4,
      netfilter_hooknum: NetfilterHook.local_in,
      netfilter_priority: INT32_MIN,
      netfilter_flags: BPF_F_NETFILTER_IP_DEFRAG,
    },
    proves: [Errno.ERANGE],
    refuses: [Errno.EOPNOTSUPP],
    since: '6.6',
  });
}

function familyNumber(family: unknown): { pf: number; name: string } {
  if (typeof family === 'number') {
    if (family === NetfilterFamily.ipv4) return { pf: family, name: 'IPv4' };
    if (family === NetfilterFamily.ipv6) return { pf: family, name: 'IPv6' };
  } else if (typeof family === 'string') {
    const key = family.toLowerCase().replace(/^nfproto_/, '');
    if (key === 'ipv4') return { pf: NetfilterFamily.ipv4, name: 'IPv4' };
    if (key === 'ipv6') return { pf: NetfilterFamily.ipv6, name: 'IPv6' };
  }
  throw new ArgumentError(
    `attachNetfilter: family must be 'ipv4' (NFPROTO_IPV4, 2) or 'ipv6' (NFPROTO_IPV6, 10), the families netfilter links take; got ${JSON.stringify(family)}`,
  );
}

function hookNumber(hook: unknown): { hooknum: number; name: string } {
  const names = Object.keys(NetfilterHook) as (keyof typeof NetfilterHook)[];
  if (typeof hook === 'number' && Number.isInteger(hook) && hook >= 0 && hook < names.length) {
    return { hooknum: hook, name: `NF_INET_${names[hook]!.toUpperCase()}` };
  }
  if (typeof hook === 'string') {
    const key = hook.toLowerCase().replace(/^nf_inet_/, '') as keyof typeof NetfilterHook;
    if (key in NetfilterHook) return { hooknum: NetfilterHook[key], name: `NF_INET_${key.toUpperCase()}` };
  }
  throw new ArgumentError(`attachNetfilter: hook must be one of ${names.join(', ')} (or NF_INET_<NAME>, or 0–4); got ${JSON.stringify(hook)}`);
}

function checkPriority(priority: unknown, defrag: boolean): number {
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority <= INT32_MIN || priority >= INT32_MAX) {
    throw new ArgumentError(
      `attachNetfilter: priority must be an integer between ${INT32_MIN + 1} and ${INT32_MAX - 1} (INT_MIN and INT_MAX belong to the kernel's own first and last hooks); got ${String(priority)}`,
    );
  }
  if (defrag && priority <= NF_IP_PRI_CONNTRACK_DEFRAG) {
    throw new ArgumentError(
      `attachNetfilter: with defrag the priority must be above ${NF_IP_PRI_CONNTRACK_DEFRAG} (NF_IP_PRI_CONNTRACK_DEFRAG), so that the program runs after reassembly; got ${priority}`,
    );
  }
  return priority;
}

/**
 * Attaches a NETFILTER program to a netfilter hook of the calling thread's network namespace:
 * IPv4 or IPv6, one of the five inet hooks, at a priority among the hook's other functions.
 * The program returns NF_ACCEPT (1) to let the packet go on, NF_DROP (0) to drop it. Wrap the
 * call in `inNetns()` to attach in another namespace: hooks are per namespace.
 *
 * Minimum kernel: 6.4 (CONFIG_NETFILTER_BPF_LINK); `defrag` 6.6.
 *
 * @example
 * ```ts
 * import { attachNetfilter } from 'ebpf-ts';
 * using link = attachNetfilter(coll.programs.drop_udp, { family: 'ipv4', hook: 'local_in', priority: 10 });
 * ```
 * @throws {@link ArgumentError} for a program that is not NETFILTER, a family other than IPv4
 * and IPv6, an unknown hook, a priority out of range (or at or below -400 with defrag);
 * {@link NotSupportedError} before 6.4 (defrag: 6.6) or without CONFIG_NETFILTER_BPF_LINK;
 * {@link SyscallError} when the kernel refuses.
 */
export function attachNetfilter(prog: Program, options: NetfilterOptions): Link {
  if (prog.type !== ProgramType.Netfilter) {
    throw new ArgumentError(`attachNetfilter needs a NETFILTER program (SEC("netfilter")); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  if (options === null || typeof options !== 'object') throw new ArgumentError('attachNetfilter needs options: { family, hook, priority }');
  const { pf, name: familyName } = familyNumber(options.family);
  const { hooknum, name: hookName } = hookNumber(options.hook);
  const defrag = options.defrag === true;
  const priority = checkPriority(options.priority, defrag);
  netfilterFeature.require();
  if (defrag) {
    const r = netfilterDefragFeature.check();
    if (r.supported === false) {
      throw new NotSupportedError('netfilter link IP defragmentation (BPF_F_NETFILTER_IP_DEFRAG)', r.minimumVersion, { detail: `${r.reason}; attach without defrag` });
    }
  }
  const what = `netfilter ${familyName} ${hookName} priority ${priority}${defrag ? ' defrag' : ''}`;
  const fd = bpfCall(
    LinkCreate,
    {
      prog_fd: prog.fd,
      target_fd: 0,
      attach_type: AttachType.Netfilter,
      flags: 0,
      netfilter_pf: pf,
      netfilter_hooknum: hooknum,
      netfilter_priority: priority,
      netfilter_flags: defrag ? BPF_F_NETFILTER_IP_DEFRAG : undefined,
    },
    {
      context: `attach ${prog.name} to ${what}`,
      explain: (errno) => {
        switch (errno) {
          case Errno.EINVAL:
            // bpf_prog_attach_check_attach_type(): a NETFILTER program must be loaded for BPF_NETFILTER.
            return `program ${prog.name} must be loaded with expected attach type BPF_NETFILTER (SEC("netfilter") gives it)`;
          case Errno.ERANGE:
            return `priority ${priority} is refused: INT_MIN and INT_MAX are the kernel's own, and defrag needs a priority above ${NF_IP_PRI_CONNTRACK_DEFRAG}`;
          case Errno.EOPNOTSUPP:
            return defrag ? 'defrag: this kernel cannot reassemble for BPF (needs CONFIG_NF_DEFRAG_IPV4/IPV6)' : 'this kernel was built without CONFIG_NETFILTER_BPF_LINK';
          case Errno.ENOENT:
            return defrag ? `defrag: the nf_defrag_${familyName === 'IPv4' ? 'ipv4' : 'ipv6'} module could not be loaded` : undefined;
          default:
            return undefined;
        }
      },
    },
  );
  return Link.adopt({ fd, mode: 'bpf-link', what });
}
