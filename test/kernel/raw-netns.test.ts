// attachRaw at a network namespace hook (flow dissector): BPF_PROG_ATTACH and DETACH act on the
// caller's namespace with target_fd 0, so attachRaw enters the namespace named as the target;
// queryPrograms reads it by fd. Checked against a namespace of the test's own.
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { queryPrograms } from '../../src/link/query.js';
import { attachRaw, detachRaw } from '../../src/link/raw.js';
import { AttachType } from '../../src/types.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';

const object = new URL('../../testdata/netns_flow.bpfel.o', import.meta.url).pathname;
const skip = netnsUnavailable() ?? '';

let coll: Collection | undefined;
let ns: TestNetns | undefined;
afterEach(() => {
  coll?.close();
  ns?.close();
  coll = ns = undefined;
});

describe.skipIf(skip !== '')('attachRaw at a network namespace hook', () => {
  it('attaches a flow dissector in the namespace given, which the query then lists; close() detaches it there', async () => {
    ns = TestNetns.create();
    coll = await loadCollection(object);
    const prog = Object.values(coll.programs)[0]!;
    const progId = prog.info().id;
    const link = attachRaw({ program: prog, target: ns.path, attachType: AttachType.FlowDissector });
    expect(link.mode).toBe('attachment');
    expect(queryPrograms(ns.path, AttachType.FlowDissector).programs.map((p) => p.id)).toEqual([progId]);
    // Only that namespace: ours has no flow dissector from this test.
    expect(queryPrograms('/proc/self/ns/net', AttachType.FlowDissector).programs.map((p) => p.id)).not.toContain(progId);
    link.close();
    expect(queryPrograms(ns.path, AttachType.FlowDissector).programs).toEqual([]);
  });

  it('detachRaw removes a flow dissector from the namespace given', async () => {
    ns = TestNetns.create();
    coll = await loadCollection(object);
    const prog = Object.values(coll.programs)[0]!;
    const link = attachRaw({ program: prog, target: ns.path, attachType: AttachType.FlowDissector });
    detachRaw({ program: prog, target: ns.path, attachType: AttachType.FlowDissector });
    expect(queryPrograms(ns.path, AttachType.FlowDissector).programs).toEqual([]);
    link.close(); // already detached: nothing left to do
  });
});
