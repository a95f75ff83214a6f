/**
 * Where a box's files live (the reference layout, docs/home.md): `boxes/<id>/disks`,
 * `logs`, `sockets`. Sockets are dialed through a short symlink `/tmp/bl-<uid>/<id>`
 * because a unix socket path must fit in 108 bytes and homes can be deep.
 */
import { lstatSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";

export interface BoxLayout {
  id: string;
  dir: string;
  disk: string;
  consoleLog: string;
  socketsDir: string;
  socketLink: string;
  agentSocket: string;
  /** The agent's exec port (QEMU only, vmm/devices.ts), and the lock its one client holds (runtime/exec-port.ts). */
  execSocket: string;
  execLock: string;
  /** The box socket: the guest channel relayed to other processes (guest-protocol/relay.ts). */
  boxSocket: string;
  /** The image the box was created from, resolved then (so a start needs no registry). */
  imageRecord: string;
  /** A detached box's main command output and its supervisor's messages. */
  mainLog: string;
  /** The network process's (netd, docs/network.md): the VMM's NIC connects to netSocket; figures and tunnels are asked on netControl. */
  netSocket: string;
  netControl: string;
  /** The ports netd bound, written before it serves: what the box publishes while it runs. */
  netPorts: string;
}

export function boxLayout(config: Config, id: string): BoxLayout {
  const dir = join(config.home, "boxes", id);
  const socketLink = join(config.socketDir, id);
  return {
    id,
    dir,
    disk: join(dir, "disks", "disk.qcow2"),
    consoleLog: join(dir, "logs", "console.log"),
    socketsDir: join(dir, "sockets"),
    socketLink,
    agentSocket: join(socketLink, "agent.sock"),
    execSocket: join(socketLink, "exec.sock"),
    execLock: join(dir, "sockets", "exec.lock"),
    boxSocket: join(socketLink, "box.sock"),
    imageRecord: join(dir, "image.json"),
    mainLog: join(dir, "logs", "main.log"),
    netSocket: join(socketLink, "net.sock"),
    netControl: join(socketLink, "net-ctl.sock"),
    netPorts: join(dir, "sockets", "net-ports.json"),
  };
}

/** The socket directory is shared by every user's boxes on the host: it must be ours alone. */
function ensureSocketDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const stat = lstatSync(path);
  const uid = process.getuid?.() ?? 0;
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new BoxliteError("invalid_argument", `${path} must be a directory owned by uid ${uid} with mode 0700; remove it and retry`);
  }
}

export function createBoxDirs(layout: BoxLayout, config: Config): void {
  for (const sub of ["disks", "logs", "sockets"]) mkdirSync(join(layout.dir, sub), { recursive: true });
  ensureSocketDir(config.socketDir);
  rmSync(layout.socketLink, { force: true });
  symlinkSync(layout.socketsDir, layout.socketLink);
}

export function removeBox(layout: BoxLayout): void {
  rmSync(layout.socketLink, { force: true });
  rmSync(layout.dir, { recursive: true, force: true });
}
