/**
 * Backend selection with libkrun absent, present but not booting, and present and
 * booting (the recorder, whose "VM" writes the agent's probe line to the console on
 * demand), and forced either way. Each test has its own runtime directory: the probe's
 * verdict is cached there.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { buildRecorder, newCallLog, readCalls, RECORDER_PATH } from "../../test/fixtures/libkrun-recorder/recorder.ts";
import { TempDirs } from "../../test/helpers/temp.ts";
import { type Config, loadConfig } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import type { GuestAssets } from "./backend.ts";
import { selectBackend } from "./select.ts";

beforeAll(() => {
  buildRecorder();
});

const temp = new TempDirs();
afterAll(() => temp.removeAll());

afterEach(() => {
  for (const name of ["KRUN_RECORDER_LOG", "KRUN_RECORDER_CONSOLE", "KRUN_RECORDER_EXIT"]) delete process.env[name];
});

function setup(env: Record<string, string>): { config: Config; assets: GuestAssets; log: string } {
  const dir = temp.make("select-");
  const log = newCallLog(temp);
  process.env.KRUN_RECORDER_LOG = log;
  const config = loadConfig({}, { ...process.env, BOXLITE_RUNTIME_DIR: join(dir, "runtime"), BOXLITE_VMM: "auto", ...env });
  const assets: GuestAssets = {
    kernel: {
      elfPath: join(dir, "kernel.elf"),
      libkrunfwPath: "/usr/lib/libkrunfw.so.5",
      libkrunfwOrigin: "BOXLITE_LIBKRUNFW",
      libkrunfwVersion: 5,
      linuxVersion: "6.12.91",
    },
    systemDisk: join(dir, "system.ext4"),
  };
  return { config, assets, log };
}

test("auto without libkrun: qemu, with why krun was rejected", async () => {
  const { config, assets, log } = setup({ BOXLITE_LIBKRUN: "/nonexistent/libkrun.so.1" });
  const choice = await selectBackend(config, assets);
  expect(choice.backend.name).toBe("qemu");
  expect(choice.rejected).toHaveLength(1);
  expect(choice.rejected[0]?.name).toBe("krun");
  expect(choice.rejected[0]?.reason).toStartWith("libkrun was not found; tried /nonexistent/libkrun.so.1; install libkrun ≥ 1.18.0");
  expect(readCalls(log)).toEqual([]);
});

test("auto with a libkrun whose probe VM boots: krun, and the verdict is kept for this host boot", async () => {
  const { config, assets, log } = setup({ BOXLITE_LIBKRUN: RECORDER_PATH });
  process.env.KRUN_RECORDER_CONSOLE = "boxlite-guest: probe ok";
  // What libkrun exits with after the guest powers off is not the proof; the agent's line is.
  process.env.KRUN_RECORDER_EXIT = "3";
  const choice = await selectBackend(config, assets);
  expect(choice.backend.name).toBe("krun");
  expect(choice.rejected).toEqual([{ name: "qemu", reason: "not needed: krun works here" }]);
  const described = await choice.backend.describe();
  expect(described).toMatchObject({ name: "krun", accelerator: "kvm", binary: RECORDER_PATH });
  expect(described.reason).toMatch(/^libkrun .*librecorder\.so: a probe VM booted and powered off in \d+ ms$/);
  // The probe: the system disk alone, the agent in probe mode, no agent port.
  const calls = readCalls(log);
  expect(calls.filter((call) => call.call === "krun_add_disk2").map((call) => call.args.block_id)).toEqual(["system"]);
  expect(calls.find((call) => call.call === "krun_set_kernel")?.args.cmdline).toEndWith("boxlite.probe=1");
  expect(calls.some((call) => call.call === "krun_add_vsock_port2")).toBe(false);

  // Another process (a new config) reads the verdict instead of booting again.
  const again = await selectBackend(loadConfig({}, { ...process.env, BOXLITE_RUNTIME_DIR: config.runtimeDir, BOXLITE_LIBKRUN: RECORDER_PATH }), assets);
  expect((await again.backend.describe()).reason).toEndWith("(probed once this host boot)");
  expect(readCalls(log)).toHaveLength(calls.length);
});

test("auto with a libkrun whose probe VM does not boot: qemu, with what the probe saw", async () => {
  const silent = setup({ BOXLITE_LIBKRUN: RECORDER_PATH });
  const quiet = await selectBackend(silent.config, silent.assets);
  expect(quiet.backend.name).toBe("qemu");
  expect(quiet.rejected[0]?.reason).toBe(
    `libkrun ${RECORDER_PATH} loads, but a probe VM exited without the guest agent reporting on its console (${join(silent.config.runtimeDir, "probe", "krun-console.log")})`,
  );

  const failing = setup({ BOXLITE_LIBKRUN: RECORDER_PATH });
  process.env.KRUN_RECORDER_EXIT = "1";
  const failed = await selectBackend(failing.config, failing.assets);
  expect(failed.backend.name).toBe("qemu");
  expect(failed.rejected[0]?.reason).toBe(`libkrun ${RECORDER_PATH} loads, but a probe VM failed (exit 1)`);
});

test("forced krun: the library is required, and no probe is run", async () => {
  const missing = setup({ BOXLITE_LIBKRUN: "/nonexistent/libkrun.so.1", BOXLITE_VMM: "krun" });
  const error = await selectBackend(missing.config, missing.assets).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("missing_dependency");
  expect((error as BoxliteError).message).toContain("install libkrun ≥ 1.18.0");

  const present = setup({ BOXLITE_LIBKRUN: RECORDER_PATH, BOXLITE_VMM: "krun" });
  const choice = await selectBackend(present.config, present.assets);
  expect(choice.backend.name).toBe("krun");
  expect((await choice.backend.describe()).reason).toBe("forced by --vmm/BOXLITE_VMM");
  expect(readCalls(present.log)).toEqual([]);
});

test("forced qemu: libkrun is not even looked at", async () => {
  const { config, assets, log } = setup({ BOXLITE_LIBKRUN: RECORDER_PATH, BOXLITE_VMM: "qemu" });
  process.env.KRUN_RECORDER_CONSOLE = "boxlite-guest: probe ok";
  const choice = await selectBackend(config, assets);
  expect(choice.backend.name).toBe("qemu");
  expect(choice.rejected).toEqual([{ name: "krun", reason: "not tried: qemu forced by --vmm/BOXLITE_VMM" }]);
  expect(readCalls(log)).toEqual([]);
});

test("--vmm wins over BOXLITE_VMM, and a wrong value names the flag", () => {
  expect(loadConfig({ vmm: "qemu" }, { BOXLITE_VMM: "krun" }).vmm).toBe("qemu");
  expect(() => loadConfig({ vmm: "firecracker" }, {})).toThrow("--vmm=firecracker is not valid; use one of auto, qemu, krun");
  expect(() => loadConfig({}, { BOXLITE_VMM: "kvm" })).toThrow("BOXLITE_VMM=kvm is not valid; use one of auto, qemu, krun");
});
