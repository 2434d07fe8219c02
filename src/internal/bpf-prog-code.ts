/**
 * A loaded program's code as the kernel reports it in `struct bpf_prog_info`: the translated
 * (xlated) instructions, the JITed machine code, the addresses and lengths of each JITed
 * function, and the func_info and line_info records that tie both to the program's BTF.
 * What `bpftool prog dump` prints is made from these.
 *
 * The arrays are fetched in a second BPF_OBJ_GET_INFO_BY_FD whose input carries the sizes the
 * first call reported; every other count is left at zero, since the kernel writes through any
 * array pointer whose count is non-zero.
 *
 * @module
 */
import { readField, type Field } from '../sys/attr.js';
import { dataView, hostLittleEndian } from './bytes.js';
import { objGetInfoByFd } from '../sys/commands.js';
import { ProgInfo } from '../sys/layouts.js';

/** A `struct bpf_func_info` record: a BTF FUNC starting at an instruction. */
export interface KernelFuncInfo {
  /** Instruction (8-byte slot) where the function starts, in the xlated program. */
  readonly insnOffset: number;
  /** The FUNC type's id in the program's BTF. */
  readonly typeId: number;
}

/** A `struct bpf_line_info` record: the source line of an instruction. */
export interface KernelLineInfo {
  /** Instruction (8-byte slot) in the xlated program. */
  readonly insnOffset: number;
  /** Offset of the file name in the BTF string table. */
  readonly fileNameOffset: number;
  /** Offset of the line's text in the BTF string table. */
  readonly lineOffset: number;
  /** 1-based line number (`line_col >> 10`). */
  readonly lineNumber: number;
  /** 1-based column, 0 when unknown (`line_col & 0x3ff`). */
  readonly column: number;
}

/** What {@link readProgramCode} fetched; arrays not asked for are empty. */
export interface ProgramCode {
  /** Translated instructions, host byte order. Empty without CAP_BPF/CAP_SYS_ADMIN. */
  readonly xlated: Uint8Array;
  /** JITed machine code; empty when not JITed or when kernel addresses are hidden (kptr_restrict). */
  readonly jited: Uint8Array;
  /** Kernel address of each JITed function (main program first); empty when hidden. */
  readonly jitedFunctionAddresses: readonly bigint[];
  /** Byte length of each JITed function. */
  readonly jitedFunctionLengths: readonly number[];
  /** func_info records, one per function. */
  readonly funcInfo: readonly KernelFuncInfo[];
  /** line_info records. */
  readonly lineInfo: readonly KernelLineInfo[];
  /** Kernel address of the JITed code of each line_info record (empty when hidden). */
  readonly jitedLineAddresses: readonly bigint[];
  /** The program's BTF object id, 0 when it has none. */
  readonly btfId: number;
}

/** Which parts {@link readProgramCode} fetches. */
export interface ProgramCodeRequest {
  /** The xlated instructions. */
  readonly xlated?: boolean;
  /** The JITed code, function addresses and lengths, and the JITed address of each line. */
  readonly jited?: boolean;
  /** func_info and line_info. */
  readonly btfRecords?: boolean;
}

const f = ProgInfo.fields;
const u32 = (bytes: Uint8Array, field: Field): number => Number(readField(bytes, field));

function records<T>(bytes: Uint8Array, size: number, read: (v: DataView, at: number) => T): T[] {
  const v = dataView(bytes);
  const out: T[] = [];
  for (let at = 0; size > 0 && at + size <= bytes.byteLength; at += size) out.push(read(v, at));
  return out;
}

/**
 * Reads the parts of a program's code that `want` names, for the program fd `fd`. Minimum
 * kernel 4.13 (xlated and JITed code), 4.18 (JITed function addresses), 5.0 (BTF records).
 */
export function readProgramCode(fd: number, want: ProgramCodeRequest): ProgramCode {
  const ctx = { context: `info of program fd ${fd}` };
  const first = objGetInfoByFd(fd, ProgInfo.size, [], ctx);
  const jited = want.jited === true;
  // Each array: the field holding its length (bytes or records), its pointer, record size.
  const arrays = {
    xlated: { count: f.xlated_prog_len, pointer: f.xlated_prog_insns, recordSize: 1, wanted: want.xlated === true },
    jited: { count: f.jited_prog_len, pointer: f.jited_prog_insns, recordSize: 1, wanted: jited },
    ksyms: { count: f.nr_jited_ksyms, pointer: f.jited_ksyms, recordSize: 8, wanted: jited },
    funcLens: { count: f.nr_jited_func_lens, pointer: f.jited_func_lens, recordSize: 4, wanted: jited },
    funcs: { count: f.nr_func_info, pointer: f.func_info, recordSize: u32(first, f.func_info_rec_size), wanted: want.btfRecords === true },
    lines: { count: f.nr_line_info, pointer: f.line_info, recordSize: u32(first, f.line_info_rec_size), wanted: want.btfRecords === true || jited },
    jitedLines: { count: f.nr_jited_line_info, pointer: f.jited_line_info, recordSize: u32(first, f.jited_line_info_rec_size), wanted: jited },
  };
  type Part = keyof typeof arrays;
  const input = new Uint8Array(ProgInfo.size);
  const iv = dataView(input);
  // The kernel checks the record sizes whenever their arrays are asked for.
  for (const size of [f.func_info_rec_size, f.line_info_rec_size, f.jited_line_info_rec_size]) iv.setUint32(size.offset, u32(first, size), hostLittleEndian);
  const counts = {} as Record<Part, number>;
  const buffers = {} as Record<Part, Uint8Array>;
  const pointers: (number | Uint8Array)[] = [];
  for (const [part, a] of Object.entries(arrays) as [Part, (typeof arrays)[Part]][]) {
    counts[part] = a.wanted ? u32(first, a.count) : 0;
    buffers[part] = new Uint8Array(counts[part] * a.recordSize);
    iv.setUint32(a.count.offset, counts[part], hostLittleEndian);
    if (buffers[part].byteLength > 0) pointers.push(a.pointer.offset, buffers[part]);
  }
  const second = objGetInfoByFd(fd, ProgInfo.size, pointers, ctx, input);
  // The kernel zeroes a pointer it would not fill (kernel addresses hidden by kptr_restrict),
  // and reports how many records it has, which may be fewer than a moment ago.
  const got = (part: Part): Uint8Array => {
    const a = arrays[part];
    if (buffers[part].byteLength === 0 || readField(second, a.pointer) === 0n) return new Uint8Array(0);
    return buffers[part].subarray(0, Math.min(counts[part], u32(second, a.count)) * a.recordSize);
  };
  const le = hostLittleEndian;
  return {
    xlated: got('xlated'),
    jited: got('jited'),
    jitedFunctionAddresses: records(got('ksyms'), 8, (v, at) => v.getBigUint64(at, le)),
    jitedFunctionLengths: records(got('funcLens'), 4, (v, at) => v.getUint32(at, le)),
    funcInfo: records(got('funcs'), arrays.funcs.recordSize, (v, at) => ({ insnOffset: v.getUint32(at, le), typeId: v.getUint32(at + 4, le) })),
    lineInfo: records(got('lines'), arrays.lines.recordSize, (v, at) => {
      const lineCol = v.getUint32(at + 12, le);
      return { insnOffset: v.getUint32(at, le), fileNameOffset: v.getUint32(at + 4, le), lineOffset: v.getUint32(at + 8, le), lineNumber: lineCol >>> 10, column: lineCol & 0x3ff };
    }),
    jitedLineAddresses: records(got('jitedLines'), arrays.jitedLines.recordSize, (v, at) => v.getBigUint64(at, le)),
    btfId: u32(second, f.btf_id),
  };
}
