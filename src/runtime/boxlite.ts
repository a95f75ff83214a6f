/**
 * The runtime's front door, shared by the CLI and the scripting API (src/index.ts):
 * one home directory, one configuration.
 */
import { arch, platform } from "node:os";
import { type Config, type ConfigFlags, loadConfig } from "../config/config.ts";
import { DEFAULT_IMAGE_NAME } from "../image/default-image.ts";
import type { ExecHandlers } from "../guest-protocol/execution.ts";
import { VERSION } from "../config/version.ts";
import { selectBackend } from "../vmm/select.ts";
import { prepareGuestAssets } from "./guest-assets.ts";
import type { RunOptions } from "./options.ts";
import { type BoxRun, startRun } from "./run.ts";

export interface RuntimeInfo {
  version: string;
  homeDir: string;
  os: string;
  arch: string;
  vmm: {
    backend: string;
    binary?: string;
    accelerator: string;
    reason: string;
    rejected: Array<{ name: string; reason: string }>;
  };
  /** `path` is the libkrunfw library; `image` the wrapped kernel QEMU boots. */
  kernel: { source: string; path: string; image: string; libkrunfwVersion: number; linuxVersion: string };
  systemDisk: string;
  defaultImage: string;
}

export class Boxlite {
  constructor(readonly config: Readonly<Config>) {}

  static open(flags: ConfigFlags = {}): Boxlite {
    return new Boxlite(loadConfig(flags));
  }

  async info(): Promise<RuntimeInfo> {
    const assets = await prepareGuestAssets(this.config);
    const { backend, rejected } = selectBackend(this.config, assets);
    const described = await backend.describe();
    return {
      version: VERSION,
      homeDir: this.config.home,
      os: platform(),
      arch: arch(),
      vmm: { backend: described.name, binary: described.binary, accelerator: described.accelerator, reason: described.reason, rejected },
      kernel: {
        source: "libkrunfw",
        path: assets.kernel.libkrunfwPath,
        image: assets.kernel.elfPath,
        libkrunfwVersion: assets.kernel.libkrunfwVersion,
        linuxVersion: assets.kernel.linuxVersion,
      },
      systemDisk: assets.systemDisk,
      defaultImage: DEFAULT_IMAGE_NAME,
    };
  }

  /** Boots a box and starts `options`' command in it; see BoxRun. */
  run(options: RunOptions, handlers: ExecHandlers): Promise<BoxRun> {
    return startRun(this.config, options, handlers);
  }
}
