/**
 * The container side of test/kernel/token.test.ts, run by vite-node under `unshare --user
 * --map-root-user --mount`: root of its own user namespace, so bpf() ignores its capabilities
 * unless a BPF token carries them.
 *
 * 1. Opens three bpffs contexts in its user namespace and prints `{ pid, contexts }`.
 * 2. Waits for a line on stdin: the test (root in the initial namespace) has set their
 *    `delegate_*` options and created them: `any` delegates everything, `limited` only HASH maps,
 *    `none` nothing.
 * 3. Mounts them (`any` over /sys/fs/bpf in its private mount namespace, where libbpf and
 *    ebpf-ts look by default), runs the cases and prints one JSON line of results.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { BpfMap, BpfToken, loadCollection, MapType } from '../../../src/index.js';
import { attachSocketFilter } from '../../../src/link/socket-filter.js';
import { inInitialUserNamespace } from '../../../src/internal/privileges.js';
import { fsmount, fsopen, moveMount } from './mount-api.js';
import { tokenMounts } from '../../../src/cli/token-list.js';
import { readMountinfo } from '../../../src/internal/mountinfo.js';

const object = process.env.TOKEN_CHILD_OBJECT!;
const contexts = { any: fsopen('bpf'), limited: fsopen('bpf'), none: fsopen('bpf') };
console.log(JSON.stringify({ pid: process.pid, contexts }));
const lines = createInterface({ input: process.stdin });
await once(lines, 'line');
lines.close();

const mounts = { any: fsmount(contexts.any), limited: fsmount(contexts.limited), none: fsmount(contexts.none) };
moveMount(mounts.any, '/sys/fs/bpf');
const fdPath = (fd: number): string => `/proc/self/fd/${fd}`;

function failure(e: unknown): { name: string; message: string; code?: string } {
  const err = e as Error & { code?: string };
  return { name: err.constructor.name, message: err.message, code: err.code };
}

// What `ebpf-ts token list` shows here: the delegating mount over /sys/fs/bpf.
const results: Record<string, unknown> = { initialUserNamespace: inInitialUserNamespace(), mounts: tokenMounts(readMountinfo() ?? '') };

// Without a token, the namespace's CAP_BPF counts for nothing.
try {
  (await loadCollection(object, { token: false })).close();
  results.noToken = { loaded: true };
} catch (e) {
  results.noToken = failure(e);
}

// The default: a token from the delegating bpffs at /sys/fs/bpf. The filter then runs on a
// socket of this process: datagrams over loopback are counted in its map.
try {
  const coll = await loadCollection(object, { constants: { max_len: 8 + 50 } });
  try {
    const receiver = dgram.createSocket('udp4');
    receiver.bind(0, '127.0.0.1');
    await once(receiver, 'listening');
    const link = attachSocketFilter(coll.programs.drop_large!, receiver);
    const got: number[] = [];
    receiver.on('message', (m) => got.push(m.length));
    const sender = dgram.createSocket('udp4');
    for (const size of [10, 200, 20, 1]) {
      await new Promise<void>((resolve, reject) => sender.send(Buffer.alloc(size, 1), receiver.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
    const deadline = Date.now() + 5000;
    while (!got.includes(1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const counts = [0, 1, 2].map((i) => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(i);
      return Number(Buffer.from(coll.maps.filter_counts!.lookup(key) as Uint8Array).readBigUInt64LE(0));
    });
    link.close();
    sender.close();
    receiver.close();
    results.implicit = { loaded: true, received: got, counts };
  } finally {
    coll.close();
  }
} catch (e) {
  results.implicit = failure(e);
}

// An explicit token: its delegation read back, and a map created with it.
try {
  const token = BpfToken.create('/sys/fs/bpf');
  try {
    results.delegation = token.delegation;
    const map = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 }, { token });
    map.update(Buffer.alloc(4), Buffer.alloc(8, 7));
    results.explicitMap = { created: true, value: Buffer.from(map.lookup(Buffer.alloc(4)) as Uint8Array).toString('hex') };
    map.close();
  } finally {
    token.close();
  }
} catch (e) {
  results.explicitMap = failure(e);
}

// A token that delegates HASH maps only: the object's ARRAY maps are refused, and the error
// names the token's delegation.
try {
  (await loadCollection(object, { token: fdPath(mounts.limited) })).close();
  results.limited = { loaded: true };
} catch (e) {
  results.limited = failure(e);
}
try {
  const map = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 }, { token: fdPath(mounts.limited) });
  results.limitedHash = { created: map.fd > 0 };
  map.close();
} catch (e) {
  results.limitedHash = failure(e);
}

// A bpffs without delegate_* options makes no token.
try {
  BpfToken.create(fdPath(mounts.none)).close();
  results.none = { created: true };
} catch (e) {
  results.none = failure(e);
}

console.log(JSON.stringify(results));
