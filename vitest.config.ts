import { defineConfig } from 'vitest/config';

// Inside a test:vm guest (scripts/test-vm.mjs sets EBPF_TS_VM=1) the kernel runs under qemu
// TCG emulation and JavaScript 10–20× slower: the same tests get proportionally more time (the
// slowest test there takes ~15 s). Not more: a test that hangs should fail on its own, with its
// name in the report, well before the whole VM run's limit (scripts/test-vm.mjs).
const vm = process.env.EBPF_TS_VM === '1';
const kernelTimeout = vm ? 240_000 : 60_000;

// Two projects: `unit` needs no privileges and no kernel; `kernel` talks to the running
// kernel as root. Kernel tests run in forked processes, one file at a time, so fd counts and
// rlimits measured by one file are not disturbed by another.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: kernelTimeout,
          hookTimeout: kernelTimeout,
          teardownTimeout: kernelTimeout,
        },
      },
    ],
  },
});
