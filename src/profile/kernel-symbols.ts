/**
 * Kernel addresses → function names, from /proc/kallsyms: the text symbols sorted by address,
 * and the nearest one at or below an address. kallsyms has no sizes, so a symbol is taken to
 * reach up to the next one; an address further than {@link MAX_KERNEL_FUNCTION_BYTES} past
 * its nearest symbol is not attributed to it (it lies in a gap such as the end of a module's
 * text, where guessing would name the wrong function).
 *
 * BPF programs appear as `bpf_prog_<tag>_<name>` in module `bpf`, so samples inside a BPF
 * program symbolise too.
 *
 * @module
 */
import { isTextSymbol, kallsymsEntries } from '../internal/kallsyms.js';
import { addressIndex, lastAtOrBelow } from './address-index.js';

/** How far past a symbol an address may lie and still be taken as inside it. */
export const MAX_KERNEL_FUNCTION_BYTES = 1n << 20n;

// Padding in front of every function (ftrace, CFI: 6.2+): never the function that ran.
const NOISE = /^(?:__pfx_|__cfi_)/;

/** Where an address lies: the function and the offset into it, and the module holding it. */
export interface KernelLocation {
  /** The function (or other text symbol) name. */
  readonly symbol: string;
  /** Bytes from the symbol's start. */
  readonly offset: bigint;
  /** The module, as kallsyms names it (`nf_tables`, `bpf`); undefined for the kernel image. */
  readonly module: string | undefined;
}

/**
 * The text symbols of one kallsyms text, sorted by address for nearest-symbol lookups.
 *
 * @example
 * ```ts
 * const index = KernelSymbolIndex.parse('ffffffff81000000 T _stext\nffffffff81000100 T do_thing\n');
 * index.lookup(0xffffffff81000110n); // { symbol: 'do_thing', offset: 16n, module: undefined }
 * ```
 */
export class KernelSymbolIndex {
  readonly #addresses: BigUint64Array;
  readonly #names: readonly string[];
  readonly #modules: ReadonlyArray<string | undefined>;
  /** True when the text lists symbols but every address is 0: kptr_restrict hides them from this process. */
  readonly hidden: boolean;

  private constructor(addresses: BigUint64Array, names: string[], modules: Array<string | undefined>, hidden: boolean) {
    this.#addresses = addresses;
    this.#names = names;
    this.#modules = modules;
    this.hidden = hidden;
  }

  /** Indexes the text symbols (`T`, `t`, `W`, `w`) of /proc/kallsyms text. */
  static parse(text: string): KernelSymbolIndex {
    const entries: Array<{ address: bigint; name: string; module: string | undefined; rank: number }> = [];
    let listed = 0;
    for (const sym of kallsymsEntries(text)) {
      if (!isTextSymbol(sym)) continue;
      listed++;
      if (sym.address === 0n) continue;
      // Of several names at one address, the one a reader expects: not padding, global, first.
      const rank = (NOISE.test(sym.name) ? 2 : 0) + (sym.type === 'T' || sym.type === 'W' ? 0 : 1);
      entries.push({ address: sym.address, name: sym.name, module: sym.module, rank });
    }
    const index = addressIndex(entries, (e) => e.address, (e) => e.rank);
    return new KernelSymbolIndex(
      index.starts,
      index.entries.map((e) => e.name),
      index.entries.map((e) => e.module),
      listed > 0 && entries.length === 0,
    );
  }

  /** How many distinct symbol addresses are indexed. */
  get size(): number {
    return this.#addresses.length;
  }

  /** The symbol at or below `address`, or undefined (below the first symbol, in a gap, or addresses hidden). */
  lookup(address: bigint): KernelLocation | undefined {
    const i = lastAtOrBelow(this.#addresses, address);
    if (i < 0) return undefined;
    const offset = address - this.#addresses[i]!;
    if (offset >= MAX_KERNEL_FUNCTION_BYTES) return undefined;
    return { symbol: this.#names[i]!, offset, module: this.#modules[i] };
  }
}
