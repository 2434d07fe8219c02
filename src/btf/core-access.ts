/**
 * CO-RE access strings: turning `"0:1:2"` plus a root type into a walk through members and
 * array elements (the "spec"), and finding the same walk in a target type.
 *
 * An access string lists indices: the first indexes the root as an array (`&p[0]` for `&p->…`),
 * each following one is a member index in a struct/union or an element index in an array.
 * Two views are kept, as libbpf's `bpf_core_parse_spec` does: `raw` is every index (including
 * anonymous struct/union hops), `accessors` only the steps that mean something across
 * layouts — named members and array indices. Matching a target re-finds each named member by
 * name (searching through anonymous members), so `raw` differs between local and target while
 * `accessors` line up one to one.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import { fieldsAreCompatible, isAnyEnum, isComposite } from './core-compat.js';
import { COREKind, coreKindName, isEnumvalKind, isFieldKind, isTypeKind } from './core-kind.js';
import type { Spec } from './spec.js';
import { Array as ArrayType, Composite, Type, essentialName, sizeof, skipQualifiersAndTypedefs } from './types.js';

/** libbpf's `BPF_CORE_SPEC_MAX_LEN`: longer access strings are rejected. */
export const maxAccessLength = 64;

/** One meaningful step of an access: a named member, an array index, or an enumerator. */
export interface COREAccessor {
  /** The struct/union holding the member, the array's element type, or the enum. */
  type: Type;
  /** Member, element or enumerator index. */
  index: number;
  /** Member or enumerator name; undefined for array indices. */
  name: string | undefined;
}

/** A resolved access into one spec's types. */
export interface COREAccessSpec {
  /** The spec the types belong to. */
  spec: Spec;
  /** The root type (the relocation's type, or the candidate). */
  root: Type;
  /** ID of the root type in `spec`. */
  rootId: number;
  /** The relocation kind this spec was built for. */
  kind: COREKind;
  /** Meaningful steps (see the module comment). */
  accessors: COREAccessor[];
  /** Every index, anonymous hops included. */
  raw: number[];
  /** Bit offset of the accessed field from the start of the root. */
  bitOffset: number;
}

/** The local side of a relocation cannot be understood: malformed access string or types. */
export class COREAccessError extends BpfError {}

function resolveSize(t: Type, what: string): number {
  try {
    return sizeof(t);
  } catch (cause) {
    throw new COREAccessError(`CO-RE: ${what}: ${t} has no size`, { cause });
  }
}

/**
 * Parses a relocation's access string against the local type (`bpf_core_parse_spec`). Throws
 * {@link COREAccessError} for strings that do not fit the type: those are compiler or
 * linker bugs, never something a target kernel could fix.
 */
export function parseAccess(spec: Spec, rootId: number, accessor: string, kind: COREKind): COREAccessSpec {
  const root = spec.typeById(rootId);
  const out: COREAccessSpec = { spec, root, rootId, kind, accessors: [], raw: [], bitOffset: 0 };
  const where = `access string "${accessor}" of ${root}`;
  if (accessor === '' || accessor.startsWith(':')) throw new COREAccessError(`CO-RE: empty or malformed ${where}`);
  if (isTypeKind(kind)) {
    // Type relocations carry no access; clang always writes "0".
    if (accessor !== '0') throw new COREAccessError(`CO-RE: ${coreKindName(kind)} relocation with ${where} (expected "0")`);
    return out;
  }
  const parts = accessor.split(':');
  if (parts.length > maxAccessLength) throw new COREAccessError(`CO-RE: ${where} is longer than ${maxAccessLength}`);
  for (const p of parts) {
    // sscanf("%d") in libbpf accepts a leading sign; a negative index is never valid.
    if (!/^\d+$/.test(p)) throw new COREAccessError(`CO-RE: malformed ${where}`);
    out.raw.push(Number(p));
  }

  let t = skipQualifiersAndTypedefs(root);
  const first = out.raw[0]!;
  if (isEnumvalKind(kind)) {
    if (!isAnyEnum(t) || out.raw.length > 1 || first >= t.values.length) {
      throw new COREAccessError(`CO-RE: ${where} does not name an enumerator`);
    }
    out.accessors.push({ type: t, index: first, name: t.values[first]!.name });
    return out;
  }
  if (!isFieldKind(kind)) throw new COREAccessError(`CO-RE: unknown relocation kind ${kind as number}`);

  out.accessors.push({ type: t, index: first, name: undefined });
  out.bitOffset = first * resolveSize(t, where) * 8;
  for (let i = 1; i < out.raw.length; i++) {
    t = skipQualifiersAndTypedefs(t);
    const index = out.raw[i]!;
    if (isComposite(t)) {
      const m = t.members[index];
      if (m === undefined) throw new COREAccessError(`CO-RE: ${where}: ${t} has no member #${index}`);
      out.bitOffset += m.offset;
      // Anonymous members are hops, not accessors: the target may nest differently.
      if (m.name !== '') out.accessors.push({ type: t, index, name: m.name });
      t = m.type;
    } else if (t instanceof ArrayType) {
      const elem = skipQualifiersAndTypedefs(t.type);
      if (!isFlexibleArray(out.accessors[out.accessors.length - 1], t) && index >= t.nelems) {
        throw new COREAccessError(`CO-RE: ${where}: index ${index} is out of bounds of ${t}`);
      }
      out.accessors.push({ type: elem, index, name: undefined });
      out.bitOffset += index * resolveSize(elem, where) * 8;
      t = elem;
    } else {
      throw new COREAccessError(`CO-RE: ${where}: step ${i} reaches ${t}, which is neither a struct, a union nor an array`);
    }
  }
  return out;
}

/**
 * An array of 0 elements that is the last member of its struct may be indexed past its end
 * (`is_flex_arr`): `int data[]` at the end of a struct.
 */
function isFlexibleArray(previous: COREAccessor | undefined, array: ArrayType): boolean {
  if (previous?.name === undefined || array.nelems > 0) return false;
  const holder = previous.type;
  return holder instanceof Composite && previous.index === holder.members.length - 1;
}

/** Why a candidate did not match, for poisoning messages. */
export interface COREMismatch {
  /** A sentence like "struct task_struct has no field foo". */
  reason: string;
}

/**
 * Finds the local access in a target candidate (`bpf_core_spec_match`). Returns the target
 * spec, or a {@link COREMismatch} saying why the candidate does not fit.
 */
export function matchAccess(local: COREAccessSpec, target: Spec, candidate: Type, candidateId: number): COREAccessSpec | COREMismatch {
  const out: COREAccessSpec = { spec: target, root: candidate, rootId: candidateId, kind: local.kind, accessors: [], raw: [], bitOffset: 0 };
  if (isTypeKind(local.kind)) return out; // type kinds are judged by the compat rules alone

  if (isEnumvalKind(local.kind)) {
    const t = skipQualifiersAndTypedefs(candidate);
    if (!isAnyEnum(t)) return { reason: `${describe(candidate)} is not an enum` };
    const wanted = essentialName(local.accessors[0]!.name!);
    const index = t.values.findIndex((v) => essentialName(v.name) === wanted);
    if (index < 0) return { reason: `${describe(candidate)} has no value ${local.accessors[0]!.name}` };
    out.accessors.push({ type: t, index, name: t.values[index]!.name });
    out.raw.push(index);
    return out;
  }

  let t: Type = candidate;
  for (let i = 0; i < local.accessors.length; i++) {
    const acc = local.accessors[i]!;
    t = skipQualifiersAndTypedefs(t);
    if (acc.name !== undefined) {
      const found = matchMember(local, acc, t, out);
      if ('reason' in found) return found;
      t = found.next;
      continue;
    }
    if (i > 0) {
      if (!(t instanceof ArrayType)) return { reason: `${describe(t)} is not an array` };
      if (!isFlexibleArray(out.accessors[out.accessors.length - 1], t) && acc.index >= t.nelems) {
        return { reason: `index ${acc.index} is out of bounds of ${describe(t)}` };
      }
      t = skipQualifiersAndTypedefs(t.type);
    }
    if (out.raw.length === maxAccessLength) throw new COREAccessError(`CO-RE: target access deeper than ${maxAccessLength}`);
    out.accessors.push({ type: t, index: acc.index, name: undefined });
    out.raw.push(acc.index);
    out.bitOffset += acc.index * resolveSize(t, `target ${describe(candidate)}`) * 8;
  }
  return out;
}

/**
 * Finds the member named like the local accessor in composite `t`, searching anonymous
 * members depth-first in declaration order (`bpf_core_match_member`). A same-named member
 * with an incompatible type ends the search: it is the field, and it does not fit.
 */
function matchMember(
  local: COREAccessSpec,
  acc: COREAccessor,
  target: Type,
  out: COREAccessSpec,
): { next: Type } | COREMismatch {
  const t = skipQualifiersAndTypedefs(target);
  const holder = acc.type as Composite;
  const localMember = holder.members[acc.index]!;
  if (!isComposite(t)) return { reason: `${describe(t)} is not a struct or union (looking for field ${acc.name})` };
  let incompatible: COREMismatch | undefined;
  // Returns the member's type, or undefined (not here, or here but incompatible). libbpf
  // returns "no match" from the level where the name was found; an enclosing level then
  // keeps searching its later members, which this reproduces.
  const search = (c: Composite): { next: Type } | undefined => {
    for (let i = 0; i < c.members.length; i++) {
      const m = c.members[i]!;
      if (out.raw.length === maxAccessLength) throw new COREAccessError(`CO-RE: target access deeper than ${maxAccessLength}`);
      out.bitOffset += m.offset;
      out.raw.push(i);
      if (m.name === '') {
        const inner = skipQualifiersAndTypedefs(m.type);
        if (isComposite(inner)) {
          const found = search(inner);
          if (found !== undefined) return found;
        }
      } else if (m.name === acc.name) {
        if (fieldsAreCompatible(localMember.type, m.type)) {
          out.accessors.push({ type: c, index: i, name: m.name });
          return { next: m.type };
        }
        incompatible ??= {
          reason:
            `field ${describe(t)}.${m.name} is ${describe(skipQualifiersAndTypedefs(m.type))} in the target, ` +
            `incompatible with the local ${describe(skipQualifiersAndTypedefs(localMember.type))}`,
        };
        out.bitOffset -= m.offset;
        out.raw.pop();
        return undefined;
      }
      out.bitOffset -= m.offset;
      out.raw.pop();
    }
    return undefined;
  };
  return search(t) ?? incompatible ?? { reason: `${describe(t)} has no field ${acc.name}` };
}

/** `struct foo`, `union <anon>`, `int`: how messages name a type. */
export function describe(t: Type): string {
  return `${t.kindName} ${t.name === '' ? '<anon>' : t.name}`;
}

/**
 * The access in C-like form, as libbpf's debug log prints it:
 * `struct core_sample.arr[2].x (0:6:2:0 @ offset 64)`.
 */
export function formatAccess(a: COREAccessSpec): string {
  const head = `[${a.rootId}] ${describe(a.root)}`;
  if (isTypeKind(a.kind)) return head;
  if (isEnumvalKind(a.kind)) {
    const acc = a.accessors[0];
    if (acc === undefined) return head;
    const e = acc.type as import('./types.js').Enum | import('./types.js').Enum64;
    return `${head}::${acc.name} = ${e.values[acc.index]!.value}`;
  }
  let path = '';
  a.accessors.forEach((acc, i) => {
    if (acc.name !== undefined) path += `.${acc.name}`;
    else if (i > 0 || acc.index > 0) path += `[${acc.index}]`;
  });
  const at = a.bitOffset % 8 === 0 ? `${a.bitOffset / 8}` : `${Math.floor(a.bitOffset / 8)}.${a.bitOffset % 8}`;
  return `${head}${path} (${a.raw.join(':')} @ offset ${at})`;
}
