// Arrays of C strings in an attr (kprobe_multi.syms): the attr and the pointer array share one
// ArrayBuffer, the array 8-aligned after the attr, each slot a pointer entry at its offset in
// that buffer; the strings share one NUL-separated buffer. Only the attr's bytes are its size.
import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defineLayout } from '../../src/sys/attr.js';
import { LinkCreate } from '../../src/sys/layouts.js';
import { encodeAttrWithStrings, u64Array } from '../../src/sys/string-array.js';

const le = endianness() === 'LE';

describe('encodeAttrWithStrings', () => {
  it('lays the slot array after the attr in one buffer and points each slot at its NUL-terminated string', () => {
    const { attr, pointers } = encodeAttrWithStrings(
      LinkCreate,
      { prog_fd: 7, target_fd: 0, attach_type: 42, flags: 0, kprobe_multi_flags: 1, kprobe_multi_cnt: 3 },
      'kprobe_multi_syms',
      ['vfs_read', 'vfs_write', 'ünïcode'],
    );
    // The attr ends with the syms field (24 + 8): addrs and cookies are not sent.
    expect(attr.byteLength).toBe(32);
    const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
    expect([v.getUint32(0, le), v.getUint32(8, le), v.getUint32(16, le), v.getUint32(20, le)]).toEqual([7, 42, 1, 3]);
    expect(v.getBigUint64(24, le)).toBe(0n); // patched by the backend, never by us
    expect(pointers.length).toBe(2 + 2 * 3);
    expect(pointers[0]).toBe(24);
    const slots = pointers[1] as Uint8Array;
    expect(slots.buffer).toBe(attr.buffer);
    expect(slots.byteOffset).toBe(attr.byteOffset + 32);
    expect(slots.byteLength).toBe(24);
    const strings = [pointers[3], pointers[5], pointers[7]] as Uint8Array[];
    expect([pointers[2], pointers[4], pointers[6]]).toEqual([32, 40, 48]);
    expect(strings.map((s) => Buffer.from(s).toString('utf8'))).toEqual(['vfs_read\0', 'vfs_write\0', 'ünïcode\0']);
    // One buffer for every string, none of them the attr's.
    expect(new Set(strings.map((s) => s.buffer)).size).toBe(1);
    expect(strings[0]!.buffer).not.toBe(attr.buffer);
  });

  it('aligns the array to 8 bytes after an attr of odd size and keeps the other pointer fields', () => {
    const odd = defineLayout('ODD', 99, '5.0', { n: [0, 'u32', '5.0'], names: [8, 'ptr', '5.0'], extra: [16, 'ptr', '5.0'], tail: [24, 'u8', '5.0'] });
    const extra = new Uint8Array([1, 2, 3]);
    const { attr, pointers } = encodeAttrWithStrings(odd, { n: 1, extra, tail: 5 }, 'names', ['x']);
    expect(attr.byteLength).toBe(25);
    expect(pointers).toEqual([16, extra, 8, expect.any(Uint8Array), 32, expect.any(Uint8Array)]);
    expect((pointers[3] as Uint8Array).byteOffset).toBe(attr.byteOffset + 32);
    expect(attr[24]).toBe(5);
  });

  it('refuses a field that is not a pointer', () => {
    expect(() => encodeAttrWithStrings(LinkCreate, {}, 'kprobe_multi_cnt', ['x'])).toThrow(/not a pointer field/);
  });
});

describe('u64Array', () => {
  it('writes native-endian u64s, wrapping nothing that fits', () => {
    const bytes = u64Array([1n, 0xffff_ffff_ffff_ffffn, 0x0102030405060708n]);
    const v = new DataView(bytes.buffer);
    expect([v.getBigUint64(0, le), v.getBigUint64(8, le), v.getBigUint64(16, le)]).toEqual([1n, 0xffff_ffff_ffff_ffffn, 0x0102030405060708n]);
    expect(u64Array([]).byteLength).toBe(0);
  });
});
