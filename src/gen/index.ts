/**
 * Code generation: TypeScript bindings for a BPF object (`ebpf-ts gen`).
 *
 * @module
 */
export { generateModule, type GenerateOptions } from './module.js';
export { generateBindings, defaultName, type BindingsOptions } from './generate.js';
export { NameTable, pascalCase, camelCase, isIdentifier, propertyKey } from './names.js';
export { CodecSource, type CodecSourceOptions } from './codec-source.js';
export { buildObject, CompileError, type BuildOptions, type BuildResult } from './build.js';
export { ToolNotFoundError, findClang, findLibbpfInclude, targetArch, multiarchInclude } from './toolchain.js';
