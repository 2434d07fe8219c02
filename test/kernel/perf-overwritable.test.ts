// OverwritablePerfReader against the running kernel (root, 4.7+): backward, overwritable perf
// rings read on demand. Samples come from BPF_PROG_TEST_RUN of a hand-assembled raw
// tracepoint program calling bpf_perf_event_output(BPF_F_CURRENT_CPU) on a chosen CPU
// (BPF_F_TEST_RUN_ON_CPU), each carrying a sequence number: after many more samples than a
// ring holds, a snapshot must start at the newest one and go back in contiguous sequence
// numbers, every record whole.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { backend } from '../../src/sys/select.js';
import { OverwritablePerfReader } from '../../src/perf/overwritable.js';
import type { PerfRecord } from '../../src/perf/reader.js';
import { pageSize } from '../../src/internal/reader/mmap.js';
import { PAYLOAD_MAX, producer, runProducer } from './helpers/producer.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf() and perf_event_open()' : '';
if (skip !== '') console.warn(`skipping overwritable perf kernel tests: ${skip}`);

const fdCount = (): number => readdirSync('/proc/self/fd').length;
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const seqOf = (r: PerfRecord): number => Number(new DataView(r.rawSample.buffer, r.rawSample.byteOffset, 8).getBigUint64(0, true));

describe.skipIf(skip !== '')(`OverwritablePerfReader (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  let events: BpfMap;
  let payload: BpfMap;
  let prog: Program;
  const cpus = skip === '' ? onlineCPUs() : [];
  const cpu = cpus[cpus.length - 1] ?? 0;
  let seq = 0;

  function produce(on: number, size: number): number {
    const s = ++seq;
    runProducer(prog, on, size, s);
    return s;
  }

  /** Sizes 8..128, so that records of 24..144 bytes wrap around the ring at many offsets. */
  const sizeOf = (s: number): number => 8 + ((s * 37) % 121);

  /** What the program sent for `size` bytes and sequence `s`, padded as the kernel pads. */
  function expected(s: number, size: number): Uint8Array {
    const out = new Uint8Array(((size + 4 + 7) & ~7) - 4);
    for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
    out.set(new Uint8Array(new BigUint64Array([BigInt(s)]).buffer), 0);
    return out;
  }

  /** A sample's bytes are what the program sent; the kernel's padding after them holds stale bytes. */
  function expectSample(r: PerfRecord, size: number): void {
    const want = expected(seqOf(r), size);
    expect(r.rawSample.length).toBe(want.length);
    expect(r.rawSample.subarray(0, size)).toEqual(want.subarray(0, size));
  }

  /** The bytes a sample of `size` takes in the ring: header, u32 size, data, padded to 8. */
  const recordBytes = (size: number): number => (8 + 4 + size + 7) & ~7;

  beforeAll(() => {
    events = BpfMap.create({ name: 'perf_backward', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 0 });
    payload = BpfMap.create({ name: 'payload', type: MapType.Array, keySize: 4, valueSize: PAYLOAD_MAX, maxEntries: 1 });
    const pattern = new Uint8Array(PAYLOAD_MAX);
    for (let i = 0; i < PAYLOAD_MAX; i++) pattern[i] = (i * 7 + 3) & 0xff;
    payload.update(u32(0), pattern);
    prog = Program.load({ name: 'perf_backward', type: ProgramType.RawTracepoint, license: 'GPL', instructions: producer(events, payload) });
  });

  afterAll(() => {
    prog?.close();
    payload?.close();
    events?.close();
  });

  it('after many more samples than fit, a snapshot holds the newest ones, newest first, contiguous and whole', () => {
    using reader = new OverwritablePerfReader(events, { perCpuBufferBytes: 1 });
    expect(reader.bufferBytes).toBe(pageSize());
    const sizes = new Map<number, number>();
    let last = 0;
    for (let i = 0; i < 5000; i++) {
      const size = sizeOf(seq + 1);
      last = produce(cpu, size);
      sizes.set(last, size);
    }
    const snap = reader.readRecent({ cpu });
    expect(snap.length).toBeGreaterThan(0);
    expect(snap.every((r) => r.cpu === cpu && r.lostSamples === 0)).toBe(true);
    const seqs = snap.map(seqOf);
    expect(seqs[0]).toBe(last);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! - 1);
    for (const r of snap) expectSample(r, sizes.get(seqOf(r))!);
    // As many as the ring holds: the next older one would not have fit.
    const held = seqs.reduce((sum, s) => sum + recordBytes(sizes.get(s)!), 0);
    expect(held).toBeLessThanOrEqual(reader.bufferBytes);
    expect(held + recordBytes(sizes.get(seqs[seqs.length - 1]! - 1)!)).toBeGreaterThan(reader.bufferBytes);
    console.log(`overwritable ring of ${reader.bufferBytes} bytes kept the newest ${snap.length} of 5000 samples`);

    // Reading does not consume: the same records again, then newer ones in front of them.
    expect(reader.readRecent({ cpu }).map(seqOf)).toEqual(seqs);
    const newer = produce(cpu, 16);
    sizes.set(newer, 16);
    const again = reader.readRecent({ cpu, maxPerCPU: 3 });
    expect(again.map(seqOf)).toEqual([newer, seqs[0], seqs[1]]);
  });

  it('with fewer samples than fit, returns exactly those, on every CPU, grouped by CPU', () => {
    using reader = new OverwritablePerfReader(events, { perCpuBufferBytes: 16 * 1024 });
    expect(reader.cpus).toEqual(cpus);
    expect(reader.readRecent()).toEqual([]);
    const sent = new Map<number, number[]>();
    for (const c of cpus) sent.set(c, [produce(c, 40), produce(c, 100), produce(c, 8)]);
    const snap = reader.readRecent();
    expect(snap.map((r) => r.cpu)).toEqual(cpus.flatMap((c) => [c, c, c]));
    for (const c of cpus) {
      const mine = snap.filter((r) => r.cpu === c);
      expect(mine.map(seqOf)).toEqual([...sent.get(c)!].reverse());
      expectSample(mine[0]!, 8);
      expectSample(mine[1]!, 100);
      expectSample(mine[2]!, 40);
    }
    expect(() => reader.readRecent({ cpu: 4096 })).toThrow(ArgumentError);
  });

  it('pause() freezes the rings; samples sent meanwhile are reported as lost once writing resumes', () => {
    using reader = new OverwritablePerfReader(events, { perCpuBufferBytes: 16 * 1024 });
    const kept = [produce(cpu, 24), produce(cpu, 24)];
    reader.pause();
    expect(reader.paused).toBe(true);
    for (let i = 0; i < 7; i++) produce(cpu, 24);
    expect(reader.readRecent({ cpu }).map(seqOf)).toEqual([...kept].reverse());
    expect(reader.paused).toBe(true);
    reader.resume();
    expect(reader.paused).toBe(false);
    const after = produce(cpu, 24);
    const snap = reader.readRecent({ cpu });
    expect(snap.filter((r) => r.lostSamples > 0).map((r) => r.lostSamples)).toEqual([7]);
    expect(snap.filter((r) => r.lostSamples === 0).map(seqOf)).toEqual([after, ...[...kept].reverse()]);
  });

  it('close() removes the events from the map and closes every fd; use after close throws', () => {
    const before = fdCount();
    const reader = new OverwritablePerfReader(events, { perCpuBufferBytes: 4096 });
    expect(fdCount()).toBe(before + cpus.length);
    reader.close();
    reader.close();
    expect(reader.closed).toBe(true);
    expect(fdCount()).toBe(before);
    expect(() => reader.readRecent()).toThrow(ClosedError);
    expect(() => reader.pause()).toThrow(ClosedError);
    expect(String(reader)).toMatch(/closed/);
  });

  it('refuses maps of other types', () => {
    using other = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => new OverwritablePerfReader(other)).toThrow(ArgumentError);
  });
});
