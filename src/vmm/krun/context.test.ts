import { beforeAll, describe, expect, test } from "bun:test";
import { buildRecorder, runRecorded, typicalBox } from "../../../test/fixtures/libkrun-recorder/recorder.ts";
import { BoxliteError } from "../../util/errors.ts";
import { describeErrno, KrunContext } from "./context.ts";
import { KRUN_DISK_FORMAT_QCOW2, loadLibkrun, type Libkrun } from "./ffi.ts";

const box = typicalBox("/home/u/.boxlite");
let recorder: Libkrun;

beforeAll(() => {
  recorder = loadLibkrun({ libkrun: buildRecorder() });
});

/** The calls run-box.ts makes for `box`, in order (each returns 0; ctx 0 is the first context). */
const TYPICAL_CALLS = [
  { call: "krun_set_log_level", args: { level: 0 } },
  { call: "krun_create_ctx", args: {} },
  { call: "krun_set_vm_config", args: { ctx_id: 0, num_vcpus: 2, ram_mib: 512 } },
  { call: "krun_set_kernel", args: { ctx_id: 0, kernel_path: box.kernelPath, kernel_format: 1, initramfs: null, cmdline: box.cmdline } },
  { call: "krun_add_disk2", args: { ctx_id: 0, block_id: "system", disk_path: box.systemDisk, disk_format: 0, read_only: true } },
  { call: "krun_add_disk2", args: { ctx_id: 0, block_id: "rootfs", disk_path: box.rootfsDisk, disk_format: 1, read_only: false } },
  { call: "krun_disable_implicit_vsock", args: { ctx_id: 0 } },
  { call: "krun_add_vsock", args: { ctx_id: 0, tsi_features: 0 } },
  { call: "krun_add_vsock_port2", args: { ctx_id: 0, port: 2695, c_filepath: box.agentSocketPath, listen: true } },
  { call: "krun_set_console_output", args: { ctx_id: 0, c_filepath: box.consolePath } },
  { call: "krun_set_rlimits", args: { ctx_id: 0, rlimits: ["7=1048576:1048576"] } },
  { call: "krun_set_env", args: { ctx_id: 0, envp: box.env } },
  // saved_envp: the recorder re-reads krun_set_env's array here, after a forced GC.
  { call: "krun_start_enter", args: { ctx_id: 0, saved_envp: box.env } },
];

describe("KrunContext against the libkrun recorder (in a child: krun_start_enter exits)", () => {
  test("configures a typical box with the exact call sequence and arguments, then enters it", async () => {
    const run = await runRecorded("box", box);
    expect(run.stderr).toBe("");
    expect(run.calls).toEqual(TYPICAL_CALLS.map((call) => ({ ...call, ret: 0 })));
    expect(run.exitCode).toBe(0);
  });

  test("the workload's exit code flows back as the process's exit status", async () => {
    const run = await runRecorded("box", box, { KRUN_RECORDER_EXIT: "42" });
    expect(run.calls.at(-1)?.call).toBe("krun_start_enter");
    expect(run.exitCode).toBe(42);
  });

  // Linux errno values, named independently of describeErrno.
  const ERRNOS: Array<[number, string]> = [[22, "EINVAL"], [2, "ENOENT"], [16, "EBUSY"], [13, "EACCES"], [12, "ENOMEM"], [19, "ENODEV"]];
  const failing = [...new Set(TYPICAL_CALLS.map((call) => call.call))];

  test.skipIf(process.platform !== "linux")("every call's negative return becomes a vmm_failed error naming the call and the errno", async () => {
    const runs = await Promise.all(
      failing.map(async (call, index) => {
        const [errno, name] = ERRNOS[index % ERRNOS.length] as [number, string];
        return { call, errno, name, run: await runRecorded("box", box, { KRUN_RECORDER_FAIL: `${call}:${errno}` }) };
      }),
    );
    for (const { call, errno, name, run } of runs) {
      expect({ call, exitCode: run.exitCode, stdout: JSON.parse(run.stdout) }).toEqual({
        call,
        exitCode: 3,
        stdout: { code: "vmm_failed", message: `${call} failed: ${name} (-${errno})` },
      });
      // Nothing is called after the failure but krun_free_ctx, once a context exists.
      const failedAt = run.calls.findIndex((record) => record.call === call);
      expect(run.calls[failedAt]?.ret).toBe(-errno);
      const after = run.calls.slice(failedAt + 1).map((record) => record.call);
      expect(after).toEqual(failedAt >= 1 && call !== "krun_create_ctx" ? ["krun_free_ctx"] : []);
    }
  });

  test("each context gets its own id, and disposing frees each once, newest first", async () => {
    const run = await runRecorded("two-contexts", box);
    expect(JSON.parse(run.stdout)).toEqual({ ids: [0, 1] });
    expect(run.calls).toEqual([
      { call: "krun_create_ctx", args: {}, ret: 0 },
      { call: "krun_create_ctx", args: {}, ret: 1 },
      { call: "krun_set_vm_config", args: { ctx_id: 1, num_vcpus: 2, ram_mib: 512 }, ret: 0 },
      { call: "krun_free_ctx", args: { ctx_id: 1 }, ret: 0 },
      { call: "krun_free_ctx", args: { ctx_id: 0 }, ret: 0 },
    ]);
    expect(run.exitCode).toBe(0);
  });
});

describe("KrunContext argument checks (in process: nothing reaches libkrun)", () => {
  function thrown(action: () => void): BoxliteError | undefined {
    try {
      action();
    } catch (error) {
      if (error instanceof BoxliteError) return error;
      throw error;
    }
    return undefined;
  }

  test("refuses vCPU counts libkrun's uint8_t cannot hold", () => {
    using ctx = KrunContext.create(recorder);
    for (const cpus of [0, 256, 1.5]) {
      expect(thrown(() => ctx.setVmConfig(cpus, 512))?.message).toBe(`a libkrun VM has 1 to 255 vCPUs, not ${cpus}`);
    }
  });

  test("refuses a string with a NUL, which C would silently cut short", () => {
    using ctx = KrunContext.create(recorder);
    const error = thrown(() => ctx.addDisk2("rootfs", "/disk.qcow2\0/etc/shadow", KRUN_DISK_FORMAT_QCOW2, false));
    expect(error?.code).toBe("invalid_argument");
    expect(error?.message).toContain("cannot contain NUL");
  });

  test("a freed context refuses further calls instead of reaching libkrun with a stale id", () => {
    const ctx = KrunContext.create(recorder);
    ctx[Symbol.dispose]();
    ctx[Symbol.dispose](); // a second dispose is a no-op
    expect(thrown(() => ctx.setConsoleOutput("/console.log"))?.code).toBe("internal");
  });

  test("names errnos, and leaves an unknown one as a number", () => {
    expect(describeErrno(-22)).toBe("EINVAL (-22)");
    expect(describeErrno(-99999)).toBe("-99999");
  });
});
