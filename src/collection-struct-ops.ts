/**
 * The struct_ops steps of `loadCollection`, in the order it needs them:
 * 1. which programs come with which maps (a struct_ops program loads only for a map that uses
 *    it: without one it has no struct and member to load for, as libbpf also decides);
 * 2. each map created for the running kernel's struct (src/struct-ops.ts);
 * 3. each program loaded with `attach_btf_id` = the kernel struct's BTF id and
 *    `expected_attach_type` = the kernel's index of the member it implements;
 * 4. once the programs exist, each value written (a `.struct_ops` map is registered by that
 *    write, and unregistered again when the collection closes).
 *
 * @module
 */
import type { Spec } from './btf/spec.js';
import { Struct } from './btf/types.js';
import type { ObjectBTF } from './collection-btf.js';
import type { ELFMapSpec, ELFProgramSpec } from './elf/specs.js';
import type { ByteOrder } from './asm/encoding.js';
import { ArgumentError, BpfError } from './errors.js';
import type { BpfMap } from './map.js';
import type { Program } from './prog.js';
import { structOpsMemberIndex, structOpsTarget, structOpsValue, StructOpsError, type StructOpsTarget } from './struct-ops-layout.js';
import { createStructOpsMap, registersOnUpdate, unregisterStructOps, writeStructOps } from './struct-ops.js';
import { ProgramType, type AttachType } from './types.js';

/** The programs a struct_ops map points its members at. */
export function structOpsPrograms(m: ELFMapSpec): string[] {
  return (m.structOps?.functions ?? []).map((f) => f.program);
}

/** True for a struct_ops program that no map of `maps` uses: there is nothing to load it for. */
export function isUnusedStructOpsProgram(p: ELFProgramSpec, maps: Iterable<ELFMapSpec>): boolean {
  if (p.type !== ProgramType.StructOps) return false;
  for (const m of maps) if (structOpsPrograms(m).includes(p.name)) return false;
  return true;
}

/**
 * Throws when a program asked for by name is a struct_ops program no map uses.
 *
 * @throws {@link ArgumentError} naming the program.
 */
export function checkStructOpsProgram(p: ELFProgramSpec, maps: Iterable<ELFMapSpec>): void {
  if (isUnusedStructOpsProgram(p, maps)) {
    throw new ArgumentError(`program ${p.name} is a struct_ops program that no .struct_ops or .struct_ops.link map of the object uses: it loads only for the struct member a map points at it`);
  }
}

/** The struct_ops maps of one load and what the running kernel says about each. */
export class StructOpsLoader {
  readonly #maps: readonly ELFMapSpec[];
  readonly #kernel: () => Spec;
  readonly #targets = new Map<string, StructOpsTarget>();

  /** @param maps the maps being loaded (others are ignored); @param kernel the running kernel's BTF. */
  constructor(maps: readonly ELFMapSpec[], kernel: () => Spec) {
    this.#maps = maps.filter((m) => m.structOps !== undefined);
    this.#kernel = kernel;
  }

  #target(m: ELFMapSpec): StructOpsTarget {
    let t = this.#targets.get(m.name);
    if (t === undefined) {
      t = structOpsTarget(m.name, m.structOps!.typeName, this.#kernel());
      this.#targets.set(m.name, t);
    }
    return t;
  }

  /** Creates a struct_ops map for the running kernel. */
  createMap(m: ELFMapSpec, btf: ObjectBTF): BpfMap {
    return createStructOpsMap(m, this.#target(m), btf.handle?.fd, btf.reason);
  }

  /**
   * `attach_btf_id` and `expected_attach_type` of a struct_ops program, from the maps that use
   * it; undefined for other programs.
   *
   * @throws {@link StructOpsError} when maps use it for different members or structs.
   */
  programAttach(p: ELFProgramSpec): { attachBtfId: number; attachType: AttachType } | undefined {
    if (p.type !== ProgramType.StructOps) return undefined;
    let found: { attachBtfId: number; attachType: AttachType; map: string; member: string } | undefined;
    for (const m of this.#maps) {
      for (const f of m.structOps!.functions) {
        if (f.program !== p.name) continue;
        const target = this.#target(m);
        const use = { attachBtfId: target.typeId, attachType: structOpsMemberIndex(m.name, target, f.member) as AttachType, map: m.name, member: f.member };
        if (found !== undefined && (found.attachBtfId !== use.attachBtfId || found.attachType !== use.attachType)) {
          throw new StructOpsError(
            m.name,
            f.member,
            `program ${p.name} implements ${found.member} of map ${found.map} and ${f.member} here: a struct_ops program loads for one member of one struct, so give each its own function`,
          );
        }
        found = use;
      }
    }
    return found === undefined ? undefined : { attachBtfId: found.attachBtfId, attachType: found.attachType };
  }

  /**
   * Writes every map's value now that its programs are loaded. A `.struct_ops` map is
   * registered by the write; `releases` gets its unregistration, to run before the map closes.
   */
  writeValues(maps: Record<string, BpfMap>, programs: Record<string, Program>, byteOrder: ByteOrder, releases: (() => void)[]): void {
    for (const m of this.#maps) {
      const map = maps[m.name];
      if (map === undefined) continue;
      const target = this.#target(m);
      if (!(m.value instanceof Struct)) throw new BpfError(`struct_ops map ${m.name}: its spec has no struct type (value)`);
      const fd = (name: string): number => {
        const prog = programs[name];
        if (prog === undefined) throw new StructOpsError(m.name, undefined, `program ${name} was not loaded`);
        return prog.fd;
      };
      const value = structOpsValue(m.name, m.structOps!, m.value, target, fd, byteOrder);
      writeStructOps(map, m.name, target, value);
      if (registersOnUpdate(map)) {
        // A registered map holds itself: only deleting element 0 unregisters it.
        releases.push(() => {
          unregisterStructOps(map);
        });
      }
    }
  }
}
