/**
 * Oracles: qemu-img for qcow2 headers, sha256 for bytes, and a normalised dump of a
 * whole home (every table and row, every file) so two homes that should have ended in
 * the same state can be compared with one toEqual. Normalised: the home's path, the
 * randomly minted base ids (named after their box) and the wall-clock fields.
 */
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export interface QemuImgInfo {
  format: string;
  "virtual-size": number;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
}

export function run(argv: string[]): string {
  const result = Bun.spawnSync(argv);
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

export function qemuImgInfo(path: string): QemuImgInfo {
  return JSON.parse(run(["qemu-img", "info", "-U", "--output=json", path])) as QemuImgInfo;
}

export function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

export function sha256Bytes(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** Files under `dir` (following directory symlinks), relative, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

export type Row = Record<string, unknown>;

export function dumpTables(dbPath: string): Record<string, Row[]> {
  const db = new Database(dbPath, { readonly: true });
  try {
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    const dump: Record<string, Row[]> = {};
    for (const { name } of tables) dump[name] = db.query<Row, []>(`SELECT * FROM "${name}" ORDER BY rowid`).all();
    dump.sqlite_master = db.query<Row, []>("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all();
    return dump;
  } finally {
    db.close();
  }
}

/** The whole home as one comparable value. */
export function captureHomeState(home: string): unknown {
  const tables = dumpTables(join(home, "db", "boxlite.db"));
  // Minted base ids differ between runs: name them after their box (same length, 8).
  const renames: [string, string][] = [[home, "H".repeat(home.length)]];
  for (const row of tables.base_disk ?? []) {
    if (typeof row.id === "string" && !/^Base000\d$/.test(row.id)) renames.push([row.id, `B-${String(row.source_box_id)}`.slice(0, 8)]);
  }
  const rename = (text: string) => renames.reduce((acc, [from, to]) => acc.replaceAll(from, to), text);
  const files: Record<string, string> = {};
  for (const file of listFiles(home)) {
    if (/^db\/boxlite\.db(-wal|-shm)?$/.test(file)) continue;
    // latin1 maps bytes 1:1, so paths inside qcow2 headers are renamed in place.
    files[rename(file)] = sha256Bytes(Buffer.from(rename(readFileSync(join(home, file)).toString("latin1")), "latin1"));
  }
  const value = JSON.parse(rename(JSON.stringify({ tables, files }))) as { tables: Record<string, Row[]> };
  for (const row of value.tables.schema_version ?? []) row.updated_at = "<time>";
  for (const row of value.tables.alive ?? []) row.started_at = "<time>";
  for (const row of value.tables.base_disk ?? []) {
    row.created_at = "<time>";
    row.json = String(row.json).replace(/"created_at":\d+/, '"created_at":"<time>"');
  }
  return value;
}
