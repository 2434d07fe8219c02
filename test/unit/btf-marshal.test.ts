import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { findTool, missingToolReason } from '../helpers/tools.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Array as BtfArray,
  Enum64,
  Func,
  FuncProto,
  Int,
  IntEncoding,
  Member,
  Pointer,
  Spec,
  Struct,
  Typedef,
  Var,
  VarLinkage,
  marshalSpec,
  parseSpec,
} from '../../src/btf/index.js';
import { findELFSection } from '../../src/btf/elf-section.js';
import { hasVmlinux, noVmlinuxReason, objectBTF, testdata, vmlinuxPath } from './btf-helpers.js';

const objects = readdirSync(testdata).filter((f) => f.endsWith('.o'));

describe('round trip: marshal(parse(x)) is byte-identical', () => {
  it.each(objects)('testdata/%s .BTF', (file) => {
    const section = findELFSection(readFileSync(join(testdata, file)), '.BTF');
    if (section === undefined) return; // objects without debug info have nothing to compare
    expect(Buffer.from(marshalSpec(parseSpec(section.data))).equals(Buffer.from(section.data))).toBe(true);
  });

  it(vmlinuxPath, (ctx) => {
    if (!hasVmlinux) ctx.skip(noVmlinuxReason);
    const bytes = readFileSync(vmlinuxPath);
    const out = marshalSpec(parseSpec(bytes));
    expect(out.length).toBe(bytes.length);
    expect(Buffer.from(out).equals(bytes)).toBe(true);
  }, 60_000);

  it('little-endian input marshalled as big-endian equals the bpfeb object\'s BTF', () => {
    const el = parseSpec(objectBTF('btf_kinds.bpfel.o').btf);
    const eb = objectBTF('btf_kinds.bpfeb.o').btf;
    expect(Buffer.from(marshalSpec(el, { byteOrder: 'big' })).equals(Buffer.from(eb))).toBe(true);
  });
});

describe('specs built or edited in code', () => {
  it('get a fresh, deduplicated string table and parse back to the same graph', () => {
    const spec = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    const a = new Struct('a', 8, [new Member('x', int, 0), new Member('y', int, 32)]);
    const b = new Struct('b', 8, [new Member('x', int, 0), new Member('next', new Pointer(a), 64)]);
    b.size = 16;
    spec.add(b); // pulls in int, a and the pointer
    const flags = new Enum64('flags', 8, [{ name: 'BIG', value: 1n << 40n }, { name: 'x', value: 3n }]);
    spec.add(flags);
    spec.add(new Var('v', new BtfArray(int, int, 4), VarLinkage.Global));
    const bytes = marshalSpec(spec);
    const strings = Buffer.from(bytes.subarray(24 + new DataView(bytes.buffer).getUint32(16, true)));
    expect(strings.toString('latin1').split('\0').filter((s) => s === 'x')).toHaveLength(1);
    const back = parseSpec(bytes);
    expect([...back].map(String)).toEqual([...spec].map(String));
    expect(back.typeByName('flags', Enum64).values[0]!.value).toBe(1n << 40n);
    const nb = back.typeByName('b', Struct);
    expect(((nb.member('next')!.type as Pointer).target as Struct).member('y')!.offset).toBe(32);
  });

  it('edits of a parsed spec survive marshalling; new strings are appended', () => {
    const spec = parseSpec(objectBTF('btf_kinds.bpfel.o').btf).copy();
    const bits = spec.typeByName('bits', Struct);
    bits.members[0]!.name = 'renamed_member';
    const proto = spec.typeByName('global_func', Func).type as FuncProto;
    proto.params[0]!.name = 'y';
    spec.add(new Typedef('brand_new', bits));
    const back = parseSpec(marshalSpec(spec));
    expect(back.typeByName('bits', Struct).members[0]!.name).toBe('renamed_member');
    expect((back.typeByName('global_func', Func).type as FuncProto).params[0]!.name).toBe('y');
    expect(back.typeByName('brand_new', Typedef).type).toBe(back.typeByName('bits', Struct));
  });

  it('references to types not yet in the spec are added by marshal', () => {
    const spec = new Spec();
    const s = new Struct('s', 4, []);
    spec.add(s);
    s.members.push(new Member('m', new Int('unsigned int', 4), 0));
    const back = parseSpec(marshalSpec(spec));
    expect(back.typeByName('s', Struct).members[0]!.type.name).toBe('unsigned int');
  });
});

describe('split BTF', () => {
  function split(base: Spec): { bytes: Uint8Array; spec: Spec } {
    const spec = new Spec({ base });
    const int = base.typeByName('int', Int);
    const mod = new Struct('module_thing', 16, [
      new Member('count', int, 0),
      new Member('int', new Pointer(int), 64), // a name already in the base table
    ]);
    spec.add(mod);
    return { bytes: marshalSpec(spec), spec };
  }

  it('IDs and string offsets continue the base', () => {
    const base = parseSpec(objectBTF('btf_kinds.bpfel.o').btf);
    const { bytes } = split(base);
    const parsed = parseSpec(bytes, { base });
    expect(parsed.firstTypeId).toBe(base.typeCount);
    const mod = parsed.typeByName('module_thing', Struct);
    expect(parsed.typeId(mod)).toBe(base.typeCount);
    // Base types resolve to the base's own objects.
    expect(mod.members[0]!.type).toBe(base.typeByName('int', Int));
    expect(parsed.typeByName('nested', Struct)).toBe(base.typeByName('nested', Struct));
    // The member name "int" reuses the base's string: only the new names are in the blob.
    const strLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(20, true);
    expect(strLen).toBe('module_thing\0count\0'.length);
    expect(Buffer.from(marshalSpec(parsed)).equals(Buffer.from(bytes))).toBe(true);
    expect(() => parseSpec(bytes)).toThrow(/must start with an empty string|references type ID|name offset/);
  });

  it('bpftool reads our split BTF the same way', (ctx) => {
    const bpftool = findTool('bpftool');
    if (bpftool === undefined) ctx.skip(missingToolReason('bpftool'));
    const baseBytes = objectBTF('btf_kinds.bpfel.o').btf;
    const { bytes } = split(parseSpec(baseBytes));
    const dir = mkdtempSync(join(tmpdir(), 'btf-split-'));
    try {
      writeFileSync(join(dir, 'base.btf'), baseBytes);
      writeFileSync(join(dir, 'split.btf'), bytes);
      const out = execFileSync(bpftool!, ['btf', 'dump', 'file', join(dir, 'split.btf'), '-B', join(dir, 'base.btf')], {
        encoding: 'utf8',
      });
      expect(out).toContain("STRUCT 'module_thing' size=16 vlen=2");
      expect(out).toContain("'int' type_id=");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
