/**
 * USDT (user-level statically defined tracing) probes, attached the way libbpf attaches them,
 * so a program compiled against libbpf's `<bpf/usdt.bpf.h>` (`SEC("usdt")`, `BPF_USDT(…)`,
 * `bpf_usdt_arg()`, `bpf_usdt_arg_cnt()`, `bpf_usdt_cookie()`) runs unchanged:
 *
 * 1. the probe's locations come from the `.note.stapsdt` notes of the binary, or of every file
 *    a process maps (usdt-notes.ts);
 * 2. each location's argument specs are parsed (usdt-args.ts) and encoded as a
 *    `struct __bpf_usdt_spec` (usdt-spec.ts), stored under a spec id in the program's
 *    `__bpf_usdt_specs` array; identical specs share an id;
 * 3. the program finds its spec id in its BPF cookie when the kernel has cookies (what the
 *    loader answered for the `LINUX_HAS_BPF_COOKIE` extern), else by the probed address in
 *    `__bpf_usdt_ip_to_spec_id`, which then gets one entry per location;
 * 4. a uprobe goes on every location (with the probe's semaphore as `ref_ctr_offset`): one
 *    uprobe_multi link per file when the program was loaded for BPF_TRACE_UPROBE_MULTI, else
 *    one uprobe each.
 *
 * One {@link USDTLink} owns all of it; `close()` detaches every uprobe, removes the address
 * entries and frees the spec ids.
 *
 * @module
 */
import { ArgumentError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../errors.js';
import { Helper } from '../asm/helper.js';
import { helperFeature } from '../features/helpers.js';
import { EM_AARCH64, EM_X86_64, ET_EXEC } from '../internal/elf-constants.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { mappedFiles, procMaps, runtimeAddress, type MemoryMapping } from '../internal/proc-maps.js';
import { editDistance } from '../internal/kallsyms.js';
import { BpfMap, UpdateFlags } from '../map.js';
import type { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { AttachType, MapType, ProgramType, programTypeName } from '../types.js';
import { integerArgument } from './integer.js';
import { Link, type LinkInfo } from './link.js';
import { attachUprobe } from './uprobe.js';
import { attachUprobeMulti } from './uprobe-multi.js';
import { parseUSDTArguments, type USDTArch } from './usdt-args.js';
import { probeLabel, readUSDTFile, usdtSymbolAddress, type USDTFile, type USDTProbe } from './usdt-notes.js';
import { encodeUSDTSpec, USDT_SPEC_SIZE } from './usdt-spec.js';

/** Options of {@link attachUSDT}. */
export interface USDTOptions {
  /**
   * The executable or shared library holding the probe: a path, or a name searched like
   * uprobe targets (`libc.so.6` in the library directories, `python3` in PATH). May be left
   * out with `pid`: then every file the process maps is searched.
   */
  binary?: string;
  /** The probe's provider (`ebpf_ts` in `DTRACE_PROBE(ebpf_ts, start)`). */
  provider: string;
  /** The probe's name. */
  name: string;
  /** Only this process triggers the probe; default: every process that runs the binary. */
  pid?: number;
  /** What `bpf_usdt_cookie()` returns in the program (default 0). */
  cookie?: bigint | number;
}

/**
 * No USDT probe of that provider and name: lists the probes that exist there, so the message
 * says what to ask for instead.
 */
export class USDTNotFoundError extends SymbolNotFoundError {
  /** Every probe the searched files have, as `provider:name`. */
  readonly probes: readonly string[];

  constructor(probe: string, probes: readonly string[], where: string) {
    const unique = [...new Set(probes)].sort();
    const [provider = '', name = ''] = probe.split(':');
    const near = unique
      .map((p) => {
        const [pp = '', pn = ''] = p.split(':');
        return [pp === provider || pn === name ? 0 : editDistance(probe, p, 4), p] as const;
      })
      .filter(([d]) => d <= 4)
      .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]))
      .map(([, p]) => p);
    const listed = unique.length === 0 ? 'it has no USDT probes (no .note.stapsdt)' : `its probes: ${unique.slice(0, 20).join(', ')}${unique.length > 20 ? `, … (${unique.length})` : ''}`;
    super(probe, near, listed, where);
    this.probes = unique;
  }
}

/**
 * The USDT probes of a binary (a path or a name searched like uprobe targets), or of a running
 * process: those of its executable and of every shared library it has mapped (from
 * `/proc/PID/maps`; files that cannot be read or are not ELF are skipped). One entry per
 * probe location, in file and note order.
 *
 * Minimum kernel: none (reads files).
 *
 * @example
 * ```ts
 * import { usdtProbes } from 'ebpf-ts';
 * for (const p of usdtProbes('/usr/lib/x86_64-linux-gnu/libstdc++.so.6')) console.log(p.provider, p.name, p.arguments);
 * usdtProbes(1234).filter((p) => p.provider === 'python');
 * ```
 * @throws {@link ArgumentError} for a binary that cannot be found or read or is not ELF, or a
 * pid whose maps cannot be read; {@link ParseError} for a malformed binary.
 */
export function usdtProbes(binaryOrPid: string | number): USDTProbe[] {
  if (typeof binaryOrPid === 'number') return processFiles(binaryOrPid).flatMap((f) => [...f.probes]);
  return [...readUSDTFile(binaryOrPid).probes];
}

/** The USDT files of process `pid`: every ELF file it maps that can be read. */
function processFiles(pid: number): USDTFile[] {
  const out: USDTFile[] = [];
  for (const path of mappedFiles(pid)) {
    try {
      out.push(readUSDTFile(path));
    } catch (err) {
      // Mapped data files (locale archives, caches) are not ELF; a file may vanish meanwhile.
      if (err instanceof ArgumentError) continue;
      throw err;
    }
  }
  return out;
}

/** The instruction set of a file's specs, which must also be the machine's (pt_regs is the kernel's). */
function archOf(file: USDTFile): USDTArch {
  const arch = file.machine === EM_X86_64 ? 'x86_64' : file.machine === EM_AARCH64 ? 'arm64' : undefined;
  if (arch === undefined) throw new NotSupportedError(`USDT arguments of ELF machine ${file.machine} (${file.path})`, undefined, { detail: 'ebpf-ts reads x86-64 and arm64 argument specs' });
  const host = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : process.arch;
  if (arch !== host) throw new ArgumentError(`${file.path} is an ${arch} binary; this machine is ${host}`);
  return arch;
}

/**
 * What the program compiled against usdt.bpf.h reads: its `__bpf_usdt_specs` and
 * `__bpf_usdt_ip_to_spec_id` maps, found among the maps it uses by their kernel names (15
 * bytes: BPF_OBJ_NAME_LEN) and checked against the header's definitions.
 */
interface USDTMaps {
  readonly specs: BpfMap | undefined;
  readonly ipToSpecId: BpfMap | undefined;
}

const SPECS_NAME = '__bpf_usdt_specs';
const IP_NAME = '__bpf_usdt_ip_to_spec_id';
const kernelName = (n: string): string => n.slice(0, 15);

function usdtMaps(prog: Program): USDTMaps {
  let specs: BpfMap | undefined;
  let ipToSpecId: BpfMap | undefined;
  try {
    for (const id of prog.info().mapIds) {
      const map = BpfMap.fromId(id);
      if (map.name === SPECS_NAME || map.name === kernelName(SPECS_NAME)) {
        if (map.type !== MapType.Array || map.keySize !== 4 || map.valueSize !== USDT_SPEC_SIZE) {
          map.close();
          throw new ArgumentError(
            `${prog.name}'s ${SPECS_NAME} map is not usdt.bpf.h's (an ARRAY of int → ${USDT_SPEC_SIZE}-byte struct __bpf_usdt_spec); it has key ${map.keySize}, value ${map.valueSize} bytes`,
          );
        }
        specs = map;
      } else if (map.name === IP_NAME || map.name === kernelName(IP_NAME)) {
        if (map.type !== MapType.Hash || map.keySize !== 8 || map.valueSize !== 4) {
          map.close();
          throw new ArgumentError(`${prog.name}'s ${IP_NAME} map is not usdt.bpf.h's (a HASH of long → __u32); it has key ${map.keySize}, value ${map.valueSize} bytes`);
        }
        ipToSpecId = map;
      } else map.close();
    }
  } catch (err) {
    specs?.close();
    ipToSpecId?.close();
    throw err;
  }
  return { specs, ipToSpecId };
}

/** Spec ids in use, by `__bpf_usdt_specs` map id: the maps are shared by a collection's programs. */
const specIdsInUse = new Map<number, Set<number>>();

function allocateSpecId(specs: BpfMap, mapId: number): number {
  let used = specIdsInUse.get(mapId);
  if (used === undefined) specIdsInUse.set(mapId, (used = new Set()));
  for (let id = 0; id < specs.maxEntries; id++) {
    if (!used.has(id)) {
      used.add(id);
      return id;
    }
  }
  throw new ArgumentError(
    `all ${specs.maxEntries} slots of ${SPECS_NAME} are taken by open USDT attachments; compile the program with a larger BPF_USDT_MAX_SPEC_CNT or close some`,
  );
}

function freeSpecId(mapId: number, id: number): void {
  const used = specIdsInUse.get(mapId);
  used?.delete(id);
  if (used?.size === 0) specIdsInUse.delete(mapId);
}

let cookieOverride: boolean | undefined;

/**
 * Forces whether {@link attachUSDT} passes spec ids as BPF cookies (true) or through
 * `__bpf_usdt_ip_to_spec_id` (false), for tests of the fallback on kernels that have cookies;
 * no argument restores the probe. The program must read its spec id the same way.
 */
export function setUSDTCookieSupport(value?: boolean): void {
  cookieOverride = value;
}

/**
 * True when spec ids travel as BPF cookies: the same probe the loader answers usdt.bpf.h's
 * `LINUX_HAS_BPF_COOKIE` extern with (collection-externs.ts), so both sides agree.
 */
function useCookies(): boolean {
  return cookieOverride ?? helperFeature(ProgramType.Tracepoint, Helper.GetAttachCookie).supported();
}

/** One probe location to attach, resolved. */
interface Target {
  readonly probe: USDTProbe;
  readonly file: USDTFile;
  readonly offset: bigint;
  readonly refCtrOffset: bigint;
  readonly spec: Uint8Array;
}

function resolveTargets(files: readonly USDTFile[], provider: string, name: string, cookie: bigint, where: string): Target[] {
  const label = `${provider}:${name}`;
  const out: Target[] = [];
  for (const file of files) {
    const probes = file.probes.filter((p) => p.provider === provider && p.name === name);
    if (probes.length === 0) continue;
    const arch = archOf(file);
    const symbolAddress = (symbol: string): bigint | undefined => usdtSymbolAddress(file, symbol);
    for (const probe of probes) {
      const at = `${label} at 0x${probe.location.toString(16)} in ${file.path}`;
      if (probe.offset === undefined) throw new ArgumentError(`${at}: no executable segment of the file covers the address`);
      if (probe.semaphoreOffset === undefined) {
        throw new ArgumentError(`${at}: its semaphore at 0x${probe.semaphore.toString(16)} is outside the file's loaded segments, so the kernel cannot find it`);
      }
      const args = parseUSDTArguments(probe.arguments, arch, at);
      const spec = encodeUSDTSpec(args, cookie, { arch, location: probe.location, symbolAddress, probe: at });
      out.push({ probe, file, offset: probe.offset, refCtrOffset: probe.semaphoreOffset, spec });
    }
  }
  if (out.length === 0) throw new USDTNotFoundError(label, files.flatMap((f) => f.probes.map(probeLabel)), where);
  return out;
}

function u32Key(n: number): Uint8Array {
  const key = new Uint8Array(4);
  dataView(key).setUint32(0, n, hostLittleEndian);
  return key;
}

function u64Key(n: bigint): Uint8Array {
  const key = new Uint8Array(8);
  dataView(key).setBigUint64(0, BigInt.asUintN(64, n), hostLittleEndian);
  return key;
}

/**
 * Where the probe is in the process, as the program sees it in pt_regs: the link-time address
 * in a non-PIE executable, else the file offset's address in `pid`'s mappings.
 */
function absoluteAddress(target: Target, pid: number | undefined, mappings: () => readonly MemoryMapping[]): bigint {
  if (target.file.elfType === ET_EXEC) return target.probe.location;
  if (pid === undefined) {
    throw new NotSupportedError('BPF cookies (bpf_get_attach_cookie)', '5.15', {
      detail:
        `without them a usdt.bpf.h program finds its spec by the probed address, and ${target.file.path} (PIE or shared library) is mapped at another address in each process: ` +
        'attach with a pid',
    });
  }
  const address = runtimeAddress(mappings(), target.file.path, target.offset);
  if (address === undefined) throw new ArgumentError(`process ${pid} does not map ${target.file.path} at file offset 0x${target.offset.toString(16)} (yet?)`);
  return address;
}

/** What a {@link USDTLink} releases. */
interface Owned {
  readonly links: Link[];
  readonly ipKeys: Uint8Array[];
  readonly specIds: number[];
  maps: USDTMaps | undefined;
  specsMapId: number;
}

function release(owned: Owned): void {
  const errors: unknown[] = [];
  const attempt = (f: () => void): void => {
    try {
      f();
    } catch (err) {
      errors.push(err);
    }
  };
  // Detach first, so no program run looks up an entry that is going away.
  for (const link of owned.links.splice(0)) attempt(() => link.close());
  const maps = owned.maps;
  if (maps !== undefined) {
    for (const key of owned.ipKeys.splice(0)) attempt(() => maps.ipToSpecId?.delete(key));
    for (const id of owned.specIds) attempt(() => maps.specs?.update(u32Key(id), new Uint8Array(USDT_SPEC_SIZE)));
    attempt(() => maps.specs?.close());
    attempt(() => maps.ipToSpecId?.close());
    owned.maps = undefined;
  }
  for (const id of owned.specIds.splice(0)) freeSpecId(owned.specsMapId, id);
  if (errors.length > 0) throw errors[0];
}

/**
 * A USDT attachment: the uprobes on every location of the probe, the program's spec entries
 * and address entries, released together by `close()`. Made by {@link attachUSDT}.
 *
 * Minimum kernel: as {@link attachUSDT}.
 *
 * @example
 * ```ts
 * using link = attachUSDT(prog, { binary: './app', provider: 'app', name: 'request' });
 * console.log(link.probes.length, 'locations');
 * ```
 * @throws {@link NotSupportedError} from `pin()` (several kernel objects and map entries
 * cannot be pinned as one) and from `update()`.
 */
export class USDTLink extends Link {
  /** The probe locations attached, in file and note order. */
  readonly probes: readonly USDTProbe[];
  /** True when spec ids travel as BPF cookies, false when `__bpf_usdt_ip_to_spec_id` maps addresses to them. */
  readonly cookies: boolean;
  readonly #links: readonly Link[];

  /** @internal Built by {@link attachUSDT}. */
  constructor(what: string, probes: readonly USDTProbe[], cookies: boolean, owned: Owned) {
    super({ fd: -1, mode: 'attachment', what, cleanup: () => release(owned) });
    this.probes = probes;
    this.cookies = cookies;
    this.#links = [...owned.links];
  }

  /**
   * The kernel's view of each link under the attachment: one uprobe_multi link per file, or
   * one perf-event link per location.
   *
   * Minimum kernel: 5.15 (perf links) / 6.6 (uprobe_multi).
   *
   * @example
   * ```ts
   * link.linkInfos().map((i) => i.id);
   * ```
   * @throws {@link NotSupportedError} for uprobes attached without a perf link (before 5.15);
   * {@link ClosedError} after `close()`.
   */
  linkInfos(): LinkInfo[] {
    void this.fd; // throws ClosedError once closed, as every Link method does
    return this.#links.map((l) => l.info());
  }

  /**
   * The link's info when it is a single kernel link (one file through uprobe_multi, or one
   * location); see {@link USDTLink.linkInfos} for the general case.
   *
   * @example
   * ```ts
   * link.info().uprobeMulti?.offsets;
   * ```
   * @throws {@link NotSupportedError} when the attachment is several links.
   */
  override info(): LinkInfo {
    const infos = this.linkInfos();
    if (infos.length === 1) return infos[0]!;
    throw new NotSupportedError(`info() of a USDT attachment made of ${infos.length} links`, undefined, { detail: 'use linkInfos()' });
  }

  /**
   * Refused: a USDT attachment is several kernel objects plus entries in the program's maps,
   * which a pin would not keep.
   *
   * @example
   * ```ts
   * // Keep the process alive instead, or pin a uprobe_multi link made with attachUprobeMulti.
   * ```
   * @throws {@link NotSupportedError} always.
   */
  override pin(path: string): void {
    throw new NotSupportedError(`pin of a USDT attachment (${path})`, undefined, {
      detail: 'its uprobes, spec ids and address entries live only as long as this object; pinning one link would leave the program reading freed specs',
    });
  }
}

/**
 * Attaches a KPROBE program compiled against libbpf's `<bpf/usdt.bpf.h>` to the USDT probe
 * `provider:name`: in `binary` for every process that runs it, or in process `pid` (in
 * `binary`, or without `binary` in every file the process maps, its shared libraries
 * included). Every location of the probe is attached; the probe's semaphore, if it has one,
 * is raised while attached. `bpf_usdt_cookie()` returns `cookie`.
 *
 * The program must use usdt.bpf.h's maps as that header declares them (`__bpf_usdt_specs`,
 * `__bpf_usdt_ip_to_spec_id`); a program that reads no arguments may have neither. A program
 * loaded with expected attach type BPF_TRACE_UPROBE_MULTI gets one uprobe_multi link per file
 * (Linux 6.6); others one uprobe per location.
 *
 * Minimum kernel: 4.3 (uprobes); semaphores 4.20 (tracefs) / 5.5 (PMU); on kernels before
 * 5.15 (no BPF cookies), a PIE executable or shared library needs `pid`.
 *
 * @example
 * ```ts
 * import { attachUSDT, loadCollection } from 'ebpf-ts';
 * const coll = await loadCollection('trace.bpf.o');
 * using link = attachUSDT(coll.programs.on_request, { binary: '/usr/bin/app', provider: 'app', name: 'request', cookie: 7n });
 * using inLib = attachUSDT(coll.programs.on_gc, { pid: 1234, provider: 'python', name: 'gc__start' });
 * ```
 * @throws {@link ArgumentError} for a program that is not KPROBE, missing or bad options, a
 * binary that cannot be found or read, a process whose maps cannot be read, maps that are not
 * usdt.bpf.h's, no free spec id; {@link USDTNotFoundError} (listing the probes there are) when
 * there is no such probe; {@link USDTArgumentError} for an argument spec usdt.bpf.h cannot
 * fetch; {@link NotSupportedError} for binaries of another architecture, or a PIE/shared
 * library without `pid` on kernels without cookies; the errors of {@link attachUprobe} and
 * {@link attachUprobeMulti}.
 */
export function attachUSDT(prog: Program, options: USDTOptions): USDTLink {
  if (prog.type !== ProgramType.Kprobe) {
    throw new ArgumentError(`attachUSDT needs a KPROBE program (SEC("usdt")); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  if (options === null || typeof options !== 'object') throw new ArgumentError('attachUSDT needs options { binary?, provider, name, pid?, cookie? }');
  const { binary, provider, name, pid } = options;
  for (const [key, value] of [['provider', provider], ['name', name]] as const) {
    if (typeof value !== 'string' || value === '' || value.includes(':')) throw new ArgumentError(`USDT ${key} must be a non-empty string without ':', got ${JSON.stringify(value)}`);
  }
  if (pid !== undefined && (!Number.isSafeInteger(pid) || pid <= 0)) throw new ArgumentError(`USDT pid must be a process id, got ${String(pid)}`);
  if (binary !== undefined && (typeof binary !== 'string' || binary === '')) throw new ArgumentError(`USDT binary must be a non-empty path or name, got ${JSON.stringify(binary)}`);
  if (binary === undefined && pid === undefined) throw new ArgumentError('attachUSDT needs a binary, a pid, or both');
  const cookie = integerArgument(options.cookie ?? 0n, 'USDT cookie');

  const files = binary !== undefined ? [readUSDTFile(binary)] : processFiles(pid!);
  const where = binary !== undefined ? files[0]!.path : `the files process ${pid} maps (${files.length})`;
  const targets = resolveTargets(files, provider, name, cookie, where);
  const label = `${provider}:${name}`;
  const what = `usdt ${label} (${targets.length} location${targets.length === 1 ? '' : 's'}${binary !== undefined ? ` in ${files[0]!.path}` : ''})${pid !== undefined ? ` in pid ${pid}` : ''}`;

  const cookies = useCookies();
  const owned: Owned = { links: [], ipKeys: [], specIds: [], maps: undefined, specsMapId: -1 };
  try {
    const maps = (owned.maps = usdtMaps(prog));
    // One spec id per distinct spec: the locations of a probe usually share their arguments.
    const idOf = new Map<string, number>();
    const specIds = targets.map((t) => {
      if (maps.specs === undefined) return 0;
      const key = Buffer.from(t.spec).toString('hex');
      let id = idOf.get(key);
      if (id === undefined) {
        if (owned.specsMapId < 0) owned.specsMapId = maps.specs.info().id;
        id = allocateSpecId(maps.specs, owned.specsMapId);
        owned.specIds.push(id);
        maps.specs.update(u32Key(id), t.spec);
        idOf.set(key, id);
      }
      return id;
    });
    if (!cookies && maps.specs !== undefined) {
      if (maps.ipToSpecId === undefined) throw new ArgumentError(`${prog.name} has ${SPECS_NAME} but no ${IP_NAME}, which usdt.bpf.h needs on kernels without BPF cookies`);
      let mappings: readonly MemoryMapping[] | undefined;
      targets.forEach((t, i) => {
        const ip = absoluteAddress(t, pid, () => (mappings ??= procMaps(pid!)));
        const key = u64Key(ip);
        try {
          maps.ipToSpecId!.update(key, u32Key(specIds[i]!), UpdateFlags.NoExist);
        } catch (err) {
          if (err instanceof SyscallError && err.errno === Errno.EEXIST) {
            throw new ArgumentError(`address 0x${ip.toString(16)} (${label} in ${t.file.path}) is already in ${IP_NAME}: another USDT attachment of this object covers it`, { cause: err });
          }
          throw err;
        }
        owned.ipKeys.push(key);
      });
    }
    const specCookies = (list: readonly number[]): bigint[] | undefined => (cookies && maps.specs !== undefined ? list.map(BigInt) : undefined);
    if (prog.attachment.attachType === AttachType.TraceUprobeMulti) {
      for (const file of new Set(targets.map((t) => t.file))) {
        const mine = targets.flatMap((t, i) => (t.file === file ? [{ t, id: specIds[i]! }] : []));
        owned.links.push(
          attachUprobeMulti(prog, file.path, {
            offsets: mine.map((m) => m.t.offset),
            refCtrOffsets: mine.some((m) => m.t.refCtrOffset !== 0n) ? mine.map((m) => m.t.refCtrOffset) : undefined,
            cookies: specCookies(mine.map((m) => m.id)),
            pid,
          }),
        );
      }
    } else {
      targets.forEach((t, i) => {
        owned.links.push(
          attachUprobe(prog, t.file.path, t.offset, {
            pid,
            refCtrOffset: t.refCtrOffset,
            cookie: specCookies([specIds[i]!])?.[0],
          }),
        );
      });
    }
  } catch (err) {
    try {
      release(owned);
    } catch {
      // The attach error is the one to report.
    }
    throw err;
  }
  return new USDTLink(what, targets.map((t) => t.probe), cookies, owned);
}

/**
 * Attaches a program by the target of its `usdt/<binary>:<provider>:<name>` section name (what
 * libbpf's auto-attach does): `target` is the part after `usdt/` (or `usdt.s/`). The binary
 * may itself contain `:`; provider and name are the last two fields.
 *
 * Minimum kernel: as {@link attachUSDT}.
 *
 * @example
 * ```ts
 * // SEC("usdt/libc.so.6:libc:setjmp")
 * using link = attachUSDTSection(coll.programs.on_setjmp, 'libc.so.6:libc:setjmp');
 * ```
 * @throws {@link ArgumentError} for a target that is not `<binary>:<provider>:<name>`, and the
 * errors of {@link attachUSDT}.
 */
export function attachUSDTSection(prog: Program, target: string | undefined, options: Pick<USDTOptions, 'pid' | 'cookie'> = {}): USDTLink {
  const section = prog.attachment.sectionName ?? 'usdt';
  if (target === undefined || target === '') {
    throw new ArgumentError(`section ${section} names no probe: auto-attach needs usdt/<binary>:<provider>:<name>; attach ${prog.name} with attachUSDT()`);
  }
  const parts = target.split(':');
  if (parts.length < 3 || parts.some((p) => p === '')) {
    throw new ArgumentError(`section ${section}: a usdt target is <binary>:<provider>:<name>, got ${JSON.stringify(target)}`);
  }
  const name = parts.pop()!;
  const provider = parts.pop()!;
  return attachUSDT(prog, { binary: parts.join(':'), provider, name, ...options });
}
