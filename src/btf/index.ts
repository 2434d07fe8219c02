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
  kernelBTFDir,
  kernelBTFPath,
  kernelModuleNames,
  kernelModuleOf,
  loadKernelModules,
  loadKernelModuleSpec,
  loadKernelModuleSpecs,
  type KernelModuleBTF,
  loadKernelSpec,
  parseBTFOrELF,
  vmlinuxSearchPaths,
} from './kernel.js';
export { findELFSection, isELF, type ELFSection } from './elf-section.js';
export {
  btfExtCOREHeaderSize,
  btfExtMagic,
  btfExtMinHeaderSize,
  formatCORERelocation,
  kernelFuncInfoSize,
  kernelLineInfoSize,
  marshalFuncInfos,
  marshalLineInfos,
  minRecordSize,
  parseBTFExt,
  type BTFExt,
  type BTFExtHeader,
  type CORERelocation,
  type ExtMarshalOptions,
  type ExtSections,
  type FuncInfo,
  type LineInfo,
} from './ext.js';
export { COREKind, coreKindName, isEnumvalKind, isFieldKind, isTypeKind } from './core-kind.js';
export {
  CORECompatDepthError,
  fieldsAreCompatible,
  isAnyEnum,
  isComposite,
  kindsCompatible,
  namesMatch,
  typesAreCompatible,
  typesMatch,
} from './core-compat.js';
export {
  COREAccessError,
  formatAccess,
  matchAccess,
  maxAccessLength,
  parseAccess,
  type COREAccessSpec,
  type COREAccessor,
  type COREMismatch,
} from './core-access.js';
export {
  COREPatchError,
  applyCOREResult,
  isPoisoned,
  poisonInstruction,
  type COREPatch,
  type COREPatchKind,
  type COREResult,
} from './core-patch.js';
export {
  CORECandidateCache,
  COREError,
  coreRelocate,
  corePoisonHelperId,
  corePoisonMessage,
  findCandidates,
  findPoison,
  type CORECandidate,
  type COREFixup,
  type COREPoison,
  type CORERelocateOptions,
  type CORERelocateResult,
} from './core.js';
export { decodeValue, encodeValue, type DecodeOptions, type DecodedValue } from './decode.js';
export {
  checkInt,
  checkNumber,
  codecFor,
  codecOf,
  decodeCString,
  encodeCString,
  enumNames,
  rawCodec,
  readBits,
  shapeSize,
  writeBits,
  type BTFCodec,
  type Codec,
  type CodecOptions,
} from './codec.js';
export {
  bitWindow,
  shapeOf,
  type ArrayShape,
  type CharArrayMode,
  type CharsShape,
  type CompositeShape,
  type DatasecShape,
  type EnumShape,
  type FieldShape,
  type FloatShape,
  type IntShape,
  type PointerShape,
  type Shape,
  type ShapeOptions,
} from './shape.js';
export {
  FixupError,
  fixupSpec,
  kconfigSection,
  ksymPlaceholderName,
  ksymsSection,
  paramNamePrefix,
  type FixupOptions,
  type FixupReport,
  type FixupSection,
  type FixupSections,
  type FixupSymbol,
} from './fixup.js';
export {
  btfFeatureNames,
  enum64PlaceholderName,
  sanitizeSpec,
  sanitizedParamPrefix,
  type BTFFeatureName,
} from './sanitize.js';
