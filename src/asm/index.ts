/**
 * eBPF instructions: opcodes, the {@link Instruction} type, decoding and encoding in both byte
 * orders, a builder for hand-written programs, and a disassembler that prints like
 * `llvm-objdump -d`. Pure TypeScript: nothing here talks to the kernel.
 *
 * @module
 */
export * from './opcode.js';
export * from './register.js';
export * from './pseudo.js';
export * from './helper.js';
export * from './instruction.js';
export * from './encoding.js';
export * from './format.js';
export * from './disasm.js';
export * from './builder.js';
