/**
 * Pausing a QEMU box and switching its disk to a new overlay, over QMP. `stop` drains and
 * flushes every disk before it returns, so the files on the host are whole while paused;
 * `blockdev-snapshot` puts a new overlay on top of the running disk, QEMU's own way of
 * taking an external snapshot, so the old file is only read from then on.
 */
import { BoxliteError } from "../../util/errors.ts";
import type { VmControl, VmIdentity } from "../backend.ts";
import { giveToDirOwner } from "../jail/jail.ts";
import { saveVm } from "./migration.ts";
import { QmpClient } from "./qmp.ts";

/** The -drive id of a box disk (args.ts), which QMP calls the device. */
export function driveId(diskId: string): string {
  return `disk-${diskId}`;
}

/** One entry of `query-block`: a drive and what is inserted in it (its top node, its image). */
export interface BlockInfo {
  device?: string;
  inserted?: { "node-name"?: string; file?: string; image?: { "virtual-size"?: number } };
}

let overlays = 0;

/** What saving a VM's state needs to know of it (qemu.ts): whether it can be, and what it is. */
export interface SaveInfo {
  refusal: string | undefined;
  /** The VM's identity, given the ids of its RAM backends as QEMU reports them. */
  identity(ram: string[]): VmIdentity;
}

interface MemdevInfo {
  id?: string;
}

export class QemuControl implements VmControl {
  private client: Promise<QmpClient> | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly save: SaveInfo,
  ) {}

  saveRefusal(): string | undefined {
    return this.save.refusal;
  }

  async saveState(path: string): Promise<VmIdentity> {
    if (this.save.refusal !== undefined) throw new BoxliteError("unsupported", this.save.refusal);
    const memdevs = (await this.execute("query-memdev")) as MemdevInfo[];
    const ram = memdevs.map((memdev) => memdev.id ?? "");
    // A template-restored box's RAM is a private mapping of the template's file: without
    // x-ignore-shared every page the guest has goes into the state, so it needs no file.
    await this.withClient((client) => saveVm(client, this.socketPath, path, { ramInFile: false }));
    return this.save.identity(ram);
  }

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
    // A jailed QEMU opens it as the box's uid.
    giveToDirOwner(overlayPath);
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

  private execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return this.withClient((client) => client.execute(command, args));
  }

  private async withClient<T>(use: (client: QmpClient) => Promise<T>): Promise<T> {
    this.client ??= QmpClient.connect(this.socketPath);
    try {
      return await use(await this.client);
    } catch (error) {
      // A broken connection is dialed again next time; a refusal leaves it usable.
      this.close();
      throw error;
    }
  }
}
