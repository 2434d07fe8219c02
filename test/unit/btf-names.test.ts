// The two ways a parsed spec finds types by name — the byte search used for the first few
// lookups and the hashed index built after that — must always agree, flavors included.
import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NameIndex, scanNames } from '../../src/btf/name-index.js';
import { marshalSpec } from '../../src/btf/marshal.js';
import { parseSpec, Spec } from '../../src/btf/spec.js';
import { Int, IntEncoding, Kind, Struct, Typedef, essentialName } from '../../src/btf/types.js';

function both(spec: Spec, name: string): [number[], number[]] {
  const raw = spec.raw!;
  const index = new NameIndex(raw.strings, raw.nameOffsets, raw.firstId);
  return [scanNames(raw.strings, raw.nameOffsets, raw.firstId, name), index.lookup(name)];
}

describe('name search', () => {
  it('flavors, prefixes and names containing ___ match exactly as the index does', () => {
    const built = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    for (const n of ['foo', 'foo___v1', 'foo___v2', 'foo_bar', 'foobar', 'a___b', 'a___b___c', 'x___', '___y']) built.add(new Typedef(n, int));
    built.add(new Struct('foo', 4));
    const spec = parseSpec(marshalSpec(built));
    for (const q of ['foo', 'foo_bar', 'foobar', 'a', 'a___b', 'x___', 'x', '___y', 'fo', 'int', 'missing']) {
      const [scan, index] = both(spec, essentialName(q));
      expect({ q, scan }).toEqual({ q, scan: index });
    }
    expect(both(spec, 'foo')[0]).toHaveLength(4);
  });

  it('the first lookups (byte search) and later ones (index) give the same answers', () => {
    const built = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    for (let i = 0; i < 20; i++) built.add(new Typedef(`t${i}`, int));
    const spec = parseSpec(marshalSpec(built));
    const first = Array.from({ length: 20 }, (_, i) => spec.idsByName(`t${i}`));
    const fresh = parseSpec(marshalSpec(built));
    for (let i = 0; i < 20; i++) fresh.idsByName(`warm${i}`); // force the index
    expect(Array.from({ length: 20 }, (_, i) => fresh.idsByName(`t${i}`))).toEqual(first);
  });

  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('vmlinux: a sample of kernel names agrees', () => {
    const spec = parseSpec(readFileSync('/sys/kernel/btf/vmlinux'));
    const raw = spec.raw!;
    for (let id = 1; id < spec.typeCount; id += 997) {
      const name = raw.nameOf(id);
      if (name === '') continue;
      const [scan, index] = both(spec, essentialName(name));
      expect(scan).toEqual(index);
    }
  });

  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('vmlinux: lookups by kind (a part of the string table searched) find the same types', () => {
    const spec = parseSpec(readFileSync('/sys/kernel/btf/vmlinux'), { verified: true });
    const raw = spec.raw!;
    // The kernel's struct names end before its function names: the search is narrowed.
    expect(raw.maxNameOffset([Kind.Struct])!).toBeLessThan(raw.maxNameOffset([Kind.Func])!);
    let compared = 0;
    for (let id = 1; id < spec.typeCount; id += 499) {
      const name = raw.nameOf(id);
      if (name === '') continue;
      const kind = raw.kindOf(id);
      const kinds: Kind[] = kind === Kind.Enum ? [Kind.Enum, Kind.Enum64] : [kind];
      // A spec of its own each time: both answers come from the byte search, none from the cache.
      const fresh = parseSpec(raw.bytes, { verified: true });
      const all = fresh.idsByName(name).filter((i) => kinds.includes(raw.kindOf(i)));
      expect({ name, ids: parseSpec(raw.bytes, { verified: true }).idsByName(name, kinds) }).toEqual({ name, ids: all });
      expect(all).toContain(id);
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });
});
