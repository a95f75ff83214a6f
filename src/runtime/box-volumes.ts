/**
 * A box's volumes as its VM gets them (docs/volumes.md): one virtio-fs share per volume,
 * and what the guest is told to mount where. Read from the box's record at each start, so
 * a restart mounts what the box was made with.
 */
import { realpathSync, statSync } from "node:fs";
import { basename, dirname, posix } from "node:path";
import type { GuestMount } from "../guest-protocol/messages.ts";
import { type HostVolume, isHostVolume, type VolumeMount } from "../model/volumes.ts";
import { BoxliteError } from "../util/errors.ts";
import type { SharedDirDevice } from "../vmm/devices.ts";

export interface BoxShares {
  devices: SharedDirDevice[];
  mounts: GuestMount[];
}

/** The host path as it is now: it must still be there, and still a directory or a regular file. */
function currentTarget(volume: HostVolume): { path: string; isFile: boolean; uid: number; gid: number } {
  let path: string;
  try {
    // Resolved here, by the user's own process: fsd and the guest never follow a host symlink.
    path = realpathSync(volume.hostPath);
  } catch {
    throw new BoxliteError(
      "not_found",
      `volume ${volume.hostPath} (at ${volume.guestPath} in the box) no longer exists on the host; put it back, or remove the box and create it without that volume`,
    );
  }
  const stat = statSync(path);
  if (!stat.isDirectory() && !stat.isFile()) throw new BoxliteError("invalid_argument", `volume ${volume.hostPath} is no longer a directory or a regular file`);
  return { path, isFile: stat.isFile(), uid: stat.uid, gid: stat.gid };
}

/**
 * Each volume as a share (tag `vol<N>`) and a mount (whose tag the backend may place
 * elsewhere: boot.ts asks it). A single file is shared as its directory with every other entry hidden (fsd's
 * `file=`), and bound alone at its path in the box. `user` is the box's user, which the
 * guest maps the host owner to.
 */
export function boxShares(volumes: readonly VolumeMount[], user: string): BoxShares {
  const devices: SharedDirDevice[] = [];
  const mounts: GuestMount[] = [];
  volumes.forEach((volume, index) => {
    // create.ts makes every anonymous volume a host directory before the record is written.
    if (!isHostVolume(volume)) throw new BoxliteError("internal", `the box's record has an anonymous volume at ${volume.guestPath} that was never made`);
    const target = currentTarget(volume);
    const tag = `vol${index}`;
    devices.push({
      kind: "fs",
      tag,
      hostPath: target.isFile ? dirname(target.path) : target.path,
      readOnly: volume.readOnly,
      ...(target.isFile ? { onlyName: basename(target.path) } : {}),
    });
    mounts.push({
      tag,
      // The guest takes only plain paths; the record keeps what the user typed.
      path: posix.normalize(volume.guestPath).replace(/(.)\/+$/, "$1"),
      read_only: volume.readOnly,
      ...(target.isFile ? { file: basename(target.path) } : {}),
      host_uid: target.uid,
      host_gid: target.gid,
      user,
    });
  });
  return { devices, mounts };
}
