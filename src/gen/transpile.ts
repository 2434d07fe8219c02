/**
 * JavaScript bindings: the TypeScript module `gen` writes, turned into an ES module and its
 * `.d.ts` by the TypeScript compiler of the project (types erased, nothing else changed), so
 * plain-JavaScript projects get the same codecs and, through the declarations, the same types
 * in their editor and under `// @ts-check`. The compiler is looked for only here: generating
 * TypeScript, and running either kind of bindings, never needs it.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ToolNotFoundError } from './toolchain.js';

/** The part of the `typescript` package used here. */
interface TypeScriptAPI {
  version: string;
  ScriptTarget: { ES2022: number };
  ModuleKind: { ESNext: number };
  transpileModule(text: string, options: object): { outputText: string };
  transpileDeclaration(text: string, options: object): { outputText: string; diagnostics?: ReadonlyArray<{ messageText: unknown }> };
  flattenDiagnosticMessageText(message: unknown, newLine: string): string;
}

let compiler: TypeScriptAPI | undefined;

/**
 * The `typescript` package of the project being generated for (resolved from the working
 * directory), else the one next to ebpf-ts.
 */
function typescript(): TypeScriptAPI {
  if (compiler !== undefined) return compiler;
  for (const from of [join(process.cwd(), 'package.json'), import.meta.url]) {
    try {
      const ts = createRequire(from)('typescript') as TypeScriptAPI;
      // transpileDeclaration: TypeScript 5.5.
      if (typeof ts.transpileDeclaration === 'function') return (compiler = ts);
    } catch {
      // Not installed there: try the next place.
    }
  }
  throw new ToolNotFoundError('typescript 5.5+', 'typescript', 'no `typescript` package with transpileDeclaration (5.5+) is installed in this project', {
    install: 'npm install --save-dev typescript',
    neededFor: 'to write JavaScript bindings (.js and .d.ts) only',
  });
}

/**
 * The JavaScript and the declarations of a generated TypeScript module.
 *
 * @example
 * ```ts
 * const { js, dts } = transpileBindings(generateModule(spec, options), 'tracer.ts');
 * ```
 * @throws {@link ToolNotFoundError} naming the package when TypeScript 5.5+ is not installed.
 */
export function transpileBindings(text: string, fileName: string): { js: string; dts: string } {
  const ts = typescript();
  const compilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, declaration: true, isolatedDeclarations: true, strict: true };
  const js = ts.transpileModule(text, { compilerOptions, fileName }).outputText;
  const d = ts.transpileDeclaration(text, { compilerOptions, fileName, reportDiagnostics: true });
  const errors = (d.diagnostics ?? []).map((x) => ts.flattenDiagnosticMessageText(x.messageText, '\n'));
  // Every export of a generated module is annotated; a failure here is a bug of gen's.
  if (errors.length > 0) throw new Error(`gen: the declarations of ${fileName} need types TypeScript cannot see: ${errors.join('; ')}`);
  return { js, dts: d.outputText };
}
