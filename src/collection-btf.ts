/**
 * The kernel-facing BTF steps of `loadCollection`: loading the object's own BTF (what map
 * key/value types and program func_info/line_info refer to) and finding the kernel BTF id a
 * tracing or LSM program attaches to.
 *
 * @module
 */
import type { FixupSections, FixupSymbol } from './btf/fixup.js';
import type { Spec } from './btf/spec.js';
import { Array as BTFArray, Composite, Datasec, Var, sizeof, skipQualifiersAndTypedefs, type Type } from './btf/types.js';
import { BTFHandle, loadForKernel } from './btf-handle.js';
import { readELF } from './elf/file.js';
import { STB_LOCAL, STT_FUNC, STT_OBJECT, STV_HIDDEN, STV_INTERNAL } from './internal/elf-constants.js';
import { BpfError } from './errors.js';
import type { ELFProgramSpec } from './elf/specs.js';
import { findTracingTarget, tracingKindOf, tracingTargetNotFound, type TracingTargetNotFoundError } from './link/tracing-target.js';
import { ProgramType } from './types.js';

/** The outcome of loading an object's BTF: a handle, or why there is none. */
export type ObjectBTF = { readonly handle: BTFHandle; readonly reason?: undefined } | { readonly handle: undefined; readonly reason: string };

/**
 * The ELF facts BTF fix-ups need (section sizes, variable offsets, hidden visibility), read
 * from the object's bytes: exact.
 */
export function fixupFromELF(bytes: Uint8Array): { sections: FixupSections; hiddenFunctions: string[] } {
  const file = readELF(bytes);
  const sections: FixupSections = new Map();
  const hiddenFunctions: string[] = [];
  for (const section of file.sections) {
    if (section.name === '') continue;
    const symbols = new Map<string, FixupSymbol>();
    for (const sym of file.symbolsIn(section.index)) {
      const hidden = sym.visibility === STV_HIDDEN || sym.visibility === STV_INTERNAL;
      if (sym.type === STT_OBJECT && sym.name !== '') symbols.set(sym.name, { offset: sym.value, hidden });
      if (sym.type === STT_FUNC && sym.bind !== STB_LOCAL && hidden) hiddenFunctions.push(sym.name);
    }
    sections.set(section.name, { size: section.size, symbols });
  }
  return { sections, hiddenFunctions };
}

/** Natural alignment of a type (how clang places globals in a section). */
function alignOf(type: Type): number {
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof BTFArray) return alignOf(t.type);
  if (t instanceof Composite) return Math.max(1, ...t.members.map((m) => alignOf(m.type)));
  try {
    return Math.min(8, Math.max(1, sizeof(t)));
  } catch {
    return 1;
  }
}

/**
 * The same facts reconstructed from BTF alone, for a {@link CollectionSpec} whose ELF bytes
 * are gone: the ELF reader already completed the global data DATASECs, so only sections such
 * as `license` and `.maps` are left, and clang lays their globals out in definition order
 * (the DATASEC's order) at natural alignment.
 */
export function fixupFromBTF(spec: Spec): FixupSections {
  const sections: FixupSections = new Map();
  for (const [, t] of spec.entries()) {
    if (!(t instanceof Datasec) || t.size !== 0 || t.name === '.kconfig' || t.name === '.ksyms') continue;
    const symbols = new Map<string, number>();
    let offset = 0;
    for (const info of t.vars) {
      if (!(info.type instanceof Var)) continue;
      const a = alignOf(info.type.type);
      offset = Math.ceil(offset / a) * a;
      symbols.set(info.type.name, offset);
      let size = info.size;
      try {
        size = sizeof(info.type.type);
      } catch {
        // keep the DATASEC's own size
      }
      offset += size;
    }
    sections.set(t.name, { size: offset, symbols });
  }
  return sections;
}

/**
 * Loads the object's BTF for the running kernel: fixed up (DATASEC sizes, extern linkage),
 * sanitised for the kinds this kernel lacks, then BPF_BTF_LOAD (see `loadForKernel`). A
 * kernel that still refuses it is not fatal: like libbpf, the collection then loads without
 * BTF — maps without key/value types, programs without func_info/line_info — and the reason
 * is kept for messages.
 */
export function loadObjectBTF(spec: Spec, elf: { sections: FixupSections; hiddenFunctions: string[] } | undefined): ObjectBTF {
  try {
    const loaded = loadForKernel(spec, elf === undefined ? { sections: fixupFromBTF(spec) } : elf);
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

/**
 * The kernel BTF id a tracing/LSM program attaches to, from its section's target (see
 * {@link findTracingTarget} for the names the kernel looks up). A missing target throws
 * {@link TracingTargetNotFoundError} naming it, with the closest names the kernel has.
 */
export function attachBtfId(prog: ELFProgramSpec, kernel: Spec): number {
  const target = prog.attachTo ?? '';
  if (target === '') throw new BpfError(`program ${prog.name}: section ${prog.sectionName} names no attach target`);
  // Programs of other attach types (none should get here) are looked up as functions, as before.
  const kind = tracingKindOf(prog.attachType) ?? 'fentry';
  const id = findTracingTarget(kernel, kind, target);
  if (id === undefined) throw tracingTargetNotFound(kernel, kind, target, prog.name);
  return id;
}
