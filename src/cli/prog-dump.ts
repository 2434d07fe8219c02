/**
 * `ebpf-ts prog dump xlated PROG` and `ebpf-ts prog dump jited PROG`: a loaded program's code
 * as the kernel holds it, like `bpftool prog dump`. Translated instructions are disassembled
 * with map, helper and function names and the C source lines of the program's BTF; JITed
 * code is printed as hex bytes under the same source lines. Needs CAP_SYS_ADMIN, and for
 * JITed code and call targets a kernel.kptr_restrict that shows this process addresses.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { slotOffsets } from '../asm/encoding.js';
import { loadKernelSpec } from '../btf/kernel.js';
import type { Spec } from '../btf/spec.js';
import { Func } from '../btf/types.js';
import { ArgumentError } from '../errors.js';
import { readProgramCode, type ProgramCode, type ProgramCodeRequest } from '../internal/bpf-prog-code.js';
import { kallsyms } from '../internal/kallsyms.js';
import { BpfMap } from '../map.js';
import { Program, type ProgramInfo } from '../prog.js';
import { programTypeName } from '../types.js';
import { UsageError, type ParsedArgs } from './args.js';
import { disassembleWithSource, instructionRecords, sourceRecord } from './disasm.js';
import { formatJited, jitedFunctions } from './jited.js';
import { btfSpecById } from '../btf-by-id.js';
import { kernelSymbols } from './kernel-symbols.js';
import { readObject } from './loaded.js';
import type { CLIContext } from './output.js';
import { toJSON } from './output.js';
import { fullProgramName, programCandidates } from './prog-show.js';
import { parseSelector, selectOne } from './selector.js';
import { functionNames, hostByteOrder, xlatedInstructions, xlatedText } from './xlated.js';

/** A program opened for a dump, with what every dump prints about it. */
interface Dumped {
  readonly info: ProgramInfo;
  /** Full name (BTF) or the kernel's. */
  readonly name: string;
  /** The code the dump asked for. */
  readonly code: ProgramCode;
  /** The program's BTF, when it has one that parses. */
  readonly btf: Spec | undefined;
}

/** Opens the program `words` name, reads `want` of its code and closes it again. */
function dumpProgram(words: readonly string[], want: ProgramCodeRequest): Dumped {
  const { selector, rest } = parseSelector(words, 'prog');
  if (rest.length > 0) throw new UsageError(`unexpected words: ${rest.join(' ')}`);
  const btfCache = new Map<number, Spec>();
  const id = selectOne(selector, 'prog', () => programCandidates(btfCache));
  const prog = Program.fromId(id);
  try {
    const info = prog.info();
    let btf: Spec | undefined;
    try {
      btf = info.btfId === 0 ? undefined : btfSpecById(info.btfId, btfCache);
    } catch {
      btf = undefined; // names and source lines are extras; the code is still worth printing
    }
    return { info, name: fullProgramName(prog, info, btfCache), code: readProgramCode(prog.fd, { ...want, btfRecords: true }), btf };
  } finally {
    prog.close();
  }
}

const what = (d: Dumped): string => `program ${d.info.id} ${d.name} (${programTypeName(d.info.type)}, tag ${d.info.tag}`;

/** Writes `bytes` to the `--out` file and says so; true when there was one. */
function writeOut(ctx: CLIContext, json: boolean, file: string | undefined, d: Dumped, bytes: Uint8Array, kind: string): boolean {
  if (file === undefined) return false;
  writeFileSync(file, bytes);
  ctx.out(json ? toJSON({ id: d.info.id, name: d.name, file, bytes: bytes.byteLength }) : `wrote ${bytes.byteLength} bytes of ${kind} of ${what(d)}) to ${file}\n`);
  return true;
}

/** The name of a kernel BTF FUNC by id (a kfunc call that keeps its BTF id). */
function kernelFuncName(id: number): string | undefined {
  try {
    const t = loadKernelSpec().typeById(id);
    return t instanceof Func ? t.name : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `ebpf-ts prog dump xlated` (its help text and options are in commands.ts). */
export function runProgDumpXlated(args: ParsedArgs, ctx: CLIContext): void {
  const json = args.options.json === true;
  const d = dumpProgram(args.rest, { xlated: true });
  if (d.code.xlated.byteLength === 0) {
    throw new ArgumentError(`the kernel gave no instructions of ${what(d)}): reading them needs CAP_BPF or CAP_SYS_ADMIN`);
  }
  if (writeOut(ctx, json, args.options.out as string | undefined, d, d.code.xlated, 'translated instructions')) return;
  const insns = xlatedInstructions(d.code, d.btf, d.name);
  const callBase = kallsyms().get('__bpf_call_base')?.address;
  const mapNames = new Map<number, string | undefined>();
  const text = xlatedText(
    {
      functions: functionNames(d.code, d.btf, d.name),
      mapName: (id) => {
        if (!mapNames.has(id)) mapNames.set(id, readObject(() => BpfMap.fromId(id), (map) => map.info().name));
        return mapNames.get(id);
      },
      symbols: kernelSymbols(),
      callBase: callBase === 0n ? undefined : callBase,
      kernelFuncName,
    },
    slotOffsets(insns),
  );
  if (json) {
    ctx.out(toJSON({ id: d.info.id, name: d.name, type: programTypeName(d.info.type), tag: d.info.tag, instructions: instructionRecords(insns, hostByteOrder, text) }));
    return;
  }
  const listing = disassembleWithSource(insns, { byteOrder: hostByteOrder, rawBytes: args.options.raw === true, source: args.options.source === true, text });
  ctx.out(`Translated instructions of ${what(d)}):\n${listing}`);
}

/** Runs `ebpf-ts prog dump jited` (its help text and options are in commands.ts). */
export function runProgDumpJited(args: ParsedArgs, ctx: CLIContext): void {
  const json = args.options.json === true;
  const d = dumpProgram(args.rest, { jited: true });
  if (d.info.jitedLength === 0) throw new ArgumentError(`${what(d)}) is not JITed (net.core.bpf_jit_enable=0?): see 'ebpf-ts prog dump xlated'`);
  if (d.code.jited.byteLength === 0) {
    throw new ArgumentError(`the kernel gave no JITed code of ${what(d)}): it hides kernel addresses from this process (kernel.kptr_restrict; run as root)`);
  }
  if (writeOut(ctx, json, args.options.out as string | undefined, d, d.code.jited, `${arch()} machine code`)) return;
  const functions = jitedFunctions(d.code, d.btf, d.name, args.options.objdump === true ? kernelSymbols() : undefined);
  if (json) {
    ctx.out(
      toJSON({
        id: d.info.id,
        name: d.name,
        type: programTypeName(d.info.type),
        tag: d.info.tag,
        architecture: arch(),
        functions: functions.map((f) => ({
          name: f.name,
          address: f.address === null ? null : `0x${f.address.toString(16)}`,
          bytes: f.bytes,
          lines: f.lines.map((l) => ({ offset: l.offset, ...sourceRecord(l.source) })),
          instructions: f.instructions ?? null,
        })),
      }),
    );
    return;
  }
  const form = functions.every((f) => f.instructions !== undefined) ? 'disassembled by objdump' : 'in hex';
  ctx.out(`JITed code of ${what(d)}, ${d.code.jited.byteLength} bytes of ${arch()} machine code ${form}):\n${formatJited(functions, args.options.source === true)}`);
}
