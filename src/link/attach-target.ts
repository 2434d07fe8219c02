/**
 * What BPF_PROG_ATTACH, BPF_PROG_DETACH and BPF_PROG_QUERY share: which attach types they take,
 * what each one's `target_fd` is (a cgroup directory, a network namespace, a sockmap, a lirc
 * device, or an interface index for tcx and netkit), which program type each attach type
 * needs, and the names libbpf and bpftool give attach types.
 *
 * A target is resolved into the number the attr carries and a description for messages;
 * whatever the resolution opened is closed by the caller through `close()`, and a target kept
 * for later (an attachment's detach) is an fd of our own, never the caller's.
 *
 * @module
 */
import { closeSync, openSync, constants as fsConstants } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { closeCgroup, openCgroup } from '../internal/cgroup.js';
import { dupOwned, moveAboveStdio } from '../internal/fd.js';
import { resolveInterface } from '../internal/netdev.js';
import { closeNetns, inNetns, netnsPath, openNetns } from '../internal/netns.js';
import { objGet } from '../sys/commands.js';
import { backend } from '../sys/select.js';
import { AttachType, ProgramType } from '../types.js';

/**
 * Where a raw attach, detach or query goes, as the attach type reads it:
 *
 * - cgroup attach types: a cgroup v2 directory (absolute, or relative to the v2 root) or an
 *   open fd of one;
 * - `FlowDissector`, `SKLookup`: a network namespace (`/proc/PID/ns/net`, a name from
 *   `ip netns add`) or an fd of one;
 * - sockmap attach types (`SKSKBStreamParser`, `SKSKBStreamVerdict`, `SKSKBVerdict`,
 *   `SKMsgVerdict`): a `BpfMap` (anything with an `fd`), a map fd, or the path of a pinned map;
 * - `LIRCMode2`: a lirc device path (`/dev/lirc0`) or fd;
 * - `TCXIngress`/`TCXEgress`, `NetkitPrimary`/`NetkitPeer`: an interface name or index (the
 *   kernel takes an ifindex there, not an fd), or `{ interface }`.
 */
export type RawTarget =
  | string
  | number
  | {
      /** An open fd of the target (a `BpfMap` has one). */
      readonly fd: number;
    }
  | {
      /** An interface name or index (tcx, netkit). */
      readonly interface: string | number;
    };

/** What kind of object an attach type's target is. */
export type TargetKind = 'cgroup' | 'netns' | 'map' | 'lirc' | 'interface';

/** The program type each attach type of BPF_PROG_ATTACH needs (attach_type_to_prog_type()). */
const programTypes = new Map<AttachType, ProgramType>([
  [AttachType.CgroupInetIngress, ProgramType.CgroupSKB],
  [AttachType.CgroupInetEgress, ProgramType.CgroupSKB],
  [AttachType.CgroupInetSockCreate, ProgramType.CgroupSock],
  [AttachType.CgroupInetSockRelease, ProgramType.CgroupSock],
  [AttachType.CgroupInet4PostBind, ProgramType.CgroupSock],
  [AttachType.CgroupInet6PostBind, ProgramType.CgroupSock],
  [AttachType.CgroupInet4Bind, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet6Bind, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet4Connect, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet6Connect, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet4Getpeername, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet6Getpeername, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet4Getsockname, ProgramType.CgroupSockAddr],
  [AttachType.CgroupInet6Getsockname, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUDP4Sendmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUDP6Sendmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUDP4Recvmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUDP6Recvmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUnixConnect, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUnixSendmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUnixRecvmsg, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUnixGetpeername, ProgramType.CgroupSockAddr],
  [AttachType.CgroupUnixGetsockname, ProgramType.CgroupSockAddr],
  [AttachType.CgroupSockOps, ProgramType.SockOps],
  [AttachType.CgroupDevice, ProgramType.CgroupDevice],
  [AttachType.CgroupSysctl, ProgramType.CgroupSysctl],
  [AttachType.CgroupGetsockopt, ProgramType.CgroupSockopt],
  [AttachType.CgroupSetsockopt, ProgramType.CgroupSockopt],
  [AttachType.LSMCgroup, ProgramType.LSM],
  [AttachType.SKSKBStreamParser, ProgramType.SKSKB],
  [AttachType.SKSKBStreamVerdict, ProgramType.SKSKB],
  [AttachType.SKSKBVerdict, ProgramType.SKSKB],
  [AttachType.SKMsgVerdict, ProgramType.SKMsg],
  [AttachType.LIRCMode2, ProgramType.LIRCMode2],
  [AttachType.FlowDissector, ProgramType.FlowDissector],
  [AttachType.SKLookup, ProgramType.SKLookup],
  [AttachType.TCXIngress, ProgramType.SchedCls],
  [AttachType.TCXEgress, ProgramType.SchedCls],
  [AttachType.NetkitPrimary, ProgramType.SchedCls],
  [AttachType.NetkitPeer, ProgramType.SchedCls],
]);

const sockmapTypes = new Set([AttachType.SKSKBStreamParser, AttachType.SKSKBStreamVerdict, AttachType.SKSKBVerdict, AttachType.SKMsgVerdict]);
const interfaceTypes = new Set([AttachType.TCXIngress, AttachType.TCXEgress, AttachType.NetkitPrimary, AttachType.NetkitPeer]);

/** The program type `attachType` needs at a BPF_PROG_ATTACH/QUERY hook, or undefined for other attach types. */
export function hookProgramType(attachType: AttachType): ProgramType | undefined {
  return programTypes.get(attachType);
}

/** What the target of `attachType` is, or undefined when BPF_PROG_ATTACH/QUERY do not take the attach type. */
export function targetKind(attachType: AttachType): TargetKind | undefined {
  if (!programTypes.has(attachType)) return undefined;
  if (interfaceTypes.has(attachType)) return 'interface';
  if (sockmapTypes.has(attachType)) return 'map';
  if (attachType === AttachType.FlowDissector || attachType === AttachType.SKLookup) return 'netns';
  if (attachType === AttachType.LIRCMode2) return 'lirc';
  return 'cgroup';
}

/** True for the attach types whose hooks keep an ordered list with anchors and revisions (bpf_mprog, 6.6). */
export function isMprogType(attachType: AttachType): boolean {
  return interfaceTypes.has(attachType);
}

/** libbpf's names of the attach types (`libbpf_bpf_attach_type_str()`), as bpftool prints them, by value. */
const attachTypeNames = [
  'cgroup_inet_ingress', 'cgroup_inet_egress', 'cgroup_inet_sock_create', 'cgroup_sock_ops', 'sk_skb_stream_parser',
  'sk_skb_stream_verdict', 'cgroup_device', 'sk_msg_verdict', 'cgroup_inet4_bind', 'cgroup_inet6_bind',
  'cgroup_inet4_connect', 'cgroup_inet6_connect', 'cgroup_inet4_post_bind', 'cgroup_inet6_post_bind', 'cgroup_udp4_sendmsg',
  'cgroup_udp6_sendmsg', 'lirc_mode2', 'flow_dissector', 'cgroup_sysctl', 'cgroup_udp4_recvmsg',
  'cgroup_udp6_recvmsg', 'cgroup_getsockopt', 'cgroup_setsockopt', 'trace_raw_tp', 'trace_fentry',
  'trace_fexit', 'modify_return', 'lsm_mac', 'trace_iter', 'cgroup_inet4_getpeername',
  'cgroup_inet6_getpeername', 'cgroup_inet4_getsockname', 'cgroup_inet6_getsockname', 'xdp_devmap', 'cgroup_inet_sock_release',
  'xdp_cpumap', 'sk_lookup', 'xdp', 'sk_skb_verdict', 'sk_reuseport_select',
  'sk_reuseport_select_or_migrate', 'perf_event', 'trace_kprobe_multi', 'lsm_cgroup', 'struct_ops',
  'netfilter', 'tcx_ingress', 'tcx_egress', 'trace_uprobe_multi', 'cgroup_unix_connect',
  'cgroup_unix_sendmsg', 'cgroup_unix_recvmsg', 'cgroup_unix_getpeername', 'cgroup_unix_getsockname', 'netkit_primary',
  'netkit_peer', 'trace_kprobe_session', 'trace_uprobe_session',
];

/**
 * The name libbpf and bpftool give an attach type: the UAPI name without `BPF_`, in lower case
 * (`cgroup_inet_egress`, `tcx_ingress`); `attach type N` for one this library does not know.
 *
 * @example
 * ```ts
 * attachTypeName(AttachType.TCXIngress); // "tcx_ingress"
 * ```
 */
export function attachTypeName(attachType: number): string {
  return attachTypeNames[attachType] ?? `attach type ${attachType}`;
}

/** A resolved target: the number for the attr, a description, and what to close. */
export interface ResolvedTarget {
  /** What goes in `target_fd` (an fd, or an ifindex for tcx and netkit). */
  readonly value: number;
  /** For messages: `cgroup /sys/fs/cgroup/unified/app`, `interface lo (ifindex 1)`. */
  readonly description: string;
  /** For an interface: its index (the value) and name. */
  readonly interface?: { readonly index: number; readonly name: string };
  /**
   * For a kept interface target: an fd of the network namespace the ifindex belongs to (the
   * thread's when it was resolved), so that a detach later is made there (see {@link inTargetNetns}).
   */
  readonly netnsFd?: number;
  /** For a cgroup: its path (what messages name, and where an ancestor walk starts). */
  readonly cgroupPath?: string;
  /** Closes what the resolution opened (nothing for a caller's fd that was not copied). */
  close(): void;
}

function checkFd(fd: number, fn: string): number {
  if (!Number.isInteger(fd) || fd < 0) throw new ArgumentError(`${fn}: target fd ${fd} is not a file descriptor`);
  return fd;
}

function openPath(path: string, flags: number, what: string): number {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    throw new ArgumentError(`cannot open ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  const r = moveAboveStdio(fd);
  if (r < 0) throw new ArgumentError(`cannot keep ${what} ${path} open above stdio (errno ${-r})`);
  return r;
}

const noop = (): void => {};

/**
 * Runs `fn` in the network namespace of a kept interface target (tcx and netkit look the
 * ifindex up in the caller's namespace), or directly for other targets.
 */
export function inTargetNetns<T>(target: ResolvedTarget, fn: () => T): T {
  return target.netnsFd === undefined ? fn() : inNetns(target.netnsFd, fn);
}

/**
 * A kept target of interface `index` (tcx, netkit), resolved by the caller in the thread's
 * namespace. An ifindex means something only in its namespace (lo is 1 in every one), so the
 * target keeps an fd of that namespace, where its detach is made later.
 */
export function keptInterface(index: number, name: string): ResolvedTarget {
  const ns = openNetns();
  return { value: index, description: `interface ${name} (ifindex ${index})`, interface: { index, name }, netnsFd: ns.fd, close: () => closeNetns(ns) };
}

/**
 * The `mode` option of the attach functions that hold a program either way (tcx, netkit,
 * netns, sockmap): `bpf-link`, `attachment` (BPF_PROG_ATTACH), or undefined when not given.
 *
 * @throws {@link ArgumentError} for anything else.
 */
export function attachMode(mode: unknown, fn: string): 'bpf-link' | 'attachment' | undefined {
  if (mode === undefined || mode === 'bpf-link' || mode === 'attachment') return mode;
  throw new ArgumentError(`${fn}: mode must be 'bpf-link' or 'attachment', got ${JSON.stringify(mode) ?? String(mode)}`);
}

/**
 * Resolves `target` for `attachType`. With `keep`, the result is an fd of our own (a copy of a
 * caller's fd) that stays valid until `close()`, for a detach later; without, a caller's fd is
 * used as it is.
 *
 * @throws {@link ArgumentError} for an attach type BPF_PROG_ATTACH does not take or a target
 * of the wrong shape; {@link AttachTargetError} for a cgroup, namespace, device or interface
 * that does not exist or is not one.
 */
export function resolveTarget(target: RawTarget, attachType: AttachType, fn: string, keep: boolean): ResolvedTarget {
  const kind = targetKind(attachType);
  if (kind === undefined) throw new ArgumentError(`${fn}: attach type ${attachTypeName(attachType)} is not attached through BPF_PROG_ATTACH`);
  if (kind === 'interface') {
    const iface = typeof target === 'object' && target !== null && 'interface' in target ? target.interface : target;
    if (typeof iface !== 'string' && typeof iface !== 'number') {
      throw new ArgumentError(`${fn}: ${attachTypeName(attachType)} takes an interface name or index as its target`);
    }
    const { index, name } = resolveInterface(iface);
    if (!keep) return { value: index, description: `interface ${name} (ifindex ${index})`, interface: { index, name }, close: noop };
    return keptInterface(index, name);
  }
  if (typeof target === 'object' && target !== null && 'interface' in target) {
    throw new ArgumentError(`${fn}: ${attachTypeName(attachType)} attaches to a ${kind === 'lirc' ? 'lirc device' : kind}, not an interface`);
  }
  const fdOf = typeof target === 'number' ? target : typeof target === 'object' && target !== null ? target.fd : undefined;
  if (fdOf !== undefined) {
    const fd = checkFd(fdOf, fn);
    const description = `${kind === 'lirc' ? 'lirc device' : kind} fd ${fd}`;
    if (kind === 'netns') {
      // Checks it is a network namespace: BPF_PROG_ATTACH, made inside it, would not say so.
      const ns = openNetns(fd);
      if (!keep) return { value: fd, description: ns.description, close: noop };
      const own = dupOwned(fd, ns.description);
      return { value: own, description: ns.description, close: () => void backend().close(own) };
    }
    if (kind === 'cgroup') {
      // Checks it is a cgroup v2 directory: the kernel's EBADF would not say so.
      const cg = openCgroup(fd);
      if (!keep) return { value: fd, description: `cgroup ${cg.path}`, cgroupPath: cg.path, close: noop };
      const own = dupOwned(fd, `cgroup ${cg.path}`);
      return { value: own, description: `cgroup ${cg.path}`, cgroupPath: cg.path, close: () => void backend().close(own) };
    }
    if (!keep) return { value: fd, description, close: noop };
    const own = dupOwned(fd, description);
    return { value: own, description, close: () => void backend().close(own) };
  }
  if (typeof target !== 'string') throw new ArgumentError(`${fn}: target must be a path, an fd or an object with an fd, got ${typeof target}`);
  switch (kind) {
    case 'cgroup': {
      const cg = openCgroup(target);
      const fd = moveAboveStdio(cg.fd);
      return { value: fd, description: `cgroup ${cg.path}`, cgroupPath: cg.path, close: () => closeCgroup({ ...cg, fd }) };
    }
    case 'netns': {
      const ns = openNetns(target);
      return { value: ns.fd, description: `network namespace ${netnsPath(target)}`, close: () => closeNetns(ns) };
    }
    case 'lirc': {
      const fd = openPath(target, fsConstants.O_RDWR, 'lirc device');
      return { value: fd, description: `lirc device ${target}`, close: () => closeSync(fd) };
    }
    case 'map': {
      const fd = objGet(target, 0, { context: `open pinned map ${target}` });
      return { value: fd, description: `map ${target}`, close: () => void backend().close(fd) };
    }
  }
}
