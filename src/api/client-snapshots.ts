/**
 * Snapshots, clone, export and import for RemoteBoxlite, over the server's routes
 * (docs/rest-api.md). Answers take the local runtime's shapes; what only the server's
 * host knows (a snapshot's disk path) is left empty.
 */
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { SnapshotInfo } from "../db/snapshots.ts";
import { cloneNames } from "../runtime/clone.ts";
import { checkSnapshotName } from "../runtime/snapshots.ts";
import { BoxliteError } from "../util/errors.ts";
import type { RestTransport } from "./client-http.ts";

/** The contract's Snapshot. */
interface WireSnapshot {
  id: string;
  box_id: string;
  name: string;
  created_at: number;
  container_disk_bytes: number;
  size_bytes: number;
}

/** `base_path` is a path on the server's host: not sent, so empty here. */
function snapshotFromWire(wire: WireSnapshot): SnapshotInfo {
  const { id, box_id, name, created_at, container_disk_bytes, size_bytes } = wire;
  return { id, box_id, name, created_at, container_disk_bytes, size_bytes, base_path: "" };
}

function boxPath(boxId: string): string {
  return `/boxes/${encodeURIComponent(boxId)}`;
}

/** The route of one snapshot. Checked first, as the server would: `..` would not even reach it (URLs resolve dot segments). */
function snapshotPath(boxId: string, name: string): string {
  checkSnapshotName(name);
  return `${boxPath(boxId)}/snapshots/${encodeURIComponent(name)}`;
}

export async function createSnapshotRemote(http: RestTransport, boxId: string, name: string): Promise<SnapshotInfo> {
  return snapshotFromWire(await http.json<WireSnapshot>("POST", `${boxPath(boxId)}/snapshots`, { json: { name } }));
}

export async function listSnapshotsRemote(http: RestTransport, boxId: string): Promise<SnapshotInfo[]> {
  const { snapshots } = await http.json<{ snapshots: WireSnapshot[] }>("GET", `${boxPath(boxId)}/snapshots`);
  return snapshots.map(snapshotFromWire);
}

export async function getSnapshotRemote(http: RestTransport, boxId: string, name: string): Promise<SnapshotInfo> {
  return snapshotFromWire(await http.json<WireSnapshot>("GET", snapshotPath(boxId, name)));
}

export async function removeSnapshotRemote(http: RestTransport, boxId: string, name: string): Promise<void> {
  await http.request("DELETE", snapshotPath(boxId, name));
}

export async function restoreSnapshotRemote(http: RestTransport, boxId: string, name: string): Promise<void> {
  await http.request("POST", `${snapshotPath(boxId, name)}/restore`);
}

/** `count` clones, one request each (the route makes one), named as the local runtime names them. */
export async function cloneBoxRemote(http: RestTransport, boxId: string, options: { name?: string; count?: number }): Promise<string[]> {
  const ids: string[] = [];
  for (const name of cloneNames(options)) {
    const json = name === null ? {} : { name };
    ids.push((await http.json<{ box_id: string }>("POST", `${boxPath(boxId)}/clone`, { json })).box_id);
  }
  return ids;
}

/** The file name the server gave (Content-Disposition), else `<fallback>.boxlite`. */
function archiveName(response: Response, fallback: string): string {
  const given = /filename="([^"/\\]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1];
  return given !== undefined && given !== "." && given !== ".." ? given : `${fallback}.boxlite`;
}

/**
 * Downloads the box's archive to `dest` (a directory: the server's file name inside it),
 * through a temporary file beside it renamed into place, so `dest` is never half written.
 */
export async function exportBoxRemote(http: RestTransport, box: { box_id: string; name: string | null }, dest: string): Promise<string> {
  const response = await http.request("POST", `${boxPath(box.box_id)}/export`, { json: {} });
  const target = existsSync(dest) && statSync(dest).isDirectory() ? join(dest, archiveName(response, box.name ?? "box")) : dest;
  const partial = join(dirname(target), `.${basename(target)}.${process.pid}.part`);
  try {
    await Bun.write(partial, response);
    renameSync(partial, target);
  } catch (cause) {
    rmSync(partial, { force: true });
    if (cause instanceof BoxliteError) throw cause;
    throw new BoxliteError("disk", `cannot write the archive to ${target}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  return target;
}

/** Uploads the archive; the server imports it as untrusted whatever `untrusted` says. Resolves with the new box's id. */
export async function importBoxRemote(http: RestTransport, archivePath: string, options: { name?: string }): Promise<string> {
  const file = Bun.file(archivePath);
  if (!(await file.exists())) throw new BoxliteError("not_found", `archive ${archivePath} does not exist`);
  const response = await http.json<{ box_id: string }>("POST", "/boxes/import", {
    query: { name: options.name },
    body: file,
    headers: { "Content-Type": "application/octet-stream" },
  });
  return response.box_id;
}
