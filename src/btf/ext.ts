/**
 * `.BTF.ext`: the per-instruction side tables clang writes next to `.BTF` — function info
 * (which BTF `FUNC` starts where), line info (source file, line and column of an
 * instruction) and CO-RE relocation records. Parsing resolves section names, file names,
 * source lines and access strings through the `.BTF` string table.
 *
 * Layout (`struct btf_ext_header` in libbpf's `libbpf_internal.h`, mirrored by the kernel's
 * `bpf_prog_load` attr fields): a header with magic 0xeB9F, version 1, flags and `hdr_len`,
 * then offset/length pairs — relative to the end of the header — for func_info, line_info
 * and (only when `hdr_len` covers them, objects from LLVM 10+) core_relo. Each part starts
 * with a u32 record size, followed by blocks `{u32 sec_name_off; u32 num_info; records…}`.
 * Offsets of instructions in the file are BYTE offsets into the ELF section.
 *
 * Record sizes come from the file, never from constants: a newer compiler may append fields
 * to a record and older readers must skip them (libbpf's `btf_ext_setup_info` does the same).
 *
 * @module
 */
import { ArgumentError, ParseError } from '../errors.js';
import type { ByteOrder } from './parse.js';
import type { Spec } from './spec.js';
import { StringTable } from './strings.js';
import { COREKind, coreKindName } from './core-kind.js';
import { dataView } from '../internal/bytes.js';

/** The magic number at the start of `.BTF.ext` (same as `.BTF`'s). */
export const btfExtMagic = 0xeb9f;

/** Size of the oldest `.BTF.ext` header: magic to line_info_len. */
export const btfExtMinHeaderSize = 24;

/** Size of a header that also locates CO-RE relocations. */
export const btfExtCOREHeaderSize = 32;

/** Smallest record sizes the format allows (the fields this reader knows). */
export const minRecordSize = {
  /** `struct bpf_func_info`. */
  funcInfo: 8,
  /** `struct bpf_line_info`. */
  lineInfo: 16,
  /** `struct bpf_core_relo`. */
  coreRelocation: 16,
} as const;

/** The parsed `.BTF.ext` header. Offsets are relative to the end of the header. */
export interface BTFExtHeader {
  /** Format version (1). */
  version: number;
  /** Flags (none defined). */
  flags: number;
  /** Header length in bytes: 24 without CO-RE relocations, 32 with. */
  headerLength: number;
  /** Offset of the func_info part. */
  funcInfoOffset: number;
  /** Length of the func_info part. */
  funcInfoLength: number;
  /** Offset of the line_info part. */
  lineInfoOffset: number;
  /** Length of the line_info part. */
  lineInfoLength: number;
  /** Offset of the CO-RE relocation part (0 when the header has none). */
  coreRelocationOffset: number;
  /** Length of the CO-RE relocation part (0 when the header has none). */
  coreRelocationLength: number;
}

/** A `bpf_func_info` record: BTF function `typeId` starts at `insnOffset`. */
export interface FuncInfo {
  /** Byte offset of the function's first instruction in its ELF section. */
  insnOffset: number;
  /** ID of the `FUNC` type in the object's `.BTF`. */
  typeId: number;
}

/** A `bpf_line_info` record with its strings resolved. */
export interface LineInfo {
  /** Byte offset of the instruction in its ELF section. */
  insnOffset: number;
  /** Source file name. */
  fileName: string;
  /** The text of the source line. */
  line: string;
  /** 1-based line number (`line_col >> 10`). */
  lineNumber: number;
  /** 1-based column, 0 when unknown (`line_col & 0x3ff`). */
  column: number;
  /** Offset of `fileName` in the `.BTF` string table, as recorded. */
  fileNameOffset: number;
  /** Offset of `line` in the `.BTF` string table, as recorded. */
  lineOffset: number;
}

/** A `bpf_core_relo` record: one instruction whose value depends on the target's types. */
export interface CORERelocation {
  /** Byte offset of the instruction in its ELF section (or program, see `coreRelocate`). */
  insnOffset: number;
  /** ID of the relocation's root type in the local (object's) BTF. */
  typeId: number;
  /** The access string, e.g. `"0:1:2"`: indices of the first array element, members, elements. */
  accessor: string;
  /** What is relocated. */
  kind: COREKind;
}

/** Records of one kind, grouped by the ELF section they apply to. */
export type ExtSections<T> = Map<string, T[]>;

/** A parsed `.BTF.ext` section. */
export interface BTFExt {
  /** The header. */
  header: BTFExtHeader;
  /** The byte order the section was written in. */
  byteOrder: ByteOrder;
  /** Function info by ELF section name (`"kprobe/do_sys_open"`, `".text"`). */
  funcInfos: ExtSections<FuncInfo>;
  /** Line info by ELF section name. */
  lineInfos: ExtSections<LineInfo>;
  /** CO-RE relocations by ELF section name (empty for objects without the part). */
  coreRelocations: ExtSections<CORERelocation>;
  /** The record sizes found in the file (0 for an absent part). */
  recordSizes: {
    /** Bytes per func_info record in this file. */
    funcInfo: number;
    /** Bytes per line_info record in this file. */
    lineInfo: number;
    /** Bytes per CO-RE relocation record in this file. */
    coreRelocation: number;
  };
}

/**
 * Parses `.BTF.ext`. `strings` is the `.BTF` string table (pass the object's {@link Spec} or
 * its `strings`). Both byte orders are accepted (detected from the magic). Throws
 * {@link ParseError} naming the part and byte offset of anything malformed.
 *
 * @example
 * ```ts
 * const ext = parseBTFExt(btfExtBytes, parseSpec(btfBytes));
 * for (const [section, relos] of ext.coreRelocations) console.log(section, relos.length);
 * ```
 */
export function parseBTFExt(bytes: Uint8Array, strings: Spec | StringTable): BTFExt {
  const table = strings instanceof StringTable ? strings : strings.strings;
  if (table === undefined) throw new ArgumentError('parseBTFExt: the spec has no string table (it was not parsed from bytes)');
  if (bytes.length < 4) throw new ParseError(`.BTF.ext truncated: ${bytes.length} bytes`, 0);
  const byteOrder = bytes[0] === 0x9f && bytes[1] === 0xeb ? 'little' : bytes[0] === 0xeb && bytes[1] === 0x9f ? 'big' : undefined;
  if (byteOrder === undefined) {
    throw new ParseError(`not .BTF.ext: bad magic 0x${((bytes[0]! << 8) | bytes[1]!).toString(16)}`, 0);
  }
  const le = byteOrder === 'little';
  const view = dataView(bytes);
  const version = bytes[2]!;
  if (version !== 1) throw new ParseError(`unsupported .BTF.ext version ${version}`, 2);
  const flags = bytes[3]!;
  if (bytes.length < 8) throw new ParseError('.BTF.ext header truncated', 4);
  const headerLength = view.getUint32(4, le);
  // btf_ext_parse_hdr: the header must at least reach line_info_len and fit the section.
  if (headerLength < btfExtMinHeaderSize || headerLength > bytes.length) {
    throw new ParseError(`.BTF.ext hdr_len ${headerLength} out of range (need ${btfExtMinHeaderSize}..${bytes.length})`, 4);
  }
  const u32 = (at: number): number => view.getUint32(at, le);
  const hasCORE = headerLength >= btfExtCOREHeaderSize;
  const header: BTFExtHeader = {
    version,
    flags,
    headerLength,
    funcInfoOffset: u32(8),
    funcInfoLength: u32(12),
    lineInfoOffset: u32(16),
    lineInfoLength: u32(20),
    coreRelocationOffset: hasCORE ? u32(24) : 0,
    coreRelocationLength: hasCORE ? u32(28) : 0,
  };
  const name = (offset: number, what: string, at: number): string => {
    if (!table.has(offset)) throw new ParseError(`.BTF.ext ${what}: string offset ${offset} is outside the .BTF string table`, at);
    return table.get(offset);
  };

  const parsePart = <T>(
    part: string,
    offset: number,
    length: number,
    minSize: number,
    record: (at: number, where: string) => T,
  ): { sections: ExtSections<T>; recordSize: number } => {
    const sections: ExtSections<T> = new Map();
    if (length === 0) return { sections, recordSize: 0 };
    const start = headerLength + offset;
    const end = start + length;
    // libbpf btf_ext_setup_info: 4-byte aligned, inside the section, at least a record size.
    if (offset % 4 !== 0) throw new ParseError(`.BTF.ext ${part} offset ${offset} is not 4-byte aligned`, 8);
    if (end > bytes.length || length < 4) {
      throw new ParseError(`.BTF.ext ${part} (offset ${offset}, length ${length}) does not fit the ${bytes.length}-byte section`, start);
    }
    const recordSize = u32(start);
    if (recordSize < minSize || recordSize % 4 !== 0) {
      throw new ParseError(`.BTF.ext ${part} record size ${recordSize} is invalid (need a multiple of 4, at least ${minSize})`, start);
    }
    let at = start + 4;
    while (at < end) {
      if (at + 8 > end) throw new ParseError(`.BTF.ext ${part}: truncated section header`, at);
      const secName = name(u32(at), `${part} section name`, at);
      const count = u32(at + 4);
      if (count === 0) throw new ParseError(`.BTF.ext ${part} section ${secName} has no records`, at + 4);
      const bodyStart = at + 8;
      if (count > (end - bodyStart) / recordSize) {
        throw new ParseError(`.BTF.ext ${part} section ${secName}: ${count} records of ${recordSize} bytes do not fit`, at + 4);
      }
      const records: T[] = [];
      for (let i = 0; i < count; i++) {
        const recordAt = bodyStart + i * recordSize;
        records.push(record(recordAt, `${part} section ${secName} record ${i}`));
      }
      // Several blocks for the same section are legal after linking; keep them in order.
      const known = sections.get(secName);
      if (known === undefined) sections.set(secName, records);
      else known.push(...records);
      at = bodyStart + count * recordSize;
    }
    return { sections, recordSize };
  };

  const funcs = parsePart('func_info', header.funcInfoOffset, header.funcInfoLength, minRecordSize.funcInfo, (at) => ({
    insnOffset: u32(at),
    typeId: u32(at + 4),
  }));
  const lines = parsePart('line_info', header.lineInfoOffset, header.lineInfoLength, minRecordSize.lineInfo, (at, where) => {
    const fileNameOffset = u32(at + 4);
    const lineOffset = u32(at + 8);
    const lineCol = u32(at + 12);
    return {
      insnOffset: u32(at),
      fileName: name(fileNameOffset, `${where} file name`, at + 4),
      line: name(lineOffset, `${where} line`, at + 8),
      // BPF_LINE_INFO_LINE_NUM / BPF_LINE_INFO_LINE_COL (include/uapi/linux/bpf.h).
      lineNumber: lineCol >>> 10,
      column: lineCol & 0x3ff,
      fileNameOffset,
      lineOffset,
    };
  });
  const relos = parsePart(
    'core_relo',
    header.coreRelocationOffset,
    header.coreRelocationLength,
    minRecordSize.coreRelocation,
    (at, where) => {
      const kind = u32(at + 12);
      if (coreKindName(kind) === undefined) throw new ParseError(`.BTF.ext ${where}: unknown CO-RE relocation kind ${kind}`, at + 12);
      return {
        insnOffset: u32(at),
        typeId: u32(at + 4),
        accessor: name(u32(at + 8), `${where} access string`, at + 8),
        kind: kind as COREKind,
      };
    },
  );
  for (const [secName, records] of [...funcs.sections, ...lines.sections, ...relos.sections]) {
    for (const r of records) {
      if (r.insnOffset % 8 !== 0) {
        throw new ParseError(`.BTF.ext: record for section ${secName} has insn_off ${r.insnOffset}, not a multiple of 8`);
      }
    }
  }
  return {
    header,
    byteOrder,
    funcInfos: funcs.sections,
    lineInfos: lines.sections,
    coreRelocations: relos.sections,
    recordSizes: { funcInfo: funcs.recordSize, lineInfo: lines.recordSize, coreRelocation: relos.recordSize },
  };
}

/** Size of a `struct bpf_func_info` as BPF_PROG_LOAD takes it (`func_info_rec_size`). */
export const kernelFuncInfoSize = 8;
/** Size of a `struct bpf_line_info` as BPF_PROG_LOAD takes it (`line_info_rec_size`). */
export const kernelLineInfoSize = 16;

/** Options of {@link marshalFuncInfos} and {@link marshalLineInfos}. */
export interface ExtMarshalOptions {
  /** Byte order of the output; the kernel wants the host's. Default `"little"`. */
  byteOrder?: ByteOrder;
  /**
   * Byte offset of the program's first instruction in the ELF section: record offsets are
   * made relative to it. Default 0 (records already relative to the program).
   */
  programOffset?: number;
}

function checkedInsnIndex(insnOffset: number, programOffset: number, what: string): number {
  const rel = insnOffset - programOffset;
  if (rel < 0 || rel % 8 !== 0) {
    throw new ArgumentError(`${what}: insn offset ${insnOffset} is not an instruction of a program starting at byte ${programOffset}`);
  }
  return rel / 8;
}

/**
 * Encodes func_info records for BPF_PROG_LOAD (`func_info`, `func_info_cnt`,
 * `func_info_rec_size` = {@link kernelFuncInfoSize}). The kernel counts `insn_off` in
 * instructions (8-byte slots) from the program start, while the ELF file holds byte offsets
 * from the section start: this converts (kernel `check_btf_func` rejects byte offsets). Type
 * IDs must be valid in the BTF loaded with the program.
 */
export function marshalFuncInfos(records: readonly FuncInfo[], options: ExtMarshalOptions = {}): Uint8Array {
  const le = (options.byteOrder ?? 'little') === 'little';
  const out = new Uint8Array(records.length * kernelFuncInfoSize);
  const view = dataView(out);
  records.forEach((r, i) => writeFuncInfo(view, i * kernelFuncInfoSize, checkedInsnIndex(r.insnOffset, options.programOffset ?? 0, 'func_info'), r.typeId, le));
  return out;
}

/**
 * Writes one `bpf_func_info` at `at`: `insnOffset` as given (instructions for the kernel,
 * bytes in `.BTF.ext`).
 */
export function writeFuncInfo(view: DataView, at: number, insnOffset: number, typeId: number, le: boolean): void {
  view.setUint32(at, insnOffset, le);
  view.setUint32(at + 4, typeId, le);
}

/**
 * Writes one `bpf_line_info` at `at` (`insnOffset` as given, string offsets resolved).
 *
 * @throws {@link ArgumentError} for a line or column that does not fit `line_col`.
 */
export function writeLineInfo(view: DataView, at: number, insnOffset: number, r: LineInfo, fileNameOffset: number, lineOffset: number, le: boolean): void {
  if (r.lineNumber >= 1 << 22 || r.column >= 1 << 10) {
    throw new ArgumentError(`line_info: line ${r.lineNumber} column ${r.column} does not fit line_col`);
  }
  view.setUint32(at, insnOffset, le);
  view.setUint32(at + 4, fileNameOffset, le);
  view.setUint32(at + 8, lineOffset, le);
  view.setUint32(at + 12, ((r.lineNumber << 10) | r.column) >>> 0, le);
}

/**
 * Encodes line_info records for BPF_PROG_LOAD (`line_info`, `line_info_cnt`,
 * `line_info_rec_size` = {@link kernelLineInfoSize}), converting byte offsets to instruction
 * indices as {@link marshalFuncInfos} does. String offsets must point into the BTF loaded
 * with the program: by default the recorded offsets are kept (right when the object's BTF is
 * loaded as parsed); pass `stringOffset` (e.g. a `StringTableBuilder`'s `add`) when the BTF
 * was rebuilt.
 */
export function marshalLineInfos(
  records: readonly LineInfo[],
  options: ExtMarshalOptions & { stringOffset?: (s: string) => number } = {},
): Uint8Array {
  const le = (options.byteOrder ?? 'little') === 'little';
  const out = new Uint8Array(records.length * kernelLineInfoSize);
  const view = dataView(out);
  records.forEach((r, i) => {
    const file = options.stringOffset ? options.stringOffset(r.fileName) : r.fileNameOffset;
    const line = options.stringOffset ? options.stringOffset(r.line) : r.lineOffset;
    writeLineInfo(view, i * kernelLineInfoSize, checkedInsnIndex(r.insnOffset, options.programOffset ?? 0, 'line_info'), r, file, line, le);
  });
  return out;
}

/** A one-line description of a relocation record: `byte_off [12] "0:1:2" at insn_off 16`. */
export function formatCORERelocation(r: CORERelocation): string {
  return `${coreKindName(r.kind) ?? `kind ${r.kind}`} [${r.typeId}] "${r.accessor}" at insn_off ${r.insnOffset}`;
}


