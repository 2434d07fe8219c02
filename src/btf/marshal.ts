/**
 * Spec → BTF bytes. The encoder writes the layout the kernel and clang use (header, type
 * section, string section, no gaps) so an unmodified parsed spec comes back byte for byte:
 * it reuses the input's string table and header, appending only strings that are new.
 * Specs built in code get a fresh, deduplicated string table.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { btfHeaderSize, btfMagic, btfTypeSize, type ByteOrder } from './parse.js';
import type { Spec } from './spec.js';
import { StringTableBuilder } from './strings.js';
import {
  Array as ArrayType,
  Composite,
  Datasec,
  DeclTag,
  Enum,
  Enum64,
  Float,
  Func,
  FuncProto,
  Fwd,
  Int,
  Kind,
  Type,
  TypeTag,
  Var,
  children,
  type Referrer,
} from './types.js';
import { dataView } from '../internal/bytes.js';

/** Options of {@link marshalSpec}. */
export interface MarshalOptions {
  /** Byte order of the output; default: the spec's. */
  byteOrder?: ByteOrder;
  /**
   * The string table to write the names into, instead of one built from the spec's own: a
   * caller that adds strings of its own first (`.BTF.ext`'s file names and accessors) gets
   * them into the same table, and their offsets from it afterwards.
   */
  strings?: StringTableBuilder;
}

/**
 * Encodes a spec's own types (for split BTF: only the types after the base, with string
 * offsets continuing the base's table, as module BTF is laid out). Types referenced by the
 * spec's types but not part of it yet are added to the spec first. Throws
 * {@link ArgumentError} for values the format cannot hold (a vlen over 65535, a bitfield
 * offset over 2^24 bits).
 */
export function marshalSpec(spec: Spec, options: MarshalOptions = {}): Uint8Array {
  const le = (options.byteOrder ?? spec.byteOrder) === 'little';
  const first = spec.firstTypeId;
  // Collect own types, adding dangling references (the count grows while we walk).
  const types: Type[] = [];
  for (let id = first; id < spec.typeCount; id++) {
    const t = spec.typeById(id);
    for (const c of children(t)) if (!spec.has(c)) spec.add(c);
    types.push(t);
  }

  const raw = spec.raw;
  const strings = options.strings ?? new StringTableBuilder({ initial: raw?.strings, base: spec.base?.strings });
  let typeLength = 0;
  for (const t of types) typeLength += recordSize(t);
  const typeSection = new Uint8Array(typeLength);
  const view = dataView(typeSection);
  let at = 0;
  const u32 = (v: number): void => {
    view.setUint32(at, v >>> 0, le);
    at += 4;
  };
  const id = (t: Type): number => spec.typeId(t);
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    u32(strings.add(t.name));
    const { vlen, kindFlag } = vlenAndFlag(t, first + i);
    u32(((kindFlag ? 1 : 0) << 31) | (t.kind << 24) | vlen);
    switch (t.kind) {
      case Kind.Int: {
        const int = t as Int;
        u32(int.size);
        u32(((int.encoding & 0x0f) << 24) | ((int.offset & 0xff) << 16) | (int.bits & 0xff));
        break;
      }
      case Kind.Pointer:
      case Kind.Typedef:
      case Kind.Volatile:
      case Kind.Const:
      case Kind.Restrict:
      case Kind.Func:
      case Kind.TypeTag:
        u32(id((t as unknown as Referrer).type));
        break;
      case Kind.Array: {
        const arr = t as ArrayType;
        u32(0);
        u32(id(arr.type));
        u32(id(arr.index));
        u32(arr.nelems);
        break;
      }
      case Kind.Struct:
      case Kind.Union: {
        const c = t as Composite;
        u32(c.size);
        for (const m of c.members) {
          u32(strings.add(m.name));
          u32(id(m.type));
          if (kindFlag) {
            if (m.offset >= 1 << 24 || m.bitfieldSize > 0xff) {
              throw new ArgumentError(`${typeLabel(first + i, t)}: member ${m.name} offset ${m.offset} / bitfield size ${m.bitfieldSize} too large for BTF`);
            }
            u32((m.bitfieldSize << 24) | m.offset);
          } else {
            u32(m.offset);
          }
        }
        break;
      }
      case Kind.Enum: {
        const e = t as Enum;
        u32(e.size);
        for (const v of e.values) {
          u32(strings.add(v.name));
          u32(v.value);
        }
        break;
      }
      case Kind.Enum64: {
        const e = t as Enum64;
        u32(e.size);
        for (const v of e.values) {
          const bits = BigInt.asUintN(64, v.value);
          u32(strings.add(v.name));
          u32(Number(bits & 0xffffffffn));
          u32(Number(bits >> 32n));
        }
        break;
      }
      case Kind.Fwd:
        u32(0);
        break;
      case Kind.FuncProto: {
        const p = t as FuncProto;
        u32(id(p.return));
        for (const param of p.params) {
          u32(strings.add(param.name));
          u32(id(param.type));
        }
        if (p.variadic) {
          u32(0);
          u32(0);
        }
        break;
      }
      case Kind.Var: {
        const v = t as Var;
        u32(id(v.type));
        u32(v.linkage);
        break;
      }
      case Kind.Datasec: {
        const d = t as Datasec;
        u32(d.size);
        for (const v of d.vars) {
          u32(id(v.type));
          u32(v.offset);
          u32(v.size);
        }
        break;
      }
      case Kind.Float:
        u32((t as Float).size);
        break;
      case Kind.DeclTag: {
        const d = t as DeclTag;
        u32(id(d.type));
        u32(d.componentIndex);
        break;
      }
      default:
        throw new ArgumentError(`${typeLabel(first + i, t)}: cannot encode kind ${t.kindName}`);
    }
  }

  const stringSection = strings.build();
  // Keep the input's header (its length and flags) when there was one.
  const headerLength = raw?.header.headerLength ?? btfHeaderSize;
  const out = new Uint8Array(headerLength + typeSection.length + stringSection.length);
  const hv = dataView(out);
  if (raw !== undefined) out.set(raw.headerBytes, 0);
  hv.setUint16(0, btfMagic, le);
  out[2] = 1;
  out[3] = raw?.header.flags ?? 0;
  hv.setUint32(4, headerLength, le);
  hv.setUint32(8, 0, le);
  hv.setUint32(12, typeSection.length, le);
  hv.setUint32(16, typeSection.length, le);
  hv.setUint32(20, stringSection.length, le);
  out.set(typeSection, headerLength);
  out.set(stringSection, headerLength + typeSection.length);
  return out;
}

function recordSize(t: Type): number {
  if (t instanceof Int || t instanceof Var || t instanceof DeclTag) return btfTypeSize + 4;
  if (t instanceof ArrayType) return btfTypeSize + 12;
  if (t instanceof Composite) return btfTypeSize + 12 * t.members.length;
  if (t instanceof Enum) return btfTypeSize + 8 * t.values.length;
  if (t instanceof Enum64) return btfTypeSize + 12 * t.values.length;
  if (t instanceof FuncProto) return btfTypeSize + 8 * (t.params.length + (t.variadic ? 1 : 0));
  if (t instanceof Datasec) return btfTypeSize + 12 * t.vars.length;
  return btfTypeSize;
}

// Names a type in messages; only then: describing every type up front costs more than
// encoding it.
function typeLabel(id: number, t: Type): string {
  return `type ${id} (${t})`;
}

function vlenAndFlag(t: Type, id: number): { vlen: number; kindFlag: boolean } {
  let vlen = 0;
  let kindFlag = false;
  if (t instanceof Composite) {
    vlen = t.members.length;
    kindFlag = t.bitfieldEncoding || t.members.some((m) => m.bitfieldSize !== 0);
  } else if (t instanceof Enum || t instanceof Enum64) {
    vlen = t.values.length;
    kindFlag = t.signed;
  } else if (t instanceof FuncProto) {
    vlen = t.params.length + (t.variadic ? 1 : 0);
  } else if (t instanceof Datasec) {
    vlen = t.vars.length;
  } else if (t instanceof Func) {
    vlen = t.linkage;
  } else if (t instanceof Fwd) {
    kindFlag = t.fwdKind === 'union';
  } else if (t instanceof DeclTag || t instanceof TypeTag) {
    kindFlag = t.attribute;
  }
  if (vlen > 0xffff) throw new ArgumentError(`${typeLabel(id, t)}: ${vlen} entries, BTF allows at most 65535`);
  return { vlen, kindFlag };
}
