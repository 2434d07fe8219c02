// RingBufReader against the running kernel (root). Records come from BPF_PROG_TEST_RUN of a
// hand-assembled raw tracepoint program: bpf_ringbuf_output() of a chosen size, or
// bpf_ringbuf_reserve() + discard, on a chosen CPU. Runs on whichever backend EBPF_TS_BACKEND
// selects (CI runs both).
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { Helper } from '../../src/asm/helper.js';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { backend } from '../../src/sys/select.js';
import { RingBufReader, type RingBufRecord } from '../../src/ringbuf/reader.js';
import { Int, Member, Struct } from '../../src/btf/types.js';
import { countIn } from './helpers/producer.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
if (skip !== '') console.warn(`skipping ring buffer kernel tests: ${skip}`);

const TEST_RUN_ON_CPU = 1;
const PAYLOAD_MAX = 512;
const DISCARD_SIZE = 48;
const fdCount = (): number => readdirSync('/proc/self/fd').length;
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const readU64 = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

/**
 * ctx (24 bytes): [0] size (<= 512), [1] sequence number, [2] mode: 0 = bpf_ringbuf_output()
 * of `size` bytes of payload[0] (seq in its first 8 bytes), 1 = reserve 48 bytes, write seq,
 * discard. counters[0] counts runs, counters[1] failed outputs/reservations.
 */
function producer(ring: BpfMap, counters: BpfMap, payload: BpfMap): asm.Instruction[] {
  const bump = (key: number): asm.Instruction[] => countIn(counters, key);
  return asm.assemble([
    asm.mov64Reg(R.R6, R.R1),
    asm.loadMem(asm.Size.DW, R.R7, R.R6, 0),
    asm.loadMem(asm.Size.DW, R.R8, R.R6, 8),
    asm.loadMem(asm.Size.DW, R.R9, R.R6, 16),
    ...bump(0),
    asm.jumpImm(asm.JumpOp.JNE, R.R9, 0, 'discard'),
    asm.storeImm(asm.Size.W, R.R10, -4, 0),
    asm.loadMapPtr(R.R1, payload.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.storeMem(asm.Size.DW, R.R0, 0, R.R8),
    asm.jumpImm(asm.JumpOp.JGT, R.R7, PAYLOAD_MAX, 'out'),
    asm.jumpImm(asm.JumpOp.JEq, R.R7, 0, 'out'),
    asm.mov64Reg(R.R2, R.R0),
    asm.loadMapPtr(R.R1, ring.fd),
    asm.mov64Reg(R.R3, R.R7),
    asm.mov64Imm(R.R4, 0),
    asm.call(Helper.RingbufOutput),
    asm.jumpImm(asm.JumpOp.JSGE, R.R0, 0, 'out'),
    asm.ja('failed'),
    asm.loadMapPtr(R.R1, ring.fd).withSymbol('discard'),
    asm.mov64Imm(R.R2, DISCARD_SIZE),
    asm.mov64Imm(R.R3, 0),
    asm.call(Helper.RingbufReserve),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'failed'),
    asm.storeMem(asm.Size.DW, R.R0, 0, R.R8),
    asm.mov64Reg(R.R1, R.R0),
    asm.mov64Imm(R.R2, 0),
    asm.call(Helper.RingbufDiscard),
    asm.ja('out'),
    ...bump(1).map((insn, i) => (i === 0 ? insn.withSymbol('failed') : insn)),
    asm.mov64Imm(R.R0, 0).withSymbol('out'),
    asm.exit(),
  ]);
}

describe.skipIf(skip !== '')(`RingBufReader (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  let ring: BpfMap;
  let counters: BpfMap;
  let payload: BpfMap;
  let prog: Program;
  const cpus = skip === '' ? onlineCPUs() : [];
  const ctx = new Uint8Array(24);
  const ctxView = new DataView(ctx.buffer);
  let seq = 0;

  function produce(size: number, discard = false, cpu = cpus[0]!): number {
    const s = ++seq;
    ctxView.setBigUint64(0, BigInt(size), true);
    ctxView.setBigUint64(8, BigInt(s), true);
    ctxView.setBigUint64(16, discard ? 1n : 0n, true);
    prog.testRun({ ctx, ctxSizeOut: 0, flags: TEST_RUN_ON_CPU, cpu });
    return s;
  }

  const counter = (i: number): bigint => readU64(counters.lookup(u32(i))!);
  const resetCounters = (): void => {
    counters.update(u32(0), new Uint8Array(8));
    counters.update(u32(1), new Uint8Array(8));
  };

  function expected(s: number, size: number): Uint8Array {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
    out.set(new Uint8Array(new BigUint64Array([BigInt(s)]).buffer).subarray(0, Math.min(8, size)), 0);
    return out;
  }

  beforeAll(() => {
    ring = BpfMap.create({ name: 'rb', type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
    counters = BpfMap.create({ name: 'counters', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
    payload = BpfMap.create({ name: 'payload', type: MapType.Array, keySize: 4, valueSize: PAYLOAD_MAX, maxEntries: 1 });
    const pattern = new Uint8Array(PAYLOAD_MAX);
    for (let i = 0; i < PAYLOAD_MAX; i++) pattern[i] = (i * 7 + 3) & 0xff;
    payload.update(u32(0), pattern);
    prog = Program.load({ name: 'rb_producer', type: ProgramType.RawTracepoint, license: 'GPL', instructions: producer(ring, counters, payload) });
  });

  afterAll(() => {
    prog?.close();
    payload?.close();
    counters?.close();
    ring?.close();
  });

  it('delivers records from every CPU with their exact bytes (no padding)', async () => {
    using reader = new RingBufReader(ring);
    expect(reader.bufferBytes).toBe(4096);
    const sent = cpus.map((cpu, i) => [produce(13 + i, false, cpu), 13 + i] as const);
    const got: RingBufRecord[] = [];
    while (got.length < sent.length) got.push(await reader.read());
    got.forEach((r, i) => expect(r.rawSample).toEqual(expected(sent[i]![0], sent[i]![1])));
  });

  it('skips discarded records and reads across the ring end (the data is mapped twice)', async () => {
    using reader = new RingBufReader(ring);
    let total = 0;
    for (let round = 0; round < 60; round++) {
      const sent: Array<[number, number]> = [];
      for (let i = 0; i < 6; i++) {
        if (i % 3 === 1) produce(0, true);
        const size = ((round * 6 + i) * 53) % 500 + 1;
        sent.push([produce(size), size]);
      }
      const got: RingBufRecord[] = [];
      while (got.length < sent.length) got.push(...(await reader.readMany()));
      expect(got.length).toBe(sent.length);
      got.forEach((r, i) => expect(r.rawSample).toEqual(expected(sent[i]![0], sent[i]![1])));
      total += got.length;
    }
    expect(total).toBe(360);
    expect(reader.pendingBytes).toBe(0);
  });

  it('a reader that does not read makes producers fail; received + failed == produced', async () => {
    resetCounters();
    using reader = new RingBufReader(ring);
    for (let i = 0; i < 500; i++) produce(100);
    const produced = Number(counter(0));
    const failed = Number(counter(1));
    expect(failed).toBeGreaterThan(0);
    const type = new Struct('event', 8, [new Member('seq', new Int('unsigned long long', 8), 0)]);
    const seqs: bigint[] = [];
    const all = (async () => {
      for await (const ev of reader.decoded(type)) seqs.push((ev as { seq: bigint }).seq);
    })();
    const deadline = Date.now() + 5000;
    while (seqs.length + failed < produced && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    reader.close();
    await all;
    console.log(`ring buffer accounting (${backend().kind}): produced ${produced}, received ${seqs.length}, producer failures ${failed}`);
    expect(seqs.length + failed).toBe(produced);
  });

  it('close() rejects a pending read; an AbortSignal closes; a per-read signal aborts one read', async () => {
    const reader = new RingBufReader(ring);
    const pending = reader.read();
    reader.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    await expect(reader.readMany()).rejects.toBeInstanceOf(ClosedError);
    const ac = new AbortController();
    const aborted = new RingBufReader(ring, { signal: ac.signal });
    const one = new AbortController();
    const single = aborted.read({ signal: one.signal });
    one.abort(new Error('only this'));
    await expect(single).rejects.toThrow('only this');
    const p = aborted.read();
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(ClosedError);
    expect(aborted.closed).toBe(true);
    expect(ring.closed).toBe(false);
  });

  it('readMany() drains once per wake-up: a read loop goes back to the event loop between batches', async () => {
    using reader = new RingBufReader(ring);
    // A read waiting before the records come: the watcher runs (demand), as in a read loop.
    const first = reader.readMany(1);
    await new Promise((r) => setImmediate(r));
    const sent = Array.from({ length: 5 }, () => produce(16));
    // Counts the event loop's turns; a read loop that drained again in its own microtasks
    // (records still there) would read all five in one turn.
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const got: RingBufRecord[] = await first;
    const turnsAt: number[] = [turns];
    while (got.length < sent.length) {
      got.push(...(await reader.readMany(1)));
      turnsAt.push(turns);
    }
    counting = false;
    expect(got.map((r) => readU64(r.rawSample))).toEqual(sent.map(BigInt));
    for (let i = 1; i < turnsAt.length; i++) expect(turnsAt[i]).toBeGreaterThan(turnsAt[i - 1]!);
    // readAvailable() reads without waiting.
    const more = [produce(16), produce(16)];
    expect(reader.readAvailable().map((r) => readU64(r.rawSample))).toEqual(more.map(BigInt));
  });

  it('wakes a pending read from the event loop', async () => {
    using reader = new RingBufReader(ring);
    const pending = reader.read();
    setTimeout(() => produce(24), 5);
    expect((await pending).rawSample.length).toBe(24);
  });

  it('forEachRecord() is fed from the event loop in place, excludes read(), and resolves on close() from the callback', async () => {
    const reader = new RingBufReader(ring);
    const sent: Array<[number, number]> = [];
    const got: Uint8Array[] = [];
    const done = reader.forEachRecord((bytes, offset, length) => {
      got.push(bytes.slice(offset, offset + length));
      if (got.length === 3) reader.close();
    });
    await expect(reader.readMany()).rejects.toThrow(ArgumentError);
    await expect(reader.forEachRecord(() => {})).rejects.toThrow(ArgumentError);
    for (const size of [24, 200, 1]) {
      await new Promise((r) => setTimeout(r, 5));
      produce(0, true); // discarded: never handed over
      sent.push([produce(size), size]);
    }
    await done;
    expect(got).toEqual(sent.map(([s, size]) => expected(s, size)));
    expect(reader.closed).toBe(true);
  });

  it('consume(): received + failed == produced through the fast path; a throwing callback ends forEachRecord only', async () => {
    resetCounters();
    using reader = new RingBufReader(ring);
    for (let i = 0; i < 500; i++) produce(100);
    const produced = Number(counter(0));
    const failed = Number(counter(1));
    expect(failed).toBeGreaterThan(0);
    const seqs = new Set<bigint>();
    reader.consume((bytes, offset, length) => {
      expect(length).toBe(100);
      seqs.add(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true));
    });
    expect(seqs.size + failed).toBe(produced);
    expect(reader.pendingBytes).toBe(0);
    produce(8);
    produce(8);
    await expect(
      reader.forEachRecord(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(reader.closed).toBe(false);
    expect(reader.consume(() => {})).toBe(1); // the one after the record that threw
    const ac = new AbortController();
    const loop = reader.forEachRecord(() => {}, { signal: ac.signal });
    ac.abort(new Error('enough'));
    await expect(loop).rejects.toThrow('enough');
  });

  it('rejects other map types', () => {
    expect(() => new RingBufReader(counters)).toThrow(ArgumentError);
  });

  it('fd count unchanged after 200 open/close cycles', async () => {
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
    await settle();
    const before = fdCount();
    for (let i = 0; i < 200; i++) {
      const reader = new RingBufReader(ring);
      if (i % 2 === 0) {
        const p = reader.read();
        reader.close();
        await p.catch(() => undefined);
      } else reader.close();
    }
    await settle();
    expect(fdCount()).toBe(before);
  });
});
