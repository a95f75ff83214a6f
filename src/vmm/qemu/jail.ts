/**
 * What a jailed QEMU may see and do (docs/security.md, "The jail around each VMM"): its
 * kernel, its disks and their backing files, its console, the directories of its sockets,
 * /dev/kvm when it uses KVM; and QEMU's own seccomp sandbox with every deny option on.
 */
import { dirname } from "node:path";
import type { VmSpec } from "../backend.ts";
import { type JailView, socketDirs } from "../jail/view.ts";
import type { JailRequest } from "../jail/jail.ts";

/**
 * QEMU's seccomp filter: obsolete system calls, gaining privileges (setuid and the like),
 * spawning processes (migration streams go over a socket instead, migration.ts) and
 * changing scheduling or resource limits are all refused, on top of its default deny list.
 */
export const SANDBOX_ARGS = ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"];

export interface QemuJail {
  request: JailRequest;
  vmm: JailView;
}

/**
 * The jail of `spec`'s QEMU: `extra.readWrite` adds what this start writes beyond the box
 * (a template's memory file); `extra.name` names a VM that is not a box's (a template build).
 */
export function qemuJail(spec: VmSpec, binary: string, accelerator: string, extra: { name?: string; readWrite?: string[] } = {}): QemuJail {
  const disks = spec.devices.flatMap((device) => (device.kind === "disk" ? [device] : []));
  const sockets = socketDirs(spec.devices.flatMap((device) => (device.kind === "agent" || device.kind === "net" ? [device.socketPath] : [])));
  const writable = [...new Set(disks.filter((disk) => !disk.readOnly).map((disk) => dirname(disk.path)))];
  return {
    request: {
      name: extra.name ?? spec.boxId,
      cpus: spec.cpus,
      memoryMib: spec.memoryMib,
      owned: [...writable, spec.consolePath, ...sockets],
      readable: spec.jail?.readOnly ?? [],
    },
    vmm: {
      readOnly: [binary, spec.kernel.elfPath, ...disks.filter((disk) => disk.readOnly).map((disk) => disk.path), ...(spec.jail?.readOnly ?? [])],
      readWrite: [...writable, spec.consolePath, ...sockets, ...(extra.readWrite ?? [])],
      devices: accelerator === "kvm" ? ["/dev/kvm"] : [],
      network: false,
      dropUid: true,
    },
  };
}
