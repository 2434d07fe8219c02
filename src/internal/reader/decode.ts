/**
 * The type argument of the readers' `decoded()`: a codec, a BTF type, or its name looked up in
 * the BTF the caller passes.
 *
 * @module
 */
import { ArgumentError } from '../../errors.js';
import type { Type } from '../../btf/types.js';
import type { Spec } from '../../btf/spec.js';
import { TypeNotFoundError } from '../../btf/errors.js';
import type { Codec } from '../../btf/codec.js';
import { valueCodec, type DecodeOptions, type DecodedValue } from '../../btf/decode.js';

/** What a reader's `decoded()` takes: a codec, a BTF type, or a type name (`"struct event"`). @internal */
export type RecordType<T> = Codec<T> | Type | string;

/**
 * The codec `decoded()` decodes every record with, resolved once before its loop: `type`
 * itself when it is a codec, else the cached BTF codec of the type (a name looked up in `btf`).
 * @internal
 */
export function recordCodec<T>(type: RecordType<T>, options: DecodeOptions & { btf?: Spec }): Codec<T | DecodedValue> {
  if (typeof type === 'object' && 'decode' in type && typeof type.decode === 'function') return type;
  return valueCodec(resolveType(type as Type | string, options.btf), options);
}

/** Resolves `"struct event"` (or a plain name) in `btf`. @internal */
export function resolveType(type: Type | string, btf: Spec | undefined): Type {
  if (typeof type !== 'string') return type;
  if (btf === undefined) throw new ArgumentError(`decoded(${JSON.stringify(type)}): pass options.btf to look a type up by name`);
  const m = /^\s*(struct|union|enum|typedef)\s+(\S+)\s*$/.exec(type);
  try {
    return m === null ? btf.typeByName(type.trim()) : btf.typeByName(m[2]!, m[1] as 'struct');
  } catch (e) {
    if (!(e instanceof TypeNotFoundError)) throw e;
    throw new TypeNotFoundError(e.typeName, e.kindName, pointerOnlyHint(m === null ? type.trim() : `${m[1]} ${m[2]}`));
  }
}

/**
 * clang writes a type into .BTF only when a function signature, a global variable or a map
 * definition uses it: an event struct that a program only reaches through a pointer
 * (`struct event *e = bpf_ringbuf_reserve(…)`) is left out, and there is nothing to decode with.
 */
function pointerOnlyHint(type: string): string {
  return (
    `the object's BTF has no ${type}. clang emits a type only when a function signature, a global ` +
    `variable or a map definition uses it, so a struct only reached through a pointer (${type} *e = ` +
    `bpf_ringbuf_reserve(…)) is left out. Fix: name it once in the C source, e.g. a map's ` +
    `__type(value, ${type}) or a global \`const ${type} *unused_event __attribute__((unused));\`, and rebuild`
  );
}
