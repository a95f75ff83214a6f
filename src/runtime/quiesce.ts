/**
 * A running box held still for a client of its box socket (QUIESCE, docs/snapshots.md): the
 * guest freezes the box's filesystem (its writes reach the disk), the VMM stops (QEMU also
 * flushes), the box's disk is forked when asked, and the box is `paused` until the client
 * resumes it or goes away. One hold at a time; the box's owner runs this.
 */
import { basename, dirname, relative, sep } from "node:path";
import { forkDisk } from "../disk/fork.ts";
import type { QuiesceRequest } from "../guest-protocol/quiesce.ts";
import type { QuiesceHold } from "../guest-protocol/relay-holds.ts";
import { BoxliteError } from "../util/errors.ts";
import type { BootedBox } from "./boot.ts";
import { setBoxState } from "./box-facts.ts";
import type { Home } from "./home.ts";

/** The rootfs disk's id in the VM spec (boot.ts): what QEMU's -drive is named after. */
const ROOTFS_DISK = "rootfs";

/** A fork's destination must be a new file where boxlite keeps immutable disks of this home. */
function checkForkDest(home: Home, dest: string): void {
  const inside = relative(home.config.home, dest);
  const parts = inside.split(sep);
  const snapshot = parts.length === 5 && parts[0] === "boxes" && parts[2] === "snapshots" && parts[4] === "disk.qcow2";
  const base = parts.length === 2 && parts[0] === "bases" && (parts[1] ?? "").endsWith(".qcow2");
  if (inside.startsWith("..") || !(snapshot || base)) {
    throw new BoxliteError("invalid_argument", `QUIESCE: ${dest} is not a snapshot or base path of this home`);
  }
}

export class QuiesceGate {
  private held = false;

  constructor(
    private readonly home: Home,
    private readonly id: string,
    private readonly box: BootedBox,
    /** Why the box takes no request now (it is stopping, or paused by a user), or undefined. */
    private readonly ending: () => string | undefined,
  ) {}

  /** Whether a client holds the box still now. */
  get isHeld(): boolean {
    return this.held;
  }

  async hold(request: QuiesceRequest): Promise<QuiesceHold> {
    const why = this.ending();
    if (why !== undefined) throw new BoxliteError("conflict", why);
    if (this.held) throw new BoxliteError("busy", `box ${this.id} is busy: it is paused for another snapshot, clone or export`);
    if (request.fork) checkForkDest(this.home, request.fork.dest);
    this.held = true;
    const { db } = this.home.database;
    const started = performance.now();
    setBoxState(db, this.id, { status: "paused", last_updated: new Date().toISOString() });
    let frozen = false;
    let paused = false;
    try {
      await this.box.channel.freeze();
      frozen = true;
      await this.box.control.pause();
      paused = true;
      const fork = request.fork;
      if (fork) {
        const live = this.box.layout.disk;
        const { next } = fork;
        if (dirname(next) !== dirname(live) || !basename(next).startsWith(".next-"))
          throw new BoxliteError("invalid_argument", `QUIESCE: ${next} is not a new overlay name beside the box's disk`);
        await forkDisk({ live, dest: fork.dest, next }, { switchLive: (path) => this.box.control.switchDisk(ROOTFS_DISK, path) });
      }
    } catch (error) {
      await this.release(paused, frozen);
      throw error;
    }
    const pauseMs = performance.now() - started;
    let released = false;
    return {
      pauseMs,
      release: async () => {
        if (released) return;
        released = true;
        await this.release(true, true);
      },
    };
  }

  private async release(paused: boolean, frozen: boolean): Promise<void> {
    try {
      if (paused) await this.box.control.resume();
      if (frozen) await this.box.channel.thaw();
    } finally {
      this.held = false;
      // A box stopping meanwhile has moved on: its status is its owner's to say.
      if (this.ending() === undefined) setBoxState(this.home.database.db, this.id, { status: "running", last_updated: new Date().toISOString() });
    }
  }
}
