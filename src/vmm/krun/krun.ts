/**
 * The krun backend: each box's VM is libkrun running in its own `boxlite __vm <box-id>`
 * process (vm.ts), with its helpers, under the same watchdog as QEMU (src/vmm/process.ts),
 * configured through stdin. The guest, the agent and the protocol are the qemu backend's; only the
 * agent's channel differs — a vsock port that libkrun bridges to the box's agent socket.
 *
 * Whether krun works on a host is found out by booting, not by looking: `probeKrun`
 * boots the system disk in probe mode and wants the agent's "probe ok" on the console
 * before the VM process ends, within 5 s.
 * The verdict is cached per host boot and library, as the qemu accelerator probe's is.
 */
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Config, childEnv } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";
import { selfCommand } from "../../util/self.ts";
import {
  type BackendInfo,
  checkVmSpec,
  type GuestAssets,
  type ShareSource,
  type StartOptions,
  type VmControl,
  type VmmBackend,
  type VmProcess,
  type VmSpec,
} from "../backend.ts";
import { agentSocketOf } from "../devices.ts";
import { probedOncePerBoot } from "../probe-cache.ts";
import { spawnVmm } from "../process.ts";
import { KrunControl } from "./control.ts";
import { krunJail } from "./jail.ts";
import type { Libkrun } from "./ffi.ts";
import { boxVmConfig, type KrunVmConfig, probeVmConfig } from "./vm-config.ts";

const PROBE_TIMEOUT_MS = 5000;
/** What the agent prints in probe mode before it powers off (guest/main.c). */
const PROBE_OK = "probe ok";
/** libkrun's log level: errors only, or debug with --debug. */
const LOG_LEVEL = 1;
const DEBUG_LOG_LEVEL = 4;

/** The hypervisor libkrun uses here. */
function accelerator(): string {
  return process.platform === "darwin" ? "hvf" : "kvm";
}

/** The `boxlite __vm` command line: a label only, the configuration goes on stdin. */
export function vmArgv(boxId: string): string[] {
  return [...selfCommand(), "__vm", boxId];
}

function encodeConfig(config: KrunVmConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(config));
}

/** libkrun cannot save or restore a VM: every box boots cold. */
const KRUN_TEMPLATES = { enabled: false, reason: "libkrun has no snapshot API: every box boots cold" };
const KRUN_SUSPEND = { enabled: false, reason: "libkrun has no snapshot API: boxes cannot be suspended" };

export class KrunBackend implements VmmBackend {
  readonly name = "krun" as const;

  constructor(
    private readonly config: Config,
    private readonly lib: Libkrun,
    /** Why krun was chosen: forced, or what the probe saw. */
    private readonly reason: string,
  ) {}

  describe(): Promise<BackendInfo> {
    return Promise.resolve({
      name: this.name,
      accelerator: accelerator(),
      reason: this.reason,
      binary: this.lib.path,
      templates: KRUN_TEMPLATES,
      suspend: KRUN_SUSPEND,
    });
  }

  control(vm: VmProcess): VmControl {
    return new KrunControl(vm);
  }

  /** libkrun serves each share as a device of its own, under its tag. */
  shareSource(tag: string): ShareSource {
    return { tag };
  }

  async start(spec: VmSpec, options: StartOptions = {}): Promise<VmProcess> {
    checkVmSpec(spec);
    if (options.resume) throw new BoxliteError("unsupported", "libkrun has no snapshot API: a box suspended under QEMU resumes only under QEMU (--vmm qemu)");
    const vm = boxVmConfig(spec, this.lib.path, this.config.debug ? DEBUG_LOG_LEVEL : LOG_LEVEL);
    const command = {
      what: "libkrun",
      argv: vmArgv(spec.boxId),
      stdin: encodeConfig(vm),
      agentSocketPath: agentSocketOf(spec.devices),
      helpers: spec.helpers,
      ...(spec.jail ? { jail: krunJail(spec, this.lib.path) } : {}),
    };
    return spawnVmm(this.config, command);
  }
}

export interface KrunProbe {
  ok: boolean;
  reason: string;
}

/** The library as it is now: a rebuilt or upgraded libkrun is probed again. */
function libraryIdentity(path: string): string {
  try {
    const stat = statSync(path);
    return `${path}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return path; // a soname resolved by the loader: no file to stat
  }
}

async function bootProbe(config: Config, assets: GuestAssets, lib: Libkrun): Promise<KrunProbe> {
  const scratch = join(config.runtimeDir, "probe");
  mkdirSync(scratch, { recursive: true });
  const consolePath = join(scratch, "krun-console.log");
  rmSync(consolePath, { force: true });
  const started = performance.now();
  const proc = Bun.spawn(vmArgv("probe"), {
    stdin: encodeConfig(probeVmConfig(assets.kernel, assets.systemDisk, consolePath, lib.path)),
    stdout: "ignore",
    stderr: "pipe",
    env: childEnv(),
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), PROBE_TIMEOUT_MS);
  const code = await proc.exited;
  clearTimeout(timer);
  const ms = Math.round(performance.now() - started);
  let consoleText = "";
  try {
    consoleText = readFileSync(consolePath, "utf8");
  } catch {
    // No console at all: reported below.
  }
  // The agent's line is the proof; the status is not: without libkrun's own init, what
  // libkrun exits with after a guest power-off is not the agent's to choose.
  if (proc.signalCode !== "SIGKILL" && consoleText.includes(PROBE_OK))
    return { ok: true, reason: `libkrun ${lib.path}: a probe VM booted and powered off in ${ms} ms` };
  const stderr = (await new Response(proc.stderr).text()).trim().split("\n").at(-1) ?? "";
  const why =
    proc.signalCode === "SIGKILL"
      ? `did not finish within ${PROBE_TIMEOUT_MS} ms`
      : code !== 0
        ? `failed (exit ${code}${stderr ? `: ${stderr}` : ""})`
        : `exited without the guest agent reporting on its console (${consolePath})`;
  return { ok: false, reason: `libkrun ${lib.path} loads, but a probe VM ${why}` };
}

/** Whether krun boots a guest here: cached per host boot and library build. */
export function probeKrun(config: Config, assets: GuestAssets, lib: Libkrun): Promise<KrunProbe> {
  return probedOncePerBoot(join(config.runtimeDir, "krun-probe.json"), libraryIdentity(lib.path), () => bootProbe(config, assets, lib));
}
