// The ELF layer on its own: header and section table through elfy, then our symbol table and
// relocation reader and the section classification, compared with llvm-readelf's view of the
// same files as recorded in testdata/golden.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifySection, readELF, RelocationType, SectionType, symbolName, type ELFFile } from '../../src/elf/index.js';
import { golden } from '../helpers/tools.js';

const testdata = join(import.meta.dirname, '../../testdata');
const objects = readdirSync(testdata).filter((f) => /\.bpfe[lb]\.o$/.test(f)).sort();
const open = (name: string): ELFFile => readELF(new Uint8Array(readFileSync(join(testdata, name))));

/** llvm-readelf's view of an object, recorded in testdata/golden (checked live in golden-tools.test.ts). */
const readelf = (what: 's' | 'r', file: string): string => golden(file.replace(/\.o$/, `.readelf-${what}.txt`));

const symbolTypes: Record<string, number> = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 };
const binds: Record<string, number> = { LOCAL: 0, GLOBAL: 1, WEAK: 2 };

describe.each(objects)('%s', (object) => {
  const elf = open(object);

  it('sections: names, types, sizes and byte order', () => {
    expect(elf.byteOrder).toBe(object.includes('.bpfel.') ? 'little' : 'big');
    expect(elf.sections[0]!.type).toBe(SectionType.Null);
    expect(elf.section('.symtab')?.type).toBe(SectionType.SymTab);
    expect(elf.section('license')).toBeDefined();
    for (const s of elf.sections) {
      if (s.type !== SectionType.NoBits && s.type !== SectionType.Null) expect(s.data.length).toBe(s.size);
    }
  });

  it('symbols equal llvm-readelf -s (testdata/golden)', () => {
    const text = readelf('s', object);
    const rows = text
      .split('\n')
      .map((l) => /^\s*(\d+): ([0-9a-f]+)\s+(\d+) (\w+)\s+(\w+)\s+(\w+)\s+(\w+) ?(.*)$/.exec(l))
      .filter((m) => m !== null);
    expect(rows.length).toBe(elf.symbols.length);
    for (const m of rows) {
      const s = elf.symbols[Number(m[1])]!;
      const ndx = m[7] === 'UND' ? 0 : m[7] === 'ABS' ? 0xfff1 : Number(m[7]);
      const name = s.type === symbolTypes.SECTION ? '' : s.name;
      expect({ value: s.value, size: s.size, type: s.type, bind: s.bind, ndx: s.sectionIndex, name }).toEqual({
        value: parseInt(m[2]!, 16),
        size: Number(m[3]),
        type: symbolTypes[m[4]!],
        bind: binds[m[5]!],
        ndx,
        name: s.type === symbolTypes.SECTION ? '' : m[8]!,
      });
    }
  });

  it('relocations of code and .maps equal llvm-readelf -r (testdata/golden)', () => {
    const text = readelf('r', object);
    const blocks = text.split(/\n(?=Relocation section )/).filter((b) => b.startsWith('Relocation section'));
    let compared = 0;
    for (const block of blocks) {
      const target = /^Relocation section '\.rel(.*)' at/.exec(block)![1]!;
      const section = elf.section(target);
      if (section === undefined || !(['program', 'text', 'btf-maps'] as const).includes(classifySection(section) as never)) continue;
      const expected = block
        .split('\n')
        .map((l) => /^([0-9a-f]{16})\s+[0-9a-f]{16} (R_BPF_\w+)\s+[0-9a-f]{16} (.*)$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => `${parseInt(m[1]!, 16)} ${m[2]} ${m[3]}`);
      const actual = elf.relocations(section.index).map((r) => `${r.offset} ${RelocationType[r.type]} ${symbolName(elf, r.symbol)}`);
      expect(actual.sort()).toEqual(expected.sort());
      compared += expected.length;
    }
    if (object.startsWith('elf_maps') || object.startsWith('elf_globals')) expect(compared).toBeGreaterThan(5);
  });
});

it('classifies every kind of section in elf_globals and elf_maps', () => {
  const kinds = (name: string): Record<string, string> => {
    const elf = open(name);
    return Object.fromEntries(elf.sections.map((s) => [s.name, classifySection(s)]));
  };
  expect(kinds('elf_globals.bpfel.o')).toMatchObject({
    '.text': 'text',
    socket: 'program',
    'tp_btf/sched_switch': 'program',
    '.rodata': 'rodata',
    '.rodata.custom': 'rodata',
    '.rodata.str1.1': 'rodata',
    '.data': 'data',
    '.data.custom': 'data',
    '.bss': 'bss',
    license: 'license',
    '.BTF': 'btf',
    '.BTF.ext': 'btf-ext',
    '.symtab': 'symtab',
    '.strtab': 'strtab',
    '.relsocket': 'relocations',
    '.debug_info': 'debug',
  });
  expect(kinds('elf_maps.bpfel.o')['.maps']).toBe('btf-maps');
  expect(kinds('elf_legacy_maps.bpfel.o')).toMatchObject({ maps: 'maps', version: 'version', 'kprobe/do_nanosleep': 'program' });
});
