/**
 * The watchdog (host/vmm-watch.c) and spawnVmm with real processes and no VM: a shell
 * stands in for the VMM (it "creates its agent socket" as a file) and the sidecar for
 * the helpers. What a group does when its helpers start, fail, die, or its owner dies.
 */
import { afterAll, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { sidecar, startOwner } from "../../test/helpers/sidecars.ts";
import { TempDirs } from "../../test/helpers/temp.ts";
import { loadConfig } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { isRunning, startTimeOf } from "../util/proc.ts";
import type { VmMember, VmProcess } from "./backend.ts";
import { spawnVmm, VMM_FILE_FD, type VmmCommand } from "./process.ts";

const config = loadConfig();
const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** A VMM stand-in: creates its "agent socket", notes which helpers' sockets existed when it started, then runs `then`. */
function fakeVmm(dir: string, then = "exec sleep 600", saw: string[] = []): VmmCommand {
  const agentSocketPath = join(dir, "agent.sock");
  const checks = saw.map((path) => `test -e ${path} && echo ${path} >> ${dir}/saw;`).join(" ");
  return { what: "FakeVMM", argv: ["sh", "-c", `${checks} touch ${agentSocketPath}; ${then}`], agentSocketPath, helpers: [] };
}

async function thrown(promise: Promise<unknown>): Promise<BoxliteError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof BoxliteError)) throw new Error(`expected a BoxliteError, got ${String(error)}`);
  return error;
}

const allGone = (members: readonly VmMember[]) => members.every((member) => !isRunning(member));

test("helpers start in order, each ready before the next, then the VMM; every process is reported with its start time", async () => {
  const dir = temp.make("watch-");
  const [a, b] = [join(dir, "a.sock"), join(dir, "b.sock")];
  const vm = await spawnVmm(config, { ...fakeVmm(dir, "exec sleep 600", [a, b]), helpers: [sidecar("net", a, ["--delay", "300"]), sidecar("files", b)] });
  try {
    expect(vm.members.map((member) => member.name)).toEqual(["net", "files", "vmm"]);
    for (const member of vm.members) expect(member.startTime).toBe(startTimeOf(member.pid) as string);
    // The VMM found both helpers serving, though the first took 300 ms to get ready.
    expect(readFileSync(join(dir, "saw"), "utf8").split("\n").filter(Boolean)).toEqual([a, b]);
    // All in the watchdog's process group (its pid is the group's id).
    for (const member of vm.members) expect(readFileSync(`/proc/${member.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[2]).toBe(String(vm.pid));
  } finally {
    vm.kill("SIGKILL");
  }
  await vm.exited;
  expect(allGone(vm.members)).toBe(true);
});

test("the VMM's file reaches the VMM alone, as fd 4: not its helpers, and the watchdog keeps no copy", async () => {
  const dir = temp.make("watch-");
  const statePath = join(dir, "state");
  writeFileSync(statePath, "saved VM state");
  const helperSocket = join(dir, "h.sock");
  const helper = {
    name: "net",
    argv: ["sh", "-c", `ls /proc/$$/fd > ${dir}/helper-fds; touch ${helperSocket}; exec sleep 600`],
    readyPath: helperSocket,
    readyTimeoutMs: 5000,
  };
  const file = openSync(statePath, "r");
  let vm: VmProcess;
  try {
    vm = await spawnVmm(config, { ...fakeVmm(dir, `cat <&${VMM_FILE_FD} > ${dir}/read; exec sleep 600`), helpers: [helper], file });
  } finally {
    closeSync(file);
  }
  try {
    // The watchdog closed its copy before it reported the VMM started: from then on nothing
    // but the VMM holds the file.
    expect(readdirSync(`/proc/${vm.pid}/fd`)).not.toContain(String(VMM_FILE_FD));
    await waitFor(() => existsSync(join(dir, "read")) && readFileSync(join(dir, "read"), "utf8") !== "", 5_000, "the VMM to read its file");
    expect(readFileSync(join(dir, "read"), "utf8")).toBe("saved VM state");
    expect(readFileSync(join(dir, "helper-fds"), "utf8").split("\n")).not.toContain(String(VMM_FILE_FD));
  } finally {
    vm.kill("SIGKILL");
  }
  await vm.exited;
});

test("a helper that is not ready in time fails the start, naming it; nothing it started is left", async () => {
  const dir = temp.make("watch-");
  const helpers = [sidecar("net", join(dir, "a.sock")), sidecar("slow", join(dir, "b.sock"), ["--delay", "60000"], 300)];
  const error = await thrown(spawnVmm(config, { ...fakeVmm(dir), helpers }));
  expect(error.code).toBe("vmm_failed");
  expect(error.message).toBe(`FakeVMM was not started: vmm-watch: helper slow did not create ${dir}/b.sock within 300 ms`);
  expect(existsSync(join(dir, "agent.sock"))).toBe(false);
  await waitFor(() => Bun.spawnSync(["pgrep", "-f", dir]).exitCode !== 0, 10_000, "the helpers to be gone");
});

test("a helper that exits before it is ready fails the start with its status", async () => {
  const dir = temp.make("watch-");
  const helpers = [{ name: "broken", argv: ["sh", "-c", "echo cannot bind >&2; exit 3"], readyPath: join(dir, "x.sock"), readyTimeoutMs: 5000 }];
  const error = await thrown(spawnVmm(config, { ...fakeVmm(dir), helpers }));
  expect(error.message).toBe("FakeVMM was not started: cannot bind\nvmm-watch: helper broken exited with status 3 before the VMM started");
});

test("a stale ready file from an earlier run does not pass for a ready helper", async () => {
  const dir = temp.make("watch-");
  const ready = join(dir, "net.sock");
  await Bun.write(ready, "left over");
  const helpers = [{ name: "net", argv: ["sleep", "600"], readyPath: ready, readyTimeoutMs: 300 }];
  const error = await thrown(spawnVmm(config, { ...fakeVmm(dir), helpers }));
  expect(error.message).toContain("helper net did not create");
});

test("when the VMM exits, its helpers are stopped (SIGKILL after the grace for one that ignores SIGTERM) and its status is the VM's", async () => {
  const dir = temp.make("watch-");
  const helpers = [sidecar("net", join(dir, "a.sock")), sidecar("stubborn", join(dir, "b.sock"), ["--ignore-term"])];
  const vm = await spawnVmm(config, { ...fakeVmm(dir, "sleep 0.3; exit 7"), helpers });
  const started = performance.now();
  expect(await vm.exited).toEqual({ code: 7 });
  expect(allGone(vm.members)).toBe(true);
  // The stubborn one held out for the watchdog's 3 s grace.
  expect(performance.now() - started).toBeGreaterThan(2500);
});

test("a helper that dies stops the VM with the reason, told to the owner before the VMM is stopped", async () => {
  const dir = temp.make("watch-");
  const vm: VmProcess = await spawnVmm(config, { ...fakeVmm(dir), helpers: [sidecar("net", join(dir, "a.sock"))] });
  const [helper, vmm] = vm.members as [VmMember, VmMember];
  const vmmRanWhenTold = vm.failed.then((reason) => ({ reason, vmmRunning: isRunning(vmm) }));
  process.kill(helper.pid, "SIGKILL");
  const reason = `helper net (pid ${helper.pid}) was killed by signal 9 (SIGKILL); the VM was stopped`;
  expect(await vmmRanWhenTold).toEqual({ reason, vmmRunning: true });
  // sh dies of the watchdog's SIGTERM.
  expect(await vm.exited).toEqual({ code: 143, reason });
  expect(allGone(vm.members)).toBe(true);
});

test("a watchdog killed on its own: what it started is killed by fingerprint when it is found gone", async () => {
  const dir = temp.make("watch-");
  const vm = await spawnVmm(config, { ...fakeVmm(dir), helpers: [sidecar("net", join(dir, "a.sock"))] });
  process.kill(vm.pid, "SIGKILL"); // the watchdog alone, not its group
  expect((await vm.exited).code).toBe(137);
  expect(allGone(vm.members)).toBe(true);
});

test("the owner SIGKILLed: every process of the group is gone, the helpers included", async () => {
  const dir = temp.make("watch-");
  const command = { ...fakeVmm(dir), helpers: [sidecar("net", join(dir, "a.sock")), sidecar("stubborn", join(dir, "b.sock"), ["--ignore-term"])] };
  const owner = await startOwner({ kind: "spawn", command });
  expect(owner.group.map((member) => member.name)).toEqual(["watchdog", "net", "stubborn", "vmm"]);
  expect(owner.group.every(isRunning)).toBe(true);
  owner.proc.kill("SIGKILL");
  await waitFor(() => allGone(owner.group), 10_000, "the group to be gone");
});

/** libc's prctl and waitpid: the test process made a subreaper, so that whatever the group orphans is reparented to it, where it stays a zombie. */
const libc = dlopen("libc.so.6", {
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
});
const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

test("a box killed at once (SIGKILL): the watchdog kills its group and reaps it before it exits, leaving none of it to init", async () => {
  const dir = temp.make("watch-");
  expect(libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)).toBe(0);
  try {
    const vm = await spawnVmm(config, { ...fakeVmm(dir), helpers: [sidecar("net", join(dir, "a.sock"))] });
    vm.kill("SIGKILL");
    // The VMM's status: it was SIGKILLed.
    expect((await vm.exited).code).toBe(137);
    // An orphan of the group would be this process's now, a zombie nobody reaps.
    const orphans = vm.members.filter((member) => {
      try {
        return readFileSync(`/proc/${member.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1] === String(process.pid);
      } catch {
        return false; // reaped
      }
    });
    for (const orphan of orphans) libc.symbols.waitpid(orphan.pid, null, WNOHANG);
    expect(orphans.map((member) => member.name)).toEqual([]);
  } finally {
    libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  }
});
