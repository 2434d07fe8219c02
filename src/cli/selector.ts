/**
 * How commands name a loaded program or map, in bpftool's words: `id 5` (or just `5`),
 * `name counts`, `tag 59f4a931744dcdc6` (programs), `pinned /sys/fs/bpf/x` (or just the
 * path). A name or tag can match several objects; id and pinned path name one.
 *
 * @module
 */
import { objGet, objGetInfoByFd } from '../sys/commands.js';
import { readField } from '../sys/attr.js';
import { ProgInfo } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { ownFdKind } from '../internal/bpf-fdinfo.js';
import { ArgumentError } from '../errors.js';
import { UsageError } from './args.js';

/** The kinds of object a selector picks. */
export type SelectableKind = 'prog' | 'map';

/** A parsed selector. */
export type Selector =
  | { readonly by: 'id'; readonly id: number }
  | { readonly by: 'name'; readonly name: string }
  | { readonly by: 'tag'; readonly tag: string }
  | { readonly by: 'pinned'; readonly path: string };

const noun: Record<SelectableKind, string> = { prog: 'program', map: 'map' };

/** `id 5`, `name x`, `tag t`, `pinned /p` as text. */
export function selectorText(s: Selector): string {
  return s.by === 'id' ? `id ${s.id}` : s.by === 'name' ? `name ${s.name}` : s.by === 'tag' ? `tag ${s.tag}` : `pinned ${s.path}`;
}

function parseId(word: string | undefined): number {
  if (word === undefined || !/^\d+$/.test(word) || Number(word) === 0 || Number(word) > 0xffffffff) {
    throw new UsageError(`${JSON.stringify(word ?? '')} is not an object id (a positive integer)`);
  }
  return Number(word);
}

/**
 * Reads a selector from the front of `words` and returns it with the words after it. A bare
 * number is an id, a word starting with `/` a pinned path, any other word a name.
 */
export function parseSelector(words: readonly string[], kind: SelectableKind): { selector: Selector; rest: string[] } {
  const [first, second] = words;
  if (first === undefined) throw new UsageError(`missing ${noun[kind]}: give an id, "name NAME"${kind === 'prog' ? ', "tag TAG"' : ''} or "pinned PATH"`);
  const keyed = (): string => {
    if (second === undefined) throw new UsageError(`"${first}" needs a value`);
    return second;
  };
  const rest = words.slice(['id', 'name', 'tag', 'pinned'].includes(first) ? 2 : 1);
  switch (first) {
    case 'id':
      return { selector: { by: 'id', id: parseId(keyed()) }, rest };
    case 'name':
      return { selector: { by: 'name', name: keyed() }, rest };
    case 'pinned':
      return { selector: { by: 'pinned', path: keyed() }, rest };
    case 'tag': {
      if (kind !== 'prog') throw new UsageError('only programs have tags');
      const tag = keyed().toLowerCase();
      if (!/^[0-9a-f]{16}$/.test(tag)) throw new UsageError(`${JSON.stringify(second)} is not a program tag (16 hex digits)`);
      return { selector: { by: 'tag', tag }, rest };
    }
  }
  if (/^\d+$/.test(first)) return { selector: { by: 'id', id: parseId(first) }, rest };
  if (first.startsWith('/')) return { selector: { by: 'pinned', path: first }, rest };
  return { selector: { by: 'name', name: first }, rest };
}

/** The id of the object pinned at `path`, checked to be of `kind`. */
export function pinnedId(path: string, kind: SelectableKind): number {
  const fd = objGet(path, 0, { context: `open pinned object ${path}` });
  try {
    const actual = ownFdKind(fd);
    if (actual !== kind) throw new ArgumentError(`${path} is ${actual === undefined ? 'not a BPF object' : `a ${actual}, not a ${noun[kind]}`}`);
    // Program, map and link info all start with type and id.
    return Number(readField(objGetInfoByFd(fd, 8), ProgInfo.fields.id));
  } finally {
    backend().close(fd);
  }
}

/** What a name or tag selector is matched against. */
export interface Candidate {
  /** The object's id. */
  readonly id: number;
  /** Its names: the kernel's (at most 15 characters) and the full one from BTF, when known. */
  readonly names: readonly string[];
  /** A program's tag. */
  readonly tag?: string;
}

/** True if `c` is what `s` names (ids and pinned paths were resolved to ids beforehand). */
export function matches(s: Selector, c: Candidate): boolean {
  if (s.by === 'id') return c.id === s.id;
  if (s.by === 'tag') return c.tag === s.tag;
  if (s.by === 'name') return c.names.includes(s.name);
  return false;
}

/** The id a selector names directly (id, pinned path), or undefined for a name or tag. */
export function directId(s: Selector, kind: SelectableKind): number | undefined {
  return s.by === 'id' ? s.id : s.by === 'pinned' ? pinnedId(s.path, kind) : undefined;
}

/**
 * The one object a selector names: directly, or the single candidate matching a name or tag.
 * Throws when none or several match, naming their ids.
 */
export function selectOne(s: Selector, kind: SelectableKind, candidates: () => Iterable<Candidate>): number {
  const direct = directId(s, kind);
  if (direct !== undefined) return direct;
  const hits = [...candidates()].filter((c) => matches(s, c)).map((c) => c.id);
  if (hits.length === 0) throw new ArgumentError(`no ${noun[kind]} with ${selectorText(s)}`);
  if (hits.length > 1) throw new ArgumentError(`${hits.length} ${noun[kind]}s have ${selectorText(s)} (ids ${hits.join(', ')}): give an id`);
  return hits[0]!;
}
