// PerfReader.batches() and RingBufReader.batches() against the running kernel (root): exact
// bytes, loss accounting (received + lost == produced), wake-ups, and the iteration's rules
// (one at a time, reads refused meanwhile, close/break/signal end it). Records come from
// BPF_PROG_TEST_RUN of hand-assembled raw tracepoint programs on a chosen CPU (as in
// perf.test.ts and ringbuf.test.ts); the perf wake-up test uses a real tracepoint. Runs on
// whichever backend EBPF_TS_BACKEND selects.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { Helper } from '../../src/asm/helper.js';
import { ArgumentError } from '../../src/errors.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { backend } from '../../src/sys/select.js';
import { PerfReader } from '../../src/perf/reader.js';
import { RingBufReader } from '../../src/ringbuf/reader.js';
import { RecordBatch } from '../../src/internal/reader/batch.js';
import { attachTracepoint } from '../../src/link/tracepoint.js';
import { callGetppid, ensureTracefs } from './link-helpers.js';
import { PAYLOAD_MAX, producer, runProducer } from './helpers/producer.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf() and perf_event_open()' : '';
if (skip !== '') console.warn(`skipping reader batch kernel tests: ${skip}`);

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const readU64 = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

/** The payload the program sends for `size` bytes and sequence `s` (unpadded). */
function expected(s: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
  out.set(new Uint8Array(new BigUint64Array([BigInt(s)]).buffer).subarray(0, Math.min(8, size)), 0);
  return out;
}

/** One producer setup per map type. */
function setup(type: MapType.PerfEventArray | MapType.RingBuf) {
  const s = {
    out: undefined as unknown as BpfMap,
    counters: undefined as unknown as BpfMap,
    payload: undefined as unknown as BpfMap,
    prog: undefined as unknown as Program,
    seq: 0,
    produce(cpu: number, size: number): number {
      const n = ++s.seq;
      runProducer(s.prog, cpu, size, n);
      return n;
    },
    counter: (i: number): number => Number(readU64(s.counters.lookup(u32(i))!)),
    resetCounters(): void {
      s.counters.update(u32(0), new Uint8Array(8));
      s.counters.update(u32(1), new Uint8Array(8));
    },
  };
  beforeAll(() => {
    s.out =
      type === MapType.PerfEventArray
        ? BpfMap.create({ name: 'batch_perf', type, keySize: 4, valueSize: 4, maxEntries: 0 })
        : BpfMap.create({ name: 'batch_rb', type, keySize: 0, valueSize: 0, maxEntries: 4096 });
    s.counters = BpfMap.create({ name: 'counters', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
    s.payload = BpfMap.create({ name: 'payload', type: MapType.Array, keySize: 4, valueSize: PAYLOAD_MAX, maxEntries: 1 });
    const pattern = new Uint8Array(PAYLOAD_MAX);
    for (let i = 0; i < PAYLOAD_MAX; i++) pattern[i] = (i * 7 + 3) & 0xff;
    s.payload.update(u32(0), pattern);
    s.prog = Program.load({ name: 'batch_producer', type: ProgramType.RawTracepoint, license: 'GPL', instructions: producer(s.out, s.payload, s.counters) });
  });
  afterAll(() => {
    s.prog?.close();
    s.payload?.close();
    s.counters?.close();
    s.out?.close();
  });
  return s;
}

const cpus = skip === '' ? onlineCPUs() : [];

describe.skipIf(skip !== '')(`PerfReader.batches() (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  const s = setup(MapType.PerfEventArray);

  it('hands over exact bytes and CPUs, across the ring end, in one reused batch object', async () => {
    // Samples written by a test run wake no reader on this host (perf.test.ts, collect()):
    // every batch here is what the iteration finds when asked, before it would wait.
    using reader = new PerfReader(s.out, { perCpuBufferBytes: 4096 });
    const it = reader.batches();
    let first: RecordBatch | undefined;
    let total = 0;
    for (let round = 0; round < 40; round++) {
      const cpu = cpus[round % cpus.length]!;
      const sent: Array<[number, number]> = [];
      for (let i = 0; i < 8; i++) {
        const size = ((round * 8 + i) * 37) % 400 + 1;
        sent.push([s.produce(cpu, size), size]);
      }
      const { value: batch, done } = await it.next();
      expect(done).toBe(false);
      first ??= batch!;
      expect(batch).toBe(first);
      expect(batch!.count).toBe(sent.length);
      expect(batch!.lostSamples).toBe(0);
      sent.forEach(([seq, size], i) => {
        expect(batch!.cpu(i)).toBe(cpu);
        expect(batch!.length(i)).toBe(((size + 4 + 7) & ~7) - 4); // padded as rawSample
        expect(batch!.sample(i).subarray(0, size)).toEqual(expected(seq, size));
      });
      total += batch!.count;
    }
    expect(total).toBe(320);
    await it.return();
  });

  it('counts losses exactly: received + lost == produced; loss reports only in lostSamples', async () => {
    s.resetCounters();
    const perCPU = 2000;
    using reader = new PerfReader(s.out, { perCpuBufferBytes: 1 });
    for (let i = 0; i < perCPU; i++) for (const cpu of cpus) s.produce(cpu, 60);
    expect(s.counter(1)).toBeGreaterThan(0);
    const it = reader.batches();
    const seqs: number[] = [];
    let lost = 0;
    const take = (b: RecordBatch): void => {
      for (let i = 0; i < b.count; i++) {
        expect(b.length(i)).toBe(60);
        seqs.push(Number(readU64(b.bytes, b.offset(i))));
      }
      lost += b.lostSamples;
    };
    // What fills the one-page rings; the losses are reported in front of the next sample that
    // fits (perf_output_begin()), so one more sample per CPU after the drain.
    take((await it.next()).value!);
    expect(lost).toBe(0);
    for (const cpu of cpus) s.produce(cpu, 60);
    take((await it.next()).value!);
    const produced = s.counter(0);
    console.log(`perf batches loss accounting (${backend().kind}): produced ${produced}, received ${seqs.length}, lost ${lost}`);
    expect(produced).toBe(perCPU * cpus.length + cpus.length);
    expect(seqs.length + lost).toBe(produced);
    expect(lost).toBe(s.counter(1));
    expect(reader.lostSamples).toBe(lost);
    expect(new Set(seqs).size).toBe(seqs.length);
    // Nothing left: the next batch waits; close ends the iteration without error.
    const rest = it.next();
    reader.close();
    expect((await rest).done).toBe(true);
  });

  it('max bounds a batch; break ends the iteration and the reader reads on', async () => {
    using reader = new PerfReader(s.out, { perCpuBufferBytes: 4096 });
    const cpu = cpus[0]!;
    const sent: number[] = [];
    for (let i = 0; i < 40; i++) sent.push(s.produce(cpu, 8));
    const counts: number[] = [];
    const seqs: number[] = [];
    for await (const b of reader.batches({ max: 16 })) {
      counts.push(b.count);
      for (let i = 0; i < b.count; i++) seqs.push(Number(readU64(b.sample(i))));
      if (seqs.length === 40) break;
    }
    expect(counts).toEqual([16, 16, 8]);
    expect(seqs).toEqual(sent);
    const last = s.produce(cpu, 8);
    const [r] = reader.readAvailable();
    expect(readU64(r!.rawSample)).toBe(BigInt(last));
    await expect(reader.batches({ max: 0 }).next()).rejects.toThrow(ArgumentError);
  });

  it('a waiting iteration is woken from the event loop (tracepoint), excludes reads and loops, ends on its signal', async () => {
    ensureTracefs();
    // Outputs the 8-byte pid_tgid of whoever calls getppid().
    const tp = Program.load({
      name: 'on_getppid',
      type: ProgramType.Tracepoint,
      license: 'GPL',
      instructions: asm.assemble([
        asm.mov64Reg(R.R6, R.R1),
        asm.call(Helper.GetCurrentPidTgid),
        asm.storeMem(asm.Size.DW, R.R10, -8, R.R0),
        asm.mov64Reg(R.R1, R.R6),
        asm.loadMapPtr(R.R2, s.out.fd),
        asm.mov32Imm(R.R3, -1),
        asm.mov64Reg(R.R4, R.R10),
        asm.alu64Imm(asm.ALUOp.Add, R.R4, -8),
        asm.mov64Imm(R.R5, 8),
        asm.call(Helper.PerfEventOutput),
        asm.mov64Imm(R.R0, 0),
        asm.exit(),
      ]),
    });
    using reader = new PerfReader(s.out, { perCpuBufferBytes: 4096 });
    const link = attachTracepoint(tp, 'syscalls', 'sys_enter_getppid');
    try {
      const ac = new AbortController();
      const it = reader.batches({ signal: ac.signal });
      const first = it.next();
      // Same tick: the iteration has started (the generator ran to its first fill or wait).
      await expect(reader.read()).rejects.toThrow(ArgumentError);
      await expect(reader.readMany()).rejects.toThrow(ArgumentError);
      await expect(reader.forEachRecord(() => {})).rejects.toThrow(ArgumentError);
      await expect(reader.batches().next()).rejects.toThrow(ArgumentError);
      const child = spawn('python3', ['-c', 'import os; os.getppid()'], { stdio: 'ignore' });
      const exited = new Promise((res) => child.on('exit', res));
      const { value: b, done } = await first;
      expect(done).toBe(false);
      expect(b!.count).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < b!.count; i++) expect(b!.length(i)).toBe(12);
      await exited;
      // Drain whatever else the tracepoint caught (other processes call getppid too), then
      // abort while waiting.
      let next = it.next();
      for (;;) {
        const raced = await Promise.race([next, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 50))]);
        if (raced === 'waiting') break;
        next = it.next();
      }
      ac.abort(new Error('enough'));
      await expect(next).rejects.toThrow('enough');
      expect(reader.closed).toBe(false);
      callGetppid(1);
    } finally {
      link.close();
      tp.close();
    }
  });
});

describe.skipIf(skip !== '')(`RingBufReader.batches() (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  const s = setup(MapType.RingBuf);

  it('hands over exact bytes (no padding) across the ring end, woken by the kernel', async () => {
    using reader = new RingBufReader(s.out);
    const it = reader.batches();
    let total = 0;
    for (let round = 0; round < 60; round++) {
      const sent: Array<[number, number]> = [];
      // The first round is produced while the iteration waits: a real wake-up.
      const next = it.next();
      for (let i = 0; i < 6; i++) {
        const size = ((round * 6 + i) * 53) % 500 + 1;
        sent.push([s.produce(cpus[i % cpus.length]!, size), size]);
      }
      let got = 0;
      let r = await next;
      for (;;) {
        const b = r.value!;
        for (let i = 0; i < b.count; i++, got++) {
          const [seq, size] = sent[got]!;
          expect(b.cpu(i)).toBe(-1);
          expect(b.length(i)).toBe(size);
          expect(b.sample(i)).toEqual(expected(seq, size));
        }
        if (got === sent.length) break;
        r = await it.next();
      }
      total += got;
    }
    expect(total).toBe(360);
    expect(reader.pendingBytes).toBe(0);
    await it.return();
  });

  it('received + failed == produced; close ends a waiting iteration; reads work after it', async () => {
    s.resetCounters();
    using reader = new RingBufReader(s.out);
    for (let i = 0; i < 500; i++) s.produce(cpus[0]!, 100);
    const produced = s.counter(0);
    const failed = s.counter(1);
    expect(failed).toBeGreaterThan(0);
    const seqs: number[] = [];
    const it = reader.batches({ max: 7 });
    while (seqs.length + failed < produced) {
      const b = (await it.next()).value!;
      expect(b.count).toBeLessThanOrEqual(7);
      expect(b.lostSamples).toBe(0);
      for (let i = 0; i < b.count; i++) seqs.push(Number(readU64(b.bytes, b.offset(i))));
    }
    console.log(`ring buffer batches accounting (${backend().kind}): produced ${produced}, received ${seqs.length}, producer failures ${failed}`);
    expect(seqs.length + failed).toBe(produced);
    expect(new Set(seqs).size).toBe(seqs.length);
    await it.return();
    // The iteration is over: reads are allowed again.
    const last = s.produce(cpus[0]!, 8);
    expect(readU64((await reader.read()).rawSample)).toBe(BigInt(last));
    const waiting = reader.batches().next();
    reader.close();
    expect((await waiting).done).toBe(true);
  });
});
