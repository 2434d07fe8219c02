#!/usr/bin/env node
// `npm run test:vm [-- 6.1 5.10 6.12]`: the kernel tests inside Debian kernels booted under
// qemu by ../shared/tools/vm-run.sh (see ../shared/notes/kernel-vm.md). The host's / is shared
// read-only and this checkout read-write, so the guest runs exactly this tree with the host's
// node and node_modules. One VM at a time (TCG emulation wants both cores).
//
// Kernels: arguments, else EBPF_TS_VM_KERNELS, else "6.1 5.10 6.12". Tests that only a VM can
// run (kprobes, fentry) detect the kernel's abilities themselves and skip on the host with
// "runs in test:vm". Prints each kernel's vitest output as it runs, then a summary (each
// kernel's counts, its failed tests, a VM's last lines where it gave no results) and one line
// for all of them: CI's excerpt of a long log shows only its end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const vmRun = process.env.EBPF_TS_VM_RUN ?? resolve(root, '../shared/tools/vm-run.sh');
const kernels = process.argv.slice(2).length > 0 ? process.argv.slice(2) : (process.env.EBPF_TS_VM_KERNELS ?? '6.1 5.10 6.12').split(/\s+/).filter(Boolean);
// A kernel's whole run: 5.10, the slowest, takes ~12 min under TCG. A run that produces no
// results (the VM hung or failed to boot) is run once more, so the limit leaves room for that
// within CI's time; a test that hangs fails on its own after vitest's testTimeout (4 min in a VM).
const timeout = process.env.EBPF_TS_VM_TIMEOUT ?? '1200';
// A VM that prints nothing for this long has hung (at boot, or in a test past vitest's own
// limit): it is stopped then rather than at the whole run's limit, so a retry still fits CI's
// time. vitest prints each file as it ends: the longest silence measured was 2 min (xdp.test.ts
// on 5.10, 2026-12-07).
const idleSeconds = Number(process.env.EBPF_TS_VM_IDLE ?? '420');
const files = process.env.EBPF_TS_VM_TESTS ?? ''; // optional subset of test files

if (!existsSync(vmRun)) {
  console.error(`test:vm needs vm-run.sh (looked at ${vmRun}); set EBPF_TS_VM_RUN to its path`);
  process.exit(1);
}
for (const tool of ['qemu-system-x86_64', 'busybox']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`test:vm needs ${tool}: apt-get install -y --no-install-recommends qemu-system-x86 busybox-static`);
    process.exit(1);
  }
}

const outDir = join(root, '.test-vm');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
// The guest loads only the virtio and 9p modules, and the kernel cannot load more by itself
// (modprobe would look in the host's /lib/modules). The network tests need veth, the clsact
// qdisc, cls_bpf and the netfilter defrag helpers, which Debian builds as modules: they are
// copied (decompressed, for busybox insmod) from the unpacked kernel package in vm-run.sh's
// cache into the share, and the guest inserts them before the tests.
// module-btf.test.ts needs modules with BTF of their own beyond veth: nf_conntrack (kfuncs; it
// needs the defrag helpers and libcrc32c, which needs crc32c_generic) and x_tables (a typed ksym).
const NET_MODULES = ['veth', 'sch_ingress', 'cls_bpf', 'nf_defrag_ipv4', 'nf_defrag_ipv6', 'crc32c_generic', 'libcrc32c', 'nf_conntrack', 'x_tables'];
// EBPF_TS_VM_EXTRA_MODULES: more module names to insert (in order, dependencies first), for a
// test being written that needs one before it is added here.
const MODULES = [...NET_MODULES, ...(process.env.EBPF_TS_VM_EXTRA_MODULES ?? '').split(/[\s,]+/).filter(Boolean)];

// Traffic tests spawn Node in namespaces and send real packets: under TCG each takes seconds,
// and running every one on every kernel would not fit CI's time. Each runs on the kernels
// where it covers a path of its own: the netlink XDP and cls_bpf paths where no tcx exists
// (5.10, 6.1), tcx, netkit and netfilter where they do (6.12). Every other file, the feature
// probes of all attach points (net-features.test.ts) among them, runs on every kernel.
const KERNELS_OF = {
  'xdp.test.ts': ['5.10'],
  'example-xdp-count.test.ts': ['6.12'],
  'tc.test.ts': ['6.1'],
  'cgroup.test.ts': ['5.10', '6.12'],
  'example-netmon.test.ts': ['6.1'],
  'socket-filter.test.ts': ['6.1'],
  'sockmap.test.ts': ['6.12'],
  'netns-link.test.ts': ['6.1'],
  'tcx.test.ts': ['6.12'],
  'netkit.test.ts': ['6.12'],
  'netfilter.test.ts': ['6.12'],
  'link-ops.test.ts': ['6.12'],
  'cli-net.test.ts': ['6.12'],
  'example-profile.test.ts': ['6.12'],
  // Features of recent kernels run where they exist (the host covers the refusals' wording):
  // sessions (6.10/6.13) and freplace, which the host refuses, on 6.12 (and 6.1 for the
  // refusal naming 6.10, which the host's missing CONFIG_KPROBES answers otherwise); the user ring buffer on
  // 6.1, its first kernel, and on 5.10, which refuses the map; backward perf rings on the oldest kernel.
  'link-session.test.ts': ['6.1', '6.12'],
  'freplace.test.ts': ['6.12'],
  'user-ringbuf.test.ts': ['5.10', '6.1'],
  'perf-overwritable.test.ts': ['5.10'],
  // Module BTF (CO-RE candidates, kfuncs, ksyms, tracing targets in modules) on 6.12.
  'module-btf.test.ts': ['6.12'],
  // Arena maps arrived in 6.9; the host's lockdown refuses them.
  'arena.test.ts': ['6.12'],
  // Element calls and the batch reader on one older kernel each.
  'map-many.test.ts': ['5.10'],
  'reader-batches.test.ts': ['6.1'],
  // The published build's first-use chunks: the same on every kernel; the host runs it too.
  'dist-chunks.test.ts': ['6.1'],
};

/** The kernel test files for `kernel`: all, less those assigned to other kernels. */
function filesFor(kernel) {
  return readdirSync(join(root, 'test', 'kernel'))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => KERNELS_OF[f] === undefined || KERNELS_OF[f].includes(kernel))
    .sort()
    .map((f) => `test/kernel/${f}`)
    .join(' ');
}
const cache = process.env.VM_CACHE ?? '/tmp/vm-run-cache';

function kernelDir(kernel) {
  const resolved = join(cache, `resolved-${kernel.replaceAll('/', '_')}`);
  if (!existsSync(resolved)) {
    // First use of this kernel on this machine: one short boot makes vm-run.sh fetch and unpack it.
    spawnSync(vmRun, ['-k', kernel, '-t', '600', '--', 'true'], { stdio: 'inherit', cwd: root });
  }
  if (!existsSync(resolved)) return undefined;
  const [pkg, ver] = readFileSync(resolved, 'utf8').trim().split(/\s+/);
  const dir = join(cache, 'kernels', `${pkg}_${ver ?? 'unknown'}`);
  return existsSync(dir) ? dir : undefined;
}

/** Every module file under `dir`, by module name (`veth` for veth.ko and veth.ko.xz). */
function moduleFiles(dir, into = new Map()) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) moduleFiles(path, into);
    else if (/\.ko(\.|$)/.test(entry.name)) into.set(entry.name.replace(/\.ko.*$/, ''), path);
  }
  return into;
}

/** Copies the network modules of `kernel` into the share; returns the guest's insmod commands. */
function moduleCommands(kernel) {
  const kdir = kernelDir(kernel);
  if (kdir === undefined) {
    console.log(`test:vm: no unpacked ${kernel} kernel in ${cache}: network modules not loaded`);
    return '';
  }
  const into = join(outDir, 'modules', kernel);
  mkdirSync(into, { recursive: true });
  const cmds = [];
  const modules = moduleFiles(join(kdir, 'lib', 'modules'));
  for (const name of MODULES) {
    const src = modules.get(name);
    if (src === undefined) continue; // built in
    const dst = join(into, `${name}.ko`);
    const decompress = src.endsWith('.xz') ? 'xz' : src.endsWith('.zst') ? 'zstd' : undefined;
    const r = decompress === undefined ? spawnSync('cp', [src, dst]) : spawnSync('sh', ['-c', `${decompress} -dc '${src}' > '${dst}'`]);
    if (r.status !== 0) {
      console.log(`test:vm: could not copy module ${name} from ${src}`);
      continue;
    }
    cmds.push(`busybox insmod ${dst} 2>/dev/null || true`);
  }
  return cmds.length === 0 ? '' : `${cmds.join('; ')}; `;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
let bad = 0;
/** What the closing summary repeats: CI shows only the end of a long log. */
const report = [];
let retried = false;

/**
 * Runs vm-run.sh, passing its output through; resolves with its status (or 'idle' where it was
 * stopped for printing nothing for idleSeconds) and its last lines.
 */
function runVm(args) {
  return new Promise((resolvePromise) => {
    const child = spawn(vmRun, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    const tail = [];
    let partial = '';
    let lastOutput = Date.now();
    let idle = false;
    // vm-run.sh stops its qemu on SIGTERM.
    const watchdog = setInterval(() => {
      if (Date.now() - lastOutput < idleSeconds * 1000) return;
      idle = true;
      child.kill('SIGTERM');
      clearInterval(watchdog);
    }, 5000);
    const keep = (chunk) => {
      lastOutput = Date.now();
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on('data', (chunk) => (process.stdout.write(chunk), keep(chunk)));
    child.stderr.on('data', (chunk) => (process.stderr.write(chunk), keep(chunk)));
    child.on('close', (status) => {
      clearInterval(watchdog);
      if (partial !== '') tail.push(partial);
      resolvePromise({ status: idle ? 'idle' : status, tail });
    });
  });
}

/** The failed tests of a vitest JSON report, one line each, with the first line of the error. */
function failures(json) {
  const lines = [];
  for (const file of json.testResults) {
    const failed = file.assertionResults.filter((t) => t.status === 'failed');
    for (const t of failed) {
      const why = String(t.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300);
      lines.push(`  ${relative(root, file.name)} > ${t.fullName ?? t.title}: ${why}`);
    }
    // A file that failed outside its tests (a hook, an import): vitest's message for the file.
    if (file.status === 'failed' && failed.length === 0) lines.push(`  ${relative(root, file.name)}: ${String(file.message ?? '').split('\n')[0].slice(0, 300)}`);
  }
  return lines;
}

for (const kernel of kernels) {
  const out = join(outDir, `${kernel}.json`);
  console.log(`\n=== kernel tests in a Linux ${kernel} VM (native addon backend) ===`);
  const insmods = moduleCommands(kernel);
  const selected = files !== '' ? files : filesFor(kernel);
  const cmd =
    // The guest's init leaves loopback down; tests that talk over 127.0.0.1 need it up.
    `cd ${root} && uname -r && (ip link set lo up || busybox ip link set lo up) && ${insmods}EBPF_TS_BACKEND=native npx vitest run --project kernel --no-isolate ` +
    `--reporter=default --reporter=json --outputFile.json=${out} ${selected}`;
  // --no-isolate: every file runs in the one forked worker, which imports src/ once. Under TCG a
  // fresh worker per file cost ~10 s of start-up and module evaluation, half of a kernel's time.
  for (let attempt = 1; ; attempt++) {
    rmSync(out, { force: true });
    const started = Date.now();
    // CI=true: the serial console looks like a terminal to vitest; plain, non-animated output.
    // EBPF_TS_VM=1: tests and vitest.config.ts know they run emulated (slow: longer timeouts,
    // tests that take minutes under TCG skip with that reason).
    const r = await runVm(['-k', kernel, '-t', timeout, '-s', root, '-e', 'CI=true', '-e', 'EBPF_TS_VM=1', '--', cmd]);
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    let json;
    try {
      json = JSON.parse(readFileSync(out, 'utf8'));
    } catch {
      json = undefined;
    }
    if (json !== undefined) {
      const skipped = json.numPendingTests + json.numTodoTests;
      totals.passed += json.numPassedTests;
      totals.failed += json.numFailedTests;
      totals.skipped += skipped;
      const line = `Linux ${kernel}: ${json.numPassedTests} passed, ${json.numFailedTests} failed, ${skipped} skipped (${minutes} min${attempt > 1 ? ', second run' : ''})`;
      console.log(line);
      report.push(line, ...failures(json));
      if (r.status !== 0) {
        bad++;
        if (json.numFailedTests === 0) report.push(`  the VM exited with status ${r.status} after the tests had run`);
      }
      break;
    }
    const why = r.status === 'idle' ? `no output for ${idleSeconds} s: stopped` : r.status === 124 ? `timed out after ${timeout} s` : r.status === 125 ? 'the VM failed' : `exit ${r.status}`;
    const line = `Linux ${kernel}: no results (${why}, ${minutes} min${attempt > 1 ? ', second run' : ''})`;
    console.log(line);
    report.push(line, '  its last lines:', ...r.tail.map((l) => `  | ${l}`));
    // A VM that hung or did not boot is run once more (once per test:vm run), and the summary
    // says so; tests that fail are never run again.
    if (retried) {
      bad++;
      break;
    }
    retried = true;
    console.log(`Linux ${kernel}: running it once more`);
  }
}
console.log('\n=== test:vm summary ===');
for (const line of report) console.log(line);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(bad === 0 && totals.failed === 0 ? 0 : 1);
