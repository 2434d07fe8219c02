// struct_ops maps: what the ELF reader makes of .struct_ops and .struct_ops.link sections
// (testdata/struct_ops.bpf.c, both byte orders; corrupted copies for the errors), and the
// translation of a map's value into a kernel layout that differs from the object's (a
// hand-built "kernel" BTF in the order Linux declares struct tcp_congestion_ops, and the
// running kernel's BTF where there is one).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKernelSpec } from '../../src/btf/kernel.js';
import { Spec } from '../../src/btf/spec.js';
import { Array as BTFArray, Enum, FuncProto, Int, IntEncoding, Member, Pointer, Struct, Void } from '../../src/btf/types.js';
import { parseCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { readELF } from '../../src/elf/file.js';
import { ParseError } from '../../src/errors.js';
import { BPF_F_LINK } from '../../src/internal/flags.js';
import { structOpsMemberIndex, structOpsTarget, structOpsValue, StructOpsError } from '../../src/struct-ops-layout.js';
import { MapType, ProgramType } from '../../src/types.js';
import type { ELFMapSpec } from '../../src/elf/specs.js';

const testdata = join(import.meta.dirname, '../../testdata');
const bytes = (o: string): Uint8Array => new Uint8Array(readFileSync(join(testdata, o)));
const parse = (b: Uint8Array): CollectionSpec => parseCollectionSpec(b);
const functions = (init: string) => [
  { member: 'init', program: init },
  { member: 'ssthresh', program: 'ebpfts_ssthresh' },
  { member: 'cong_avoid', program: 'ebpfts_cong_avoid' },
  { member: 'undo_cwnd', program: 'ebpfts_undo_cwnd' },
];
const text = (b: Uint8Array): string => new TextDecoder().decode(b.subarray(0, b.indexOf(0)));

describe.each(['struct_ops.bpfel.o', 'struct_ops.bpfeb.o'])('%s: .struct_ops and .struct_ops.link sections', (object) => {
  const spec = parse(bytes(object));
  const little = object.includes('bpfel');

  it('makes one STRUCT_OPS map per variable, BPF_F_LINK for .struct_ops.link', () => {
    const so = Object.values(spec.maps).filter((m) => m.type === MapType.StructOps);
    expect(so.map((m) => [m.name, m.sectionName, m.flags]).sort()).toEqual([
      ['ebpfts_cc', '.struct_ops.link', BPF_F_LINK],
      ['ebpfts_cc_map', '.struct_ops', 0],
      ['ebpfts_cc_v2', '.struct_ops.link', BPF_F_LINK],
    ]);
    for (const m of so) {
      expect(m).toMatchObject({ keySize: 4, maxEntries: 1, valueSize: 56 });
      expect(m.value).toBeInstanceOf(Struct);
      expect((m.value as Struct).name).toBe('tcp_congestion_ops');
      expect(m.structOps!.typeName).toBe('tcp_congestion_ops');
    }
  });

  it('maps each function pointer member to the program the relocation names, in member order', () => {
    expect(spec.maps.ebpfts_cc_map!.structOps!.functions).toEqual(functions('ebpfts_init'));
    expect(spec.maps.ebpfts_cc!.structOps!.functions).toEqual(functions('ebpfts_init'));
    expect(spec.maps.ebpfts_cc_v2!.structOps!.functions).toEqual(functions('ebpfts_init_v2'));
  });

  it('keeps the data members the object sets and zeroes the function pointer slots', () => {
    const data = spec.maps.ebpfts_cc_map!.structOps!.data;
    expect(data.length).toBe(56);
    expect(text(data.subarray(0, 16))).toBe('ebpfts_cc_map');
    expect(new DataView(data.buffer, data.byteOffset).getUint32(16, little)).toBe(1); // TCP_CONG_NON_RESTRICTED
    expect([...data.subarray(24)].every((b) => b === 0)).toBe(true);
    expect(text(spec.maps.ebpfts_cc_v2!.structOps!.data)).toBe('ebpfts_cc');
  });

  it('leaves the programs as STRUCT_OPS programs: their attach ids are the kernel\'s, set at load', () => {
    for (const name of ['ebpfts_init', 'ebpfts_init_v2', 'ebpfts_ssthresh', 'ebpfts_cong_avoid', 'ebpfts_undo_cwnd']) {
      expect(spec.programs[name]).toMatchObject({ type: ProgramType.StructOps, sectionName: `struct_ops/${name}` });
      expect(spec.programs[name]!.attachBtfId).toBeUndefined();
    }
  });

  it('copies the struct_ops view with the spec', () => {
    const copy = spec.copy();
    expect(copy.maps.ebpfts_cc!.structOps).toEqual(spec.maps.ebpfts_cc!.structOps);
    expect((copy.maps.ebpfts_cc!.value as Struct).name).toBe('tcp_congestion_ops');
  });
});

/** A copy of the little-endian object with one relocation of `.rel.struct_ops` rewritten. */
function patchRelocation(index: number, patch: { offset?: number; symbol?: number }): Uint8Array {
  const b = bytes('struct_ops.bpfel.o').slice();
  const file = readELF(b);
  const rel = file.sections.find((s) => s.name === '.rel.struct_ops')!;
  const view = new DataView(b.buffer);
  const at = rel.offset + index * 16;
  if (patch.offset !== undefined) view.setBigUint64(at, BigInt(patch.offset), true);
  if (patch.symbol !== undefined) view.setUint32(at + 12, patch.symbol, true);
  return b;
}

function symbolIndex(name: string): number {
  return readELF(bytes('struct_ops.bpfel.o')).symbols.find((s) => s.name === name)!.index;
}

describe('struct_ops relocations the reader refuses or resolves', () => {
  it('a relocation on a data member (flags) is not a function pointer', () => {
    expect(() => parse(patchRelocation(0, { offset: 16 }))).toThrow(/member flags of struct_ops map ebpfts_cc_map is not a function pointer/);
  });

  it('a relocation inside a member names no member', () => {
    expect(() => parse(patchRelocation(0, { offset: 20 }))).toThrow(ParseError);
    expect(() => parse(patchRelocation(0, { offset: 20 }))).toThrow(/has no member at byte 20 of struct tcp_congestion_ops/);
  });

  it('a function pointer set to a variable is refused', () => {
    expect(() => parse(patchRelocation(0, { symbol: symbolIndex('init_calls') }))).toThrow(/member init of struct_ops map ebpfts_cc_map must point at a program of a SEC\("struct_ops\/…"\) section/);
  });

  it('a section symbol with the addend in place resolves to the function at that offset', () => {
    const file = readELF(bytes('struct_ops.bpfel.o'));
    const sectionSymbol = file.symbols.find((s) => s.type === 3 && file.sections[s.sectionIndex]?.name === 'struct_ops/ebpfts_init')!;
    const spec = parse(patchRelocation(0, { symbol: sectionSymbol.index }));
    expect(spec.maps.ebpfts_cc_map!.structOps!.functions[0]).toEqual({ member: 'init', program: 'ebpfts_init' });
  });
});

// --- the kernel's layout ------------------------------------------------------------------

const u32 = new Int('unsigned int', 4);
const u8 = new Int('char', 1, IntEncoding.Signed);
const u64 = new Int('long long unsigned int', 8);
const sock = new Struct('sock', 8);
const fnPtr = (): Pointer => new Pointer(new FuncProto(new Void(), []));

/**
 * A kernel-like struct tcp_congestion_ops: members in Linux's order, so every one the object
 * sets sits elsewhere, plus the bpf_struct_ops_ wrapper with `data` at 64 bytes.
 */
function kernelSpec(options: { withoutUndo?: boolean; nameLength?: number; flagsSize?: number } = {}): Spec {
  const spec = new Spec();
  const nameLength = options.nameLength ?? 16;
  const flags = options.flagsSize === 2 ? new Int('short unsigned int', 2) : u32;
  const members = [
    new Member('list', new BTFArray(u64, u32, 2), 0),
    new Member('key', u32, 128),
    new Member('flags', flags, 160),
    new Member('init', fnPtr(), 192),
    new Member('release', fnPtr(), 256),
    new Member('ssthresh', fnPtr(), 320),
    new Member('cong_avoid', fnPtr(), 384),
    ...(options.withoutUndo === true ? [] : [new Member('undo_cwnd', fnPtr(), 448)]),
    new Member('name', new BTFArray(u8, u32, nameLength), 512),
    new Member('owner', new Pointer(sock), 512 + nameLength * 8),
  ];
  const size = 64 + nameLength + 8;
  const ops = new Struct('tcp_congestion_ops', size, members);
  const state = new Enum('bpf_struct_ops_state', 4, [{ name: 'BPF_STRUCT_OPS_STATE_INIT', value: 0 }]);
  const wrapper = new Struct('bpf_struct_ops_tcp_congestion_ops', 64 + size, [new Member('refcnt', u32, 0), new Member('state', state, 32), new Member('data', ops, 512)]);
  spec.add(wrapper);
  return spec;
}

describe('struct_ops values in the kernel layout', () => {
  const spec = parse(bytes('struct_ops.bpfel.o'));
  const m = spec.maps.ebpfts_cc_map as ELFMapSpec;
  const fds: Record<string, number> = { ebpfts_init: 11, ebpfts_ssthresh: 12, ebpfts_cong_avoid: 13, ebpfts_undo_cwnd: 14, ebpfts_init_v2: 15 };
  const build = (kernel: Spec, map: ELFMapSpec = m): Uint8Array => {
    const target = structOpsTarget(map.name, map.structOps!.typeName, kernel);
    return structOpsValue(map.name, map.structOps!, map.value as Struct, target, (p) => fds[p]!, 'little');
  };

  it('finds the kernel struct, the bpf_struct_ops_ wrapper (value size, type id) and the data offset', () => {
    const kernel = kernelSpec();
    const t = structOpsTarget('x', 'tcp_congestion_ops', kernel);
    expect(t.valueSize).toBe(64 + 88);
    expect(t.dataOffset).toBe(64);
    expect(kernel.typeById(t.valueTypeId).name).toBe('bpf_struct_ops_tcp_congestion_ops');
    expect(kernel.typeById(t.typeId).name).toBe('tcp_congestion_ops');
    // A flavoured local name (tcp_congestion_ops___mine) means the same kernel struct.
    expect(structOpsTarget('x', 'tcp_congestion_ops___mine', kernel).typeId).toBe(t.typeId);
  });

  it('gives programs the kernel\'s member index as expected attach type', () => {
    const t = structOpsTarget('x', 'tcp_congestion_ops', kernelSpec());
    expect(['init', 'ssthresh', 'cong_avoid', 'undo_cwnd'].map((n) => structOpsMemberIndex('x', t, n))).toEqual([3, 5, 6, 7]);
    expect(() => structOpsMemberIndex('x', t, 'cong_control')).toThrow(/has no member cong_control/);
  });

  it('places every member by name: fds in function pointers, name and flags copied, header zero', () => {
    const v = build(kernelSpec());
    const view = new DataView(v.buffer);
    expect(v.length).toBe(152);
    expect([...v.subarray(0, 64)].every((b) => b === 0)).toBe(true);
    const data = 64;
    expect(view.getUint32(data + 20, true)).toBe(1); // flags
    expect(Number(view.getBigUint64(data + 24, true))).toBe(11); // init
    expect(view.getBigUint64(data + 32, true)).toBe(0n); // release: not set
    expect(Number(view.getBigUint64(data + 40, true))).toBe(12);
    expect(Number(view.getBigUint64(data + 48, true))).toBe(13);
    expect(Number(view.getBigUint64(data + 56, true))).toBe(14);
    expect(text(v.subarray(data + 64, data + 80))).toBe('ebpfts_cc_map');
    expect(view.getBigUint64(data + 80, true)).toBe(0n); // owner
  });

  it('converts an integer member to the kernel\'s size when the value fits', () => {
    const v = build(kernelSpec({ flagsSize: 2 }));
    expect(new DataView(v.buffer).getUint32(64 + 20, true)).toBe(1);
  });

  it('names the member the kernel lacks, with what to do', () => {
    let err: unknown;
    try {
      build(kernelSpec({ withoutUndo: true }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StructOpsError);
    expect((err as StructOpsError).map).toBe('ebpfts_cc_map');
    expect((err as StructOpsError).member).toBe('undo_cwnd');
    expect((err as Error).message).toMatch(/struct_ops map ebpfts_cc_map: the object sets undo_cwnd to program ebpfts_undo_cwnd, but this kernel's struct tcp_congestion_ops has no member undo_cwnd: leave it out/);
  });

  it('refuses a string the kernel\'s array cannot hold', () => {
    expect(() => build(kernelSpec({ nameLength: 8 }))).toThrow(/name "ebpfts_cc_map" needs 14 bytes with its NUL, but this kernel's struct tcp_congestion_ops holds 8: shorten it/);
  });

  it('says when the kernel has no such struct, or no struct_ops wrapper for it', () => {
    expect(() => structOpsTarget('x', 'sched_ext_ops', kernelSpec())).toThrow(/this kernel's BTF has no struct sched_ext_ops/);
    const bare = new Spec();
    bare.add(new Struct('tcp_congestion_ops', 8, [new Member('key', u64, 0)]));
    expect(() => structOpsTarget('x', 'tcp_congestion_ops', bare)).toThrow(/not a struct_ops type of this kernel \(its BTF has no bpf_struct_ops_tcp_congestion_ops\)/);
  });

  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('builds every map of the object against the running kernel\'s BTF', () => {
    const kernel = loadKernelSpec();
    for (const name of ['ebpfts_cc_map', 'ebpfts_cc', 'ebpfts_cc_v2']) {
      const map = spec.maps[name] as ELFMapSpec;
      const target = structOpsTarget(name, 'tcp_congestion_ops', kernel);
      const v = build(kernel, map);
      expect(v.length).toBe(target.valueSize);
      const nameMember = target.type.members.find((x) => x.name === 'name')!;
      expect(text(v.subarray(target.dataOffset + nameMember.offset / 8))).toBe(name === 'ebpfts_cc_map' ? 'ebpfts_cc_map' : 'ebpfts_cc');
    }
  });
});
