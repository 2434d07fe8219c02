// Decode→encode round trips and the disassembler against llvm-objdump, for every program
// section of every committed testdata object, in both byte orders.
//
// Golden listings are `llvm-objdump -d` output WITH the raw bytes column (testdata/golden.sh):
// that is what `llvm-objdump -d` prints by default, and the bytes column also checks that our
// per-instruction encoding (byte order, register nibbles, the 16-byte ld_imm64 on one line)
// matches the file, not just the text. Relocation lines never appear because golden.sh does
// not pass -r.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALUOp, decode, disassemble, encode, Class, Endianness, Mode, Size, opClass, opMode, opSize, type Instruction } from '../../src/asm/index.js';
import { codeSymbols, programSections, readElf } from './helpers/elf-sections.js';

const testdata = join(import.meta.dirname, '../../testdata');
const objects = readdirSync(testdata).filter((f) => /\.bpfe[lb]\.o$/.test(f)).sort();

/** Attach ELF function/label symbols to the decoded instructions they start at. */
function withSymbols(insns: Instruction[], symbols: { name: string; value: number }[]): Instruction[] {
  const bySlot = new Map<number, string>();
  for (const s of [...symbols].sort((a, b) => a.value - b.value)) {
    if (!bySlot.has(s.value / 8)) bySlot.set(s.value / 8, s.name);
  }
  let slot = 0;
  for (const insn of insns) {
    insn.symbol = bySlot.get(slot);
    slot += insn.slots;
  }
  return insns;
}

/** Split an llvm-objdump listing into its `Disassembly of section` blocks. */
function goldenSections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const m = /^Disassembly of section (.*):$/.exec(line);
    if (m) {
      current = [line];
      out.set(m[1]!, current);
    } else if (current) {
      current.push(line);
    }
  }
  for (const lines of out.values()) while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return out;
}

/**
 * 32-bit atomics (STX|ATOMIC|W): LLVM 14 only decodes them right with -mattr=+alu32; those
 * lines are taken from the alu32 listing, every other line from the default one.
 */
function isAtomic32Line(line: string): boolean {
  return /^\s+\d+:\tc3 /.test(line);
}

/**
 * Arena pointer casts (MOV64 X with offset 1, here imm 1: address space 1 to 0): LLVM 14
 * ignores the offset and prints a plain move; later releases print `addr_space_cast`, as we do.
 */
function llvm14AddrSpaceCast(line: string): string {
  return line.replace(/^(\s+\d+:\tbf [0-9a-f]{2} (?:01 00 01 00 00 00|00 01 00 00 00 01)\t)(r\d+) = (r\d+)$/, '$1$2 = addr_space_cast($3, 0, 1)');
}

it('testdata holds objects for both byte orders', () => {
  expect(objects.length).toBeGreaterThanOrEqual(4);
  for (const name of objects.filter((o) => o.includes('.bpfel.'))) {
    expect(objects).toContain(name.replace('.bpfel.', '.bpfeb.'));
  }
});

describe.each(objects)('%s', (object) => {
  const elf = readElf(join(testdata, object));
  const sections = programSections(elf);

  it('has program sections', () => {
    expect(sections.length).toBeGreaterThan(0);
  });

  it.each(sections.map((s) => s.name))('section %s: decode → encode reproduces the bytes', (name) => {
    const section = sections.find((s) => s.name === name)!;
    const insns = decode(section.data, elf.byteOrder, section.offset);
    expect(insns.length).toBeGreaterThan(0);
    expect(Buffer.from(encode(insns, elf.byteOrder)).equals(Buffer.from(section.data))).toBe(true);
  });

  it.each(sections.map((s) => s.name))('section %s: disassembly equals llvm-objdump -d', (name) => {
    const base = object.replace(/\.o$/, '');
    const goldenPath = join(testdata, 'golden', `${base}.objdump.txt`);
    expect(existsSync(goldenPath), `${goldenPath} missing: run npm run testdata`).toBe(true);
    const golden = goldenSections(readFileSync(goldenPath, 'utf8')).get(name)!;
    const alu32 = goldenSections(readFileSync(join(testdata, 'golden', `${base}.objdump-alu32.txt`), 'utf8')).get(name)!;
    expect(golden, `section ${name} in golden listing`).toBeDefined();
    expect(alu32.length).toBe(golden.length);
    const expected = golden.map((line, i) => (isAtomic32Line(line) ? alu32[i]! : llvm14AddrSpaceCast(line)));

    const section = sections.find((s) => s.name === name)!;
    const insns = withSymbols(decode(section.data, elf.byteOrder), codeSymbols(elf, section));
    const actual = disassemble(insns, { byteOrder: elf.byteOrder, sectionName: name }).trimEnd().split('\n');
    expect(actual).toEqual(expected);
  });

  it('disassembly without raw bytes equals llvm-objdump --no-show-raw-insn form', () => {
    // The golden listing with its bytes column removed is exactly what --no-show-raw-insn prints.
    for (const section of sections) {
      const insns = withSymbols(decode(section.data, elf.byteOrder), codeSymbols(elf, section));
      const withBytes = disassemble(insns, { byteOrder: elf.byteOrder, sectionName: section.name }).split('\n');
      const without = disassemble(insns, { sectionName: section.name, rawBytes: false }).split('\n');
      expect(without).toEqual(withBytes.map((l) => l.replace(/^(\s+\d+:)\t[0-9a-f ]+\t/, '$1\t')));
    }
  });
});

describe('bpfel and bpfeb objects decode to the same instructions', () => {
  // Same source, same compiler: only the byte order differs, except that a host-order swap
  // (`__builtin_bswap32`) compiles to `be32` on a little-endian target and `le32` on a
  // big-endian one; those END instructions differ exactly in the TO_BE source bit. Limited to
  // the asm objects, written to be byte-order neutral: other testdata (bitfields, CO-RE)
  // legitimately compiles to different shifts and offsets per byte order.
  const isEnd = (i: Instruction): boolean => opClass(i.opcode) === Class.ALU && (i.opcode & 0xf0) === ALUOp.End;
  const pairs = ['asm_coverage.bpfel.o', 'minimal.bpfel.o'];
  it.each(pairs)('%s', (el) => {
    const little = readElf(join(testdata, el));
    const big = readElf(join(testdata, el.replace('.bpfel.', '.bpfeb.')));
    for (const section of programSections(little)) {
      const other = programSections(big).find((s) => s.name === section.name)!;
      const a = decode(section.data, 'little');
      const b = decode(other.data, 'big').map((i) => (isEnd(i) ? i.clone({ opcode: i.opcode ^ Endianness.ToBE }) : i));
      expect(b.length).toBe(a.length);
      a.forEach((insn, i) => expect(insn.equals(b[i]!), `${section.name}[${i}] ${insn} vs ${b[i]}`).toBe(true));
      // Re-encoding one order's instructions in the other order gives the other file's bytes.
      expect(Buffer.from(encode(b, 'little')).equals(Buffer.from(section.data))).toBe(true);
    }
  });
});

it('asm_coverage exercises the instruction forms clang-14 can emit', () => {
  const elf = readElf(join(testdata, 'asm_coverage.bpfel.o'));
  const all = programSections(elf).flatMap((s) => decode(s.data, 'little'));
  const classes = new Set(all.map((i) => opClass(i.opcode)));
  for (const cls of [Class.LD, Class.LDX, Class.STX, Class.ALU, Class.JMP, Class.JMP32, Class.ALU64]) {
    expect(classes.has(cls), `class ${Class[cls]}`).toBe(true);
  }
  const ldx = new Set(all.filter((i) => opClass(i.opcode) === Class.LDX).map((i) => opSize(i.opcode)));
  const stx = new Set(all.filter((i) => opClass(i.opcode) === Class.STX && opMode(i.opcode) === Mode.MEM).map((i) => opSize(i.opcode)));
  for (const size of [Size.B, Size.H, Size.W, Size.DW]) {
    expect(ldx.has(size), `LDX ${Size[size]}`).toBe(true);
    expect(stx.has(size), `STX ${Size[size]}`).toBe(true);
  }
  const atomics = new Set(all.filter((i) => opMode(i.opcode) === Mode.ATOMIC && opClass(i.opcode) === Class.STX).map((i) => `${opSize(i.opcode)}:${i.imm}`));
  for (const size of [Size.W, Size.DW]) {
    for (const op of [0x00, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1]) expect(atomics.has(`${size}:${op}`), `atomic ${Size[size]} 0x${op.toString(16)}`).toBe(true);
  }
  expect(all.some((i) => i.isLoadImm64 && i.imm64 > 0xffffffffn)).toBe(true);
  expect(all.some((i) => i.isFunctionCall)).toBe(true);
  expect(all.some((i) => i.isHelperCall)).toBe(true);
  expect(all.some((i) => (i.opcode & 0xf0) === 0xd0 && opClass(i.opcode) === Class.ALU)).toBe(true);
});
