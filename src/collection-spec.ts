/**
 * {@link CollectionSpec}: everything a compiled BPF object declares — programs (linked with
 * their subprograms), maps (BTF, legacy and global data), variables, externs and BTF — as plain
 * data, without touching the kernel. `loadCollection` turns a spec into kernel objects; a spec
 * may be edited first ({@link CollectionSpec.rewriteConstants}, changing map sizes, picking
 * programs) and copied to load several independent variants.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ByteOrder } from './asm/encoding.js';
import type { Spec } from './btf/spec.js';
import type { Type } from './btf/types.js';
import { copyMapSpec } from './map-spec.js';
import { BpfError, ParseError } from './errors.js';
import { readObject } from './elf/reader.js';
import type { ELFMapSpec, ELFProgramSpec, ExternSpec } from './elf/specs.js';
import { resolveReference, symbolicReferences, type ReferenceTarget, type SymbolicReference } from './elf/references.js';
import { UnknownVariableError, VariableSpec, type VariableValue } from './elf/variables.js';

/**
 * The parsed contents of a BPF object file.
 *
 * @example
 * ```ts
 * import { loadCollectionSpec } from 'ebpf-ts';
 * const spec = await loadCollectionSpec('testdata/minimal.bpfel.o');
 * for (const [name, prog] of Object.entries(spec.programs)) console.log(name, prog.sectionName, prog.instructions.length);
 * spec.rewriteConstants({ target_pid: 1234 });
 * ```
 */
export class CollectionSpec {
  /** Programs by function name, each with its subprograms appended and calls fixed up. */
  programs: Record<string, ELFProgramSpec>;
  /** Maps by name: BTF and legacy map definitions, global data (`.rodata`, …), `.kconfig`. */
  maps: Record<string, ELFMapSpec>;
  /** Global variables by name, reading and writing their map's contents. */
  variables: Record<string, VariableSpec>;
  /** `.kconfig` and `.ksyms` externs by name, to be resolved at load time. */
  externs: Record<string, ExternSpec>;
  /**
   * The object's BTF (`.BTF`), complete: the fix-ups that need the ELF (DATASEC sizes,
   * variable offsets, extern and hidden linkage) were made when it was parsed, so loading the
   * spec never needs the object again. Undefined if compiled without `-g`.
   */
  btf: Spec | undefined;
  /** The object's byte order. */
  byteOrder: ByteOrder;

  /** Builds a spec from parts; {@link parseCollectionSpec} is the usual way to get one. */
  constructor(fields: {
    programs?: Record<string, ELFProgramSpec>;
    maps?: Record<string, ELFMapSpec>;
    variables?: Record<string, VariableSpec>;
    externs?: Record<string, ExternSpec>;
    btf?: Spec | undefined;
    byteOrder?: ByteOrder;
  } = {}) {
    this.programs = fields.programs ?? {};
    this.maps = fields.maps ?? {};
    this.variables = fields.variables ?? {};
    this.externs = fields.externs ?? {};
    this.btf = fields.btf;
    this.byteOrder = fields.byteOrder ?? 'little';
  }

  /**
   * Sets `const volatile` variables (those in `.rodata*` sections) before load. All names are
   * checked first: an unknown name (or one that is not read-only data) throws
   * {@link UnknownVariableError} listing every such name, a value of the wrong size or range
   * throws `ArgumentError`; in both cases nothing is changed.
   *
   * @example
   * ```ts
   * spec.rewriteConstants({ target_pid: 42, verbose: true, threshold_ns: 5_000_000n });
   * ```
   */
  rewriteConstants(values: Record<string, VariableValue>): void {
    const missing: string[] = [];
    const writable: string[] = [];
    const writes: [VariableSpec, Uint8Array][] = [];
    for (const [name, value] of Object.entries(values)) {
      const v = Object.hasOwn(this.variables, name) ? this.variables[name] : undefined;
      if (v === undefined || !v.readOnly) {
        missing.push(name);
        if (v !== undefined) writable.push(`${name} (in ${v.sectionName})`);
        continue;
      }
      writes.push([v, v.encode(value)]);
    }
    if (missing.length > 0) {
      // A writable global is the usual mix-up: it is set after loading, through the variable.
      const hint =
        writable.length > 0
          ? `; ${writable.join(', ')} ${writable.length === 1 ? 'is a writable global, not a constant' : 'are writable globals, not constants'}: set ${writable.length === 1 ? 'it' : 'them'} after loading with coll.variables.NAME.set(value), or declare ${writable.length === 1 ? 'it' : 'them'} const volatile to set ${writable.length === 1 ? 'it' : 'them'} here`
          : '';
      // Function-scoped statics (`prog.____fmt`) are read-only too, but nobody sets those.
      const constants = Object.values(this.variables).filter((v) => v.readOnly && !v.name.includes('.')).map((v) => v.name);
      const known = writable.length === missing.length ? '' : `; the object's constants: ${constants.length === 0 ? 'none' : constants.join(', ')}`;
      throw new UnknownVariableError(missing, 'not constants (const volatile variables in .rodata) of this object', hint + known);
    }
    for (const [v, bytes] of writes) v.set(bytes);
  }

  /**
   * The instructions that still name a symbol the object does not define (inline assembly's
   * `r0 = MY_CONST ll`, calls to functions that are only declared, externs of an object built
   * without BTF), program by program. Loading a program that has any fails with
   * `UnresolvedReferenceError`; resolve them with {@link CollectionSpec.resolveReference}.
   *
   * @example
   * ```ts
   * spec.unresolvedReferences();
   * // [{ name: 'MY_CONST', program: 'prog', index: 3, kind: 'constant' }]
   * ```
   */
  unresolvedReferences(): SymbolicReference[] {
    return Object.values(this.programs).flatMap((p) => symbolicReferences(p, this.externs));
  }

  /**
   * Resolves the symbolic references to `name` (see {@link CollectionSpec.unresolvedReferences})
   * in every program, or only in `options.program`, to `target`: a value for a constant load
   * (`42n`, `{ value: 42 }`), a map (`{ map: 'counters' }`, or `{ map: '.data', offset: 8 }`
   * for an address in its value), a global variable (`{ variable: 'config' }`), or another
   * program's code (`{ function: 'impl' }`, appended to each caller with its subprograms and
   * BTF line and function records, as a BPF-to-BPF call). Returns the number of instructions
   * resolved. Nothing changes when it throws.
   *
   * @example
   * ```ts
   * const spec = await loadCollectionSpec('refs.bpf.o');
   * spec.resolveReference('MY_CONST', 42n);
   * spec.resolveReference('MY_MAP', { map: 'values' });
   * spec.resolveReference('answer', { function: 'answer_impl' });
   * ```
   *
   * @throws `ArgumentError` when no instruction refers to `name` (the message lists the
   * unresolved names), when the target is not in the spec, or when it cannot stand for an
   * instruction (a value or a map for a call).
   */
  resolveReference(name: string, target: ReferenceTarget, options: { program?: string } = {}): number {
    return resolveReference(this, name, target, options);
  }

  /**
   * A deep copy: programs (instructions included), maps (contents included), variables bound
   * to the copied maps, and a copy of the BTF whose types the copied maps and variables use.
   * Editing the copy never affects this spec.
   */
  copy(): CollectionSpec {
    const btf = this.btf?.copy();
    const original = this.btf;
    const remap = (t: unknown): Type | undefined => {
      if (t === undefined || btf === undefined || original === undefined) return t as Type | undefined;
      const type = t as Type;
      return original.has(type) ? btf.typeById(original.typeId(type)) : type;
    };
    const copyMap = (m: ELFMapSpec): ELFMapSpec => {
      const c = copyMapSpec(m) as ELFMapSpec;
      if (m.initialSlots !== undefined) c.initialSlots = m.initialSlots.map((s) => ({ ...s }));
      if (m.extra !== undefined) c.extra = m.extra.slice();
      if (m.arenaData !== undefined) c.arenaData = m.arenaData.slice();
      if (m.key !== undefined) c.key = remap(m.key);
      if (m.value !== undefined) c.value = remap(m.value);
      if (m.innerMap !== undefined) c.innerMap = copyMap(m.innerMap as ELFMapSpec);
      return c;
    };
    const maps: Record<string, ELFMapSpec> = {};
    for (const [name, m] of Object.entries(this.maps)) maps[name] = copyMap(m);
    const programs: Record<string, ELFProgramSpec> = {};
    for (const [name, p] of Object.entries(this.programs)) {
      programs[name] = {
        ...p,
        instructions: p.instructions.map((i) => i.clone()),
        ...(p.funcInfo === undefined ? {} : { funcInfo: p.funcInfo.slice() }),
        ...(p.lineInfo === undefined ? {} : { lineInfo: p.lineInfo.slice() }),
        ...(p.fdArray === undefined ? {} : { fdArray: [...p.fdArray] }),
        ...(p.funcInfos === undefined ? {} : { funcInfos: p.funcInfos.map((r) => ({ ...r })) }),
        ...(p.lineInfos === undefined ? {} : { lineInfos: p.lineInfos.map((r) => ({ ...r })) }),
        ...(p.coreRelocations === undefined ? {} : { coreRelocations: p.coreRelocations.map((r) => ({ ...r })) }),
      };
    }
    const variables: Record<string, VariableSpec> = {};
    for (const [name, v] of Object.entries(this.variables)) {
      const map = maps[v.mapName];
      if (map === undefined) throw new BpfError(`variable ${name}: its map ${v.mapName} is missing from the spec`);
      variables[name] = new VariableSpec({ name: v.name, sectionName: v.sectionName, offset: v.offset, size: v.size, type: remap(v.type), byteOrder: v.byteOrder }, map);
    }
    const externs: Record<string, ExternSpec> = {};
    for (const [name, e] of Object.entries(this.externs)) externs[name] = { ...e, type: remap(e.type) };
    return new CollectionSpec({ programs, maps, variables, externs, btf, byteOrder: this.byteOrder });
  }
}

/**
 * Parses a BPF object (the bytes of a clang `-target bpf` `.o`, either byte order) into a
 * {@link CollectionSpec}. Never touches the kernel. Throws {@link ParseError} for malformed
 * or unsupported input, naming what and where.
 */
export function parseCollectionSpec(bytes: Uint8Array): CollectionSpec {
  const r = readObject(bytes);
  const variables: Record<string, VariableSpec> = {};
  // Names are unique in practice; a clash (a static and a global of one name in different
  // sections) keeps the first, as the other is still reachable through its map's contents.
  for (const v of r.variables) if (!Object.hasOwn(variables, v.name)) variables[v.name] = v;
  return new CollectionSpec({
    programs: Object.fromEntries(r.programs),
    maps: Object.fromEntries(r.maps),
    variables,
    externs: Object.fromEntries(r.externs),
    btf: r.btf,
    byteOrder: r.byteOrder,
  });
}

/**
 * A BPF object file that cannot be read: missing, a directory, not readable. `code` is the
 * errno's name (`ENOENT`, `EISDIR`, `EACCES`, …); the message names the path as resolved and
 * what to do.
 */
export class ObjectFileError extends BpfError {
  /** The path as given. */
  readonly path: string;

  constructor(path: string, cause: NodeJS.ErrnoException) {
    const full = resolve(path);
    const where = full === path ? path : `${path} (${full})`;
    const why: Record<string, string> = {
      ENOENT: 'no such file; check the path (a relative path is resolved against the current directory) and that the object was built',
      EISDIR: 'it is a directory; pass the .o file inside it',
      EACCES: 'permission denied; check the file mode, or run as a user who may read it',
      ENOTDIR: 'a part of the path is not a directory',
    };
    super(`cannot read BPF object ${where}: ${why[cause.code ?? ''] ?? cause.message}`, {
      cause,
      errno: cause.errno === undefined ? undefined : Math.abs(cause.errno),
    });
    this.path = path;
  }
}

/**
 * Parses the bytes of the object file at `path`; a ParseError names the file. Shared by
 * {@link loadCollectionSpec} and `loadCollection(path)`, which read the file each their way.
 */
export function parseObjectFile(path: string, bytes: Uint8Array): CollectionSpec {
  try {
    return parseCollectionSpec(bytes);
  } catch (e) {
    if (e instanceof ParseError) {
      const message = e.offset === undefined ? e.message : e.message.replace(/ \(at offset \d+\)$/, '');
      throw new ParseError(`${path}: ${message}`, e.offset);
    }
    throw e;
  }
}

/**
 * Reads the object file at `path` synchronously (objects are small: an async read costs more in
 * event-loop round trips than the read itself); a failure is an {@link ObjectFileError}.
 */
export function readObjectFile(path: string): Uint8Array {
  try {
    const bytes = readFileSync(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    throw new ObjectFileError(path, e as NodeJS.ErrnoException);
  }
}

/**
 * Reads and parses a BPF object file. See {@link parseCollectionSpec}.
 *
 * @throws {@link ObjectFileError} when the file cannot be read (missing, a directory, no
 * permission), {@link ParseError} naming the file when it is not a valid BPF object.
 */
export async function loadCollectionSpec(path: string): Promise<CollectionSpec> {
  let bytes: Buffer;
  try {
    bytes = await process.getBuiltinModule('node:fs/promises').readFile(path); // loaded on first use (~1 ms)
  } catch (e) {
    throw new ObjectFileError(path, e as NodeJS.ErrnoException);
  }
  return parseObjectFile(path, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
