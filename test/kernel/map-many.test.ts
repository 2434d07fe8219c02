// BpfMap.lookupMany / updateMany / deleteMany against the running kernel (root), on both
// syscall backends: the native addon issues the N element calls in one native call
// (Backend.elemMany), ffi-rs loops in JS. Same results either way: per-key values,
// undefined for absent keys, and a typed error naming the first failing key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, UpdateFlags } from '../../src/map.js';
import { MapType } from '../../src/types.js';
import { possibleCPUs } from '../../src/sys/cpus.js';
import { setBackend } from '../../src/sys/select.js';
import type { Backend } from '../../src/sys/backend.js';
import { loadNativeBackend } from '../../src/sys/backend-native.js';
import { loadFfiBackend } from '../../src/sys/backend-ffi.js';
import { ArgumentError, ClosedError, SyscallError } from '../../src/errors.js';

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint): Uint8Array => new Uint8Array(new BigUint64Array([n]).buffer);
const readU64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const loaders: Array<[string, () => Backend]> = [
  ['native', loadNativeBackend],
  ['ffi-rs', loadFfiBackend],
];

for (const [name, load] of loaders) {
  let b: Backend | undefined;
  let skip = '';
  try {
    b = load();
  } catch (err) {
    skip = `${name} backend cannot load: ${(err as Error).message}`;
    console.warn(`skipping lookupMany/updateMany on ${name}: ${skip}`);
  }

  describe.skipIf(skip !== '')(`lookupMany / updateMany / deleteMany on the ${name} backend`, () => {
    let prev: Backend | undefined;
    beforeAll(() => {
      prev = setBackend(b);
    });
    afterAll(() => {
      setBackend(prev);
    });

    it('writes and reads back many keys, in order, with undefined for absent keys', () => {
      using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 });
      const keys = Array.from({ length: 40 }, (_, i) => u32(i));
      m.updateMany(keys, keys.map((_, i) => u64(BigInt(i) * 3n)));
      expect(m.lookup(u32(39))).toEqual(u64(117n));
      const asked = [u32(5), u32(1000), u32(0), u32(39), u32(41)];
      const got = m.lookupMany(asked);
      expect(got).toHaveLength(5);
      expect(readU64(got[0]!)).toBe(15n);
      expect(got[1]).toBeUndefined();
      expect(readU64(got[2]!)).toBe(0n);
      expect(readU64(got[3]!)).toBe(117n);
      expect(got[4]).toBeUndefined();
      expect(m.deleteMany([u32(1), u32(1000), u32(2), u32(1)])).toBe(2);
      expect(m.lookupMany([u32(1), u32(2), u32(3)]).map((v) => v === undefined)).toEqual([true, true, false]);
      expect(m.lookupMany([])).toEqual([]);
      m.updateMany([], []);
      expect(m.deleteMany([])).toBe(0);
    });

    it('updateMany stops at the first failing key and names it; the keys before it are written', () => {
      using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 8 });
      m.update(u32(2), u64(99n));
      const err = caught(() => m.updateMany([u32(0), u32(1), u32(2), u32(3)], [u64(1n), u64(2n), u64(3n), u64(4n)], UpdateFlags.NoExist));
      expect(err).toBeInstanceOf(SyscallError);
      expect((err as SyscallError).code).toBe('EEXIST');
      expect((err as Error).message).toMatch(/updateMany \(key 2 of 4, 2 of 4 entries written\)/);
      expect(m.lookupMany([u32(0), u32(1), u32(2), u32(3)]).map((v) => (v === undefined ? undefined : readU64(v)))).toEqual([1n, 2n, 99n, undefined]);
    });

    it('checks every key and value before any syscall', () => {
      using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 8 });
      expect(caught(() => m.updateMany([u32(0), new Uint8Array(3)], [u64(1n), u64(2n)]))).toBeInstanceOf(ArgumentError);
      expect(caught(() => m.updateMany([u32(0), u32(1)], [u64(1n), new Uint8Array(4)]))).toBeInstanceOf(ArgumentError);
      expect(caught(() => m.updateMany([u32(0)], []))).toBeInstanceOf(ArgumentError);
      expect(caught(() => m.lookupMany([u32(0), new Uint8Array(8)]))).toBeInstanceOf(ArgumentError);
      expect(caught(() => m.deleteMany([new Uint8Array(0)]))).toBeInstanceOf(ArgumentError);
      expect(m.lookup(u32(0))).toBeUndefined();
    });

    it('deleteMany on an array fails with EINVAL naming the key', () => {
      using m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 4 });
      const err = caught(() => m.deleteMany([u32(1), u32(2)]));
      expect(err).toBeInstanceOf(SyscallError);
      expect((err as SyscallError).code).toBe('EINVAL');
      expect((err as Error).message).toMatch(/deleteMany \(key 0 of 2/);
    });

    it('per-CPU maps: one value per possible CPU for each key', () => {
      const cpus = possibleCPUs();
      using m = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUHash, keySize: 4, valueSize: 4, maxEntries: 8 });
      const perCpu = (k: number): Uint8Array[] => Array.from({ length: cpus }, (_, c) => u32(k * 100 + c));
      m.updateMany([u32(1), u32(2)], [perCpu(1), perCpu(2)]);
      const got = m.lookupMany([u32(2), u32(3), u32(1)]);
      expect(got[0]).toEqual(perCpu(2));
      expect(got[1]).toBeUndefined();
      expect(got[2]).toEqual(perCpu(1));
    });

    it('lookupInto/update with the same key and value buffers call after call (adopted, no copies) see every change', () => {
      const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 });
      const key = new Uint8Array(4);
      const kv = new DataView(key.buffer);
      const value = new Uint8Array(8);
      const vv = new DataView(value.buffer);
      for (let i = 0; i < 40; i++) {
        kv.setUint32(0, i, true);
        vv.setBigUint64(0, BigInt(i) * 7n, true);
        m.update(key, value);
      }
      const out = new Uint8Array(8);
      for (let i = 0; i < 40; i++) {
        kv.setUint32(0, i, true);
        expect(m.lookupInto(key, out)).toBe(true);
        expect(readU64(out)).toBe(BigInt(i) * 7n);
      }
      kv.setUint32(0, 1000, true);
      expect(m.lookupInto(key, out)).toBe(false);
      expect(readU64(out)).toBe(39n * 7n); // unchanged
      expect(readU64(m.lookup(u32(39))!)).toBe(273n);
      kv.setUint32(0, 5, true);
      vv.setBigUint64(0, 1n, true);
      expect(caught(() => m.update(key, value, UpdateFlags.NoExist))).toBeInstanceOf(SyscallError);
      m.update(key, value);
      expect(readU64(m.lookup(u32(5))!)).toBe(1n);
      // A subclass whose `length` lies is never adopted: detached, it fails in a copy rather
      // than letting the kernel write into memory the transfer handed to someone else.
      class Lying extends Uint8Array {}
      Object.defineProperty(Lying.prototype, 'length', { get: () => 8 });
      const lk = u32(3);
      const lying = new Lying(8);
      for (let i = 0; i < 3; i++) expect(m.lookupInto(lk, lying)).toBe(true);
      expect(readU64(lying)).toBe(21n);
      const moved = new Uint8Array(structuredClone(lying.buffer, { transfer: [lying.buffer] }));
      moved.fill(0);
      expect(caught(() => m.lookupInto(lk, lying))).toBeInstanceOf(TypeError);
      expect(Array.from(moved)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      // A transferred (detached) buffer has length 0: refused before any syscall.
      structuredClone(out.buffer, { transfer: [out.buffer] });
      expect(caught(() => m.lookupInto(key, out))).toBeInstanceOf(ArgumentError);
      structuredClone(key.buffer, { transfer: [key.buffer] });
      expect(caught(() => m.update(key, value))).toBeInstanceOf(ArgumentError);
      // Buffers adopted before close: the request over them (holding the old fd number) goes too.
      const k2 = u32(2);
      const v2 = new Uint8Array(8);
      for (let i = 0; i < 3; i++) {
        m.update(k2, v2);
        expect(m.lookupInto(k2, v2)).toBe(true);
      }
      m.close();
      expect(caught(() => m.update(u32(1), value))).toBeInstanceOf(ClosedError);
      expect(caught(() => m.lookupInto(u32(1), new Uint8Array(8)))).toBeInstanceOf(ClosedError);
      expect(caught(() => m.update(k2, v2))).toBeInstanceOf(ClosedError);
      expect(caught(() => m.lookupInto(k2, v2))).toBeInstanceOf(ClosedError);
    });

    it('a closed map throws ClosedError', () => {
      const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
      m.close();
      expect(caught(() => m.lookupMany([u32(0)]))).toBeInstanceOf(ClosedError);
      expect(caught(() => m.updateMany([u32(0)], [u32(0)]))).toBeInstanceOf(ClosedError);
    });
  });
}
