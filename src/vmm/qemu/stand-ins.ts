/**
 * A template's stand-in disks made the box's (docs/templates.md, "How a box starts from
 * it"). The template saved its guest with each box disk bound to a 1 MiB stand-in; the
 * restored QEMU has the box's disks in their place, but the guest still believes the
 * stand-in's size. `block_resize` to a disk's own size changes nothing on it and makes QEMU
 * raise the device's config-change interrupt, on which the guest reads the size again;
 * WAKE then tells the agent which size to wait for before it drops what it cached of the
 * stand-in. That costs a few milliseconds, where binding the disk afresh cost 30–80.
 */
import type { WakeDisk } from "../../guest-protocol/wake.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { VmSpec } from "../backend.ts";
import { type BlockInfo, driveId } from "./control.ts";
import type { QmpClient } from "./qmp.ts";

/** The guest's name of the spec's `index`th disk: vda, vdb, … (backend.ts VmSpec.devices). */
function guestDiskName(index: number): string {
  return `vd${String.fromCharCode("a".charCodeAt(0) + index)}`;
}

/** Signals the box's size of each disk but the system disk to the guest of a VM loaded from a template, still stopped; returns what WAKE tells the agent. */
export async function announceBoxDisks(qmp: QmpClient, spec: VmSpec): Promise<WakeDisk[]> {
  const blocks = (await qmp.execute("query-block")) as BlockInfo[];
  const disks = spec.devices.flatMap((device) => (device.kind === "disk" ? [device] : []));
  const announced: WakeDisk[] = [];
  for (const [index, disk] of disks.entries()) {
    if (disk.id === "system") continue; // the template's own disk, never a stand-in (templates.ts)
    const bytes = blocks.find((block) => block.device === driveId(disk.id))?.inserted?.image?.["virtual-size"];
    if (bytes === undefined) throw new BoxliteError("vmm_failed", `QEMU reports no size for the disk ${driveId(disk.id)}`);
    await qmp.execute("block_resize", { device: driveId(disk.id), size: bytes });
    announced.push({ name: guestDiskName(index), bytes });
  }
  return announced;
}
