/**
 * The interface the CLI and scripts program against: the local runtime (Boxlite, over a
 * home directory) and the REST client (RemoteBoxlite, over `boxlite serve`) both
 * implement it, so every command works either way. What a transport cannot do it
 * refuses with `unsupported`, saying what to use instead.
 */
import type { ExecHandlers, ExecutionHandle, ExitStatus } from "../guest-protocol/execution.ts";
import type { PullEvent } from "../image/pull.ts";
import type { LibkrunfwOrigin } from "../vmm/kernel/libkrunfw-source.ts";
import type { BoxView } from "./box-view.ts";
import type { CopyOptions } from "./copy.ts";
import type { ExecExit, ExecOptions } from "./exec.ts";
import type { ImageInfo } from "./images.ts";
import type { RunOptions } from "./options.ts";
import type { BoxStats } from "./stats.ts";
import type { VolumeRecord } from "./named-volumes.ts";
import type { Socket } from "node:net";
import type { SnapshotInfo } from "../db/snapshots.ts";

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
    /** Whether boxes start from memory templates, and why or why not (docs/templates.md). */
    templates: { enabled: boolean; reason: string; dir?: string };
    /** Whether boxes can be suspended, and what limits it (docs/suspend.md). */
    suspend: { enabled: boolean; reason: string };
  };
  /**
   * `path` is the libkrunfw library: the copy embedded in boxlite, extracted to the runtime
   * directory (`origin` "embedded"), or BOXLITE_LIBKRUNFW's. `image` is the wrapped kernel QEMU boots.
   */
  kernel: { source: string; origin: LibkrunfwOrigin; path: string; image: string; libkrunfwVersion: number; linuxVersion: string };
  systemDisk: string;
  /**
   * The jail around each VMM on this host (docs/security.md): the default boxes get, each
   * layer with whether it applies and why, and why a jailed box cannot start here, if it cannot.
   * Only a local runtime reports it (a server's operator decides its boxes' jail).
   */
  security?: {
    default: string;
    refusal?: string;
    cgroup?: string;
    layers: Record<string, { active: boolean; reason: string }>;
  };
  defaultImage: string;
  /** Box counts of this home, as the reference's `info` reports them. */
  boxesTotal: number;
  boxesRunning: number;
  boxesStopped: number;
  boxesConfigured: number;
  imagesCount: number;
}

export type { ExecutionHandle } from "../guest-protocol/execution.ts";

/** An `exec`: its command, its exit, and the connection it runs over. */
export interface ExecSession {
  execution: ExecutionHandle;
  /** Settles with the command's exit; the connection is then done with (closed, or kept idle for the next exec of the box). */
  done: Promise<ExecExit>;
  /** Closes the connection while the command runs (a detached command keeps running). */
  close(): void;
}

/** A foreground `run`: the box's main command, streamed. */
export interface RunSession {
  id: string;
  execution: ExecutionHandle;
  done: Promise<ExitStatus>;
  stop(timeoutMs?: number): void;
}

/** What a pull reports; a server answers less than the local runtime knows (no config digest, no layers). */
export interface PullResult {
  reference: string;
  manifestDigest: string;
  configDigest?: string;
  layers?: readonly unknown[];
  /** True when nothing was fetched; undefined when the runtime cannot tell. */
  cached?: boolean;
}

/** Exactly what the CLI commands call (src/cli/*.ts). */
export interface BoxliteApi {
  /** Boxes, newest first; by default only those with a VM (running or paused). */
  listBoxes(options?: { all?: boolean }): Promise<BoxView[]>;
  /** A box by id, name or unique id prefix (not_found otherwise). */
  getBox(idOrName: string): Promise<BoxView>;
  /** Creates a box without starting it; returns its id. */
  create(options: RunOptions, onPull?: (event: PullEvent) => void): Promise<string>;
  /** Starts a stored box in the background; returns its id. */
  start(idOrName: string): Promise<string>;
  /** Stops a running box; returns its id. */
  stop(idOrName: string, options?: { timeoutMs?: number }): Promise<string>;
  /** Stops a running box's VM in place (docker pause: its memory and processes kept, nothing runs) until unpause or stop; returns its id. */
  pause(idOrName: string): Promise<string>;
  /** Lets a paused box go on; returns its id. */
  unpause(idOrName: string): Promise<string>;
  /** Saves a running or paused box's whole state into its directory and ends its VM (docs/suspend.md); returns its id. */
  suspend(idOrName: string): Promise<string>;
  /** Brings a suspended box back where it was; returns its id. */
  resume(idOrName: string): Promise<string>;
  /** Removes a box (refused while it runs, unless forced); returns its id. */
  removeBox(idOrName: string, options?: { force?: boolean }): Promise<string>;
  /** Boots a box and streams its main command (local only). */
  run(options: RunOptions, handlers: ExecHandlers, onPull?: (event: PullEvent) => void): Promise<RunSession>;
  /** Runs another command in a running box. */
  exec(idOrName: string, options: ExecOptions, handlers: ExecHandlers): Promise<ExecSession>;
  copyFromBox(box: string, srcPath: string, hostDst: string, options?: CopyOptions): Promise<void>;
  copyToBox(hostSrc: string, box: string, dstPath: string, options?: CopyOptions): Promise<void>;
  stats(idOrName: string, intervalMs?: number): Promise<BoxStats>;
  /** A connection to TCP `port` in the box: through its network process (local) or a tunnel of the server. */
  dialPort(idOrName: string, port: number): Promise<Socket>;
  /** Where a box's console log is on this host (local only). */
  consoleLogPath(id: string): string;
  info(): Promise<RuntimeInfo>;
  pullImage(reference: string, onEvent?: (event: PullEvent) => void): Promise<PullResult>;
  listImages(): Promise<ImageInfo[]>;
  removeImage(reference: string, options?: { force?: boolean }): Promise<string[]>;
  /** Creates a named volume (named after its id when `name` is left out). */
  createVolume(options?: { name?: string }): Promise<VolumeRecord>;
  /** Named volumes, newest first. */
  listVolumes(): Promise<VolumeRecord[]>;
  /** A named volume by id, name or unique id prefix (not_found otherwise). */
  getVolume(idOrName: string): Promise<VolumeRecord>;
  /** Removes a named volume (refused while a box uses it, unless forced); its id, or undefined when forced and there was none. */
  removeVolume(idOrName: string, options?: { force?: boolean }): Promise<string | undefined>;
  /** Snapshots the box's disk; a running box is paused for the fork, then goes on. */
  createSnapshot(idOrName: string, name: string): Promise<SnapshotInfo>;
  /** The box's snapshots, newest first. */
  listSnapshots(idOrName: string): Promise<SnapshotInfo[]>;
  getSnapshot(idOrName: string, name: string): Promise<SnapshotInfo>;
  /** Removes a snapshot (refused while another disk needs it). */
  removeSnapshot(idOrName: string, name: string): Promise<void>;
  /** Puts a stopped box's disk back to a snapshot. */
  restoreSnapshot(idOrName: string, name: string): Promise<void>;
  /** Copies a box's disk and settings into `count` (default 1) new stopped boxes; their ids. */
  cloneBox(idOrName: string, options?: { name?: string; count?: number }): Promise<string[]>;
  /** Writes the box as a .boxlite archive to `dest` (a directory: `<name or "box">.boxlite` inside it); the archive's path. */
  exportBox(idOrName: string, dest: string): Promise<string>;
  /** Makes a new box from a .boxlite archive (`untrusted`: archived security settings are replaced by the defaults); its id. */
  importBox(archivePath: string, options?: { name?: string; untrusted?: boolean }): Promise<string>;
}
