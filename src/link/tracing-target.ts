/**
 * The kernel BTF type a BTF-attached program (fentry, fexit, fmod_ret, tp_btf, lsm, iter) is
 * loaded against (`attach_btf_id`), and a useful error when the kernel has none: which name
 * was looked up, why it can be missing, and the closest names the kernel does have.
 *
 * The names follow the kernel's checks in bpf_check_attach_target() (kernel/bpf/verifier.c)
 * and the prefixes it adds: tp_btf targets are typedefs `btf_trace_<event>` (declared by
 * DEFINE_EVENT through BPF_RAW_TP), LSM hooks functions `bpf_lsm_<hook>`, iterators functions
 * `bpf_iter_<target>`; fentry/fexit/fmod_ret name the function itself.
 *
 * @module
 */
import { TypeNotFoundError } from '../btf/errors.js';
import type { Spec } from '../btf/spec.js';
import { Kind } from '../btf/types.js';
import { AttachType } from '../types.js';
import { editDistance, kallsyms } from '../internal/kallsyms.js';

/** Kinds of BTF-attached programs, by their section prefix. */
export type TracingKind =
  /** `fentry/<function>` */
  | 'fentry'
  /** `fexit/<function>` */
  | 'fexit'
  /** `fmod_ret/<function>` */
  | 'fmod_ret'
  /** `tp_btf/<tracepoint>` */
  | 'tp_btf'
  /** `lsm/<hook>` (and `lsm_cgroup/<hook>`) */
  | 'lsm'
  /** `iter/<target>` */
  | 'iter';

/** The tracing kind of a program's expected attach type; undefined for other attach types. */
export function tracingKindOf(attachType: AttachType | undefined): TracingKind | undefined {
  switch (attachType) {
    case AttachType.TraceFentry:
      return 'fentry';
    case AttachType.TraceFexit:
      return 'fexit';
    case AttachType.ModifyReturn:
      return 'fmod_ret';
    case AttachType.TraceRawTP:
      return 'tp_btf';
    case AttachType.LSMMAC:
    case AttachType.LSMCgroup:
      return 'lsm';
    case AttachType.TraceIter:
      return 'iter';
    default:
      return undefined;
  }
}

interface Lookup {
  /** The BTF name looked up. */
  readonly name: string;
  /** Its BTF kind. */
  readonly kind: typeof Kind.Func | typeof Kind.Typedef;
  /** The prefix the kernel adds to the target (`btf_trace_`, …), or ''. */
  readonly prefix: string;
}

function lookupOf(kind: TracingKind, target: string): Lookup {
  switch (kind) {
    case 'tp_btf':
      return { name: `btf_trace_${target}`, kind: Kind.Typedef, prefix: 'btf_trace_' };
    case 'lsm':
      return { name: `bpf_lsm_${target}`, kind: Kind.Func, prefix: 'bpf_lsm_' };
    case 'iter':
      return { name: `bpf_iter_${target}`, kind: Kind.Func, prefix: 'bpf_iter_' };
    default:
      return { name: target, kind: Kind.Func, prefix: '' };
  }
}

/**
 * The id of the type `kind`/`target` attaches to in `kernel` (the first one, when static
 * functions of several compilation units share the name), or undefined when there is none.
 * `from` skips lower ids: a module's split BTF searched for its own types only.
 */
export function findTracingTarget(kernel: Spec, kind: TracingKind, target: string, from = 1): number | undefined {
  const { name, kind: want } = lookupOf(kind, target);
  // idsByName matches essential names (without ___flavor suffixes): compare the full name.
  return kernel.idsByName(name).find((id) => {
    if (id < from) return false;
    const t = kernel.typeById(id);
    return t.kind === want && t.name === name;
  });
}

/** Names of every type of `kind` in `spec` with `prefix`, the prefix removed. */
function namesOfKind(spec: Spec, kind: Kind, prefix: string): string[] {
  const out: string[] = [];
  const raw = spec.raw;
  if (raw !== undefined && spec.base === undefined) {
    // Without decoding: the kernel's BTF has >100k types, and this runs on an error path.
    for (let id = raw.firstId; id < raw.endId; id++) {
      if (raw.kindOf(id) !== kind) continue;
      const name = raw.nameOf(id);
      if (name.startsWith(prefix)) out.push(name.slice(prefix.length));
    }
    return out;
  }
  for (const t of spec.types()) {
    if (t.kind === kind && t.name !== undefined && t.name.startsWith(prefix)) out.push(t.name.slice(prefix.length));
  }
  return out;
}

// x86_64, i386 compat, arm64, s390x, riscv and powerpc syscall wrappers: on x86 SYSCALL_DEFINE0
// makes __x64_sys_<name> an alias of __do_sys_<name>, and aliases get no BTF FUNC of their own.
const SYSCALL_WRAPPER = /^__(?:x64|ia32|arm64|s390x|riscv|powerpc)_sys_(\w+)$/;

/**
 * Names of `kernel` close to `target` for a `kind` program, best first: for a syscall wrapper
 * the function behind it, for a tp_btf target written `group/event` the event, then names that
 * extend `target`, then names within a small edit distance.
 */
export function nearTracingTargets(kernel: Spec, kind: TracingKind, target: string, limit = 5): string[] {
  const { kind: want, prefix } = lookupOf(kind, target);
  const names = namesOfKind(kernel, want, prefix);
  const known = new Set(names);
  const out: string[] = [];
  const add = (n: string): void => {
    if (out.length < limit && n !== target && known.has(n) && !out.includes(n)) out.push(n);
  };
  const wrapped = SYSCALL_WRAPPER.exec(target);
  if (wrapped !== null) {
    add(`__do_sys_${wrapped[1]}`);
    add(`__se_sys_${wrapped[1]}`);
  }
  const slash = target.lastIndexOf('/');
  if (slash >= 0) add(target.slice(slash + 1));
  const max = Math.min(3, Math.max(1, Math.floor(target.length / 5)));
  const scored: Array<[number, string]> = [];
  for (const n of names) {
    if (n.length > target.length && n.startsWith(target)) scored.push([0, n]);
    else {
      const d = editDistance(target, n, max);
      if (d <= max) scored.push([d, n]);
    }
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].length - b[1].length || (a[1] < b[1] ? -1 : 1));
  for (const [, n] of scored) add(n);
  return out;
}

/**
 * A BTF-attached program's target is not in the kernel's BTF. A {@link TypeNotFoundError}
 * (the BTF type looked up is `typeName`) that says which program kind and target, why such a
 * name can be missing, and the closest names the kernel has.
 */
export class TracingTargetNotFoundError extends TypeNotFoundError {
  /** The program kind (`fentry`, `tp_btf`, …). */
  readonly tracingKind: TracingKind;
  /** The target as given (`do_unlinkat`, `sched_switch`). */
  readonly target: string;
  /** Targets of the same kind with similar names, closest first. */
  readonly nearMatches: readonly string[];

  constructor(kind: TracingKind, target: string, nearMatches: readonly string[], options: { program?: string; inKallsyms?: boolean; modules?: string } = {}) {
    const { name, kind: btfKind } = lookupOf(kind, target);
    super(name, btfKind === Kind.Func ? 'func' : 'typedef');
    this.tracingKind = kind;
    this.target = target;
    this.nearMatches = nearMatches;
    const who = options.program === undefined ? '' : `program ${options.program}: `;
    const near = nearMatches.length === 0 ? '' : `; did you mean ${nearMatches.join(', ')}?`;
    this.message = `${who}${kind} target ${target} is not in the kernel's BTF: ${missingWhy(kind, target, name, options.inKallsyms, options.modules)}${near}`;
  }
}

/**
 * The error for a `kind` target the kernel's BTF (`kernel`) lacks, with near matches and,
 * for functions, whether /proc/kallsyms knows the name (then it exists but has no BTF).
 * `modules`, when the loaded modules' BTF was searched too, says so and which module might
 * need loading (see `missingFromModulesHint`).
 */
export function tracingTargetNotFound(kernel: Spec, kind: TracingKind, target: string, program?: string, modules?: string): TracingTargetNotFoundError {
  let inKallsyms: boolean | undefined;
  if (lookupOf(kind, target).prefix === '') {
    const table = kallsyms();
    inKallsyms = table.byName.size === 0 ? undefined : table.get(target) !== undefined;
  }
  return new TracingTargetNotFoundError(kind, target, nearTracingTargets(kernel, kind, target), { program, inKallsyms, modules });
}

function missingWhy(kind: TracingKind, target: string, name: string, inKallsyms: boolean | undefined, modules?: string): string {
  switch (kind) {
    case 'tp_btf':
      return `there is no typedef ${name}, so no tracepoint ${target} (tp_btf takes the event name alone, e.g. sched_switch or sys_enter, and needs a kernel with BTF for its tracepoints)`;
    case 'lsm':
      return `there is no function ${name}, so no LSM hook ${target} (LSM programs name the hook without its security_ prefix, e.g. file_open)`;
    case 'iter':
      return `there is no function ${name}, so no BPF iterator ${target}`;
    default: {
      const searched = modules === undefined ? '' : `; not in vmlinux ${modules}`;
      if (inKallsyms === true) {
        return `/proc/kallsyms has ${target} but the BTF has no function of that name (aliases such as the x86 syscall wrappers, and functions whose prototypes pahole could not encode, get none)${searched}`;
      }
      const module = modules === undefined ? 'or in a kernel module, whose BTF was not searched' : 'or in a kernel module';
      return `no function ${target} (it may be inlined into its callers, static and optimised away, renamed in this kernel version, ${module})${searched}`;
    }
  }
}
