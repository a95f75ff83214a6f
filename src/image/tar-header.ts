/** The low-level fields of a tar header block (POSIX ustar, with GNU's base-256 numbers). */

export const TAR_BLOCK = 512;
const decoder = new TextDecoder();

/** A NUL-terminated text field. */
export function headerText(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** A numeric field: octal text, or base-256 big-endian when the high bit is set (GNU). */
export function headerNumber(block: Uint8Array, offset: number, length: number): number {
  if ((block[offset] ?? 0) & 0x80) {
    let value = (block[offset] ?? 0) & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] ?? 0);
    return value;
  }
  const text = headerText(block, offset, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** Whether the block's checksum field matches its bytes (the field itself counted as spaces). */
export function isHeaderChecksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === headerNumber(block, 148, 8);
}
