/**
 * The BTF fix-ups that need the object, done once, when it is parsed. clang leaves DATASEC
 * sizes and the offsets of global variables at 0 and records hidden visibility only in the
 * symbol table; those facts are read from the section headers and `.symtab` here and written
 * into the object's BTF (btf/fixup.ts says what each fix-up is for and why the kernel wants
 * it). A spec then carries complete BTF, so loading it never reads ELF again, and a spec
 * parsed from bytes in memory loads exactly like one read from a file.
 *
 * @module
 */
import { FixupError, fixupSpec, type FixupSections, type FixupSymbol } from '../btf/fixup.js';
import type { Spec } from '../btf/spec.js';
import { ParseError } from '../errors.js';
import { SymbolBind, SymbolType, SymbolVisibility } from './constants.js';
import type { ELFFile } from './file.js';

/** The ELF facts the fix-ups need: see {@link fixupSpec}. */
export interface FixupFacts {
  /** Every named section: its size and the offsets and visibility of its variables. */
  readonly sections: FixupSections;
  /** Global functions whose symbol has hidden or internal visibility. */
  readonly hiddenFunctions: string[];
}

/** Reads the {@link FixupFacts} of an object. */
export function fixupFacts(file: ELFFile): FixupFacts {
  const symbols = new Map<number, Map<string, FixupSymbol>>();
  const hiddenFunctions: string[] = [];
  for (const sym of file.symbols) {
    // Only symbols defined in a named section (not externs, not SHN_ABS and friends).
    if ((file.sections[sym.sectionIndex]?.name ?? '') === '') continue;
    const hidden = sym.visibility === SymbolVisibility.Hidden || sym.visibility === SymbolVisibility.Internal;
    if (sym.type === SymbolType.Func && sym.bind !== SymbolBind.Local && hidden) hiddenFunctions.push(sym.name);
    if (sym.type !== SymbolType.Object || sym.name === '') continue;
    let inSection = symbols.get(sym.sectionIndex);
    if (inSection === undefined) symbols.set(sym.sectionIndex, (inSection = new Map()));
    inSection.set(sym.name, { offset: sym.value, hidden });
  }
  const sections: FixupSections = new Map();
  for (const section of file.sections) {
    if (section.name === '') continue;
    sections.set(section.name, { size: section.size, symbols: symbols.get(section.index) ?? new Map() });
  }
  return { sections, hiddenFunctions };
}

/**
 * Completes the object's BTF in place from `file`. BTF that cannot be completed (a DATASEC
 * with no section of its name, a global variable with no symbol) makes the object malformed,
 * as it does for libbpf: a {@link ParseError}.
 */
export function fixupObjectBTF(file: ELFFile, btf: Spec): void {
  const { sections, hiddenFunctions } = fixupFacts(file);
  try {
    fixupSpec(btf, sections, { hiddenFunctions });
  } catch (e) {
    if (e instanceof FixupError) throw new ParseError(`section .BTF: ${e.message}`, file.section('.BTF')?.offset);
    throw e;
  }
}
