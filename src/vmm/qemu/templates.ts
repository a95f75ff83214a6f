/**
 * Memory templates (docs/templates.md): a booted, idle guest of one machine shape, saved
 * once under the runtime directory and restored for every box of that shape instead of a
 * cold boot. A template is built by a VM of its own, with stand-ins for the box's disk and
 * network, so no box's data can be in it; its RAM is a file that restored boxes map
 * copy-on-write, so idle boxes share the pages none of them wrote.
 *
 * `templates/<key>/` holds `state` (the device state, QEMU's migration stream without RAM),
 * `ram` (guest memory) and `manifest.json` (what the key was made of and the state's
 * SHA-256). It is built in `templates/<key>.tmp-<pid>-<random>/` and renamed into place whole.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Config } from "../../config/config.ts";
import { crashPoint } from "../../config/crash.ts";
import { fsyncPath } from "../../db/files.ts";
import { GuestChannel } from "../../guest-protocol/client.ts";
import { discardDir, publishFile, sha256Hex, sweepDeadLeftovers } from "../../util/fs.ts";
import type { VmDevice } from "../devices.ts";
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import { spawnVmm } from "../process.ts";
import { boxArgs, qmpSocketOf } from "./args.ts";
import { hostTscKhz } from "./host-tsc.ts";
import { JAIL_ID_BASE } from "../jail/jail.ts";
import { qemuJail } from "./jail.ts";
import { saveVm } from "./migration.ts";
import { QmpClient } from "./qmp.ts";

/** Bumped whenever what a template holds or how it is restored changes: older ones are never used. */
const TEMPLATE_FORMAT = 2;
/** The stand-in for the box's disk while the template boots: the guest only probes it, and probes the real one again on WAKE. */
const PLACEHOLDER_BYTES = 1 << 20;
const MIB = 1 << 20;

export interface Template {
  key: string;
  dir: string;
  statePath: string;
  ramPath: string;
}

interface Manifest {
  format: number;
  key: string;
  shape: Shape;
  state_sha256: string;
  ram_bytes: number;
  created_at: string;
}

/** What a restored guest must have in common with its template (or a resumed box with its saved self): the machine, the kernel, the agent, the VMM and the device set. */
export interface Shape {
  format: number;
  qemu: { path: string; size: number; mtime: number };
  accelerator: string;
  /** The guest's clock was calibrated from it (args.ts): a host whose TSC runs at another rate needs another template. */
  hostTscKhz: number | null;
  kernel: string;
  systemDisk: string;
  kernelArgs: string[];
  cpus: number;
  memoryMib: number;
  /** Each device's kind and what the guest sees of it (a disk's id and access, a NIC's MAC); not host paths. */
  devices: string[];
}

/** Why a VM of this spec cannot start from a template, or undefined when it can. */
export function templateRefusal(spec: VmSpec): string | undefined {
  if (spec.devices.some((device) => device.kind === "fs"))
    return "a box with volumes boots cold: fsd maps guest RAM shared, and a template's copy-on-write mapping would show it the template, not the box";
  return undefined;
}

function deviceShape(device: VmDevice): string {
  switch (device.kind) {
    case "disk":
      return `disk:${device.id}:${device.readOnly ? "ro" : "rw"}`;
    case "net":
      return `net:${device.mac}`;
    case "agent":
      return device.execSocketPath !== undefined ? "agent+exec" : "agent";
    case "fs":
      return `fs:${device.tag}`;
  }
}

export function shapeOf(spec: VmSpec, qemuBinary: string, accelerator: string): Shape {
  const binary = statSync(qemuBinary);
  return {
    format: TEMPLATE_FORMAT,
    qemu: { path: qemuBinary, size: binary.size, mtime: binary.mtimeMs },
    accelerator,
    hostTscKhz: hostTscKhz() ?? null,
    // Both paths name their contents' hashes (kernel/krunfw<N>-<hash>.elf, system/system2-<hash>.ext4).
    kernel: spec.kernel.elfPath,
    systemDisk: spec.devices.flatMap((device) => (device.kind === "disk" && device.id === "system" ? [device.path] : [])).join(),
    // The base arguments too: a template booted with other ones is another guest.
    kernelArgs: [...BASE_KERNEL_ARGS, ...spec.kernelArgs],
    cpus: spec.cpus,
    memoryMib: spec.memoryMib,
    devices: spec.devices.map(deviceShape),
  };
}

export function templatesDir(config: Config): string {
  return join(config.runtimeDir, "templates");
}

function templateAt(dir: string, key: string): Template {
  return { key, dir, statePath: join(dir, "state"), ramPath: join(dir, "ram") };
}

/** The template in `dir` when it is whole and is the one for `key`; else why not. */
function checkTemplate(dir: string, key: string, memoryMib: number): Template | string {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
  } catch (error) {
    return `its manifest cannot be read: ${String(error)}`;
  }
  if (manifest.format !== TEMPLATE_FORMAT || manifest.key !== key) return "its manifest is for another shape";
  const template = templateAt(dir, key);
  try {
    if (sha256Hex(readFileSync(template.statePath)) !== manifest.state_sha256) return "its state file does not match its checksum";
    if (statSync(template.ramPath).size !== memoryMib * MIB || manifest.ram_bytes !== memoryMib * MIB) return "its memory file has the wrong size";
  } catch (error) {
    return `its files cannot be read: ${String(error)}`;
  }
  return template;
}

/**
 * Boots the template VM in `build`: the box's shape with stand-ins (an empty disk, a NIC
 * plugged into a socket that drops everything), waits for the agent, and saves the VM with
 * the host still connected (migration.ts waitForAgentClient says why) and its RAM in `ram`.
 */
async function bootAndSave(config: Config, qemuBinary: string, accelerator: string, spec: VmSpec, build: string): Promise<void> {
  const placeholder = join(build, "placeholder.raw");
  writeFileSync(placeholder, "");
  truncateSync(placeholder, PLACEHOLDER_BYTES);
  const sinks = spec.devices.filter((device) => device.kind === "net").map((_, index) => join(build, `net${index}.sock`));
  const listeners = sinks.map((path) => Bun.listen({ unix: path, socket: { data() {} } }));
  let nics = 0;
  const devices = spec.devices.map((device): VmDevice => {
    if (device.kind === "disk" && device.id !== "system") return { ...device, path: placeholder, format: "raw" };
    if (device.kind === "net") return { ...device, socketPath: sinks[nics++] ?? "" };
    if (device.kind === "agent")
      return { ...device, socketPath: join(build, "agent.sock"), ...(device.execSocketPath !== undefined ? { execSocketPath: join(build, "exec.sock") } : {}) };
    return device;
  });
  // boxlite.template=1: the agent does before it is saved what every box's CONFIG would (docs/templates.md).
  const shape: VmSpec = {
    ...spec,
    boxId: "template",
    devices,
    helpers: [],
    consolePath: join(build, "console.log"),
    kernelArgs: [...spec.kernelArgs, "boxlite.template=1"],
    // None of the box's files: its disk's backing chain is not the stand-in's.
    ...(spec.jail ? { jail: { readOnly: [] } } : {}),
  };
  const argv = [qemuBinary, ...boxArgs(shape, accelerator, { ramFile: { path: join(build, "ram"), shared: true }, incoming: false })];
  // Jailed as the box that asked for it would be; its memory file then belongs to the jail's group, which every jailed box that restores it is in.
  const jail = spec.jail ? { jail: qemuJail(shape, qemuBinary, accelerator, { name: `template-${basename(build)}` }) } : {};
  const vm = await spawnVmm(config, { what: "QEMU (template)", argv, agentSocketPath: join(build, "agent.sock"), helpers: [], ...jail });
  let channel: GuestChannel | undefined;
  try {
    ({ channel } = await GuestChannel.connect(join(build, "agent.sock"), { timeoutMs: config.bootTimeoutMs, vmExited: vm.exited }));
    const qmp = await QmpClient.connect(qmpSocketOf(shape));
    try {
      await saveVm(qmp, qmpSocketOf(shape), join(build, "state"), { ramInFile: true });
    } finally {
      qmp.close();
    }
  } finally {
    vm.kill("SIGKILL");
    await vm.exited;
    channel?.close();
    for (const listener of listeners) listener.stop(true);
  }
  for (const path of [placeholder, join(build, "agent.sock"), join(build, "exec.sock"), qmpSocketOf(shape), ...sinks]) rmSync(path, { force: true });
}

async function buildTemplate(config: Config, qemuBinary: string, accelerator: string, spec: VmSpec, key: string, shape: Shape): Promise<void> {
  const root = templatesDir(config);
  mkdirSync(root, { recursive: true });
  sweepDeadLeftovers(root);
  const dest = join(root, key);
  try {
    await publishFile(dest, async (build) => {
      mkdirSync(build);
      await bootAndSave(config, qemuBinary, accelerator, spec, build);
      // A jailed box restores it as its own uid, in the jail's group, and QEMU 7.2 opens it read-write (qemu.ts restore).
      // Published, the template is boxlite's again, not its build's uid's.
      if (process.getuid?.() === 0) {
        for (const path of [build, ...readdirSync(build).map((name) => join(build, name))]) chownSync(path, 0, 0);
        chownSync(join(build, "ram"), 0, JAIL_ID_BASE);
        chmodSync(join(build, "ram"), 0o660);
      }
      const manifest: Manifest = {
        format: TEMPLATE_FORMAT,
        key,
        shape,
        state_sha256: sha256Hex(readFileSync(join(build, "state"))),
        ram_bytes: statSync(join(build, "ram")).size,
        created_at: new Date().toISOString(),
      };
      writeFileSync(join(build, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      for (const name of ["state", "ram", "manifest.json"]) fsyncPath(join(build, name));
      fsyncPath(build);
      crashPoint(config, "template-saved");
    });
  } catch (error) {
    // Another process built the same template first: theirs is as good.
    if (!existsSync(join(dest, "manifest.json"))) throw error;
  }
  fsyncPath(root);
}

/** Templates of one QEMU binary and accelerator; what failed to build is not tried again by this process. */
export class Templates {
  /** Keys whose template could not be built or used: their boxes boot cold for the rest of this process. */
  private readonly failed = new Set<string>();
  /** Builds under way in this process, by key: boxes of one shape starting together wait for one build. */
  private readonly building = new Map<string, Promise<void>>();

  constructor(
    private readonly config: Config,
    private readonly qemuBinary: string,
    private readonly accelerator: string,
  ) {}

  /** The template for `spec`'s shape, built first when there is none; undefined (and why) when the box must boot cold. */
  async forSpec(spec: VmSpec): Promise<Template | undefined> {
    if (!this.config.templates || templateRefusal(spec)) return undefined;
    const shape = shapeOf(spec, this.qemuBinary, this.accelerator);
    const key = sha256Hex(JSON.stringify(shape)).slice(0, 24);
    if (this.failed.has(key)) return undefined;
    const dir = join(templatesDir(this.config), key);
    if (existsSync(dir)) {
      const found = checkTemplate(dir, key, spec.memoryMib);
      if (typeof found !== "string") return found;
      this.discard(templateAt(dir, key), found);
    }
    let build = this.building.get(key);
    if (!build) {
      build = buildTemplate(this.config, this.qemuBinary, this.accelerator, spec, key, shape).finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    try {
      await build;
    } catch (error) {
      this.failed.add(key);
      if (this.config.debug) console.error(`boxlite: cannot build a template, booting cold: ${String(error)}`);
      return undefined;
    }
    const built = checkTemplate(dir, key, spec.memoryMib);
    if (typeof built !== "string") return built;
    this.failed.add(key);
    if (this.config.debug) console.error(`boxlite: the template just built in ${dir} is not usable, booting cold: ${built}`);
    return undefined;
  }

  /** A template that failed to restore, or is damaged: removed, so the next start builds a new one. */
  discard(template: Template, why: string): void {
    discardDir(template.dir);
    if (this.config.debug) console.error(`boxlite: discarded template ${template.key}: ${why}`);
  }
}
