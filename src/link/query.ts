/**
 * {@link queryPrograms}: what is attached at a hook, as BPF_PROG_QUERY reports it — the
 * programs in the order they run, with the flags each was attached with (6.0), the links that
 * hold them and the hook's revision (tcx and netkit, 6.6), whether they were attached with a
 * bpf_link or with BPF_PROG_ATTACH.
 *
 * The kernel copies at most `prog_cnt` ids and answers ENOSPC with the real count in
 * `prog_cnt`; the query asks for the count first and grows its buffers until everything fits,
 * so a hook that gains programs between two calls is still read whole.
 *
 * The same query names what a hook holds in error messages (`describeAttached`): where
 * the kernel would replace a program silently (a sockmap slot, a namespace's flow dissector)
 * or refuses with a bare errno (EEXIST, EBUSY, E2BIG).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE, BPF_F_QUERY_EFFECTIVE, BPF_F_REPLACE } from '../internal/flags.js';
import { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfRaw } from '../sys/bpf.js';
import { bpfError, Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { ProgQuery } from '../sys/layouts.js';
import { AttachType } from '../types.js';
import { attachTypeName, isMprogType, resolveTarget, targetKind, type RawTarget } from './attach-target.js';

/** Options of {@link queryPrograms}. */
export interface QueryOptions {
  /**
   * Cgroups only: the programs that run for the cgroup, those inherited from its ancestors
   * included (BPF_F_QUERY_EFFECTIVE), rather than those attached to it.
   */
  effective?: boolean;
}

/** One program at a hook. */
export interface QueriedProgram {
  /** The program's id (`Program.fromId`, `bpftool prog show id`). */
  readonly id: number;
  /**
   * The flags it was attached with (`BPF_F_ALLOW_OVERRIDE`, `BPF_F_ALLOW_MULTI`): cgroups,
   * not with `effective`, Linux 6.0+; undefined where the kernel does not report them.
   */
  readonly attachFlags?: number;
  /** The id of the bpf_link holding it (tcx and netkit, 6.6+); undefined for an attachment without a link. */
  readonly linkId?: number;
  /** The flags of that link's attachment (6.6+, where reported). */
  readonly linkAttachFlags?: number;
}

/** What {@link queryPrograms} returns. */
export interface QueryResult {
  /**
   * The hook's flags: for a cgroup, how its programs were attached (0, `BPF_F_ALLOW_OVERRIDE`
   * or `BPF_F_ALLOW_MULTI`); 0 elsewhere.
   */
  readonly attachFlags: number;
  /**
   * The hook's revision (tcx and netkit, 6.6+): it changes with every attach and detach, and an
   * attach can require it (`expectedRevision`). Undefined where the kernel reports none.
   */
  readonly revision?: bigint;
  /** The programs, first to run first. */
  readonly programs: readonly QueriedProgram[];
}

/** How many programs the first sized request makes room for; a hook rarely holds more. */
const INITIAL_CAPACITY = 16;

interface RawQuery {
  readonly errno: number;
  readonly count: number;
  readonly attachFlags: number;
  readonly revision: bigint;
  readonly programIds: Uint8Array;
  readonly programFlags: Uint8Array | undefined;
  readonly linkIds: Uint8Array | undefined;
  readonly linkFlags: Uint8Array | undefined;
  readonly attr: Uint8Array;
  readonly pointers: ReadonlyArray<number | Uint8Array | null>;
}

function queryOnce(target: number, attachType: AttachType, queryFlags: number, capacity: number): RawQuery {
  const running = kernelVersion();
  const programIds = new Uint8Array(capacity * 4);
  // Fields the running kernel does not know must stay zero (CHECK_ATTR answers EINVAL), so
  // the arrays added in 6.0 and 6.6 are only offered to kernels that read them.
  const programFlags = capacity > 0 && running.atLeast('6.0') && queryFlags === 0 ? new Uint8Array(capacity * 4) : undefined;
  const withLinks = capacity > 0 && running.atLeast('6.6');
  const linkIds = withLinks ? new Uint8Array(capacity * 4) : undefined;
  const linkFlags = withLinks ? new Uint8Array(capacity * 4) : undefined;
  const { attr, pointers } = encodeAttr(ProgQuery, {
    target_fd: target,
    attach_type: attachType,
    query_flags: queryFlags,
    attach_flags: 0,
    prog_ids: capacity > 0 ? programIds : null,
    prog_cnt: capacity,
    prog_attach_flags: programFlags,
    link_ids: linkIds,
    link_attach_flags: linkFlags,
    // Always sent, zero: a 6.6+ kernel writes the revision back whatever the attr's size, so
    // the attr must reach that far (older kernels accept the zero tail).
    revision: 0n,
  });
  const r = bpfRaw(ProgQuery, attr, pointers);
  const view = dataView(attr);
  const f = ProgQuery.fields;
  return {
    errno: r < 0 ? -r : 0,
    count: view.getUint32(f.prog_cnt.offset, hostLittleEndian),
    attachFlags: view.getUint32(f.attach_flags.offset, hostLittleEndian),
    revision: view.getBigUint64(f.revision.offset, hostLittleEndian),
    programIds,
    programFlags,
    linkIds,
    linkFlags,
    attr,
    pointers,
  };
}

/**
 * BPF_PROG_QUERY until the buffers hold every program: first the count alone, then buffers
 * that hold it; a hook that grew meanwhile answers ENOSPC with its new count, and the buffers
 * grow to that. The result, or the attempt the kernel refused.
 */
function queryAll(target: number, attachType: AttachType, queryFlags: number): QueryResult | RawQuery {
  let q = queryOnce(target, attachType, queryFlags, 0);
  if (q.errno !== 0) return q;
  let capacity = Math.max(q.count, q.count === 0 ? 0 : INITIAL_CAPACITY);
  for (let attempt = 0; capacity > 0; attempt++) {
    q = queryOnce(target, attachType, queryFlags, capacity);
    if (q.errno === Errno.ENOSPC && attempt < 8) {
      capacity = Math.max(q.count, capacity * 2);
      continue;
    }
    if (q.errno !== 0) return q;
    break;
  }
  const count = Math.min(q.count, capacity);
  const read = (bytes: Uint8Array | undefined, i: number): number | undefined => (bytes === undefined ? undefined : dataView(bytes).getUint32(i * 4, hostLittleEndian));
  const programs: QueriedProgram[] = [];
  for (let i = 0; i < count; i++) {
    const linkId = read(q.linkIds, i);
    const hasLink = linkId !== undefined && linkId !== 0;
    programs.push({
      id: read(q.programIds, i)!,
      ...(q.programFlags === undefined ? {} : { attachFlags: read(q.programFlags, i) }),
      ...(hasLink ? { linkId, linkAttachFlags: read(q.linkFlags, i) } : {}),
    });
  }
  return { attachFlags: q.attachFlags, ...(q.revision === 0n ? {} : { revision: q.revision }), programs };
}

/** What BPF_PROG_QUERY of `attachType` is about, for messages. */
function explainQuery(errno: number, attachType: AttachType, where: string): string | undefined {
  switch (errno) {
    case Errno.EINVAL:
      return `BPF_PROG_QUERY lists ${attachTypeName(attachType)} programs only on kernels that have that hook (tcx 6.6, netkit 6.7, sockmap 6.0, cgroup unix hooks 6.7); XDP programs are queried through netlink`;
    case Errno.EBADF:
      return `${where} is not what ${attachTypeName(attachType)} attaches to`;
    case Errno.ENODEV:
      return `${where} does not exist (any more)`;
    default:
      return undefined;
  }
}

/**
 * The programs attached at one hook (BPF_PROG_QUERY): a cgroup's hook of `attachType`, a
 * network namespace's flow dissector or sk_lookup programs, a sockmap's programs, a lirc
 * device's, or an interface's tcx or netkit programs. Programs attached with a bpf_link are
 * listed too (with the link's id from 6.6).
 *
 * Minimum kernel: 4.15 (cgroups), 4.18 (lirc), 5.8 (netns links), 6.0 (sockmap, per-program
 * attach flags), 6.6 (tcx; link ids and revisions), 6.7 (netkit). XDP programs are not
 * listed by BPF_PROG_QUERY: netlink reports them.
 *
 * @example
 * ```ts
 * const { programs } = queryPrograms('/sys/fs/cgroup/app', AttachType.CgroupInetEgress);
 * for (const p of programs) console.log(p.id, p.attachFlags);
 * const { revision } = queryPrograms('eth0', AttachType.TCXIngress);
 * ```
 * @throws {@link ArgumentError} for an attach type BPF_PROG_QUERY does not list, or `effective`
 * outside cgroups; {@link AttachTargetError} when the cgroup, namespace or interface does not
 * exist; {@link SyscallError} from the kernel, explained.
 */
export function queryPrograms(target: RawTarget, attachType: AttachType, options: QueryOptions = {}): QueryResult {
  const fn = 'queryPrograms';
  const kind = targetKind(attachType);
  if (kind === undefined) {
    const hint = attachType === AttachType.XDP ? ': XDP programs are listed through netlink (the XDP query of the xdp module, or ebpf-ts net)' : ': it lists cgroup, netns (flow dissector, sk_lookup), sockmap, lirc, tcx and netkit hooks';
    throw new ArgumentError(`${fn}: BPF_PROG_QUERY does not list ${attachTypeName(attachType)} programs${hint}`);
  }
  if (options.effective === true && kind !== 'cgroup') throw new ArgumentError(`${fn}: effective applies to cgroups, which inherit programs; ${attachTypeName(attachType)} hooks do not`);
  const queryFlags = options.effective === true ? BPF_F_QUERY_EFFECTIVE : 0;
  const resolved = resolveTarget(target, attachType, fn, false);
  const ctx = { context: `query ${attachTypeName(attachType)} programs of ${resolved.description}`, explain: (errno: number) => explainQuery(errno, attachType, resolved.description) };
  try {
    const q = queryAll(resolved.value, attachType, queryFlags);
    if ('errno' in q) throw bpfError(ProgQuery, q.errno, q.attr, q.pointers, ctx);
    return q;
  } finally {
    resolved.close();
  }
}

/**
 * What is attached at (`targetFd`, `attachType`) now, or undefined when the kernel will not
 * say (a hook it lacks, no permission, a target gone): for error messages, which must not
 * fail in turn.
 */
export function attachedPrograms(targetFd: number, attachType: AttachType): QueryResult | undefined {
  const q = queryAll(targetFd, attachType, 0);
  return 'errno' in q ? undefined : q;
}

/** The name of program `id`, or undefined when it cannot be opened (gone, no permission). */
export function programName(id: number): string | undefined {
  try {
    const p = Program.fromId(id);
    try {
      return p.name;
    } finally {
      p.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * `program 42 (count_msg)`, or the id alone when the name cannot be read; `noun` replaces
 * `program` (the cgroup messages say `program id 42`).
 */
export function programLabel(id: number, noun = 'program'): string {
  const name = programName(id);
  return name === undefined || name === '' ? `${noun} ${id}` : `${noun} ${id} (${name})`;
}

/** `BPF_F_ALLOW_MULTI`, `0`: attach flags for messages. */
export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & BPF_F_ALLOW_OVERRIDE) names.push('BPF_F_ALLOW_OVERRIDE');
  if (flags & BPF_F_ALLOW_MULTI) names.push('BPF_F_ALLOW_MULTI');
  if (flags & BPF_F_REPLACE) names.push('BPF_F_REPLACE');
  const rest = flags & ~(BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI | BPF_F_REPLACE);
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? '0' : names.join('|');
}

/**
 * What a hook holds, for messages: `nothing is attached there now`, or each program with the
 * link holding it — `attached now (flags BPF_F_ALLOW_MULTI): program 12 (count) without a
 * link` at a cgroup, `attached now, in order: program 41 (count_udp) through link 7 (revision
 * 3)` at a tcx or netkit hook.
 */
export function describeQuery(q: QueryResult, attachType: AttachType): string {
  if (q.programs.length === 0) return 'nothing is attached there now';
  const parts = q.programs.map((p) => `${programLabel(p.id)} ${p.linkId === undefined ? 'without a link' : `through link ${p.linkId}`}`);
  if (isMprogType(attachType)) return `attached now, in order: ${parts.join(', ')}${q.revision === undefined ? '' : ` (revision ${q.revision})`}`;
  const flags = targetKind(attachType) === 'cgroup' ? ` (flags ${flagNames(q.attachFlags)})` : '';
  return `attached now${flags}: ${parts.join(', ')}`;
}

/** `; ` and {@link describeQuery} of what is attached at (`targetFd`, `attachType`) now, or '' when it cannot be read. */
export function attachedNow(targetFd: number, attachType: AttachType): string {
  const q = attachedPrograms(targetFd, attachType);
  return q === undefined ? '' : `; ${describeQuery(q, attachType)}`;
}

/** `program 42 (count_msg), program 43` for what is attached, or undefined when nothing is or the query failed. */
export function describeAttached(targetFd: number, attachType: AttachType): string | undefined {
  const ids = attachedPrograms(targetFd, attachType)?.programs.map((p) => p.id);
  return ids === undefined || ids.length === 0 ? undefined : ids.map((id) => programLabel(id)).join(', ');
}
