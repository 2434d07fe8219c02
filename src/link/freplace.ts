/**
 * freplace: an extension program (BPF_PROG_TYPE_EXT, Linux 5.6, "bpf: Introduce dynamic program
 * extensions") takes the place of one global function of a loaded BPF program while its link
 * exists; closing the link puts the original back. libbpf calls the sections `freplace/<fn>`.
 *
 * The kernel ties the extension to its target twice:
 *
 * - at load: `attach_prog_fd` is the target program and `attach_btf_id` the id of the
 *   function's BTF FUNC *in the target's own BTF* (not vmlinux). The verifier checks the
 *   extension against that function's prototype, so the target must have been loaded with BTF
 *   (func_info), and the function must be global: static functions are verified as part of
 *   their callers, with what the callers pass, so bpf_check_attach_target() refuses them;
 * - at attach: BPF_LINK_CREATE with `target_fd` and `target_btf_id` (5.10, "bpf: Support
 *   attaching freplace programs to multiple attach points"), which may name the load-time
 *   target or another program with a function of the same prototype. Older kernels attach
 *   with BPF_RAW_TRACEPOINT_OPEN, to the load-time target only.
 *
 * @module
 */
import { btfSpecById } from '../btf-by-id.js';
import type { Spec } from '../btf/spec.js';
import { Func, FuncLinkage } from '../btf/types.js';
import { ArgumentError, AttachTargetError } from '../errors.js';
import { readProgramCode } from '../internal/bpf-prog-code.js';
import { editDistance } from '../internal/kallsyms.js';
import { Program } from '../prog.js';
import type { ProgramSpec } from '../prog-spec.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { LinkCreate, RawTracepointOpen } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';

/** Why a function cannot be replaced: see {@link FreplaceTargetError}. */
export type FreplaceTargetProblem =
  /** The target program was loaded without BTF: its functions have no ids to name. */
  | 'no-btf'
  /** The target program has no function of that name. */
  | 'missing'
  /** The function is static; the kernel replaces global functions only. */
  | 'static';

/**
 * The function an freplace program was to replace cannot be: the target program has no BTF,
 * has no function of that name, or has it as a static function. `globalFunctions` lists what
 * could be replaced instead.
 */
export class FreplaceTargetError extends AttachTargetError {
  /** The target program's name. */
  readonly program: string;
  /** The function asked for. */
  readonly function: string;
  /** What is wrong with it. */
  readonly problem: FreplaceTargetProblem;
  /** The target program's global functions (the ones an extension can replace), sorted. */
  readonly globalFunctions: readonly string[];

  constructor(program: string, fn: string, problem: FreplaceTargetProblem, globalFunctions: readonly string[], message: string) {
    super('program', fn, message);
    this.program = program;
    this.function = fn;
    this.problem = problem;
    this.globalFunctions = globalFunctions;
  }
}

/** The FUNC types of the target program (from its func_info), or of its whole BTF when the kernel reported none. */
function targetFunctions(spec: Spec, funcInfoIds: readonly number[]): Func[] {
  if (funcInfoIds.length > 0) return funcInfoIds.map((id) => spec.typeById(id)).filter((t): t is Func => t instanceof Func);
  return [...spec.types()].filter((t): t is Func => t instanceof Func);
}

/**
 * The BTF id of `fnName` in the program `targetFd` (named `targetName` in messages): what an
 * extension is loaded with as `attach_btf_id` and attached with as `target_btf_id`.
 */
function resolveFunction(targetFd: number, targetName: string, fnName: string): number {
  if (typeof fnName !== 'string' || fnName === '') throw new ArgumentError(`the function to replace must be a non-empty name, got ${JSON.stringify(fnName)}`);
  const code = readProgramCode(targetFd, { btfRecords: true });
  const who = `program ${targetName}`;
  if (code.btfId === 0) {
    throw new FreplaceTargetError(targetName, fnName, 'no-btf', [],
      `cannot replace ${fnName} in ${who}: it was loaded without BTF, so its functions have no BTF ids (load it from an object compiled with -g, with its BTF)`);
  }
  const spec = btfSpecById(code.btfId);
  const funcs = targetFunctions(spec, code.funcInfo.map((f) => f.typeId));
  const globals = [...new Set(funcs.filter((f) => f.linkage === FuncLinkage.Global).map((f) => f.name))].sort();
  const found = funcs.find((f) => f.name === fnName);
  if (found === undefined) {
    const near = globals.filter((n) => editDistance(fnName, n, 3) <= 3 || n.includes(fnName) || fnName.includes(n));
    const hint = near.length > 0 ? `; did you mean ${near.join(', ')}?` : globals.length > 0 ? ` (its global functions: ${globals.join(', ')})` : ' (it has no global functions)';
    throw new FreplaceTargetError(targetName, fnName, 'missing', globals, `${who} has no function ${fnName}${hint}`);
  }
  if (found.linkage !== FuncLinkage.Global) {
    throw new FreplaceTargetError(targetName, fnName, 'static', globals,
      `function ${fnName} of ${who} is static: the kernel replaces only global functions, which it verifies on their own ` +
        `(declare it without static, and __noinline so that it stays a function)${globals.length > 0 ? `; its global functions: ${globals.join(', ')}` : ''}`);
  }
  return spec.typeId(found);
}

function checkTarget(target: unknown, fn: string): asserts target is Program {
  if (!(target instanceof Program)) throw new ArgumentError(`${fn} needs the target as a loaded Program, got ${target === null ? 'null' : typeof target}`);
}

/**
 * The BTF id of the global function `fnName` in the loaded program `target`'s BTF: the
 * `attachBtfId` an freplace program is loaded with (with `attachProgFd: target.fd`), as
 * libbpf's `bpf_program__set_attach_target()` finds it. `loadCollection` does this itself for
 * the programs in its `freplaceTargets` option; this is for specs loaded with `Program.load`.
 *
 * Minimum kernel: 5.0 (program BTF); freplace itself needs 5.6.
 *
 * @example
 * ```ts
 * const spec = { ...collSpec.programs.new_get_value, attachProgFd: target.fd, attachBtfId: freplaceTargetBtfId(target, 'get_value') };
 * using ext = Program.load(spec);
 * ```
 * @throws {@link FreplaceTargetError} when `target` was loaded without BTF, has no function
 * `fnName`, or has it as a static function; {@link ArgumentError} for a bad argument.
 */
export function freplaceTargetBtfId(target: Program, fnName: string): number {
  checkTarget(target, 'freplaceTargetBtfId');
  return resolveFunction(target.fd, target.name, fnName);
}

/** Where an freplace program goes, as `loadCollection`'s `freplaceTargets` option gives it. */
export type FreplaceTarget =
  | Program
  | {
      /** The loaded program whose function is replaced. */
      readonly program: Program;
      /** The global function of `program` to replace. */
      readonly function: string;
    };

/**
 * The load fields of the freplace program `p`: `attachProgFd` and `attachBtfId` from `target`,
 * the function named by `target.function` or else by the section (`freplace/<fn>`). A spec
 * that already carries `attachProgFd` (and no target is given) keeps it, and only the BTF id
 * is looked up.
 */
export function freplaceLoadFields(
  p: Pick<ProgramSpec, 'name' | 'sectionName' | 'attachTo' | 'attachProgFd' | 'attachBtfId'>,
  target: FreplaceTarget | undefined,
): Pick<ProgramSpec, 'attachProgFd' | 'attachBtfId'> {
  const name = p.name ?? p.sectionName ?? 'freplace';
  if (target === undefined) {
    if (p.attachProgFd === undefined || p.attachProgFd === 0) {
      throw new ArgumentError(
        `program ${name} (${p.sectionName ?? 'EXT'}) replaces a function of another program, and nothing says which: ` +
          `pass it to loadCollection as freplaceTargets: { ${name}: targetProgram }, or set attachProgFd and attachBtfId in its spec (see freplaceTargetBtfId)`,
      );
    }
    if (p.attachBtfId !== undefined && p.attachBtfId !== 0) return { attachProgFd: p.attachProgFd, attachBtfId: p.attachBtfId };
    const fn = p.attachTo ?? '';
    if (fn === '') throw new ArgumentError(`program ${name}: its section ${p.sectionName ?? '(none)'} names no function to replace; use freplace/<function>`);
    return { attachProgFd: p.attachProgFd, attachBtfId: resolveFunction(p.attachProgFd, `fd ${p.attachProgFd}`, fn) };
  }
  const program = target instanceof Program ? target : target?.program;
  checkTarget(program, `freplaceTargets.${name}`);
  const fn = target instanceof Program ? (p.attachTo ?? '') : target.function;
  if (fn === '') {
    throw new ArgumentError(`program ${name}: its section ${p.sectionName ?? '(none)'} names no function to replace: give it, freplaceTargets: { ${name}: { program, function: 'fn' } }`);
  }
  return { attachProgFd: program.fd, attachBtfId: resolveFunction(program.fd, program.name, fn) };
}

/** Explanation of BPF_LINK_CREATE errnos for an extension (bpf_tracing_prog_attach()). */
function explain(errno: number, prog: Program, target: Program, fnName: string): string | undefined {
  switch (errno) {
    case Errno.EINVAL:
      return (
        `${fnName} of ${target.name} does not match ${prog.name}: their prototypes differ, the target is not JITed, ` +
        `is itself an extension, or (before Linux 5.10) is not the program ${prog.name} was loaded for`
      );
    case Errno.EBUSY:
    case Errno.EEXIST:
      return `${prog.name} is already attached to ${fnName} of ${target.name}: close that link first, or load the extension again`;
    case Errno.EPERM:
      return 'replacing functions of BPF programs needs CAP_BPF and CAP_SYS_ADMIN (or root), and a kernel that allows trampolines (not in lockdown)';
    default:
      return undefined;
  }
}

/**
 * Attaches the freplace (EXT) program `prog` in place of the global function `fnName` of
 * `target`: every call of that function in `target` runs `prog` instead, until the link
 * closes. `prog` must have been loaded for a function of the same prototype (the
 * `freplaceTargets` option of `loadCollection`, or `attachProgFd`/`attachBtfId` in its spec);
 * from Linux 5.10 `target` may be that program or another one with such a function.
 *
 * Minimum kernel: 5.6 (the load-time target only, through BPF_RAW_TRACEPOINT_OPEN); 5.10 for
 * BPF_LINK_CREATE with any target.
 *
 * @example
 * ```ts
 * import { attachFreplace, loadCollection } from 'ebpf-ts';
 * using app = await loadCollection('app.bpf.o');
 * const target = app.programs.handle_packet;
 * using ext = await loadCollection('policy.bpf.o', { freplaceTargets: { new_policy: target } });
 * using link = attachFreplace(ext.programs.new_policy, target, 'policy');
 * ```
 * @throws {@link ArgumentError} for a program that is not EXT or a target that is not a
 * Program; {@link FreplaceTargetError} when `target` has no BTF, no global function `fnName`,
 * or has it static; {@link SyscallError} when the kernel refuses (with a hint).
 */
export function attachFreplace(prog: Program, target: Program, fnName: string): Link {
  if (!(prog instanceof Program) || prog.type !== ProgramType.Ext) {
    const what = prog instanceof Program ? `${prog.name} is ${programTypeName(prog.type)}` : 'got something that is not a Program';
    throw new ArgumentError(`attachFreplace needs an EXT (freplace) program; ${what}`);
  }
  checkTarget(target, 'attachFreplace');
  const btfId = resolveFunction(target.fd, target.name, fnName);
  const what = `freplace ${fnName} of ${target.name}`;
  const ctx = { context: `attach ${prog.name} to ${what}`, explain: (errno: number) => explain(errno, prog, target, fnName) };
  // Before 5.10 BPF_LINK_CREATE refuses EXT programs (EINVAL); a NULL name makes
  // bpf_raw_tp_open() attach the program where it was loaded for.
  const fd = kernelVersion().atLeast('5.10')
    ? bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: target.fd, attach_type: AttachType.None, flags: 0, target_btf_id: btfId }, ctx)
    : bpfCall(RawTracepointOpen, { name: null, prog_fd: prog.fd }, ctx);
  return Link.adopt({ fd, mode: 'bpf-link', what });
}
