// BPF tokens (Linux 6.9): loading inside a user namespace, as in a container. This process (root
// in the initial namespace) plays the container manager: a child runs under `unshare --user
// --map-root-user --mount`, opens bpffs contexts there, and this test sets their delegate_*
// options through pidfd_getfd (only the initial namespace may). The child (helpers/token-child.ts)
// then loads testdata/sock_filter with the token found at /sys/fs/bpf, runs the filter on
// loopback datagrams, and tries the refusals. See test/kernel/helpers/mount-api.ts for the dance.
import { spawn } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfToken } from '../../src/token.js';
import { NotSupportedError, SyscallError } from '../../src/errors.js';
import { inInitialUserNamespace } from '../../src/internal/privileges.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { fsconfigCreate, fsconfigString, takeFd } from './helpers/mount-api.js';
import { inEmulatedVM } from './helpers/kernel-features.js';

const repo = process.cwd();
const object = join(repo, 'testdata/sock_filter.bpfel.o');
const hasUnshare = ['/usr/bin/unshare', '/bin/unshare'].some((p) => existsSync(p));

const skip =
  process.getuid?.() !== 0
    ? 'needs root: the test sets bpffs delegation, which only the initial user namespace may'
    : !kernelVersion().atLeast('6.9')
      ? `needs Linux 6.9 for BPF tokens (this is ${kernelVersion().toString()}); the host runs it`
      : !hasUnshare
        ? 'needs unshare (util-linux) to start a process in a user namespace'
        : inEmulatedVM
          ? 'runs on the host (6.9+): under test:vm vite-node would take minutes to start in the guest'
          : '';

interface Failure {
  name: string;
  message: string;
  code?: string;
}
interface ChildResults {
  initialUserNamespace: boolean;
  mounts: Array<{ mountPoint: string; cmds: string | null; maps: string | null; progs: string | null; attachs: string | null }>;
  noToken: Failure;
  implicit: { loaded: true; received: number[]; counts: number[] } | Failure;
  delegation: { cmds: string[] | 'any'; maps: string[] | 'any'; progs: string[] | 'any'; attachs: string[] | 'any' };
  explicitMap: { created: true; value: string } | Failure;
  limited: Failure;
  limitedHash: { created: boolean } | Failure;
  none: Failure;
}

/** Runs the child in a new user and mount namespace, delegating as the contexts' names say. */
async function runChild(): Promise<ChildResults> {
  const child = spawn(
    'unshare',
    ['--user', '--map-root-user', '--mount', '--', process.execPath, join(repo, 'node_modules/vite-node/vite-node.mjs'), join(repo, 'test/kernel/helpers/token-child.ts')],
    { cwd: repo, env: { ...process.env, TOKEN_CHILD_OBJECT: object, EBPF_TS_BPF_TOKEN_PATH: undefined }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  try {
    const lines = createInterface({ input: child.stdout });
    const it = lines[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done === true) throw new Error(`the child ended before opening its contexts: ${stderr}`);
    const { pid, contexts } = JSON.parse(first.value as string) as { pid: number; contexts: Record<'any' | 'limited' | 'none', number> };
    const options: Record<keyof typeof contexts, Array<[string, string]>> = {
      any: [['delegate_cmds', 'any'], ['delegate_maps', 'any'], ['delegate_progs', 'any'], ['delegate_attachs', 'any']],
      limited: [['delegate_cmds', 'map_create:btf_load:prog_load'], ['delegate_maps', 'hash'], ['delegate_progs', 'socket_filter'], ['delegate_attachs', 'any']],
      none: [],
    };
    for (const [name, fd] of Object.entries(contexts) as Array<[keyof typeof contexts, number]>) {
      const mine = takeFd(pid, fd);
      try {
        for (const [key, value] of options[name]) fsconfigString(mine, key, value);
        fsconfigCreate(mine);
      } finally {
        closeSync(mine);
      }
    }
    child.stdin.write('configured\n');
    const last = await it.next();
    lines.close();
    const code = await exited;
    if (last.done === true) throw new Error(`the child printed no results (exit ${code}): ${stderr}`);
    return JSON.parse(last.value as string) as ChildResults;
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe.skipIf(skip !== '')(`BPF tokens${skip === '' ? '' : ` (skipped: ${skip})`}`, () => {
  it('in the initial user namespace no token is made, and the error says why none is needed', () => {
    expect(inInitialUserNamespace()).toBe(true);
    const err = (() => {
      try {
        BpfToken.create('/sys/fs/bpf').close();
      } catch (e) {
        return e as SyscallError;
      }
      throw new Error('BPF_TOKEN_CREATE succeeded in the initial user namespace');
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.code).toBe('EOPNOTSUPP');
    expect(err.message).toMatch(/initial user namespace, where the kernel makes no tokens/);
    expect(() => BpfToken.create(repo)).toThrow(/is not the root of a bpffs mount/);
  });

  it('inside a user namespace: refused without a token, loaded and run with the one /sys/fs/bpf delegates, refused where the delegation stops', async () => {
    const r = await runChild();
    expect(r.initialUserNamespace).toBe(false);
    // `ebpf-ts token list` in the child: the delegating bpffs over /sys/fs/bpf (the two others are not mounted anywhere).
    expect(r.mounts).toEqual([{ mountPoint: '/sys/fs/bpf', cmds: 'any', maps: 'any', progs: 'any', attachs: 'any' }]);

    // No token: the namespace's root is nobody to bpf(), and the error says what would help.
    expect(r.noToken.name, JSON.stringify(r.noToken)).toMatch(/Error$/);
    expect(r.noToken.code).toBe('EPERM');
    expect(r.noToken.message).toMatch(/user namespace .* without a BPF token/);

    // The default token: the object loads, its filter runs on this child's socket: datagrams of
    // 10, 20 and 1 bytes pass (8 + payload ≤ 58), the 200-byte one is dropped.
    expect(r.implicit, JSON.stringify(r.implicit)).toMatchObject({ loaded: true });
    const implicit = r.implicit as { received: number[]; counts: number[] };
    expect(implicit.received).toEqual([10, 20, 1]);
    expect(implicit.counts).toEqual([4, 1, 18 + 28 + 9]);

    expect(r.delegation).toEqual({ cmds: 'any', maps: 'any', progs: 'any', attachs: 'any' });
    expect(r.explicitMap).toEqual({ created: true, value: '0707070707070707' });

    // HASH maps only: the ARRAY maps of the object are refused, naming the token's delegation.
    expect(r.limited.code, JSON.stringify(r.limited)).toBe('EPERM');
    expect(r.limited.message).toMatch(/BPF token of \/proc\/self\/fd\/\d+ \(delegate_cmds=map_create:prog_load:btf_load, delegate_maps=hash, delegate_progs=socket_filter, delegate_attachs=any\)/);
    expect(r.limitedHash).toEqual({ created: true });

    // No delegate_* options: ENOENT, explained.
    expect(r.none.code).toBe('ENOENT');
    expect(r.none.message).toMatch(/delegates nothing: a privileged process must mount it with delegate_cmds/);
  }, 120_000);
});

// Before 6.9 the kernel knows no BPF_TOKEN_CREATE: the error names the version (test:vm, 5.10 and 6.1).
it.skipIf(process.getuid?.() !== 0 || kernelVersion().atLeast('6.9'))('before Linux 6.9, a token is a NotSupportedError naming 6.9', () => {
  // Any directory will do: the kernel refuses the command before it looks at the fd.
  const err = (() => {
    try {
      BpfToken.create('/').close();
    } catch (e) {
      return e as NotSupportedError;
    }
    throw new Error('BPF_TOKEN_CREATE succeeded before 6.9');
  })();
  expect(err).toBeInstanceOf(NotSupportedError);
  expect(err.message).toMatch(/BPF_TOKEN_CREATE.*6\.9/);
});
