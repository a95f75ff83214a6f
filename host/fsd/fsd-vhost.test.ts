/**
 * fsd's vhost-user half: its C tests (rings, messages, a front-end playing QEMU) under
 * ASan/UBSan, its command line, and a real QEMU whose guest kernel mounts a share as its
 * root through fsd.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { prepareKernel } from "../../src/vmm/kernel/kernel.ts";
import { qemuArgs, SHARES_TAG } from "../../src/vmm/qemu/args.ts";
import { findQemu } from "../../src/vmm/qemu/binary.ts";
import { waitFor } from "../../test/helpers/cli.ts";
import { TempDirs } from "../../test/helpers/temp.ts";

const temp = new TempDirs();
const out = temp.make("fsd-build-");
// The fsd the C tests drive: built with sanitizers, with the real FUSE half once it is here.
const fsd = join(out, "fsd-test", "fsd");
const started: Bun.Subprocess[] = [];

async function make(target: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(["make", "-C", import.meta.dir, `OUT=${out}`, target], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${stdout}\n${stderr}` };
}

/** Starts a process that afterAll kills if the test has not ended it. */
function start(argv: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.push(proc);
  return proc;
}

/** Collects a stream's text as it comes, for polling. */
function collect(stream: ReadableStream<Uint8Array>): { text: string } {
  const sink = { text: "" };
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
  })();
  return sink;
}

beforeAll(async () => {
  const built = await make(fsd);
  if (built.code !== 0) throw new Error(`building fsd failed:\n${built.output}`);
});

afterAll(async () => {
  for (const proc of started) proc.kill("SIGKILL");
  await Promise.all(started.map((proc) => proc.exited));
  temp.removeAll();
});

test("fsd's C tests pass", async () => {
  const run = await make("test");
  if (run.code !== 0) console.log(run.output);
  expect(run.output).toMatch(/test_virtq: \d+ checks passed/);
  expect(run.output).toMatch(/test_frontend: \d+ checks passed/);
  expect(run.code).toBe(0);
});

test("fsd refuses a bad command line with a line naming the problem, and exit code 2", async () => {
  const dir = temp.make("fsd-args-");
  const sock = join(dir, "s.sock");
  const cases: [string[], number, RegExp][] = [
    [[], 2, /^usage: fsd /],
    [["--share"], 2, /^fsd: --share needs a value: NAME:ROOT/],
    [["--socket", sock, "--share", "data"], 2, /^fsd: --share data: want NAME:ROOT\[:ro\]\[:file=FILE\] with an absolute ROOT/],
    [["--socket", sock, "--share", `data:${dir}:rw`], 2, /^fsd: --share .*: bad or repeated option "rw"/],
    [["--share", `data:${dir}`], 2, /^fsd: no --socket given/],
    [["--socket", sock, "--share", `a:${dir}`, "--share", `a:${dir}`], 2, /^fsd: --share: name a is given twice/],
    [["--frobnicate"], 2, /^fsd: unknown argument "--frobnicate"/],
    // A root that cannot be opened, or a name the device's root cannot hold, is not a usage error: exit 1.
    [["--socket", sock, "--share", `data:${join(dir, "missing")}`], 1, /^fsd: share data: open\(.*missing\): No such file or directory/],
    [["--socket", sock, "--share", `a b:${dir}`], 1, /^fsd: share name "a b": want 1 to 36 of \[A-Za-z0-9_.-\]/],
  ];
  for (const [args, code, message] of cases) {
    const proc = start([fsd, ...args]);
    const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect({ args, exitCode, stderr }).toEqual({ args, exitCode: code, stderr: expect.stringMatching(message) });
  }
  expect(existsSync(sock)).toBe(false);
});

// Every inode the guest holds may want a descriptor: fsd takes all the hard limit allows.
test("fsd raises its soft descriptor limit to the hard one", async () => {
  const dir = temp.make("fsd-nofile-");
  const socketPath = join(dir, "fs.sock");
  const server = start(["prlimit", "--nofile=100:4096", fsd, "--socket", socketPath, "--share", `data:${dir}`]);
  await waitFor(() => existsSync(socketPath) || server.exitCode !== null, 10_000, "fsd's socket");
  expect(readFileSync(`/proc/${server.pid}/limits`, "utf8")).toMatch(/Max open files\s+4096\s+4096/);
  server.kill("SIGTERM");
  expect(await server.exited).toBe(0);
});

/**
 * Boots a guest whose root filesystem is fsd's one device (no disk), serving dir as the share
 * "data" and an empty read-only share "extra": the kernel mounts it itself (FUSE_INIT,
 * GETATTR, LOOKUPs through the request queue), runs `init` (a path in the guest), and reboots
 * when that fails or returns, which ends QEMU (-no-reboot). Mounting a share where a box
 * wants it is the guest agent's job, not tested here. fsd's log, QEMU's stderr and the
 * console, once QEMU and fsd have exited.
 */
async function bootOnShare(dir: string, init: string): Promise<{ log: string; qemuErr: string; console: string; fsdExit: number }> {
  const config = loadConfig();
  const kernel = await prepareKernel(config);
  const socketPath = join(dir, "fs.sock");
  const consolePath = join(dir, "console.log");
  const extra = temp.make("fsd-extra-");
  const server = start([fsd, "--verbose", "--socket", socketPath, "--share", `data:${dir}`, "--share", `extra:${extra}:ro`]);
  const log = collect(server.stderr);
  await waitFor(() => existsSync(socketPath) || server.exitCode !== null, 10_000, "fsd's socket");
  const machine = { accelerator: "tcg", kernelPath: kernel.elfPath, consolePath, memoryMib: 128, cpus: 1, sharesSocket: socketPath };
  const device = { kind: "fs", tag: "data", hostPath: dir, readOnly: false } as const;
  const qemu = start([findQemu(config), ...qemuArgs(machine, [device], [`root=${SHARES_TAG}`, "rootfstype=virtiofs", `init=${init}`])]);
  const qemuErr = collect(qemu.stderr);
  try {
    await waitFor(() => qemu.exitCode !== null, 90_000, "the guest to run /init on its virtio-fs root and reboot");
  } finally {
    qemu.kill("SIGKILL");
    await qemu.exited;
  }
  // QEMU gone: its connection closed, fsd is done.
  const fsdExit = await server.exited;
  expect(existsSync(socketPath)).toBe(false);
  return { log: log.text, qemuErr: qemuErr.text, console: await Bun.file(consolePath).text(), fsdExit };
}

test("a real guest mounts its root through fsd: QEMU negotiates, maps guest RAM and starts both rings, the kernel's FUSE requests are answered, fsd exits 0 when QEMU goes", async () => {
  const { log, qemuErr, console: consoleText, fsdExit } = await bootOnShare(temp.make("fsd-qemu-"), "/init");
  expect(qemuErr).toBe("");
  // QEMU acks the protocol features (bit 30). VIRTIO_F_VERSION_1 only when the transport is
  // modern: virtio-mmio is legacy unless QEMU is told virtio-mmio.force-legacy=false.
  const features = BigInt(log.match(/features (0x[0-9a-f]+)/)?.[1] ?? "0");
  expect(features & (1n << 30n)).toBe(1n << 30n);
  expect(log).toMatch(/mem table: \d region\(s\)/);
  expect(log).toMatch(/ring 0 started[^\n]*\n[\s\S]*ring 0 enabled/);
  expect(log).toMatch(/ring 1 started[^\n]*\n[\s\S]*ring 1 enabled[\s\S]*ring 1 served/);
  expect(log).not.toMatch(/malformed|not supported|broken|bad descriptor/);
  // The root was mounted: the kernel got as far as running /init from it (there is none: the root holds the shares alone).
  expect(consoleText).toContain("Requested init /init failed");
  expect(fsdExit).toBe(0);
});

// The guest runs a program from a share, sees every share in the root, and reads a file the host wrote.
test("a guest runs /data/init from a share, lists the shares in the root, and reads what the host wrote", async () => {
  const built = await make(join(out, "fsd-test", "guest_init"));
  expect(built.code).toBe(0);
  const dir = temp.make("fsd-root-");
  copyFileSync(join(out, "fsd-test", "guest_init"), join(dir, "init"));
  mkdirSync(join(dir, "dev"));
  const token = `written on the host ${Date.now()}`;
  writeFileSync(join(dir, "hello.txt"), token);
  const { console: consoleText, fsdExit } = await bootOnShare(dir, "/data/init");
  expect(consoleText).toContain(`fsd guest root: data extra; read: ${token}`);
  expect(fsdExit).toBe(0);
});
