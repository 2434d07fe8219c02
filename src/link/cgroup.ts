/**
 * Cgroup attachments: a program runs for the sockets, packets, devices or sysctls of every
 * process in a cgroup v2 (and its descendants).
 *
 * Two ways to attach, as cilium/ebpf does:
 *
 * - a cgroup bpf_link (BPF_LINK_CREATE, Linux 5.7, "bpf: Implement bpf_link-based cgroup BPF
 *   program attachment"): owned by the fd, detached on close, always with the semantics of
 *   BPF_F_ALLOW_MULTI;
 * - BPF_PROG_ATTACH (4.10) where there is no link, or when asked for (`legacy`, `flags`): the
 *   cgroup holds the program until BPF_PROG_DETACH, so the {@link Link} is an `attachment`
 *   whose close() detaches it. Its flags are the cgroup's "attach mode" for that hook: NONE
 *   (one program; descendants may attach nothing), BPF_F_ALLOW_OVERRIDE (one program; a
 *   descendant's program replaces it there) or BPF_F_ALLOW_MULTI (a list; all run, ancestors'
 *   too). A hook's programs must all share one mode (EPERM otherwise).
 *
 * @module
 */
import { ArgumentError, NotSupportedError, SyscallError } from '../errors.js';
import { Feature } from '../features/feature.js';
import { closeCgroup, openCgroup, type CgroupTarget, type OpenCgroup } from '../internal/cgroup.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE } from '../internal/flags.js';
import { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { LinkCreate } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { hookProgramType, resolveTarget } from './attach-target.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { attachedPrograms } from './query.js';
import { attachProgram as attachProgramRaw, explainCgroupConflict, modeName } from './raw.js';

export { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE } from '../internal/flags.js';

/** One cgroup hook: its attach type, the program type it runs, and since when. */
interface CgroupHook {
  readonly attachType: AttachType;
  /** The UAPI name, `BPF_CGROUP_INET_EGRESS`. */
  readonly name: string;
  /** libbpf's section name for it, `cgroup_skb/egress`. */
  readonly section: string;
  readonly programType: ProgramType;
  /** The first kernel with the attach type. */
  readonly since: string;
}

const P = ProgramType;
const A = AttachType;
/** A hook of the table below: its program type is BPF_PROG_ATTACH's (attach-target.ts). */
const hook = (attachType: AttachType, name: string, section: string, since: string): CgroupHook => ({
  attachType,
  name,
  section,
  programType: hookProgramType(attachType)!,
  since,
});

/** Every cgroup attach type of the UAPI. */
const HOOKS: readonly CgroupHook[] = [
  hook(A.CgroupInetIngress, 'BPF_CGROUP_INET_INGRESS', 'cgroup_skb/ingress', '4.10'),
  hook(A.CgroupInetEgress, 'BPF_CGROUP_INET_EGRESS', 'cgroup_skb/egress', '4.10'),
  hook(A.CgroupInetSockCreate, 'BPF_CGROUP_INET_SOCK_CREATE', 'cgroup/sock_create', '4.10'),
  hook(A.CgroupInetSockRelease, 'BPF_CGROUP_INET_SOCK_RELEASE', 'cgroup/sock_release', '5.9'),
  hook(A.CgroupInet4PostBind, 'BPF_CGROUP_INET4_POST_BIND', 'cgroup/post_bind4', '4.17'),
  hook(A.CgroupInet6PostBind, 'BPF_CGROUP_INET6_POST_BIND', 'cgroup/post_bind6', '4.17'),
  hook(A.CgroupSockOps, 'BPF_CGROUP_SOCK_OPS', 'sockops', '4.13'),
  hook(A.CgroupDevice, 'BPF_CGROUP_DEVICE', 'cgroup/dev', '4.15'),
  hook(A.CgroupInet4Bind, 'BPF_CGROUP_INET4_BIND', 'cgroup/bind4', '4.17'),
  hook(A.CgroupInet6Bind, 'BPF_CGROUP_INET6_BIND', 'cgroup/bind6', '4.17'),
  hook(A.CgroupInet4Connect, 'BPF_CGROUP_INET4_CONNECT', 'cgroup/connect4', '4.17'),
  hook(A.CgroupInet6Connect, 'BPF_CGROUP_INET6_CONNECT', 'cgroup/connect6', '4.17'),
  hook(A.CgroupUDP4Sendmsg, 'BPF_CGROUP_UDP4_SENDMSG', 'cgroup/sendmsg4', '4.18'),
  hook(A.CgroupUDP6Sendmsg, 'BPF_CGROUP_UDP6_SENDMSG', 'cgroup/sendmsg6', '4.18'),
  hook(A.CgroupUDP4Recvmsg, 'BPF_CGROUP_UDP4_RECVMSG', 'cgroup/recvmsg4', '5.2'),
  hook(A.CgroupUDP6Recvmsg, 'BPF_CGROUP_UDP6_RECVMSG', 'cgroup/recvmsg6', '5.2'),
  hook(A.CgroupInet4Getpeername, 'BPF_CGROUP_INET4_GETPEERNAME', 'cgroup/getpeername4', '5.8'),
  hook(A.CgroupInet6Getpeername, 'BPF_CGROUP_INET6_GETPEERNAME', 'cgroup/getpeername6', '5.8'),
  hook(A.CgroupInet4Getsockname, 'BPF_CGROUP_INET4_GETSOCKNAME', 'cgroup/getsockname4', '5.8'),
  hook(A.CgroupInet6Getsockname, 'BPF_CGROUP_INET6_GETSOCKNAME', 'cgroup/getsockname6', '5.8'),
  hook(A.CgroupUnixConnect, 'BPF_CGROUP_UNIX_CONNECT', 'cgroup/connect_unix', '6.7'),
  hook(A.CgroupUnixSendmsg, 'BPF_CGROUP_UNIX_SENDMSG', 'cgroup/sendmsg_unix', '6.7'),
  hook(A.CgroupUnixRecvmsg, 'BPF_CGROUP_UNIX_RECVMSG', 'cgroup/recvmsg_unix', '6.7'),
  hook(A.CgroupUnixGetpeername, 'BPF_CGROUP_UNIX_GETPEERNAME', 'cgroup/getpeername_unix', '6.7'),
  hook(A.CgroupUnixGetsockname, 'BPF_CGROUP_UNIX_GETSOCKNAME', 'cgroup/getsockname_unix', '6.7'),
  hook(A.CgroupSysctl, 'BPF_CGROUP_SYSCTL', 'cgroup/sysctl', '5.2'),
  hook(A.CgroupGetsockopt, 'BPF_CGROUP_GETSOCKOPT', 'cgroup/getsockopt', '5.3'),
  hook(A.CgroupSetsockopt, 'BPF_CGROUP_SETSOCKOPT', 'cgroup/setsockopt', '5.3'),
  hook(A.LSMCgroup, 'BPF_LSM_CGROUP', 'lsm_cgroup/<hook>', '6.0'),
];

const byAttachType = new Map(HOOKS.map((h) => [h.attachType as number, h]));

/**
 * Program types whose programs attach only at the hook they were loaded for: the kernel's
 * bpf_prog_attach_check_attach_type() compares `expected_attach_type` with the attach type
 * for these (EINVAL). CGROUP_SKB programs are checked only when they use egress-only return
 * codes, so either direction is tried for them.
 */
const strictTypes = new Set<ProgramType>([P.CgroupSock, P.CgroupSockAddr, P.CgroupSockopt, P.LSM]);

/** Options of {@link attachCgroup}. */
export interface CgroupOptions {
  /**
   * The cgroup: an absolute path (`/sys/fs/cgroup/unified/my.slice`), a path relative to the
   * cgroup v2 root (`my.slice`), or an open fd of its directory (which stays the caller's).
   */
  cgroup: CgroupTarget;
  /**
   * The hook. Default: the program's expected attach type, as its section name says
   * (`cgroup/connect4` → `CgroupInet4Connect`); required for a CGROUP_SKB program whose
   * section does not name a direction.
   */
  attachType?: AttachType;
  /**
   * BPF_PROG_ATTACH flags: 0 (none: the only program, descendants may attach nothing),
   * `BPF_F_ALLOW_OVERRIDE` or `BPF_F_ALLOW_MULTI`. Giving flags means BPF_PROG_ATTACH even
   * where a cgroup link exists (links do not take these flags; they behave like ALLOW_MULTI).
   */
  flags?: number;
  /**
   * Use BPF_PROG_ATTACH (with `flags`, default BPF_F_ALLOW_MULTI) even where the kernel has
   * cgroup links: the attachment then outlives the process unless the Link is closed.
   */
  legacy?: boolean;
}

/**
 * Cgroup bpf_links: BPF_LINK_CREATE with a cgroup attach type (Linux 5.7). Probed with a
 * CGROUP_SKB program and an invalid cgroup fd, so nothing is attached: link_create() reaches
 * cgroup_bpf_link_attach(), whose cgroup_get_from_fd() answers EBADF; older kernels do not
 * know the command (EINVAL).
 *
 * @example
 * ```ts
 * if (!cgroupLinkFeature.supported()) console.log('cgroup programs will use BPF_PROG_ATTACH');
 * ```
 */
export const cgroupLinkFeature = new Feature('cgroup link (BPF_LINK_CREATE with a cgroup attach type)', '5.7', () =>
  linkCreateProbe({
    name: 'probe_cglink',
    programType: ProgramType.CgroupSKB,
    attachType: AttachType.CgroupInetIngress,
    attachName: 'BPF_CGROUP_INET_INGRESS',
    fields: { target_fd: 0xffffffff },
    proves: [Errno.EBADF],
    since: '5.7',
  }),
  { perBoot: 'kernel' },
);

/** The cgroup hooks a program of `type` can attach to. */
function hooksFor(type: ProgramType): CgroupHook[] {
  return HOOKS.filter((h) => h.programType === type);
}

function listHooks(hooks: readonly CgroupHook[]): string {
  return hooks.map((h) => `${A[h.attachType]} (${h.section})`).join(', ');
}

const cgroupProgramTypes = [...new Set(HOOKS.map((h) => h.programType))].map((t) => programTypeName(t)).join(', ');

/**
 * The hook `options` and the program choose, checked against the program's type and expected
 * attach type before anything reaches the kernel.
 */
function chooseHook(prog: Program, attachType: AttachType | undefined): CgroupHook {
  const fits = hooksFor(prog.type);
  if (fits.length === 0) {
    throw new ArgumentError(
      `attachCgroup: ${prog.name} is a ${programTypeName(prog.type)} program, which does not attach to cgroups; cgroup programs are ${cgroupProgramTypes}`,
    );
  }
  const section = prog.attachment.sectionName;
  if (prog.type === P.LSM && prog.attachment.attachType !== A.LSMCgroup) {
    // lsm/<hook> programs (BPF_LSM_MAC) run for every task through a trampoline.
    throw new ArgumentError(
      `attachCgroup: ${prog.name} is an LSM program loaded for BPF_LSM_MAC (section lsm/<hook>), which runs system-wide: attach it with attachTracing, or load it from a lsm_cgroup/<hook> section to attach it to a cgroup`,
    );
  }
  if (attachType !== undefined) {
    const h = byAttachType.get(attachType);
    if (h === undefined || h.programType !== prog.type) {
      const what = h === undefined ? `attach type ${A[attachType] ?? attachType} is not a cgroup hook` : `${h.name} runs ${programTypeName(h.programType)} programs`;
      throw new ArgumentError(`attachCgroup: ${what}; ${prog.name} is a ${programTypeName(prog.type)} program, which attaches at ${listHooks(fits)}`);
    }
    const loadedFor = loadedHook(prog);
    if (strictTypes.has(prog.type) && loadedFor !== undefined && loadedFor !== h) {
      throw new ArgumentError(
        `attachCgroup: ${prog.name} was loaded for ${loadedFor.name} (${loadedFor.section}) and the kernel attaches it only there, not at ${h.name}: load it with attachType ${A[h.attachType]} (section ${h.section})`,
      );
    }
    return h;
  }
  const loadedFor = loadedHook(prog);
  if (loadedFor !== undefined) return loadedFor;
  if (fits.length === 1) return fits[0]!;
  const from = section === undefined ? 'it was loaded without an expected attach type' : `its section ${JSON.stringify(section)} does not name one`;
  throw new ArgumentError(`attachCgroup: give attachType for ${prog.name} (${from}): a ${programTypeName(prog.type)} program attaches at ${listHooks(fits)}`);
}

/**
 * The hook a program was loaded for: its expected attach type, where that says something.
 * BPF_CGROUP_INET_INGRESS is 0, the same as "none": for CGROUP_SKB only the section name
 * tells ingress from unspecified; a CGROUP_SOCK program loaded without one gets
 * BPF_CGROUP_INET_SOCK_CREATE from the kernel (bpf_prog_load_fixup_attach_type()).
 */
function loadedHook(prog: Program): CgroupHook | undefined {
  const expected = prog.attachment.attachType;
  if (prog.type === P.CgroupSKB) {
    if (expected === A.CgroupInetEgress) return byAttachType.get(A.CgroupInetEgress);
    const section = prog.attachment.sectionName?.replace(/^\?/, '');
    return section === 'cgroup_skb/ingress' ? byAttachType.get(A.CgroupInetIngress) : undefined;
  }
  if (prog.type === P.CgroupSock && (expected === undefined || expected === A.None)) return byAttachType.get(A.CgroupInetSockCreate);
  if (expected === undefined || expected === A.None) return undefined;
  const h = byAttachType.get(expected);
  return h !== undefined && h.programType === prog.type ? h : undefined;
}

function checkFlags(flags: number): void {
  const known = BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI;
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~known) !== 0) {
    throw new ArgumentError(`attachCgroup: flags must be 0, BPF_F_ALLOW_OVERRIDE (1) or BPF_F_ALLOW_MULTI (2), got ${flags}`);
  }
  if (flags === known) throw new ArgumentError('attachCgroup: BPF_F_ALLOW_OVERRIDE and BPF_F_ALLOW_MULTI exclude each other (the kernel answers EINVAL)');
}

/** BPF_CGROUP_MAX_PROGS: a hook holds at most 64 programs. */
const MAX_PROGS = 64;

function alreadyAttached(prog: Program, path: string, h: CgroupHook): string {
  return `program ${prog.name} is already attached to cgroup ${path} at ${h.name} (a hook holds a program once): close the Link that holds it, or load the program again to attach a second copy`;
}

/** True when `prog` is among the programs attached to the hook (directly, or through a link). */
function attachedThere(prog: Program, path: string, h: CgroupHook): boolean {
  let id: number;
  try {
    id = prog.info().id;
  } catch {
    return false;
  }
  let cg: OpenCgroup;
  try {
    cg = openCgroup(path);
  } catch {
    return false;
  }
  try {
    return attachedPrograms(cg.fd, h.attachType)?.programs.some((p) => p.id === id) ?? false;
  } finally {
    closeCgroup(cg);
  }
}

/** Explanations for the errnos of cgroup attach (both ways). */
function explainAttach(errno: number, prog: Program, path: string, h: CgroupHook, flags: number, viaLink: boolean): string | undefined {
  switch (errno) {
    case Errno.EPERM:
      return explainCgroupConflict(path, h.attachType, h.name, flags, viaLink)?.text;
    case Errno.EEXIST:
      return alreadyAttached(prog, path, h);
    case Errno.E2BIG:
      return `cgroup ${path} already holds ${MAX_PROGS} programs at ${h.name}, the kernel's limit (BPF_CGROUP_MAX_PROGS)`;
    case Errno.EINVAL: {
      // A MULTI hook holds each program once, and the kernel says so with EINVAL
      // ("disallow attaching the same prog twice", find_attach_entry()).
      if (attachedThere(prog, path, h)) return alreadyAttached(prog, path, h);
      const loaded = loadedHook(prog);
      const loadedFor = loaded === undefined ? '' : ` (it was loaded for ${loaded.name})`;
      return `the kernel refused ${prog.name}${loadedFor} at ${h.name}: the program's type and expected attach type must fit the hook (a CGROUP_SKB program using egress-only return codes attaches only at egress)`;
    }
    case Errno.EBADF:
      return `cgroup ${path} is not an open cgroup v2 directory`;
    default:
      return undefined;
  }
}

/** Turns EINVAL from a kernel older than the hook into NotSupportedError. */
function rethrow(err: unknown, h: CgroupHook): never {
  if (err instanceof SyscallError && err.errno === Errno.EINVAL && !kernelVersion().atLeast(h.since)) {
    throw new NotSupportedError(`cgroup attach type ${h.name}`, h.since, { errno: Errno.EINVAL, cause: err });
  }
  throw err;
}

/**
 * Attaches a cgroup program (CGROUP_SKB, CGROUP_SOCK, CGROUP_SOCK_ADDR, SOCK_OPS,
 * CGROUP_DEVICE, CGROUP_SYSCTL, CGROUP_SOCKOPT, or LSM with BPF_LSM_CGROUP) to a cgroup v2.
 * It runs for every process in the cgroup and its descendants.
 *
 * With a kernel that has cgroup links (5.7+) and no `flags`/`legacy`, the result is a
 * bpf_link: closing it (or the process exiting) detaches. Otherwise BPF_PROG_ATTACH, with
 * BPF_F_ALLOW_MULTI unless `flags` says otherwise: the Link is an `attachment` whose close()
 * detaches exactly this program (BPF_PROG_DETACH; with NONE/OVERRIDE only if it is still the
 * one attached); it stays attached after the process exits if never closed.
 *
 * Minimum kernel: 4.10 (cgroup_skb, sock_create), later hooks as their attach type
 * (connect4 etc. 4.17, sysctl 5.2, sockopt 5.3, getpeername 5.8, sock_release 5.9,
 * lsm_cgroup 6.0, unix sockets 6.7); cgroup links 5.7.
 *
 * @example
 * ```ts
 * import { attachCgroup, loadCollection } from 'ebpf-ts';
 * const coll = await loadCollection('netmon.bpf.o');
 * using link = attachCgroup(coll.programs.count_egress, { cgroup: '/sys/fs/cgroup/unified/my.slice' });
 * ```
 * @throws {@link ArgumentError} for a program type that does not attach to cgroups, an
 * attach type that does not fit the program (the message names those that do), or bad
 * flags; {@link AttachTargetError} when the cgroup is not a cgroup v2 directory (the message
 * names the v2 mount); {@link NotSupportedError} for a hook newer than the kernel;
 * {@link SyscallError} from the kernel, with EPERM/EEXIST explained by what is attached now.
 */
export function attachCgroup(prog: Program, options: CgroupOptions): Link {
  if (options === undefined || options === null || typeof options !== 'object') {
    throw new ArgumentError('attachCgroup(prog, { cgroup }) needs options with the cgroup');
  }
  const h = chooseHook(prog, options.attachType);
  if (options.flags !== undefined) checkFlags(options.flags);
  const cg = openCgroup(options.cgroup);
  try {
    const useLink = options.flags === undefined && options.legacy !== true && cgroupLinkFeature.check().supported !== false;
    if (useLink) return attachLink(prog, cg, h);
    // Before 4.15 there is no ALLOW_MULTI: OVERRIDE is the closest (cilium/ebpf falls back the same way).
    const flags = options.flags ?? (kernelVersion().atLeast('4.15') ? BPF_F_ALLOW_MULTI : BPF_F_ALLOW_OVERRIDE);
    return attachProgram(prog, cg, h, flags);
  } finally {
    closeCgroup(cg);
  }
}

function attachLink(prog: Program, cg: OpenCgroup, h: CgroupHook): Link {
  let fd: number;
  try {
    fd = bpfCall(
      LinkCreate,
      { prog_fd: prog.fd, target_fd: cg.fd, attach_type: h.attachType, flags: 0 },
      { context: `attach ${prog.name} to cgroup ${cg.path} at ${h.name}`, explain: (errno) => explainAttach(errno, prog, cg.path, h, 0, true) },
    );
  } catch (err) {
    rethrow(err, h);
  }
  return Link.adopt({ fd, mode: 'bpf-link', what: `${h.section} on cgroup ${cg.path}` });
}

/**
 * BPF_PROG_ATTACH through raw.ts's attachProgram: fds of its own, close() detaching exactly this
 * program (with NONE/OVERRIDE only while the hook still holds it), update() in place
 * (BPF_F_REPLACE with MULTI, a second attach otherwise). The cgroup's own explanations come
 * first; EPERM (modes that conflict, here or in an ancestor) is raw.ts's.
 */
function attachProgram(prog: Program, cg: OpenCgroup, h: CgroupHook, flags: number): Link {
  try {
    return attachProgramRaw({
      program: prog,
      target: resolveTarget({ fd: cg.fd }, h.attachType, 'attachCgroup', true),
      attachType: h.attachType,
      flags,
      hook: `cgroup ${cg.path} at ${h.name}`,
      hookName: h.name,
      what: `${h.section} on cgroup ${cg.path} (BPF_PROG_ATTACH, ${modeName(flags)})`,
      context: `attach ${prog.name} to cgroup ${cg.path} at ${h.name} (BPF_PROG_ATTACH with ${modeName(flags)})`,
      explain: (errno) => (errno === Errno.EPERM ? undefined : explainAttach(errno, prog, cg.path, h, flags, false)),
      checkUpdate: (next) => void chooseHook(next, h.attachType),
    });
  } catch (err) {
    rethrow(err, h);
  }
}

/**
 * The cgroup attach types a program of `type` can use, e.g. `[CgroupInetIngress,
 * CgroupInetEgress]` for CGROUP_SKB; empty for a type that does not attach to cgroups.
 *
 * @example
 * ```ts
 * cgroupAttachTypes(ProgramType.CgroupSockAddr).length; // 17
 * ```
 */
export function cgroupAttachTypes(type: ProgramType): AttachType[] {
  return hooksFor(type).map((h) => h.attachType);
}
