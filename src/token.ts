/**
 * BPF tokens (Linux 6.9): how a process inside a user namespace — a container — may use bpf().
 * The kernel checks bpf()'s capabilities against the initial user namespace, so a container's
 * root may do nothing with them; a token, created from a bpffs instance that a privileged process
 * mounted for the container with `delegate_cmds`, `delegate_maps`, `delegate_progs` and
 * `delegate_attachs` options, lets the namespace's own capabilities count for what those options
 * allow. The token goes into every map creation, program load and BTF load (and the loader's
 * feature probes): see `sys/token-scope.ts`.
 *
 * @module
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { ArgumentError } from './errors.js';
import { Owner, type HeldFd } from './internal/owner.js';
import { inInitialUserNamespace } from './internal/privileges.js';
import { bpfCall } from './sys/bpf.js';
import { Errno } from './sys/errno.js';
import { Cmd, TokenCreate } from './sys/layouts.js';
import { inTokenScope, withToken, type TokenInScope } from './sys/token-scope.js';
import { AttachType, mapTypeName, programTypeName } from './types.js';

/** Where libbpf and ebpf-ts look for a delegated bpffs when no path is given. */
export const DEFAULT_BPFFS = '/sys/fs/bpf';

/** What a token allows, one set per `delegate_*` mount option: names, or `'any'`. */
export interface TokenDelegation {
  /** bpf() commands (`delegate_cmds`), e.g. `['map_create', 'prog_load', 'btf_load']`. */
  readonly cmds: readonly string[] | 'any';
  /** Map types (`delegate_maps`), e.g. `['array', 'ringbuf']`. */
  readonly maps: readonly string[] | 'any';
  /** Program types (`delegate_progs`), e.g. `['socket_filter', 'kprobe']`. */
  readonly progs: readonly string[] | 'any';
  /** Attach types (`delegate_attachs`), e.g. `['cgroup_inet_ingress']`. */
  readonly attachs: readonly string[] | 'any';
}

const owners = Owner.fdKind('BpfToken');

/**
 * A BPF token: the right to run the bpf() commands, map, program and attach types its bpffs
 * delegates, with the capabilities this process holds in its user namespace.
 *
 * Most code never makes one: `loadCollection()`, `BpfMap.create()`, `Program.load()` and
 * `BTFHandle.load()` create a token themselves, as libbpf does, when the process runs in a
 * user namespace whose `/sys/fs/bpf` delegates (or from `EBPF_TS_BPF_TOKEN_PATH`). Create one
 * to use another bpffs, to reuse one token for many loads, or to see what it allows.
 *
 * @example
 * ```ts
 * // Inside a container whose manager mounted a bpffs with delegate_* options at /run/bpf:
 * using token = BpfToken.create('/run/bpf');
 * console.log(token.delegation); // { cmds: 'any', maps: ['array', 'ringbuf'], ... }
 * const coll = await loadCollection('tracer.bpf.o', { token });
 * ```
 */
export class BpfToken {
  /** The bpffs mount the token was created from. */
  readonly path: string;
  readonly #owner: Owner<HeldFd>;
  #delegation: TokenDelegation | undefined;

  private constructor(fd: number, path: string) {
    this.path = path;
    this.#owner = new Owner(owners, this, { fd, name: path }, `BPF token of ${path} is closed`);
  }

  /**
   * Creates a token (BPF_TOKEN_CREATE) from the root of the bpffs mounted at `bpffsPath`.
   *
   * @throws {@link NotSupportedError} before Linux 6.9.
   * @throws {@link ArgumentError} `bpffsPath` is not a directory.
   * @throws {@link SyscallError} with the reason: the bpffs has no `delegate_*` options
   * (ENOENT), the path is not the root of a bpffs mount (EINVAL), the process is in the initial
   * user namespace, where tokens do not exist (EOPNOTSUPP), or the bpffs belongs to another user
   * namespace or this process lacks CAP_BPF in its own (EPERM).
   */
  static create(bpffsPath: string = DEFAULT_BPFFS): BpfToken {
    let dir: number;
    try {
      dir = openSync(bpffsPath, 'r');
    } catch (err) {
      throw new ArgumentError(`cannot open ${bpffsPath} for a BPF token: ${(err as Error).message}`, { cause: err });
    }
    try {
      const fd = bpfCall(TokenCreate, { bpffs_fd: dir }, { context: `create a BPF token from ${bpffsPath}`, explain: (errno) => explainCreate(errno, bpffsPath) });
      return new BpfToken(fd, bpffsPath);
    } finally {
      closeSync(dir);
    }
  }

  /** The token's fd (pass it to other processes over a Unix socket, as any fd). */
  get fd(): number {
    return this.#owner.held.fd;
  }

  /** True once {@link BpfToken.close} ran. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /** What the token allows, from its fdinfo (the bpffs's `delegate_*` options). */
  get delegation(): TokenDelegation {
    this.#delegation ??= readDelegation(this.fd);
    return this.#delegation;
  }

  /** Releases the token. Objects created with it keep working. */
  close(): void {
    this.#owner.close();
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The token as the sys layer's scope sees it. */
  get scope(): TokenInScope {
    return { fd: this.fd, describe: () => `the BPF token of ${this.path} (${describeDelegation(this.delegation)})` };
  }
}

/**
 * The `token` option of the loaders (`loadCollection`, `BpfMap.create`, `Program.load`,
 * `BTFHandle.load`), one type for all of them: a {@link BpfToken}, the path of a bpffs to create
 * one from, or `false` for none. Left out, the loader uses `EBPF_TS_BPF_TOKEN_PATH` if it is set
 * (empty: no token) and otherwise, in a user namespace other than the initial one, a token from
 * /sys/fs/bpf when that bpffs delegates, as libbpf does.
 */
export type TokenOption = BpfToken | string | false;

/**
 * Runs a loader's work `fn` with the token `option` asks for in scope (see {@link TokenOption}),
 * and closes the token afterwards if it made it. Inside another loader's scope (a collection
 * creating its maps and loading its BTF) the outer token stays, unless a {@link BpfToken} is
 * given.
 */
export function withLoadToken<T>(option: TokenOption | undefined, fn: () => T): T {
  if (!(option instanceof BpfToken) && inTokenScope()) return fn();
  let token: BpfToken | undefined;
  let owned = false;
  if (option instanceof BpfToken) token = option;
  else if (option !== false) {
    const path = option ?? process.env.EBPF_TS_BPF_TOKEN_PATH;
    owned = true;
    if (path !== undefined && path !== '') token = BpfToken.create(path);
    else if (path === undefined && !inInitialUserNamespace()) token = implicitToken();
  }
  try {
    return withToken(token?.scope ?? null, fn);
  } finally {
    if (owned) token?.close();
  }
}

/** A token from /sys/fs/bpf if it delegates anything; undefined if not (or no bpffs there). */
function implicitToken(): BpfToken | undefined {
  try {
    return BpfToken.create(DEFAULT_BPFFS);
  } catch {
    // No bpffs, no delegation, a kernel before 6.9: load without a token; an EPERM later
    // explains what is missing (permissionHint()).
    return undefined;
  }
}

function explainCreate(errno: number, path: string): string | undefined {
  switch (errno) {
    case Errno.ENOENT:
      return `the bpffs at ${path} delegates nothing: a privileged process must mount it with delegate_cmds, delegate_maps, delegate_progs and delegate_attachs options (see docs/loading.md, "BPF tokens")`;
    case Errno.EINVAL:
      return `${path} is not the root of a bpffs mount`;
    case Errno.EOPNOTSUPP:
      return 'this process is in the initial user namespace, where the kernel makes no tokens: it needs none, its capabilities count as they are';
    case Errno.EPERM:
      return `the bpffs at ${path} was not created in this process's user namespace, or the process lacks CAP_BPF there: create the token in the user namespace that owns the mount`;
    default:
      return undefined;
  }
}

/** Reads the `allowed_*` lines of a token's fdinfo. */
function readDelegation(fd: number): TokenDelegation {
  const text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const field = (key: string, name: (bit: number) => string): readonly string[] | 'any' => {
    const value = new RegExp(`^allowed_${key}:\\s*(\\S+)`, 'm').exec(text)?.[1];
    if (value === undefined) return [];
    if (value === 'any') return 'any';
    const mask = BigInt(value);
    const names: string[] = [];
    for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) names.push(name(bit));
    return names;
  };
  return {
    cmds: field('cmds', (bit) => (bit in Cmd ? snake(Cmd[bit]!) : `cmd ${bit}`)),
    maps: field('maps', (bit) => mapTypeName(bit).toLowerCase()),
    progs: field('progs', (bit) => programTypeName(bit).toLowerCase()),
    attachs: field('attachs', (bit) => (bit === 0 ? 'cgroup_inet_ingress' : bit in AttachType ? snake(AttachType[bit]!) : `attach type ${bit}`)),
  };
}

/** `delegate_cmds=map_create:prog_load, delegate_maps=any, …`, as the mount options read. */
export function describeDelegation(d: TokenDelegation): string {
  const one = (key: string, v: readonly string[] | 'any'): string => `delegate_${key}=${v === 'any' ? 'any' : v.length === 0 ? '(none)' : v.join(':')}`;
  return [one('cmds', d.cmds), one('maps', d.maps), one('progs', d.progs), one('attachs', d.attachs)].join(', ');
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? '' : '_') + c.toLowerCase());
}
