/**
 * CO-RE relocation kinds (`enum bpf_core_relo_kind`, include/uapi/linux/bpf.h) and how they
 * group: field-based kinds carry an access string into a struct/union/array, type-based kinds
 * only name a type (access string `"0"`), enum-value kinds name one enumerator.
 *
 * @module
 */

/** What a CO-RE relocation computes. Numbers are the kernel's (`BPF_CORE_*`). */
export const COREKind = {
  /** `BPF_CORE_FIELD_BYTE_OFFSET`: byte offset of a field (bitfields: of the load window). */
  FieldByteOffset: 0,
  /** `BPF_CORE_FIELD_BYTE_SIZE`: size of a field (bitfields: of the load window). */
  FieldByteSize: 1,
  /** `BPF_CORE_FIELD_EXISTS`: 1 if the field exists in the target. */
  FieldExists: 2,
  /** `BPF_CORE_FIELD_SIGNED`: 1 if the field is a signed integer or signed enum. */
  FieldSigned: 3,
  /** `BPF_CORE_FIELD_LSHIFT_U64`: left shift that puts a bitfield at the top of a u64. */
  FieldLShiftU64: 4,
  /** `BPF_CORE_FIELD_RSHIFT_U64`: right shift that brings it back down. */
  FieldRShiftU64: 5,
  /** `BPF_CORE_TYPE_ID_LOCAL`: the type's ID in the program's own BTF. */
  TypeIDLocal: 6,
  /** `BPF_CORE_TYPE_ID_TARGET`: the type's ID in the target BTF (0 if absent). */
  TypeIDTarget: 7,
  /** `BPF_CORE_TYPE_EXISTS`: 1 if a compatible type exists in the target. */
  TypeExists: 8,
  /** `BPF_CORE_TYPE_SIZE`: the target type's size (0 if absent). */
  TypeSize: 9,
  /** `BPF_CORE_ENUMVAL_EXISTS`: 1 if the enumerator exists in the target. */
  EnumvalExists: 10,
  /** `BPF_CORE_ENUMVAL_VALUE`: the enumerator's value in the target. */
  EnumvalValue: 11,
  /** `BPF_CORE_TYPE_MATCHES`: 1 if the target type matches structurally (stricter than exists). */
  TypeMatches: 12,
} as const;

/** A {@link COREKind} number. */
export type COREKind = (typeof COREKind)[keyof typeof COREKind];

// The short names libbpf prints in its relocation log (core_relo_kind_str), so that our
// messages can be compared with libbpf's debug output line by line.
const names: readonly string[] = [
  'byte_off',
  'byte_sz',
  'field_exists',
  'signed',
  'lshift_u64',
  'rshift_u64',
  'local_type_id',
  'target_type_id',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
];

/** The short name of a kind (`"byte_off"`), as libbpf's log prints it, or undefined if unknown. */
export function coreKindName(kind: number): string | undefined {
  return names[kind];
}

/** True for kinds that resolve an access string into a field. */
export function isFieldKind(kind: COREKind): boolean {
  return kind <= COREKind.FieldRShiftU64;
}

/** True for kinds that only look at a type. */
export function isTypeKind(kind: COREKind): boolean {
  return (kind >= COREKind.TypeIDLocal && kind <= COREKind.TypeSize) || kind === COREKind.TypeMatches;
}

/** True for enumerator kinds. */
export function isEnumvalKind(kind: COREKind): boolean {
  return kind === COREKind.EnumvalExists || kind === COREKind.EnumvalValue;
}
