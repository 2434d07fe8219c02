/**
 * The whole object, in the order the pieces depend on each other: ELF tables, section
 * classification, BTF, license and version, map definitions, global data and externs (what
 * relocations can point at), then code (functions with resolved references), one linked
 * {@link ELFProgramSpec} per program function, and last the BTF fix-ups that need the ELF
 * (btf-fixup.ts), so that a spec made of the result loads without the object's bytes.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { kernelFuncInfoSize, kernelLineInfoSize, marshalFuncInfos, marshalLineInfos, parseBTFExt, type BTFExt } from '../btf/ext.js';
import { parseSpec, type Spec } from '../btf/spec.js';
import { BpfError, ParseError } from '../errors.js';
import { fixupObjectBTF } from './btf-fixup.js';
import { classifySection, isDataKind, type SectionKind } from './classify.js';
import { readFunctions, type CodeFunction } from './code.js';
import { parseArenaSection } from './arena.js';
import { parseDataSection, parseExterns } from './data.js';
import { readELF, type ELFFile } from './file.js';
import { attachLines, programExtInfo } from './ext-info.js';
import { linkProgram } from './link.js';
import { parseBTFMaps, parseLegacyMaps, type MapDefinitions } from './maps.js';
import { parseSectionName, warnLegacySection } from './section-names.js';
import { parseStructOps } from './struct-ops.js';
import type { ELFMapSpec, ELFProgramSpec, ExternSpec } from './specs.js';
import type { VariableSpec } from './variables.js';

/** Everything {@link readObject} finds in an object. */
export interface ObjectContents {
  /** The ELF tables. */
  readonly file: ELFFile;
  /** The kind of each section, by index. */
  readonly kinds: readonly SectionKind[];
  /** The object's byte order. */
  readonly byteOrder: ByteOrder;
  /**
   * `.BTF`, parsed (lazily, from a copy of the section) and completed with every fix-up that
   * needs the ELF (DATASEC sizes, variable offsets, extern and hidden linkage); undefined
   * without `-g`.
   */
  readonly btf: Spec | undefined;
  /** `.BTF.ext`, parsed; undefined when absent (or without `.BTF`). */
  readonly btfExt: BTFExt | undefined;
  /** The `license` section's string, `""` if absent. */
  readonly license: string;
  /** The `version` section's value, if present. */
  readonly kernelVersion: number | undefined;
  /** Linked programs by name, in section order. */
  readonly programs: Map<string, ELFProgramSpec>;
  /** Every function of every code section, unlinked, by name. */
  readonly functions: Map<string, CodeFunction>;
  /** Maps by name. */
  readonly maps: Map<string, ELFMapSpec>;
  /** Global variables, in section order. */
  readonly variables: VariableSpec[];
  /** Externs by name. */
  readonly externs: Map<string, ExternSpec>;
}

function cString(data: Uint8Array): string {
  const end = data.indexOf(0);
  return new TextDecoder().decode(end < 0 ? data : data.subarray(0, end));
}

function parseBTF(file: ELFFile): Spec | undefined {
  const section = file.section('.BTF');
  if (section === undefined) return undefined;
  try {
    // A copy: the spec keeps its blob, and must not pin the caller's buffer or see it change.
    const spec = parseSpec(section.data.slice());
    if (spec.byteOrder !== file.byteOrder) throw new ParseError(`.BTF is ${spec.byteOrder}-endian in a ${file.byteOrder}-endian object`, section.offset);
    return spec;
  } catch (e) {
    if (e instanceof ParseError && !e.message.startsWith('.BTF')) {
      // BTF offsets count from the start of the blob; report file offsets.
      const message = e.offset === undefined ? e.message : e.message.replace(/ \(at offset \d+\)$/, '');
      throw new ParseError(`section .BTF: ${message}`, section.offset + (e.offset ?? 0));
    }
    throw e;
  }
}

/**
 * Reads a BPF object. Throws {@link ParseError} (with what and where) for anything malformed
 * or that a loader could not handle; never anything else for bad input.
 */
export function readObject(bytes: Uint8Array): ObjectContents {
  try {
    return readObjectUnchecked(bytes);
  } catch (e) {
    // Our own errors already say what and where. Anything else escaping is a gap in the
    // checks above; report it as a parse failure rather than as a crash of the caller.
    if (e instanceof BpfError) {
      if (e instanceof ParseError) throw e;
      throw new ParseError(e.message);
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      const error = new ParseError(`malformed object: ${e.message}`);
      Object.defineProperty(error, 'cause', { value: e, enumerable: false });
      throw error;
    }
    throw e;
  }
}

function readObjectUnchecked(bytes: Uint8Array): ObjectContents {
  const file = readELF(bytes);
  const kinds = file.sections.map(classifySection);
  const btf = parseBTF(file);
  const extSection = file.section('.BTF.ext');
  const btfExt = btf === undefined || extSection === undefined ? undefined : parseBTFExt(extSection.data, btf);

  const licenseSection = file.section('license');
  const license = licenseSection === undefined ? '' : cString(licenseSection.data);
  const versionSection = file.section('version');
  let kernelVersion: number | undefined;
  if (versionSection !== undefined) {
    if (versionSection.data.length !== 4) throw new ParseError(`section version has ${versionSection.data.length} bytes, expected 4`, versionSection.offset);
    kernelVersion = new DataView(versionSection.data.buffer, versionSection.data.byteOffset, 4).getUint32(0, file.byteOrder === 'little');
  }

  const definitions: MapDefinitions = { maps: new Map(), byOffset: new Map() };
  for (const section of file.sections) {
    const kind = kinds[section.index];
    if (kind === 'btf-maps') parseBTFMaps(file, section, btf, definitions);
    else if (kind === 'maps') parseLegacyMaps(file, section, definitions);
  }

  const variables: VariableSpec[] = [];
  const dataMaps = new Map<number, string>();
  for (const section of file.sections) {
    const kind = kinds[section.index]!;
    if (kind === 'arena') {
      const arena = parseArenaSection(file, section, btf, definitions);
      if (arena === undefined) continue;
      dataMaps.set(section.index, arena.mapName);
      variables.push(...arena.variables);
      continue;
    }
    if (!isDataKind(kind)) continue;
    const data = parseDataSection(file, section, kind, btf);
    if (data === undefined) continue;
    if (definitions.maps.has(data.map.name)) throw new ParseError(`section ${section.name} appears twice`, section.offset);
    definitions.maps.set(data.map.name, data.map);
    dataMaps.set(section.index, data.map.name);
    variables.push(...data.variables);
  }

  const { externs, kconfigMap } = parseExterns(file, btf);
  if (kconfigMap !== undefined) definitions.maps.set(kconfigMap.name, kconfigMap);

  const functions = readFunctions(file, { kinds, maps: definitions, dataMaps, externs });
  if (btfExt !== undefined) attachLines(btfExt, functions);
  const programs = new Map<string, ELFProgramSpec>();
  for (const fn of functions.values()) {
    if (!fn.isProgram) continue;
    const info = parseSectionName(fn.section.name);
    if (info.legacy !== undefined) warnLegacySection(info.legacy);
    const { instructions, layout } = linkProgram(fn, functions);
    const spec: ELFProgramSpec = {
      name: fn.name,
      sectionName: fn.section.name,
      type: info.type,
      attachType: info.attachType,
      license,
      instructions,
      flags: info.flags,
      autoload: info.autoload,
    };
    if (info.attachTo !== undefined) spec.attachTo = info.attachTo;
    if (kernelVersion !== undefined) spec.kernelVersion = kernelVersion;
    if (btfExt !== undefined) {
      const info = programExtInfo(btfExt, layout, functions);
      spec.funcInfos = info.funcInfos;
      spec.lineInfos = info.lineInfos;
      spec.coreRelocations = info.coreRelocations;
      // The object's byte order is the byte order of the kernel that can run it.
      if (info.funcInfos.length > 0) {
        spec.funcInfo = marshalFuncInfos(info.funcInfos, { byteOrder: file.byteOrder });
        spec.funcInfoRecordSize = kernelFuncInfoSize;
      }
      if (info.lineInfos.length > 0) {
        spec.lineInfo = marshalLineInfos(info.lineInfos, { byteOrder: file.byteOrder });
        spec.lineInfoRecordSize = kernelLineInfoSize;
      }
    }
    programs.set(fn.name, spec);
  }
  // struct_ops maps name programs, so they come after the code.
  for (const section of file.sections) {
    if (kinds[section.index] === 'struct-ops') parseStructOps(file, section, kinds, btf, definitions);
  }
  // Last: the externs above take their types from the BTF as clang wrote it (the .ksyms
  // fix-up swaps them for 4-byte placeholders).
  if (btf !== undefined) fixupObjectBTF(file, btf);
  return { file, kinds, byteOrder: file.byteOrder, btf, btfExt, license, kernelVersion, programs, functions, maps: definitions.maps, variables, externs };
}
