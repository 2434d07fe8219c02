// PerfReader against the running kernel (root). Events are produced by BPF_PROG_TEST_RUN of a
// hand-assembled raw tracepoint program that calls bpf_perf_event_output(BPF_F_CURRENT_CPU)
// on a chosen CPU (BPF_F_TEST_RUN_ON_CPU): that gives exact control of what is produced, which
// loss accounting needs. Runs on whichever backend EBPF_TS_BACKEND selects (CI runs both).
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
import { PerfReader, type PerfRecord } from '../../src/perf/reader.js';
import { pageSize } from '../../src/perf/page-size.js';
import { Int, Struct, IntEncoding } from '../../src/btf/types.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf() and perf_event_open()' : '';
if (skip !== '') console.warn(`skipping perf kernel tests: ${skip}`);

/** BPF_F_TEST_RUN_ON_CPU (include/uapi/linux/bpf.h). */
const TEST_RUN_ON_CPU = 1;
const PAYLOAD_MAX = 512;
const fdCount = (): number => readdirSync('/proc/self/fd').length;
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const readU64 = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

/**
 * ctx (the raw_tp args, 16 bytes): [0] = bytes to output (<= 512), [1] = sequence number.
 * The program counts every run in counters[0], writes the sequence number into the first 8
 * bytes of payload[0] and outputs `size` bytes of it on the current CPU; a failed output is
 * counted in counters[1].
 */
function producer(events: BpfMap, counters: BpfMap, payload: BpfMap): asm.Instruction[] {
  const bump = (key: number, label: string): asm.Instruction[] => [
    asm.storeImm(asm.Size.W, R.R10, -4, key),
    asm.loadMapPtr(R.R1, counters.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, label),
    asm.mov64Imm(R.R1, 1),
    asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
  ];
  return asm.assemble([
    asm.mov64Reg(R.R6, R.R1),
    asm.loadMem(asm.Size.DW, R.R7, R.R6, 0),
    asm.loadMem(asm.Size.DW, R.R8, R.R6, 8),
    ...bump(0, 'out'),
    asm.storeImm(asm.Size.W, R.R10, -4, 0),
    asm.loadMapPtr(R.R1, payload.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.storeMem(asm.Size.DW, R.R0, 0, R.R8),
    asm.mov64Reg(R.R9, R.R0),
    asm.jumpImm(asm.JumpOp.JGT, R.R7, PAYLOAD_MAX, 'out'),
    asm.mov64Reg(R.R1, R.R6),
    asm.loadMapPtr(R.R2, events.fd),
    // BPF_F_CURRENT_CPU is 0xffffffff: a 32-bit move, so the upper half (ctxlen) stays 0.
    asm.mov32Imm(R.R3, -1),
    asm.mov64Reg(R.R4, R.R9),
    asm.mov64Reg(R.R5, R.R7),
    asm.call(Helper.PerfEventOutput),
    asm.jumpImm(asm.JumpOp.JSGE, R.R0, 0, 'out'),
    ...bump(1, 'out'),
    asm.mov64Imm(R.R0, 0).withSymbol('out'),
    asm.exit(),
  ]);
}

describe.skipIf(skip !== '')(`PerfReader (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  let events: BpfMap;
  let counters: BpfMap;
  let payload: BpfMap;
  let prog: Program;
  const cpus = skip === '' ? onlineCPUs() : [];
  const ctx = new Uint8Array(16);
  const ctxView = new DataView(ctx.buffer);
  let seq = 0;

  /** Runs the producer once on `cpu`, outputting `size` bytes; returns the sequence number. */
  function produce(cpu: number, size: number): number {
    const s = ++seq;
    ctxView.setBigUint64(0, BigInt(size), true);
    ctxView.setBigUint64(8, BigInt(s), true);
    // raw_tp test runs refuse ctx_out, data and repeat (bpf_prog_test_run_raw_tp()).
    prog.testRun({ ctx, ctxSizeOut: 0, flags: TEST_RUN_ON_CPU, cpu });
    return s;
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
      instructions: producer(events, counters, payload),
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
    const got: PerfRecord[] = [];
    while (got.length < cpus.length) got.push(await reader.read());
    for (const r of got) {
      expect(r.lostSamples).toBe(0);
      expect(r.rawSample).toEqual(expected(sent.get(r.cpu)!, 60));
    }
    expect(new Set(got.map((r) => r.cpu))).toEqual(new Set(cpus));
  });
});
