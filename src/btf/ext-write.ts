/**
 * Writing a `.BTF.ext` section, the ELF form of func_info, line_info and CO-RE relocation
 * records (the inverse of `parseBTFExt`): a 32-byte `struct btf_ext_header`, then each part
 * as a record size followed by one block per ELF section — the section's name (a `.BTF`
 * string offset), the record count, the records, offsets in bytes from the section start.
 * Strings (section names, file names, source lines, CO-RE access strings) are offsets into
 * the `.BTF` written alongside, which the caller provides through `stringOffset`.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { ArgumentError } from '../errors.js';
import { dataView } from '../internal/bytes.js';
import { btfExtCOREHeaderSize, btfExtMagic, writeFuncInfo, writeLineInfo, type CORERelocation, type ExtSections, type FuncInfo, type LineInfo } from './ext.js';

/** The records {@link marshalBTFExt} writes, by ELF section name, in the order given. */
export interface ExtRecords {
  /** func_info records. */
  readonly funcInfos: ExtSections<FuncInfo>;
  /** line_info records (strings by value). */
  readonly lineInfos: ExtSections<LineInfo>;
  /** CO-RE relocation records (access strings by value). */
  readonly coreRelocations: ExtSections<CORERelocation>;
}

/** Options of {@link marshalBTFExt}. */
export interface ExtWriteOptions {
  /** Byte order of the output. */
  readonly byteOrder: ByteOrder;
  /** The `.BTF` string offset of `s` (which must be in that string table). */
  readonly stringOffset: (s: string) => number;
}

const funcInfoSize = 8;
const lineInfoSize = 16;
const coreRelocationSize = 16;

/** One part: record size, then a block per section. */
function part<T>(sections: ExtSections<T>, recordSize: number, write: (view: DataView, at: number, r: T) => void, options: ExtWriteOptions): Uint8Array {
  let length = 0;
  for (const records of sections.values()) if (records.length > 0) length += 8 + records.length * recordSize;
  if (length === 0) return new Uint8Array(0);
  const out = new Uint8Array(4 + length);
  const view = dataView(out);
  const le = options.byteOrder === 'little';
  view.setUint32(0, recordSize, le);
  let at = 4;
  for (const [section, records] of sections) {
    if (records.length === 0) continue;
    view.setUint32(at, options.stringOffset(section), le);
    view.setUint32(at + 4, records.length, le);
    at += 8;
    for (const r of records) {
      write(view, at, r);
      at += recordSize;
    }
  }
  return out;
}

/**
 * Encodes `.BTF.ext`.
 *
 * @example
 * ```ts
 * const ext = marshalBTFExt(parseBTFExt(bytes, spec), { byteOrder: 'little', stringOffset: (s) => table.offsetOf(s) });
 * ```
 *
 * @throws {@link ArgumentError} for a line or column that does not fit `line_col`.
 */
export function marshalBTFExt(records: ExtRecords, options: ExtWriteOptions): Uint8Array {
  const le = options.byteOrder === 'little';
  const func = part<FuncInfo>(records.funcInfos, funcInfoSize, (v, at, r) => writeFuncInfo(v, at, r.insnOffset, r.typeId, le), options);
  const line = part<LineInfo>(
    records.lineInfos,
    lineInfoSize,
    (v, at, r) => writeLineInfo(v, at, r.insnOffset, r, options.stringOffset(r.fileName), options.stringOffset(r.line), le),
    options,
  );
  const core = part<CORERelocation>(records.coreRelocations, coreRelocationSize, (v, at, r) => {
    v.setUint32(at, r.insnOffset, le);
    v.setUint32(at + 4, r.typeId, le);
    v.setUint32(at + 8, options.stringOffset(r.accessor), le);
    v.setUint32(at + 12, r.kind, le);
  }, options);
  const header = btfExtCOREHeaderSize;
  const out = new Uint8Array(header + func.length + line.length + core.length);
  const view = dataView(out);
  view.setUint16(0, btfExtMagic, le);
  out[2] = 1; // version
  out[3] = 0; // flags
  view.setUint32(4, header, le);
  // Part offsets count from the end of the header.
  view.setUint32(8, 0, le);
  view.setUint32(12, func.length, le);
  view.setUint32(16, func.length, le);
  view.setUint32(20, line.length, le);
  view.setUint32(24, func.length + line.length, le);
  view.setUint32(28, core.length, le);
  out.set(func, header);
  out.set(line, header + func.length);
  out.set(core, header + func.length + line.length);
  return out;
}
