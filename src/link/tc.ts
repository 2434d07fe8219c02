/**
 * tc with cls_bpf: a SCHED_CLS program as a direct-action filter of an interface's clsact
 * qdisc, set up through rtnetlink the way `tc qdisc add dev X clsact` and `tc filter add dev X
 * ingress bpf da obj …` do. The attach point of every kernel before tcx links (6.6); on newer
 * kernels it still works beside tcx.
 *
 * - The clsact qdisc (Linux 4.5, commit 1f211a1b929c "net, sched: add clsact qdisc") has two
 *   hooks, ingress (parent ffff:fff2) and egress (ffff:fff3). We create it when the interface
 *   has none and remove it again when our last filter goes, if no one else's filters remain.
 * - The filter (RTM_NEWTFILTER, kind "bpf") carries the program fd, a name and
 *   TCA_BPF_FLAG_ACT_DIRECT (4.4): the program's return value is the verdict (TC_ACT_OK,
 *   TC_ACT_SHOT, …). Priority and handle are chosen by the kernel unless given; NLM_F_ECHO
 *   sends back the filter as created, so we know exactly what to remove.
 *
 * @module
 */
import { statSync } from 'node:fs';
import { ArgumentError, AttachTargetError, SyscallError } from '../errors.js';
import { hostLittleEndian } from '../internal/bytes.js';
import { resolveInterface } from '../internal/netdev.js';
import {
  decodeTcMsg,
  encodeTcMsg,
  NetlinkError,
  nla,
  NLM_F_CREATE,
  NLM_F_ECHO,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RouteNetlink,
  RTM,
  type NetlinkAttributes,
} from '../internal/netlink.js';
import { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';
import { programName } from './query.js';

/** Which way packets pass the hook: received (`ingress`) or sent (`egress`). */
export type TcDirection = 'ingress' | 'egress';

/** `TC_H_CLSACT` (= TC_H_INGRESS): the clsact qdisc's parent. */
const TC_H_CLSACT = 0xfffffff1;
/** The clsact qdisc's handle, ffff:0. */
const CLSACT_HANDLE = 0xffff0000;
/** Filter parents: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS). */
const parents: Record<TcDirection, number> = { ingress: 0xfffffff2, egress: 0xfffffff3 };
const ETH_P_ALL = 0x0003;
/** `tcm_info`'s protocol half is in network byte order. */
const PROTOCOL_ALL = hostLittleEndian ? ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8) : ETH_P_ALL;

// include/uapi/linux/rtnetlink.h, pkt_cls.h
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_FD = 6;
const TCA_BPF_NAME = 7;
const TCA_BPF_FLAGS = 8;
const TCA_BPF_TAG = 10;
const TCA_BPF_ID = 11;
const TCA_BPF_FLAG_ACT_DIRECT = 1;

/** Options of {@link attachTc}. */
export interface TcOptions {
  /** The interface, by name or index, in the calling thread's network namespace. */
  interface: string | number;
  /** The hook: packets received (`ingress`) or sent (`egress`). */
  direction: TcDirection;
  /**
   * The filter's priority, 1–65535 (lower runs first). Default: the kernel picks one before
   * the filters already there (49152 on an empty hook).
   */
  priority?: number;
  /** The filter's handle within its priority, 1–0xffffffff. Default: the kernel picks one. */
  handle?: number;
}

/** A cls_bpf filter, as {@link tcFilters} reports it. */
export interface TcFilter {
  /** The hook it is on. */
  readonly direction: TcDirection;
  /** Its priority. */
  readonly priority: number;
  /** Its handle. */
  readonly handle: number;
  /** The EtherType it matches (host order); 3 (ETH_P_ALL) for every packet. */
  readonly protocol: number;
  /** The attached program's id (Linux 4.13+; undefined before). */
  readonly programId?: number;
  /** The program's name as the kernel has it, when it could be read. */
  readonly programName?: string;
  /** The filter's name (TCA_BPF_NAME: `tc` shows it; ebpf-ts sets the program's name). */
  readonly name?: string;
  /** The program's tag (hex), as `tc filter show` prints it. */
  readonly tag?: string;
  /** TCA_BPF_FLAG_ACT_DIRECT: the program's return value is the verdict. */
  readonly directAction: boolean;
}

function checkOptions(prog: Program, options: TcOptions): void {
  if (prog.type !== ProgramType.SchedCls) {
    throw new ArgumentError(`attachTc needs a SCHED_CLS program (SEC("tc") or SEC("classifier")); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  if (options === undefined || options === null || (typeof options.interface !== 'string' && typeof options.interface !== 'number')) {
    throw new ArgumentError('attachTc needs { interface, direction }: an interface name or index and ingress or egress');
  }
  checkDirection(options.direction);
  const { priority, handle } = options;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < 1 || priority > 0xffff)) {
    throw new ArgumentError(`tc priority ${priority} is not an integer from 1 to 65535`);
  }
  if (handle !== undefined && (!Number.isInteger(handle) || handle < 1 || handle > 0xffffffff)) {
    throw new ArgumentError(`tc handle ${handle} is not an integer from 1 to 0xffffffff`);
  }
}

function checkDirection(direction: unknown): asserts direction is TcDirection {
  if (direction !== 'ingress' && direction !== 'egress') throw new ArgumentError(`tc direction ${JSON.stringify(direction)} is neither ingress nor egress`);
}

// ---------------------------------------------------------------------------------------------
// Who created which clsact qdisc: shared by the links of this process, so the qdisc goes with
// the last of our filters, not the first.

interface QdiscUse {
  /** We created the qdisc (it did not exist before our first filter). */
  created: boolean;
  /** Our live filters on it. */
  users: number;
}

const qdiscs = new Map<string, QdiscUse>();

/** The key of an interface: its namespace (inode of the thread's netns) and index. */
function qdiscKey(ifindex: number): string {
  let ns = 0;
  try {
    ns = statSync('/proc/thread-self/ns/net').ino;
  } catch {
    /* no /proc: one namespace as far as we can tell */
  }
  return `${ns}:${ifindex}`;
}

function qdiscMessage(ifindex: number): Uint8Array[] {
  return [encodeTcMsg({ ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 }), nla.string(TCA_KIND, 'clsact')];
}

/** The kind of the qdisc at ffff: (clsact, ingress), or undefined when there is none. */
function ingressQdiscKind(nl: RouteNetlink, ifindex: number): string | undefined {
  const all = nl.dump(RTM.GETQDISC, [encodeTcMsg({ ifindex, handle: 0, parent: 0, info: 0 })]);
  for (const m of all) {
    const { header, attributes } = decodeTcMsg(m.payload);
    if (header.ifindex === ifindex && header.handle === CLSACT_HANDLE) return attributes.string(TCA_KIND);
  }
  return undefined;
}

/** Makes sure the interface has a clsact qdisc; returns whether we created it. */
function ensureClsact(nl: RouteNetlink, iface: { index: number; name: string }): boolean {
  try {
    nl.request(RTM.NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, qdiscMessage(iface.index), {
      context: `create the clsact qdisc of ${iface.name}`,
      explain: (errno) =>
        errno === Errno.ENOENT || errno === Errno.EOPNOTSUPP
          ? 'this kernel has no clsact qdisc (CONFIG_NET_SCH_INGRESS; modprobe sch_ingress), Linux 4.5+'
          : undefined,
    });
    return true;
  } catch (err) {
    if (!(err instanceof NetlinkError) || err.errno !== Errno.EEXIST) throw err;
  }
  // Something sits at ffff: already: clsact is what we need, the older ingress qdisc is not.
  const kind = ingressQdiscKind(nl, iface.index);
  if (kind !== undefined && kind !== 'clsact') {
    throw new AttachTargetError(
      'interface',
      iface.name,
      `${iface.name} has an ${kind} qdisc where cls_bpf filters need clsact (which has both an ingress and an egress hook): replace it (tc qdisc del dev ${iface.name} ${kind}), or attach with attachTcx on Linux 6.6+`,
      { errno: Errno.EEXIST },
    );
  }
  return false;
}

/** Removes the clsact qdisc if no filter (ours or anyone's) remains on either hook. */
function removeClsactIfUnused(nl: RouteNetlink, ifindex: number): void {
  for (const direction of ['ingress', 'egress'] as const) {
    if (dumpFilters(nl, ifindex, direction).length > 0) return;
  }
  try {
    nl.request(RTM.DELQDISC, 0, qdiscMessage(ifindex), { context: `remove the clsact qdisc of interface ${ifindex}` });
  } catch (err) {
    // Gone already (removed by someone, or the interface is gone).
    if (err instanceof NetlinkError && (err.errno === Errno.ENOENT || err.errno === Errno.EINVAL || err.errno === Errno.ENODEV)) return;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

function filterHeader(ifindex: number, direction: TcDirection, priority: number, handle: number): Uint8Array {
  return encodeTcMsg({ ifindex, handle, parent: parents[direction], info: ((priority << 16) | PROTOCOL_ALL) >>> 0 });
}

function bpfOptions(prog: Program): Uint8Array {
  return nla.nested(TCA_OPTIONS, [nla.u32(TCA_BPF_FD, prog.fd), nla.string(TCA_BPF_NAME, prog.name), nla.u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)]);
}

/** What a filter dump entry says; `kind` for every filter, the rest for bpf ones. */
interface RawFilter {
  readonly kind: string | undefined;
  readonly priority: number;
  readonly handle: number;
  readonly protocol: number;
  readonly options: NetlinkAttributes | undefined;
}

function decodeFilter(payload: Uint8Array): RawFilter {
  const { header, attributes } = decodeTcMsg(payload);
  const proto = header.info & 0xffff;
  return {
    kind: attributes.string(TCA_KIND),
    priority: header.info >>> 16,
    handle: header.handle,
    protocol: hostLittleEndian ? ((proto & 0xff) << 8) | (proto >> 8) : proto,
    options: attributes.nested(TCA_OPTIONS),
  };
}

/** Every filter on a hook (a priority's header entry, which has no options, is skipped). */
function dumpFilters(nl: RouteNetlink, ifindex: number, direction: TcDirection): RawFilter[] {
  const msgs = nl.dump(RTM.GETTFILTER, [encodeTcMsg({ ifindex, handle: 0, parent: parents[direction], info: 0 })], { context: `list the tc ${direction} filters of interface ${ifindex}` });
  return msgs.map((m) => decodeFilter(m.payload)).filter((f) => f.options !== undefined && f.handle !== 0);
}

function toTcFilter(f: RawFilter, direction: TcDirection): TcFilter {
  const o = f.options!;
  const id = o.u32(TCA_BPF_ID);
  const name = o.string(TCA_BPF_NAME);
  const tag = o.get(TCA_BPF_TAG)?.data;
  const kernelName = id === undefined ? undefined : programName(id);
  return {
    direction,
    priority: f.priority,
    handle: f.handle,
    protocol: f.protocol,
    ...(id === undefined ? {} : { programId: id }),
    ...(kernelName === undefined ? {} : { programName: kernelName }),
    ...(name === undefined ? {} : { name }),
    ...(tag === undefined ? {} : { tag: Buffer.from(tag).toString('hex') }),
    directAction: ((o.u32(TCA_BPF_FLAGS) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
  };
}

function filterText(f: RawFilter): string {
  if (f.kind !== 'bpf') return `a ${f.kind ?? 'unknown'} filter at priority ${f.priority} handle 0x${f.handle.toString(16)}`;
  const id = f.options?.u32(TCA_BPF_ID);
  const name = f.options?.string(TCA_BPF_NAME);
  return `bpf filter ${name ?? '?'}${id === undefined ? '' : ` (program id ${id})`} at priority ${f.priority} handle 0x${f.handle.toString(16)}`;
}

/** `has bpf filter x (program id 3) at priority 1 handle 0x1`, for error messages. */
function describeFilters(nl: RouteNetlink, ifindex: number, direction: TcDirection): string {
  try {
    const all = dumpFilters(nl, ifindex, direction);
    return all.length === 0 ? `has no ${direction} filters now` : `has ${all.map(filterText).join(', ')} on ${direction} now`;
  } catch {
    return `(the list of its ${direction} filters could not be read)`;
  }
}

function explainFilter(errno: number, iface: { index: number; name: string }, options: TcOptions, nl: RouteNetlink): string | undefined {
  const where = `${iface.name} ${describeFilters(nl, iface.index, options.direction)}`;
  switch (errno) {
    case Errno.EEXIST:
      return `priority ${options.priority ?? '(any)'} handle ${options.handle === undefined ? '(any)' : `0x${options.handle.toString(16)}`} is taken: ${where}; choose another priority or handle, or leave them out and the kernel picks free ones`;
    case Errno.EINVAL:
      return `${where}; a priority holds filters of one kind and protocol only`;
    case Errno.ENOENT:
    case Errno.EOPNOTSUPP:
      return `the kernel has no cls_bpf classifier (CONFIG_NET_CLS_BPF; modprobe cls_bpf), or the clsact qdisc went away meanwhile`;
    default:
      return undefined;
  }
}

/** What a tc attachment keeps: its socket (in the interface's namespace) and where its filter is. */
interface TcHeld {
  readonly nl: RouteNetlink;
  readonly ifindex: number;
  readonly ifname: string;
  readonly direction: TcDirection;
  readonly priority: number;
  readonly handle: number;
  readonly qdiscKey: string;
  /** The program the filter runs, as we set it last. */
  programId: number;
  programName: string;
}

/** The filter at our priority and handle, or undefined when it is gone. */
function ourFilter(held: TcHeld): RawFilter | undefined {
  let reply;
  try {
    reply = held.nl.get(RTM.GETTFILTER, [filterHeader(held.ifindex, held.direction, held.priority, held.handle), nla.string(TCA_KIND, 'bpf')]);
  } catch (err) {
    if (err instanceof NetlinkError && (err.errno === Errno.ENOENT || err.errno === Errno.EINVAL || err.errno === Errno.ENODEV)) return undefined;
    throw err;
  }
  return decodeFilter(reply.payload);
}

/**
 * Removes our filter if it still runs our program (someone may have replaced it), then the
 * clsact qdisc when we created it and no filter remains.
 */
function detachTc(held: TcHeld): void {
  const { nl } = held;
  try {
    const now = ourFilter(held);
    const id = now?.options?.u32(TCA_BPF_ID);
    if (now !== undefined && now.kind === 'bpf' && (id === undefined || id === held.programId)) {
      try {
        nl.request(RTM.DELTFILTER, 0, [filterHeader(held.ifindex, held.direction, held.priority, held.handle), nla.string(TCA_KIND, 'bpf')], {
          context: `remove tc ${held.direction} filter ${held.programName} from ${held.ifname}`,
        });
      } catch (err) {
        if (!(err instanceof NetlinkError && (err.errno === Errno.ENOENT || err.errno === Errno.ENODEV))) throw err;
      }
    }
    releaseQdisc(nl, held.qdiscKey, held.ifindex);
  } finally {
    nl.close();
  }
}

function releaseQdisc(nl: RouteNetlink, key: string, ifindex: number): void {
  const use = qdiscs.get(key);
  if (use === undefined) return;
  use.users--;
  if (use.users > 0) return;
  qdiscs.delete(key);
  if (use.created) removeClsactIfUnused(nl, ifindex);
}

function updateTc(held: TcHeld, next: Program, expected: Program | undefined): void {
  if (next.type !== ProgramType.SchedCls) throw new ArgumentError(`a cls_bpf filter runs SCHED_CLS programs; ${next.name} is ${programTypeName(next.type)}`);
  const context = `replace tc ${held.direction} filter ${held.programName} on ${held.ifname} with ${next.name}`;
  // cls_bpf has no "expected program" check: compare before replacing (not atomic with it).
  const now = ourFilter(held);
  if (now === undefined) throw new SyscallError('RTM_GETTFILTER', Errno.ENOENT, `the filter at priority ${held.priority} handle 0x${held.handle.toString(16)} is gone`, context);
  const runs = now.options?.u32(TCA_BPF_ID);
  const want = expected === undefined ? held.programId : expected.info().id;
  if (runs !== undefined && runs !== want) {
    throw new SyscallError('RTM_GETTFILTER', Errno.EEXIST, `the filter runs program id ${runs}, not ${expected?.name ?? held.programName} (id ${want})`, context);
  }
  held.nl.request(RTM.NEWTFILTER, NLM_F_REPLACE, [filterHeader(held.ifindex, held.direction, held.priority, held.handle), nla.string(TCA_KIND, 'bpf'), bpfOptions(next)], { context });
  held.programId = next.info().id;
  held.programName = next.name;
}

/**
 * Attaches a SCHED_CLS program as a direct-action cls_bpf filter on an interface's clsact
 * qdisc (creating the qdisc when the interface has none). The returned {@link Link} (mode
 * `attachment`) removes the filter on `close()` — only if it still runs the program this link
 * set — and the clsact qdisc too when this process created it and no filters remain on either
 * hook. `Link.update` replaces the program of the same filter in place.
 *
 * Attach in another network namespace by calling this inside `inNetns()`: close() works from
 * anywhere (the netlink socket the link keeps stays in the namespace it was made in).
 *
 * Minimum kernel: 4.5 (clsact, direct action). Prefer `attachTcx` on 6.6+, which gives a
 * bpf_link that cannot be removed behind the owner's back.
 *
 * @example
 * ```ts
 * using link = attachTc(coll.programs.tc_count, { interface: 'eth0', direction: 'ingress' });
 * console.log(tcFilters('eth0', 'ingress')); // [{ priority: 49152, handle: 1, programName: 'tc_count', … }]
 * ```
 * @throws {@link ArgumentError} for a program that is not SCHED_CLS or bad options;
 * {@link AttachTargetError} when the interface does not exist or has an `ingress` qdisc in
 * clsact's place; {@link SyscallError} EEXIST (priority/handle taken, with the filters there
 * now) and others from the kernel, with its own explanation quoted.
 */
export function attachTc(prog: Program, options: TcOptions): Link {
  checkOptions(prog, options);
  const iface = resolveInterface(options.interface);
  const nl = RouteNetlink.open();
  const key = qdiscKey(iface.index);
  let counted = false;
  try {
    let use = qdiscs.get(key);
    // releaseQdisc() deletes an entry whose last user went away.
    if (use === undefined) {
      use = { created: ensureClsact(nl, iface), users: 0 };
      qdiscs.set(key, use);
    }
    use.users++;
    counted = true;
    const direction = options.direction;
    const echoed = nl.request(
      RTM.NEWTFILTER,
      NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
      [filterHeader(iface.index, direction, options.priority ?? 0, options.handle ?? 0), nla.string(TCA_KIND, 'bpf'), bpfOptions(prog)],
      { context: `attach tc ${direction} filter ${prog.name} to ${iface.name}`, explain: (errno) => explainFilter(errno, iface, options, nl) },
    );
    const mine = echoed.find((m) => m.type === RTM.NEWTFILTER);
    if (mine === undefined) throw new SyscallError('RTM_NEWTFILTER', Errno.EPROTO, 'the kernel did not echo the new filter (NLM_F_ECHO), so it cannot be removed exactly', `attach tc ${direction} filter ${prog.name} to ${iface.name}`);
    const f = decodeFilter(mine.payload);
    const held: TcHeld = {
      nl,
      ifindex: iface.index,
      ifname: iface.name,
      direction,
      priority: f.priority,
      handle: f.handle,
      qdiscKey: key,
      programId: prog.info().id,
      programName: prog.name,
    };
    return Link.adopt({
      fd: -1,
      mode: 'attachment',
      what: `tc ${direction} filter ${prog.name} on ${iface.name} (cls_bpf, priority ${f.priority}, handle 0x${f.handle.toString(16)})`,
      cleanup: () => detachTc(held),
      update: (next, expected) => updateTc(held, next, expected),
    });
  } catch (err) {
    try {
      if (counted) releaseQdisc(nl, key, iface.index);
    } catch {
      /* the first error is the one to report */
    }
    nl.close();
    throw err;
  }
}

/**
 * The cls_bpf filters on an interface's ingress or egress hook (clsact), in the order the
 * kernel runs them, whoever attached them (`tc filter add … bpf`, libbpf's bpf_tc_attach,
 * {@link attachTc}). Empty when the interface has no clsact qdisc. Filters of other kinds
 * (u32, flower) are left out.
 *
 * Minimum kernel: 4.5; program ids 4.13.
 *
 * @example
 * ```ts
 * for (const f of tcFilters('eth0', 'ingress')) console.log(f.priority, f.handle, f.programId, f.name);
 * ```
 * @throws {@link ArgumentError} for a bad direction; {@link AttachTargetError} when the
 * interface does not exist; {@link SyscallError} when netlink fails.
 */
export function tcFilters(iface: string | number, direction: TcDirection): TcFilter[] {
  checkDirection(direction);
  const { index } = resolveInterface(iface);
  const nl = RouteNetlink.open();
  try {
    return dumpFilters(nl, index, direction)
      .filter((f) => f.kind === 'bpf')
      .map((f) => toTcFilter(f, direction));
  } finally {
    nl.close();
  }
}
