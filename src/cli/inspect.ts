/**
 * `ebpf-ts inspect <file.o>`: what a BPF object contains, without loading it — sections,
 * programs, maps, global variables, BTF, ELF relocations and CO-RE relocations. The JSON
 * form is built first and the tables are rendered from it, so both always agree.
 *
 * @module
 */
import { coreKindName, type COREKind } from '../btf/core-kind.js';
import { describe, formatAccess, parseAccess } from '../btf/core-access.js';
import { decodeValue } from '../btf/decode.js';
import { formatTypeName } from '../btf/format.js';
import type { Spec } from '../btf/spec.js';
import { Datasec, type Type } from '../btf/types.js';
import { RelocationType, SectionType } from '../elf/constants.js';
import { symbolName } from '../elf/file.js';
import { BPF_F_SLEEPABLE } from '../elf/section-names.js';
import type { ObjectContents } from '../elf/reader.js';
import type { ELFMapSpec } from '../elf/specs.js';
import { PinType } from '../map-spec.js';
import { AttachType, mapTypeName, ProgramType, programTypeName } from '../types.js';
import type { ParsedArgs } from './args.js';
import { readObjectFile } from './object.js';
import { toJSON, type CLIContext } from './output.js';
import { formatSection, formatTable, hex } from './table.js';

const sectionTypeNames = new Map<number, string>([
  ...Object.entries(SectionType).map(([k, v]) => [v, k.toUpperCase()] as const),
  // SHT_LLVM_ADDRSIG: every clang object has one (address-significance table for the linker).
  [0x6fff4c03, 'LLVM_ADDRSIG'],
]);

/** The attach type's enum name, or `null` when the program type has none (0 is ambiguous). */
function attachTypeName(programType: ProgramType, attachType: AttachType | undefined): string | null {
  if (attachType === undefined) return null;
  // 0 is both "none" and BPF_CGROUP_INET_INGRESS; only cgroup_skb programs mean the latter.
  if (attachType === 0 && programType !== ProgramType.CgroupSKB) return null;
  return AttachType[attachType] ?? `attach type ${attachType}`;
}

function typeName(t: unknown): string | null {
  if (t === undefined || t === null) return null;
  // Global data maps have their section's DATASEC as value type; C has no name for that.
  if (t instanceof Datasec) return `datasec ${t.name}`;
  try {
    return formatTypeName(t as Type);
  } catch {
    return String(t);
  }
}

function mapJSON(m: ELFMapSpec): Record<string, unknown> {
  return {
    name: m.name,
    section: m.sectionName,
    type: mapTypeName(m.type),
    keySize: m.keySize,
    valueSize: m.valueSize,
    key: typeName(m.key),
    value: typeName(m.value),
    maxEntries: m.maxEntries ?? 0,
    flags: m.flags ?? 0,
    pinning: m.pinning === PinType.ByName ? 'by_name' : 'none',
    innerMap: m.innerMap === undefined ? null : mapJSON(m.innerMap as ELFMapSpec),
  };
}

function variableValue(contents: ObjectContents, name: string): unknown {
  const v = contents.variables.find((x) => x.name === name)!;
  // .bss has no bytes in the file (all zero) and .kconfig is filled in at load time; arena
  // globals (.addr_space.1) have their initial bytes in the file.
  if (!/^\.(rodata|data|addr_space)(\.|$)/.test(v.sectionName)) return null;
  try {
    if (v.type !== undefined) return decodeValue(v.type, v.bytes, { byteOrder: v.byteOrder, charArraysAsStrings: true });
  } catch {
    // A type the decoder does not handle: fall back to the raw bytes.
  }
  const value = v.value;
  return value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
}

function btfSummary(btf: Spec): Record<string, unknown> {
  const kinds: Record<string, number> = {};
  let count = 0;
  for (const t of btf.types()) {
    kinds[t.kindName] = (kinds[t.kindName] ?? 0) + 1;
    count++;
  }
  return { typeCount: count, kinds };
}

function coreDescription(btf: Spec | undefined, typeId: number, accessor: string, kind: COREKind): { type: string | null; description: string } {
  if (btf === undefined) return { type: null, description: accessor };
  let root: Type | undefined;
  try {
    root = btf.typeById(typeId);
    return { type: describe(root), description: formatAccess(parseAccess(btf, typeId, accessor, kind)) };
  } catch (e) {
    // A record the parser rejects is still worth listing; say why it could not be described.
    return { type: root === undefined ? null : describe(root), description: `${accessor} (${(e as Error).message})` };
  }
}

/** Everything `inspect` reports, as plain data (the `--json` output). */
export function inspectObject(path: string, contents: ObjectContents): Record<string, unknown> {
  const { file, kinds, btf } = contents;
  const sections = file.sections.slice(1).map((s) => ({
    index: s.index,
    name: s.name,
    kind: kinds[s.index]!,
    type: sectionTypeNames.get(s.type) ?? `0x${s.type.toString(16)}`,
    size: s.size,
    flags: s.flags,
  }));
  const programs = [...contents.programs.values()].map((p) => ({
    name: p.name,
    section: p.sectionName,
    type: programTypeName(p.type),
    attachType: attachTypeName(p.type, p.attachType),
    attachTo: p.attachTo ?? null,
    instructions: p.instructions.length,
    bytes: p.instructions.reduce((n, i) => n + i.byteLength, 0),
    license: p.license,
    autoload: p.autoload,
    sleepable: ((p.flags ?? 0) & BPF_F_SLEEPABLE) !== 0,
  }));
  const maps = [...contents.maps.values()].map(mapJSON);
  const variables = contents.variables.map((v) => ({
    name: v.name,
    section: v.sectionName,
    offset: v.offset,
    size: v.size,
    type: typeName(v.type),
    value: variableValue(contents, v.name),
  }));
  const targets = new Set<number>();
  for (const s of file.sections) if (s.type === SectionType.Rel || s.type === SectionType.Rela) targets.add(s.info);
  const relocations = [...targets]
    .sort((a, b) => a - b)
    .map((index) => {
      const target = file.sections[index];
      const entries = file.relocations(index).map((r) => ({
        offset: r.offset,
        symbol: symbolName(file, r.symbol),
        type: RelocationType[r.type] ?? `type ${r.type}`,
      }));
      return { section: target?.name ?? `section ${index}`, sectionKind: kinds[index] ?? 'other', count: entries.length, entries };
    });
  const coreRelocations = [...contents.programs.values()]
    .filter((p) => (p.coreRelocations?.length ?? 0) > 0)
    .map((p) => ({
      program: p.name,
      relocations: p.coreRelocations!.map((r) => ({
        instruction: r.insnOffset / 8,
        kind: coreKindName(r.kind) ?? `kind ${r.kind}`,
        typeId: r.typeId,
        accessor: r.accessor,
        ...coreDescription(btf, r.typeId, r.accessor, r.kind),
      })),
    }));
  const externs = [...contents.externs.values()].map((e) => ({ name: e.name, kind: e.kind, weak: e.weak }));
  return {
    file: path,
    byteOrder: contents.byteOrder,
    license: contents.license,
    kernelVersion: contents.kernelVersion ?? null,
    sections,
    programs,
    maps,
    variables,
    externs,
    btf: btf === undefined ? null : btfSummary(btf),
    relocations,
    coreRelocations,
  };
}

type Row = Record<string, unknown>;
/** Section kinds whose relocations a loader acts on; the others are only counted in text. */
const loaderKinds = new Set(['program', 'text', 'maps', 'btf-maps', 'rodata', 'data', 'struct-ops']);
/** Variable values: strings quoted so that `"7"` and `7` differ. */
const valueText = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : s(v));
const s = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'object' ? toJSON(v).replace(/\s*\n\s*/g, ' ').trim() : String(v));
const clip = (text: string, max = 60): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

/** The human-readable form of {@link inspectObject}'s result. */
export function renderInspect(r: Row): string {
  let out = `${String(r.file)}: ${String(r.byteOrder)}-endian BPF object, license ${JSON.stringify(r.license)}${r.kernelVersion === null ? '' : `, kernel version ${hex(r.kernelVersion as number)}`}\n\n`;
  const sections = r.sections as Row[];
  out += formatSection(
    `Sections (${sections.length})`,
    formatTable(
      [{ title: 'IDX', right: true }, { title: 'NAME' }, { title: 'KIND' }, { title: 'TYPE' }, { title: 'SIZE', right: true }],
      sections.map((x) => [s(x.index), s(x.name), s(x.kind), s(x.type), s(x.size)]),
    ),
  );
  const programs = r.programs as Row[];
  out += formatSection(
    `Programs (${programs.length})`,
    formatTable(
      [{ title: 'NAME' }, { title: 'SECTION' }, { title: 'TYPE' }, { title: 'ATTACH TYPE' }, { title: 'ATTACH TO' }, { title: 'INSNS', right: true }, { title: 'LICENSE' }],
      programs.map((p) => [
        `${s(p.name)}${p.autoload === false ? ' (no autoload)' : ''}`,
        s(p.section),
        `${s(p.type)}${p.sleepable === true ? ' (sleepable)' : ''}`,
        s(p.attachType),
        s(p.attachTo),
        s(p.instructions),
        s(p.license),
      ]),
    ),
  );
  const maps = r.maps as Row[];
  out += formatSection(
    `Maps (${maps.length})`,
    formatTable(
      [{ title: 'NAME' }, { title: 'TYPE' }, { title: 'KEY' }, { title: 'VALUE' }, { title: 'MAX', right: true }, { title: 'FLAGS' }, { title: 'PINNING' }],
      maps.map((m) => [
        s(m.name),
        `${s(m.type)}${m.innerMap === null ? '' : ` of ${s((m.innerMap as Row).type)}`}`,
        m.key === null ? `${s(m.keySize)}B` : `${s(m.key)} (${s(m.keySize)}B)`,
        m.value === null ? `${s(m.valueSize)}B` : `${s(m.value)} (${s(m.valueSize)}B)`,
        s(m.maxEntries),
        hex(m.flags as number),
        s(m.pinning),
      ]),
    ),
  );
  const variables = r.variables as Row[];
  out += formatSection(
    `Variables (${variables.length})`,
    formatTable(
      [{ title: 'NAME' }, { title: 'SECTION' }, { title: 'OFFSET', right: true }, { title: 'SIZE', right: true }, { title: 'TYPE' }, { title: 'VALUE' }],
      variables.map((v) => [s(v.name), s(v.section), s(v.offset), s(v.size), s(v.type), clip(valueText(v.value))]),
    ),
  );
  const externs = r.externs as Row[];
  if (externs.length > 0) {
    out += formatSection(`Externs (${externs.length})`, formatTable([{ title: 'NAME' }, { title: 'KIND' }, { title: 'WEAK' }], externs.map((e) => [s(e.name), s(e.kind), e.weak === true ? 'yes' : 'no'])));
  }
  const btf = r.btf as Row | null;
  if (btf === null) out += 'BTF: none (compiled without -g)\n\n';
  else {
    const kinds = Object.entries(btf.kinds as Record<string, number>).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    out += formatSection(`BTF (${s(btf.typeCount)} types)`, formatTable([{ title: 'KIND' }, { title: 'COUNT', right: true }], kinds.map(([k, n]) => [k, String(n)])));
  }
  const relocations = r.relocations as Row[];
  let relocationText = '';
  for (const group of relocations) {
    const plural = group.count === 1 ? '' : 's';
    // Debug info and BTF relocations are for linkers and debuggers, and there are hundreds.
    if (!loaderKinds.has(String(group.sectionKind))) {
      relocationText += `${s(group.section)}: ${s(group.count)} relocation${plural} (${s(group.sectionKind)}; listed with --json)\n`;
      continue;
    }
    relocationText += `${s(group.section)}: ${s(group.count)} relocation${plural}\n`;
    relocationText += formatTable(
      [{ title: 'OFFSET', right: true }, { title: 'TYPE' }, { title: 'SYMBOL' }],
      (group.entries as Row[]).map((e) => [hex(e.offset as number), s(e.type), s(e.symbol)]),
    ).replace(/^(?=.)/gm, '  ');
  }
  out += formatSection('Relocations', relocationText === '' ? '(none)\n' : relocationText);
  const core = r.coreRelocations as Row[];
  let coreText = '';
  for (const group of core) {
    const list = group.relocations as Row[];
    coreText += `${s(group.program)}: ${list.length} CO-RE relocation${list.length === 1 ? '' : 's'}\n`;
    coreText += formatTable(
      [{ title: 'INSN', right: true }, { title: 'KIND' }, { title: 'ACCESS' }],
      list.map((x) => [s(x.instruction), s(x.kind), s(x.description)]),
    ).replace(/^(?=.)/gm, '  ');
  }
  out += formatSection('CO-RE relocations', coreText === '' ? '(none)\n' : coreText);
  return out.replace(/\n\n$/, '\n');
}

/** Runs `ebpf-ts inspect` (its help text and options are in commands.ts). */
export async function runInspect(args: ParsedArgs, ctx: CLIContext): Promise<void> {
  const path = args.positionals['file.o']!;
  const result = inspectObject(path, await readObjectFile(path));
  ctx.out(args.options.json === true ? toJSON(result) : renderInspect(result));
}
