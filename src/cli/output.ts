/** How the CLI writes: results on stdout, messages on stderr, with backpressure. */

/**
 * Writes not yet handed to the OS. Bun's `process.stdout.write` to a pipe queues what the
 * pipe cannot take at once (64 KiB) and `process.exit` drops that queue; neither
 * `writableNeedDrain` nor an empty write's callback reports it (measured, Bun 1.4), but
 * each write's own callback does, so every CLI write goes through here.
 */
const pending = new Set<Promise<void>>();

function tracked(stream: NodeJS.WriteStream, chunk: string | Uint8Array): Promise<void> {
  // The callback also fires on EPIPE (a reader like `head` that went away).
  const written = new Promise<void>((resolve) => stream.write(chunk, () => resolve()));
  pending.add(written);
  void written.then(() => pending.delete(written));
  return written;
}

/** Writes to stdout; resolves once the stream took the bytes. */
export const out = (chunk: string | Uint8Array): Promise<void> => tracked(process.stdout, chunk);
/** Writes to stderr; resolves once the stream took the bytes. */
export const err = (chunk: string | Uint8Array): Promise<void> => tracked(process.stderr, chunk);

/** A writer that resolves once the stream took the bytes (so a slow reader slows the box). */
export function writeTo(stream: NodeJS.WriteStream): (chunk: Uint8Array) => Promise<void> {
  return (chunk) => tracked(stream, chunk);
}

/** Resolves once every write so far reached the OS; call before `process.exit`. */
export async function flushOutput(): Promise<void> {
  await Promise.all([...pending]);
}

export function printJson(value: unknown): void {
  void out(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  void out(rows.map(([key, value]) => `${`${key}:`.padEnd(width)}${value}\n`).join(""));
}

export function warn(message: string): void {
  void err(`boxlite: ${message}\n`);
}

/** A table with a header row, columns padded to their widest cell; no trailing blanks. */
export function printColumns(header: string[], rows: string[][]): void {
  // Indexed loops, not for-of or map: `ls` formats thousands of rows in a process too
  // short for the JIT to pay off (see db/box-summaries.ts).
  const widths = header.map((title) => title.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as string[];
    for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i] as number, (row[i] ?? "").length);
  }
  const lines = new Array<string>(rows.length + 1);
  for (let r = 0; r <= rows.length; r++) {
    const cells = r === 0 ? header : (rows[r - 1] as string[]);
    // Pad up to the last non-empty cell only, so no line ends in blanks.
    let last = cells.length - 1;
    while (last > 0 && !cells[last]) last--;
    let line = "";
    for (let i = 0; i < last; i++) line += (cells[i] as string).padEnd((widths[i] as number) + 3);
    lines[r] = line + (cells[last] ?? "");
  }
  void out(`${lines.join("\n")}\n`);
}
