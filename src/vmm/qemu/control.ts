/**
 * Pausing a QEMU box and switching its disk to a new overlay, over QMP. `stop` drains and
 * flushes every disk before it returns, so the files on the host are whole while paused;
 * `blockdev-snapshot` puts a new overlay on top of the running disk, QEMU's own way of
 * taking an external snapshot, so the old file is only read from then on.
 */
import { BoxliteError } from "../../util/errors.ts";
import type { VmControl } from "../backend.ts";
import { QmpClient } from "./qmp.ts";

/** The -drive id of a box disk (args.ts), which QMP calls the device. */
export function driveId(diskId: string): string {
  return `disk-${diskId}`;
}

interface BlockInfo {
  device?: string;
  inserted?: { "node-name"?: string; file?: string };
}

let overlays = 0;

export class QemuControl implements VmControl {
  private client: Promise<QmpClient> | undefined;

  constructor(private readonly socketPath: string) {}

  async pause(): Promise<void> {
    await this.execute("stop");
  }

  async resume(): Promise<void> {
    await this.execute("cont");
  }

  async switchDisk(diskId: string, overlayPath: string): Promise<void> {
    const node = (await this.topOf(diskId))?.["node-name"];
    if (!node) throw new BoxliteError("vmm_failed", `QEMU has no disk ${driveId(diskId)} to switch`);
    // Unique within this QEMU: node names start with a letter and are at most 31 characters.
    const overlay = `top-${process.pid.toString(36)}-${(overlays++).toString(36)}`;
    await this.execute("blockdev-add", {
      driver: "qcow2",
      "node-name": overlay,
      discard: "unmap",
      file: { driver: "file", filename: overlayPath, discard: "unmap" },
      // Its backing file is the node it goes on top of, not a second copy opened by name.
      backing: null,
    });
    try {
      await this.execute("blockdev-snapshot", { node, overlay });
    } catch (error) {
      // An answer lost after QEMU switched (a timeout, a dropped connection): writes already go
      // to the overlay, and undoing the fork would lose them. Ask what the disk's top is now.
      const top = await this.topOf(diskId).catch(() => undefined);
      if (top?.file !== overlayPath) throw error;
    }
  }

  private async topOf(diskId: string): Promise<BlockInfo["inserted"]> {
    const blocks = (await this.execute("query-block")) as BlockInfo[];
    return blocks.find((block) => block.device === driveId(diskId))?.inserted;
  }

  close(): void {
    void this.client?.then((client) => client.close()).catch(() => {});
    this.client = undefined;
  }

  private async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.client ??= QmpClient.connect(this.socketPath);
    try {
      return await (await this.client).execute(command, args);
    } catch (error) {
      // A broken connection is dialed again next time; a refusal leaves it usable.
      this.close();
      throw error;
    }
  }
}
