// PerfRing.readRecentInto() on a fake overwritable ring: a tiny "kernel" writes records
// backward the way __perf_output_begin() does with write_backward (data_head drops by each
// record's size, records wrap at the ends of the data area, old ones are overwritten), and the
// snapshot must be the newest records, newest first, each whole.
import { describe, expect, it } from 'vitest';
import type { Mapping } from '../../src/sys/backend.js';
import { DATA_HEAD_OFFSET, DATA_OFFSET_OFFSET, DATA_SIZE_OFFSET, PERF_RECORD_LOST, PERF_RECORD_SAMPLE, PerfRing, type PerfRecord } from '../../src/perf/ring.js';
import { encodeBpfOutputAttr } from '../../src/perf/event.js';
import { PerfAttrFlag, PerfAttrOffset } from '../../src/internal/perf-event.js';

const PAGE = 4096;

class BackwardKernel {
  readonly mapping: Mapping;
  readonly meta: DataView;
  readonly data: Uint8Array;
  /** Bytes written so far; data_head is its negation as a u64. */
  written = 0;

  constructor(dataPages = 1) {
    const buffer = new ArrayBuffer(PAGE * (1 + dataPages));
    this.mapping = { buffer, length: buffer.byteLength };
    this.meta = new DataView(buffer, 0, PAGE);
    this.meta.setBigUint64(DATA_OFFSET_OFFSET, BigInt(PAGE), true);
    this.meta.setBigUint64(DATA_SIZE_OFFSET, BigInt(PAGE * dataPages), true);
    this.data = new Uint8Array(buffer, PAGE, PAGE * dataPages);
  }

  #write(bytes: Uint8Array): void {
    this.written += bytes.length;
    const head = BigInt.asUintN(64, -BigInt(this.written));
    const start = Number(head & BigInt(this.data.length - 1));
    for (let i = 0; i < bytes.length; i++) this.data[(start + i) % this.data.length] = bytes[i]!;
    this.meta.setBigUint64(DATA_HEAD_OFFSET, head, true);
  }

  /** A PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: header, u32 size, data padded so the record is 8-aligned. */
  sample(seq: number, size: number): void {
    const rawSize = ((size + 4 + 7) & ~7) - 4;
    const rec = new Uint8Array(8 + 4 + rawSize);
    const v = new DataView(rec.buffer);
    v.setUint32(0, PERF_RECORD_SAMPLE, true);
    v.setUint16(6, rec.length, true);
    v.setUint32(8, rawSize, true);
    for (let i = 0; i < size; i++) rec[12 + i] = (seq + i) & 0xff;
    v.setUint32(12, seq, true);
    this.#write(rec);
  }

  lost(n: number): void {
    const rec = new Uint8Array(24);
    const v = new DataView(rec.buffer);
    v.setUint32(0, PERF_RECORD_LOST, true);
    v.setUint16(6, 24, true);
    v.setBigUint64(16, BigInt(n), true);
    this.#write(rec);
  }
}

const seqOf = (r: PerfRecord): number => new DataView(r.rawSample.buffer, r.rawSample.byteOffset).getUint32(0, true);
const recordBytes = (size: number): number => 8 + 4 + ((size + 4 + 7) & ~7) - 4;

describe('PerfRing.readRecentInto (overwritable, write_backward)', () => {
  it('an empty ring gives nothing', () => {
    const k = new BackwardKernel();
    expect(new PerfRing(0, k.mapping, PAGE).readRecentInto([], Infinity)).toBe(0);
  });

  it('fewer records than fit: all of them, newest first', () => {
    const k = new BackwardKernel();
    for (let s = 1; s <= 5; s++) k.sample(s, 20 + s);
    const out: PerfRecord[] = [];
    expect(new PerfRing(3, k.mapping, PAGE).readRecentInto(out, Infinity)).toBe(5);
    expect(out.map(seqOf)).toEqual([5, 4, 3, 2, 1]);
    expect(out.every((r) => r.cpu === 3 && r.lostSamples === 0)).toBe(true);
  });

  it('after many wraps: the newest records that fit, contiguous, whole, and not the one cut by the window', () => {
    const k = new BackwardKernel();
    const sizes = new Map<number, number>();
    for (let s = 1; s <= 3000; s++) {
      const size = 4 + ((s * 37) % 121);
      sizes.set(s, size);
      k.sample(s, size);
    }
    const out: PerfRecord[] = [];
    const ring = new PerfRing(0, k.mapping, PAGE);
    ring.readRecentInto(out, Infinity);
    const seqs = out.map(seqOf);
    expect(seqs[0]).toBe(3000);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! - 1);
    const held = seqs.reduce((sum, s) => sum + recordBytes(sizes.get(s)!), 0);
    expect(held).toBeLessThanOrEqual(PAGE);
    expect(held + recordBytes(sizes.get(seqs[seqs.length - 1]! - 1)!)).toBeGreaterThan(PAGE);
    for (const r of out) {
      const s = seqOf(r);
      for (let i = 4; i < sizes.get(s)!; i++) expect(r.rawSample[i]).toBe((s + i) & 0xff);
    }
    expect(ring.unknownRecords).toBe(0);
    // max
    const three: PerfRecord[] = [];
    expect(ring.readRecentInto(three, 3)).toBe(3);
    expect(three.map(seqOf)).toEqual([3000, 2999, 2998]);
  });

  it('reports loss records among the samples', () => {
    const k = new BackwardKernel();
    k.sample(1, 16);
    k.lost(7);
    k.sample(2, 16);
    const out: PerfRecord[] = [];
    new PerfRing(0, k.mapping, PAGE).readRecentInto(out, Infinity);
    expect(out.map((r) => (r.lostSamples > 0 ? `lost ${r.lostSamples}` : `seq ${seqOf(r)}`))).toEqual(['seq 2', 'lost 7', 'seq 1']);
  });

  it('the BPF output event of an overwritable ring sets write_backward', () => {
    const flags = (b: Uint8Array) => new DataView(b.buffer).getBigUint64(PerfAttrOffset.flags, true);
    expect(flags(encodeBpfOutputAttr({ backward: true })) & PerfAttrFlag.WriteBackward).toBe(PerfAttrFlag.WriteBackward);
    expect(flags(encodeBpfOutputAttr({})) & PerfAttrFlag.WriteBackward).toBe(0n);
  });
});
