/**
 * Which libkrunfw (the guest kernel library) boxlite loads: the copy embedded in boxlite,
 * or the one BOXLITE_LIBKRUNFW names. The embedded copy is extracted once per libkrunfw
 * build to the runtime directory, because dlopen needs a real file; it is named by the
 * SHA-256 the build recorded, so a start never hashes 21 MB to find it.
 */
import { join } from "node:path";
import embeddedPath from "../../../build/kernel/libkrunfw.so.5" with { type: "file" };
import embeddedSha256 from "../../../build/kernel/libkrunfw.so.5.sha256" with { type: "text" };
import type { Config } from "../../config/config.ts";
import { cachedFile } from "../../util/fs.ts";

export type LibkrunfwOrigin = "embedded" | "BOXLITE_LIBKRUNFW";

export interface LibkrunfwSource {
  path: string;
  origin: LibkrunfwOrigin;
}

export async function locateLibkrunfw(config: Pick<Config, "libkrunfw" | "runtimeDir">): Promise<LibkrunfwSource> {
  if (config.libkrunfw) return { path: config.libkrunfw, origin: "BOXLITE_LIBKRUNFW" };
  const path = join(config.runtimeDir, "lib", `libkrunfw-${embeddedSha256.trim().slice(0, 12)}.so.5`);
  await cachedFile(path, async (tmp) => {
    await Bun.write(tmp, Bun.file(embeddedPath));
  });
  return { path, origin: "embedded" };
}
