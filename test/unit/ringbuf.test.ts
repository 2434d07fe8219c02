// The ring buffer consumer on fake mappings: a tiny producer lays records out the way
// kernel/bpf/ringbuf.c does (8-byte header with busy/discard bits, 8-byte padding, data
// mapped twice so a record never wraps for the reader).
import { describe, expect, it } from 'vitest';
import type { Mapping } from '../../src/sys/backend.js';
import {
  RingBufConsumer,
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RINGBUF_HEADER_SIZE,
  type RingBufRecord,
} from '../../src/ringbuf/reader.js';

const PAGE = 4096;

class FakeRing {
  readonly size: number;
  readonly consumer: Mapping;
  readonly producer: Mapping;
  readonly prodView: DataView;
  readonly consView: DataView;
  readonly pages: Uint8Array;
  prod = 0;
  readonly log: string[] = [];
  onConsumerStore: ((pos: bigint) => void) | undefined;

  constructor(size = PAGE) {
    this.size = size;
    const c = new ArrayBuffer(PAGE);
    const p = new ArrayBuffer(PAGE + 2 * size);
    this.consumer = { buffer: c, length: PAGE };
    this.producer = { buffer: p, length: p.byteLength };
    this.consView = new DataView(c);
    this.prodView = new DataView(p);
    this.pages = new Uint8Array(p);
  }

  /** Writes a byte at ring position `pos` in both copies of the data pages. */
  #poke(pos: number, byte: number): void {
    const off = pos % this.size;
    this.pages[PAGE + off] = byte;
    this.pages[PAGE + this.size + off] = byte;
  }

  #u32(pos: number, v: number): void {
    for (let i = 0; i < 4; i++) this.#poke(pos + i, (v >>> (8 * i)) & 0xff);
  }

  /** Reserves a record; returns its position. */
  reserve(len: number): number {
    const pos = this.prod;
    this.#u32(pos, (len | RINGBUF_BUSY_BIT) >>> 0);
    this.#u32(pos + 4, 0);
    this.prod += (len + RINGBUF_HEADER_SIZE + 7) & ~7;
    this.prodView.setBigUint64(0, BigInt(this.prod), true);
    return pos;
  }

  fill(pos: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.#poke(pos + RINGBUF_HEADER_SIZE + i, data[i]!);
  }

  commit(pos: number, len: number, discard = false): void {
    this.#u32(pos, discard ? (len | RINGBUF_DISCARD_BIT) >>> 0 : len);
  }

  output(data: Uint8Array, discard = false): void {
    const pos = this.reserve(data.length);
    this.fill(pos, data);
    this.commit(pos, data.length, discard);
  }

  get consumed(): number {
    return Number(this.consView.getBigUint64(0, true));
  }

  readonly atomics = {
    loadAcquire64: (m: Mapping, off: number): bigint => {
      this.log.push(`load64 ${m === this.consumer ? 'consumer' : 'producer'}`);
      return new DataView(m.buffer).getBigUint64(off, true);
    },
    storeRelease64: (m: Mapping, off: number, v: bigint): void => {
      this.log.push('store consumer');
      this.onConsumerStore?.(v);
      new DataView(m.buffer).setBigUint64(off, v, true);
    },
    loadAcquire32: (m: Mapping, off: number): number => {
      this.log.push('load32 header');
      return new DataView(m.buffer).getUint32(off, true);
    },
  };
}

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 13 + i) & 0xff);

function read(c: RingBufConsumer, max = Infinity): RingBufRecord[] {
  const out: RingBufRecord[] = [];
  c.readInto(out, max);
  return out;
}

describe('RingBufConsumer', () => {
  it('reads committed records without padding', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    f.output(bytes(5, 1));
    f.output(bytes(16, 2));
    const out = read(c);
    expect(out.map((r) => r.rawSample)).toEqual([bytes(5, 1), bytes(16, 2)]);
    expect(f.consumed).toBe(16 + 24);
  });

  it('skips discarded records but moves past them', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    f.output(bytes(30, 1), true);
    f.output(bytes(7, 2));
    expect(read(c).map((r) => r.rawSample)).toEqual([bytes(7, 2)]);
    expect(f.consumed).toBe(f.prod);
  });

  it('stops at a busy record, publishes what came before, and continues once it is committed', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    f.output(bytes(8, 1));
    const busy = f.reserve(12);
    f.output(bytes(8, 3)); // committed, but behind the busy one
    expect(read(c).map((r) => r.rawSample)).toEqual([bytes(8, 1)]);
    expect(f.consumed).toBe(16);
    expect(c.pending()).toBe(f.prod - 16);
    f.fill(busy, bytes(12, 2));
    f.commit(busy, 12);
    expect(read(c).map((r) => r.rawSample)).toEqual([bytes(12, 2), bytes(8, 3)]);
    expect(f.consumed).toBe(f.prod);
  });

  it('reads records that run past the end through the second mapping of the data', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    let crossed = 0;
    for (let i = 0; i < 400; i++) {
      const n = (i * 41) % 200 + 1;
      const start = f.prod % f.size;
      if (start + RINGBUF_HEADER_SIZE + n > f.size) crossed++;
      f.output(bytes(n, i));
      expect(read(c).map((r) => r.rawSample)).toEqual([bytes(n, i)]);
    }
    expect(crossed).toBeGreaterThan(5);
  });

  it('loads producer_pos with acquire once and writes consumer_pos once, with release, after copying', () => {
    // Record headers are read with Atomics.load on the mapping (acquire without a backend call
    // per record), so only the two per-batch accesses go through the backend.
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    for (let i = 0; i < 4; i++) f.output(bytes(10, i));
    const out: RingBufRecord[] = [];
    let copiedAtStore = -1;
    f.onConsumerStore = () => (copiedAtStore = out.length);
    f.log.length = 0;
    c.readInto(out, Infinity);
    expect(f.log).toEqual(['load64 producer', 'store consumer']);
    expect(copiedAtStore).toBe(4);
    // Copies, not views of the ring: overwriting the ring leaves them intact.
    for (let i = 0; i < 60; i++) f.output(bytes(60, 100 + i));
    expect(out[2]!.rawSample).toEqual(bytes(10, 2));
  });

  it('honours max and leaves the rest for the next call', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    for (let i = 0; i < 5; i++) f.output(bytes(4, i));
    expect(read(c, 2)).toHaveLength(2);
    expect(f.consumed).toBe(32);
    expect(read(c)).toHaveLength(3);
  });

  it('consume() hands records over in place, skips discarded ones, stops at a busy one, stores consumer_pos once', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    f.output(bytes(5, 1));
    f.output(bytes(30, 2), true);
    f.output(bytes(64, 3));
    const busy = f.reserve(12);
    f.output(bytes(8, 4));
    const seen: Uint8Array[] = [];
    let calledAtStore = -1;
    f.onConsumerStore = () => (calledAtStore = seen.length);
    f.log.length = 0;
    const n = c.consume((b, off, len) => {
      expect(b.buffer).toBe(f.producer.buffer); // the ring itself, not a copy
      seen.push(b.slice(off, off + len));
    }, Infinity);
    expect(n).toBe(2);
    expect(seen).toEqual([bytes(5, 1), bytes(64, 3)]);
    expect(f.log).toEqual(['load64 producer', 'store consumer']);
    expect(calledAtStore).toBe(2);
    expect(f.consumed).toBe(busy);
    f.fill(busy, bytes(12, 5));
    f.commit(busy, 12);
    seen.length = 0;
    expect(c.consume((b, off, len) => seen.push(b.slice(off, off + len)), Infinity)).toBe(2);
    expect(seen).toEqual([bytes(12, 5), bytes(8, 4)]);
    expect(f.consumed).toBe(f.prod);
  });

  it('consume() reads records across the ring end contiguously and honours max', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    let crossed = 0;
    for (let i = 0; i < 300; i++) {
      const n = (i * 53) % 180 + 1;
      if ((f.prod % f.size) + RINGBUF_HEADER_SIZE + n > f.size) crossed++;
      f.output(bytes(n, i));
      f.output(bytes(3, i + 1000));
      const got: Uint8Array[] = [];
      expect(c.consume((b, off, len) => got.push(b.slice(off, off + len)), 1)).toBe(1);
      expect(c.consume((b, off, len) => got.push(b.slice(off, off + len)), 1)).toBe(1);
      expect(got).toEqual([bytes(n, i), bytes(3, i + 1000)]);
    }
    expect(crossed).toBeGreaterThan(5);
  });

  it('consume(): a throwing callback consumes the record it threw on, and nothing after', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    for (let i = 0; i < 3; i++) f.output(bytes(8, i));
    let calls = 0;
    expect(() =>
      c.consume(() => {
        if (++calls === 2) throw new Error('boom');
      }, Infinity),
    ).toThrow('boom');
    expect(f.consumed).toBe(32);
    const rest: Uint8Array[] = [];
    c.consume((b, off, len) => rest.push(b.slice(off, off + len)), Infinity);
    expect(rest).toEqual([bytes(8, 2)]);
  });

  it('stop() from inside a callback ends the walk and publishes consumer_pos through that record, once', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    for (let i = 0; i < 3; i++) f.output(bytes(8, i));
    let calls = 0;
    f.log.length = 0;
    c.consume(() => {
      calls++;
      c.stop();
    }, Infinity);
    expect(calls).toBe(1);
    expect(f.consumed).toBe(16); // the map outlives the reader: the next one starts after it
    expect(f.log.filter((l) => l === 'store consumer')).toHaveLength(1);
    expect(c.consume(() => calls++, Infinity)).toBe(0);
  });

  it('writes nothing when there is nothing to read', () => {
    const f = new FakeRing();
    const c = new RingBufConsumer(f.consumer, f.producer, f.size, PAGE, f.atomics);
    f.log.length = 0;
    expect(read(c)).toEqual([]);
    expect(f.log).toEqual(['load64 producer']);
  });
});
