// Auto-attach of network and cgroup sections (testdata/auto_net.bpf.c): attachAll() and
// Program.attach() with the interface, cgroup and network namespace the section names only
// the kind of. Inside a test namespace, over its loopback: each attached program must run
// (its counter in `runs` grows), the socket filter must be listed as not attached with the
// function to use, and nothing must be left attached after close().
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { ArgumentError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import '../../src/link/auto.js';
import { tcxFeature } from '../../src/link/tcx.js';
import { xdpPrograms } from '../../src/link/xdp.js';
import { cgroupUnavailable, TestCgroup } from './helpers/cgroup.js';
import { netnsUnavailable, sendUdp, TestNetns } from './helpers/netns.js';

const object = new URL('../../testdata/auto_net.bpfel.o', import.meta.url).pathname;
const skip = netnsUnavailable() ?? cgroupUnavailable() ?? '';
const XDP = 0;
const TC = 1;
const CGROUP_SKB = 2;
const SK_LOOKUP = 3;

let coll: Collection | undefined;
let ns: TestNetns | undefined;
let cg: TestCgroup | undefined;

afterEach(() => {
  coll?.close();
  ns?.close();
  cg?.close();
  coll = ns = cg = undefined;
});

function runs(c: Collection, which: number): bigint {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, which, true);
  const v = c.maps.runs!.lookup(key)!;
  return new DataView(v.buffer, v.byteOffset).getBigUint64(0, true);
}

describe.skipIf(skip !== '')('auto-attach of network and cgroup sections', () => {
  it('attachAll({ interface, cgroup, netns }) attaches every program whose section names the kind of hook', async () => {
    ns = TestNetns.create();
    cg = TestCgroup.create();
    coll = await loadCollection(object);
    const c = coll;
    const made = inNetns(ns.path, () => c.attachAll({ interface: 'lo', cgroup: cg!.path, netns: ns!.path, quiet: true }));
    expect(Object.keys(made).sort()).toEqual(['auto_cgroup_skb', 'auto_sk_lookup', 'auto_tc', 'auto_xdp']);
    expect(c.notAttached.auto_socket).toMatch(/attachSocketFilter\(prog, socket\)/);
    // tc/ingress is a tcx link where the kernel has tcx, a cls_bpf filter before.
    expect(made.auto_tc!.mode).toBe(tcxFeature.supported() ? 'bpf-link' : 'attachment');
    expect(inNetns(ns.path, () => xdpPrograms('lo')).map((p) => p.programName)).toContain('auto_xdp');

    // UDP over the namespace's loopback: XDP (generic) and tc ingress see the packets, and the
    // port lookup runs sk_lookup. The cgroup program counts only for processes in the cgroup.
    expect(sendUdp(ns, '127.0.0.1', 9, 5)).toBe(5);
    expect(runs(c, XDP)).toBeGreaterThanOrEqual(5n);
    expect(runs(c, TC)).toBeGreaterThanOrEqual(5n);
    expect(runs(c, SK_LOOKUP)).toBeGreaterThanOrEqual(5n);
    const out = cg.node(`
      import dgram from 'node:dgram';
      const s = dgram.createSocket('udp4');
      for (let i = 0; i < 3; i++) await new Promise((res) => s.send(Buffer.alloc(8), 9, '127.0.0.1', res));
      s.close();
      console.log('sent');
    `);
    expect(out.trim()).toBe('sent');
    expect(runs(c, CGROUP_SKB)).toBeGreaterThanOrEqual(3n);

    // Closing the collection detaches everything: XDP is gone from lo.
    c.close();
    expect(inNetns(ns.path, () => xdpPrograms('lo'))).toEqual([]);
  });

  it('without the targets the same programs are listed as not attached, each saying what to pass', async () => {
    coll = await loadCollection(object);
    const made = coll.attachAll({ quiet: true });
    expect(made).toEqual({});
    expect(coll.notAttached.auto_xdp).toMatch(/not which interface: pass it, e\.g\. attachAll\(\{ interface: 'eth0' \}\)/);
    expect(coll.notAttached.auto_tc).toMatch(/which interface/);
    expect(coll.notAttached.auto_cgroup_skb).toMatch(/which cgroup/);
    expect(coll.notAttached.auto_sk_lookup).toMatch(/which network namespace/);
    expect(() => coll!.programs.auto_xdp!.attach()).toThrow(ArgumentError);
  });
});
