#!/usr/bin/env node
// @ts-check
// The small demo the README points at: build a socket-filter program with the asm builder,
// load it, run it 10 times with BPF_PROG_TEST_RUN, and print the return value and what the
// program counted in an array map. Needs root (CAP_BPF). Run with `npm run demo`.
import { BpfMap, MapType, Program, ProgramType, asm } from 'ebpf-ts';

const { Register: R, Size, AtomicOp } = asm;

// Slot 0 counts runs, slot 1 sums packet lengths.
const stats = BpfMap.create({ name: 'demo_stats', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });

// For each slot: look the value up and add to it atomically (lock xadd), as BPF C would with
// __sync_fetch_and_add. The program returns the packet length, read from __sk_buff->len.
function addToSlot(slot, srcReg, label) {
  return [
    asm.storeImm(Size.W, R.R10, -4, slot),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.loadMapPtr(R.R1, stats.fd),
    asm.call(asm.Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, label),
    asm.atomic(AtomicOp.Add, Size.DW, R.R0, 0, srcReg),
  ];
}

const countBytes = addToSlot(1, R.R6, 'out');
countBytes[0] = countBytes[0].withSymbol('sum');
const instructions = asm.assemble([
  asm.loadMem(Size.W, R.R6, R.R1, 0), // r6 = skb->len
  asm.mov64Imm(R.R7, 1),
  ...addToSlot(0, R.R7, 'sum'),
  ...countBytes,
  asm.mov64Reg(R.R0, R.R6).withSymbol('out'),
  asm.exit(),
]);

const prog = Program.load({ name: 'demo_count', type: ProgramType.SocketFilter, license: 'GPL', instructions });

const packet = new Uint8Array(64); // an Ethernet-sized packet of zeros
const result = prog.testRun({ data: packet, repeat: 10 });
// skb->len excludes the 14-byte Ethernet header, which test_run pulls as a socket would.
console.log(`program ${prog.name} (fd ${prog.fd}) returned ${result.retval}: skb->len of a ${packet.length}-byte frame after its Ethernet header`);
console.log(`average run time: ${result.duration} ns`);

const key = new Uint8Array(4);
const view = new DataView(key.buffer);
for (const [slot, label] of /** @type {const} */ ([[0, 'runs'], [1, 'bytes seen']])) {
  view.setUint32(0, slot, true);
  const value = stats.lookup(key);
  console.log(`map ${stats.name}[${slot}] (${label}) = ${new DataView(value.buffer, value.byteOffset).getBigUint64(0, true)}`);
}
console.log('\ndisassembly:');
console.log(asm.disassemble(instructions));

// `using` would do this on Node 22+; Node 20 has no explicit resource management syntax.
prog.close();
stats.close();
