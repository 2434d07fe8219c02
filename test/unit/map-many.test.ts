// lookupMany / updateMany / deleteMany against the fake backend (Backend.elemMany as a JS
// loop): one element call per key with the key's and value's addresses, the flags in the attr,
// the stop-at-first-error rule, and the errors that name the failing key.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { elemManyLoop } from '../../src/sys/backend.js';
import { setBackend } from '../../src/sys/select.js';
import { Cmd } from '../../src/sys/layouts.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { resetMapTypeFeatures } from '../../src/features/map-types.js';
import { BpfMap, UpdateFlags } from '../../src/map.js';
import { MapType } from '../../src/types.js';
import { SyscallError } from '../../src/errors.js';

let fake: FakeBackend;
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const key0 = (b: Uint8Array | null | undefined): number => new DataView(b!.buffer, b!.byteOffset, 4).getUint32(0, true);

beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  overrideKernelVersion('6.18');
  resetMapTypeFeatures();
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
});

afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
});

describe('lookupMany / updateMany / deleteMany', () => {
  it('lookupMany: one LOOKUP_ELEM per key in order, undefined for ENOENT, the flags in every attr', () => {
    const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
    fake.alwaysBpf(Cmd.MapLookupElem, (c) => {
      const k = key0(c.pointers.get(8));
      if (k % 2 === 1) return -Errno.ENOENT;
      c.pointers.get(16)!.set(u32(k * 10));
      return 0;
    });
    const got = m.lookupMany([u32(4), u32(3), u32(2)], UpdateFlags.Lock);
    expect(got.map((v) => (v === undefined ? undefined : key0(v)))).toEqual([40, undefined, 20]);
    const calls = fake.callsOf(Cmd.MapLookupElem);
    expect(calls).toHaveLength(3);
    for (const c of calls) expect(new DataView(c.attr.buffer).getBigUint64(24, true)).toBe(BigInt(UpdateFlags.Lock));
  });

  it('the first error other than ENOENT stops the calls and names the key', () => {
    const m = BpfMap.create({ name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
    fake.alwaysBpf(Cmd.MapLookupElem, (c) => (key0(c.pointers.get(8)) === 7 ? -Errno.EPERM : -Errno.ENOENT));
    expect(() => m.lookupMany([u32(1), u32(7), u32(2)])).toThrow(SyscallError);
    expect(fake.callsOf(Cmd.MapLookupElem)).toHaveLength(2); // key 2 was not tried
    expect(() => m.lookupMany([u32(1), u32(7), u32(2)])).toThrow(/lookupMany \(key 1 of 3\) in map counts/);
  });

  it('updateMany stops at the first failure and says how many were written', () => {
    const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
    fake.alwaysBpf(Cmd.MapUpdateElem, (c) => (key0(c.pointers.get(8)) === 3 ? -Errno.E2BIG : 0));
    expect(() => m.updateMany([u32(1), u32(2), u32(3), u32(4)], [u32(0), u32(0), u32(0), u32(0)])).toThrow(
      /updateMany \(key 2 of 4, 2 of 4 entries written\)/,
    );
    expect(fake.callsOf(Cmd.MapUpdateElem).map((c) => key0(c.pointers.get(8)))).toEqual([1, 2, 3]);
  });

  it("deleteMany sends delete's 16-byte attr, skips absent keys and counts the rest", () => {
    const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
    fake.alwaysBpf(Cmd.MapDeleteElem, (c) => (key0(c.pointers.get(8)) > 5 ? -Errno.ENOENT : 0));
    expect(m.deleteMany([u32(1), u32(9), u32(2)])).toBe(2);
    const calls = fake.callsOf(Cmd.MapDeleteElem);
    expect(calls.map((c) => c.attr.byteLength)).toEqual([16, 16, 16]);
    expect(calls.every((c) => !c.pointers.has(16))).toBe(true);
  });

  it('elemManyLoop refuses buffers too small for n elements', () => {
    expect(() => elemManyLoop(fake, Cmd.MapLookupElem, new Uint8Array(32), new Uint8Array(4), 4, null, 0, 2, new Int32Array(2), 0)).toThrow(RangeError);
  });
});
