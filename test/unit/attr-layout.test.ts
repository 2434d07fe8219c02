import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as L from '../../src/sys/layouts.js';
import type { Layout } from '../../src/sys/attr.js';
import { encodeAttr } from '../../src/sys/attr.js';

// Offsets computed by the C compiler from the kernel's own BTF (scripts/uapi-offsets.sh).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/uapi-offsets.json', import.meta.url), 'utf8')) as {
  kernel: string;
  fields: Array<[string, string, number, number]>;
};

// Fixture groups that several commands share.
const groups: Record<string, readonly Layout[]> = {
  elem: [L.MapLookupElem, L.MapUpdateElem, L.MapDeleteElem, L.MapGetNextKey, L.MapLookupAndDeleteElem, L.MapFreeze],
  BPF_PROG_ATTACH: [L.ProgAttach, L.ProgDetach],
  batch: [L.MapLookupBatch, L.MapLookupAndDeleteBatch, L.MapUpdateBatch, L.MapDeleteBatch],
  obj: [L.ObjPin, L.ObjGet],
  ids: [L.ProgGetNextId, L.MapGetNextId, L.BtfGetNextId, L.LinkGetNextId, L.ProgGetFdById, L.MapGetFdById, L.BtfGetFdById, L.LinkGetFdById],
};
const byName = new Map<string, Layout>([...L.commandLayouts, L.ProgInfo, L.MapInfo, L.BtfInfo, L.LinkInfo].map((l) => [l.name, l]));

describe('bpf_attr layouts match the kernel UAPI', () => {
  for (const [group, field, offset, size] of fixture.fields) {
    const layouts = groups[group] ?? [byName.get(group)!];
    it(`${group}.${field} is at offset ${offset}, ${size} bytes`, () => {
      let seen = 0;
      for (const layout of layouts) {
        expect(layout, `layout ${group}`).toBeDefined();
        const f = (layout.fields as Record<string, { offset: number; size: number }>)[field];
        if (f === undefined) continue;
        seen++;
        expect(f.offset, `${layout.name}.${field}`).toBe(offset);
        expect(f.size, `${layout.name}.${field}`).toBe(size);
      }
      expect(seen, `no layout of ${group} describes ${field}`).toBeGreaterThan(0);
    });
  }

  it('every layout field is covered by the fixture (except padding)', () => {
    const covered = new Set(fixture.fields.map(([g, f]) => `${g}.${f}`));
    const missing: string[] = [];
    for (const layout of byName.values()) {
      const group = Object.entries(groups).find(([, ls]) => ls.includes(layout))?.[0] ?? layout.name;
      for (const f of layout.ordered) {
        // Padding, and a bitfield offsetof() cannot name (checked by hand: bit 0 of the u32 at 84).
        if (f.name === 'pad' || f.name === 'gpl_compatible') continue;
        if (!covered.has(`${group}.${f.name}`)) missing.push(`${layout.name}.${f.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every field and command carries a kernel version', () => {
    for (const layout of L.commandLayouts) {
      expect(layout.since).toMatch(/^\d+\.\d+$/);
      for (const f of layout.ordered) expect(f.since, `${layout.name}.${f.name}`).toMatch(/^\d+\.\d+$/);
    }
  });
});

describe('encodeAttr', () => {
  it('sizes the attr to the end of the last field set, never the whole union', () => {
    expect(encodeAttr(L.MapCreate, { map_type: 1, key_size: 4, value_size: 8, max_entries: 16 }).attr.byteLength).toBe(16);
    expect(encodeAttr(L.MapCreate, { map_type: 1, map_name: 'x' }).attr.byteLength).toBe(44);
    expect(encodeAttr(L.MapCreate, { map_type: 1, map_extra: 0n }).attr.byteLength).toBe(72);
    expect(encodeAttr(L.ProgLoad, { prog_type: 1, log_true_size: 0 }).attr.byteLength).toBe(144);
    expect(encodeAttr(L.ProgTestRun, { prog_fd: 3, repeat: 1 }).attr.byteLength).toBe(36);
    expect(encodeAttr(L.ObjGet, { pathname: new Uint8Array(2), bpf_fd: 0 }).attr.byteLength).toBe(12);
  });

  it('writes integers native-endian and leaves every other byte zero', () => {
    const { attr } = encodeAttr(L.MapCreate, { map_type: 1, key_size: 4, value_size: 0x01020304, max_entries: 0xffffffff, map_flags: 0 });
    expect([...attr]).toEqual([1, 0, 0, 0, 4, 0, 0, 0, 4, 3, 2, 1, 255, 255, 255, 255, 0, 0, 0, 0]);
  });

  it('writes names NUL-terminated and truncated to 15 bytes', () => {
    const { attr } = encodeAttr(L.MapCreate, { map_name: 'a_very_long_map_name_indeed' });
    expect(Buffer.from(attr.subarray(28, 44)).toString('latin1')).toBe('a_very_long_map\0');
  });

  it('lists pointer fields for the backend, and passes empty buffers as NULL', () => {
    const insns = new Uint8Array(16);
    const { attr, pointers } = encodeAttr(L.ProgLoad, { prog_type: 1, insns, license: new Uint8Array(0), insn_cnt: 2 });
    expect(pointers).toEqual([8, insns]);
    expect([...attr.subarray(8, 24)]).toEqual(new Array(16).fill(0));
  });

  it('encodes u64 fields from numbers and bigints', () => {
    const { attr } = encodeAttr(L.MapCreate, { map_extra: 0x1_0000_0002n });
    expect([...attr.subarray(64, 72)]).toEqual([2, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('rejects a field the layout does not have', () => {
    expect(() => encodeAttr(L.MapFreeze, { nope: 1 } as never)).toThrow(/has no field nope/);
  });
});
