/**
 * Wraps libkrunfw's raw kernel image as an ELF64 executable that QEMU boots through PVH.
 *
 * libkrunfw hands out the kernel's loadable segments as one flat memory image (load
 * address 0x1000000, offset 0 = `pvh_start_xen`). QEMU's `-kernel` loads ELF files and,
 * when it finds a Xen PHYS32_ENTRY note, enters the kernel through PVH in 32-bit mode.
 * So: one PT_LOAD segment covering the image and one PT_NOTE with that entry point
 * (docs/kernel.md, "Wrapping it for QEMU").
 */

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_RWX = 7;
const EM_X86_64 = 62;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
/** The kernel's virtual base for its physical load address (x86-64 `__START_KERNEL_map`). */
const KERNEL_VIRT_OFFSET = 0xffffffff80000000n;

export interface KernelImage {
  bytes: Uint8Array;
  loadAddress: bigint;
}

/** The Xen note: namesz, descsz, type, "Xen\0", then the 8-byte 32-bit entry address. */
function buildPvhNote(entry: bigint): Uint8Array {
  const note = new Uint8Array(12 + 4 + 8);
  const view = new DataView(note.buffer);
  view.setUint32(0, 4, true);
  view.setUint32(4, 8, true);
  view.setUint32(8, XEN_ELFNOTE_PHYS32_ENTRY, true);
  note.set([0x58, 0x65, 0x6e, 0x00], 12);
  view.setBigUint64(16, entry, true);
  return note;
}

export function wrapKernelAsElf(kernel: KernelImage): Uint8Array {
  const note = buildPvhNote(kernel.loadAddress);
  const noteOffset = EHDR_SIZE + 2 * PHDR_SIZE;
  // Page-align the segment's file offset so offset ≡ vaddr (mod page size), as ELF loaders expect.
  const loadOffset = Math.ceil((noteOffset + note.length) / 4096) * 4096;
  const out = new Uint8Array(loadOffset + kernel.bytes.length);
  const view = new DataView(out.buffer);

  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // \x7fELF, 64-bit, little-endian, version 1
  view.setUint16(16, 2, true); // ET_EXEC
  view.setUint16(18, EM_X86_64, true);
  view.setUint32(20, 1, true);
  view.setBigUint64(24, kernel.loadAddress, true); // e_entry (PVH uses the note instead)
  view.setBigUint64(32, BigInt(EHDR_SIZE), true); // e_phoff
  view.setUint16(52, EHDR_SIZE, true);
  view.setUint16(54, PHDR_SIZE, true);
  view.setUint16(56, 2, true); // e_phnum

  writeProgramHeader(view, EHDR_SIZE, {
    type: PT_LOAD,
    offset: loadOffset,
    vaddr: kernel.loadAddress + KERNEL_VIRT_OFFSET,
    paddr: kernel.loadAddress,
    size: kernel.bytes.length,
    align: 0x200000,
  });
  writeProgramHeader(view, EHDR_SIZE + PHDR_SIZE, {
    type: PT_NOTE,
    offset: noteOffset,
    vaddr: 0n,
    paddr: 0n,
    size: note.length,
    align: 4,
  });
  out.set(note, noteOffset);
  out.set(kernel.bytes, loadOffset);
  return out;
}

interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  size: number;
  align: number;
}

function writeProgramHeader(view: DataView, at: number, ph: ProgramHeader): void {
  view.setUint32(at, ph.type, true);
  view.setUint32(at + 4, PF_RWX, true);
  view.setBigUint64(at + 8, BigInt(ph.offset), true);
  view.setBigUint64(at + 16, ph.vaddr, true);
  view.setBigUint64(at + 24, ph.paddr, true);
  view.setBigUint64(at + 32, BigInt(ph.size), true); // p_filesz
  view.setBigUint64(at + 40, BigInt(ph.size), true); // p_memsz
  view.setBigUint64(at + 48, BigInt(ph.align), true);
}
