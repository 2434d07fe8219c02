// Shared by the link kernel tests: a program that counts its runs from this process (tgid)
// into slot 0 of an array map, and a way to make this process run a known syscall.
import * as asm from '../../src/asm/index.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { mountTracefs, tracefsAvailable } from '../../src/internal/tracefs.js';

const R = asm.Register;

/** An ARRAY map with one u64 slot. */
export function counterMap(): BpfMap {
  return BpfMap.create({ name: 'link_count', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
}

/** The u64 in slot 0. */
export function readCount(map: BpfMap): bigint {
  const v = map.lookup(new Uint8Array(4));
  return v === undefined ? -1n : Buffer.from(v as Uint8Array).readBigUInt64LE(0);
}

/** getppid's syscall number, which a raw `sys_enter` program finds in its second argument. */
export const NR_GETPPID = process.arch === 'arm64' ? 173 : 110;

/**
 * Loads a program of `type` that adds 1 to slot 0 of `map` whenever it runs in this process;
 * with `syscallNr`, only when the raw tracepoint's second argument (sys_enter's `id`) is it.
 */
export function countingProgram(type: ProgramType, map: BpfMap, name = 'count_tgid', syscallNr?: number): Program {
  const filter =
    syscallNr === undefined
      ? []
      : [asm.loadMem(asm.Size.DW, R.R6, R.R1, 8), asm.jumpImm(asm.JumpOp.JNE, R.R6, syscallNr, 'out')];
  return Program.load({
    name,
    type,
    license: 'GPL',
    instructions: asm.assemble([
      ...filter,
      asm.call(asm.Helper.GetCurrentPidTgid),
      asm.alu64Imm(asm.ALUOp.RSh, R.R0, 32),
      asm.jumpImm(asm.JumpOp.JNE, R.R0, process.pid, 'out'),
      asm.storeImm(asm.Size.W, R.R10, -4, 0),
      asm.mov64Reg(R.R2, R.R10),
      asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
      asm.loadMapPtr(R.R1, map.fd),
      asm.call(asm.Helper.MapLookupElem),
      asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
      asm.mov64Imm(R.R1, 1),
      asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
      asm.mov64Imm(R.R0, 0).withSymbol('out'),
      asm.exit(),
    ]),
  });
}

/**
 * Makes `n` getppid(2) calls from this thread. Node's `process.ppid` is a live getter that
 * calls uv_os_getppid() → getppid() on every access (checked with `strace -e getppid`: one call
 * per access on Node 20); the tests compare exact counts, so a Node that cached it would fail
 * loudly rather than pass by accident.
 */
export function callGetppid(n: number): void {
  let sink = 0;
  for (let i = 0; i < n; i++) sink ^= process.ppid;
  if (sink === -1) console.log(sink);
}

/** Mounts tracefs if it is not mounted (these tests run as root); says so on stderr. */
export function ensureTracefs(): void {
  if (tracefsAvailable()) return;
  const path = mountTracefs();
  console.warn(`kernel tests: tracefs was not mounted; mounted it at ${path}`);
}
