/**
 * `ebpf-ts link list` (also `link show`): the bpf_links in the kernel, like `bpftool link
 * show` — type, program, where each is attached, the processes holding it and where it is
 * pinned. Needs CAP_SYS_ADMIN and Linux 5.8 (BPF_LINK_GET_NEXT_ID).
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Holder } from '../internal/bpf-holders.js';
import { linkDetails, type LinkDetails } from '../internal/bpf-link-details.js';
import { listLinks, type LinkInfo } from '../link/link.js';
import { Program } from '../prog.js';
import type { Spec } from '../btf/spec.js';
import { AttachType, programTypeName } from '../types.js';
import { jsonOption, type Command } from './command.js';
import { btfSpecById } from './kernel-btf.js';
import { holdersAndPins, listCell, pidsCell, readObject, whereabouts } from './loaded.js';
import { printRecords } from './output.js';
import { UsageError } from './args.js';
import { ArgumentError } from '../errors.js';

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
  /** Its type, null when it could not be opened. */
  readonly progType: string | null;
  /** Where the link is attached, in words (`kprobe do_unlinkat`). */
  readonly attached: string;
  /** The type-specific facts the kernel reports. */
  readonly details: Readonly<Record<string, unknown>>;
  /** Processes holding the link. */
  readonly pids: Holder[];
  /** Paths the link is pinned at. */
  readonly pinned: string[];
}

const attachTypeName = (t: unknown): string => AttachType[Number(t)] ?? `attach type ${String(t)}`;

/** The network interface with index `ifindex` (from /sys/class/net), or the number. */
function interfaceName(ifindex: number): string {
  try {
    for (const name of readdirSync('/sys/class/net')) {
      if (Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) === ifindex) return `${name} (ifindex ${ifindex})`;
    }
  } catch {
    // no sysfs: the number alone
  }
  return `ifindex ${ifindex}`;
}

/** The name of type `btfId` in BTF object `objectId` (a tracing link's target function). */
function btfTypeName(objectId: number, btfId: number, cache: Map<number, Spec>): string {
  try {
    return btfSpecById(objectId, cache).typeById(btfId).name;
  } catch {
    return `btf ${objectId}:${btfId}`;
  }
}

/** The library's decoded facts of a link, as plain JSON. */
function infoDetails(l: LinkInfo): Record<string, unknown> {
  const { type: _type, id: _id, programId: _prog, ...rest } = l;
  return rest;
}

/** `where` for the link types the library decodes; undefined for the others. */
function describeInfo(l: LinkInfo, cache: Map<number, Spec>): string | undefined {
  if (l.rawTracepointName !== undefined) return `raw tracepoint ${l.rawTracepointName}`;
  if (l.tracingAttachType !== undefined) {
    const target = l.tracingTargetObjectId === undefined ? '' : ` ${btfTypeName(l.tracingTargetObjectId, l.tracingTargetBtfId!, cache)}`;
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
  return undefined;
}

/** `where` from {@link linkDetails}. */
function describeDetails(type: string, d: LinkDetails): string {
  const attach = d.attachType === undefined ? '' : ` ${attachTypeName(d.attachType)}`;
  switch (type) {
    case 'CGROUP':
      return `cgroup ${d.cgroupId}${attach}`;
    case 'ITER':
      return `iterator ${d.targetName}${d.mapId === undefined ? '' : ` map ${d.mapId}`}${d.cgroupId === undefined ? '' : ` cgroup ${d.cgroupId}`}${d.tid === undefined || d.tid === 0 ? '' : ` tid ${d.tid}`}`;
    case 'NETNS':
      return `netns ${d.netnsIno}${attach}`;
    case 'NETFILTER':
      return `netfilter pf ${d.pf} hook ${d.hooknum} priority ${d.priority}`;
    case 'STRUCT_OPS':
    case 'SOCKMAP':
      return `map ${d.mapId}${attach}`;
    default: // XDP, TCX, NETKIT
      return `${interfaceName(Number(d.ifindex))}${attach}`;
  }
}

/** Every link as `link list --json` prints it. */
export function linkRecords(): LinkRecord[] {
  const w = whereabouts();
  const cache = new Map<number, Spec>();
  return listLinks().map((l) => {
    const type = linkTypeName(l.type);
    const extra = linkDetails(l.id, l.type);
    return {
      id: l.id,
      type,
      progId: l.programId,
      progType: readObject(() => Program.fromId(l.programId), (p) => programTypeName(p.type)) ?? null,
      attached: describeInfo(l, cache) ?? (extra === undefined ? '-' : describeDetails(type, extra)),
      details: extra ?? infoDetails(l),
      ...holdersAndPins(w, 'link', l.id),
    };
  });
}

/** The `link list` command. */
export const linkListCommand: Command = {
  words: ['link', 'list'],
  aliases: [['link', 'show']],
  summary: 'List the BPF links in the kernel (like bpftool link show). Needs CAP_SYS_ADMIN and Linux 5.8.',
  details:
    'ATTACHED says where: the tracepoint, function (tracing targets named from their BTF), probe, cgroup,\n' +
    'network interface, iterator or map. PIDS are the processes holding the link (/proc/*/fdinfo), PINNED\n' +
    'its paths on bpffs. Attachments made without a link (perf event ioctl, tc/netlink) are not links.',
  options: [jsonOption],
  positionals: [{ name: 'link', required: false, description: 'only the link with this id' }],
  run(args, ctx) {
    const wanted = args.positionals.link;
    if (wanted !== undefined && !/^\d+$/.test(wanted)) throw new UsageError(`${JSON.stringify(wanted)} is not a link id`);
    const links = linkRecords().filter((l) => wanted === undefined || l.id === Number(wanted));
    if (wanted !== undefined && links.length === 0) throw new ArgumentError(`no link with id ${wanted}`);
    printRecords(
      ctx,
      args.options.json === true,
      links,
      [{ title: 'ID', right: true }, { title: 'TYPE' }, { title: 'PROG', right: true }, { title: 'PROG TYPE' }, { title: 'ATTACHED' }, { title: 'PIDS' }, { title: 'PINNED' }],
      (l) => [String(l.id), l.type, String(l.progId), l.progType ?? '-', l.attached, pidsCell(l.pids), listCell(l.pinned)],
    );
  },
};
