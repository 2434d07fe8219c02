/**
 * The description of a program to load: what the ELF reader produces for each program section,
 * and what tests and hand-written programs build directly. Plain data; nothing here talks to
 * the kernel.
 *
 * @module
 */
import type { Instruction } from './asm/instruction.js';
import type { AttachType, ProgramType } from './types.js';

/**
 * A program ready to load with `Program.load`.
 *
 * Only `type`, `instructions` and `license` are needed for a minimal program; the other fields
 * are filled by the ELF loader (section name, attach target) or the BTF/CO-RE stage
 * (`btf`, `funcInfo`, `lineInfo`).
 *
 * @example
 * ```ts
 * import { asm, ProgramType, type ProgramSpec } from 'ebpf-ts';
 * const spec: ProgramSpec = {
 *   name: 'ret42',
 *   type: ProgramType.SocketFilter,
 *   license: 'GPL',
 *   instructions: [asm.mov64Imm(asm.Register.R0, 42), asm.exit()],
 * };
 * ```
 */
export interface ProgramSpec {
  /** The program's name (the C function name). Sanitised to what the kernel accepts at load. */
  name?: string;
  /** The ELF section the program came from, e.g. `"kprobe/do_sys_open"`. */
  sectionName?: string;
  /** `enum bpf_prog_type`. */
  type: ProgramType;
  /** `expected_attach_type` (Linux 4.17+); needed by cgroup sock_addr, sockopt, tracing, … */
  attachType?: AttachType;
  /** What to attach to, as the section name says (function, tracepoint, …). Not sent at load. */
  attachTo?: string;
  /**
   * The license, as the `license` section says. GPL-only helpers (bpf_probe_read,
   * bpf_trace_printk, …) need a GPL-compatible one (`license_is_gpl_compatible()`). Sent as an
   * empty string when absent: the kernel always reads the pointer.
   */
  license?: string;
  /** The instructions, with every map reference already replaced by an fd. */
  instructions: readonly Instruction[];
  /**
   * `kern_version`: LINUX_VERSION_CODE the program was built for. Kernels before 5.0 refuse a
   * kprobe program whose value differs from the running kernel's; when this is absent or 0,
   * `Program.load` fills in the running kernel's code for kprobe programs.
   */
  kernelVersion?: number;
  /** `prog_flags` (BPF_F_STRICT_ALIGNMENT, BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, …). */
  flags?: number;
  /** `attach_btf_id` (Linux 5.5+): the BTF id of the attach target (fentry, LSM hook, …). */
  attachBtfId?: number;
  /** `attach_prog_fd` (Linux 5.5+): the target program of a freplace (EXT) program. */
  attachProgFd?: number;
  /**
   * `attach_btf_obj_fd` (Linux 5.11+): the BTF object `attachBtfId` belongs to when it is not
   * vmlinux's, i.e. a kernel module's (fentry/fexit/tp_btf on a module function), from
   * `openKernelModuleBTF`. Shares its attr slot with `attachProgFd`: give one or the other.
   */
  attachBtfObjFd?: number;
  /** `prog_btf_fd` (Linux 5.0+): the program's BTF, needed for func_info/line_info. */
  btf?: number;
  /** Raw `bpf_func_info` records (Linux 5.0+), `funcInfoRecordSize` bytes each. */
  funcInfo?: Uint8Array;
  /** Size of one func_info record (default 8, `sizeof(struct bpf_func_info)`). */
  funcInfoRecordSize?: number;
  /** Raw `bpf_line_info` records (Linux 5.0+), `lineInfoRecordSize` bytes each. */
  lineInfo?: Uint8Array;
  /** Size of one line_info record (default 16, `sizeof(struct bpf_line_info)`). */
  lineInfoRecordSize?: number;
  /** `fd_array` (Linux 5.17+): fds that instructions refer to by index (kfunc module BTFs, maps). */
  fdArray?: readonly number[];
}
