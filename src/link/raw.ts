/**
 * BPF_PROG_ATTACH attachments, and the escape hatch to them: {@link attachRaw} attaches a program to a hook the way the
 * kernel's oldest attach command does — to a cgroup, a network namespace (flow dissector), a
 * sockmap, a lirc device, or an interface's tcx/netkit list by ifindex — without a bpf_link.
 * The kernel then holds the attachment itself; the returned {@link Link} (mode `attachment`)
 * detaches exactly this program again with BPF_PROG_DETACH on close. {@link detachRaw}
 * removes an attachment made elsewhere (another process, a crashed one).
 *
 * The dedicated attach functions (attachCgroup, attachTcx, attachNetkit, attachNetns,
 * attachSockmap) prefer bpf_links where the kernel has them; where they use BPF_PROG_ATTACH
 * they go through {@link attachProgram} here, the one implementation of such an attachment:
 * fds of its own of the target and the program, a detach of exactly its program on close
 * (only while the hook still holds it, at cgroup hooks that hold one program), an update in
 * place, and errnos explained with what the hook holds now.
 *
 * @module
 */
import { dirname } from 'node:path';
import { ArgumentError, NotSupportedError, SyscallError } from '../errors.js';
import { closeCgroup, findCgroup2Mount, openCgroup, type OpenCgroup } from '../internal/cgroup.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { dupOwned } from '../internal/fd.js';
import { BPF_F_AFTER, BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE } from '../internal/flags.js';
import { inNetns } from '../internal/netns.js';
import { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfCall, bpfRaw } from '../sys/bpf.js';
import { fdById, objGetInfoByFd } from '../sys/commands.js';
import { bpfError, Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { ProgAttach, ProgDetach, ProgInfo } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { attachTypeName, hookProgramType, inTargetNetns, isMprogType, resolveTarget, targetKind, type RawTarget, type ResolvedTarget } from './attach-target.js';
import { Link } from './link.js';
import { encodePlacement, explainMprog, rememberAttachedProgram, type EncodedPlacement, type MprogPlacement } from './mprog-placement.js';
import { attachedNow, attachedPrograms, describeAttached, flagNames, programLabel } from './query.js';

export type { RawTarget } from './attach-target.js';

/** Options of {@link attachRaw}. `before`/`after`/`expectedRevision` place a tcx or netkit program (6.6), or a cgroup one (6.16). */
export interface RawAttachOptions extends MprogPlacement {
  /** The program to attach; its type must be the hook's (`CGROUP_SKB` for `CgroupInetEgress`, …). */
  readonly program: Program;
  /** Where: see {@link RawTarget} (a cgroup, a namespace, a map, a device, or an interface). */
  readonly target: RawTarget;
  /** The hook (`AttachType.CgroupInetEgress`, `AttachType.TCXIngress`, …). */
  readonly attachType: AttachType;
  /**
   * `attach_flags`: for cgroups 0 (one program, replaced by the next attach),
   * `BPF_F_ALLOW_OVERRIDE` (descendant cgroups may replace it) or `BPF_F_ALLOW_MULTI` (programs
   * of this cgroup and its ancestors all run). Anchors go in `before`/`after`.
   */
  readonly flags?: number;
  /** Replace this attached program in one step (BPF_F_REPLACE): cgroups with `BPF_F_ALLOW_MULTI`, tcx, netkit. */
  readonly replace?: Program;
}

/** Options of {@link detachRaw}. */
export interface RawDetachOptions {
  /** Where it is attached: as for {@link attachRaw}. */
  readonly target: RawTarget;
  /** The hook. */
  readonly attachType: AttachType;
  /**
   * The program to detach: a `Program`, or its id (as `queryPrograms` lists it). Required except
   * at a cgroup hook holding one program attached without `BPF_F_ALLOW_MULTI`.
   */
  readonly program?: Program | number;
}

const SK_LOOKUP_HINT = 'attach sk_lookup programs with attachNetns (a BPF link): BPF_PROG_ATTACH does not take them';

/** Which function attaches the attach types BPF_PROG_ATTACH does not take. */
function elsewhere(attachType: AttachType): string {
  switch (attachType) {
    case AttachType.XDP:
      return 'attach XDP programs with attachXDP (a BPF link or netlink)';
    case AttachType.SKLookup:
      return SK_LOOKUP_HINT;
    case AttachType.Netfilter:
      return 'attach netfilter programs with attachNetfilter (a BPF link)';
    case AttachType.PerfEvent:
    case AttachType.TraceKprobeMulti:
    case AttachType.TraceUprobeMulti:
      return 'attach probes with attachKprobe, attachUprobe or attachKprobeMulti / attachUprobeMulti';
    case AttachType.TraceFentry:
    case AttachType.TraceFexit:
    case AttachType.ModifyReturn:
    case AttachType.TraceRawTP:
    case AttachType.LSMMAC:
      return 'attach tracing and LSM programs with attachTracing';
    default:
      return 'BPF_PROG_ATTACH takes cgroup, flow dissector, sockmap, lirc, tcx and netkit hooks';
  }
}

function checkFlags(flags: number | undefined, fn: string): number {
  if (flags === undefined) return 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw new ArgumentError(`${fn}: flags must be a 32-bit unsigned integer of BPF_F_* bits, got ${String(flags)}`);
  if ((flags & (BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK)) !== 0) {
    throw new ArgumentError(`${fn}: give anchors as before/after (a Program, a Link, { programId }, { linkId } or 'all'), not as BPF_F_BEFORE/AFTER/ID/LINK flags`);
  }
  return flags;
}


/** Checks the program's type against the hook's. */
function checkProgram(program: Program, attachType: AttachType, fn: string, role: string): ProgramType {
  if (!(program instanceof Program)) throw new ArgumentError(`${fn}: ${role} must be a loaded Program`);
  const expected = hookProgramType(attachType);
  if (expected === undefined) throw new ArgumentError(`${fn}: attach type ${attachTypeName(attachType)} is not attached through BPF_PROG_ATTACH: ${elsewhere(attachType)}`);
  if (program.type !== expected) {
    throw new ArgumentError(`${fn}: ${attachTypeName(attachType)} runs ${programTypeName(expected)} programs; ${role} ${program.name} is ${programTypeName(program.type)}, not ${programTypeName(expected)}`);
  }
  return expected;
}

/** The attach mode of a cgroup hook's BPF_PROG_ATTACH flags, for messages: `BPF_F_ALLOW_MULTI`, `no flags (NONE)`. */
export function modeName(flags: number): string {
  if (flags & BPF_F_ALLOW_MULTI) return 'BPF_F_ALLOW_MULTI';
  if (flags & BPF_F_ALLOW_OVERRIDE) return 'BPF_F_ALLOW_OVERRIDE';
  return 'no flags (NONE)';
}

/** What the cgroup hook at `path` holds, `cgroup X has … at HOOK, attached with …`; undefined when nothing. */
function describeCgroupHook(path: string, attachType: AttachType, hookName: string): { text: string; flags: number } | undefined {
  let cg: OpenCgroup;
  try {
    cg = openCgroup(path);
  } catch {
    return undefined;
  }
  try {
    const q = attachedPrograms(cg.fd, attachType);
    if (q === undefined || q.programs.length === 0) return undefined;
    const labels = q.programs.map((p) => programLabel(p.id, 'program id')).join(', ');
    return { text: `cgroup ${path} has ${labels} at ${hookName}, attached with ${modeName(q.attachFlags)}`, flags: q.attachFlags };
  } finally {
    closeCgroup(cg);
  }
}

/**
 * Why a cgroup attach failed with EPERM, from what the cgroup and its ancestors hold: a hook's
 * programs share one mode (`here`: __cgroup_bpf_attach(), "Disallow attaching non-overridable
 * on top of existing overridable"), and an ancestor with one program attached without
 * ALLOW_OVERRIDE/ALLOW_MULTI forbids attaching below it (`above`: hierarchy_allows_attach()).
 * Undefined when neither explains it (then it is a permission problem). `viaLink`: the attach
 * was a cgroup bpf_link, which attaches like BPF_F_ALLOW_MULTI.
 */
export function explainCgroupConflict(path: string, attachType: AttachType, hookName: string, flags: number, viaLink: boolean): { where: 'here' | 'above'; text: string } | undefined {
  const asked = viaLink ? 'a cgroup link (which attaches like BPF_F_ALLOW_MULTI)' : `BPF_PROG_ATTACH with ${modeName(flags)}`;
  const here = describeCgroupHook(path, attachType, hookName);
  if (here !== undefined && here.flags !== (viaLink ? BPF_F_ALLOW_MULTI : flags)) {
    return { where: 'here', text: `${here.text}; ${asked} cannot join them (a hook's programs share one attach mode): detach those first, or attach with their mode (flags: ${here.flags})` };
  }
  const root = findCgroup2Mount()?.mountPoint;
  let dir = path;
  for (let i = 0; i < 256 && root !== undefined && dir !== root && dir !== '/'; i++) {
    dir = dirname(dir);
    const above = describeCgroupHook(dir, attachType, hookName);
    if (above !== undefined && (above.flags & (BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI)) === 0) {
      return {
        where: 'above',
        text: `${above.text}, which forbids attaching at ${hookName} in the cgroups below it: detach it there, or have it attached with BPF_F_ALLOW_MULTI or BPF_F_ALLOW_OVERRIDE`,
      };
    }
  }
  return undefined;
}

interface Attempt {
  readonly program: Program;
  readonly attachType: AttachType;
  readonly target: ResolvedTarget;
  readonly flags: number;
  readonly replace: Program | undefined;
  /** The hook in messages: `cgroup_inet_egress of cgroup /x`. */
  readonly hook: string;
  /** The attach type in messages: `cgroup_inet_egress`, `BPF_CGROUP_INET_EGRESS`. */
  readonly hookName: string;
}

/**
 * Explains an errno of BPF_PROG_ATTACH at a cgroup, netns, sockmap or lirc hook (tcx and
 * netkit go to the mprog explanations), with what is attached there now.
 */
function explainAttach(errno: number, a: Attempt): string | undefined {
  const kind = targetKind(a.attachType);
  const now = (): string => attachedNow(a.target.value, a.attachType);
  const hook = a.hook;
  switch (errno) {
    case Errno.EEXIST:
      // netns_bpf_prog_attach(): a link holds the hook; lirc_bpf_attach(): the program is in its list.
      if (kind === 'netns') return `${hook} is held by a BPF link, which BPF_PROG_ATTACH cannot replace: close that link first${now()}`;
      return `program ${a.program.name} is attached there already (a hook holds each program once): load it again to attach a second copy${now()}`;
    case Errno.EPERM: {
      if (kind !== 'cgroup') return undefined;
      const mixed = `${hook} has programs attached with other flags than ${flagNames(a.flags)} (all must agree)`;
      const conflict = a.target.cgroupPath === undefined ? undefined : explainCgroupConflict(a.target.cgroupPath, a.attachType, a.hookName, a.flags, false);
      if (conflict?.where === 'here') return `${mixed}: ${conflict.text}`;
      if (conflict?.where === 'above') return conflict.text;
      // __cgroup_bpf_attach(): flags differing from the hook's, or an ancestor whose program
      // forbids programs below it (hierarchy_allows_attach()).
      return `${mixed}, or an ancestor cgroup has a program there attached without BPF_F_ALLOW_OVERRIDE or BPF_F_ALLOW_MULTI, which forbids programs below it${now()}`;
    }
    case Errno.E2BIG:
      return kind === 'cgroup' ? `${hook} holds the most programs a cgroup hook can (64)${now()}` : undefined;
    case Errno.ENOENT:
      return a.replace === undefined ? undefined : `program ${a.replace.name} (replace) is not attached at ${hook}${now()}`;
    case Errno.EBUSY:
      return kind === 'map' ? `${hook}: the map's slot for this hook is held by a BPF link, or a parser/verdict pair conflicts (stream_verdict and skb_verdict exclude each other)${now()}` : undefined;
    case Errno.EINVAL: {
      // find_attach_entry(): a cgroup hook refuses the same program twice with EINVAL.
      if (kind === 'cgroup' && a.replace === undefined && attachedPrograms(a.target.value, a.attachType)?.programs.some((p) => p.id === idOfProgramFd(a.program.fd)) === true) {
        return `program ${a.program.name} is attached there already (a hook holds each program once): load it again to attach a second copy${now()}`;
      }
      const expected = a.program.attachment.attachType;
      if (kind === 'cgroup' && expected !== undefined && expected !== a.attachType) {
        return `${a.program.name} was loaded for ${attachTypeName(expected)}: the kernel attaches it only there (load it with attachType ${AttachType[a.attachType]})`;
      }
      if (kind === 'netns') return `${a.program.name} is attached there already, or ${a.target.description} is not a network namespace`;
      if (kind === 'map') return `${a.target.description} is not a sockmap or sockhash, or ${a.program.name} was loaded for another sockmap hook`;
      if (kind === 'cgroup') return `check that ${a.program.name} was loaded with expected attach type ${attachTypeName(a.attachType)}, and that before/after are only given on kernels with cgroup anchors (6.16)`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The id of the program behind `fd`, or undefined when it cannot be read. */
function idOfProgramFd(fd: number): number | undefined {
  try {
    const info = objGetInfoByFd(fd, ProgInfo.fields.id.offset + 4);
    return dataView(info).getUint32(ProgInfo.fields.id.offset, hostLittleEndian);
  } catch {
    return undefined;
  }
}

/** What an attachment made by {@link attachProgram} holds until it is detached. */
interface RawState {
  /** Our copy of the attached program's fd: what BPF_PROG_DETACH and BPF_F_REPLACE name. */
  progFd: number;
  /** The attached program's id (undefined when unreadable), and the program, for messages and update checks. */
  programId: number | undefined;
  current: Program;
  readonly target: ResolvedTarget;
  readonly attachType: AttachType;
  /** The hook's attach mode (a cgroup's BPF_F_ALLOW_*), without BPF_F_REPLACE. */
  readonly flags: number;
  readonly hook: string;
  readonly explain: ((errno: number) => string | undefined) | undefined;
  readonly checkUpdate: ((program: Program) => void) | undefined;
}

/**
 * The target_fd of BPF_PROG_ATTACH/DETACH: a network namespace hook takes 0 and acts on the
 * caller's namespace (netns_bpf_prog_attach() refuses any other value), while BPF_PROG_QUERY
 * takes the namespace's fd. Every other hook takes the target's fd or ifindex.
 */
function commandTarget(target: ResolvedTarget, attachType: AttachType): number {
  return targetKind(attachType) === 'netns' ? 0 : target.value;
}

/** Runs an attach or detach where it must be made: inside the namespace of a netns target. */
function inCommandNetns<T>(target: ResolvedTarget, attachType: AttachType, fn: () => T): T {
  return targetKind(attachType) === 'netns' ? inNetns(target.value, fn) : inTargetNetns(target, fn);
}

/** True for a cgroup hook that holds one program (attached without BPF_F_ALLOW_MULTI), replaced by the next attach. */
function singleCgroupHook(state: RawState): boolean {
  return targetKind(state.attachType) === 'cgroup' && (state.flags & BPF_F_ALLOW_MULTI) === 0;
}

/**
 * The ids the hook holds when it is a cgroup hook of one program that no longer holds ours
 * (another attach replaced it); undefined when it still does, or for other hooks.
 */
function replacedMeanwhile(state: RawState): readonly number[] | undefined {
  if (!singleCgroupHook(state)) return undefined;
  // Unreadable: the cgroup is gone, and ours with it.
  const held = attachedPrograms(state.target.value, state.attachType)?.programs.map((p) => p.id) ?? [];
  return state.programId !== undefined && held.includes(state.programId) ? undefined : held;
}

/**
 * BPF_PROG_DETACH of exactly the attachment's program. A cgroup hook without
 * BPF_F_ALLOW_MULTI detaches whatever it holds, whichever program is named
 * (find_detach_entry()), so there the hook is asked first and left alone when it holds
 * another program now. ENOENT (already gone, or replaced in a slot) and ENODEV (the interface
 * is gone) are fine.
 */
function detachState(state: RawState): void {
  try {
    inCommandNetns(state.target, state.attachType, () => detachInPlace(state));
  } finally {
    backend().close(state.progFd);
    state.target.close();
  }
}

function detachInPlace(state: RawState): void {
  if (replacedMeanwhile(state) !== undefined) return;
  const { attr, pointers } = encodeAttr(ProgDetach, { target_fd: commandTarget(state.target, state.attachType), attach_bpf_fd: state.progFd, attach_type: state.attachType });
  const r = bpfRaw(ProgDetach, attr, pointers);
  if (r < 0 && r !== -Errno.ENOENT && r !== -Errno.ENODEV) {
    throw bpfError(ProgDetach, -r, attr, pointers, { context: `detach ${state.current.name} from ${state.hook}` });
  }
}

/** No anchors, no revision. */
const NO_PLACEMENT: EncodedPlacement = { flags: 0, relative: 0, revision: 0n, anchor: undefined };

/**
 * One BPF_PROG_ATTACH attachment, as {@link attachRaw} and the dedicated attach functions
 * (attachCgroup, attachTcx, attachNetkit, attachNetns, attachSockmap) make it, with what
 * those need beyond attachRaw's options: their own names in messages, errno explanations
 * first, update checks, and a refusal of a hook that would be replaced silently.
 *
 * @internal
 */
export interface ProgAttachSpec {
  readonly program: Program;
  /**
   * The target, resolved with `keep` ({@link resolveTarget}, `keptInterface`): the attachment
   * owns it from here on, and closes it with itself or when the attach fails.
   */
  readonly target: ResolvedTarget;
  readonly attachType: AttachType;
  /** The hook's attach mode: a cgroup's BPF_F_ALLOW_* (0 elsewhere); BPF_F_REPLACE is added for `replace`. */
  readonly flags: number;
  /** Replace this attached program in one step (BPF_F_REPLACE). */
  readonly replace?: Program;
  /** Anchors and expected revision (tcx, netkit, cgroups 6.16). */
  readonly placement?: EncodedPlacement;
  /** The hook in messages; default `cgroup_inet_egress of cgroup /x`. */
  readonly hook?: string;
  /** The attach type in messages; default libbpf's name (`cgroup_inet_egress`). */
  readonly hookName?: string;
  /** The link's `what`; default `cgroup_inet_egress program count on cgroup /x`. */
  readonly what?: string;
  /** The attach's error context; default `attach count to HOOK`. */
  readonly context?: string;
  /** Explains an errno of the attach (and of updates) before the general explanations. */
  readonly explain?: (errno: number) => string | undefined;
  /** Checks a program given to `update()` before the general checks. */
  readonly checkUpdate?: (program: Program) => void;
  /**
   * For a hook whose next BPF_PROG_ATTACH replaces its program without a word (a sockmap slot,
   * a namespace's flow dissector): refuse (EEXIST) while it holds one, with this message, given
   * what it holds (`program 42 (name)`).
   */
  readonly refuseHeld?: (held: string) => string;
}

/**
 * Attaches with BPF_PROG_ATTACH as `spec` says and returns the `attachment` {@link Link}:
 * close() detaches exactly this program (see {@link detachState}), update() swaps it in place.
 *
 * @internal
 */
export function attachProgram(spec: ProgAttachSpec): Link {
  const { program, target, attachType } = spec;
  const placement = spec.placement ?? NO_PLACEMENT;
  const mprog = isMprogType(attachType);
  const hook = spec.hook ?? `${attachTypeName(attachType)} of ${target.description}`;
  const context = spec.context ?? `attach ${program.name} to ${hook}`;
  let progFd: number;
  try {
    if (spec.refuseHeld !== undefined) {
      const held = describeAttached(target.value, attachType);
      if (held !== undefined) throw new SyscallError(ProgAttach.name, Errno.EEXIST, spec.refuseHeld(held), context);
    }
    // Fds of our own first: with none left, nothing is attached that could not be detached.
    progFd = dupOwned(program.fd, `program ${program.name}`);
  } catch (err) {
    target.close();
    throw err;
  }
  const attempt: Attempt = { program, attachType, target, flags: spec.flags, replace: spec.replace, hook, hookName: spec.hookName ?? attachTypeName(attachType) };
  try {
    inCommandNetns(target, attachType, () =>
      bpfCall(
        ProgAttach,
        {
          target_fd: commandTarget(target, attachType),
          attach_bpf_fd: program.fd,
          attach_type: attachType,
          attach_flags: spec.flags | (spec.replace === undefined ? 0 : BPF_F_REPLACE) | placement.flags,
          replace_bpf_fd: spec.replace?.fd,
          relative_fd: placement.relative === 0 ? undefined : placement.relative,
          expected_revision: placement.revision === 0n ? undefined : placement.revision,
        },
        {
          context,
          explain: (errno) =>
            spec.explain?.(errno) ??
            (mprog ? explainMprog(errno, { prog: program, hook, ifindex: target.value, attachType, placement }) : explainAttach(errno, attempt)),
        },
      ),
    );
  } catch (err) {
    backend().close(progFd);
    target.close();
    throw err;
  }
  const state: RawState = {
    progFd,
    programId: idOfProgramFd(program.fd),
    current: program,
    target,
    attachType,
    flags: spec.flags,
    hook,
    explain: spec.explain,
    checkUpdate: spec.checkUpdate,
  };
  // The update closure may not hold the Link (its owner must not refer to it): a weak
  // reference lets it re-register the link as an anchor for the new program.
  let self: WeakRef<Link> | undefined;
  const link = Link.adopt({
    fd: -1,
    mode: 'attachment',
    what: spec.what ?? `${attachTypeName(attachType)} program ${program.name} on ${target.description}`,
    cleanup: () => detachState(state),
    update: (next, old) => {
      inCommandNetns(state.target, state.attachType, () => updateInPlace(state, next, old));
      const l = self?.deref();
      if (mprog && l !== undefined && state.programId !== undefined) rememberAttachedProgram(l, state.programId);
    },
  });
  self = new WeakRef(link);
  if (mprog && state.programId !== undefined) rememberAttachedProgram(link, state.programId);
  return link;
}

/**
 * Attaches `program` at a hook with BPF_PROG_ATTACH, without a bpf_link: to a cgroup v2
 * directory (every cgroup attach type), a network namespace (flow dissector), a sockmap or
 * sockhash (sk_skb parser/verdict, sk_msg verdict), a lirc device, or an interface's tcx or
 * netkit list. The returned {@link Link} has no fd (`mode: 'attachment'`): `close()` detaches
 * exactly this program, `detach()` does so early, `update()` swaps the program
 * (BPF_F_REPLACE where the hook supports it, else a plain attach, which replaces the one
 * program of such hooks). An attachment outlives the process if never closed;
 * {@link queryPrograms} lists it and {@link detachRaw} removes it.
 *
 * Minimum kernel: 4.10 (cgroups; BPF_F_ALLOW_MULTI 4.15, `replace` 5.6), 4.14 (sockmap),
 * 4.18 (lirc), 4.20 (flow dissector), 6.6 (tcx, anchors, `expectedRevision`), 6.7 (netkit),
 * 6.16 (cgroup anchors).
 *
 * @example
 * ```ts
 * using link = attachRaw({ program: prog, target: '/sys/fs/cgroup/unified/app', attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI });
 * ```
 * @throws {@link ArgumentError} for a program of the wrong type, a hook BPF_PROG_ATTACH does
 * not take, contradictory flags or anchors; {@link AttachTargetError} for a cgroup,
 * namespace or interface that does not exist or is not one; {@link SyscallError} explained
 * with what is attached at the hook now (EEXIST, EPERM, EBUSY, E2BIG, ESTALE).
 */
export function attachRaw(options: RawAttachOptions): Link {
  const fn = 'attachRaw';
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`${fn} takes { program, target, attachType, flags?, replace?, before?, after?, expectedRevision? }`);
  const { program, attachType } = options;
  const type = checkProgram(program, attachType, fn, 'program');
  if (attachType === AttachType.SKLookup) throw new ArgumentError(`${fn}: ${SK_LOOKUP_HINT}`);
  const flags = checkFlags(options.flags, fn);
  const kind = targetKind(attachType)!;
  const mprog = isMprogType(attachType);
  const anchored = options.before !== undefined || options.after !== undefined || options.expectedRevision !== undefined;
  if (anchored && !mprog && kind !== 'cgroup') throw new ArgumentError(`${fn}: before/after/expectedRevision place programs at tcx, netkit and (6.16) cgroup hooks, not ${attachTypeName(attachType)}`);
  if (kind === 'cgroup' && (flags & BPF_F_ALLOW_OVERRIDE) !== 0 && (flags & BPF_F_ALLOW_MULTI) !== 0) {
    throw new ArgumentError(`${fn}: BPF_F_ALLOW_OVERRIDE and BPF_F_ALLOW_MULTI exclude each other`);
  }
  if (options.replace !== undefined) {
    checkProgram(options.replace, attachType, fn, 'replace');
    if (kind === 'cgroup' && (flags & BPF_F_ALLOW_MULTI) === 0) throw new ArgumentError(`${fn}: replace needs BPF_F_ALLOW_MULTI at a cgroup hook (without it, attaching replaces the one program anyway)`);
    if (kind !== 'cgroup' && !mprog) throw new ArgumentError(`${fn}: replace is for cgroup, tcx and netkit hooks; at ${attachTypeName(attachType)} attaching replaces the program anyway`);
  }
  const placement = anchored ? encodePlacement(options, type, fn) : NO_PLACEMENT;
  const target = resolveTarget(options.target, attachType, fn, true);
  return attachProgram({ program, target, attachType, flags: flags & ~BPF_F_REPLACE, replace: options.replace, placement });
}

/**
 * Swaps the attachment's program: BPF_F_REPLACE of our program where the hook keeps a list
 * (cgroups with BPF_F_ALLOW_MULTI, tcx, netkit); a plain attach elsewhere, which replaces the
 * hook's one program (cgroups without MULTI — only while it is still ours —, sockmap slots,
 * the flow dissector); lirc, which keeps a list without replace, gets the new program attached
 * and then the old one detached. `old`, when given, must be the program attached now.
 */
function updateInPlace(state: RawState, next: Program, old: Program | undefined): void {
  const fn = 'Link.update';
  state.checkUpdate?.(next);
  checkProgram(next, state.attachType, fn, 'the new program');
  const context = `update ${state.hook} to ${next.name}`;
  if (old !== undefined && old !== state.current) {
    const oldId = idOfProgramFd(old.fd);
    if (oldId === undefined || oldId !== state.programId) {
      throw new ArgumentError(`${fn}: ${state.hook} runs ${state.current.name} (attached by this link), not ${old.name}: ${old.name} is not attached there by this link`);
    }
  }
  const there = replacedMeanwhile(state);
  if (there !== undefined) {
    const now = there.length === 0 ? 'nothing' : there.map((id) => programLabel(id)).join(', ');
    throw new SyscallError(ProgAttach.name, Errno.ENOENT, `${state.current.name} is no longer attached at ${state.hook} (${now} is): nothing of ours to replace`, context);
  }
  const kind = targetKind(state.attachType);
  const replace = isMprogType(state.attachType) || (kind === 'cgroup' && (state.flags & BPF_F_ALLOW_MULTI) !== 0);
  const nextFd = dupOwned(next.fd, `program ${next.name}`);
  try {
    bpfCall(
      ProgAttach,
      {
        target_fd: commandTarget(state.target, state.attachType),
        attach_bpf_fd: next.fd,
        attach_type: state.attachType,
        attach_flags: state.flags | (replace ? BPF_F_REPLACE : 0),
        replace_bpf_fd: replace ? state.progFd : undefined,
      },
      {
        context,
        explain: (errno) =>
          replace && errno === Errno.ENOENT
            ? `${state.current.name} is not attached at ${state.hook} (any more): nothing to replace${attachedNow(state.target.value, state.attachType)}`
            : (state.explain?.(errno) ??
              explainAttach(errno, { program: next, attachType: state.attachType, target: state.target, flags: state.flags, replace: undefined, hook: state.hook, hookName: attachTypeName(state.attachType) })),
      },
    );
  } catch (err) {
    backend().close(nextFd);
    // BPF_F_REPLACE is 5.6: older kernels refuse the flag with EINVAL.
    if (replace && kind === 'cgroup' && err instanceof SyscallError && err.errno === Errno.EINVAL && !kernelVersion().atLeast('5.6')) {
      throw new NotSupportedError('replacing a cgroup program in place (BPF_F_REPLACE)', '5.6', { errno: Errno.EINVAL, cause: err });
    }
    throw err;
  }
  if (state.attachType === AttachType.LIRCMode2) {
    const { attr, pointers } = encodeAttr(ProgDetach, { target_fd: state.target.value, attach_bpf_fd: state.progFd, attach_type: state.attachType });
    bpfRaw(ProgDetach, attr, pointers);
  }
  backend().close(state.progFd);
  state.progFd = nextFd;
  state.programId = idOfProgramFd(next.fd);
  state.current = next;
}


/**
 * Detaches a program attached with BPF_PROG_ATTACH (by this process or another): the
 * counterpart of `bpftool cgroup detach` / `bpftool net detach`. Programs held by a bpf_link
 * are detached through the link (`Link.fromId(id).detach()`), not here.
 *
 * Minimum kernel: as {@link attachRaw}.
 *
 * @example
 * ```ts
 * for (const p of queryPrograms(cgroup, AttachType.CgroupInetEgress).programs) {
 *   if (p.linkId === undefined) detachRaw({ target: cgroup, attachType: AttachType.CgroupInetEgress, program: p.id });
 * }
 * ```
 * @throws {@link ArgumentError} for a hook BPF_PROG_DETACH does not take or a missing program;
 * {@link SyscallError} ENOENT, explained with what is attached there.
 */
export function detachRaw(options: RawDetachOptions): void {
  const fn = 'detachRaw';
  const { attachType } = options;
  const kind = targetKind(attachType);
  if (kind === undefined) throw new ArgumentError(`${fn}: attach type ${attachTypeName(attachType)} is not attached through BPF_PROG_ATTACH: ${elsewhere(attachType)}`);
  if (options.program === undefined && kind !== 'cgroup') throw new ArgumentError(`${fn}: name the program to detach from ${attachTypeName(attachType)} (a Program or its id)`);
  let progFd: number | undefined;
  let label = 'the program';
  if (options.program instanceof Program) {
    checkProgram(options.program, attachType, fn, 'program');
    label = `program ${options.program.name}`;
  } else if (options.program !== undefined) {
    const id = options.program;
    if (!Number.isInteger(id) || id <= 0) throw new ArgumentError(`${fn}: program must be a Program or a program id, got ${String(id)}`);
    progFd = fdById('prog', id, { context: `open program id ${id}`, explain: (errno) => (errno === Errno.ENOENT ? `no program has id ${id} (any more)` : undefined) });
    label = `program id ${id}`;
  }
  const target = resolveTarget(options.target, attachType, fn, false);
  try {
    const fd = options.program instanceof Program ? options.program.fd : progFd;
    // A netns hook detaches in the caller's namespace with target_fd 0, as it attaches.
    inCommandNetns(target, attachType, () => bpfCall(
      ProgDetach,
      { target_fd: commandTarget(target, attachType), attach_bpf_fd: fd ?? 0, attach_type: attachType },
      {
        context: `detach ${label} from ${attachTypeName(attachType)} of ${target.description}`,
        explain: (errno) =>
          errno === Errno.ENOENT
            ? `${label} is not attached there without a link (a program held by a bpf_link is detached through the link)${attachedNow(target.value, attachType)}`
            : errno === Errno.EINVAL && fd === undefined
              ? `the hook holds programs attached with BPF_F_ALLOW_MULTI: name the one to detach`
              : undefined,
      },
    ));
  } finally {
    if (progFd !== undefined) backend().close(progFd);
    target.close();
  }
}
