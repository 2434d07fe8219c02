import { defineConfig } from 'vitest/config';

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
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
