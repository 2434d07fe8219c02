/**
 * Machine code to assembly through GNU objdump, when it is installed: ebpf-ts has no x86-64
 * or arm64 disassembler of its own. The code is written to a temporary file and read back
 * as `objdump -D -b binary` prints it, one instruction per line.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';

/** One disassembled machine instruction. */
export interface MachineInstruction {
  /** Byte offset from the start of the code. */
  readonly offset: number;
  /** Its encoding. */
  readonly bytes: Uint8Array;
  /** objdump's text (`mov    %rsp,%rbp`), with whitespace runs kept. */
  readonly text: string;
}

/** objdump's `-m` name of this host's architecture, or undefined for one we do not know. */
export function objdumpMachine(architecture: string = arch()): string | undefined {
  return architecture === 'x64' ? 'i386:x86-64' : architecture === 'arm64' ? 'aarch64' : undefined;
}

/**
 * Parses `objdump -D -b binary` output. Instruction lines are `ADDR:\tBYTES\tTEXT` with ADDR
 * in hex from `vma`; a line without text continues the previous instruction's bytes.
 */
export function parseObjdump(output: string, vma: bigint): MachineInstruction[] {
  const out: { offset: number; bytes: number[]; text: string }[] = [];
  for (const line of output.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} ?)+)\s*(?:\t(.*))?$/.exec(line);
    if (m === null) continue;
    const bytes = m[2]!.trim().split(' ').map((b) => parseInt(b, 16));
    const text = m[3]?.trimEnd();
    if (text === undefined && out.length > 0) out[out.length - 1]!.bytes.push(...bytes);
    else out.push({ offset: Number(BigInt(`0x${m[1]}`) - vma), bytes, text: text ?? '' });
  }
  return out.map((i) => ({ offset: i.offset, bytes: Uint8Array.from(i.bytes), text: i.text }));
}

/**
 * Disassembles `code` placed at kernel address `vma` (so that call and jump targets print as
 * real addresses), or returns undefined when objdump is missing, does not know the
 * architecture, or fails.
 */
export function objdump(code: Uint8Array, vma: bigint, architecture: string = arch()): MachineInstruction[] | undefined {
  const machine = objdumpMachine(architecture);
  if (machine === undefined || code.byteLength === 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-jited-'));
  try {
    const file = join(dir, 'code.bin');
    writeFileSync(file, code);
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', machine, '--insn-width=16', `--adjust-vma=0x${vma.toString(16)}`, file], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) return undefined;
    const insns = parseObjdump(r.stdout, vma);
    // All or nothing: a listing that does not cover the code exactly is not trusted.
    return insns.reduce((n, i) => n + i.bytes.byteLength, 0) === code.byteLength ? insns : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
