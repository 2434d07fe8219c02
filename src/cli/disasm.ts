/**
 * `ebpf-ts disasm <file.o> [program]`: each program's linked instructions (subprograms
 * appended, as they would be loaded) in `llvm-objdump -d` form, with the C source line
 * from `.BTF.ext` line_info printed above the instructions it produced, the way
 * `llvm-objdump -S` interleaves them. The listing itself is exactly what
 * `asm.disassemble` prints; this command only inserts the `; source` lines.
 *
 * @module
 */
import { disassemble } from '../asm/disasm.js';
import type { Instruction, SourceLine } from '../asm/instruction.js';
import { encodeInstruction, type ByteOrder } from '../asm/encoding.js';
import { formatInstruction } from '../asm/format.js';
import { ArgumentError } from '../errors.js';
import type { ELFProgramSpec } from '../elf/specs.js';
import type { ParsedArgs } from './args.js';
import { readObjectFile } from './object.js';
import { toJSON, type CLIContext } from './output.js';

/**
 * A replacement for an instruction's text (`r1 = map[id:5 counts]` for the kernel's
 * `ld_pseudo r1, 1, 5`), or undefined to keep the disassembler's.
 */
export type InstructionText = (insn: Instruction, index: number) => string | undefined;

/** Options of {@link disassembleWithSource}. */
export interface SourceListingOptions {
  /** Byte order of the raw bytes column. */
  byteOrder: ByteOrder;
  /** Print raw bytes. */
  rawBytes: boolean;
  /** Interleave source lines. */
  source: boolean;
  /** Texts that replace the disassembler's for some instructions. */
  text?: InstructionText;
}

// An instruction line of asm.disassemble's listing: the right-aligned slot index, a colon, a
// tab, then the raw bytes and a tab when they are printed (bytes never contain a tab; the
// instruction text may: `ld_pseudo\tr1, …`).
const instructionLine = /^ *\d+:\t/;

function replaceText(line: string, rawBytes: boolean, text: string): string {
  const head = line.indexOf('\t');
  const end = rawBytes ? line.indexOf('\t', head + 1) : head;
  return `${line.slice(0, end + 1)}${text}`;
}

/** `; <the C line>`, or `; file:line` when BTF has no text for it. */
export function sourceComment(src: SourceLine): string {
  const text = src.lineText?.trim();
  return `; ${text === undefined || text === '' ? `${src.fileName ?? '?'}:${src.lineNumber}` : text}`;
}

/**
 * `asm.disassemble`'s listing with `; <source line>` inserted before the first instruction
 * of each line_info record (a line is printed again only when it changes, so a loop body
 * compiled into several pieces shows its line before each piece), and with the texts
 * `options.text` gives.
 */
export function disassembleWithSource(insns: readonly Instruction[], options: SourceListingOptions): string {
  const listing = disassemble(insns, { byteOrder: options.byteOrder, rawBytes: options.rawBytes });
  if (!options.source && options.text === undefined) return listing;
  const out: string[] = [];
  let next = 0;
  let previous: string | undefined;
  for (let line of listing.split('\n')) {
    if (instructionLine.test(line)) {
      const index = next++;
      const insn = insns[index];
      const replacement = insn === undefined ? undefined : options.text?.(insn, index);
      if (replacement !== undefined) line = replaceText(line, options.rawBytes, replacement);
      const src = options.source ? insn?.line : undefined;
      // Line 0 is the compiler saying "no particular line" (code it synthesised); skip it.
      if (src !== undefined && src.lineNumber !== 0) {
        const key = `${src.fileName ?? ''}:${src.lineNumber}`;
        if (key !== previous) {
          out.push(sourceComment(src));
          previous = key;
        }
      }
    }
    out.push(line);
  }
  return out.join('\n');
}

/** One instruction of a `--json` listing. */
export interface InstructionRecord {
  /** Slot index (ld_imm64 takes two). */
  readonly index: number;
  /** The symbol starting here, or null. */
  readonly symbol: string | null;
  /** The instruction as text. */
  readonly text: string;
  /** The encoded bytes (hex in JSON). */
  readonly bytes: Uint8Array;
  /** The source line, or null. */
  readonly source: SourceRecord | null;
}

/** A source line in `--json` output. */
export interface SourceRecord {
  /** The file name, when known. */
  readonly file: string | null;
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column, 0 when unknown. */
  readonly column: number;
  /** The line's text, when known. */
  readonly text: string | null;
}

/** The `--json` form of a source line. */
export function sourceRecord(line: SourceLine): SourceRecord {
  return { file: line.fileName ?? null, line: line.lineNumber, column: line.column, text: line.lineText?.trim() ?? null };
}

/** The `--json` form of a listing: one record per instruction, with `text` replacements applied. */
export function instructionRecords(insns: readonly Instruction[], byteOrder: ByteOrder, text?: InstructionText): InstructionRecord[] {
  let slot = 0;
  return insns.map((insn, i) => {
    const at = slot;
    slot += insn.slots;
    const line = insn.line;
    return {
      index: at,
      symbol: insn.symbol ?? null,
      text: text?.(insn, i) ?? formatInstruction(insn),
      bytes: encodeInstruction(insn, byteOrder),
      source: line === undefined ? null : sourceRecord(line),
    };
  });
}

function pickPrograms(programs: Map<string, ELFProgramSpec>, name: string | undefined): ELFProgramSpec[] {
  if (name === undefined) return [...programs.values()];
  const p = programs.get(name);
  if (p === undefined) {
    const names = [...programs.keys()];
    throw new ArgumentError(`no program ${JSON.stringify(name)} in this object (programs: ${names.length === 0 ? 'none' : names.join(', ')})`);
  }
  return [p];
}

/** Runs `ebpf-ts disasm` (its help text and options are in commands.ts). */
export async function runDisasm(args: ParsedArgs, ctx: CLIContext): Promise<void> {
  const contents = await readObjectFile(args.positionals['file.o']!);
  const programs = pickPrograms(contents.programs, args.positionals.program);
  const options = { byteOrder: contents.byteOrder, rawBytes: args.options.raw === true, source: args.options.source === true };
  if (args.options.json === true) {
    ctx.out(toJSON(programs.map((p) => ({ name: p.name, section: p.sectionName, instructions: instructionRecords(p.instructions, contents.byteOrder) }))));
    return;
  }
  const parts = programs.map((p) => `Disassembly of program ${p.name} (section ${p.sectionName}):\n${disassembleWithSource(p.instructions, options)}`);
  ctx.out(parts.join('\n'));
}
