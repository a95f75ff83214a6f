/** How the CLI writes: results on stdout, messages on stderr, with backpressure. */
import { BoxliteError } from "../util/errors.ts";

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

/**
 * Runs `act` on each target of a many-target command (`inspect A B`, `volume rm A B`): a
 * target that fails with a BoxliteError is reported and the rest still run. True when
 * one failed (the command then exits 1).
 */
export async function eachReported(targets: readonly string[], act: (target: string) => Promise<void>): Promise<boolean> {
  let failed = false;
  for (const target of targets) {
    try {
      await act(target);
    } catch (error) {
      if (!(error instanceof BoxliteError)) throw error;
      warn(error.message);
      failed = true;
    }
  }
  return failed;
}

/** Prints formatColumns' table. */
export function printColumns(header: string[], rows: string[][]): void {
  void out(formatColumns(header, rows));
}

/** A table with a header row, columns padded to their widest cell; no trailing blanks. Every row has the header's cells. */
export function formatColumns(header: string[], rows: string[][]): string {
  // Indexed loops and one appended string, no map, join or Math.max: `ls` formats
  // thousands of rows in a process too short for the JIT to pay off, where every call
  // per cell costs (see db/box-summaries.ts).
  const widths = header.map((title) => title.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as string[];
    for (let i = 0; i < widths.length; i++) {
      const length = (row[i] as string).length;
      if (length > (widths[i] as number)) widths[i] = length;
    }
  }
  let text = "";
  for (let r = 0; r <= rows.length; r++) {
    const cells = r === 0 ? header : (rows[r - 1] as string[]);
    // Pad up to the last non-empty cell only, so no line ends in blanks.
    let last = cells.length - 1;
    while (last > 0 && !cells[last]) last--;
    for (let i = 0; i < last; i++) text += (cells[i] as string).padEnd((widths[i] as number) + 3);
    text += `${cells[last] as string}\n`;
  }
  return text;
}
