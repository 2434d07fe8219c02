/**
 * libbpf's section-name conventions (`SEC("kprobe/do_sys_open")`): which program type and
 * expected attach type a section name means, what it attaches to, and whether it is
 * sleepable or XDP-frags aware. Kept as a table in libbpf's order because the first match
 * wins (`xdp.frags/devmap` must be tried before `xdp.frags`, `tc/ingress` before `tc`).
 *
 * Matching rules, as libbpf applies them (`sec_def_matches` in tools/lib/bpf/libbpf.c):
 * - `exact`: the whole name, e.g. `socket`, `xdp`, `cgroup/connect4`;
 * - `target`: the name alone or followed by `/target`, e.g. `kprobe` and `kprobe/do_exit`
 *   (libbpf writes these `"kprobe+"`); never a mere prefix like `kprobex`.
 *
 * A leading `?` (`SEC("?tp/...")`) means "do not load by default" and is stripped before
 * matching (libbpf 1.0's autoload convention).
 *
 * Objects written for cilium/ebpf or libbpf before 1.0 also name sections by prefix:
 * `socket/anything`, `xdp_foo`, `classifier/ingress_x`. When no rule above matches, an
 * `exact` row whose name starts the section name is taken, as cilium/ebpf does (never a
 * `target` row: `kprobe__x` stays unknown, as everywhere); {@link SectionInfo.legacy} then
 * says which rule matched and the strict name libbpf 1.x wants.
 *
 * @module
 */
import { AttachType, ProgramType } from '../types.js';
import { BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS } from '../internal/flags.js';
export { BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS } from '../internal/flags.js';

/** How a table entry matches a section name. */
export type SectionMatch = 'exact' | 'target';

/** One row of the section-name table. */
export interface SectionDefinition {
  /** The name or prefix (`"kprobe"`, `"cgroup/connect4"`). */
  readonly name: string;
  /** How {@link SectionDefinition.name} is matched. */
  readonly match: SectionMatch;
  /** The program type. */
  readonly type: ProgramType;
  /** The expected attach type sent at load (`AttachType.None` when the type takes none). */
  readonly attachType: AttachType;
  /** `prog_flags` this section implies (sleepable, XDP frags). */
  readonly flags: number;
  /** The attach target is a BTF ID (fentry, LSM, tp_btf, iter, freplace). */
  readonly attachBTF: boolean;
}

/** What a section name says about the programs in it. */
export interface SectionInfo {
  /** The program type; `ProgramType.Unspec` if no convention matches. */
  readonly type: ProgramType;
  /** The expected attach type. */
  readonly attachType: AttachType;
  /** The attach target from the name (`"do_sys_open"`, `"syscalls/sys_enter_openat"`). */
  readonly attachTo: string | undefined;
  /** `prog_flags` implied by the name (`BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`). */
  readonly flags: number;
  /** False when the name starts with `?`: the program is only loaded on request. */
  readonly autoload: boolean;
  /** The attach target is resolved through BTF. */
  readonly attachBTF: boolean;
  /** The table row that matched, if any. */
  readonly definition: SectionDefinition | undefined;
  /**
   * Set when only the legacy prefix rule matched (cilium/ebpf, libbpf < 1.0): what matched
   * and the strict name libbpf 1.x wants, e.g. `"xdp_foo" matched "xdp" by prefix …`.
   */
  readonly legacy?: string;
}

const S = BPF_F_SLEEPABLE;
const F = BPF_F_XDP_HAS_FRAGS;

function def(name: string, type: ProgramType, attachType: AttachType, flags = 0, attachBTF = false): SectionDefinition {
  const target = name.endsWith('+');
  return { name: target ? name.slice(0, -1) : name, match: target ? 'target' : 'exact', type, attachType, flags, attachBTF };
}

const P = ProgramType;
const A = AttachType;

/**
 * The conventions, first match wins. A trailing `+` in the source strings below marks
 * `target` rows (the name may be followed by `/target`).
 */
export const sectionDefinitions: readonly SectionDefinition[] = [
  def('socket', P.SocketFilter, A.None),
  def('sk_reuseport/migrate', P.SKReuseport, A.SKReuseportSelectOrMigrate),
  def('sk_reuseport', P.SKReuseport, A.SKReuseportSelect),
  def('kprobe+', P.Kprobe, A.None),
  def('uprobe+', P.Kprobe, A.None),
  def('uprobe.s+', P.Kprobe, A.None, S),
  def('kretprobe+', P.Kprobe, A.None),
  def('uretprobe+', P.Kprobe, A.None),
  def('uretprobe.s+', P.Kprobe, A.None, S),
  def('kprobe.multi+', P.Kprobe, A.TraceKprobeMulti),
  def('kretprobe.multi+', P.Kprobe, A.TraceKprobeMulti),
  def('kprobe.session+', P.Kprobe, A.TraceKprobeSession),
  def('uprobe.multi+', P.Kprobe, A.TraceUprobeMulti),
  def('uretprobe.multi+', P.Kprobe, A.TraceUprobeMulti),
  def('uprobe.session+', P.Kprobe, A.TraceUprobeSession),
  def('uprobe.multi.s+', P.Kprobe, A.TraceUprobeMulti, S),
  def('uretprobe.multi.s+', P.Kprobe, A.TraceUprobeMulti, S),
  def('uprobe.session.s+', P.Kprobe, A.TraceUprobeSession, S),
  def('ksyscall+', P.Kprobe, A.None),
  def('kretsyscall+', P.Kprobe, A.None),
  def('usdt+', P.Kprobe, A.None),
  def('usdt.s+', P.Kprobe, A.None, S),
  def('tc/ingress', P.SchedCls, A.TCXIngress),
  def('tc/egress', P.SchedCls, A.TCXEgress),
  def('tcx/ingress', P.SchedCls, A.TCXIngress),
  def('tcx/egress', P.SchedCls, A.TCXEgress),
  def('tc', P.SchedCls, A.None),
  def('classifier', P.SchedCls, A.None),
  def('action', P.SchedAct, A.None),
  def('netkit/primary', P.SchedCls, A.NetkitPrimary),
  def('netkit/peer', P.SchedCls, A.NetkitPeer),
  def('tracepoint+', P.Tracepoint, A.None),
  def('tp+', P.Tracepoint, A.None),
  def('tracepoint.s+', P.Tracepoint, A.None, S),
  def('tp.s+', P.Tracepoint, A.None, S),
  def('raw_tracepoint+', P.RawTracepoint, A.None),
  def('raw_tp+', P.RawTracepoint, A.None),
  def('raw_tracepoint.s+', P.RawTracepoint, A.None, S),
  def('raw_tp.s+', P.RawTracepoint, A.None, S),
  def('raw_tracepoint.w+', P.RawTracepointWritable, A.None),
  def('raw_tp.w+', P.RawTracepointWritable, A.None),
  def('tp_btf+', P.Tracing, A.TraceRawTP, 0, true),
  def('tp_btf.s+', P.Tracing, A.TraceRawTP, S, true),
  def('fentry+', P.Tracing, A.TraceFentry, 0, true),
  def('fmod_ret+', P.Tracing, A.ModifyReturn, 0, true),
  def('fexit+', P.Tracing, A.TraceFexit, 0, true),
  def('fentry.s+', P.Tracing, A.TraceFentry, S, true),
  def('fmod_ret.s+', P.Tracing, A.ModifyReturn, S, true),
  def('fexit.s+', P.Tracing, A.TraceFexit, S, true),
  def('freplace+', P.Ext, A.None, 0, true),
  def('lsm+', P.LSM, A.LSMMAC, 0, true),
  def('lsm.s+', P.LSM, A.LSMMAC, S, true),
  def('lsm_cgroup+', P.LSM, A.LSMCgroup, 0, true),
  def('iter+', P.Tracing, A.TraceIter, 0, true),
  def('iter.s+', P.Tracing, A.TraceIter, S, true),
  def('syscall', P.Syscall, A.None, S),
  def('xdp.frags/devmap', P.XDP, A.XDPDevMap, F),
  def('xdp/devmap', P.XDP, A.XDPDevMap),
  def('xdp.frags/cpumap', P.XDP, A.XDPCPUMap, F),
  def('xdp/cpumap', P.XDP, A.XDPCPUMap),
  def('xdp.frags', P.XDP, A.XDP, F),
  def('xdp', P.XDP, A.XDP),
  def('perf_event', P.PerfEvent, A.None),
  def('lwt_in', P.LWTIn, A.None),
  def('lwt_out', P.LWTOut, A.None),
  def('lwt_xmit', P.LWTXmit, A.None),
  def('lwt_seg6local', P.LWTSeg6Local, A.None),
  def('sockops', P.SockOps, A.CgroupSockOps),
  def('sk_skb/stream_parser', P.SKSKB, A.SKSKBStreamParser),
  def('sk_skb/stream_verdict', P.SKSKB, A.SKSKBStreamVerdict),
  def('sk_skb/verdict', P.SKSKB, A.SKSKBVerdict),
  def('sk_skb', P.SKSKB, A.None),
  def('sk_msg', P.SKMsg, A.SKMsgVerdict),
  def('lirc_mode2', P.LIRCMode2, A.LIRCMode2),
  def('flow_dissector', P.FlowDissector, A.FlowDissector),
  def('cgroup_skb/ingress', P.CgroupSKB, A.CgroupInetIngress),
  def('cgroup_skb/egress', P.CgroupSKB, A.CgroupInetEgress),
  def('cgroup/skb', P.CgroupSKB, A.None),
  def('cgroup/sock_create', P.CgroupSock, A.CgroupInetSockCreate),
  def('cgroup/sock_release', P.CgroupSock, A.CgroupInetSockRelease),
  def('cgroup/sock', P.CgroupSock, A.CgroupInetSockCreate),
  def('cgroup/post_bind4', P.CgroupSock, A.CgroupInet4PostBind),
  def('cgroup/post_bind6', P.CgroupSock, A.CgroupInet6PostBind),
  def('cgroup/bind4', P.CgroupSockAddr, A.CgroupInet4Bind),
  def('cgroup/bind6', P.CgroupSockAddr, A.CgroupInet6Bind),
  def('cgroup/connect4', P.CgroupSockAddr, A.CgroupInet4Connect),
  def('cgroup/connect6', P.CgroupSockAddr, A.CgroupInet6Connect),
  def('cgroup/connect_unix', P.CgroupSockAddr, A.CgroupUnixConnect),
  def('cgroup/sendmsg4', P.CgroupSockAddr, A.CgroupUDP4Sendmsg),
  def('cgroup/sendmsg6', P.CgroupSockAddr, A.CgroupUDP6Sendmsg),
  def('cgroup/sendmsg_unix', P.CgroupSockAddr, A.CgroupUnixSendmsg),
  def('cgroup/recvmsg4', P.CgroupSockAddr, A.CgroupUDP4Recvmsg),
  def('cgroup/recvmsg6', P.CgroupSockAddr, A.CgroupUDP6Recvmsg),
  def('cgroup/recvmsg_unix', P.CgroupSockAddr, A.CgroupUnixRecvmsg),
  def('cgroup/getpeername4', P.CgroupSockAddr, A.CgroupInet4Getpeername),
  def('cgroup/getpeername6', P.CgroupSockAddr, A.CgroupInet6Getpeername),
  def('cgroup/getpeername_unix', P.CgroupSockAddr, A.CgroupUnixGetpeername),
  def('cgroup/getsockname4', P.CgroupSockAddr, A.CgroupInet4Getsockname),
  def('cgroup/getsockname6', P.CgroupSockAddr, A.CgroupInet6Getsockname),
  def('cgroup/getsockname_unix', P.CgroupSockAddr, A.CgroupUnixGetsockname),
  def('cgroup/sysctl', P.CgroupSysctl, A.CgroupSysctl),
  def('cgroup/getsockopt', P.CgroupSockopt, A.CgroupGetsockopt),
  def('cgroup/setsockopt', P.CgroupSockopt, A.CgroupSetsockopt),
  def('cgroup/dev', P.CgroupDevice, A.CgroupDevice),
  def('struct_ops+', P.StructOps, A.None),
  def('struct_ops.s+', P.StructOps, A.None, S),
  def('sk_lookup', P.SKLookup, A.SKLookup),
  def('netfilter', P.Netfilter, A.Netfilter),
];

function matches(d: SectionDefinition, name: string): boolean {
  if (d.match === 'exact') return name === d.name;
  return name === d.name || name.startsWith(`${d.name}/`);
}

/**
 * What the section name `sectionName` says: program type, expected attach type, attach
 * target, implied flags and autoload. Names that match no convention give
 * `ProgramType.Unspec` (the caller may set a type by hand before loading).
 *
 * @example
 * ```ts
 * parseSectionName('?fentry.s/do_unlinkat');
 * // { type: Tracing, attachType: TraceFentry, attachTo: 'do_unlinkat',
 * //   flags: BPF_F_SLEEPABLE, autoload: false, attachBTF: true, … }
 * ```
 */
export function parseSectionName(sectionName: string): SectionInfo {
  const autoload = !sectionName.startsWith('?');
  const name = autoload ? sectionName : sectionName.slice(1);
  const definition = sectionDefinitions.find((d) => matches(d, name));
  if (definition === undefined) {
    const legacy = sectionDefinitions.find((d) => d.match === 'exact' && name.startsWith(d.name));
    if (legacy !== undefined) {
      return {
        type: legacy.type,
        attachType: legacy.attachType,
        attachTo: undefined,
        flags: legacy.flags,
        autoload,
        attachBTF: legacy.attachBTF,
        definition: legacy,
        legacy: `section ${JSON.stringify(name)} matched ${JSON.stringify(legacy.name)} by prefix, a rule of cilium/ebpf and libbpf before 1.0; libbpf 1.x wants SEC(${JSON.stringify(legacy.name)})`,
      };
    }
    return { type: ProgramType.Unspec, attachType: AttachType.None, attachTo: undefined, flags: 0, autoload, attachBTF: false, definition };
  }
  const rest = name.length > definition.name.length ? name.slice(definition.name.length + 1) : undefined;
  return {
    type: definition.type,
    attachType: definition.attachType,
    attachTo: rest === '' ? undefined : rest,
    flags: definition.flags,
    autoload,
    attachBTF: definition.attachBTF,
    definition,
  };
}

const warnedLegacy = new Set<string>();

/**
 * One process warning (code `EBPF_TS_LEGACY_SECTION`) per section name matched only by the
 * legacy prefix rule, so that the author learns the strict name without being told twice.
 */
export function warnLegacySection(message: string): void {
  if (warnedLegacy.has(message)) return;
  warnedLegacy.add(message);
  process.emitWarning(`ebpf-ts: ${message}`, { code: 'EBPF_TS_LEGACY_SECTION' });
}
