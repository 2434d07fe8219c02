/**
 * A loaded program's JITed machine code, function by function, with the C source line above
 * the code it compiled to (the kernel reports the JITed address of each line_info record).
 * ebpf-ts has no x86-64 or arm64 disassembler: GNU objdump is used where installed, and
 * without it the code is printed as hex bytes.
 *
 * @module
 */
import type { SourceLine } from '../asm/instruction.js';
import type { Spec } from '../btf/spec.js';
import type { ProgramCode } from '../internal/bpf-prog-code.js';
import { sourceComment } from './disasm.js';
import type { SymbolsByAddress } from './kernel-symbols.js';
import { objdump, type MachineInstruction } from './objdump.js';
import { hexWords } from './table.js';
import { functionNames, sourceLines } from './xlated.js';

/** One JITed function. */
export interface JitedFunction {
  /** Its name: from BTF func_info, else the program's name (main) or `subprog_N`. */
  readonly name: string;
  /** Kernel address of its first byte (null when the kernel hides addresses). */
  readonly address: bigint | null;
  /** Its machine code. */
  readonly bytes: Uint8Array;
  /** Where each source line's code starts, as a byte offset into {@link JitedFunction.bytes}. */
  readonly lines: readonly { readonly offset: number; readonly source: SourceLine }[];
  /** The code disassembled by objdump, when it was asked for and could be. */
  readonly instructions?: readonly MachineInstruction[];
}

/** `call 0xffffffff81234560` → `call 0xffffffff81234560 <bpf_probe_read_kernel>`. */
function annotateTarget(text: string, symbols: SymbolsByAddress): string {
  const m = /\b0x([0-9a-f]+)$/.exec(text);
  const sym = m === null ? undefined : symbols.at(BigInt(`0x${m[1]}`));
  return sym === undefined ? text : `${text} <${sym}>`;
}

/**
 * Splits `code.jited` into functions and places the source lines in them; with `symbols`,
 * each function is also disassembled by objdump where it is installed, call and jump targets
 * named.
 */
export function jitedFunctions(code: ProgramCode, btf: Spec | undefined, programName: string, symbols?: SymbolsByAddress): JitedFunction[] {
  const lengths = code.jitedFunctionLengths.length > 0 ? code.jitedFunctionLengths : [code.jited.byteLength];
  const names = [...functionNames(code, btf, programName).entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
  const sources = sourceLines(code, btf);
  const out: JitedFunction[] = [];
  let start = 0;
  lengths.forEach((length, i) => {
    const address = code.jitedFunctionAddresses[i] ?? null;
    const lines: { offset: number; source: SourceLine }[] = [];
    if (address !== null) {
      code.jitedLineAddresses.forEach((at, k) => {
        const source = sources[k];
        if (source !== undefined && at >= address && at < address + BigInt(length)) lines.push({ offset: Number(at - address), source });
      });
    }
    lines.sort((a, b) => a.offset - b.offset);
    const bytes = code.jited.subarray(start, start + length);
    const machine = symbols === undefined ? undefined : objdump(bytes, address ?? 0n);
    const instructions = machine?.map((m) => ({ ...m, text: annotateTarget(m.text, symbols!) }));
    out.push({ name: names[i] ?? (i === 0 ? programName : `subprog_${i}`), address, bytes, lines, ...(instructions === undefined ? {} : { instructions }) });
    start += length;
  });
  return out;
}

/** Hex bytes per line of the listing, as objdump prints them. */
const rowBytes = 16;

/** A listing row: an instruction, or up to 16 bytes of code without one. */
interface Row {
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly text?: string;
}

/** Rows of at most 16 bytes, a row ending where the next source line's code starts. */
function hexRows(fn: JitedFunction, starts: readonly number[]): Row[] {
  const rows: Row[] = [];
  for (let at = 0, next = 0; at < fn.bytes.byteLength; ) {
    while (next < starts.length && starts[next]! <= at) next++;
    const end = Math.min(at + rowBytes, fn.bytes.byteLength, starts[next] ?? Infinity);
    rows.push({ offset: at, bytes: fn.bytes.subarray(at, end) });
    at = end;
  }
  return rows;
}

/**
 * The listing of {@link jitedFunctions}: a `ADDRESS <name>:` header per function, then its
 * instructions (objdump's) or hex rows at their hex offset, with each `; line` above the
 * code it compiled to.
 */
export function formatJited(functions: readonly JitedFunction[], source: boolean): string {
  const out: string[] = [];
  for (const fn of functions) {
    out.push('', `${fn.address === null ? '?'.repeat(16) : fn.address.toString(16).padStart(16, '0')} <${fn.name}>:`);
    const starts = source ? fn.lines.filter((l) => l.source.lineNumber !== 0) : [];
    let previous: string | undefined;
    let next = 0;
    const rows = fn.instructions ?? hexRows(fn, starts.map((l) => l.offset));
    // objdump's texts line up after the longest encoding, as objdump itself prints them.
    const width = Math.max(0, ...rows.map((r) => r.bytes.byteLength * 3 - 1));
    for (const row of rows) {
      while (next < starts.length && starts[next]!.offset <= row.offset) {
        const line = sourceComment(starts[next++]!.source);
        if (line !== previous) out.push(line);
        previous = line;
      }
      out.push(`${row.offset.toString(16).padStart(8)}:\t${row.text === undefined ? hexWords(row.bytes) : `${hexWords(row.bytes).padEnd(width)}\t${row.text}`}`);
    }
  }
  return out.join('\n') + '\n';
}
