/**
 * The running kernel's build configuration: /boot/config-$(uname -r) or /proc/config.gz, the
 * two places libbpf and bpftool read. Used to name the CONFIG_ option behind a missing
 * feature, and to fill `.kconfig` externs.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

/** Parses `CONFIG_X=value` lines; `# CONFIG_X is not set` lines are recorded as `n`. */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set !== null) {
      out.set(set[1]!, set[2]!);
      continue;
    }
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset !== null) out.set(unset[1]!, 'n');
  }
  return out;
}

let cache: Map<string, string> | null | undefined;
let source: string | undefined;

/**
 * Makes {@link kernelConfig} answer from `text` (null: no readable config) instead of the
 * files (unit tests); no argument reads the files again.
 */
export function overrideKernelConfig(...text: [] | [string | null]): void {
  if (text.length === 0 || text[0] === null) {
    cache = text.length === 0 ? undefined : null;
    source = undefined;
    return;
  }
  cache = parseKernelConfig(text[0]);
  source = '(test config)';
}

/** Where the config is looked for, in order. */
export function kernelConfigPaths(): string[] {
  return [`/boot/config-${release()}`, '/proc/config.gz'];
}

/** The running kernel's configuration, or null when neither file is readable. Read once per process. */
export function kernelConfig(): Map<string, string> | null {
  if (cache !== undefined) return cache;
  cache = null;
  for (const path of kernelConfigPaths()) {
    try {
      const raw = readFileSync(path);
      cache = parseKernelConfig((path.endsWith('.gz') ? process.getBuiltinModule('node:zlib').gunzipSync(raw) : raw).toString('utf8'));
      source = path;
      break;
    } catch {
      // try the next place
    }
  }
  return cache;
}

/** The file {@link kernelConfig} read, or undefined when none was readable. */
export function kernelConfigSource(): string | undefined {
  kernelConfig();
  return source;
}

/**
 * Whether `option` (e.g. `CONFIG_BPF_LIRC_MODE2`) is built in or a module: true for `y`/`m`,
 * false when unset or `n`, undefined when the config is not readable.
 */
export function configEnabled(option: string): boolean | undefined {
  const config = kernelConfig();
  if (config === null) return undefined;
  const v = config.get(option);
  return v === 'y' || v === 'm';
}
