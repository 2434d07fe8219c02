/**
 * The type argument of the readers' `decoded()`: a BTF type, or its name looked up in the BTF
 * the caller passes.
 *
 * @module
 */
import { ArgumentError } from '../../errors.js';
import type { Type } from '../../btf/types.js';
import type { Spec } from '../../btf/spec.js';

/** Resolves `"struct event"` (or a plain name) in `btf`. @internal */
export function resolveType(type: Type | string, btf: Spec | undefined): Type {
  if (typeof type !== 'string') return type;
  if (btf === undefined) throw new ArgumentError(`decoded(${JSON.stringify(type)}): pass options.btf to look a type up by name`);
  const m = /^\s*(struct|union|enum|typedef)\s+(\S+)\s*$/.exec(type);
  return m === null ? btf.typeByName(type.trim()) : btf.typeByName(m[2]!, m[1] as 'struct');
}
