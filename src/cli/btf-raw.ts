/**
 * The `raw` format of `btf dump`: one line per type in ID order, then one indented line per
 * member, parameter, enumerator or section variable — the layout `bpftool btf dump` prints,
 * so the two can be diffed. Types refer to each other by ID, as the encoded BTF does.
 *
 * @module
 */
import type { Spec } from '../btf/spec.js';
import {
  Array as ArrayType,
  Composite,
  Datasec,
  DeclTag,
  Enum,
  Enum64,
  Float,
  Func,
  FuncLinkage,
  FuncProto,
  Fwd,
  Int,
  IntEncoding,
  Kind,
  Var,
  VarLinkage,
  type Type,
} from '../btf/types.js';

const quoted = (name: string): string => `'${name === '' ? '(anon)' : name}'`;

// bpftool prints one encoding only; a BTF producer never combines these bits.
function intEncoding(encoding: number): string {
  if (encoding === 0) return '(none)';
  if (encoding & IntEncoding.Signed) return 'SIGNED';
  if (encoding & IntEncoding.Char) return 'CHAR';
  if (encoding & IntEncoding.Bool) return 'BOOL';
  return 'UNKN';
}

function funcLinkage(linkage: number): string {
  return linkage === FuncLinkage.Static ? 'static' : linkage === FuncLinkage.Global ? 'global' : linkage === FuncLinkage.Extern ? 'extern' : '(unknown)';
}

function varLinkage(linkage: number): string {
  return linkage === VarLinkage.Static ? 'static' : linkage === VarLinkage.Global ? 'global' : linkage === VarLinkage.Extern ? 'extern' : '(unknown)';
}

/** The kind as bpftool spells it (`FUNC_PROTO`, `PTR`). */
function kindLabel(t: Type): string {
  return t.kind === Kind.Pointer ? 'PTR' : t.kindName.toUpperCase();
}

/** One field of a raw record: `key=value` in the text form. */
export type RawField = readonly [key: string, value: string | number];

/** A type as `bpftool btf dump` describes it, before formatting. */
export interface RawTypeRecord {
  /** The type ID. */
  readonly id: number;
  /** The kind as bpftool spells it (`STRUCT`, `PTR`, `FUNC_PROTO`). */
  readonly kind: string;
  /** The name, `""` when anonymous. */
  readonly name: string;
  /** The facts of the header line, in bpftool's order. */
  readonly fields: readonly RawField[];
  /** Members, parameters, enumerators or section variables, one line each. */
  readonly items: readonly { readonly name?: string; readonly fields: readonly RawField[]; readonly note?: string }[];
}

/** Describes one type with its references as IDs. */
export function rawTypeRecord(spec: Spec, id: number, t: Type): RawTypeRecord {
  const ref = (x: Type): number => (x.kind === Kind.Void ? 0 : spec.typeId(x));
  const base = { id, kind: kindLabel(t), name: t.name };
  if (t instanceof Int) {
    return { ...base, fields: [['size', t.size], ['bits_offset', t.offset], ['nr_bits', t.bits], ['encoding', intEncoding(t.encoding)]], items: [] };
  }
  if (t instanceof ArrayType) return { ...base, fields: [['type_id', ref(t.type)], ['index_type_id', ref(t.index)], ['nr_elems', t.nelems]], items: [] };
  if (t instanceof Composite) {
    return {
      ...base,
      fields: [['size', t.size], ['vlen', t.members.length]],
      items: t.members.map((m) => ({
        name: m.name,
        fields: [['type_id', ref(m.type)], ['bits_offset', m.offset], ...(m.bitfieldSize > 0 ? [['bitfield_size', m.bitfieldSize] as const] : [])],
      })),
    };
  }
  if (t instanceof Enum) {
    // Values are stored as numbers; print them as the declared signedness reads them.
    return {
      ...base,
      fields: [['encoding', t.signed ? 'SIGNED' : 'UNSIGNED'], ['size', t.size], ['vlen', t.values.length]],
      items: t.values.map((v) => ({ name: v.name, fields: [['val', t.signed ? v.value | 0 : v.value >>> 0]] })),
    };
  }
  if (t instanceof Enum64) {
    return {
      ...base,
      fields: [['encoding', t.signed ? 'SIGNED' : 'UNSIGNED'], ['size', t.size], ['vlen', t.values.length]],
      items: t.values.map((v) => ({ name: v.name, fields: [['val', t.signed ? `${BigInt.asIntN(64, v.value)}LL` : `${BigInt.asUintN(64, v.value)}ULL`]] })),
    };
  }
  if (t instanceof Fwd) return { ...base, fields: [['fwd_kind', t.fwdKind]], items: [] };
  if (t instanceof Func) return { ...base, fields: [['type_id', ref(t.type)], ['linkage', funcLinkage(t.linkage)]], items: [] };
  if (t instanceof FuncProto) {
    const items: { name?: string; fields: RawField[] }[] = t.params.map((p) => ({ name: p.name, fields: [['type_id', ref(p.type)]] }));
    // A variadic prototype is encoded with a last, unnamed parameter of type void.
    if (t.variadic) items.push({ name: '', fields: [['type_id', 0]] });
    return { ...base, fields: [['ret_type_id', ref(t.return)], ['vlen', items.length]], items };
  }
  if (t instanceof Var) return { ...base, fields: [['type_id', ref(t.type)], ['linkage', varLinkage(t.linkage)]], items: [] };
  if (t instanceof Datasec) {
    return {
      ...base,
      fields: [['size', t.size], ['vlen', t.vars.length]],
      items: t.vars.map((v) => ({ fields: [['type_id', ref(v.type)], ['offset', v.offset], ['size', v.size]], note: `${kindLabel(v.type)} ${quoted(v.type.name)}` })),
    };
  }
  if (t instanceof Float) return { ...base, fields: [['size', t.size]], items: [] };
  if (t instanceof DeclTag) return { ...base, fields: [['type_id', ref(t.type)], ['component_idx', t.componentIndex]], items: [] };
  // Pointers, typedefs, qualifiers and type tags: one referenced type.
  const target = (t as { type?: Type }).type;
  return { ...base, fields: target === undefined ? [] : [['type_id', ref(target)]], items: [] };
}

/** The text lines of a record, as bpftool prints them. */
export function formatRawRecord(r: RawTypeRecord): string[] {
  const fields = (list: readonly RawField[]): string => list.map(([k, v]) => `${k}=${v}`).join(' ');
  // bpftool puts a comma after a VAR's type_id; keep it so the outputs diff clean.
  const head = `[${r.id}] ${r.kind} ${quoted(r.name)}${r.fields.length === 0 ? '' : ` ${fields(r.fields)}`}`;
  const lines = [r.kind === 'VAR' ? head.replace(/ (type_id=\d+) /, ' $1, ') : head];
  for (const item of r.items) {
    const parts = [item.name === undefined ? undefined : quoted(item.name), fields(item.fields), item.note === undefined ? undefined : `(${item.note})`];
    lines.push(`\t${parts.filter((p) => p !== undefined).join(' ')}`);
  }
  return lines;
}

/**
 * Every type of `spec` (not its base) in `bpftool btf dump` form, as chunks of lines, so a
 * caller can write a 100k-type kernel dump without building one giant string.
 */
export function* rawDump(spec: Spec): Generator<string> {
  let chunk: string[] = [];
  for (const [id, t] of spec.entries()) {
    chunk.push(...formatRawRecord(rawTypeRecord(spec, id, t)));
    if (chunk.length >= 4096) {
      yield chunk.join('\n') + '\n';
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk.join('\n') + '\n';
}
