/**
 * BTF in the kernel: {@link BTFHandle} owns the fd of a BTF object loaded with BPF_BTF_LOAD
 * (a program's or map's types, which BPF_PROG_LOAD's `prog_btf_fd` and BPF_MAP_CREATE's
 * `btf_fd` then refer to), or opened by id. {@link loadForKernel} is the whole path from a
 * parsed `.BTF` to a loaded object: copy → fix up → sanitise for this kernel → marshal → load.
 *
 * This file lives outside src/btf because it talks to the kernel (src/btf never imports
 * src/sys).
 *
 * @module
 */
import { fixupSpec, type FixupOptions, type FixupReport, type FixupSections } from './btf/fixup.js';
import { marshalSpec } from './btf/marshal.js';
import { sanitizeSpec, type BTFFeatureName } from './btf/sanitize.js';
import type { Spec } from './btf/spec.js';
import { ArgumentError, ClosedError, NotSupportedError, SyscallError, errnoName } from './errors.js';
import { btfFeature, missingBTFFeatures } from './features/btf.js';
import { logText } from './features/prog-types.js';
import { MIN_LOG_SIZE, maxLogSize } from './prog.js';
import { encodeAttr, hostLittleEndian, readField } from './sys/attr.js';
import { bpfError, Errno } from './sys/errno.js';
import { bpfRaw } from './sys/bpf.js';
import { fdById, objGetInfoByFd } from './sys/commands.js';
import { kernelVersion } from './sys/kernel-version.js';
import { BtfInfo, BtfLoad } from './sys/layouts.js';
import { withLoadToken, type TokenOption } from './token.js';
import { Owner, type HeldFd } from './internal/owner.js';
import { dataView } from './internal/bytes.js';

/** Default size of the first BTF log buffer: 64 KiB (the log lists every type checked). */
export const DEFAULT_BTF_LOG_SIZE = 64 * 1024;

/** Options of {@link BTFHandle.load}. */
export interface BTFLoadOptions {
  /**
   * `btf_log_level` for the reload that collects the kernel's BTF log after a failure
   * (default 1; the kernel's BTF checker writes the same log at any non-zero level).
   */
  logLevel?: number;
  /** Size of the first log buffer in bytes (default 64 KiB, at least 128). It grows as needed. */
  logSize?: number;
  /**
   * The BPF token to load the BTF with, inside a user namespace (Linux 6.9): a {@link BpfToken}, a
   * delegating bpffs path, or `false`. Default: `EBPF_TS_BPF_TOKEN_PATH`, else one from
   * /sys/fs/bpf when it delegates (see {@link TokenOption}).
   */
  token?: TokenOption;
}

/** Options of {@link loadForKernel}. */
export interface LoadForKernelOptions extends BTFLoadOptions, FixupOptions {
  /** ELF sections and symbols for the fix-ups (see {@link fixupSpec}); empty by default. */
  sections?: FixupSections;
  /** Features to sanitise away; default: what the probes say this kernel lacks. */
  missingFeatures?: Iterable<BTFFeatureName>;
}

/** What {@link loadForKernel} returns: the handle and what was done to the spec on the way. */
export interface LoadedBTF {
  /** The loaded BTF object (the caller owns it). */
  readonly handle: BTFHandle;
  /** The spec that was loaded (fixed-up and sanitised copy; same type IDs as the input). */
  readonly spec: Spec;
  /** What the fix-ups changed. */
  readonly fixups: FixupReport;
  /** The features that were sanitised away. */
  readonly sanitized: ReadonlySet<BTFFeatureName>;
  /**
   * False when FUNCs were sanitised away (`func` missing): BPF_PROG_LOAD must then get no
   * func_info or line_info, which name FUNC type IDs (check_btf_func() rejects anything else).
   */
  readonly funcInfo: boolean;
}

/** `struct bpf_btf_info` as {@link BTFHandle.info} returns it. */
export interface BTFInfo {
  /** The kernel's id of the BTF object. */
  readonly id: number;
  /** The object's name: `vmlinux` or a module's name for kernel BTF, `""` for loaded BTF (Linux 5.11+). */
  readonly name: string;
  /** Size of the raw BTF in bytes. */
  readonly size: number;
  /** True for BTF the kernel itself provides (vmlinux, modules; Linux 5.11+). */
  readonly kernelBTF: boolean;
}

/** What {@link BTFLoadError.blame} finds in a BTF log. */
export interface BTFLogBlame {
  /** The ID of the type the log rejects (its last `[N] KIND …` line), if any. */
  readonly typeId: number | undefined;
  /** The line that says why, if the log has any line. */
  readonly reason: string | undefined;
}

/**
 * The kernel rejected a BTF blob (BPF_BTF_LOAD). `log` holds the kernel's BTF log, one line per
 * entry; `typeId` the type the log blames (its last `[N] KIND …` line), when it names one.
 */
export class BTFLoadError extends SyscallError {
  /** The kernel's BTF log, every line. */
  readonly log: readonly string[];
  /** True if the log did not fit even the largest buffer tried. */
  readonly truncated: boolean;
  /** The ID of the type the kernel complained about, if the log names one. */
  readonly typeId: number | undefined;
  /** The log line that says why (the last one that is not header statistics). */
  readonly reason: string | undefined;

  constructor(errno: number, log: readonly string[], truncated: boolean) {
    super('BPF_BTF_LOAD', errno, undefined, 'load BTF');
    this.log = log;
    this.truncated = truncated;
    const { typeId, reason } = BTFLoadError.blame(log);
    this.typeId = typeId;
    this.reason = reason;
    this.message =
      `BTF rejected by the kernel (${errnoName(errno)})` +
      (typeId === undefined ? '' : ` at type ${typeId}`) +
      (reason === undefined ? '' : `: ${reason}`) +
      (truncated ? '\n  (BTF log truncated)' : '');
  }

  /** The message followed by the whole log. */
  get fullMessage(): string {
    return `${this.message}\n${this.log.join('\n')}`;
  }

  /**
   * Finds the culprit in a BTF log. The checker (btf_verifier_log_type() in kernel/bpf/btf.c)
   * prints `[id] KIND name … message` for the type it rejects, after the header dump
   * (`magic: 0xeb9f`, `hdr_len: 24`, …) and any types it logged on the way.
   */
  static blame(log: readonly string[]): BTFLogBlame {
    let reason: string | undefined;
    for (let i = log.length - 1; i >= 0; i--) {
      const line = log[i]!.trim();
      if (line === '') continue;
      reason ??= line;
      const m = /^\[(\d+)\]\s/.exec(line);
      if (m !== null) return { typeId: Number(m[1]), reason: line };
    }
    return { typeId: undefined, reason };
  }
}

// close(), the safety net for a BTFHandle dropped without close() (its fd closed by the GC,
// with one warning per process) and use after close: src/internal/owner.ts.
const owners = Owner.fdKind('BTFHandle');

/**
 * A BTF object in the kernel. Owns one fd; `close()` (or `using`) releases it.
 *
 * Minimum kernel: 4.18 (BPF_BTF_LOAD); {@link BTFHandle.fromId} 5.0; `name` and `kernelBTF`
 * in {@link BTFHandle.info} 5.11.
 *
 * @example
 * ```ts
 * using btf = BTFHandle.load(spec); // or loadForKernel(spec, {sections}).handle
 * console.log(btf.info().id);
 * ```
 *
 * Errors: {@link BTFLoadError} when the kernel rejects the blob (with its log and the type ID
 * it blames), {@link SyscallError} for anything else (EPERM without CAP_BPF),
 * {@link ClosedError} when used after `close()`.
 */
export class BTFHandle {
  readonly #owner: Owner<HeldFd>;

  private constructor(fd: number) {
    this.#owner = new Owner(owners, this, { fd, name: '' }, 'BTF handle is closed');
  }

  /** The fd. Throws {@link ClosedError} after `close()`. */
  get fd(): number {
    return this.#owner.held.fd;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * Loads a spec (marshalled in the host's byte order, as the kernel wants) or raw BTF bytes
   * with BPF_BTF_LOAD, as is: no fix-ups, no sanitising (see {@link loadForKernel} for that).
   *
   * The first attempt carries no log. If it fails, the blob is loaded again with a log buffer
   * that grows (to `btf_log_true_size` on 6.4+, else ×4 on ENOSPC) up to the kernel's maximum,
   * so the {@link BTFLoadError} carries the kernel's whole explanation.
   */
  static load(btf: Spec | Uint8Array, options: BTFLoadOptions = {}): BTFHandle {
    return withLoadToken(options.token, () => BTFHandle.loadInScope(btf, options));
  }

  private static loadInScope(btf: Spec | Uint8Array, options: BTFLoadOptions): BTFHandle {
    const bytes = btf instanceof Uint8Array ? btf : marshalSpec(btf, { byteOrder: hostLittleEndian ? 'little' : 'big' });
    if (bytes.byteLength === 0) throw new ArgumentError('BTF blob is empty');
    const { attr, pointers } = encodeAttr(BtfLoad, { btf: bytes, btf_size: bytes.byteLength });
    const fd = bpfRaw(BtfLoad, attr, pointers);
    if (fd >= 0) return new BTFHandle(fd);
    const errno = -fd;
    // Failures decided before the BTF checker runs: no log would say more.
    if (errno === Errno.EPERM || errno === Errno.EACCES || errno === Errno.ENOMEM || errno === Errno.EFAULT || errno === Errno.E2BIG) {
      throw bpfError(BtfLoad, errno, attr, pointers, { context: 'load BTF' });
    }
    const logged = loadWithLog(bytes, options);
    if (logged.fd !== undefined) return new BTFHandle(logged.fd);
    const lines = splitLog(logged.log);
    if (lines.length === 0) throw bpfError(BtfLoad, errno, attr, pointers, { context: 'load BTF' });
    throw new BTFLoadError(logged.truncated && logged.errno === Errno.ENOSPC ? errno : logged.errno, lines, logged.truncated);
  }

  /**
   * Opens the BTF object with kernel id `id` (as `bpftool btf list` shows; vmlinux is
   * usually id 1). Minimum kernel 5.0; needs CAP_SYS_ADMIN.
   * @throws {@link SyscallError} ENOENT if there is no such object.
   */
  static fromId(id: number): BTFHandle {
    if (!Number.isInteger(id) || id <= 0) throw new ArgumentError(`not a BTF id: ${id}`);
    return new BTFHandle(fdById('btf', id, { context: `open BTF id ${id}` }));
  }

  /** Takes ownership of a BTF fd (e.g. received over a unix socket); `close()` closes it. */
  static fromFd(fd: number): BTFHandle {
    if (!Number.isInteger(fd) || fd < 0) throw new ArgumentError(`not a file descriptor: ${fd}`);
    return new BTFHandle(fd);
  }

  /**
   * BPF_OBJ_GET_INFO_BY_FD: id, name, size and whether this is the kernel's own BTF. Before
   * 5.11 (commit 5329722057d4 "bpf: Assign ID to vmlinux BTF and return extra info for BTF in
   * GET_OBJ_INFO") `struct bpf_btf_info` ended after `id`: the name pointer we pass lies in
   * its tail, which bpf_check_uarg_tail_zero() answers with E2BIG. Then we ask again for the
   * old struct only; `name` is `""` and `kernelBTF` false, as those kernels have neither.
   */
  info(): BTFInfo {
    const fd = this.fd;
    const ctx = { context: `info of BTF fd ${fd}` };
    if (btfInfoHasName !== false) {
      const nameBuf = new Uint8Array(64);
      const input = new Uint8Array(BtfInfo.size);
      dataView(input).setUint32(BtfInfo.fields.name_len.offset, nameBuf.byteLength, hostLittleEndian);
      try {
        const bytes = objGetInfoByFd(fd, BtfInfo.size, [BtfInfo.fields.name.offset, nameBuf], ctx, input);
        btfInfoHasName = true;
        return {
          id: Number(readField(bytes, BtfInfo.fields.id)),
          name: logText(nameBuf),
          size: Number(readField(bytes, BtfInfo.fields.btf_size)),
          kernelBTF: Number(readField(bytes, BtfInfo.fields.kernel_btf)) !== 0,
        };
      } catch (e) {
        if (!(e instanceof SyscallError && e.errno === Errno.E2BIG) || btfInfoHasName === true) throw e;
        btfInfoHasName = false;
      }
    }
    const bytes = objGetInfoByFd(fd, BtfInfo.fields.name.offset, [], ctx);
    return {
      id: Number(readField(bytes, BtfInfo.fields.id)),
      name: '',
      size: Number(readField(bytes, BtfInfo.fields.btf_size)),
      kernelBTF: false,
    };
  }

  /** Closes the fd. Safe to call twice. */
  close(): void {
    this.#owner.close();
  }

  /** Same as {@link BTFHandle.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Loads a parsed object's BTF the way a loader must: a copy of `spec` is fixed up
 * (`btf.fixupSpec`, with the ELF facts in `options.sections`), sanitised for what this kernel
 * lacks (decided by probing, {@link missingBTFFeatures}; or `options.missingFeatures`), marshalled in
 * host byte order and loaded. `spec` itself is not modified, and type IDs are unchanged, so the
 * caller's map and func_info type IDs stay valid.
 *
 * @throws {@link NotSupportedError} when the kernel has no BPF_BTF_LOAD (before 4.18);
 * `btf.FixupError` when the ELF facts do not cover a DATASEC; {@link BTFLoadError} when the
 * kernel still rejects the result.
 */
export function loadForKernel(spec: Spec, options: LoadForKernelOptions = {}): LoadedBTF {
  // The probes below create BTF too: they need the token as much as the load does.
  return withLoadToken(options.token, () => loadForKernelInScope(spec, options));
}

function loadForKernelInScope(spec: Spec, options: LoadForKernelOptions): LoadedBTF {
  // A kernel without BPF_BTF_LOAD (before 4.18) would answer a bare EINVAL; say what it is.
  if (btfFeature.check().supported === false) btfFeature.require();
  const copy = spec.copy();
  const fixups = fixupSpec(copy, options.sections, options);
  const sanitized = new Set(options.missingFeatures ?? missingBTFFeatures(copy));
  const ready = sanitizeSpec(copy, sanitized);
  const handle = BTFHandle.load(ready, options);
  return { handle, spec: ready, fixups, sanitized, funcInfo: !sanitized.has('func') };
}

/** Whether `struct bpf_btf_info` has `name` (5.11+): learnt from the first info() call. */
let btfInfoHasName: boolean | undefined;

/** True when the kernel wrote `size - 1` bytes of log: the buffer was full. */
function logFilled(buf: Uint8Array): boolean {
  const end = buf.indexOf(0);
  return (end === -1 ? buf.byteLength : end) >= buf.byteLength - 1;
}

function splitLog(text: string): string[] {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/**
 * Reloads with a log, growing the buffer until it fits. The BTF checker shares the verifier's
 * log code (kernel/bpf/log.c): before 6.4 a full buffer shows as ENOSPC; since 6.4 (commit
 * 47a71c1f9af0 "bpf: Add log_true_size output field to return necessary log buffer size") the
 * kernel also writes the size it needed into `btf_log_true_size`, if our attr reaches it.
 */
function loadWithLog(bytes: Uint8Array, options: BTFLoadOptions): { fd?: number; errno: number; log: string; truncated: boolean } {
  const max = maxLogSize();
  const withTrueSize = kernelVersion().atLeast('6.4');
  let size = Math.min(max, Math.max(MIN_LOG_SIZE, Math.floor(options.logSize ?? DEFAULT_BTF_LOG_SIZE)));
  const level = options.logLevel ?? 1;
  if (level === 0) throw new ArgumentError('logLevel 0 would collect no BTF log; use 1');
  for (;;) {
    const buf = new Uint8Array(size);
    const { attr, pointers } = encodeAttr(BtfLoad, {
      btf: bytes,
      btf_size: bytes.byteLength,
      btf_log_buf: buf,
      btf_log_size: size,
      btf_log_level: level,
      btf_log_true_size: withTrueSize ? 0 : undefined,
    });
    const r = bpfRaw(BtfLoad, attr, pointers);
    // A transient failure the first time (memory pressure): take the object.
    if (r >= 0) return { fd: r, errno: 0, log: '', truncated: false };
    const errno = -r;
    const trueSize = withTrueSize ? Number(readField(attr, BtfLoad.fields.btf_log_true_size)) : 0;
    // Before 6.4 btf_parse() returned ENOSPC for a full log only when the BTF was otherwise
    // valid: a rejected blob gave its own errno with a truncated log. A log that fills the
    // buffer up to its terminating NUL (bpf_verifier_log_full()) may be cut short: grow it.
    const full = trueSize > 0 ? trueSize > size : errno === Errno.ENOSPC || logFilled(buf);
    if (full && size < max) {
      size = Math.min(max, trueSize > size ? trueSize : size * 4);
      continue;
    }
    return { errno, log: logText(buf), truncated: full };
  }
}
