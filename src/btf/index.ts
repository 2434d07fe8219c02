/**
 * BTF (BPF Type Format): parsing, the type model, kernel BTF discovery, marshalling and C
 * output. Pure TypeScript; never touches the bpf() syscall. Re-exported as the `btf`
 * namespace of `ebpf-ts`.
 *
 * @module
 */
export * from './types.js';
export { AmbiguousTypeError, BTFNotFoundError, TypeNotFoundError } from './errors.js';
export { Spec, parseSpec, type KindFilter, type ParseOptions } from './spec.js';
export {
  RawTypes,
  btfHeaderSize,
  btfMagic,
  detectByteOrder,
  parseHeader,
  type BTFHeader,
  type ByteOrder,
} from './parse.js';
export { StringTable, StringTableBuilder } from './strings.js';
export { marshalSpec, type MarshalOptions } from './marshal.js';
export {
  dumpCHeader,
  formatDeclarator,
  formatType,
  formatTypeName,
  type DumpOptions,
  type FormatOptions,
} from './format.js';
export {
  flushKernelSpecCache,
  kernelBTFPath,
  loadKernelModuleSpec,
  loadKernelSpec,
  parseBTFOrELF,
  vmlinuxSearchPaths,
} from './kernel.js';
export { findELFSection, isELF, type ELFSection } from './elf-section.js';
