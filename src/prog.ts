/**
 * {@link Program}: a loaded BPF program, owner of exactly one fd. Loading goes through
 * BPF_PROG_LOAD with only the attr fields the spec uses; a rejected program comes back as a
 * {@link VerifierError} carrying the whole verifier log, however long.
 *
 * @module
 */
import type { Link } from './link/link.js';
import { readFileSync } from 'node:fs';
import { encode } from './asm/encoding.js';
import type { Instruction } from './asm/instruction.js';
import { PseudoCall, PseudoSource } from './asm/pseudo.js';
import { ArgumentError, BpfError, ClosedError, NotSupportedError, SyscallError, VerifierError } from './errors.js';
import { helperDisplayName, helperRefusalHint, helperRefusedRe, helperSince } from './features/helpers.js';
import { hostByteOrder, logText, programNameDotFeature, programNameFeature, programTypeFeature } from './features/prog-types.js';
import type { ProgramSpec } from './prog-spec.js';
import { encodeAttr, fieldsSet, hostLittleEndian, type AttrValues } from './sys/attr.js';
import { backend } from './sys/select.js';
import { bpfRaw } from './sys/bpf.js';
import { cString, fdById, objectIds, objGet, objGetInfoByFd, objPin } from './sys/commands.js';
import { bpfError, Errno } from './sys/errno.js';
import { kernelVersion } from './sys/kernel-version.js';
import { ProgInfo, ProgLoad, ProgTestRun } from './sys/layouts.js';
import { withLoadToken, type TokenOption } from './token.js';
import { AttachType, ProgramType, programTypeName, programTypeSince } from './types.js';
import { fdState, Owner, type HeldFd } from './internal/owner.js';
import { MAX_OBJECT_NAME_LENGTH, sanitizeObjectName } from './sys/object-name.js';
import { dataView } from './internal/bytes.js';

/** `BPF_OBJ_NAME_LEN - 1`: the longest object name the kernel stores. */
export const MAX_NAME_LENGTH = MAX_OBJECT_NAME_LENGTH;

/** Default size of the first verifier log buffer: 64 KiB, enough for most rejections. */
export const DEFAULT_LOG_SIZE = 64 * 1024;

/**
 * The kernel's smallest accepted log buffer. bpf_verifier_log_attr_valid() required
 * `len_total >= 128` until the log rewrite of 6.4 (kernel/bpf/log.c); smaller sizes get EINVAL.
 */
export const MIN_LOG_SIZE = 128;

/**
 * The largest log buffer the running kernel accepts: `UINT_MAX >> 2` since 5.2 (commit
 * 7a9f5c65abcc "bpf: increase verifier log limit"), `UINT_MAX >> 8` (16 MiB) before.
 */
export function maxLogSize(): number {
  return kernelVersion().atLeast('5.2') ? 0xffffffff >>> 2 : 0xffffffff >>> 8;
}

/** Options of {@link Program.load}. */
export interface ProgramLoadOptions {
  /**
   * `log_level` for the reload that collects the verifier log after a failure: 1 (default)
   * logs the failing path, 2 every instruction, `| 4` adds statistics.
   */
  logLevel?: number;
  /** Size of the first log buffer in bytes (default 64 KiB, at least 128). It grows as needed. */
  logSize?: number;
  /**
   * The BPF token to load the program with, inside a user namespace (Linux 6.9): a {@link BpfToken}, a
   * delegating bpffs path, or `false`. Default: `EBPF_TS_BPF_TOKEN_PATH`, else one from
   * /sys/fs/bpf when it delegates (see {@link TokenOption}).
   */
  token?: TokenOption;
}

/** Input of {@link Program.testRun}. */
export interface TestRunOptions {
  /** Packet (or other input) data; `data_in`. */
  data?: Uint8Array;
  /** Room for the output data; default `data.length + 256`, grown if the kernel needs more. */
  dataSizeOut?: number;
  /** Context input (`struct __sk_buff`, `xdp_md`, …); `ctx_in` (Linux 5.2+). */
  ctx?: Uint8Array;
  /** Room for the output context; default `ctx.length` when `ctx` is given (Linux 5.2+). */
  ctxSizeOut?: number;
  /** Run the program this many times; `duration` is the mean (default 1). */
  repeat?: number;
  /** `BPF_F_TEST_RUN_ON_CPU`, `BPF_F_TEST_XDP_LIVE_FRAMES`, … (Linux 5.10+). */
  flags?: number;
  /** CPU to run on with `BPF_F_TEST_RUN_ON_CPU` (Linux 5.10+). */
  cpu?: number;
}

/** Output of {@link Program.testRun}. */
export interface TestRunResult {
  /** The program's return value (R0, truncated to 32 bits by the kernel). */
  readonly retval: number;
  /** Mean run time per repetition in nanoseconds, as the kernel measured it. */
  readonly duration: number;
  /** The output data (e.g. the packet after an XDP program modified it); empty if none. */
  readonly dataOut: Uint8Array;
  /** The output context; empty if no context output was requested. */
  readonly ctxOut: Uint8Array;
}

/** What `bpftool prog show` prints about a program: decoded `struct bpf_prog_info`. */
export interface ProgramInfo {
  /** The kernel's id of the program (Linux 4.13+). */
  readonly id: number;
  /** The program tag: a hash of the instructions, 16 hex digits, as bpftool prints it. */
  readonly tag: string;
  /** The (possibly truncated) name, empty before 4.15. */
  readonly name: string;
  /** The program type. */
  readonly type: ProgramType;
  /** Bytes of JITed machine code (0 if not JITed or not permitted). */
  readonly jitedLength: number;
  /** Bytes of translated BPF instructions. */
  readonly xlatedLength: number;
  /** Ids of the maps the program uses (Linux 4.15+). */
  readonly mapIds: readonly number[];
  /** Load time in nanoseconds since boot (Linux 4.15+). */
  readonly loadTime: bigint;
  /** The uid that loaded the program (Linux 4.15+). */
  readonly createdByUid: number;
  /** Id of the program's BTF, 0 if none (Linux 5.0+). */
  readonly btfId: number;
  /** Instructions the verifier processed (Linux 5.16+, else 0). */
  readonly verifiedInstructions: number;
  /** Total run time in ns while `kernel.bpf_stats_enabled` was on (Linux 5.1+). */
  readonly runTimeNs: bigint;
  /** Number of runs while `kernel.bpf_stats_enabled` was on (Linux 5.1+). */
  readonly runCount: bigint;
  /** True if the license is GPL-compatible (Linux 4.18+). */
  readonly gplCompatible: boolean;
}

/**
 * The objects auto-attach needs for sections that name a kind of hook but not the object:
 * `xdp`, `tcx/ingress` or `netkit/primary` say nothing of the interface, `cgroup_skb/egress`
 * or `cgroup/connect4` nothing of the cgroup, `sk_lookup` and `flow_dissector` nothing of the
 * network namespace. Given here, {@link Program.attach} and `Collection.attachAll()` attach
 * those programs too.
 */
export interface AttachTargets {
  /** The interface for `xdp`, `tc/…`, `tcx/…` and `netkit/…` programs: a name or an ifindex. */
  readonly interface?: string | number;
  /**
   * The cgroup for `cgroup_skb/…`, `cgroup/…`, `sockops` and `lsm_cgroup/…` programs: a cgroup v2
   * directory (absolute, or relative to the cgroup v2 mount) or an open fd.
   */
  readonly cgroup?: string | number;
  /** The network namespace for `sk_lookup` and `flow_dissector` programs: a path such as /proc/self/ns/net, a name from `ip netns add`, or an fd. */
  readonly netns?: string | number;
}

/** Attaches a program where its section name says; link/auto.ts provides it. */
export type AutoAttach = (
  prog: Program,
  spec: Readonly<Pick<ProgramSpec, 'sectionName' | 'attachTo' | 'attachType'>>,
  targets?: AttachTargets,
) => Link;

let autoAttach: AutoAttach | undefined;

/**
 * Called once by link/auto.ts when it is loaded. The attach functions in link/ import this
 * module, so this module cannot import them back: link/ hands {@link Program.attach} its
 * implementation instead (cilium/ebpf keeps the same direction: link depends on the program).
 */
export function registerAutoAttach(fn: AutoAttach): void {
  autoAttach = fn;
}

// close(), the safety net for a Program dropped without close() (its fd closed by the GC,
// with one warning per process) and use after close: src/internal/owner.ts.
const owners = Owner.fdKind('Program');

/** Makes a program name acceptable to the kernel (see {@link sanitizeObjectName}). */
export const sanitizeName = sanitizeObjectName;

/**
 * A one-line explanation of a well-known verifier rejection, or undefined. `lines` is the
 * verifier log; `type` the program type (for helper messages).
 */
export function explainVerifierLog(lines: readonly string[], type: ProgramType, instructionCount?: number): string | undefined {
  const text = lines.join('\n');
  const typeName = programTypeName(type);
  let m: RegExpExecArray | null;
  if (/BPF program is too large/.test(text)) {
    return 'the verifier explored more instructions than it allows (4096 instructions before Linux 5.2, 1 million processed instructions since): bound loops more tightly, or split the program with tail calls or BPF-to-BPF calls';
  }
  if (/combined stack size|stack limit|stack size .* too large/i.test(text)) {
    return 'the BPF stack is 512 bytes for the whole call chain: move large locals into a per-CPU array map';
  }
  if ((m = /invalid func (?:\S*?)#(\d+)/.exec(text)) !== null) {
    const id = Number(m[1]);
    const since = helperSince[id as keyof typeof helperSince];
    return `helper ${helperDisplayName(id)} (id ${id}) does not exist in this kernel${since === undefined ? '' : ` (added in Linux ${since})`}`;
  }
  if ((m = helperRefusedRe.exec(text)) !== null) return helperRefusalHint(Number(m[2]), type);
  // Before 5.12 (commit 5ca419f2864a "bpf: Add BPF_FETCH field / create atomic_fetch_add
  // instruction") BPF_STX|BPF_XADD had to have imm 0: any other atomic operation is refused here.
  if (/BPF_STX uses reserved fields|BPF_XADD uses reserved fields/.test(text) && !kernelVersion().atLeast('5.12')) {
    return 'the program uses an atomic operation other than a plain add (fetch, and/or/xor, xchg, cmpxchg), which needs Linux 5.12 or later: use __sync_fetch_and_add without using its result, or a newer kernel';
  }
  // Callbacks (bpf_loop, bpf_for_each_map_elem, timers) are ld_imm64 BPF_PSEUDO_FUNC (5.13):
  // older check_subprogs() does not see the callback as a subprogram.
  if (/number of funcs in func_info doesn't match number of subprogs/.test(text) && !kernelVersion().atLeast('5.13')) {
    return 'the program passes a callback function (bpf_loop, bpf_for_each_map_elem, timers), which needs Linux 5.13 or later (bpf_loop 5.17)';
  }
  if (/cannot call GPL-restricted function from non-GPL compatible program/.test(text)) {
    return 'the program calls a GPL-only helper: declare a GPL-compatible license (e.g. char LICENSE[] SEC("license") = "GPL")';
  }
  if (/unbounded memory access|min value is negative|min value is outside of the allowed memory range/.test(text)) {
    return 'an index or offset used for memory access has no proven bounds: check it against the buffer size (and >= 0) right before the access';
  }
  // "invalid indirect read from stack" before 6.x, "invalid read from stack" since.
  if (/invalid (?:indirect )?read from stack/.test(text)) {
    return 'a helper reads stack bytes that were never written, typically padding of a struct on the stack: zero the struct first (__builtin_memset or = {})';
  }
  if (/R0 !read_ok/.test(text)) {
    return 'the program reaches exit without setting R0: every path must set a return value';
  }
  if ((m = /R(\d+) !read_ok/.exec(text)) !== null) {
    return `register R${m[1]} is read before it is written (helpers clobber R1-R5)`;
  }
  if (/invalid mem access '(?:map_value_or_null|ptr_or_null_|[a-z_]*or_null)/.test(text)) {
    return 'a pointer that may be NULL (e.g. the result of bpf_map_lookup_elem) is dereferenced without a NULL check';
  }
  if (/invalid mem access '(?:scalar|inv)'/.test(text)) {
    return 'a plain number is dereferenced as a pointer: memory outside the context, maps and stack must be read with bpf_probe_read_kernel/user (or BPF_CORE_READ)';
  }
  if (instructionCount !== undefined && instructionCount > 4096 && !kernelVersion().atLeast('5.2')) {
    return `the program has ${instructionCount} instructions; kernels before 5.2 accept at most 4096 (BPF_MAXINSNS)`;
  }
  return undefined;
}

/** Throws ArgumentError for references the linker should have resolved before loading. */
function checkResolved(name: string, insns: readonly Instruction[]): void {
  insns.forEach((insn, i) => {
    if (insn.reference === undefined) return;
    if (insn.isLoadImm64 && (insn.src === (PseudoSource.MapFD as number) || insn.src === (PseudoSource.MapValue as number))) {
      if ((insn.imm64 & 0xffffffffn) === 0n) {
        throw new ArgumentError(`program ${name}: instruction ${i} refers to map ${insn.reference}, which has no fd (load the map first)`);
      }
    } else if (insn.isCall && insn.src === (PseudoCall.Call as number) && insn.constant === -1) {
      throw new ArgumentError(`program ${name}: instruction ${i} calls ${insn.reference}, which is not linked into the program`);
    }
  });
}

/** An fd's `/proc/self/fdinfo` text, or '' when unreadable. */
function fdinfo(fd: number): string {
  try {
    return readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    return '';
  }
}

function u32(bytes: Uint8Array, offset: number): number {
  return dataView(bytes).getUint32(offset, hostLittleEndian);
}

function decodeInfo(info: Uint8Array, mapIds: readonly number[]): ProgramInfo {
  const f = ProgInfo.fields;
  const view = dataView(info);
  const le = hostLittleEndian;
  const tag = Buffer.from(info.subarray(f.tag.offset, f.tag.offset + 8)).toString('hex');
  const nameBytes = info.subarray(f.name.offset, f.name.offset + f.name.size);
  const nul = nameBytes.indexOf(0);
  return {
    id: view.getUint32(f.id.offset, le),
    tag,
    name: new TextDecoder().decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)),
    type: view.getUint32(f.type.offset, le) as ProgramType,
    jitedLength: view.getUint32(f.jited_prog_len.offset, le),
    xlatedLength: view.getUint32(f.xlated_prog_len.offset, le),
    mapIds,
    loadTime: view.getBigUint64(f.load_time.offset, le),
    createdByUid: view.getUint32(f.created_by_uid.offset, le),
    btfId: view.getUint32(f.btf_id.offset, le),
    verifiedInstructions: view.getUint32(f.verified_insns.offset, le),
    runTimeNs: view.getBigUint64(f.run_time_ns.offset, le),
    runCount: view.getBigUint64(f.run_cnt.offset, le),
    gplCompatible: view.getUint32(f.gpl_compatible.offset, le) !== 0,
  };
}

/**
 * BPF_OBJ_GET_INFO_BY_FD for a program, in two passes: the first learns `nr_map_ids`, the
 * second passes an array of that size through the `map_ids` pointer. A map added between the
 * passes (BPF_PROG_BIND_MAP) is simply not listed; the kernel copies at most what fits.
 */
function programInfo(fd: number): ProgramInfo {
  const f = ProgInfo.fields;
  const first = objGetInfoByFd(fd, ProgInfo.size, [], { context: `info of program fd ${fd}` });
  const count = u32(first, f.nr_map_ids.offset);
  if (count === 0) return decodeInfo(first, []);
  const ids = new Uint8Array(count * 4);
  const input = new Uint8Array(f.nr_map_ids.offset + 4);
  dataView(input).setUint32(f.nr_map_ids.offset, count, hostLittleEndian);
  const second = objGetInfoByFd(fd, ProgInfo.size, [f.map_ids.offset, ids], { context: `info of program fd ${fd}` }, input);
  const got = Math.min(count, u32(second, f.nr_map_ids.offset));
  const mapIds: number[] = [];
  for (let i = 0; i < got; i++) mapIds.push(u32(ids, i * 4));
  return decodeInfo(second, mapIds);
}

/** The outcome of the log-collecting reloads. */
interface LogLoad {
  readonly fd?: number;
  readonly errno: number;
  readonly log: string;
  readonly truncated: boolean;
  readonly attr: Uint8Array;
}

/**
 * A BPF program loaded into the kernel. Owns one fd; `close()` (or `using`) releases it.
 *
 * Minimum kernel: 3.19 (BPF_PROG_LOAD); names need 4.15, `testRun` 4.12, `info()` 4.13,
 * pinning 4.4.
 *
 * @example
 * ```ts
 * import { asm, Program, ProgramType } from 'ebpf-ts';
 * using prog = Program.load({
 *   name: 'ret42',
 *   type: ProgramType.SocketFilter,
 *   license: 'GPL',
 *   instructions: [asm.mov64Imm(asm.Register.R0, 42), asm.exit()],
 * });
 * const { retval } = prog.testRun({ data: new Uint8Array(64) }); // 42
 * ```
 *
 * Errors: {@link VerifierError} when the verifier rejects the program (with the full log),
 * {@link NotSupportedError} when the kernel lacks the program type or an attr field,
 * {@link SyscallError} for anything else (EPERM with a hint about capabilities and lockdown),
 * {@link ClosedError} when used after `close()`.
 */
export class Program {
  readonly #owner: Owner<HeldFd>;
  /** The name the program was loaded with (unsanitised), or the kernel's name for it. */
  readonly name: string;
  /**
   * The name the kernel keeps (what `bpftool prog show` and `info().name` print): `name` with
   * characters other than `[A-Za-z0-9_.]` replaced and cut to 15 bytes (BPF_OBJ_NAME_LEN),
   * e.g. `handle_sched_wa` for `handle_sched_wakeup`; '' when the kernel got none.
   */
  readonly kernelName: string;
  /** The program type. */
  readonly type: ProgramType;
  /** Where the spec said the program goes (section name, attach target), for {@link Program.attach}. */
  readonly attachment: Readonly<Pick<ProgramSpec, 'sectionName' | 'attachTo' | 'attachType'>>;

  private constructor(fd: number, name: string, type: ProgramType, spec?: ProgramSpec, kernelName = name) {
    this.name = name;
    this.kernelName = kernelName;
    this.type = type;
    this.attachment = { sectionName: spec?.sectionName, attachTo: spec?.attachTo, attachType: spec?.attachType };
    this.#owner = new Owner(owners, this, { fd, name }, `program ${name} is closed`);
  }

  /**
   * Attaches the program where its section name says, like libbpf's auto-attach:
   * `tracepoint/<group>/<name>`, `kprobe/<fn>`, `kretprobe/<fn>`, `ksyscall/<name>`,
   * `uprobe/<binary>:<fn>`, `kprobe.multi/<pattern>`, `uprobe.multi/<binary>:<pattern>`,
   * `raw_tp/<name>`, `fentry/<fn>`, `tp_btf/<name>`, `lsm/<hook>`, … (see
   * {@link attachProgram}). Sections that name a kind of hook but not the object (`xdp`,
   * `tcx/ingress`, `cgroup_skb/egress`, `sk_lookup`, …) attach to the interface, cgroup or
   * network namespace given in `targets`. The returned link is the caller's to close.
   *
   * @example
   * ```ts
   * const coll = await loadCollection('execsnoop.bpf.o');
   * const link = coll.programs.handle_exec.attach();
   * const xdp = coll.programs.xdp_count.attach({ interface: 'eth0' });
   * ```
   * @throws {@link ArgumentError} for a program loaded without a section name, and the errors
   * of the attach function used.
   */
  attach(targets?: AttachTargets): Link {
    if (autoAttach === undefined) {
      // Only reachable when src/prog.ts is imported on its own, without the package index.
      throw new BpfError(`program ${this.name}: auto-attach is not loaded; import from 'ebpf-ts' (its link/ module registers it)`);
    }
    return autoAttach(this, this.attachment, targets);
  }

  /** The program's fd. Throws {@link ClosedError} after `close()`. */
  get fd(): number {
    return this.#owner.held.fd;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * Loads `spec` with BPF_PROG_LOAD.
   *
   * The first attempt carries no verifier log (the kernel then skips formatting it). If it
   * fails, the program is loaded again with `log_level` and a log buffer, which grows (to the
   * size the kernel reports in `log_true_size` on 6.4+, else ×4 on ENOSPC) up to the kernel's
   * maximum, so the log in the {@link VerifierError} is complete unless even that was too small
   * (`truncated`).
   *
   * Minimum kernel: 3.19, plus whatever the program type and spec fields need.
   *
   * @throws {@link VerifierError} the verifier rejected the program.
   * @throws {@link NotSupportedError} the kernel lacks the program type or a spec field.
   * @throws {@link SyscallError} any other failure (EPERM, EBADF for a stale map fd, …).
   * @throws {@link ArgumentError} the spec is incomplete (no instructions, unresolved map).
   */
  static load(spec: ProgramSpec, options: ProgramLoadOptions = {}): Program {
    return withLoadToken(options.token, () => Program.loadInScope(spec, options));
  }

  private static loadInScope(spec: ProgramSpec, options: ProgramLoadOptions): Program {
    const displayName = spec.name ?? spec.sectionName ?? programTypeName(spec.type);
    if (spec.instructions.length === 0) throw new ArgumentError(`program ${displayName} has no instructions`);
    checkResolved(displayName, spec.instructions);
    const insns = encode(spec.instructions, hostByteOrder);
    const insnCount = insns.byteLength / 8;
    const kernelName = programNameFor(spec.name);

    const base: AttrValues<keyof typeof ProgLoad.fields> = {
      prog_type: spec.type,
      insn_cnt: insnCount,
      insns,
      license: cString(spec.license ?? ''),
      kern_version: kernVersionFor(spec),
      prog_flags: spec.flags === undefined || spec.flags === 0 ? undefined : spec.flags,
      prog_name: kernelName,
      expected_attach_type:
        spec.attachType === undefined || spec.attachType === AttachType.None ? undefined : spec.attachType,
      ...btfFields(spec),
      attach_btf_id: spec.attachBtfId === undefined || spec.attachBtfId === 0 ? undefined : spec.attachBtfId,
      // attach_btf_obj_fd is a union member of attach_prog_fd (same slot, 5.11+).
      attach_prog_fd: attachFd(spec, displayName),
      fd_array: spec.fdArray === undefined || spec.fdArray.length === 0 ? undefined : fdArrayBytes(spec.fdArray),
    };

    // Fast path: no log. The kernel formats no log text at all, which matters for big programs.
    const { attr, pointers } = encodeAttr(ProgLoad, base);
    const first = bpfRaw(ProgLoad, attr, pointers);
    if (first >= 0) return new Program(first, displayName, spec.type, spec, kernelName ?? '');
    const errno = -first;
    const context = `load program ${displayName}`;

    // Failures decided before the verifier runs: no log would help, and reloading would only
    // repeat them. EPERM comes from capability/lockdown checks in bpf_prog_load(); EAGAIN
    // survived the funnel's bounded retries; E2BIG/EINVAL with fields the kernel predates is
    // bpf_check_uarg_tail_zero() or CHECK_ATTR().
    if (errno === Errno.EPERM || errno === Errno.EAGAIN) throw loadError(spec, errno, attr, pointers, insnCount, context);
    if ((errno === Errno.E2BIG || errno === Errno.EINVAL) && newerFieldsSet(attr, pointers)) {
      throw loadError(spec, errno, attr, pointers, insnCount, context);
    }

    const logged = loadWithLog(base, options);
    if (logged.fd !== undefined) return new Program(logged.fd, displayName, spec.type, spec, kernelName ?? '');
    const lines = splitLog(logged.log);
    if (lines.length === 0) {
      // No log: the kernel refused before bpf_check() (find_prog_type(), attach checks,
      // license/BTF copies). Not a verifier rejection.
      throw loadError(spec, logged.errno === Errno.ENOSPC ? errno : logged.errno, attr, pointers, insnCount, context);
    }
    // When the log never fitted, the last answer is ENOSPC about the log; the first load's
    // errno is the program's real verdict.
    const verdict = logged.truncated && logged.errno === Errno.ENOSPC ? errno : logged.errno;
    throw new VerifierError(displayName, verdict, lines, logged.truncated, explainVerifierLog(lines, spec.type, insnCount));
  }

  /**
   * Takes ownership of a program fd (e.g. one received over a unix socket); `close()` closes it.
   * Minimum kernel: 4.13 (reads the program's info).
   * @throws {@link ArgumentError} if `fd` is not a BPF program.
   */
  static fromFd(fd: number): Program {
    if (!Number.isInteger(fd) || fd < 0) throw new ArgumentError(`not a file descriptor: ${fd}`);
    const text = fdinfo(fd);
    if (text !== '' && !/^prog_type:/m.test(text)) throw new ArgumentError(`fd ${fd} is not a BPF program`);
    const info = programInfo(fd);
    return new Program(fd, info.name, info.type);
  }

  /**
   * Opens a program pinned on bpffs. Minimum kernel: 4.4 (4.13 for the info read).
   * @throws {@link SyscallError} ENOENT if nothing is pinned there; {@link ArgumentError} if the
   * pinned object is not a program.
   */
  static fromPin(path: string): Program {
    const fd = objGet(path, 0, { context: `open pinned program ${path}` });
    try {
      return Program.fromFd(fd);
    } catch (err) {
      backend().close(fd);
      throw err;
    }
  }

  /**
   * Opens the loaded program with kernel id `id` (as `bpftool prog show` lists). Minimum kernel
   * 4.13; needs CAP_SYS_ADMIN.
   * @throws {@link SyscallError} ENOENT if no program has that id.
   */
  static fromId(id: number): Program {
    const fd = fdById('prog', id, { context: `open program id ${id}` });
    try {
      return Program.fromFd(fd);
    } catch (err) {
      backend().close(fd);
      throw err;
    }
  }

  /**
   * Runs the program once (or `repeat` times) on the given input with BPF_PROG_TEST_RUN,
   * without attaching it. Only the fields used are sent. When the output does not fit, the
   * kernel answers ENOSPC with the size it needed and the run is repeated with that much room
   * (so a program with side effects runs twice then).
   *
   * Minimum kernel: 4.12; `ctx` 5.2; `flags`/`cpu` 5.10. Which program types support it varies
   * (SOCKET_FILTER, SCHED_CLS, XDP, RAW_TRACEPOINT, TRACING, SYSCALL, …).
   *
   * @example
   * ```ts
   * const { retval, dataOut } = prog.testRun({ data: packet, repeat: 1000 });
   * ```
   * @throws {@link SyscallError} e.g. ENOTSUPP for a type without test runs, EINVAL for a too
   * short packet; {@link ClosedError} after `close()`.
   */
  testRun(options: TestRunOptions = {}): TestRunResult {
    const fd = this.fd;
    const data = options.data;
    let dataOutSize = options.dataSizeOut ?? (data === undefined ? 0 : data.byteLength + 256);
    const ctx = options.ctx;
    let ctxOutSize = options.ctxSizeOut ?? (ctx === undefined ? 0 : ctx.byteLength);
    for (let attempt = 0; ; attempt++) {
      const dataOut = new Uint8Array(dataOutSize);
      const ctxOut = new Uint8Array(ctxOutSize);
      const useCtx = ctx !== undefined || ctxOutSize > 0;
      const { attr, pointers } = encodeAttr(ProgTestRun, {
        prog_fd: fd,
        data_size_in: data === undefined ? undefined : data.byteLength,
        data_in: data,
        data_size_out: dataOutSize > 0 ? dataOutSize : undefined,
        data_out: dataOutSize > 0 ? dataOut : undefined,
        repeat: options.repeat ?? 0,
        // bpf_test_finish() writes retval and duration through the user pointer whatever size
        // we pass, so the attr must reach the end of `duration` (offset 40) or the kernel would
        // write past our buffer.
        duration: 0,
        ctx_size_in: useCtx && ctx !== undefined ? ctx.byteLength : undefined,
        ctx_size_out: useCtx && ctxOutSize > 0 ? ctxOutSize : undefined,
        ctx_in: ctx,
        ctx_out: ctxOutSize > 0 ? ctxOut : undefined,
        flags: options.flags === undefined || options.flags === 0 ? undefined : options.flags,
        cpu: options.cpu === undefined ? undefined : options.cpu,
      });
      const r = bpfRaw(ProgTestRun, attr, pointers);
      const view = dataView(attr);
      const le = hostLittleEndian;
      const f = ProgTestRun.fields;
      const dataNeeded = view.getUint32(f.data_size_out.offset, le);
      const ctxNeeded = attr.byteLength >= f.ctx_size_out.offset + 4 ? view.getUint32(f.ctx_size_out.offset, le) : 0;
      if (r === -Errno.ENOSPC && attempt < 3 && (dataNeeded > dataOutSize || ctxNeeded > ctxOutSize)) {
        // bpf_test_finish()/bpf_ctx_finish() (net/bpf/test_run.c) copy what fits, answer
        // ENOSPC and report the full size in data_size_out / ctx_size_out.
        dataOutSize = Math.max(dataOutSize, dataNeeded);
        ctxOutSize = Math.max(ctxOutSize, ctxNeeded);
        continue;
      }
      if (r < 0) {
        throw bpfError(ProgTestRun, -r, attr, pointers, {
          context: `test run of program ${this.name}`,
          explain: (errno) =>
            errno === Errno.ENOTSUPP || errno === Errno.EOPNOTSUPP
              ? `${programTypeName(this.type)} programs cannot be test-run on this kernel`
              : errno === Errno.EINVAL
                ? 'the input is invalid for this program type (e.g. data shorter than an Ethernet header, or a ctx the type does not accept)'
                : undefined,
        });
      }
      return {
        retval: view.getUint32(f.retval.offset, le),
        duration: view.getUint32(f.duration.offset, le),
        dataOut: dataOutSize > 0 ? dataOut.slice(0, Math.min(dataNeeded, dataOutSize)) : new Uint8Array(0),
        ctxOut: ctxOutSize > 0 ? ctxOut.slice(0, Math.min(ctxNeeded, ctxOutSize)) : new Uint8Array(0),
      };
    }
  }

  /**
   * What the kernel knows about the program (BPF_OBJ_GET_INFO_BY_FD): id, tag, map ids, …
   * Minimum kernel: 4.13; fields newer than the running kernel read as 0.
   * @throws {@link ClosedError} after `close()`.
   */
  info(): ProgramInfo {
    return programInfo(this.fd);
  }

  /**
   * Pins the program at `path` on a bpffs mount, so it outlives this process.
   * Minimum kernel: 4.4.
   * @throws {@link SyscallError} EEXIST if the path exists, EPERM/EINVAL if not on bpffs.
   */
  pin(path: string): void {
    objPin(this.fd, path, {
      context: `pin program ${this.name} at ${path}`,
      explain: (errno) => (errno === Errno.EINVAL || errno === Errno.EPERM ? `${path} must be on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)` : undefined),
    });
  }

  /** Closes the fd. Idempotent; the kernel frees the program once nothing else holds it. */
  close(): void {
    this.#owner.close();
  }

  /** `using prog = Program.load(…)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `Program(name, TYPE, fd N)`. */
  toString(): string {
    const kernel = this.kernelName === '' || this.kernelName === this.name ? '' : ` (kernel name ${this.kernelName})`;
    return `Program(${this.name}${kernel}, ${programTypeName(this.type)}, ${fdState(this.#owner)})`;
  }
}

/**
 * Every program loaded in the kernel, as `bpftool prog show` lists them (BPF_PROG_GET_NEXT_ID,
 * then GET_FD_BY_ID and OBJ_GET_INFO_BY_FD for each). Programs unloaded while listing are
 * skipped. Every fd opened is closed again.
 *
 * Minimum kernel: 4.13; needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * for (const p of listPrograms()) console.log(p.id, p.name, p.tag);
 * ```
 * @throws {@link SyscallError} EPERM without privileges.
 */
export function listPrograms(): ProgramInfo[] {
  const out: ProgramInfo[] = [];
  for (const id of objectIds('prog')) {
    let fd: number;
    try {
      fd = fdById('prog', id);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOENT) continue; // gone meanwhile
      throw err;
    }
    try {
      out.push(programInfo(fd));
    } finally {
      backend().close(fd);
    }
  }
  return out;
}

function kernVersionFor(spec: ProgramSpec): number | undefined {
  if (spec.kernelVersion !== undefined && spec.kernelVersion !== 0) return spec.kernelVersion;
  // Kernels before 5.0 refused kprobe programs whose kern_version was not LINUX_VERSION_CODE
  // (check removed by commit 6c4fc209fcf9 "bpf: remove useless version check for prog load").
  return spec.type === ProgramType.Kprobe ? kernelVersion().code : undefined;
}

function programNameFor(name: string | undefined): string | undefined {
  if (name === undefined || name === '') return undefined;
  if (!programNameFeature.supported()) return undefined;
  const clean = sanitizeName(name, programNameDotFeature.supported());
  return clean === '' ? undefined : clean;
}

function btfFields(spec: ProgramSpec): AttrValues<keyof typeof ProgLoad.fields> {
  if (spec.btf === undefined) return {};
  const funcSize = spec.funcInfoRecordSize ?? 8;
  const lineSize = spec.lineInfoRecordSize ?? 16;
  const hasFunc = spec.funcInfo !== undefined && spec.funcInfo.byteLength > 0;
  const hasLine = spec.lineInfo !== undefined && spec.lineInfo.byteLength > 0;
  return {
    prog_btf_fd: spec.btf,
    func_info_rec_size: hasFunc ? funcSize : undefined,
    func_info: hasFunc ? spec.funcInfo : undefined,
    func_info_cnt: hasFunc ? spec.funcInfo!.byteLength / funcSize : undefined,
    line_info_rec_size: hasLine ? lineSize : undefined,
    line_info: hasLine ? spec.lineInfo : undefined,
    line_info_cnt: hasLine ? spec.lineInfo!.byteLength / lineSize : undefined,
  };
}

/** `attach_prog_fd`, or `attach_btf_obj_fd` in the same slot; both at once is an ArgumentError. */
function attachFd(spec: ProgramSpec, name: string): number | undefined {
  const prog = spec.attachProgFd === undefined || spec.attachProgFd === 0 ? undefined : spec.attachProgFd;
  const obj = spec.attachBtfObjFd === undefined || spec.attachBtfObjFd === 0 ? undefined : spec.attachBtfObjFd;
  if (prog !== undefined && obj !== undefined) {
    throw new ArgumentError(`program ${name}: attachProgFd and attachBtfObjFd share one attr field (attach_prog_fd / attach_btf_obj_fd): give one`);
  }
  return prog ?? obj;
}

function fdArrayBytes(fds: readonly number[]): Uint8Array {
  const out = new Uint8Array(fds.length * 4);
  const view = dataView(out);
  fds.forEach((fd, i) => view.setInt32(i * 4, fd, hostLittleEndian));
  return out;
}

function newerFieldsSet(attr: Uint8Array, pointers: ReadonlyArray<number | Uint8Array | null>): boolean {
  const running = kernelVersion();
  return fieldsSet(ProgLoad, attr, pointers).some((f) => !running.atLeast(f.since));
}

function splitLog(text: string): string[] {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/**
 * Reloads with a verifier log, growing the buffer until the log fits or the kernel's maximum is
 * reached.
 *
 * How "did not fit" shows: before 6.4 the kernel fills the buffer and answers ENOSPC
 * (bpf_check(): `if (log->level && bpf_verifier_log_full(log)) ret = -ENOSPC`); since 6.4
 * (commit 47a71c1f9af0 "bpf: Add log_true_size output field to return necessary log buffer
 * size") it also writes the size it needed into `log_true_size`, if the attr we pass reaches
 * that field. We only extend the attr to it on 6.4+: older kernels would accept the zero tail
 * (bpf_check_uarg_tail_zero()), but nothing would come back.
 */
function loadWithLog(base: AttrValues<keyof typeof ProgLoad.fields>, options: ProgramLoadOptions): LogLoad {
  const max = maxLogSize();
  const withTrueSize = kernelVersion().atLeast('6.4');
  let size = Math.min(max, Math.max(MIN_LOG_SIZE, Math.floor(options.logSize ?? DEFAULT_LOG_SIZE)));
  const level = options.logLevel ?? 1;
  if (level === 0) throw new ArgumentError('logLevel 0 would collect no verifier log; use 1 or 2');
  for (;;) {
    const buf = new Uint8Array(size);
    const { attr, pointers } = encodeAttr(ProgLoad, {
      ...base,
      log_level: level,
      log_size: size,
      log_buf: buf,
      log_true_size: withTrueSize ? 0 : undefined,
    });
    const r = bpfRaw(ProgLoad, attr, pointers);
    // The first load failed but this one succeeded: a transient failure (EAGAIN exhausted,
    // memory pressure). Take the program.
    if (r >= 0) return { fd: r, errno: 0, log: '', truncated: false, attr };
    const errno = -r;
    const trueSize = withTrueSize ? u32(attr, ProgLoad.fields.log_true_size.offset) : 0;
    const full = trueSize > 0 ? trueSize > size : errno === Errno.ENOSPC;
    if (full && size < max) {
      size = Math.min(max, trueSize > size ? trueSize : size * 4);
      continue;
    }
    return { errno, log: logText(buf), truncated: full, attr };
  }
}

/** prog_flags bits newer than the field itself, and the kernel that introduced each. */
const progFlagsSince: ReadonlyArray<readonly [number, string, string]> = [
  [1 << 4, 'BPF_F_SLEEPABLE', '5.10'], // commit 1e6c62a88215 "bpf: Introduce sleepable BPF programs"
  [1 << 5, 'BPF_F_XDP_HAS_FRAGS (xdp.frags)', '5.18'], // commit c2f2cdbeffda "bpf: introduce BPF_F_XDP_HAS_FRAGS flag in prog_flags loading the ebpf program"
];

/** The error for a load that failed outside the verifier. */
function loadError(
  spec: ProgramSpec,
  errno: number,
  attr: Uint8Array,
  pointers: ReadonlyArray<number | Uint8Array | null>,
  insnCount: number,
  context: string,
): BpfError {
  const typeName = programTypeName(spec.type);
  // bpf_prog_load() refuses prog_flags bits it does not know with EINVAL before anything else.
  if (errno === Errno.EINVAL) {
    for (const [bit, name, since] of progFlagsSince) {
      if (((spec.flags ?? 0) & bit) !== 0 && !kernelVersion().atLeast(since)) {
        return new NotSupportedError(`BPF_PROG_LOAD flag ${name}`, since, { errno, detail: `cannot ${context}` });
      }
    }
  }
  if (errno === Errno.EINVAL && !newerFieldsSet(attr, pointers)) {
    const since = programTypeSince[spec.type] as string | undefined;
    if (since !== undefined && !kernelVersion().atLeast(since)) {
      return new NotSupportedError(programTypeFeature(spec.type).name, since, { errno, detail: `cannot ${context}` });
    }
    // A type this library has no version for (newer than our table, or bogus) is probed too.
    if (programTypeFeature(spec.type).check().supported === false) {
      return new NotSupportedError(programTypeFeature(spec.type).name, since, {
        errno,
        detail: `the kernel does not know the type (or was built without the option that provides it); cannot ${context}`,
      });
    }
  }
  return bpfError(ProgLoad, errno, attr, pointers, {
    context,
    explain: (e) => {
      if (e === Errno.EAGAIN) return 'the verifier was interrupted by signals on every attempt (e.g. a CPU profiler sending SIGPROF)';
      if (e === Errno.E2BIG && insnCount > 4096 && !kernelVersion().atLeast('5.2')) {
        return `the program has ${insnCount} instructions; kernels before 5.2 accept at most 4096 (BPF_MAXINSNS)`;
      }
      if (e === Errno.E2BIG && insnCount > 1_000_000) return `the program has ${insnCount} instructions; the kernel accepts at most 1,000,000`;
      if (e === Errno.EINVAL) {
        return `the kernel refused the load before verification: check the expected attach type (${
          spec.attachType ?? 'none'
        }), attach target, flags and BTF for a ${typeName} program`;
      }
      return undefined;
    },
  });
}
