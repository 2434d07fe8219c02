/**
 * `ebpf-ts net [interface]`: the BPF programs on the network interfaces of a network
 * namespace, like `bpftool net show` — XDP (netlink IFLA_XDP, per mode), cls_bpf filters of
 * the clsact qdisc (netlink RTM_GETTFILTER), tcx (6.6) and netkit
 * (6.7) lists (BPF_PROG_QUERY by ifindex, with the links holding them), and the namespace's
 * own hooks: flow dissector and sk_lookup (BPF_PROG_QUERY of the namespace) and netfilter
 * links.
 *
 * Everything is read synchronously, so `--netns` can move the thread into another namespace
 * for the whole listing and back (see internal/netns.ts).
 *
 * @module
 */
import { closeSync, openSync } from 'node:fs';
import { BpfError } from '../errors.js';
import { interfaceIndex, interfaceNames, resolveInterface } from '../internal/netdev.js';
import { listLinks, type LinkInfo } from '../link/link.js';
import { queryPrograms } from '../link/query.js';
import { tcFilters, type TcFilter } from '../link/tc.js';
import { xdpPrograms } from '../link/xdp.js';
import { AttachType } from '../types.js';
import type { ParsedArgs } from './args.js';
import { AttachPointNames, inNetnsOption, netfilterText } from './attach-points.js';
import { printRecords, type CLIContext } from './output.js';

/** One program on a hook, as `net --json` prints it. */
export interface NetRecord {
  /** The interface, null for the namespace's own hooks (flow dissector, sk_lookup, netfilter). */
  readonly interface: string | null;
  /** Its index, null for the namespace's hooks. */
  readonly ifindex: number | null;
  /** `xdp`, `tc`, `tcx`, `netkit`, `flow_dissector`, `sk_lookup` or `netfilter`. */
  readonly hook: string;
  /**
   * Where on the hook: the XDP mode, `ingress`/`egress` (for tc with the filter's priority,
   * handle and direct-action), `primary`/`peer`, a netfilter family, hook and priority; ''
   * when the hook has one place.
   */
  readonly where: string;
  /** The program's id. */
  readonly progId: number;
  /** Its name, null when it is gone. */
  readonly progName: string | null;
  /** The link holding it, null when it was attached without one (netlink, BPF_PROG_ATTACH). */
  readonly linkId: number | null;
}

/** What the links say, to name the link holding each program. */
interface LinkIndex {
  /** `kind:ifindex:progId` → link id (xdp, tcx, netkit). */
  readonly onInterfaces: Map<string, number>;
  /** Netfilter links. */
  readonly netfilter: LinkInfo[];
}

function indexLinks(): LinkIndex {
  const onInterfaces = new Map<string, number>();
  const netfilter: LinkInfo[] = [];
  let links: LinkInfo[] = [];
  try {
    links = listLinks();
  } catch {
    // Before 5.8 links cannot be listed: programs show without them.
  }
  for (const l of links) {
    if (l.xdp !== undefined) onInterfaces.set(`xdp:${l.xdp.ifindex}:${l.programId}`, l.id);
    if (l.tcx !== undefined) onInterfaces.set(`tcx:${l.tcx.ifindex}:${l.programId}`, l.id);
    if (l.netkit !== undefined) onInterfaces.set(`netkit:${l.netkit.ifindex}:${l.programId}`, l.id);
    if (l.netfilter !== undefined) netfilter.push(l);
  }
  return { onInterfaces, netfilter };
}

/** The programs BPF_PROG_QUERY lists at one hook, or none where the kernel or device has no such hook. */
function queried(target: string | number, attachType: AttachType): ReturnType<typeof queryPrograms>['programs'] {
  try {
    return queryPrograms(target, attachType).programs;
  } catch (err) {
    // EINVAL before the hook existed (tcx 6.6, netkit 6.7), ENXIO/EOPNOTSUPP for a device
    // that is not a netkit one: nothing is attached there.
    if (err instanceof BpfError) return [];
    throw err;
  }
}

/** The records of one interface. */
function interfaceRecords(name: string, ifindex: number, names: AttachPointNames, links: LinkIndex): NetRecord[] {
  const out: NetRecord[] = [];
  const record = (hook: string, where: string, progId: number, linkId: number | undefined): void =>
    void out.push({ interface: name, ifindex, hook, where, progId, progName: names.program(progId)?.name ?? null, linkId: linkId ?? null });
  try {
    for (const x of xdpPrograms(ifindex)) record('xdp', x.mode, x.programId, links.onInterfaces.get(`xdp:${ifindex}:${x.programId}`));
  } catch (err) {
    if (!(err instanceof BpfError)) throw err;
  }
  for (const direction of ['ingress', 'egress'] as const) {
    let filters: TcFilter[] = [];
    try {
      filters = tcFilters(ifindex, direction);
    } catch (err) {
      if (!(err instanceof BpfError)) throw err;
    }
    for (const f of filters) {
      if (f.programId === undefined) continue; // before 4.13 filters do not name their program
      const where = `${direction} prio ${f.priority} handle 0x${f.handle.toString(16)}${f.directAction ? ' direct-action' : ''}`;
      record('tc', where, f.programId, undefined);
    }
  }
  const lists: [string, AttachType, string][] = [
    ['tcx', AttachType.TCXIngress, 'ingress'],
    ['tcx', AttachType.TCXEgress, 'egress'],
    ['netkit', AttachType.NetkitPrimary, 'primary'],
    ['netkit', AttachType.NetkitPeer, 'peer'],
  ];
  for (const [hook, type, where] of lists) {
    for (const p of queried(ifindex, type)) record(hook, where, p.id, p.linkId ?? links.onInterfaces.get(`${hook}:${ifindex}:${p.id}`));
  }
  return out;
}

/** The namespace's own hooks. */
function namespaceRecords(names: AttachPointNames, links: LinkIndex): NetRecord[] {
  const out: NetRecord[] = [];
  const record = (hook: string, where: string, progId: number, linkId: number | null): void =>
    void out.push({ interface: null, ifindex: null, hook, where, progId, progName: names.program(progId)?.name ?? null, linkId });
  const self = openSync('/proc/thread-self/ns/net', 'r');
  try {
    for (const [hook, type] of [
      ['flow_dissector', AttachType.FlowDissector],
      ['sk_lookup', AttachType.SKLookup],
    ] as const) {
      for (const p of queried(self, type)) record(hook, '', p.id, p.linkId ?? null);
    }
  } finally {
    closeSync(self);
  }
  for (const l of links.netfilter) {
    record('netfilter', netfilterText(l.netfilter!), l.programId, l.id);
  }
  return out;
}

/** Every record of the namespace the thread is in (or of one interface there). */
export function netRecords(iface?: string): NetRecord[] {
  const names = new AttachPointNames();
  const links = indexLinks();
  if (iface !== undefined) {
    const { index, name } = resolveInterface(/^\d+$/.test(iface) ? Number(iface) : iface);
    return interfaceRecords(name, index, names, links);
  }
  const out: NetRecord[] = [];
  for (const name of interfaceNames()) {
    let index: number;
    try {
      index = interfaceIndex(name);
    } catch {
      continue; // gone meanwhile
    }
    out.push(...interfaceRecords(name, index, names, links));
  }
  return [...out, ...namespaceRecords(names, links)];
}

/** Runs `ebpf-ts net` (its help text and options are in commands.ts). */
export function runNet(args: ParsedArgs, ctx: CLIContext): void {
  const iface = args.positionals.interface;
  const records = inNetnsOption(args.options.netns, () => netRecords(iface));
  printRecords(
    ctx,
    args.options.json === true,
    records,
    [{ title: 'INTERFACE' }, { title: 'HOOK' }, { title: 'WHERE' }, { title: 'PROG', right: true }, { title: 'NAME' }, { title: 'LINK' }],
    (r) => [
      r.interface === null ? '-' : `${r.interface}(${r.ifindex})`,
      r.hook,
      r.where === '' ? '-' : r.where,
      String(r.progId),
      r.progName === null || r.progName === '' ? '-' : r.progName,
      r.linkId === null ? '-' : String(r.linkId),
    ],
  );
}
