/**
 * `.BTF` and `.BTF.ext` of a static link. The output BTF holds every type of every input
 * (renumbered; nothing is deduplicated — the kernel does not mind repeats, and each input's
 * records keep pointing at the types they were written for) except the DATASECs, which are
 * rebuilt one per output section: the variables of each input at their place in the merged
 * section, without the definitions that lost the link and without the externs a definition
 * satisfied. `.kconfig` and `.ksyms`, which describe externs rather than sections, are merged
 * by name. `.BTF.ext` records move with their code: offsets by where the input's section landed,
 * type ids to the merged ids, strings re-entered in the output's string table.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import type { BTFExt, CORERelocation, ExtSections, FuncInfo, LineInfo } from '../btf/ext.js';
import { marshalBTFExt } from '../btf/ext-write.js';
import { marshalSpec } from '../btf/marshal.js';
import { Spec } from '../btf/spec.js';
import { StringTableBuilder } from '../btf/strings.js';
import { Datasec, Var, VarLinkage, VarSecinfo, type Type } from '../btf/types.js';
import { datasecVarOffsets } from './maps.js';
import type { ELFFile } from './file.js';
import { LinkError } from './link-symbols.js';

/** One input's BTF and where its sections went. */
export interface BTFInput {
  /** How messages name the input. */
  readonly name: string;
  /** The input's ELF tables (global variable offsets come from its symbols). */
  readonly file: ELFFile;
  /** Its `.BTF`, parsed for this link (the merged spec takes its type objects). */
  readonly btf: Spec | undefined;
  /** Its `.BTF.ext`, parsed. */
  readonly ext: BTFExt | undefined;
  /** Output byte offset of each of its carried sections, by section name. */
  readonly offsets: ReadonlyMap<string, number>;
}

/** What the merge needs to know about the link's symbols. */
export interface BTFLinkFacts {
  /** Byte order of the output. */
  readonly byteOrder: ByteOrder;
  /** Output sections by name, with their sizes, in output order. */
  readonly sections: ReadonlyMap<string, number>;
  /**
   * For a global variable or map named `name` that input `input` defines: true when that
   * definition won the link (false for a weak one that lost).
   */
  readonly won: (input: number, name: string) => boolean;
  /** True when some input defines `name` (an extern of that name is satisfied). */
  readonly defined: (name: string) => boolean;
}

/** DATASECs that list externs, not the variables of a section. */
const externSections = new Set(['.kconfig', '.ksyms']);

/**
 * Merges the inputs' BTF. Returns the `.BTF` and `.BTF.ext` section contents, or undefined
 * for each when no input has any.
 *
 * @example
 * ```ts
 * const { btf, ext } = mergeBTF(inputs, { byteOrder: 'little', sections, won, defined });
 * ```
 *
 * @throws {@link LinkError} for an extern map or variable in a section that no input defines.
 */
export function mergeBTF(inputs: readonly BTFInput[], facts: BTFLinkFacts): { btf: Uint8Array | undefined; ext: Uint8Array | undefined } {
  if (inputs.every((i) => i.btf === undefined)) return { btf: undefined, ext: undefined };
  const merged = new Spec({ byteOrder: facts.byteOrder });
  const datasecs = new Map<string, VarSecinfo[]>();
  const externVars = new Map<string, Map<string, VarSecinfo>>();

  inputs.forEach((input, i) => {
    const spec = input.btf;
    if (spec === undefined) return;
    for (let id = 1; id < spec.typeCount; id++) {
      const t: Type = spec.typeById(id);
      if (!(t instanceof Datasec)) {
        merged.add(t);
        continue;
      }
      if (externSections.has(t.name)) {
        const byName = externVars.get(t.name) ?? new Map<string, VarSecinfo>();
        externVars.set(t.name, byName);
        // One declaration per name, the first input's (they describe the same kernel symbol).
        for (const v of t.vars) if (!byName.has(v.type.name)) byName.set(v.type.name, new VarSecinfo(v.type, v.offset, v.size));
        continue;
      }
      const base = input.offsets.get(t.name);
      if (base === undefined) continue; // a section the output does not carry
      const vars = datasecs.get(t.name) ?? [];
      datasecs.set(t.name, vars);
      const section = input.file.section(t.name);
      const offsetOf = datasecVarOffsets(section === undefined ? [] : input.file.symbolsIn(section.index));
      for (const v of t.vars) {
        const variable = v.type;
        if (variable instanceof Var && variable.linkage === VarLinkage.Extern) {
          // `extern struct {...} m SEC(".maps")`: the definition's entry stands for it.
          if (!facts.defined(variable.name)) {
            throw new LinkError(variable.name, [input.name], `${input.name} declares ${variable.name} extern in section ${t.name}, and no input defines it`);
          }
          continue;
        }
        if (variable instanceof Var && variable.linkage === VarLinkage.Global) {
          if (!facts.won(i, variable.name)) continue; // a weak definition that lost
          vars.push(new VarSecinfo(variable, base + offsetOf(v), v.size));
          continue;
        }
        vars.push(new VarSecinfo(variable, base + v.offset, v.size));
      }
    }
  });

  for (const [name, size] of facts.sections) {
    const vars = datasecs.get(name);
    if (vars === undefined) continue;
    vars.sort((a, b) => a.offset - b.offset);
    merged.add(new Datasec(name, size, vars));
  }
  for (const [name, byName] of externVars) {
    // Externs another input defines are no longer externs.
    const vars = [...byName.values()].filter((v) => !facts.defined(v.type.name));
    if (vars.length > 0) merged.add(new Datasec(name, 0, vars));
  }

  // Records follow their code; their type ids follow the types.
  const ext = { funcInfos: new Map() as ExtSections<FuncInfo>, lineInfos: new Map() as ExtSections<LineInfo>, coreRelocations: new Map() as ExtSections<CORERelocation> };
  const strings = new Set<string>();
  inputs.forEach((input) => {
    if (input.ext === undefined || input.btf === undefined) return;
    const spec = input.btf;
    const id = (typeId: number): number => (typeId === 0 ? 0 : merged.typeId(spec.typeById(typeId)));
    const move = <T extends { insnOffset: number }>(from: ExtSections<T>, to: ExtSections<T>, edit: (r: T) => T): void => {
      for (const [section, records] of from) {
        const base = input.offsets.get(section);
        if (base === undefined) continue;
        strings.add(section);
        const list = to.get(section) ?? [];
        to.set(section, list);
        for (const r of records) list.push({ ...edit(r), insnOffset: r.insnOffset + base });
      }
    };
    move(input.ext.funcInfos, ext.funcInfos, (r) => ({ ...r, typeId: id(r.typeId) }));
    move(input.ext.lineInfos, ext.lineInfos, (r) => {
      strings.add(r.fileName);
      strings.add(r.line);
      return r;
    });
    move(input.ext.coreRelocations, ext.coreRelocations, (r) => {
      strings.add(r.accessor);
      return { ...r, typeId: id(r.typeId) };
    });
  });
  // Output order: the order of the sections in the output.
  const order = [...facts.sections.keys()];
  const sorted = <T extends { insnOffset: number }>(m: ExtSections<T>): ExtSections<T> =>
    new Map(order.filter((s) => m.has(s)).map((s) => [s, m.get(s)!.sort((a, b) => a.insnOffset - b.insnOffset)]));
  const records = { funcInfos: sorted(ext.funcInfos), lineInfos: sorted(ext.lineInfos), coreRelocations: sorted(ext.coreRelocations) };

  // The .BTF.ext strings go into .BTF's table, which the records' offsets point into.
  const table = new StringTableBuilder();
  for (const s of strings) table.add(s);
  const blob = marshalSpec(merged, { byteOrder: facts.byteOrder, strings: table });
  const offsetOf = (s: string): number => table.add(s);
  const hasRecords = [records.funcInfos, records.lineInfos, records.coreRelocations].some((m) => m.size > 0);
  return { btf: blob, ext: hasRecords ? marshalBTFExt(records, { byteOrder: facts.byteOrder, stringOffset: offsetOf }) : undefined };
}
