#!/usr/bin/env node
// `npm test`: the whole suite. Unit tests (no privileges) once, kernel tests once per syscall
// backend (native addon, then ffi-rs), because both backends must pass them. Each pass prints
// vitest's own summary; the last line sums them up as "N passed, N failed, N skipped".
// Kernel tests need root; without it they still run and each one says why it skips.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const extra = process.argv.slice(2);
// EBPF_TS_TEST_BACKENDS=native runs the kernel tests on one backend only (.ci/run's second
// pass, after a full one: the files whose tests need the tools it installed, given as
// arguments, which go to vitest).
const backends = (process.env.EBPF_TS_TEST_BACKENDS ?? 'native,ffi-rs').split(',').map((b) => b.trim()).filter(Boolean);
const passes = [
  { title: 'unit tests', project: 'unit', env: {} },
  ...backends.map((b) => ({
    title: `kernel tests, ${b === 'native' ? 'native addon' : b} backend`,
    project: 'kernel',
    env: { EBPF_TS_BACKEND: b },
  })),
];

const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedPasses = 0;
for (const [i, pass] of passes.entries()) {
  const out = join(dir, `${i}.json`);
  console.log(`\n=== ${pass.title} ===`);
  const r = spawnSync(
    'npx',
    ['vitest', 'run', '--project', pass.project, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra],
    { stdio: 'inherit', env: { ...process.env, ...pass.env } },
  );
  let counted = false;
  try {
    const json = JSON.parse(readFileSync(out, 'utf8'));
    totals.passed += json.numPassedTests;
    totals.failed += json.numFailedTests;
    totals.skipped += json.numPendingTests + json.numTodoTests;
    counted = true;
    console.log(`${pass.title}: ${json.numPassedTests} passed, ${json.numFailedTests} failed, ${json.numPendingTests + json.numTodoTests} skipped`);
  } catch {
    console.log(`${pass.title}: no results (vitest exited with ${r.status})`);
  }
  if (r.status !== 0 || !counted) failedPasses++;
}
rmSync(dir, { recursive: true, force: true });
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedPasses === 0 && totals.failed === 0 ? 0 : 1);
