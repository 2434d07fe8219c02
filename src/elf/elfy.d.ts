// The part of elfy's (untyped, CommonJS) API the ELF reader uses. elfy returns 64-bit fields as
// JavaScript numbers and misreads sh_addralign/sh_entsize of ELF64 (it reads them at offsets
// 46 and 54 instead of 48 and 56), so those two are deliberately left out here.
declare module 'elfy' {
  interface ElfySection {
    name: string;
    type: string | number;
    flags: Record<string, boolean>;
    addr: number;
    off: number;
    size: number;
    link: number;
    info: number;
    data: Buffer;
  }
  interface ElfyFile {
    class: string;
    endian: string;
    type: string | undefined;
    shoff: number;
    shnum: number;
    shstrndx: number;
    body: { sections: ElfySection[] };
  }
  const elfy: {
    parse(buf: Buffer): ElfyFile;
    constants: { sectType: Record<number, string>; sectFlags: Record<number, string> };
  };
  export default elfy;
}
