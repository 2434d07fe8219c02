/**
 * The ELF reader: BPF objects (clang `-target bpfel`/`bpfeb` `.o` files) to sections, symbols,
 * relocations, map definitions, global data, externs and linked programs. Pure parsing: this
 * package never talks to the kernel (and never imports src/sys). `parseCollectionSpec` in
 * collection-spec.ts is the public entry point built on it.
 *
 * @module
 */
export * from './constants.js';
export { ELFFile, readELF, symbolName, type ELFRelocation, type ELFSection, type ELFSymbol } from './file.js';
export { classifySection, isDataKind, type SectionKind } from './classify.js';
export {
  BPF_F_SLEEPABLE,
  BPF_F_XDP_HAS_FRAGS,
  parseSectionName,
  sectionDefinitions,
  type SectionDefinition,
  type SectionInfo,
  type SectionMatch,
} from './section-names.js';
export { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, kconfigMapName } from './data.js';
export { UnknownVariableError, VariableSpec, type VariableValue } from './variables.js';
export { fixupFunctionReferences, isFunctionReference, linkProgram, type LinkedProgram } from './link.js';
export {
  checkReferences,
  resolveReference,
  symbolicReferences,
  UnresolvedReferenceError,
  type ReferenceScope,
  type ReferenceTarget,
  type SymbolicReference,
} from './references.js';
export { linkELF, type LinkObjectInput } from './linker.js';
export { LinkError, resolveGlobals, type GlobalSymbol, type InputSymbol, type LinkInput } from './link-symbols.js';
export { writeELF, type OutputObject, type OutputRelocation, type OutputSection, type OutputSymbol } from './writer.js';
export { readFunctions, type CodeFunction, type ReferenceTargets } from './code.js';
export { findDatasec, type MapDefinitions } from './maps.js';
export { readObject, type ObjectContents } from './reader.js';
export { attachLines, programExtInfo, type ProgramExtInfo } from './ext-info.js';
export type { ELFMapSpec, ELFProgramSpec, ExternKind, ExternSpec, MapSlotReference, StructOpsFunction, StructOpsSpec } from './specs.js';
export { isFunctionPointer, parseStructOps, structOpsLinkSection } from './struct-ops.js';
