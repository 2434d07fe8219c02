// The record producer of the reader tests (perf, overwritable perf, batches): a raw tracepoint
// program run with BPF_PROG_TEST_RUN on a chosen CPU (BPF_F_TEST_RUN_ON_CPU), so a test decides
// exactly which ring gets which record, of what size, carrying which sequence number.
import * as asm from '../../../src/asm/index.js';
import { Helper } from '../../../src/asm/helper.js';
import { hostLittleEndian } from '../../../src/internal/bytes.js';
import type { BpfMap } from '../../../src/map.js';
import type { Program } from '../../../src/prog.js';
import { MapType } from '../../../src/types.js';

const R = asm.Register;

/** BPF_F_TEST_RUN_ON_CPU (include/uapi/linux/bpf.h). */
export const TEST_RUN_ON_CPU = 1;
/** The most bytes one record takes from the payload map's value. */
export const PAYLOAD_MAX = 512;

/**
 * Instructions that add 1 to the u64 at `key` of the `counters` array map (R1, R2 and R0
 * clobbered); a failed lookup jumps to the label `out`.
 */
export function countIn(counters: BpfMap, key: number): asm.Instruction[] {
  return [
    asm.storeImm(asm.Size.W, R.R10, -4, key),
    asm.loadMapPtr(R.R1, counters.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.mov64Imm(R.R1, 1),
    asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
  ];
}

/**
 * ctx (the raw_tp args, 16 bytes): [0] = bytes to output (1..512), [1] = sequence number,
 * written into the first 8 bytes of payload[0] (a one-entry array of PAYLOAD_MAX bytes), which
 * is output: into a PERF_EVENT_ARRAY on the current CPU, or with bpf_ringbuf_output(). With
 * `counters` (an array of two u64) every run is counted in [0] and every failed output in [1].
 */
export function producer(out: BpfMap, payload: BpfMap, counters?: BpfMap): asm.Instruction[] {
  const bump = (key: number): asm.Instruction[] => (counters === undefined ? [] : countIn(counters, key));
  const output =
    out.type === MapType.PerfEventArray
      ? [
          asm.mov64Reg(R.R1, R.R6),
          asm.loadMapPtr(R.R2, out.fd),
          // BPF_F_CURRENT_CPU is 0xffffffff: a 32-bit move, so the upper half (ctxlen) stays 0.
          asm.mov32Imm(R.R3, -1),
          asm.mov64Reg(R.R4, R.R9),
          asm.mov64Reg(R.R5, R.R7),
          asm.call(Helper.PerfEventOutput),
        ]
      : [asm.loadMapPtr(R.R1, out.fd), asm.mov64Reg(R.R2, R.R9), asm.mov64Reg(R.R3, R.R7), asm.mov64Imm(R.R4, 0), asm.call(Helper.RingbufOutput)];
  return asm.assemble([
    asm.mov64Reg(R.R6, R.R1),
    asm.loadMem(asm.Size.DW, R.R7, R.R6, 0),
    asm.loadMem(asm.Size.DW, R.R8, R.R6, 8),
    ...bump(0),
    asm.storeImm(asm.Size.W, R.R10, -4, 0),
    asm.loadMapPtr(R.R1, payload.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.storeMem(asm.Size.DW, R.R0, 0, R.R8),
    asm.mov64Reg(R.R9, R.R0),
    asm.jumpImm(asm.JumpOp.JGT, R.R7, PAYLOAD_MAX, 'out'),
    asm.jumpImm(asm.JumpOp.JEq, R.R7, 0, 'out'),
    ...output,
    ...(counters === undefined ? [] : [asm.jumpImm(asm.JumpOp.JSGE, R.R0, 0, 'out'), ...bump(1)]),
    asm.mov64Imm(R.R0, 0).withSymbol('out'),
    asm.exit(),
  ]);
}

const ctx = new Uint8Array(16);
const ctxView = new DataView(ctx.buffer);

/** Runs a {@link producer} program once on `cpu`: `size` bytes carrying `seq`. */
export function runProducer(prog: Program, cpu: number, size: number, seq: number): void {
  ctxView.setBigUint64(0, BigInt(size), hostLittleEndian);
  ctxView.setBigUint64(8, BigInt(seq), hostLittleEndian);
  // raw_tp test runs refuse ctx_out, data and repeat (bpf_prog_test_run_raw_tp()).
  prog.testRun({ ctx, ctxSizeOut: 0, flags: TEST_RUN_ON_CPU, cpu });
}
