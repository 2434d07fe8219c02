/**
 * Just enough ELF to pull one section (`.BTF`) out of a vmlinux image or a BTFHub-style file:
 * the file header and the section header table, for 32/64-bit and both byte orders. The full
 * ELF reader lives in src/elf; BTF must not depend on it so kernel BTF can be found early.
 *
 * @module
 */
import { ParseError } from '../errors.js';
import type { ByteOrder } from './parse.js';

/** True if the bytes start with the ELF magic `\x7fELF`. */
export function isELF(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** A section found by {@link findELFSection}. */
export interface ELFSection {
  /** The section's bytes (a view into the input). */
  data: Uint8Array;
  /** Byte order of the ELF file. */
  byteOrder: ByteOrder;
}

/**
 * Returns the contents of the section called `name`, or undefined if there is none. Throws
 * {@link ParseError} if the header or section table is malformed.
 */
export function findELFSection(bytes: Uint8Array, name: string): ELFSection | undefined {
  if (!isELF(bytes)) throw new ParseError('not an ELF file', 0);
  if (bytes.length < 52) throw new ParseError('ELF header truncated', 0);
  const cls = bytes[4];
  const data = bytes[5];
  if (cls !== 1 && cls !== 2) throw new ParseError(`bad ELF class ${cls}`, 4);
  if (data !== 1 && data !== 2) throw new ParseError(`bad ELF data encoding ${data}`, 5);
  const is64 = cls === 2;
  const le = data === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (is64 && bytes.length < 64) throw new ParseError('ELF64 header truncated', 0);
  const word = (at: number): number => {
    if (!is64) return view.getUint32(at, le);
    const v = view.getBigUint64(at, le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError('ELF offset too large', at);
    return Number(v);
  };
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = view.getUint16(is64 ? 0x3a : 0x2e, le);
  let shnum = view.getUint16(is64 ? 0x3c : 0x30, le);
  let shstrndx = view.getUint16(is64 ? 0x3e : 0x32, le);
  if (shoff === 0) return undefined;
  const minEntry = is64 ? 64 : 40;
  if (shentsize < minEntry) throw new ParseError(`ELF section header size ${shentsize} too small`, is64 ? 0x3a : 0x2e);
  const entry = (i: number): number => {
    const at = shoff + i * shentsize;
    if (at + minEntry > bytes.length) throw new ParseError(`ELF section header ${i} is past the end of the file`, at);
    return at;
  };
  // Huge section counts and string-table indexes spill into section 0 (gABI "Extended
  // Section Header Table" rules).
  if (shnum === 0) shnum = is64 ? word(entry(0) + 0x20) : view.getUint32(entry(0) + 0x14, le);
  if (shstrndx === 0xffff) shstrndx = view.getUint32(entry(0) + (is64 ? 0x28 : 0x18), le);
  if (shnum > (bytes.length - shoff) / shentsize) throw new ParseError(`ELF section count ${shnum} does not fit the file`, shoff);
  const section = (i: number): { nameOff: number; type: number; offset: number; size: number } => {
    const at = entry(i);
    const s = {
      nameOff: view.getUint32(at, le),
      type: view.getUint32(at + 4, le),
      offset: is64 ? word(at + 0x18) : view.getUint32(at + 0x10, le),
      size: is64 ? word(at + 0x20) : view.getUint32(at + 0x14, le),
    };
    // SHT_NOBITS (8) occupies no file bytes.
    if (s.type !== 8 && s.offset + s.size > bytes.length) {
      throw new ParseError(`ELF section ${i} [${s.offset}, +${s.size}) is past the end of the file`, at);
    }
    return s;
  };
  if (shstrndx >= shnum) throw new ParseError(`ELF section name table index ${shstrndx} out of range`, is64 ? 0x3e : 0x32);
  const strtab = section(shstrndx);
  const want = new TextEncoder().encode(name);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const at = strtab.offset + s.nameOff;
    if (s.nameOff + want.length >= strtab.size) continue;
    let equal = bytes[at + want.length] === 0;
    for (let k = 0; equal && k < want.length; k++) equal = bytes[at + k] === want[k];
    if (!equal) continue;
    if (s.type === 8) return { data: new Uint8Array(0), byteOrder: le ? 'little' : 'big' };
    return { data: bytes.subarray(s.offset, s.offset + s.size), byteOrder: le ? 'little' : 'big' };
  }
  return undefined;
}
