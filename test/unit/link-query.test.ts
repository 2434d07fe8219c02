// queryPrograms against the fake kernel: the BPF_PROG_QUERY attrs it sends (whole, the count
// first, the arrays each kernel version reads), the buffers it grows on ENOSPC, the hooks it
// refuses; and what attach-target.ts knows about each attach type.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BPF_F_ALLOW_MULTI } from '../../src/internal/flags.js';
import { attachTypeName, hookProgramType, targetKind } from '../../src/link/attach-target.js';
import { queryPrograms } from '../../src/link/query.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd, ProgQuery } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';
import { progQueryAnswer, type HookContents } from './helpers/prog-query.js';

let fake: PerfFake;
beforeEach(() => {
  fake = installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u32 = (b: Uint8Array, at: number): number => view(b).getUint32(at, hostLittleEndian);
const Q = ProgQuery.fields;

describe('attach types and their hooks', () => {
  it('knows each hook’s program type and target, and libbpf’s names', () => {
    expect(hookProgramType(AttachType.CgroupInetEgress)).toBe(ProgramType.CgroupSKB);
    expect(hookProgramType(AttachType.CgroupUnixConnect)).toBe(ProgramType.CgroupSockAddr);
    expect(hookProgramType(AttachType.TCXEgress)).toBe(ProgramType.SchedCls);
    expect(hookProgramType(AttachType.XDP)).toBeUndefined();
    expect([AttachType.CgroupSysctl, AttachType.FlowDissector, AttachType.SKMsgVerdict, AttachType.LIRCMode2, AttachType.NetkitPeer].map(targetKind)).toEqual(['cgroup', 'netns', 'map', 'lirc', 'interface']);
    expect([AttachType.CgroupInetIngress, AttachType.SKSKBVerdict, AttachType.TCXIngress, AttachType.NetkitPrimary, AttachType.TraceUprobeSession].map(attachTypeName)).toEqual([
      'cgroup_inet_ingress',
      'sk_skb_verdict',
      'tcx_ingress',
      'netkit_primary',
      'trace_uprobe_session',
    ]);
    expect(attachTypeName(999)).toBe('attach type 999');
  });
});

/** The hook BPF_PROG_QUERY reads holds `ids`. */
const hookHolding = (ids: number[], opts?: HookContents): void => void fake.alwaysBpf(Cmd.ProgQuery, progQueryAnswer(ids, opts));

describe('queryPrograms', () => {
  it('asks for the count, then reads every id; link ids, per-program flags and the revision on 6.6+', () => {
    hookHolding([11, 12], { revision: 7n, links: [0, 5] });
    const q = queryPrograms(4, AttachType.SKSKBVerdict);
    expect(q).toEqual({ attachFlags: 0, revision: 7n, programs: [{ id: 11, attachFlags: 0 }, { id: 12, attachFlags: 0, linkId: 5, linkAttachFlags: 0 }] });
    const [countOnly, sized] = fake.callsOf(Cmd.ProgQuery);
    expect(u32(countOnly!.attr, Q.prog_cnt.offset)).toBe(0);
    expect(countOnly!.pointers.get(Q.prog_ids.offset) ?? null).toBeNull();
    // Whole attrs always: the kernel writes the revision at offset 56.
    for (const c of [countOnly!, sized!]) expect(c.attr.byteLength).toBe(ProgQuery.size);
    expect(u32(sized!.attr, Q.prog_cnt.offset)).toBe(16);
    expect(sized!.pointers.get(Q.link_ids.offset)).toBeInstanceOf(Uint8Array);
    expect(sized!.pointers.get(Q.prog_attach_flags.offset)).toBeInstanceOf(Uint8Array);
  });

  it('grows its buffers when the hook holds more than they fit (ENOSPC with the new count)', () => {
    const many = Array.from({ length: 40 }, (_, i) => 100 + i);
    let calls = 0;
    fake.alwaysBpf(Cmd.ProgQuery, (call) => {
      calls++;
      // The first answer says 3: the hook grows to 40 before the sized call.
      const ids = calls === 1 ? [1, 2, 3] : many;
      const live = view(call.liveAttr);
      const capacity = u32(call.attr, Q.prog_cnt.offset);
      live.setUint32(Q.prog_cnt.offset, ids.length, hostLittleEndian);
      const out = call.pointers.get(Q.prog_ids.offset);
      if (capacity === 0 || !out) return 0;
      for (let i = 0; i < Math.min(capacity, ids.length); i++) view(out).setUint32(i * 4, ids[i]!, hostLittleEndian);
      return capacity < ids.length ? -Errno.ENOSPC : 0;
    });
    const q = queryPrograms(4, AttachType.SKMsgVerdict);
    expect(q.programs.map((p) => p.id)).toEqual(many);
    expect(fake.callsOf(Cmd.ProgQuery).map((c) => u32(c.attr, Q.prog_cnt.offset))).toEqual([0, 16, 40]);
  });

  it('on 5.10 offers neither per-program flags nor link ids (fields the kernel would refuse)', () => {
    overrideKernelVersion('5.10.0');
    hookHolding([3], { attachFlags: BPF_F_ALLOW_MULTI });
    const q = queryPrograms('/proc/self/ns/net', AttachType.FlowDissector);
    expect(q).toEqual({ attachFlags: BPF_F_ALLOW_MULTI, programs: [{ id: 3 }] });
    const sized = fake.callsOf(Cmd.ProgQuery)[1]!;
    expect([Q.prog_attach_flags, Q.link_ids, Q.link_attach_flags].map((f) => sized.pointers.get(f.offset) ?? null)).toEqual([null, null, null]);
  });

  it('an empty hook takes one call; effective is for cgroups only', () => {
    hookHolding([]);
    expect(queryPrograms(4, AttachType.SKSKBVerdict)).toEqual({ attachFlags: 0, programs: [] });
    expect(fake.callsOf(Cmd.ProgQuery)).toHaveLength(1);
    expect((caught(() => queryPrograms(4, AttachType.SKSKBVerdict, { effective: true })) as Error).message).toMatch(/effective applies to cgroups/);
  });

  it('refuses hooks BPF_PROG_QUERY does not list, naming where XDP programs are listed', () => {
    expect((caught(() => queryPrograms('lo', AttachType.XDP)) as Error).message).toMatch(/does not list xdp programs: XDP programs are listed through netlink/);
    expect((caught(() => queryPrograms(3, AttachType.TraceFentry)) as Error).message).toMatch(/does not list trace_fentry programs/);
  });

  it('an errno is explained for the hook', () => {
    fake.onBpf(Cmd.ProgQuery, -Errno.EINVAL);
    expect((caught(() => queryPrograms(4, AttachType.SKSKBVerdict)) as Error).message).toMatch(/query sk_skb_verdict programs of map fd 4: BPF_PROG_QUERY: EINVAL \(BPF_PROG_QUERY lists sk_skb_verdict programs only on kernels that have that hook/);
  });
});
