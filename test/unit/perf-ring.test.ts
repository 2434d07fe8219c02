// The perf ring parser on fake mappings: a tiny "kernel" writes records at data_head the way
// perf_output_*() does (8-byte aligned, wrapping at the end of the data area), and we check
// what PerfRing.readInto() makes of them.
import { describe, expect, it } from 'vitest';
import type { Mapping } from '../../src/sys/backend.js';
import {
  DATA_HEAD_OFFSET,
  DATA_OFFSET_OFFSET,
  DATA_SIZE_OFFSET,
  DATA_TAIL_OFFSET,
  EMPTY_SAMPLE,
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  PerfRing,
  type PerfRecord,
  type RingAtomics,
} from '../../src/perf/ring.js';
import { RecordBatch } from '../../src/internal/reader/batch.js';

const PAGE = 4096;

class FakeKernel implements RingAtomics {
  readonly mapping: Mapping;
  readonly meta: DataView;
  readonly data: Uint8Array;
  head = 0;
  /** Every ordered access, in order, for checking when data_tail is written. */
  readonly log: string[] = [];
  /** Called at each release store of data_tail (to inspect what was consumed by then). */
  onTail: ((tail: bigint) => void) | undefined;

  constructor(dataPages = 1, modern = true) {
    const buffer = new ArrayBuffer(PAGE * (1 + dataPages));
    this.mapping = { buffer, length: buffer.byteLength };
    this.meta = new DataView(buffer, 0, PAGE);
    if (modern) {
      this.meta.setBigUint64(DATA_OFFSET_OFFSET, BigInt(PAGE), true);
      this.meta.setBigUint64(DATA_SIZE_OFFSET, BigInt(PAGE * dataPages), true);
    }
    this.data = new Uint8Array(buffer, PAGE, PAGE * dataPages);
  }

  loadAcquire64(_m: Mapping, offset: number): bigint {
    this.log.push(`load ${offset}`);
    return this.meta.getBigUint64(offset, true);
  }

  storeRelease64(_m: Mapping, offset: number, value: bigint): void {
    this.log.push(`store ${offset}`);
    this.onTail?.(value);
    this.meta.setBigUint64(offset, value, true);
  }

  get tail(): number {
    return Number(this.meta.getBigUint64(DATA_TAIL_OFFSET, true));
  }

  free(): number {
    return this.data.length - (this.head - this.tail);
  }

  #put(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.data[(this.head + i) % this.data.length] = bytes[i]!;
    this.head += bytes.length;
  }

  #record(type: number, body: Uint8Array): void {
    const size = 8 + body.length;
    if (size % 8 !== 0) throw new Error('records are 8-byte aligned');
    const rec = new Uint8Array(size);
    const v = new DataView(rec.buffer);
    v.setUint32(0, type, true);
    v.setUint16(4, 0, true);
    v.setUint16(6, size, true);
    rec.set(body, 8);
    this.#put(rec);
  }

  sample(payload: Uint8Array): void {
    const padded = ((payload.length + 4 + 7) & ~7) - 4;
    const body = new Uint8Array(4 + padded).fill(0xee); // stale padding, as the kernel leaves it
    new DataView(body.buffer).setUint32(0, padded, true);
    body.set(payload, 4);
    this.#record(PERF_RECORD_SAMPLE, body);
  }

  lost(count: number): void {
    const body = new Uint8Array(16);
    new DataView(body.buffer).setBigUint64(0, 77n, true); // id
    new DataView(body.buffer).setBigUint64(8, BigInt(count), true);
    this.#record(PERF_RECORD_LOST, body);
  }

  other(type: number, bodyBytes: number): void {
    this.#record(type, new Uint8Array(bodyBytes).fill(0xab));
  }

  publish(): void {
    this.meta.setBigUint64(DATA_HEAD_OFFSET, BigInt(this.head), true);
  }
}

const payload = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i) & 0xff);

function read(ring: PerfRing, max = Infinity): PerfRecord[] {
  const out: PerfRecord[] = [];
  ring.readInto(out, max);
  return out;
}

describe('PerfRing', () => {
  it('reads samples with their cpu and the padded raw bytes', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(3, k.mapping, PAGE, k);
    k.sample(payload(60, 1));
    k.sample(payload(4, 2));
    k.publish();
    const out = read(ring);
    expect(out.map((r) => [r.cpu, r.lostSamples, r.rawSample.length])).toEqual([
      [3, 0, 60],
      [3, 0, 4],
    ]);
    expect(out[0]!.rawSample).toEqual(payload(60, 1));
    expect(read(ring)).toEqual([]);
  });

  it('reassembles records that straddle the end of the ring, over many laps', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    let straddled = 0;
    for (let i = 0; i < 500; i++) {
      const size = (i * 37) % 300 + 1;
      const start = k.head % PAGE;
      const recordSize = 8 + 4 + (((size + 4 + 7) & ~7) - 4);
      if (start + recordSize > PAGE) straddled++;
      // The header of a record never straddles (8-byte alignment); its body may.
      k.sample(payload(size, i));
      k.publish();
      const [r] = read(ring) as [PerfRecord];
      expect(r.rawSample.subarray(0, size)).toEqual(payload(size, i));
    }
    expect(straddled).toBeGreaterThan(10);
  });

  it('turns a LOST record into lostSamples with the shared empty sample', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(1, k.mapping, PAGE, k);
    k.lost(42);
    k.sample(payload(8, 9));
    k.publish();
    const [lost, sample] = read(ring) as [PerfRecord, PerfRecord];
    expect(lost).toEqual({ cpu: 1, rawSample: EMPTY_SAMPLE, lostSamples: 42 });
    expect(lost.rawSample.length).toBe(0);
    expect(sample.lostSamples).toBe(0);
  });

  it('skips records of unknown types whole, even when they wrap', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    k.sample(payload(PAGE - 8 - 4 - 40, 1)); // leaves 40 bytes before the end
    k.publish();
    read(ring);
    k.other(3 /* PERF_RECORD_COMM */, 56); // 64 bytes: straddles the end
    k.sample(payload(16, 2));
    k.publish();
    const out = read(ring);
    expect(out).toHaveLength(1);
    expect(out[0]!.rawSample.subarray(0, 16)).toEqual(payload(16, 2));
    expect(ring.unknownRecords).toBe(1);
  });

  it('writes data_tail once per batch, with release, after the records are copied out', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    for (let i = 0; i < 10; i++) k.sample(payload(24, i));
    k.publish();
    const out: PerfRecord[] = [];
    let seenAtStore = -1;
    k.onTail = () => (seenAtStore = out.length);
    k.log.length = 0;
    ring.readInto(out, Infinity);
    expect(k.log).toEqual([`load ${DATA_HEAD_OFFSET}`, `store ${DATA_TAIL_OFFSET}`]);
    expect(seenAtStore).toBe(10);
    expect(k.tail).toBe(k.head);
    // The samples stay intact after the kernel reuses the space: they were copied out.
    for (let i = 0; i < 10; i++) k.sample(payload(24, 100 + i));
    k.publish();
    expect(out[3]!.rawSample.subarray(0, 24)).toEqual(payload(24, 3));
  });

  it('stops at max records and publishes data_tail only up to them', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    for (let i = 0; i < 5; i++) k.sample(payload(12, i));
    k.publish();
    expect(read(ring, 2)).toHaveLength(2);
    expect(k.tail).toBe(2 * 24); // header 8 + u32 size + 12 bytes
    expect(ring.pending()).toBe(3 * 24);
    const rest = read(ring);
    expect(rest.map((r) => r.rawSample[0])).toEqual([2, 3, 4].map((i) => payload(12, i)[0]));
    expect(ring.pending()).toBe(0);
  });

  it('does not write data_tail when nothing was published', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    k.log.length = 0;
    expect(read(ring)).toEqual([]);
    expect(k.log).toEqual([`load ${DATA_HEAD_OFFSET}`]);
  });

  it('drops everything published after a corrupt header instead of looping', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    k.sample(payload(8, 1));
    k.head += 16; // 16 zero bytes: a header of size 0
    k.publish();
    const out = read(ring);
    expect(out).toHaveLength(1);
    expect(k.tail).toBe(k.head);
    expect(ring.unknownRecords).toBe(1);
  });

  it('consume() hands samples over in place, copies only the one that wraps, and writes data_tail once', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(2, k.mapping, PAGE, k);
    k.sample(payload(PAGE - 8 - 4 - 40 - 24, 1)); // leaves 24 + 40 bytes before the end
    k.publish();
    ring.consume(() => {}, undefined, Infinity);
    k.sample(payload(12, 2)); // 24 bytes: ends 40 bytes before the end
    k.lost(5);
    k.sample(payload(60, 3)); // header fits, body wraps
    k.sample(payload(4, 4));
    k.publish();
    const got: [number, boolean, Uint8Array][] = [];
    const lost: [number, number][] = [];
    let seenAtStore = -1;
    k.onTail = () => (seenAtStore = got.length);
    k.log.length = 0;
    const n = ring.consume(
      (cpu, bytes, off, len) => got.push([cpu, bytes.buffer === k.mapping.buffer, bytes.slice(off, off + len)]),
      (cpu, count) => lost.push([cpu, count]),
      Infinity,
    );
    expect(n).toBe(4);
    expect(got.map(([cpu, inPlace, b]) => [cpu, inPlace, b.length])).toEqual([
      [2, true, 12],
      [2, false, 60], // wrapped: straightened in the scratch buffer
      [2, true, 4],
    ]);
    expect(got[0]![2].subarray(0, 12)).toEqual(payload(12, 2));
    expect(got[1]![2]).toEqual(payload(60, 3));
    expect(lost).toEqual([[2, 5]]);
    expect(k.log).toEqual([`load ${DATA_HEAD_OFFSET}`, `store ${DATA_TAIL_OFFSET}`]);
    expect(seenAtStore).toBe(3);
    expect(k.tail).toBe(k.head);
  });

  it('consume() straightens wrapped samples of every size, small ones by loop and large ones by copy, over many laps', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    const wrapped = { small: 0, large: 0 };
    for (let i = 0; i < 400; i++) {
      const size = (i * 97) % 1400 + 1;
      const start = k.head % PAGE;
      const recordSize = 8 + 4 + (((size + 4 + 7) & ~7) - 4);
      if (start + recordSize > PAGE && (start + 12) % PAGE + size > PAGE) wrapped[size <= 512 ? 'small' : 'large']++;
      k.sample(payload(size, i));
      k.publish();
      let got: Uint8Array | undefined;
      ring.consume((_cpu, bytes, off, len) => (got = bytes.slice(off, off + len)), undefined, Infinity);
      expect(got?.subarray(0, size)).toEqual(payload(size, i));
    }
    expect(wrapped.small).toBeGreaterThan(3);
    expect(wrapped.large).toBeGreaterThan(3);
  });

  it('consume(): max, a throwing callback and stop() leave data_tail exactly after the last record handed over', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    for (let i = 0; i < 6; i++) k.sample(payload(12, i)); // 24 bytes each
    k.publish();
    expect(ring.consume(() => {}, undefined, 2)).toBe(2);
    expect(k.tail).toBe(48);
    let calls = 0;
    expect(() =>
      ring.consume(
        () => {
          if (++calls === 2) throw new Error('boom');
        },
        undefined,
        Infinity,
      ),
    ).toThrow('boom');
    expect(k.tail).toBe(96);
    ring.consume(() => ring.stop(), undefined, Infinity);
    expect(k.tail).toBe(96); // stopped: nothing written any more
    expect(ring.consume(() => {}, undefined, Infinity)).toBe(0);
  });

  it('on its own (no test accessors) reads data_head and writes data_tail through the mapping, across the 4 GiB mark', () => {
    const k = new FakeKernel();
    // Positions are free-running u64s: start just below 2^32 so that the batch crosses it.
    const start = 2 ** 32 - 3 * 24;
    k.head = start;
    k.meta.setBigUint64(DATA_TAIL_OFFSET, BigInt(start), true);
    k.publish();
    const ring = new PerfRing(0, k.mapping, PAGE);
    expect(ring.pending()).toBe(0);
    for (let i = 0; i < 6; i++) k.sample(payload(12, i)); // 24 bytes each
    k.publish();
    expect(ring.pending()).toBe(6 * 24);
    const got: number[] = [];
    expect(ring.consume((_cpu, bytes, off) => got.push(bytes[off]!), undefined, 4)).toBe(4);
    expect(got).toEqual([0, 1, 2, 3].map((i) => payload(12, i)[0]));
    expect(k.tail).toBe(start + 4 * 24); // both words: past 2^32
    expect(ring.pending()).toBe(2 * 24);
    const rest = read(ring);
    expect(rest.map((r) => r.rawSample[0])).toEqual([4, 5].map((i) => payload(12, i)[0]));
    expect(k.tail).toBe(k.head);
    expect(ring.pending()).toBe(0);
  });

  it('consume() gives the kernel its room back during a long batch, and not after stop()', () => {
    const k = new FakeKernel(8); // 32 KiB data area: data_tail moves every 8 KiB
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    for (let i = 0; i < 1024; i++) k.sample(payload(12, i)); // 24 bytes each: 24 KiB
    k.publish();
    const tails: number[] = [];
    let calls = 0;
    expect(
      ring.consume(
        () => {
          if (calls++ % 100 === 0) tails.push(k.tail);
        },
        undefined,
        Infinity,
      ),
    ).toBe(1024);
    // Behind the callback by less than 8 KiB all along, and never ahead of it.
    const stepRecords = Math.ceil(8192 / 24);
    tails.forEach((tail, j) => {
      const handedOver = j * 100 * 24;
      expect(tail).toBeLessThanOrEqual(handedOver);
      expect(handedOver - tail).toBeLessThan(stepRecords * 24);
    });
    expect(tails.at(-1)).toBeGreaterThan(0);
    expect(k.tail).toBe(k.head);
    expect(k.log.filter((l) => l.startsWith('store')).length).toBe(3); // past 8 and 16 KiB, then the end

    // A callback that stops the ring (the reader is closing, the mapping goes away): no store
    // after it, neither from the step nor at the end.
    for (let i = 0; i < 1024; i++) k.sample(payload(12, i));
    k.publish();
    const before = k.tail;
    let n = 0;
    ring.consume(
      () => {
        if (++n === 400) ring.stop();
      },
      undefined,
      Infinity,
    );
    expect(n).toBe(400);
    expect(k.tail).toBeLessThanOrEqual(before + 399 * 24);
    const stores = k.log.length;
    ring.consume(() => {}, undefined, Infinity);
    expect(k.log.length).toBe(stores);
  });

  it('consume() and readIntoBatch() read a sample whose header fills the last 8 bytes of the ring', () => {
    for (const how of ['consume', 'batch'] as const) {
      const k = new FakeKernel();
      const ring = new PerfRing(1, k.mapping, PAGE, k);
      k.sample(payload(PAGE - 8 - 4 - 8, 1)); // leaves exactly 8 bytes: the next header
      k.publish();
      ring.consume(() => {}, undefined, Infinity);
      k.sample(payload(20, 2)); // size word and data at the start of the ring
      k.sample(payload(4, 3));
      k.publish();
      const got: Uint8Array[] = [];
      if (how === 'consume') ring.consume((_c, bytes, off, len) => got.push(bytes.slice(off, off + len)), undefined, Infinity);
      else {
        const batch = new RecordBatch();
        ring.readIntoBatch(batch, Infinity, () => {});
        for (let i = 0; i < batch.count; i++) got.push(batch.sample(i).slice());
      }
      expect(got.map((b) => b.length)).toEqual([20, 4]);
      expect(got[0]).toEqual(payload(20, 2));
      expect(got[1]).toEqual(payload(4, 3));
      expect(k.tail).toBe(k.head);
    }
  });

  it('readIntoBatch() copies the published bytes in one go, indexes the samples in the copy, sums losses and frees the ring at once', () => {
    const k = new FakeKernel();
    const ring = new PerfRing(3, k.mapping, PAGE, k);
    k.sample(payload(PAGE - 8 - 4 - 40 - 24, 1)); // leaves 24 + 40 bytes before the end
    k.publish();
    ring.consume(() => {}, undefined, Infinity);
    k.sample(payload(12, 2));
    k.lost(5);
    k.sample(payload(60, 3)); // header fits, body wraps
    k.other(99, 8);
    k.sample(payload(4, 4));
    k.publish();
    const batch = new RecordBatch();
    batch.addRecord(new Uint8Array([9, 9, 9]), 0, 3); // something already in the batch stays
    const lost: [number, number][] = [];
    k.log.length = 0;
    const n = ring.readIntoBatch(batch, Infinity, (cpu, count) => lost.push([cpu, count]));
    expect(n).toBe(4); // three samples and one loss report
    expect(batch.count).toBe(4);
    expect(Array.from(batch.sample(0))).toEqual([9, 9, 9]);
    expect([1, 2, 3].map((i) => [batch.cpu(i), batch.length(i)])).toEqual([
      [3, 12],
      [3, 60],
      [3, 4],
    ]);
    expect(batch.sample(1).subarray(0, 12)).toEqual(payload(12, 2));
    expect(batch.sample(2)).toEqual(payload(60, 3)); // straight in the copy
    expect(batch.sample(3)).toEqual(payload(4, 4));
    expect(lost).toEqual([[3, 5]]);
    expect(ring.unknownRecords).toBe(1);
    expect(k.log).toEqual([`load ${DATA_HEAD_OFFSET}`, `store ${DATA_TAIL_OFFSET}`]);
    expect(k.tail).toBe(k.head);
    // The copy is the batch's own: the kernel overwriting the ring changes nothing in it.
    k.data.fill(0);
    expect(batch.sample(2)).toEqual(payload(60, 3));
  });

  it('readIntoBatch() stops at max records, frees the ring only up to them, and grows the batch', () => {
    const k = new FakeKernel(32);
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    for (let i = 0; i < 1700; i++) k.sample(payload(60, i)); // 72 bytes each: 122400 bytes, more than a new batch holds
    k.publish();
    const batch = new RecordBatch();
    expect(ring.readIntoBatch(batch, 1500, () => {})).toBe(1500);
    expect(k.tail).toBe(1500 * 72);
    expect(batch.sample(1499)).toEqual(payload(60, 1499));
    batch.reset();
    expect(ring.readIntoBatch(batch, Infinity, () => {})).toBe(200);
    expect(k.tail).toBe(k.head);
    for (let i = 0; i < 200; i++) expect(batch.sample(i)).toEqual(payload(60, 1500 + i));
    expect(ring.readIntoBatch(batch, Infinity, () => {})).toBe(0);
  });

  it('finds the data area on kernels before 4.1 (no data_offset/data_size)', () => {
    const k = new FakeKernel(2, false);
    const ring = new PerfRing(0, k.mapping, PAGE, k);
    expect(ring.size).toBe(2 * PAGE);
    k.sample(payload(8, 5));
    k.publish();
    expect(read(ring)[0]!.rawSample.subarray(0, 8)).toEqual(payload(8, 5));
  });
});
