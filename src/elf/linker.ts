/**
 * Static linking of BPF objects, what libbpf's `bpf_linker` does for `bpftool gen object OUT
 * IN...`: one relocatable object from several, which the ELF reader then reads like any other.
 *
 * - Sections of one name are concatenated in input order, each input's part at its alignment
 *   (code, global data, `maps`, `.maps`, other allocated sections), except `license` and
 *   `version`, which the inputs must agree on and which are kept once; `.BTF` and
 *   `.BTF.ext` are rebuilt (link-btf.ts); debug info and the address-significance table are
 *   left out, as libbpf leaves them.
 * - Global symbols resolve by the weak/strong/hidden rules (link-symbols.ts); local ones are
 *   kept with their input's `STT_FILE` before them, so a static name stays per input.
 * - Relocations move with their section. Those against a section symbol carry the offset in
 *   the patched field (`SHT_REL`), which grows by where the target's part landed: the
 *   `ld_imm64` immediate in bytes, a call's immediate in instructions, a data word in bytes.
 *
 * Every input must have one byte order; either order links.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { parseBTFExt, type BTFExt } from '../btf/ext.js';
import { parseSpec, type Spec } from '../btf/spec.js';
import { ArgumentError, BpfError, ParseError } from '../errors.js';
import { dataView } from '../internal/bytes.js';
import { classifySection, type SectionKind } from './classify.js';
import { RelocationType, SectionFlag, SectionType, SHN_ABS, SHN_UNDEF, SymbolBind, SymbolType, SymbolVisibility } from './constants.js';
import { readELF, symbolName, type ELFFile, type ELFSection } from './file.js';
import { mergeBTF, type BTFInput } from './link-btf.js';
import { LinkError, resolveGlobals, singleSections } from './link-symbols.js';
import { alignUp, writeELF, type OutputRelocation, type OutputSection, type OutputSymbol } from './writer.js';

/** One object to link: its bytes, and the name messages give it. */
export interface LinkObjectInput {
  /** How errors name it (a file name); default `input N`. */
  readonly name?: string;
  /** The object's bytes. */
  readonly bytes: Uint8Array;
}

interface Input {
  readonly name: string;
  readonly file: ELFFile;
  readonly kinds: readonly SectionKind[];
  readonly btf: Spec | undefined;
  readonly ext: BTFExt | undefined;
}

/** An output section and the input sections it is made of. */
interface Planned {
  readonly name: string;
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  align: number;
  size: number;
  readonly parts: { input: number; section: ELFSection; offset: number }[];
}

/** Runs `f`, naming `input` in any ParseError it throws (and turning stray exceptions into one). */
function within<T>(input: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ParseError) {
      const message = e.offset === undefined ? e.message : e.message.replace(/ \(at offset \d+\)$/, '');
      throw new ParseError(`${input}: ${message}`, e.offset);
    }
    if (e instanceof RangeError || e instanceof TypeError) throw new ParseError(`${input}: malformed object: ${e.message}`);
    throw e;
  }
}

function readInput(name: string, bytes: Uint8Array): Input {
  return within(name, () => {
    const file = readELF(bytes);
    void file.symbols; // read now, so a malformed table is reported for this input
    const kinds = file.sections.map(classifySection);
    const btfSection = file.section('.BTF');
    let btf: Spec | undefined;
    if (btfSection !== undefined) {
      btf = parseSpec(btfSection.data.slice());
      if (btf.byteOrder !== file.byteOrder) throw new ParseError(`.BTF is ${btf.byteOrder}-endian in a ${file.byteOrder}-endian object`, btfSection.offset);
    }
    const extSection = file.section('.BTF.ext');
    const ext = btf === undefined || extSection === undefined ? undefined : parseBTFExt(extSection.data, btf);
    return { name, file, kinds, btf, ext };
  });
}

/** Sections that go into the output as bytes. */
function carried(kind: SectionKind, section: ELFSection): boolean {
  if (section.size === 0) return false;
  switch (kind) {
    case 'program':
    case 'text':
    case 'license':
    case 'version':
    case 'maps':
    case 'btf-maps':
    case 'rodata':
    case 'data':
    case 'bss':
    case 'arena':
    case 'struct-ops':
      return true;
    case 'other':
      // A custom allocated section (`SEC(".custom")` data the loader does not know): kept, as
      // libbpf keeps it. Notes and the address-significance table are not allocated.
      return (section.flags & SectionFlag.Alloc) !== 0 && (section.type === SectionType.ProgBits || section.type === SectionType.NoBits);
    default:
      return false;
  }
}


/** Adds `delta` (bytes) to the addend a REL relocation of `type` keeps in `data` at `at`. */
function moveAddend(data: Uint8Array, at: number, type: number, delta: number, byteOrder: ByteOrder, where: string): void {
  const view = dataView(data);
  const le = byteOrder === 'little';
  switch (type) {
    case RelocationType.R_BPF_64_64:
      // The first slot's imm of an ld_imm64 (a byte offset into the symbol's section).
      view.setInt32(at + 4, view.getInt32(at + 4, le) + delta, le);
      return;
    case RelocationType.R_BPF_64_32:
      // A call's imm counts instructions from the symbol.
      view.setInt32(at + 4, view.getInt32(at + 4, le) + delta / 8, le);
      return;
    case RelocationType.R_BPF_64_ABS64:
      view.setBigUint64(at, BigInt.asUintN(64, view.getBigUint64(at, le) + BigInt(delta)), le);
      return;
    case RelocationType.R_BPF_64_ABS32:
    case RelocationType.R_BPF_64_NODYLD32:
      view.setUint32(at, (view.getUint32(at, le) + delta) >>> 0, le);
      return;
    default:
      throw new ParseError(`${where}: relocation type ${RelocationType[type] ?? type} cannot be linked`);
  }
}

/**
 * Links BPF objects into one (the bytes of an ELF relocatable object), as
 * `bpftool gen object` does.
 *
 * @example
 * ```ts
 * const out = linkELF([{ name: 'a.o', bytes: readFileSync('a.o') }, { name: 'b.o', bytes: readFileSync('b.o') }]);
 * writeFileSync('out.o', out);
 * ```
 *
 * @throws {@link LinkError} when the inputs conflict (two strong definitions of a symbol, a
 * function and a variable of one name, definitions of different sizes or sections, objects of
 * different byte orders, an extern map nobody defines), naming the symbol and the inputs.
 * @throws {@link ParseError} for a malformed input, naming it.
 * @throws {@link ArgumentError} for no inputs.
 */
export function linkELF(inputs: readonly (Uint8Array | LinkObjectInput)[]): Uint8Array {
  if (inputs.length === 0) throw new ArgumentError('linking needs at least one object');
  const named = inputs.map((x, i) => (x instanceof Uint8Array ? { name: `input ${i + 1}`, bytes: x } : { name: x.name ?? `input ${i + 1}`, bytes: x.bytes }));
  const parsed = named.map((x) => readInput(x.name, x.bytes));
  const byteOrder = parsed[0]!.file.byteOrder;
  for (const p of parsed) {
    if (p.file.byteOrder !== byteOrder) throw new LinkError('', [parsed[0]!.name, p.name], `${parsed[0]!.name} is ${byteOrder}-endian and ${p.name} ${p.file.byteOrder}-endian`);
  }
  try {
    return link(parsed, byteOrder);
  } catch (e) {
    if (e instanceof BpfError) throw e;
    if (e instanceof RangeError || e instanceof TypeError) throw new ParseError(`malformed input: ${e.message}`);
    throw e;
  }
}

function link(inputs: readonly Input[], byteOrder: ByteOrder): Uint8Array {
  // --- sections ------------------------------------------------------------------------------
  const planned = new Map<string, Planned>();
  /** Input → section index → [output section, offset in it]. */
  const placed = inputs.map(() => new Map<number, { out: Planned; offset: number }>());
  inputs.forEach((input, i) => {
    for (const section of input.file.sections) {
      if (!carried(input.kinds[section.index]!, section)) continue;
      let out = planned.get(section.name);
      if (out === undefined) {
        out = { name: section.name, index: planned.size + 1, type: section.type, flags: section.flags, align: 1, size: 0, parts: [] };
        planned.set(section.name, out);
      }
      const first = inputs[out.parts[0]?.input ?? i]!.name;
      if (out.type !== section.type || (out.flags & SectionFlag.ExecInstr) !== (section.flags & SectionFlag.ExecInstr)) {
        throw new LinkError(section.name, [first, input.name], `section ${section.name} holds ${out.flags & SectionFlag.ExecInstr ? 'code' : 'data'} in ${first} but not in ${input.name}`);
      }
      if (singleSections.has(section.name) && out.parts.length > 0) {
        // One license and one kernel version per object: the inputs must agree on them.
        const known = out.parts[0]!.section.data;
        if (known.length !== section.data.length || known.some((b, k) => b !== section.data[k])) {
          const text = (d: Uint8Array): string => (section.name === 'license' ? JSON.stringify(new TextDecoder().decode(d.subarray(0, Math.max(0, d.indexOf(0)) || d.length))) : `0x${Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('')}`);
          throw new LinkError(section.name, [first, input.name], `section ${section.name} differs: ${text(known)} in ${first}, ${text(section.data)} in ${input.name}`);
        }
        placed[i]!.set(section.index, { out, offset: 0 });
        continue;
      }
      // Each part starts at the alignment of the whole section so far, as libbpf places it
      // (so both linkers give the same offsets).
      out.align = Math.max(out.align, section.align);
      const offset = alignUp(out.size, out.align);
      out.size = offset + section.size;
      out.parts.push({ input: i, section, offset });
      placed[i]!.set(section.index, { out, offset });
    }
  });
  const sections = [...planned.values()];
  const contents = sections.map((s) => {
    if (s.type === SectionType.NoBits) return new Uint8Array(0);
    const data = new Uint8Array(s.size);
    for (const p of s.parts) data.set(p.section.data, p.offset);
    return data;
  });

  // --- symbols -------------------------------------------------------------------------------
  const globals = resolveGlobals(inputs);
  const symbols: OutputSymbol[] = [];
  const sectionSymbol = new Map<Planned, number>();
  for (const s of sections) {
    symbols.push({ name: '', value: 0, size: 0, type: SymbolType.Section, bind: SymbolBind.Local, visibility: 0, section: s.index });
    sectionSymbol.set(s, symbols.length);
  }
  const locals = inputs.map(() => new Map<number, number>());
  inputs.forEach((input, i) => {
    for (const sym of input.file.symbols) {
      if (sym.index === 0 || sym.bind !== SymbolBind.Local) continue;
      if (sym.type === SymbolType.File) {
        symbols.push({ name: sym.name, value: 0, size: 0, type: SymbolType.File, bind: SymbolBind.Local, visibility: 0, section: SHN_ABS });
        continue;
      }
      const where = placed[i]!.get(sym.sectionIndex);
      if (where === undefined) continue; // in a section the output leaves out (debug info)
      if (sym.type === SymbolType.Section) {
        locals[i]!.set(sym.index, sectionSymbol.get(where.out)!);
        continue;
      }
      symbols.push({ name: sym.name, value: sym.value + where.offset, size: sym.size, type: sym.type, bind: SymbolBind.Local, visibility: sym.visibility, section: where.out.index });
      locals[i]!.set(sym.index, symbols.length);
    }
  });
  const globalIndex = new Map<string, number>();
  for (const g of globals.values()) {
    const def = g.definition;
    let section = SHN_UNDEF;
    let value = 0;
    if (def !== undefined) {
      const where = placed[def.input]!.get(def.symbol.sectionIndex);
      if (where === undefined) {
        throw new LinkError(g.name, [inputs[def.input]!.name], `${inputs[def.input]!.name} defines ${g.name} in section ${inputs[def.input]!.file.sections[def.symbol.sectionIndex]?.name ?? def.symbol.sectionIndex}, which holds nothing to link`);
      }
      section = where.out.index;
      value = def.symbol.value + where.offset;
    }
    symbols.push({
      name: g.name,
      value,
      size: def?.symbol.size ?? 0,
      type: g.type,
      bind: g.weak ? SymbolBind.Weak : SymbolBind.Global,
      visibility: g.hidden ? SymbolVisibility.Hidden : SymbolVisibility.Default,
      section,
    });
    globalIndex.set(g.name, symbols.length);
  }

  // --- relocations ---------------------------------------------------------------------------
  const relocations = new Map<number, OutputRelocation[]>();
  inputs.forEach((input, i) => {
    for (const [index, where] of placed[i]!) {
      if (singleSections.has(where.out.name) && where.out.parts[0]!.input !== i) continue;
      const data = contents[where.out.index - 1]!;
      for (const rel of input.file.relocations(index)) {
        const what = `${input.name}: relocation at offset ${rel.offset} of ${where.out.name} (symbol ${symbolName(input.file, rel.symbol)})`;
        if (rel.addend !== undefined) throw new ParseError(`${what}: RELA relocations are not supported (BPF compilers write SHT_REL)`);
        const sym = rel.symbol;
        let target: number | undefined;
        if (sym.index === 0) throw new ParseError(`${what}: refers to no symbol`);
        if (sym.bind !== SymbolBind.Local) {
          target = globalIndex.get(sym.name);
        } else {
          target = locals[i]!.get(sym.index);
          if (sym.type === SymbolType.Section && target !== undefined) {
            // The addend counted from the input section's start; it now starts further in.
            const shift = placed[i]!.get(sym.sectionIndex)!.offset;
            if (shift !== 0) moveAddend(data, where.offset + rel.offset, rel.type, shift, input.file.byteOrder, what);
          }
        }
        if (target === undefined) throw new ParseError(`${what}: the symbol is in a section the output leaves out`);
        const list = relocations.get(where.out.index) ?? [];
        relocations.set(where.out.index, list);
        list.push({ offset: where.offset + rel.offset, type: rel.type, symbol: target });
      }
    }
  });
  for (const list of relocations.values()) list.sort((a, b) => a.offset - b.offset);

  // --- BTF -----------------------------------------------------------------------------------
  const btfInputs: BTFInput[] = inputs.map((input, i) => ({
    name: input.name,
    file: input.file,
    btf: input.btf,
    ext: input.ext,
    offsets: new Map([...placed[i]!].map(([index, w]) => [input.file.sections[index]!.name, w.offset] as const)),
  }));
  const { btf, ext } = mergeBTF(btfInputs, {
    byteOrder,
    sections: new Map(sections.map((s) => [s.name, s.size])),
    won: (input, name) => globals.get(name)?.definition?.input === input,
    defined: (name) => globals.get(name)?.definition !== undefined,
  });

  const out: OutputSection[] = sections.map((s, k) => ({ name: s.name, type: s.type, flags: s.flags, data: contents[k]!, size: s.size, align: s.align }));
  if (btf !== undefined) out.push({ name: '.BTF', type: SectionType.ProgBits, flags: 0, data: btf, align: 4 });
  if (ext !== undefined) out.push({ name: '.BTF.ext', type: SectionType.ProgBits, flags: 0, data: ext, align: 4 });
  return writeELF({ byteOrder, sections: out, symbols, relocations });
}
