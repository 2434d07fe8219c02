/**
 * Global symbol resolution for static linking, by the rules libbpf's linker (and C) follows:
 *
 * - one name, one definition: two strong (`STB_GLOBAL`) definitions conflict;
 * - a strong definition beats `__weak` ones; among weak ones only, the first input's wins;
 *   the definitions that lose keep their bytes in the output but lose their symbol;
 * - an undefined symbol (an `extern`, a declared-only function) takes the definition of
 *   whichever input has one, and stays undefined (a kfunc, a kconfig value, a symbolic
 *   reference) when none does; it is weak only if every reference is;
 * - hidden visibility is sticky: one `__hidden` declaration hides the symbol;
 * - a function and a variable never share a name, and two definitions of a variable or map
 *   must have one size and one section;
 * - `license` and `version` are one section whatever the number of inputs (the linker checks
 *   their contents agree), so the symbols in them may repeat.
 *
 * Conflicts are {@link LinkError}s that name the symbol and both inputs.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import { SHN_UNDEF, SymbolBind, SymbolType, SymbolVisibility } from './constants.js';
import type { ELFFile, ELFSymbol } from './file.js';

/**
 * Objects that cannot be linked together: two strong definitions of one name, a function and
 * a variable of one name, definitions that disagree in size or section, an extern map nobody
 * defines. The message names the symbol and the inputs.
 */
export class LinkError extends BpfError {
  /** The symbol (or section) the inputs disagree on. */
  readonly symbol: string;
  /** The inputs involved, by the names they were given. */
  readonly inputs: readonly string[];

  constructor(symbol: string, inputs: readonly string[], message: string) {
    super(message);
    this.symbol = symbol;
    this.inputs = inputs;
  }
}

/** One input of a link: its name (for messages) and its parsed ELF tables. */
export interface LinkInput {
  /** How messages name it (`a.o`, `input 2`). */
  readonly name: string;
  /** The input's ELF tables. */
  readonly file: ELFFile;
}

/** A symbol of one input. */
export interface InputSymbol {
  /** Index of the input. */
  readonly input: number;
  /** The symbol. */
  readonly symbol: ELFSymbol;
}

/** How one global name resolved. */
export interface GlobalSymbol {
  /** The name. */
  readonly name: string;
  /** The definition that won; undefined when no input defines the name. */
  definition: InputSymbol | undefined;
  /** Definitions that lost to {@link GlobalSymbol.definition} (weak ones). */
  readonly losers: InputSymbol[];
  /** Every input that mentions the name, in input order. */
  readonly inputs: number[];
  /** `STB_WEAK` in the output: the winner is weak, or, undefined, every reference is. */
  weak: boolean;
  /** `STV_HIDDEN` in the output (any input said so). */
  hidden: boolean;
  /** `STT_*`: the first that is not `STT_NOTYPE`. */
  type: number;
}

/** Sections every input may have once, with the same contents: kept once, their symbols too. */
export const singleSections: ReadonlySet<string> = new Set(['license', 'version']);

function kindName(type: number): string {
  return type === SymbolType.Func ? 'a function' : type === SymbolType.Object ? 'a variable or map' : `symbol type ${type}`;
}

/**
 * Resolves the global and weak symbols of `inputs`, in input order. Returns them by name, in
 * the order they were first seen.
 *
 * @example
 * ```ts
 * const globals = resolveGlobals([{ name: 'a.o', file: readELF(a) }, { name: 'b.o', file: readELF(b) }]);
 * globals.get('helper')!.definition; // { input: 1, symbol: … } when b.o defines it
 * ```
 *
 * @throws {@link LinkError} for conflicting definitions, naming the symbol and both inputs.
 */
export function resolveGlobals(inputs: readonly LinkInput[]): Map<string, GlobalSymbol> {
  const out = new Map<string, GlobalSymbol>();
  const sectionOf = (s: InputSymbol): string => inputs[s.input]!.file.sections[s.symbol.sectionIndex]?.name ?? `section ${s.symbol.sectionIndex}`;
  inputs.forEach((input, i) => {
    for (const symbol of input.file.symbols) {
      if (symbol.bind === SymbolBind.Local || symbol.name === '' || symbol.type === SymbolType.File || symbol.type === SymbolType.Section) continue;
      const here: InputSymbol = { input: i, symbol };
      const defined = symbol.sectionIndex !== SHN_UNDEF;
      const weak = symbol.bind === SymbolBind.Weak;
      const hidden = symbol.visibility === SymbolVisibility.Hidden || symbol.visibility === SymbolVisibility.Internal;
      let g = out.get(symbol.name);
      if (g === undefined) {
        g = { name: symbol.name, definition: defined ? here : undefined, losers: [], inputs: [i], weak, hidden, type: symbol.type };
        out.set(symbol.name, g);
        continue;
      }
      if (!g.inputs.includes(i)) g.inputs.push(i);
      const other = g.definition ?? here;
      if (symbol.type !== SymbolType.NoType && g.type !== SymbolType.NoType && symbol.type !== g.type) {
        throw new LinkError(symbol.name, [inputs[g.inputs[0]!]!.name, input.name], `symbol ${symbol.name} is ${kindName(g.type)} in ${inputs[g.inputs[0]!]!.name} and ${kindName(symbol.type)} in ${input.name}`);
      }
      if (g.type === SymbolType.NoType) g.type = symbol.type;
      g.hidden ||= hidden;
      if (!defined) {
        // A reference: weak only while every reference (and no definition) is weak.
        if (g.definition === undefined) g.weak &&= weak;
        continue;
      }
      if (g.definition === undefined) {
        g.definition = here;
        g.weak = weak;
        continue;
      }
      const a = inputs[other.input]!.name;
      const b = input.name;
      if (singleSections.has(sectionOf(other)) && sectionOf(other) === sectionOf(here)) {
        // `char _license[] SEC("license")` in every input: one section, one symbol (the
        // linker has checked the contents are the same).
        g.losers.push(here);
        continue;
      }
      if (!g.weak && !weak) {
        throw new LinkError(symbol.name, [a, b], `symbol ${symbol.name} is defined in ${a} and in ${b}, and neither definition is __weak`);
      }
      if (symbol.type === SymbolType.Object && other.symbol.size !== symbol.size) {
        throw new LinkError(symbol.name, [a, b], `symbol ${symbol.name} is ${other.symbol.size} bytes in ${a} and ${symbol.size} bytes in ${b}`);
      }
      if (symbol.type === SymbolType.Object && sectionOf(other) !== sectionOf(here)) {
        throw new LinkError(symbol.name, [a, b], `symbol ${symbol.name} is in section ${sectionOf(other)} in ${a} and in ${sectionOf(here)} in ${b}`);
      }
      if (g.weak && !weak) {
        // A strong definition beats the weak one seen first.
        g.losers.push(g.definition);
        g.definition = here;
        g.weak = false;
      } else {
        g.losers.push(here); // the first weak one stays
      }
    }
  });
  return out;
}
