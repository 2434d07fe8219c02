// Malformed objects: truncated files, section contents past the end, bad symbol and section
// indexes, relocations past their section or off instruction boundaries, unknown relocation
// types, and seeded random byte mutations of the testdata objects. Every one must end in a
// ParseError from an explicit check (never another exception type, never the catch-all that
// turns a stray RangeError into a ParseError), or parse cleanly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { readELF, SectionType } from '../../src/elf/index.js';
import { ParseError } from '../../src/errors.js';

const testdata = join(import.meta.dirname, '../../testdata');
// More rounds for a longer fuzzing session: EBPF_TS_FUZZ_ROUNDS=20000 npx vitest run elf-corrupt
const rounds = Number(process.env.EBPF_TS_FUZZ_ROUNDS ?? 150);
const load = (name: string): Uint8Array => new Uint8Array(readFileSync(join(testdata, name)));
const objects = ['minimal', 'elf_globals', 'elf_maps', 'elf_programs', 'elf_legacy_maps', 'elf_patterns', 'elf_references', 'elf_references_nobtf']
  .flatMap((n) => [`${n}.bpfel.o`, `${n}.bpfeb.o`])
  // Statically linked (bpftool gen object, little-endian only): legacy definitions of mixed
  // sizes, functions bounded by their symbols' sizes.
  .concat(['linked/selfcheck.bpfel.o', 'linked/legacy.bpfel.o']);

/** Parse and classify the outcome: 'ok', or the ParseError; anything else fails the test. */
function outcome(bytes: Uint8Array, what: string): 'ok' | ParseError {
  try {
    parseCollectionSpec(bytes);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`${what}: ${e instanceof Error ? `${e.constructor.name}: ${e.stack}` : String(e)}`);
    // The safety net in readObject means a check is missing somewhere.
    expect(e.message, `${what}: ${(e.cause as Error | undefined)?.stack}`).not.toMatch(/^malformed object:/);
    return e;
  }
}

function expectParseError(bytes: Uint8Array, what: string, message?: RegExp): ParseError {
  const r = outcome(bytes, what);
  expect(r, `${what} parsed`).toBeInstanceOf(ParseError);
  if (message !== undefined) expect((r as ParseError).message, what).toMatch(message);
  return r as ParseError;
}

/** Raw section header fields, to aim mutations. */
function layout(bytes: Uint8Array) {
  const little = bytes[5] === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(view.getBigUint64(0x28, little));
  const shnum = view.getUint16(0x3c, little);
  const elf = readELF(bytes);
  const headers = Array.from({ length: shnum }, (_, i) => shoff + i * 64);
  return { little, view, elf, headers };
}

describe.each(objects)('%s', (name) => {
  const original = load(name);

  it('parses unmodified', () => {
    expect(outcome(original.slice(), name)).toBe('ok');
  });

  it('truncated at many offsets: ParseError every time', () => {
    const { elf } = layout(original.slice());
    const cuts = new Set<number>([0, 1, 3, 4, 15, 16, 63, 64, original.length - 1, original.length - 64]);
    for (const s of elf.sections) for (const at of [s.offset, s.offset + 1, s.offset + s.size - 1]) if (at > 0 && at < original.length) cuts.add(at);
    for (let at = 0; at < original.length; at += Math.max(1, Math.floor(original.length / 150))) cuts.add(at);
    for (const at of cuts) expectParseError(original.slice(0, at), `cut at ${at}`);
  });

  it('section contents past the end of the file', () => {
    for (const field of [0x18, 0x20]) {
      const bytes = original.slice();
      const { little, view, elf, headers } = layout(bytes);
      const victim = elf.sections.findIndex((s) => s.name === '.strtab' || s.name === 'license');
      view.setBigUint64(headers[victim]! + field, BigInt(bytes.length) + 1n, little);
      expectParseError(bytes, `section ${victim} field ${field}`, /past the end/);
      view.setBigUint64(headers[victim]! + field, 0xffffffffffffff00n, little);
      expectParseError(bytes, `section ${victim} field ${field} huge`, /past the end/);
    }
  });

  it('bad header fields', () => {
    const set = (at: number, size: 1 | 2 | 8, value: number): Uint8Array => {
      const bytes = original.slice();
      const { little, view } = layout(bytes);
      if (size === 1) view.setUint8(at, value);
      else if (size === 2) view.setUint16(at, value, little);
      else view.setBigUint64(at, BigInt(value), little);
      return bytes;
    };
    expectParseError(set(0, 1, 0), 'magic', /not an ELF/);
    expectParseError(set(4, 1, 1), 'class', /ELFCLASS64/);
    expectParseError(set(5, 1, 3), 'data encoding', /data encoding/);
    expectParseError(set(16, 2, 2), 'type', /ET_REL/);
    expectParseError(set(18, 2, 62), 'machine', /EM_BPF/);
    expectParseError(set(0x3a, 2, 40), 'shentsize', /header size/);
    expectParseError(set(0x3c, 2, 0xfff0), 'shnum', /past the end/);
    expectParseError(set(0x3e, 2, 0xfff0), 'shstrndx', /out of range/);
    expectParseError(set(0x3e, 2, 0), 'shstrndx null', /string table/);
    expectParseError(set(0x28, 8, original.length), 'shoff', /past the end/);
    const ph = set(0x20, 8, original.length - 8);
    const phView = new DataView(ph.buffer, ph.byteOffset, ph.byteLength);
    phView.setUint16(0x38, 1, ph[5] === 1); // one program header, running past the end
    phView.setUint16(0x36, 56, ph[5] === 1);
    expectParseError(ph, 'phoff', /program header/);
  });

  it('bad symbols: section index, name offset, table size', () => {
    const { elf, headers } = layout(original.slice());
    const symtab = elf.sections.find((s) => s.type === SectionType.SymTab)!;
    const count = symtab.size / 24;
    for (let i = 1; i < count; i += Math.max(1, Math.floor(count / 8))) {
      const bytes = original.slice();
      const { little, view } = layout(bytes);
      view.setUint16(symtab.offset + i * 24 + 6, 0xfe00, little);
      expectParseError(bytes, `symbol ${i} shndx`, /refers to section/);
      const bytes2 = original.slice();
      layout(bytes2).view.setUint32(symtab.offset + i * 24, 0xfffffff0, little);
      expectParseError(bytes2, `symbol ${i} name`, /past the end/);
    }
    const bytes = original.slice();
    const { little, view } = layout(bytes);
    view.setBigUint64(headers[symtab.index]! + 0x20, BigInt(symtab.size - 5), little);
    expectParseError(bytes, 'symtab size', /not a multiple of 24/);
  });

  it('bad relocations: symbol index, offset past the section, offset inside an instruction, unknown type', () => {
    const { elf } = layout(original.slice());
    const rels = elf.sections.filter((s) => s.type === SectionType.Rel && elf.sections[s.info] !== undefined && (elf.sections[s.info]!.flags & 4) !== 0);
    for (const rel of rels) {
      const target = elf.sections[rel.info]!;
      const entry = rel.offset; // first relocation of the section
      const mutate = (f: (view: DataView, little: boolean) => void): Uint8Array => {
        const bytes = original.slice();
        const { little, view } = layout(bytes);
        f(view, little);
        return bytes;
      };
      expectParseError(mutate((v, le) => v.setUint32(entry + 8 + (le ? 4 : 0), 0xffffff, le)), `${rel.name} symbol`, /symbol index \d+ out of range/);
      expectParseError(mutate((v, le) => v.setBigUint64(entry, BigInt(target.size + 8), le)), `${rel.name} offset`, /past the end/);
      expectParseError(mutate((v, le) => v.setBigUint64(entry, 4n, le)), `${rel.name} misaligned`, /start of an instruction|unsupported relocation/);
      const e = expectParseError(mutate((v, le) => v.setUint32(entry + 8 + (le ? 0 : 4), 99, le)), `${rel.name} type`, /unsupported relocation/);
      // Names the relocation, the symbol, the section and the instruction.
      expect(e.message).toMatch(/relocation type 99 against symbol \S+ .* at instruction \d+ of section \S+ \(/);
    }
  });

  it('seeded random byte mutations: ParseError or a clean parse, nothing else', { timeout: 600_000 }, () => {
    let seed = 0x9e3779b9 ^ name.length;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    for (let round = 0; round < rounds; round++) {
      const bytes = original.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      outcome(bytes, `round ${round}`);
    }
  });
});

it('an ld_imm64 relocated against a section that cannot hold a reference names everything', () => {
  // Point the first code relocation of elf_globals at the license section's symbol... by
  // making the relocated symbol's section index the license section.
  const bytes = load('elf_globals.bpfel.o');
  const { little, view, elf } = layout(bytes);
  const rel = elf.section('.relsocket')!;
  const symIndex = view.getUint32(rel.offset + 12, little);
  const symtab = elf.sections.find((s) => s.type === SectionType.SymTab)!;
  view.setUint16(symtab.offset + symIndex * 24 + 6, elf.section('license')!.index, little);
  expectParseError(bytes, 'license reference', /unsupported relocation: R_BPF_64_64 against symbol target_pid \(section license\) at instruction 0 of section socket \(r2 = 0 ll\): ld_imm64 cannot refer to a license section/);
});
