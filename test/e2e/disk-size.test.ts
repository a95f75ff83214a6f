/**
 * `--disk-size GB`: a box's disk is that many GiB (never less than its image), the guest
 * grows the filesystem to fill it at start, the size lasts across stop and start, a disk
 * enlarged later is grown at its next start, and a grow the kernel refuses fails the start
 * with the reason. Bad values are refused before anything is made.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, runCli } from "../helpers/cli.ts";
import { startServeProcess } from "../helpers/serve.ts";
import { TempDirs } from "../helpers/temp.ts";

const GIB_KB = 1024 * 1024;
const temps = new TempDirs();

afterAll(async () => {
  await runCli(["rm", "-f", "ds-keep", "ds-later", "ds-refused"]);
  temps.removeAll();
});

/** The size of / in KiB as `df -k /` prints it (busybox: Filesystem 1K-blocks Used Available Use% Mounted on). */
function rootKb(dfOutput: string): number {
  const line = dfOutput.split("\n").find((row) => row.trim().endsWith(" /"));
  if (!line) throw new Error(`no / in df output: ${dfOutput}`);
  return Number(line.trim().split(/\s+/)[1]);
}

function boxDir(id: string): string {
  return join(process.env.BOXLITE_HOME as string, "boxes", id);
}

function consoleLog(id: string): string {
  return readFileSync(join(boxDir(id), "logs", "console.log"), "utf8");
}

async function boxId(name: string): Promise<string> {
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ box_id: string; name: string | null }>;
  const found = listed.find((entry) => entry.name === name);
  if (!found) throw new Error(`no box ${name}`);
  return found.box_id;
}

/** ext4's metadata (inode tables, the journal) takes a few percent of the device: the size is near n GiB, never over. */
function expectAbout(kb: number, gib: number): void {
  expect(kb).toBeLessThanOrEqual(gib * GIB_KB);
  expect(kb).toBeGreaterThan(gib * GIB_KB * 0.95);
}

test("run --disk-size 8: / is about 8 GiB, and a 2 GiB file fits", async () => {
  const result = await runCli(["run", "--rm", "--disk-size", "8", "--", "sh", "-c", "df -k / && fallocate -l 2G /big && ls -l /big"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expectAbout(rootKb(result.stdout), 8);
  expect(result.stdout).toContain(` ${2 * 1024 ** 3} `);
});

test("through a server (REST disk_size_gb) the box gets the size too", async () => {
  const server = await startServeProcess();
  try {
    const result = await runCli(["--url", server.url, "run", "--rm", "--disk-size", "3", "--", "df", "-k", "/"]);
    expect(result.code).toBe(0);
    expectAbout(rootKb(result.stdout), 3);
  } finally {
    server.proc.kill();
    await server.proc.exited;
  }
});

test("without --disk-size the disk stays its image's size (1 GiB free), and a 2 GiB file does not fit", async () => {
  const result = await runCli(["run", "--rm", "--", "sh", "-c", "df -k /; fallocate -l 2G /big; echo rc=$?"]);
  expect(result.code).toBe(0);
  const kb = rootKb(result.stdout);
  expect(kb).toBeLessThan(2 * GIB_KB);
  expect(kb).toBeGreaterThan(GIB_KB / 2);
  expect(result.stdout).toContain("rc=1");
  expect(result.stderr).toContain("No space left on device");
});

test("the grown size lasts across stop and start, and a disk that fills its filesystem is not grown again", async () => {
  expect((await runCli(["create", "--name", "ds-keep", "--disk-size", "4", "--", "sleep", "3600"])).code).toBe(0);
  expect((await runCli(["start", "ds-keep"])).code).toBe(0);
  const id = await boxId("ds-keep");
  const first = await runCli(["exec", "ds-keep", "--", "sh", "-c", "df -k / && echo kept > /root/marker"]);
  expectAbout(rootKb(first.stdout), 4);
  const firstConsole = consoleLog(id);
  expect(firstConsole).toMatch(/boxlite-guest: grew the rootfs on \/dev\/vdb from \d+ MiB to 4096 MiB/);

  expect((await runCli(["stop", "-t", "5", "ds-keep"])).code).toBe(0);
  expect((await runCli(["start", "ds-keep"])).code).toBe(0);
  const second = await runCli(["exec", "ds-keep", "--", "sh", "-c", "df -k / && cat /root/marker"]);
  expect(rootKb(second.stdout)).toBe(rootKb(first.stdout));
  expect(second.stdout).toEndWith("kept\n");
  // The second boot's console (appended to the first's, or on its own) says nothing was grown.
  const after = consoleLog(id);
  const secondBoot = after.startsWith(firstConsole) ? after.slice(firstConsole.length) : after;
  expect(secondBoot).toContain("boxlite-guest: configured");
  expect(secondBoot).not.toContain("grew the rootfs");
});

test("a disk made larger after the box was (as a restored or imported disk can be) is grown at the next start", async () => {
  expect((await runCli(["create", "--name", "ds-later", "--", "sleep", "3600"])).code).toBe(0);
  const id = await boxId("ds-later");
  // qemu-img only in tests: the box's overlay, 3 GiB now, as if another disk had replaced it.
  const resized = Bun.spawnSync(["qemu-img", "resize", "-q", join(boxDir(id), "disks", "disk.qcow2"), "3G"]);
  expect(resized.exitCode).toBe(0);
  expect((await runCli(["start", "ds-later"])).code).toBe(0);
  expectAbout(rootKb((await runCli(["exec", "ds-later", "--", "df", "-k", "/"])).stdout), 3);
});

test("a grow the kernel refuses fails the start with the reason, on the console and in the box's error", async () => {
  // An ext4 with sparse_super2, which the kernel will not resize online, under a 4 GiB overlay.
  const dir = temps.make("boxlite-ds-");
  const rootfs = join(dir, "rootfs");
  const base = join(dir, "base.ext4");
  const unpack = Bun.spawnSync(["sh", "-c", `mkdir ${rootfs} && tar xzf ${join(REPO, "build", "image", "default-rootfs.tar.gz")} -C ${rootfs}`]);
  expect(unpack.exitCode).toBe(0);
  const mkfs = Bun.spawnSync(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-O", "sparse_super2", "-d", rootfs, base, "64M"]);
  expect(mkfs.exitCode).toBe(0);
  expect((await runCli(["create", "--name", "ds-refused", "--disk-size", "4", "--", "sleep", "3600"])).code).toBe(0);
  const id = await boxId("ds-refused");
  const rebase = Bun.spawnSync(["qemu-img", "rebase", "-u", "-b", base, "-F", "raw", join(boxDir(id), "disks", "disk.qcow2")]);
  expect(rebase.exitCode).toBe(0);

  const started = await runCli(["start", "ds-refused"]);
  expect(started.code).not.toBe(0);
  const reason = "grow the rootfs on /dev/vdb from 64 MiB to 4096 MiB: ioctl(EXT4_IOC_RESIZE_FS): Not supported";
  expect(started.stderr).toContain(`the guest could not apply the box's configuration: ${reason}`);
  expect(consoleLog(id)).toContain("boxlite-guest: ioctl(EXT4_IOC_RESIZE_FS)(/rootfs): Not supported");
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ box_id: string; status: string; error_reason: string | null }>;
  const box = listed.find((entry) => entry.box_id === id);
  expect(box?.status).toBe("failed");
  expect(box?.error_reason).toContain(reason);
});

describe("bad --disk-size values are refused, saying what is allowed, and nothing is made", () => {
  const outOfRange = (value: string) => new RegExp(`--disk-size \\(GB\\) ${value} is out of range; use a whole number from 1 to 2048`);
  const notWhole = (value: string) => new RegExp(`--disk-size "${value}" is not a whole number`);
  // run fails as docker's does (125); create as other commands: 2 for a malformed flag, 1 for a bad value.
  const cases: Array<[string, string[], RegExp, number]> = [
    ["0", ["--disk-size", "0"], outOfRange("0"), 1],
    ["a negative size", ["--disk-size=-1"], outOfRange("-1"), 1],
    ["more than 2048", ["--disk-size", "2049"], outOfRange("2049"), 1],
    ["a fraction", ["--disk-size", "1.5"], notWhole("1.5"), 2],
    ["a unit", ["--disk-size", "8G"], notWhole("8G"), 2],
  ];
  for (const [what, flags, message, createCode] of cases) {
    for (const command of ["run", "create"]) {
      test(`${command}: ${what}`, async () => {
        const before = (await runCli(["ls", "-a", "-q"])).stdout;
        const result = await runCli([command, ...(command === "run" ? ["--rm"] : []), ...flags, "--", "true"]);
        expect(result.code).toBe(command === "run" ? 125 : createCode);
        expect(result.stdout).toBe("");
        expect(result.stderr).toMatch(message);
        expect((await runCli(["ls", "-a", "-q"])).stdout).toBe(before);
      });
    }
  }
});
