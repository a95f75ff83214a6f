/**
 * The krun backend as the runtime uses it, against the libkrun recorder: `start` runs
 * `boxlite __vm <id>` under the watchdog with the configuration on stdin only, returns
 * once "libkrun" made the agent socket, reports a VM that failed to start with the call
 * that failed, and hands the VM's exit status back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildRecorder, newCallLog, readCalls } from "../../../test/fixtures/libkrun-recorder/recorder.ts";
import { typicalSpec } from "../../../test/helpers/vm-spec.ts";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { loadConfig } from "../../config/config.ts";
import { isBoxVmm } from "../../runtime/reconcile.ts";
import { writeVmmPid } from "../../runtime/vmm-pid.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { VmSpec } from "../backend.ts";
import { agentSocketOf } from "../devices.ts";
import { loadLibkrun } from "./ffi.ts";
import { KrunBackend, vmArgv } from "./krun.ts";

const RECORDER_ENV = [
  "KRUN_RECORDER_LOG",
  "KRUN_RECORDER_LISTEN",
  "KRUN_RECORDER_HOLD_MS",
  "KRUN_RECORDER_EXIT",
  "KRUN_RECORDER_FAIL",
  "KRUN_RECORDER_CONSOLE",
];
let backend: KrunBackend;

beforeAll(() => {
  const config = loadConfig({}, { ...process.env, BOXLITE_LIBKRUN: buildRecorder() });
  backend = new KrunBackend(config, loadLibkrun(config), "test");
});

// The VM process inherits this process's environment: each test sets the recorder's.
afterEach(() => {
  for (const name of RECORDER_ENV) delete process.env[name];
});

function recorderEnv(values: Record<string, string>): string {
  const log = newCallLog(temp);
  Object.assign(process.env, { KRUN_RECORDER_LOG: log, ...values });
  return log;
}

const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** A spec under a fresh directory short enough for a unix socket path. */
function freshSpec(): VmSpec {
  const dir = temp.make("krun-");
  const spec = typicalSpec(dir);
  mkdirSync(join(dir, "sock"));
  mkdirSync(join(dir, "boxes", "b1"), { recursive: true });
  return spec;
}

const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);

describe("KrunBackend against the libkrun recorder", () => {
  test("a box's VM is `boxlite __vm <id>` under the watchdog: nothing of its configuration on argv, and it is recognised as the box's VMM", async () => {
    const spec = freshSpec();
    const log = recorderEnv({ KRUN_RECORDER_LISTEN: "1", KRUN_RECORDER_HOLD_MS: "60000" });
    const vm = await backend.start(spec);
    try {
      const watchdog = argvOf(vm.pid);
      expect(watchdog.slice(1)).toEqual(["3", "--", ...vmArgv("b1")]);
      const [child] = readFileSync(`/proc/${vm.pid}/task/${vm.pid}/children`, "utf8").trim().split(" ").map(Number);
      const childArgv = argvOf(child as number);
      expect(childArgv).toEqual(vmArgv("b1"));
      const paths = spec.devices.map((device) => (device.kind === "disk" ? device.path : device.kind === "fs" ? device.hostPath : device.socketPath));
      for (const secret of [...paths, spec.consolePath, spec.kernel.elfPath, "boxlite.hostname"]) {
        expect(childArgv.join(" ")).not.toContain(secret);
      }
      // The configuration arrived all the same (on stdin).
      const calls = readCalls(log);
      expect(calls.find((call) => call.call === "krun_add_vsock_port2")?.args).toEqual({
        ctx_id: 0,
        port: 2695,
        c_filepath: agentSocketOf(spec.devices),
        listen: true,
      });
      expect(calls.find((call) => call.call === "krun_set_kernel")?.args.cmdline).toEndWith(
        "mitigations=off rcupdate.rcu_expedited=1 loglevel=4 boxlite.vsock=2695",
      );
      // The supervisor's pid check knows a krun VMM by its `__vm <id>`.
      const boxDir = join(spec.consolePath, "..", "..");
      writeVmmPid(boxDir, vm.pid);
      expect(isBoxVmm(vm.pid, boxDir)).toBe(true);
      expect(isBoxVmm(vm.pid, join(boxDir, "..", "b2"))).toBe(false);
    } finally {
      vm.kill("SIGKILL");
    }
    expect((await vm.exited).code).toBe(137);
  });

  test("the VM's exit status flows back", async () => {
    recorderEnv({ KRUN_RECORDER_LISTEN: "1", KRUN_RECORDER_HOLD_MS: "300", KRUN_RECORDER_EXIT: "7" });
    const vm = await backend.start(freshSpec());
    expect(await vm.exited).toEqual({ code: 7 });
  });

  test("a libkrun call that fails before the VM starts is the start's error, with the call, the errno and the status", async () => {
    const spec = freshSpec();
    recorderEnv({ KRUN_RECORDER_FAIL: "krun_add_disk2:2" });
    const error = await backend.start(spec).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BoxliteError);
    expect((error as BoxliteError).code).toBe("vmm_failed");
    expect((error as BoxliteError).message).toBe("libkrun exited with status 125 before the VM started: boxlite: krun_add_disk2 failed: ENOENT (-2)");
  });

  test("a VM that exits without starting (no agent socket) is reported with its status", async () => {
    recorderEnv({ KRUN_RECORDER_EXIT: "3" });
    const error = await backend.start(freshSpec()).catch((caught: unknown) => caught);
    expect((error as BoxliteError).message).toBe("libkrun exited with status 3 before the VM started: no output");
  });

  test("describe names the library and the hypervisor", async () => {
    expect(await backend.describe()).toEqual({
      name: "krun",
      accelerator: "kvm",
      reason: "test",
      binary: buildRecorder(),
      templates: { enabled: false, reason: "libkrun has no snapshot API: every box boots cold" },
      suspend: { enabled: false, reason: "libkrun has no snapshot API: boxes cannot be suspended" },
    });
  });
});
