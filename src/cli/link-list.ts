/**
 * `ebpf-ts link list` (also `link show`): the bpf_links in the kernel, like `bpftool link
 * show` — type, program, where each is attached, the processes holding it and where it is
 * pinned. Needs CAP_SYS_ADMIN and Linux 5.8 (BPF_LINK_GET_NEXT_ID).
 *
 * @module
 */
import type { Holder } from '../internal/bpf-holders.js';
import { listLinks, type InterfaceLinkInfo, type LinkInfo } from '../link/link.js';
import { attachTypeName } from '../link/attach-target.js';
import { holdersAndPins, listCell, pidsCell, whereabouts } from './loaded.js';
import { printRecords, type CLIContext } from './output.js';
import { UsageError, type ParsedArgs } from './args.js';
import { ArgumentError } from '../errors.js';
import { AttachPointNames, inNetnsOption, netfilterText } from './attach-points.js';

/** `enum bpf_link_type` names without the `BPF_LINK_TYPE_` prefix, by value. */
const linkTypeNames = ['UNSPEC', 'RAW_TRACEPOINT', 'TRACING', 'CGROUP', 'ITER', 'NETNS', 'XDP', 'PERF_EVENT', 'KPROBE_MULTI', 'STRUCT_OPS', 'NETFILTER', 'TCX', 'UPROBE_MULTI', 'NETKIT', 'SOCKMAP'];

/** The UAPI name of a link type (`TRACING`), or `link type N`. */
export function linkTypeName(type: number): string {
  return linkTypeNames[type] ?? `link type ${type}`;
}

/** One link as `link list --json` prints it. */
export interface LinkRecord {
  /** Kernel id. */
  readonly id: number;
  /** UAPI type name (`PERF_EVENT`). */
  readonly type: string;
  /** Id of the attached program. */
  readonly progId: number;
  /** Its name (in full from BTF), null when it could not be opened. */
  readonly progName: string | null;
  /** Its type, null when it could not be opened. */
  readonly progType: string | null;
  /** Where the link is attached, in words (`kprobe do_unlinkat`, `cgroup /sys/fs/cgroup/app cgroup_inet_egress`). */
  readonly attached: string;
  /** The type-specific facts the kernel reports: `Link.info()` without type, id and program (`{ cgroup: {…} }`, `{ tcx: {…} }`, …). */
  readonly details: Readonly<Record<string, unknown>>;
  /** Processes holding the link. */
  readonly pids: Holder[];
  /** Paths the link is pinned at. */
  readonly pinned: string[];
}

/** The library's decoded facts of a link (`Link.info()` without type, id and program), as plain JSON. */
function infoDetails(l: LinkInfo): Record<string, unknown> {
  const { type: _type, id: _id, programId: _prog, ...rest } = l;
  return rest;
}

/**
 * `lo (ifindex 1)`; `ifindex 3 (another network namespace)` when the interface with that index
 * here does not run the link's program (bpf_link_info does not say which namespace the index
 * is from); `detached` once the interface is gone.
 */
function interfaceText(hook: 'xdp' | 'tcx' | 'netkit', i: InterfaceLinkInfo, progId: number, names: AttachPointNames): string {
  if (i.ifindex === 0) return 'detached (interface gone)';
  if (names.interfaceRuns(hook, i.ifindex, progId, i.attachType) === false) return `ifindex ${i.ifindex} (another network namespace)`;
  return i.interface === undefined ? `ifindex ${i.ifindex}` : `${i.interface} (ifindex ${i.ifindex})`;
}

/** Where a link is attached, in words. */
export function describeLink(l: LinkInfo, names: AttachPointNames): string {
  if (l.rawTracepointName !== undefined) return `raw tracepoint ${l.rawTracepointName}`;
  if (l.tracingAttachType !== undefined) {
    const target = l.tracingTargetObjectId === undefined ? '' : ` ${names.btfTypeName(l.tracingTargetObjectId, l.tracingTargetBtfId!)}`;
    return `${attachTypeName(l.tracingAttachType)}${target}`;
  }
  const p = l.perfEvent;
  if (p !== undefined) {
    if (p.kind === 'event') return `perf event type ${p.eventType} config ${p.config}`;
    const offset = p.offset === undefined || p.offset === 0 ? '' : `+0x${p.offset.toString(16)}`;
    return `${p.kind} ${p.name === undefined || p.name === '' ? `0x${(p.address ?? 0n).toString(16)}` : p.name}${offset}`;
  }
  if (l.kprobeMulti !== undefined) return `${l.kprobeMulti.retprobe ? 'kretprobe' : 'kprobe'}.multi on ${l.kprobeMulti.count} functions`;
  if (l.uprobeMulti !== undefined) {
    const u = l.uprobeMulti;
    return `${u.retprobe ? 'uretprobe' : 'uprobe'}.multi ${u.path}: ${u.count} places${u.pid === 0 ? '' : ` (pid ${u.pid})`}`;
  }
  if (l.cgroup !== undefined) {
    const { cgroupId, attachType } = l.cgroup;
    if (cgroupId === 0n) return `cgroup (detached) ${attachTypeName(attachType)}`;
    const path = names.cgroupPath(cgroupId);
    return `cgroup ${path ?? `id ${cgroupId}`} ${attachTypeName(attachType)}`;
  }
  if (l.netns !== undefined) {
    const { netnsIno, attachType } = l.netns;
    if (netnsIno === 0) return `netns (detached) ${attachTypeName(attachType)}`;
    const holders = names.netnsHolders(netnsIno);
    return `netns net:[${netnsIno}]${holders.length === 0 ? '' : ` of ${holders.join(', ')}`} ${attachTypeName(attachType)}`;
  }
  if (l.xdp !== undefined) return `xdp ${interfaceText('xdp', l.xdp, l.programId, names)}`;
  if (l.tcx !== undefined) return `tcx ${interfaceText('tcx', l.tcx, l.programId, names)} ${l.tcx.attachType === undefined ? '' : attachTypeName(l.tcx.attachType).replace(/^tcx_/, '')}`.trimEnd();
  if (l.netkit !== undefined) return `netkit ${interfaceText('netkit', l.netkit, l.programId, names)} ${l.netkit.attachType === undefined ? '' : attachTypeName(l.netkit.attachType).replace(/^netkit_/, '')}`.trimEnd();
  if (l.netfilter !== undefined) return `netfilter ${netfilterText(l.netfilter)}`;
  if (l.sockmap !== undefined) return `${names.mapLabel(l.sockmap.mapId)} ${attachTypeName(l.sockmap.attachType)}`;
  if (l.iter !== undefined) {
    const i = l.iter;
    const map = i.mapId === undefined ? '' : ` ${names.mapLabel(i.mapId)}`;
    const cgroup = i.cgroupId === undefined || i.cgroupId === 0n ? '' : ` cgroup ${names.cgroupPath(i.cgroupId) ?? `id ${i.cgroupId}`}`;
    const task = i.tid !== undefined && i.tid !== 0 ? ` tid ${i.tid}` : i.pid !== undefined && i.pid !== 0 ? ` pid ${i.pid}` : '';
    return `iterator ${i.targetName}${map}${cgroup}${task}`;
  }
  if (l.structOps !== undefined) return `struct_ops ${names.mapLabel(l.structOps.mapId)}`;
  return '-';
}

/** Every link as `link list --json` prints it. */
export function linkRecords(): LinkRecord[] {
  const w = whereabouts();
  const names = new AttachPointNames();
  return listLinks().map((l) => {
    const prog = names.program(l.programId);
    return {
      id: l.id,
      type: linkTypeName(l.type),
      progId: l.programId,
      progName: prog?.name ?? null,
      progType: prog?.type ?? null,
      attached: describeLink(l, names),
      details: infoDetails(l),
      ...holdersAndPins(w, 'link', l.id),
    };
  });
}

/** Runs `ebpf-ts link list` (its help text and options are in commands.ts). */
export function runLinkList(args: ParsedArgs, ctx: CLIContext): void {
  const wanted = args.positionals.link;
  if (wanted !== undefined && !/^\d+$/.test(wanted)) throw new UsageError(`${JSON.stringify(wanted)} is not a link id`);
  const links = inNetnsOption(args.options.netns, linkRecords).filter((l) => wanted === undefined || l.id === Number(wanted));
  if (wanted !== undefined && links.length === 0) throw new ArgumentError(`no link with id ${wanted}`);
  printRecords(
    ctx,
    args.options.json === true,
    links,
    [{ title: 'ID', right: true }, { title: 'TYPE' }, { title: 'PROG', right: true }, { title: 'PROG NAME' }, { title: 'PROG TYPE' }, { title: 'ATTACHED' }, { title: 'PIDS' }, { title: 'PINNED' }],
    (l) => [String(l.id), l.type, String(l.progId), l.progName === null || l.progName === '' ? '-' : l.progName, l.progType ?? '-', l.attached, pidsCell(l.pids), listCell(l.pinned)],
  );
}
