/** How the CLI writes: results on stdout, messages on stderr, with backpressure. */

/** Writes and resolves once the stream took the bytes (so a slow reader slows the box). */
export function writeTo(stream: NodeJS.WriteStream): (chunk: Uint8Array) => Promise<void> {
  return (chunk) => new Promise((resolve) => stream.write(chunk, () => resolve()));
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  process.stdout.write(rows.map(([key, value]) => `${`${key}:`.padEnd(width)}${value}\n`).join(""));
}

export function warn(message: string): void {
  process.stderr.write(`boxlite: ${message}\n`);
}

/** A table with a header row, columns padded to their widest cell. */
export function printColumns(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3))).join("").trimEnd();
  process.stdout.write([header, ...rows].map((cells) => `${line(cells)}\n`).join(""));
}
