/**
 * `boxlite __vm`, the real child process (from source), against the libkrun recorder: the
 * configuration on stdin becomes the exact libkrun call sequence, failures become errors
 * naming the call, the workload's exit status is the process's, and a malformed
 * configuration reaches libkrun not at all.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { buildRecorder, RECORDER_PATH, runRecorded, typicalBox } from "../../../test/fixtures/libkrun-recorder/recorder.ts";
import { everyDeviceSpec } from "../../../test/helpers/vm-spec.ts";
import { boxVmConfig, type KrunVmConfig } from "./vm-config.ts";

const box = typicalBox("/home/u/.boxlite");

beforeAll(() => {
  buildRecorder();
});

/** What a typical box's `__vm` asks of libkrun, in order (each returns 0; ctx 0 is the first context). */
const TYPICAL_CALLS = [
  { call: "krun_set_log_level", args: { level: 1 } },
  { call: "krun_create_ctx", args: {} },
  { call: "krun_set_vm_config", args: { ctx_id: 0, num_vcpus: 2, ram_mib: 512 } },
  {
    call: "krun_set_kernel",
    args: {
      ctx_id: 0,
      kernel_path: "/home/u/.boxlite/runtime/kernel.elf",
      kernel_format: 1,
      initramfs: null,
      cmdline:
        "console=hvc0 root=/dev/vda ro rootfstype=ext4 init=/init panic=-1 reboot=t quiet tsc=reliable no_timer_check cryptomgr.notests random.trust_cpu=on mitigations=off rcupdate.rcu_expedited=1 loglevel=4 boxlite.vsock=2695",
    },
  },
  { call: "krun_disable_implicit_vsock", args: { ctx_id: 0 } },
  { call: "krun_add_vsock", args: { ctx_id: 0, tsi_features: 0 } },
  { call: "krun_add_disk2", args: { ctx_id: 0, block_id: "system", disk_path: "/home/u/.boxlite/runtime/system.ext4", disk_format: 0, read_only: true } },
  {
    call: "krun_add_disk2",
    args: { ctx_id: 0, block_id: "rootfs", disk_path: "/home/u/.boxlite/boxes/b1/disks/disk.qcow2", disk_format: 1, read_only: false },
  },
  { call: "krun_add_vsock_port2", args: { ctx_id: 0, port: 2695, c_filepath: "/home/u/.boxlite/sock/b1.agent.sock", listen: true } },
  { call: "krun_set_console_output", args: { ctx_id: 0, c_filepath: "/home/u/.boxlite/boxes/b1/logs/console.log" } },
  { call: "krun_set_rlimits", args: { ctx_id: 0, rlimits: ["7=1048576:1048576"] } },
  { call: "krun_set_env", args: { ctx_id: 0, envp: [] } },
  {
    call: "krun_start_enter",
    args: {
      ctx_id: 0,
      saved_envp: [],
      saved_cmdline:
        "console=hvc0 root=/dev/vda ro rootfstype=ext4 init=/init panic=-1 reboot=t quiet tsc=reliable no_timer_check cryptomgr.notests random.trust_cpu=on mitigations=off rcupdate.rcu_expedited=1 loglevel=4 boxlite.vsock=2695",
      saved_console: "/home/u/.boxlite/boxes/b1/logs/console.log",
      saved_mac: null,
    },
  },
];

describe("boxlite __vm against the libkrun recorder", () => {
  test("a typical box: the exact call sequence and arguments, then the VM is entered", async () => {
    const run = await runRecorded("vm", box);
    expect(run.stderr).toBe("");
    expect(run.calls).toEqual(TYPICAL_CALLS.map((call) => ({ ...call, ret: 0 })));
    expect(run.exitCode).toBe(0);
  });

  test("other configurations reach libkrun as given: one vCPU and 8 GiB, odd paths, a probe VM with no agent, debug logging", async () => {
    const odd = "/tmp/home with spaces/é,x=1";
    const configs: KrunVmConfig[] = [
      { ...box, cpus: 1, memoryMib: 8192 },
      {
        ...box,
        devices: box.devices.map((device) => (device.kind === "disk" ? { ...device, path: `${odd}/${device.blockId}.img` } : device)),
        consolePath: `${odd}/console.log`,
      },
      { ...box, devices: box.devices.slice(0, 1), kernel: { ...box.kernel, cmdline: "console=hvc0 boxlite.probe=1" } },
      { ...box, logLevel: 4, cpus: 255 },
    ];
    const [sized, paths, probe, debug] = await Promise.all(configs.map((config) => runRecorded("vm", config)));
    const args = (run: typeof sized, call: string) => run?.calls.filter((record) => record.call === call).map((record) => record.args);
    expect(args(sized, "krun_set_vm_config")).toEqual([{ ctx_id: 0, num_vcpus: 1, ram_mib: 8192 }]);
    expect(args(paths, "krun_add_disk2")?.map((disk) => disk.disk_path)).toEqual([`${odd}/system.img`, `${odd}/rootfs.img`]);
    expect(args(paths, "krun_set_console_output")).toEqual([{ ctx_id: 0, c_filepath: `${odd}/console.log` }]);
    // A probe: no agent port, one disk; still no implicit vsock (and so no TSI network).
    expect(probe?.calls.map((record) => record.call)).toEqual(
      TYPICAL_CALLS.map((call) => call.call)
        .filter((call) => call !== "krun_add_vsock_port2")
        .toSpliced(7, 1),
    );
    expect(args(probe, "krun_set_kernel")?.[0]?.cmdline).toBe("console=hvc0 boxlite.probe=1");
    expect(args(debug, "krun_set_log_level")).toEqual([{ level: 4 }]);
    expect(args(debug, "krun_set_vm_config")).toEqual([{ ctx_id: 0, num_vcpus: 255, ram_mib: 512 }]);
    for (const run of [sized, paths, probe, debug]) expect(run?.exitCode).toBe(0);
  });

  test("every kind of device becomes its call, in the spec's order: disks, the agent's port, NICs and shares", async () => {
    const run = await runRecorded("vm", boxVmConfig(everyDeviceSpec("/home/u/.boxlite"), RECORDER_PATH, 1));
    expect(run.stderr).toBe("");
    const devices = run.calls.filter((record) => /^krun_add_(disk2|vsock_port2|net_unixstream|virtiofs3)$/.test(record.call));
    expect(devices.map((record) => record.call)).toEqual([
      "krun_add_disk2",
      "krun_add_disk2",
      "krun_add_vsock_port2",
      "krun_add_net_unixstream",
      "krun_add_virtiofs3",
      "krun_add_net_unixstream",
    ]);
    // COMPAT_NET_FEATURES = CSUM|GUEST_CSUM|GUEST_TSO4|GUEST_UFO|HOST_TSO4|HOST_UFO, as libkrun.h spells it.
    const compat = 1 + 2 + 128 + 1024 + 2048 + 16384;
    expect(devices[3]?.args).toEqual({
      ctx_id: 0,
      c_path: "/home/u/.boxlite/sock/b1.net.sock",
      fd: -1,
      c_mac: "5a:94:ef:e4:0c:ee",
      features: compat,
      flags: 0,
    });
    expect(devices[5]?.args).toMatchObject({ c_path: "/home/u/.boxlite/sock/b1.net2.sock", c_mac: "02:00:00:00:00:01" });
    // libkrun serves the share itself: the host directory, read-only, no DAX window; the QEMU server socket plays no part.
    expect(devices[4]?.args).toEqual({ ctx_id: 0, c_tag: "data", c_path: "/home/u/.boxlite/shared", shm_size: 0, read_only: true });
    // The vsock that carries the agent's port exists before any device.
    const order = run.calls.map((record) => record.call);
    expect(order.indexOf("krun_add_vsock")).toBeLessThan(order.indexOf("krun_add_disk2"));
    expect(run.exitCode).toBe(0);
  });

  test("the workload's exit status is the process's", async () => {
    const run = await runRecorded("vm", box, { KRUN_RECORDER_EXIT: "42" });
    expect(run.calls.at(-1)?.call).toBe("krun_start_enter");
    expect(run.exitCode).toBe(42);
  });

  // Linux errno values, named independently of describeErrno.
  const ERRNOS: Array<[number, string]> = [
    [22, "EINVAL"],
    [2, "ENOENT"],
    [16, "EBUSY"],
    [13, "EACCES"],
    [12, "ENOMEM"],
    [19, "ENODEV"],
  ];
  const failing = [...new Set([...TYPICAL_CALLS.map((call) => call.call), "krun_add_net_unixstream", "krun_add_virtiofs3"])];
  const everyDevice = boxVmConfig(everyDeviceSpec("/home/u/.boxlite"), RECORDER_PATH, 1);

  test.skipIf(process.platform !== "linux")("every call's negative return ends the process with an error naming the call and the errno", async () => {
    const runs = await Promise.all(
      failing.map(async (call, index) => {
        const [errno, name] = ERRNOS[index % ERRNOS.length] as [number, string];
        return { call, errno, name, run: await runRecorded("vm", everyDevice, { KRUN_RECORDER_FAIL: `${call}:${errno}` }) };
      }),
    );
    for (const { call, errno, name, run } of runs) {
      expect({ call, exitCode: run.exitCode, stderr: run.stderr }).toEqual({ call, exitCode: 125, stderr: `boxlite: ${call} failed: ${name} (-${errno})\n` });
      // Nothing is called after the failure but krun_free_ctx, once a context exists.
      const failedAt = run.calls.findIndex((record) => record.call === call);
      expect(run.calls[failedAt]?.ret).toBe(-errno);
      const after = run.calls.slice(failedAt + 1).map((record) => record.call);
      expect(after).toEqual(failedAt >= 1 && call !== "krun_create_ctx" ? ["krun_free_ctx"] : []);
    }
  });

  test("a malformed configuration is refused with what is wrong, before libkrun is called at all", async () => {
    const send = async (config: unknown) => runRecorded("vm", config as KrunVmConfig);
    const cases: Array<[unknown, string]> = [
      [{ ...box, cpus: 0 }, "invalid at /cpus"],
      [{ ...box, secret: "x" }, "invalid at /secret"],
      [{ ...box, devices: [{ ...box.devices[0], format: 7 }] }, "invalid at /devices/0"],
      [{ ...box, devices: [{ kind: "net", socketPath: "/n.sock", mac: "5a:94:ef:e4:0c", features: 0, flags: 0 }] }, "invalid at /devices/0"],
      [{ ...box, devices: [{ kind: "floppy" }] }, "invalid at /devices/0"],
      [{ ...box, env: undefined }, "invalid at /env"],
    ];
    const runs = await Promise.all(cases.map(([config]) => send(config)));
    runs.forEach((run, index) => {
      expect(run.stderr).toContain(cases[index]?.[1] as string);
      expect(run.exitCode).toBe(125);
      expect(run.calls).toEqual([]);
    });
  });

  test("the library named in the configuration is the one loaded: a missing one is reported, not searched for", async () => {
    const run = await runRecorded("vm", { ...box, libkrun: `${RECORDER_PATH}.missing` });
    expect(run.stderr).toContain(`libkrun was not found; tried ${RECORDER_PATH}.missing`);
    expect(run.exitCode).toBe(125);
  });
});
