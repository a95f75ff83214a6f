/**
 * A VM's devices, as the runtime asks for them and before any backend sees them. Each
 * backend turns the list into its own terms in one place, device by device: QEMU
 * arguments (qemu/args.ts) or libkrun calls (krun/vm-config.ts, replayed by krun/vm.ts).
 */
import { BoxliteError } from "../util/errors.ts";

/** A block device. Disks appear in the guest as vda, vdb, … in the order they are listed. */
export interface DiskDevice {
  kind: "disk";
  /** Names it to the VMM (QEMU's drive id, libkrun's block id): [a-z0-9-], unique. */
  id: string;
  path: string;
  /** Always stated, never probed: a qcow2 header can name backing files the VMM would open. */
  format: "raw" | "qcow2";
  readOnly: boolean;
}

/**
 * A NIC whose other end is a unix stream socket speaking QEMU's stream protocol (each
 * frame preceded by its 32-bit big-endian length): what QEMU's `-netdev stream` and
 * libkrun's krun_add_net_unixstream both connect to. The VMM connects at start, so the
 * network process listens first (a helper beside the VMM, see VmSpec.helpers).
 * NICs appear in the guest as eth0, eth1, … in the order they are listed.
 */
export interface NetDevice {
  kind: "net";
  socketPath: string;
  /** "5a:94:ef:e4:0c:ee": six hex octets, unicast. */
  mac: string;
}

/**
 * A host directory shared with the guest over virtio-fs (the guest kernel has virtio-fs
 * and FUSE but no 9p). libkrun serves each as a device of its own, mounted in the guest by
 * its tag. Under QEMU our server, fsd (host/fsd, a helper the QEMU backend adds), serves
 * them all on one device, each a directory named by its tag (microvm has 8 virtio slots:
 * a device per volume would allow four); `VmmBackend.shareSource` says which. The server
 * enforces `readOnly` too.
 */
export interface SharedDirDevice {
  kind: "fs";
  /** The mount tag: at most 36 bytes (virtio-fs), [A-Za-z0-9_.-]. */
  tag: string;
  hostPath: string;
  readOnly: boolean;
  /** A single-file share: the only entry of hostPath the guest sees (fsd only; libkrun cannot hide the rest). */
  onlyName?: string;
}

/** The guest agent's channel: a unix socket on the host that boxlite dials (at most one). */
export interface AgentChannel {
  kind: "agent";
  socketPath: string;
  /**
   * The agent's exec port beside it: a second session that takes commands only, dialed
   * directly by one process at a time, past the box's owner (docs/guest-protocol.md, "The
   * exec port"). QEMU's VMs only: libkrun's get none, no socket appears, and their clients
   * use the box socket.
   */
  execSocketPath?: string;
}

export type VmDevice = DiskDevice | NetDevice | SharedDirDevice | AgentChannel;

/** The read-only ext4 image whose /init is the guest agent: always the first disk (the kernel's root=/dev/vda). */
export function systemDisk(path: string): DiskDevice {
  return { kind: "disk", id: "system", path, format: "raw", readOnly: true };
}

/** The agent channel's socket: the VMM creating it is the sign the VM is up. */
export function agentSocketOf(devices: readonly VmDevice[]): string {
  const agent = devices.find((device) => device.kind === "agent");
  if (!agent) throw invalid("a box's VM needs an agent channel");
  return agent.socketPath;
}

const DISK_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Six hex octets: "5a:94:ef:e4:0c:ee". */
export const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const FS_TAG = /^[A-Za-z0-9_.-]{1,36}$/;
/** sun_path is 108 bytes with its NUL. */
const MAX_SOCKET_PATH = 107;

function invalid(message: string): BoxliteError {
  return new BoxliteError("invalid_argument", `VM device: ${message}`);
}

function checkPath(what: string, path: string): void {
  if (!path.startsWith("/")) throw invalid(`${what} must be an absolute path, not ${JSON.stringify(path)}`);
  if (path.includes("\0")) throw invalid(`${what} cannot contain NUL`);
}

function checkSocketPath(what: string, path: string): void {
  checkPath(what, path);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) throw invalid(`${what} ${path} is ${bytes} bytes; a unix socket path has at most ${MAX_SOCKET_PATH}`);
}

function checkDevice(device: VmDevice, diskIds: Set<string>): void {
  switch (device.kind) {
    case "disk":
      if (!DISK_ID.test(device.id)) throw invalid(`disk id ${JSON.stringify(device.id)} must be 1-32 of [a-z0-9-]`);
      if (diskIds.has(device.id)) throw invalid(`two disks have the id ${device.id}`);
      diskIds.add(device.id);
      checkPath(`disk ${device.id}`, device.path);
      return;
    case "net":
      checkSocketPath("a NIC's socket", device.socketPath);
      if (!MAC_ADDRESS.test(device.mac)) throw invalid(`MAC ${JSON.stringify(device.mac)} must be six hex octets like 5a:94:ef:e4:0c:ee`);
      if (Number.parseInt(device.mac.slice(0, 2), 16) & 1) throw invalid(`MAC ${device.mac} is a multicast address; a NIC needs a unicast one`);
      return;
    case "fs":
      if (!FS_TAG.test(device.tag)) throw invalid(`shared directory tag ${JSON.stringify(device.tag)} must be 1-36 of [A-Za-z0-9_.-]`);
      checkPath(`shared directory ${device.tag}`, device.hostPath);
      if (device.onlyName !== undefined && (device.onlyName === "" || device.onlyName === "." || device.onlyName === ".." || /[/\0:]/.test(device.onlyName)))
        throw invalid(`shared directory ${device.tag}: ${JSON.stringify(device.onlyName)} is not a file name fsd can share`);
      return;
    case "agent":
      checkSocketPath("the agent's socket", device.socketPath);
      if (device.execSocketPath !== undefined) checkSocketPath("the agent's exec port", device.execSocketPath);
      return;
  }
}

/** Refuses a device list no backend can build, saying what is wrong. */
export function checkDevices(devices: readonly VmDevice[]): void {
  const diskIds = new Set<string>();
  for (const device of devices) checkDevice(device, diskIds);
  if (diskIds.size === 0) throw invalid("a VM needs at least its system disk");
  const tags = devices.flatMap((device) => (device.kind === "fs" ? [device.tag] : []));
  const repeated = tags.find((tag, index) => tags.indexOf(tag) !== index);
  if (repeated) throw invalid(`two shared directories have the tag ${repeated}`);
  if (devices.filter((device) => device.kind === "agent").length > 1) throw invalid("a VM has at most one agent channel");
}
