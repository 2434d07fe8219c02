/**
 * Pulling one section (`.BTF`) out of an ELF file: a vmlinux image, a BTFHub-style file or a
 * BPF object, 32 or 64-bit, either byte order. The header and section table come from the ELF
 * reader core (internal/elf-reader.ts), not from src/elf: BTF must not depend on the BPF
 * object reader, so that kernel BTF can be found early.
 *
 * @module
 */
// For {@link} in doc comments only.
import type { ParseError } from '../errors.js';
import { isELF, readHeader, readSectionHeaders, readSectionNames, sectionContents } from '../internal/elf-reader.js';
import { memorySource } from '../internal/elf-source.js';
import type { ByteOrder } from './parse.js';

export { isELF };

/** A section found by {@link findELFSection}. */
export interface ELFSection {
  /** The section's bytes (a view into the input). */
  data: Uint8Array;
  /** Byte order of the ELF file. */
  byteOrder: ByteOrder;
}

/**
 * Returns the contents of the section called `name`, or undefined if there is none. Throws
 * {@link ParseError} if the header, the section table or that section is malformed.
 */
export function findELFSection(bytes: Uint8Array, name: string): ELFSection | undefined {
  const source = memorySource(bytes);
  const header = readHeader(source);
  const sections = readSectionHeaders(source, header);
  if (sections.length === 0) return undefined;
  const names = readSectionNames(source, header, sections);
  // Only the section asked for is read: a vmlinux image has thousands we do not need.
  const section = sections.find((s, i) => names.at(s.sh_name, `ELF section ${i}`) === name);
  if (section === undefined) return undefined;
  return { data: sectionContents(source, header, section, `ELF section ${name}`), byteOrder: header.byteOrder };
}
