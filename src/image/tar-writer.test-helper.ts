/** A tiny ustar writer for tests: builds layers byte by byte, including hostile ones. */

/** One member to write; `pax` adds an extended header before it (values may be binary). */
export interface WriteEntry {
  path: string;
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6" | "L" | "x";
  data?: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  link?: string;
  devMajor?: number;
  devMinor?: number;
  pax?: Record<string, string | Uint8Array>;
}

const encoder = new TextEncoder();

function octal(block: Uint8Array, offset: number, length: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(length - 1, "0")), offset);
}

/** One header block for `entry` claiming `size` bytes of data, for archives too big to build whole. */
export function writeTarHeader(entry: WriteEntry, size: number): Uint8Array<ArrayBuffer> {
  const block = new Uint8Array(512);
  block.set(encoder.encode(entry.path).subarray(0, 100), 0);
  octal(block, 100, 8, entry.mode ?? (entry.type === "5" ? 0o755 : 0o644));
  octal(block, 108, 8, entry.uid ?? 0);
  octal(block, 116, 8, entry.gid ?? 0);
  octal(block, 124, 12, size);
  octal(block, 136, 12, entry.mtime ?? 1_700_000_000);
  block[156] = (entry.type ?? "0").charCodeAt(0);
  block.set(encoder.encode(entry.link ?? "").subarray(0, 100), 157);
  block.set(encoder.encode("ustar\u000000"), 257);
  octal(block, 329, 8, entry.devMajor ?? 0);
  octal(block, 337, 8, entry.devMinor ?? 0);
  fixChecksum(block);
  return block;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function paxData(records: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of Object.entries(records)) {
    // The length prefix counts bytes, itself included, so binary values need byte arithmetic.
    const body = Buffer.concat([encoder.encode(` ${key}=`), typeof value === "string" ? encoder.encode(value) : value, encoder.encode("\n")]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(encoder.encode(String(length)), body);
  }
  return Buffer.concat(parts);
}

/** Builds a complete tar archive (with the two zero end blocks). */
export function writeTar(entries: WriteEntry[]): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    if (entry.pax) {
      const records = paxData(entry.pax);
      parts.push(writeTarHeader({ path: "PaxHeader", type: "x" }, records.length), padded(records));
    }
    const data = typeof entry.data === "string" ? encoder.encode(entry.data) : (entry.data ?? new Uint8Array(0));
    parts.push(writeTarHeader(entry, data.length), padded(data));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

function fixChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
}
