#!/usr/bin/env node
// Regenerates the examples' bindings in this folder with `ebpf-ts gen` (`npm run gen:examples`
// after `npm run build`), one JavaScript module and its .d.ts per object in testdata/. Each file
// says in its header how it was made; test/unit/gen-examples.test.ts fails when a committed file
// differs from what gen writes now.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bindings: the object each is generated from (relative to the repository) and its gen options. */
export const exampleBindings = [
  { object: 'testdata/execsnoop.bpfel.o', out: 'examples/bpf/execsnoop.js' },
  { object: 'testdata/writesnoop.bpfel.o', out: 'examples/bpf/writesnoop.js' },
  { object: 'testdata/sockalloc.bpfel.o', out: 'examples/bpf/sockalloc.js' },
  { object: 'testdata/printk.bpfel.o', out: 'examples/bpf/printk.js' },
  { object: 'testdata/xdp_count.bpfel.o', out: 'examples/bpf/xdp_count.js' },
  { object: 'testdata/netmon.bpfel.o', out: 'examples/bpf/netmon.js' },
  { object: 'testdata/profile.bpfel.o', out: 'examples/bpf/profile.js' },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const b of exampleBindings) {
    // Paths relative to the repository, so that the headers do not depend on the checkout.
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'gen', b.object, '--out', b.out], { cwd: repo, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}
