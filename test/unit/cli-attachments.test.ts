// The attachment listings of the CLI without a kernel: where `link list` says each kind of
// link is attached (names looked up through a stub), netfilter names, and the help of the
// `cgroup` and `net` commands.
import { describe, expect, it } from 'vitest';
import { AttachPointNames, netfilterFamilyName, netfilterHookName } from '../../src/cli/attach-points.js';
import { describeLink } from '../../src/cli/link-list.js';
import { LinkType, type LinkInfo } from '../../src/link/link.js';
import { AttachType } from '../../src/types.js';
import { cli } from '../helpers/cli.js';

/** Names without a kernel: one cgroup, one map, one namespace. */
class StubNames extends AttachPointNames {
  override cgroupPath(id: bigint): string | undefined {
    return id === 42n ? '/sys/fs/cgroup/unified/app' : undefined;
  }
  override mapName(id: number): string | undefined {
    return id === 7 ? 'sock_map' : undefined;
  }
  override netnsHolders(ino: number): string[] {
    return ino === 4026531840 ? ['pid 1 (systemd)'] : [];
  }
  /** Interface 9 of this namespace runs something else; the others cannot be told. */
  override interfaceRuns(_hook: string, ifindex: number): boolean | undefined {
    return ifindex === 9 ? false : undefined;
  }
}

const base = { id: 1, programId: 2 };
const where = (l: Partial<LinkInfo> & { type: LinkType }): string => describeLink({ ...base, ...l }, new StubNames());

describe('link list: where each kind of link is attached', () => {
  it('cgroup links by directory (or id when it is not in our hierarchy), detached ones as such', () => {
    expect(where({ type: LinkType.Cgroup, cgroup: { cgroupId: 42n, attachType: AttachType.CgroupInetEgress } })).toBe('cgroup /sys/fs/cgroup/unified/app cgroup_inet_egress');
    expect(where({ type: LinkType.Cgroup, cgroup: { cgroupId: 9n, attachType: AttachType.CgroupSockOps } })).toBe('cgroup id 9 cgroup_sock_ops');
    expect(where({ type: LinkType.Cgroup, cgroup: { cgroupId: 0n, attachType: AttachType.CgroupDevice } })).toBe('cgroup (detached) cgroup_device');
  });

  it('netns links with the processes in the namespace', () => {
    expect(where({ type: LinkType.NetNs, netns: { netnsIno: 4026531840, attachType: AttachType.SKLookup } })).toBe('netns net:[4026531840] of pid 1 (systemd) sk_lookup');
    expect(where({ type: LinkType.NetNs, netns: { netnsIno: 5, attachType: AttachType.FlowDissector } })).toBe('netns net:[5] flow_dissector');
  });

  it('interface links by name and index, with the direction', () => {
    expect(where({ type: LinkType.XDP, xdp: { ifindex: 3, interface: 'eth0' } })).toBe('xdp eth0 (ifindex 3)');
    expect(where({ type: LinkType.XDP, xdp: { ifindex: 3 } })).toBe('xdp ifindex 3');
    // Interface 9 here does not run the link's program: the index is another namespace's.
    expect(where({ type: LinkType.TCX, tcx: { ifindex: 9, interface: 'eth9', attachType: AttachType.TCXIngress } })).toBe('tcx ifindex 9 (another network namespace) ingress');
    expect(where({ type: LinkType.TCX, tcx: { ifindex: 1, interface: 'lo', attachType: AttachType.TCXEgress } })).toBe('tcx lo (ifindex 1) egress');
    expect(where({ type: LinkType.Netkit, netkit: { ifindex: 0, attachType: AttachType.NetkitPeer } })).toBe('netkit detached (interface gone) peer');
  });

  it('netfilter, sockmap, iterator and struct_ops links', () => {
    expect(where({ type: LinkType.Netfilter, netfilter: { family: 2, hook: 1, priority: -128, flags: 1 } })).toBe('netfilter ipv4 local_in priority -128 defrag');
    expect(where({ type: LinkType.Sockmap, sockmap: { mapId: 7, attachType: AttachType.SKMsgVerdict } })).toBe('map 7 (sock_map) sk_msg_verdict');
    expect(where({ type: LinkType.Iter, iter: { targetName: 'bpf_map_elem', mapId: 8 } })).toBe('iterator bpf_map_elem map 8');
    expect(where({ type: LinkType.Iter, iter: { targetName: 'task', tid: 0, pid: 77 } })).toBe('iterator task pid 77');
    expect(where({ type: LinkType.Iter, iter: { targetName: 'cgroup', cgroupId: 42n, order: 1 } })).toBe('iterator cgroup cgroup /sys/fs/cgroup/unified/app');
    expect(where({ type: LinkType.StructOps, structOps: { mapId: 7 } })).toBe('struct_ops map 7 (sock_map)');
    expect(where({ type: LinkType.Unspec })).toBe('-');
  });

  it('netfilter families and hooks by the names attachNetfilter takes', () => {
    expect([2, 10, 1, 99].map(netfilterFamilyName)).toEqual(['ipv4', 'ipv6', 'inet', 'family 99']);
    expect([0, 1, 2, 3, 4, 9].map(netfilterHookName)).toEqual(['pre_routing', 'local_in', 'forward', 'local_out', 'post_routing', 'hook 9']);
  });
});

describe('help of the attachment commands', () => {
  it('cgroup lists tree and show; each takes --effective and -j', async () => {
    const group = await cli(['cgroup', '--help']);
    expect(group.code).toBe(0);
    expect(group.stdout).toMatch(/^ {2}tree {2}.*bpftool cgroup tree/m);
    expect(group.stdout).toMatch(/^ {2}show {2}.*bpftool cgroup show/m);
    for (const c of ['tree', 'show']) {
      const help = (await cli(['cgroup', c, '--help'])).stdout;
      expect(help).toMatch(/--effective/);
      expect(help).toMatch(/-j, --json/);
    }
    expect((await cli(['cgroup', 'show'])).code).toBe(2);
  });

  it('net names its hooks and --netns; net show and net list are the same command', async () => {
    const help = (await cli(['net', '--help'])).stdout;
    expect(help).toMatch(/^Usage: ebpf-ts net \[options\] \[interface\]$/m);
    expect(help).toMatch(/--netns NS/);
    expect(help).toMatch(/XDP, tc \(cls_bpf\), tcx, netkit/);
    expect(help).toMatch(/Also spelled: ebpf-ts net show, ebpf-ts net list/);
    expect((await cli(['net', 'show', '--help'])).stdout).toBe(help);
  });

  it('the global help lists them', async () => {
    const help = (await cli(['--help'])).stdout;
    for (const c of ['cgroup tree', 'cgroup show', 'net', 'link list']) expect(help).toMatch(new RegExp(`^ {2}${c} `, 'm'));
  });
});
