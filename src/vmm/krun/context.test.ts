import { beforeAll, describe, expect, test } from "bun:test";
import { buildRecorder, RECORDER_PATH, runRecorded } from "../../../test/fixtures/libkrun-recorder/recorder.ts";
import { everyDeviceSpec } from "../../../test/helpers/vm-spec.ts";
import { BoxliteError } from "../../util/errors.ts";
import { describeErrno, KrunContext } from "./context.ts";
import { KRUN_DISK_FORMAT_QCOW2, loadLibkrun, type Libkrun } from "./ffi.ts";
import { boxVmConfig } from "./vm-config.ts";

const box = { ...boxVmConfig(everyDeviceSpec("/home/u/.boxlite"), RECORDER_PATH, 1), env: ["PATH=/usr/bin:/bin", "TERM=xterm", 'QUOTE="é\\"'] };
let recorder: Libkrun;

beforeAll(() => {
  recorder = loadLibkrun({ libkrun: buildRecorder() });
});

describe("KrunContext against the libkrun recorder (in a child: krun_start_enter exits)", () => {
  test("what is handed to libkrun stays valid until krun_start_enter, through a full GC before every call", async () => {
    const run = await runRecorded("gc", box);
    expect(run.stderr).toBe("");
    const enter = run.calls.at(-1);
    expect(enter?.call).toBe("krun_start_enter");
    // The recorder re-reads the pointers it was given earlier: freed buffers would show garbage here.
    expect(enter?.args).toEqual({
      ctx_id: 0,
      saved_envp: box.env,
      saved_cmdline: box.kernel.cmdline,
      saved_console: box.consolePath,
      saved_mac: "02:00:00:00:00:01",
    });
    expect(run.exitCode).toBe(0);
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

  test("refuses a MAC address that is not six hex octets", () => {
    using ctx = KrunContext.create(recorder);
    for (const mac of ["5a:94:ef:e4:0c", "5a:94:ef:e4:0c:zz", "5a-94-ef-e4-0c-ee"]) {
      expect(thrown(() => ctx.addNetUnixstream("/net.sock", mac, 0, 0))?.message).toBe(
        `a MAC address is six hex octets like 5a:94:ef:e4:0c:ee, not ${JSON.stringify(mac)}`,
      );
    }
  });

  test("names errnos, and leaves an unknown one as a number", () => {
    expect(describeErrno(-22)).toBe("EINVAL (-22)");
    expect(describeErrno(-99999)).toBe("-99999");
  });
});
