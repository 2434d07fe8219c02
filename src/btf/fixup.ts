/**
 * Fix-ups: completing what the compiler could not know when it wrote `.BTF`, so that the
 * kernel's BTF checker (kernel/bpf/btf.c) accepts the blob. This is about the *object*, not
 * the running kernel: the result is the same on every kernel. Hiding what an old kernel does
 * not understand is a separate step ({@link sanitizeSpec}); aya-obj draws the same line.
 *
 * What clang leaves incomplete, and what the kernel insists on:
 * - DATASEC sizes and the offsets of global variables are 0 in a `.o` (they are only known
 *   after the ELF sections are laid out); btf_datasec_check_meta() rejects a var outside its
 *   section and btf_datasec_resolve() a section whose vars overlap or are unsorted. The sizes
 *   come from the ELF section headers and the offsets from the symbol table, passed in as plain
 *   data ({@link FixupSections}) so this module needs no ELF reader.
 * - Extern declarations: btf_var_check_meta() accepts only static and allocated-global VARs,
 *   btf_func_check_meta() only static and global FUNCs. `.kconfig` and `.ksyms` externs
 *   become allocated globals laid out in their own DATASEC, extern FUNCs in `.ksyms` are
 *   swapped for a 4-byte placeholder VAR, and every remaining extern FUNC becomes global.
 * - btf_func_check() wants every parameter of a FUNC's prototype named; prototypes of extern
 *   kfuncs often are not (a declaration may omit names).
 * - Symbols with hidden or internal visibility: a global function so marked is verified as a
 *   static one (more context from its callers), a global variable so marked is static. The
 *   loader tells us which via {@link FixupOptions.hiddenFunctions} and the symbol entries.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import type { Spec } from './spec.js';
import {
  Array as ArrayType,
  Composite,
  Datasec,
  Func,
  FuncLinkage,
  FuncProto,
  Int,
  IntEncoding,
  Type,
  Var,
  VarLinkage,
  skipQualifiersAndTypedefs,
  sizeof,
} from './types.js';

/** Thrown when the BTF and the ELF description given to {@link fixupSpec} disagree. */
export class FixupError extends BpfError {}

/** A symbol's place in its section, as the ELF symbol table says. */
export interface FixupSymbol {
  /** `st_value`: the byte offset of the variable inside its section. */
  offset: number;
  /** True if `st_other` gives STV_HIDDEN or STV_INTERNAL visibility. */
  hidden?: boolean;
}

/** One ELF section as far as BTF fix-ups care: its size and the variables defined in it. */
export interface FixupSection {
  /** `sh_size` of the section. */
  size: number;
  /** Variable symbols defined in the section (STT_OBJECT, global or weak), by name. */
  symbols: Map<string, number | FixupSymbol>;
}

/**
 * The ELF facts fix-ups need, by section name (`.data`, `.rodata.str1.1`, `.maps`,
 * `license`, …). A `.kconfig` entry, when present, gives the layout the loader chose for
 * kconfig externs (its `symbols` offsets and total `size`).
 */
export type FixupSections = Map<string, FixupSection>;

/** Options of {@link fixupSpec}. */
export interface FixupOptions {
  /** Global functions whose ELF symbol has hidden/internal visibility: made static in BTF. */
  hiddenFunctions?: Iterable<string>;
}

/** What {@link fixupSpec} changed, for logs and tests. */
export interface FixupReport {
  /** DATASECs whose size was filled in, with the size. */
  readonly datasecSizes: Map<string, number>;
  /** Number of VAR offsets taken from the symbol table. */
  readonly varOffsets: number;
  /** Names of FUNCs whose linkage changed (extern → global, hidden global → static). */
  readonly funcLinkage: string[];
  /** Names of VARs whose linkage changed (extern → global, hidden global → static). */
  readonly varLinkage: string[];
  /** Number of FUNC_PROTO parameters that were given a name. */
  readonly paramNames: number;
  /** The ID of the placeholder VAR added for extern functions in `.ksyms`, if one was. */
  readonly ksymPlaceholder: number | undefined;
}

/** Name of the DATASEC of kconfig externs (libbpf's convention). */
export const kconfigSection = '.kconfig';
/** Name of the DATASEC of kernel symbol externs (libbpf's convention). */
export const ksymsSection = '.ksyms';
/** Name given to the placeholder VAR that stands for extern functions in `.ksyms`. */
export const ksymPlaceholderName = 'dummy_ksym';
/** Prefix of the names given to unnamed FUNC_PROTO parameters (`arg0`, `arg1`, …). */
export const paramNamePrefix = 'arg';

/**
 * Completes a spec parsed from an object file so the kernel accepts it: DATASEC sizes, VAR
 * offsets, extern and hidden linkage, parameter names (see the module comment for why each).
 * Edits `spec` in place (copy a shared spec first) and keeps every type ID (one placeholder
 * VAR and one `int` may be appended). Idempotent: fixing a fixed spec changes nothing.
 *
 * @throws {@link FixupError} when a DATASEC's size is unknown and the ELF description has no
 * such section, or a global variable has no symbol (libbpf fails the same way).
 */
export function fixupSpec(spec: Spec, sections: FixupSections = new Map(), options: FixupOptions = {}): FixupReport {
  const report = {
    datasecSizes: new Map<string, number>(),
    varOffsets: 0,
    funcLinkage: [] as string[],
    varLinkage: [] as string[],
    paramNames: 0,
    ksymPlaceholder: undefined as number | undefined,
  };
  const own = [...spec.entries()];
  const hidden = new Set(options.hiddenFunctions ?? []);
  for (const [, t] of own) {
    if (!(t instanceof Datasec)) continue;
    if (t.name === kconfigSection) fixKconfig(t, sections.get(t.name), report);
    else if (t.name === ksymsSection) fixKsyms(spec, t, report);
    else fixDatasec(t, sections.get(t.name), report);
    // btf_datasec_resolve() wants vars in ascending offset order; sort() is stable.
    t.vars.sort((a, b) => a.offset - b.offset);
  }
  for (const [, t] of own) {
    if (t instanceof Var && t.linkage === VarLinkage.Extern) {
      // An extern outside .kconfig/.ksyms (e.g. left for a linker): the kernel knows no
      // extern VARs at all (btf_var_check_meta()).
      t.linkage = VarLinkage.Global;
      report.varLinkage.push(t.name);
    }
    if (!(t instanceof Func)) continue;
    if (t.linkage === FuncLinkage.Extern) {
      // btf_func_check_meta(): "Invalid func linkage" for anything above BTF_FUNC_GLOBAL.
      t.linkage = FuncLinkage.Global;
      report.funcLinkage.push(t.name);
    } else if (t.linkage === FuncLinkage.Global && hidden.has(t.name)) {
      t.linkage = FuncLinkage.Static;
      report.funcLinkage.push(t.name);
    }
    if (t.type instanceof FuncProto) report.paramNames += nameParams(t.type);
  }
  return report;
}

type MutableReport = { -readonly [K in keyof FixupReport]: FixupReport[K] };

/**
 * An ordinary data section: the size from the section header and, only when the compiler
 * left the size at 0, the offsets from the symbols (a linked object already has both right,
 * as libbpf's btf_fixup_datasec() also assumes). Hidden globals become static either way.
 */
function fixDatasec(sec: Datasec, elf: FixupSection | undefined, report: MutableReport): void {
  let fixOffsets = false;
  if (sec.size === 0) {
    if (elf === undefined || elf.size === 0) {
      throw new FixupError(`DATASEC ${sec.name}: size is 0 in BTF and the object has no section of that name with a size`);
    }
    sec.size = elf.size;
    report.datasecSizes.set(sec.name, elf.size);
    fixOffsets = true;
  }
  for (const info of sec.vars) {
    const v = info.type;
    if (!(v instanceof Var)) throw new FixupError(`DATASEC ${sec.name} holds ${v}, expected variables`);
    // Static variables carry their offset in BTF already; externs are not placed here.
    if (v.linkage === VarLinkage.Static || v.linkage === VarLinkage.Extern) continue;
    const entry = elf?.symbols.get(v.name);
    if (entry === undefined) {
      if (!fixOffsets) continue;
      throw new FixupError(`DATASEC ${sec.name}: no symbol for global variable ${v.name}, so its offset is unknown`);
    }
    const symbol = typeof entry === 'number' ? { offset: entry } : entry;
    if (fixOffsets && info.offset !== symbol.offset) {
      info.offset = symbol.offset;
      report.varOffsets++;
    }
    if (symbol.hidden === true) {
      v.linkage = VarLinkage.Static;
      report.varLinkage.push(v.name);
    }
  }
}

/**
 * `.kconfig` externs: the layout the loader chose when it is given, else (size still 0) the
 * variables in DATASEC order at their natural alignment, the order the ELF reader lays out
 * the `.kconfig` map value in. Either way they become allocated globals.
 */
function fixKconfig(sec: Datasec, elf: FixupSection | undefined, report: MutableReport): void {
  if (elf !== undefined) {
    for (const info of sec.vars) {
      const entry = elf.symbols.get(info.type.name);
      if (entry !== undefined) info.offset = typeof entry === 'number' ? entry : entry.offset;
    }
    if (elf.size > 0) sec.size = elf.size;
  } else if (sec.size === 0) {
    let offset = 0;
    for (const info of sec.vars) {
      const target = info.type instanceof Var ? info.type.type : info.type;
      const size = sizeOrZero(target);
      const align = alignOf(target);
      offset = Math.ceil(offset / align) * align;
      info.offset = offset;
      if (size > 0) info.size = size;
      offset += info.size;
    }
    sec.size = Math.max(8, Math.ceil(offset / 8) * 8);
    report.datasecSizes.set(sec.name, sec.size);
  }
  for (const info of sec.vars) {
    const v = info.type;
    if (v instanceof Var && v.linkage !== VarLinkage.Global) {
      v.linkage = VarLinkage.Global;
      report.varLinkage.push(v.name);
    }
  }
}

/**
 * `.ksyms` externs are resolved against the kernel at load time; in the BTF blob they only
 * need to be valid. Each becomes a 4-byte allocated global at its own offset: VARs get type
 * `int`, extern FUNCs are replaced in the DATASEC by one shared placeholder VAR (a DATASEC
 * may only hold VARs, btf_datasec_check_meta()) and become global FUNCs themselves.
 */
function fixKsyms(spec: Spec, sec: Datasec, report: MutableReport): void {
  if (sec.vars.length === 0) return;
  let int: Type | undefined;
  const intType = (): Type => (int ??= findInt32(spec) ?? new Int('int', 4, IntEncoding.Signed));
  let placeholder: Var | undefined;
  sec.vars.forEach((info, i) => {
    const t = info.type;
    if (t instanceof Func) {
      if (placeholder === undefined) {
        placeholder = new Var(ksymPlaceholderName, intType(), VarLinkage.Global);
        report.ksymPlaceholder = spec.add(placeholder);
      }
      if (t.linkage !== FuncLinkage.Global) {
        t.linkage = FuncLinkage.Global;
        report.funcLinkage.push(t.name);
      }
      info.type = placeholder;
    } else if (t instanceof Var) {
      if (t.linkage !== VarLinkage.Global) {
        t.linkage = VarLinkage.Global;
        report.varLinkage.push(t.name);
      }
      t.type = intType();
    }
    info.offset = i * 4;
    info.size = 4;
  });
  sec.size = sec.vars.length * 4;
  report.datasecSizes.set(sec.name, sec.size);
  if (int !== undefined && !spec.has(int)) spec.add(int);
}

/** Names unnamed parameters `argN` (kernel: btf_func_check() "Invalid arg#N"). */
function nameParams(proto: FuncProto): number {
  let n = 0;
  proto.params.forEach((p, i) => {
    if (p.name === '') {
      p.name = `${paramNamePrefix}${i}`;
      n++;
    }
  });
  return n;
}

function findInt32(spec: Spec): Type | undefined {
  for (const [, t] of spec.entries()) if (t instanceof Int && t.bits === 32 && t.size === 4 && t.offset === 0) return t;
  return undefined;
}

function sizeOrZero(t: Type): number {
  try {
    return sizeof(t);
  } catch {
    return 0;
  }
}

function alignOf(type: Type): number {
  let t: Type;
  try {
    t = skipQualifiersAndTypedefs(type);
  } catch {
    return 1;
  }
  if (t instanceof ArrayType) return alignOf(t.type);
  if (t instanceof Composite) return Math.max(1, ...t.members.map((m) => alignOf(m.type)));
  return Math.min(8, Math.max(1, sizeOrZero(t)));
}
