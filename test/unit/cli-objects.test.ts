// The pieces of `prog show` / `map show` that need no kernel: how programs and maps are named
// on the command line (bpftool's id/name/tag/pinned words), which processes hold an object
// (a fixture /proc tree), where bpffs is mounted (mountinfo text), and the cells of the tables.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { listCell, pidsCell } from '../../src/cli/loaded.js';
import { matches, parseSelector, selectOne } from '../../src/cli/selector.js';
import { bpfFdKind, fdinfoNumber, parseFdinfo } from '../../src/internal/bpf-fdinfo.js';
import { objectHolders } from '../../src/internal/bpf-holders.js';
import { bpffsMountPoints } from '../../src/internal/bpf-pins.js';

const tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-cli-objects-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('selectors', () => {
  it('reads bpftool-style words and their short forms', () => {
    expect(parseSelector(['5'], 'prog')).toEqual({ selector: { by: 'id', id: 5 }, rest: [] });
    expect(parseSelector(['id', '5', 'key', '1'], 'map')).toEqual({ selector: { by: 'id', id: 5 }, rest: ['key', '1'] });
    expect(parseSelector(['name', 'counts'], 'map').selector).toEqual({ by: 'name', name: 'counts' });
    expect(parseSelector(['counts'], 'map').selector).toEqual({ by: 'name', name: 'counts' });
    expect(parseSelector(['tag', '59F4A931744DCDC6'], 'prog').selector).toEqual({ by: 'tag', tag: '59f4a931744dcdc6' });
    expect(parseSelector(['pinned', '/sys/fs/bpf/x'], 'prog').selector).toEqual({ by: 'pinned', path: '/sys/fs/bpf/x' });
    expect(parseSelector(['/sys/fs/bpf/x', 'key'], 'map')).toEqual({ selector: { by: 'pinned', path: '/sys/fs/bpf/x' }, rest: ['key'] });
  });

  it('rejects what cannot name an object', () => {
    expect(() => parseSelector([], 'prog')).toThrow(UsageError);
    expect(() => parseSelector(['id'], 'prog')).toThrow(/"id" needs a value/);
    expect(() => parseSelector(['id', 'x'], 'prog')).toThrow(/not an object id/);
    expect(() => parseSelector(['0'], 'prog')).toThrow(/not an object id/);
    expect(() => parseSelector(['tag', 'abc'], 'prog')).toThrow(/16 hex digits/);
    expect(() => parseSelector(['tag', '59f4a931744dcdc6'], 'map')).toThrow(/only programs have tags/);
  });

  it('matches names (full or the kernel\'s 15 characters) and tags; one match or an error naming the ids', () => {
    const candidates = [
      { id: 3, names: ['sock_alloc_file_entry', 'sock_alloc_file'], tag: '176b04b863cfa17c' },
      { id: 4, names: ['counts'], tag: '0000000000000001' },
      { id: 9, names: ['counts'], tag: '0000000000000002' },
    ];
    expect(matches({ by: 'name', name: 'sock_alloc_file' }, candidates[0]!)).toBe(true);
    expect(selectOne({ by: 'name', name: 'sock_alloc_file_entry' }, 'prog', () => candidates)).toBe(3);
    expect(selectOne({ by: 'tag', tag: '0000000000000002' }, 'prog', () => candidates)).toBe(9);
    expect(selectOne({ by: 'id', id: 77 }, 'prog', () => [])).toBe(77);
    expect(() => selectOne({ by: 'name', name: 'counts' }, 'map', () => candidates)).toThrow('2 maps have name counts (ids 4, 9): give an id');
    expect(() => selectOne({ by: 'name', name: 'nope' }, 'map', () => candidates)).toThrow('no map with name nope');
  });
});

describe('fdinfo', () => {
  it('parses key:\\tvalue lines and numbers in decimal or hex', () => {
    const info = parseFdinfo('pos:\t0\nflags:\t02000002\nmap_flags:\t0x400\nmemlock:\t8192\nmap_id:\t361999\nfrozen:\t0\n');
    expect(fdinfoNumber(info, 'memlock')).toBe(8192);
    expect(fdinfoNumber(info, 'map_flags')).toBe(0x400);
    expect(fdinfoNumber(info, 'missing')).toBeUndefined();
    expect(info.get('map_id')).toBe('361999');
  });

  it('knows the anon inode names of the four kinds of object (a link\'s in both spellings)', () => {
    expect(bpfFdKind('anon_inode:bpf-prog')).toBe('prog');
    expect(bpfFdKind('anon_inode:bpf-map')).toBe('map');
    expect(bpfFdKind('anon_inode:bpf_link')).toBe('link');
    expect(bpfFdKind('anon_inode:bpf-link')).toBe('link');
    expect(bpfFdKind('anon_inode:btf')).toBe('btf');
    expect(bpfFdKind('anon_inode:[eventfd]')).toBeUndefined();
  });

  it('finds the holders of each object in a /proc tree, each process once per object', () => {
    const proc = join(tmp, 'proc');
    const fd = (pid: number, n: number, target: string, fdinfo: string): void => {
      mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
      mkdirSync(join(proc, String(pid), 'fdinfo'), { recursive: true });
      symlinkSync(target, join(proc, String(pid), 'fd', String(n)));
      writeFileSync(join(proc, String(pid), 'fdinfo', String(n)), fdinfo);
    };
    fd(100, 3, 'anon_inode:bpf-prog', 'pos:\t0\nprog_id:\t7\n');
    fd(100, 4, 'anon_inode:bpf-prog', 'prog_id:\t7\n'); // a second fd to the same program
    fd(100, 5, 'anon_inode:bpf-map', 'map_id:\t12\n');
    fd(100, 6, '/dev/null', 'prog_id:\t99\n'); // not a BPF object, whatever its fdinfo says
    fd(200, 3, 'anon_inode:bpf-prog', 'prog_id:\t7\n');
    fd(200, 4, 'anon_inode:bpf_link', 'link_id:\t2\nprog_id:\t7\n');
    fd(200, 5, 'anon_inode:btf', 'btf_id:\t1\n');
    writeFileSync(join(proc, '100', 'comm'), 'agent\n');
    writeFileSync(join(proc, '200', 'comm'), 'node\n');
    mkdirSync(join(proc, 'self'));
    const h = objectHolders(proc);
    expect(h.prog.get(7)).toEqual([
      { pid: 100, comm: 'agent' },
      { pid: 200, comm: 'node' },
    ]);
    expect([...h.prog.keys()]).toEqual([7]);
    expect(h.map.get(12)).toEqual([{ pid: 100, comm: 'agent' }]);
    expect(h.link.get(2)).toEqual([{ pid: 200, comm: 'node' }]);
    expect(h.btf.get(1)).toEqual([{ pid: 200, comm: 'node' }]);
  });
});

describe('bpffs mounts', () => {
  it('takes the mount points of bpf file systems from mountinfo, unescaping them', () => {
    const text = [
      '22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw',
      '30 22 0:27 / /sys/fs/bpf rw,relatime shared:9 - bpf bpf rw,mode=700',
      '31 1 0:28 / /run/my\\040bpf rw - bpf none rw',
      '32 22 0:27 / /sys/fs/bpf rw - bpf bpf rw',
      '33 1 0:29 / /mnt/bpfish rw - tmpfs bpf rw',
    ].join('\n');
    expect(bpffsMountPoints(text)).toEqual(['/sys/fs/bpf', '/run/my bpf']);
  });
});

describe('table cells', () => {
  it('lists pids as comm(pid) and empty lists as -', () => {
    expect(pidsCell([{ pid: 1, comm: 'systemd' }, { pid: 42, comm: 'node' }])).toBe('systemd(1),node(42)');
    expect(pidsCell([])).toBe('-');
    expect(listCell([3, 4])).toBe('3,4');
    expect(listCell([])).toBe('-');
  });
});
