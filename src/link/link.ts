/**
 * {@link Link}: a program attached to a kernel hook. What the process holds depends on how the
 * attachment was made:
 *
 * - a bpf_link fd (BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN): closing it detaches; it has an
 *   id and info (5.8+) and can be pinned on bpffs;
 * - a bpf_link fd plus the perf event it sits on (perf link, 5.15+): both are closed;
 * - only a perf event fd with the program set by PERF_EVENT_IOC_SET_BPF (before 5.15): closing
 *   the event detaches the program; there is no link object in the kernel, hence no info or pin.
 *
 * Anything the attachment created outside the fds (a tracefs kprobe event) is removed by a
 * cleanup function when the link closes. A FinalizationRegistry closes links that were
 * garbage-collected while open, and warns: it is a safety net, not the mechanism. Both go
 * through one release function (src/internal/owner.ts).
 *
 * @module
 */
import { unlinkSync } from 'node:fs';
import { ArgumentError, ClosedError, NotSupportedError, SyscallError } from '../errors.js';
import { hostLittleEndian } from '../sys/attr.js';
import { bpfCall } from '../sys/bpf.js';
import { fdById, objectIds, objGet, objGetInfoByFd, objPin } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { LinkDetach, LinkInfo as LinkInfoLayout, LinkUpdate } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { kprobeMultiInfo, uprobeMultiInfo, type KprobeMultiLinkInfo, type UprobeMultiLinkInfo } from './multi-link-info.js';
import { PERF_EVENT_IOC_DISABLE } from '../internal/perf-event.js';
import { fdState, Owner } from '../internal/owner.js';
import { dataView, textUntilNul } from '../internal/bytes.js';
import { BPF_F_REPLACE } from '../internal/flags.js';
import { interfaceName } from '../internal/netdev.js';
import type { Program } from '../prog.js';
import { BpfMap } from '../map.js';
import { updateLinkMap } from './link-update-map.js';
import { programTypeName, type AttachType } from '../types.js';

/** `enum bpf_link_type`. */
export enum LinkType {
  /** BPF_LINK_TYPE_UNSPEC */
  Unspec = 0,
  /** BPF_LINK_TYPE_RAW_TRACEPOINT (5.8) */
  RawTracepoint = 1,
  /** BPF_LINK_TYPE_TRACING: fentry/fexit/fmod_ret/tp_btf/lsm (5.8) */
  Tracing = 2,
  /** BPF_LINK_TYPE_CGROUP (5.8) */
  Cgroup = 3,
  /** BPF_LINK_TYPE_ITER (5.8) */
  Iter = 4,
  /** BPF_LINK_TYPE_NETNS (5.8) */
  NetNs = 5,
  /** BPF_LINK_TYPE_XDP (5.9) */
  XDP = 6,
  /** BPF_LINK_TYPE_PERF_EVENT (5.15) */
  PerfEvent = 7,
  /** BPF_LINK_TYPE_KPROBE_MULTI (5.18) */
  KprobeMulti = 8,
  /** BPF_LINK_TYPE_STRUCT_OPS (6.0) */
  StructOps = 9,
  /** BPF_LINK_TYPE_NETFILTER (6.4) */
  Netfilter = 10,
  /** BPF_LINK_TYPE_TCX (6.6) */
  TCX = 11,
  /** BPF_LINK_TYPE_UPROBE_MULTI (6.6) */
  UprobeMulti = 12,
  /** BPF_LINK_TYPE_NETKIT (6.7) */
  Netkit = 13,
  /** BPF_LINK_TYPE_SOCKMAP (6.10) */
  Sockmap = 14,
}

/**
 * What the kernel reports about a link (decoded `struct bpf_link_info`): the common fields and,
 * for each link type, one sub-object with what that type reports (`cgroup` for a cgroup link,
 * `tcx` for a tcx link, …). A link whose target is gone (an interface removed, a cgroup
 * deleted) or that was detached with {@link Link.detach} reports zeros there.
 */
export interface LinkInfo {
  /** The link type. */
  readonly type: LinkType;
  /** The kernel's id of the link. */
  readonly id: number;
  /** The id of the attached program. */
  readonly programId: number;
  /** For raw tracepoint links: the tracepoint name. */
  readonly rawTracepointName?: string;
  /** For tracing links: the attach type (`BPF_TRACE_FENTRY`, …). */
  readonly tracingAttachType?: number;
  /**
   * For tracing links: the id of the BTF object holding the target (vmlinux's or a module's);
   * undefined before Linux 5.13, which does not report it.
   */
  readonly tracingTargetObjectId?: number;
  /** For tracing links: the target's BTF type id; undefined before Linux 5.13, which does not report it. */
  readonly tracingTargetBtfId?: number;
  /** For perf-event links (kprobes, uprobes, tracepoints): what the event is; Linux 6.6+. */
  readonly perfEvent?: PerfEventLinkInfo;
  /** For kprobe_multi links: how many functions, flags, addresses and cookies; Linux 6.6+. */
  readonly kprobeMulti?: KprobeMultiLinkInfo;
  /** For uprobe_multi links: the binary, offsets, cookies and pid; Linux 6.8+. */
  readonly uprobeMulti?: UprobeMultiLinkInfo;
  /** For cgroup links: the cgroup and the hook. */
  readonly cgroup?: CgroupLinkInfo;
  /** For netns links (sk_lookup, flow_dissector): the namespace and the hook. */
  readonly netns?: NetnsLinkInfo;
  /** For XDP links: the interface. */
  readonly xdp?: InterfaceLinkInfo;
  /** For tcx links (Linux 6.6): the interface and the direction. */
  readonly tcx?: InterfaceLinkInfo;
  /** For netkit links (Linux 6.7): the interface and primary/peer. */
  readonly netkit?: InterfaceLinkInfo;
  /** For netfilter links (Linux 6.4): family, hook, priority, flags. */
  readonly netfilter?: NetfilterLinkInfo;
  /** For sockmap links (Linux 6.10): the map and the hook. */
  readonly sockmap?: SockmapLinkInfo;
  /** For iterator links: the target and its parameters. */
  readonly iter?: IterLinkInfo;
  /** For struct_ops links (info since Linux 6.4): the struct_ops map. */
  readonly structOps?: StructOpsLinkInfo;
}

/** `bpf_link_info.cgroup`. */
export interface CgroupLinkInfo {
  /** The cgroup's id: the inode number of its directory on cgroup2; 0 once the cgroup is gone or the link detached. */
  readonly cgroupId: bigint;
  /** The hook (`AttachType.CgroupInetEgress`, …). */
  readonly attachType: AttachType;
}

/** `bpf_link_info.netns`. */
export interface NetnsLinkInfo {
  /** The network namespace's inode number (as in `readlink /proc/PID/ns/net`: `net:[INO]`); 0 once it is gone. */
  readonly netnsIno: number;
  /** `AttachType.SKLookup` or `AttachType.FlowDissector`. */
  readonly attachType: AttachType;
}

/** `bpf_link_info.xdp`, `.tcx` and `.netkit`: a link on a network interface. */
export interface InterfaceLinkInfo {
  /** The interface index; 0 once the interface is gone or the link detached. */
  readonly ifindex: number;
  /**
   * The interface's name in this thread's network namespace, when it has one with that index.
   * bpf_link_info does not say which namespace the interface is in: a link made in another
   * namespace may name an unrelated interface here.
   */
  readonly interface?: string;
  /** tcx and netkit: `TCXIngress`/`TCXEgress`, `NetkitPrimary`/`NetkitPeer`; undefined for XDP. */
  readonly attachType?: AttachType;
}

/** `bpf_link_info.netfilter`. */
export interface NetfilterLinkInfo {
  /** The protocol family (`NFPROTO_IPV4` = 2, `NFPROTO_IPV6` = 10). */
  readonly family: number;
  /** The hook (`NF_INET_PRE_ROUTING` = 0 … `NF_INET_POST_ROUTING` = 4). */
  readonly hook: number;
  /** The priority among the hook's functions. */
  readonly priority: number;
  /** `BPF_F_NETFILTER_IP_DEFRAG` (1) when packets are defragmented first. */
  readonly flags: number;
}

/** `bpf_link_info.sockmap`. */
export interface SockmapLinkInfo {
  /** The sockmap or sockhash. */
  readonly mapId: number;
  /** `SKSKBStreamParser`, `SKSKBStreamVerdict`, `SKSKBVerdict` or `SKMsgVerdict`. */
  readonly attachType: AttachType;
}

/** `bpf_link_info.iter`. */
export interface IterLinkInfo {
  /** The iterator target (`task`, `bpf_map_elem`, `tcp`, …). */
  readonly targetName: string;
  /** Map iterators (`bpf_map_elem`, `bpf_sk_storage_map`): the map. */
  readonly mapId?: number;
  /** cgroup iterators (6.1): the cgroup the walk starts from. */
  readonly cgroupId?: bigint;
  /** cgroup iterators: the walk order (`BPF_CGROUP_ITER_*`). */
  readonly order?: number;
  /** task iterators (6.1): the thread the walk is limited to, 0 for all. */
  readonly tid?: number;
  /** task iterators: the process the walk is limited to, 0 for all. */
  readonly pid?: number;
}

/** `bpf_link_info.struct_ops`. */
export interface StructOpsLinkInfo {
  /** The struct_ops map the link registered. */
  readonly mapId: number;
}

/** `enum bpf_perf_event_type`: what a perf-event link is attached to. */
export type PerfEventLinkKind = 'uprobe' | 'uretprobe' | 'kprobe' | 'kretprobe' | 'tracepoint' | 'event';

/**
 * The perf event behind a perf-event link, as `bpf_link_info.perf_event` reports it (Linux
 * 6.6; missed kprobe hits 6.7; cookies 6.9; uprobe semaphore offsets 6.16). Fields a kernel
 * does not report are undefined (or 0 for the later additions, which older kernels leave zero).
 */
export interface PerfEventLinkInfo {
  /** The kind of event. */
  readonly kind: PerfEventLinkKind;
  /** The binary (uprobes), function (kprobes) or tracepoint name; empty for kprobes by address. */
  readonly name?: string;
  /** Offset into the binary (uprobes) or the function (kprobes). */
  readonly offset?: number;
  /** kprobes: the probed address (0 unless this process may see kernel addresses: kptr_restrict). */
  readonly address?: bigint;
  /** kprobes: hits missed because another kprobe was running (6.7+). */
  readonly missed?: bigint;
  /** uprobes: the USDT semaphore's file offset (6.16+). */
  readonly refCtrOffset?: bigint;
  /** Generic perf events: `perf_event_attr.config` and `type`. */
  readonly config?: bigint;
  /** Generic perf events: the `PERF_TYPE_*`. */
  readonly eventType?: number;
  /** The cookie given at attach time (6.9+). */
  readonly cookie: bigint;
}

const perfEventKinds: Record<number, PerfEventLinkKind> = {
  1: 'uprobe',
  2: 'uretprobe',
  3: 'kprobe',
  4: 'kretprobe',
  5: 'tracepoint',
  6: 'event',
};

/** How a {@link Link} holds its attachment. */
export type LinkMode =
  /** A bpf_link fd alone (raw tracepoint, tracing, pinned links). */
  | 'bpf-link'
  /** A bpf_link fd on top of a perf event fd (BPF_LINK_CREATE with BPF_PERF_EVENT, 5.15+). */
  | 'perf-link'
  /** A perf event fd with the program set by PERF_EVENT_IOC_SET_BPF (before 5.15). */
  | 'perf-ioctl'
  /**
   * No fd: the kernel keeps the attachment itself (an XDP program set through netlink, a
   * cls_bpf filter, BPF_PROG_ATTACH to a cgroup or map, SO_ATTACH_BPF). `close()` detaches it
   * through the attach function's cleanup; it outlives the process if never closed.
   */
  | 'attachment';

/** What an attach function hands to the {@link Link} it returns. */
export interface LinkParts {
  /** The bpf_link fd, the perf event fd for `perf-ioctl`, -1 for `attachment`. */
  readonly fd: number;
  /** The perf event fd under a `perf-link`. */
  readonly perfFd?: number;
  /** How the attachment is held. */
  readonly mode: LinkMode;
  /** What is attached, e.g. `tracepoint syscalls/sys_enter_getppid`. */
  readonly what: string;
  /** Run once after the fds are closed (e.g. remove a tracefs probe event). */
  readonly cleanup?: () => void;
  /**
   * How an `attachment` swaps its program for {@link Link.update} (BPF_PROG_ATTACH with
   * BPF_F_REPLACE, netlink XDP_FLAGS_REPLACE, …); without it such a link cannot be updated.
   * It must also make `cleanup` detach the new program from then on.
   */
  readonly update?: (program: Program, oldProgram: Program | undefined) => void;
}

/** What a link owns. `cleanup` is dropped once the link is pinned, and once it has run for {@link Link.detach}. */
interface Held {
  readonly fd: number;
  readonly perfFd: number;
  readonly mode: LinkMode;
  readonly what: string;
  cleanup: (() => void) | undefined;
  readonly update: ((program: Program, oldProgram: Program | undefined) => void) | undefined;
  /** Set by detach() of an `attachment`: nothing is attached any more. */
  detached: boolean;
}

function release(held: Held): void {
  const b = backend();
  // Disable before closing so no program run starts between the two steps of teardown; the
  // close itself detaches (perf_event_release_kernel() → perf_event_free_bpf_prog()).
  if (held.mode === 'perf-ioctl') b.ioctl(held.fd, PERF_EVENT_IOC_DISABLE, 0);
  if (held.fd >= 0) b.close(held.fd);
  if (held.perfFd >= 0) b.close(held.perfFd);
  held.cleanup?.();
}

const owners = Owner.kind<Held>('Link', release, (held) => `${held.what} (fd ${held.fd})`);

function u32(bytes: Uint8Array, offset: number): number {
  return dataView(bytes).getUint32(offset, hostLittleEndian);
}

function u64(bytes: Uint8Array, offset: number): bigint {
  return dataView(bytes).getBigUint64(offset, hostLittleEndian);
}

// PATH_MAX: uprobe paths are the longest names perf_event link info reports.
const PERF_EVENT_NAME_MAX = 4096;

/**
 * `bpf_link_info.perf_event` (6.6+), read with a name buffer: the kernel copies the binary,
 * function or tracepoint name when `*_name` points at one of `name_len` bytes. Older kernels
 * leave `perf_event.type` zero: undefined.
 */
function perfEventInfo(fd: number, ctx: { context: string }): PerfEventLinkInfo | undefined {
  const f = LinkInfoLayout.fields;
  const name = new Uint8Array(PERF_EVENT_NAME_MAX);
  const input = new Uint8Array(f.perf_event_name_len.offset + 4);
  dataView(input).setUint32(f.perf_event_name_len.offset, name.length, hostLittleEndian);
  // Generic events have no name; the kernel reads no pointer for them, so the first call can
  // carry the buffer for every kind.
  let info: Uint8Array;
  try {
    info = objGetInfoByFd(fd, LinkInfoLayout.size, [f.perf_event_name.offset, name], ctx, input);
  } catch (err) {
    // Before 6.6 the kernel checks the unused union bytes are zero only for some link types;
    // a kernel that rejects our name pointer has no perf_event info to give.
    if (err instanceof SyscallError && err.errno === Errno.EINVAL) return undefined;
    throw err;
  }
  const kind = perfEventKinds[u32(info, f.perf_event_type.offset)];
  if (kind === undefined) return undefined;
  const text = textUntilNul(name);
  switch (kind) {
    case 'uprobe':
    case 'uretprobe':
      return {
        kind,
        name: text,
        offset: u32(info, f.perf_event_offset.offset),
        refCtrOffset: u64(info, f.perf_event_uprobe_ref_ctr_offset.offset),
        cookie: u64(info, f.perf_event_uprobe_cookie.offset),
      };
    case 'kprobe':
    case 'kretprobe':
      return {
        kind,
        name: text,
        offset: u32(info, f.perf_event_offset.offset),
        address: u64(info, f.perf_event_kprobe_addr.offset),
        missed: u64(info, f.perf_event_kprobe_missed.offset),
        cookie: u64(info, f.perf_event_kprobe_cookie.offset),
      };
    case 'tracepoint':
      return { kind, name: text, cookie: u64(info, f.perf_event_tracepoint_cookie.offset) };
    case 'event':
      return {
        kind,
        config: u64(info, f.perf_event_event_config.offset),
        eventType: u32(info, f.perf_event_event_type.offset),
        cookie: u64(info, f.perf_event_event_cookie.offset),
      };
  }
}

/** The name an interface index has in this thread's network namespace, if any. */
function interfaceOf(ifindex: number): { ifindex: number; interface?: string } {
  if (ifindex === 0) return { ifindex };
  let name: string | undefined;
  try {
    name = interfaceName(ifindex);
  } catch {
    // No socket for the ioctl (a backend without sockets): the index alone.
  }
  return name === undefined ? { ifindex } : { ifindex, interface: name };
}

// Iterator target names ("bpf_map_elem", "task_file") are short; the kernel reports the length anyway.
const ITER_NAME_MAX = 64;

/**
 * `bpf_link_info.iter`: bpf_iter_link_fill_link_info() copies the target name into a buffer
 * of `target_name_len` bytes (ENOSPC and a cut name when it is too short, with the length it
 * needs in `target_name_len`), then the target's own members: a map id for map iterators, the
 * cgroup or task a walk is limited to (6.1).
 */
function iterInfo(fd: number, ctx: { context: string }): IterLinkInfo {
  const f = LinkInfoLayout.fields;
  let size = ITER_NAME_MAX;
  for (;;) {
    const name = new Uint8Array(size);
    const input = new Uint8Array(f.iter_target_name_len.offset + 4);
    dataView(input).setUint32(f.iter_target_name_len.offset, name.length, hostLittleEndian);
    let info: Uint8Array;
    try {
      info = objGetInfoByFd(fd, LinkInfoLayout.size, [f.iter_target_name.offset, name], ctx, input);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOSPC && size < 4096) {
        size *= 4;
        continue;
      }
      throw err;
    }
    const targetName = textUntilNul(name);
    const mapId = u32(info, f.iter_map_id.offset);
    // The target decides which member of the second union means anything.
    if (targetName === 'cgroup') {
      return { targetName, cgroupId: u64(info, f.iter_cgroup_cgroup_id.offset), order: u32(info, f.iter_cgroup_order.offset) };
    }
    if (targetName === 'task' || targetName === 'task_file' || targetName === 'task_vma') {
      return { targetName, tid: u32(info, f.iter_task_tid.offset), pid: u32(info, f.iter_task_pid.offset) };
    }
    return mapId === 0 ? { targetName } : { targetName, mapId };
  }
}

function linkInfo(fd: number): LinkInfo {
  const f = LinkInfoLayout.fields;
  const ctx = { context: `info of link fd ${fd}` };
  const info = objGetInfoByFd(fd, LinkInfoLayout.size, [], ctx);
  const type = u32(info, f.type.offset) as LinkType;
  const base = { type, id: u32(info, f.id.offset), programId: u32(info, f.prog_id.offset) };
  switch (type) {
    case LinkType.RawTracepoint: {
      // Second pass with a buffer: bpf_raw_tp_link_fill_link_info() copies the name when
      // tp_name is set and reports the length it needs in tp_name_len.
      const len = u32(info, f.raw_tracepoint_tp_name_len.offset);
      const name = new Uint8Array(Math.max(len, 1) + 1);
      const input = new Uint8Array(f.raw_tracepoint_tp_name_len.offset + 4);
      dataView(input).setUint32(f.raw_tracepoint_tp_name_len.offset, name.length, hostLittleEndian);
      objGetInfoByFd(fd, LinkInfoLayout.size, [f.raw_tracepoint_tp_name.offset, name], ctx, input);
      return { ...base, rawTracepointName: textUntilNul(name) };
    }
    case LinkType.Tracing: {
      // target_obj_id and target_btf_id arrived in 5.13 ("bpf: Return target info when a
      // tracing bpf_link is queried"); older kernels leave our zeroed bytes alone. A 5.13+
      // tracing link always has a target type, so a zero id means "not reported".
      const btfId = u32(info, f.tracing_target_btf_id.offset);
      const objectId = u32(info, f.tracing_target_obj_id.offset);
      return {
        ...base,
        tracingAttachType: u32(info, f.tracing_attach_type.offset),
        ...(btfId === 0 ? {} : { tracingTargetObjectId: objectId, tracingTargetBtfId: btfId }),
      };
    }
    case LinkType.PerfEvent: {
      const perfEvent = perfEventInfo(fd, ctx);
      return perfEvent === undefined ? base : { ...base, perfEvent };
    }
    case LinkType.KprobeMulti: {
      const kprobeMulti = kprobeMultiInfo(fd, info, ctx);
      return kprobeMulti === undefined ? base : { ...base, kprobeMulti };
    }
    case LinkType.UprobeMulti: {
      const uprobeMulti = uprobeMultiInfo(fd, info, ctx);
      return uprobeMulti === undefined ? base : { ...base, uprobeMulti };
    }
    case LinkType.Cgroup:
      return { ...base, cgroup: { cgroupId: u64(info, f.cgroup_cgroup_id.offset), attachType: u32(info, f.cgroup_attach_type.offset) } };
    case LinkType.NetNs:
      return { ...base, netns: { netnsIno: u32(info, f.netns_netns_ino.offset), attachType: u32(info, f.netns_attach_type.offset) } };
    case LinkType.XDP:
      return { ...base, xdp: interfaceOf(u32(info, f.xdp_ifindex.offset)) };
    case LinkType.TCX:
      return { ...base, tcx: { ...interfaceOf(u32(info, f.tcx_ifindex.offset)), attachType: u32(info, f.tcx_attach_type.offset) } };
    case LinkType.Netkit:
      return { ...base, netkit: { ...interfaceOf(u32(info, f.netkit_ifindex.offset)), attachType: u32(info, f.netkit_attach_type.offset) } };
    case LinkType.Netfilter:
      return {
        ...base,
        netfilter: {
          family: u32(info, f.netfilter_pf.offset),
          hook: u32(info, f.netfilter_hooknum.offset),
          priority: dataView(info).getInt32(f.netfilter_priority.offset, hostLittleEndian),
          flags: u32(info, f.netfilter_flags.offset),
        },
      };
    case LinkType.Sockmap:
      return { ...base, sockmap: { mapId: u32(info, f.sockmap_map_id.offset), attachType: u32(info, f.sockmap_attach_type.offset) } };
    case LinkType.Iter:
      return { ...base, iter: iterInfo(fd, ctx) };
    case LinkType.StructOps: {
      // struct_ops links report their map from 6.4 ("bpf: Create links for BPF struct_ops maps"
      // came with fill_link_info); before, the member stays zero.
      const mapId = u32(info, f.struct_ops_map_id.offset);
      return mapId === 0 ? base : { ...base, structOps: { mapId } };
    }
    default:
      return base;
  }
}


/** Link types without `update_prog` in their bpf_link_ops: BPF_LINK_UPDATE answers EINVAL. */
const notUpdatable = new Set([LinkType.RawTracepoint, LinkType.Tracing, LinkType.PerfEvent, LinkType.KprobeMulti, LinkType.UprobeMulti]);

/** `cgroup link`, `TRACING link`, or `this link` when its info cannot be read. */
function linkTypeLabel(fd: number): string {
  const type = infoOrUndefined(fd)?.type;
  return type === undefined ? 'this link' : `a ${LinkType[type] ?? `type ${type}`} link`;
}

function infoOrUndefined(fd: number): LinkInfo | undefined {
  try {
    return linkInfo(fd);
  } catch {
    return undefined;
  }
}

function programLabel(prog: Program): string {
  try {
    return `${prog.name} (id ${prog.info().id}, ${programTypeName(prog.type)})`;
  } catch {
    return prog.name;
  }
}

/**
 * Why BPF_LINK_UPDATE failed, from what the link reports now. link_update() answers EINVAL
 * itself for link types without update_prog; the update_prog functions answer EPERM when
 * BPF_F_REPLACE names another program than the link's, EINVAL for a program of another type or
 * expected attach type, ENOLINK once the target is gone; netfilter's answers EOPNOTSUPP.
 */
function explainUpdate(fd: number, errno: number, program: Program, oldProgram: Program | undefined): string | undefined {
  const info = infoOrUndefined(fd);
  const type = info === undefined ? 'this' : (LinkType[info.type] ?? `type ${info.type}`);
  const runs = info === undefined ? '' : `; the link runs program id ${info.programId}`;
  if (errno === Errno.ENOLINK) return `the link is defunct: what it was attached to is gone (interface, cgroup or namespace removed) or it was detached; attach anew`;
  if (errno === Errno.EOPNOTSUPP) return `${type} links cannot be updated: attach ${program.name} with a new link and close this one`;
  if (errno === Errno.EPERM && oldProgram !== undefined) {
    return `the link no longer runs ${programLabel(oldProgram)}${runs}: another update came first`;
  }
  if (errno !== Errno.EINVAL) return undefined;
  if (info !== undefined && notUpdatable.has(info.type)) {
    return `links of this type (${type}) cannot be updated: attach ${program.name} and close this link`;
  }
  if (info?.type === LinkType.StructOps) return 'a struct_ops link is updated with a new struct_ops map, not a program';
  return `${programLabel(program)} must have the program type and expected attach type (and, for iterators, the target) of the link's program${runs}`;
}

/**
 * A BPF program attached to a hook. Owns its fds (and, for tracefs kprobes, the probe event);
 * `close()` or `using` detaches.
 *
 * Minimum kernel: depends on the attachment (tracepoints 4.7, kprobes 4.1, raw tracepoints
 * 4.17, fentry/fexit 5.5, kprobe_multi 5.18, uprobe_multi 6.6); `info()` and `pin()` need a
 * bpf_link: 5.8 for raw tracepoints and tracing programs, 5.15 for kprobes and tracepoints
 * (perf link); multi-probe links are always bpf_links.
 *
 * @example
 * ```ts
 * using link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
 * console.log(link.info().id);
 * ```
 *
 * Errors: {@link ClosedError} after `close()`, {@link NotSupportedError} for `info()`/`pin()`
 * on an attachment without a bpf_link, {@link SyscallError} from the kernel.
 */
export class Link {
  readonly #owner: Owner<Held>;
  /** How the attachment is held. */
  readonly mode: LinkMode;
  /** What is attached, e.g. `kprobe do_sys_openat2`. */
  readonly what: string;

  protected constructor(parts: LinkParts) {
    this.mode = parts.mode;
    this.what = parts.what;
    const held: Held = {
      fd: parts.fd,
      perfFd: parts.perfFd ?? -1,
      mode: parts.mode,
      what: parts.what,
      cleanup: parts.cleanup,
      update: parts.update,
      detached: false,
    };
    this.#owner = new Owner(owners, this, held, `link ${parts.what} is closed`);
  }

  /**
   * Wraps fds an attach function obtained. The link owns them from here on.
   * @internal Used by the attach functions of this package.
   */
  static adopt(parts: LinkParts): Link {
    return new Link(parts);
  }

  /**
   * Opens a link pinned at `path` on bpffs (BPF_OBJ_GET). The program stays attached as long
   * as the pin or any fd exists.
   *
   * Minimum kernel: 5.7 (pinnable bpf_link).
   *
   * @example
   * ```ts
   * using link = Link.fromPin('/sys/fs/bpf/my_link');
   * link.unpin('/sys/fs/bpf/my_link');
   * ```
   * @throws {@link SyscallError} (ENOENT: nothing pinned there; EINVAL: not a link).
   */
  static fromPin(path: string): Link {
    const fd = objGet(path, 0, { context: `open pinned link ${path}` });
    return new Link({ fd, mode: 'bpf-link', what: `pinned link ${path}` });
  }

  /**
   * Opens the link with kernel id `id` (BPF_LINK_GET_FD_BY_ID). Closing the returned object
   * does not detach the link if another fd or pin holds it.
   *
   * Minimum kernel: 5.8.
   *
   * @example
   * ```ts
   * for (const info of listLinks()) using l = Link.fromId(info.id);
   * ```
   * @throws {@link SyscallError} (ENOENT: no such link).
   */
  static fromId(id: number): Link {
    const fd = fdById('link', id, { context: `open link id ${id}` });
    return new Link({ fd, mode: 'bpf-link', what: `link id ${id}` });
  }

  /**
   * The bpf_link fd (the perf event fd for `perf-ioctl`, -1 for an `attachment`, which has
   * none). Throws {@link ClosedError} after `close()`.
   */
  get fd(): number {
    return this.#owner.held.fd;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  private requireBpfLink(operation: string): number {
    const fd = this.fd;
    if (this.mode === 'perf-ioctl') {
      throw new NotSupportedError(`${operation} of a perf event attachment (BPF perf link)`, '5.15', {
        detail: `${this.what} was attached with PERF_EVENT_IOC_SET_BPF because this kernel has no BPF perf link, so there is no bpf_link object`,
      });
    }
    if (this.mode === 'attachment') {
      throw new NotSupportedError(`${operation} of an attachment without a bpf_link`, undefined, {
        detail: `${this.what} is held by the kernel without a bpf_link (this kernel, or the way it was attached, has no link for it); queryPrograms() shows it`,
      });
    }
    return fd;
  }

  /**
   * What the kernel knows about the link (BPF_OBJ_GET_INFO_BY_FD on the link fd).
   *
   * Minimum kernel: 5.8.
   *
   * @example
   * ```ts
   * const { id, programId, type } = link.info();
   * ```
   * @throws {@link NotSupportedError} for a `perf-ioctl` attachment, {@link ClosedError}
   * after `close()`.
   */
  info(): LinkInfo {
    return linkInfo(this.requireBpfLink('info'));
  }

  /**
   * Pins the link at `path` on bpffs: the program stays attached after this process exits,
   * until the pin is removed. A tracefs kprobe event behind the link is not removed by
   * `close()` while pinned links may still use it: pin only PMU-based attachments.
   *
   * Minimum kernel: 5.7 (bpf_link), 5.15 for kprobes and tracepoints.
   *
   * @example
   * ```ts
   * link.pin('/sys/fs/bpf/getppid_counter');
   * ```
   * @throws {@link NotSupportedError} for a `perf-ioctl` attachment, {@link SyscallError}
   * (EEXIST: the path exists; EPERM/EINVAL: not on bpffs).
   */
  pin(path: string): void {
    const fd = this.requireBpfLink('pin');
    objPin(fd, path, {
      context: `pin link ${this.what} at ${path}`,
      explain: (errno) => (errno === Errno.EINVAL || errno === Errno.EPERM ? `${path} must be on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)` : undefined),
    });
    // The pin outlives us: removing the probe event under it would fail with EBUSY anyway.
    const held = this.#owner.peek();
    if (held !== undefined) held.cleanup = undefined;
  }

  /**
   * Removes a pin (any file on bpffs). The link stays attached while this object is open.
   *
   * @example
   * ```ts
   * link.unpin('/sys/fs/bpf/getppid_counter');
   * ```
   * @throws {@link ArgumentError} when `path` is empty, the Node.js error of `unlink` otherwise.
   */
  unpin(path: string): void {
    if (path === '') throw new ArgumentError('unpin needs a path');
    unlinkSync(path);
  }

  /**
   * Replaces the link's program with `program`, atomically: no packet or event goes without a
   * program in between (BPF_LINK_UPDATE). With `oldProgram`, only if the link still runs that
   * program (BPF_F_REPLACE): a concurrent update makes this one fail instead of being lost.
   * The new program must have the old one's type and expected attach type. An `attachment`
   * made by {@link attachRaw} is updated through BPF_PROG_ATTACH instead.
   *
   * A struct_ops link (`attachStructOps(map)`) is updated with a map instead: `update(newMap,
   * { oldMap })` swaps in another `.struct_ops.link` map of the same struct, its value written
   * (BPF_LINK_UPDATE with new_map_fd, 6.4).
   *
   * Minimum kernel: 5.7 (cgroup links); other links as they arrived: netns 5.8, XDP 5.9,
   * iterators 5.9, tcx 6.6, netkit 6.7, sockmap 6.10. Tracing, raw tracepoint, perf event and
   * multi-probe links cannot be updated; netfilter links neither.
   *
   * @example
   * ```ts
   * using link = attachCgroup(v1, { cgroup: '/sys/fs/cgroup/app', attachType: AttachType.CgroupInetEgress });
   * link.update(v2, { oldProgram: v1 });
   * ```
   * @throws {@link NotSupportedError} for attachments without a bpf_link that cannot be
   * updated, or a kernel before 5.7; {@link SyscallError} explained: EPERM (the link runs
   * another program than `oldProgram`, or holds another map than `oldMap`), EINVAL (a link type
   * that cannot be updated, or a program of another type or attach type), ENOLINK (the link's
   * target is gone or it was detached).
   */
  update(program: Program, options?: { oldProgram?: Program }): void;
  update(map: BpfMap, options?: { oldMap?: BpfMap }): void;
  update(target: Program | BpfMap, options: { oldProgram?: Program; oldMap?: BpfMap } = {}): void {
    if (target instanceof BpfMap) {
      if (this.mode !== 'bpf-link') {
        throw new NotSupportedError(`update of ${this.what} with a map`, undefined, {
          detail: 'a .struct_ops map registered by its map update has no link to swap maps in: use a .struct_ops.link map (6.4), or close this and register the new map',
        });
      }
      updateLinkMap(this.fd, this.what, target, options.oldMap);
      return;
    }
    const program = target;
    const { oldProgram } = options;
    if (this.mode === 'attachment') {
      const held = this.#owner.held;
      if (held.update === undefined) {
        throw new NotSupportedError(`update of ${this.what}`, undefined, { detail: 'this attachment has no way to swap its program: attach the new program, then close this link' });
      }
      if (held.detached) throw new ArgumentError(`${this.what} was detached: attach the new program instead`);
      held.update(program, oldProgram);
      return;
    }
    const fd = this.requireBpfLink('update');
    bpfCall(
      LinkUpdate,
      { link_fd: fd, new_prog_fd: program.fd, flags: oldProgram === undefined ? 0 : BPF_F_REPLACE, old_prog_fd: oldProgram?.fd },
      { context: `update link ${this.what} to program ${program.name}`, explain: (errno) => explainUpdate(fd, errno, program, oldProgram) },
    );
  }

  /**
   * Detaches the program while this object (and any pin) stays open: the link becomes
   * defunct, `info()` still answers, with zeros where the target was. For an `attachment`, runs
   * its cleanup now (detaches exactly its program); `close()` then only releases.
   *
   * Minimum kernel: 5.9 (BPF_LINK_DETACH), for cgroup, netns, XDP, netfilter (6.4), tcx (6.6),
   * netkit (6.7), sockmap (6.10) and struct_ops (6.9) links; other link types detach only when
   * their last fd and pin are gone.
   *
   * @example
   * ```ts
   * link.detach(); // a pinned XDP link stops running without removing the pin first
   * ```
   * @throws {@link NotSupportedError} before 5.9 or for a perf event attachment;
   * {@link SyscallError} EOPNOTSUPP, explained, for link types that cannot be detached.
   */
  detach(): void {
    if (this.mode === 'attachment') {
      const held = this.#owner.held;
      const cleanup = held.cleanup;
      held.cleanup = undefined;
      held.detached = true;
      cleanup?.();
      return;
    }
    const fd = this.requireBpfLink('detach');
    bpfCall(
      LinkDetach,
      { link_fd: fd },
      {
        context: `detach link ${this.what}`,
        explain: (errno) => (errno === Errno.EOPNOTSUPP ? `${linkTypeLabel(fd)} cannot be detached while open (the kernel detaches cgroup, netns, XDP, tcx, netkit, netfilter, sockmap and struct_ops links): close() it and remove its pins` : undefined),
      },
    );
  }

  /** Detaches: closes the fds and removes what the attachment created. Idempotent. */
  close(): void {
    this.#owner.close();
  }

  /** `using link = attach…()` detaches at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `Link(kprobe do_sys_openat2, perf-link, fd N)`. */
  toString(): string {
    return `Link(${this.what}, ${this.mode}, ${fdState(this.#owner)})`;
  }
}

/**
 * Every bpf_link in the kernel, as `bpftool link show` lists them. Links that disappear while
 * listing are skipped; every fd opened is closed again.
 *
 * Minimum kernel: 5.8; needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * for (const l of listLinks()) console.log(l.id, LinkType[l.type], l.programId);
 * ```
 * @throws {@link SyscallError} EPERM without privileges.
 */
export function listLinks(): LinkInfo[] {
  const out: LinkInfo[] = [];
  for (const id of objectIds('link')) {
    let fd: number;
    try {
      fd = fdById('link', id);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOENT) continue;
      throw err;
    }
    try {
      out.push(linkInfo(fd));
    } finally {
      backend().close(fd);
    }
  }
  return out;
}
