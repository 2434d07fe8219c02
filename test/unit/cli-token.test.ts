// `ebpf-ts token list`: which bpffs mounts delegate to BPF tokens, from mountinfo text.
import { describe, expect, it } from 'vitest';
import { tokenMounts } from '../../src/cli/token-list.js';
import { parseMountinfo } from '../../src/internal/mountinfo.js';

const mountinfo = [
  '25 30 0:23 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:9 - bpf bpf rw,mode=700',
  '98 30 0:51 / /run/ctr\\040bpf rw,relatime - bpf none rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=hash,delegate_progs=socket_filter,delegate_attachs=any',
  '99 30 0:52 / /run/masks rw,relatime - bpf none rw,delegate_cmds=0x40001',
  '35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
].join('\n');

describe('token list', () => {
  it('lists the delegating bpffs mounts with their options as the kernel shows them', () => {
    expect(tokenMounts(mountinfo)).toEqual([
      { mountPoint: '/run/ctr bpf', cmds: 'map_create:prog_load:btf_load', maps: 'hash', progs: 'socket_filter', attachs: 'any' },
      { mountPoint: '/run/masks', cmds: '0x40001', maps: null, progs: null, attachs: null },
    ]);
  });

  it('parses mountinfo once for every filesystem type', () => {
    expect(parseMountinfo(mountinfo).map((m) => m.fstype)).toEqual(['bpf', 'bpf', 'bpf', 'cgroup2']);
    expect(parseMountinfo(mountinfo, 'cgroup2')).toEqual([{ mountPoint: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2', superOptions: 'rw,nsdelegate' }]);
  });
});
