/**
 * `ebpf-ts feature probe` (also `probe`): the BPF sysctls, the JIT's state and the kernel
 * config options BPF depends on (system-config.ts), then what the running kernel supports,
 * asked of the kernel itself (tiny maps, two-instruction programs, minimal BTF blobs), never
 * inferred from its version number: distributions backport features and configs leave them
 * out. Every answer is "supported", "not supported (needs X.Y)" or "unknown (why)", as the
 * feature probes return them.
 *
 * @module
 */
import { Helper, helperName } from '../asm/helper.js';
import type { Feature, FeatureResult } from '../features/feature.js';
import { btfFeature, btfKindFeatures } from '../features/btf.js';
import { helperFeature } from '../features/helpers.js';
import { mapTypeFeature } from '../features/map-types.js';
import { programTypeFeature } from '../features/prog-types.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { MapType, mapTypeName, ProgramType, programTypeName } from '../types.js';
import { UsageError, type ParsedArgs } from './args.js';
import { toJSON, type CLIContext } from './output.js';
import { formatSection, formatTable } from './table.js';
import { systemConfig, type SystemConfig } from './system-config.js';
import { kernelConfigPaths } from '../internal/kconfig.js';

/** One probe's answer, flattened for output. */
export interface ProbeEntry {
  /** What was probed (`KPROBE`, `RINGBUF`, `map_lookup_elem`, `BTF kind FLOAT`). */
  readonly name: string;
  /** `true`, `false` or `"unknown"`, as {@link FeatureResult} has it. */
  readonly supported: boolean | 'unknown';
  /** The one-line verdict printed in tables. */
  readonly status: string;
  /** First kernel with the feature, when known. */
  readonly minimumVersion: string | null;
  /** Why not supported or unknown; null when supported. */
  readonly reason: string | null;
}

/**
 * "supported", "not supported (needs 5.8)" or "unknown (why)". Only the probe's own version
 * is used: a helper that exists but is not offered to a program type has no version that
 * would fix it, so its reason is printed instead.
 */
export function statusText(r: FeatureResult): string {
  if (r.supported === true) return 'supported';
  if (r.supported === false) return `not supported (${r.minimumVersion === undefined ? r.reason : `needs ${r.minimumVersion}`})`;
  return `unknown (${r.reason})`;
}

function entry(name: string, feature: Feature): ProbeEntry {
  const r = feature.check();
  return {
    name,
    supported: r.supported,
    status: statusText(r),
    minimumVersion: r.supported === false ? (r.minimumVersion ?? null) : (feature.minimumVersion ?? null),
    reason: r.supported === true ? null : r.reason,
  };
}

const numericMembers = (e: Record<string, string | number>): number[] => [...new Set(Object.values(e).filter((v): v is number => typeof v === 'number' && v !== 0))].sort((a, b) => a - b);

function programTypeByName(name: string): ProgramType {
  const wanted = name.trim().toUpperCase();
  for (const t of numericMembers(ProgramType as unknown as Record<string, number>)) if (programTypeName(t) === wanted) return t;
  throw new UsageError(`--helpers: unknown program type ${JSON.stringify(name)} (use names like KPROBE, XDP, SCHED_CLS)`);
}

/** Runs every probe; `helperTypes` chooses whose helpers are probed (about 200 loads each). */
export function runProbes(helperTypes: readonly ProgramType[]): Record<string, unknown> {
  const programTypes = numericMembers(ProgramType as unknown as Record<string, number>).map((t) => entry(programTypeName(t), programTypeFeature(t)));
  const mapTypes = numericMembers(MapType as unknown as Record<string, number>).map((t) => entry(mapTypeName(t), mapTypeFeature(t)));
  const helpers: Record<string, ProbeEntry[]> = {};
  const helperIds = numericMembers(Helper as unknown as Record<string, number>);
  for (const type of helperTypes) {
    helpers[programTypeName(type)] = helperIds.map((h) => entry(helperName(h) ?? `helper #${h}`, helperFeature(type, h)));
  }
  const btf = [entry('BTF', btfFeature), ...Object.values(btfKindFeatures).map((f) => entry(f.name, f))];
  return { kernelVersion: kernelVersion().toString(), system: systemConfig(), programTypes, mapTypes, helpers, btf };
}

function table(entries: readonly ProbeEntry[], title: string): string {
  return formatTable([{ title }, { title: 'STATUS' }], entries.map((e) => [e.name, e.status]));
}

/** The system part of the text output: sysctls, JIT, kernel config. */
export function renderSystem(c: SystemConfig): string {
  let out = formatSection('System configuration', formatTable([{ title: 'SYSCTL' }, { title: 'VALUE', right: true }, { title: 'MEANING' }], c.sysctls.map((e) => [e.name, e.value === null ? '-' : String(e.value), e.meaning])));
  out += `JIT: ${c.jit}\n\n`;
  if (c.kernelConfigSource === null) return `${out}Kernel config: not readable (looked for ${kernelConfigPaths().join(' and ')})\n\n`;
  return out + formatSection(`Kernel config (${c.kernelConfigSource})`, formatTable([{ title: 'OPTION' }, { title: 'VALUE' }, { title: 'FOR' }], c.kernelConfig.map((e) => [e.name, e.value ?? 'not set', e.why])));
}

/** Runs `ebpf-ts feature probe` (its help text and options are in commands.ts). */
export function runProbe(args: ParsedArgs, ctx: CLIContext): void {
  const spec = String(args.options.helpers);
  const helperTypes = spec === 'none' || spec === '' ? [] : spec.split(',').map(programTypeByName);
  const r = runProbes(helperTypes);
  if (args.options.json === true) {
    ctx.out(toJSON(r));
    return;
  }
  let out = `Kernel version: ${String(r.kernelVersion)}\n\n`;
  out += renderSystem(r.system as SystemConfig);
  out += formatSection('Program types', table(r.programTypes as ProbeEntry[], 'PROGRAM TYPE'));
  out += formatSection('Map types', table(r.mapTypes as ProbeEntry[], 'MAP TYPE'));
  for (const [type, list] of Object.entries(r.helpers as Record<string, ProbeEntry[]>)) {
    out += formatSection(`Helpers for ${type} programs`, table(list, 'HELPER'));
  }
  out += formatSection('BTF', table(r.btf as ProbeEntry[], 'FEATURE'));
  ctx.out(out.replace(/\n\n$/, '\n'));
}
