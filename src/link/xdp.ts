/**
 * XDP: a program run by a network interface on every received packet, before the kernel
 * allocates an skb (driver mode), inside the driver's NIC offload (offload mode) or at the
 * start of the network stack (generic mode, any interface).
 *
 * Two ways to attach, as in the kernel:
 * - a BPF link (BPF_LINK_CREATE with BPF_XDP, Linux 5.9, commit aa8d3a716b59 "bpf, xdp: Add
 *   bpf_link-based XDP attachment API"): closing the link detaches, the link can be pinned and
 *   never replaces what someone else attached;
 * - netlink (RTM_SETLINK with IFLA_XDP, Linux 4.8): the interface keeps the program until it is
 *   removed. The {@link Link} returned then removes exactly the program it set, by passing it as
 *   IFLA_XDP_EXPECTED_FD with XDP_FLAGS_REPLACE (5.7), so a program someone attached since is
 *   left alone.
 *
 * {@link xdpPrograms} reads what an interface runs now (IFLA_XDP of RTM_GETLINK), which the
 * errors for a busy interface quote.
 *
 * @module
 */
import { ArgumentError, AttachTargetError, NotSupportedError } from '../errors.js';
import { Feature } from '../features/feature.js';
import {
  BPF_F_XDP_HAS_FRAGS,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_HW_MODE,
  XDP_FLAGS_REPLACE,
  XDP_FLAGS_SKB_MODE,
  XDP_FLAGS_UPDATE_IF_NOEXIST,
} from '../internal/flags.js';
import { dupOwned } from '../internal/fd.js';
import { resolveInterface } from '../internal/netdev.js';
import { decodeIfInfoMsg, encodeIfInfoMsg, NetlinkError, nla, RouteNetlink, RTM } from '../internal/netlink.js';
import { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { LinkCreate } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { linkCreateProbe } from './link-create-probe.js';
import { Link } from './link.js';
import { programName } from './query.js';

/** Where on the interface an XDP program runs. */
export type XDPMode =
  /** In the network stack, on an skb (XDP_FLAGS_SKB_MODE): works on every interface, slowest. */
  | 'generic'
  /** In the driver, before an skb exists (XDP_FLAGS_DRV_MODE): needs driver support (veth, most NICs). */
  | 'driver'
  /** On the NIC (XDP_FLAGS_HW_MODE): needs a program loaded for that device (nfp). */
  | 'offload';

const modeFlags: Record<XDPMode, number> = { generic: XDP_FLAGS_SKB_MODE, driver: XDP_FLAGS_DRV_MODE, offload: XDP_FLAGS_HW_MODE };
const MODE_MASK = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;
/** `XDP_FLAGS_MASK`: every flag the UAPI defines. */
const FLAGS_MASK = XDP_FLAGS_UPDATE_IF_NOEXIST | MODE_MASK | XDP_FLAGS_REPLACE;

// IFLA_XDP and its nested attributes (include/uapi/linux/if_link.h).
const IFLA_XDP = 43;
const IFLA_XDP_FD = 1;
const IFLA_XDP_ATTACHED = 2;
const IFLA_XDP_FLAGS = 3;
const IFLA_XDP_PROG_ID = 4;
const IFLA_XDP_DRV_PROG_ID = 5;
const IFLA_XDP_SKB_PROG_ID = 6;
const IFLA_XDP_HW_PROG_ID = 7;
const IFLA_XDP_EXPECTED_FD = 8;
// XDP_ATTACHED_*: what IFLA_XDP_ATTACHED reports.
const XDP_ATTACHED_DRV = 1;
const XDP_ATTACHED_SKB = 2;
const XDP_ATTACHED_HW = 3;
const XDP_ATTACHED_MULTI = 4;
/** The loopback device's index in every network namespace (LOOPBACK_IFINDEX). */
const LOOPBACK_IFINDEX = 1;

/** Options of {@link attachXDP}. */
export interface XDPOptions {
  /** The interface, by name (`eth0`) or index, in the calling thread's network namespace. */
  interface: string | number;
  /**
   * Where the program runs. Default: what the kernel picks, driver mode when the driver
   * supports XDP, else generic.
   */
  mode?: XDPMode;
  /**
   * `XDP_FLAGS_*` bits, for callers used to libbpf: a mode bit (SKB/DRV/HW, the same as
   * `mode`) and XDP_FLAGS_UPDATE_IF_NOEXIST. XDP_FLAGS_REPLACE is set by `replace`.
   */
  flags?: number;
  /**
   * Replace the program attached now (netlink only: a BPF link never replaces; a program held
   * by a link is swapped with `Link.update`). A {@link Program}: replace only if that is what
   * runs (XDP_FLAGS_REPLACE, 5.7; EEXIST otherwise); `true`: whatever runs. Without it, the
   * attachment fails when a program is attached in that mode, on either path.
   */
  replace?: Program | true;
  /**
   * Attach through netlink even where the kernel has XDP links (the only way before 5.9).
   * Default: a BPF link where the kernel has them.
   */
  legacy?: boolean;
}

/** One program attached to an interface, as {@link xdpPrograms} reports it. */
export interface XDPAttachment {
  /** Where it runs. */
  readonly mode: XDPMode;
  /** The program's kernel id. */
  readonly programId: number;
  /** The program's name, when it could be read (it may be gone by then). */
  readonly programName?: string;
}

/**
 * Whether this kernel makes XDP links (BPF_LINK_CREATE with BPF_XDP). The probe asks for a
 * driver-mode link on the loopback device, which has no native XDP: a 5.9+ kernel gets to
 * dev_xdp_attach() and answers EOPNOTSUPP ("Underlying driver does not support XDP in native
 * mode"), or EEXIST/EBUSY when loopback runs a generic program; older kernels reject the
 * attach type with EINVAL. Nothing is ever attached.
 *
 * Minimum kernel: 5.9.
 *
 * @example
 * ```ts
 * if (!xdpLinkFeature.supported()) console.log('XDP through netlink');
 * ```
 */
export const xdpLinkFeature = new Feature('XDP link (BPF_LINK_CREATE with BPF_XDP)', '5.9', () =>
  linkCreateProbe({
    name: 'probe_xdp_link',
    programType: ProgramType.XDP,
    attachType: AttachType.XDP,
    attachName: 'BPF_XDP',
    fields: { target_fd: LOOPBACK_IFINDEX, flags: XDP_FLAGS_DRV_MODE },
    proves: [Errno.EOPNOTSUPP, Errno.EEXIST, Errno.EBUSY],
    since: '5.9',
  }),
  { perBoot: 'kernel' },
);

function modeOfFlags(flags: number): XDPMode | undefined {
  if (flags & XDP_FLAGS_SKB_MODE) return 'generic';
  if (flags & XDP_FLAGS_DRV_MODE) return 'driver';
  if (flags & XDP_FLAGS_HW_MODE) return 'offload';
  return undefined;
}

/** Checks the options before any syscall and returns the mode flag (0: the kernel's choice) and extra flags. */
function checkOptions(prog: Program, options: XDPOptions): { mode: number; noexist: boolean } {
  if (prog.type !== ProgramType.XDP) {
    throw new ArgumentError(`attachXDP needs an XDP program; ${prog.name} is ${programTypeName(prog.type)} (XDP programs come from SEC("xdp") or SEC("xdp.frags"))`);
  }
  const at = prog.attachment.attachType;
  if (at === AttachType.XDPDevMap || at === AttachType.XDPCPUMap) {
    const map = at === AttachType.XDPDevMap ? 'devmap (struct bpf_devmap_val { ifindex, bpf_prog.fd })' : 'cpumap (struct bpf_cpumap_val { qsize, bpf_prog.fd })';
    throw new ArgumentError(`${prog.name} is an ${at === AttachType.XDPDevMap ? 'xdp/devmap' : 'xdp/cpumap'} program: it runs from a ${map} entry, not on an interface; put its fd into the map value instead`);
  }
  if (options === undefined || options === null || (typeof options.interface !== 'string' && typeof options.interface !== 'number')) {
    throw new ArgumentError('attachXDP needs { interface }: a name such as "eth0" or an index');
  }
  const flags = options.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~FLAGS_MASK) !== 0) {
    throw new ArgumentError(`XDP flags ${flags} contain bits the UAPI does not define (XDP_FLAGS_* is 0x${FLAGS_MASK.toString(16)})`);
  }
  if (flags & XDP_FLAGS_REPLACE) throw new ArgumentError('XDP_FLAGS_REPLACE is set by the replace option (replace: the program expected now), not in flags');
  const bits = flags & MODE_MASK;
  if (bits !== 0 && (bits & (bits - 1)) !== 0) throw new ArgumentError('XDP flags name more than one mode (SKB, DRV, HW): an XDP program runs in one');
  let mode = bits;
  if (options.mode !== undefined) {
    const m = modeFlags[options.mode];
    if (m === undefined) throw new ArgumentError(`XDP mode ${JSON.stringify(options.mode)} is not one of generic, driver, offload`);
    if (bits !== 0 && bits !== m) throw new ArgumentError(`mode ${options.mode} and the flags' ${modeOfFlags(bits)} mode disagree`);
    mode = m;
  }
  const noexist = (flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0;
  if (options.replace !== undefined) {
    if (noexist) throw new ArgumentError('replace and XDP_FLAGS_UPDATE_IF_NOEXIST contradict each other');
    if (options.legacy === false) throw new ArgumentError('replace needs the netlink path (a BPF link never replaces a program): leave legacy unset');
    if (options.replace !== true && !(options.replace instanceof Program)) throw new ArgumentError('replace takes the Program expected to run now, or true');
    if (options.replace instanceof Program && options.replace.type !== ProgramType.XDP) {
      throw new ArgumentError(`replace names ${options.replace.name}, a ${programTypeName(options.replace.type)} program: an interface runs XDP programs`);
    }
  }
  return { mode, noexist };
}

/**
 * Attaches an XDP program to a network interface. Through a BPF link where the kernel has
 * them (5.9+), else, or with `legacy: true` or `replace`, through netlink. Either way the
 * returned {@link Link} detaches on `close()`: a BPF link by closing its fd (mode
 * `bpf-link`), a netlink attachment (mode `attachment`) by removing exactly the program it
 * set, so a program attached by someone else since stays. A netlink attachment outlives the
 * process if never closed, as `ip link set dev … xdp` does.
 *
 * Attach in another network namespace by calling this inside `inNetns()`: the link's close()
 * works from anywhere (the netlink socket it keeps stays in the namespace it was made in).
 *
 * Minimum kernel: 4.8 (netlink), 4.12 (generic mode), 5.7 (exact removal and `replace` with a
 * program), 5.9 (BPF link), 5.18 (programs with frags, `SEC("xdp.frags")`).
 *
 * @example
 * ```ts
 * using link = attachXDP(coll.programs.xdp_count, { interface: 'eth0', mode: 'generic' });
 * console.log(xdpPrograms('eth0')); // [{ mode: 'generic', programId: 42, programName: 'xdp_count' }]
 * ```
 * @throws {@link ArgumentError} for a program that is not XDP (or a devmap/cpumap program)
 * and contradictory options; {@link AttachTargetError} when the interface does not exist;
 * {@link SyscallError} (EBUSY/EEXIST with what is attached now, EOPNOTSUPP when the driver has
 * no native XDP, ERANGE when the MTU needs a frags-aware program), with the kernel's own
 * explanation on the netlink path.
 */
export function attachXDP(prog: Program, options: XDPOptions): Link {
  const { mode, noexist } = checkOptions(prog, options);
  const iface = resolveInterface(options.interface);
  const useLink = options.replace === undefined && options.legacy !== true && xdpLinkSupported(options.legacy === false);
  return useLink ? attachByLink(prog, iface, mode) : attachByNetlink(prog, iface, mode, noexist, options.replace);
}

function xdpLinkSupported(required: boolean): boolean {
  if (required) {
    xdpLinkFeature.require();
    return true;
  }
  // An inconclusive probe: try the link, which reports its own errors.
  return xdpLinkFeature.check().supported !== false;
}

function modeWord(flags: number): string {
  return modeOfFlags(flags) === undefined ? '' : `${modeOfFlags(flags)} mode `;
}

function attachmentText(a: XDPAttachment): string {
  return `${a.mode} mode program id ${a.programId}${a.programName === undefined ? '' : ` (${a.programName})`}`;
}

/** `generic mode program id 12 (xdp_pass) is attached`, or undefined when the query fails. */
function describeAttached(ifindex: number, nl?: RouteNetlink): string | undefined {
  let list: XDPAttachment[];
  try {
    list = nl === undefined ? xdpProgramsByIndex(ifindex) : queryXDP(nl, ifindex);
  } catch {
    return undefined;
  }
  if (list.length === 0) return 'nothing is attached now';
  return `${list.map(attachmentText).join(' and ')} ${list.length === 1 ? 'is' : 'are'} attached now`;
}

/** What an errno from attaching means, with what the interface runs now. */
function explainAttach(errno: number, prog: Program, iface: { index: number; name: string }, mode: number, byLink: boolean, nl?: RouteNetlink): string | undefined {
  const now = (): string => describeAttached(iface.index, nl) ?? 'the query of what is attached failed';
  switch (errno) {
    case Errno.EBUSY:
      return byLink
        ? `${iface.name} already runs an XDP program in that mode: ${now()}; a BPF link never replaces one: close the link or detach the program holding it (ip link set dev ${iface.name} xdp off), or attach with { replace: true }`
        : `${iface.name} already runs an XDP program in that mode: ${now()}; pass { replace: true } (or the Program expected) to replace it, or detach it first`;
    case Errno.EEXIST:
      return `${now()}: ${iface.name} runs XDP in one of driver and generic mode at a time${byLink ? '' : ', and replace with a Program replaces only that program'}; detach it or attach in the same mode`;
    case Errno.EOPNOTSUPP:
      return `the driver of ${iface.name} has no ${mode === XDP_FLAGS_HW_MODE ? 'XDP offload' : 'native (driver mode) XDP'}: attach with mode 'generic'`;
    case Errno.ERANGE:
      return `the MTU of ${iface.name} (or its veth peer) is too large for a program without multi-buffer support: load ${prog.name} from SEC("xdp.frags") (BPF_F_XDP_HAS_FRAGS, Linux 5.18) or lower the MTU`;
    case Errno.EINVAL:
      return byLink ? undefined : `the kernel rejected the IFLA_XDP request (flags ${modeWord(mode)}on ${iface.name})`;
    case Errno.ENODEV:
      return `interface ${iface.name} disappeared`;
    default:
      return undefined;
  }
}

function attachByLink(prog: Program, iface: { index: number; name: string }, mode: number): Link {
  const fd = bpfCall(
    LinkCreate,
    { prog_fd: prog.fd, target_fd: iface.index, attach_type: AttachType.XDP, flags: mode },
    {
      context: `attach XDP program ${prog.name} to ${iface.name}`,
      explain: (errno) => explainAttach(errno, prog, iface, mode, true),
    },
  );
  return Link.adopt({ fd, mode: 'bpf-link', what: `XDP program ${prog.name} on ${iface.name} (${modeWord(mode)}BPF link)` });
}

/** RTM_SETLINK with IFLA_XDP: fd (−1 removes), flags, and the program expected to run now. */
function setXDP(nl: RouteNetlink, ifindex: number, fd: number, flags: number, expectedFd: number | undefined, context: string, explain: (errno: number) => string | undefined): void {
  const xdp = [nla.s32(IFLA_XDP_FD, fd)];
  const f = expectedFd === undefined ? flags : flags | XDP_FLAGS_REPLACE;
  if (f !== 0) xdp.push(nla.u32(IFLA_XDP_FLAGS, f));
  if (expectedFd !== undefined) xdp.push(nla.s32(IFLA_XDP_EXPECTED_FD, expectedFd));
  nl.request(RTM.SETLINK, 0, [encodeIfInfoMsg({ index: ifindex }), nla.nested(IFLA_XDP, xdp)], { context, explain: (errno) => explain(errno) });
}

function attachByNetlink(prog: Program, iface: { index: number; name: string }, mode: number, noexist: boolean, replace: Program | true | undefined): Link {
  const context = `attach XDP program ${prog.name} to ${iface.name} through netlink`;
  if (replace instanceof Program && !kernelVersion().atLeast('5.7')) {
    throw new NotSupportedError('replacing an expected XDP program (XDP_FLAGS_REPLACE)', '5.7', { detail: 'use replace: true to replace whatever runs' });
  }
  // Without replace, refuse to overwrite a program someone else attached, as a BPF link does.
  const flags = mode | (replace === undefined || noexist ? XDP_FLAGS_UPDATE_IF_NOEXIST : 0);
  const nl = RouteNetlink.open();
  let ours = -1;
  try {
    setXDP(nl, iface.index, prog.fd, flags, replace instanceof Program ? replace.fd : undefined, context, (errno) => explainAttach(errno, prog, iface, mode, false, nl));
    // Our own reference for removal: prog.fd may be closed before the link.
    ours = dupOwned(prog.fd, `program ${prog.name}`);
    // Remove in the mode the kernel chose (the default depends on the driver), never ambiguously.
    const id = prog.info().id;
    const landed = mode !== 0 ? modeOfFlags(mode)! : (queryXDP(nl, iface.index).find((a) => a.programId === id)?.mode ?? 'generic');
    const modeFlag = modeFlags[landed];
    const held: NetlinkHeld = { nl, fd: ours, ifindex: iface.index, name: prog.name, id };
    return Link.adopt({
      fd: -1,
      mode: 'attachment',
      what: `XDP program ${prog.name} on ${iface.name} (${landed} mode, netlink)`,
      cleanup: () => detachByNetlink(held, iface.name, modeFlag),
      update: (next, expected) => updateByNetlink(held, iface, modeFlag, next, expected),
    });
  } catch (err) {
    // Attached but the link could not be made: take the program off again.
    if (ours >= 0) {
      try {
        setXDP(nl, iface.index, -1, mode, ours, context, () => undefined);
      } catch {
        /* the first error is the one to report */
      }
      backend().close(ours);
    }
    nl.close();
    throw err;
  }
}

/** What a netlink attachment keeps: its socket (in the interface's namespace) and its program. */
interface NetlinkHeld {
  readonly nl: RouteNetlink;
  /** Our duplicate of the attached program's fd: the expected program on removal. */
  fd: number;
  readonly ifindex: number;
  name: string;
  id: number;
}

/**
 * `Link.update` of a netlink attachment: swaps the program in place (XDP_FLAGS_REPLACE with the
 * program expected now: `expected`, or the one this link set), so no packet runs without one.
 */
function updateByNetlink(held: NetlinkHeld, iface: { index: number; name: string }, modeFlag: number, next: Program, expected: Program | undefined): void {
  if (next.type !== ProgramType.XDP) throw new ArgumentError(`an XDP attachment runs XDP programs; ${next.name} is ${programTypeName(next.type)}`);
  const context = `replace XDP program ${held.name} on ${iface.name} with ${next.name}`;
  const exact = kernelVersion().atLeast('5.7');
  if (!exact && expected !== undefined) throw new NotSupportedError('replacing an expected XDP program (XDP_FLAGS_REPLACE)', '5.7');
  const dup = dupOwned(next.fd, `program ${next.name}`);
  try {
    setXDP(held.nl, iface.index, next.fd, modeFlag, exact ? (expected?.fd ?? held.fd) : undefined, context, (errno) =>
      errno === Errno.EEXIST
        ? `${expected === undefined ? `${held.name} (id ${held.id})` : expected.name} is not what runs: ${describeAttached(iface.index, held.nl) ?? 'the query of what is attached failed'}`
        : explainAttach(errno, next, iface, modeFlag, false, held.nl),
    );
  } catch (err) {
    backend().close(dup);
    throw err;
  }
  backend().close(held.fd);
  held.fd = dup;
  held.name = next.name;
  held.id = next.info().id;
}

/**
 * Removes our program: IFLA_XDP_FD −1 with our program as the expected one, so that EEXIST
 * ("Active program does not match expected") means someone replaced it and there is nothing of
 * ours left to remove. Before 5.7 (no XDP_FLAGS_REPLACE) the query decides instead.
 */
function detachByNetlink(held: NetlinkHeld, ifname: string, modeFlag: number): void {
  const { nl } = held;
  try {
    const context = `detach XDP program ${held.name} from ${ifname}`;
    if (kernelVersion().atLeast('5.7')) {
      try {
        setXDP(nl, held.ifindex, -1, modeFlag, held.fd, context, () => undefined);
      } catch (err) {
        if (err instanceof NetlinkError && (err.errno === Errno.EEXIST || err.errno === Errno.ENODEV)) return;
        throw err;
      }
      return;
    }
    let now: XDPAttachment[];
    try {
      now = queryXDP(nl, held.ifindex);
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === Errno.ENODEV) return;
      throw err;
    }
    if (now.some((a) => a.programId === held.id && modeFlags[a.mode] === modeFlag)) setXDP(nl, held.ifindex, -1, modeFlag, undefined, context, () => undefined);
  } finally {
    backend().close(held.fd);
    nl.close();
  }
}

/** IFLA_XDP of one interface through `nl`. */
function queryXDP(nl: RouteNetlink, ifindex: number): XDPAttachment[] {
  const reply = nl.get(RTM.GETLINK, [encodeIfInfoMsg({ index: ifindex })], { context: `query XDP programs of interface ${ifindex}` });
  const xdp = decodeIfInfoMsg(reply.payload).attributes.nested(IFLA_XDP);
  if (xdp === undefined) return [];
  const attached = xdp.u8(IFLA_XDP_ATTACHED) ?? 0;
  const out: Array<{ mode: XDPMode; programId: number }> = [];
  const add = (mode: XDPMode, id: number | undefined): void => {
    if (id !== undefined && id !== 0) out.push({ mode, programId: id });
  };
  if (attached === XDP_ATTACHED_MULTI) {
    add('generic', xdp.u32(IFLA_XDP_SKB_PROG_ID));
    add('driver', xdp.u32(IFLA_XDP_DRV_PROG_ID));
    add('offload', xdp.u32(IFLA_XDP_HW_PROG_ID));
  } else {
    const mode: XDPMode | undefined = attached === XDP_ATTACHED_SKB ? 'generic' : attached === XDP_ATTACHED_DRV ? 'driver' : attached === XDP_ATTACHED_HW ? 'offload' : undefined;
    if (mode !== undefined) add(mode, xdp.u32(IFLA_XDP_PROG_ID));
  }
  return out.map((a) => {
    const name = programName(a.programId);
    return name === undefined ? a : { ...a, programName: name };
  });
}

function xdpProgramsByIndex(ifindex: number): XDPAttachment[] {
  const nl = RouteNetlink.open();
  try {
    return queryXDP(nl, ifindex);
  } finally {
    nl.close();
  }
}

/**
 * The XDP programs an interface runs now, one entry per mode (generic, driver, offload; an
 * interface runs at most one of driver and generic), from IFLA_XDP of RTM_GETLINK: attached
 * through a BPF link or netlink alike. Empty when none.
 *
 * Minimum kernel: 4.13 (program ids), 4.19 (one id per mode).
 *
 * @example
 * ```ts
 * for (const a of xdpPrograms('eth0')) console.log(a.mode, a.programId, a.programName);
 * ```
 * @throws {@link AttachTargetError} when the interface does not exist; {@link SyscallError}
 * when netlink fails.
 */
export function xdpPrograms(iface: string | number): XDPAttachment[] {
  const { index } = resolveInterface(iface);
  try {
    return xdpProgramsByIndex(index);
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === Errno.ENODEV) {
      throw new AttachTargetError('interface', String(iface), `interface ${String(iface)} disappeared while it was queried`, { errno: Errno.ENODEV, cause: err });
    }
    throw err;
  }
}

export { BPF_F_XDP_HAS_FRAGS, XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST };
