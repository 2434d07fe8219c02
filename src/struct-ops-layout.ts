/**
 * A struct_ops map in the running kernel's terms: the kernel struct it implements, the
 * `bpf_struct_ops_<name>` wrapper that is the map's value type, the member indexes its programs
 * load with, and the map value itself, translated member by member, by name, from the object's
 * layout (which was compiled against some other kernel's header, or a local declaration with
 * only the members it sets) into the kernel's.
 *
 * Pure: it reads the kernel's BTF and the spec, never the kernel. What the kernel checks when the
 * value is written (bpf_struct_ops_map_update_elem(), kernel/bpf/bpf_struct_ops.c) shapes it:
 * the common header (refcount, state) must be zero; a function pointer member holds the fd of a
 * STRUCT_OPS program loaded with attach_btf_id = the struct's id and expected_attach_type = the
 * member's index; any other member must be zero unless the subsystem's init_member() takes it
 * (tcp_congestion_ops takes `name` and `flags`).
 *
 * @module
 */
import type { ByteOrder } from './asm/encoding.js';
import { readBits, writeBits } from './btf/codec.js';
import type { Spec } from './btf/spec.js';
import { Array as BTFArray, Enum, Enum64, Int, Struct, essentialName, sizeof, skipQualifiersAndTypedefs, type Member, type Type } from './btf/types.js';
import type { StructOpsSpec } from './elf/specs.js';
import { isFunctionPointer } from './elf/struct-ops.js';
import { BpfError } from './errors.js';
import { dataView } from './internal/bytes.js';

/**
 * A struct_ops map cannot be built for this kernel: its struct is not a struct_ops type here,
 * the object sets a member the kernel lacks, or a member's value does not fit the kernel's.
 * The message names the map, the member and what to do.
 */
export class StructOpsError extends BpfError {
  /** The struct_ops map (the variable's name in the object). */
  readonly map: string;
  /** The member involved, if the problem is one member. */
  readonly member: string | undefined;

  constructor(map: string, member: string | undefined, message: string, options?: { cause?: unknown }) {
    super(`struct_ops map ${map}: ${message}`, options);
    this.map = map;
    this.member = member;
  }
}

/** Where a struct_ops map lands in the running kernel. */
export interface StructOpsTarget {
  /** The kernel's struct (`tcp_congestion_ops`). */
  readonly type: Struct;
  /** Its BTF id in vmlinux: the `attach_btf_id` of the map's programs. */
  readonly typeId: number;
  /** BTF id of `bpf_struct_ops_<name>`: the map's `btf_vmlinux_value_type_id`. */
  readonly valueTypeId: number;
  /** Size of that wrapper: the map's value size. */
  readonly valueSize: number;
  /** Byte offset of the struct (the wrapper's `data` member) in the value. */
  readonly dataOffset: number;
}

function findStruct(kernel: Spec, name: string): Struct | undefined {
  for (const id of kernel.idsByName(name)) {
    const t = kernel.typeById(id);
    if (t instanceof Struct && t.name === name) return t;
  }
  return undefined;
}

/**
 * Finds the kernel struct `typeName` implements (a `___flavour` suffix dropped) and its
 * `bpf_struct_ops_<name>` wrapper in the running kernel's BTF.
 *
 * @throws {@link StructOpsError} when the kernel has no such struct, or has it but not as a
 * struct_ops type (no wrapper: the subsystem is not built, or predates its struct_ops support).
 */
export function structOpsTarget(map: string, typeName: string, kernel: Spec): StructOpsTarget {
  const name = essentialName(typeName);
  const type = findStruct(kernel, name);
  if (type === undefined) {
    throw new StructOpsError(map, undefined, `this kernel's BTF has no struct ${name} (struct_ops types defined in kernel modules are not supported yet)`);
  }
  const wrapperName = `bpf_struct_ops_${name}`;
  const wrapper = findStruct(kernel, wrapperName);
  const data = wrapper?.members.find((m) => m.name === 'data');
  if (wrapper === undefined || data === undefined) {
    throw new StructOpsError(
      map,
      undefined,
      `struct ${name} is not a struct_ops type of this kernel (its BTF has no ${wrapperName}): the subsystem is not built in, or predates BPF implementations of it (tcp_congestion_ops 5.6, sched_ext_ops 6.12)`,
    );
  }
  return { type, typeId: kernel.typeId(type), valueTypeId: kernel.typeId(wrapper), valueSize: wrapper.size, dataOffset: data.offset / 8 };
}

/**
 * The kernel's index of `member` in the target struct: the `expected_attach_type` a program
 * for that member loads with.
 *
 * @throws {@link StructOpsError} when the kernel's struct has no such member.
 */
export function structOpsMemberIndex(map: string, target: StructOpsTarget, member: string): number {
  const index = target.type.members.findIndex((m) => m.name === member);
  if (index < 0) throw missingMember(map, target, member, 'a program');
  return index;
}

function missingMember(map: string, target: StructOpsTarget, member: string, what: string): StructOpsError {
  return new StructOpsError(
    map,
    member,
    `the object sets ${member} to ${what}, but this kernel's struct ${target.type.name} has no member ${member}: leave it out of the initialiser (or guard it with a kernel version check), or run a kernel that has it`,
  );
}

/**
 * Builds the map value (`bpf_struct_ops_<name>`, zeroed header) from the object's `data`: each
 * function pointer member gets the fd of its program (as the kernel reads it, an `unsigned
 * long` in host order), each other member set to something non-zero is copied into the
 * kernel's member of the same name — scalars of equal size as they are, integers of other
 * sizes when the value fits, char arrays as strings. Members left zero are skipped, present in
 * the kernel or not.
 *
 * @param map the map's name, for messages.
 * @param spec the object's view of the map.
 * @param objectType the object's struct type (the map spec's `value`).
 * @param target the kernel's view, from {@link structOpsTarget}.
 * @param programFd the fd of a loaded program, by name.
 * @param byteOrder the object's byte order (the host's, for any object that loads).
 * @throws {@link StructOpsError} naming the member that cannot be placed.
 */
export function structOpsValue(
  map: string,
  spec: StructOpsSpec,
  objectType: Struct,
  target: StructOpsTarget,
  programFd: (program: string) => number,
  byteOrder: ByteOrder,
): Uint8Array {
  const little = byteOrder === 'little';
  const value = new Uint8Array(target.valueSize);
  const out = dataView(value);
  const programs = new Map(spec.functions.map((f) => [f.member, f.program]));
  for (const member of objectType.members) {
    const kernelMember = target.type.members.find((m) => m.name === member.name);
    const program = programs.get(member.name);
    const at = member.offset / 8;
    if (program !== undefined) {
      if (kernelMember === undefined) throw missingMember(map, target, member.name, `program ${program}`);
      if (!isFunctionPointer(kernelMember.type)) {
        throw new StructOpsError(map, member.name, `member ${member.name} is a function pointer in the object but ${kernelMember.type} in this kernel's struct ${target.type.name}: check the header the object was built with`);
      }
      out.setBigUint64(target.dataOffset + kernelMember.offset / 8, BigInt(programFd(program)), little);
      continue;
    }
    if (member.bitfieldSize !== 0) {
      // Bitfields are rare in these structs; copy them only when nothing needs moving.
      const bytes = memberBytes(spec.data, member, objectType);
      if (bytes.every((b) => b === 0)) continue;
      if (kernelMember === undefined) throw missingMember(map, target, member.name, 'a non-zero value');
      if (kernelMember.offset !== member.offset || kernelMember.bitfieldSize !== member.bitfieldSize) {
        throw new StructOpsError(map, member.name, `bitfield ${member.name} sits elsewhere in this kernel's struct ${target.type.name}: set it from a header matching this kernel`);
      }
      value.set(bytes, target.dataOffset + at);
      continue;
    }
    const size = sizeOrZero(member.type);
    const bytes = spec.data.subarray(at, at + size);
    if (bytes.every((b) => b === 0)) continue;
    if (isFunctionPointer(member.type)) {
      throw new StructOpsError(map, member.name, `function pointer ${member.name} holds a value but no program: point it at a SEC("struct_ops/…") program or leave it NULL`);
    }
    if (kernelMember === undefined) throw missingMember(map, target, member.name, 'a non-zero value');
    const into = value.subarray(target.dataOffset + kernelMember.offset / 8, target.dataOffset + kernelMember.offset / 8 + sizeOrZero(kernelMember.type));
    translateMember(map, member, kernelMember, bytes, into, little, target);
  }
  return value;
}

function sizeOrZero(type: Type): number {
  try {
    return sizeof(type);
  } catch {
    return 0;
  }
}

/** The bytes that hold a bitfield member (whole bytes around its bits). */
function memberBytes(data: Uint8Array, member: Member, struct: Struct): Uint8Array {
  const start = Math.floor(member.offset / 8);
  const end = Math.min(struct.size, Math.ceil((member.offset + member.bitfieldSize) / 8));
  return data.subarray(start, end);
}

function isInteger(t: Type): t is Int | Enum | Enum64 {
  return t instanceof Int || t instanceof Enum || t instanceof Enum64;
}

function isChar(t: Type): boolean {
  const e = skipQualifiersAndTypedefs(t);
  return e instanceof Int && e.size === 1;
}

/** Copies one non-zero data member into the kernel's member of the same name. */
function translateMember(map: string, member: Member, kernelMember: Member, bytes: Uint8Array, into: Uint8Array, little: boolean, target: StructOpsTarget): void {
  const from = skipQualifiersAndTypedefs(member.type);
  const to = skipQualifiersAndTypedefs(kernelMember.type);
  const where = `this kernel's struct ${target.type.name}`;
  if (from instanceof BTFArray && to instanceof BTFArray && isChar(from.type) && isChar(to.type)) {
    const end = bytes.indexOf(0);
    const text = end < 0 ? bytes : bytes.subarray(0, end);
    if (text.length + 1 > into.length) {
      throw new StructOpsError(map, member.name, `${member.name} "${new TextDecoder().decode(text)}" needs ${text.length + 1} bytes with its NUL, but ${where} holds ${into.length}: shorten it`);
    }
    into.set(text);
    return;
  }
  if (isInteger(from) && isInteger(to)) {
    if (from.size === to.size) {
      into.set(bytes);
      return;
    }
    const v = readBits(bytes, 0, from.size, 0, from.size * 8, from.signed, little, true) as bigint;
    const bits = BigInt(to.size * 8);
    const fits = v >= 0n ? v < 1n << bits : v >= -(1n << (bits - 1n));
    if (!fits) throw new StructOpsError(map, member.name, `${member.name} = ${v} does not fit the ${to.size}-byte member of ${where}`);
    writeBits(into, 0, to.size, 0, to.size * 8, v, little);
    return;
  }
  if (from.kind === to.kind && bytes.length === into.length) {
    into.set(bytes);
    return;
  }
  throw new StructOpsError(
    map,
    member.name,
    `${member.name} is ${member.type} (${bytes.length} bytes) in the object but ${kernelMember.type} (${into.length} bytes) in ${where}: it cannot be translated; build against a header matching this kernel`,
  );
}
