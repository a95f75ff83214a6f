/** What every VM boots, prepared (and cached) once per process: the kernel and the system disk. */
import type { Config } from "../config/config.ts";
import { prepareKernel } from "../vmm/kernel/kernel.ts";
import type { GuestAssets } from "../vmm/backend.ts";
import { prepareSystemDisk } from "../vmm/system-disk.ts";

export async function prepareGuestAssets(config: Config): Promise<GuestAssets> {
  const [kernel, systemDisk] = await Promise.all([prepareKernel(config), prepareSystemDisk(config)]);
  return { kernel, systemDisk };
}
