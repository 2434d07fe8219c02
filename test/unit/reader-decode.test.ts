// decoded("struct event") of the perf and ring buffer readers: the type is looked up in the
// BTF given, and a struct missing from it is explained (clang leaves out pointer-only types).
import { describe, expect, it } from 'vitest';
import { TypeNotFoundError } from '../../src/btf/errors.js';
import { Spec } from '../../src/btf/spec.js';
import { Int, IntEncoding, Member, Struct } from '../../src/btf/types.js';
import { ArgumentError } from '../../src/errors.js';
import { resolveType } from '../../src/internal/reader/decode.js';

function spec(): Spec {
  const s = new Spec();
  const u32 = new Int('u32', 4, IntEncoding.Unsigned);
  s.add(u32);
  s.add(new Struct('event', 4, [new Member('pid', u32, 0)]));
  return s;
}

describe('resolveType (readers’ decoded())', () => {
  it('finds "struct event", a plain name, and passes a Type through', () => {
    const s = spec();
    const event = resolveType('struct event', s);
    expect(event).toBeInstanceOf(Struct);
    expect(resolveType(' event ', s)).toBe(event);
    expect(resolveType(event, undefined)).toBe(event);
  });

  it('a name without BTF to look in is an ArgumentError naming options.btf', () => {
    expect(() => resolveType('struct event', undefined)).toThrow(ArgumentError);
    expect(() => resolveType('struct event', undefined)).toThrow(/pass options\.btf/);
  });

  it('a struct absent from the BTF says clang leaves out pointer-only types, and how to keep it', () => {
    let err: unknown;
    try {
      resolveType('struct sample', spec());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeNotFoundError);
    expect((err as TypeNotFoundError).typeName).toBe('sample');
    expect((err as Error).message).toMatch(/^BTF type struct sample not found: the object's BTF has no struct sample\. clang emits a type only when/);
    expect((err as Error).message).toContain('__type(value, struct sample)');
    expect((err as Error).message).toContain('const struct sample *unused_event __attribute__((unused));');
  });
});
