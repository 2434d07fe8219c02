/**
 * What tcx and netkit share: both keep an ordered list of programs per hook (the kernel's
 * bpf_mprog, kernel/bpf/mprog.c, Linux 6.6), where a new program goes first, last, or just
 * before or after one already there (an anchor), and where every change bumps the hook's
 * revision so that an attach can be made conditional on nothing having changed since the
 * caller looked (`expected_revision`).
 *
 * This file turns the `before` / `after` / `expectedRevision` options into the attr's flags,
 * `relative_fd`/`relative_id` and `expected_revision`, and explains the errnos of
 * bpf_mprog_attach() with what the hook holds (queryPrograms). It also holds the attachment
 * without a link both allow (BPF_PROG_ATTACH / BPF_PROG_DETACH with the same attach types).
 *
 * @module
 */
import { closeSync, openSync } from 'node:fs';
import { ArgumentError, NotSupportedError, SyscallError } from '../errors.js';
import { Feature, notSupportedUnlessConfigured, type FeatureResult } from '../features/feature.js';
import { BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK } from '../internal/flags.js';
import { inNetns } from '../internal/netns.js';
import { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfCall, bpfRaw } from '../sys/bpf.js';
import { fdById } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate, ProgAttach, ProgDetach } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { programLabel, queryPrograms } from './query.js';

/**
 * A position among the programs attached at a tcx or netkit hook: an attached `Program`, a
 * `Link` that holds one, a kernel id (`{ programId }` or `{ linkId }`, as `bpftool net` and
 * `queryPrograms()` show them), or `'all'`: before all (the head) or after all (the tail).
 */
export type Anchor =
  | Program
  | Link
  | {
      /** A program's kernel id. */
      readonly programId: number;
    }
  | {
      /** A bpf_link's kernel id. */
      readonly linkId: number;
    }
  | 'all';

/** The placement options tcx and netkit attachments share. */
export interface MprogPlacement {
  /** Run just before this program or link (`'all'`: first of all). */
  before?: Anchor;
  /** Run just after this program or link (`'all'`: last, the default). */
  after?: Anchor;
  /**
   * Attach only if the hook is still at this revision (from `queryPrograms()`); the kernel
   * answers ESTALE otherwise. 0 or undefined: no check.
   */
  expectedRevision?: number | bigint;
}

/** The placement options as the attr takes them. */
export interface EncodedPlacement {
  /** BPF_F_BEFORE / BPF_F_AFTER, with BPF_F_ID and BPF_F_LINK saying what `relative` is. */
  readonly flags: number;
  /** An fd or id of the anchor, 0 for none. */
  readonly relative: number;
  /** `expected_revision`, 0n for no check. */
  readonly revision: bigint;
  /** The anchor for messages (`before program order_1`), undefined without one. */
  readonly anchor: string | undefined;
}

/**
 * Programs attached without a bpf_link (BPF_PROG_ATTACH) are held by a Link in `attachment`
 * mode that has no fd to name them by; it is named by its program's id when used as an anchor.
 */
const attachmentPrograms = new WeakMap<Link, number>();

/**
 * Records the program id behind an `attachment` link, so that it can serve as an anchor.
 * @internal
 */
export function rememberAttachedProgram(link: Link, programId: number): void {
  attachmentPrograms.set(link, programId);
}

function checkId(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 0xffffffff) {
    throw new ArgumentError(`${what} must be a kernel object id (an integer from 1 to 2^32-1), got ${String(value)}`);
  }
  return value;
}

/** fd or id, flags and a description of one anchor. */
function encodeAnchor(anchor: Anchor, key: 'before' | 'after', type: ProgramType, fn: string): { flags: number; relative: number; what: string } {
  if (anchor === 'all') return { flags: 0, relative: 0, what: `${key} all` };
  if ((anchor instanceof Program || anchor instanceof Link) && anchor.closed) {
    throw new ArgumentError(`${fn}: ${key} names ${anchor.toString()}, which is closed: an anchor must be open (or given by id)`);
  }
  if (anchor instanceof Program) {
    // bpf_mprog_prog() refuses an anchor of another program type (EINVAL).
    if (anchor.type !== type) {
      throw new ArgumentError(`${fn}: ${key} names program ${anchor.name}, a ${programTypeName(anchor.type)} program; anchors at this hook are ${programTypeName(type)} programs`);
    }
    return { flags: 0, relative: anchor.fd, what: `${key} program ${anchor.name}` };
  }
  if (anchor instanceof Link) {
    if (anchor.mode === 'bpf-link') return { flags: BPF_F_LINK, relative: anchor.fd, what: `${key} link ${anchor.what}` };
    const id = attachmentPrograms.get(anchor);
    if (id !== undefined) return { flags: BPF_F_ID, relative: id, what: `${key} program id ${id} (${anchor.what})` };
    throw new ArgumentError(`${fn}: ${key} names ${anchor.toString()}, which is no attachment at a tcx or netkit hook: name the program or link that is attached there`);
  }
  if (anchor !== null && typeof anchor === 'object') {
    const o = anchor as { programId?: unknown; linkId?: unknown };
    if (o.programId !== undefined && o.linkId !== undefined) throw new ArgumentError(`${fn}: ${key} takes { programId } or { linkId }, not both`);
    if (o.programId !== undefined) {
      const id = checkId(o.programId, `${key}.programId`);
      return { flags: BPF_F_ID, relative: id, what: `${key} program id ${id}` };
    }
    if (o.linkId !== undefined) {
      const id = checkId(o.linkId, `${key}.linkId`);
      return { flags: BPF_F_ID | BPF_F_LINK, relative: id, what: `${key} link id ${id}` };
    }
  }
  throw new ArgumentError(`${fn}: ${key} must be a Program, a Link, { programId }, { linkId } or 'all', got ${describeValue(anchor)}`);
}

function describeValue(value: unknown): string {
  if (typeof value === 'object' && value !== null) return `an object with keys ${JSON.stringify(Object.keys(value))}`;
  return JSON.stringify(value) ?? String(value);
}

/**
 * Checks `before` / `after` / `expectedRevision` and encodes them. No anchor means "after all":
 * what the kernel does with no flags too.
 *
 * @throws {@link ArgumentError} for both `before` and `after`, an anchor that is not one, a
 * program anchor of another type, or a revision that is not a non-negative 64-bit integer.
 */
export function encodePlacement(options: MprogPlacement, type: ProgramType, fn: string): EncodedPlacement {
  let revision = 0n;
  if (options.expectedRevision !== undefined) {
    const r = options.expectedRevision;
    if ((typeof r !== 'bigint' && !(typeof r === 'number' && Number.isSafeInteger(r))) || BigInt(r) < 0n || BigInt(r) >= 1n << 64n) {
      throw new ArgumentError(`${fn}: expectedRevision must be a non-negative integer (a revision from queryPrograms()), got ${String(r)}`);
    }
    revision = BigInt(r);
  }
  // One relative_fd serves both flags, so "before X and after Y" cannot be said; the kernel
  // would answer ERANGE for anything but the one position they agree on.
  if (options.before !== undefined && options.after !== undefined) {
    throw new ArgumentError(`${fn}: give before or after, not both (a program has one position; to go between two, name the one it must precede)`);
  }
  if (options.before !== undefined) {
    const a = encodeAnchor(options.before, 'before', type, fn);
    return { flags: a.flags | BPF_F_BEFORE, relative: a.relative, revision, anchor: a.what };
  }
  if (options.after !== undefined) {
    const a = encodeAnchor(options.after, 'after', type, fn);
    return { flags: a.flags | BPF_F_AFTER, relative: a.relative, revision, anchor: a.what };
  }
  return { flags: 0, relative: 0, revision, anchor: undefined };
}

/** What one tcx or netkit hook holds, in the order the programs run. */
export interface MprogState {
  /** The hook's revision: it changes with every attach and detach (0 while nothing was ever attached). */
  readonly revision: bigint;
  /** Ids of the attached programs, first to run first. */
  readonly programIds: readonly number[];
  /** For each program, the id of the link holding it, or 0 for an attachment without a link. */
  readonly linkIds: readonly number[];
}

/** `bpf_mprog_max()`: a hook holds at most 64 programs. */
export const MPROG_MAX = 64;

/**
 * What the tcx or netkit hook (`ifindex`, `attachType`) holds now, from {@link queryPrograms},
 * or undefined when the kernel will not say (the interface is gone, no permission).
 *
 * Minimum kernel: 6.6 (tcx), 6.7 (netkit).
 */
export function queryMprog(ifindex: number, attachType: AttachType): MprogState | undefined {
  try {
    const r = queryPrograms({ interface: ifindex }, attachType);
    return { revision: r.revision ?? 0n, programIds: r.programs.map((p) => p.id), linkIds: r.programs.map((p) => p.linkId ?? 0) };
  } catch {
    return undefined;
  }
}

/** `program 41 (count_udp) through link 7` for each attached program, in order. */
function describeState(state: MprogState): string {
  if (state.programIds.length === 0) return 'nothing is attached there';
  const parts = state.programIds.map((id, i) => `${programLabel(id)} ${state.linkIds[i] === 0 ? 'without a link' : `through link ${state.linkIds[i]}`}`);
  return `attached now, in order: ${parts.join(', ')}`;
}

/** What an explanation needs to know about the attempted attachment. */
export interface MprogAttempt {
  /** The program being attached. */
  readonly prog: Program;
  /** The hook, for messages: `tcx ingress of vb`. */
  readonly hook: string;
  /** The hook's ifindex and attach type, to read what it holds now. */
  readonly ifindex: number;
  readonly attachType: AttachType;
  /** The encoded placement options. */
  readonly placement: EncodedPlacement;
}

/**
 * Explains the errnos of bpf_mprog_attach() (kernel/bpf/mprog.c) and the lookups before it,
 * with what the hook holds now. Undefined for an errno with nothing specific to say.
 */
export function explainMprog(errno: number, attempt: MprogAttempt): string | undefined {
  const { prog, hook, placement } = attempt;
  const now = (): string => {
    const s = queryMprog(attempt.ifindex, attempt.attachType);
    return s === undefined ? '' : `; ${describeState(s)} (revision ${s.revision})`;
  };
  const anchor = placement.anchor ?? 'the anchor';
  switch (errno) {
    case Errno.EEXIST:
      // bpf_mprog_exists(): a hook runs each program once.
      return `program ${prog.name} is already attached at ${hook} (a hook holds each program once): load the program again (Program.load / loadCollection) to attach a second copy${now()}`;
    case Errno.ESTALE: {
      const s = queryMprog(attempt.ifindex, attempt.attachType);
      const at = s === undefined ? ' has changed' : ` is at revision ${s.revision}`;
      return `${hook}${at}, not the expected revision ${placement.revision}: programs were attached or detached since that revision was read; query again (queryPrograms) and retry${s === undefined ? '' : `; ${describeState(s)}`}`;
    }
    case Errno.ENOENT:
      // bpf_mprog_pos_before/after(): the anchor is not in this hook's list; or the id names no object.
      return placement.relative === 0 ? undefined : `${anchor}: no such program or link is attached at ${hook}${now()}`;
    case Errno.EBUSY:
      // bpf_mprog_pos_*(): the program is there, but held by a link when named as a program, or the reverse.
      return placement.relative === 0
        ? undefined
        : `${anchor}: that program is attached at ${hook}, but not the way the anchor says: name a link attachment by its Link or { linkId }, an attachment without a link by its Program or { programId }${now()}`;
    case Errno.ERANGE:
      return `${hook} cannot take the program at that position: it holds ${MPROG_MAX} programs already, or the anchor is ambiguous${now()}`;
    case Errno.EBADF:
      return placement.relative === 0 ? undefined : `${anchor}: the anchor's fd is not open (a closed Program or Link)`;
    case Errno.EINVAL:
      return placement.relative === 0 ? undefined : `${anchor}: the anchor is not a program of type ${programTypeName(prog.type)}, or not a link of this kind of hook`;
    default:
      return undefined;
  }
}

/**
 * A link feature probe's answer, with the config option behind its attach type: a kernel
 * built without it has a stub answering EINVAL (tcx_link_attach() without CONFIG_NET_XGRESS,
 * netkit_link_attach() without CONFIG_NETKIT), which reads like a kernel that predates the
 * type. When the running kernel is new enough and its config says the option is off, that
 * option is the answer instead of a version.
 */
export function withConfigGate(r: FeatureResult, option: string): FeatureResult {
  if (r.supported !== false || r.minimumVersion === undefined) return r;
  return notSupportedUnlessConfigured(r.reason, r.minimumVersion, option);
}

/**
 * The feature of a tcx or netkit link type (`what`), probed with ifindex 0, which no interface
 * has: a kernel with the type looks the device up and answers ENODEV; older kernels do not
 * know the attach type (EINVAL from link_create()), nor does one built without `config`.
 */
export function mprogLinkFeature(what: string, attachType: AttachType, attachName: string, since: string, config: string): Feature {
  return new Feature(`${what} (BPF_LINK_CREATE with ${attachName})`, since, () =>
    withConfigGate(
      linkCreateProbe({
        name: `probe_${what}`,
        programType: ProgramType.SchedCls,
        attachType,
        loadAttachType: AttachType.None,
        attachName,
        fields: { target_fd: 0 },
        proves: [Errno.ENODEV],
        since,
      }),
      config,
    ),
    { perBoot: 'kernel' },
  );
}

/**
 * Throws the {@link NotSupportedError} that fits when the kernel lacks `feature`, saying what
 * to use `instead`; an inconclusive probe lets the attach answer.
 */
export function requireMprogFeature(feature: Feature, what: string, instead: string): void {
  const r = feature.check();
  if (r.supported !== false) return;
  if (r.minimumVersion !== undefined) throw new NotSupportedError(what, r.minimumVersion, { errno: Errno.EINVAL, detail: instead });
  throw new NotSupportedError(what, undefined, { errno: Errno.EINVAL, detail: `${r.reason}; ${instead}` });
}

/**
 * What attachTcx and attachNetkit check first: a SCHED_CLS program (`sections` names where
 * one comes from) and options with an interface (`usage` spells them).
 */
export function checkMprogArgs(prog: Program, options: { readonly interface?: unknown } | null | undefined, fn: string, sections: string, usage: string): void {
  if (prog.type !== ProgramType.SchedCls) throw new ArgumentError(`${fn} needs a SCHED_CLS program (${sections}); ${prog.name} is ${programTypeName(prog.type)}`);
  if (options === null || typeof options !== 'object' || (typeof options.interface !== 'string' && typeof options.interface !== 'number')) {
    throw new ArgumentError(`${fn} needs options: ${usage}`);
  }
}

/** The `mode` option of attachTcx and attachNetkit, checked: a bpf_link unless `attachment`. */
export function mprogMode(mode: unknown, fn: string): 'bpf-link' | 'attachment' {
  if (mode === undefined) return 'bpf-link';
  if (mode !== 'bpf-link' && mode !== 'attachment') throw new ArgumentError(`${fn}: mode must be 'bpf-link' or 'attachment', got ${JSON.stringify(mode)}`);
  return mode;
}

/** What {@link attachMprog} attaches, where and how. */
export interface MprogRequest {
  /** The program. */
  readonly prog: Program;
  /** A bpf_link, or BPF_PROG_ATTACH. */
  readonly mode: 'bpf-link' | 'attachment';
  /** The interface's index. */
  readonly ifindex: number;
  /** The hook's attach type (tcx ingress/egress, netkit primary/peer). */
  readonly attachType: AttachType;
  /** The hook, for messages: `tcx ingress of eth0`. */
  readonly hook: string;
  /** The encoded placement options. */
  readonly placement: EncodedPlacement;
  /** Explains the errnos particular to the device (ENODEV, …) before the list's own. */
  readonly explainDevice?: (errno: number) => string | undefined;
}

/**
 * Attaches a program to a tcx or netkit hook: BPF_LINK_CREATE with the placement in the link
 * type's own attr fields, or {@link progAttach}; errnos explained with what the hook holds.
 */
export function attachMprog(req: MprogRequest): Link {
  const { prog, ifindex, attachType, hook, placement } = req;
  const attempt: MprogAttempt = { prog, hook, ifindex, attachType, placement };
  const explain = (errno: number): string | undefined => req.explainDevice?.(errno) ?? explainMprog(errno, attempt);
  const context = `attach ${prog.name} to ${hook}${placement.anchor === undefined ? '' : ` ${placement.anchor}`}`;
  const what = `${hook} (ifindex ${ifindex})`;
  if (req.mode === 'attachment') {
    return progAttach(prog, { ifindex, attachType, flags: placement.flags, relative: placement.relative, revision: placement.revision, what, context, explain });
  }
  const relative = placement.relative === 0 ? undefined : placement.relative;
  const revision = placement.revision === 0n ? undefined : placement.revision;
  // The same union bytes under each link type's own names (and first kernels).
  const fields =
    attachType === AttachType.TCXIngress || attachType === AttachType.TCXEgress
      ? { tcx_relative_fd: relative, tcx_expected_revision: revision }
      : { netkit_relative_fd: relative, netkit_expected_revision: revision };
  const fd = bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: ifindex, attach_type: attachType, flags: placement.flags, ...fields }, { context, explain });
  return Link.adopt({ fd, mode: 'bpf-link', what });
}

/** What {@link progAttach} sends and names. */
export interface ProgAttachRequest {
  readonly ifindex: number;
  readonly attachType: AttachType;
  readonly flags: number;
  readonly relative: number;
  readonly revision: bigint;
  readonly what: string;
  readonly context: string;
  readonly explain: (errno: number) => string | undefined;
}

/**
 * BPF_PROG_ATTACH of a program to a tcx or netkit hook, returned as an `attachment` link whose
 * close runs BPF_PROG_DETACH. The detach names the interface by index, which only means the
 * same interface in the same network namespace: the link keeps an fd to the namespace the
 * attach ran in and detaches from inside it.
 */
export function progAttach(prog: Program, req: ProgAttachRequest): Link {
  // The program id, not its fd: the Program may be closed before the link (the kernel keeps the
  // program while it is attached), and the detach needs an fd of it then.
  const programId = prog.info().id;
  bpfCall(
    ProgAttach,
    {
      target_fd: req.ifindex,
      attach_bpf_fd: prog.fd,
      attach_type: req.attachType,
      attach_flags: req.flags,
      relative_fd: req.relative === 0 ? undefined : req.relative,
      expected_revision: req.revision === 0n ? undefined : req.revision,
    },
    { context: req.context, explain: req.explain },
  );
  let netns: number;
  try {
    netns = openSync('/proc/thread-self/ns/net', 'r');
  } catch (err) {
    detach(req.ifindex, req.attachType, programId, req.what);
    throw err;
  }
  const link = Link.adopt({
    fd: -1,
    mode: 'attachment',
    what: req.what,
    cleanup: () => {
      try {
        inNetns(netns, () => detach(req.ifindex, req.attachType, programId, req.what));
      } finally {
        closeSync(netns);
      }
    },
  });
  rememberAttachedProgram(link, programId);
  return link;
}

/** BPF_PROG_DETACH of program `programId`; nothing to do when it or the interface is gone already. */
function detach(ifindex: number, attachType: AttachType, programId: number, what: string): void {
  let progFd: number;
  try {
    progFd = fdById('prog', programId);
  } catch (err) {
    // A program that no longer exists is attached nowhere.
    if (err instanceof SyscallError && err.errno === Errno.ENOENT) return;
    throw err;
  }
  try {
    const { attr } = encodeAttr(ProgDetach, { target_fd: ifindex, attach_bpf_fd: progFd, attach_type: attachType });
    const r = bpfRaw(ProgDetach, attr);
    // ENOENT: someone detached it already; ENODEV: the interface (or its namespace) is gone, and
    // its programs with it.
    if (r < 0 && r !== -Errno.ENOENT && r !== -Errno.ENODEV) {
      throw new SyscallError('BPF_PROG_DETACH', -r, undefined, `detach program id ${programId} from ${what}`);
    }
  } finally {
    backend().close(progFd);
  }
}
