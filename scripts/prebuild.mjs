#!/usr/bin/env node
// Builds the prebuilt addons shipped in the npm tarball (run by `prepack`):
//
//   prebuilds/linux-x64/ebpf_ts.node
//   prebuilds/linux-arm64/ebpf_ts.node
//
// The host architecture is built natively and load-tested; the other one with Debian's cross
// toolchain (aarch64-linux-gnu-g++ on x64, x86_64-linux-gnu-g++ on arm64) and checked with
// `file`. A missing cross compiler skips that architecture with a warning (users there fall
// back to a source build or ffi-rs); a failed host build fails the pack.
//
// The host build runs last so that build/Release is left holding the host binary.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, tryLoad } from './install.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const ADDON = 'ebpf_ts.node';

/** Per target arch: the GNU triplet of its cross toolchain and what `file` prints for it. */
const TARGETS = {
  x64: { triplet: 'x86_64-linux-gnu', fileSays: 'x86-64' },
  arm64: { triplet: 'aarch64-linux-gnu', fileSays: 'ARM aarch64' },
};

function log(msg) {
  console.error(`prebuild: ${msg}`);
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function describe(path) {
  const r = spawnSync('file', ['-b', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `(file failed: ${r.stderr || r.error?.message})`;
}

/**
 * The newest symbol versions a prebuilt may need: glibc 2.28 and GCC 8's libstdc++ are what
 * Node 20 itself requires (RHEL 8), so a prebuilt that loads Node loads there too.
 */
const MAX_VERSIONS = { GLIBC: '2.28', GLIBCXX: '3.4.25', CXXABI: '1.3.11' };

function newer(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return false;
}

/** Fails when the binary references symbol versions newer than {@link MAX_VERSIONS}. */
function checkSymbolVersions(path, objdump) {
  if (!has(objdump)) {
    log(`${objdump} not found: symbol versions of ${path} not checked`);
    return;
  }
  const r = spawnSync(objdump, ['-T', path], { encoding: 'utf8' });
  const tooNew = new Set();
  for (const m of r.stdout.matchAll(/\((GLIBC|GLIBCXX|CXXABI)_([0-9.]+)\)/g)) {
    if (newer(m[2], MAX_VERSIONS[m[1]])) tooNew.add(`${m[1]}_${m[2]}`);
  }
  if (tooNew.size > 0) {
    throw new Error(`${path} needs ${[...tooNew].join(', ')}: newer than Node 20's own floor`);
  }
}

function buildFor(arch) {
  const { triplet, fileSays } = TARGETS[arch];
  const host = arch === process.arch;
  const env = { ...process.env };
  const extra = [];
  if (!host) {
    const cxx = `${triplet}-g++`;
    if (!has(cxx)) {
      log(`skipping linux-${arch}: cross compiler ${cxx} not found (apt-get install g++-${triplet})`);
      return false;
    }
    Object.assign(env, {
      CC: `${triplet}-gcc`,
      CXX: cxx,
      LINK: cxx,
      AR: `${triplet}-ar`,
    });
    extra.push(`--arch=${arch}`);
  }
  const err = build(extra, env);
  if (err !== null) throw new Error(`linux-${arch} build failed: ${err}`);

  const built = join(root, 'build', 'Release', ADDON);
  const kind = describe(built);
  if (!kind.includes(fileSays)) throw new Error(`linux-${arch}: built ${built} is "${kind}", expected ${fileSays}`);
  // Debug info is a third of the binary and of no use to users.
  const strip = host ? 'strip' : `${triplet}-strip`;
  if (has(strip)) spawnSync(strip, ['--strip-unneeded', built], { stdio: 'inherit' });
  checkSymbolVersions(built, host ? 'objdump' : `${triplet}-objdump`);
  if (host) {
    const why = tryLoad(built);
    if (why !== null) throw new Error(`linux-${arch}: built addon does not load: ${why}`);
  }
  const dir = join(root, 'prebuilds', `linux-${arch}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, ADDON));
  log(`prebuilds/linux-${arch}/${ADDON}: ${describe(join(dir, ADDON))}`);
  return true;
}

function main() {
  if (process.platform !== 'linux') throw new Error('prebuilds are made on Linux only');
  if (!(process.arch in TARGETS)) throw new Error(`unsupported host arch ${process.arch}`);
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  const order = Object.keys(TARGETS).sort((a, b) => Number(a === process.arch) - Number(b === process.arch));
  for (const arch of order) buildFor(arch);
}

try {
  main();
} catch (err) {
  log(err.message);
  process.exitCode = 1;
}
