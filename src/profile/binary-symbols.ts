/**
 * File offsets → function names for one user-space binary, from its ELF symbol tables
 * ({@link Executable}). A sampled address is turned into a file offset through the process's
 * mapping of the file (`address - mapping.start + mapping.offset`), which is the same for PIE
 * and non-PIE binaries and for shared libraries wherever they were loaded: the load bias
 * cancels out. Each symbol's file offset comes from the PT_LOAD segment that holds it, so the
 * two meet in file offsets.
 *
 * The sorted index is built once per binary and kept as long as its {@link Executable} (which
 * `Executable.open` caches per file and modification time).
 *
 * @module
 */
import type { Executable, ExecutableSymbol } from '../link/executable.js';
import { addressIndex, lastAtOrBelow } from './address-index.js';

/** Where a file offset lies in a binary: the function and the offset into it. */
export interface BinaryLocation {
  /** The function's name (without a symbol version). */
  readonly symbol: string;
  /** Bytes from the function's start. */
  readonly offset: bigint;
}

interface FunctionIndex {
  readonly starts: BigUint64Array;
  readonly symbols: readonly ExecutableSymbol[];
}

const indexes = new WeakMap<Executable, FunctionIndex>();

// A symbol without a size (`_init`, `_fini`, assembly) is taken to reach to the next symbol,
// but not further than this: after the last one lies data or nothing.
const UNSIZED_REACH = 4096n;

/** Lower is preferred at one offset: global, weak, local; then default versions. */
function rank(s: ExecutableSymbol): number {
  return (s.bind === 1 ? 0 : s.bind === 2 ? 2 : 4) + (s.defaultVersion ? 0 : 1);
}

function buildIndex(exe: Executable): FunctionIndex {
  // One name per offset: the same function in .symtab and .dynsym, or aliases.
  const { starts, entries } = addressIndex(exe.symbols().filter((s) => s.kind === 'function'), (s) => s.offset, rank);
  return { starts, symbols: entries };
}

/**
 * The function of `exe` that holds file offset `fileOffset`, or undefined (between functions,
 * or the binary has no symbols: stripped of .symtab, the function static). A symbol without a
 * size (assembly) is taken to reach up to the next one, at most 4 KiB.
 *
 * @example
 * ```ts
 * const exe = Executable.open('/usr/bin/bash');
 * functionAt(exe, exe.symbol('main').offset + 4n); // { symbol: 'main', offset: 4n }
 * ```
 */
export function functionAt(exe: Executable, fileOffset: bigint): BinaryLocation | undefined {
  let index = indexes.get(exe);
  if (index === undefined) {
    index = buildIndex(exe);
    indexes.set(exe, index);
  }
  const i = lastAtOrBelow(index.starts, fileOffset);
  if (i < 0) return undefined;
  const sym = index.symbols[i]!;
  const offset = fileOffset - sym.offset;
  if (offset >= (sym.size > 0n ? sym.size : UNSIZED_REACH)) return undefined;
  return { symbol: sym.name, offset };
}
