// Which sections auto-attach can serve, and what it says for the ones it cannot: network and
// cgroup sections name the kind of hook but not the object, so they attach once the
// interface, cgroup or network namespace is given; socket, sockmap and netfilter programs
// need an object auto-attach cannot guess, and the refusal names the function to call.
import { describe, expect, it } from 'vitest';
import { attachPlan, autoAttachRefusal, canAutoAttach } from '../../src/link/auto.js';

describe('auto-attach of network and cgroup sections', () => {
  const needs: Array<[section: string, target: 'interface' | 'cgroup' | 'netns']> = [
    ['xdp', 'interface'],
    ['xdp.frags', 'interface'],
    ['tc/ingress', 'interface'],
    ['tcx/egress', 'interface'],
    ['netkit/peer', 'interface'],
    ['cgroup_skb/egress', 'cgroup'],
    ['cgroup/connect4', 'cgroup'],
    ['cgroup/sock_create', 'cgroup'],
    ['sockops', 'cgroup'],
    ['sk_lookup', 'netns'],
    ['flow_dissector', 'netns'],
  ];

  it.each(needs)('%s attaches once its %s is given', (section, target) => {
    expect(canAutoAttach(section)).toBe(false);
    const words = { interface: 'which interface', cgroup: 'which cgroup', netns: 'which network namespace' }[target];
    expect(autoAttachRefusal(section)).toContain(words);
    expect(autoAttachRefusal(section)).toContain(`attachAll({ ${target}:`);
    expect(canAutoAttach(section, undefined, { [target]: target === 'interface' ? 'lo' : '/x' })).toBe(true);
    // Another kind of target does not help.
    const other = target === 'interface' ? { cgroup: '/x' } : { interface: 'lo' };
    expect(canAutoAttach(section, undefined, other)).toBe(false);
  });

  const explicit: Array<[section: string, says: RegExp]> = [
    ['socket', /attachSocketFilter\(prog, socket\)/],
    ['sk_reuseport', /attachReuseport/],
    ['sk_skb/stream_verdict', /attachSockmap\(prog, map\)/],
    ['sk_msg', /attachSockmap\(prog, map\)/],
    ['netfilter', /attachNetfilter\(prog, \{ family, hook, priority \}\)/],
    ['tc', /names no direction/],
    ['classifier', /names no direction/],
    ['xdp/devmap', /devmap or cpumap entry/],
    ['xdp.frags/cpumap', /devmap or cpumap entry/],
  ];

  it.each(explicit)('%s is explicit-only, and the refusal says how', (section, says) => {
    expect(autoAttachRefusal(section, undefined, { interface: 'lo', cgroup: '/x', netns: '/x' })).toMatch(says);
  });

  it('legacy prefix names plan like the row they matched', () => {
    expect(attachPlan('xdp_foo')).toEqual({ kind: 'xdp', target: undefined });
    expect(attachPlan('socket/anything')).toEqual({ kind: 'socket', target: undefined });
    expect(canAutoAttach('xdp_foo', undefined, { interface: 'lo' })).toBe(true);
  });
});
