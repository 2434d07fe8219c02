// TypedMap, TypedReader and TypedVariable translate through codecs and leave the syscalls to
// the objects underneath: checked here against stand-ins with the same methods (the kernel
// test test/kernel/gen.test.ts runs them on real maps).
import { describe, expect, it } from 'vitest';
import { codecFor, rawCodec, type Codec } from '../../src/btf/codec.js';
import { Int, IntEncoding, Member, Struct } from '../../src/btf/types.js';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import type { BpfMap, MapValue } from '../../src/map.js';
import { TypedMap } from '../../src/typed-map.js';
import { TypedReader, type RawRecord, type RecordSource } from '../../src/typed-reader.js';
import { TypedVariable } from '../../src/typed-variable.js';
import type { Variable } from '../../src/variable.js';

const u32 = codecFor<number>(undefined, new Int('u32', 4));
const u64 = codecFor<bigint>(undefined, new Int('u64', 8));
const pair = codecFor<{ a: number; b: number }>(
  undefined,
  new Struct('pair', 8, [new Member('a', new Int('int', 4, IntEncoding.Signed), 0), new Member('b', new Int('u32', 4), 32)]),
);

/** A map's element methods over a JS Map of hex keys. */
function standIn(keySize: number, valueSize: number, perCPU = false, cpus = 2): BpfMap<MapValue> {
  const data = new Map<string, MapValue>();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
  return {
    name: 'm',
    keySize,
    valueSize,
    perCPU,
    lookup: (k: Uint8Array) => data.get(hex(k)),
    update: (k: Uint8Array, v: MapValue) => {
      if (perCPU && (!Array.isArray(v) || v.length !== cpus)) throw new ArgumentError('per-CPU');
      data.set(hex(k), v);
    },
    delete: (k: Uint8Array) => data.delete(hex(k)),
    *keys() {
      for (const k of data.keys()) yield unhex(k);
    },
    *entries() {
      for (const [k, v] of data) yield [unhex(k), v] as [Uint8Array, MapValue];
    },
    *entriesBatch() {
      for (const [k, v] of data) yield [unhex(k), v] as [Uint8Array, MapValue];
    },
    updateBatch: (keys: Uint8Array[], values: MapValue[]) => {
      keys.forEach((k, i) => data.set(hex(k), values[i]!));
      return keys.length;
    },
    deleteBatch: (keys: Uint8Array[]) => keys.filter((k) => data.delete(hex(k))).length,
  } as unknown as BpfMap<MapValue>;
}

describe('TypedMap', () => {
  it('gets, sets, deletes and iterates typed keys and values', () => {
    const m = TypedMap.of(standIn(4, 8), u32, pair);
    m.set(1, { a: -1, b: 2 });
    m.set(2, { a: 3, b: 4 });
    expect(m.get(1)).toEqual({ a: -1, b: 2 });
    expect(m.get(9)).toBeUndefined();
    expect([...m.keys()].sort()).toEqual([1, 2]);
    expect(new Map(m.entries()).get(2)).toEqual({ a: 3, b: 4 });
    expect(new Map(m.entriesBatch()).size).toBe(2);
    expect(m.delete(1)).toBe(true);
    expect(m.delete(1)).toBe(false);
    expect(m.setBatch([[5, { a: 0, b: 0 }], [6, { a: 1, b: 1 }]])).toBe(2);
    expect(m.deleteBatch([5, 6, 7])).toBe(2);
    expect(m.clear()).toBe(1);
  });

  it('per-CPU maps take and return one value per CPU', () => {
    const m = TypedMap.perCPU(standIn(4, 8, true), u32, u64);
    m.set(0, [1n, 2n]);
    expect(m.get(0)).toEqual([1n, 2n]);
    expect(() => m.set(0, 3n as unknown as bigint[])).toThrow(/per-CPU: give one value per CPU/);
  });

  it('refuses codecs of the wrong size or kind, naming the map', () => {
    expect(() => TypedMap.of(standIn(8, 8), u32, u64)).toThrow(/key codec is 4 bytes, the map's keys 8/);
    expect(() => TypedMap.of(standIn(4, 4), u32, u64)).toThrow(/value codec is 8 bytes/);
    expect(() => TypedMap.of(standIn(4, 8, true), u32, u64)).toThrow(/use TypedMap.perCPU/);
    expect(() => TypedMap.of(standIn(4, 8), u32, u64).set(-1, 0n)).toThrow(/value = -1 does not fit 32 unsigned bits/);
  });
});

describe('TypedReader', () => {
  // Counts the losses it hands out, as PerfReader.lostSamples does.
  function source(records: RawRecord[]): RecordSource {
    let closed = false;
    let lostSamples = 0;
    const out = (batch: RawRecord[]): RawRecord[] => {
      for (const r of batch) lostSamples += r.lostSamples ?? 0;
      return batch;
    };
    return {
      read: async () => {
        const r = records.shift();
        if (r === undefined) throw new ClosedError('closed');
        return out([r])[0]!;
      },
      readMany: async () => {
        if (closed || records.length === 0) throw new ClosedError('closed');
        return out(records.splice(0));
      },
      readAvailable: () => out(records.splice(0)),
      // PerfReader.decoded(codec): samples decoded, loss reports to onLost, until the records run out.
      async *decoded(codec, options = {}) {
        for (const r of out(records.splice(0))) {
          if ((r.lostSamples ?? 0) > 0) options.onLost?.(r.lostSamples!, r.cpu ?? 0);
          else yield codec.decode(r.rawSample);
        }
      },
      get lostSamples() {
        return lostSamples;
      },
      close: () => {
        closed = true;
      },
    };
  }
  const sample = (a: number, b: number): RawRecord => ({ rawSample: pair.encode({ a, b }) });

  it('decodes samples and counts perf loss reports without decoding them', async () => {
    const lost: number[] = [];
    const r = new TypedReader(source([sample(1, 2), { rawSample: new Uint8Array(0), lostSamples: 3, cpu: 1 }, sample(3, 4)]), pair, { onLost: (n) => lost.push(n) });
    expect(await r.read()).toEqual({ a: 1, b: 2 });
    expect(await r.read()).toEqual({ a: 3, b: 4 });
    expect(r.lostSamples).toBe(3);
    expect(lost).toEqual([3]);
  });

  it('iterates until the reader closes', async () => {
    const r = new TypedReader(source([sample(1, 2), sample(5, 6)]), pair);
    const got = [];
    for await (const e of r) got.push(e);
    expect(got).toEqual([{ a: 1, b: 2 }, { a: 5, b: 6 }]);
    r.close();
  });

  it('a record shorter than the type is an ArgumentError', () => {
    const r = new TypedReader(source([{ rawSample: new Uint8Array(3) }]), pair);
    expect(() => r.readAvailable()).toThrow(ArgumentError);
  });
});

describe('TypedVariable', () => {
  it('encodes and decodes through the codec', () => {
    let bytes: Uint8Array = new Uint8Array(4);
    const v = { name: 'x', size: 4, readOnly: false, get bytes() { return bytes.slice(); }, set: (b: Uint8Array) => { bytes = b; } } as unknown as Variable;
    const t = new TypedVariable(v, u32);
    t.set(77);
    expect(t.get()).toBe(77);
    expect(() => new TypedVariable(v, u64)).toThrow(/codec is 8 bytes, the variable 4/);
    const raw: Codec<Uint8Array> = rawCodec(4);
    expect(new TypedVariable(v, raw).get()).toEqual(new Uint8Array([77, 0, 0, 0]));
  });
});
