// PerfReader against the running kernel (root). Events are produced by BPF_PROG_TEST_RUN of a
// hand-assembled raw tracepoint program that calls bpf_perf_event_output(BPF_F_CURRENT_CPU)
// on a chosen CPU (BPF_F_TEST_RUN_ON_CPU): that gives exact control of what is produced, which
// loss accounting needs. Runs on whichever backend EBPF_TS_BACKEND selects (CI runs both).
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { Helper } from '../../src/asm/helper.js';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { backend } from '../../src/sys/select.js';
import { PerfReader, type PerfRecord } from '../../src/perf/reader.js';
import { pageSize } from '../../src/internal/reader/mmap.js';
import { attachTracepoint } from '../../src/link/tracepoint.js';
import { ensureTracefs } from './link-helpers.js';
import { PAYLOAD_MAX, producer, runProducer } from './helpers/producer.js';
import { Int, Member, Struct } from '../../src/btf/types.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf() and perf_event_open()' : '';
if (skip !== '') console.warn(`skipping perf kernel tests: ${skip}`);

const fdCount = (): number => readdirSync('/proc/self/fd').length;
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const readU64 = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

describe.skipIf(skip !== '')(`PerfReader (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  let events: BpfMap;
  let counters: BpfMap;
  let payload: BpfMap;
  let prog: Program;
  const cpus = skip === '' ? onlineCPUs() : [];
  let seq = 0;

  /** Runs the producer once on `cpu`, outputting `size` bytes; returns the sequence number. */
  function produce(cpu: number, size: number): number {
    const s = ++seq;
    runProducer(prog, cpu, size, s);
    return s;
  }

  /**
   * Reads `n` records without relying on wake-ups: perf wake-ups of samples written from a
   * BPF_PROG_TEST_RUN (an IPI on the chosen CPU) are deferred to irq_work and were seen not to
   * arrive at all on this host, so these tests read what is in the rings (readAvailable, like
   * libbpf's perf_buffer__consume). Wake-ups are tested with a real tracepoint below.
   */
  async function collect(reader: PerfReader, n: number): Promise<PerfRecord[]> {
    const got: PerfRecord[] = [];
    const deadline = Date.now() + 5000;
    while (got.length < n && Date.now() < deadline) {
      got.push(...reader.readAvailable());
      if (got.length < n) await new Promise((r) => setTimeout(r, 2));
    }
    return got;
  }

  function counter(i: number): bigint {
    return readU64(counters.lookup(u32(i))!);
  }

  function resetCounters(): void {
    counters.update(u32(0), new Uint8Array(8));
    counters.update(u32(1), new Uint8Array(8));
  }

  beforeAll(() => {
    events = BpfMap.create({ name: 'perf_events', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 0 });
    counters = BpfMap.create({ name: 'counters', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
    payload = BpfMap.create({ name: 'payload', type: MapType.Array, keySize: 4, valueSize: PAYLOAD_MAX, maxEntries: 1 });
    const pattern = new Uint8Array(PAYLOAD_MAX);
    for (let i = 0; i < PAYLOAD_MAX; i++) pattern[i] = (i * 7 + 3) & 0xff;
    payload.update(u32(0), pattern);
    prog = Program.load({
      name: 'perf_producer',
      type: ProgramType.RawTracepoint,
      license: 'GPL',
      instructions: producer(events, payload, counters),
    });
  });

  afterAll(() => {
    prog?.close();
    payload?.close();
    counters?.close();
    events?.close();
  });

  /** What the program sent for `size` bytes and sequence `s`, padded as the kernel pads. */
  function expected(s: number, size: number): Uint8Array {
    const out = new Uint8Array(((size + 4 + 7) & ~7) - 4);
    for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
    const seqBytes = new Uint8Array(new BigUint64Array([BigInt(s)]).buffer);
    out.set(seqBytes.subarray(0, Math.min(8, size)), 0);
    return out;
  }

  it('delivers a sample from each online CPU with the right cpu and payload', async () => {
    using reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    expect(reader.cpus).toEqual(cpus);
    const sent = new Map<number, number>();
    for (const cpu of cpus) sent.set(cpu, produce(cpu, 60));
    const got = await collect(reader, cpus.length);
    for (const r of got) {
      expect(r.lostSamples).toBe(0);
      expect(r.rawSample.length).toBe(60);
      expect(r.rawSample).toEqual(expected(sent.get(r.cpu)!, 60));
    }
    expect(new Set(got.map((r) => r.cpu))).toEqual(new Set(cpus));
  });

  it('counts losses exactly: received + lost == produced, and no loss report reaches the decoder', async () => {
    resetCounters();
    const perCPU = 2000;
    const size = 60; // 72-byte records: a one-page ring holds 56 of them
    using reader = new PerfReader(events, { perCpuBufferBytes: 1 });
    expect(reader.bufferBytes).toBe(pageSize());
    // Not reading: the rings fill and the kernel drops (and counts) the rest.
    for (let i = 0; i < perCPU; i++) for (const cpu of cpus) produce(cpu, size);
    const failedWhileFull = counter(1);
    expect(failedWhileFull).toBeGreaterThan(0n);
    // The kernel reports a ring's losses in front of the next sample that fits
    // (perf_output_begin()), so drain, then send one more sample per CPU.
    const seqs: number[] = [];
    const lostByCPU = new Map<number, number>();
    const type = new Struct('event', 8, [new Member('seq', new Int('unsigned long long', 8), 0)]);
    // What filled the rings: samples only, the losses are still pending in the kernel.
    const first = reader.readAvailable();
    expect(first.every((r) => r.lostSamples === 0 && r.rawSample.length > 0)).toBe(true);
    for (const r of first) seqs.push(Number(readU64(r.rawSample)));
    for (const cpu of cpus) produce(cpu, size);
    const produced = Number(counter(0));
    // The rest (a LOST record and the sentinel per CPU) through decoded(): the decoder would
    // throw on an empty sample, so reaching the counts proves none was passed to it.
    const decodedAll = (async () => {
      for await (const ev of reader.decoded(type, { onLost: (n, cpu) => lostByCPU.set(cpu, (lostByCPU.get(cpu) ?? 0) + n) })) {
        seqs.push(Number((ev as { seq: bigint }).seq));
      }
    })();
    // The first read() looks at every ring once (demand appeared); later ones wait for
    // wake-ups, which test runs do not deliver here, so close once the counts add up.
    const deadline = Date.now() + 5000;
    while (seqs.length + [...lostByCPU.values()].reduce((a, b) => a + b, 0) < produced && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    reader.close();
    await decodedAll;
    const lost = [...lostByCPU.values()].reduce((a, b) => a + b, 0);
    console.log(`loss accounting (${backend().kind}): produced ${produced}, received ${seqs.length}, lost ${lost}, output errors ${counter(1)}`);
    expect(produced).toBe(perCPU * cpus.length + cpus.length);
    expect(seqs.length + lost).toBe(produced);
    expect(lost).toBe(Number(counter(1)));
    expect(reader.lostSamples).toBe(lost);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('reassembles records that straddle the end of the ring', async () => {
    using reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const cpu = cpus[cpus.length - 1]!;
    const ring = reader.bufferBytes;
    let offset = 0;
    let straddled = 0;
    for (let round = 0; round < 40; round++) {
      const sent: Array<[number, number]> = [];
      for (let i = 0; i < 8; i++) {
        const size = ((round * 8 + i) * 37) % 400 + 1;
        sent.push([produce(cpu, size), size]);
      }
      const got = await collect(reader, sent.length);
      expect(got.length).toBe(sent.length);
      for (let i = 0; i < sent.length; i++) {
        const [s, size] = sent[i]!;
        const rec = got[i]!;
        expect(rec.cpu).toBe(cpu);
        expect(rec.lostSamples).toBe(0);
        // The kernel pads the raw data to 8 bytes without writing the padding, so after the
        // first lap it holds stale bytes: compare the payload and the padded length.
        const exp = expected(s, size);
        expect(rec.rawSample.length).toBe(exp.length);
        expect(rec.rawSample.subarray(0, size)).toEqual(exp.subarray(0, size));
        const recordSize = 8 + 4 + rec.rawSample.length;
        if ((offset % ring) + recordSize > ring) straddled++;
        offset += recordSize;
      }
    }
    expect(straddled).toBeGreaterThanOrEqual(5);
  });

  it('wakes a pending read from the event loop (tracepoint syscalls/sys_enter_getppid)', async () => {
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
        asm.loadMapPtr(R.R2, events.fd),
        asm.mov32Imm(R.R3, -1),
        asm.mov64Reg(R.R4, R.R10),
        asm.alu64Imm(asm.ALUOp.Add, R.R4, -8),
        asm.mov64Imm(R.R5, 8),
        asm.call(Helper.PerfEventOutput),
        asm.mov64Imm(R.R0, 0),
        asm.exit(),
      ]),
    });
    using reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const link = attachTracepoint(tp, 'syscalls', 'sys_enter_getppid');
    try {
      const pending = reader.read();
      const child = spawn('python3', ['-c', 'import os; os.getppid()'], { stdio: 'ignore' });
      const r = await pending;
      expect(r.lostSamples).toBe(0);
      expect(r.rawSample.length).toBe(12); // 8 bytes, padded to 8 minus the u32 size
      await new Promise((res) => child.on('exit', res));
    } finally {
      link.close();
      tp.close();
    }
  });

  it('consume() (the in-place fast path) counts losses exactly and hands over every sample once', () => {
    resetCounters();
    const perCPU = 2000;
    using reader = new PerfReader(events, { perCpuBufferBytes: 1 });
    for (let i = 0; i < perCPU; i++) for (const cpu of cpus) produce(cpu, 60);
    const seqs: number[] = [];
    const lostByCPU = new Map<number, number>();
    const onSample = (cpu: number, bytes: Uint8Array, offset: number, length: number): void => {
      expect(cpus).toContain(cpu);
      expect(length).toBe(60);
      seqs.push(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true)));
    };
    const onLost = (cpu: number, n: number): void => void lostByCPU.set(cpu, (lostByCPU.get(cpu) ?? 0) + n);
    reader.consume(onSample, onLost);
    expect(lostByCPU.size).toBe(0); // still pending in the kernel, reported before the next sample
    for (const cpu of cpus) produce(cpu, 60);
    reader.consume(onSample, onLost);
    const produced = Number(counter(0));
    const lost = [...lostByCPU.values()].reduce((a, b) => a + b, 0);
    expect(produced).toBe(perCPU * cpus.length + cpus.length);
    expect(seqs.length + lost).toBe(produced);
    expect(lost).toBe(Number(counter(1)));
    expect(reader.lostSamples).toBe(lost);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(reader.consume(onSample, onLost)).toBe(0);
  });

  it('forEachRecord() is fed from the event loop (tracepoint), excludes read(), ends on close() from a callback', async () => {
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
        asm.loadMapPtr(R.R2, events.fd),
        asm.mov32Imm(R.R3, -1),
        asm.mov64Reg(R.R4, R.R10),
        asm.alu64Imm(asm.ALUOp.Add, R.R4, -8),
        asm.mov64Imm(R.R5, 8),
        asm.call(Helper.PerfEventOutput),
        asm.mov64Imm(R.R0, 0),
        asm.exit(),
      ]),
    });
    const reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const link = attachTracepoint(tp, 'syscalls', 'sys_enter_getppid');
    try {
      const tgids: number[] = [];
      const done = reader.forEachRecord((_cpu, bytes, offset, length) => {
        expect(length).toBe(12);
        tgids.push(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true) >> 32n));
        reader.close(); // from inside the callback: the walk stops, the promise resolves
      });
      // Both asked for in the same tick: the tracepoint fires for every process that calls
      // getppid, so after an await a record from elsewhere may already have closed the reader.
      const busyRead = reader.read();
      const busyLoop = reader.forEachRecord(() => {});
      await expect(busyRead).rejects.toThrow(ArgumentError);
      await expect(busyLoop).rejects.toThrow(ArgumentError);
      const child = spawn('python3', ['-c', 'import os; os.getppid()'], { stdio: 'ignore' });
      // Listen now: the child may exit before the sample's wake-up is handled, and 'exit' is
      // not emitted again for a late listener.
      const exited = new Promise((res) => child.on('exit', res));
      await done;
      expect(tgids).toHaveLength(1);
      expect(reader.closed).toBe(true);
      await exited;
    } finally {
      reader.close();
      link.close();
      tp.close();
    }
  });

  it('forEachRecord(): a throwing callback rejects the loop and leaves the reader open; a signal ends it', async () => {
    using reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const cpu = cpus[0]!;
    produce(cpu, 8);
    produce(cpu, 8);
    // The first look at every ring happens as the loop starts: no wake-up needed.
    await expect(
      reader.forEachRecord(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(reader.closed).toBe(false);
    const rest: number[] = [];
    reader.consume((_c, bytes, offset) => void rest.push(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true))));
    expect(rest).toEqual([seq]); // the first sample was consumed by the throwing call
    const ac = new AbortController();
    const loop = reader.forEachRecord(() => {}, { signal: ac.signal });
    ac.abort(new Error('enough'));
    await expect(loop).rejects.toThrow('enough');
    expect(reader.closed).toBe(false);
  });

  it('pause(cpu) deletes the CPU slot and resume(cpu) restores it, keyed by CPU number', async () => {
    resetCounters();
    using reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const cpu = cpus[cpus.length - 1]!;
    reader.pause(cpu);
    reader.pause(cpu);
    produce(cpu, 8);
    expect(counter(1)).toBe(1n); // bpf_perf_event_output() failed: the slot is empty
    expect(reader.readAvailable()).toEqual([]);
    reader.resume(cpu);
    const s = produce(cpu, 8);
    const [r] = (await collect(reader, 1)) as [PerfRecord];
    expect(r.cpu).toBe(cpu);
    expect(readU64(r.rawSample)).toBe(BigInt(s));
    expect(() => reader.pause(4096)).toThrow(ArgumentError);
  });

  it('close() rejects a pending read with ClosedError and later reads too', async () => {
    const reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
    const pending = reader.read();
    const many = reader.readMany();
    reader.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    await expect(many).rejects.toBeInstanceOf(ClosedError);
    await expect(reader.read()).rejects.toBeInstanceOf(ClosedError);
    expect(() => reader.pause(cpus[0]!)).toThrow(ClosedError);
    reader.close();
  });

  it('an AbortSignal closes the reader; a per-read signal aborts only that read', async () => {
    const ac = new AbortController();
    const reader = new PerfReader(events, { perCpuBufferBytes: 4096, signal: ac.signal });
    const one = new AbortController();
    const single = reader.read({ signal: one.signal });
    one.abort(new Error('just this read'));
    await expect(single).rejects.toThrow('just this read');
    expect(reader.closed).toBe(false);
    const pending = reader.read();
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    expect(reader.closed).toBe(true);
    let iterated = 0;
    for await (const _ of reader) iterated++;
    expect(iterated).toBe(0);
    expect(() => new PerfReader(events, { signal: ac.signal })).toThrow(ClosedError);
  });

  it('rejects bad options before opening anything', () => {
    expect(() => new PerfReader(counters)).toThrow(ArgumentError);
    expect(() => new PerfReader(events, { perCpuBufferBytes: 4096, watermark: 4096 })).toThrow(ArgumentError);
    expect(() => new PerfReader(events, { watermark: 1, wakeupEvents: 1 })).toThrow(ArgumentError);
    expect(() => new PerfReader(events, { perCpuBufferBytes: 0 })).toThrow(ArgumentError);
  });

  it('releases every fd and mapping: fd count unchanged after 200 open/close cycles', async () => {
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
    {
      using warm = new PerfReader(events, { perCpuBufferBytes: 4096 });
      void warm;
    }
    await settle();
    const before = fdCount();
    for (let i = 0; i < 200; i++) {
      const reader = new PerfReader(events, { perCpuBufferBytes: 4096 });
      // Every other cycle with watchers armed and a read pending.
      if (i % 2 === 0) {
        const p = reader.read();
        reader.close();
        await p.catch(() => undefined);
      } else {
        reader.close();
      }
    }
    await settle();
    expect(fdCount()).toBe(before);
  });

  it('releases what it opened when construction fails half-way', () => {
    // Sizes are checked before anything is opened.
    const small = BpfMap.create({ name: 'small', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 1 });
    if (cpus.length > 1) expect(() => new PerfReader(small)).toThrow(/has only 1 entries/);
    small.close();
    // BPF_F_RDONLY forbids updates from user space: the first ring is opened, mapped and
    // enabled, then installing it fails with EPERM; everything must be released again.
    const before = fdCount();
    const ro = BpfMap.create({ name: 'ro', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 0, flags: 1 << 3 });
    const mid = fdCount();
    expect(() => new PerfReader(ro, { perCpuBufferBytes: 4096 })).toThrow(/EPERM/);
    expect(fdCount()).toBe(mid);
    ro.close();
    expect(fdCount()).toBe(before);
  });
});
