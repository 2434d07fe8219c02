#!/usr/bin/env node
// Run after `tsc` by `npm run build`: copies dist/**/*.d.ts to dist/cjs/ under a package.json
// that says "commonjs", so TypeScript projects compiled as CommonJS (module node16/nodenext in
// a package without "type": "module") can import our types: the "require" condition of the
// package's exports points them there. At run time require('ebpf-ts') loads the same ES module
// (Node 20.19+ loads ES modules with require()); only the declarations' module kind differs.
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(dirname(fileURLToPath(import.meta.url))), 'dist');
const out = join(dist, 'cjs');
rmSync(out, { recursive: true, force: true });

function copyDeclarations(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === out) continue;
    if (statSync(path).isDirectory()) copyDeclarations(path);
    else if (name.endsWith('.d.ts')) {
      const target = join(out, relative(dist, path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
}
copyDeclarations(dist);
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
