// /proc/PID/maps parsing (src/internal/proc-maps.ts): fields, pseudo-mappings, deleted files
// and paths with spaces; the run-time address of a file offset; this process's own maps.
import { describe, expect, it } from 'vitest';
import { mappedFiles, parseProcMaps, procMaps, runtimeAddress } from '../../src/internal/proc-maps.js';
import { ArgumentError } from '../../src/errors.js';

const SAMPLE = `55d0a9a00000-55d0a9a01000 r--p 00000000 fe:01 1311 /opt/app/bin/app
55d0a9a01000-55d0a9a02000 r-xp 00001000 fe:01 1311 /opt/app/bin/app
55d0a9a04000-55d0a9a05000 rw-p 00003000 fe:01 1311 /opt/app/bin/app
55d0aaa00000-55d0aaa21000 rw-p 00000000 00:00 0                          [heap]
7f1c2a000000-7f1c2a001000 r-xp 00001000 fe:01 77 /tmp/my lib.so (deleted)
7f1c2b000000-7f1c2b002000 r-xp 00002000 fe:01 78 /usr/lib/x86_64-linux-gnu/libfoo.so.1
7f1c2c000000-7f1c2c001000 rw-p 00000000 00:00 0 
7ffd6d9f0000-7ffd6d9f2000 r-xp 00000000 00:00 0                          [vdso]
not a mapping line
`;

describe('/proc/PID/maps', () => {
  it('parses every field, the deleted mark and paths with spaces', () => {
    const maps = parseProcMaps(SAMPLE);
    expect(maps).toHaveLength(8);
    expect(maps[1]).toEqual({ start: 0x55d0a9a01000n, end: 0x55d0a9a02000n, perms: 'r-xp', offset: 0x1000n, dev: 'fe:01', inode: 1311, path: '/opt/app/bin/app', deleted: false });
    expect(maps[3]).toMatchObject({ path: '[heap]', inode: 0 });
    expect(maps[4]).toMatchObject({ path: '/tmp/my lib.so', deleted: true });
    expect(maps[6]).toMatchObject({ path: '', inode: 0 });
  });

  it('the run-time address of a file offset, executable mappings first', () => {
    const maps = parseProcMaps(SAMPLE);
    expect(runtimeAddress(maps, '/opt/app/bin/app', 0x1234n)).toBe(0x55d0a9a01234n);
    expect(runtimeAddress(maps, '/opt/app/bin/app', 0x3010n)).toBe(0x55d0a9a04010n);
    expect(runtimeAddress(maps, '/usr/lib/x86_64-linux-gnu/libfoo.so.1', 0x2ff0n)).toBe(0x7f1c2b000ff0n);
    expect(runtimeAddress(maps, '/opt/app/bin/app', 0x2000n)).toBeUndefined();
    expect(runtimeAddress(maps, '/tmp/my lib.so', 0x1000n)).toBeUndefined();
  });

  it("this process's maps: node itself among the mapped files, no pseudo-mappings", () => {
    const files = mappedFiles(process.pid);
    expect(files.every((f) => f.startsWith('/'))).toBe(true);
    expect(procMaps(process.pid).some((m) => m.path === '[stack]')).toBe(true);
    expect(files.length).toBeGreaterThan(1);
  });

  it('refuses pids that are not positive integers', () => {
    expect(() => procMaps(0)).toThrow(ArgumentError);
    expect(() => procMaps(1.5)).toThrow(ArgumentError);
  });
});
