/**
 * `linkObjects`: several BPF objects into one {@link CollectionSpec}, as if they had been
 * linked with `bpftool gen object` (libbpf's `bpf_linker`) and the result parsed — which is
 * exactly what it does, through the linker in elf/linker.ts. Functions, variables and maps one
 * object declares `extern` come from the object that defines them; `__weak` definitions give
 * way to strong ones; BTF, func_info and line_info of every input are merged.
 *
 * @module
 */
import { parseCollectionSpec, type CollectionSpec } from './collection-spec.js';
import { linkELF, type LinkObjectInput } from './elf/linker.js';

/**
 * Links BPF objects and parses the result.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { linkObjects, loadCollection } from 'ebpf-ts';
 * const spec = linkObjects([
 *   { name: 'main.bpf.o', bytes: readFileSync('main.bpf.o') },
 *   { name: 'lib.bpf.o', bytes: readFileSync('lib.bpf.o') },
 * ]);
 * const coll = await loadCollection(spec);
 * ```
 *
 * @throws `LinkError` when the objects conflict (two strong definitions of one symbol, a
 * function and a variable of one name, definitions of different sizes or sections, different
 * licenses or byte orders, an extern map no object defines), naming the symbol and both
 * objects; `ParseError` naming the object that is malformed; `ArgumentError` for no objects.
 */
export function linkObjects(inputs: readonly (Uint8Array | LinkObjectInput)[]): CollectionSpec {
  return parseCollectionSpec(linkELF(inputs));
}
