/**
 * The runtime's front door, shared by the CLI and the scripting API (src/index.ts):
 * one home directory, one configuration.
 */
import type { Socket } from "node:net";
import { arch, platform } from "node:os";
import { type Config, type ConfigFlags, loadConfig } from "../config/config.ts";
import { DEFAULT_IMAGE_NAME } from "../image/default-image.ts";
import type { ExecHandlers } from "../guest-protocol/execution.ts";
import { VERSION } from "../config/version.ts";
import { selectBackend } from "../vmm/select.ts";
import { listBoxSummaries } from "../db/box-summaries.ts";
import { boxLayout } from "./box-layout.ts";
import { type BoxView, boxView, VIEW_DEFAULTS, withSuspended } from "./box-view.ts";
import { prepareGuestAssets } from "./guest-assets.ts";
import { type Home, openHome } from "./home.ts";
import { reconcileListed, resolveReconciled } from "./reconcile.ts";
import { removeBoxByName } from "./remove.ts";
import type { RunOptions } from "./options.ts";
import { type BoxRun, startRun } from "./run.ts";
import { type BoxExec, type ExecOptions, execInBox } from "./exec.ts";
import { createBox } from "./create.ts";
import { type BoxStats, boxStats } from "./stats.ts";
import { dialPort, readyForTunnel } from "./tunnel.ts";
import { type CopyOptions, copyFromBox, copyToBox, filesInStream, filesOutStream, type FilesOutStream } from "./copy.ts";
import { pauseBox, resumeBox, startDetached, stopBox, suspendBox } from "./lifecycle.ts";
import { type SuperviseOptions, superviseBox } from "./supervisor.ts";
import { attachMain, type MainConnection, startMain } from "./attach.ts";
import * as images from "./images.ts";
import * as volumes from "./named-volumes.ts";
import * as snapshots from "./snapshots.ts";
import { type CloneOptions, cloneBox } from "./clone.ts";
import { exportBox } from "./export.ts";
import { type ImportOptions, importBox } from "./import.ts";
import type { SnapshotInfo } from "../db/snapshots.ts";
import type { BoxliteApi, RuntimeInfo } from "./api.ts";
import { DEFAULT_SECURITY, describeJail } from "../vmm/jail/host.ts";
import { jailHost } from "../vmm/jail/jail.ts";
import type { ImageInfo } from "./images.ts";
import type { PulledImage, PullEvent } from "../image/pull.ts";

export type { RuntimeInfo } from "./api.ts";

export class Boxlite implements BoxliteApi {
  private opened?: Promise<Home>;

  /**
   * `onWarning` hears about problems found in the home that did not stop it opening.
   * `ownsUndetached`: boxes created with detach: false that this runtime starts are
   * stopped when this process exits (the default, as the reference's runtime; the CLI
   * turns it off, its commands being short-lived).
   */
  constructor(
    readonly config: Readonly<Config>,
    private readonly onWarning: (message: string) => void = () => {},
    private readonly ownsUndetached = true,
  ) {}

  /** This runtime with `changes` to its configuration, before its home is opened (`serve --security`). */
  withConfig(changes: Partial<Config>): Boxlite {
    return new Boxlite(Object.freeze({ ...this.config, ...changes }), this.onWarning, this.ownsUndetached);
  }

  /** The home, opened (and migrated) on first use. */
  home(): Promise<Home> {
    this.opened ??= openHome(this.config, this.ownsUndetached).then((home) => {
      for (const warning of home.warnings) this.onWarning(warning);
      return home;
    });
    return this.opened;
  }

  static open(flags: ConfigFlags = {}, onWarning?: (message: string) => void): Boxlite {
    return new Boxlite(loadConfig(flags), onWarning);
  }

  async info(): Promise<RuntimeInfo> {
    const assets = await prepareGuestAssets(this.config);
    const { backend, rejected } = await selectBackend(this.config, assets);
    const described = await backend.describe();
    const boxes = await this.listBoxes({ all: true });
    const count = (status: string) => boxes.filter((box) => box.status === status).length;
    return {
      version: VERSION,
      homeDir: this.config.home,
      os: platform(),
      arch: arch(),
      vmm: {
        backend: described.name,
        binary: described.binary,
        accelerator: described.accelerator,
        reason: described.reason,
        rejected,
        templates: described.templates,
        suspend: described.suspend,
      },
      kernel: {
        source: "libkrunfw",
        origin: assets.kernel.libkrunfwOrigin,
        path: assets.kernel.libkrunfwPath,
        image: assets.kernel.elfPath,
        libkrunfwVersion: assets.kernel.libkrunfwVersion,
        linuxVersion: assets.kernel.linuxVersion,
      },
      systemDisk: assets.systemDisk,
      security: describeJail(jailHost(this.config), this.config.security ?? DEFAULT_SECURITY),
      defaultImage: DEFAULT_IMAGE_NAME,
      boxesTotal: boxes.length,
      boxesRunning: count("running"),
      boxesStopped: count("stopped"),
      boxesConfigured: count("configured"),
      imagesCount: (await this.listImages()).length,
    };
  }

  /** Boxes, newest first; by default only those with a VM (running or paused). */
  async listBoxes(options: { all?: boolean } = {}): Promise<BoxView[]> {
    const { database } = await this.home();
    const read = () => listBoxSummaries(database.db, VIEW_DEFAULTS, { activeOnly: !options.all });
    const boxes = read();
    return (reconcileListed(this.config, database, boxes) ? read() : boxes).map((view) => withSuspended(this.config, view));
  }

  /** A box by id, name or unique id prefix. */
  async getBox(idOrName: string): Promise<BoxView> {
    const { database } = await this.home();
    const record = resolveReconciled(this.config, database, idOrName);
    return withSuspended(this.config, boxView(record));
  }

  /** Where a box's console (kernel and guest agent output) is written. */
  consoleLogPath(id: string): string {
    return boxLayout(this.config, id).consoleLog;
  }

  /** Removes a box (refused while its VM runs, unless forced); returns its id. */
  async removeBox(idOrName: string, options: { force?: boolean } = {}): Promise<string> {
    return removeBoxByName(await this.home(), idOrName, options.force ?? false);
  }

  /** Boots a box and starts `options`' command in it, pulling its image first when needed; see BoxRun. */
  async run(options: RunOptions, handlers: ExecHandlers, onPull?: (event: PullEvent) => void): Promise<BoxRun> {
    return startRun(await this.home(), options, handlers, onPull);
  }

  /** Creates a box (pulling its image when needed) without starting it; returns its id. */
  async create(options: RunOptions, onPull?: (event: PullEvent) => void): Promise<string> {
    return createBox(await this.home(), options, onPull);
  }

  /**
   * Starts a stored box in the background (its own supervisor process); returns its id once
   * it runs. `hold`: its main command waits for `startMain` (attach first, then start).
   */
  async start(idOrName: string, options: SuperviseOptions = {}): Promise<string> {
    return startDetached(await this.home(), idOrName, options);
  }

  /** Attaches to a running box's main command through its owner (one client at a time). */
  async attachMain(idOrName: string, handlers: ExecHandlers): Promise<MainConnection> {
    return attachMain(await this.home(), idOrName, handlers);
  }

  /** Runs a running box's held main command (a no-op when it already started). */
  async startMain(idOrName: string): Promise<void> {
    return startMain(await this.home(), idOrName);
  }

  /** Stops a running box: SIGTERM to its main command, power-off after `timeoutMs`; returns its id. */
  async stop(idOrName: string, options: { timeoutMs?: number } = {}): Promise<string> {
    return stopBox(await this.home(), idOrName, options.timeoutMs);
  }

  /**
   * Stops a running box's VM in place, through its owner: its vCPUs stop, its memory and
   * VMM stay, and it is `paused` until `unpause` or `stop`; returns its id.
   */
  async pause(idOrName: string): Promise<string> {
    return pauseBox(await this.home(), idOrName, "pause");
  }

  /** Lets a paused box go on where it stopped; returns its id. */
  async unpause(idOrName: string): Promise<string> {
    return pauseBox(await this.home(), idOrName, "unpause");
  }

  /**
   * Suspends a running or paused box (docs/suspend.md): its whole state — memory, processes —
   * saved into its directory and its VM ended; it is `stopped` (suspended) until `resume` or
   * `start` brings it back where it was. Returns its id. QEMU only; not a box with volumes.
   */
  async suspend(idOrName: string): Promise<string> {
    return suspendBox(await this.home(), idOrName);
  }

  /** Brings a suspended box back where it was; returns its id once it runs. A box that is not suspended is refused (`conflict`). */
  async resume(idOrName: string): Promise<string> {
    return resumeBox(await this.home(), idOrName);
  }

  /** The supervisor of a detached box (`boxlite __supervise`): runs it until it stops. */
  async supervise(id: string, options: SuperviseOptions = {}): Promise<number> {
    return superviseBox(await this.home(), id, options);
  }

  /** Copies `box:srcPath` (docker cp rules) to `hostDst`. */
  async copyFromBox(box: string, srcPath: string, hostDst: string, options: CopyOptions = {}): Promise<void> {
    return copyFromBox(await this.home(), box, srcPath, hostDst, options);
  }

  /** Copies `hostSrc` to `box:dstPath` (docker cp rules). */
  async copyToBox(hostSrc: string, box: string, dstPath: string, options: CopyOptions = {}): Promise<void> {
    return copyToBox(await this.home(), hostSrc, box, dstPath, options);
  }

  /** A tar of `path` (absolute) in a running box, streamed; rejects (not_found) before any byte when the path is missing. */
  async filesOutStream(box: string, path: string, options: CopyOptions = {}): Promise<FilesOutStream> {
    return filesOutStream(await this.home(), box, path, options);
  }

  /** Extracts the tar `body` into the directory `path` (absolute) in a running box. */
  async filesInStream(box: string, path: string, body: AsyncIterable<Uint8Array>, options: CopyOptions = {}): Promise<void> {
    return filesInStream(await this.home(), box, path, body, options);
  }

  /** CPU and memory of a running box's VMM, sampled over `intervalMs`. */
  async stats(idOrName: string, intervalMs?: number): Promise<BoxStats> {
    return boxStats(await this.home(), idOrName, intervalMs);
  }

  /** A connection to TCP `port` in the box (booted first if it is stopped), through its network process. */
  async dialPort(idOrName: string, port: number): Promise<Socket> {
    return dialPort(await this.home(), idOrName, port);
  }

  /** Readies a box for tunnels to its ports (booted if stopped; refused without a network); returns its id. */
  async readyForTunnel(idOrName: string): Promise<string> {
    return readyForTunnel(await this.home(), idOrName);
  }

  /** Runs another command in a running box, through its box socket. */
  async exec(idOrName: string, options: ExecOptions, handlers: ExecHandlers): Promise<BoxExec> {
    return execInBox(await this.home(), idOrName, options, handlers);
  }

  /** Pulls an image into the home's cache (answered from the cache when complete there). */
  async pullImage(reference: string, onEvent?: (event: PullEvent) => void): Promise<PulledImage> {
    return images.pull(await this.home(), reference, onEvent);
  }

  /** The cached images, most recently pulled first. */
  async listImages(): Promise<ImageInfo[]> {
    return images.list(await this.home());
  }

  /** Removes a cached image (refused while a box uses it, unless forced); returns the references removed. */
  async removeImage(reference: string, options: { force?: boolean } = {}): Promise<string[]> {
    return images.remove(await this.home(), reference, options);
  }

  async createVolume(options: { name?: string } = {}): Promise<volumes.VolumeRecord> {
    return volumes.createVolume(this.config.home, options);
  }

  async listVolumes(): Promise<volumes.VolumeRecord[]> {
    return volumes.listVolumes(this.config.home);
  }

  async getVolume(idOrName: string): Promise<volumes.VolumeRecord> {
    return volumes.getVolume(this.config.home, idOrName);
  }

  async removeVolume(idOrName: string, options: { force?: boolean } = {}): Promise<string | undefined> {
    const home = await this.home();
    return volumes.removeVolume(this.config.home, idOrName, { force: options.force, usedBy: (id) => volumes.volumeInUse(home, id) });
  }

  /** Snapshots the box's disk (a running box is paused for the fork, then goes on). */
  async createSnapshot(idOrName: string, name: string): Promise<SnapshotInfo> {
    return snapshots.createSnapshot(await this.home(), idOrName, name);
  }

  /** The box's snapshots, newest first. */
  async listSnapshots(idOrName: string): Promise<SnapshotInfo[]> {
    return snapshots.listBoxSnapshots(await this.home(), idOrName);
  }

  async getSnapshot(idOrName: string, name: string): Promise<SnapshotInfo> {
    return snapshots.getSnapshot(await this.home(), idOrName, name);
  }

  /** Removes a snapshot; refused while another disk needs it. */
  async removeSnapshot(idOrName: string, name: string): Promise<void> {
    snapshots.removeSnapshot(await this.home(), idOrName, name);
  }

  /** Puts a stopped box's disk back to a snapshot. */
  async restoreSnapshot(idOrName: string, name: string): Promise<void> {
    snapshots.restoreSnapshot(await this.home(), idOrName, name);
  }

  /** Clones a box into new stopped boxes sharing one base disk; returns their ids. */
  async cloneBox(idOrName: string, options: CloneOptions = {}): Promise<string[]> {
    return cloneBox(await this.home(), idOrName, options);
  }

  /** Writes the box as a .boxlite archive at `dest` (a directory: `<name or "box">.boxlite` in it); the archive's path. */
  async exportBox(idOrName: string, dest: string): Promise<string> {
    return exportBox(await this.home(), idOrName, dest);
  }

  /** Makes a new stopped box from a .boxlite archive; its id. */
  async importBox(archivePath: string, options: ImportOptions = {}): Promise<string> {
    return importBox(await this.home(), archivePath, options);
  }
}
