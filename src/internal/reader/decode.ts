/**
 * The type argument of the readers' `decoded()`: a BTF type, or its name looked up in the BTF
 * the caller passes.
 *
 * @module
 */
import { ArgumentError } from '../../errors.js';
import type { Type } from '../../btf/types.js';
import type { Spec } from '../../btf/spec.js';
import { TypeNotFoundError } from '../../btf/errors.js';

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
