/**
 * Argument checks shared by the multi-probe links (kprobe_multi, uprobe_multi): the program's
 * type and expected attach type, which of the mutually exclusive target lists was given, and
 * lists of u64 values (cookies, addresses, offsets) that must pair with the targets one to one.
 * Everything here runs before any syscall, so a bad argument never reaches the kernel as a
 * bare EINVAL.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import type { Program } from '../prog.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { integerArgument } from './integer.js';

/**
 * The most targets one link may have: `MAX_KPROBE_MULTI_CNT` and `MAX_UPROBE_MULTI_CNT`
 * (`1 << 20` in kernel/trace/bpf_trace.c); more is E2BIG.
 */
export const MAX_MULTI_COUNT = 1 << 20;

const U64_LIMIT = 1n << 64n;

/**
 * Throws unless `prog` is a KPROBE program that was (or may have been) loaded with expected
 * attach type `attachType`: bpf_kprobe_multi_link_attach() and bpf_uprobe_multi_link_attach()
 * refuse any other program with EINVAL. A program opened from an fd or a pin has no known
 * attach type; the kernel decides for it.
 */
export function checkMultiProgram(prog: Program, attachType: AttachType, uapiName: string, fn: string, section: string): void {
  if (prog.type !== ProgramType.Kprobe) {
    throw new ArgumentError(`${fn} needs a KPROBE program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const loadedWith = prog.attachment.attachType;
  if (loadedWith !== undefined && loadedWith !== attachType) {
    const had = loadedWith === AttachType.None ? 'no expected attach type' : `expected attach type ${AttachType[loadedWith] ?? loadedWith}`;
    throw new ArgumentError(
      `${fn}: program ${prog.name} was loaded with ${had}; the kernel attaches only programs loaded with ${uapiName} ` +
        `(attachType: AttachType.${AttachType[attachType]} in its spec, or a ${section}/ section)`,
    );
  }
}

/**
 * Exactly one value of `given` (option name → value) must be defined; returns its name. The
 * names are listed in the message: `attachKprobeMulti needs symbols, pattern or addresses`.
 */
export function exactlyOne(fn: string, given: Record<string, unknown>): string {
  const present = Object.entries(given).filter(([, v]) => v !== undefined).map(([k]) => k);
  const names = Object.keys(given);
  const spelled = `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  if (present.length === 0) throw new ArgumentError(`${fn} needs ${spelled}`);
  if (present.length > 1) throw new ArgumentError(`${fn} takes one of ${spelled}, not ${present.join(' and ')}`);
  return present[0]!;
}

/** Throws unless `list` is a non-empty array of at most {@link MAX_MULTI_COUNT} items. */
export function checkListLength(list: unknown, what: string): asserts list is readonly unknown[] {
  if (!Array.isArray(list)) throw new ArgumentError(`${what} must be an array, got ${typeof list}`);
  if (list.length === 0) throw new ArgumentError(`${what} is empty: a multi-probe link needs at least one target`);
  if (list.length > MAX_MULTI_COUNT) {
    throw new ArgumentError(`${what} has ${list.length} entries; the kernel takes at most ${MAX_MULTI_COUNT} per link (split them over several links)`);
  }
}

/**
 * `values` as u64s (integers from 0 to 2^64 - 1, number or bigint). With `count`, the list must
 * have exactly that many entries: one per target, in the targets' order.
 */
export function u64List(values: unknown, what: string, count?: number): bigint[] {
  checkListLength(values, what);
  if (count !== undefined && values.length !== count) {
    throw new ArgumentError(`${what} has ${values.length} entries for ${count} targets: give one per target, in the same order`);
  }
  return values.map((v, i) => {
    const n = integerArgument(v as bigint | number, `${what}[${i}]`);
    if (n < 0n || n >= U64_LIMIT) throw new ArgumentError(`${what}[${i}] must be from 0 to 2^64 - 1, got ${n}`);
    return n;
  });
}

/** `text, text, text, … (N)` for messages: at most three names of a long list. */
export function summarize(names: readonly string[]): string {
  if (names.length <= 3) return names.join(', ');
  return `${names.slice(0, 3).join(', ')}, … (${names.length} in all)`;
}
