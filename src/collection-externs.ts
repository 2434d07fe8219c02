/**
 * Resolving an object's externs against the running kernel, for `loadCollection`:
 *
 * - `.kconfig` values (`LINUX_KERNEL_VERSION`, `LINUX_HAS_*`, `CONFIG_*`) are written into the
 *   contents of the `.kconfig` map before it is created;
 * - `.ksyms` kernel variables and functions become instruction immediates: typeless symbols
 *   (`extern const void sym __ksym`) an address from /proc/kallsyms, typed ones and kfuncs a
 *   BTF id in vmlinux or, when vmlinux has none, in a loaded module's BTF, whose BTF object
 *   the instruction then names (kfunc: an `fd_array` index in `off`; variable: the fd in the
 *   second half of the `ld_imm64`).
 *
 * Unresolved `__weak` externs read as zero (kconfig) or become dead code (ksyms), as with
 * libbpf; anything else unresolved is an error naming the extern.
 *
 * @module
 */
import type { ByteOrder } from './asm/encoding.js';
import { Helper } from './asm/helper.js';
import type { Instruction } from './asm/instruction.js';
import { PseudoCall, PseudoSource } from './asm/pseudo.js';
import type { KernelModuleBTF } from './btf/kernel.js';
import type { Spec } from './btf/spec.js';
import { Array as BTFArray, Enum, Func, Int, IntEncoding, Var, skipQualifiersAndTypedefs, type Type } from './btf/types.js';
import type { ExternSpec } from './elf/specs.js';
import { BpfError, SymbolNotFoundError } from './errors.js';
import { helperFeature } from './features/helpers.js';
import { kallsyms, syscallPrefix } from './internal/kallsyms.js';
import { kernelConfig, kernelConfigPaths } from './internal/kconfig.js';
import { findInKernelBTF, missingFromModulesHint, type FdArray, type ModuleBTFFds } from './module-btf.js';
import { kernelVersion } from './sys/kernel-version.js';
import { ProgramType } from './types.js';

/** An extern (`.kconfig` or `.ksyms`) that the running kernel cannot provide. */
export class UnresolvedExternError extends BpfError {
  /** The extern's name. */
  readonly extern: string;

  constructor(extern: string, why: string) {
    super(`extern ${extern}: ${why}`);
    this.extern = extern;
  }
}


/**
 * `LINUX_HAS_*` values. libbpf defines these two; each answers from a probe or a kernel fact
 * rather than a version, since distributions backport.
 */
function linuxHas(name: string): boolean | undefined {
  switch (name) {
    case 'LINUX_HAS_BPF_COOKIE':
      // bpf_get_attach_cookie() (5.15) is the cookie feature; tracepoint programs have it
      // wherever kprobes do (bpf_tracing_func_proto()).
      return helperFeature(ProgramType.Tracepoint, Helper.GetAttachCookie).supported();
    case 'LINUX_HAS_SYSCALL_WRAPPER':
      // Syscall entry points are wrapped (__x64_sys_*, 4.17) when the arch-prefixed symbol
      // exists; that decides how ksyscall programs must read their arguments.
      return kallsyms().get(`${syscallPrefix()}sys_bpf`) !== undefined;
    default:
      return undefined;
  }
}

/** Encodes a kconfig value for `type` as libbpf does (bool, tristate enum, char, integers, char arrays). */
function encodeKconfig(ext: ExternSpec, raw: string, byteOrder: ByteOrder): Uint8Array {
  const t = ext.type === undefined ? undefined : skipQualifiersAndTypedefs(ext.type);
  const out = new Uint8Array(ext.size);
  const fail = (why: string): never => {
    throw new UnresolvedExternError(ext.name, `value ${raw} does not fit its type (${why})`);
  };
  const writeInt = (n: bigint): void => {
    const bits = BigInt(ext.size * 8);
    if (n < -(1n << (bits - 1n)) || n >= 1n << bits) fail(`${ext.size} bytes`);
    let u = BigInt.asUintN(Number(bits), n);
    for (let i = 0; i < ext.size; i++) {
      out[byteOrder === 'little' ? i : ext.size - 1 - i] = Number(u & 0xffn);
      u >>= 8n;
    }
  };
  if (t instanceof BTFArray) {
    // char arrays take quoted strings, NUL-terminated and cut to fit.
    const m = /^"(.*)"$/.exec(raw) ?? fail('a string was expected');
    const bytes = new TextEncoder().encode(m[1]!.replace(/\\(.)/g, '$1'));
    out.set(bytes.subarray(0, Math.max(0, ext.size - 1)));
    return out;
  }
  const tristate = raw === 'y' || raw === 'n' || raw === 'm';
  if (t instanceof Int && (t.encoding & IntEncoding.Bool) !== 0) {
    if (raw === 'm') fail('bool cannot hold m');
    writeInt(raw === 'y' ? 1n : raw === 'n' ? 0n : fail('bool needs y or n'));
    return out;
  }
  if (t instanceof Enum && t.name === 'libbpf_tristate') {
    writeInt(raw === 'y' ? 1n : raw === 'm' ? 2n : raw === 'n' ? 0n : fail('tristate needs y, n or m'));
    return out;
  }
  if (t instanceof Int && t.size === 1 && (t.encoding & IntEncoding.Char) !== 0 && tristate) {
    out[0] = raw.charCodeAt(0);
    return out;
  }
  if (tristate) {
    writeInt(raw === 'y' ? 1n : raw === 'm' ? 2n : 0n);
    return out;
  }
  let n: bigint;
  try {
    n = BigInt(raw);
  } catch {
    return fail('an integer was expected');
  }
  writeInt(n);
  return out;
}

/**
 * Fills the `.kconfig` map value (`value`, laid out by the ELF reader) for `externs`. Throws
 * {@link UnresolvedExternError} for a non-weak value the kernel does not provide.
 */
export function fillKconfig(value: Uint8Array, externs: readonly ExternSpec[], byteOrder: ByteOrder, given?: Readonly<Record<string, string>>): void {
  for (const ext of externs) {
    if (ext.kind !== 'kconfig' || ext.offset === undefined) continue;
    let raw: string | undefined;
    if (ext.name === 'LINUX_KERNEL_VERSION') {
      // From the vDSO note: the version the kernel was built as, not a distro's uname string.
      raw = String(kernelVersion().code);
    } else if (ext.name.startsWith('LINUX_HAS_')) {
      const v = linuxHas(ext.name);
      raw = v === undefined ? undefined : v ? 'y' : 'n'; // y/n: valid for bool, char and integer types alike
    } else if (given !== undefined && Object.hasOwn(given, ext.name)) {
      raw = given[ext.name];
    } else if (ext.name.startsWith('CONFIG_')) {
      // As libbpf: an unreadable config is an error only for a non-weak extern nothing else
      // provides; weak ones read 0.
      const config = kernelConfig();
      if (config === null && !ext.weak) {
        throw new UnresolvedExternError(
          ext.name,
          `no kernel config found (looked at ${kernelConfigPaths().join(' and ')}): pass its value in the kconfig option, or declare it __weak to read 0`,
        );
      }
      raw = config?.get(ext.name);
    }
    if (raw === undefined) {
      if (ext.weak) continue; // stays zero
      throw new UnresolvedExternError(ext.name, 'the running kernel does not define it (declare it __weak to read 0 instead)');
    }
    value.set(encodeKconfig(ext, raw, byteOrder), ext.offset);
  }
}

/** Where a `.ksyms` extern resolved to. */
export type ResolvedKsym =
  | {
      /** A typeless symbol: its address. */
      readonly kind: 'address';
      /** The address from /proc/kallsyms. */
      readonly address: bigint;
    }
  | {
      /** A typed variable or kfunc: its BTF id in vmlinux or a module. */
      readonly kind: 'btf';
      /** The BTF id of the `VAR` or `FUNC`. */
      readonly id: number;
      /** The module whose BTF has it; undefined for vmlinux. */
      readonly module?: string;
    }
  | {
      /** A weak symbol the kernel lacks: zero / dead code. */
      readonly kind: 'missing';
    };

/**
 * Resolves one `.ksyms` extern. `kernel` is the vmlinux BTF (needed for typed ksyms and
 * kfuncs); `modules` the loaded modules' BTF (`loadKernelModules`), searched only when vmlinux lacks the name (as
 * libbpf does). Addresses read as 0 without CAP_SYSLOG (kptr_restrict); that is the kernel's
 * answer and is passed on, as libbpf does.
 */
export function resolveKsym(ext: ExternSpec, kernel: () => Spec, program?: string, modules: () => readonly KernelModuleBTF[] = () => []): ResolvedKsym {
  const user = program === undefined ? '' : ` used by program ${program}`;
  if (ext.typeless) {
    const address = kallsyms().get(ext.name)?.address;
    if (address !== undefined) return { kind: 'address', address };
    if (ext.weak) return { kind: 'missing' };
    throw new SymbolNotFoundError(ext.name, nearNames(ext.name, kallsyms().sortedNames), `typeless __ksym extern${user}`);
  }
  const want = ext.isFunction ? Func : Var;
  const find = (spec: Spec, from: number): number | undefined =>
    spec.idsByName(ext.name).find((i) => {
      if (i < from) return false;
      const t: Type = spec.typeById(i);
      return t instanceof want && t.name === ext.name;
    });
  const found = findInKernelBTF(kernel(), modules, find);
  if (found !== undefined) return found.module === undefined ? { kind: 'btf', id: found.id } : { kind: 'btf', id: found.id, module: found.module };
  if (ext.weak) return { kind: 'missing' };
  throw new UnresolvedExternError(
    ext.name,
    `no ${ext.isFunction ? 'kfunc (FUNC)' : 'variable (VAR)'} of that name in the kernel's BTF${user}, ${missingFromModulesHint(ext.name)}`,
  );
}

/** `call` to a helper id no kernel has: libbpf's marker for an unresolved weak kfunc (dead code). */
export const POISON_KFUNC = 2002000000;

/**
 * Writes a resolved `.ksyms` extern into the instruction that refers to it: an `ld_imm64` of
 * a variable or a kfunc call. A module's BTF object is opened through `modules` and named
 * as the kernel expects: a kfunc call's `off` is its index in the program's `fdArray`, a
 * typed variable's second `imm` the fd itself (check_pseudo_btf_id() reads it there).
 */
export function applyKsym(insn: Instruction, r: ResolvedKsym, modules: ModuleBTFFds, fdArray: FdArray): void {
  if (insn.isLoadImm64) {
    if (r.kind === 'address') {
      insn.src = PseudoSource.None as number;
      insn.constant = r.address;
    } else if (r.kind === 'btf') {
      // imm: the VAR's id; the second slot's imm (the high half): a module BTF fd, 0 for vmlinux.
      insn.src = PseudoSource.BTFID as number;
      const fd = r.module === undefined ? 0 : modules.fd(r.module);
      insn.constant = (BigInt(fd) << 32n) | BigInt(r.id);
    } else {
      insn.src = PseudoSource.None as number;
      insn.constant = 0n;
    }
  } else if (insn.isCall && insn.src === (PseudoCall.KfuncCall as number)) {
    if (r.kind === 'btf') {
      insn.constant = r.id;
      insn.offset = r.module === undefined ? 0 : fdArray.index(modules.fd(r.module)); // 0: vmlinux
    } else {
      // A weak kfunc the kernel lacks: a call no kernel knows, which the verifier accepts
      // only where it is dead code (guarded by bpf_ksym_exists()).
      insn.src = PseudoCall.Helper as number;
      insn.constant = POISON_KFUNC;
    }
  }
}

/** Up to five names sharing the longest prefix with `name`, for "did you mean". */
function nearNames(name: string, names: readonly string[]): string[] {
  const scored: [number, string][] = [];
  for (const n of names) {
    let p = 0;
    while (p < n.length && p < name.length && n[p] === name[p]) p++;
    if (p >= Math.min(4, name.length)) scored.push([p, n]);
  }
  return scored.sort((a, b) => b[0] - a[0]).slice(0, 5).map(([, n]) => n);
}
