// Cgroup attachments with real processes (testdata/cgroup_hooks.bpf.c): each test creates a
// child cgroup of the v2 root, attaches there, and starts processes that join the cgroup
// before they run (TestCgroup.run). What the programs refuse is seen failing with EPERM in
// those processes and succeeding in processes outside; what they count is compared with the
// exact bytes and packets the process sent. The cgroup is removed after every test, failing
// or not (its processes killed first); the kernel drops attachments with the cgroup.
//
// Kernels with cgroup links (5.7+) attach through a bpf_link by default; `legacy` and `flags`
// take the BPF_PROG_ATTACH path on every kernel, so both paths run everywhere.
import { createServer, type Server } from 'node:net';
import { closeSync, openSync, statfsSync, constants as fsConstants } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, AttachTargetError, SyscallError } from '../../src/errors.js';
import { cgroup2Path, cgroupId, processCgroup } from '../../src/internal/cgroup.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE } from '../../src/internal/flags.js';
import { attachCgroup, cgroupLinkFeature } from '../../src/link/cgroup.js';
import { LinkType, listLinks, type Link } from '../../src/link/link.js';
import { Program } from '../../src/prog.js';
import { Errno } from '../../src/sys/errno.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import * as asm from '../../src/asm/index.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { cgroupUnavailable, nodeOutside, TestCgroup } from './helpers/cgroup.js';
import { closeAfterEach, u64 } from './helpers/per-test.js';

const object = new URL('../../testdata/cgroup_hooks.bpfel.o', import.meta.url).pathname;
const skip = cgroupUnavailable();
if (skip !== undefined) console.warn(`skipping cgroup tests: ${skip}`);
const linkKernel = skip === undefined && kernelVersion().atLeast('5.7');
// link.info() (BPF_OBJ_GET_INFO_BY_FD of a link) came a release after cgroup links.
const linkInfoKernel = skip === undefined && kernelVersion().atLeast('5.8');

let spec: CollectionSpec;
const track = closeAfterEach();

beforeAll(async () => {
  if (skip === undefined) spec = await loadCollectionSpec(object);
});

interface Constants {
  blocked_port?: number;
  counted_port?: number;
  denied_major?: number;
  denied_minor?: number;
}

async function load(constants: Constants = {}): Promise<Collection> {
  return track(await loadCollection(spec.copy(), { constants: { blocked_port: 0, counted_port: 0, denied_major: 0, denied_minor: 0, ...constants } }));
}

/** A TCP server on 127.0.0.1 that accepts and closes; its port. */
async function server(): Promise<number> {
  const s: Server = createServer((c) => c.destroy());
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  track({ close: () => s.close() });
  return (s.address() as { port: number }).port;
}

/** A free UDP port on loopback (bound and released). */
async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const port = s.address().port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** A script that connects to 127.0.0.1:port once and prints {ok} or {code}. */
const connectScript = (port: number): string => `
  import net from 'node:net';
  const s = net.connect(${port}, '127.0.0.1');
  s.on('connect', () => { console.log(JSON.stringify({ ok: true })); s.destroy(); });
  s.on('error', (e) => console.log(JSON.stringify({ ok: false, code: e.code })));
`;

interface Outcome {
  ok: boolean;
  code?: string;
}
const inside = (cg: TestCgroup, script: string): Outcome => JSON.parse(cg.node(script)) as Outcome;
const outside = (script: string): Outcome => JSON.parse(nodeOutside(script)) as Outcome;

/** Attaches and tracks the link for closing after the test. */
function attach(prog: Program, options: Parameters<typeof attachCgroup>[1]): Link {
  return track(attachCgroup(prog, options));
}

describe.skipIf(skip !== undefined)('cgroup attach', () => {
  it('the cgroup link feature is there from 5.7', () => {
    expect(cgroupLinkFeature.supported()).toBe(kernelVersion().atLeast('5.7'));
  });

  it('cgroup/connect4 refuses connect() in the cgroup (EPERM), not outside it; close() detaches', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    const cg = track(TestCgroup.create());
    const link = attach(coll.programs.deny_connect4!, { cgroup: cg.path });
    expect(link.mode).toBe(linkKernel ? 'bpf-link' : 'attachment');
    expect(link.what).toBe(`cgroup/connect4 on cgroup ${cg.path}${linkKernel ? '' : ' (BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI)'}`);

    expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
    expect(outside(connectScript(port))).toEqual({ ok: true });

    link.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
  });

  it.skipIf(!linkInfoKernel)('a cgroup link reports the cgroup id (the directory inode) and the hook', async () => {
    const coll = await load();
    const cg = track(TestCgroup.create());
    const link = attach(coll.programs.count_egress!, { cgroup: cg.path });
    const info = link.info();
    expect(info.type).toBe(LinkType.Cgroup);
    expect(info.programId).toBe(coll.programs.count_egress!.info().id);
    expect(info.cgroup).toEqual({ cgroupId: cgroupId(cg.path), attachType: AttachType.CgroupInetEgress });
    // The CLI's decoder (link list) agrees.
    expect(listLinks().find((l) => l.id === info.id)?.cgroup).toEqual({ cgroupId: cgroupId(cg.path), attachType: AttachType.CgroupInetEgress });
    expect(cgroupId(cg.path)).not.toBe(cgroupId(cgroup2Path()));
  });

  it('legacy: BPF_PROG_ATTACH with ALLOW_MULTI, an attachment whose close() detaches it', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    const cg = track(TestCgroup.create());
    const link = attach(coll.programs.deny_connect4!, { cgroup: cg.path, legacy: true });
    expect(link.mode).toBe('attachment');
    expect(link.fd).toBe(-1);
    expect(link.what).toBe(`cgroup/connect4 on cgroup ${cg.path} (BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI)`);
    expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
    // The attachment holds its own references: closing the program and the collection first
    // neither detaches it nor keeps close() from detaching it.
    coll.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
    link.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
  });

  it('ALLOW_MULTI: two programs (a link and a PROG_ATTACH) both run for one connect(); each close detaches its own', async () => {
    const port = await server();
    const coll = await load();
    const cg = track(TestCgroup.create());
    const a = attach(coll.programs.count_connect4_a!, { cgroup: cg.path });
    const b = attach(coll.programs.count_connect4_b!, { cgroup: cg.path, flags: BPF_F_ALLOW_MULTI });
    expect(b.mode).toBe('attachment');
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([1n, 1n]);

    a.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([1n, 2n]);
    b.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([1n, 2n]);
    // Nothing ran outside the cgroup.
    expect(outside(connectScript(port))).toEqual({ ok: true });
    expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([1n, 2n]);
  });

  it.skipIf(!linkInfoKernel)('Link.update swaps the program of a cgroup link in place', async () => {
    const port = await server();
    const coll = await load();
    const cg = track(TestCgroup.create());
    const link = attach(coll.programs.count_connect4_a!, { cgroup: cg.path });
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    link.update(coll.programs.count_connect4_b!, { oldProgram: coll.programs.count_connect4_a! });
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([1n, 1n]);
    expect(link.info().programId).toBe(coll.programs.count_connect4_b!.info().id);
    // The link no longer runs a: EPERM, explained.
    expect(() => link.update(coll.programs.count_connect4_a!, { oldProgram: coll.programs.count_connect4_a! })).toThrow(/no longer runs count_connect4_a/);
  });

  it('Link.update of a BPF_PROG_ATTACH attachment (MULTI with BPF_F_REPLACE, NONE by a second attach); close() then detaches the new program', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    for (const flags of [BPF_F_ALLOW_MULTI, 0]) {
      const cg = track(TestCgroup.create());
      const before = [u64(coll, 'connects_a'), u64(coll, 'connects_b')];
      const link = attach(coll.programs.deny_connect4!, { cgroup: cg.path, flags });
      expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
      link.update(coll.programs.count_connect4_a!);
      expect(inside(cg, connectScript(port))).toEqual({ ok: true });
      // Only a ran: deny was replaced, not joined.
      expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([before[0]! + 1n, before[1]!]);
      // With an oldProgram that is not attached there: refused, nothing changes.
      expect(() => link.update(coll.programs.count_connect4_b!, { oldProgram: coll.programs.deny_connect4! })).toThrow(/deny_connect4 is (not|no longer) attached/);
      link.update(coll.programs.count_connect4_b!, { oldProgram: coll.programs.count_connect4_a! });
      expect(inside(cg, connectScript(port))).toEqual({ ok: true });
      expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([before[0]! + 1n, before[1]! + 1n]);
      link.close();
      expect(inside(cg, connectScript(port))).toEqual({ ok: true });
      expect([u64(coll, 'connects_a'), u64(coll, 'connects_b')]).toEqual([before[0]! + 1n, before[1]! + 1n]);
    }
  });

  it('the same program twice at a MULTI hook: EINVAL, explained as such', async () => {
    const coll = await load();
    const cg = track(TestCgroup.create());
    attach(coll.programs.count_connect4_a!, { cgroup: cg.path, legacy: true });
    let err: unknown;
    try {
      attach(coll.programs.count_connect4_a!, { cgroup: cg.path, legacy: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(Errno.EINVAL);
    expect((err as Error).message).toContain(`program count_connect4_a is already attached to cgroup ${cg.path} at BPF_CGROUP_INET4_CONNECT`);
  });

  it('NONE (flags 0): a second NONE program replaces the first; closing the first leaves the second attached', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    const cg = track(TestCgroup.create());
    const deny = attach(coll.programs.deny_connect4!, { cgroup: cg.path, flags: 0 });
    expect(deny.what).toContain('(BPF_PROG_ATTACH, no flags (NONE))');
    expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });

    // A MULTI program (or a link) cannot join a NONE hook: EPERM, with what is there.
    for (const options of [{ flags: BPF_F_ALLOW_MULTI }, ...(linkKernel ? [{}] : [])]) {
      let err: unknown;
      try {
        attach(coll.programs.count_connect4_a!, { cgroup: cg.path, ...options });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SyscallError);
      expect((err as SyscallError).errno).toBe(Errno.EPERM);
      expect((err as Error).message).toMatch(
        new RegExp(`cgroup ${cg.path} has program id \\d+ \\(deny_connect4\\) at BPF_CGROUP_INET4_CONNECT, attached with no flags \\(NONE\\); .* cannot join them`),
      );
    }

    // The kernel replaces a NONE program with the next NONE one.
    const count = attach(coll.programs.count_connect4_a!, { cgroup: cg.path, flags: 0 });
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect(u64(coll, 'connects_a')).toBe(1n);
    // BPF_PROG_DETACH of a NONE hook removes whatever is there: closing the replaced
    // attachment must not take the new program with it.
    deny.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect(u64(coll, 'connects_a')).toBe(2n);
    count.close();
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    expect(u64(coll, 'connects_a')).toBe(2n);
  });

  it('a NONE program in a parent forbids attaching in its children (EPERM names the parent); OVERRIDE allows it', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    const parent = track(TestCgroup.create());
    const child = parent.child('leaf');
    const deny = attach(coll.programs.deny_connect4!, { cgroup: parent.path, flags: 0 });
    let err: unknown;
    try {
      attach(coll.programs.count_connect4_a!, { cgroup: child.path, legacy: true });
    } catch (e) {
      err = e;
    }
    expect((err as SyscallError).errno).toBe(Errno.EPERM);
    expect((err as Error).message).toMatch(new RegExp(`cgroup ${parent.path} has program id \\d+ \\(deny_connect4\\) .* which forbids attaching at BPF_CGROUP_INET4_CONNECT in the cgroups below it`));
    deny.close();

    // With ALLOW_OVERRIDE in the parent, a child's own program runs there instead.
    attach(coll.programs.deny_connect4!, { cgroup: parent.path, flags: BPF_F_ALLOW_OVERRIDE });
    expect(inside(child, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
    attach(coll.programs.count_connect4_a!, { cgroup: child.path, flags: BPF_F_ALLOW_OVERRIDE });
    expect(inside(child, connectScript(port))).toEqual({ ok: true });
    expect(u64(coll, 'connects_a')).toBe(1n);
  });

  it('cgroup_skb egress (link) and ingress (PROG_ATTACH) count the exact UDP packets and bytes of the cgroup', async () => {
    const port = await freeUdpPort();
    const coll = await load({ counted_port: port });
    const cg = track(TestCgroup.create());
    attach(coll.programs.count_egress!, { cgroup: cg.path });
    attach(coll.programs.count_ingress!, { cgroup: cg.path, legacy: true });
    const count = 7;
    const size = 100;
    // One process sends to itself over loopback: each datagram leaves (egress) and arrives
    // (ingress) in the cgroup.
    const out = JSON.parse(
      cg.node(`
        import dgram from 'node:dgram';
        const rx = dgram.createSocket('udp4');
        await new Promise((ok) => rx.bind(${port}, '127.0.0.1', ok));
        let got = 0;
        const all = new Promise((ok) => rx.on('message', () => { if (++got === ${count}) ok(); }));
        const tx = dgram.createSocket('udp4');
        for (let i = 0; i < ${count}; i++) await new Promise((ok, fail) => tx.send(Buffer.alloc(${size}, i), ${port}, '127.0.0.1', (e) => (e ? fail(e) : ok())));
        await all;
        tx.close(); rx.close();
        console.log(JSON.stringify({ got }));
      `),
    ) as { got: number };
    expect(out.got).toBe(count);
    // IPv4 header (20, no options) + UDP header (8) + payload.
    const ipBytes = BigInt(count * (20 + 8 + size));
    expect([u64(coll, 'egress_packets'), u64(coll, 'egress_bytes')]).toEqual([BigInt(count), ipBytes]);
    expect([u64(coll, 'ingress_packets'), u64(coll, 'ingress_bytes')]).toEqual([BigInt(count), ipBytes]);

    // Traffic of a process outside the cgroup is not counted.
    nodeOutside(`
      import dgram from 'node:dgram';
      const tx = dgram.createSocket('udp4');
      await new Promise((ok) => tx.send(Buffer.alloc(10), ${port}, '127.0.0.1', ok));
      tx.close();
    `);
    expect(u64(coll, 'egress_packets')).toBe(BigInt(count));
  });

  it('cgroup/sock_create refuses socket(AF_INET, SOCK_DGRAM) in the cgroup; TCP sockets still work', async () => {
    const port = await server();
    const coll = await load();
    const cg = track(TestCgroup.create());
    attach(coll.programs.deny_udp4_socket!, { cgroup: cg.path });
    const udp = `
      import dgram from 'node:dgram';
      const s = dgram.createSocket('udp4');
      s.on('error', (e) => console.log(JSON.stringify({ ok: false, code: e.code })));
      s.bind(0, '127.0.0.1', () => { console.log(JSON.stringify({ ok: true })); s.close(); });
    `;
    expect(inside(cg, udp)).toEqual({ ok: false, code: 'EPERM' });
    expect(outside(udp)).toEqual({ ok: true });
    expect(inside(cg, connectScript(port))).toEqual({ ok: true });
  });

  it('cgroup/dev refuses opening /dev/zero (1:5) in the cgroup', async () => {
    const coll = await load({ denied_major: 1, denied_minor: 5 });
    const cg = track(TestCgroup.create());
    attach(coll.programs.deny_dev!, { cgroup: cg.path });
    const zero = cg.run('head', ['-c', '1', '/dev/zero']);
    expect(zero.status).not.toBe(0);
    expect(zero.stderr).toMatch(/Operation not permitted/);
    expect(cg.run('head', ['-c', '1', '/dev/null']).status).toBe(0);
  });

  it('cgroup/sysctl refuses reading /proc/sys in the cgroup and counts the one attempt', async () => {
    const coll = await load();
    const cg = track(TestCgroup.create());
    attach(coll.programs.deny_sysctl_read!, { cgroup: cg.path, legacy: true });
    const r = cg.run('cat', ['/proc/sys/kernel/ostype']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
    expect(u64(coll, 'sysctl_reads')).toBe(1n);
  });

  it('takes the cgroup as a path relative to the v2 root, or as an open fd of its directory', async () => {
    const port = await server();
    const coll = await load({ blocked_port: port });
    const cg = track(TestCgroup.create());
    const relative = cg.path.slice(cgroup2Path().length + 1);
    const byName = attach(coll.programs.deny_connect4!, { cgroup: relative });
    expect(byName.what).toContain(cg.path);
    expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
    byName.close();

    const fd = openSync(cg.path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    try {
      const byFd = attach(coll.programs.deny_connect4!, { cgroup: fd, legacy: true });
      expect(inside(cg, connectScript(port))).toEqual({ ok: false, code: 'EPERM' });
      byFd.close();
      expect(inside(cg, connectScript(port))).toEqual({ ok: true });
    } finally {
      closeSync(fd);
    }
  });

  it('the cgroup of a process is read from /proc/PID/cgroup', () => {
    const cg = track(TestCgroup.create());
    const r = cg.run('sh', ['-c', 'cat /proc/self/cgroup']);
    expect(r.stdout).toContain(`0::/${cg.path.slice(cgroup2Path().length + 1)}`);
    expect(processCgroup(process.pid)).toBe(processCgroup());
  });

  it('refuses what is not a cgroup v2 directory, naming the v2 mount', async () => {
    const coll = await load();
    const prog = coll.programs.count_egress!;
    const v2 = cgroup2Path();
    for (const path of ['/tmp', `${v2}/ebpf-ts-no-such-cgroup`, `${v2}/cgroup.procs`]) {
      expect(() => attachCgroup(prog, { cgroup: path })).toThrow(AttachTargetError);
    }
    expect(() => attachCgroup(prog, { cgroup: '/tmp' })).toThrow(`the cgroup v2 hierarchy is mounted at ${v2}`);
    // A v1 hierarchy, where this system has one (the hybrid layout).
    const v1 = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/cpu'].find((p) => {
      try {
        return statfsSync(p).type === 0x27e0eb;
      } catch {
        return false;
      }
    });
    if (v1 !== undefined) expect(() => attachCgroup(prog, { cgroup: v1 })).toThrow(/is a cgroup v1 directory: BPF programs attach to cgroup v2 only/);
  });

  it('refuses a program that does not fit the hook before any syscall, naming the hooks that fit', async () => {
    const coll = await load();
    const cg = track(TestCgroup.create());
    expect(() => attachCgroup(coll.programs.deny_connect4!, { cgroup: cg.path, attachType: AttachType.CgroupInet6Connect })).toThrow(
      /deny_connect4 was loaded for BPF_CGROUP_INET4_CONNECT \(cgroup\/connect4\) and the kernel attaches it only there/,
    );
    expect(() => attachCgroup(coll.programs.count_egress!, { cgroup: cg.path, attachType: AttachType.CgroupInet4Connect })).toThrow(
      /BPF_CGROUP_INET4_CONNECT runs CGROUP_SOCK_ADDR programs; count_egress is a CGROUP_SKB program, which attaches at CgroupInetIngress \(cgroup_skb\/ingress\), CgroupInetEgress \(cgroup_skb\/egress\)/,
    );
    using filter = Program.load({ name: 'sockfilter', type: ProgramType.SocketFilter, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    expect(() => attachCgroup(filter, { cgroup: cg.path })).toThrow(ArgumentError);
    expect(() => attachCgroup(filter, { cgroup: cg.path })).toThrow(/SOCKET_FILTER program, which does not attach to cgroups/);
  });
});
