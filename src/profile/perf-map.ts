/**
 * Perf map files (`/tmp/perf-PID.map`): how JIT compilers tell profilers what code lives in
 * their anonymous executable memory. One line per code object, `START SIZE name`, START and
 * SIZE in hex without `0x`; Node writes one with `--perf-basic-prof` (V8's JIT names such as
 * `JS:*burn file.js:3`), as do the JVM (with an agent), LuaJIT and others.
 *
 * The file only grows: a JIT that moves or frees code writes new lines for the new code, and
 * a line written later wins over an earlier one for the same addresses.
 *
 * @module
 */
import { lastAtOrBelow } from './address-index.js';

/** One code object of a perf map. */
export interface PerfMapEntry {
  /** First address. */
  readonly start: bigint;
  /** Length in bytes. */
  readonly size: bigint;
  /** The name the JIT gave it. */
  readonly name: string;
}

/** Where an address lies in a perf map: the code object's name and the offset into it. */
export interface PerfMapLocation {
  /** The name the JIT gave the code object. */
  readonly symbol: string;
  /** Bytes from the object's start. */
  readonly offset: bigint;
}

// Older lines overlapping an address are looked for this far back in start order: code objects
// are small and a JIT rarely stacks more than a few versions at one place.
const OVERLAP_SCAN = 64;

/**
 * The entries of a perf map, sorted for address lookups.
 *
 * @example
 * ```ts
 * const map = PerfMap.parse('7f0000001000 40 JS:*burn /app/busy.js:3\n');
 * map.lookup(0x7f0000001010n); // { symbol: 'JS:*burn /app/busy.js:3', offset: 16n }
 * ```
 */
export class PerfMap {
  readonly #starts: BigUint64Array;
  readonly #entries: readonly PerfMapEntry[];
  /** Line number of each entry (later lines win). */
  readonly #order: Uint32Array;

  private constructor(entries: Array<PerfMapEntry & { line: number }>) {
    entries.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.line - b.line));
    this.#entries = entries.map(({ start, size, name }) => ({ start, size, name }));
    this.#starts = BigUint64Array.from(entries.map((e) => e.start));
    this.#order = Uint32Array.from(entries.map((e) => e.line));
  }

  /** Parses perf map text; lines that are not `START SIZE name` are skipped. */
  static parse(text: string): PerfMap {
    const entries: Array<PerfMapEntry & { line: number }> = [];
    let line = 0;
    for (const raw of text.split('\n')) {
      line++;
      const m = /^(?:0x)?([0-9a-fA-F]+) (?:0x)?([0-9a-fA-F]+) (.+)$/.exec(raw.trimEnd());
      if (m === null) continue;
      const size = BigInt(`0x${m[2]}`);
      if (size === 0n) continue;
      entries.push({ start: BigInt(`0x${m[1]}`), size, name: m[3]!, line });
    }
    return new PerfMap(entries);
  }

  /** How many entries the map has. */
  get size(): number {
    return this.#entries.length;
  }

  /** The code object holding `address` (the latest written, if several), or undefined. */
  lookup(address: bigint): PerfMapLocation | undefined {
    const last = lastAtOrBelow(this.#starts, address);
    let best = -1;
    for (let i = last; i >= 0 && i > last - OVERLAP_SCAN; i--) {
      const e = this.#entries[i]!;
      if (address < e.start + e.size && (best < 0 || this.#order[i]! > this.#order[best]!)) best = i;
    }
    if (best < 0) return undefined;
    const e = this.#entries[best]!;
    return { symbol: e.name, offset: address - e.start };
  }
}
