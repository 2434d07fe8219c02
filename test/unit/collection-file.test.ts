// Object files that cannot be read or parsed: a typed error naming the path and what to do,
// from loadCollectionSpec and loadCollection alike (no kernel needed: both fail before bpf()).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { loadCollectionSpec, ObjectFileError } from '../../src/collection-spec.js';
import { ParseError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-objfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const loaders = { loadCollectionSpec, loadCollection: (p: string) => loadCollection(p) };

describe.each(Object.entries(loaders))('%s', (_, load) => {
  it('a missing file is an ObjectFileError naming the resolved path and ENOENT', async () => {
    const err = await load('no/such/thing.bpf.o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectFileError);
    expect((err as ObjectFileError).code).toBe('ENOENT');
    expect((err as ObjectFileError).path).toBe('no/such/thing.bpf.o');
    expect((err as Error).message).toBe(`cannot read BPF object no/such/thing.bpf.o (${join(process.cwd(), 'no/such/thing.bpf.o')}): no such file; check the path (a relative path is resolved against the current directory) and that the object was built`);
  });

  it('a directory is an ObjectFileError saying to pass the .o inside it', async () => {
    const err = await load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectFileError);
    expect((err as ObjectFileError).code).toBe('EISDIR');
    expect((err as Error).message).toBe(`cannot read BPF object ${dir}: it is a directory; pass the .o file inside it`);
  });

  it('a file that is not ELF is a ParseError naming the file', async () => {
    const path = join(dir, 'text.o');
    writeFileSync(path, 'not an object at all\n');
    const err = await load(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParseError);
    expect((err as Error).message.startsWith(`${path}: `)).toBe(true);
  });
});
