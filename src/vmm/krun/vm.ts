/**
 * `boxlite __vm <box-id>`: the process a krun box's VM runs in. krun_start_enter never
 * returns — libkrun turns the calling process into the VMM and exit()s it with the
 * guest's status — so it cannot run in boxlite's own process. The configuration comes
 * on stdin (vm-config.ts); each field and device becomes its libkrun call, in order, on one
 * context whose strings stay alive until the VM starts (context.ts). The box id on argv
 * is only a label for `ps` and the supervisor's pid check.
 */
import { KrunContext, setLogLevel } from "./context.ts";
import { type Libkrun, loadLibkrun } from "./ffi.ts";
import { installFilter } from "./seccomp.ts";
import { type KrunDevice, type KrunVmConfig, parseKrunVmConfig } from "./vm-config.ts";

/** No DAX window for a share: what krun_add_virtiofs itself passes. */
const NO_DAX_WINDOW = 0;

function addDevice(ctx: KrunContext, device: KrunDevice): void {
  switch (device.kind) {
    case "disk":
      ctx.addDisk2(device.blockId, device.path, device.format, device.readOnly);
      return;
    case "net":
      ctx.addNetUnixstream(device.socketPath, device.mac, device.features, device.flags);
      return;
    case "fs":
      ctx.addVirtiofs3(device.tag, device.path, NO_DAX_WINDOW, device.readOnly);
      return;
    case "agent":
      ctx.addVsockPort2(device.port, device.socketPath, true);
      return;
  }
}

/** Configures `lib` from `config` and enters the VM: returns only by throwing. */
export function enterVm(lib: Libkrun, config: KrunVmConfig): never {
  setLogLevel(lib, config.logLevel);
  using ctx = KrunContext.create(lib);
  ctx.setVmConfig(config.cpus, config.memoryMib);
  ctx.setKernel(config.kernel.path, config.kernel.format, null, config.kernel.cmdline);
  // No implicit vsock: it would bring TSI, i.e. the host's network, into the box. The
  // explicit one carries the agent's port, so it comes before the devices.
  ctx.disableImplicitVsock();
  ctx.addVsock(0);
  for (const device of config.devices) addDevice(ctx, device);
  ctx.setConsoleOutput(config.consolePath);
  ctx.setRlimits(config.rlimits);
  ctx.setEnv(config.env);
  // Last: libkrun is configured, and from here on this process never starts another program.
  if (config.seccomp) installFilter();
  return ctx.startEnter();
}

/** The `__vm` command: its errors reach the parent on stderr, which it reports with the exit status. */
export async function vmCommand(): Promise<never> {
  const config = parseKrunVmConfig(await Bun.stdin.text());
  enterVm(loadLibkrun({ libkrun: config.libkrun }), config);
}
