/**
 * The krun backend through the CLI, with the libkrun recorder standing in for libkrun
 * (there is none on these hosts): `boxlite info` shows the backend `auto` chose and why
 * the other was rejected, and a box forced onto a "libkrun" whose VM never answers fails
 * cleanly — recorded as failed with the reason, and no VM process left behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { buildRecorder, newCallLog, RECORDER_PATH, readCalls } from "../fixtures/libkrun-recorder/recorder.ts";
import type { RuntimeInfo } from "../../src/runtime/api.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

beforeAll(() => {
  buildRecorder();
});

/** A runtime directory of its own: the krun probe's verdict is cached there. */
const temp = new TempDirs();
afterAll(() => temp.removeAll());
const freshRuntime = () => temp.make("krun-runtime-");

test("boxlite info: auto picks krun when its probe VM boots, and says why qemu was not used", async () => {
  const result = await runCli(["info", "--json"], {
    env: {
      BOXLITE_RUNTIME_DIR: freshRuntime(),
      BOXLITE_LIBKRUN: RECORDER_PATH,
      KRUN_RECORDER_CONSOLE: "boxlite-guest: probe ok",
      KRUN_RECORDER_LOG: "/dev/null",
    },
  });
  expect(result.stderr).toBe("");
  const { vmm } = JSON.parse(result.stdout) as Pick<RuntimeInfo, "vmm">;
  expect(vmm).toMatchObject({
    backend: "krun",
    binary: RECORDER_PATH,
    accelerator: "kvm",
    rejected: [{ name: "qemu", reason: "not needed: krun works here" }],
  });
  expect(vmm.reason).toContain("a probe VM booted and powered off");
  // No suspend under krun (docs/suspend.md): the owner refuses it the same way (src/runtime/suspend.test.ts).
  expect(vmm.suspend).toEqual({ enabled: false, reason: "libkrun has no snapshot API: boxes cannot be suspended" });
  // Nor memory templates (docs/templates.md): every krun box boots cold.
  expect(vmm.templates).toEqual({ enabled: false, reason: "libkrun has no snapshot API: every box boots cold" });
});

test("boxlite info: auto falls back to qemu when libkrun is absent or its probe VM does not boot, naming the reason", async () => {
  const [absent, silent] = await Promise.all([
    runCli(["info"], { env: { BOXLITE_RUNTIME_DIR: freshRuntime(), BOXLITE_LIBKRUN: "/nonexistent/libkrun.so.1" } }),
    runCli(["info"], { env: { BOXLITE_RUNTIME_DIR: freshRuntime(), BOXLITE_LIBKRUN: RECORDER_PATH, KRUN_RECORDER_EXIT: "1", KRUN_RECORDER_LOG: "/dev/null" } }),
  ]);
  expect(absent.code).toBe(0);
  expect(absent.stdout).toMatch(/^VMM: +qemu /m);
  expect(absent.stdout).toMatch(/^Rejected krun: +libkrun was not found; tried \/nonexistent\/libkrun\.so\.1; install libkrun ≥ 1\.18\.0/m);
  expect(silent.code).toBe(0);
  expect(silent.stdout).toMatch(/^VMM: +qemu /m);
  expect(silent.stdout).toContain(`Rejected krun: libkrun ${RECORDER_PATH} loads, but a probe VM failed (exit 1)`);
});

test("--vmm krun without libkrun: a clear error naming what to install", async () => {
  const result = await runCli(["--vmm", "krun", "run", "--rm", "--", "true"], { env: { BOXLITE_LIBKRUN: "/nonexistent/libkrun.so.1" } });
  expect(result.code).toBe(125);
  expect(result.stderr).toStartWith("boxlite: libkrun was not found; tried /nonexistent/libkrun.so.1; install libkrun ≥ 1.18.0");
});

test("a box whose krun VM never answers fails within the boot timeout: recorded failed, and no VM process is left", async () => {
  const env = {
    BOXLITE_LIBKRUN: RECORDER_PATH,
    KRUN_RECORDER_LISTEN: "1",
    KRUN_RECORDER_HOLD_MS: "120000",
    KRUN_RECORDER_LOG: "/dev/null",
    BOXLITE_BOOT_TIMEOUT: "2",
  };
  // Unjailed: the recorder reads its settings from the environment the jail clears (a jailed krun box: test/e2e/jail.test.ts).
  const run = await runCli(["--vmm", "krun", "run", "--name", "krun-silent", "--security", "disable", "--", "true"], { env });
  expect(run.code).toBe(125);
  expect(run.stderr).toStartWith("boxlite: the guest did not come up within 2 s\n--- console tail");
  const listed = await runCli(["ls", "-a", "--json"]);
  const box = (JSON.parse(listed.stdout) as Array<{ name: string; status: string; error_reason: string | null }>).find((entry) => entry.name === "krun-silent");
  expect(box?.status).toBe("failed");
  const left = Bun.spawnSync(["pgrep", "-f", "__vm"], { stdout: "pipe" }).stdout.toString().trim();
  expect(left).toBe("");
  expect((await runCli(["rm", "krun-silent"])).code).toBe(0);
});

test("under krun a box with the network gets netd's socket as its NIC, after its disks and before the VM starts; netd ends with the box", async () => {
  const log = newCallLog(temp);
  const env = {
    BOXLITE_LIBKRUN: RECORDER_PATH,
    KRUN_RECORDER_LISTEN: "1",
    KRUN_RECORDER_HOLD_MS: "120000",
    KRUN_RECORDER_LOG: log,
    BOXLITE_BOOT_TIMEOUT: "2",
    BOXLITE_DNS: "127.0.0.1:9",
  };
  // Unjailed: the recorder writes its call log outside the view the jail gives the VM process.
  const run = await runCli(["--vmm", "krun", "run", "--name", "krun-net", "--security", "disable", "-p", "127.0.0.1::80", "--", "true"], { env });
  expect(run.code).toBe(125);
  const calls = readCalls(log).map((record) => record.call);
  const net = readCalls(log).find((record) => record.call === "krun_add_net_unixstream");
  expect(net?.args).toMatchObject({ c_mac: "5a:94:ef:e4:0c:ee", fd: -1 });
  expect(String(net?.args.c_path)).toEndWith("/net.sock");
  const lastDisk = calls.lastIndexOf("krun_add_disk2");
  expect(lastDisk).toBeGreaterThanOrEqual(0);
  expect(calls.indexOf("krun_add_net_unixstream")).toBeGreaterThan(lastDisk);
  expect(calls.indexOf("krun_start_enter")).toBeGreaterThan(calls.indexOf("krun_add_net_unixstream"));
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ box_id: string; name: string }>;
  const id = listed.find((box) => box.name === "krun-net")?.box_id ?? "none";
  // netd's argv names the box's sockets, which name the box.
  expect(
    Bun.spawnSync(["pgrep", "-f", `netd-.*${id}`], { stdout: "pipe" })
      .stdout.toString()
      .trim(),
  ).toBe("");
  expect((await runCli(["rm", "krun-net"])).code).toBe(0);
});

test("under krun a volume is libkrun's own virtio-fs share (no fsd), read-only as asked; a single-file volume is refused, naming why", async () => {
  const log = newCallLog(temp);
  const dir = temp.make("krun-volume-");
  const env = {
    BOXLITE_LIBKRUN: RECORDER_PATH,
    KRUN_RECORDER_LISTEN: "1",
    KRUN_RECORDER_HOLD_MS: "120000",
    KRUN_RECORDER_LOG: log,
    BOXLITE_BOOT_TIMEOUT: "2",
  };
  const run = await runCli(
    ["--vmm", "krun", "run", "--name", "krun-vol", "--security", "disable", "--network", "disabled", "-v", `${dir}:/data:ro`, "--", "true"],
    {
      env,
    },
  );
  expect(run.code).toBe(125);
  const share = readCalls(log).find((record) => record.call === "krun_add_virtiofs3");
  expect(share?.args).toMatchObject({ c_tag: "vol0", c_path: dir, shm_size: 0, read_only: true });
  const calls = readCalls(log).map((record) => record.call);
  expect(calls.indexOf("krun_start_enter")).toBeGreaterThan(calls.indexOf("krun_add_virtiofs3"));
  // fsd's argv would name the shared directory, which is this test's own.
  expect(
    Bun.spawnSync(["pgrep", "-f", `share vol0:${dir}`], { stdout: "pipe" })
      .stdout.toString()
      .trim(),
  ).toBe("");
  expect((await runCli(["rm", "krun-vol"])).code).toBe(0);

  writeFileSync(`${dir}/one.conf`, "x\n");
  const single = await runCli(["--vmm", "krun", "run", "--rm", "--network", "disabled", "-v", `${dir}/one.conf:/etc/one.conf`, "--", "true"], { env });
  expect(single.code).toBe(125);
  expect(single.stderr).toContain("a single-file volume (one.conf) needs the qemu backend");
});
