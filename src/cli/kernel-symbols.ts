/**
 * Kernel addresses back to symbol names, from /proc/kallsyms: what a call in a translated
 * program targets (the kernel stores `function − __bpf_call_base` in a helper call's
 * immediate), and the names of JITed functions (`bpf_prog_<tag>_<name>`). Addresses are only
 * visible to processes kernel.kptr_restrict lets see them; otherwise nothing resolves.
 *
 * @module
 */
import { helperByName } from '../asm/helper.js';
import { kallsyms, type KallsymsTable } from '../internal/kallsyms.js';

/** Symbols by address. */
export class SymbolsByAddress {
  readonly #names = new Map<bigint, string[]>();

  /** Indexes `symbols` (name and address pairs; address 0 means hidden and is skipped). */
  constructor(symbols: Iterable<{ readonly name: string; readonly address: bigint }>) {
    for (const s of symbols) {
      if (s.address === 0n) continue;
      const list = this.#names.get(s.address);
      if (list === undefined) this.#names.set(s.address, [s.name]);
      else list.push(s.name);
    }
  }

  /**
   * The symbol at exactly `address`. Of several names for one address, a BPF helper's
   * (`bpf_get_current_pid_tgid`) wins, since that is what a program's author called.
   */
  at(address: bigint): string | undefined {
    const names = this.#names.get(address);
    return names?.find((n) => helperByName(n) !== undefined) ?? names?.[0];
  }
}

let cached: { table: KallsymsTable; index: SymbolsByAddress } | undefined;

/**
 * The running kernel's symbols by address, rebuilt when kallsyms() re-reads the table (a
 * module came or went).
 */
export function kernelSymbols(): SymbolsByAddress {
  const table = kallsyms();
  if (cached?.table !== table) cached = { table, index: new SymbolsByAddress(table.byName.values()) };
  return cached.index;
}
