/**
 * The argument specs of a USDT probe, as `<sys/sdt.h>` writes them into the note: one
 * `[-]SIZE[f]@OPERAND` per argument, separated by spaces, where SIZE is the argument's size in
 * bytes (negative for a signed type), `f` marks a floating-point type, and OPERAND is the
 * compiler's own assembler operand for where the value is at the probe:
 *
 * | form | x86-64 (AT&T syntax) | arm64 |
 * |---|---|---|
 * | register | `-4@%eax`, `8@%r12` | `8@x1`, `-4@w2` |
 * | memory at register + offset | `8@-16(%rbp)`, `4@(%rdi)` | `-8@[sp, 16]`, `4@[x0]` |
 * | constant | `4@$5`, `-4@$-7` | `-4@5` |
 * | memory at a symbol (PC-relative) | `-4@counter(%rip)` | — |
 * | scaled index | `4@8(%rax,%rbx,4)` | `4@[x0, x1]` |
 *
 * This module reads that syntax only; which forms a BPF program can fetch is decided where the
 * specs are encoded (usdt-spec.ts).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';

/** The instruction sets whose operand syntax {@link parseUSDTArguments} reads. */
export type USDTArch = 'x86_64' | 'arm64';

/** Where an argument's value is at the probe. Register names are lower case, as written. */
export type USDTArgumentLocation =
  /** The value itself, written into the note (`$5`). */
  | { readonly kind: 'constant'; readonly value: bigint }
  /** The value is in a register (`%eax`, `x1`). */
  | { readonly kind: 'register'; readonly register: string }
  /** The value is in memory at a register plus an offset (`-16(%rbp)`, `[sp, 16]`). */
  | { readonly kind: 'memory'; readonly register: string; readonly offset: bigint }
  /** The value is in memory at a symbol plus an offset, addressed relative to `register` (x86-64 `counter+4(%rip)`). */
  | { readonly kind: 'symbol'; readonly register: string; readonly symbol: string; readonly offset: bigint }
  /** The value is in memory at `register + index × scale + offset` (x86-64 `8(%rax,%rbx,4)`, arm64 `[x0, x1]`). */
  | { readonly kind: 'indexed'; readonly register: string; readonly index: string; readonly scale: number; readonly offset: bigint };

/** One parsed argument spec. */
export interface USDTArgument {
  /** The spec as written, e.g. `-4@%eax`. */
  readonly spec: string;
  /** Size of the value in bytes: 1, 2, 4 or 8. */
  readonly size: 1 | 2 | 4 | 8;
  /** A signed integer type (a negative size in the spec). */
  readonly signed: boolean;
  /** A floating-point type (`f` after the size; systemtap 4.3+). */
  readonly float: boolean;
  /** Where the value is. */
  readonly location: USDTArgumentLocation;
}

/**
 * An argument spec that cannot be read or cannot be fetched by a BPF program: the message
 * names the spec, the probe when known, and why.
 */
export class USDTArgumentError extends ArgumentError {
  /** The offending argument spec (`4@8(%rax,%rbx,4)`), or the whole string when it cannot be split. */
  readonly spec: string;
  /** Why, in words. */
  readonly reason: string;

  constructor(spec: string, reason: string, probe?: string) {
    super(`USDT argument ${JSON.stringify(spec)}${probe === undefined ? '' : ` of ${probe}`}: ${reason}`);
    this.spec = spec;
    this.reason = reason;
  }
}

/** The maximum number of arguments `<sys/sdt.h>` (and libbpf's `BPF_USDT_MAX_ARG_CNT`) allows. */
export const USDT_MAX_ARGS = 12;

const INTEGER = /^[+-]?(?:0x[0-9a-f]+|\d+)$/i;

function integer(text: string): bigint {
  const negative = text.startsWith('-');
  const digits = text.replace(/^[+-]/, '');
  const n = BigInt(digits);
  return negative ? -n : n;
}

/**
 * Splits an argument string at the spaces between specs; arm64 memory operands contain a space
 * inside their brackets (`[sp, 16]`).
 */
function splitSpecs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of args) {
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    if (/\s/.test(c) && depth === 0) {
      if (current !== '') out.push(current);
      current = '';
    } else current += c;
  }
  if (current !== '') out.push(current);
  return out;
}

function x86Operand(spec: string, operand: string): USDTArgumentLocation {
  const fail = (reason: string): never => {
    throw new USDTArgumentError(spec, reason);
  };
  if (operand.startsWith('$')) {
    const text = operand.slice(1);
    if (!INTEGER.test(text)) fail(`constant ${operand} is not an integer`);
    return { kind: 'constant', value: integer(text) };
  }
  if (operand.startsWith('%')) {
    if (operand.includes(':')) fail('segment-relative operands (%fs:…) cannot be read from pt_regs');
    const reg = operand.slice(1).toLowerCase();
    if (!/^[a-z][a-z0-9]*$/.test(reg)) fail(`${operand} is not a register name`);
    return { kind: 'register', register: reg };
  }
  // disp(%base[,%index[,scale]]), where disp is an integer, a symbol, or symbol±integer.
  const m = /^([^()]*)\((%[a-z0-9]+)?(?:,(%[a-z0-9]+)?(?:,(\d+))?)?\)$/i.exec(operand);
  if (m === null) {
    if (operand.includes(':')) fail('segment-relative operands (%fs:…) cannot be read from pt_regs');
    return fail(`${operand} is not an x86-64 operand this reader knows (%reg, $imm, disp(%reg), disp(%base,%index,scale))`);
  }
  const [, disp = '', base, index, scale] = m;
  if (base === undefined) fail(`${operand} has no base register`);
  const register = base!.slice(1).toLowerCase();
  let offset = 0n;
  let symbol: string | undefined;
  if (disp !== '') {
    if (INTEGER.test(disp)) offset = integer(disp);
    else {
      const s = /^([A-Za-z_.$][\w.$@]*)(?:([+-])(0x[0-9a-f]+|\d+))?$/i.exec(disp);
      if (s === null) fail(`displacement ${disp} is neither an integer nor symbol±integer`);
      symbol = s![1]!;
      offset = s![2] === undefined ? 0n : s![2] === '-' ? -integer(s![3]!) : integer(s![3]!);
    }
  }
  if (index !== undefined) {
    if (symbol !== undefined) fail('a symbol with an index register cannot be resolved');
    const factor = scale === undefined ? 1 : Number(scale);
    if (![1, 2, 4, 8].includes(factor)) fail(`scale ${scale} is not 1, 2, 4 or 8`);
    return { kind: 'indexed', register, index: index.slice(1).toLowerCase(), scale: factor, offset };
  }
  if (scale !== undefined) fail(`${operand} has a scale without an index register`);
  if (symbol !== undefined) return { kind: 'symbol', register, symbol, offset };
  return { kind: 'memory', register, offset };
}

function arm64Operand(spec: string, operand: string): USDTArgumentLocation {
  const fail = (reason: string): never => {
    throw new USDTArgumentError(spec, reason);
  };
  const constant = operand.replace(/^#/, '');
  if (INTEGER.test(constant)) return { kind: 'constant', value: integer(constant) };
  if (/^[a-z][a-z0-9]*$/i.test(operand)) return { kind: 'register', register: operand.toLowerCase() };
  const m = /^\[\s*([a-z][a-z0-9]*)\s*(?:,\s*(.+?)\s*)?\]$/i.exec(operand);
  if (m === null) return fail(`${operand} is not an arm64 operand this reader knows (xN, [xN], [xN, off], imm)`);
  const register = m[1]!.toLowerCase();
  const second = m[2];
  if (second === undefined) return { kind: 'memory', register, offset: 0n };
  const imm = second.replace(/^#/, '');
  if (INTEGER.test(imm)) return { kind: 'memory', register, offset: integer(imm) };
  if (imm.startsWith(':')) return fail(`${second} is a relocation operator (the linker's share of a symbol's address), which the note cannot resolve`);
  const idx = /^([a-z][a-z0-9]*)(?:\s*,\s*(?:lsl|[su]xt[bhwx])\s*#?(\d+))?$/i.exec(second);
  if (idx !== null) return { kind: 'indexed', register, index: idx[1]!.toLowerCase(), scale: 2 ** Number(idx[2] ?? 0), offset: 0n };
  return fail(`${second} is not an offset or index register`);
}

/**
 * Parses one argument spec (`-4@%eax`, `8@[sp, 16]`) of `arch`.
 *
 * @example
 * ```ts
 * parseUSDTArgument('-4@-20(%rbp)', 'x86_64');
 * // { spec: '-4@-20(%rbp)', size: 4, signed: true, float: false, location: { kind: 'memory', register: 'rbp', offset: -20n } }
 * ```
 * @throws {@link USDTArgumentError} for a spec this syntax does not allow.
 */
export function parseUSDTArgument(spec: string, arch: USDTArch): USDTArgument {
  const m = /^(-?)(\d+)(f?)@(.+)$/.exec(spec);
  if (m === null) throw new USDTArgumentError(spec, 'not of the form [-]SIZE@OPERAND');
  const size = Number(m[2]);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new USDTArgumentError(spec, `size ${size} is not 1, 2, 4 or 8 bytes`);
  const float = m[3] === 'f';
  const location = arch === 'x86_64' ? x86Operand(spec, m[4]!) : arm64Operand(spec, m[4]!);
  return { spec, size, signed: m[1] === '-' && !float, float, location };
}

/**
 * Parses a probe's argument string (`-4@%edi 8@-16(%rbp) 4@$5`) of `arch`: one
 * {@link USDTArgument} per spec, none for `""`. `probe` (`provider:name`) goes into error
 * messages.
 *
 * @example
 * ```ts
 * parseUSDTArguments('-8@x1 -4@[sp, 60]', 'arm64').map((a) => a.location.kind); // ['register', 'memory']
 * ```
 * @throws {@link USDTArgumentError} for a spec that cannot be read, or more than
 * {@link USDT_MAX_ARGS} of them.
 */
export function parseUSDTArguments(args: string, arch: USDTArch, probe?: string): USDTArgument[] {
  if (arch !== 'x86_64' && arch !== 'arm64') throw new ArgumentError(`USDT argument syntax of ${String(arch)} is not known; x86_64 and arm64 are`);
  const specs = splitSpecs(args);
  if (specs.length > USDT_MAX_ARGS) throw new USDTArgumentError(args, `${specs.length} arguments, more than the ${USDT_MAX_ARGS} <sys/sdt.h> and usdt.bpf.h allow`, probe);
  return specs.map((s) => {
    try {
      return parseUSDTArgument(s, arch);
    } catch (err) {
      if (err instanceof USDTArgumentError && probe !== undefined) throw new USDTArgumentError(err.spec, err.reason, probe);
      throw err;
    }
  });
}
