/**
 * {@link Link}: a program attached to a kernel hook. What the process holds depends on how the
 * attachment was made:
 *
 * - a bpf_link fd (BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN): closing it detaches; it has an
 *   id and info (5.8+) and can be pinned on bpffs;
 * - a bpf_link fd plus the perf event it sits on (perf link, 5.15+): both are closed;
 * - only a perf event fd with the program set by PERF_EVENT_IOC_SET_BPF (before 5.15): closing
 *   the event detaches the program; there is no link object in the kernel, hence no info or pin.
 *
 * Anything the attachment created outside the fds (a tracefs kprobe event) is removed by a
 * cleanup function when the link closes. A FinalizationRegistry closes links that were
 * garbage-collected while open, and warns: it is a safety net, not the mechanism. Both go
 * through one release function (src/internal/owner.ts).
 *
 * @module
 */
import { unlinkSync } from 'node:fs';
import { ArgumentError, ClosedError, NotSupportedError, SyscallError } from '../errors.js';
import { hostLittleEndian } from '../sys/attr.js';
import { fdById, objectIds, objGet, objGetInfoByFd, objPin } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { LinkInfo as LinkInfoLayout } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { kprobeMultiInfo, uprobeMultiInfo, type KprobeMultiLinkInfo, type UprobeMultiLinkInfo } from './multi-link-info.js';
import { PERF_EVENT_IOC_DISABLE } from '../internal/perf-event.js';
import { fdState, Owner } from '../internal/owner.js';
import { dataView } from '../internal/bytes.js';

/** `enum bpf_link_type`. */
export enum LinkType {
  /** BPF_LINK_TYPE_UNSPEC */
  Unspec = 0,
  /** BPF_LINK_TYPE_RAW_TRACEPOINT (5.8) */
  RawTracepoint = 1,
  /** BPF_LINK_TYPE_TRACING: fentry/fexit/fmod_ret/tp_btf/lsm (5.8) */
  Tracing = 2,
  /** BPF_LINK_TYPE_CGROUP (5.8) */
  Cgroup = 3,
  /** BPF_LINK_TYPE_ITER (5.8) */
  Iter = 4,
  /** BPF_LINK_TYPE_NETNS (5.8) */
  NetNs = 5,
  /** BPF_LINK_TYPE_XDP (5.9) */
  XDP = 6,
  /** BPF_LINK_TYPE_PERF_EVENT (5.15) */
  PerfEvent = 7,
  /** BPF_LINK_TYPE_KPROBE_MULTI (5.18) */
  KprobeMulti = 8,
  /** BPF_LINK_TYPE_STRUCT_OPS (6.0) */
  StructOps = 9,
  /** BPF_LINK_TYPE_NETFILTER (6.4) */
  Netfilter = 10,
  /** BPF_LINK_TYPE_TCX (6.6) */
  TCX = 11,
  /** BPF_LINK_TYPE_UPROBE_MULTI (6.6) */
  UprobeMulti = 12,
  /** BPF_LINK_TYPE_NETKIT (6.7) */
  Netkit = 13,
  /** BPF_LINK_TYPE_SOCKMAP (6.10) */
  Sockmap = 14,
}

/** What the kernel reports about a link (decoded `struct bpf_link_info`). */
export interface LinkInfo {
  /** The link type. */
  readonly type: LinkType;
  /** The kernel's id of the link. */
  readonly id: number;
  /** The id of the attached program. */
  readonly programId: number;
  /** For raw tracepoint links: the tracepoint name. */
  readonly rawTracepointName?: string;
  /** For tracing links: the attach type (`BPF_TRACE_FENTRY`, …). */
  readonly tracingAttachType?: number;
  /**
   * For tracing links: the id of the BTF object holding the target (vmlinux's or a module's);
   * undefined before Linux 5.13, which does not report it.
   */
  readonly tracingTargetObjectId?: number;
  /** For tracing links: the target's BTF type id; undefined before Linux 5.13, which does not report it. */
  readonly tracingTargetBtfId?: number;
  /** For perf-event links (kprobes, uprobes, tracepoints): what the event is; Linux 6.6+. */
  readonly perfEvent?: PerfEventLinkInfo;
  /** For kprobe_multi links: how many functions, flags, addresses and cookies; Linux 6.6+. */
  readonly kprobeMulti?: KprobeMultiLinkInfo;
  /** For uprobe_multi links: the binary, offsets, cookies and pid; Linux 6.8+. */
  readonly uprobeMulti?: UprobeMultiLinkInfo;
}

/** `enum bpf_perf_event_type`: what a perf-event link is attached to. */
export type PerfEventLinkKind = 'uprobe' | 'uretprobe' | 'kprobe' | 'kretprobe' | 'tracepoint' | 'event';

/**
 * The perf event behind a perf-event link, as `bpf_link_info.perf_event` reports it (Linux
 * 6.6; missed kprobe hits 6.7; cookies 6.9; uprobe semaphore offsets 6.16). Fields a kernel
 * does not report are undefined (or 0 for the later additions, which older kernels leave zero).
 */
export interface PerfEventLinkInfo {
  /** The kind of event. */
  readonly kind: PerfEventLinkKind;
  /** The binary (uprobes), function (kprobes) or tracepoint name; empty for kprobes by address. */
  readonly name?: string;
  /** Offset into the binary (uprobes) or the function (kprobes). */
  readonly offset?: number;
  /** kprobes: the probed address (0 unless this process may see kernel addresses: kptr_restrict). */
  readonly address?: bigint;
  /** kprobes: hits missed because another kprobe was running (6.7+). */
  readonly missed?: bigint;
  /** uprobes: the USDT semaphore's file offset (6.16+). */
  readonly refCtrOffset?: bigint;
  /** Generic perf events: `perf_event_attr.config` and `type`. */
  readonly config?: bigint;
  /** Generic perf events: the `PERF_TYPE_*`. */
  readonly eventType?: number;
  /** The cookie given at attach time (6.9+). */
  readonly cookie: bigint;
}

const perfEventKinds: Record<number, PerfEventLinkKind> = {
  1: 'uprobe',
  2: 'uretprobe',
  3: 'kprobe',
  4: 'kretprobe',
  5: 'tracepoint',
  6: 'event',
};

/** How a {@link Link} holds its attachment. */
export type LinkMode =
  /** A bpf_link fd alone (raw tracepoint, tracing, pinned links). */
  | 'bpf-link'
  /** A bpf_link fd on top of a perf event fd (BPF_LINK_CREATE with BPF_PERF_EVENT, 5.15+). */
  | 'perf-link'
  /** A perf event fd with the program set by PERF_EVENT_IOC_SET_BPF (before 5.15). */
  | 'perf-ioctl'
  /**
   * No fd: the kernel keeps the attachment itself (an XDP program set through netlink, a
   * cls_bpf filter, BPF_PROG_ATTACH to a cgroup or map, SO_ATTACH_BPF). `close()` detaches it
   * through the attach function's cleanup; it outlives the process if never closed.
   */
  | 'attachment';

/** What an attach function hands to the {@link Link} it returns. */
export interface LinkParts {
  /** The bpf_link fd, the perf event fd for `perf-ioctl`, -1 for `attachment`. */
  readonly fd: number;
  /** The perf event fd under a `perf-link`. */
  readonly perfFd?: number;
  /** How the attachment is held. */
  readonly mode: LinkMode;
  /** What is attached, e.g. `tracepoint syscalls/sys_enter_getppid`. */
  readonly what: string;
  /** Run once after the fds are closed (e.g. remove a tracefs probe event). */
  readonly cleanup?: () => void;
}

/** What a link owns. `cleanup` is dropped once the link is pinned. */
interface Held {
  readonly fd: number;
  readonly perfFd: number;
  readonly mode: LinkMode;
  readonly what: string;
  cleanup: (() => void) | undefined;
}

function release(held: Held): void {
  const b = backend();
  // Disable before closing so no program run starts between the two steps of teardown; the
  // close itself detaches (perf_event_release_kernel() → perf_event_free_bpf_prog()).
  if (held.mode === 'perf-ioctl') b.ioctl(held.fd, PERF_EVENT_IOC_DISABLE, 0);
  if (held.fd >= 0) b.close(held.fd);
  if (held.perfFd >= 0) b.close(held.perfFd);
  held.cleanup?.();
}

const owners = Owner.kind<Held>('Link', release, (held) => `${held.what} (fd ${held.fd})`);

function u32(bytes: Uint8Array, offset: number): number {
  return dataView(bytes).getUint32(offset, hostLittleEndian);
}

function u64(bytes: Uint8Array, offset: number): bigint {
  return dataView(bytes).getBigUint64(offset, hostLittleEndian);
}

// PATH_MAX: uprobe paths are the longest names perf_event link info reports.
const PERF_EVENT_NAME_MAX = 4096;

/**
 * `bpf_link_info.perf_event` (6.6+), read with a name buffer: the kernel copies the binary,
 * function or tracepoint name when `*_name` points at one of `name_len` bytes. Older kernels
 * leave `perf_event.type` zero: undefined.
 */
function perfEventInfo(fd: number, ctx: { context: string }): PerfEventLinkInfo | undefined {
  const f = LinkInfoLayout.fields;
  const name = new Uint8Array(PERF_EVENT_NAME_MAX);
  const input = new Uint8Array(f.perf_event_name_len.offset + 4);
  dataView(input).setUint32(f.perf_event_name_len.offset, name.length, hostLittleEndian);
  // Generic events have no name; the kernel reads no pointer for them, so the first call can
  // carry the buffer for every kind.
  let info: Uint8Array;
  try {
    info = objGetInfoByFd(fd, LinkInfoLayout.size, [f.perf_event_name.offset, name], ctx, input);
  } catch (err) {
    // Before 6.6 the kernel checks the unused union bytes are zero only for some link types;
    // a kernel that rejects our name pointer has no perf_event info to give.
    if (err instanceof SyscallError && err.errno === Errno.EINVAL) return undefined;
    throw err;
  }
  const kind = perfEventKinds[u32(info, f.perf_event_type.offset)];
  if (kind === undefined) return undefined;
  const nul = name.indexOf(0);
  const text = new TextDecoder().decode(nul < 0 ? name : name.subarray(0, nul));
  switch (kind) {
    case 'uprobe':
    case 'uretprobe':
      return {
        kind,
        name: text,
        offset: u32(info, f.perf_event_offset.offset),
        refCtrOffset: u64(info, f.perf_event_uprobe_ref_ctr_offset.offset),
        cookie: u64(info, f.perf_event_uprobe_cookie.offset),
      };
    case 'kprobe':
    case 'kretprobe':
      return {
        kind,
        name: text,
        offset: u32(info, f.perf_event_offset.offset),
        address: u64(info, f.perf_event_kprobe_addr.offset),
        missed: u64(info, f.perf_event_kprobe_missed.offset),
        cookie: u64(info, f.perf_event_kprobe_cookie.offset),
      };
    case 'tracepoint':
      return { kind, name: text, cookie: u64(info, f.perf_event_tracepoint_cookie.offset) };
    case 'event':
      return {
        kind,
        config: u64(info, f.perf_event_event_config.offset),
        eventType: u32(info, f.perf_event_event_type.offset),
        cookie: u64(info, f.perf_event_event_cookie.offset),
      };
  }
}

function linkInfo(fd: number): LinkInfo {
  const f = LinkInfoLayout.fields;
  const ctx = { context: `info of link fd ${fd}` };
  const info = objGetInfoByFd(fd, LinkInfoLayout.size, [], ctx);
  const type = u32(info, f.type.offset) as LinkType;
  const base = { type, id: u32(info, f.id.offset), programId: u32(info, f.prog_id.offset) };
  if (type === LinkType.RawTracepoint) {
    // Second pass with a buffer: bpf_raw_tp_link_fill_link_info() copies the name when
    // tp_name is set and reports the length it needs in tp_name_len.
    const len = u32(info, f.raw_tracepoint_tp_name_len.offset);
    const name = new Uint8Array(Math.max(len, 1) + 1);
    const input = new Uint8Array(f.raw_tracepoint_tp_name_len.offset + 4);
    dataView(input).setUint32(f.raw_tracepoint_tp_name_len.offset, name.length, hostLittleEndian);
    objGetInfoByFd(fd, LinkInfoLayout.size, [f.raw_tracepoint_tp_name.offset, name], ctx, input);
    const nul = name.indexOf(0);
    return { ...base, rawTracepointName: new TextDecoder().decode(nul < 0 ? name : name.subarray(0, nul)) };
  }
  if (type === LinkType.Tracing) {
    // target_obj_id and target_btf_id arrived in 5.13 ("bpf: Return target info when a
    // tracing bpf_link is queried"); older kernels leave our zeroed bytes alone. A 5.13+
    // tracing link always has a target type, so a zero id means "not reported".
    const btfId = u32(info, f.tracing_target_btf_id.offset);
    const objectId = u32(info, f.tracing_target_obj_id.offset);
    return {
      ...base,
      tracingAttachType: u32(info, f.tracing_attach_type.offset),
      ...(btfId === 0 ? {} : { tracingTargetObjectId: objectId, tracingTargetBtfId: btfId }),
    };
  }
  if (type === LinkType.PerfEvent) {
    const perfEvent = perfEventInfo(fd, ctx);
    return perfEvent === undefined ? base : { ...base, perfEvent };
  }
  if (type === LinkType.KprobeMulti) {
    const kprobeMulti = kprobeMultiInfo(fd, info, ctx);
    return kprobeMulti === undefined ? base : { ...base, kprobeMulti };
  }
  if (type === LinkType.UprobeMulti) {
    const uprobeMulti = uprobeMultiInfo(fd, info, ctx);
    return uprobeMulti === undefined ? base : { ...base, uprobeMulti };
  }
  return base;
}

/**
 * A BPF program attached to a hook. Owns its fds (and, for tracefs kprobes, the probe event);
 * `close()` or `using` detaches.
 *
 * Minimum kernel: depends on the attachment (tracepoints 4.7, kprobes 4.1, raw tracepoints
 * 4.17, fentry/fexit 5.5, kprobe_multi 5.18, uprobe_multi 6.6); `info()` and `pin()` need a
 * bpf_link: 5.8 for raw tracepoints and tracing programs, 5.15 for kprobes and tracepoints
 * (perf link); multi-probe links are always bpf_links.
 *
 * @example
 * ```ts
 * using link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
 * console.log(link.info().id);
 * ```
 *
 * Errors: {@link ClosedError} after `close()`, {@link NotSupportedError} for `info()`/`pin()`
 * on an attachment without a bpf_link, {@link SyscallError} from the kernel.
 */
export class Link {
  readonly #owner: Owner<Held>;
  /** How the attachment is held. */
  readonly mode: LinkMode;
  /** What is attached, e.g. `kprobe do_sys_openat2`. */
  readonly what: string;

  private constructor(parts: LinkParts) {
    this.mode = parts.mode;
    this.what = parts.what;
    const held: Held = { fd: parts.fd, perfFd: parts.perfFd ?? -1, mode: parts.mode, what: parts.what, cleanup: parts.cleanup };
    this.#owner = new Owner(owners, this, held, `link ${parts.what} is closed`);
  }

  /**
   * Wraps fds an attach function obtained. The link owns them from here on.
   * @internal Used by the attach functions of this package.
   */
  static adopt(parts: LinkParts): Link {
    return new Link(parts);
  }

  /**
   * Opens a link pinned at `path` on bpffs (BPF_OBJ_GET). The program stays attached as long
   * as the pin or any fd exists.
   *
   * Minimum kernel: 5.7 (pinnable bpf_link).
   *
   * @example
   * ```ts
   * using link = Link.fromPin('/sys/fs/bpf/my_link');
   * link.unpin('/sys/fs/bpf/my_link');
   * ```
   * @throws {@link SyscallError} (ENOENT: nothing pinned there; EINVAL: not a link).
   */
  static fromPin(path: string): Link {
    const fd = objGet(path, 0, { context: `open pinned link ${path}` });
    return new Link({ fd, mode: 'bpf-link', what: `pinned link ${path}` });
  }

  /**
   * Opens the link with kernel id `id` (BPF_LINK_GET_FD_BY_ID). Closing the returned object
   * does not detach the link if another fd or pin holds it.
   *
   * Minimum kernel: 5.8.
   *
   * @example
   * ```ts
   * for (const info of listLinks()) using l = Link.fromId(info.id);
   * ```
   * @throws {@link SyscallError} (ENOENT: no such link).
   */
  static fromId(id: number): Link {
    const fd = fdById('link', id, { context: `open link id ${id}` });
    return new Link({ fd, mode: 'bpf-link', what: `link id ${id}` });
  }

  /**
   * The bpf_link fd (the perf event fd for `perf-ioctl`, -1 for an `attachment`, which has
   * none). Throws {@link ClosedError} after `close()`.
   */
  get fd(): number {
    return this.#owner.held.fd;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  private requireBpfLink(operation: string): number {
    const fd = this.fd;
    if (this.mode === 'perf-ioctl') {
      throw new NotSupportedError(`${operation} of a perf event attachment (BPF perf link)`, '5.15', {
        detail: `${this.what} was attached with PERF_EVENT_IOC_SET_BPF because this kernel has no BPF perf link, so there is no bpf_link object`,
      });
    }
    if (this.mode === 'attachment') {
      throw new NotSupportedError(`${operation} of an attachment without a bpf_link`, undefined, {
        detail: `${this.what} is held by the kernel without a bpf_link (this kernel, or the way it was attached, has no link for it); queryPrograms() shows it`,
      });
    }
    return fd;
  }

  /**
   * What the kernel knows about the link (BPF_OBJ_GET_INFO_BY_FD on the link fd).
   *
   * Minimum kernel: 5.8.
   *
   * @example
   * ```ts
   * const { id, programId, type } = link.info();
   * ```
   * @throws {@link NotSupportedError} for a `perf-ioctl` attachment, {@link ClosedError}
   * after `close()`.
   */
  info(): LinkInfo {
    return linkInfo(this.requireBpfLink('info'));
  }

  /**
   * Pins the link at `path` on bpffs: the program stays attached after this process exits,
   * until the pin is removed. A tracefs kprobe event behind the link is not removed by
   * `close()` while pinned links may still use it: pin only PMU-based attachments.
   *
   * Minimum kernel: 5.7 (bpf_link), 5.15 for kprobes and tracepoints.
   *
   * @example
   * ```ts
   * link.pin('/sys/fs/bpf/getppid_counter');
   * ```
   * @throws {@link NotSupportedError} for a `perf-ioctl` attachment, {@link SyscallError}
   * (EEXIST: the path exists; EPERM/EINVAL: not on bpffs).
   */
  pin(path: string): void {
    const fd = this.requireBpfLink('pin');
    objPin(fd, path, {
      context: `pin link ${this.what} at ${path}`,
      explain: (errno) => (errno === Errno.EINVAL || errno === Errno.EPERM ? `${path} must be on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)` : undefined),
    });
    // The pin outlives us: removing the probe event under it would fail with EBUSY anyway.
    const held = this.#owner.peek();
    if (held !== undefined) held.cleanup = undefined;
  }

  /**
   * Removes a pin (any file on bpffs). The link stays attached while this object is open.
   *
   * @example
   * ```ts
   * link.unpin('/sys/fs/bpf/getppid_counter');
   * ```
   * @throws {@link ArgumentError} when `path` is empty, the Node.js error of `unlink` otherwise.
   */
  unpin(path: string): void {
    if (path === '') throw new ArgumentError('unpin needs a path');
    unlinkSync(path);
  }

  /** Detaches: closes the fds and removes what the attachment created. Idempotent. */
  close(): void {
    this.#owner.close();
  }

  /** `using link = attach…()` detaches at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `Link(kprobe do_sys_openat2, perf-link, fd N)`. */
  toString(): string {
    return `Link(${this.what}, ${this.mode}, ${fdState(this.#owner)})`;
  }
}

/**
 * Every bpf_link in the kernel, as `bpftool link show` lists them. Links that disappear while
 * listing are skipped; every fd opened is closed again.
 *
 * Minimum kernel: 5.8; needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * for (const l of listLinks()) console.log(l.id, LinkType[l.type], l.programId);
 * ```
 * @throws {@link SyscallError} EPERM without privileges.
 */
export function listLinks(): LinkInfo[] {
  const out: LinkInfo[] = [];
  for (const id of objectIds('link')) {
    let fd: number;
    try {
      fd = fdById('link', id);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOENT) continue;
      throw err;
    }
    try {
      out.push(linkInfo(fd));
    } finally {
      backend().close(fd);
    }
  }
  return out;
}
