/**
 * The walls inside a box's VM (docs/security.md, "Inside the VM"), on real VMs: the capability
 * sets a command holds by default, with --cap-drop ALL and with --cap-add NET_ADMIN; the box's
 * own pid, ipc and uts namespaces; what a root command cannot reach (the agent's channel, the
 * VM's disks, kernel modules, /proc/sys); and hostile workloads (a fork bomb, a memory hog, a
 * disk filler, a process that closes every descriptor) after which the box still answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/index.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const temp = new TempDirs();
let box = "";

beforeAll(async () => {
  box = await runtime.create({ cmd: ["sleep", "3600"], memoryMib: 256 });
  await runtime.start(box);
});

afterAll(async () => {
  if (box) await runtime.removeBox(box, { force: true });
  temp.removeAll();
});

interface Shell {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` with sh in the shared box (or options.box). */
async function sh(script: string, options: { user?: string; box?: string } = {}): Promise<Shell> {
  let stdout = "";
  let stderr = "";
  const decoder = new TextDecoder();
  const exec = await runtime.exec(
    options.box ?? box,
    { command: ["sh", "-c", script], ...(options.user ? { user: options.user } : {}) },
    {
      onStdout: (bytes) => {
        stdout += decoder.decode(bytes);
      },
      onStderr: (bytes) => {
        stderr += decoder.decode(bytes);
      },
    },
  );
  const { code } = await exec.done;
  return { code, stdout, stderr };
}

/** The capability lines and NoNewPrivs of /proc/self/status, as `Name: value` pairs. */
function capabilities(status: string): Record<string, string> {
  const lines = status.split("\n").filter((line) => /^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):/.test(line));
  return Object.fromEntries(lines.map((line) => line.split(/:\s+/) as [string, string]));
}

const STATUS = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status";
/** docker's 14 as a mask: what `docker run alpine grep CapEff /proc/self/status` shows. */
const DOCKER_DEFAULT = "00000000a80425fb";

describe("capabilities", () => {
  test("a root command holds docker's default 14 in its bounding, permitted and effective sets, none inheritable or ambient, without no_new_privs", async () => {
    const result = await sh(STATUS);
    expect(capabilities(result.stdout)).toEqual({
      CapInh: "0000000000000000",
      CapPrm: DOCKER_DEFAULT,
      CapEff: DOCKER_DEFAULT,
      CapBnd: DOCKER_DEFAULT,
      CapAmb: "0000000000000000",
      NoNewPrivs: "0",
    });
  });

  test("a non-root command keeps only the bounding set, as under docker", async () => {
    const result = await sh(STATUS, { user: "nobody" });
    expect(capabilities(result.stdout)).toMatchObject({ CapPrm: "0000000000000000", CapEff: "0000000000000000", CapBnd: DOCKER_DEFAULT });
  });

  test("--cap-drop ALL leaves nothing, with no_new_privs", async () => {
    const result = await runCli(["run", "--rm", "--cap-drop", "ALL", "--", "sh", "-c", STATUS]);
    expect(result.code).toBe(0);
    expect(capabilities(result.stdout)).toEqual({
      CapInh: "0000000000000000",
      CapPrm: "0000000000000000",
      CapEff: "0000000000000000",
      CapBnd: "0000000000000000",
      CapAmb: "0000000000000000",
      NoNewPrivs: "1",
    });
  });

  test("--cap-add NET_ADMIN (any case, CAP_ optional) adds bit 12, and the command can then change a link, which the default cannot", async () => {
    const script = `${STATUS}; ip link set lo mtu 1400 && echo changed`;
    const added = await runCli(["run", "--rm", "--cap-add", "cap_net_admin", "--", "sh", "-c", script]);
    expect(capabilities(added.stdout)).toMatchObject({ CapEff: "00000000a80435fb", CapBnd: "00000000a80435fb", NoNewPrivs: "0" });
    expect(added.stdout).toContain("changed");
    const refused = await sh("ip link set lo mtu 1400 && echo changed");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Operation not permitted");
  });

  test("an unknown or malformed name is an invalid_argument before any VM starts", async () => {
    for (const name of ["NET_ADMINN", "CAP_", "net admin"]) {
      const result = await runCli(["run", "--rm", "--cap-add", name, "--", "true"]);
      expect(result.code).toBe(125);
      expect(result.stderr).toContain(`unknown Linux capability ${JSON.stringify(name)} in --cap-add`);
    }
  });
});

describe("namespaces", () => {
  test("an exec sees the box's processes only: its init as pid 1 and the main command, not the agent or the kernel's threads", async () => {
    const result = await sh("for p in /proc/[0-9]*; do echo $(basename $p) $(cat $p/comm); done");
    const processes = result.stdout.trim().split("\n");
    expect(processes[0]).toBe("1 box-init");
    expect(processes.some((line) => line.endsWith(" sleep"))).toBe(true);
    // The agent is `init` (PID 1 of the VM), the kernel's threads kthreadd, ksoftirqd/0, ...
    expect(processes.some((line) => / (init|kthreadd|ksoftirqd\/\d+)$/.test(line))).toBe(false);
    expect(processes.length).toBeLessThan(8);
  });

  test("SIGKILL to pid 1 from the box does nothing: the box's init and every command live on", async () => {
    const result = await sh('kill -9 1; sleep 0.2; cat /proc/1/comm; for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = sleep ] && echo main-alive; done');
    expect(result.stdout).toBe("box-init\nmain-alive\n");
  });

  test("execs share one uts namespace, apart from the agent's: the hostname is the box's and cannot be changed", async () => {
    const first = await sh("hostname; hostname other");
    expect(first.stdout.trim()).toBe(box.slice(-12));
    expect(first.stderr).not.toBe("");
    expect((await sh("hostname")).stdout.trim()).toBe(box.slice(-12));
  });
});

describe("what a root command cannot reach", () => {
  test("a node it makes for the agent's channel or the system disk cannot be opened (the box's device cgroup)", async () => {
    const channel = "$(cat /sys/class/virtio-ports/vport*p1/dev | tr : ' ')";
    const result = await sh(
      `mknod /tmp/channel c ${channel} && echo made; echo HELLO > /tmp/channel; mknod /tmp/vda b $(cat /sys/block/vda/dev | tr : ' ') && echo made; head -c 1 /tmp/vda`,
    );
    expect(result.stdout).toBe("made\nmade\n");
    expect(result.stderr.match(/Operation not permitted/g)?.length).toBe(2);
  });

  test("it cannot mount the system disk, load a kernel module, or write /proc/sys and /sys", async () => {
    const mount = await sh("mknod /tmp/sys b $(cat /sys/block/vda/dev | tr : ' '); mkdir -p /mnt/sys; mount -t ext4 -o ro /tmp/sys /mnt/sys");
    expect(mount.code).not.toBe(0);
    expect(mount.stderr).toContain("denied");
    const module = await sh("head -c 4096 /dev/zero > /tmp/m.ko; insmod /tmp/m.ko");
    expect(module.code).not.toBe(0);
    const sysctl = await sh("echo '|/tmp/x' > /proc/sys/kernel/core_pattern");
    expect(sysctl.stderr).toContain("Read-only file system");
    const sysfs = await sh("echo 1 > /sys/kernel/mm/ksm/run");
    expect(sysfs.stderr).toContain("Read-only file system");
    expect((await sh("echo alive")).stdout).toBe("alive\n");
  });
});

/** What socket(AF_VSOCK) and io_uring_setup answer in the box: a static probe built with musl-gcc (the guest agent's compiler). */
const PROBE = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  char params[120] = {0};
  int s = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
  printf("vsock: %s\\n", s < 0 ? strerror(errno) : "opened");
  long r = syscall(425 /* io_uring_setup */, 1, params);
  printf("io_uring: %s\\n", r < 0 ? strerror(errno) : "set up");
  return 0;
}
`;

test("neither vsock (the agent's channel under libkrun) nor io_uring is open to a root command", async () => {
  const dir = temp.make("inside-vm-probe-");
  writeFileSync(join(dir, "probe.c"), PROBE);
  const built = Bun.spawnSync(["musl-gcc", "-static", "-O1", "-o", join(dir, "probe"), join(dir, "probe.c")]);
  expect(built.exitCode, built.stderr.toString()).toBe(0);
  await runtime.copyToBox(join(dir, "probe"), box, "/probe");
  expect((await sh("/probe")).stdout).toBe("vsock: Operation not permitted\nio_uring: Operation not permitted\n");
});

test("the box's init holds no capability and cannot be inspected: a command that could ptrace it would gain nothing", async () => {
  const result = await sh("grep -E '^(CapEff|CapBnd)' /proc/1/status; ls /proc/1/root/");
  expect(result.stdout).toBe("CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n");
  expect(result.stderr).toContain("Permission denied");
});

describe("hostile workloads", () => {
  test("a fork bomb hits the box's pids limit, and the agent (outside that cgroup) still starts commands while it runs", async () => {
    // A box of its own: the bomb outlives its exec, and only stopping the box ends it for sure.
    const bombed = await runtime.create({ cmd: ["sleep", "3600"], memoryMib: 256 });
    try {
      await runtime.start(bombed);
      // Asked while the bomb's exec still runs: once it ends, its process group (the bomb) may go with it.
      const bombing = sh("bomb() { bomb | bomb & }; bomb; sleep 30", { box: bombed });
      await Bun.sleep(2_000);
      const started = performance.now();
      // Builtins only: at the limit the exec's own shell cannot fork either.
      const during = await sh("echo alive; set -- /proc/[0-9]*; echo $#", { box: bombed });
      const bomb = await bombing;
      expect(bomb.stderr).toContain("can't fork: Resource temporarily unavailable");
      expect(during.stdout.startsWith("alive\n")).toBe(true);
      expect(Number(during.stdout.split("\n")[1])).toBeGreaterThan(3);
      console.log(`an exec during the fork bomb answered in ${Math.round(performance.now() - started)} ms`);
    } finally {
      await runtime.removeBox(bombed, { force: true });
    }
  }, 180_000);

  test("a memory hog is killed by the OOM killer, never the agent: the box answers, and its VMM stays within the box's memory", async () => {
    const hog = await sh("x=0123456789abcdef; while true; do x=$x$x; done");
    expect(hog.code).toBe(137);
    expect((await sh("echo alive")).stdout).toBe("alive\n");
    const vmm = Bun.spawnSync(["pgrep", "-f", `^[^ ]*qemu-system-x86_64 .*${box}`])
      .stdout.toString()
      .trim()
      .split("\n")[0];
    const rssKib = Number(readFileSync(`/proc/${vmm}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1]);
    // The guest's 256 MiB, touched by the hog, plus QEMU's own (~40 MiB measured).
    expect(rssKib).toBeGreaterThan(0);
    expect(rssKib).toBeLessThan((256 + 160) * 1024);
  }, 180_000);

  test("a disk filler gets ENOSPC, and the box answers and frees it", async () => {
    const fill = await sh("fallocate -l $(( $(df -k / | awk 'NR==2{print $4}') * 1024 - 65536 )) /fill && dd if=/dev/zero of=/fill2 bs=1M count=64");
    expect(fill.code).not.toBe(0);
    expect(fill.stderr).toContain("No space left on device");
    expect((await sh("rm -f /fill /fill2; echo alive")).stdout).toBe("alive\n");
  }, 180_000);

  test("a process that closes every descriptor still exits with its code", async () => {
    const result = await sh("exec 0<&- 1>&- 2>&-; sleep 0.2; exit 5");
    expect(result).toEqual({ code: 5, stdout: "", stderr: "" });
  });
});
