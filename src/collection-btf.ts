/**
 * The kernel-facing BTF steps of `loadCollection`: loading the object's own BTF (what map
 * key/value types and program func_info/line_info refer to) and finding the kernel BTF id a
 * tracing or LSM program attaches to (in vmlinux or a module).
 *
 * @module
 */
import { kernelBTFDir, kernelModuleNames, type KernelModuleBTF } from './btf/kernel.js';
import type { Spec } from './btf/spec.js';
import { BTFHandle, loadForKernel } from './btf-handle.js';
import { BpfError } from './errors.js';
import type { ELFProgramSpec } from './elf/specs.js';
import { findTracingTarget, tracingKindOf, tracingTargetNotFound, type TracingTargetNotFoundError } from './link/tracing-target.js';
import { findInKernelBTF, missingFromModulesHint, splitModuleTarget } from './module-btf.js';
import { ProgramType } from './types.js';

/** The outcome of loading an object's BTF: a handle, or why there is none. */
export type ObjectBTF = { readonly handle: BTFHandle; readonly reason?: undefined } | { readonly handle: undefined; readonly reason: string };

/**
 * Loads the object's BTF for the running kernel: sanitised for the kinds this kernel lacks,
 * then BPF_BTF_LOAD (see `loadForKernel`). The fix-ups that need the ELF were done when the
 * object was parsed; this never reads it, so every spec takes this one route. A kernel that
 * still refuses the BTF is not fatal: like libbpf, the collection then loads without BTF —
 * maps without key/value types, programs without func_info/line_info — and the reason is
 * kept for messages.
 */
export function loadObjectBTF(spec: Spec): ObjectBTF {
  try {
    const loaded = loadForKernel(spec);
    return { handle: loaded.handle };
  } catch (err) {
    if (err instanceof BpfError) return { handle: undefined, reason: err.message.split('\n')[0]! };
    throw err;
  }
}

/** True for program types whose load needs `attach_btf_id` (a kernel function or hook). */
export function needsAttachBtfId(prog: ELFProgramSpec): boolean {
  return (
    (prog.type === ProgramType.Tracing || prog.type === ProgramType.LSM) &&
    (prog.attachBtfId === undefined || prog.attachBtfId === 0)
  );
}

/** The kernel BTF type a tracing/LSM program attaches to. */
export interface AttachBtfTarget {
  /** `attach_btf_id`. */
  readonly id: number;
  /** The module whose BTF has it (its BTF object fd goes into `attach_btf_obj_fd`); undefined for vmlinux. */
  readonly module: string | undefined;
}

/**
 * The kernel BTF type a tracing/LSM program attaches to, from its section's target (see
 * {@link findTracingTarget} for the names the kernel looks up): in vmlinux first, then in the
 * loaded modules' BTF (`modules()`, read only then), as libbpf does. libbpf's
 * `module:function` form (`fentry/veth:veth_open`) searches that module only (`vmlinux:` only
 * vmlinux). A missing target throws {@link TracingTargetNotFoundError} naming it, with the
 * closest names the kernel has and which module might need loading.
 */
export function attachBtfTarget(prog: ELFProgramSpec, kernel: Spec, modules: () => readonly KernelModuleBTF[]): AttachBtfTarget {
  const target = prog.attachTo ?? '';
  if (target === '') throw new BpfError(`program ${prog.name}: section ${prog.sectionName} names no attach target`);
  // Programs of other attach types (none should get here) are looked up as functions, as before.
  const kind = tracingKindOf(prog.attachType) ?? 'fentry';
  const { module, name } = splitModuleTarget(target);
  const found = findInKernelBTF(kernel, modules, (spec, from) => findTracingTarget(spec, kind, name, from), module);
  if (found !== undefined) return { id: found.id, module: found.module };
  const hint =
    module === undefined
      ? missingFromModulesHint(name)
      : module === 'vmlinux'
        ? 'and its vmlinux: prefix keeps the modules out of the search'
        : kernelModuleNames().includes(module)
          ? `nor in the BTF of module ${module}`
          : `and module ${module} has no BTF loaded (${kernelBTFDir}/${module} is missing: load the module first)`;
  throw tracingTargetNotFound(kernel, kind, name, prog.name, hint);
}
