/**
 * The jail around each VMM (docs/security.md): what it lets through, seen from inside by a
 * probe the jail runs exactly as it would run QEMU (BOXLITE_QEMU), and from outside on real
 * VMs — the VMM's uid, namespaces, seccomp, cgroups, a box kept unjailed across restarts —
 * and the failures: a bad --security, a process the jail cannot start. These tests run as root
 * (the test hosts do): the uid and cgroup layers are root's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { boxCgroupDirs, findCgroupHost } from "../../src/vmm/jail/cgroup.ts";
import { CPU_OVERHEAD_CPUS, JAIL_ID_BASE, MEMORY_OVERHEAD_MIB, NOFILE_MAX, PIDS_MAX } from "../../src/vmm/jail/jail.ts";
import { buildRecorder, RECORDER_PATH } from "../fixtures/libkrun-recorder/recorder.ts";
import { REPO, runCli, waitFor } from "../helpers/cli.ts";
import { startServeProcess } from "../helpers/serve.ts";
import { TempDirs } from "../helpers/temp.ts";

const home = process.env.BOXLITE_HOME as string;
const temp = new TempDirs();
const cgroups = findCgroupHost("/sys/fs/cgroup", undefined);
const secretInHome = join(homedir(), `.boxlite-jail-test-${process.pid}`);

beforeAll(() => writeFileSync(secretInHome, "the user's own\n"));
afterAll(() => {
  rmSync(secretInHome, { force: true });
  temp.removeAll();
});

function boxDirs(): string[] {
  return existsSync(join(home, "boxes")) ? readdirSync(join(home, "boxes")) : [];
}

function cgroupsOf(id: string): string[] {
  return cgroups.ok ? boxCgroupDirs(cgroups, id).filter((dir) => existsSync(dir)) : [];
}

/** The box's recorded group: name → pid (boxes/<id>/group.pid). */
function groupOf(id: string): Map<string, number> {
  const lines = readFileSync(join(home, "boxes", id, "group.pid"), "utf8")
    .trim()
    .split("\n");
  return new Map(lines.map((line) => line.split(" ")).map(([pid, , name]) => [name as string, Number(pid)]));
}

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(/:\s*/, 2) as [string, string]),
  );
}

async function idOf(name: string): Promise<string> {
  return (JSON.parse((await runCli(["inspect", name])).stdout) as Array<{ Id: string }>)[0]?.Id ?? "none";
}

test("what the jail lets through: the probe run as the VMM sees only its own box, as an unprivileged uid with no capabilities, network or environment, within its limits", async () => {
  expect(cgroups.ok).toBe(true);
  // Another box, made and left stopped: its disk is on this host, and must be out of the probe's sight.
  const other = await runCli(["create", "--name", "jail-neighbour", "--network", "disabled"]);
  expect(other.code).toBe(0);
  const otherId = other.stdout.trim();
  const secrets = [
    secretInHome,
    join(home, "boxes", otherId, "disks", "disk.qcow2"),
    join(home, "db", "boxlite.db"),
    `/proc/${process.pid}/status`,
    "/etc/shadow",
  ];
  const dir = temp.make("jail-probe-");
  const probe = join(dir, "qemu-probe");
  writeFileSync(probe, readFileSync(join(import.meta.dir, "..", "fixtures", "jail-probe", "probe.sh"), "utf8").replace("@SECRETS@", secrets.join(" ")), {
    mode: 0o755,
  });
  const before = new Set(boxDirs());
  const env = { BOXLITE_QEMU: probe, BOXLITE_TEMPLATES: "off", BOXLITE_RUNTIME_DIR: temp.make("jail-runtime-") };
  const running = runCli(["--vmm", "qemu", "run", "--name", "jail-probe", "--network", "disabled", "--", "true"], { env });
  // Seen from outside while the probe runs: its box's cgroups, with the box's limits.
  let id = "";
  await waitFor(
    () => {
      id = boxDirs().find((name) => !before.has(name)) ?? "";
      return (
        id !== "" &&
        existsSync(join(home, "boxes", id, "logs", "console.log")) &&
        readFileSync(join(home, "boxes", id, "logs", "console.log"), "utf8").includes("probe done")
      );
    },
    60_000,
    "the probe's report",
  );
  const [memory, cpu, pids] = ["memory", "cpu", "pids"].map((name) => join("/sys/fs/cgroup", name, "boxlite", id));
  expect(Number(readFileSync(join(memory as string, "memory.limit_in_bytes"), "utf8"))).toBe((512 + MEMORY_OVERHEAD_MIB) * 1024 * 1024);
  expect(readFileSync(join(cpu as string, "cpu.cfs_quota_us"), "utf8").trim()).toBe(String((1 + CPU_OVERHEAD_CPUS) * 100_000));
  expect(readFileSync(join(pids as string, "pids.max"), "utf8").trim()).toBe(String(PIDS_MAX));
  expect(readFileSync(join(pids as string, "cgroup.procs"), "utf8").trim()).not.toBe("");
  const run = await running;
  // It never made the agent's socket: the box fails, with QEMU's (the probe's) status.
  expect(run.code).toBe(125);
  expect(run.stderr).toContain("QEMU exited with status 0 before the VM started");
  const consoleLog = join(home, "boxes", id, "logs", "console.log");
  const log = readFileSync(consoleLog, "utf8");
  const report = log
    .split("\n")
    .filter((line) => line.startsWith("probe "))
    .map((line) => line.slice("probe ".length));
  const fact = (name: string) => report.find((line) => line.startsWith(`${name}=`))?.slice(name.length + 1);
  // The box's own uid, in the jail's group only; no capability, none to gain.
  const uid = Number(/^uid=(\d+)/.exec(report[0] ?? "")?.[1]);
  expect(uid).toBeGreaterThan(JAIL_ID_BASE);
  expect(report[0]).toEndWith(`gid=${JAIL_ID_BASE} groups=${JAIL_ID_BASE}`);
  expect(fact("NoNewPrivs")).toBe("1");
  expect(fact("CapEff")).toBe("0000000000000000");
  expect(fact("CapPrm")).toBe("0000000000000000");
  expect(fact("CapBnd")).toBe("0000000000000000");
  // Nor a user namespace of its own to gain capabilities in (host/jail-enter.c, forbid_user_namespaces).
  expect(fact("userns")).toBe("refused");
  expect(fact("nofile")).toBe(String(NOFILE_MAX));
  expect(fact("core")).toBe("0");
  // Its own pid namespace, whose init it is: it sees itself and the few it runs to report (a subshell, ls, grep), nothing of the host's.
  expect(fact("pid")).toBe("1");
  expect(Number(fact("processes"))).toBeLessThanOrEqual(5);
  expect(fact("interfaces")?.trim()).toBe("lo");
  // Nothing of boxlite's environment (BOXLITE_HOME, BOXLITE_QEMU, …).
  expect(fact("environment")).not.toContain("BOXLITE");
  expect(
    fact("environment")
      ?.trim()
      .split(" ")
      .every((name) => ["HOME", "PATH", "PWD", "OLDPWD", "SHLVL", "_"].includes(name)),
  ).toBe(true);
  // Its stdin (/dev/null), stdout (/dev/null, which the shell keeps as 11 while it writes
  // the report), stderr (boxlite's, for QEMU's messages) and the script the shell reads:
  // no descriptor of boxlite's or the watchdog's besides.
  const fds = Object.fromEntries([...log.matchAll(/ (\d+) -> (.*)$/gm)].map(([, fd, target]) => [fd, target]));
  expect(Object.keys(fds).sort()).toEqual(["0", "1", "10", "11", "2"]);
  expect([fds[0], fds[11], fds[10]]).toEqual(["/dev/null", "/dev/null", probe]);
  expect(fds[2]).toMatch(/^(socket|pipe):/);
  // What it needs is there: its kernel and disks to read, its own disk to write.
  expect(report.some((line) => line.startsWith("readable ") && line.endsWith(".elf"))).toBe(true);
  expect(report).toContain(`writable ${join(home, "boxes", id, "disks", "disk.qcow2")}`);
  // What it must not see is not: the user's home, the other box's disk, the database, boxlite's own process, the host's secrets.
  expect(report.filter((line) => line.startsWith("visible ") || line.startsWith("read "))).toEqual([]);
  // The box failed; its cgroups went with its processes.
  await waitFor(() => cgroupsOf(id).length === 0, 5_000, "the box's cgroups to be removed");
  expect(Bun.spawnSync(["pgrep", "-f", id], { stdout: "pipe" }).stdout.toString().trim()).toBe("");
  expect((await runCli(["rm", "jail-probe", "jail-neighbour"])).code).toBe(0);
});

describe("a jailed box on a real VM", () => {
  let id = "";
  beforeAll(async () => {
    const created = await runCli(["run", "-d", "--name", "jailed", "--cpus", "2", "--memory", "256", "--", "sleep", "600"]);
    expect(created.code).toBe(0);
    id = created.stdout.trim();
  });
  afterAll(async () => {
    await runCli(["rm", "-f", "jailed"]);
  });

  test("its QEMU and netd run as the box's uid, in their own namespaces, QEMU under its own seccomp sandbox; the box works", async () => {
    const group = groupOf(id);
    const qemu = group.get("vmm") as number;
    const netd = group.get("net") as number;
    for (const pid of [qemu, netd]) {
      const fields = status(pid);
      expect(Number(fields.Uid?.split("\t")[0])).toBeGreaterThan(JAIL_ID_BASE);
      expect(fields.NoNewPrivs).toBe("1");
      expect(fields.CapEff).toBe("0000000000000000");
      expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`:/boxlite/${id}\n`);
    }
    expect(status(qemu).Seccomp).toBe("2");
    // One QEMU for the box: the watchdog holds the VMM while netd starts, then lets that one run.
    const qemus = readdirSync("/proc").filter((pid) => {
      try {
        return (
          /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/comm`, "utf8") === "qemu-system-x86\n" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(id)
        );
      } catch {
        return false;
      }
    });
    expect(qemus).toEqual([String(qemu)]);
    expect(readFileSync(`/proc/${qemu}/cmdline`, "utf8").split("\0")).toContain("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    const ns = (pid: number, kind: string) => Bun.spawnSync(["readlink", `/proc/${pid}/ns/${kind}`], { stdout: "pipe" }).stdout.toString();
    for (const kind of ["mnt", "pid", "net"]) expect(ns(qemu, kind)).not.toBe(ns(process.pid, kind));
    // netd is the box's way out: it keeps the host's network.
    expect(ns(netd, "net")).toBe(ns(process.pid, "net"));
    // --cpus 2 plus the overhead's CPU is three CPUs' worth of quota; --memory 256 plus its overhead.
    expect(readFileSync(`/sys/fs/cgroup/cpu/boxlite/${id}/cpu.cfs_quota_us`, "utf8").trim()).toBe(String((2 + CPU_OVERHEAD_CPUS) * 100_000));
    expect(Number(readFileSync(`/sys/fs/cgroup/memory/boxlite/${id}/memory.limit_in_bytes`, "utf8"))).toBe((256 + MEMORY_OVERHEAD_MIB) * 1024 * 1024);
    const exec = await runCli(["exec", "jailed", "--", "sh", "-c", "echo in-box; nproc"]);
    expect(exec).toMatchObject({ code: 0, stdout: "in-box\n2\n" });
  });

  test("stopped, its cgroups are gone; started again, it is jailed again", async () => {
    expect((await runCli(["stop", "jailed"])).code).toBe(0);
    expect(cgroupsOf(id)).toEqual([]);
    expect((await runCli(["start", "jailed"])).code).toBe(0);
    expect(Number(status(groupOf(id).get("vmm") as number).Uid?.split("\t")[0])).toBeGreaterThan(JAIL_ID_BASE);
    expect(cgroupsOf(id).length).toBeGreaterThan(0);
  });

  test("its owner killed, reconciliation removes its cgroups", async () => {
    const supervisor = Number(readFileSync(join(home, "boxes", id, "shim.pid"), "utf8").split("\n")[0]);
    const owner = Number(readFileSync(`/proc/${supervisor}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
    process.kill(owner, "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${supervisor}`), 10_000, "the watchdog to end the box");
    const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ box_id: string; status: string }>;
    expect(listed.find((box) => box.box_id === id)?.status).toBe("failed");
    await waitFor(async () => (await runCli(["ls", "-a"])).code === 0 && cgroupsOf(id).length === 0, 10_000, "the cgroups to be reconciled away");
  });
});

test("a krun box is jailed too: its VM process (the libkrun recorder standing in) runs as the box's uid under boxlite's seccomp filter, in its own namespaces and cgroups", async () => {
  buildRecorder();
  const env = {
    BOXLITE_LIBKRUN: RECORDER_PATH,
    // The recorder's settings, kept through the jail's clean environment (docs/security.md).
    BOXLITE_JAIL_ENV: "KRUN_RECORDER_LISTEN,KRUN_RECORDER_HOLD_MS,KRUN_RECORDER_LOG",
    KRUN_RECORDER_LISTEN: "1",
    KRUN_RECORDER_HOLD_MS: "120000",
    KRUN_RECORDER_LOG: "/dev/null",
    BOXLITE_BOOT_TIMEOUT: "4",
  };
  const before = new Set(boxDirs());
  const running = runCli(["--vmm", "krun", "run", "--name", "krun-jailed", "--network", "disabled", "--", "true"], { env });
  let id = "";
  await waitFor(
    () => {
      id = boxDirs().find((name) => !before.has(name)) ?? "";
      // Written whole only once the VM process runs: until then it may be missing or empty.
      return id !== "" && existsSync(join(home, "boxes", id, "group.pid")) && groupOf(id).has("vmm");
    },
    30_000,
    "the krun VM process",
  );
  const vm = groupOf(id).get("vmm") as number;
  // Reported as soon as it is cloned: its jail, its exec and the VM process's own filter come after.
  await waitFor(() => status(vm).Seccomp === "2", 30_000, "the krun VM process under boxlite's seccomp filter");
  expect(readFileSync(`/proc/${vm}/cmdline`, "utf8").split("\0")).toContain("__vm");
  const fields = status(vm);
  expect(Number(fields.Uid?.split("\t")[0])).toBeGreaterThan(JAIL_ID_BASE);
  expect(fields.NoNewPrivs).toBe("1");
  expect(fields.CapEff).toBe("0000000000000000");
  expect(readFileSync(`/proc/${vm}/cgroup`, "utf8")).toContain(`:/boxlite/${id}\n`);
  const ns = (pid: number) => Bun.spawnSync(["readlink", `/proc/${pid}/ns/mnt`], { stdout: "pipe" }).stdout.toString();
  expect(ns(vm)).not.toBe(ns(process.pid));
  const run = await running;
  expect(run.code).toBe(125);
  expect(run.stderr).toStartWith("boxlite: the guest did not come up within 4 s");
  expect(cgroupsOf(id)).toEqual([]);
  expect(
    Bun.spawnSync(["pgrep", "-f", `__vm ${id}`], { stdout: "pipe" })
      .stdout.toString()
      .trim(),
  ).toBe("");
  expect((await runCli(["rm", "krun-jailed"])).code).toBe(0);
});

test("a jailed box whose network process fails to start never runs its VMM, held or not, and leaves no cgroup", async () => {
  // netd fails on a port already taken, while the VMM waits for it, set up but held before its exec.
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const run = await runCli(["run", "--name", "jail-held", "-p", `127.0.0.1:${taken.port}:80`, "--", "true"]);
    expect(run.code).toBe(125);
    expect(run.stderr).toContain("Address already in use");
    const id = await idOf("jail-held");
    // Long enough for a VMM let go by the watchdog's exit to have started.
    await Bun.sleep(1500);
    const running = readdirSync("/proc").filter((pid) => {
      try {
        return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(id);
      } catch {
        return false;
      }
    });
    expect(running).toEqual([]);
    expect(cgroupsOf(id)).toEqual([]);
    expect((await runCli(["rm", "jail-held"])).code).toBe(0);
  } finally {
    taken.stop(true);
  }
});

test("--security disable is kept with the box: its VMM runs as boxlite, unconfined, at every start", async () => {
  const created = await runCli(["create", "--name", "unjailed", "--security", "disable", "--network", "disabled", "--", "sleep", "600"]);
  expect(created.code).toBe(0);
  const id = created.stdout.trim();
  for (let start = 0; start < 2; start++) {
    expect((await runCli(["start", "unjailed"])).code).toBe(0);
    const qemu = groupOf(id).get("vmm") as number;
    expect(status(qemu).Uid?.split("\t")[0]).toBe("0");
    expect(status(qemu).Seccomp).toBe("0");
    expect(cgroupsOf(id)).toEqual([]);
    expect((await runCli(["stop", "unjailed"])).code).toBe(0);
  }
  expect((await runCli(["rm", "unjailed"])).code).toBe(0);
});

test("over REST the operator decides: serve --security disable makes the server's boxes unjailed, and a request cannot name the jail", async () => {
  const server = await startServeProcess(["--security", "disable"]);
  try {
    expect(server.log()).toContain(`security="disable"`);
    const refused = await fetch(`${server.url}/v1/boxes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "rest-jail", advanced: { security: { jailer_enabled: true } } }),
    });
    expect(refused.status).toBe(400);
    const created = await fetch(`${server.url}/v1/boxes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "rest-unjailed", cmd: ["sleep", "600"], network: { mode: "disabled" } }),
    });
    expect(created.status).toBe(201);
    const preset = await fetch(`${server.url}/v1/boxes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "rest-preset", security: "maximum" }),
    });
    expect(preset.status).toBe(400);
    expect(await preset.text()).toContain("the server operator's choice (boxlite serve --security)");
    const client = await runCli(["--url", server.url, "create", "--security", "enable", "--name", "rest-client"]);
    expect(client.code).toBe(1);
    expect(client.stderr).toContain("a client cannot set --security");
  } finally {
    server.proc.kill();
    await server.proc.exited;
  }
  // Kept with the box: started from the CLI later, it is still unjailed.
  expect((await runCli(["start", "rest-unjailed"])).code).toBe(0);
  const id = await idOf("rest-unjailed");
  expect(status(groupOf(id).get("vmm") as number).Uid?.split("\t")[0]).toBe("0");
  expect((await runCli(["rm", "-f", "rest-unjailed"])).code).toBe(0);
});

test("a non-root boxlite's jailed box: QEMU, netd and fsd in user namespaces as that user, without capabilities, QEMU under seccomp; no cgroups; a volume's files land as the user", async () => {
  const dir = temp.make("jail-nonroot-");
  const volume = join(dir, "vol");
  mkdirSync(volume);
  for (const path of [dir, volume]) chownSync(path, 65534, 65534);
  // The built executable, copied where that user can run it: the checkout may sit in a
  // directory only root can enter (CI's fresh clone does).
  const dist = join(REPO, "dist", "boxlite");
  if (!existsSync(dist)) throw new Error(`${dist} is not built: run bun scripts/build.ts`);
  const binary = join(dir, "boxlite");
  copyFileSync(dist, binary);
  chmodSync(binary, 0o755);
  const as = (args: string[]) =>
    Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", binary, ...args], {
      env: { ...process.env, HOME: dir, BOXLITE_HOME: join(dir, "home"), BOXLITE_RUNTIME_DIR: join(dir, "runtime"), BOXLITE_TEMPLATES: "off" },
      stdout: "pipe",
      stderr: "pipe",
    });
  const started = as(["run", "-d", "--name", "nonroot", "-v", `${volume}:/data`, "--", "sleep", "600"]);
  expect(await started.exited).toBe(0);
  const id = (await new Response(started.stdout).text()).trim();
  try {
    const group = readFileSync(join(dir, "home", "boxes", id, "group.pid"), "utf8")
      .trim()
      .split("\n");
    expect(group.map((line) => line.split(" ")[2])).toEqual(["net", "fs", "vmm"]);
    for (const line of group) {
      const pid = Number(line.split(" ")[0]);
      const fields = status(pid);
      expect(fields.Uid?.split("\t")[0]).toBe("65534");
      expect(fields.CapEff).toBe("0000000000000000");
      expect(Bun.spawnSync(["readlink", `/proc/${pid}/ns/user`], { stdout: "pipe" }).stdout.toString()).not.toBe(
        Bun.spawnSync(["readlink", "/proc/self/ns/user"], { stdout: "pipe" }).stdout.toString(),
      );
    }
    const qemu = Number(group.find((line) => line.endsWith(" vmm"))?.split(" ")[0]);
    expect(status(qemu).Seccomp).toBe("2");
    expect(cgroupsOf(id)).toEqual([]);
    const exec = as(["exec", "nonroot", "--", "sh", "-c", "echo made > /data/made"]);
    expect(await exec.exited).toBe(0);
    expect(statSync(join(volume, "made")).uid).toBe(65534);
  } finally {
    await as(["rm", "-f", "nonroot"]).exited;
  }
});

test("--security with a bad value is refused, saying what to give", async () => {
  const run = await runCli(["run", "--rm", "--security", "maybe", "--", "true"]);
  expect(run.code).toBe(125);
  expect(run.stderr).toBe('boxlite: --security "maybe": use enable (the jail around the VMM, docs/security.md) or disable\n');
  const serve = await runCli(["serve", "--security", "off"]);
  expect(serve.code).toBe(2);
  expect(serve.stderr).toContain('--security "off": use enable or disable');
});

test("a jailed process that cannot start (a VMM the box's uid may not run) fails the box's start with the jail's reason, and leaves no process or cgroup; disable still runs", async () => {
  // Root may run it; the box's uid, which the jail drops QEMU to before its exec, may not.
  const qemu = join(temp.make("jail-private-"), "qemu");
  writeFileSync(qemu, '#!/bin/sh\nexec /usr/bin/qemu-system-x86_64 "$@"\n', { mode: 0o700 });
  const env = { BOXLITE_QEMU: qemu, BOXLITE_TEMPLATES: "off" };
  const run = await runCli(["run", "--name", "private-qemu", "--", "true"], { env });
  expect(run.code).toBe(125);
  expect(run.stderr).toContain(`vmm-watch: jail: running ${qemu}: Permission denied`);
  const id = await idOf("private-qemu");
  expect(cgroupsOf(id)).toEqual([]);
  expect(Bun.spawnSync(["pgrep", "-f", id], { stdout: "pipe" }).stdout.toString().trim()).toBe("");
  const unjailed = await runCli(["run", "--rm", "--security", "disable", "--", "echo", "ran"], { env });
  expect(unjailed).toMatchObject({ code: 0, stdout: "ran\n" });
  expect((await runCli(["rm", "private-qemu"])).code).toBe(0);
});

test("boxlite info reports every layer of the jail on this host, and why any is off", async () => {
  const info = JSON.parse((await runCli(["info", "--json"])).stdout) as {
    security: { default: string; cgroup: string; refusal?: string; layers: Record<string, { active: boolean; reason: string }> };
  };
  expect(info.security.default).toBe("enable");
  expect(info.security.refusal).toBeUndefined();
  expect(Object.keys(info.security.layers).sort()).toEqual(["cgroups", "filesystem", "namespaces", "rlimits", "seccomp", "uid"]);
  expect(Object.values(info.security.layers).every((layer) => layer.active)).toBe(true);
  expect(info.security.cgroup).toBe(existsSync("/sys/fs/cgroup/cgroup.controllers") ? "v2" : "v1");
  const text = await runCli(["info"]);
  expect(text.stdout).toMatch(/^Jail ns: +on: mount, pid, ipc, uts, cgroup and network namespaces/m);
  expect(text.stdout).toMatch(/^Security: +enable by default \(--security\); every layer a jailed box needs is here$/m);
  expect(text.stdout).toMatch(/^Jail uid: +on: the VMM and the network process run as the box's own unprivileged uid$/m);
});
