/**
 * RemoteBoxlite: the BoxliteApi over a `boxlite serve` (docs/rest-api.md "Clients"), so
 * the CLI's `--url` and scripts work against a server as they do against a home. Answers
 * take the local runtime's shapes and its errors (codes, and the messages the runtime
 * would give where the client checks first); snapshots, clone, export and import are in
 * client-snapshots.ts. What the REST API has no route for —
 * `logs`, `info`, `rmi`, `exec -u` — is refused with `unsupported`.
 */
import type { Socket } from "node:net";
import { isNamedVolume } from "../model/volumes.ts";
import { connectThroughTunnel } from "./client-tunnel.ts";
import type { ExecHandlers } from "../guest-protocol/execution.ts";
import type { BoxliteApi, ExecSession, PullResult, RunSession, RuntimeInfo } from "../runtime/api.ts";
import type { BoxView } from "../runtime/box-view.ts";
import type { VolumeView } from "../db/box-summaries.ts";
import type { CopyOptions } from "../runtime/copy.ts";
import type { ExecOptions } from "../runtime/exec.ts";
import type { ImageInfo } from "../runtime/images.ts";
import type { VolumeRecord } from "../runtime/named-volumes.ts";
import type { SnapshotInfo } from "../db/snapshots.ts";
import type { RunOptions } from "../runtime/options.ts";
import type { BoxStats } from "../runtime/stats.ts";
import { BoxliteError } from "../util/errors.ts";
import { copyFromRemote, copyToRemote } from "./client-copy.ts";
import { execRemote } from "./client-exec.ts";
import {
  cloneBoxRemote,
  createSnapshotRemote,
  exportBoxRemote,
  getSnapshotRemote,
  importBoxRemote,
  listSnapshotsRemote,
  removeSnapshotRemote,
  restoreSnapshotRemote,
} from "./client-snapshots.ts";
import { runRemote } from "./client-run.ts";
import { RestTransport } from "./client-http.ts";
import { type BoxOptions, checkBoxOptions } from "../model/box-options.ts";
import { decide, factsOfView, isActiveStatus } from "../model/box-state.ts";
import { requestFromOptions } from "../model/codec.ts";

/** The Box of the contract, of which BoxView is a subset; `network` is ours and the newer clients' (a reference server may leave it out). */
interface WireBox extends Omit<BoxView, "network" | "volumes"> {
  labels?: Record<string, string>;
  auto_pause?: number;
  network?: Partial<BoxView["network"]>;
  /** A named volume's id is `managed_volume` on the wire, the newer contract's name. */
  volumes?: Array<Omit<VolumeView, "volume"> & { managed_volume?: string }>;
}

export interface WireImage {
  reference: string;
  repository: string;
  tag: string;
  id: string;
  cached_at: string;
  /** Nullable and optional in the contract: a server need not know an image's size. */
  size_bytes?: number | null;
}

/** The contract's ImageInfo as ours; a size the server leaves out or sends as null is null. */
export function imageFromWire(wire: WireImage): ImageInfo {
  return { reference: wire.reference, repository: wire.repository, tag: wire.tag, id: wire.id, cached_at: wire.cached_at, size: wire.size_bytes ?? null };
}

/** The contract's Volume (create, get) or VolumeSummary (list, without updated_at). */
interface WireVolume {
  id: string;
  name: string;
  created_at: string;
  updated_at?: string;
}

function volumeFromWire(wire: WireVolume): VolumeRecord {
  return { id: wire.id, name: wire.name, created_at: wire.created_at, updated_at: wire.updated_at ?? wire.created_at };
}

interface WireMetrics {
  cpu_percent: number | null;
  memory_bytes: number | null;
  network_bytes_sent?: number | null;
  network_bytes_received?: number | null;
  network_tcp_connections?: number | null;
  network_tcp_errors?: number | null;
}

const PAGE_SIZE = 1000;
const MIB = 1024 * 1024;

function toView(box: WireBox): BoxView {
  const { box_id, name, status, created_at, updated_at, pid, image, cpus, memory_mib, exit_code, error_reason, auto_delete } = box;
  return {
    box_id,
    name,
    status,
    created_at,
    updated_at,
    pid,
    image,
    cpus,
    memory_mib,
    exit_code: exit_code ?? null,
    error_reason: error_reason ?? null,
    auto_delete: auto_delete ?? 0,
    network: {
      mode: box.network?.mode === "disabled" ? "disabled" : "enabled",
      allow_net: box.network?.allow_net ?? [],
      published_ports: box.network?.published_ports ?? [],
    },
    volumes: (box.volumes ?? []).map(({ managed_volume, ...rest }) => (managed_volume === undefined ? rest : { ...rest, volume: managed_volume })),
    ...(box.suspended === true ? { suspended: true } : {}),
  };
}

/** The reference client's words (rest-clients.md), then what to do here. */
export const HOST_VOLUMES_REFUSED =
  "host bind mounts are only supported by the local runtime; use a named volume (boxlite volume create NAME, then -v NAME:BOX), or run without --url (BOXLITE_URL) on the server's host";

function unsupported(what: string, instead: string): BoxliteError {
  return new BoxliteError("unsupported", `${what} is not supported against a server (--url / BOXLITE_URL): ${instead}`);
}

export class RemoteBoxlite implements BoxliteApi {
  private readonly http: RestTransport;

  /** `url` is the server's (`http://127.0.0.1:8100`); `apiKey` its bearer key, when it has one. */
  constructor(
    url: string,
    private readonly apiKey?: string,
  ) {
    this.http = new RestTransport(url, apiKey);
  }

  /** The server's base URL, normalized. */
  get url(): string {
    return this.http.baseUrl;
  }

  async listBoxes(options: { all?: boolean } = {}): Promise<BoxView[]> {
    const boxes: BoxView[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.http.json<{ boxes: WireBox[]; next_page_token?: string | null }>("GET", "/boxes", { query: { pageSize: PAGE_SIZE, pageToken } });
      boxes.push(...page.boxes.map(toView));
      pageToken = page.next_page_token ?? undefined;
    } while (pageToken !== undefined);
    // As the local listing: by default only boxes with a VM.
    return options.all ? boxes : boxes.filter((box) => isActiveStatus(box.status));
  }

  async getBox(idOrName: string): Promise<BoxView> {
    return toView(await this.http.json<WireBox>("GET", this.boxPath(idOrName)));
  }

  /** As locally, a box lives on its own unless `options.detach` says otherwise. */
  async create(options: BoxOptions): Promise<string> {
    // The reference's client refuses them too (no host of ours to mount from): before anything is sent.
    // A named volume is the server's to find; a host path (or an anonymous volume, made on this host) is not.
    if (options.volumes?.some((volume) => !isNamedVolume(volume))) throw new BoxliteError("unsupported", HOST_VOLUMES_REFUSED);
    // Never dropped silently: a request cannot carry it.
    if (options.security !== undefined)
      throw new BoxliteError("unsupported", "a server's boxes get the jail its operator chose (boxlite serve --security); a client cannot set --security");
    checkBoxOptions(options);
    return (await this.http.json<WireBox>("POST", "/boxes", { json: requestFromOptions({ ...options, detach: options.detach ?? true }) })).box_id;
  }

  async start(idOrName: string): Promise<string> {
    const box = await this.getBox(idOrName);
    // As locally: a running box is left as it is (the server would answer it so too).
    if (decide(factsOfView(box), "start") === "noop") return box.box_id;
    return (await this.http.json<WireBox>("POST", `${this.boxPath(box.box_id)}/start`)).box_id;
  }

  async stop(idOrName: string, options: { timeoutMs?: number } = {}): Promise<string> {
    const json = options.timeoutMs === undefined ? {} : { timeout_seconds: options.timeoutMs / 1000 };
    return (await this.http.json<WireBox>("POST", `${this.boxPath(idOrName)}/stop`, { json })).box_id;
  }

  /** `POST …/pause` and `…/unpause`, boxlite's own routes (no contract has them): the server decides, as the local runtime would. */
  async pause(idOrName: string): Promise<string> {
    return (await this.http.json<WireBox>("POST", `${this.boxPath(idOrName)}/pause`)).box_id;
  }

  async unpause(idOrName: string): Promise<string> {
    return (await this.http.json<WireBox>("POST", `${this.boxPath(idOrName)}/unpause`)).box_id;
  }

  /** `POST …/suspend` and `…/resume`, boxlite's own routes (docs/suspend.md). */
  async suspend(idOrName: string): Promise<string> {
    return (await this.http.json<WireBox>("POST", `${this.boxPath(idOrName)}/suspend`)).box_id;
  }

  async resume(idOrName: string): Promise<string> {
    return (await this.http.json<WireBox>("POST", `${this.boxPath(idOrName)}/resume`)).box_id;
  }

  async removeBox(idOrName: string, options: { force?: boolean } = {}): Promise<string> {
    const box = await this.getBox(idOrName);
    // The server's default is force=true (as the reference's); the CLI's is not.
    await this.http.request("DELETE", this.boxPath(box.box_id), { query: { force: options.force ?? false } });
    return box.box_id;
  }

  /** Creates the box, attaches to its main command, starts it (the reference CLI's order), and streams it. */
  async run(options: RunOptions, handlers: ExecHandlers): Promise<RunSession> {
    const { stdin: _stdin, ttySize: _ttySize, ...boxOptions } = options;
    // A foreground run's box ends with it: not detached.
    const id = await this.create({ ...boxOptions, detach: boxOptions.detach ?? false });
    try {
      return await runRemote(this.http, id, options, handlers);
    } catch (error) {
      // As the local run: an auto-remove box is removed on every path.
      if (options.autoRemove) await this.http.request("DELETE", this.boxPath(id), { query: { force: true } }).catch(() => {});
      throw error;
    }
  }

  /** The server boots the box first where the state machine says so, or refuses in its words. */
  async exec(idOrName: string, options: ExecOptions, handlers: ExecHandlers): Promise<ExecSession> {
    const box = await this.getBox(idOrName);
    return execRemote(this.http, box.box_id, options, handlers);
  }

  async copyFromBox(box: string, srcPath: string, hostDst: string, options: CopyOptions = {}): Promise<void> {
    return copyFromRemote(this.http, await this.getBox(box), srcPath, hostDst, options);
  }

  async copyToBox(hostSrc: string, box: string, dstPath: string, options: CopyOptions = {}): Promise<void> {
    return copyToRemote(this.http, await this.getBox(box), hostSrc, dstPath, options);
  }

  /** The server samples CPU over half a second; `intervalMs` is not sent. Uptime counts from the box's last status change. */
  async stats(idOrName: string): Promise<BoxStats> {
    const box = await this.getBox(idOrName);
    decide(factsOfView(box), "stats");
    const metrics = await this.http.json<WireMetrics>("GET", `${this.boxPath(box.box_id)}/metrics`);
    if (metrics.cpu_percent === null || metrics.memory_bytes === null)
      throw new BoxliteError("conflict", `box ${box.box_id} stopped while it was being measured`);
    return {
      box_id: box.box_id,
      name: box.name,
      cpu_percent: metrics.cpu_percent,
      memory_bytes: metrics.memory_bytes,
      memory_limit_bytes: box.memory_mib * MIB,
      cpus: box.cpus,
      uptime_seconds: Math.max(0, Math.round((Date.now() - Date.parse(box.updated_at)) / 1000)),
      network:
        metrics.network_bytes_sent == null
          ? null
          : {
              bytes_sent: metrics.network_bytes_sent,
              bytes_received: metrics.network_bytes_received ?? 0,
              tcp_connections: metrics.network_tcp_connections ?? 0,
              tcp_errors: metrics.network_tcp_errors ?? 0,
            },
    };
  }

  /** Asks the server for the box's tunnel to `port`, then opens one connection through it. */
  async dialPort(idOrName: string, port: number): Promise<Socket> {
    const box = await this.getBox(idOrName);
    const { uri } = await this.http.json<{ uri: string }>("POST", `${this.boxPath(box.box_id)}/network/tunnel`, { query: { port } });
    return connectThroughTunnel(uri, this.apiKey);
  }

  consoleLogPath(): string {
    throw unsupported("logs", "the REST API has no route for a box's console log; run 'boxlite logs' on the server's host");
  }

  info(): Promise<RuntimeInfo> {
    return Promise.reject(unsupported("info", "it describes the host it runs on; run 'boxlite info' on the server's host, or read GET /v1/config and /v1/me"));
  }

  /** Pull progress is not streamed over REST: the answer comes once the image is ready. */
  async pullImage(reference: string): Promise<PullResult> {
    const image = await this.http.json<WireImage>("POST", "/images/pull", { json: { reference } });
    return { reference: image.reference, manifestDigest: image.id };
  }

  async listImages(): Promise<ImageInfo[]> {
    const images: ImageInfo[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.http.json<{ images: WireImage[]; next_page_token?: string | null }>("GET", "/images", {
        query: { pageSize: PAGE_SIZE, pageToken },
      });
      images.push(...page.images.map(imageFromWire));
      pageToken = page.next_page_token ?? undefined;
    } while (pageToken !== undefined);
    return images;
  }

  removeImage(): Promise<string[]> {
    return Promise.reject(unsupported("rmi", "the REST API cannot remove images; run 'boxlite rmi' on the server's host"));
  }

  async createVolume(options: { name?: string } = {}): Promise<VolumeRecord> {
    return volumeFromWire(await this.http.json<WireVolume>("POST", "/volumes", { json: options.name === undefined ? {} : { name: options.name } }));
  }

  /** The list answers summaries: a volume's updated_at is its created_at there. */
  async listVolumes(): Promise<VolumeRecord[]> {
    const { volumes } = await this.http.json<{ volumes: WireVolume[] }>("GET", "/volumes");
    return volumes.map(volumeFromWire);
  }

  async getVolume(idOrName: string): Promise<VolumeRecord> {
    return volumeFromWire(await this.http.json<WireVolume>("GET", `/volumes/${encodeURIComponent(idOrName)}`));
  }

  async removeVolume(idOrName: string, options: { force?: boolean } = {}): Promise<string | undefined> {
    let id: string;
    try {
      id = (await this.getVolume(idOrName)).id;
    } catch (error) {
      if (options.force && error instanceof BoxliteError && error.code === "not_found") return undefined;
      throw error;
    }
    await this.http.request("DELETE", `/volumes/${encodeURIComponent(id)}`, { query: { force: options.force ?? false } });
    return id;
  }

  async createSnapshot(idOrName: string, name: string): Promise<SnapshotInfo> {
    return createSnapshotRemote(this.http, idOrName, name);
  }

  async listSnapshots(idOrName: string): Promise<SnapshotInfo[]> {
    return listSnapshotsRemote(this.http, idOrName);
  }

  async getSnapshot(idOrName: string, name: string): Promise<SnapshotInfo> {
    return getSnapshotRemote(this.http, idOrName, name);
  }

  async removeSnapshot(idOrName: string, name: string): Promise<void> {
    return removeSnapshotRemote(this.http, idOrName, name);
  }

  async restoreSnapshot(idOrName: string, name: string): Promise<void> {
    return restoreSnapshotRemote(this.http, idOrName, name);
  }

  async cloneBox(idOrName: string, options: { name?: string; count?: number } = {}): Promise<string[]> {
    return cloneBoxRemote(this.http, idOrName, options);
  }

  async exportBox(idOrName: string, dest: string): Promise<string> {
    return exportBoxRemote(this.http, await this.getBox(idOrName), dest);
  }

  /** The server imports every upload as untrusted. */
  async importBox(archivePath: string, options: { name?: string } = {}): Promise<string> {
    return importBoxRemote(this.http, archivePath, options);
  }

  private boxPath(idOrName: string): string {
    return `/boxes/${encodeURIComponent(idOrName)}`;
  }
}
