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
import type { Instruction } from '../asm/instruction.js';
import { encodeInstruction, type ByteOrder } from '../asm/encoding.js';
import { formatInstruction } from '../asm/format.js';
import { ArgumentError } from '../errors.js';
import type { ELFProgramSpec } from '../elf/specs.js';
import { jsonOption, type Command } from './command.js';
import { readObjectFile } from './object.js';
import { toJSON } from './output.js';

/** Options of {@link disassembleWithSource}. */
export interface SourceListingOptions {
  /** Byte order of the raw bytes column. */
  byteOrder: ByteOrder;
  /** Print raw bytes. */
  rawBytes: boolean;
  /** Interleave source lines. */
  source: boolean;
}

// An instruction line of asm.disassemble's listing: the right-aligned slot index, a colon, a tab.
const instructionLine = /^ *\d+:\t/;

/**
 * `asm.disassemble`'s listing with `; <source line>` inserted before the first instruction
 * of each line_info record (a line is printed again only when it changes, so a loop body
 * compiled into several pieces shows its line before each piece).
 */
export function disassembleWithSource(insns: readonly Instruction[], options: SourceListingOptions): string {
  const listing = disassemble(insns, { byteOrder: options.byteOrder, rawBytes: options.rawBytes });
  if (!options.source) return listing;
  const out: string[] = [];
  let next = 0;
  let previous: string | undefined;
  for (const line of listing.split('\n')) {
    if (instructionLine.test(line)) {
      const insn = insns[next++];
      const src = insn?.line;
      // Line 0 is the compiler saying "no particular line" (code it synthesised); skip it.
      if (src !== undefined && src.lineNumber !== 0) {
        const key = `${src.fileName ?? ''}:${src.lineNumber}`;
        if (key !== previous) {
          const text = src.lineText?.trim();
          out.push(`; ${text === undefined || text === '' ? `${src.fileName ?? '?'}:${src.lineNumber}` : text}`);
          previous = key;
        }
      }
    }
    out.push(line);
  }
  return out.join('\n');
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

/** The `disasm` command. */
export const disasmCommand: Command = {
  words: ['disasm'],
  summary: 'Disassemble the programs of a BPF object, with C source lines from line_info.',
  details:
    'Each program is listed as it would be loaded: with its .text subprograms appended and calls fixed up.\nInstruction numbers are 8-byte slots from the start of the program (ld_imm64 takes two).',
  options: [
    { name: 'raw', type: 'boolean', default: true, description: 'leave out the raw bytes of each instruction' },
    { name: 'source', type: 'boolean', default: true, description: 'leave out the C source lines (printed by default when the object was compiled with -g)' },
    jsonOption,
  ],
  positionals: [
    { name: 'file.o', required: true, description: 'a clang-compiled BPF object' },
    { name: 'program', required: false, description: 'only this program (the C function name)' },
  ],
  async run(args, ctx) {
    const contents = await readObjectFile(args.positionals['file.o']!);
    const programs = pickPrograms(contents.programs, args.positionals.program);
    const options = { byteOrder: contents.byteOrder, rawBytes: args.options.raw === true, source: args.options.source === true };
    if (args.options.json === true) {
      ctx.out(
        toJSON(
          programs.map((p) => {
            let slot = 0;
            return {
              name: p.name,
              section: p.sectionName,
              instructions: p.instructions.map((insn) => {
                const at = slot;
                slot += insn.slots;
                const line = insn.line;
                return {
                  index: at,
                  symbol: insn.symbol ?? null,
                  text: formatInstruction(insn),
                  bytes: encodeInstruction(insn, contents.byteOrder),
                  source: line === undefined ? null : { file: line.fileName ?? null, line: line.lineNumber, column: line.column, text: line.lineText?.trim() ?? null },
                };
              }),
            };
          }),
        ),
      );
      return;
    }
    const parts = programs.map((p) => `Disassembly of program ${p.name} (section ${p.sectionName}):\n${disassembleWithSource(p.instructions, options)}`);
    ctx.out(parts.join('\n'));
  },
};
