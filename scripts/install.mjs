#!/usr/bin/env node
// The package's `install` script: makes sure a native addon is available, or explains why the
// ffi-rs fallback will be used instead. It never fails a user's `npm install` over the addon.
//
//   * In a git checkout (a developer's `npm install`), the addon is always built from source so
//     that C++ changes are what the tests exercise; a failed build there is an error (exit 1),
//     unless EBPF_TS_ALLOW_NO_NATIVE=1.
//   * In an installed package, a prebuilt binary for this platform/arch that loads is used as
//     is. Otherwise node-gyp builds from source; if that fails (no compiler, no headers) a
//     warning says the ffi-rs backend will be used, and the script exits 0.
//
// Note: npm may not run this script at all for a dependency (npm 11 asks before running
// dependency install scripts). That is fine: the prebuilt binaries are in the tarball and the
// loader (src/sys/backend-native.ts) finds them without any install step.
//
// Flags: --build  build from source even when a prebuilt binary loads (npm run build:native).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const ADDON = 'ebpf_ts.node';
const ABI_VERSION = 6; // must match NATIVE_ABI_VERSION in src/sys/backend-native.ts
const forceBuild = process.argv.includes('--build');
const isCheckout = existsSync(join(root, '.git'));

function log(msg) {
  console.error(`ebpf-ts: ${msg}`);
}

/**
 * Loads an addon in a child process (a broken binary must not take the installer down) and
 * checks that it is ours and of the expected revision. Returns an error message or null.
 */
export function tryLoad(path) {
  if (!existsSync(path)) return 'not found';
  const r = spawnSync(
    process.execPath,
    ['-e', `const a = require(${JSON.stringify(path)}); if (a.abiVersion !== ${ABI_VERSION}) { console.error('ABI revision ' + a.abiVersion + ', expected ${ABI_VERSION}'); process.exit(3); }`],
    { encoding: 'utf8' },
  );
  if (r.status === 0) return null;
  return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' ');
}

/** node-gyp as [command, ...prefixArgs]: npm's bundled copy, then local, then PATH. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) {
    return fromNpm.endsWith('.js') ? [process.execPath, fromNpm] : [fromNpm];
  }
  // node_modules/.bin next to us (dev checkout) or in a parent project.
  for (let dir = root; ; dir = dirname(dir)) {
    const js = join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(js)) return [process.execPath, js];
    if (dirname(dir) === dir) break;
  }
  // npm's own bundled node-gyp, next to the running node's npm.
  const bundled = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'node-gyp'))) return [join(dir, 'node-gyp')];
  }
  return null;
}

/**
 * `--nodedir` when no headers location is configured but the running node ships its headers
 * (a distribution node under /usr: include/node/node_api.h). Without it node-gyp downloads
 * headers, which fails offline.
 */
export function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = dirname(dirname(process.execPath));
  const inc = join(prefix, 'include', 'node');
  if (!existsSync(join(inc, 'node_api.h')) || !existsSync(join(inc, 'common.gypi'))) return [];
  try {
    const ver = readFileSync(join(inc, 'node_version.h'), 'utf8');
    const major = /#define NODE_MAJOR_VERSION (\d+)/.exec(ver)?.[1];
    if (major !== process.versions.node.split('.')[0]) return [];
  } catch {
    return [];
  }
  return [`--nodedir=${prefix}`];
}

/** Runs `node-gyp rebuild` in the package root. Returns an error message or null. */
export function build(extraArgs = [], env = process.env) {
  const gyp = findNodeGyp();
  if (gyp === null) return 'node-gyp not found (neither npm_config_node_gyp, node_modules nor PATH)';
  const [cmd, ...pre] = gyp;
  const args = [...pre, 'rebuild', ...nodedirArgs(), ...extraArgs];
  log(`building the native addon: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) return r.error.message;
  if (r.status !== 0) return `node-gyp exited with ${r.status ?? r.signal}`;
  return null;
}

function newerThan(a, b) {
  try {
    return statSync(a).mtimeMs > statSync(b).mtimeMs;
  } catch {
    return true;
  }
}

function main() {
  const built = join(root, 'build', 'Release', ADDON);
  const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, ADDON);

  // A source build from an earlier run that is at least as new as every input.
  const builtIsCurrent = () =>
    !newerThan(join(root, 'native', 'ebpf_ts.cc'), built) &&
    !newerThan(join(root, 'binding.gyp'), built) &&
    tryLoad(built) === null;

  if (!forceBuild) {
    if (isCheckout) {
      // Developers test their C++ changes: rebuild whenever the source is newer.
      if (builtIsCurrent()) return 0;
    } else {
      const why = tryLoad(prebuilt);
      if (why === null) return 0; // the shipped binary works: nothing to do
      if (why !== 'not found') log(`prebuilt ${prebuilt} does not load (${why}); building from source`);
      if (builtIsCurrent()) return 0;
    }
  }

  const err = build();
  const loadErr = err === null ? tryLoad(built) : null;
  if (err === null && loadErr === null) return 0;
  const reason = err ?? `the built addon does not load: ${loadErr}`;

  if (isCheckout && process.env.EBPF_TS_ALLOW_NO_NATIVE !== '1') {
    log(
      `could not build the native addon in this checkout (${reason}).\n` +
        '  Install python3, make and a C++ compiler (Debian: apt-get install build-essential python3),\n' +
        '  or set EBPF_TS_ALLOW_NO_NATIVE=1 to develop against the ffi-rs backend only.',
    );
    return 1;
  }
  log(
    `WARNING: no native addon for ${process.platform}-${process.arch} (${reason}).\n` +
      '  ebpf-ts will use its ffi-rs fallback backend: it works, but each syscall costs more and\n' +
      '  fd readiness is detected by timer polling. To get the addon, install python3, make and a\n' +
      '  C++ compiler and run `npm rebuild ebpf-ts`.',
  );
  return 0;
}

// Run only as a script, not when prebuild.mjs imports the helpers.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
