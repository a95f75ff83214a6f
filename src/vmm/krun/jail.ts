/**
 * What a jailed krun VM process may see and do (docs/security.md, "The jail around each
 * VMM"): boxlite itself (it is `boxlite __vm`), libkrun, the kernel, its disks and their
 * backing files, the shared directories libkrun serves itself, its console, its sockets'
 * directories and /dev/kvm. Its seccomp filter is its own (seccomp.ts), set by the process.
 */
import { realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { isCompiled } from "../../util/self.ts";
import type { VmSpec } from "../backend.ts";
import { type JailView, socketDirs } from "../jail/view.ts";
import type { JailRequest } from "../jail/jail.ts";

/** What `boxlite __vm` runs from: the executable, or Bun and the source tree (with its modules, wherever they link to). */
function selfFiles(): string[] {
  if (isCompiled()) return [realpathSync(process.execPath)];
  const repo = join(import.meta.dir, "..", "..", "..");
  return [realpathSync(process.execPath), repo, realpathSync(join(repo, "node_modules"))];
}

export function krunJail(spec: VmSpec, libkrun: string): { request: JailRequest; vmm: JailView } {
  const disks = spec.devices.flatMap((device) => (device.kind === "disk" ? [device] : []));
  const shares = spec.devices.flatMap((device) => (device.kind === "fs" ? [device] : []));
  const sockets = socketDirs(spec.devices.flatMap((device) => (device.kind === "agent" || device.kind === "net" ? [device.socketPath] : [])));
  const writable = [...new Set(disks.filter((disk) => !disk.readOnly).map((disk) => dirname(disk.path)))];
  return {
    request: {
      name: spec.boxId,
      cpus: spec.cpus,
      memoryMib: spec.memoryMib,
      owned: [...writable, spec.consolePath, ...sockets],
      readable: spec.jail?.readOnly ?? [],
    },
    vmm: {
      readOnly: [
        ...selfFiles(),
        libkrun,
        spec.kernel.elfPath,
        ...disks.filter((disk) => disk.readOnly).map((disk) => disk.path),
        ...(spec.jail?.readOnly ?? []),
        ...shares.filter((share) => share.readOnly).map((share) => share.hostPath),
      ],
      readWrite: [...writable, spec.consolePath, ...sockets, ...shares.filter((share) => !share.readOnly).map((share) => share.hostPath)],
      devices: ["/dev/kvm"],
      network: false,
      dropUid: true,
    },
  };
}
