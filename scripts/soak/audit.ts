/**
 * The soak's end: every box still running answers with its own token, then everything is
 * removed and nothing of the soak may be left — no process naming its home (but its server),
 * no socket link, no lock held, no box directory, base, staging or database row, no jail
 * cgroup, and the database passes `PRAGMA integrity_check`.
 */

/** The boxes that have a jail cgroup on this host now (none where boxlite cannot make cgroups). */
export function boxCgroups(): Set<string> {
  const host = findCgroupHost("/sys/fs/cgroup", process.env.BOXLITE_CGROUP);
  return new Set(host.ok ? listBoxCgroups(host) : []);
}
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findCgroupHost, listBoxCgroups } from "../../src/vmm/jail/cgroup.ts";
import { processesWith } from "./chaos.ts";
import type { Cli } from "./cli.ts";

export interface Audit {
  /** Boxes running at the end, and those of them that did not answer with their own token. */
  survivors: number;
  unanswered: string[];
  leaks: string[];
  integrity: string;
}

interface ListedBox {
  box_id: string;
  name: string | null;
  status: string;
}

/** Locks under `dir` that a process holds now (flock -n fails on them). */
function heldLocks(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => Bun.spawnSync(["flock", "-n", join(dir, name), "true"]).exitCode !== 0);
}

/** Entries of `dir` (absent: none), but those `keep` allows. */
function entries(dir: string, keep: (name: string) => boolean = () => false): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => !keep(name)) : [];
}

async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await Bun.sleep(200);
}

export async function audit(cli: Cli, home: string, servePid: number, cgroupsBefore: Set<string>): Promise<Audit> {
  const listed = await cli.run(["ls", "-a", "--json"]);
  const boxes = listed.code === 0 ? (JSON.parse(listed.stdout) as ListedBox[]) : [];
  const running = boxes.filter((box) => box.status === "running");
  const unanswered: string[] = [];
  for (const box of running) {
    // A box whose client was stopped before it wrote its token has none: it must still answer.
    const read = await cli.run(["exec", box.box_id, "--", "sh", "-c", "cat /token 2>/dev/null || echo -"]);
    if (read.code !== 0 || ![box.name, "-"].includes(read.stdout.trim()))
      unanswered.push(`${box.name}: ${read.code} ${(read.stdout + read.stderr).trim().slice(0, 200)}`);
  }
  const removed = await cli.run(["rm", "-a", "-f"]);
  const leaks: string[] = removed.code === 0 ? [] : [`rm -a -f failed: ${removed.stderr.trim()}`];
  const strays = () => processesWith(home).filter((pid) => pid !== servePid);
  await waitUntil(() => strays().length === 0, 20_000);
  for (const pid of strays()) leaks.push(`process ${pid} still runs`);
  const socketDir = join(tmpdir(), `bl-${process.getuid?.() ?? 0}`);
  for (const link of entries(socketDir)) {
    let target = "";
    try {
      target = readlinkSync(join(socketDir, link));
    } catch {
      continue;
    }
    if (target.startsWith(home)) leaks.push(`socket link ${link} → ${target}`);
  }
  for (const lock of heldLocks(join(home, "locks"))) leaks.push(`lock ${lock} is held`);
  for (const id of boxCgroups()) if (!cgroupsBefore.has(id)) leaks.push(`the jail cgroup of box ${id}`);
  for (const dir of entries(join(home, "boxes"))) leaks.push(`box directory ${dir}`);
  for (const base of entries(join(home, "bases"))) leaks.push(`base ${base}`);
  // tmp/locks holds the image disks' lock files; tmp/pending the index of pending disk operations.
  for (const staged of entries(join(home, "tmp"), (name) => name === "pending" || name === "locks")) leaks.push(`staging ${staged}`);
  for (const lock of heldLocks(join(home, "tmp", "locks"))) leaks.push(`image lock ${lock} is held`);
  for (const pending of entries(join(home, "tmp", "pending"))) leaks.push(`pending operation of ${pending}`);
  const db = new Database(join(home, "db", "boxlite.db"), { readonly: true });
  try {
    // `alive` has its one row (this host's boot) for good.
    for (const table of ["box_config", "box_state", "snapshot", "base_disk", "base_disk_ref"]) {
      const { count } = db.query(`SELECT count(*) AS count FROM ${table}`).get() as { count: number };
      if (count > 0) leaks.push(`${count} rows in ${table}`);
    }
    const integrity = (db.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check;
    return { survivors: running.length, unanswered, leaks, integrity };
  } finally {
    db.close();
  }
}
