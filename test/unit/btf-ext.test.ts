// .BTF.ext: parsing clang's func_info, line_info and CO-RE records in both byte orders,
// forward compatibility (larger records, headers without CO-RE), typed errors for corrupt
// input, and the kernel's record layout for BPF_PROG_LOAD.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, ParseError } from '../../src/errors.js';
import { findELFSection } from '../../src/btf/elf-section.js';
import {
  btfExtCOREHeaderSize,
  kernelFuncInfoSize,
  kernelLineInfoSize,
  marshalFuncInfos,
  marshalLineInfos,
  parseBTFExt,
  type BTFExt,
} from '../../src/btf/ext.js';
import { COREKind } from '../../src/btf/core-kind.js';
import { parseSpec, type Spec } from '../../src/btf/spec.js';
import { Func } from '../../src/btf/types.js';
import { StringTable } from '../../src/btf/strings.js';
import { readElf, STT_FUNC } from './helpers/elf-sections.js';
import { testdata } from './btf-helpers.js';

function load(name: string): { spec: Spec; ext: BTFExt; raw: Uint8Array } {
  const elf = new Uint8Array(readFileSync(join(testdata, name)));
  const spec = parseSpec(findELFSection(elf, '.BTF')!.data);
  const raw = findELFSection(elf, '.BTF.ext')!.data;
  return { spec, ext: parseBTFExt(raw, spec), raw };
}

const source = readFileSync(join(testdata, 'core_relocs.bpf.c'), 'utf8').split('\n');

describe('parseBTFExt on clang output', () => {
  for (const arch of ['bpfel', 'bpfeb'] as const) {
    const { spec, ext } = load(`core_relocs.${arch}.o`);

    it(`${arch}: header and record sizes`, () => {
      expect(ext.byteOrder).toBe(arch === 'bpfel' ? 'little' : 'big');
      expect(ext.header.version).toBe(1);
      expect(ext.header.headerLength).toBe(btfExtCOREHeaderSize);
      expect(ext.recordSizes).toEqual({ funcInfo: 8, lineInfo: 16, coreRelocation: 16 });
    });

    it(`${arch}: func_info names every program at its symbol's offset`, () => {
      const elf = readElf(join(testdata, `core_relocs.${arch}.o`));
      const socket = elf.sections.find((s) => s.name === 'socket')!;
      const funcs = elf.symbols.filter((s) => s.sectionIndex === socket.index && s.type === STT_FUNC);
      const infos = ext.funcInfos.get('socket')!;
      expect(infos.map((f) => [f.insnOffset, (spec.typeById(f.typeId) as Func).name])).toEqual(
        funcs.sort((a, b) => a.value - b.value).map((s) => [s.value, s.name]),
      );
      for (const f of infos) expect(spec.typeById(f.typeId)).toBeInstanceOf(Func);
    });

    it(`${arch}: line_info resolves file names and the source line text`, () => {
      const lines = ext.lineInfos.get('socket')!;
      expect(lines.length).toBeGreaterThan(50);
      for (const l of lines) {
        // build.sh pins the compilation directory to "."
        expect(l.fileName).toBe('./core_relocs.bpf.c');
        expect(l.insnOffset % 8).toBe(0);
        // The recorded text is the source line itself.
        expect(source[l.lineNumber - 1]).toBe(l.line);
        expect(l.column).toBeGreaterThanOrEqual(0);
      }
      expect(lines.some((l) => l.column > 0)).toBe(true);
    });

    it(`${arch}: CO-RE records with access strings and kinds`, () => {
      const relos = ext.coreRelocations.get('socket')!;
      expect(relos).toHaveLength(82);
      const first = relos[0]!;
      expect(spec.typeById(first.typeId).name).toBe('core_sample');
      expect(first.kind).toBe(COREKind.FieldByteOffset);
      expect(first.accessor).toMatch(/^0(:\d+)*$/);
      expect(new Set(relos.map((r) => r.kind)).size).toBe(12);
    });
  }

  it('both byte orders parse to the same records', () => {
    const el = load('core_relocs.bpfel.o').ext;
    const eb = load('core_relocs.bpfeb.o').ext;
    expect(eb.funcInfos).toEqual(el.funcInfos);
    expect(eb.lineInfos).toEqual(el.lineInfos);
    expect(eb.coreRelocations).toEqual(el.coreRelocations);
  });
});

// A .BTF.ext built by hand: little helpers to lay out parts with any record size.
const strings = new StringTable(new TextEncoder().encode('\0sec\0file.c\0int x = 1;\x000:1\0'));
const off = { sec: 1, file: 5, line: 12, access: 23 };

function build(options: { le?: boolean; hdrLen?: number; func?: number[][]; funcSize?: number; line?: number[][]; lineSize?: number; core?: number[][]; coreSize?: number } = {}): Uint8Array {
  const le = options.le ?? true;
  const hdrLen = options.hdrLen ?? 32;
  const part = (records: number[][] | undefined, size: number): number[] => {
    if (records === undefined) return [];
    const words = [size, off.sec, records.length];
    for (const r of records) {
      const padded = [...r];
      while (padded.length < size / 4) padded.push(0xaaaaaaaa);
      words.push(...padded);
    }
    return words;
  };
  const f = part(options.func, options.funcSize ?? 8);
  const l = part(options.line, options.lineSize ?? 16);
  const c = part(options.core, options.coreSize ?? 16);
  const body = [...f, ...l, ...c];
  const out = new Uint8Array(hdrLen + body.length * 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  v.setUint32(4, hdrLen, le);
  v.setUint32(8, 0, le);
  v.setUint32(12, f.length * 4, le);
  v.setUint32(16, f.length * 4, le);
  v.setUint32(20, l.length * 4, le);
  if (hdrLen >= 32) {
    v.setUint32(24, (f.length + l.length) * 4, le);
    v.setUint32(28, c.length * 4, le);
  }
  body.forEach((w, i) => v.setUint32(hdrLen + i * 4, w >>> 0, le));
  return out;
}

describe('parseBTFExt on hand-built input', () => {
  const func = [[16, 3]];
  const line = [[8, off.file, off.line, (7 << 10) | 5]];
  const core = [[24, 4, off.access, COREKind.FieldByteOffset]];

  it('parses both byte orders', () => {
    for (const le of [true, false]) {
      const ext = parseBTFExt(build({ le, func, line, core }), strings);
      expect(ext.funcInfos.get('sec')).toEqual([{ insnOffset: 16, typeId: 3 }]);
      expect(ext.lineInfos.get('sec')).toEqual([
        { insnOffset: 8, fileName: 'file.c', line: 'int x = 1;', lineNumber: 7, column: 5, fileNameOffset: off.file, lineOffset: off.line },
      ]);
      expect(ext.coreRelocations.get('sec')).toEqual([{ insnOffset: 24, typeId: 4, accessor: '0:1', kind: COREKind.FieldByteOffset }]);
    }
  });

  it('skips the unknown tail of records larger than it knows (future compilers)', () => {
    const ext = parseBTFExt(build({ func: [[16, 3], [32, 4]], funcSize: 12, line, lineSize: 24, core, coreSize: 20 }), strings);
    expect(ext.recordSizes).toEqual({ funcInfo: 12, lineInfo: 24, coreRelocation: 20 });
    expect(ext.funcInfos.get('sec')).toEqual([{ insnOffset: 16, typeId: 3 }, { insnOffset: 32, typeId: 4 }]);
    expect(ext.coreRelocations.get('sec')![0]!.accessor).toBe('0:1');
  });

  it('reads old headers without a CO-RE part (hdr_len 24)', () => {
    const ext = parseBTFExt(build({ hdrLen: 24, func, line }), strings);
    expect(ext.header.coreRelocationLength).toBe(0);
    expect(ext.coreRelocations.size).toBe(0);
    expect(ext.lineInfos.get('sec')).toHaveLength(1);
  });

  it('resolves strings through a parsed Spec as well', () => {
    const { spec, raw } = load('minimal.bpfel.o');
    expect(parseBTFExt(raw, spec).funcInfos.size).toBeGreaterThan(0);
  });

  const corrupt: [string, () => Uint8Array, RegExp][] = [
    ['bad magic', () => Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), /bad magic/],
    ['truncated header', () => build().subarray(0, 6), /truncated/],
    ['hdr_len too small', () => { const b = build({ func }); new DataView(b.buffer).setUint32(4, 16, true); return b; }, /hdr_len 16/],
    ['hdr_len past the end', () => { const b = build({ func }); new DataView(b.buffer).setUint32(4, 4096, true); return b; }, /hdr_len 4096/],
    ['version', () => { const b = build(); b[2] = 2; return b; }, /version 2/],
    ['record size below the minimum', () => build({ func, funcSize: 4 }), /func_info record size 4/],
    ['unaligned record size', () => build({ line, lineSize: 18 }), /line_info record size 18/],
    ['part past the end', () => { const b = build({ func }); new DataView(b.buffer).setUint32(12, 400, true); return b; }, /func_info .* does not fit/],
    ['too many records', () => { const b = build({ func }); new DataView(b.buffer).setUint32(32 + 8, 1000, true); return b; }, /1000 records/],
    ['zero records', () => { const b = build({ func }); new DataView(b.buffer).setUint32(32 + 8, 0, true); return b; }, /no records/],
    ['section name outside the strings', () => { const b = build({ func }); new DataView(b.buffer).setUint32(32 + 4, 999, true); return b; }, /string offset 999/],
    ['line string outside the strings', () => build({ line: [[8, 999, off.line, 1 << 10]] }), /file name: string offset 999/],
    ['unknown CO-RE kind', () => build({ core: [[8, 1, off.access, 13]] }), /unknown CO-RE relocation kind 13/],
    ['insn_off not a multiple of 8', () => build({ func: [[12, 1]] }), /insn_off 12/],
  ];
  for (const [what, bytes, message] of corrupt) {
    it(`rejects ${what} with a ParseError`, () => {
      let error: unknown;
      try {
        parseBTFExt(bytes(), strings);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ParseError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('never throws anything but ParseError on truncations and bit flips', () => {
    const good = build({ func, line, core });
    for (let n = 0; n < good.length; n++) {
      for (const bytes of [good.subarray(0, n), (() => { const b = new Uint8Array(good); b[n] ^= 0xff; return b; })()]) {
        try {
          parseBTFExt(bytes, strings);
        } catch (e) {
          expect(e).toBeInstanceOf(ParseError);
        }
      }
    }
  });
});

describe('marshalling for BPF_PROG_LOAD', () => {
  it('writes 8-byte func_info with instruction (not byte) offsets relative to the program', () => {
    const out = marshalFuncInfos([{ insnOffset: 360, typeId: 7 }, { insnOffset: 400, typeId: 9 }], { programOffset: 360 });
    expect(out.length).toBe(2 * kernelFuncInfoSize);
    const v = new DataView(out.buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]).toEqual([0, 7, 5, 9]);
  });

  it('writes 16-byte line_info, line and column packed, in the requested byte order', () => {
    const rec = { insnOffset: 16, fileName: 'a.c', line: 'x', lineNumber: 42, column: 3, fileNameOffset: 10, lineOffset: 20 };
    const out = marshalLineInfos([rec], { byteOrder: 'big' });
    expect(out.length).toBe(kernelLineInfoSize);
    const v = new DataView(out.buffer);
    expect([v.getUint32(0), v.getUint32(4), v.getUint32(8), v.getUint32(12)]).toEqual([2, 10, 20, (42 << 10) | 3]);
    const remapped = new DataView(marshalLineInfos([rec], { stringOffset: (s) => (s === 'a.c' ? 1 : 5) }).buffer);
    expect([v.getUint32(0), remapped.getUint32(4, true), remapped.getUint32(8, true)]).toEqual([2, 1, 5]);
  });

  it('round-trips clang records: instruction indices are byte offsets / 8', () => {
    const { ext } = load('core_relocs.bpfel.o');
    const lines = ext.lineInfos.get('socket')!;
    const v = new DataView(marshalLineInfos(lines).buffer);
    lines.forEach((l, i) => {
      expect(v.getUint32(i * 16, true)).toBe(l.insnOffset / 8);
      expect(v.getUint32(i * 16 + 4, true)).toBe(l.fileNameOffset);
    });
  });

  it('rejects offsets outside the program or between instructions', () => {
    expect(() => marshalFuncInfos([{ insnOffset: 8, typeId: 1 }], { programOffset: 16 })).toThrow(ArgumentError);
    expect(() => marshalFuncInfos([{ insnOffset: 20, typeId: 1 }])).toThrow(ArgumentError);
  });
});
