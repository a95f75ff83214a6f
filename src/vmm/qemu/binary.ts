/** Finds the QEMU system emulator for this host's architecture. */
import { accessSync, constants } from "node:fs";
import { arch } from "node:os";
import type { Config } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";

const QEMU_ARCH: Record<string, string> = { x64: "x86_64" };

export function findQemu(config: Config): string {
  const qemuArch = QEMU_ARCH[arch()];
  if (!qemuArch) {
    throw new BoxliteError("unsupported", `the qemu backend supports x86_64 hosts only (this host is ${arch()})`);
  }
  const binary = config.qemu ?? Bun.which(`qemu-system-${qemuArch}`);
  if (!binary || !isExecutable(binary)) {
    throw new BoxliteError(
      "missing_dependency",
      `${config.qemu ? `BOXLITE_QEMU=${config.qemu} is not an executable` : `qemu-system-${qemuArch} was not found in PATH`}; install QEMU (Debian/Ubuntu: apt-get install qemu-system-x86, ` +
        "Fedora: dnf install qemu-system-x86-core) or set BOXLITE_QEMU to its path",
    );
  }
  return binary;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
