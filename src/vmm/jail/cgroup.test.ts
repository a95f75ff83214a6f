/**
 * Per-box cgroups against a directory laid out as each kind of host's cgroup mount: v2
 * (one tree, controllers enabled down to the box), v2 delegated to a user, v1 (a tree per
 * controller), and hosts that offer neither — the same files the kernel reads, so what is
 * written is what a box gets. Real cgroups: test/e2e/jail.test.ts (v1 on the test hosts).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { createBoxCgroups, findCgroupHost, killBoxCgroupMembers, listBoxCgroups, removeBoxCgroups } from "./cgroup.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const limits = { memoryBytes: 896 << 20, cpus: 2, pids: 512 };

function v2Root(controllers = "cpuset cpu io memory pids"): string {
  const root = temp.make("cgroup-v2-");
  writeFileSync(join(root, "cgroup.controllers"), `${controllers}\n`);
  writeFileSync(join(root, "cgroup.subtree_control"), "");
  writeFileSync(join(root, "cgroup.procs"), "");
  return root;
}

test("v2: the box's cgroup under boxlite/, with memory, CPU and pids controllers enabled on the way and its limits set", () => {
  const root = v2Root();
  const host = findCgroupHost(root, undefined);
  expect(host).toMatchObject({ ok: true, flavor: "v2" });
  if (!host.ok) return;
  // The watchdog forks its members straight into it.
  expect(createBoxCgroups(host, "box1", limits)).toEqual(["--cgroup-dir", join(root, "boxlite", "box1")]);
  expect(readFileSync(join(root, "cgroup.subtree_control"), "utf8")).toBe("+memory +cpu +pids");
  expect(readFileSync(join(root, "boxlite", "cgroup.subtree_control"), "utf8")).toBe("+memory +cpu +pids");
  const dir = join(root, "boxlite", "box1");
  expect(readFileSync(join(dir, "memory.max"), "utf8")).toBe(String(896 << 20));
  expect(readFileSync(join(dir, "cpu.max"), "utf8")).toBe("200000 100000");
  expect(readFileSync(join(dir, "pids.max"), "utf8")).toBe("512");
  expect(listBoxCgroups(host)).toEqual(["box1"]);
});

test("a populated cgroup is never removed; an empty one is, and removing it again is nothing", () => {
  const root = v2Root();
  const host = findCgroupHost(root, undefined);
  if (!host.ok) throw new Error(host.reason);
  createBoxCgroups(host, "box2", limits);
  const dir = join(root, "boxlite", "box2");
  writeFileSync(join(dir, "cgroup.procs"), "4242\n");
  expect(removeBoxCgroups(host, "box2")).toEqual([dir]);
  // A real cgroup directory holds only the kernel's files, which rmdir ignores; here they are files.
  for (const file of ["cgroup.procs", "memory.max", "cpu.max", "pids.max", "cgroup.subtree_control"]) rmSync(join(dir, file), { force: true });
  expect(removeBoxCgroups(host, "box2")).toEqual([]);
  expect(existsSync(dir)).toBe(false);
  expect(removeBoxCgroups(host, "box2")).toEqual([]);
});

test("what a dead owner's group left in the box's cgroup is killed, and a pid that is gone is no error", async () => {
  const root = v2Root();
  const host = findCgroupHost(root, undefined);
  if (!host.ok) throw new Error(host.reason);
  createBoxCgroups(host, "box3", limits);
  const left = Bun.spawn(["sleep", "60"]);
  const other = Bun.spawn(["sleep", "60"]);
  try {
    // A pid that has exited (its number not reused so soon) stands for a member that went meanwhile.
    writeFileSync(join(root, "boxlite", "box3", "cgroup.procs"), `${left.pid}\n999999999\n`);
    expect(killBoxCgroupMembers(host, "box3")).toBe(1);
    expect(await left.exited).toBe(137);
    // Only the box's members: another process is left alone.
    expect(other.exitCode).toBeNull();
  } finally {
    left.kill("SIGKILL");
    other.kill("SIGKILL");
  }
});

test("v2 delegated (BOXLITE_CGROUP): used when it has the controllers, refused naming what it lacks", () => {
  const delegated = v2Root("memory pids");
  expect(findCgroupHost("/nonexistent", delegated)).toEqual({
    ok: false,
    reason: `cgroup v2 at BOXLITE_CGROUP=${delegated} has no cpu controller (not delegated)`,
  });
  expect(findCgroupHost("/nonexistent", v2Root())).toMatchObject({ ok: true, flavor: "v2" });
  expect(findCgroupHost("/nonexistent", temp.make("not-cgroup-"))).toMatchObject({
    ok: false,
    reason: expect.stringContaining("is not a cgroup v2 directory"),
  });
});

test("v1 (or hybrid): a cgroup per controller's tree, with that controller's limits", () => {
  const root = temp.make("cgroup-v1-");
  for (const name of ["memory", "cpu", "pids"]) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, "cgroup.procs"), "");
  }
  // A hybrid host's unified mount has no controllers: not v2.
  mkdirSync(join(root, "unified"));
  writeFileSync(join(root, "unified", "cgroup.controllers"), "");
  const host = findCgroupHost(root, undefined);
  expect(host).toMatchObject({ ok: true, flavor: "v1" });
  if (!host.ok) return;
  // The watchdog joins each through its tasks file (one thread: no global lock).
  expect(createBoxCgroups(host, "box3", limits)).toEqual(
    ["memory", "cpu", "pids"].flatMap((name) => ["--cgroup", join(root, name, "boxlite", "box3", "tasks")]),
  );
  expect(readFileSync(join(root, "memory", "boxlite", "box3", "memory.limit_in_bytes"), "utf8")).toBe(String(896 << 20));
  expect(readFileSync(join(root, "cpu", "boxlite", "box3", "cpu.cfs_quota_us"), "utf8")).toBe("200000");
  expect(readFileSync(join(root, "cpu", "boxlite", "box3", "cpu.cfs_period_us"), "utf8")).toBe("100000");
  expect(readFileSync(join(root, "pids", "boxlite", "box3", "pids.max"), "utf8")).toBe("512");
});

test("a host with neither says so", () => {
  const root = temp.make("cgroup-none-");
  mkdirSync(join(root, "memory"));
  writeFileSync(join(root, "memory", "cgroup.procs"), "");
  expect(findCgroupHost(root, undefined)).toEqual({ ok: false, reason: `no cgroup v2 at ${root} and no v1 cpu, pids controllers under it` });
});
