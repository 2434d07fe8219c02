// /proc/kallsyms parsing, caching and the suggestions a SymbolNotFoundError carries, on a
// fixture cut from a 6.18 x86-64 kernel's kallsyms.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cloneBase,
  editDistance,
  explainMissingSymbol,
  kallsyms,
  kprobeBlacklist,
  ksyscallName,
  matchKernelFunctions,
  nearSymbols,
  parseKallsyms,
  setKallsymsSource,
  setKprobeBlacklistPath,
  syscallPrefix,
} from '../../src/internal/kallsyms.js';

const fixturePath = join(__dirname, 'fixtures', 'link-kallsyms.txt');
const table = parseKallsyms(readFileSync(fixturePath, 'utf8'));

describe('kallsyms parsing', () => {
  it('reads address, type, name and module', () => {
    expect(table.get('do_sys_openat2')).toEqual({ name: 'do_sys_openat2', address: 0xffffffff816b52b0n, type: 't', module: undefined });
    expect(table.get('bpf_dispatcher_xdp')).toMatchObject({ type: 't', module: 'bpf' });
    expect(table.get('init_task')).toMatchObject({ type: 'D' });
  });

  it('indexes compiler clones under their base name', () => {
    expect(cloneBase('do_execveat_common.isra.0.cold')).toBe('do_execveat_common');
    expect(cloneBase('ext4_rename_dir_prepare.part.0.constprop.0')).toBe('ext4_rename_dir_prepare');
    expect(cloneBase('foo.llvm.123456789')).toBe('foo');
    expect(cloneBase('plain_name')).toBe('plain_name');
    expect(table.clones.get('do_execveat_common')?.sort()).toEqual(['do_execveat_common.isra.0', 'do_execveat_common.isra.0.cold']);
  });

  it('skips malformed lines and survives hidden addresses', () => {
    const t = parseKallsyms('garbage\n0000000000000000 T hidden_fn\n\nzz T bad_addr\n0000000000000000 t  \n');
    expect(t.get('hidden_fn')).toMatchObject({ address: 0n, type: 'T' });
    expect(t.byName.size).toBe(1);
  });

  it('finds names by prefix', () => {
    expect(table.withPrefix('vfs_', 10)).toEqual(['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev']);
  });
});

describe('near matches', () => {
  it('do_execve (gone since 5.9) → do_execveat_common.isra.0 first, then its successors', () => {
    const near = nearSymbols('do_execve', table, 8, 'x64');
    expect(near[0]).toBe('do_execveat_common.isra.0');
    expect(near).toContain('bprm_execve');
    expect(near).toContain('__x64_sys_execve');
    expect(near.some((n) => n.endsWith('.cold'))).toBe(false);
    expect(explainMissingSymbol('do_execve', table)).toMatch(/no longer exists.*do_execveat_common/);
  });

  it('a name that only exists as a clone suggests the clone and says why', () => {
    expect(nearSymbols('ext4_fsync_nojournal', table, 8, 'x64')[0]).toBe('ext4_fsync_nojournal.constprop.0');
    expect(explainMissingSymbol('ext4_fsync_nojournal', table)).toMatch(/specialised copies.*constprop/);
    expect(nearSymbols('ext4_free_data.isra.0', table, 8, 'x64')[0]).toBe('ext4_free_data.part.0');
  });

  it('typos are found by edit distance', () => {
    expect(nearSymbols('tcp_sendmgs', table, 8, 'x64')[0]).toBe('tcp_sendmsg');
    expect(nearSymbols('vfs_raed', table, 8, 'x64')).toContain('vfs_read');
    expect(nearSymbols('tcp_v4_conect', table, 8, 'x64')).toEqual(['tcp_v4_connect']);
  });

  it('syscall names suggest the architecture wrapper', () => {
    expect(nearSymbols('sys_getppid', table, 8, 'x64')).toContain('__x64_sys_getppid');
    expect(nearSymbols('getppid', table, 8, 'x64')).toContain('__x64_sys_getppid');
  });

  it('never suggests __pfx_ padding or data symbols', () => {
    const near = nearSymbols('do_sys_openat', table, 8, 'x64');
    expect(near).toContain('do_sys_openat2');
    expect(near.some((n) => n.startsWith('__pfx_'))).toBe(false);
    expect(nearSymbols('init_tsk', table, 8, 'x64')).not.toContain('init_task');
  });

  it('an unknown name gets the inlining explanation', () => {
    expect(explainMissingSymbol('completely_unknown_fn', table)).toMatch(/inlined/);
  });

  it('edit distance gives up past the bound', () => {
    expect(editDistance('kitten', 'sitting', 3)).toBe(3);
    expect(editDistance('kitten', 'sitting', 2)).toBe(3);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
  });
});

describe('syscall wrappers', () => {
  it('per architecture, falling back to sys_ on old kernels', () => {
    expect(syscallPrefix('x64')).toBe('__x64_');
    expect(syscallPrefix('arm64')).toBe('__arm64_');
    expect(ksyscallName('getppid', table, 'x64')).toBe('__x64_sys_getppid');
    expect(ksyscallName('sys_openat', table, 'x64')).toBe('__x64_sys_openat');
    const old = parseKallsyms('ffffffff81000000 T sys_getppid\n');
    expect(ksyscallName('getppid', old, 'x64')).toBe('sys_getppid');
    expect(ksyscallName('getppid', parseKallsyms(''), 'arm64')).toBe('__arm64_sys_getppid');
  });
});

describe('kallsyms cache', () => {
  let dir: string | undefined;
  afterEach(() => {
    setKallsymsSource();
    setKprobeBlacklistPath();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('is parsed once and re-read when /proc/modules changes', () => {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-kallsyms-'));
    const syms = join(dir, 'kallsyms');
    const modules = join(dir, 'modules');
    writeFileSync(syms, 'ffffffff81000000 T first_fn\n');
    writeFileSync(modules, 'bpf 16384 0 - Live 0x0\n');
    setKallsymsSource(syms, modules);
    const a = kallsyms();
    expect(a.get('first_fn')).toBeDefined();
    writeFileSync(syms, 'ffffffff81000000 T first_fn\nffffffffc0000000 t mod_fn\t[mymod]\n');
    expect(kallsyms()).toBe(a); // modules unchanged: cached
    writeFileSync(modules, 'bpf 16384 0 - Live 0x0\nmymod 4096 0 - Live 0x0\n');
    const b = kallsyms();
    expect(b).not.toBe(a);
    expect(b.get('mod_fn')).toMatchObject({ module: 'mymod' });
  });

  it('reads the kprobe blacklist, or says it cannot', () => {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-blacklist-'));
    const path = join(dir, 'blacklist');
    writeFileSync(path, '0xffffffff81000000-0xffffffff81000010\tdo_int3\n0xffffffffc0000000-0xffffffffc0000010\tmod_fn [mymod]\n');
    setKprobeBlacklistPath(path);
    expect([...kprobeBlacklist()!].sort()).toEqual(['do_int3', 'mod_fn']);
    setKprobeBlacklistPath(join(dir, 'missing'));
    expect(kprobeBlacklist()).toBeUndefined();
  });

  it('matches functions by glob from available_filter_functions or kallsyms', () => {
    setKallsymsSource(fixturePath, '/dev/null');
    expect(matchKernelFunctions('vfs_*')).toEqual(['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev']);
    expect(matchKernelFunctions(/^__x64_sys_exec/)).toEqual(['__x64_sys_execve', '__x64_sys_execveat']);
    expect(matchKernelFunctions('init_*')).toEqual([]); // data symbol
    const filter = 'vfs_read\nvfs_write\n__pfx_vfs_read\nmod_fn [mymod]\n';
    expect(matchKernelFunctions('*', filter)).toEqual(['mod_fn', 'vfs_read', 'vfs_write']);
    expect(matchKernelFunctions('vfs_?ead', filter)).toEqual(['vfs_read']);
  });
});
