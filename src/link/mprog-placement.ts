/**
 * Where a program goes among those of a tcx or netkit hook (the kernel's bpf_mprog,
 * kernel/bpf/mprog.c, Linux 6.6): the `before` / `after` / `expectedRevision` options turned
 * into the attr's flags, `relative_fd`/`relative_id` and `expected_revision`, and the errnos of
 * bpf_mprog_attach() explained with what the hook holds. Shared by the tcx and netkit links
 * (mprog.ts) and by the BPF_PROG_ATTACH attachments of raw.ts.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK } from '../internal/flags.js';
import { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { programTypeName, type AttachType, type ProgramType } from '../types.js';
import { Link } from './link.js';
import { attachedPrograms, describeQuery } from './query.js';

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
  const r = attachedPrograms(ifindex, attachType);
  return r === undefined ? undefined : { revision: r.revision ?? 0n, programIds: r.programs.map((p) => p.id), linkIds: r.programs.map((p) => p.linkId ?? 0) };
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
    const q = attachedPrograms(attempt.ifindex, attempt.attachType);
    return q === undefined ? '' : `; ${describeQuery(q, attempt.attachType)}`;
  };
  const anchor = placement.anchor ?? 'the anchor';
  switch (errno) {
    case Errno.EEXIST:
      // bpf_mprog_exists(): a hook runs each program once.
      return `program ${prog.name} is already attached at ${hook} (a hook holds each program once): load the program again (Program.load / loadCollection) to attach a second copy${now()}`;
    case Errno.ESTALE: {
      const q = attachedPrograms(attempt.ifindex, attempt.attachType);
      const at = q === undefined ? ' has changed' : ` is at revision ${q.revision ?? 0n}`;
      return `${hook}${at}, not the expected revision ${placement.revision}: programs were attached or detached since that revision was read; query again (queryPrograms) and retry${q === undefined ? '' : `; ${describeQuery(q, attempt.attachType)}`}`;
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
