/**
 * {@link Spec}: a set of BTF types with IDs, name lookups and iteration. A spec parsed from
 * bytes keeps the raw blob and decodes types only when asked (the kernel's BTF has >100k
 * types; a program typically needs a few hundred). Specs built in code start empty and grow
 * with {@link Spec.add}.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import type { KernelBTFIndex } from '../internal/kernel-btf-index.js';
import { AmbiguousTypeError, TypeNotFoundError } from './errors.js';
import { NameIndex, scanNames } from './name-index.js';
import { RawTypes, TypeDecoder, type ByteOrder } from './parse.js';
import { StringTable } from './strings.js';
import {
  Datasec,
  Enum,
  Enum64,
  Float,
  Func,
  Fwd,
  Int,
  Kind,
  Struct,
  Type,
  Typedef,
  Union,
  VOID,
  Var,
  children,
  copyTypes,
  essentialName,
  kindByName,
  type KindName,
  type TypeClass,
} from './types.js';

// Distinct names looked up by linear scan before a spec builds its hashed name index.
const rawScanLimit = 8;

/** Options of {@link parseSpec}. */
export interface ParseOptions {
  /** The base spec for split BTF (kernel module BTF continues vmlinux's IDs and strings). */
  base?: Spec;
  /**
   * The bytes are BTF the kernel checked when it loaded it (the files of /sys/kernel/btf/):
   * parsing then checks only what finding each type relies on and skips the records inside
   * types (members, parameters, enumerators), whose names and type IDs are checked when their
   * type is decoded. Faster for the kernel's ~126k types; never set it for other input.
   */
  verified?: boolean;
  /**
   * With `verified`: the index an earlier process made of the same bytes (the per-boot store
   * of the kernel's BTF index), used instead of indexing when a sample of it checks out.
   * @internal
   */
  index?: KernelBTFIndex;
}

/**
 * Parses a raw BTF blob (the contents of a `.BTF` section or of `/sys/kernel/btf/*`). Only
 * the index is built; types are decoded on first use. Throws {@link ParseError} on malformed
 * input.
 */
export function parseSpec(bytes: Uint8Array, options: ParseOptions = {}): Spec {
  const base = options.base;
  if (base !== undefined && base.raw === undefined && base.typeCount > 1) {
    // Split BTF string offsets continue the base's *encoded* string table, which only a
    // parsed base has.
    throw new ArgumentError('the base of split BTF must be a spec parsed from bytes');
  }
  const raw = new RawTypes(
    bytes,
    base === undefined ? undefined : { strings: base.strings ?? new StringTable(new Uint8Array(1)), typeCount: base.typeCount },
    options.verified === true,
    options.index,
  );
  return new Spec({ raw, base });
}

/** A kind filter for lookups: a type class (`Struct`) or a kind name (`"struct"`). */
export type KindFilter<T extends Type = Type> = TypeClass<T> | KindName;

/**
 * A collection of BTF types addressed by ID (void is always ID 0). Lookups by name use
 * essential names (CO-RE flavors stripped) in their index.
 *
 * Specs returned by `loadKernelSpec` are shared per process: treat them as read-only and
 * {@link Spec.copy} before editing types. Name lookups see the names types had when they were
 * parsed or added: renaming a type in place does not move it in the index.
 */
export class Spec {
  /** The raw blob this spec was parsed from, if any. */
  readonly raw: RawTypes | undefined;
  /** The base spec of split BTF (module BTF on top of vmlinux). */
  readonly base: Spec | undefined;
  /** Byte order used when marshalling (the input's, or the host's for built specs). */
  byteOrder: ByteOrder;
  /** Types by ID (own IDs only; base IDs resolve through {@link Spec.base}). Holes are undecoded. */
  private readonly cache: (Type | undefined)[];
  private readonly ids = new Map<Type, number>();
  private nextId: number;
  // Names of types added in code (parsed types are found through rawNames).
  private names: Map<string, number | number[]> | undefined;
  private rawNames: NameIndex | undefined;
  private readonly rawLookups = new Map<string, number[]>();
  private decoder: TypeDecoder | undefined;

  /** Creates an empty spec, or one over a parsed blob (use {@link parseSpec} for that). */
  constructor(options: { raw?: RawTypes; base?: Spec; byteOrder?: ByteOrder } = {}) {
    this.raw = options.raw;
    this.base = options.base;
    this.byteOrder = options.raw?.byteOrder ?? options.base?.byteOrder ?? options.byteOrder ?? 'little';
    this.nextId = options.raw?.endId ?? options.base?.typeCount ?? 1;
    this.cache = [];
    if (this.base === undefined) this.ids.set(VOID, 0);
  }

  /** The first type ID that belongs to this spec rather than its base (1 without a base). */
  get firstTypeId(): number {
    return this.raw?.firstId ?? this.base?.typeCount ?? 1;
  }

  /** One past the largest type ID, counting void and the base's types. */
  get typeCount(): number {
    return this.nextId;
  }

  /** The string table of the parsed blob (used as the base for split BTF). */
  get strings(): StringTable | undefined {
    return this.raw?.strings;
  }

  /** The type with this ID. Throws {@link TypeNotFoundError} if there is none. */
  typeById(id: number): Type {
    if (id === 0) return VOID;
    if (!Number.isInteger(id) || id < 0 || id >= this.nextId) throw new TypeNotFoundError(`with ID ${id}`);
    if (id < this.firstTypeId) {
      if (this.base === undefined) throw new TypeNotFoundError(`with ID ${id}`);
      return this.base.typeById(id);
    }
    const known = this.cache[id];
    if (known !== undefined) return known;
    // Only raw IDs can be undecoded: added types are stored when added.
    this.decoder ??= new TypeDecoder(this.raw!, this.cache, (ref) => this.typeById(ref), (newId, t) => this.ids.set(t, newId));
    return this.decoder.decode(id);
  }

  /** The ID of a type of this spec (or its base). Throws {@link TypeNotFoundError} otherwise. */
  typeId(type: Type): number {
    const id = this.ids.get(type);
    if (id !== undefined) return id;
    if (this.base !== undefined) return this.base.typeId(type);
    throw new TypeNotFoundError(`${type} (not part of this spec)`);
  }

  /** True if the type belongs to this spec or its base. */
  has(type: Type): boolean {
    return this.ids.has(type) || (this.base?.has(type) ?? false);
  }

  /**
   * The one type called exactly `name` (optionally of one kind). Throws
   * {@link TypeNotFoundError} when there is none and {@link AmbiguousTypeError} when several
   * match (vmlinux has a few same-named types from different compilation units).
   */
  typeByName<T extends Type = Type>(name: string, kind?: KindFilter<T>): T {
    const matches = this.idsByName(name, kindsOf(kind)).filter((id) => {
      const t = this.typeById(id);
      return t.name === name && matchesKind(t, kind);
    });
    const label = kind === undefined ? undefined : typeof kind === 'string' ? kind : kind.name.toLowerCase();
    if (matches.length === 0) throw new TypeNotFoundError(name, label);
    if (matches.length > 1) {
      throw new AmbiguousTypeError(
        name,
        matches,
        matches.map((id) => String(this.typeById(id))),
      );
    }
    return this.typeById(matches[0]!) as T;
  }

  /**
   * Every type whose essential name equals `name`'s (`foo`, `foo___v1`, `foo___v2` all
   * match `foo` and each other): the candidate set of a CO-RE relocation. Empty if none.
   */
  anyTypesByName(name: string): Type[] {
    return this.idsByName(name).map((id) => this.typeById(id));
  }

  /**
   * IDs with the same essential name as `name`, base spec first; with `kinds`, only those of
   * types of these kinds (a lookup in the kernel's BTF then searches only the part of its
   * string table where such names are).
   */
  idsByName(name: string, kinds?: readonly Kind[]): number[] {
    const essential = essentialName(name);
    const mine: number[] = [];
    const raw = this.raw;
    if (raw !== undefined) {
      // The raw blob never changes, so its answers can be remembered (repeat lookups are
      // the common case: CO-RE asks for the same kernel types again and again).
      const key = kinds === undefined ? essential : `${essential}\0${kinds.join()}`;
      let ids = this.rawLookups.get(key);
      if (ids === undefined) {
        const all = this.rawLookups.get(essential);
        // The name table of a kept vmlinux index answers in a probe or two (undefined without one).
        const kept = all === undefined && this.rawNames === undefined ? raw.keptNameIds(essential) : undefined;
        if (all !== undefined) {
          ids = all;
        } else if (kept !== undefined) {
          ids = kept;
        } else if (this.rawNames === undefined && this.rawLookups.size < rawScanLimit) {
          // The first few names are found by a linear scan of the name offsets (about 1 ms
          // for vmlinux); hashing every name into an index costs tens of ms and only pays off
          // when many different names are asked for (CO-RE candidates of a big program).
          const limit = kinds === undefined ? undefined : raw.maxNameOffset(kinds);
          ids = scanNames(raw.strings, raw.nameOffsets, raw.firstId, essential, limit);
        } else {
          this.rawNames ??= new NameIndex(raw.strings, raw.nameOffsets, raw.firstId);
          ids = this.rawNames.lookup(essential);
        }
        if (kinds !== undefined) ids = ids.filter((id) => kinds.includes(raw.kindOf(id)));
        this.rawLookups.set(key, ids);
      }
      mine.push(...ids);
    }
    const added = this.nameIndex().get(essential);
    if (added !== undefined) {
      for (const id of typeof added === 'number' ? [added] : added) {
        if (kinds === undefined || kinds.includes(this.typeById(id).kind)) mine.push(id);
      }
    }
    return this.base === undefined ? mine.slice() : [...this.base.idsByName(essential, kinds), ...mine];
  }

  /** All types including the base's, in ID order, void excluded. Decodes every type. */
  *[Symbol.iterator](): IterableIterator<Type> {
    for (let id = 1; id < this.nextId; id++) yield this.typeById(id);
  }

  /** Same as iterating the spec: all types in ID order (void excluded). */
  types(): IterableIterator<Type> {
    return this[Symbol.iterator]();
  }

  /** `[id, type]` pairs of this spec's own types (not the base's), in ID order. */
  *entries(): IterableIterator<[number, Type]> {
    for (let id = this.firstTypeId; id < this.nextId; id++) yield [id, this.typeById(id)];
  }

  /**
   * Adds a type and everything it references that is not in the spec (or its base) yet, and
   * returns the type's ID. Adding a type that is already present returns its ID.
   */
  add(type: Type): number {
    const existing = this.ids.get(type) ?? (this.base?.has(type) === true ? this.base.typeId(type) : undefined);
    if (existing !== undefined) return existing;
    const stack: Type[] = [type];
    let rootId = -1;
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (this.has(t)) continue;
      const id = this.nextId++;
      if (rootId < 0) rootId = id;
      this.cache[id] = t;
      this.ids.set(t, id);
      if (this.names !== undefined && t.name !== '') addName(this.names, essentialName(t.name), id);
      const kids = children(t);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
    }
    return rootId;
  }

  /**
   * Puts `type` at `id` in place of the type that was there, keeping every ID stable (BTF
   * fix-ups and sanitising change a type's kind, but map and func_info records refer to types
   * by ID). The old object leaves the spec: references to it from other types must be
   * redirected by the caller (see `mapChildren`), or marshalling adds it again under a new ID.
   * Only the spec's own IDs can be replaced, not the base's.
   */
  replace(id: number, type: Type): void {
    if (!Number.isInteger(id) || id < this.firstTypeId || id >= this.nextId) {
      throw new ArgumentError(`replace: type ID ${id} is not one of this spec's own IDs (${this.firstTypeId}..${this.nextId - 1})`);
    }
    if (type === VOID) throw new ArgumentError('replace: void cannot take a type ID');
    const other = this.ids.get(type);
    if (other !== undefined && other !== id) throw new ArgumentError(`replace: ${type} already has ID ${other}`);
    const old = this.typeById(id);
    if (old === type) return;
    this.ids.delete(old);
    this.cache[id] = type;
    this.ids.set(type, id);
    // Parsed names are looked up through the raw index and filtered by the current name; added
    // names need the new name indexed (the old one is filtered out the same way).
    if (this.names !== undefined && type.name !== '') addName(this.names, essentialName(type.name), id);
  }

  /**
   * A deep copy: editing the copy's types never affects this spec. Parsed specs share the
   * immutable raw blob, so copying is cheap; types already decoded (and possibly edited) are
   * copied with their edits. The base of split BTF is shared, not copied.
   */
  copy(): Spec {
    const out = new Spec({ raw: this.raw, base: this.base, byteOrder: this.byteOrder });
    out.rawNames = this.rawNames;
    const decoded: Type[] = [];
    for (let id = this.firstTypeId; id < this.nextId; id++) {
      const t = this.cache[id];
      if (t !== undefined) decoded.push(t);
    }
    // Types from the base map to themselves: they are shared.
    const known = new Map<Type, Type>();
    if (this.base !== undefined) {
      for (const t of decoded) for (const c of children(t)) if (!this.ids.has(c)) known.set(c, c);
    }
    const mapping = copyTypes(decoded, known);
    for (let id = this.firstTypeId; id < this.nextId; id++) {
      const t = this.cache[id];
      if (t === undefined) continue;
      const c = mapping.get(t)!;
      out.cache[id] = c;
      out.ids.set(c, id);
    }
    out.nextId = this.nextId;
    return out;
  }

  /** Number of types decoded so far (own types only): a measure of laziness. */
  get decodedCount(): number {
    let n = 0;
    for (const t of this.cache) if (t !== undefined) n++;
    return n;
  }

  private nameIndex(): Map<string, number | number[]> {
    if (this.names !== undefined) return this.names;
    const names = new Map<string, number | number[]>();
    for (let id = this.raw?.endId ?? this.firstTypeId; id < this.nextId; id++) {
      const t = this.cache[id];
      if (t !== undefined && t.name !== '') addName(names, essentialName(t.name), id);
    }
    this.names = names;
    return names;
  }
}

function addName(names: Map<string, number | number[]>, name: string, id: number): void {
  const prev = names.get(name);
  if (prev === undefined) names.set(name, id);
  else if (typeof prev === 'number') names.set(name, [prev, id]);
  else prev.push(id);
}

// The kinds of the concrete type classes, for lookups by class.
const classKinds = new Map<TypeClass, Kind>([
  [Struct, Kind.Struct],
  [Union, Kind.Union],
  [Enum, Kind.Enum],
  [Enum64, Kind.Enum64],
  [Typedef, Kind.Typedef],
  [Fwd, Kind.Fwd],
  [Int, Kind.Int],
  [Float, Kind.Float],
  [Func, Kind.Func],
  [Var, Kind.Var],
  [Datasec, Kind.Datasec],
]);

// The kinds a filter can match, when known: what name lookups may narrow their search to.
function kindsOf(kind: KindFilter | undefined): Kind[] | undefined {
  if (kind === undefined) return undefined;
  const k = typeof kind === 'string' ? kindByName(kind) : classKinds.get(kind);
  return k === undefined ? undefined : [k];
}

function matchesKind(type: Type, kind: KindFilter | undefined): boolean {
  if (kind === undefined) return true;
  if (typeof kind === 'string') {
    const k = kindByName(kind);
    if (k === undefined) throw new ArgumentError(`unknown BTF kind name ${JSON.stringify(kind)}`);
    return type.kind === k;
  }
  return type instanceof kind;
}
