/**
 * Parsed USDT arguments → libbpf's `struct __bpf_usdt_spec`, the value of the
 * `__bpf_usdt_specs` map that `bpf_usdt_arg()` in `<bpf/usdt.bpf.h>` reads:
 *
 * ```
 * struct __bpf_usdt_arg_spec {          16 bytes
 *     __u64 val_off;                    +0   constant, or offset added to the register
 *     enum __bpf_usdt_arg_type arg_type; +8  CONST 0, REG 1, REG_DEREF 2
 *     short reg_off;                    +12  offsetof(struct pt_regs, <register>)
 *     bool arg_signed;                  +14
 *     char arg_bitshift;                +15  64 − 8 × size: val <<= s; val >>= s (arithmetic if signed)
 * };
 * struct __bpf_usdt_spec {              208 bytes
 *     struct __bpf_usdt_arg_spec args[12]; +0
 *     __u64 usdt_cookie;                +192
 *     short arg_cnt;                    +200
 * };
 * ```
 *
 * The program reads 8 bytes from `pt_regs` (and, for REG_DEREF, 8 bytes of user memory at
 * that register plus `val_off`), then shifts the unused high bytes out: on a little-endian
 * machine the low bytes of a 64-bit register slot or memory word are the narrower value, so a
 * 32-bit `%eax` or `w1` is its 64-bit register's slot. Everything is in the host's byte order,
 * as the kernel reads the map.
 *
 * @module
 */
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { USDT_MAX_ARGS, USDTArgumentError, type USDTArch, type USDTArgument } from './usdt-args.js';

/** `enum __bpf_usdt_arg_type`. */
export enum USDTArgType {
  /** BPF_USDT_ARG_CONST: the value is `val_off`. */
  Const = 0,
  /** BPF_USDT_ARG_REG: the value is in the register at `reg_off` of pt_regs. */
  Reg = 1,
  /** BPF_USDT_ARG_REG_DEREF: the value is in user memory at that register + `val_off`. */
  RegDeref = 2,
}

/** `sizeof(struct __bpf_usdt_arg_spec)`. */
const USDT_ARG_SPEC_SIZE = 16;
/** `sizeof(struct __bpf_usdt_spec)`: the value size of `__bpf_usdt_specs`. */
export const USDT_SPEC_SIZE = 208;
const COOKIE_AT = USDT_MAX_ARGS * USDT_ARG_SPEC_SIZE;
const ARG_CNT_AT = COOKIE_AT + 8;

/** One `struct __bpf_usdt_arg_spec`, decoded. */
export interface USDTArgSpec {
  readonly valOff: bigint;
  readonly argType: USDTArgType;
  readonly regOff: number;
  readonly signed: boolean;
  readonly bitshift: number;
}

/** One `struct __bpf_usdt_spec`, decoded. */
export interface USDTSpec {
  readonly args: readonly USDTArgSpec[];
  readonly cookie: bigint;
}

// offsetof(struct pt_regs, …) on x86-64 (arch/x86/include/asm/ptrace.h), by every name of
// each general-purpose register: 64-, 32-, 16- and low 8-bit.
const X86_64_SLOTS: ReadonlyArray<readonly [number, readonly string[]]> = [
  [0, ['r15', 'r15d', 'r15w', 'r15b']],
  [8, ['r14', 'r14d', 'r14w', 'r14b']],
  [16, ['r13', 'r13d', 'r13w', 'r13b']],
  [24, ['r12', 'r12d', 'r12w', 'r12b']],
  [32, ['rbp', 'ebp', 'bp', 'bpl']],
  [40, ['rbx', 'ebx', 'bx', 'bl']],
  [48, ['r11', 'r11d', 'r11w', 'r11b']],
  [56, ['r10', 'r10d', 'r10w', 'r10b']],
  [64, ['r9', 'r9d', 'r9w', 'r9b']],
  [72, ['r8', 'r8d', 'r8w', 'r8b']],
  [80, ['rax', 'eax', 'ax', 'al']],
  [88, ['rcx', 'ecx', 'cx', 'cl']],
  [96, ['rdx', 'edx', 'dx', 'dl']],
  [104, ['rsi', 'esi', 'si', 'sil']],
  [112, ['rdi', 'edi', 'di', 'dil']],
  [128, ['rip', 'eip']],
  [152, ['rsp', 'esp', 'sp', 'spl']],
];

/**
 * `offsetof(struct pt_regs, …)` of each register name a USDT spec may use, per architecture.
 * arm64's pt_regs starts with `struct user_pt_regs { u64 regs[31]; u64 sp; u64 pc; … }`.
 */
export const PT_REGS_OFFSETS: Readonly<Record<USDTArch, ReadonlyMap<string, number>>> = {
  x86_64: new Map(X86_64_SLOTS.flatMap(([offset, names]) => names.map((n) => [n, offset] as const))),
  arm64: new Map([
    ...Array.from({ length: 31 }, (_, i) => [`x${i}`, i * 8] as const),
    ...Array.from({ length: 31 }, (_, i) => [`w${i}`, i * 8] as const),
    ['sp', 31 * 8],
    ['wsp', 31 * 8],
  ]),
};

/** What encoding a probe's arguments needs besides the arguments. */
export interface USDTSpecContext {
  /** The instruction set of the probed file. */
  readonly arch: USDTArch;
  /**
   * The probe's link-time address. At a uprobe the instruction pointer in pt_regs is the
   * probed address (handle_swbp() rewinds it past the breakpoint), so a PC-relative symbol
   * operand becomes the instruction pointer plus `symbol − location`.
   */
  readonly location: bigint;
  /** The link-time address of a data symbol of the probed file, for `counter(%rip)` operands. */
  readonly symbolAddress?: (name: string) => bigint | undefined;
  /** `provider:name` for messages. */
  readonly probe?: string;
}

function register(arg: USDTArgument, name: string, ctx: USDTSpecContext): number {
  const offset = PT_REGS_OFFSETS[ctx.arch].get(name);
  if (offset !== undefined) return offset;
  let why = `register ${name} is not one pt_regs holds on ${ctx.arch}`;
  if (/^(?:[xy]mm|st|[vqdsbh])\d+$/.test(name)) why = `${name} is a floating-point/vector register, which pt_regs does not hold`;
  else if (/^[abcd]h$/.test(name)) why = `${name} is the high byte of a register, which usdt.bpf.h's shift-based narrowing cannot extract`;
  throw new USDTArgumentError(arg.spec, why, ctx.probe);
}

/**
 * Encodes one argument as a `struct __bpf_usdt_arg_spec`.
 *
 * @example
 * ```ts
 * encodeUSDTArgument(parseUSDTArgument('-4@-20(%rbp)', 'x86_64'), { arch: 'x86_64', location: 0x1139n });
 * // { valOff: 0xffff…ffecn, argType: USDTArgType.RegDeref, regOff: 32, signed: true, bitshift: 32 }
 * ```
 * @throws {@link USDTArgumentError} for forms usdt.bpf.h cannot fetch: scaled-index
 * addressing, floating-point or high-byte registers, unknown registers, symbols not in the
 * file's symbol table.
 */
export function encodeUSDTArgument(arg: USDTArgument, ctx: USDTSpecContext): USDTArgSpec {
  const common = { signed: arg.signed, bitshift: 64 - 8 * arg.size };
  const loc = arg.location;
  switch (loc.kind) {
    case 'constant':
      return { ...common, argType: USDTArgType.Const, valOff: BigInt.asUintN(64, loc.value), regOff: 0 };
    case 'register':
      // arm64's zero register reads as 0 but has no pt_regs slot.
      if (ctx.arch === 'arm64' && (loc.register === 'xzr' || loc.register === 'wzr')) return { ...common, argType: USDTArgType.Const, valOff: 0n, regOff: 0 };
      return { ...common, argType: USDTArgType.Reg, valOff: 0n, regOff: register(arg, loc.register, ctx) };
    case 'memory':
      return { ...common, argType: USDTArgType.RegDeref, valOff: BigInt.asUintN(64, loc.offset), regOff: register(arg, loc.register, ctx) };
    case 'symbol': {
      if (loc.register !== 'rip') {
        throw new USDTArgumentError(arg.spec, `the address of ${loc.symbol} relative to %${loc.register} is unknown; only %rip-relative symbols resolve`, ctx.probe);
      }
      const address = ctx.symbolAddress?.(loc.symbol);
      if (address === undefined) {
        throw new USDTArgumentError(arg.spec, `symbol ${loc.symbol} is not in the probed file's symbol tables (stripped, or a local label)`, ctx.probe);
      }
      const valOff = BigInt.asUintN(64, address + loc.offset - ctx.location);
      return { ...common, argType: USDTArgType.RegDeref, valOff, regOff: register(arg, 'rip', ctx) };
    }
    case 'indexed':
      throw new USDTArgumentError(
        arg.spec,
        `scaled-index addressing (base ${loc.register}, index ${loc.index} × ${loc.scale}) has no encoding in usdt.bpf.h's struct __bpf_usdt_arg_spec (CONST, REG, REG_DEREF)`,
        ctx.probe,
      );
  }
}

/**
 * Encodes a probe's arguments and the attachment's cookie as a `struct __bpf_usdt_spec` (the
 * `__bpf_usdt_specs` value), in the host's byte order.
 *
 * @example
 * ```ts
 * const value = encodeUSDTSpec(parseUSDTArguments('-4@%edi 8@$5', 'x86_64'), 42n, { arch: 'x86_64', location: 0x1139n });
 * value.byteLength; // 208
 * ```
 * @throws {@link USDTArgumentError} as {@link encodeUSDTArgument}, or for more than 12
 * arguments.
 */
export function encodeUSDTSpec(args: readonly USDTArgument[], cookie: bigint, ctx: USDTSpecContext): Uint8Array {
  if (args.length > USDT_MAX_ARGS) throw new USDTArgumentError(args.map((a) => a.spec).join(' '), `${args.length} arguments, more than usdt.bpf.h's ${USDT_MAX_ARGS}`, ctx.probe);
  const out = new Uint8Array(USDT_SPEC_SIZE);
  const view = dataView(out);
  const le = hostLittleEndian;
  args.forEach((arg, i) => {
    const spec = encodeUSDTArgument(arg, ctx);
    const at = i * USDT_ARG_SPEC_SIZE;
    view.setBigUint64(at, spec.valOff, le);
    view.setUint32(at + 8, spec.argType, le);
    view.setInt16(at + 12, spec.regOff, le);
    view.setUint8(at + 14, spec.signed ? 1 : 0);
    view.setInt8(at + 15, spec.bitshift);
  });
  view.setBigUint64(COOKIE_AT, BigInt.asUintN(64, cookie), le);
  view.setInt16(ARG_CNT_AT, args.length, le);
  return out;
}

/**
 * Decodes a `__bpf_usdt_specs` value: the arguments `arg_cnt` says there are, and the cookie.
 *
 * @example
 * ```ts
 * decodeUSDTSpec(coll.maps.__bpf_usdt_specs.lookup(key)!).cookie;
 * ```
 */
export function decodeUSDTSpec(value: Uint8Array): USDTSpec {
  const view = dataView(value);
  const le = hostLittleEndian;
  const count = Math.max(0, Math.min(USDT_MAX_ARGS, view.getInt16(ARG_CNT_AT, le)));
  const args = Array.from({ length: count }, (_, i) => {
    const at = i * USDT_ARG_SPEC_SIZE;
    return {
      valOff: view.getBigUint64(at, le),
      argType: view.getUint32(at + 8, le),
      regOff: view.getInt16(at + 12, le),
      signed: view.getUint8(at + 14) !== 0,
      bitshift: view.getInt8(at + 15),
    };
  });
  return { args, cookie: view.getBigUint64(COOKIE_AT, le) };
}

/**
 * What `bpf_usdt_arg()` computes from an argument spec, given the 8 bytes it reads (the
 * register, or the user memory): the narrowing shifts of usdt.bpf.h. For tests and tools that
 * check an encoding without a kernel.
 *
 * @example
 * ```ts
 * usdtArgValue({ valOff: 0n, argType: USDTArgType.Reg, regOff: 80, signed: true, bitshift: 32 }, 0xffffffffn); // -1n
 * ```
 */
export function usdtArgValue(spec: USDTArgSpec, fetched: bigint): bigint {
  const raw = spec.argType === USDTArgType.Const ? spec.valOff : fetched;
  const shift = BigInt(spec.bitshift);
  const widened = BigInt.asUintN(64, raw << shift);
  return spec.signed ? BigInt.asIntN(64, widened) >> shift : widened >> shift;
}
