/**
 * The guest kernel: libkrunfw's image, wrapped as a PVH ELF for QEMU and cached per
 * libkrunfw build under the runtime directory.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../config/config.ts";
import { cachedFile, publishFile, sha256Hex } from "../../util/fs.ts";
import { wrapKernelAsElf } from "./elf.ts";
import { openLibkrunfw } from "./libkrunfw.ts";
import { type LibkrunfwOrigin, locateLibkrunfw } from "./libkrunfw-source.ts";

export interface GuestKernel {
  /** The wrapped ELF that QEMU boots. */
  elfPath: string;
  libkrunfwPath: string;
  /** The copy embedded in boxlite (extracted to libkrunfwPath), or BOXLITE_LIBKRUNFW's. */
  libkrunfwOrigin: LibkrunfwOrigin;
  libkrunfwVersion: number;
  /** `uname -r` of the guest kernel, read from the image's banner. */
  linuxVersion: string;
}

interface KernelMeta {
  libkrunfwVersion: number;
  linuxVersion: string;
}

function readLinuxVersion(image: Uint8Array): string {
  const banner = Buffer.from(image.buffer, image.byteOffset, image.length).indexOf("Linux version ");
  if (banner < 0) return "unknown";
  const text = Buffer.from(image.subarray(banner + 14, banner + 14 + 64)).toString("latin1");
  return text.split(" ")[0] ?? "unknown";
}

/**
 * Returns the cached wrapped kernel, creating it on first use. The cache key is the
 * library's identity (path, size, mtime): cheap to compute on every boot, unlike hashing
 * 21 MB, and any upgrade of the library changes it.
 */
export async function prepareKernel(config: Config): Promise<GuestKernel> {
  const source = await locateLibkrunfw(config);
  const lib = openLibkrunfw(source);
  try {
    const libFile = lib.path.startsWith("/") ? statSync(lib.path) : undefined;
    const identity = `${lib.path}:${libFile?.size ?? 0}:${libFile?.mtimeMs ?? 0}:${lib.version}`;
    const base = join(config.runtimeDir, "kernel", `krunfw${lib.version}-${sha256Hex(identity).slice(0, 12)}`);
    const elfPath = `${base}.elf`;
    // The metadata file is published after the ELF, so its presence means both are whole.
    const metaPath = await cachedFile(`${base}.json`, async (tmp) => {
      const kernel = lib.readKernel();
      await publishFile(elfPath, (elfTmp) => Bun.write(elfTmp, wrapKernelAsElf(kernel)).then(() => undefined));
      const meta: KernelMeta = { libkrunfwVersion: lib.version, linuxVersion: readLinuxVersion(kernel.bytes) };
      await Bun.write(tmp, JSON.stringify(meta));
    });
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as KernelMeta;
    return { elfPath, libkrunfwPath: lib.path, libkrunfwOrigin: source.origin, libkrunfwVersion: lib.version, linuxVersion: meta.linuxVersion };
  } finally {
    lib.close();
  }
}
