/**
 * `boxlite __vm <box-id>`: the process a krun box's VM runs in. krun_start_enter never
 * returns — libkrun turns the calling process into the VMM and exit()s it with the
 * guest's status — so it cannot run in boxlite's own process. The configuration comes
 * on stdin (vm-config.ts); each field becomes its libkrun call, in a fixed order, on one
 * context whose strings stay alive until the VM starts (context.ts). The box id on argv
 * is only a label for `ps` and the supervisor's pid check.
 */
import { KrunContext, setLogLevel } from "./context.ts";
import { type Libkrun, loadLibkrun } from "./ffi.ts";
import { type KrunVmConfig, parseKrunVmConfig } from "./vm-config.ts";

/** Configures `lib` from `config` and enters the VM: returns only by throwing. */
export function enterVm(lib: Libkrun, config: KrunVmConfig): never {
  setLogLevel(lib, config.logLevel);
  using ctx = KrunContext.create(lib);
  ctx.setVmConfig(config.cpus, config.memoryMib);
  ctx.setKernel(config.kernel.path, config.kernel.format, null, config.kernel.cmdline);
  for (const disk of config.disks) ctx.addDisk2(disk.blockId, disk.path, disk.format, disk.readOnly);
  // No implicit vsock: it would bring TSI, i.e. the host's network, into a box that has none.
  ctx.disableImplicitVsock();
  ctx.addVsock(0);
  if (config.agent) ctx.addVsockPort2(config.agent.port, config.agent.socketPath, true);
  ctx.setConsoleOutput(config.consolePath);
  ctx.setRlimits(config.rlimits);
  ctx.setEnv(config.env);
  return ctx.startEnter();
}

/** The `__vm` command: its errors reach the parent on stderr, which it reports with the exit status. */
export async function vmCommand(): Promise<never> {
  const config = parseKrunVmConfig(await Bun.stdin.text());
  enterVm(loadLibkrun({ libkrun: config.libkrun }), config);
}
