// The ELF reader core (src/internal/elf-reader.ts) that src/elf, BTF extraction and uprobe
// targets share, on small files built here in all four class/byte-order combinations: header,
// program headers, section headers and names, symbol tables, extended section numbering, the
// same answers from memory and from positioned reads of a file, and a ParseError with an
// offset for every truncation and for each malformed field it checks.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findELFSection } from '../../src/btf/elf-section.js';
import { ParseError } from '../../src/errors.js';
import {
  readHeader,
  readProgramHeaders,
  readSectionHeaders,
  readSectionNames,
  readSymbolTable,
  sectionContents,
  type ELFHeader,
  type SectionHeader,
} from '../../src/internal/elf-reader.js';
import { fileSource, memorySource, type ELFSource } from '../../src/internal/elf-source.js';

// Field offsets written out here from the gABI figures, independently of the reader's tables.
const FORMATS = {
  64: { ehdr: 64, phdr: 56, shdr: 64, sym: 24, e: [0x20, 0x28, 0x36, 0x38, 0x3a, 0x3c, 0x3e] },
  32: { ehdr: 52, phdr: 32, shdr: 40, sym: 16, e: [0x1c, 0x20, 0x2a, 0x2c, 0x2e, 0x30, 0x32] },
} as const;

interface Built {
  readonly bytes: Uint8Array;
  /** File offset of the section header table. */
  readonly shoff: number;
  readonly symtabIndex: number;
}

const SECTIONS = ['', '.shstrtab', '.strtab', '.symtab', '.BTF', '.bss'];

/**
 * An ET_DYN file: one PT_LOAD, sections NULL, .shstrtab, .strtab, .symtab (null, `main` a
 * global function, `counter` a hidden local object), .BTF (4 bytes) and .bss (NOBITS).
 * `extended` writes e_shnum 0 and e_shstrndx SHN_XINDEX with the real values in section 0.
 */
function build(bits: 32 | 64, little: boolean, extended = false): Built {
  const f = FORMATS[bits];
  const out = new Uint8Array(4096);
  const view = new DataView(out.buffer);
  const u = (at: number, size: 1 | 2 | 4 | 8, v: number | bigint): void => {
    if (size === 1) view.setUint8(at, Number(v));
    else if (size === 2) view.setUint16(at, Number(v), little);
    else if (size === 4) view.setUint32(at, Number(v), little);
    else view.setBigUint64(at, BigInt(v), little);
  };
  const word = bits === 64 ? 8 : 4;
  let end = f.ehdr;
  const place = (bytes: Uint8Array): number => {
    const at = end;
    out.set(bytes, at);
    end = Math.ceil((at + bytes.length) / 8) * 8;
    return at;
  };
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  // Program header: PT_LOAD (PF_R|PF_X) at file offset 0, vaddr 0x400000.
  const phoff = end;
  end += f.phdr;
  if (bits === 64) {
    u(phoff, 4, 1);
    u(phoff + 4, 4, 5);
    u(phoff + 8, 8, 0);
    u(phoff + 16, 8, 0x400000);
    u(phoff + 32, 8, 0x1000);
  } else {
    u(phoff, 4, 1);
    u(phoff + 4, 4, 0);
    u(phoff + 8, 4, 0x400000);
    u(phoff + 16, 4, 0x1000);
    u(phoff + 24, 4, 5);
  }
  const shstrtab = text(`${SECTIONS.join('\0')}\0`);
  const nameOf = (i: number): number => SECTIONS.slice(0, i).reduce((n, s) => n + s.length + 1, 0);
  const strtab = text('\0main\0counter\0');
  const symtab = new Uint8Array(3 * f.sym);
  const sym = new DataView(symtab.buffer);
  const putSym = (i: number, name: number, value: number, size: number, info: number, other: number, shndx: number): void => {
    const o = i * f.sym;
    sym.setUint32(o, name, little);
    if (bits === 64) {
      sym.setUint8(o + 4, info);
      sym.setUint8(o + 5, other);
      sym.setUint16(o + 6, shndx, little);
      sym.setBigUint64(o + 8, BigInt(value), little);
      sym.setBigUint64(o + 16, BigInt(size), little);
    } else {
      sym.setUint32(o + 4, value, little);
      sym.setUint32(o + 8, size, little);
      sym.setUint8(o + 12, info);
      sym.setUint8(o + 13, other);
      sym.setUint16(o + 14, shndx, little);
    }
  };
  putSym(1, 1, 0x400100, 16, (1 << 4) | 2, 0, 4); // main: STB_GLOBAL, STT_FUNC
  putSym(2, 6, 8, 4, (0 << 4) | 1, 2, 5); // counter: STB_LOCAL, STT_OBJECT, STV_HIDDEN
  const contents = [new Uint8Array(0), shstrtab, strtab, symtab, new Uint8Array([1, 2, 3, 4]), new Uint8Array(0)];
  const offsets = contents.map((c, i) => (i === 0 || i === 5 ? 0 : place(c)));
  const shoff = end;
  const types = [0, 3, 3, 2, 1, 8];
  const sizes = [extended ? SECTIONS.length : 0, shstrtab.length, strtab.length, symtab.length, 4, 64];
  for (let i = 0; i < SECTIONS.length; i++) {
    const at = shoff + i * f.shdr;
    u(at, 4, nameOf(i));
    u(at + 4, 4, types[i]!);
    u(at + 8, word as 4 | 8, i === 5 ? 3 : 0); // sh_flags: .bss is SHF_WRITE|SHF_ALLOC
    u(at + (bits === 64 ? 24 : 16), word as 4 | 8, offsets[i]!);
    u(at + (bits === 64 ? 32 : 20), word as 4 | 8, sizes[i]!);
    const link = i === 3 ? 2 : i === 0 && extended ? 1 : 0;
    u(at + (bits === 64 ? 40 : 24), 4, link);
    u(at + (bits === 64 ? 56 : 36), word as 4 | 8, i === 3 ? f.sym : 0);
  }
  end = shoff + SECTIONS.length * f.shdr;
  out.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, little ? 1 : 2, 1], 0);
  u(16, 2, 3); // ET_DYN
  u(18, 2, bits === 64 ? 62 : 3); // EM_X86_64, EM_386
  const [ePhoff, eShoff, ePhentsize, ePhnum, eShentsize, eShnum, eShstrndx] = f.e;
  u(ePhoff, word as 4 | 8, phoff);
  u(eShoff, word as 4 | 8, shoff);
  u(ePhentsize, 2, f.phdr);
  u(ePhnum, 2, 1);
  u(eShentsize, 2, f.shdr);
  u(eShnum, 2, extended ? 0 : SECTIONS.length);
  u(eShstrndx, 2, extended ? 0xffff : 1);
  return { bytes: out.slice(0, end), shoff, symtabIndex: 3 };
}

/** Everything the core reads of a file, in plain values. */
function readAll(source: ELFSource): { header: ELFHeader; names: string[]; sections: SectionHeader[]; symbols: unknown[]; segments: unknown[]; btf: number[] } {
  const header = readHeader(source);
  const sections = readSectionHeaders(source, header);
  const names = readSectionNames(source, header, sections);
  const table = readSymbolTable(source, header, sections, sections.find((s) => s.sh_type === 2)!, '.symtab');
  const symbols = Array.from({ length: table.count }, (_, i) => ({
    name: table.name(i),
    type: table.type(i),
    bind: table.bind(i),
    visibility: table.visibility(i),
    shndx: table.sectionIndex(i),
    value: table.value(i),
    size: table.size(i),
  }));
  const btf = sectionContents(source, header, sections[4]!, '.BTF');
  return {
    header,
    names: sections.map((s) => names.at(s.sh_name, `section ${s.index}`)),
    sections,
    symbols,
    segments: readProgramHeaders(source, header),
    btf: [...btf],
  };
}

const COMBINATIONS = [
  [64, true],
  [64, false],
  [32, true],
  [32, false],
] as const;

let tmp: string | undefined;
afterAll(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

describe.each(COMBINATIONS)('ELF%i, little-endian %s', (bits, little) => {
  const { bytes } = build(bits, little);

  it('header, sections with names, symbols and the PT_LOAD segment', () => {
    const r = readAll(memorySource(bytes));
    expect(r.header).toMatchObject({ is64: bits === 64, byteOrder: little ? 'little' : 'big', e_type: 3, e_machine: bits === 64 ? 62 : 3 });
    expect(r.names).toEqual(SECTIONS);
    expect(r.sections.map((s) => s.sh_type)).toEqual([0, 3, 3, 2, 1, 8]);
    expect(r.sections[5]).toMatchObject({ sh_flags: 3, sh_size: 64 });
    expect(sectionContents(memorySource(bytes), r.header, r.sections[5]!, '.bss')).toHaveLength(0);
    expect(r.btf).toEqual([1, 2, 3, 4]);
    expect(r.symbols).toEqual([
      { name: '', type: 0, bind: 0, visibility: 0, shndx: 0, value: 0n, size: 0n },
      { name: 'main', type: 2, bind: 1, visibility: 0, shndx: 4, value: 0x400100n, size: 16n },
      { name: 'counter', type: 1, bind: 0, visibility: 2, shndx: 5, value: 8n, size: 4n },
    ]);
    expect(r.segments).toEqual([{ p_type: 1, p_flags: 5, p_offset: 0n, p_vaddr: 0x400000n, p_filesz: 0x1000n }]);
  });

  it('positioned reads of a file give the same answers as the bytes in memory', () => {
    tmp ??= mkdtempSync(join(tmpdir(), 'ebpf-ts-elf-reader-'));
    const path = join(tmp, `elf${bits}${little ? 'le' : 'be'}`);
    writeFileSync(path, bytes);
    const fd = openSync(path, 'r');
    try {
      expect(readAll(fileSource(fd, bytes.length, path))).toEqual(readAll(memorySource(bytes)));
    } finally {
      closeSync(fd);
    }
  });

  it('extended numbering: the count and the name table index from section 0', () => {
    const extended = readAll(memorySource(build(bits, little, true).bytes));
    expect(extended.header).toMatchObject({ e_shnum: 0, e_shstrndx: 0xffff });
    expect(extended.names).toEqual(SECTIONS);
    expect(extended.symbols).toEqual(readAll(memorySource(bytes)).symbols);
  });

  it('findELFSection (kernel BTF) finds .BTF through the core', () => {
    expect(findELFSection(bytes, '.BTF')).toEqual({ data: new Uint8Array([1, 2, 3, 4]), byteOrder: little ? 'little' : 'big' });
    expect(findELFSection(bytes, '.BTF.ext')).toBeUndefined();
  });

  it('every truncation is a ParseError with an offset, never another exception', () => {
    for (let cut = 0; cut < bytes.length; cut++) {
      let caught: unknown;
      try {
        readAll(memorySource(bytes.subarray(0, cut)));
      } catch (e) {
        caught = e;
      }
      expect(caught, `cut at ${cut}`).toBeInstanceOf(ParseError);
      expect((caught as ParseError).offset, `cut at ${cut}`).toBeTypeOf('number');
    }
  });
});

describe('malformed fields: what and where', () => {
  const f = FORMATS[64];
  const mutate = (change: (v: DataView, built: Built) => void, bits: 32 | 64 = 64): Uint8Array => {
    const built = build(bits, true);
    const bytes = built.bytes.slice();
    change(new DataView(bytes.buffer), built);
    return bytes;
  };
  const failure = (bytes: Uint8Array, name = ''): ParseError => {
    try {
      readAll(memorySource(bytes, name));
    } catch (e) {
      if (e instanceof ParseError) return e;
      throw e;
    }
    throw new Error('parsed');
  };

  it('magic, class and data encoding', () => {
    expect(failure(mutate((v) => v.setUint8(1, 0)))).toMatchObject({ message: expect.stringMatching(/not an ELF file/), offset: 0 });
    expect(failure(mutate((v) => v.setUint8(4, 3)))).toMatchObject({ message: expect.stringMatching(/unknown ELF class 3/), offset: 4 });
    expect(failure(mutate((v) => v.setUint8(5, 0)))).toMatchObject({ message: expect.stringMatching(/unknown ELF data encoding 0/), offset: 5 });
  });

  it('header table fields name the field that points outside the file', () => {
    expect(failure(mutate((v) => v.setUint16(f.e[4], 40, true)))).toMatchObject({ message: expect.stringMatching(/e_shentsize is 40, expected 64/), offset: f.e[4] });
    expect(failure(mutate((v) => v.setUint16(f.e[2], 55, true)))).toMatchObject({ message: expect.stringMatching(/e_phentsize is 55, expected 56/), offset: f.e[2] });
    expect(failure(mutate((v) => v.setUint16(f.e[5], 0xfff0, true)))).toMatchObject({ message: expect.stringMatching(/section header table .* past the end/), offset: f.e[1] });
    expect(failure(mutate((v) => v.setBigUint64(f.e[1], 1n << 60n, true)))).toMatchObject({ message: expect.stringMatching(/e_shoff \d+ is not a usable file offset/), offset: f.e[1] });
    expect(failure(mutate((v) => v.setUint16(f.e[6], 9, true)))).toMatchObject({ message: expect.stringMatching(/e_shstrndx\) 9 is out of range/), offset: f.e[6] });
    // ELF32: the same checks at the ELF32 offsets.
    const e32 = FORMATS[32].e;
    expect(failure(mutate((v) => v.setUint16(e32[4], 64, true), 32))).toMatchObject({ message: expect.stringMatching(/e_shentsize is 64, expected 40/), offset: e32[4] });
  });

  it('section and symbol table fields', () => {
    const header = (built: Built, i: number): number => built.shoff + i * f.shdr;
    expect(failure(mutate((v, b) => v.setBigUint64(header(b, 4) + 24, 1n << 40n, true)))).toMatchObject({
      message: expect.stringMatching(/\.BTF \[\d+, \+4\) is past the end of the file/),
    });
    expect(failure(mutate((v, b) => v.setBigUint64(header(b, b.symtabIndex) + 56, 16n, true)))).toMatchObject({ message: expect.stringMatching(/\.symtab: sh_entsize is 16, expected 24/) });
    expect(failure(mutate((v, b) => v.setBigUint64(header(b, b.symtabIndex) + 32, 70n, true)))).toMatchObject({ message: expect.stringMatching(/size 70 is not a multiple of 24/) });
    expect(failure(mutate((v, b) => v.setUint32(header(b, b.symtabIndex) + 40, 99, true)), '/bin/x')).toMatchObject({
      message: expect.stringMatching(/^\/bin\/x: \.symtab links to string table section 99, which does not exist/),
    });
    expect(failure(mutate((v, b) => v.setUint32(header(b, b.symtabIndex) + 40, 4, true)))).toMatchObject({ message: expect.stringMatching(/links to section 4 as its string table, which is not one/) });
  });

  it('names: an offset past the table, a name without its NUL', () => {
    const symAt = (b: Built, i: number): number => {
      const view = new DataView(b.bytes.buffer);
      return Number(view.getBigUint64(b.shoff + b.symtabIndex * f.shdr + 24, true)) + i * f.sym;
    };
    expect(failure(mutate((v, b) => v.setUint32(symAt(b, 1), 500, true)))).toMatchObject({ message: expect.stringMatching(/symbol 1: name offset 500 is past the end of its 14-byte string table/) });
    // Drop the .strtab's last NUL by shortening it one byte: "counter" runs to the end.
    expect(failure(mutate((v, b) => v.setBigUint64(b.shoff + 2 * f.shdr + 32, 13n, true)))).toMatchObject({ message: expect.stringMatching(/symbol 2: the name at offset 6 of its string table is not NUL-terminated/) });
  });
});
