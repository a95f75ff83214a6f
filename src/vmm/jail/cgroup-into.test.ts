/**
 * The watchdog's `--cgroup-dir` with a real cgroup v2 hierarchy: its members are born in the
 * box's cgroup (clone3's CLONE_INTO_CGROUP), none moved there afterwards. The test mounts a
 * cgroup2 hierarchy of its own (root only, as the jail's cgroups are): on a v1 host it has no
 * controllers, which where a process is born does not need.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../../../test/helpers/cli.ts";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { loadConfig } from "../../config/config.ts";
import { prepareWatchdog } from "../watchdog.ts";

const temp = new TempDirs();
const root = temp.make("cgroup2-");
const mounted = Bun.spawnSync(["mount", "-t", "cgroup2", "none", root]);
afterAll(() => {
  if (mounted.exitCode === 0) Bun.spawnSync(["umount", root]);
  temp.removeAll();
});

/**
 * A stand-in's own cgroup line written to `path` by shell builtins alone: a `cat` or `touch`
 * would be a third process in the cgroup for a moment, which the count of its members caught.
 */
function copyCgroup(path: string): string {
  return `while read -r line; do echo "$line"; done < /proc/self/cgroup > ${path}`;
}

test("--cgroup-dir: every member of the group is born in that v2 cgroup", async () => {
  expect(mounted.stderr.toString()).toBe("");
  const name = `boxlite-into-${process.pid}`;
  const dir = join(root, name);
  mkdirSync(dir);
  const out = temp.make("cgroup2-out-");
  const watchdog = await prepareWatchdog(loadConfig());
  const helperReady = join(out, "helper.ready");
  const proc = Bun.spawn(
    [
      watchdog,
      "--cgroup-dir",
      dir,
      "3",
      "--helper",
      "side",
      helperReady,
      "5000",
      "3",
      "sh",
      "-c",
      `${copyCgroup(`${out}/helper`)}; : > ${helperReady}; exec sleep 600`,
      "--",
      "sh",
      "-c",
      `${copyCgroup(`${out}/vmm`)}; exec sleep 600`,
    ],
    { stdio: ["ignore", "pipe", "pipe", "pipe"] },
  );
  try {
    await waitFor(() => existsSync(join(out, "vmm")) && readFileSync(join(out, "vmm"), "utf8") !== "", 10_000, "the VMM stand-in to start");
    for (const member of ["helper", "vmm"]) expect(readFileSync(join(out, member), "utf8")).toContain(`0::/${name}\n`);
    // The watchdog itself stays where it was: only what it starts counts against the box.
    expect(readFileSync(`/proc/${proc.pid}/cgroup`, "utf8")).not.toContain(`0::/${name}\n`);
    expect(readFileSync(join(dir, "cgroup.procs"), "utf8").trim().split("\n")).toHaveLength(2);
  } finally {
    process.kill(-proc.pid, "SIGKILL"); // the watchdog leads its own process group, as boxlite stops it
    await proc.exited;
  }
  await waitFor(() => readFileSync(join(dir, "cgroup.procs"), "utf8").trim() === "", 5_000, "the members to end with the watchdog");
  rmdirSync(dir);
});

test("--cgroup-dir naming no directory fails before anything starts, saying why", async () => {
  const watchdog = await prepareWatchdog(loadConfig());
  const proc = Bun.spawnSync([watchdog, "--cgroup-dir", join(root, "missing"), "3", "--", "true"], { stdio: ["ignore", "pipe", "pipe"] });
  expect(proc.exitCode).not.toBe(0);
  expect(proc.stderr.toString()).toContain(`vmm-watch: opening cgroup ${join(root, "missing")}: No such file or directory`);
});
