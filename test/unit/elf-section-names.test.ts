// libbpf's section-name conventions: a table of names with the program type, expected attach
// type, attach target, flags and autoload each must give, then the same names cross-checked
// against the libbpf installed on the machine (libbpf_prog_type_by_name through a tiny C
// helper compiled on the fly) where a C compiler and libbpf-dev are present.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BPF_F_SLEEPABLE as S, BPF_F_XDP_HAS_FRAGS as F, parseSectionName, sectionDefinitions } from '../../src/elf/section-names.js';
import { AttachType as A, ProgramType as P } from '../../src/types.js';

type Row = [section: string, type: P, attach: A, attachTo: string | undefined, flags?: number, autoload?: boolean];

const table: Row[] = [
  ['socket', P.SocketFilter, A.None, undefined],
  ['sk_reuseport', P.SKReuseport, A.SKReuseportSelect, undefined],
  ['sk_reuseport/migrate', P.SKReuseport, A.SKReuseportSelectOrMigrate, undefined],
  ['kprobe/do_sys_open', P.Kprobe, A.None, 'do_sys_open'],
  ['kprobe', P.Kprobe, A.None, undefined],
  ['kretprobe/do_sys_open', P.Kprobe, A.None, 'do_sys_open'],
  ['kprobe.multi/do_*', P.Kprobe, A.TraceKprobeMulti, 'do_*'],
  ['kretprobe.multi/vfs_*', P.Kprobe, A.TraceKprobeMulti, 'vfs_*'],
  ['kprobe.session/x', P.Kprobe, A.TraceKprobeSession, 'x'],
  ['ksyscall/openat', P.Kprobe, A.None, 'openat'],
  ['kretsyscall/openat', P.Kprobe, A.None, 'openat'],
  ['uprobe/libc.so.6:malloc', P.Kprobe, A.None, 'libc.so.6:malloc'],
  ['uprobe.s/libc.so.6:malloc', P.Kprobe, A.None, 'libc.so.6:malloc', S],
  ['uretprobe//bin/bash:readline', P.Kprobe, A.None, '/bin/bash:readline'],
  ['uretprobe.s//bin/bash:readline', P.Kprobe, A.None, '/bin/bash:readline', S],
  ['uprobe.multi/libc.so.6:*', P.Kprobe, A.TraceUprobeMulti, 'libc.so.6:*'],
  ['uprobe.multi.s/libc.so.6:*', P.Kprobe, A.TraceUprobeMulti, 'libc.so.6:*', S],
  ['usdt/libc.so.6:libc:setjmp', P.Kprobe, A.None, 'libc.so.6:libc:setjmp'],
  ['usdt.s/libc.so.6:libc:setjmp', P.Kprobe, A.None, 'libc.so.6:libc:setjmp', S],
  ['tracepoint/syscalls/sys_enter_openat', P.Tracepoint, A.None, 'syscalls/sys_enter_openat'],
  ['tp/sched/sched_switch', P.Tracepoint, A.None, 'sched/sched_switch'],
  ['tp.s/syscalls/sys_enter_openat', P.Tracepoint, A.None, 'syscalls/sys_enter_openat', S],
  ['raw_tracepoint/sys_enter', P.RawTracepoint, A.None, 'sys_enter'],
  ['raw_tp/sched_switch', P.RawTracepoint, A.None, 'sched_switch'],
  ['raw_tp.w/bpf_test_finish', P.RawTracepointWritable, A.None, 'bpf_test_finish'],
  ['tp_btf/sched_wakeup', P.Tracing, A.TraceRawTP, 'sched_wakeup'],
  ['fentry/do_unlinkat', P.Tracing, A.TraceFentry, 'do_unlinkat'],
  ['fentry.s/do_unlinkat', P.Tracing, A.TraceFentry, 'do_unlinkat', S],
  ['fexit/do_unlinkat', P.Tracing, A.TraceFexit, 'do_unlinkat'],
  ['fmod_ret/security_file_open', P.Tracing, A.ModifyReturn, 'security_file_open'],
  ['freplace/handler', P.Ext, A.None, 'handler'],
  ['lsm/file_open', P.LSM, A.LSMMAC, 'file_open'],
  ['lsm.s/bprm_committed_creds', P.LSM, A.LSMMAC, 'bprm_committed_creds', S],
  ['lsm_cgroup/socket_bind', P.LSM, A.LSMCgroup, 'socket_bind'],
  ['iter/task', P.Tracing, A.TraceIter, 'task'],
  ['iter.s/task_vma', P.Tracing, A.TraceIter, 'task_vma', S],
  ['struct_ops/ssthresh', P.StructOps, A.None, 'ssthresh'],
  ['struct_ops.s/init', P.StructOps, A.None, 'init', S],
  ['syscall', P.Syscall, A.None, undefined, S],
  ['xdp', P.XDP, A.XDP, undefined],
  ['xdp.frags', P.XDP, A.XDP, undefined, F],
  ['xdp/devmap', P.XDP, A.XDPDevMap, undefined],
  ['xdp.frags/devmap', P.XDP, A.XDPDevMap, undefined, F],
  ['xdp/cpumap', P.XDP, A.XDPCPUMap, undefined],
  ['xdp.frags/cpumap', P.XDP, A.XDPCPUMap, undefined, F],
  ['tc', P.SchedCls, A.None, undefined],
  ['tc/ingress', P.SchedCls, A.TCXIngress, undefined],
  ['tcx/egress', P.SchedCls, A.TCXEgress, undefined],
  ['classifier', P.SchedCls, A.None, undefined],
  ['action', P.SchedAct, A.None, undefined],
  ['netkit/primary', P.SchedCls, A.NetkitPrimary, undefined],
  ['perf_event', P.PerfEvent, A.None, undefined],
  ['lwt_xmit', P.LWTXmit, A.None, undefined],
  ['sockops', P.SockOps, A.CgroupSockOps, undefined],
  ['sk_skb/stream_parser', P.SKSKB, A.SKSKBStreamParser, undefined],
  ['sk_skb/stream_verdict', P.SKSKB, A.SKSKBStreamVerdict, undefined],
  ['sk_skb/verdict', P.SKSKB, A.SKSKBVerdict, undefined],
  ['sk_skb', P.SKSKB, A.None, undefined],
  ['sk_msg', P.SKMsg, A.SKMsgVerdict, undefined],
  ['lirc_mode2', P.LIRCMode2, A.LIRCMode2, undefined],
  ['flow_dissector', P.FlowDissector, A.FlowDissector, undefined],
  ['cgroup_skb/ingress', P.CgroupSKB, A.CgroupInetIngress, undefined],
  ['cgroup_skb/egress', P.CgroupSKB, A.CgroupInetEgress, undefined],
  ['cgroup/skb', P.CgroupSKB, A.None, undefined],
  ['cgroup/sock', P.CgroupSock, A.CgroupInetSockCreate, undefined],
  ['cgroup/sock_create', P.CgroupSock, A.CgroupInetSockCreate, undefined],
  ['cgroup/sock_release', P.CgroupSock, A.CgroupInetSockRelease, undefined],
  ['cgroup/post_bind4', P.CgroupSock, A.CgroupInet4PostBind, undefined],
  ['cgroup/bind6', P.CgroupSockAddr, A.CgroupInet6Bind, undefined],
  ['cgroup/connect4', P.CgroupSockAddr, A.CgroupInet4Connect, undefined],
  ['cgroup/connect_unix', P.CgroupSockAddr, A.CgroupUnixConnect, undefined],
  ['cgroup/sendmsg6', P.CgroupSockAddr, A.CgroupUDP6Sendmsg, undefined],
  ['cgroup/recvmsg4', P.CgroupSockAddr, A.CgroupUDP4Recvmsg, undefined],
  ['cgroup/getpeername6', P.CgroupSockAddr, A.CgroupInet6Getpeername, undefined],
  ['cgroup/getsockname4', P.CgroupSockAddr, A.CgroupInet4Getsockname, undefined],
  ['cgroup/sysctl', P.CgroupSysctl, A.CgroupSysctl, undefined],
  ['cgroup/getsockopt', P.CgroupSockopt, A.CgroupGetsockopt, undefined],
  ['cgroup/setsockopt', P.CgroupSockopt, A.CgroupSetsockopt, undefined],
  ['cgroup/dev', P.CgroupDevice, A.CgroupDevice, undefined],
  ['sk_lookup', P.SKLookup, A.SKLookup, undefined],
  ['netfilter', P.Netfilter, A.Netfilter, undefined],
  // The no-autoload prefix is stripped before matching.
  ['?tp/syscalls/sys_enter_close', P.Tracepoint, A.None, 'syscalls/sys_enter_close', 0, false],
  ['?fentry.s/do_unlinkat', P.Tracing, A.TraceFentry, 'do_unlinkat', S, false],
  ['?xdp.frags', P.XDP, A.XDP, undefined, F, false],
  // Legacy prefix names (cilium/ebpf, libbpf < 1.0): a whole-name row followed by anything.
  ['socket/extra', P.SocketFilter, A.None, undefined],
  ['xdp_custom', P.XDP, A.XDP, undefined],
  ['classifier/ingress_x', P.SchedCls, A.None, undefined],
  ['cgroup_skb/egress_count', P.CgroupSKB, A.CgroupInetEgress, undefined],
  ['sk_lookup/steer', P.SKLookup, A.SKLookup, undefined],
  // Not conventions: a target row's name without the '/' separator, junk.
  ['kprobex', P.Unspec, A.None, undefined],
  ['kprobe__do_exit', P.Unspec, A.None, undefined],
  ['my_custom_section', P.Unspec, A.None, undefined],
  ['', P.Unspec, A.None, undefined],
];

describe('section names map to program type, attach type, target, flags and autoload', () => {
  it.each(table)('%s', (section, type, attachType, attachTo, flags = 0, autoload = true) => {
    const info = parseSectionName(section);
    expect({ type: P[info.type], attachType: info.attachType, attachTo: info.attachTo, flags: info.flags, autoload: info.autoload }).toEqual({
      type: P[type],
      attachType,
      attachTo,
      flags,
      autoload,
    });
  });
});

it('a legacy prefix match says which rule matched and the strict name, a strict match says nothing', () => {
  expect(parseSectionName('xdp_custom').legacy).toBe(
    'section "xdp_custom" matched "xdp" by prefix, a rule of cilium/ebpf and libbpf before 1.0; libbpf 1.x wants SEC("xdp")',
  );
  expect(parseSectionName('?socket/extra').legacy).toMatch(/matched "socket" by prefix/);
  for (const strict of ['xdp', 'socket', 'kprobe/x', 'tc/ingress', 'cgroup_skb/egress']) expect(parseSectionName(strict).legacy, strict).toBeUndefined();
});

it('BTF-attached conventions are marked (fentry, fexit, fmod_ret, freplace, lsm, iter, tp_btf)', () => {
  for (const name of ['fentry/x', 'fexit/x', 'fmod_ret/x', 'freplace/x', 'lsm/x', 'iter/task', 'tp_btf/x', 'lsm_cgroup/x']) {
    expect(parseSectionName(name).attachBTF, name).toBe(true);
  }
  for (const name of ['kprobe/x', 'xdp', 'socket', 'tp/a/b']) expect(parseSectionName(name).attachBTF, name).toBe(false);
});

it('first match wins: more specific rows come before their prefixes', () => {
  const names = sectionDefinitions.map((d) => d.name);
  const before = (a: string, b: string): void => expect(names.indexOf(a), `${a} before ${b}`).toBeLessThan(names.indexOf(b));
  before('xdp.frags/devmap', 'xdp.frags');
  before('tc/ingress', 'tc');
  before('sk_skb/stream_parser', 'sk_skb');
  before('cgroup/sock_create', 'cgroup/sock');
  before('sk_reuseport/migrate', 'sk_reuseport');
});

// libbpf_prog_type_by_name() from the system's libbpf, through a C helper built on the fly.
// Versions differ in which names they know (1.1 has no tcx/netkit/unix sockets): names the
// installed libbpf rejects are skipped, everything it accepts must agree with our table.
function libbpfHelper(): string | undefined {
  if (!existsSync('/usr/include/bpf/libbpf.h')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-secnames-'));
  const src = join(dir, 'secnames.c');
  writeFileSync(
    src,
    [
      '#include <stdio.h>',
      '#include <bpf/libbpf.h>',
      'static int quiet(enum libbpf_print_level l, const char *f, va_list a) { return 0; }',
      'int main(int argc, char **argv) {',
      '  libbpf_set_print(quiet);',
      '  for (int i = 1; i < argc; i++) {',
      '    enum bpf_prog_type t; enum bpf_attach_type a;',
      '    if (libbpf_prog_type_by_name(argv[i], &t, &a)) printf("-\\n"); else printf("%d %d\\n", t, a);',
      '  }',
      '  return 0;',
      '}',
    ].join('\n'),
  );
  try {
    execFileSync('cc', ['-o', join(dir, 'secnames'), src, '-lbpf'], { stdio: 'pipe' });
    return join(dir, 'secnames');
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

describe('agrees with the installed libbpf', () => {
  const helper = libbpfHelper();
  afterAll(() => {
    if (helper !== undefined) rmSync(dirname(helper), { recursive: true, force: true });
  });
  it.skipIf(helper === undefined)('libbpf_prog_type_by_name (skipped: no cc or libbpf-dev to build the helper)', () => {
    const names = table.map((r) => r[0]).filter((n) => n !== '' && !n.startsWith('?'));
    const lines = execFileSync(helper!, names, { encoding: 'utf8' }).trim().split('\n');
    let compared = 0;
    names.forEach((name, i) => {
      if (lines[i] === '-') return;
      const [type, attach] = lines[i]!.split(' ').map(Number);
      const info = parseSectionName(name);
      expect(`${name}: ${P[info.type]} ${info.attachType}`).toBe(`${name}: ${P[type!]} ${attach}`);
      compared++;
    });
    expect(compared).toBeGreaterThan(60);
  });
});
