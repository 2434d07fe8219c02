/**
 * `loadCollection`: a {@link CollectionSpec} (or an object file) to kernel objects — maps
 * created and filled, programs relocated and loaded, variables live — with everything it
 * created closed again if any step fails.
 *
 * The order follows what each step needs from the one before:
 * 1. choose the programs (autoload, or the `programs` option) and, from their instructions
 *    and the maps' static slots, the maps and further programs they need;
 * 2. refuse global data on kernels before 5.2 with a message instead of EINVAL;
 * 3. load the object's BTF (map key/value types, func_info/line_info);
 * 4. resolve `.kconfig` values, then create every map (reusing compatible pins), write its
 *    contents and freeze `.rodata`/`.kconfig` — before any program, because the verifier
 *    reads frozen values as constants;
 * 5. per program: map fds and `.ksyms` into instructions, CO-RE against the target BTF, attach
 *    BTF ids, BPF_PROG_LOAD with the object's BTF; a kfunc, typed ksym, CO-RE type or attach
 *    target vmlinux lacks is looked for in the loaded modules' BTF (module-btf.ts), whose BTF
 *    objects stay open until every program is loaded;
 * 6. write the prog-array and map-in-map slots the object initialises statically (their
 *    programs and inner maps exist only now), and the values of struct_ops maps (which
 *    registers a `.struct_ops` map; collection-struct-ops.ts);
 * 7. map global data for the variables.
 *
 * @module
 */
import { autoAttachRefusal } from './link/auto.js';
import { attachStructOpsMaps } from './link/struct-ops.js';
import type { Link } from './link/link.js';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { PseudoSource } from './asm/pseudo.js';
import type { Instruction } from './asm/instruction.js';
import { CORECandidateCache, coreRelocate, type CORERelocateResult } from './btf/core.js';
import { loadKernelModules, loadKernelModuleSpecs, loadKernelSpec } from './btf/kernel.js';
import type { Spec } from './btf/spec.js';
import { attachBtfTarget, loadObjectBTF, needsAttachBtfId, type ObjectBTF } from './collection-btf.js';
import { checkStructOpsProgram, isUnusedStructOpsProgram, structOpsPrograms, StructOpsLoader } from './collection-struct-ops.js';
import { explainLoadFailure, GlobalDataNotSupportedError, MapTypeNotSupportedError, PinnedMapIncompatibleError } from './collection-errors.js';
import { applyKsym, fillKconfig, resolveKsym } from './collection-externs.js';
import { mapArena } from './collection-arena.js';
import { CollectionSpec, parseObjectFile, readObjectFile } from './collection-spec.js';
import type { ELFMapSpec, ELFProgramSpec } from './elf/specs.js';
import { checkReferences } from './elf/references.js';
import type { VariableValue } from './elf/variables.js';
import { ArgumentError, BpfError, ClosedError, NotSupportedError, SyscallError, VerifierError } from './errors.js';
import { mapTypeConfig, mapTypeFeature } from './features/map-types.js';
import { BPF_F_MMAPABLE, BpfMap, type CreateMapOptions } from './map.js';
import { PinType, type MapSpec } from './map-spec.js';
import { FdArray, ModuleBTFFds } from './module-btf.js';
import { freplaceLoadFields, type FreplaceTarget } from './link/freplace.js';
import { Program, type AttachTargets } from './prog.js';
import type { ProgramSpec } from './prog-spec.js';
import { hostLittleEndian } from './sys/attr.js';
import type { Mapping } from './sys/backend.js';
import { Errno } from './sys/errno.js';
import { kernelAtLeast } from './features/feature.js';
import { backend } from './sys/select.js';
import { MapType, ProgramType, mapTypeName, mapTypeSince } from './types.js';
import { Variable, type SectionAccess } from './variable.js';
import { withLoadToken, type BpfToken, type TokenOption } from './token.js';
import { dataView } from './internal/bytes.js';

/** Options of {@link loadCollection}. */
export interface CollectionOptions {
  /**
   * A BTF file to use as the CO-RE target instead of the running kernel's
   * (`/sys/kernel/btf/vmlinux`): raw BTF or an ELF with `.BTF`, like libbpf's
   * `btf_custom_path`. For kernels without BTF, or to relocate against another kernel's
   * layout. kfuncs, typed ksyms and attach targets are still looked up in the running
   * kernel's BTF, since their ids must be the kernel's own.
   */
  kernelBTF?: string;
  /** `const volatile` values to set before load (see `CollectionSpec.rewriteConstants`). */
  constants?: Record<string, VariableValue>;
  /**
   * Existing maps to use instead of creating the object's maps of these names (sharing a map
   * between collections). They must match the object's definition (type, key/value size,
   * max entries); the collection does not close them.
   */
  mapReplacements?: Record<string, BpfMap>;
  /**
   * Directory on a bpffs mount for maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`:
   * an existing pin `<pinPath>/<name>` with a compatible definition is reused (contents kept),
   * an incompatible one is a {@link PinnedMapIncompatibleError}, and a new map is pinned
   * there.
   */
  pinPath?: string;
  /**
   * Load only these programs (by function name), plus the programs their prog arrays
   * initialise statically, and only the maps they use. Default: every program not declared
   * `SEC("?…")`, and every map.
   */
  programs?: readonly string[];
  /**
   * `CONFIG_*` values for `__kconfig` externs, as the kernel config writes them (`'y'`,
   * `'m'`, `'n'`, `'100'`, `'"text"'`), taking precedence over the running kernel's config
   * (/boot/config-$(uname -r) or /proc/config.gz) — like libbpf's `kconfig` open option. For
   * kernels whose config is not readable (many distributions ship no /proc/config.gz, and a
   * container or VM may lack /boot): a non-`__weak` `CONFIG_*` extern is otherwise an
   * {@link UnresolvedExternError} there.
   */
  kconfig?: Record<string, string>;
  /** Verifier log level for a failed load's log: 1 (default) or 2 (every instruction). */
  logLevel?: number;
  /** First verifier log buffer size in bytes (it grows as needed). */
  logSize?: number;
  /**
   * The loaded program each freplace (EXT) program replaces a function of, by the freplace
   * program's name: a {@link Program} (the function is the one the section names,
   * `freplace/<function>`) or `{ program, function }`. The loader finds the function's BTF id
   * in that program's BTF, as libbpf's `bpf_program__set_attach_target()` does; `attachFreplace`
   * then attaches it. An EXT program without a target fails to load with an ArgumentError.
   */
  freplaceTargets?: Record<string, FreplaceTarget>;
  /**
   * The BPF token to create the maps, BTF and programs with, inside a user namespace (Linux
   * 6.9; a container whose manager mounted a bpffs with `delegate_*` options for it): a
   * {@link BpfToken}, the path of such a bpffs, or `false` for none. Left out, the loader uses
   * `EBPF_TS_BPF_TOKEN_PATH` when it is set (an empty value: no token) and otherwise, only in a
   * user namespace, a token from /sys/fs/bpf when that bpffs delegates — libbpf's defaults. The
   * feature probes of the load carry it too; a token the loader created is closed when the load
   * ends (what it created keeps working).
   */
  token?: TokenOption;
}

/** Something the loader created and must release on failure or close(). */
type Release = () => void;

/**
 * Loaded programs, maps and variables of one object. Owns every program and map it created
 * (not those passed as `mapReplacements`); `close()` or `using` releases them. Programs that
 * were attached keep running through their links; pinned maps persist on bpffs.
 *
 * Minimum kernel: 4.18 with BTF; global data needs 5.2, mmap()ed variables 5.5.
 */
export class Collection implements Disposable {
  /** Loaded programs by function name. */
  readonly programs: Record<string, Program>;
  /** Maps by name (`.rodata`, `.bss`, … for global data). */
  readonly maps: Record<string, BpfMap>;
  /** Global variables by name, reading and writing the live values (`__arena` globals included). */
  readonly variables: Record<string, Variable>;
  /**
   * The memory of each ARENA map (Linux 6.9) this collection created, by map name: the arena's
   * pages mapped read-write into this process, shared with programs. `__arena` globals sit at
   * its start (also reachable as {@link Collection.variables}). Unmapped by `close()`.
   */
  readonly arenas: Record<string, Uint8Array>;
  #releases: Release[];
  #open = true;

  /** @internal Built by {@link loadCollection}. */
  constructor(programs: Record<string, Program>, maps: Record<string, BpfMap>, variables: Record<string, Variable>, releases: Release[], arenas: Record<string, Uint8Array> = {}) {
    this.programs = programs;
    this.maps = maps;
    this.variables = variables;
    this.arenas = arenas;
    this.#releases = releases;
  }

  /** True until close(). */
  get open(): boolean {
    return this.#open;
  }

  /** Links made by {@link Collection.attachAll}, by program name; closed with the collection. */
  readonly links: Record<string, Link> = {};

  /**
   * Programs {@link Collection.attachAll} left alone, by name, with the reason (no section
   * name, no target in the section, or a kind of section with no auto-attach yet).
   */
  readonly notAttached: Record<string, string> = {};

  /**
   * Attaches every program whose section name says where it goes (`tracepoint/…`, `kprobe/…`,
   * `raw_tp/…`, `fentry/…`, …; see {@link canAutoAttach}), like libbpf's skeleton attach.
   * Network and cgroup programs (`xdp`, `tcx/ingress`, `cgroup_skb/egress`, `cgroup/connect4`,
   * `sk_lookup`, …) are attached too when the options name their interface, cgroup or network
   * namespace ({@link AttachTargets}), and struct_ops maps are registered (a link per
   * `.struct_ops.link` map, kept under the map's name; see `attachStructOps`).
   * Programs left without a target (socket filters, sockmap programs, or a network program
   * whose interface was not given) are left alone, but not silently: each is listed in
   * {@link Collection.notAttached} with the reason and what to pass, and one process
   * warning (code `EBPF_TS_NOT_ATTACHED`) names them unless `quiet` is set. If one attach
   * fails, the links made by this call are closed and the error is thrown.
   *
   * The links stay open as long as the collection: they are kept in {@link Collection.links}
   * and closed by {@link Collection.close}. (A link you make yourself with `attach()` is yours:
   * dropped without `close()`, it is closed when garbage-collected and the program stops.)
   *
   * @example
   * ```ts
   * coll.attachAll({ interface: 'eth0', cgroup: '/sys/fs/cgroup/my.slice' });
   * ```
   *
   * @param options.quiet No warning for programs left alone (they are still listed).
   * @returns the new links by program name (also kept in {@link Collection.links}).
   */
  attachAll(options: AttachTargets & { quiet?: boolean } = {}): Record<string, Link> {
    if (!this.#open) throw new ClosedError('collection is closed');
    const made: Record<string, Link> = {};
    const skipped: string[] = [];
    try {
      for (const [name, prog] of Object.entries(this.programs)) {
        if (this.links[name] !== undefined) continue;
        // struct_ops programs run through their map, registered below.
        if (prog.type === ProgramType.StructOps) continue;
        const refusal = autoAttachRefusal(prog.attachment.sectionName, prog.attachment.attachTo, options);
        if (refusal !== undefined) {
          this.notAttached[name] = refusal;
          skipped.push(`${name}: ${refusal}`);
          continue;
        }
        made[name] = prog.attach(options);
        delete this.notAttached[name];
      }
      // struct_ops maps, like libbpf's skeleton attach: a link per .struct_ops.link map, the
      // registration (made at load) of a plain one. Keyed by map name, unless a program has it.
      const pending = Object.fromEntries(Object.entries(this.maps).filter(([name]) => this.links[name] === undefined && this.links[`${name} (struct_ops)`] === undefined));
      for (const [name, link] of Object.entries(attachStructOpsMaps(pending))) {
        made[this.programs[name] === undefined ? name : `${name} (struct_ops)`] = link;
      }
    } catch (err) {
      for (const link of Object.values(made)) link.close();
      throw err;
    }
    Object.assign(this.links, made);
    if (skipped.length > 0 && options.quiet !== true) {
      process.emitWarning(`ebpf-ts: attachAll() left ${skipped.length} program(s) unattached (see coll.notAttached; attachAll({ quiet: true }) silences this):\n  ${skipped.join('\n  ')}`, {
        code: 'EBPF_TS_NOT_ATTACHED',
      });
    }
    return made;
  }

  /** Closes links, unmaps variables, closes programs and the maps this collection created. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    // Links first: a link holds its program, and detaching before the maps go keeps the
    // program from running against maps that are being torn down.
    for (const link of Object.values(this.links)) {
      try {
        link.close();
      } catch {
        // keep closing the rest
      }
    }
    releaseAll(this.#releases);
    this.#releases = [];
  }

  /** Same as {@link Collection.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Runs releases newest first; one failing does not stop the others. */
function releaseAll(releases: Release[]): void {
  for (let i = releases.length - 1; i >= 0; i--) {
    try {
      releases[i]!();
    } catch {
      // Closing an fd cannot meaningfully fail here; keep releasing the rest.
    }
  }
}

/**
 * Loads a BPF object into the kernel: creates its maps, loads its programs, and returns them
 * as a {@link Collection}. `specOrPath` is a path to a clang-compiled `.o` or a
 * {@link CollectionSpec} (which is not modified: the loader works on a copy, so one spec can
 * be loaded many times).
 *
 * If any step fails, everything created so far is closed (and pins made by this call are
 * removed) before the error is thrown.
 *
 * @example
 * ```ts
 * import { loadCollection } from 'ebpf-ts';
 *
 * // Node 20 has no `using`: close explicitly.
 * const coll = await loadCollection('testdata/elf_globals.bpfel.o', {
 *   programs: ['globals'],
 *   constants: { verbose: 1 },
 * });
 * try {
 *   const { retval } = coll.programs.globals.testRun({ data: new Uint8Array(64) });
 *   console.log(retval, coll.variables.counter.get());
 * } finally {
 *   coll.close();
 * }
 * ```
 *
 * @throws {@link VerifierError} a program was rejected (full log; a hint for common causes).
 * @throws {@link CORERelocationFailedError} the verifier reached an instruction a CO-RE
 * relocation could not resolve ("struct X has no field Y").
 * @throws `UnresolvedReferenceError` a program still names a symbol the object does
 * not define (see `CollectionSpec.resolveReference`).
 * @throws {@link GlobalDataNotSupportedError} global data before Linux 5.2.
 * @throws {@link MapTypeNotSupportedError} a map type the kernel lacks.
 * @throws {@link PinnedMapIncompatibleError} a pinned map that does not match the object.
 * @throws {@link NotSupportedError}, {@link SyscallError}, {@link ArgumentError} otherwise,
 * naming the map or program.
 */
export async function loadCollection(specOrPath: CollectionSpec | string, options: CollectionOptions = {}): Promise<Collection> {
  if (typeof specOrPath !== 'string') return instantiate(specOrPath.copy(), options);
  // Synchronous on purpose: objects are small, and an async read costs more in event-loop
  // round trips (~0.5 ms) than the read itself, a tenth of a warm load.
  // The same route as a spec: parsing finished the BTF, so the bytes are not needed again.
  return instantiate(parseObjectFile(specOrPath, readObjectFile(specOrPath)), options);
}

/** The programs to load and the maps they need (see {@link CollectionOptions.programs}). */
function select(spec: CollectionSpec, options: CollectionOptions): { programs: ELFProgramSpec[]; maps: ELFMapSpec[] } {
  let names: string[];
  if (options.programs !== undefined) {
    const unknown = options.programs.filter((n) => !Object.hasOwn(spec.programs, n));
    if (unknown.length > 0) {
      throw new ArgumentError(`no program ${unknown.join(', ')} in the object (it has ${Object.keys(spec.programs).join(', ') || 'none'})`);
    }
    for (const n of options.programs) checkStructOpsProgram(spec.programs[n]!, Object.values(spec.maps));
    names = [...options.programs];
  } else {
    names = Object.values(spec.programs)
      .filter((p) => p.autoload && !isUnusedStructOpsProgram(p, Object.values(spec.maps)))
      .map((p) => p.name);
  }
  const progs = new Set(names);
  const maps = new Set<string>(options.programs === undefined ? Object.keys(spec.maps) : []);
  // Fixpoint: programs bring their maps; prog arrays bring their statically placed programs;
  // map-in-maps bring their inner maps; struct_ops maps come with their programs, both ways.
  for (let changed = true; changed; ) {
    changed = false;
    for (const m of Object.values(spec.maps)) {
      if (!maps.has(m.name) && structOpsPrograms(m).some((p) => progs.has(p))) {
        maps.add(m.name);
        changed = true;
      }
    }
    for (const name of progs) {
      for (const insn of spec.programs[name]!.instructions) {
        const ref = insn.reference;
        if (ref !== undefined && insn.isLoadImm64 && Object.hasOwn(spec.maps, ref) && !maps.has(ref)) {
          maps.add(ref);
          changed = true;
        }
      }
    }
    for (const name of maps) {
      const m = spec.maps[name]!;
      for (const slot of m.initialSlots ?? []) {
        const set = m.type === MapType.ProgArray ? progs : maps;
        const pool = m.type === MapType.ProgArray ? spec.programs : spec.maps;
        if (Object.hasOwn(pool, slot.name) && !set.has(slot.name)) {
          set.add(slot.name);
          changed = true;
        }
      }
      for (const p of structOpsPrograms(m)) {
        if (Object.hasOwn(spec.programs, p) && !progs.has(p)) {
          progs.add(p);
          changed = true;
        }
      }
    }
  }
  return {
    programs: Object.values(spec.programs).filter((p) => progs.has(p.name)),
    maps: Object.values(spec.maps).filter((m) => maps.has(m.name)),
  };
}

const isDataSection = (m: ELFMapSpec): boolean => /^\.(rodata|data|bss|kconfig)/.test(m.sectionName);

/** Global data (array maps addressed with BPF_PSEUDO_MAP_VALUE) needs Linux 5.2. */
function checkGlobalData(programs: readonly ELFProgramSpec[], spec: CollectionSpec): void {
  if (kernelAtLeast('5.2')) return;
  for (const p of programs) {
    for (const insn of p.instructions) {
      if (!insn.isLoadImm64 || insn.src !== (PseudoSource.MapValue as number) || insn.reference === undefined) continue;
      const m = spec.maps[insn.reference];
      if (m !== undefined && isDataSection(m)) throw new GlobalDataNotSupportedError(p.name, m.sectionName);
    }
  }
}

/** The pinned map at `path`, if compatible with `s`; undefined when nothing is pinned there. */
function openPinned(s: MapSpec & { name: string }, flags: number, path: string): BpfMap | undefined {
  let existing: BpfMap;
  try {
    existing = BpfMap.fromPin(path);
  } catch (err) {
    if (err instanceof SyscallError && err.errno === Errno.ENOENT) return undefined;
    throw err;
  }
  const diffs: string[] = [];
  const cmp = (field: string, pinned: string | number, object: string | number): void => {
    if (pinned !== object) diffs.push(`${field}: pinned ${pinned}, object ${object}`);
  };
  cmp('type', mapTypeName(existing.type), mapTypeName(s.type));
  cmp('keySize', existing.keySize, s.keySize);
  cmp('valueSize', existing.valueSize, s.valueSize);
  // PERF_EVENT_ARRAY's 0 means "one per CPU", which the kernel stored as a number.
  if ((s.maxEntries ?? 0) !== 0) cmp('maxEntries', existing.maxEntries, s.maxEntries ?? 0);
  cmp('flags', `0x${existing.flags.toString(16)}`, `0x${flags.toString(16)}`);
  if (diffs.length > 0) {
    existing.close();
    throw new PinnedMapIncompatibleError(s.name, path, diffs);
  }
  return existing;
}

/** Checks a `mapReplacements` entry against the object's definition. */
function checkReplacement(m: ELFMapSpec, r: BpfMap): void {
  const diffs: string[] = [];
  if (r.type !== m.type) diffs.push(`type ${mapTypeName(r.type)} != ${mapTypeName(m.type)}`);
  if (r.keySize !== m.keySize) diffs.push(`keySize ${r.keySize} != ${m.keySize}`);
  if (r.valueSize !== m.valueSize) diffs.push(`valueSize ${r.valueSize} != ${m.valueSize}`);
  if ((m.maxEntries ?? 0) !== 0 && r.maxEntries !== m.maxEntries) diffs.push(`maxEntries ${r.maxEntries} != ${m.maxEntries}`);
  if (diffs.length > 0) throw new ArgumentError(`map ${m.name}: the replacement map does not match the object's definition (${diffs.join(', ')})`);
}

const mapInMapTypes = new Set<MapType>([MapType.ArrayOfMaps, MapType.HashOfMaps]);

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  dataView(out).setUint32(0, value, hostLittleEndian);
  return out;
}

function instantiate(spec: CollectionSpec, options: CollectionOptions): Collection {
  return withLoadToken(options.token, () => instantiateInScope(spec, options));
}

function instantiateInScope(spec: CollectionSpec, options: CollectionOptions): Collection {
  // The kernel reads instructions, BTF and map values in its own byte order: an object built
  // for the other one would reach the kernel as garbage and fail with an unrelated message.
  const host = hostLittleEndian ? 'little' : 'big';
  if (spec.byteOrder !== host) {
    throw new ArgumentError(
      `the object is ${spec.byteOrder}-endian (clang -target ${spec.byteOrder === 'big' ? 'bpfeb' : 'bpfel'}) and this kernel is ${host}-endian: ` +
        `build it with -target bpf or -target ${host === 'little' ? 'bpfel' : 'bpfeb'} (it can still be parsed and inspected here)`,
    );
  }
  if (options.constants !== undefined) spec.rewriteConstants(options.constants);
  const { programs: progSpecs, maps: mapSpecs } = select(spec, options);
  // Before anything is created: a symbol nobody resolved would load as 0 or call nowhere.
  for (const p of progSpecs) checkReferences(p, spec.externs);
  checkGlobalData(progSpecs, spec);

  const releases: Release[] = [];
  const maps: Record<string, BpfMap> = {};
  const programs: Record<string, Program> = {};
  const variables: Record<string, Variable> = {};
  const arenas: Record<string, Uint8Array> = {};
  const frozen = new Set<string>();
  const reused = new Set<string>();
  let open = true;
  const running = lazy(() => loadKernelSpec());
  const coreTarget = lazy(() => (options.kernelBTF === undefined ? running() : loadKernelSpec(options.kernelBTF)));
  let btf: ObjectBTF = { handle: undefined, reason: 'the object has no BTF' };
  const structOps = new StructOpsLoader(mapSpecs, running);

  try {
    // --- object BTF ------------------------------------------------------------------------
    if (spec.btf !== undefined && (progSpecs.length > 0 || mapSpecs.length > 0)) {
      btf = loadObjectBTF(spec.btf);
      if (btf.handle !== undefined) {
        const handle = btf.handle;
        // Maps and programs hold their own references to the BTF; the loader's fd is only
        // needed while creating them.
        releases.push(() => handle.close());
      }
    }

    // --- maps ------------------------------------------------------------------------------
    const mmapable = kernelAtLeast('5.5');
    for (const m of mapSpecs) {
      const replacement = options.mapReplacements?.[m.name];
      if (replacement !== undefined) {
        checkReplacement(m, replacement);
        maps[m.name] = replacement;
        continue;
      }
      if (m.structOps !== undefined) {
        const map = structOps.createMap(m, btf);
        releases.push(() => map.close());
        maps[m.name] = map;
        continue;
      }
      if (m.name === '.kconfig' && m.contents?.[0] !== undefined) {
        const value = (m.contents[0][1] as Uint8Array).slice();
        fillKconfig(value, Object.values(spec.externs), spec.byteOrder, options.kconfig);
        m.contents = [[m.contents[0][0], value]];
      }
      let flags = m.flags ?? 0;
      if (m.mmapable === true && mmapable) flags |= BPF_F_MMAPABLE;
      const s: MapSpec = { ...m, flags, pinning: PinType.None };
      if (m.freeze === true) frozen.add(m.name);

      if (m.pinning === PinType.ByName && options.pinPath !== undefined) {
        const path = join(options.pinPath, m.name);
        const existing = openPinned({ ...s, name: m.name }, flags, path);
        if (existing !== undefined) {
          maps[m.name] = existing;
          reused.add(m.name);
          releases.push(() => existing.close());
          continue;
        }
        const map = createMap(m, s, spec.btf, btf);
        releases.push(() => map.close());
        maps[m.name] = map;
        map.pin(path);
        // Undone only if this load fails; after success the pin is the point.
        const unpin = (): void => {
          if (!open) rmSync(path, { force: true });
        };
        releases.push(unpin);
        continue;
      }
      const map = createMap(m, s, spec.btf, btf);
      releases.push(() => map.close());
      maps[m.name] = map;
      if (m.type === MapType.Arena) {
        const memory = mapArena(map, m, releases);
        if (memory !== undefined) arenas[m.name] = memory;
      }
    }

    // --- programs --------------------------------------------------------------------------
    const cache = new CORECandidateCache();
    // Module BTF objects that kfuncs, typed ksyms and attach targets refer to: open while the
    // programs load (each program then holds its own reference), closed after.
    const moduleFds = new ModuleBTFFds();
    releases.push(() => moduleFds.close());
    // Like libbpf, CO-RE against a custom kernelBTF does not fall back to the running kernel's modules.
    const coreModules = options.kernelBTF === undefined ? loadKernelModuleSpecs : undefined;
    for (const p of progSpecs) {
      const insns: Instruction[] = [...p.instructions];
      const fdArray = new FdArray(p.fdArray);
      fillReferences(p, insns, spec, maps, running, moduleFds, fdArray);
      let core: CORERelocateResult | undefined;
      if (p.coreRelocations !== undefined && p.coreRelocations.length > 0) {
        if (spec.btf === undefined) throw new BpfError(`program ${p.name}: has CO-RE relocations but the object has no BTF`);
        core = coreRelocate(insns, p.coreRelocations, spec.btf, [coreTarget()], {
          program: p.name,
          candidateCache: cache,
          ...(coreModules === undefined ? {} : { moduleTargets: coreModules }),
        });
      }
      const load: ProgramSpec = { ...p, instructions: insns };
      const fds = fdArray.fds;
      if (fds !== undefined) load.fdArray = fds;
      if (btf.handle !== undefined) load.btf = btf.handle.fd;
      else {
        delete load.btf;
        delete load.funcInfo;
        delete load.lineInfo;
      }
      const structOpsAttach = structOps.programAttach(p);
      if (structOpsAttach !== undefined) Object.assign(load, structOpsAttach);
      if (p.type === ProgramType.Ext) Object.assign(load, freplaceLoadFields(p, options.freplaceTargets?.[p.name]));
      if (needsAttachBtfId(p)) {
        const target = attachBtfTarget(p, running(), loadKernelModules);
        load.attachBtfId = target.id;
        if (target.module !== undefined) load.attachBtfObjFd = moduleFds.fd(target.module);
      }
      if (p.type === ProgramType.Unspec) {
        throw new ArgumentError(`program ${p.name}: section ${p.sectionName} does not say which program type it is (see the libbpf section names)`);
      }
      let prog: Program;
      try {
        prog = Program.load(load, { logLevel: options.logLevel, logSize: options.logSize });
      } catch (err) {
        if (err instanceof VerifierError) throw explainLoadFailure(err, core);
        throw err;
      }
      releases.push(() => prog.close());
      programs[p.name] = prog;
    }
    moduleFds.close();

    // --- static slots ----------------------------------------------------------------------
    for (const m of mapSpecs) {
      const map = maps[m.name]!;
      if (reused.has(m.name) || options.mapReplacements?.[m.name] !== undefined) continue;
      for (const slot of m.initialSlots ?? []) {
        const target = m.type === MapType.ProgArray ? programs[slot.name] : maps[slot.name];
        if (target === undefined) throw new BpfError(`map ${m.name}: slot ${slot.index} names ${slot.name}, which was not loaded`);
        map.update(u32(slot.index), u32(target.fd));
      }
    }

    // --- struct_ops values (a .struct_ops map registers here) ------------------------------
    structOps.writeValues(maps, programs, spec.byteOrder, releases);

    // --- variables -------------------------------------------------------------------------
    const sections = new Map<string, SectionAccess>();
    for (const [name, v] of Object.entries(spec.variables)) {
      const map = maps[v.mapName];
      if (map === undefined) continue;
      let access = sections.get(v.sectionName);
      if (access === undefined) {
        const readOnly = frozen.has(v.sectionName) || v.readOnly;
        // Arena globals live in the arena's mapping (none for a reused or replaced arena: skipped).
        if (map.type === MapType.Arena && arenas[v.mapName] === undefined) continue;
        const mapped = map.type === MapType.Arena ? arenas[v.mapName] : mapValue(map, readOnly, releases);
        access = { map, mapped, readOnly, open: () => open };
        sections.set(v.sectionName, access);
      }
      variables[name] = new Variable(v, access);
    }
  } catch (err) {
    open = false;
    releaseAll(releases);
    throw err;
  }
  // Variables stop working when the collection closes.
  releases.unshift(() => {
    open = false;
  });
  return new Collection(programs, maps, variables, releases, arenas);
}

/** Creates one map, with BTF key/value types when the object has them; retried without BTF if refused. */
function createMap(m: ELFMapSpec, s: MapSpec, objectBTF: Spec | undefined, btf: ObjectBTF): BpfMap {
  const opts: CreateMapOptions = {};
  if (btf.handle !== undefined && objectBTF !== undefined && !mapInMapTypes.has(m.type)) {
    const id = (t: unknown): number => (t !== undefined && objectBTF.has(t as never) ? objectBTF.typeId(t as never) : 0);
    const key = id(m.key);
    const value = id(m.value);
    // Global data has no key type (array_map_check_btf() accepts a void key only for a DATASEC value).
    if (value !== 0 && (key !== 0 || isDataSection(m))) {
      opts.btfFd = btf.handle.fd;
      opts.btfKeyTypeId = key;
      opts.btfValueTypeId = value;
    }
  }
  try {
    try {
      return BpfMap.create(s, opts);
    } catch (err) {
      // Kernels reject map BTF they cannot check (older map_check_btf(), kinds they predate):
      // the map works without it, only bpftool's pretty-printing is lost. libbpf does the same.
      if (opts.btfFd === undefined || !(err instanceof SyscallError) || err instanceof NotSupportedError) throw err;
      return BpfMap.create(s, {});
    }
  } catch (err) {
    if (err instanceof NotSupportedError && /map type/.test(err.feature)) {
      // A type refused by policy (ARENA under lockdown) keeps that reason: no upgrade would help.
      const probe = err.minimumVersion === undefined ? mapTypeFeature(m.type).check() : undefined;
      const policy = probe?.supported === false && probe.refusedByPolicy === true ? probe.reason : undefined;
      throw new MapTypeNotSupportedError(m.name, mapTypeName(m.type), mapTypeSince[m.type], mapTypeConfig[m.type], err, policy);
    }
    if (err instanceof BpfError && !err.message.includes(m.name)) {
      throw new BpfError(`map ${m.name}: ${err.message}`, { errno: err.errno, cause: err });
    }
    throw err;
  }
}

/** Maps a global data value for variables, when the map is mmapable and the backend can. */
function mapValue(map: BpfMap, readOnly: boolean, releases: Release[]): Uint8Array | undefined {
  if ((map.flags & BPF_F_MMAPABLE) === 0 || map.valueSize === 0) return undefined;
  const PROT_READ = 1;
  const PROT_WRITE = 2;
  const MAP_SHARED = 1;
  const b = backend();
  // A frozen map refuses writable mappings (bpf_map_mmap(): EPERM for VM_WRITE once frozen).
  const mapping: Mapping | number = b.mmap(map.fd, map.valueSize, readOnly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  if (typeof mapping === 'number') return undefined; // e.g. Electron's ffi-rs without aliasing: use syscalls
  releases.push(() => b.munmap(mapping));
  return new Uint8Array(mapping.buffer, 0, map.valueSize);
}

/** Puts map fds and resolved `.ksyms` into a program's instructions. */
function fillReferences(
  p: ELFProgramSpec,
  insns: Instruction[],
  spec: CollectionSpec,
  maps: Record<string, BpfMap>,
  kernel: () => Spec,
  moduleFds: ModuleBTFFds,
  fdArray: FdArray,
): void {
  for (const insn of insns) {
    const ref = insn.reference;
    if (ref === undefined) continue;
    if (insn.isLoadImm64 && (insn.src === (PseudoSource.MapFD as number) || insn.src === (PseudoSource.MapValue as number))) {
      const map = maps[ref];
      if (map === undefined) throw new BpfError(`program ${p.name}: refers to map ${ref}, which was not created`);
      // The low half holds the fd, the high half (second slot) the offset into the value.
      insn.constant = (BigInt(insn.constant) & 0xffffffff00000000n) | BigInt(map.fd);
      continue;
    }
    const ext = spec.externs[ref];
    if (ext === undefined || ext.kind !== 'ksym') continue;
    applyKsym(insn, resolveKsym(ext, kernel, p.name, loadKernelModules), moduleFds, fdArray);
  }
}

function lazy<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}
